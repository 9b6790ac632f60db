//! check-hashes against coreutils (sha256sum, sha512sum, cksum) on the same
//! lists, and the cases where it is deliberately stricter.

use crate::common;

use common::have;
use proptest::prelude::*;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_check-hashes");

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn peer(dir: &Path, prog: &str, args: &[&str]) -> Output {
    Command::new(prog)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Files with awkward names: spaces, backslashes, newlines, CR.
fn tree() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (name, body) in [
        ("plain.txt", &b"plain\n"[..]),
        ("with space.tar.gz", b"space"),
        ("back\\slash", b"bs"),
        ("new\nline", b"nl"),
        ("star", b"*"),
    ] {
        std::fs::write(d.path().join(name), body).unwrap();
    }
    d
}

const NAMES: [&str; 5] = [
    "plain.txt",
    "with space.tar.gz",
    "back\\slash",
    "new\nline",
    "star",
];

#[test]
fn generate_is_byte_identical_to_coreutils_and_both_check_it() {
    let d = tree();
    for (algo, prog) in [("sha256", "sha256sum"), ("sha512", "sha512sum")] {
        for tag in [false, true] {
            let mut ours = vec!["--generate", "--algo", algo];
            let mut theirs = vec![];
            if tag {
                ours.push("--tag");
                theirs.push("--tag");
            }
            ours.extend(NAMES);
            theirs.extend(NAMES);
            let a = run(d.path(), &ours);
            let b = peer(d.path(), prog, &theirs);
            assert_eq!(code(&a), 0);
            assert_eq!(a.stdout, b.stdout, "{algo} tag={tag}");
            std::fs::write(d.path().join("LIST"), &a.stdout).unwrap();
            let ours = run(d.path(), &["LIST"]);
            let theirs = peer(d.path(), prog, &["-c", "LIST"]);
            assert_eq!((code(&ours), code(&theirs)), (0, 0));
            assert_eq!(ours.stdout, theirs.stdout, "check output {algo} tag={tag}");
        }
    }
}

#[test]
fn blake2b_generate_matches_b2sum() {
    let d = tree();
    let a = run(
        d.path(),
        &["--generate", "--algo", "blake2b", "plain.txt", "star"],
    );
    let b = peer(d.path(), "b2sum", &["plain.txt", "star"]);
    assert_eq!(a.stdout, b.stdout);
    std::fs::write(d.path().join("B2SUMS"), &a.stdout).unwrap();
    assert_eq!(code(&run(d.path(), &["B2SUMS"])), 0);
}

/// The same list through coreutils and through us: same stdout, same code.
fn differential(dir: &Path, list: &str, prog: &str) -> Output {
    let ours = run(dir, &[list]);
    let theirs = peer(dir, prog, &["-c", list]);
    assert_eq!(code(&ours), code(&theirs), "{prog} -c {list}");
    assert_eq!(stdout(&ours), stdout(&theirs), "{prog} -c {list}");
    ours
}

#[test]
fn crlf_lists_and_binary_marker_with_awkward_names() {
    let d = tree();
    for prog in ["sha256sum", "sha512sum"] {
        let mut args = vec!["-b"];
        args.extend(NAMES);
        let list = peer(d.path(), prog, &args).stdout;
        let list = String::from_utf8(list).unwrap();
        assert!(list.contains(" *with space.tar.gz\n"));
        // coreutils escaped both names: `\HEX *back\\slash`, `\HEX *new\nline`.
        assert!(
            list.contains(" *back\\\\slash\n") && list.contains(" *new\\nline\n"),
            "{list}"
        );
        std::fs::write(d.path().join("CRLF"), list.replace('\n', "\r\n")).unwrap();
        let o = differential(d.path(), "CRLF", prog);
        assert_eq!(code(&o), 0);
        assert!(stdout(&o).contains("\\new\\nline: OK\n"), "{}", stdout(&o));
    }
}

#[test]
fn failures_agree_with_coreutils_and_never_say_ok() {
    let d = tree();
    let mut args = vec![];
    args.extend(NAMES);
    let list = peer(d.path(), "sha256sum", &args).stdout;
    std::fs::write(d.path().join("SUMS"), &list).unwrap();
    // An escaped name that fails is printed escaped, as coreutils does.
    std::fs::write(d.path().join("new\nline"), b"changed").unwrap();
    std::fs::remove_file(d.path().join("with space.tar.gz")).unwrap();
    let o = differential(d.path(), "SUMS", "sha256sum");
    assert_eq!(code(&o), 1);
    let out = stdout(&o);
    assert!(out.contains("\\new\\nline: FAILED\n"), "{out}");
    assert!(
        out.contains("with space.tar.gz: FAILED open or read\n"),
        "{out}"
    );
    assert!(
        !out.contains("line: OK") && !out.contains("gz: OK"),
        "{out}"
    );
    // The reason names the file, the expected and the observed digest.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("\\new\\nline: sha256 mismatch: expected "),
        "{err}"
    );
    assert!(err.contains(", got "), "{err}");
    // A missing file under --ignore-missing is skipped by both.
    let ours = run(d.path(), &["--ignore-missing", "SUMS"]);
    let theirs = peer(d.path(), "sha256sum", &["-c", "--ignore-missing", "SUMS"]);
    assert_eq!((code(&ours), code(&theirs)), (1, 1));
    assert_eq!(ours.stdout, theirs.stdout);
}

#[test]
fn cksum_reads_our_tagged_lists_and_we_read_its() {
    if !have("cksum") {
        return;
    }
    let d = tree();
    let ours = run(
        d.path(),
        &[
            "--generate",
            "--tag",
            "--algo",
            "sha512",
            "plain.txt",
            "with space.tar.gz",
        ],
    );
    std::fs::write(d.path().join("TAGGED"), &ours.stdout).unwrap();
    let o = differential(d.path(), "TAGGED", "cksum");
    assert_eq!(code(&o), 0);
    std::fs::write(d.path().join("plain.txt"), b"changed").unwrap();
    let o = differential(d.path(), "TAGGED", "cksum");
    assert_eq!(stdout(&o), "plain.txt: FAILED\nwith space.tar.gz: OK\n");
    std::fs::write(d.path().join("plain.txt"), b"plain\n").unwrap();
    let theirs = peer(d.path(), "cksum", &["-a", "sha256", "plain.txt", "star"]);
    std::fs::write(d.path().join("CK"), &theirs.stdout).unwrap();
    assert_eq!(code(&run(d.path(), &["CK"])), 0);
}

#[test]
fn every_format_is_read() {
    let d = tree();
    let h = |algo: &str, f: &str| {
        let o = run(d.path(), &["--generate", "--algo", algo, f]);
        stdout(&o).split_whitespace().next().unwrap().to_string()
    };
    let s256 = h("sha256", "plain.txt");
    let s512 = h("sha512", "star");
    let b2 = h("blake2b", "star");
    let sri = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(hex::decode(&s256).unwrap())
    };
    let list = format!(
        "# Buildroot style\nsha256  {s256}  plain.txt\nsha512  {s512}  star\n\
         SHA512 (star) = {s512}\nBLAKE2b (star) = {b2}\n{s256}  plain.txt\n"
    );
    std::fs::write(d.path().join("MIXED"), list).unwrap();
    let o = run(d.path(), &["MIXED"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(stdout(&o), "plain.txt: OK\nstar: OK\n");
    std::fs::write(d.path().join("SRI"), format!("sha256-{sri} plain.txt\n")).unwrap();
    assert_eq!(code(&run(d.path(), &["SRI"])), 0);
    // The Qubes convention: FILE.sha256 holds only the digest of FILE.
    std::fs::write(d.path().join("plain.txt.sha256"), format!("{s256}\n")).unwrap();
    assert_eq!(code(&run(d.path(), &["plain.txt.sha256"])), 0);
    std::fs::write(d.path().join("star.sha512"), &s512).unwrap();
    assert_eq!(code(&run(d.path(), &["star.sha512"])), 0);
    // Pinned on the command line.
    assert_eq!(code(&run(d.path(), &["--sha256", &s256, "plain.txt"])), 0);
    assert_eq!(code(&run(d.path(), &["--sha512", &s512, "star"])), 0);
    assert_eq!(code(&run(d.path(), &["--sha256", &s256, "star"])), 1);
    // Standard input, -C and -z.
    let mut child = Command::new(BIN)
        .args(["-C", d.path().to_str().unwrap(), "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{s256}  plain.txt\n").as_bytes())
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    std::fs::write(d.path().join("Z"), format!("{s256}  plain.txt\0")).unwrap();
    assert_eq!(code(&run(d.path(), &["-z", "Z"])), 0);
}

#[test]
fn quiet_status_and_json() {
    let d = tree();
    let list = stdout(&run(d.path(), &["--generate", "plain.txt", "star"]));
    std::fs::write(d.path().join("L"), &list).unwrap();
    assert_eq!(stdout(&run(d.path(), &["--quiet", "L"])), "");
    std::fs::write(d.path().join("star"), b"x").unwrap();
    let o = run(d.path(), &["--status", "L"]);
    assert_eq!((code(&o), o.stdout.len(), o.stderr.len()), (1, 0, 0));
    let o = run(d.path(), &["--json", "L"]);
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(code(&o), 1);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["status"], "ok");
    assert_eq!(lines[1]["status"], "failed");
    assert_eq!(lines[1]["path"], "star");
    let expected = lines[1]["expected"]["sha256"].as_str().unwrap();
    assert!(list.contains(&format!("{expected}  star")));
    let actual = lines[1]["actual"]["sha256"].as_str().unwrap();
    assert_ne!(actual, expected);
    assert!(lines[1]["reason"].as_str().unwrap().contains(actual));
    assert_eq!(lines[2]["summary"]["failed"], 1);
    assert_eq!(lines[2]["summary"]["exit"], 1);
    // --quiet still prints the failure.
    let o = run(d.path(), &["--quiet", "L"]);
    assert_eq!((code(&o), stdout(&o).as_str()), (1, "star: FAILED\n"));
    // A missing file in JSON, and --generate --json.
    std::fs::remove_file(d.path().join("star")).unwrap();
    let o = run(d.path(), &["--json", "L"]);
    let last: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        (code(&o), &last[1]["status"], &last[1]["actual"]),
        (1, &"missing".into(), &serde_json::Value::Null)
    );
    let o = run(d.path(), &["--generate", "--json", "plain.txt", "star"]);
    let gen: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(code(&o), 4);
    assert_eq!(gen.len(), 2);
    assert!(list.contains(&format!(
        "{}  plain.txt",
        gen[0]["digest"].as_str().unwrap()
    )));
    assert_eq!(gen[1]["summary"]["unreadable"], 1);
}

#[test]
fn many_files_keep_list_order() {
    let d = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..700).map(|i| format!("f{:04}", 699 - i)).collect();
    for n in &names {
        std::fs::write(d.path().join(n), n.as_bytes()).unwrap();
    }
    let mut args = vec!["--generate"];
    args.extend(names.iter().map(String::as_str));
    let list = run(d.path(), &args).stdout;
    std::fs::write(d.path().join("L"), &list).unwrap();
    let o = run(d.path(), &["L"]);
    let expect: String = names.iter().map(|n| format!("{n}: OK\n")).collect();
    assert_eq!(stdout(&o), expect);
}

#[test]
fn help_ends_with_exit_codes_and_usage_errors_exit_2() {
    let o = Command::new(BIN).arg("--help").output().unwrap();
    assert!(stdout(&o).trim_end().ends_with("permission"));
    assert_eq!(
        Command::new(BIN)
            .arg("--bogus")
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
}

/// Where sha256sum -c passes and we must not.
#[test]
fn deliberately_stricter_than_coreutils() {
    let d = tree();
    let good = stdout(&run(d.path(), &["--generate", "plain.txt"]));
    let s512 = stdout(&run(
        d.path(),
        &["--generate", "--algo", "sha512", "--tag", "star"],
    ));
    let cases: Vec<(&str, String, i32)> = vec![
        // Another algorithm's line: sha256sum skips it as improperly
        // formatted and passes; we check it, and star does not match it.
        ("MIX", format!("{good}{}", tampered(&s512)), 1),
        // A line in no format at all.
        ("MAL", format!("{good}this is not a line\n"), 2),
    ];
    for (list, body, want) in cases {
        std::fs::write(d.path().join(list), &body).unwrap();
        let theirs = peer(d.path(), "sha256sum", &["-c", list]);
        assert_eq!(code(&theirs), 0, "sha256sum -c {list} passes");
        let ours = run(d.path(), &[list]);
        assert_eq!(
            code(&ours),
            want,
            "{list}: {}",
            String::from_utf8_lossy(&ours.stderr)
        );
        if want == 2 {
            // A malformed list is refused before anything is hashed.
            assert!(ours.stdout.is_empty(), "{list}: {}", stdout(&ours));
            assert!(String::from_utf8_lossy(&ours.stderr).contains(&format!("{list}: line 2")));
        } else {
            assert!(stdout(&ours).contains("star: FAILED\n"));
            assert!(!stdout(&ours).contains("star: OK"));
        }
    }
}

/// `SHA512 (star) = HEX` with the digest's first digit changed.
fn tampered(line: &str) -> String {
    let (head, hexd) = line.rsplit_once(" = ").unwrap();
    let flipped = if hexd.starts_with('0') { "1" } else { "0" };
    format!("{head} = {flipped}{}", &hexd[1..])
}

/// Every failure mode and its exit code; none prints an OK line for the
/// file that failed.
#[test]
fn every_failure_has_its_exit_code() {
    let d = tree();
    let good = stdout(&run(d.path(), &["--generate", "plain.txt"]));
    let h256 = good.split_whitespace().next().unwrap().to_string();
    let md5 = String::from_utf8(peer(d.path(), "md5sum", &["plain.txt"]).stdout).unwrap();
    let sha1 =
        String::from_utf8(peer(d.path(), "sha1sum", &["--tag", "plain.txt"]).stdout).unwrap();
    let s512 = stdout(&run(
        d.path(),
        &["--generate", "--algo", "sha512", "--tag", "star"],
    ));
    std::fs::create_dir(d.path().join("sub")).unwrap();
    let files: Vec<(&str, String)> = vec![
        ("GOOD", good.clone()),
        ("BAD", good.replace(&h256, &"0".repeat(64))),
        // Two algorithms for one file: the SHA-256 line matches, the SHA-512 one does not.
        (
            "BOTH",
            format!("{good}{}", s512.replace("(star)", "(plain.txt)")),
        ),
        ("MD5", md5.clone()),
        ("SHA1", sha1.clone()),
        ("GONE", good.replace("plain.txt", "absent")),
        ("DIR", good.replace("plain.txt", "sub")),
        ("UNK", "crc32 (plain.txt) = 00000000\n".into()),
        ("SHORT", "0123  plain.txt\n".into()),
        ("ESC", format!("\\{h256}  bad\\escape\n")),
        ("UP", good.replace("plain.txt", "../plain.txt")),
        ("ABS", good.replace("plain.txt", "/etc/hostname")),
        ("EMPTY", String::new()),
        ("COMMENTS", "# only a comment\n\n".into()),
        ("plain.txt.sha256", format!("{h256}\n")),
        ("plain.txt.sha512", format!("{h256}\n")),
        ("NOEXT", format!("{h256}\n")),
    ];
    for (name, body) in &files {
        std::fs::write(d.path().join(name), body).unwrap();
    }
    let bad_hex = "zz".repeat(32);
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["GOOD"], 0, "plain.txt: OK\n"),
        (vec!["BAD"], 1, "plain.txt: FAILED\n"),
        (vec!["BOTH"], 1, "plain.txt: FAILED\n"),
        (vec!["MD5"], 1, "plain.txt: FAILED weak algorithm\n"),
        (vec!["SHA1"], 1, "plain.txt: FAILED weak algorithm\n"),
        (vec!["--allow-weak", "MD5"], 0, "plain.txt: OK\n"),
        (vec!["--allow-weak", "SHA1"], 0, "plain.txt: OK\n"),
        (vec!["GONE"], 1, "absent: FAILED open or read\n"),
        (vec!["--ignore-missing", "GONE"], 3, ""),
        (
            vec!["--ignore-missing", "GONE", "GOOD"],
            0,
            "plain.txt: OK\n",
        ),
        (vec!["DIR"], 1, "sub: FAILED open or read\n"),
        // The worst outcome wins: a mismatch outranks an unreadable file.
        (
            vec!["DIR", "BAD"],
            1,
            "sub: FAILED open or read\nplain.txt: FAILED\n",
        ),
        (vec!["UNK"], 2, ""),
        (vec!["SHORT"], 2, ""),
        (vec!["ESC"], 2, ""),
        (vec!["UP"], 2, ""),
        (vec!["ABS"], 2, ""),
        (vec!["GOOD", "UP"], 2, ""),
        (vec!["EMPTY"], 3, ""),
        (vec!["COMMENTS"], 3, ""),
        (vec!["GOOD", "EMPTY"], 3, ""),
        (vec!["no-such-list"], 2, ""),
        (vec!["--require", "star", "GOOD"], 3, ""),
        (
            vec!["--require", "./plain.txt", "GOOD"],
            0,
            "plain.txt: OK\n",
        ),
        (vec!["plain.txt.sha256"], 0, "plain.txt: OK\n"),
        (vec!["plain.txt.sha512"], 2, ""),
        (vec!["NOEXT"], 2, ""),
        (vec!["--sha256", &h256, "plain.txt"], 0, "plain.txt: OK\n"),
        (vec!["--sha256", &h256, "star"], 1, "star: FAILED\n"),
        (vec!["--sha256", &h256, "absent"], 2, ""),
        (vec!["--sha256", &bad_hex, "plain.txt"], 2, ""),
        (vec!["--sha256", &h256, "plain.txt", "star"], 2, ""),
        (vec![], 2, ""),
        (vec!["--tag", "GOOD"], 2, ""),
    ];
    for (args, want, out) in cases {
        let o = run(d.path(), &args);
        assert_eq!(
            code(&o),
            want,
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(stdout(&o), out, "{args:?}");
        if want != 0 {
            assert!(!o.stderr.is_empty(), "{args:?}: a failure says why");
        }
    }
    // A FIFO or device under a listed name is refused, not read forever
    // (timeout only guards the test run: a hang exits 124, not 4).
    let fifo = d.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    std::os::unix::fs::symlink("/dev/zero", d.path().join("zero")).unwrap();
    for name in ["fifo", "zero"] {
        std::fs::write(d.path().join("SPECIAL"), good.replace("plain.txt", name)).unwrap();
        let o = Command::new("timeout")
            .args(["60", BIN, "SPECIAL"])
            .current_dir(d.path())
            .output()
            .unwrap();
        assert_eq!(code(&o), 1, "{name}: a listed special file fails the check");
        assert_eq!(stdout(&o), format!("{name}: FAILED open or read\n"));
        assert!(String::from_utf8_lossy(&o.stderr).contains("not a regular file"));
    }
    // A bare digest from standard input has no file to pin.
    let o = run_stdin(d.path(), &["-"], h256.as_bytes());
    assert_eq!((code(&o), o.stdout.len()), (2, 0));
}

fn run_stdin(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn directory_option_and_bare_digests() {
    let d = tree();
    let sub = d.path().join("dl");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("foo.tar.gz"), b"tarball").unwrap();
    let h = stdout(&run(
        &sub,
        &["--generate", "--algo", "sha512", "foo.tar.gz"],
    ));
    let h = h.split_whitespace().next().unwrap();
    // The Qubes layout: the .sha512 file in the component, the download in dl/.
    std::fs::write(d.path().join("foo.tar.gz.sha512"), format!("{h}\n")).unwrap();
    let o = run(d.path(), &["-C", "dl", "foo.tar.gz.sha512"]);
    assert_eq!((code(&o), stdout(&o).as_str()), (0, "dl/foo.tar.gz: OK\n"));
    // Without -C the file is looked for next to the list.
    let o = run(d.path(), &["foo.tar.gz.sha512"]);
    assert_eq!(
        (code(&o), stdout(&o).as_str()),
        (1, "foo.tar.gz: FAILED open or read\n")
    );
    // A list on stdin with -C.
    let list = format!("SHA512 (foo.tar.gz) = {h}\n");
    let o = run_stdin(d.path(), &["-C", "dl", "-"], list.as_bytes());
    assert_eq!((code(&o), stdout(&o).as_str()), (0, "foo.tar.gz: OK\n"));
    // --generate -C writes names as given.
    let o = run(
        d.path(),
        &["-C", "dl", "--generate", "--algo", "sha512", "foo.tar.gz"],
    );
    assert_eq!(stdout(&o), format!("{h}  foo.tar.gz\n"));
}

#[test]
fn zero_terminated_lists_and_generation_match_coreutils() {
    let d = tree();
    let mut args = vec!["-z"];
    args.extend(NAMES);
    let theirs = peer(d.path(), "sha256sum", &args);
    let mut ours_args = vec!["--generate", "-z"];
    ours_args.extend(NAMES);
    let ours = run(d.path(), &ours_args);
    assert_eq!(ours.stdout, theirs.stdout);
    std::fs::write(d.path().join("Z"), &ours.stdout).unwrap();
    let o = run(d.path(), &["-z", "Z"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(stdout(&o).matches(": OK\n").count(), NAMES.len());
    // Standard input hashed as `-`, as sha256sum does.
    let ours = run_stdin(d.path(), &["--generate", "-"], b"hi\n");
    let theirs = Command::new("sh")
        .args(["-c", "printf 'hi\\n' | sha256sum"])
        .output()
        .unwrap();
    assert_eq!(ours.stdout, theirs.stdout);
}

proptest! {
    #[test]
    fn parser_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512), zero in any::<bool>()) {
        let opts = build_verify::lists::hashlist::ParseOptions { zero_terminated: zero, untagged_512: None };
        let _ = build_verify::lists::hashlist::parse_list(&data, opts);
    }

    /// Any name coreutils can write (no NUL), GNU or BSD, escaped or not,
    /// reads back as itself.
    #[test]
    fn generated_lines_read_back(name in proptest::collection::vec(1u8..=255, 1..64), tag in any::<bool>()) {
        use build_verify::lists::hashlist::{format_line, parse_list};
        let d = [0x5a; 32];
        let line = format_line(build_verify::digest::Algo::Sha256, &d, &name, tag, false);
        let e = parse_list(&line, Default::default()).unwrap();
        prop_assert_eq!(e.len(), 1);
        prop_assert_eq!(e[0].name.as_deref(), Some(&name[..]));
        prop_assert_eq!(&e[0].digest[..], &d[..]);
    }

    #[test]
    fn parser_never_panics_on_near_misses(s in "(\\\\)?(SHA256|sha512|md5|BLAKE2b)? ?\\(?[a-f0-9 *()=\\\\n]{0,80}\\)?( = )?[a-f0-9]{0,130}") {
        let _ = build_verify::lists::hashlist::parse_list(s.as_bytes(), Default::default());
    }
}

#[test]
fn a_line_appears_as_soon_as_it_is_known() {
    // The first file's verdict is on stdout while a large second file is
    // still being hashed: the process is still running when it arrives.
    use std::io::BufRead;
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("small"), b"small").unwrap();
    let big = std::fs::File::create(d.path().join("big")).unwrap();
    big.set_len(1 << 30).unwrap(); // sparse: 1 GiB of zeros
    drop(big);
    let list = run(d.path(), &["--generate", "small"]).stdout;
    let mut list = String::from_utf8(list).unwrap();
    // The digest of 1 GiB of zeros is not needed: a wrong one fails, late.
    list.push_str(&format!("{}  big\n", "0".repeat(64)));
    std::fs::write(d.path().join("L"), list).unwrap();
    let mut child = Command::new(BIN)
        .arg("L")
        .current_dir(d.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert_eq!(first, "small: OK\n");
    let running = child.try_wait().unwrap().is_none();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(rest, "big: FAILED\n");
    assert_eq!(child.wait().unwrap().code(), Some(1));
    assert!(running, "the first line came before the end of the run");
}

#[test]
fn sha256sum_options_are_accepted() {
    let d = tree();
    let list = run(d.path(), &["--generate", "plain.txt", "star"]).stdout;
    std::fs::write(d.path().join("SUMS"), &list).unwrap();
    for args in [
        &["-c", "SUMS"][..],
        &["--check", "--strict", "SUMS"],
        &["-c", "-w", "--quiet", "SUMS"],
        &["--check", "--status", "SUMS"],
        &["-c", "--ignore-missing", "SUMS"],
    ] {
        let o = run(d.path(), args);
        assert_eq!(code(&o), 0, "{args:?}: {o:?}");
        if have("sha256sum") {
            assert_eq!(
                peer(d.path(), "sha256sum", args).status.code(),
                Some(0),
                "{args:?}"
            );
        }
    }
    let o = run(d.path(), &["-q", "SUMS"]);
    assert_eq!((code(&o), stdout(&o)), (0, String::new()));
    // Stricter still: sha256sum -c without --strict passes a malformed line.
    std::fs::write(d.path().join("BAD"), [&list[..], b"garbage\n"].concat()).unwrap();
    assert_eq!(code(&run(d.path(), &["-c", "BAD"])), 2);
}

/// A Debian-style tree: two files and every kind of Debian list over them.
fn debian_tree() -> (tempfile::TempDir, String) {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("pool/main")).unwrap();
    std::fs::write(d.path().join("pool/main/a_1_all.deb"), b"deb a").unwrap();
    std::fs::write(d.path().join("pool/main/a_1.tar.xz"), b"tarball").unwrap();
    let s = |b: &[u8]| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b))
    };
    let (deb, tar) = (s(b"deb a"), s(b"tarball"));
    let release = format!(
        "Origin: test\nSuite: stable\nMD5Sum:\n {} 5 pool/main/a_1_all.deb\nSHA256:\n {deb} 5 pool/main/a_1_all.deb\n {tar} 7 pool/main/a_1.tar.xz\n",
        "0".repeat(32)
    );
    std::fs::write(d.path().join("Release"), &release).unwrap();
    std::fs::write(
        d.path().join("Packages"),
        format!("Package: a\nVersion: 1\nFilename: pool/main/a_1_all.deb\nSize: 5\nMD5sum: {}\nSHA256: {deb}\n\nPackage: b\nFilename: pool/main/a_1.tar.xz\nSize: 7\nSHA256: {tar}\n", "0".repeat(32)),
    )
    .unwrap();
    std::fs::write(
        d.path().join("Sources"),
        format!("Package: a\nDirectory: pool/main\nFiles:\n {} 7 a_1.tar.xz\nChecksums-Sha256:\n {tar} 7 a_1.tar.xz\n", "0".repeat(32)),
    )
    .unwrap();
    std::fs::write(
        d.path().join("a_1.dsc"),
        format!(
            "Format: 3.0 (native)\nSource: a\nChecksums-Sha256:\n {tar} 7 pool/main/a_1.tar.xz\n"
        ),
    )
    .unwrap();
    (d, release)
}

#[test]
fn debian_lists_with_sizes() {
    let (d, release) = debian_tree();
    let dir = d.path();
    for list in ["Release", "Packages", "Sources", "a_1.dsc"] {
        let o = run(dir, &[list]);
        assert_eq!(
            code(&o),
            0,
            "{list}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(stdout(&o).contains(": OK"), "{list}: {}", stdout(&o));
    }
    // MD5 is dropped where SHA-256 is listed: no "weak algorithm" failure.
    assert!(stdout(&run(dir, &["Release"])).contains("pool/main/a_1_all.deb: OK"));
    // A size that differs (same digest: the list lies about the size) fails.
    std::fs::write(dir.join("Release"), release.replace(" 7 pool", " 8 pool")).unwrap();
    let o = run(dir, &["Release"]);
    assert_eq!(code(&o), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("size mismatch: expected 8, got 7"));
    // The file changed: digest and size fail.
    std::fs::write(dir.join("pool/main/a_1_all.deb"), b"deb a!").unwrap();
    let o = run(dir, &["Packages"]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("pool/main/a_1_all.deb: FAILED"));
    // Malformed Debian lists are exit 2, like any malformed list.
    std::fs::write(dir.join("Bad"), "Package: a\nFilename: x\nSize: many\n").unwrap();
    assert_eq!(code(&run(dir, &["Bad"])), 2);
    std::fs::write(dir.join("Bad"), format!("SHA256:\n {} 1\n", "a".repeat(64))).unwrap();
    assert_eq!(code(&run(dir, &["Bad"])), 2);
    std::fs::write(dir.join("Bad"), "SHA256:\n /etc/passwd\n").unwrap();
    assert_eq!(code(&run(dir, &["Bad"])), 2);
    let abs = format!("SHA256:\n {} 1 /etc/passwd\n", "a".repeat(64));
    std::fs::write(dir.join("Bad"), abs).unwrap();
    assert_eq!(
        code(&run(dir, &["Bad"])),
        2,
        "absolute names need --allow-outside"
    );
}

#[test]
fn signed_lists_are_verified_first_with_keyring() {
    let (d, release) = debian_tree();
    let dir = d.path();
    let key = common::gen_key("archive <a@example.org>");
    let other = common::gen_key("other <o@example.org>");
    let ring = common::write_keyring(&dir.join("k.asc"), &[&key]);
    let ring = ring.to_str().unwrap();
    let signed = common::sign_cleartext(
        &key,
        release.as_bytes(),
        sequoia_openpgp::types::HashAlgorithm::SHA256,
    );
    std::fs::write(dir.join("InRelease"), &signed).unwrap();
    let o = run(dir, &["--keyring", ring, "InRelease"]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains(&key.fingerprint().to_hex()));
    // Without keys the signature is stripped with a note, never trusted silently.
    let o = run(dir, &["InRelease"]);
    assert_eq!(code(&o), 0);
    assert!(String::from_utf8_lossy(&o.stderr).contains("signature not checked"));
    // A tampered signed text fails before any file is hashed.
    let t = String::from_utf8(signed.clone())
        .unwrap()
        .replace("Suite: stable", "Suite: stabl3");
    std::fs::write(dir.join("InRelease"), t).unwrap();
    let o = run(dir, &["--keyring", ring, "InRelease"]);
    assert_eq!(code(&o), 1);
    assert!(!stdout(&o).contains("OK"));
    // Release + Release.gpg (detached), and a signature by another key.
    std::fs::write(
        dir.join("Release.gpg"),
        common::sign_detached(&key, release.as_bytes()),
    )
    .unwrap();
    assert_eq!(code(&run(dir, &["--keyring", ring, "Release"])), 0);
    std::fs::write(
        dir.join("Release.gpg"),
        common::sign_detached(&other, release.as_bytes()),
    )
    .unwrap();
    assert_eq!(code(&run(dir, &["--keyring", ring, "Release"])), 1);
    // With keys, an unsigned list is nothing to verify with.
    let o = run(dir, &["--keyring", ring, "Packages"]);
    assert_eq!(code(&o), 3);
    assert!(!stdout(&o).contains("OK"));
    // Any list can be signed: SHA256SUMS + SHA256SUMS.asc.
    let sums = format!("{}  pool/main/a_1.tar.xz\n", {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b"tarball"))
    });
    std::fs::write(dir.join("SHA256SUMS"), &sums).unwrap();
    std::fs::write(
        dir.join("SHA256SUMS.asc"),
        common::armor_sig(&common::sign_detached(&key, sums.as_bytes())),
    )
    .unwrap();
    assert_eq!(code(&run(dir, &["--keyring", ring, "SHA256SUMS"])), 0);
}

/// A list larger than what check-hashes reads before choosing (1 MiB) is
/// parsed as it is read; the result is the one of the same list read
/// whole (cleartext-signed, with and without keys) and of sha256sum.
#[test]
fn a_large_list_is_streamed_with_the_same_result() {
    use sha2::Digest;
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    // 4000 entries with 200-byte names: about 1.1 MB of list.
    let names: Vec<String> = (0..4000)
        .map(|i| format!("{}{i:04}", "n".repeat(200)))
        .collect();
    let mut list = String::new();
    for n in &names {
        std::fs::write(dir.join(n), n.as_bytes()).unwrap();
        let h = hex::encode(sha2::Sha256::digest(n.as_bytes()));
        list.push_str(&format!("{h}  {n}\n"));
    }
    assert!(list.len() > 1 << 20);
    std::fs::remove_file(dir.join(&names[17])).unwrap();
    std::fs::write(dir.join(&names[3999]), b"changed").unwrap();
    std::fs::write(dir.join("SUMS"), &list).unwrap();
    let o = differential(dir, "SUMS", "sha256sum");
    assert_eq!(code(&o), 1);
    let ours = run(dir, &["--ignore-missing", "SUMS"]);
    let theirs = peer(dir, "sha256sum", &["-c", "--ignore-missing", "SUMS"]);
    assert_eq!((code(&ours), code(&theirs)), (1, 1));
    assert_eq!(ours.stdout, theirs.stdout);

    // Duplicates after the first MiB: one that agrees is merged into the
    // first (one output line, in first-seen order), one that disagrees fails.
    let h = |s: &[u8]| hex::encode(sha2::Sha256::digest(s));
    list.push_str(&format!("{}  {}\n", h(names[5].as_bytes()), names[5]));
    list.push_str(&format!("{}  {}\n", h(b"other"), names[6]));
    std::fs::write(dir.join("SUMS"), &list).unwrap();
    let key = common::gen_key("lists <l@example.org>");
    let ring = common::write_keyring(&dir.join("k.asc"), &[&key]);
    let signed = common::sign_cleartext(
        &key,
        list.as_bytes(),
        sequoia_openpgp::types::HashAlgorithm::SHA256,
    );
    std::fs::write(dir.join("SUMS.signed"), &signed).unwrap();
    let streamed = run(dir, &["SUMS"]);
    assert_eq!(code(&streamed), 1);
    let out = stdout(&streamed);
    assert_eq!(out.lines().count(), 4000, "one line per file");
    assert!(out.contains(&format!("{}: OK\n", names[5])), "{out}");
    assert!(out.contains(&format!("{}: FAILED\n", names[6])), "{out}");
    let ring = ring.to_str().unwrap();
    for args in [&["SUMS.signed"][..], &["--keyring", ring, "SUMS.signed"]] {
        let whole = run(dir, args);
        assert_eq!(code(&whole), 1, "{args:?}");
        assert_eq!(stdout(&whole), out, "{args:?}");
    }
    let stdin = run_stdin(dir, &["-"], list.as_bytes());
    assert_eq!((code(&stdin), stdout(&stdin)), (1, out.clone()));

    // A bad line at the end, read long after the first entries: exit 2,
    // and nothing was checked.
    for bad in ["nope\n", "sha256-!! x\n"] {
        std::fs::write(dir.join("BAD"), format!("{list}{bad}")).unwrap();
        let o = run(dir, &["BAD"]);
        assert_eq!(code(&o), 2, "{bad}");
        assert!(o.stdout.is_empty(), "{}", stdout(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("line 4003"), "{err}");
    }
    // A nameless digest after named ones, refused when the list ends.
    std::fs::write(dir.join("M.sha256"), format!("{list}{}\n", h(b"x"))).unwrap();
    let o = run(dir, &["M.sha256"]);
    assert_eq!(code(&o), 2);
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("line 4003: a digest without a file name"),
        "{err}"
    );
}

#[test]
fn signatures_checked_in_place_as_gpgv_does() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let key = common::gen_key("Upstream <u@example.org>");
    let other = common::gen_key("Other <o@example.org>");
    let ring = common::write_keyring(&dir.join("keys.asc"), &[&key]);
    let ring = ring.to_str().unwrap();
    let tar: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    std::fs::write(dir.join("up.tar"), &tar).unwrap();
    std::fs::write(dir.join("up.tar.sig"), common::sign_detached(&key, &tar)).unwrap();
    let fpr = key.fingerprint().to_hex();
    // A signed file on disk: verified, signer printed, nothing changed.
    let o = run(
        dir,
        &["--keyring", ring, "--signature", "up.tar.sig", "up.tar"],
    );
    assert_eq!((code(&o), stdout(&o)), (0, format!("{fpr}\n")), "{o:?}");
    if common::oracle("gpgv") {
        let bin_ring = common::write_keyring_binary(&dir.join("ring.gpg"), &[&key]);
        assert!(common::gpgv_accepts(
            &bin_ring,
            &dir.join("up.tar.sig"),
            &dir.join("up.tar")
        ));
    }
    let j = run(
        dir,
        &[
            "--keyring",
            ring,
            "--json",
            "--signature",
            "up.tar.sig",
            "up.tar",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(stdout(&j).trim()).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["signers"][0].as_str()),
        (Some("ok"), Some(fpr.as_str()))
    );
    // Tampered, or signed by another key: 1, and the file is still there.
    let mut bad = tar.clone();
    bad[1000] ^= 1;
    std::fs::write(dir.join("up.tar"), &bad).unwrap();
    let o = run(
        dir,
        &["--keyring", ring, "--signature", "up.tar.sig", "up.tar"],
    );
    assert_eq!(code(&o), 1, "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("BAD signature"),
        "{o:?}"
    );
    assert_eq!(
        std::fs::read(dir.join("up.tar")).unwrap(),
        bad,
        "never deleted"
    );
    std::fs::write(dir.join("up.tar"), &tar).unwrap();
    std::fs::write(dir.join("other.sig"), common::sign_detached(&other, &tar)).unwrap();
    assert_eq!(
        code(&run(
            dir,
            &["--keyring", ring, "--signature", "other.sig", "up.tar"]
        )),
        1
    );
    // Missing signature, no keys: usage errors.
    assert_eq!(
        code(&run(
            dir,
            &["--keyring", ring, "--signature", "none.sig", "up.tar"]
        )),
        2
    );
    assert_eq!(code(&run(dir, &["--signature", "up.tar.sig", "up.tar"])), 2);

    // A detached-signed list: the signature first, then every entry.
    let sums = format!("{}  up.tar\n", sha256_hex(&tar));
    std::fs::write(dir.join("SHA256SUMS"), &sums).unwrap();
    std::fs::write(
        dir.join("SHA256SUMS.gpg"),
        common::sign_detached(&key, sums.as_bytes()),
    )
    .unwrap();
    let detached = || {
        run(
            dir,
            &[
                "--keyring",
                ring,
                "--signature",
                "SHA256SUMS.gpg",
                "SHA256SUMS",
            ],
        )
    };
    let o = detached();
    assert_eq!(
        (code(&o), stdout(&o)),
        (0, "up.tar: OK\n".to_string()),
        "{o:?}"
    );
    std::fs::write(dir.join("up.tar"), &bad).unwrap();
    let o = detached();
    assert_eq!(
        (code(&o), stdout(&o)),
        (1, "up.tar: FAILED\n".to_string()),
        "{o:?}"
    );
    std::fs::write(dir.join("up.tar"), &tar).unwrap();
    // A list edited after signing is refused before any entry is read.
    std::fs::write(
        dir.join("SHA256SUMS"),
        format!("{sums}{}  extra\n", "0".repeat(64)),
    )
    .unwrap();
    let o = detached();
    assert_eq!((code(&o), stdout(&o)), (1, String::new()), "{o:?}");
    // A cleartext-signed list (SHA256SUMS.asc) needs no --signature.
    let clear = common::sign_cleartext(
        &key,
        sums.as_bytes(),
        sequoia_openpgp::types::HashAlgorithm::SHA256,
    );
    std::fs::write(dir.join("SHA256SUMS.asc"), &clear).unwrap();
    let o = run(dir, &["--keyring", ring, "SHA256SUMS.asc"]);
    assert_eq!(
        (code(&o), stdout(&o)),
        (0, "up.tar: OK\n".to_string()),
        "{o:?}"
    );
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}
