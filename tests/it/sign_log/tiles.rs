//! sign-log publish and monitor: a sealed log as static c2sp.org/tlog-tiles,
//! and any tlog-tiles log read over HTTP on 127.0.0.1. The oracle for the
//! format is Tessera's own test log (tests/data/tessera-testdata): the same
//! entries give the same bytes; Go's x/mod reads our tiles in `interop`.

use crate::common;

use build_verify::log::checkpoint::Checkpoint;
use build_verify::log::merkle::{self, Hash};
use build_verify::log::note::{self, Note, SignatureLine, SignerKey};
use build_verify::log::publish::Writer;
use build_verify::log::tiles;
use common::http::{Reply, Server};
use common::signlog::*;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Output;

fn tessera() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tessera-testdata")
}

/// The note keys of Tessera's build_log.sh: (skey, vkey).
fn tessera_keys() -> (String, String) {
    let script = std::fs::read_to_string(tessera().join("build_log.sh")).unwrap();
    let var = |name: &str| {
        script
            .lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=\"")))
            .and_then(|v| v.strip_suffix('"'))
            .unwrap()
            .to_string()
    };
    (var("LOG_PRIVATE_KEY"), var("LOG_PUBLIC_KEY"))
}

/// The entries build_log.sh adds, in order.
const TESSERA_ENTRIES: [&str; 15] = [
    "one", "two", "three", "four", "five", "six", "seven", "eit", "nain", "ten", "ileven", "twelf",
    "threeten", "fourten", "fivten",
];

/// A checkpoint note signed by `k` (Ed25519 is deterministic).
fn signed(k: &SignerKey, size: u64, root: Hash) -> Vec<u8> {
    let text = Checkpoint {
        origin: k.name.clone(),
        size,
        root,
    }
    .text();
    Note {
        signatures: vec![k.sign(&text, 0)],
        text,
    }
    .encode()
    .into_bytes()
}

#[test]
fn tessera_entries_give_byte_identical_tiles_and_checkpoints() {
    let log = tessera().join("log");
    let key = SignerKey::parse(&tessera_keys().0).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("www");
    let mut w = Writer::create(&out).unwrap();
    let want = |n: u64| std::fs::read(log.join(format!("checkpoint.{n}"))).unwrap();
    assert_eq!(signed(&key, 0, w.root()), want(0), "checkpoint.0");
    for (i, e) in TESSERA_ENTRIES.iter().enumerate() {
        // One entry at a time, a checkpoint after each, as build_log.sh.
        w.append(&[e.as_bytes()]).unwrap();
        w.write_partial().unwrap();
        let n = i as u64 + 1;
        assert_eq!(
            String::from_utf8(signed(&key, n, w.root())).unwrap(),
            String::from_utf8(want(n)).unwrap(),
            "checkpoint.{n}"
        );
    }
    w.commit(&want(15)).unwrap();
    let mut theirs = files(&log);
    theirs.retain(|k, _| !k.starts_with("checkpoint."));
    let ours = files(&out);
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &theirs {
        assert_eq!(&ours[path], bytes, "{path}");
    }
    assert_eq!(theirs.len(), 31, "15 tiles, 15 bundles, the checkpoint");
}

fn monitor(url: &str, vkey: &str, extra: &[&str]) -> Output {
    let mut args = vec!["monitor", "--url", url, "--allow-http", "--note-key", vkey];
    args.extend_from_slice(extra);
    sl(&args, b"")
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn monitor_reads_tesseras_log_over_http() {
    let vkey = tessera_keys().1;
    let log = tessera().join("log");
    let srv = Server::start();
    srv.serve_dir(&log);
    let url = srv.url("/");
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let st = state.to_str().unwrap();
    let cp = |n: u64| std::fs::read(log.join(format!("checkpoint.{n}"))).unwrap();
    // Every size: signature, right edge, every entry; the state follows.
    srv.route("/checkpoint", Reply::Body(cp(0)));
    let o = monitor(&url, &vkey, &["--state", st]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    for n in 1..=15 {
        srv.route("/checkpoint", Reply::Body(cp(n)));
        let o = monitor(&url, &vkey, &["--state", st, "--entries"]);
        assert_eq!(code(&o), 0, "size {n}: {}", text(&o));
        assert!(
            text(&o).contains(&format!("entries: {n} fetched")),
            "{}",
            text(&o)
        );
        assert_eq!(std::fs::read(&state).unwrap(), cp(n));
    }
    // Served again: a rollback, both kept; the state stays.
    srv.route("/checkpoint", Reply::Body(cp(7)));
    let o = monitor(&url, &vkey, &["--state", st]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("rollback"), "{}", text(&o));
    assert_eq!(std::fs::read(&state).unwrap(), cp(15));
    let kept = listing(tmp.path());
    assert_eq!(kept.len(), 3, "{kept:?}");
    let conflict = tmp.path().join(&kept[1]);
    assert!(kept[1].starts_with("state.conflict-"), "{kept:?}");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(conflict).unwrap()).unwrap();
    assert_eq!(doc["accepted"].as_str().unwrap().as_bytes(), cp(15));
    assert_eq!(doc["presented"].as_str().unwrap().as_bytes(), cp(7));
    // --json on failure too: one object with the exit code.
    let o = monitor(&url, &vkey, &["--state", st, "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (j["status"].as_str(), j["exit"].as_i64()),
        (Some("failed"), Some(1)),
        "{j}"
    );
    // Another key's checkpoint, or none: 1 and 3.
    let other = SignerKey::generate("example.com/log/testdata", note::ED25519).unwrap();
    let o = monitor(&url, &other.verifier().encode(), &[]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let empty = Server::start();
    let o = monitor(&empty.url("/"), &vkey, &[]);
    assert_eq!(code(&o), 3, "{}", text(&o));
}

/// A tamper: what it is, the file replaced and its new bytes, the
/// monitor's flags, and the resource the failure must name.
struct Tamper<'a>(&'a str, (String, Vec<u8>), &'a Vec<String>, String);

#[test]
fn publish_then_monitor_then_every_tamper_fails() {
    let p = Published::new("logs.example.org/core-admin");
    let www = p.www.to_str().unwrap();
    // Without a note signature: refused, with how to add one, nothing written.
    p.receive(&lines(0, 40_000));
    assert_eq!(code(&p.seal(false)), 0);
    let o = p.publish();
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("--note-key"), "{}", text(&o));
    assert!(
        !p.www.exists() || listing(&p.www).is_empty(),
        "{:?}",
        listing(&p.www)
    );
    // Sealed with it: published; read back over HTTP, every entry.
    assert_eq!(code(&p.seal(true)), 0);
    let first = *checkpoint_sizes(&p.log).last().unwrap();
    let o = p.publish();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(
        std::fs::read(p.www.join("checkpoint")).unwrap(),
        p.checkpoint(first)
    );
    p.receive(&lines(40_000, 72_000));
    assert_eq!(code(&p.seal(true)), 0);
    let o = ok(
        &[
            "publish",
            "--log",
            p.log.to_str().unwrap(),
            "--out",
            www,
            "--json",
        ],
        b"",
    );
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let size = j["size"].as_u64().unwrap();
    assert_eq!(j["previous"].as_u64(), Some(first));
    assert!(size > 65_536, "levels 0, 1 and 2: {size}");
    // Partial tiles of both sealed sizes are served.
    for n in [first, size] {
        let w = n % 256;
        assert!(p.www.join(tiles::tile_path(0, n / 256, w)).is_file(), "{n}");
    }
    let srv = Server::start();
    srv.serve_dir(&p.www);
    let url = srv.url("/");
    let state_dir = tempfile::tempdir().unwrap();
    let state = state_dir.path().join("core-admin.state");
    let st = state.to_str().unwrap();
    // The state accepted at the first size, then the newest: consistent.
    write(&state, &p.checkpoint(first));
    let o = monitor(&url, &p.vkey, &["--state", st, "--entries", "--json"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (j["previous"].as_u64(), j["entries"].as_u64()),
        (Some(first), Some(size))
    );
    assert_eq!(j["status"], "ok");
    assert_eq!(std::fs::read(&state).unwrap(), p.checkpoint(size));

    // Each tamper on a fresh copy of the published tree, read from a state
    // at the first size: exit 1 naming the resource, the state untouched.
    let cp = std::fs::read_to_string(p.www.join("checkpoint")).unwrap();
    let witness = SignerKey::generate("witness.example/w1", note::COSIGNATURE).unwrap();
    let stranger = SignerKey::generate("witness.example/w1", note::COSIGNATURE).unwrap();
    let cosigned = |by: &SignerKey, claim: &SignerKey| {
        let text = cp.split_once("\n\n").unwrap().0.to_string() + "\n";
        let mut n = Note::parse(cp.as_bytes()).unwrap();
        let line = by.sign(&text, 1_700_000_000);
        n.add(SignatureLine {
            name: claim.name.clone(),
            key_id: claim.key_id,
            sig: line.sig,
        });
        n.encode()
    };
    let wv = witness.verifier().encode();
    let read = |rel: &str| std::fs::read(p.www.join(rel)).unwrap();
    let flip = |rel: &str, at: usize| {
        let mut b = read(rel);
        b[at] ^= 1;
        (rel.to_string(), b)
    };
    let edge = tiles::tile_path(1, 1, (size / 256) % 256);
    let no_args: Vec<String> = Vec::new();
    let entries = vec!["--entries".to_string()];
    let with_witness = vec!["--witness".to_string(), wv.clone()];
    let min_one = vec![
        "--witness".to_string(),
        wv.clone(),
        "--min-witnesses".to_string(),
        "1".to_string(),
    ];
    let checkpoint = |bytes: Vec<u8>| ("checkpoint".to_string(), bytes);
    let cases: Vec<Tamper> = vec![
        Tamper(
            "a full tile byte",
            flip("tile/0/001", 100),
            &entries,
            "tile/0/001".into(),
        ),
        Tamper(
            "a right-edge tile byte",
            flip(&edge, 5),
            &no_args,
            edge.clone(),
        ),
        Tamper(
            "a level-1 full tile byte",
            flip("tile/1/000", 8000),
            &entries,
            "tile/1/000".into(),
        ),
        Tamper(
            "a bundle byte",
            flip("tile/entries/002", 300),
            &entries,
            "tile/entries/002".into(),
        ),
        Tamper(
            "a bundle length",
            flip("tile/entries/003", 0),
            &entries,
            "tile/entries/003".into(),
        ),
        Tamper(
            "a checkpoint line",
            checkpoint(
                cp.replacen(&format!("\n{size}\n"), &format!("\n{}\n", size - 1), 1)
                    .into_bytes(),
            ),
            &no_args,
            "checkpoint".into(),
        ),
        Tamper(
            "a cosignature by an unknown key under a known name",
            checkpoint(cosigned(&stranger, &witness).into_bytes()),
            &with_witness,
            "checkpoint".into(),
        ),
        Tamper(
            "only a cosignature by an unknown key",
            checkpoint(cosigned(&stranger, &stranger).into_bytes()),
            &min_one,
            "checkpoint".into(),
        ),
        Tamper(
            "a partial tile where a full one belongs",
            (
                "tile/0/000".to_string(),
                read("tile/0/000")[..100 * 32].to_vec(),
            ),
            &entries,
            "tile/0/000".into(),
        ),
    ];
    // The witness's real cosignature passes (the cases are not vacuous).
    let good = state_dir.path().join("good");
    copy_dir(&p.www, &good);
    write(
        &good.join("checkpoint"),
        cosigned(&witness, &witness).as_bytes(),
    );
    let gs = Server::start();
    gs.serve_dir(&good);
    let o = monitor(
        &gs.url("/"),
        &p.vkey,
        &["--witness", &wv, "--min-witnesses", "1"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    // Twice the same witness, under two names, is one.
    let renamed = SignerKey::parse(
        &witness
            .encode()
            .replace("witness.example/w1", "witness.example/w2"),
    );
    assert!(renamed.is_err(), "a key's name is in its hash");
    let twice = [wv.as_str(), "--witness", &wv, "--min-witnesses", "2"];
    let o = monitor(
        &gs.url("/"),
        &p.vkey,
        &[&["--witness"][..], &twice].concat(),
    );
    assert_ne!(code(&o), 0, "{}", text(&o));
    for (i, Tamper(what, (rel, bytes), extra, names)) in cases.iter().enumerate() {
        let d = state_dir.path().join(format!("case{i}"));
        copy_dir(&p.www, &d);
        write(&d.join(rel), bytes);
        let s = Server::start();
        s.serve_dir(&d);
        let sd = state_dir.path().join(format!("state{i}"));
        std::fs::create_dir(&sd).unwrap();
        let state = sd.join("state");
        write(&state, &p.checkpoint(first));
        let mut args = vec!["--state", state.to_str().unwrap()];
        args.extend(extra.iter().map(String::as_str));
        let o = monitor(&s.url("/"), &p.vkey, &args);
        assert_eq!(code(&o), 1, "{what}: {}", text(&o));
        let msg = String::from_utf8_lossy(&o.stderr);
        assert!(msg.contains(&s.url(&format!("/{names}"))), "{what}: {msg}");
        assert_eq!(
            std::fs::read(&state).unwrap(),
            p.checkpoint(first),
            "{what}"
        );
        let mut left = listing(&sd);
        left.retain(|n| n != "state.lock");
        assert_eq!(left, ["state"], "{what}");
    }

    // A fork: another log with the same keys and origin, published and
    // served; a state from the first log refuses it, both kept.
    let q = p.sibling("fork");
    q.receive(&lines(0, 39_000));
    q.receive(b"a different line\n");
    q.receive(&lines(39_000, 80_000));
    assert_eq!(code(&q.seal(true)), 0);
    assert_eq!(code(&q.publish()), 0);
    let fs = Server::start();
    fs.serve_dir(&q.www);
    let sd = state_dir.path().join("fork");
    std::fs::create_dir(&sd).unwrap();
    let state = sd.join("state");
    write(&state, &p.checkpoint(first));
    let o = monitor(&fs.url("/"), &p.vkey, &["--state", state.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("fork"), "{}", text(&o));
    assert_eq!(std::fs::read(&state).unwrap(), p.checkpoint(first));
    let kept = listing(&sd);
    assert_eq!(kept.len(), 3, "{kept:?}");
    // And the fork's publication never lands on the first log's.
    let o = sl(
        &["publish", "--log", q.log.to_str().unwrap(), "--out", www],
        b"",
    );
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert_eq!(
        std::fs::read(p.www.join("checkpoint")).unwrap(),
        p.checkpoint(size)
    );
}

#[test]
fn publish_writes_only_what_is_new_and_follows_cosignatures() {
    let p = Published::new("logs.example.org/small");
    p.receive(&lines(0, 300));
    assert_eq!(code(&p.seal(true)), 0);
    assert_eq!(code(&p.publish()), 0);
    let before = files(&p.www);
    let inode = |rel: &str| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p.www.join(rel)).unwrap().ino()
    };
    let full = inode("tile/0/000");
    // Nothing new: up to date, nothing written.
    let o = p.publish();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("up to date"), "{}", text(&o));
    assert_eq!(files(&p.www), before);
    // Two seals, then one publish: partial tiles for both sizes, the old
    // files untouched.
    p.receive(&lines(300, 700));
    assert_eq!(code(&p.seal(true)), 0);
    p.receive(&lines(700, 900));
    assert_eq!(code(&p.seal(true)), 0);
    assert_eq!(code(&p.publish()), 0);
    let sizes = checkpoint_sizes(&p.log);
    let now = files(&p.www);
    for (path, bytes) in &before {
        if path != "checkpoint" {
            assert_eq!(&now[path], bytes, "{path}");
        }
    }
    assert_eq!(inode("tile/0/000"), full, "a full tile is never rewritten");
    for &n in &sizes {
        if n % 256 != 0 {
            assert!(
                now.contains_key(&tiles::bundle_path(n / 256, n % 256)),
                "{n}"
            );
        }
    }
    assert!(!now.keys().any(|k| k.contains(".tmp")), "{:?}", now.keys());
    // A witness cosigns the newest checkpoint; publish serves the new note.
    let w = p.tmp.path().join("w.key");
    let wv = text(&ok(
        &[
            "keygen",
            "--witness",
            "--name",
            "witness.example/w",
            "--secret",
            w.to_str().unwrap(),
        ],
        b"",
    ))
    .trim()
    .to_string();
    let cp = p.checkpoint(*sizes.last().unwrap());
    let (n, c) = build_verify::log::checkpoint::parse_note(&cp).unwrap();
    let line = SignerKey::parse(std::fs::read_to_string(&w).unwrap().trim())
        .unwrap()
        .sign(&n.text, 1_700_000_000);
    let lines_file = p.tmp.path().join("cosig");
    write(&lines_file, line.encode().as_bytes());
    ok(
        &[
            "add-cosignature",
            "--log",
            p.log.to_str().unwrap(),
            "--witness",
            &wv,
            lines_file.to_str().unwrap(),
        ],
        b"",
    );
    let o = p.publish();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("checkpoint replaced"), "{}", text(&o));
    assert_eq!(
        std::fs::read(p.www.join("checkpoint")).unwrap(),
        p.checkpoint(c.size)
    );
    let srv = Server::start();
    srv.serve_dir(&p.www);
    let o = monitor(&srv.url("/"), &p.vkey, &["--witness", &wv, "--entries"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains("cosigned by witness.example/w"),
        "{}",
        text(&o)
    );
    // The published tree checked against its own checkpoint on resume: a
    // damaged right edge is refused before anything is written.
    p.receive(&lines(900, 950));
    assert_eq!(code(&p.seal(true)), 0);
    let edge = p.www.join(tiles::tile_path(0, c.size / 256, c.size % 256));
    let mut b = std::fs::read(&edge).unwrap();
    b[0] ^= 1;
    write(&edge, &b);
    let before = files(&p.www);
    let o = p.publish();
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert_eq!(files(&p.www), before, "nothing written");
}

#[test]
fn publish_refuses_an_older_log_with_a_longer_record() {
    let p = Published::new("logs.example.org/old");
    p.receive(b"a line\n");
    // What a sign-log before the cap stored: 16 KiB of control bytes
    // escaped to 96 KiB in one record.
    let seq = std::fs::read_to_string(p.log.join("log.jsonl"))
        .unwrap()
        .lines()
        .count();
    let record = format!(
        "{{\"seq\":{seq},\"t\":\"2025-01-01T00:00:00.000000Z\",\"type\":\"line\",\"data\":\"{}\"}}\n",
        "\\u0001".repeat(16 * 1024)
    );
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(p.log.join("log.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut f, record.as_bytes()).unwrap();
    drop(f);
    assert_eq!(code(&p.seal(true)), 0);
    let o = p.publish();
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(
        text(&o).contains(&format!("record {seq} is ")),
        "{}",
        text(&o)
    );
    assert!(listing(&p.www).is_empty(), "{:?}", listing(&p.www));
    // Today's receiver splits such a line: it publishes.
    let q = p.sibling("new");
    let mut line = vec![1u8; 16 * 1024];
    line.push(b'\n');
    q.receive(&line);
    assert_eq!(code(&q.seal(true)), 0);
    assert_eq!(code(&q.publish()), 0, "{}", text(&q.publish()));
}

#[test]
fn consistency_from_a_thousand_behind_fetches_two_tiles_a_level() {
    // A million entries through the library writer, checkpoints at
    // 999,000 and 1,000,000, signed; the monitor's state at the first.
    let tmp = tempfile::tempdir().unwrap();
    let www = tmp.path().join("www");
    let key = SignerKey::generate("logs.example.org/big", note::ED25519).unwrap();
    let mut w = Writer::create(&www).unwrap();
    let entries: Vec<Vec<u8>> = (0..1_000_000u32)
        .map(|i| format!("record {i}").into_bytes())
        .collect();
    let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
    w.append(&refs[..999_000]).unwrap();
    w.write_partial().unwrap();
    let old = signed(&key, 999_000, w.root());
    w.append(&refs[999_000..]).unwrap();
    w.write_partial().unwrap();
    let root = w.root();
    w.commit(&signed(&key, 1_000_000, root)).unwrap();
    let state = tmp.path().join("state");
    write(&state, &old);
    let srv = Server::start();
    srv.serve_dir(&www);
    let o = monitor(
        &srv.url("/"),
        &key.verifier().encode(),
        &["--state", state.to_str().unwrap(), "--json"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let fetched: Vec<&str> = j["fetched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // Three levels: at most two tiles each, and the checkpoint; counted
    // by the server too.
    assert!(
        srv.total_hits() <= 1 + 2 * 3,
        "{} requests: {fetched:?}",
        srv.total_hits()
    );
    assert_eq!(srv.total_hits(), fetched.len(), "{fetched:?}");
    for level in 0..3u8 {
        let n = fetched
            .iter()
            .filter(|p| p.starts_with(&format!("tile/{level}/")))
            .count();
        assert!((1..=2).contains(&n), "level {level}: {fetched:?}");
    }
    // The proof those tiles give is RFC 9162's.
    let leaves: Vec<Hash> = refs.iter().map(|e| merkle::leaf_hash(e)).collect();
    let src = tiles::DirSource::new(&www);
    let mut t = tiles::Tree::open(&src, 1_000_000, root).unwrap();
    assert_eq!(
        t.consistency_proof(999_000).unwrap(),
        merkle::consistency_proof(999_000, &leaves)
    );
}

/// `publish --out` naming a regular file, a FIFO, or a path through a
/// file can never be a directory: a usage error (exit 2), not an I/O
/// error (4, which says a retry may help), and nothing is touched.
#[test]
fn publish_to_an_out_that_cannot_be_a_directory_is_exit_2() {
    let p = Published::new("logs.example.org/out");
    p.receive(&lines(0, 300));
    assert_eq!(code(&p.seal(true)), 0);
    let dir = p.tmp.path();
    let file = dir.join("a-file");
    std::fs::write(&file, b"not a directory\n").unwrap();
    let fifo = dir.join("a-fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let before = listing(dir);
    for out in [file.clone(), fifo, file.join("www")] {
        let o = sl(
            &[
                "publish",
                "--log",
                p.log.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            b"",
        );
        assert_eq!(code(&o), 2, "{}: {}", out.display(), text(&o));
        assert_eq!(listing(dir), before);
        assert_eq!(std::fs::read(&file).unwrap(), b"not a directory\n");
    }
}

/// `monitor --state` in a directory that does not exist: its lock cannot
/// be created however often it is retried, so it is a usage error (exit
/// 2, as an output in a missing directory is for fetch-verified), not
/// an I/O error (4); nothing is created.
#[test]
fn a_monitor_state_in_a_missing_directory_is_exit_2() {
    let vkey = tessera_keys().1;
    let srv = Server::start();
    srv.serve_dir(&tessera().join("log"));
    let url = srv.url("/");
    let tmp = tempfile::tempdir().unwrap();
    let st = tmp.path().join("missing").join("state");
    let o = monitor(&url, &vkey, &["--state", st.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("missing"), "{}", text(&o));
    assert!(listing(tmp.path()).is_empty());
    // The directory there: the first checkpoint is accepted.
    std::fs::create_dir(tmp.path().join("missing")).unwrap();
    let o = monitor(&url, &vkey, &["--state", st.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}
