//! check-hashes against coreutils (sha256sum, sha512sum, cksum) on the same
//! lists, and the cases where it is deliberately stricter.

mod common;

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

#[test]
fn mismatch_agrees_with_sha256sum_and_never_says_ok() {
    let d = tree();
    let list = peer(d.path(), "sha256sum", &["plain.txt", "star"]).stdout;
    std::fs::write(d.path().join("SUMS"), &list).unwrap();
    std::fs::write(d.path().join("star"), b"tampered").unwrap();
    let ours = run(d.path(), &["SUMS"]);
    let theirs = peer(d.path(), "sha256sum", &["-c", "SUMS"]);
    assert_eq!((code(&ours), code(&theirs)), (1, 1));
    assert_eq!(ours.stdout, theirs.stdout);
    assert!(stdout(&ours).contains("star: FAILED\n"));
    assert!(!stdout(&ours).contains("star: OK"));
    let err = String::from_utf8_lossy(&ours.stderr);
    assert!(err.contains("star: sha256 mismatch: expected"), "{err}");
}

#[test]
fn crlf_lists_and_binary_marker() {
    let d = tree();
    let list = peer(
        d.path(),
        "sha256sum",
        &["-b", "plain.txt", "with space.tar.gz"],
    )
    .stdout;
    let crlf = String::from_utf8(list).unwrap().replace('\n', "\r\n");
    assert!(crlf.contains(" *plain.txt"));
    std::fs::write(d.path().join("CRLF"), crlf).unwrap();
    assert_eq!(code(&run(d.path(), &["CRLF"])), 0);
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
    assert_eq!(code(&peer(d.path(), "cksum", &["-c", "TAGGED"])), 0);
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
fn stricter_than_sha256sum() {
    let d = tree();
    let good = stdout(&run(d.path(), &["--generate", "plain.txt"]));
    // A malformed line: sha256sum warns and passes; we fail with exit 2.
    std::fs::write(d.path().join("MAL"), format!("{good}this is not a line\n")).unwrap();
    assert_eq!(code(&peer(d.path(), "sha256sum", &["-c", "MAL"])), 0);
    let o = run(d.path(), &["MAL"]);
    assert_eq!(code(&o), 2);
    assert!(
        o.stdout.is_empty(),
        "no OK line before a malformed list is refused"
    );
    // A listed file that is missing fails; with --ignore-missing at least one
    // file must still be verified (3: nothing was verified).
    std::fs::write(d.path().join("GONE"), good.replace("plain.txt", "absent")).unwrap();
    assert_eq!(code(&run(d.path(), &["GONE"])), 1);
    assert_eq!(code(&run(d.path(), &["--ignore-missing", "GONE"])), 3);
    // Unknown algorithm; weak algorithms; several algorithms must all match.
    std::fs::write(d.path().join("UNK"), "crc32 (plain.txt) = 00000000\n").unwrap();
    assert_eq!(code(&run(d.path(), &["UNK"])), 2);
    let md5 = peer(d.path(), "md5sum", &["plain.txt"]).stdout;
    std::fs::write(d.path().join("MD5"), &md5).unwrap();
    assert_eq!(code(&run(d.path(), &["MD5"])), 1);
    assert_eq!(code(&run(d.path(), &["--allow-weak", "MD5"])), 0);
    let s512 = stdout(&run(
        d.path(),
        &["--generate", "--algo", "sha512", "--tag", "star"],
    ));
    let wrong512 = s512.replace("(star)", "(plain.txt)");
    std::fs::write(d.path().join("BOTH"), format!("{good}{wrong512}")).unwrap();
    assert_eq!(code(&run(d.path(), &["BOTH"])), 1);
    // Names outside the tree.
    std::fs::write(
        d.path().join("OUT"),
        good.replace("plain.txt", "../plain.txt"),
    )
    .unwrap();
    assert_eq!(code(&run(d.path(), &["OUT"])), 2);
    std::fs::write(
        d.path().join("ABS"),
        good.replace("plain.txt", "/etc/hostname"),
    )
    .unwrap();
    assert_eq!(code(&run(d.path(), &["ABS"])), 2);
    // Empty list, and a required file without entry: nothing to verify with.
    std::fs::write(d.path().join("EMPTY"), "").unwrap();
    assert_eq!(code(&run(d.path(), &["EMPTY"])), 3);
    assert_eq!(code(&run(d.path(), &["--require", "star", "MAL"])), 2);
    std::fs::write(d.path().join("ONE"), &good).unwrap();
    assert_eq!(code(&run(d.path(), &["--require", "star", "ONE"])), 3);
    assert_eq!(code(&run(d.path(), &["--require", "plain.txt", "ONE"])), 0);
}

#[test]
fn unreadable_file_is_io_error() {
    let d = tree();
    let good = stdout(&run(d.path(), &["--generate", "plain.txt"]));
    // A directory under the listed name cannot be read as a file.
    std::fs::write(d.path().join("DIR"), good.replace("plain.txt", "sub")).unwrap();
    std::fs::create_dir(d.path().join("sub")).unwrap();
    let o = run(d.path(), &["DIR"]);
    assert_eq!(code(&o), 4);
    assert_eq!(stdout(&o), "sub: FAILED open or read\n");
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
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["status"], "ok");
    assert_eq!(lines[1]["status"], "failed");
    assert_eq!(lines[2]["summary"]["failed"], 1);
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

proptest! {
    #[test]
    fn parser_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512), zero in any::<bool>()) {
        let opts = build_verify::hashlist::ParseOptions { zero_terminated: zero, untagged_512: None };
        let _ = build_verify::hashlist::parse_list(&data, opts);
    }

    #[test]
    fn parser_never_panics_on_near_misses(s in "(\\\\)?(SHA256|sha512|md5|BLAKE2b)? ?\\(?[a-f0-9 *()=\\\\n]{0,80}\\)?( = )?[a-f0-9]{0,130}") {
        let _ = build_verify::hashlist::parse_list(s.as_bytes(), Default::default());
    }
}
