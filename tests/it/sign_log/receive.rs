//! receive: sessions from a stream, what is kept when a sender or the receiver
//! is killed, caps, summaries, and the qrexec service script.

use super::*;

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
