//! sign-log under abuse: `receive` killed with SIGKILL at random points of
//! a stream, many receivers and seals on one log at once, and every
//! single-byte change of a sealed log. The choices come from a seeded
//! generator (set `SIGN_LOG_SEED` to replay another run); the seed is in
//! every failure message.
//!
//! Exit codes of a changed sealed log: always 1 (tampered), never 2: every
//! file of a log directory is evidence the log wrote, so one that no
//! longer parses (a record, a checkpoint, a signature) is a tampered log,
//! not a usage error. The only changes that pass are in bytes no
//! signature covers (see [`unauthenticated`]).

use crate::common;

use build_verify::exit::{code_of, Code};
use build_verify::log::note::{Policy, VerifierKey};
use build_verify::log::verify::{self, Options};
use build_verify::openpgp::{BuildPolicy, Keyring, Trust, Verifier};
use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_sign-log");

/// splitmix64: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn seed() -> u64 {
    std::env::var("SIGN_LOG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0014)
}

struct Env {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    log: PathBuf,
    key: PathBuf,
    keyring: Keyring,
}

fn setup() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let k = common::signlog::log_key(&root);
    Env {
        _tmp: tmp,
        log: root.join("log"),
        root,
        key: k.key,
        keyring: Keyring::from_certs([k.cert]).unwrap(),
    }
}

fn sl(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("QREXEC_REMOTE_DOMAIN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

impl Env {
    fn l(&self) -> &str {
        self.log.to_str().unwrap()
    }
    fn receive(&self, input: &[u8], source: &str) -> Output {
        sl(
            &[
                "receive",
                "--log",
                self.l(),
                "--name",
                "robust",
                "--source",
                source,
            ],
            input,
        )
    }
    fn seal(&self, extra: &[&str]) -> Output {
        let mut a = vec![
            "seal",
            "--log",
            self.l(),
            "--key",
            self.key.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        sl(&a, b"")
    }
    /// `sign-log verify` in this process (the same library call, the
    /// same exit code): thousands of checks would otherwise be thousands
    /// of processes.
    fn verify_in(&self, dir: &Path, opts: &Options) -> (Code, String) {
        match self.summary(dir, opts) {
            Ok(s) => (Code::Ok, s.warning_lines().join("; ")),
            Err(e) => (code_of(&e), format!("{e:#}")),
        }
    }
    fn summary(&self, dir: &Path, opts: &Options) -> anyhow::Result<verify::Summary> {
        let trust = Trust::All;
        let policy = BuildPolicy::default();
        let v = Verifier::new(&self.keyring, &trust, &policy);
        verify::verify(dir, &v, opts)
    }
}

/// One line of build output of a random kind, ending in `\n`.
fn build_line(rng: &mut Rng, run: usize, i: usize) -> Vec<u8> {
    let mut l = match rng.below(100) {
        0..10 => format!(
            "##sign-log product {{\"name\":\"out-{run}-{i}\",\"sha256\":\"{:016x}{:048x}\"}}",
            rng.next(),
            0
        )
        .into_bytes(),
        10..15 => b"##sign-log material {not json".to_vec(),
        15..30 => format!("quote \" backslash \\ tab \t esc \x1b[31m {run}/{i}").into_bytes(),
        30..40 => [&b"not utf-8 \xff\xfe "[..], format!("{run}/{i}").as_bytes()].concat(),
        // Longer than a record: stored as continuation pieces, written
        // in large writes a kill can tear.
        40..42 => vec![b'a' + (i % 26) as u8; 16 * 1024 + rng.below(16_000) as usize],
        42..45 => Vec::new(),
        _ => format!("cc -c file-{run}-{i}.c -o file-{run}-{i}.o").into_bytes(),
    };
    l.push(b'\n');
    l
}

/// The bytes a session's records hold, as the build printed them
/// (continuation pieces joined, lines ended by `\n`).
fn session_bytes(log: &Path, source: &str) -> Vec<u8> {
    use build_verify::log::record::Record;
    let raw = std::fs::read(log.join("log.jsonl")).unwrap();
    let mut out = Vec::new();
    let mut first = true;
    for line in raw.split(|&b| b == b'\n') {
        let Ok(r) = Record::parse(line) else { continue };
        if r.src.as_deref() != Some(source) || !(r.kind == "line" || r.kind == "directive") {
            continue;
        }
        if !r.cont && !first {
            out.push(b'\n');
        }
        first = false;
        out.extend_from_slice(&r.bytes().unwrap());
    }
    if !first {
        out.push(b'\n');
    }
    out
}

/// Verify copies of the log cut after `cuts` records, each with the
/// checkpoints it covers: each must pass (exit 0).
fn prefixes_verify(e: &Env, cuts: &[usize], seed: u64, run: usize) {
    let raw = std::fs::read(e.log.join("log.jsonl")).unwrap();
    let ends: Vec<usize> = raw
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    let sizes = checkpoint_sizes(&e.log);
    let dir = e.root.join("prefix");
    for &k in cuts {
        let covered: Vec<u64> = sizes.iter().copied().filter(|&s| s as usize <= k).collect();
        if covered.is_empty() || k > ends.len() {
            continue;
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("checkpoints")).unwrap();
        let len = if k == 0 { 0 } else { ends[k - 1] };
        std::fs::write(dir.join("log.jsonl"), &raw[..len]).unwrap();
        for s in covered {
            for f in [s.to_string(), format!("{s}.asc")] {
                std::fs::copy(
                    e.log.join("checkpoints").join(&f),
                    dir.join("checkpoints").join(&f),
                )
                .unwrap();
            }
        }
        let (code, why) = e.verify_in(&dir, &Options::default());
        assert_eq!(
            code,
            Code::Ok,
            "seed {seed} run {run}: the first {k} records do not verify: {why}"
        );
    }
}

#[test]
fn receive_killed_at_random_points_leaves_a_log_whose_prefixes_verify() {
    let seed = seed();
    let mut rng = Rng(seed);
    let e = setup();
    assert_eq!(e.receive(b"first session\n", "vm").status.code(), Some(0));
    assert_eq!(e.seal(&[]).status.code(), Some(0));
    let mut kills = 0;
    let mut torn_seen = 0;
    let mut torn_by_kill = 0;
    let mut checked_to = 0usize;
    for run in 0..30 {
        let sync = ["batch", "end", "always"][rng.below(3) as usize];
        let source = format!("vm{run}");
        let mut child = Command::new(BIN)
            .args([
                "receive",
                "--log",
                e.l(),
                "--name",
                "robust",
                "--source",
                &source,
                "--sync",
                sync,
            ])
            .env_remove("QREXEC_REMOTE_DOMAIN")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let lines = 1 + rng.below(120) as usize;
        let mut wrng = Rng(seed ^ (run as u64 + 1) << 32);
        // The build side: a stream of lines, then silence with the pipe
        // open, until the receiver dies.
        let writer = std::thread::spawn(move || {
            let mut sent = Vec::new();
            for i in 0..lines {
                let l = build_line(&mut wrng, run, i);
                if stdin.write_all(&l).is_err() {
                    break;
                }
                sent.extend_from_slice(&l);
            }
            let _ = stdin.flush();
            (sent, stdin)
        });
        // Anywhere from the receiver's start (lock, recovery of the last
        // run's torn tail) to well after the stream.
        std::thread::sleep(Duration::from_micros(rng.below(150_000)));
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        let (sent, stdin) = writer.join().unwrap();
        drop(stdin);
        let raw = std::fs::read(e.log.join("log.jsonl")).unwrap();
        if !raw.ends_with(b"\n") {
            torn_by_kill += 1;
        } else if rng.below(3) == 0 {
            // What a crash in the middle of a write leaves (a power cut,
            // or a kill the kernel let tear a write): part of a record.
            let cut = b"{\"seq\":1,\"t\":\"2026-01-01T00:00:00.000000Z\",\"type\":\"line\",\"data\":\"torn";
            let len = 1 + rng.below(cut.len() as u64 - 1) as usize;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(e.log.join("log.jsonl"))
                .unwrap();
            f.write_all(&cut[..len]).unwrap();
        }
        let torn = !std::fs::read(e.log.join("log.jsonl"))
            .unwrap()
            .ends_with(b"\n");
        torn_seen += usize::from(torn);
        // As the kill left it: everything before a torn tail verifies.
        let (code, why) = e.verify_in(&e.log, &Options::default());
        assert_eq!(
            code,
            Code::Ok,
            "seed {seed} run {run}, before recovery: {why}"
        );
        // What was stored is what the build printed, in order: nothing
        // invented, duplicated or reordered (a line read but not yet
        // written when killed is legitimately missing).
        let got = session_bytes(&e.log, &source);
        assert!(
            sent.starts_with(&got),
            "seed {seed} run {run}: the log holds {} bytes that are not a prefix of the {} sent",
            got.len(),
            sent.len()
        );
        // Recovery: the next writer's open keeps a torn tail in a
        // `recovered` record; half the time that writer is a seal.
        if rng.below(2) == 0 {
            let o = e.seal(&[]);
            assert_eq!(
                o.status.code(),
                Some(0),
                "seed {seed} run {run}: {}",
                text(&o)
            );
        } else {
            let o = e.receive(b"after the kill\n", &format!("after{run}"));
            assert_eq!(
                o.status.code(),
                Some(0),
                "seed {seed} run {run}: {}",
                text(&o)
            );
        }
        let raw = std::fs::read(e.log.join("log.jsonl")).unwrap();
        assert!(
            raw.ends_with(b"\n"),
            "seed {seed} run {run}: a torn tail was left after recovery"
        );
        let n = raw.iter().filter(|&&b| b == b'\n').count();
        // Every prefix of what this run and its recovery added (sampled
        // when long), and each checkpoint's, verifies.
        let mut cuts: Vec<usize> = if n - checked_to <= 8 {
            (checked_to..=n).collect()
        } else {
            let mut c: Vec<usize> = (checked_to..checked_to + 2).chain(n - 4..=n).collect();
            c.extend((0..2).map(|_| checked_to + rng.below((n - checked_to) as u64) as usize));
            c
        };
        let new_seals = checkpoint_sizes(&e.log)
            .into_iter()
            .map(|s| s as usize)
            .filter(|&s| s >= checked_to);
        cuts.extend(new_seals.flat_map(|s| [s, s + 1]));
        cuts.sort_unstable();
        cuts.dedup();
        prefixes_verify(&e, &cuts, seed, run);
        checked_to = n;
    }
    assert_eq!(kills, 30);
    // The whole log, sealed: every checkpoint's root, every record, every
    // session (interrupted ones named as such), and a recovered record
    // for each torn tail.
    assert_eq!(e.seal(&[]).status.code(), Some(0));
    let (code, why) = e.verify_in(
        &e.log,
        &Options {
            require_sealed: true,
            ..Options::default()
        },
    );
    assert_eq!(code, Code::Ok, "seed {seed}: {why}");
    // And through the binary.
    let o = sl(
        &[
            "verify",
            "--log",
            e.l(),
            "--keyring",
            e.root.join("pub.asc").to_str().unwrap(),
            "--require-sealed",
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "seed {seed}: {}", text(&o));
    let raw =
        String::from_utf8_lossy(&std::fs::read(e.log.join("log.jsonl")).unwrap()).into_owned();
    let recovered = raw.matches("\"type\":\"recovered\"").count();
    assert!(
        recovered >= torn_seen,
        "seed {seed}: {torn_seen} torn tails, {recovered} recovered records"
    );
    eprintln!(
        "seed {seed}: 30 kills, {torn_seen} torn tails ({torn_by_kill} torn by the kill), {recovered} recovered records, {} checkpoints",
        checkpoint_sizes(&e.log).len()
    );
}

#[test]
fn concurrent_receivers_seals_and_readers_on_one_log() {
    let e = std::sync::Arc::new(setup());
    assert_eq!(e.receive(b"first session\n", "vm").status.code(), Some(0));
    assert_eq!(e.seal(&[]).status.code(), Some(0));
    let receivers: Vec<_> = (0..4)
        .map(|k| {
            let e = e.clone();
            std::thread::spawn(move || {
                let mut input = Vec::new();
                for i in 0..300 {
                    input.extend_from_slice(format!("r{k} line {i} \"q\" \\ \u{e9}\n").as_bytes());
                    if i % 50 == 0 {
                        input.extend_from_slice(b"bytes \xff\n");
                    }
                }
                // Written in pieces, so the sessions last while seals
                // and the other receivers wait for the lock.
                let mut child = Command::new(BIN)
                    .args([
                        "receive",
                        "--log",
                        e.l(),
                        "--name",
                        "robust",
                        "--source",
                        &format!("r{k}"),
                    ])
                    .env_remove("QREXEC_REMOTE_DOMAIN")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                let mut stdin = child.stdin.take().unwrap();
                for piece in input.chunks(input.len() / 10 + 1) {
                    stdin.write_all(piece).unwrap();
                    stdin.flush().unwrap();
                    std::thread::sleep(Duration::from_millis(10));
                }
                drop(stdin);
                (child.wait_with_output().unwrap(), input)
            })
        })
        .collect();
    let sealers: Vec<_> = (0..3)
        .map(|_| {
            let e = e.clone();
            std::thread::spawn(move || (0..4).map(|_| e.seal(&[])).collect::<Vec<_>>())
        })
        .collect();
    // Readers take no lock: while writers append, they must see a log
    // that verifies (an append in progress is at most a torn tail).
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let e = e.clone();
            std::thread::spawn(move || {
                (0..6)
                    .map(|_| e.verify_in(&e.log, &Options::default()))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut inputs = Vec::new();
    for (k, r) in receivers.into_iter().enumerate() {
        let (o, input) = r.join().unwrap();
        assert_eq!(o.status.code(), Some(0), "receiver {k}: {}", text(&o));
        inputs.push(input);
    }
    for s in sealers {
        for o in s.join().unwrap() {
            assert_eq!(o.status.code(), Some(0), "seal: {}", text(&o));
        }
    }
    for r in readers {
        for (code, why) in r.join().unwrap() {
            assert_eq!(code, Code::Ok, "a concurrent verify: {why}");
        }
    }
    assert_eq!(e.seal(&[]).status.code(), Some(0));
    let s = e
        .summary(
            &e.log,
            &Options {
                require_sealed: true,
                ..Options::default()
            },
        )
        .unwrap_or_else(|err| panic!("{err:#}"));
    // 1 + 12 + 1 seals, each at its own size; every session whole and
    // ended, one per receiver, never interleaved with another.
    assert_eq!(checkpoint_sizes(&e.log).len(), 14);
    assert_eq!(s.sessions.len(), 5);
    for sess in &s.sessions {
        assert_eq!(sess.end.as_deref(), Some("eof"), "{sess:?}");
    }
    for (k, input) in inputs.iter().enumerate() {
        let src = format!("r{k}");
        let sess: Vec<_> = s
            .sessions
            .iter()
            .filter(|x| x.src.as_deref() == Some(src.as_str()))
            .collect();
        assert_eq!(sess.len(), 1, "{src}");
        assert_eq!(&session_bytes(&e.log, &src), input, "{src}");
        // Contiguous: nothing but its own records (the end record names
        // no source); a seal waits for the receiver's lock.
        let raw = std::fs::read_to_string(e.log.join("log.jsonl")).unwrap();
        let lines: Vec<&str> = raw.lines().collect();
        for l in &lines[sess[0].first_seq as usize..=sess[0].last_seq as usize] {
            assert!(
                l.contains(&format!("\"src\":\"{src}\"")) || l.contains("\"type\":\"end\""),
                "session {src} holds {l}"
            );
        }
    }
}

/// A sealed log with everything a log carries: two sessions (lines,
/// directives, a non-UTF-8 line), checkpoints signed with OpenPGP and as
/// C2SP notes, the newest cosigned by a witness. Returns the note policy
/// keys (the log's, the witness's).
fn sealed_log(e: &Env) -> (VerifierKey, VerifierKey) {
    let keygen = |name: &str, file: &str, witness: bool| {
        let secret = e.root.join(file);
        let mut a = vec![
            "keygen",
            "--name",
            name,
            "--secret",
            secret.to_str().unwrap(),
        ];
        if witness {
            a.push("--witness");
        }
        let o = sl(&a, b"");
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    let log_vkey = keygen("build-verify.sign-log/vm/robust", "note.key", false);
    let w_vkey = keygen("witness.example/w1", "w1.key", true);
    let note_key = e.root.join("note.key");
    let nk = ["--note-key", note_key.to_str().unwrap()];
    let product = format!(
        "##sign-log product {{\"name\":\"out.rpm\",\"size\":3,\"sha256\":\"{}\"}}\n",
        "ab".repeat(32)
    );
    let input = [
        &b"make[1]: Entering directory\ncc -o x x.c \"q\" \\ \xc3\xa9\n"[..],
        product.as_bytes(),
        b"bytes \xff\nx.c:1: error: oops\n",
    ]
    .concat();
    assert_eq!(e.receive(&input, "vm").status.code(), Some(0));
    assert_eq!(e.seal(&nk).status.code(), Some(0));
    assert_eq!(e.receive(b"second session\n", "vm").status.code(), Some(0));
    assert_eq!(e.seal(&nk).status.code(), Some(0));
    let ev = e.root.join("ev.json");
    let o = sl(&["prove", "checkpoint", "--log", e.l()], b"");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::write(&ev, &o.stdout).unwrap();
    let pub_asc = e.root.join("pub.asc");
    let w_key = e.root.join("w1.key");
    let o = sl(
        &[
            "cosign",
            "--key",
            w_key.to_str().unwrap(),
            "--proof",
            ev.to_str().unwrap(),
            "--keyring",
            pub_asc.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = sl(
        &["add-cosignature", "--log", e.l(), "--witness", &w_vkey, "-"],
        &o.stdout,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    (
        VerifierKey::parse(&log_vkey).unwrap(),
        VerifierKey::parse(&w_vkey).unwrap(),
    )
}

/// Positions to change in each file of a sealed log: in log.jsonl the
/// first, second and last byte of every record, its newline and two
/// bytes in between; every byte of the checkpoints and signatures.
fn positions(dir: &Path, rng: &mut Rng) -> Vec<(PathBuf, usize)> {
    let mut out = Vec::new();
    let log = dir.join("log.jsonl");
    let raw = std::fs::read(&log).unwrap();
    let mut start = 0;
    for (i, _) in raw.iter().enumerate().filter(|(_, &b)| b == b'\n') {
        let len = i - start;
        for at in [
            start,
            start + 1,
            i - 1,
            i,
            start + rng.below(len as u64) as usize,
            start + rng.below(len as u64) as usize,
        ] {
            out.push((log.clone(), at));
        }
        start = i + 1;
    }
    // Every byte of the last record: the newest seal's, the one record a
    // signature cannot cover (it is written after its checkpoint).
    let last = raw[..raw.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    out.extend((last..raw.len()).map(|at| (log.clone(), at)));
    for size in checkpoint_sizes(dir) {
        for f in [size.to_string(), format!("{size}.asc")] {
            let p = dir.join("checkpoints").join(f);
            let len = std::fs::metadata(&p).unwrap().len() as usize;
            out.extend((0..len).map(|at| (p.clone(), at)));
        }
    }
    out
}

#[test]
fn every_single_byte_change_of_a_sealed_log_is_detected() {
    let seed = seed();
    let mut rng = Rng(seed);
    let e = setup();
    let (log_key, witness) = sealed_log(&e);
    let witnesses = [witness];
    let opts = Options {
        require_sealed: true,
        notes: Policy {
            log_key: Some(&log_key),
            witnesses: &witnesses,
            min_witnesses: 1,
        },
        ..Options::default()
    };
    let (code, why) = e.verify_in(&e.log, &opts);
    assert_eq!(code, Code::Ok, "{why}");
    let mut missed = Vec::new();
    let mut checked = 0;
    let mut allowed = std::collections::BTreeMap::new();
    let known = [log_key.clone(), witnesses[0].clone()];
    for (path, at) in positions(&e.log, &mut rng) {
        let orig = std::fs::read(&path).unwrap();
        let b = orig[at];
        let random = loop {
            let r = rng.below(256) as u8;
            if r != b {
                break r;
            }
        };
        for new in [b ^ 0x01, b ^ 0x20, random] {
            let mut changed = orig.clone();
            changed[at] = new;
            std::fs::write(&path, &changed).unwrap();
            let (code, why) = e.verify_in(&e.log, &opts);
            checked += 1;
            if code == Code::Ok {
                if let Some(class) = unauthenticated(&e.log, &path, &orig, &changed, &known) {
                    *allowed.entry(class).or_insert(0) += 1;
                    continue;
                }
            }
            if code != Code::Failed {
                missed.push(format!(
                    "{} byte {at}: {b:#04x} -> {new:#04x}: exit {} ({why})",
                    path.strip_prefix(&e.log).unwrap().display(),
                    code.as_u8()
                ));
            }
        }
        std::fs::write(&path, &orig).unwrap();
    }
    assert!(
        missed.is_empty(),
        "seed {seed}: {} of {checked} changes not exit 1:\n{}",
        missed.len(),
        missed.join("\n")
    );
    eprintln!(
        "seed {seed}: {checked} changes, all exit 1 but where nothing signed changed: {allowed:?}"
    );
}

/// Why a change that `verify` accepts changed nothing a signature
/// covers, or None (then it is a missed tampering). Three such places,
/// all outside what the log's key signs:
/// - the OpenPGP armor (its CRC24 line, which RFC 9580 §6.1 says must
///   not cause a rejection, and blanks the armor reader skips), the
///   signature packet's unhashed subpackets (the issuer key ID hint,
///   RFC 9580 §5.2.3.7) and its two-byte digest prefix (a quick check,
///   not part of what is signed): the packet's hashed area and signature
///   values decode the same;
/// - a note signature line of an older checkpoint renamed so that no
///   given key claims it: the same as removing the line, which signed
///   notes allow (unknown signers are ignored; only the newest
///   checkpoint must carry the log key's and the witnesses' lines);
/// - the time of the log's last record, the newest seal's: written after
///   its checkpoint is signed, so no signature covers it until the next
///   seal; its size, root and origin are checked against the checkpoint,
///   its seq against its place, its time only for format and order.
fn unauthenticated(
    log: &Path,
    path: &Path,
    orig: &[u8],
    changed: &[u8],
    known: &[VerifierKey],
) -> Option<&'static str> {
    use build_verify::log::note::Note;
    use build_verify::log::record::Record;
    use build_verify::time::parse_rfc3339_micros;
    use sequoia_openpgp::parse::Parse;
    use sequoia_openpgp::Packet;
    let name = path.file_name()?.to_str()?;
    if name.ends_with(".asc") {
        // What the signature covers and is: its hashed area and values.
        let signed = |b: &[u8]| {
            let packets = build_verify::openpgp::verify::signature_packets(b).ok()?;
            let Packet::Signature(s) = Packet::from_bytes(&packets).ok()? else {
                return None;
            };
            let covered = (s.version(), s.typ(), s.pk_algo(), s.hash_algo());
            Some((covered, s.hashed_area().clone(), s.mpis().clone()))
        };
        return (signed(orig)? == signed(changed)?)
            .then_some("armor, digest prefix or unhashed subpackets");
    }
    if name == "log.jsonl" {
        let at = orig.iter().zip(changed).position(|(a, b)| a != b)?;
        let body = &orig[..orig.len() - 1];
        let last = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let prev = orig[..last.saturating_sub(1)]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let t_at = last + std::str::from_utf8(&orig[last..]).ok()?.find("\"t\":\"")? + 5;
        if at < t_at || at >= t_at + 27 {
            return None;
        }
        let rec = Record::parse(changed.get(last..changed.len() - 1)?).ok()?;
        let before = Record::parse(&orig[prev..last - 1]).ok()?;
        let ordered = parse_rfc3339_micros(&rec.t)? >= parse_rfc3339_micros(&before.t)?;
        return (rec.kind == "seal" && ordered).then_some("the last seal record's time");
    }
    let last = checkpoint_sizes(log).last()?.to_string();
    if name == last {
        return None;
    }
    let (a, b) = (Note::parse(orig).ok()?, Note::parse(changed).ok()?);
    let claimed = |n: &Note| -> Vec<_> {
        n.signatures
            .iter()
            .filter(|l| known.iter().any(|k| k.claims(l)))
            .cloned()
            .collect()
    };
    let kept = claimed(&b).iter().all(|l| claimed(&a).contains(l));
    (a.text == b.text && kept).then_some("an older note's signature line no given key claims")
}

/// `receive --log` naming a regular file or a path through one can never
/// be a log directory: a usage error (exit 2), not an I/O error (4), and
/// the file is left as it was.
#[test]
fn a_log_path_that_cannot_be_a_directory_is_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x\n").unwrap();
    for log in [file.clone(), file.join("log")] {
        let o = sl(
            &[
                "receive",
                "--log",
                log.to_str().unwrap(),
                "--name",
                "c",
                "--source",
                "vm",
            ],
            b"line\n",
        );
        assert_eq!(o.status.code(), Some(2), "{}: {}", log.display(), text(&o));
        assert_eq!(std::fs::read(&file).unwrap(), b"x\n");
        assert_eq!(listing(tmp.path()), ["a-file"]);
    }
}
