//! The command line: refusals before any request, sizes, --quiet, progress
//! bars on a terminal, mixed inputs, --help.

use super::*;

#[test]
fn refusals_before_any_request() {
    let e = setup();
    let url = e.server.route("/a.tar", Reply::Body(e.data.clone()));
    // Nothing to verify with.
    let o = e.run(&[&url]);
    assert_nothing_left(&e, &o, 3);
    // Plain http without --allow-http.
    std::fs::create_dir_all(e.out()).unwrap();
    let o = Command::new(BIN)
        .args(["--sha256", &"0".repeat(64), &url])
        .current_dir(e.out())
        .output()
        .unwrap();
    assert_nothing_left(&e, &o, 2);
    assert_eq!(e.server.hits("/a.tar"), 0);
    // An empty keyring is a configuration error, never "nothing trusted".
    let empty = e.dir.path().join("empty.asc");
    std::fs::write(&empty, "").unwrap();
    let o = e.run(&["--keyring", empty.to_str().unwrap(), &url, &url]);
    assert_nothing_left(&e, &o, 2);
}

#[test]
fn help_ends_with_exit_codes() {
    let o = Command::new(BIN).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout)
        .trim_end()
        .ends_with("permission"));
}

#[test]
fn sizes_take_suffixes() {
    let e = setup();
    let h = sha256_hex(&e.data);
    let url = e.server.route("/sz.tar", Reply::Body(e.data.clone()));
    let o = e.run(&["--max-size", "512K", "--sha256", &h, &url]);
    assert_nothing_left(&e, &o, 1);
    assert!(stderr(&o).contains("524288"), "{}", stderr(&o));
    for bad in ["1X", "1.5M", "-1"] {
        let o = e.run(&["--max-size", bad, "--sha256", &h, &url]);
        assert_nothing_left(&e, &o, 2);
    }
    let o = e.run(&[
        "--max-size",
        "1M",
        "--max-uncompressed-size",
        "8G",
        "--sha256",
        &h,
        &url,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn quiet_is_silent_on_success_and_tells_all_on_failure() {
    let e = setup();
    let h = sha256_hex(&e.data);
    e.server
        .route("/qm/q.tar", Reply::Flipped(e.data.clone(), 9));
    let url = e.server.route("/q.tar", Reply::Body(e.data.clone()));
    let mirror = e.server.url("/qm");
    std::fs::create_dir_all(e.out()).unwrap();
    std::fs::write(e.out().join("q.tar.UNTRUSTED"), b"stale").unwrap();
    // A skipped mirror, a stale file removed: all quiet when it ends well.
    let o = e.run(&["-q", "--mirror", &mirror, "--sha256", &h, &url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    let o = e.run(&["--quiet", "--sha256", &h, &url]);
    assert_eq!((code(&o), stderr(&o)), (0, String::new()));
    std::fs::remove_file(e.out().join("q.tar")).unwrap();
    // When it fails, what happened on the way comes before the error.
    let o = e.run(&[
        "-q",
        "--mirror",
        &mirror,
        "--sha256",
        &h,
        &e.server.url("/nope.tar"),
    ]);
    assert_nothing_left(&e, &o, 4);
    let err = stderr(&o);
    assert!(err.contains("trying the next source"), "{err}");
    assert!(err.contains("not fetched"), "{err}");
}

/// The tool's output on a pseudo-terminal (util-linux `script`), with
/// `env`: what a user at a terminal sees.
fn on_terminal(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Option<String> {
    if !oracle("script") {
        return None;
    }
    let cmd = std::iter::once(BIN)
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut c = Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"])
        .current_dir(dir)
        .env_remove("MAKEFLAGS")
        .env("TERM", "xterm");
    for var in PROXY_VARS {
        c.env_remove(var);
    }
    let o = run_bounded(c.envs(env.iter().copied()), 30);
    Some(String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn progress_bars_name_the_file_clear_themselves_and_stay_out_of_make_j() {
    let e = setup();
    let h = sha256_hex(&e.data);
    let url = e.server.route(
        "/bar.tar",
        Reply::Slow(e.data.clone(), std::time::Duration::from_millis(80)),
    );
    std::fs::create_dir_all(e.out()).unwrap();
    let args = ["--allow-http", "--sha256", &h, &url];
    let Some(tty) = on_terminal(&e.out(), &args, &[]) else {
        return;
    };
    assert!(tty.contains("fetching bar.tar"), "{tty:?}");
    // Cleared: the last thing before the final note erases the line.
    let note = tty.rfind("fetch-verified: bar.tar: fetched").unwrap();
    assert!(
        tty[..note].contains("\x1b[2K") || tty[..note].contains("\x1b[K"),
        "{tty:?}"
    );
    std::fs::remove_file(e.out().join("bar.tar")).unwrap();
    // Under make -j (a jobserver in MAKEFLAGS): no bar, only whole lines.
    let tty = on_terminal(
        &e.out(),
        &args,
        &[("MAKEFLAGS", " -j4 --jobserver-auth=fifo:/x")],
    )
    .unwrap();
    assert!(!tty.contains("fetching bar.tar"), "{tty:?}");
    assert!(!tty.contains('\x1b'), "{tty:?}");
    // Re-verifying a large present file shows one too; a small one not.
    let big: Vec<u8> = (0..40u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(e.out().join("big.bin"), &big).unwrap();
    let bh = sha256_hex(&big);
    let never = e.server.url("/never/big.bin");
    let tty = on_terminal(&e.out(), &["--allow-http", "--sha256", &bh, &never], &[]).unwrap();
    assert!(tty.contains("re-verifying big.bin"), "{tty:?}");
    assert!(tty.contains("present, re-verified"), "{tty:?}");
    let tty = on_terminal(&e.out(), &args, &[]).unwrap();
    assert!(!tty.contains("re-verifying"), "{tty:?}");
}

#[test]
fn mixed_inputs_schemes_hosts_and_names() {
    let e = setup();
    let h = sha256_hex(&e.data);
    // HTTPS:// and HTTP:// in upper case, as curl reads them.
    let ca = TestCa::new();
    let tls = Server::start_tls(&ca);
    let url = tls.route("/up.tar", Reply::Body(e.data.clone()));
    let upper = url.replacen("https://", "HTTPS://", 1);
    let o = e.run_env(
        &["--retries", "0"],
        &[
            "--ca-file",
            ca.ca_pem.to_str().unwrap(),
            "--sha256",
            &h,
            &upper,
        ],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(listing(&e.out()), vec!["up.tar"]);
    std::fs::remove_file(e.out().join("up.tar")).unwrap();
    let plain = e.server.route("/pl.tar", Reply::Body(e.data.clone()));
    let o = e.run(&["--sha256", &h, &plain.replacen("http://", "Http://", 1)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    std::fs::remove_file(e.out().join("pl.tar")).unwrap();
    // file://host/path is refused (curl: only localhost), never read as
    // the relative path host/path; file://localhost/path works.
    let src = e.dir.path().join("loc.tar");
    std::fs::write(&src, &e.data).unwrap();
    std::fs::create_dir_all(
        e.out()
            .join("host")
            .join(src.parent().unwrap().strip_prefix("/").unwrap()),
    )
    .unwrap();
    let o = e.run(&[
        "--sha256",
        &h,
        "-o",
        "l.tar",
        &format!("file://host{}", src.display()),
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    std::fs::remove_dir_all(e.out().join("host")).unwrap();
    assert_eq!(listing(&e.out()), Vec::<String>::new());
    let o = e.run(&[
        "--sha256",
        &h,
        "-o",
        "l.tar",
        &format!("file://localhost{}", src.display()),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    std::fs::remove_file(e.out().join("l.tar")).unwrap();
    // A #/ name with control characters: refused before any request.
    for frag in ["a\nb.tar", "a\x1b[2Jb.tar", "a\rb"] {
        let u = format!("{plain}#/{frag}");
        let o = e.run(&["--sha256", &h, &u]);
        assert_nothing_left(&e, &o, 2);
        assert!(stderr(&o).contains("control characters"), "{}", stderr(&o));
    }
    assert_eq!(e.server.hits("/pl.tar"), 1);
}
