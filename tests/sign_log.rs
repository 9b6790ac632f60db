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
    c.args(args)
        .env_remove("QREXEC_REMOTE_DOMAIN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    // A command refusing its arguments may exit before reading its input.
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
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
        sl(
            &[
                "verify",
                "--log",
                dir.to_str().unwrap(),
                "--keyring",
                self.public.to_str().unwrap(),
            ],
            b"",
            &[],
        )
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
    let e = setup();
    e.receive(BUILD, &[]);
    assert_eq!(code(&e.seal()), 0);
    e.receive(b"second session\n", &[]);
    assert_eq!(code(&e.seal()), 0);
    assert_eq!(code(&e.verify()), 0);
    type Edit = Box<dyn Fn(&mut Vec<String>)>;
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
    let o = sl(
        &[
            "verify",
            "--log",
            e.l(),
            "--keyring",
            ring.to_str().unwrap(),
        ],
        b"",
        &[],
    );
    assert_eq!(code(&o), 1, "{}", text(&o));
    let o = sl(
        &[
            "verify",
            "--log",
            e.l(),
            "--keyring",
            e.public.to_str().unwrap(),
            "--origin",
            "elsewhere",
        ],
        b"",
        &[],
    );
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
    let lines = e.lines();
    assert!(
        lines.last().unwrap().contains("\"reason\":\"cap:"),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 5, "start, 3 lines, end");
    let o = e.receive(&vec![b'x'; 5000], &["--max-line", "1000"]);
    assert_eq!(code(&o), 1);
    let o = e.receive(&vec![b'y'; 5000], &["--max-bytes", "100"]);
    assert_eq!(code(&o), 1);
    assert_eq!(code(&e.seal()), 0);
    assert_eq!(code(&e.verify()), 0);
}

#[test]
fn a_killed_receiver_recovers_at_the_next_open() {
    let e = setup();
    e.receive(BUILD, &[]);
    let mut child = Command::new(BIN)
        .args(["receive", "--log", e.l(), "--sync", "always"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..200 {
        writeln!(stdin, "line {i}").unwrap();
    }
    stdin.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    // A torn tail, as a crash mid-write leaves it.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(e.log.join("log.jsonl"))
        .unwrap();
    f.write_all(b"{\"seq\":99999,\"t\":\"torn").unwrap();
    drop(f);
    let o = e.receive(b"after the crash\n", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let lines = e.lines();
    assert!(
        lines.iter().any(|l| l.contains("\"type\":\"recovered\"")),
        "torn tail kept"
    );
    assert_eq!(code(&e.seal()), 0);
    let o = e.verify();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("no end record"), "{}", text(&o));
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
    let ok = sl(
        &[
            "verify-proof",
            proof.to_str().unwrap(),
            "--checkpoint",
            cp(n).to_str().unwrap(),
        ],
        b"",
        &[],
    );
    assert_eq!(code(&ok), 0, "{}", text(&ok));
    // Wrong checkpoint, tampered leaf.
    let wrong = sl(
        &[
            "verify-proof",
            proof.to_str().unwrap(),
            "--checkpoint",
            cp(m).to_str().unwrap(),
        ],
        b"",
        &[],
    );
    assert_eq!(code(&wrong), 1);
    let forged = String::from_utf8(o.stdout.clone())
        .unwrap()
        .replace("cc -o", "rm -rf");
    std::fs::write(&proof, forged).unwrap();
    let bad = sl(
        &[
            "verify-proof",
            proof.to_str().unwrap(),
            "--checkpoint",
            cp(n).to_str().unwrap(),
        ],
        b"",
        &[],
    );
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
    let ok = sl(
        &[
            "verify-proof",
            proof.to_str().unwrap(),
            "--checkpoint",
            cp(m).to_str().unwrap(),
            "--checkpoint",
            cp(n).to_str().unwrap(),
        ],
        b"",
        &[],
    );
    assert_eq!(code(&ok), 0, "{}", text(&ok));
    let swapped = sl(
        &[
            "verify-proof",
            proof.to_str().unwrap(),
            "--checkpoint",
            cp(n).to_str().unwrap(),
            "--checkpoint",
            cp(m).to_str().unwrap(),
        ],
        b"",
        &[],
    );
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
    if !have("gpg") {
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
    let run = |arg: &str| {
        let mut c = Command::new("sh");
        c.arg(script)
            .arg(arg)
            .env("PATH", &path)
            .env("BUILD_LOG_DIR", &base)
            .env("QREXEC_REMOTE_DOMAIN", "build-vm-1");
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        // A refused name exits before reading: a broken pipe is expected.
        let _ = child.stdin.take().unwrap().write_all(b"built\n");
        child.wait_with_output().unwrap()
    };
    for bad in ["../escape", ".hidden", "a/b", ""] {
        assert_eq!(code(&run(bad)), 2, "{bad:?}");
    }
    assert!(!base.exists(), "nothing created for refused names");
    let o = run("core-admin");
    assert_eq!(code(&o), 0, "{}", text(&o));
    let log = std::fs::read_to_string(base.join("build-vm-1/core-admin/log.jsonl")).unwrap();
    assert!(log.contains("\"src\":\"build-vm-1\""), "{log}");
}
