//! The network failing (issue 14's fault matrix): statuses, encodings and
//! framing, transient failures retried, bad mirrors skipped, deadlines, a
//! killed download and its rerun.

use super::*;

#[test]
fn transport_faults_leave_nothing() {
    let e = setup();
    let sig = sign_detached(&e.key, &e.data);
    let sig_url = e.server.route("/x.sig", Reply::Body(sig));
    let k = e.keyring();
    let cases: Vec<(&str, Reply, Vec<&str>, i32)> = vec![
        ("/flip", Reply::Flipped(e.data.clone(), 4321), vec![], 1),
        ("/trunc", Reply::Truncated(e.data.clone(), 5000), vec![], 4),
        ("/stall", Reply::Stall(e.data.clone(), 5000), vec![], 4),
        ("/endless", Reply::Endless, vec!["--max-size", "1000000"], 1),
        (
            "/toolong",
            Reply::Length(e.data.clone(), 1 << 40),
            vec![],
            1,
        ),
        ("/short", Reply::Length(e.data.clone(), 1000), vec![], 1),
        ("/missing", Reply::Status(404), vec![], 4),
        ("/error", Reply::Status(500), vec![], 4),
    ];
    for (path, reply, extra, want) in cases {
        let url = e.server.route(path, reply);
        let mut args = vec!["--keyring", k, "-o", "f.tar"];
        args.extend(extra);
        args.push(&url);
        args.push(&sig_url);
        let o = e.run(&args);
        assert_eq!(code(&o), want, "{path}: {}", stderr(&o));
        assert_nothing_left(&e, &o, want);
    }
}

#[test]
fn transient_failure_then_success_is_retried() {
    let e = setup();
    let h = hex::encode(sha2_256(&e.data));
    let url = e
        .server
        .route("/flaky", Reply::FailThen(503, 1, e.data.clone()));
    let o = Command::new(BIN)
        .args(["--allow-http", "--retries", "2", "--sha256", &h, "-o"])
        .arg(e.dir.path().join("flaky"))
        .arg(&url)
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(e.server.hits("/flaky"), 2);
}

#[test]
fn a_bad_mirror_is_skipped() {
    let e = setup();
    let h = hex::encode(sha2_256(&e.data));
    e.server
        .route("/mirror/m.tar", Reply::Flipped(e.data.clone(), 7));
    let url = e.server.route("/up/m.tar", Reply::Body(e.data.clone()));
    let o = e.run(&["--sha256", &h, "--mirror", &e.server.url("/mirror"), &url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        (e.server.hits("/mirror/m.tar"), e.server.hits("/up/m.tar")),
        (1, 1)
    );
    assert!(stderr(&o).contains("mirror"), "{}", stderr(&o));
    // DISTFILES_MIRROR works the same way and is tried first.
    std::fs::remove_file(e.out().join("m.tar")).unwrap();
    e.server
        .route("/good-mirror/m.tar", Reply::Body(e.data.clone()));
    let o = Command::new(BIN)
        .args(["--allow-http", "--sha256", &h, &url])
        .current_dir(e.out())
        .env("DISTFILES_MIRROR", e.server.url("/good-mirror"))
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        (
            e.server.hits("/good-mirror/m.tar"),
            e.server.hits("/up/m.tar")
        ),
        (1, 1)
    );
}

#[test]
fn deadline_retries_file_urls_and_permissions() {
    let e = setup();
    let h = sha256_hex(&e.data);
    // A server that never stalls long enough for the read timeout is
    // stopped by the total deadline.
    let drip = e.server.route(
        "/drip.tar",
        Reply::Drip(std::time::Duration::from_millis(200)),
    );
    let o = e.run_env(
        &[
            "--allow-http",
            "--retries",
            "0",
            "--read-timeout",
            "5",
            "--deadline",
            "2",
        ],
        &["--sha256", &h, &drip],
        &[],
    );
    assert_nothing_left(&e, &o, 4);
    // A 404 is not transient: one request despite --retries.
    let gone = e.server.route("/gone.tar", Reply::Status(404));
    let o = e.run_env(
        &["--allow-http", "--retries", "3"],
        &["--sha256", &h, &gone],
        &[],
    );
    assert_nothing_left(&e, &o, 4);
    assert_eq!(e.server.hits("/gone.tar"), 1);
    // file:// as URL and as mirror base; the verified file gets the umask
    // mode, not the 0600 of its untrusted state.
    let src = e.dir.path().join("srv");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f.tar"), &e.data).unwrap();
    let file_url = format!("file://{}/f.tar", src.display());
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("umask 027 && exec {BIN} --sha256 {h} {file_url}"))
        .current_dir(e.out())
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(e.out().join("f.tar"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    std::fs::remove_file(e.out().join("f.tar")).unwrap();
    let mirror = format!("file://{}", src.display());
    let up = e.server.route("/up/f.tar", Reply::Status(500));
    let o = e.run(&["--mirror", &mirror, "--sha256", &h, &up]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(e.server.hits("/up/f.tar"), 0);
    // -o naming a directory is a usage error, not a download into it.
    std::fs::create_dir(e.out().join("sub")).unwrap();
    let o = e.run(&["-o", "sub", "--sha256", &h, &up]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}

fn raw_response(head: &str, body: &[u8]) -> Reply {
    Reply::Raw([head.as_bytes(), body].concat())
}

/// `data` as HTTP/1.1 chunks of 4096 bytes, then `end`.
fn chunked(data: &[u8], end: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in data.chunks(4096) {
        out.extend(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend(c);
        out.extend(b"\r\n");
    }
    out.extend(end);
    out
}

#[test]
fn fault_matrix_statuses_encodings_and_framing() {
    let e = setup();
    let sig = sign_detached(&e.key, &e.data);
    let sig_url = e.server.route("/x.sig", Reply::Body(sig));
    let k = e.keyring();
    let gz = compress("gzip", &e.data);
    let te = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let ce = |len: usize| {
        format!("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
    };
    let mut flipped = e.data.clone();
    flipped[100] ^= 1;
    let cases: Vec<(&str, Reply, i32)> = vec![
        ("/410", Reply::Status(410), 4),
        ("/503", Reply::Status(503), 4),
        // Content-Encoding is not undone (curl without --compressed): a
        // server labelling a .tar.gz so still gives the file's bytes...
        ("/ce-label", raw_response(&ce(e.data.len()), &e.data), 0),
        // ...and a body compressed on the way is not the signed file.
        ("/ce-gzip", raw_response(&ce(gz.len()), &gz), 1),
        ("/chunked", raw_response(te, &chunked(&e.data, b"0\r\n\r\n")), 0),
        (
            "/chunked-flip",
            raw_response(te, &chunked(&flipped, b"0\r\n\r\n")),
            1,
        ),
        // Cut off before the last chunk: the network's fault, retryable.
        (
            "/chunked-cut",
            raw_response(te, &chunked(&e.data[..50_000], b"1000\r\nabc")),
            4,
        ),
        (
            "/chunked-nolast",
            raw_response(te, &chunked(&e.data, b"")),
            4,
        ),
        ("/chunked-bad-size", raw_response(te, b"zz\r\nabc\r\n0\r\n\r\n"), 4),
        (
            "/chunked-huge-size",
            raw_response(te, b"ffffffffffffffffffff\r\nabc\r\n"),
            4,
        ),
        // Both a length and chunks (request-smuggling shape): never a pass
        // on bytes outside what was verified.
        (
            "/cl-and-te",
            raw_response(
                "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                &chunked(&e.data, b"0\r\n\r\n"),
            ),
            0,
        ),
        ("/garbage-status", Reply::Raw(b"HTTP/1.1 abc\r\n\r\n".to_vec()), 4),
        ("/no-response", Reply::Raw(Vec::new()), 4),
    ];
    for (path, reply, want) in cases {
        let url = e.server.route(path, reply);
        let o = e.run_bounded(&["--keyring", k, "-o", "f.tar", &url, &sig_url]);
        if want == 0 {
            assert_eq!(code(&o), 0, "{path}: {}", stderr(&o));
            assert_eq!(
                std::fs::read(e.out().join("f.tar")).unwrap(),
                e.data,
                "{path}"
            );
            std::fs::remove_file(e.out().join("f.tar")).unwrap();
        } else {
            assert_eq!(code(&o), want, "{path}: {}", stderr(&o));
            assert_nothing_left(&e, &o, want);
        }
    }
}

#[test]
fn a_killed_download_then_a_rerun() {
    let e = setup();
    let h = sha256_hex(&e.data);
    let url = e.server.route(
        "/k.tar",
        Reply::Slow(e.data.clone(), std::time::Duration::from_millis(300)),
    );
    let mut first = e.spawn(&h, &url);
    wait_until("never started", || {
        std::fs::metadata(e.out().join("k.tar.UNTRUSTED")).map_or(0, |m| m.len()) > 0
    });
    first.kill().unwrap(); // SIGKILL: no cleanup runs
    first.wait().unwrap();
    assert_eq!(
        listing(&e.out()),
        vec!["k.tar.UNTRUSTED"],
        "only the untrusted name"
    );
    let fast = e.server.route("/k2/k.tar", Reply::Body(e.data.clone()));
    let o = e.run(&["--sha256", &h, &fast]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("removed stale"), "{}", stderr(&o));
    assert_eq!(listing(&e.out()), vec!["k.tar"]);
    assert_eq!(std::fs::read(e.out().join("k.tar")).unwrap(), e.data);
}
