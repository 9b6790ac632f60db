//! The README's two set-up commands, run from a fresh `git clone` of this
//! repository, as CI and a new user run them. Slow (a release build), so
//! ignored by plain `cargo test`; `.ci/run` runs it with `--ignored`.
//!
//! The whole suite is not run again in the clone: CI runs it once, on a
//! fresh clone itself (.ci/run). The clone's `cargo test` is a smoke run: it
//! builds every test target from nothing but committed files (a test
//! compiling in a file that was never committed fails here) and runs the
//! layout tests against the clone's own tests/.

use crate::common;

use common::pkg::sh;
use std::path::Path;
use std::process::Command;

#[test]
#[ignore = "slow: clones the repository and builds release binaries"]
fn commands_work_on_a_fresh_clone() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    assert!(readme.contains("make -f Makefile.example"));
    assert!(readme.contains("cargo test"));

    let tmp = tempfile::tempdir().unwrap();
    let clone = tmp.path().join("build-verify");
    sh(Command::new("git")
        .arg("clone")
        .arg("-q")
        .arg(repo)
        .arg(&clone));
    let target = repo.join("target");
    let out = sh(user("make", &clone, &target)
        .arg("-f")
        .arg("Makefile.example"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The run ends with sign-log verify's summary of the sealed log.
    assert!(stdout.contains("hello.txt"), "{stdout}");
    assert!(clone.join("example-build/out/hello.txt").exists());
    assert!(clone.join("example-build/log/log.jsonl").exists());

    // make builds (the tools are already built: man pages and completions
    // from the clap definitions); make install then copies them, the
    // fragment and the contrib files under DESTDIR.
    sh(&mut user("make", &clone, &target));
    let dest = tmp.path().join("dest");
    sh(user("make", &clone, &target)
        .arg("install")
        .arg("PREFIX=/usr")
        .arg(format!("DESTDIR={}", dest.display())));
    for f in [
        "usr/bin/verify-tag",
        "usr/bin/fetch-verified",
        "usr/bin/check-hashes",
        "usr/bin/sign-log",
        "usr/bin/verify-package",
        "usr/share/man/man1/verify-package.1",
        "usr/share/build-verify/make/build-verify.mk",
        "usr/share/man/man1/sign-log.1",
        "usr/share/bash-completion/completions/check-hashes",
        "usr/share/zsh/site-functions/_fetch-verified",
        "usr/lib/build-verify/qubes.AppendLog",
        "usr/lib/build-verify/qubes-builderv2/download-file",
    ] {
        assert!(dest.join(f).is_file(), "{f} not installed");
    }

    // The README's test command in the clone, as a smoke run (see above).
    let out = sh(user("cargo", &clone, &target).args(["test", "--quiet", "--", "layout::"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let passed: u32 = stdout
        .lines()
        .filter_map(|l| {
            l.strip_prefix("test result: ok. ")?
                .split(' ')
                .next()?
                .parse::<u32>()
                .ok()
        })
        .sum();
    assert!(passed > 0, "no layout test ran in the clone: {stdout}");

    // A second run re-verifies, appends a new session, and still verifies.
    sh(user("make", &clone, &target)
        .arg("-f")
        .arg("Makefile.example"));
}

/// One of the README's commands as a user runs it in the clone, but for the
/// outer build directory, shared so that CI compiles the dependencies once.
fn user(program: &str, clone: &Path, target: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(clone).env("CARGO_TARGET_DIR", target);
    cmd
}
