//! The habits every tool shares (DESIGN.md §2, issue 12): a closed stdout
//! ends a tool quietly with its exit code; an operand that does not exist
//! or is the wrong kind is exit 2; `-q` prints nothing on stderr on
//! success; `--help` ends with the exit codes; bash completions load and
//! complete.

use crate::common;

use common::git::*;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const TOOLS: [&str; 5] = [
    "verify-tag",
    "fetch-verified",
    "check-hashes",
    "sign-log",
    "verify-package",
];

fn bin(tool: &str) -> &'static str {
    match tool {
        "verify-tag" => env!("CARGO_BIN_EXE_verify-tag"),
        "fetch-verified" => env!("CARGO_BIN_EXE_fetch-verified"),
        "check-hashes" => env!("CARGO_BIN_EXE_check-hashes"),
        "sign-log" => env!("CARGO_BIN_EXE_sign-log"),
        "verify-package" => env!("CARGO_BIN_EXE_verify-package"),
        other => panic!("no tool {other}"),
    }
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// One successful run of each tool that prints on stdout, in `dir`.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let key = gen_key("Upstream <u@example.org>");
        write_keyring(&d.join("keys.asc"), &[&key]);
        // verify-tag: a signed tag at HEAD.
        let head = init(&d.join("repo"), false);
        signed_tag(&d.join("repo"), &head, "v1.0", &key);
        // fetch-verified and check-hashes: a signed file and a list.
        std::fs::write(d.join("src.tar"), b"release").unwrap();
        std::fs::write(d.join("src.tar.sig"), sign_detached(&key, b"release")).unwrap();
        std::fs::create_dir(d.join("out")).unwrap();
        let sums = pipe("sha256sum", &["-"], b"release");
        let digest = String::from_utf8(sums).unwrap();
        let digest = digest.split_whitespace().next().unwrap().to_string();
        std::fs::write(d.join("SHA256SUMS"), format!("{digest}  src.tar\n")).unwrap();
        // sign-log: a log of one session.
        let o = run_in(
            d,
            "sign-log",
            &["receive", "--log", "log", "--source", "test", "--name", "t"],
            Some(b"line one\nline two\n"),
        );
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        Fixture { dir }
    }

    fn path(&self, p: &str) -> String {
        self.dir.path().join(p).display().to_string()
    }

    /// A run of each tool naming an operand that does not exist: exit 2.
    fn missing_operands(&self) -> Vec<(&'static str, Vec<String>)> {
        let nope = self.path("no-such-file");
        let keys = self.path("keys.asc");
        vec![
            (
                "verify-tag",
                vec!["--keyring".into(), keys.clone(), nope.clone()],
            ),
            ("check-hashes", vec![nope.clone()]),
            (
                "sign-log",
                vec![
                    "verify".into(),
                    "--log".into(),
                    nope.clone(),
                    "--keyring".into(),
                    keys.clone(),
                ],
            ),
            (
                "verify-package",
                vec!["--keyring".into(), keys, nope.clone()],
            ),
            (
                "fetch-verified",
                vec![
                    "--keyring".into(),
                    nope,
                    format!("file://{}", self.path("src.tar")),
                    self.path("src.tar.sig"),
                ],
            ),
        ]
    }

    /// The arguments of a successful run of `tool` that writes stdout.
    fn good_args(&self, tool: &str) -> Vec<String> {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        match tool {
            "verify-tag" => s(&["--keyring", &self.path("keys.asc"), &self.path("repo")]),
            "fetch-verified" => s(&[
                "--keyring",
                &self.path("keys.asc"),
                &format!("file://{}", self.path("src.tar")),
                &self.path("src.tar.sig"),
                "-o",
                &self.path("out/src.tar"),
            ]),
            "check-hashes" => s(&["-C", &self.path(""), &self.path("SHA256SUMS")]),
            "sign-log" => s(&["cat", "--log", &self.path("log")]),
            "verify-package" => s(&[
                "--keyring",
                data("rpm/RPM-GPG-KEY-rpmfusion-free-fedora-2020")
                    .to_str()
                    .unwrap(),
                data("rpm/rpmfusion-free-release-40-1.noarch.rpm")
                    .to_str()
                    .unwrap(),
            ]),
            other => panic!("{other}"),
        }
    }
}

fn run_in(dir: &Path, tool: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut c = Command::new(bin(tool));
    c.args(args)
        .current_dir(dir)
        .env_remove("CHECK")
        .env_remove("NO_CHECK")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_stdout_ends_each_tool_quietly_with_its_exit_code() {
    let f = Fixture::new();
    for tool in TOOLS {
        let args = f.good_args(tool);
        // Stdout is a pipe whose reader is already gone (`tool | head -c0`):
        // every write fails with EPIPE.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = Command::new(bin(tool))
            .args(&args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{tool}: {err}");
        assert!(!err.contains("panicked"), "{tool}: {err}");
        // The same run with a reader prints something: the test is real.
        let o = Command::new(bin(tool)).args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{tool}: {o:?}");
        assert!(!o.stdout.is_empty(), "{tool} prints on stdout");
        if tool == "fetch-verified" {
            std::fs::remove_file(f.path("out/src.tar")).unwrap();
        }
    }
    // A failing run keeps its code too: check-hashes with a mismatch.
    std::fs::write(f.path("src.tar"), b"tampered").unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = Command::new(bin("check-hashes"))
        .args(f.good_args("check-hashes"))
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
}

#[test]
fn missing_and_wrong_kind_operands_are_usage_errors() {
    let f = Fixture::new();
    let nope = f.path("no-such-file");
    let dir = f.path("out");
    let keys = f.path("keys.asc");
    let mut cases = f.missing_operands();
    cases.extend([
        (
            "verify-tag",
            vec!["--keyring".into(), keys.clone(), keys.clone()],
        ),
        (
            "verify-tag",
            vec!["--keyring".into(), nope.clone(), f.path("repo")],
        ),
        ("check-hashes", vec![dir.clone()]),
        (
            "check-hashes",
            vec!["--sha256".into(), "00".repeat(32), nope.clone()],
        ),
        ("sign-log", vec!["cat".into(), "--log".into(), keys.clone()]),
        (
            "verify-package",
            vec!["--keyring".into(), nope.clone(), keys.clone()],
        ),
    ]);
    for (tool, args) in cases {
        let o = Command::new(bin(tool))
            .args(&args)
            .current_dir(f.dir.path())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{tool} {args:?}: {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{tool} {args:?}: one line: {err}");
    }
    // Nothing was fetched by the refused run.
    assert!(std::fs::read_dir(f.path("out")).unwrap().next().is_none());
}

#[test]
fn quiet_runs_print_nothing_on_stderr() {
    let f = Fixture::new();
    for tool in TOOLS {
        let mut args = f.good_args(tool);
        // sign-log's -q is global: after the subcommand too.
        args.push("-q".into());
        let o = Command::new(bin(tool)).args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{tool}: {o:?}");
        assert_eq!(String::from_utf8_lossy(&o.stderr), "", "{tool} -q");
        if tool == "fetch-verified" {
            std::fs::remove_file(f.path("out/src.tar")).unwrap();
        }
    }
}

#[test]
fn help_ends_with_the_exit_codes() {
    for tool in TOOLS {
        let o = Command::new(bin(tool)).arg("--help").output().unwrap();
        assert_eq!(o.status.code(), Some(0));
        let text = String::from_utf8_lossy(&o.stdout);
        let tail: Vec<&str> = text.trim_end().lines().rev().take(5).collect();
        assert!(tail[0].trim_start().starts_with("4 "), "{tool}: {text}");
        assert!(text.contains("Exit codes:"), "{tool}");
    }
}

/// Every tool's man pages and completions, generated into a new directory.
fn gen_docs() -> tempfile::TempDir {
    let docs = tempfile::tempdir().unwrap();
    for tool in TOOLS {
        let o = Command::new(bin(tool))
            .env("BUILD_VERIFY_GEN_DOCS", docs.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{tool}: {o:?}");
    }
    docs
}

#[test]
fn bash_completions_load_and_complete() {
    if !have("bash") {
        return;
    }
    let docs = gen_docs();
    let comp = docs.path().join("bash-completion/completions");
    // Complete "TOOL --" and, for sign-log, the subcommands and
    // verify-tag's --check values.
    let script = format!(
        r#"set -e
for t in {tools}; do source "{comp}/$t"; complete -p "$t" >/dev/null; done
words() {{ COMP_WORDS=("$@"); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); COMP_LINE="$*"; COMP_POINT=${{#COMP_LINE}}; COMPREPLY=(); f=$(complete -p "$1" | sed 's/.*-F \([^ ]*\).*/\1/'); "$f" "$1" "${{COMP_WORDS[-1]}}" "${{COMP_WORDS[-2]}}"; printf '%s\n' "${{COMPREPLY[@]}}"; }}
echo "== fetch"; words fetch-verified --key
echo "== check"; words check-hashes --st
echo "== sign"; words sign-log se
echo "== vt"; words verify-tag --check ''
echo "== pkg"; words verify-package --rel
"#,
        tools = TOOLS.join(" "),
        comp = comp.display()
    );
    let o = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for want in [
        "--keyring",
        "--strict",
        "seal",
        "signed-tag-or-commit",
        "--release",
    ] {
        assert!(out.contains(want), "no completion {want}: {out}");
    }
    assert!(!out.contains("insecure-no-check"), "{out}");
}

/// The commands and subcommands whose help shows examples.
fn help_pages() -> Vec<Vec<&'static str>> {
    let mut pages: Vec<Vec<&str>> = TOOLS.iter().map(|t| vec![*t]).collect();
    pages.push(vec!["sign-log", "gate"]);
    pages.push(vec!["sign-log", "publish"]);
    pages.push(vec!["sign-log", "monitor"]);
    pages.push(vec!["sign-log", "submit"]);
    pages.push(vec!["sign-log", "witness"]);
    pages.push(vec!["sign-log", "verify-proof"]);
    pages
}

#[test]
fn examples_are_verbatim_in_help_and_man_pages() {
    // In --help on an 80-column terminal, every example line is a command
    // or the continuation of one ending in `\`: never wrapped by clap.
    for page in help_pages() {
        let o = Command::new(bin(page[0]))
            .args(&page[1..])
            .arg("--help")
            .env("COLUMNS", "80")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        let Some((_, examples)) = text.split_once("Examples:\n") else {
            continue;
        };
        let block = examples.split("\n\n").next().unwrap();
        let mut continued = false;
        for line in block.lines() {
            assert!(line.chars().count() <= 80, "{page:?}: {line:?}");
            if !continued {
                assert!(
                    line.starts_with("  ") && !line.starts_with("   "),
                    "{page:?}: a wrapped example line {line:?}"
                );
            }
            continued = line.ends_with('\\');
        }
        assert!(
            !continued,
            "{page:?}: the last example ends with a continuation"
        );
    }
    // In the man pages, examples and the exit codes are in no-fill blocks.
    let docs = gen_docs();
    for tool in TOOLS {
        let page = std::fs::read_to_string(docs.path().join(format!("man1/{tool}.1"))).unwrap();
        for section in [".SH EXAMPLES\n.nf\n", ".SH \"EXIT STATUS\"\n.nf\n"] {
            let alt = section.replace("\"EXIT STATUS\"", "EXIT STATUS");
            assert!(
                page.contains(section) || page.contains(&alt),
                "{tool}: {section:?} in {page}"
            );
        }
        let examples = page.split(".SH EXAMPLES\n.nf\n").nth(1).unwrap();
        let examples = examples.split("\n.fi\n").next().unwrap();
        assert!(
            examples.contains(&format!("  {}", tool.replace('-', "\\-"))),
            "{tool}: {examples}"
        );
    }
    assert!(docs.path().join("man1/sign-log-gate.1").is_file());
}

/// The JSON lines a run printed, each parsed (a line that is not JSON fails).
fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

#[test]
fn json_is_printed_on_success_and_on_failure() {
    let f = Fixture::new();
    // Success: every tool's objects carry status "ok" (sign-log verify's
    // success needs a seal: its failure is below).
    for tool in TOOLS.iter().filter(|t| **t != "sign-log") {
        let mut args = f.good_args(tool);
        args.push("--json".into());
        let o = Command::new(bin(tool)).args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{tool}: {o:?}");
        let v = json_lines(&o);
        assert!(
            v.iter().any(|x| x["status"] == "ok"),
            "{tool}: no status ok in {v:?}"
        );
        assert!(v.iter().all(|x| x["status"] != "failed"), "{tool}: {v:?}");
        if *tool == "fetch-verified" {
            std::fs::remove_file(f.path("out/src.tar")).unwrap();
        }
    }
    // A failed run, of the whole run (a missing operand, exit 2) or of a
    // check (a tampered file, exit 1; a log never sealed, 3), is an object too: status "failed",
    // the exit code the process returns, and the reason.
    std::fs::write(f.path("bad.tar"), b"tampered").unwrap();
    let keys = f.path("keys.asc");
    let mut cases: Vec<(&str, Vec<String>, i32)> = f
        .missing_operands()
        .into_iter()
        .map(|(tool, args)| (tool, args, 2))
        .collect();
    cases.extend([
        (
            "check-hashes",
            vec![
                "--keyring".into(),
                keys.clone(),
                "--signature".into(),
                f.path("src.tar.sig"),
                f.path("bad.tar"),
            ],
            1,
        ),
        (
            "verify-package",
            vec![
                "--keyring".into(),
                keys.clone(),
                data("rpm/rpmfusion-free-release-40-1.noarch.rpm")
                    .display()
                    .to_string(),
            ],
            1,
        ),
        (
            "fetch-verified",
            vec![
                "--keyring".into(),
                keys.clone(),
                format!("file://{}", f.path("bad.tar")),
                f.path("src.tar.sig"),
                "-o".into(),
                f.path("out/bad.tar"),
            ],
            1,
        ),
        (
            "sign-log",
            vec![
                "verify".into(),
                "--log".into(),
                f.path("log"),
                "--keyring".into(),
                keys.clone(),
                "--require-sealed".into(),
            ],
            3,
        ),
    ]);
    for (tool, mut args, code) in cases {
        args.push("--json".into());
        let o = Command::new(bin(tool))
            .args(&args)
            .current_dir(f.dir.path())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(code), "{tool} {args:?}: {o:?}");
        let v = json_lines(&o);
        let failed: Vec<_> = v.iter().filter(|x| x["status"] == "failed").collect();
        assert!(
            !failed.is_empty(),
            "{tool} {args:?}: no failed object in {v:?}"
        );
        for x in &failed {
            if let Some(exit) = x.get("exit") {
                assert_eq!(exit, code, "{tool} {args:?}: {x}");
            }
            assert!(
                x["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "{tool}: {x}"
            );
        }
        assert!(
            v.iter()
                .any(|x| x["exit"] == code || x["summary"]["exit"] == code),
            "{tool} {args:?}: the exit code is in no object: {v:?}"
        );
    }
    // No refused download left anything.
    assert!(std::fs::read_dir(f.path("out")).unwrap().next().is_none());
}
