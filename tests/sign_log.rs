//! sign-log through the real binary: receive, seal, verify, tampering,
//! crashes, caps, proofs, and sealing through a gpg-compatible program.

mod common;

use common::*;
use sequoia_openpgp::parse::Parse;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_sign-log");

struct Env {
    tmp: tempfile::TempDir,
    log: PathBuf,
    key: PathBuf,
    public: PathBuf,
}

fn setup() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let k = gen_key("Log VM <log@example.org>");
    let key = tmp.path().join("key.asc");
    std::fs::write(&key, armor_tsk(&k)).unwrap();
    let public = write_keyring(&tmp.path().join("pub.asc"), &[&k]);
    let log = tmp.path().join("log");
    Env {
        tmp,
        log,
        key,
        public,
    }
}

fn sl(args: &[&str], input: &[u8], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("QREXEC_REMOTE_DOMAIN");
    for (k, v) in envs {
        c.env(k, v);
    }
    // A command refusing its arguments may exit before reading its input.
    run_fed(&mut c, input)
}

/// `verify-proof PROOF --checkpoint CP... EXTRA...`.
fn verify_proof(proof: &Path, checkpoints: &[&Path], extra: &[&str]) -> Output {
    let mut args = vec!["verify-proof", proof.to_str().unwrap()];
    for cp in checkpoints {
        args.extend(["--checkpoint", cp.to_str().unwrap()]);
    }
    args.extend_from_slice(extra);
    sl(&args, b"", &[])
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

impl Env {
    fn l(&self) -> &str {
        self.log.to_str().unwrap()
    }
    fn receive(&self, input: &[u8], extra: &[&str]) -> Output {
        let mut a = vec![
            "receive",
            "--log",
            self.l(),
            "--name",
            "core-admin",
            "--source",
            "build-vm",
        ];
        a.extend(extra);
        sl(&a, input, &[])
    }
    fn seal(&self) -> Output {
        sl(
            &[
                "seal",
                "--log",
                self.l(),
                "--key",
                self.key.to_str().unwrap(),
            ],
            b"",
            &[],
        )
    }
    fn verify_in(&self, dir: &Path) -> Output {
        self.verify_with(dir, &self.public, &[])
    }
    /// `verify` of `dir` with `keyring` and `extra` options.
    fn verify_with(&self, dir: &Path, keyring: &Path, extra: &[&str]) -> Output {
        let mut args = vec![
            "verify",
            "--log",
            dir.to_str().unwrap(),
            "--keyring",
            keyring.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        sl(&args, b"", &[])
    }
    fn verify(&self) -> Output {
        self.verify_in(&self.log)
    }
    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.log.join("log.jsonl"))
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }
}

const BUILD: &[u8] = b"make[1]: Entering directory\ncc -o x x.c\nx.c:1: error: oops\n";

#[test]
fn receive_seal_verify_round_trip() {
    let e = setup();
    let o = e.receive(BUILD, &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // NAME SIZE ROOT, what the caller gets back over qrexec.
    let out = String::from_utf8_lossy(&o.stdout);
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!((f[0], f[1]), ("core-admin", "5"), "{out}");
    // `checkpoint` prints the C2SP body of that same tree.
    let o = sl(
        &["checkpoint", "--log", e.l(), "--origin", "example.org/log"],
        b"",
        &[],
    );
    assert_eq!(code(&o), 0);
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        format!("example.org/log\n5\n{}\n", f[2])
    );
    assert_eq!(code(&e.seal()), 0);
    let o = e.verify();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains("session 1 \"core-admin\" from build-vm: 3 lines"),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("x.c:1: error: oops"),
        "error lines are reported: {}",
        text(&o)
    );
    // Unsealed records are reported, not hidden.
    e.receive(b"more\n", &[]);
    let o = e.verify();
    assert_eq!(code(&o), 0);
    assert!(
        text(&o).contains("3 record(s) after the last seal"),
        "{}",
        text(&o)
    );
}

#[test]
fn source_comes_from_qrexec_not_the_stream() {
    let e = setup();
    let o = sl(
        &["receive", "--log", e.l(), "--source", "claimed"],
        b"{\"src\":\"dom0\"}\n",
        &[("QREXEC_REMOTE_DOMAIN", "build-vm-7")],
    );
    assert_eq!(code(&o), 0);
    let lines = e.lines();
    assert!(lines[1].contains("\"src\":\"build-vm-7\""), "{}", lines[1]);
    assert!(
        lines[1].contains("\"data\":\"{\\\"src\\\":\\\"dom0\\\"}\""),
        "{}",
        lines[1]
    );
}

#[test]
fn nothing_is_lost_or_rewritten() {
    let e = setup();
    let mut input = b"plain\n\x1b[31mred\x07\n\xff\xfebinary\n".to_vec();
    input.extend(vec![b'a'; 40_000]);
    input.extend(b"\nlast without newline");
    assert_eq!(code(&e.receive(&input, &[])), 0);
    let lines = e.lines();
    // Control characters stored escaped; non-UTF-8 as base64; long lines split.
    assert!(lines[2].contains("\\u001b[31mred\\u0007"), "{}", lines[2]);
    assert!(lines[3].contains("\"b64\""), "{}", lines[3]);
    assert!(lines.iter().filter(|l| l.contains("\"cont\":true")).count() == 2);
    let o = sl(&["cat", "--log", e.l()], b"", &[]);
    let shown = String::from_utf8(o.stdout).unwrap();
    assert!(
        shown.contains("\\x1b[31mred\\x07\n"),
        "terminal-safe: {shown:?}"
    );
    assert!(shown.contains("\\xff\\xfebinary\n"));
    assert!(
        shown.contains(&"a".repeat(40_000)),
        "continuations are joined"
    );
    assert!(shown.ends_with("last without newline"));
}

fn tampered(e: &Env, name: &str, edit: impl Fn(&mut Vec<String>)) -> Output {
    let dir = e.tmp.path().join(name);
    std::fs::create_dir_all(dir.join("checkpoints")).unwrap();
    for f in std::fs::read_dir(e.log.join("checkpoints")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dir.join("checkpoints").join(f.file_name())).unwrap();
    }
    let mut lines = e.lines();
    edit(&mut lines);
    std::fs::write(dir.join("log.jsonl"), lines.join("\n") + "\n").unwrap();
    e.verify_in(&dir)
}

#[test]
fn tampering_after_a_seal_is_detected() {
    type Edit = Box<dyn Fn(&mut Vec<String>)>;
    let e = setup();
    e.receive(BUILD, &[]);
    assert_eq!(code(&e.seal()), 0);
    e.receive(b"second session\n", &[]);
    assert_eq!(code(&e.seal()), 0);
    assert_eq!(code(&e.verify()), 0);
    // Every record the last checkpoint covers (0..9; record 9 is the seal
    // record, checked against the checkpoint it names): changed, removed,
    // duplicated, swapped with the next, or the file cut before it.
    let sealed = 9;
    assert!(e.lines()[9].contains("\"type\":\"seal\""));
    for i in 0..sealed {
        let flip = move |l: &mut Vec<String>| {
            // Another last digit of the time: still a valid record.
            let t = l[i].find("Z\"").unwrap() - 1;
            let d = l[i].as_bytes()[t];
            let nd = if d == b'9' { '8' } else { (d + 1) as char };
            l[i].replace_range(t..t + 1, &nd.to_string());
        };
        let edits: Vec<(&str, Edit)> = vec![
            ("flip", Box::new(flip)),
            (
                "delete",
                Box::new(move |l: &mut Vec<String>| drop(l.remove(i))),
            ),
            (
                "insert",
                Box::new(move |l: &mut Vec<String>| l.insert(i, l[i].clone())),
            ),
            (
                "swap",
                Box::new(move |l: &mut Vec<String>| l.swap(i, i + 1)),
            ),
            (
                "truncate",
                Box::new(move |l: &mut Vec<String>| l.truncate(i)),
            ),
        ];
        for (what, edit) in edits {
            let o = tampered(&e, &format!("{what}-{i}"), edit);
            assert_eq!(code(&o), 1, "{what} record {i}: {}", text(&o));
            assert!(text(&o).contains("record"), "{what} {i}: {}", text(&o));
        }
    }
    // The seal record itself must name its checkpoint exactly.
    let o = tampered(&e, "seal-root", |l: &mut Vec<String>| {
        let at = l[9].find("\"root\":\"").unwrap() + 8;
        let c = if &l[9][at..at + 1] == "A" { "B" } else { "A" };
        l[9].replace_range(at..at + 1, c);
    });
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        text(&o).contains("record 9: seal record does not match"),
        "{}",
        text(&o)
    );
    let cases: Vec<(&str, Edit)> = vec![
        (
            "flip",
            Box::new(|l: &mut Vec<String>| l[2] = l[2].replace("cc -o", "cc -O")),
        ),
        (
            "delete",
            Box::new(|l: &mut Vec<String>| {
                l.remove(2);
            }),
        ),
        (
            "insert",
            Box::new(|l: &mut Vec<String>| l.insert(2, l[2].clone())),
        ),
        ("reorder", Box::new(|l: &mut Vec<String>| l.swap(2, 3))),
        ("truncate", Box::new(|l: &mut Vec<String>| l.truncate(4))),
        (
            "truncate-tail",
            Box::new(|l: &mut Vec<String>| {
                l.pop();
                l.pop();
            }),
        ),
    ];
    for (name, edit) in cases {
        let o = tampered(&e, name, edit);
        assert_eq!(code(&o), 1, "{name}: {}", text(&o));
        assert!(
            text(&o).contains("record") || text(&o).contains("truncated"),
            "{name}: {}",
            text(&o)
        );
    }
    // Untrusted key, other origin.
    let other = gen_key("Not the log key");
    let ring = write_keyring(&e.tmp.path().join("other.asc"), &[&other]);
    let o = e.verify_with(&e.log, &ring, &[]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let o = e.verify_with(&e.log, &e.public, &["--origin", "elsewhere"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // The whole file removed after a seal.
    let gone = e.tmp.path().join("gone");
    std::fs::create_dir_all(gone.join("checkpoints")).unwrap();
    for f in ["5", "5.asc"] {
        std::fs::copy(
            e.log.join("checkpoints").join(f),
            gone.join("checkpoints").join(f),
        )
        .unwrap();
    }
    let o = e.verify_in(&gone);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // Never sealed: nothing to verify with.
    let fresh = setup();
    fresh.receive(BUILD, &[]);
    assert_eq!(code(&fresh.verify()), 3);
}

#[test]
fn caps_end_the_session_and_keep_what_was_written() {
    let e = setup();
    let o = e.receive(b"1\n2\n3\n4\n5\n6\n", &["--max-records", "3"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("--max-records"), "{}", text(&o));
    let lines = e.lines();
    assert!(
        lines
            .last()
            .unwrap()
            .contains("\"reason\":\"cap: 3 records"),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 5, "start, 3 lines, end");
    // The part of an over-long line within the cap is kept, not dropped.
    let o = e.receive(
        &[vec![b'x'; 5000], b"\nnext\n".to_vec()].concat(),
        &["--max-line", "1000"],
    );
    assert_eq!(code(&o), 1);
    let lines = e.lines();
    let kept = &lines[lines.len() - 2];
    assert!(
        kept.contains(&format!("\"data\":\"{}\",\"noeol\":true", "x".repeat(1000))),
        "{kept}"
    );
    assert!(lines.last().unwrap().contains("--max-line"));
    let o = e.receive(&vec![b'y'; 5000], &["--max-bytes", "100"]);
    assert_eq!(code(&o), 1);
    let lines = e.lines();
    assert!(lines[lines.len() - 2].contains(&format!("\"data\":\"{}\"", "y".repeat(100))));
    assert!(lines.last().unwrap().contains("--max-bytes"));
    // Capped sessions are still a valid log.
    assert_eq!(code(&e.seal()), 0);
    let o = e.verify();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains("end: cap: more than 100 bytes"),
        "{}",
        text(&o)
    );
}

/// Wait until the log holds `needle` (the receiver wrote it to the kernel).
fn wait_for(log: &Path, needle: &str) {
    for _ in 0..3000 {
        if std::fs::read_to_string(log.join("log.jsonl"))
            .unwrap_or_default()
            .contains(needle)
        {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the receiver never stored {needle:?}");
}

#[test]
fn a_killed_receiver_loses_nothing_it_wrote_and_recovers() {
    let e = setup();
    e.receive(BUILD, &[]);
    assert_eq!(code(&e.seal()), 0);
    // Killed while the build is quiet: every line read so far is already in
    // the file (no user-space buffering), whatever --sync says.
    for (round, sync) in ["batch", "end", "always"].iter().enumerate() {
        let mut child = Command::new(BIN)
            .args(["receive", "--log", e.l(), "--sync", sync])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        for i in 0..200 {
            writeln!(stdin, "round {round} line {i}").unwrap();
        }
        stdin.flush().unwrap();
        wait_for(&e.log, &format!("round {round} line 199"));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        drop(stdin);
    }
    // And a torn tail, as a crash in the middle of a write leaves it.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(e.log.join("log.jsonl"))
        .unwrap();
    f.write_all(b"{\"seq\":99999,\"t\":\"torn").unwrap();
    drop(f);
    // Before any recovery, verify passes on everything before the torn tail.
    let o = e.verify();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("incomplete record"), "{}", text(&o));
    assert!(text(&o).contains("no end record"), "{}", text(&o));
    assert!(
        text(&o).contains("not covered by a signature"),
        "{}",
        text(&o)
    );
    // The next open keeps the torn bytes in a recovered record.
    let o = e.receive(b"after the crash\n", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let lines = e.lines();
    let rec = lines
        .iter()
        .find(|l| l.contains("\"type\":\"recovered\""))
        .expect("torn tail kept");
    let b64 = rec
        .split("\"b64\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    use base64::Engine as _;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
        b"{\"seq\":99999,\"t\":\"torn"
    );
    assert_eq!(code(&e.seal()), 0);
    let o = e.verify();
    assert_eq!(code(&o), 0, "{}", text(&o));
    let shown = String::from_utf8(sl(&["cat", "--log", e.l()], b"", &[]).stdout).unwrap();
    for round in 0..3 {
        for i in 0..200 {
            assert!(
                shown.contains(&format!("round {round} line {i}\n")),
                "round {round} line {i}"
            );
        }
    }
}

#[test]
fn a_killed_sender_ends_the_session_at_eof() {
    let e = setup();
    // The build side dies mid-line; the receiver sees EOF.
    let mut sender = Command::new("sh")
        .args(["-c", "printf 'a\\nb\\npartial'; kill -9 $$"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let o = Command::new(BIN)
        .args(["receive", "--log", e.l(), "--source", "vm"])
        .env_remove("QREXEC_REMOTE_DOMAIN")
        .stdin(Stdio::from(sender.stdout.take().unwrap()))
        .output()
        .unwrap();
    assert!(!sender.wait().unwrap().success());
    assert_eq!(code(&o), 0, "{}", text(&o));
    let lines = e.lines();
    assert!(
        lines[3].contains("\"data\":\"partial\",\"noeol\":true"),
        "{lines:?}"
    );
    assert!(lines[4].contains("\"type\":\"end\"") && lines[4].contains("\"reason\":\"eof\""));
    assert_eq!(code(&e.seal()), 0);
    assert_eq!(code(&e.verify()), 0);
}

#[test]
fn seal_on_eof_origins_and_missing_checkpoints() {
    let e = setup();
    let o = e.receive(
        BUILD,
        &[
            "--seal-on-eof",
            "--key",
            e.key.to_str().unwrap(),
            "--origin",
            "example.org/logs/core-admin",
        ],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!((f[0], f[1]), ("core-admin", "5"), "{out}");
    let cp = std::fs::read_to_string(e.log.join("checkpoints/5")).unwrap();
    assert_eq!(cp, format!("example.org/logs/core-admin\n5\n{}\n", f[2]));
    // Later checkpoints keep the log's origin (the seal record is record 5).
    assert!(e.log.join("checkpoints/5.asc").exists());
    let o = sl(&["checkpoint", "--log", e.l()], b"", &[]);
    assert!(String::from_utf8(o.stdout)
        .unwrap()
        .starts_with("example.org/logs/core-admin\n6\n"));
    let o = e.verify_with(
        &e.log,
        &e.public,
        &["--origin", "example.org/logs/core-admin"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    // A later seal keeps the log's origin by default...
    e.receive(b"two\n", &[]);
    assert_eq!(code(&e.seal()), 0);
    assert!(std::fs::read_to_string(e.log.join("checkpoints/9"))
        .unwrap()
        .starts_with("example.org/logs/core-admin\n"));
    assert_eq!(code(&e.verify()), 0);
    // ...and a seal with another origin is refused, leaving nothing: one
    // log with two origins would never verify again.
    e.receive(b"three\n", &[]);
    let before = (e.lines().len(), checkpoint_sizes(&e.log));
    let o = e.seal_with(&e.key, &["--origin", "elsewhere"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("is not the log's"), "{}", text(&o));
    assert_eq!((e.lines().len(), checkpoint_sizes(&e.log)), before);
    assert_eq!(code(&e.verify()), 0);

    // A removed checkpoint of a seal record, or a removed signature, fails.
    let f = setup();
    f.receive(BUILD, &[]);
    f.seal();
    f.receive(b"more\n", &[]);
    f.seal();
    let sizes = ["5", "9"];
    assert!(f.log.join("checkpoints").join(sizes[1]).exists());
    let copy = |name: &str| {
        let d = f.tmp.path().join(name);
        std::fs::create_dir_all(d.join("checkpoints")).unwrap();
        std::fs::copy(f.log.join("log.jsonl"), d.join("log.jsonl")).unwrap();
        for s in sizes {
            for ext in ["", ".asc"] {
                let n = format!("{s}{ext}");
                std::fs::copy(
                    f.log.join("checkpoints").join(&n),
                    d.join("checkpoints").join(&n),
                )
                .unwrap();
            }
        }
        d
    };
    let d = copy("no-cp");
    std::fs::remove_file(d.join("checkpoints/5")).unwrap();
    std::fs::remove_file(d.join("checkpoints/5.asc")).unwrap();
    let o = f.verify_in(&d);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        text(&o).contains("record 5: seal of size 5 without its checkpoint"),
        "{}",
        text(&o)
    );
    let d = copy("no-sig");
    std::fs::remove_file(d.join("checkpoints/9.asc")).unwrap();
    let o = f.verify_in(&d);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        text(&o).contains("checkpoints/9 has no signature"),
        "{}",
        text(&o)
    );
    // A checkpoint whose body was edited no longer matches its signature.
    let d = copy("edited-cp");
    let body = std::fs::read_to_string(d.join("checkpoints/9")).unwrap();
    std::fs::write(d.join("checkpoints/9"), body + "extension\n").unwrap();
    assert_eq!(code(&f.verify_in(&d)), 1);
}

#[test]
fn summaries_are_terminal_safe_and_json() {
    let e = setup();
    let input = b"##sign-log material {\"name\":\"evil\\u001b[2J.tar\",\"size\":1}\n\
##sign-log material {\"name\":\"x\",\"sha256\":\"not hex\"}\n\
\xe2\x80\xaeerror: reversed\n";
    e.receive(input, &[]);
    e.seal();
    let o = e.verify();
    assert_eq!(code(&o), 0, "{}", text(&o));
    let t = text(&o);
    assert!(!t.contains('\u{1b}') && !t.contains('\u{202e}'), "{t:?}");
    assert!(t.contains("material evil\\x1b[2J.tar size=1"), "{t}");
    assert!(
        t.contains("malformed digest"),
        "malformed directives are reported: {t}"
    );
    assert!(t.contains("error?   3: \\u{202e}error: reversed"), "{t}");
    let o = e.verify_with(&e.log, &e.public, &["--json"]);
    assert_eq!(code(&o), 0);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        j["sessions"][0]["materials"][0]["name"],
        "evil\u{1b}[2J.tar"
    );
    assert_eq!(j["sessions"][0]["error_lines"], 1);
    assert_eq!(j["sealed"], 5);
    // The raw log holds no control character or bidi override either.
    let raw = std::fs::read_to_string(e.log.join("log.jsonl")).unwrap();
    assert!(!raw.contains('\u{1b}') && !raw.contains('\u{202e}'));
}

#[test]
fn long_utf8_lines_split_on_character_boundaries() {
    let e = setup();
    let line = "é".repeat(20_000) + "€";
    e.receive(format!("{line}\nshort\n").as_bytes(), &[]);
    let lines = e.lines();
    assert!(
        lines.iter().all(|l| !l.contains("\"b64\"")),
        "UTF-8 pieces stay text"
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains("\"cont\":true")).count(),
        2
    );
    let shown = String::from_utf8(sl(&["cat", "--log", e.l()], b"", &[]).stdout).unwrap();
    assert_eq!(shown, format!("{line}\nshort\n"));
}

#[test]
fn proofs_verify_against_checkpoints_alone() {
    let e = setup();
    e.receive(BUILD, &[]);
    e.seal();
    e.receive(b"more\nlines\n", &[]);
    e.seal();
    let sizes: Vec<u64> = {
        let mut v: Vec<u64> = std::fs::read_dir(e.log.join("checkpoints"))
            .unwrap()
            .filter_map(|f| f.unwrap().file_name().to_str().unwrap().parse().ok())
            .collect();
        v.sort();
        v
    };
    let (m, n) = (sizes[0], sizes[1]);
    let cp = |s: u64| e.log.join("checkpoints").join(s.to_string());
    let o = sl(
        &[
            "prove",
            "inclusion",
            "--log",
            e.l(),
            "2",
            "--size",
            &n.to_string(),
        ],
        b"",
        &[],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let proof = e.tmp.path().join("inc.json");
    std::fs::write(&proof, &o.stdout).unwrap();
    let ok = verify_proof(&proof, &[&cp(n)], &["--unsigned"]);
    assert_eq!(code(&ok), 0, "{}", text(&ok));
    // Wrong checkpoint, tampered leaf.
    let wrong = verify_proof(&proof, &[&cp(m)], &["--unsigned"]);
    assert_eq!(code(&wrong), 1);
    let forged = String::from_utf8(o.stdout.clone())
        .unwrap()
        .replace("cc -o", "rm -rf");
    std::fs::write(&proof, forged).unwrap();
    let bad = verify_proof(&proof, &[&cp(n)], &["--unsigned"]);
    assert_eq!(code(&bad), 1);
    let o = sl(
        &[
            "prove",
            "consistency",
            "--log",
            e.l(),
            &m.to_string(),
            &n.to_string(),
        ],
        b"",
        &[],
    );
    std::fs::write(&proof, &o.stdout).unwrap();
    let ok = verify_proof(&proof, &[&cp(m), &cp(n)], &["--unsigned"]);
    assert_eq!(code(&ok), 0, "{}", text(&ok));
    let swapped = verify_proof(&proof, &[&cp(n), &cp(m)], &["--unsigned"]);
    assert_eq!(code(&swapped), 1);
}

#[test]
fn directives_steps_and_in_toto_export() {
    let e = setup();
    let src = e.tmp.path().join("input.tar");
    std::fs::write(&src, b"source").unwrap();
    let out = e.tmp.path().join("out.bin");
    let mat = sl(&["hash", "--material", src.to_str().unwrap()], b"", &[]);
    let step = sl(
        &[
            "run",
            "--name",
            "build",
            "--",
            "sh",
            "-c",
            &format!("echo built > {}; exit 3", out.display()),
        ],
        b"",
        &[],
    );
    assert_eq!(code(&step), 3, "run exits with the command's code");
    let prod = sl(&["hash", "--product", out.to_str().unwrap()], b"", &[]);
    let input = [mat.stdout, step.stdout, prod.stdout].concat();
    assert!(String::from_utf8_lossy(&input).contains("##sign-log step-end {\"name\":\"build\""));
    e.receive(&input, &[]);
    e.seal();
    let o = e.verify();
    assert!(text(&o).contains("step     build exit=3"), "{}", text(&o));
    let x = sl(
        &[
            "export",
            "--log",
            e.l(),
            "--session",
            "1",
            "--keyring",
            e.public.to_str().unwrap(),
        ],
        b"",
        &[],
    );
    assert_eq!(code(&x), 0, "{}", text(&x));
    let j: serde_json::Value = serde_json::from_slice(&x.stdout).unwrap();
    assert_eq!(j["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(j["subject"][0]["name"], out.display().to_string());
    assert_eq!(j["predicate"]["byproducts"]["return-value"], 3);
    assert_eq!(
        j["predicate"]["materials"][0]["digest"]["sha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
}

#[test]
fn sealing_through_a_gpg_program() {
    if !oracle("gpg") {
        return;
    }
    let e = setup();
    // A stand-in for qubes-gpg-client-wrapper: real gpg with its own home.
    let home = e.tmp.path().join("gnupg");
    std::fs::create_dir(&home).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let st = Command::new("gpg")
        .args(["--batch", "--quiet", "--import"])
        .arg(&e.key)
        .env("GNUPGHOME", &home)
        .status()
        .unwrap();
    assert!(st.success());
    let k = sequoia_openpgp::Cert::from_bytes(&std::fs::read(&e.public).unwrap()).unwrap();
    let wrapper = e.tmp.path().join("gpg-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec gpg --batch --homedir {} \"$@\"\n",
            home.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    e.receive(BUILD, &[]);
    let fpr = k.fingerprint().to_hex();
    let o = sl(
        &[
            "seal",
            "--log",
            e.l(),
            "--gpg-program",
            wrapper.to_str().unwrap(),
            "--local-user",
            &fpr,
        ],
        b"",
        &[],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = e.verify();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains(&format!("checkpoint signer {fpr}")),
        "{}",
        text(&o)
    );
}

#[test]
fn qrexec_service_script_sanitizes_and_separates_callers() {
    let e = setup();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/qubes/qubes.AppendLog");
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let base = e.tmp.path().join("logs");
    // The service as qrexec starts it: `sh SCRIPT ARG` for caller `domain`.
    let call = |arg: &str, domain: &str| {
        let mut c = Command::new("sh");
        c.arg(script)
            .arg(arg)
            .env("PATH", &path)
            .env("BUILD_LOG_DIR", &base)
            .env("QREXEC_REMOTE_DOMAIN", domain);
        c
    };
    // A refused name exits before reading: a broken pipe is expected.
    let run = |arg: &str| run_fed(&mut call(arg, "build-vm-1"), b"built\n");
    for bad in ["../escape", ".hidden", "a/b", ""] {
        assert_eq!(code(&run(bad)), 2, "{bad:?}");
    }
    assert!(!base.exists(), "nothing created for refused names");
    let o = run("core-admin");
    assert_eq!(code(&o), 0, "{}", text(&o));
    let log = std::fs::read_to_string(base.join("build-vm-1/core-admin/log.jsonl")).unwrap();
    assert!(log.contains("\"src\":\"build-vm-1\""), "{log}");
    // A domain name that could climb out is refused too; SIGN_LOG_OPTS
    // seals at the end of the build.
    let service = |domain: &str, opts: &str| {
        run_fed(
            call("sealed", domain).env("SIGN_LOG_OPTS", opts),
            b"built\n",
        )
    };
    assert_eq!(code(&service("../up", "")), 2);
    assert!(!e.tmp.path().join("up").exists());
    let o = service(
        "build-vm-2",
        &format!("--seal-on-eof --key {}", e.key.display()),
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("sealed 3 "));
    let o = e.verify_in(&base.join("build-vm-2/sealed"));
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[test]
fn export_needs_a_sealed_session_with_products() {
    let e = setup();
    let out = e.tmp.path().join("out.bin");
    std::fs::write(&out, b"built").unwrap();
    let prod = sl(&["hash", "--product", out.to_str().unwrap()], b"", &[]);
    e.receive(&prod.stdout, &[]);
    e.seal();
    e.receive(&prod.stdout, &[]);
    let export = |k: &str| {
        sl(
            &[
                "export",
                "--log",
                e.l(),
                "--format",
                "in-toto",
                "--session",
                k,
                "--keyring",
                e.public.to_str().unwrap(),
            ],
            b"",
            &[],
        )
    };
    let o = export("1");
    assert_eq!(code(&o), 0, "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["predicate"]["byproducts"]["checkpoint"]["size"], 3);
    // Session 2 is past the last seal: nothing signed to attest.
    let o = export("2");
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(o.stdout.is_empty());
    assert!(text(&o).contains("not sealed"), "{}", text(&o));
    assert_eq!(code(&export("3")), 2);
    // A session without products has no subject.
    let f = setup();
    f.receive(b"no products\n", &[]);
    f.seal();
    let o = sl(
        &[
            "export",
            "--log",
            f.l(),
            "--session",
            "1",
            "--keyring",
            f.public.to_str().unwrap(),
        ],
        b"",
        &[],
    );
    assert_eq!(code(&o), 3, "{}", text(&o));
}

#[test]
fn proofs_check_checkpoint_signatures_when_given_keys() {
    let e = setup();
    e.receive(BUILD, &[]);
    e.seal();
    let o = sl(&["prove", "inclusion", "--log", e.l(), "3"], b"", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let proof = e.tmp.path().join("p.json");
    std::fs::write(&proof, &o.stdout).unwrap();
    let cp = e.log.join("checkpoints/5");
    let check = |ring: &Path| verify_proof(&proof, &[&cp], &["--keyring", ring.to_str().unwrap()]);
    let o = check(&e.public);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let other = gen_key("Someone else");
    let ring = write_keyring(&e.tmp.path().join("other.asc"), &[&other]);
    assert_eq!(code(&check(&ring)), 1);
    // Without keys there is nothing to verify the checkpoint with; only an
    // explicit --unsigned checks the proof against the bare roots.
    let bare = |extra: &[&str]| verify_proof(&proof, &[&cp], extra);
    let o = bare(&[]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("verified"));
    let o = bare(&["--unsigned"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("signatures not checked"));
    // A checkpoint without its signature: nothing to verify with.
    let lone = e.tmp.path().join("lone");
    std::fs::copy(&cp, &lone).unwrap();
    let o = verify_proof(&proof, &[&lone], &["--keyring", e.public.to_str().unwrap()]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    // Oversized inputs are refused before they are read whole.
    let huge = e.tmp.path().join("huge.json");
    std::fs::write(&huge, vec![b' '; (1 << 20) + 1]).unwrap();
    let o = verify_proof(&huge, &[&cp], &["--unsigned"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("larger than"), "{}", text(&o));
    // A checkpoint file name claiming a size past 2^63 (names are read
    // before any signature): an error, not an endless loop.
    std::fs::write(e.log.join("checkpoints/9223372036854775809"), b"x").unwrap();
    let o = sl(&["prove", "inclusion", "--log", e.l(), "3"], b"", &[]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    std::fs::remove_file(e.log.join("checkpoints/9223372036854775809")).unwrap();
    // A checkpoint body that is not a few hundred bytes fails verify.
    std::fs::write(e.log.join("checkpoints/5"), vec![b'x'; 64 * 1024 + 1]).unwrap();
    let o = e.verify();
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("larger than"), "{}", text(&o));
    // Sizes past the log are a usage error.
    let o = sl(
        &["prove", "consistency", "--log", e.l(), "2", "50"],
        b"",
        &[],
    );
    assert_eq!(code(&o), 2, "{}", text(&o));
}

#[test]
fn run_logs_a_command_that_cannot_start() {
    let o = sl(
        &["run", "--name", "missing", "--", "/nonexistent/tool", "x"],
        b"",
        &[],
    );
    assert_eq!(code(&o), 127, "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.contains("##sign-log step-begin {\"name\":\"missing\""),
        "{out}"
    );
    assert!(out.contains("##sign-log step-end {\"name\":\"missing\",\"argv\":[\"/nonexistent/tool\",\"x\"],\"exit\":127}"), "{out}");
}

#[test]
fn a_flood_of_bad_directives_is_counted_not_kept() {
    // The build side is untrusted: warnings about its directives are kept
    // up to a bound and the rest only counted.
    let e = setup();
    let flood = "##sign-log nonsense\n".repeat(1_500);
    let o = e.receive(flood.as_bytes(), &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(code(&e.seal()), 0);
    let o = e.verify();
    assert_eq!(code(&o), 0, "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("... 500 more warnings"), "{err}");
    assert!(err.lines().count() < 1_100, "{} lines", err.lines().count());
}

// ---------------------------------------------------------------------------
// Issue 12: no quiet success on sign-log's daily path.

/// Run sign-log with no input and a deadline; `None` when it had to be
/// killed (it blocked).
fn sl_deadline(args: &[&str], secs: u64) -> Option<Output> {
    run_deadline(
        Command::new(BIN)
            .args(args)
            .env_remove("QREXEC_REMOTE_DOMAIN"),
        secs,
    )
    .ok()
}

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(st.success());
}

impl Env {
    fn seal_with(&self, key: &Path, extra: &[&str]) -> Output {
        let mut a = vec!["seal", "--log", self.l(), "--key", key.to_str().unwrap()];
        a.extend_from_slice(extra);
        sl(&a, b"", &[])
    }
    fn p(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }
}

#[test]
fn a_typo_d_log_directory_is_never_created_or_sealed() {
    let e = setup();
    e.receive(BUILD, &[]);
    let typo = e.p("lgo");
    let o = seal_dir(&typo, &e.key);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("no log here"), "{}", text(&o));
    assert!(!typo.exists(), "seal created {}", typo.display());
    // An existing directory without a log: the same, nothing created in it.
    std::fs::create_dir(&typo).unwrap();
    let o = seal_dir(&typo, &e.key);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert_eq!(std::fs::read_dir(&typo).unwrap().count(), 0);
    // Reading a missing log is a usage error too, not "never sealed".
    let t = typo.to_str().unwrap();
    let pubring = e.public.to_str().unwrap();
    for args in [
        vec!["verify", "--log", t, "--keyring", pubring],
        vec!["cat", "--log", t],
        vec!["checkpoint", "--log", t],
        vec!["prove", "inclusion", "--log", t, "0"],
        vec!["export", "--log", t, "--session", "1", "--keyring", pubring],
    ] {
        let o = sl(&args, b"", &[]);
        assert_eq!(code(&o), 2, "{args:?}: {}", text(&o));
    }
    // The real log was never touched: still unsealed, still verifiable as such.
    assert_eq!(code(&e.verify()), 3);
}

#[test]
fn a_seal_with_another_key_needs_an_explicit_rotation() {
    let e = setup();
    e.receive(BUILD, &[]);
    assert_eq!(code(&e.seal()), 0);
    e.receive(b"more\n", &[]);
    let other = gen_key("Another Log Key <other@example.org>");
    let other_key = e.p("other.key");
    std::fs::write(&other_key, armor_tsk(&other)).unwrap();
    let before = (e.lines(), checkpoint_sizes(&e.log));
    let o = e.seal_with(&other_key, &[]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("--rotate-key"), "{}", text(&o));
    assert_eq!(
        (e.lines(), checkpoint_sizes(&e.log)),
        before,
        "nothing written"
    );
    // The log still verifies with its own key alone.
    assert_eq!(code(&e.verify()), 0);
    // Asked for: sealed, said so, and verify needs both keys.
    let o = e.seal_with(&other_key, &["--rotate-key"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("key rotated"), "{}", text(&o));
    assert_eq!(
        code(&e.verify()),
        1,
        "the new checkpoint's key is not trusted"
    );
    let both = write_keyring(
        &e.p("both.asc"),
        &[
            &sequoia_openpgp::Cert::from_bytes(&std::fs::read(&e.public).unwrap()).unwrap(),
            &other,
        ],
    );
    let o = e.verify_with(&e.log, &both, &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // The same key again needs nothing.
    e.receive(b"again\n", &[]);
    assert_eq!(code(&e.seal_with(&other_key, &[])), 0);
}

#[test]
fn removing_the_newest_seal_is_caught_by_what_was_pinned() {
    let e = setup();
    e.receive(BUILD, &[]);
    assert_eq!(code(&e.seal()), 0);
    e.receive(b"second session\n", &[]);
    assert_eq!(code(&e.seal()), 0);
    let sizes = checkpoint_sizes(&e.log);
    let newest = *sizes.last().unwrap();
    // The gate or an auditor kept the newest checkpoint elsewhere.
    let kept = e.p("kept-checkpoint");
    std::fs::copy(e.log.join(format!("checkpoints/{newest}")), &kept).unwrap();
    std::fs::copy(
        e.log.join(format!("checkpoints/{newest}.asc")),
        e.p("kept-checkpoint.asc"),
    )
    .unwrap();
    let k = kept.to_str().unwrap();
    let pinned = |dir: &Path, extra: &[&str]| e.verify_with(dir, &e.public, extra);
    assert_eq!(code(&pinned(&e.log, &["--checkpoint", k])), 0);
    let n = newest.to_string();
    assert_eq!(code(&pinned(&e.log, &["--expect-size", &n])), 0);
    assert_eq!(code(&pinned(&e.log, &["--require-sealed"])), 0);
    // The attack: delete the newest checkpoint and its seal record, then
    // edit what is now an "unsealed tail".
    let dir = e.p("rolled-back");
    std::fs::create_dir_all(dir.join("checkpoints")).unwrap();
    for s in &sizes[..sizes.len() - 1] {
        for ext in ["", ".asc"] {
            let f = format!("checkpoints/{s}{ext}");
            std::fs::copy(e.log.join(&f), dir.join(&f)).unwrap();
        }
    }
    let mut lines = e.lines();
    assert!(lines.pop().unwrap().contains("\"type\":\"seal\""));
    let edited = lines.len() - 2;
    lines[edited] = lines[edited].replace("second session", "rewritten session");
    std::fs::write(dir.join("log.jsonl"), lines.join("\n") + "\n").unwrap();
    // Plain verify has no way to know: exit 0, but the session is marked.
    let o = pinned(&dir, &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("[UNSEALED"), "{}", text(&o));
    let o = pinned(&dir, &["--json"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["sessions"][0]["sealed"], true);
    assert_eq!(j["sessions"][1]["sealed"], false);
    // Each pin refuses it.
    for extra in [
        vec!["--checkpoint", k],
        vec!["--expect-size", &n],
        vec!["--require-sealed"],
    ] {
        let o = pinned(&dir, &extra);
        assert_eq!(code(&o), 1, "{extra:?}: {}", text(&o));
        assert!(o.stdout.is_empty(), "{extra:?}: no summary printed");
    }
    // Without the edit, the kept checkpoint still proves the records: the
    // tree at its size is recomputed, not only its presence checked.
    let mut lines = e.lines();
    lines[edited] = lines[edited].replace("second session", "rewritten session");
    let edited_dir = e.p("edited");
    std::fs::create_dir_all(edited_dir.join("checkpoints")).unwrap();
    for s in &sizes[..sizes.len() - 1] {
        for ext in ["", ".asc"] {
            let f = format!("checkpoints/{s}{ext}");
            std::fs::copy(e.log.join(&f), edited_dir.join(&f)).unwrap();
        }
    }
    let f = format!("checkpoints/{newest}");
    std::fs::copy(e.log.join(&f), edited_dir.join(&f)).unwrap();
    std::fs::copy(
        e.log.join(format!("{f}.asc")),
        edited_dir.join(format!("{f}.asc")),
    )
    .unwrap();
    std::fs::write(edited_dir.join("log.jsonl"), lines.join("\n") + "\n").unwrap();
    assert_eq!(code(&pinned(&edited_dir, &["--checkpoint", k])), 1);
    // A pinned checkpoint of another log (another origin) is refused.
    let f2 = setup();
    f2.receive(BUILD, &[]);
    let o = f2.seal_with(&e.key, &["--origin", "elsewhere.example/log"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let foreign = f2.log.join("checkpoints/5");
    let o = pinned(&e.log, &["--checkpoint", foreign.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // Unsealed sessions are marked in a live log too.
    e.receive(b"third\n", &[]);
    let o = e.verify();
    assert!(
        text(&o).contains("session 3 \"core-admin\""),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("[UNSEALED"), "{}", text(&o));
    assert_eq!(code(&pinned(&e.log, &["--require-sealed"])), 1);
}

#[test]
fn special_files_are_refused_never_read() {
    let e = setup();
    e.receive(BUILD, &[]);
    assert_eq!(code(&e.seal()), 0);
    let fifo = e.p("fifo");
    mkfifo(&fifo);
    let f = fifo.to_str().unwrap();
    let (l, ring) = (e.l(), e.public.to_str().unwrap());
    // A log directory whose log.jsonl, or a checkpoint, is a FIFO.
    let fifo_log = e.p("fifo-log");
    std::fs::create_dir_all(fifo_log.join("checkpoints")).unwrap();
    mkfifo(&fifo_log.join("log.jsonl"));
    let fl = fifo_log.to_str().unwrap();
    let fifo_cp = e.p("fifo-cp");
    std::fs::create_dir_all(fifo_cp.join("checkpoints")).unwrap();
    std::fs::copy(e.log.join("log.jsonl"), fifo_cp.join("log.jsonl")).unwrap();
    std::fs::copy(
        e.log.join("checkpoints/5.asc"),
        fifo_cp.join("checkpoints/5.asc"),
    )
    .unwrap();
    mkfifo(&fifo_cp.join("checkpoints/5"));
    let fc = fifo_cp.to_str().unwrap();
    let art = e.p("artifact");
    std::fs::write(&art, b"x").unwrap();
    let key = e.key.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["verify", "--log", fl, "--keyring", ring],
        vec!["cat", "--log", fl],
        vec!["checkpoint", "--log", fl],
        vec!["seal", "--log", fl, "--key", key],
        vec!["receive", "--log", fl],
        vec!["verify", "--log", fc, "--keyring", ring],
        vec!["verify", "--log", l, "--keyring", f],
        vec!["verify", "--log", l, "--keyring", "/dev/zero"],
        vec!["verify", "--log", l, "--keyring", ring, "--checkpoint", f],
        vec!["verify-proof", f, "--checkpoint", "/dev/null", "--unsigned"],
        vec!["gate", "--keyring", ring, "--proof", f, "/dev/null"],
        vec!["gate", "--state", f, "--last-size"],
        vec!["hash", f],
        vec!["prove", "product", "--log", l, "--file", f],
        vec!["seal", "--log", l, "--key", f],
    ];
    for args in cases {
        let o = sl_deadline(&args, 20).unwrap_or_else(|| panic!("{args:?} blocked"));
        assert_eq!(code(&o), 2, "{args:?}: {}", text(&o));
        assert!(
            text(&o).contains("not a regular file"),
            "{args:?}: {}",
            text(&o)
        );
    }
    // An artifact that is a FIFO: the gate refuses it too.
    let ev = sl(&["prove", "checkpoint", "--log", l], b"", &[]);
    assert_eq!(code(&ev), 0, "{}", text(&ev));
    let evf = e.p("ev.json");
    std::fs::write(&evf, &ev.stdout).unwrap();
    let o = sl_deadline(
        &[
            "gate",
            "--keyring",
            ring,
            "--proof",
            evf.to_str().unwrap(),
            f,
        ],
        20,
    )
    .expect("gate blocked on a FIFO artifact");
    assert_eq!(code(&o), 2, "{}", text(&o));
    // Nothing was written into the FIFO log's directory.
    assert_eq!(
        std::fs::read_dir(fifo_log.join("checkpoints"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn checkpoint_signatures_of_several_armored_blocks_are_read_whole() {
    // Waits for the OpenPGP layer to read every armored block of a SIG (the
    // lead's change): an unknown signer's block first, the log key's after.
    let e = setup();
    e.receive(BUILD, &[]);
    assert_eq!(code(&e.seal()), 0);
    let body = std::fs::read(e.log.join("checkpoints/5")).unwrap();
    let stranger = gen_key("Stranger <s@example.org>");
    let theirs = armor_sig(&sign_detached(&stranger, &body));
    let ours = std::fs::read(e.log.join("checkpoints/5.asc")).unwrap();
    std::fs::write(
        e.log.join("checkpoints/5.asc"),
        [theirs.clone(), ours.clone()].concat(),
    )
    .unwrap();
    let o = e.verify();
    assert_eq!(code(&o), 0, "{}", text(&o));
    // And the other order.
    std::fs::write(e.log.join("checkpoints/5.asc"), [ours, theirs].concat()).unwrap();
    let o = e.verify();
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[test]
fn small_ones_cat_modes_hash_default_origin_from_name() {
    let e = setup();
    // cat shows backslashes as the build printed them.
    e.receive(b"C:\\build\\out printf(\"a\\n\")\n", &[]);
    let o = sl(&["cat", "--log", e.l()], b"", &[]);
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        "C:\\build\\out printf(\"a\\n\")\n"
    );
    // Checkpoints get the log's mode, not a temporary file's 0600.
    assert_eq!(code(&e.seal()), 0);
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let log_mode = mode(&e.log.join("log.jsonl"));
    for s in checkpoint_sizes(&e.log) {
        for ext in ["", ".asc"] {
            let p = e.log.join(format!("checkpoints/{s}{ext}"));
            assert_eq!(mode(&p), log_mode, "{}", p.display());
        }
    }
    // `hash FILE` defaults to a product directive.
    let f = e.p("out.bin");
    std::fs::write(&f, b"built").unwrap();
    let o = sl(&["hash", f.to_str().unwrap()], b"", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("##sign-log product {"),
        "{}",
        text(&o)
    );
    // The default origin comes from the log's name, not its directory.
    let receive_sealed = |dir: &Path, envs: &[(&str, &str)]| {
        let args = [
            "receive",
            "--log",
            dir.to_str().unwrap(),
            "--name",
            "core-admin",
            "--seal-on-eof",
            "--key",
            e.key.to_str().unwrap(),
        ];
        sl(&args, b"x\n", envs)
    };
    let d = e.p("dir-name");
    let o = receive_sealed(&d, &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let cp = std::fs::read_to_string(d.join("checkpoints/3")).unwrap();
    assert!(cp.starts_with("build-verify.sign-log/core-admin\n"), "{cp}");
    // With a source (the qrexec domain), two build VMs' logs of one
    // component get two origins.
    let d3 = e.p("with-source");
    let o = receive_sealed(&d3, &[("QREXEC_REMOTE_DOMAIN", "build-vm-7")]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let cp = std::fs::read_to_string(d3.join("checkpoints/3")).unwrap();
    assert!(
        cp.starts_with("build-verify.sign-log/build-vm-7/core-admin\n"),
        "{cp}"
    );
    // ...also for a later `seal`, which has no --name: the first session's.
    let d2 = e.p("other-dir");
    sl(
        &[
            "receive",
            "--log",
            d2.to_str().unwrap(),
            "--name",
            "linux-kernel",
        ],
        b"x\n",
        &[],
    );
    assert_eq!(code(&seal_dir(&d2, &e.key)), 0);
    let cp = std::fs::read_to_string(d2.join("checkpoints/3")).unwrap();
    assert!(
        cp.starts_with("build-verify.sign-log/linux-kernel\n"),
        "{cp}"
    );
}

#[test]
fn every_listed_subcommand_has_a_man_page_and_bash_completes_them() {
    let d = tempfile::tempdir().unwrap();
    let st = Command::new(BIN)
        .env("BUILD_VERIFY_GEN_DOCS", d.path())
        .status()
        .unwrap();
    assert!(st.success());
    // Every `sign-log-X(1)` a page lists exists, recursively.
    let mut todo = vec!["sign-log".to_string()];
    let mut seen = 0;
    while let Some(page) = todo.pop() {
        let path = d.path().join(format!("man1/{page}.1"));
        let roff = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} is listed but missing", path.display()));
        seen += 1;
        for line in roff.lines() {
            if let Some(name) = line.strip_suffix("(1)") {
                let name = name.replace("\\-", "-");
                if name.starts_with("sign-log-") {
                    todo.push(name);
                }
            }
        }
    }
    assert!(seen >= 15, "only {seen} pages");
    // The completion script, loaded into bash: subcommands and their
    // options complete.
    if !oracle("bash") {
        return;
    }
    let script = d.path().join("bash-completion/completions/sign-log");
    let complete = |words: &[&str]| -> String {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let cword = words.len() - 1;
        let prog = format!(
            "source '{}'; f=$(complete -p sign-log | sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p'); \
             declare -F \"$f\" >/dev/null || exit 9; COMP_WORDS=({}); COMP_CWORD={cword}; \
             \"$f\" sign-log '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display(),
            quoted.join(" "),
            words[cword],
            words[cword - 1],
        );
        let o = Command::new("bash").arg("-c").arg(prog).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    assert!(complete(&["sign-log", "ga"]).lines().any(|l| l == "gate"));
    assert!(complete(&["sign-log", "receive", "--lo"])
        .lines()
        .any(|l| l == "--log"));
    assert!(complete(&["sign-log", "verify-proof", "--chec"])
        .lines()
        .any(|l| l == "--checkpoint"));
    assert!(complete(&["sign-log", "prove", "inclusion", "--l"])
        .lines()
        .any(|l| l == "--log"));
    assert!(complete(&["sign-log", "gate", "--las"])
        .lines()
        .any(|l| l == "--last-size"));
}

#[test]
fn the_log_library_does_not_print() {
    // Only src/bin writes to the terminal (the library reports notes).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/log");
    for f in std::fs::read_dir(&dir).unwrap() {
        let p = f.unwrap().path();
        let src = std::fs::read_to_string(&p).unwrap();
        for (i, line) in src.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for m in ["println!", "eprintln!", "print!(", "eprint!(", "dbg!("] {
                assert!(
                    !code.contains(m),
                    "{}:{}: {m} in the library",
                    p.display(),
                    i + 1
                );
            }
        }
    }
}

#[test]
fn a_failing_proof_says_what_was_expected_and_calculated() {
    let e = setup();
    e.receive(BUILD, &[]);
    e.seal();
    let o = sl(&["prove", "inclusion", "--log", e.l(), "2"], b"", &[]);
    let forged = String::from_utf8(o.stdout)
        .unwrap()
        .replace("cc -o", "rm -rf");
    let p = e.p("p.json");
    std::fs::write(&p, forged).unwrap();
    let cp = e.log.join("checkpoints/5");
    let o = verify_proof(&p, &[&cp], &["--unsigned"]);
    assert_eq!(code(&o), 1);
    let root = std::fs::read_to_string(&cp).unwrap();
    let root = root.lines().nth(2).unwrap();
    assert!(
        text(&o).contains(&format!("expected {root}")) && text(&o).contains("calculated root"),
        "{}",
        text(&o)
    );
}

// ---------------------------------------------------------------------------
// Issue 16: the signing gate, builders agreeing, witnesses.

/// Write `files` (name, bytes) and a build output that records them as
/// products (with `sign-log hash`), as a recipe would print it.
fn build_output(dir: &Path, step: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = format!("make[1]: Entering directory {step}\ncc -o x x.c\n").into_bytes();
    for (name, bytes) in files {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        let h = sl(&["hash", "--product", p.to_str().unwrap()], b"", &[]);
        assert_eq!(code(&h), 0, "{}", text(&h));
        out.extend(h.stdout);
    }
    out
}

/// `receive --log DIR --name core-admin EXTRA...` of `input`; must succeed.
fn receive_into(dir: &Path, input: &[u8], extra: &[&str]) {
    let mut a = vec![
        "receive",
        "--log",
        dir.to_str().unwrap(),
        "--name",
        "core-admin",
    ];
    a.extend_from_slice(extra);
    let o = sl(&a, input, &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

/// `seal --log DIR --key KEY`.
fn seal_dir(dir: &Path, key: &Path) -> Output {
    sl(
        &[
            "seal",
            "--log",
            dir.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
        b"",
        &[],
    )
}

/// `prove product --log DIR --file ART... --from-size N` into a file.
fn evidence(e: &Env, log: &Path, arts: &[&Path], from: u64, name: &str) -> PathBuf {
    let from = from.to_string();
    let mut a = vec![
        "prove",
        "product",
        "--log",
        log.to_str().unwrap(),
        "--from-size",
        &from,
    ];
    for art in arts {
        a.extend(["--file", art.to_str().unwrap()]);
    }
    let o = sl(&a, b"", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let p = e.p(name);
    std::fs::write(&p, &o.stdout).unwrap();
    p
}

fn gate(ring: &Path, state: &Path, ev: &Path, arts: &[&Path]) -> Output {
    gate_with(ring, ev, &["--state", state.to_str().unwrap()], arts)
}

/// `gate --keyring RING --proof EV EXTRA... ARTS...`.
fn gate_with(ring: &Path, ev: &Path, extra: &[&str], arts: &[&Path]) -> Output {
    let mut a = vec![
        "gate",
        "--keyring",
        ring.to_str().unwrap(),
        "--proof",
        ev.to_str().unwrap(),
    ];
    a.extend_from_slice(extra);
    a.extend(arts.iter().map(|p| p.to_str().unwrap()));
    sl(&a, b"", &[])
}

/// `prove product --log LOG --file ART`.
fn prove_product(log: &str, art: &Path) -> Output {
    sl(
        &[
            "prove",
            "product",
            "--log",
            log,
            "--file",
            art.to_str().unwrap(),
        ],
        b"",
        &[],
    )
}

fn last_size(state: &Path) -> u64 {
    let o = sl(
        &["gate", "--state", state.to_str().unwrap(), "--last-size"],
        b"",
        &[],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    String::from_utf8(o.stdout).unwrap().trim().parse().unwrap()
}

/// Conflict files kept next to `state`.
fn conflicts(state: &Path) -> Vec<serde_json::Value> {
    let dir = state.parent().unwrap();
    let name = state.file_name().unwrap().to_str().unwrap().to_string();
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|f| {
            let f = f.ok()?;
            let n = f.file_name().into_string().ok()?;
            n.starts_with(&format!("{name}.conflict-"))
                .then(|| f.path())
        })
        .collect();
    v.sort();
    v.iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect()
}

/// A GnuPG home holding the secret key `key` (as the keys VM's gpg would).
fn gpg_home(e: &Env, key: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let home = e.p("gnupg");
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let st = Command::new("gpg")
        .args(["--batch", "--quiet", "--import"])
        .arg(key)
        .env("GNUPGHOME", &home)
        .status()
        .unwrap();
    assert!(st.success());
    home
}

#[test]
fn the_gate_passes_sealed_products_and_gpg_signs_them() {
    let e = setup();
    let a = e.p("core-admin-4.2.rpm");
    e.receive(
        &build_output(e.tmp.path(), "one", &[("core-admin-4.2.rpm", b"rpm one")]),
        &[],
    );
    assert_eq!(code(&e.seal()), 0);
    let state = e.p("gate.json");
    assert_eq!(last_size(&state), 0);
    let ev = evidence(&e, &e.log, &[&a], 0, "ev1.json");
    let o = gate(&e.public, &state, &ev, &[&a]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("gate passed"), "{}", text(&o));
    assert!(
        text(&o).contains("first checkpoint accepted"),
        "{}",
        text(&o)
    );
    let first = last_size(&state);
    assert_eq!(first, *checkpoint_sizes(&e.log).last().unwrap());
    // Then "signed" by gpg, as the keys VM does after the gate, and the
    // signature checked by gpgv.
    if oracle("gpg") && oracle("gpgv") {
        let home = gpg_home(&e, &e.key);
        let sig = e.p("core-admin-4.2.rpm.asc");
        let st = Command::new("gpg")
            .args(["--batch", "--armor", "--detach-sign", "--output"])
            .arg(&sig)
            .arg(&a)
            .env("GNUPGHOME", &home)
            .status()
            .unwrap();
        assert!(st.success());
        let cert = sequoia_openpgp::Cert::from_bytes(&std::fs::read(&e.public).unwrap()).unwrap();
        std::fs::create_dir_all(e.p("gpgv")).unwrap();
        let ring = write_keyring_binary(&e.p("gpgv/ring.gpg"), &[&cert]);
        assert!(gpgv_accepts(&ring, &sig, &a));
    }
    // A second build, sealed: the gate moves on with a consistency proof.
    let b = e.p("core-admin-4.3.rpm");
    e.receive(
        &build_output(e.tmp.path(), "two", &[("core-admin-4.3.rpm", b"rpm two")]),
        &[],
    );
    assert_eq!(code(&e.seal()), 0);
    let ev2 = evidence(&e, &e.log, &[&b, &a], first, "ev2.json");
    let o = gate(&e.public, &state, &ev2, &[&b, &a]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(last_size(&state) > first);
    // JSON too, and the same checkpoint again is fine.
    let mut args = vec![
        "gate",
        "--json",
        "--keyring",
        e.public.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--proof",
        "-",
        b.to_str().unwrap(),
    ];
    let o = sl(&args, &std::fs::read(&ev2).unwrap(), &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["artifacts"][0]["product"], b.display().to_string());
    assert_eq!(j["previous"], last_size(&state));
    // Another key's checkpoint: refused.
    let other = gen_key("Not the log key");
    let ring = write_keyring(&e.p("other.asc"), &[&other]);
    args[3] = ring.to_str().unwrap();
    let before = std::fs::read(&state).unwrap();
    let o = sl(&args, &std::fs::read(&ev2).unwrap(), &[]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(o.stdout.is_empty());
    assert_eq!(std::fs::read(&state).unwrap(), before, "state unchanged");
}

/// A sealed log with product a.rpm, and a gate that accepted it: (env,
/// artifact, state, evidence, sealed size).
fn gated_log() -> (Env, PathBuf, PathBuf, PathBuf, u64) {
    let e = setup();
    let a = e.p("a.rpm");
    e.receive(
        &build_output(e.tmp.path(), "one", &[("a.rpm", b"rpm a")]),
        &[],
    );
    assert_eq!(code(&e.seal()), 0);
    let n = *checkpoint_sizes(&e.log).last().unwrap();
    let state = e.p("gate.json");
    let ev = evidence(&e, &e.log, &[&a], 0, "ev.json");
    assert_eq!(code(&gate(&e.public, &state, &ev, &[&a])), 0);
    (e, a, state, ev, n)
}

#[test]
fn the_gate_refuses_what_the_sealed_log_does_not_show() {
    let (e, _, state, ev, sealed) = gated_log();
    let before = std::fs::read(&state).unwrap();
    let unchanged = || assert_eq!(std::fs::read(&state).unwrap(), before, "state changed");

    // An artifact that is not in the log: the log has nothing to prove and
    // the gate finds no product record for it.
    let stranger = e.p("not-logged.rpm");
    std::fs::write(&stranger, b"never built here").unwrap();
    let o = prove_product(e.l(), &stranger);
    assert_eq!(code(&o), 3, "{}", text(&o));
    let o = gate(&e.public, &state, &ev, &[&stranger]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(text(&o).contains("no product record"), "{}", text(&o));
    // A product record from another sender than the one asking.
    let a = e.p("a.rpm");
    let with_source = |src: &str| gate_with(&e.public, &ev, &["--source", src], &[&a]);
    assert_eq!(code(&with_source("build-vm")), 0);
    let o = with_source("build-vm-2");
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(text(&o).contains("from \"build-vm-2\""), "{}", text(&o));
    // Nor does a logged artifact with one byte changed.
    std::fs::write(&stranger, b"rpm A").unwrap();
    assert_eq!(code(&gate(&e.public, &state, &ev, &[&stranger])), 3);
    unchanged();

    // An artifact only in the unsealed tail.
    let t = e.p("tail.rpm");
    e.receive(
        &build_output(e.tmp.path(), "tail", &[("tail.rpm", b"rpm tail")]),
        &[],
    );
    let o = prove_product(e.l(), &t);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(text(&o).contains("after the last seal"), "{}", text(&o));
    // Forged evidence: an inclusion proof of the tail record in the whole
    // (unsigned) tree, next to the signed checkpoint...
    let lines = e.lines();
    let seq = lines
        .iter()
        .position(|l| l.contains("##sign-log product") && l.contains("tail.rpm"))
        .unwrap();
    let records = lines.len().to_string();
    let inc = sl(
        &[
            "prove",
            "inclusion",
            "--log",
            e.l(),
            &seq.to_string(),
            "--size",
            &records,
        ],
        b"",
        &[],
    );
    assert_eq!(code(&inc), 0, "{}", text(&inc));
    let mut forged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ev).unwrap()).unwrap();
    forged["products"] =
        serde_json::json!([serde_json::from_slice::<serde_json::Value>(&inc.stdout).unwrap()]);
    let f1 = e.p("forged1.json");
    std::fs::write(&f1, forged.to_string()).unwrap();
    let o = gate(&e.public, &state, &f1, &[&t]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // ...or with the whole tree's checkpoint body under the old signature.
    let body = sl(&["checkpoint", "--log", e.l()], b"", &[]);
    forged["checkpoint"] = serde_json::Value::String(String::from_utf8(body.stdout).unwrap());
    let f2 = e.p("forged2.json");
    std::fs::write(&f2, forged.to_string()).unwrap();
    let o = gate(&e.public, &state, &f2, &[&t]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("signature"), "{}", text(&o));
    unchanged();
    assert_eq!(last_size(&state), sealed);
    assert!(conflicts(&state).is_empty(), "none of these is a conflict");

    // Missing consistency proof once the log has grown: nothing to verify
    // the new checkpoint's history with.
    assert_eq!(code(&e.seal()), 0);
    let ev0 = evidence(&e, &e.log, &[&t], 0, "ev-from-0.json");
    let o = gate(&e.public, &state, &ev0, &[&t]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(text(&o).contains("no consistency proof"), "{}", text(&o));
    unchanged();
}

#[test]
fn the_gate_refuses_forks_and_rollbacks_and_keeps_the_evidence() {
    let (e, a, state, ev_old, n) = gated_log();

    // A fork: another log, same key and origin, as many records, another
    // root (the log VM, or whoever holds its key, signed two histories).
    let fork = e.p("fork");
    let fa = e.p("fork-a.rpm");
    let out = build_output(e.tmp.path(), "ONE", &[("fork-a.rpm", b"rpm A")]);
    receive_into(&fork, &out, &["--source", "build-vm"]);
    assert_eq!(code(&seal_dir(&fork, &e.key)), 0);
    assert_eq!(checkpoint_sizes(&fork), vec![n], "same size");
    let before = std::fs::read(&state).unwrap();
    let ev_fork = evidence(&e, &fork, &[&fa], n, "ev-fork.json");
    let o = gate(&e.public, &state, &ev_fork, &[&fa]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("fork"), "{}", text(&o));
    assert_eq!(std::fs::read(&state).unwrap(), before);
    let c = conflicts(&state);
    assert_eq!(c.len(), 1);
    // Both signed checkpoints are kept, and they do verify: evidence.
    let kept_old = c[0]["accepted"]["checkpoint"].as_str().unwrap();
    let kept_new = c[0]["presented"]["checkpoint"].as_str().unwrap();
    assert_eq!(
        kept_old,
        std::fs::read_to_string(e.log.join(format!("checkpoints/{n}"))).unwrap()
    );
    assert_eq!(
        kept_new,
        std::fs::read_to_string(fork.join(format!("checkpoints/{n}"))).unwrap()
    );
    for (cp, sig) in [
        (kept_old, c[0]["accepted"]["signature"].as_str().unwrap()),
        (kept_new, c[0]["presented"]["signature"].as_str().unwrap()),
    ] {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("cp"), cp).unwrap();
        std::fs::write(d.path().join("cp.asc"), sig).unwrap();
        // Each verifies on its own (its signature, against the log key).
        let p = e.p("any-proof.json");
        std::fs::write(
            &p,
            format!("{{\"type\":\"consistency\",\"size1\":{n},\"size2\":{n},\"proof\":[]}}"),
        )
        .unwrap();
        let cpp = d.path().join("cp");
        let o = verify_proof(
            &p,
            &[&cpp, &cpp],
            &["--keyring", e.public.to_str().unwrap()],
        );
        assert_eq!(code(&o), 0, "{}", text(&o));
    }
    // The fork grows: its consistency proof from n cannot reach the
    // accepted root.
    let fb = e.p("fork-b.rpm");
    let out = build_output(e.tmp.path(), "TWO", &[("fork-b.rpm", b"rpm B")]);
    receive_into(&fork, &out, &["--source", "build-vm"]);
    assert_eq!(code(&seal_dir(&fork, &e.key)), 0);
    let ev_fork2 = evidence(&e, &fork, &[&fb], n, "ev-fork2.json");
    let o = gate(&e.public, &state, &ev_fork2, &[&fb]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("not proved to extend"), "{}", text(&o));
    assert_eq!(conflicts(&state).len(), 2);
    assert_eq!(std::fs::read(&state).unwrap(), before);

    // A rollback: the gate moves on, then is shown the older checkpoint.
    let b = e.p("b.rpm");
    e.receive(
        &build_output(e.tmp.path(), "two", &[("b.rpm", b"rpm b")]),
        &[],
    );
    assert_eq!(code(&e.seal()), 0);
    let ev_new = evidence(&e, &e.log, &[&b], n, "ev-new.json");
    assert_eq!(code(&gate(&e.public, &state, &ev_new, &[&b])), 0);
    let moved = std::fs::read(&state).unwrap();
    let o = gate(&e.public, &state, &ev_old, &[&a]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("rollback"), "{}", text(&o));
    assert_eq!(std::fs::read(&state).unwrap(), moved);
    let c = conflicts(&state);
    assert_eq!(c.len(), 3);
    assert!(c
        .iter()
        .any(|c| c["reason"].as_str().unwrap().starts_with("rollback")));
}

#[test]
fn qrexec_gate_service_signs_only_logged_products() {
    if !oracle("gpg") || !oracle("gpgv") {
        return;
    }
    let e = setup();
    let contrib = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/qubes");
    let bin_dir = Path::new(BIN).parent().unwrap();
    // qrexec-client-vm TARGET SERVICE+ARG, as qrexec runs it: the target's
    // service with the caller in QREXEC_REMOTE_DOMAIN, over the same pipes.
    let stub = e.p("stub");
    std::fs::create_dir(&stub).unwrap();
    std::fs::write(
        stub.join("qrexec-client-vm"),
        format!(
            "#!/bin/sh\ncall=$2\nQREXEC_REMOTE_DOMAIN=$STUB_CALLER exec sh {}/\"${{call%%+*}}\" \"${{call#*+}}\"\n",
            contrib.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        stub.join("qrexec-client-vm"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let path = format!(
        "{}:{}:{}",
        stub.display(),
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let logs = e.p("logs");
    let home = gpg_home(&e, &e.key);
    let service = |name: &str, caller: &str, input: &[u8], envs: &[(&str, String)]| {
        let mut c = Command::new("sh");
        c.arg(contrib.join(name))
            .arg("core-admin")
            .env("PATH", &path)
            .env("QREXEC_REMOTE_DOMAIN", caller)
            .env("BUILD_LOG_DIR", &logs);
        for (k, v) in envs {
            c.env(k, v);
        }
        run_fed(&mut c, input)
    };
    // The build VM's build, through qubes.AppendLog, sealed at its end.
    let art = e.p("core-admin-4.2.rpm");
    let out = build_output(e.tmp.path(), "one", &[("core-admin-4.2.rpm", b"the rpm")]);
    let o = service(
        "qubes.AppendLog",
        "build-vm-1",
        &out,
        &[(
            "SIGN_LOG_OPTS",
            format!("--seal-on-eof --key {}", e.key.display()),
        )],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    // The build VM asks the keys VM to sign; it fetches the evidence from
    // the log VM itself.
    let gate_env = [
        ("GATE_STATE_DIR", e.p("gate-states").display().to_string()),
        ("GATE_LOG_KEY", e.public.display().to_string()),
        ("GATE_GPG", format!("gpg --homedir {}", home.display())),
        ("STUB_CALLER", "keys-vm".to_string()),
    ];
    let o = service(
        "qubes.GateSign",
        "build-vm-1",
        &std::fs::read(&art).unwrap(),
        &gate_env,
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        o.stdout.starts_with(b"-----BEGIN PGP SIGNATURE-----"),
        "{}",
        text(&o)
    );
    let sig = e.p("core-admin-4.2.rpm.asc");
    std::fs::write(&sig, &o.stdout).unwrap();
    let cert = sequoia_openpgp::Cert::from_bytes(&std::fs::read(&e.public).unwrap()).unwrap();
    std::fs::create_dir_all(e.p("gpgv")).unwrap();
    let ring = write_keyring_binary(&e.p("gpgv/ring.gpg"), &[&cert]);
    assert!(gpgv_accepts(&ring, &sig, &art));
    assert!(e.p("gate-states/build-vm-1/core-admin.json").exists());
    // Bytes the log never recorded get no signature.
    let o = service("qubes.GateSign", "build-vm-1", b"not the rpm", &gate_env);
    assert_ne!(code(&o), 0, "{}", text(&o));
    assert!(o.stdout.is_empty(), "{}", text(&o));
    // Nor does another build VM's request for this log (its own log is empty).
    let o = service(
        "qubes.GateSign",
        "build-vm-2",
        &std::fs::read(&art).unwrap(),
        &gate_env,
    );
    assert_ne!(code(&o), 0, "{}", text(&o));
    assert!(o.stdout.is_empty());
}

/// A builder: its own log and signing key.
fn builder(e: &Env, n: usize, files: &[(&str, &[u8])]) -> (PathBuf, PathBuf, PathBuf) {
    let k = gen_key(&format!("Builder {n} <b{n}@example.org>"));
    let key = e.p(&format!("b{n}.key"));
    std::fs::write(&key, armor_tsk(&k)).unwrap();
    let public = write_keyring(&e.p(&format!("b{n}.pub")), &[&k]);
    let dir = e.p(&format!("b{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    let log = e.p(&format!("log{n}"));
    let out = build_output(&dir, "build", files);
    receive_into(&log, &out, &["--source", &format!("builder{n}")]);
    assert_eq!(code(&seal_dir(&log, &key)), 0);
    (log, key, public)
}

fn agree(logs: &[&Path], rings: &[&Path], extra: &[&str]) -> Output {
    let mut a = vec!["agree"];
    for l in logs {
        a.extend(["--log", l.to_str().unwrap()]);
    }
    for r in rings {
        a.extend(["--keyring", r.to_str().unwrap()]);
    }
    a.extend_from_slice(extra);
    sl(&a, b"", &[])
}

#[test]
fn builders_agree_only_when_enough_independent_logs_match() {
    let e = setup();
    let rpm: &[u8] = b"reproducible rpm";
    let (l1, k1, p1) = builder(
        &e,
        1,
        &[("core-admin-4.2.rpm", rpm), ("core-admin-doc.rpm", b"doc")],
    );
    let (l2, _, p2) = builder(
        &e,
        2,
        &[("core-admin-4.2.rpm", rpm), ("core-admin-doc.rpm", b"doc")],
    );
    let (l3, _, p3) = builder(
        &e,
        3,
        &[("core-admin-4.2.rpm", rpm), ("core-admin-doc.rpm", b"DOC")],
    );
    let logs = [l1.as_path(), &l2, &l3];
    let rings = [p1.as_path(), &p2, &p3];
    // All three by default: the doc package differs on builder 3.
    let o = agree(&logs, &rings, &[]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("core-admin-doc.rpm"), "{t}");
    assert!(
        t.lines()
            .any(|l| l.starts_with("core-admin-4.2.rpm")
                && l.contains("agreed (3 agree; 3 required)")),
        "{t}"
    );
    assert!(
        t.lines().any(|l| l.starts_with("core-admin-doc.rpm")
            && l.contains("NOT AGREED (2 agree, 1 disagrees; 3 required)")),
        "{t}"
    );
    assert!(t.contains("builder 3: "), "{t}");
    assert_eq!(code(&agree(&logs, &rings, &["--min", "2"])), 0);
    assert_eq!(
        code(&agree(&logs, &rings, &["--product", "core-admin-4.2.rpm"])),
        0
    );
    let o = agree(&logs, &rings, &["--json", "--min", "3"]);
    assert_eq!(code(&o), 1);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["ok"], false);
    assert_eq!(j["builders"].as_array().unwrap().len(), 3);
    let doc = j["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "core-admin-doc.rpm")
        .unwrap();
    assert_eq!(doc["agreeing"], 2);
    assert_eq!(doc["digests"][0], doc["digests"][1]);
    assert_ne!(doc["digests"][0], doc["digests"][2]);
    // Two logs sealed by one key are one builder, not two votes.
    let again = e.p("log1-again");
    let out = build_output(&e.p("b1"), "again", &[("core-admin-doc.rpm", b"DOC")]);
    sl(
        &[
            "receive",
            "--log",
            again.to_str().unwrap(),
            "--name",
            "core-admin",
        ],
        &out,
        &[],
    );
    assert_eq!(code(&seal_dir(&again, &k1)), 0);
    let o = agree(
        &[&again, &l3],
        &[&p1, &p3],
        &["--min", "2", "--product", "core-admin-doc.rpm"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = agree(
        &[&again, &l1, &l3],
        &[&p1, &p3],
        &["--min", "2", "--product", "core-admin-doc.rpm"],
    );
    assert_eq!(code(&o), 1, "one key, two logs, two digests: {}", text(&o));
    // Only sealed records count.
    let late = build_output(&e.p("b2"), "late", &[("late.rpm", b"late")]);
    sl(
        &[
            "receive",
            "--log",
            l2.to_str().unwrap(),
            "--name",
            "core-admin",
        ],
        &late,
        &[],
    );
    let o = agree(&[&l2], &[&p2], &["--product", "late.rpm"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // A tampered log fails the whole comparison.
    let mut lines: Vec<String> = std::fs::read_to_string(l3.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines[2] = lines[2].replace("cc -o", "cc -O");
    std::fs::write(l3.join("log.jsonl"), lines.join("\n") + "\n").unwrap();
    let o = agree(&logs, &rings, &["--min", "2"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        text(&o).contains(&format!("log {}", l3.display())),
        "{}",
        text(&o)
    );
}

/// `keygen` into FILE; returns the vkey.
fn keygen(e: &Env, name: &str, file: &str, witness: bool) -> String {
    let f = e.p(file);
    let mut a = vec!["keygen", "--name", name, "--secret", f.to_str().unwrap()];
    if witness {
        a.push("--witness");
    }
    let o = sl(&a, b"", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
        0o600
    );
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

#[test]
fn checkpoints_are_signed_notes_that_witnesses_cosign() {
    let e = setup();
    // The default origin: the log's source and name (Env::receive).
    let origin = "build-verify.sign-log/build-vm/core-admin";
    let log_vkey = keygen(&e, origin, "log.skey", false);
    let w1 = keygen(&e, "witness.example/w1", "w1.skey", true);
    let w2 = keygen(&e, "witness.example/w2", "w2.skey", true);
    let w3 = keygen(&e, "witness.example/w3", "w3.skey", true);
    // keygen never overwrites a secret key.
    let o = sl(
        &[
            "keygen",
            "--name",
            origin,
            "--secret",
            e.p("log.skey").to_str().unwrap(),
        ],
        b"",
        &[],
    );
    assert_eq!(code(&o), 2, "{}", text(&o));
    let art = e.p("a.rpm");
    e.receive(
        &build_output(e.tmp.path(), "one", &[("a.rpm", b"rpm a")]),
        &[],
    );
    let skey = e.p("log.skey");
    let o = e.seal_with(&e.key, &["--note-key", skey.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let n = *checkpoint_sizes(&e.log).last().unwrap();
    let cp_path = e.log.join(format!("checkpoints/{n}"));
    let note = std::fs::read_to_string(&cp_path).unwrap();
    assert!(note.contains(&format!("\n\n\u{2014} {origin} ")), "{note}");
    assert_eq!(
        code(&e.verify_with(&e.log, &e.public, &["--note-key", &log_vkey])),
        0
    );
    // Another key of the same name: its line is not the log's.
    let stranger = keygen(&e, origin, "stranger.skey", false);
    let o = e.verify_with(&e.log, &e.public, &["--note-key", &stranger]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // A note key not named as the origin is refused at seal time.
    e.receive(b"more\n", &[]);
    let o = e.seal_with(&e.key, &["--note-key", e.p("w1.skey").to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert_eq!(
        code(&e.seal_with(&e.key, &["--note-key", skey.to_str().unwrap()])),
        0
    );
    let n = *checkpoint_sizes(&e.log).last().unwrap();
    let cp_path = e.log.join(format!("checkpoints/{n}"));
    // Two witnesses check the checkpoint as the gate does, and cosign it.
    let ev = e.p("ev.json");
    let o = sl(&["prove", "checkpoint", "--log", e.l()], b"", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    std::fs::write(&ev, &o.stdout).unwrap();
    let cosign = |skey: &str, state: &str, ev: &Path| {
        sl(
            &[
                "cosign",
                "--key",
                e.p(skey).to_str().unwrap(),
                "--keyring",
                e.public.to_str().unwrap(),
                "--state",
                e.p(state).to_str().unwrap(),
                "--proof",
                ev.to_str().unwrap(),
            ],
            b"",
            &[],
        )
    };
    let c1 = cosign("w1.skey", "w1.json", &ev);
    assert_eq!(code(&c1), 0, "{}", text(&c1));
    assert!(String::from_utf8_lossy(&c1.stdout).starts_with("\u{2014} witness.example/w1 "));
    let c2 = cosign("w2.skey", "w2.json", &ev);
    assert_eq!(code(&c2), 0, "{}", text(&c2));
    // A log note key is no cosignature key.
    assert_eq!(code(&cosign("log.skey", "x.json", &ev)), 2);
    let lines = e.p("cosignatures");
    std::fs::write(&lines, [c1.stdout.clone(), c2.stdout.clone()].concat()).unwrap();
    // Added only when they verify with the given witness keys.
    let add = |extra: &[&str], file: &Path| {
        let mut a = vec!["add-cosignature", "--log", e.l()];
        a.extend_from_slice(extra);
        a.push(file.to_str().unwrap());
        sl(&a, b"", &[])
    };
    let before = std::fs::read(&cp_path).unwrap();
    let o = add(&["--witness", &w1], &lines);
    assert_eq!(
        code(&o),
        1,
        "w2's line is by none of the given keys: {}",
        text(&o)
    );
    let forged = e.p("forged");
    let mut bad = String::from_utf8(c1.stdout.clone()).unwrap();
    let at = bad.len() - 10;
    let c = if &bad[at..at + 1] == "A" { "B" } else { "A" };
    bad.replace_range(at..at + 1, c);
    std::fs::write(&forged, bad).unwrap();
    let o = add(&["--witness", &w1], &forged);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert_eq!(
        std::fs::read(&cp_path).unwrap(),
        before,
        "nothing unverified stored"
    );
    let o = add(&["--witness", &w1, "--witness", &w2], &lines);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("added 2"), "{}", text(&o));
    // The OpenPGP signature still holds; the witnesses are counted.
    let v = |extra: &[&str]| e.verify_with(&e.log, &e.public, extra);
    assert_eq!(code(&v(&[])), 0);
    let o = v(&["--note-key", &log_vkey, "--witness", &w1, "--witness", &w2]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains("note signature witness.example/w2"),
        "{}",
        text(&o)
    );
    let o = v(&["--witness", &w1, "--witness", &w2, "--witness", &w3]);
    assert_eq!(code(&o), 1, "w3 never cosigned: {}", text(&o));
    let o = v(&[
        "--witness",
        &w1,
        "--witness",
        &w2,
        "--witness",
        &w3,
        "--min-witnesses",
        "2",
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = v(&["--witness", &w1, "--min-witnesses", "2"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    // The gate can require them too (its evidence is the stored note).
    let ev = evidence(&e, &e.log, &[&art], 0, "ev-gate.json");
    let o = gate_with(
        &e.public,
        &ev,
        &["--witness", &w1, "--witness", &w3, "--min-witnesses", "1"],
        &[&art],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = gate_with(&e.public, &ev, &["--witness", &w3], &[&art]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // A cosignature line broken in the stored file voids the checkpoint
    // for a verifier that knows the witness.
    let stored = std::fs::read_to_string(&cp_path).unwrap();
    let w1_line = stored
        .lines()
        .find(|l| l.contains("witness.example/w1"))
        .unwrap()
        .to_string();
    let mut broken = w1_line.clone();
    let at = broken.len() - 10;
    let c = if &broken[at..at + 1] == "A" { "B" } else { "A" };
    broken.replace_range(at..at + 1, c);
    std::fs::write(&cp_path, stored.replace(&w1_line, &broken)).unwrap();
    assert_eq!(code(&v(&[])), 0, "unknown to this verifier: ignored");
    let o = v(&["--witness", &w1, "--min-witnesses", "0"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("does not verify"), "{}", text(&o));
    std::fs::write(&cp_path, &stored).unwrap();
    // A witness keeps its own state: a later checkpoint needs a
    // consistency proof from what it saw; an older one is a rollback.
    e.receive(b"later\n", &[]);
    assert_eq!(code(&e.seal()), 0);
    let from = last_size(&e.p("w1.json")).to_string();
    let o = sl(
        &["prove", "checkpoint", "--log", e.l(), "--from-size", &from],
        b"",
        &[],
    );
    let ev2 = e.p("ev2.json");
    std::fs::write(&ev2, &o.stdout).unwrap();
    assert_eq!(code(&cosign("w1.skey", "w1.json", &ev2)), 0);
    let o = cosign("w1.skey", "w1.json", &e.p("ev.json"));
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("rollback"), "{}", text(&o));
}
