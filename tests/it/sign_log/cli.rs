//! The daily path (issue 12): mistyped log directories, special files, the
//! small subcommands, man pages and completions, a library that never prints.

use super::*;

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
