//! HTTPS and its certificates, redirects, and proxies (HTTP, SOCKS5h,
//! NO_PROXY).

use super::*;

#[test]
fn https_and_redirect_policy() {
    let e = setup();
    let ca = TestCa::new();
    let tls = Server::start_tls(&ca);
    let h = sha256_hex(&e.data);
    let ca_file = ca.ca_pem.to_str().unwrap();
    let url = tls.route("/t.tar", Reply::Body(e.data.clone()));
    let strict = ["--retries", "0"];
    // Trusted through --ca-file (on top of the system store).
    let o = e.run_env(&strict, &["--ca-file", ca_file, "--sha256", &h, &url], &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(listing(&e.out()), vec!["t.tar"]);
    std::fs::remove_file(e.out().join("t.tar")).unwrap();
    // Unknown CA: the server's identity fails verification, exit 1, never
    // retried.
    let o = e.run_env(&["--retries", "2"], &["--sha256", &h, &url], &[]);
    assert_nothing_left(&e, &o, 1);
    assert!(!stderr(&o).contains("retrying"), "{}", stderr(&o));
    assert_eq!(
        tls.hits("/t.tar"),
        1,
        "no request without a trusted certificate"
    );
    // A relative https -> https redirect is followed.
    let r = tls.route("/r/t.tar", Reply::Redirect("../t.tar".into()));
    let o = e.run_env(
        &strict,
        &["--ca-file", ca_file, "--sha256", &h, "-o", "t.tar", &r],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(tls.hits("/t.tar"), 2);
    std::fs::remove_file(e.out().join("t.tar")).unwrap();
    // https -> http is a downgrade: refused (exit 1) even with --allow-http,
    // and the plain-http URL is never requested.
    let plain = e.server.route("/down/t.tar", Reply::Body(e.data.clone()));
    let down = tls.route("/down/t.tar", Reply::Redirect(plain));
    for extra in [&[][..], &["--allow-http"][..]] {
        let mut args = vec!["--ca-file", ca_file, "--sha256", &h];
        args.extend(extra);
        args.push(&down);
        let o = e.run_env(&strict, &args, &[]);
        assert_nothing_left(&e, &o, 1);
        assert!(stderr(&o).contains("refused"), "{}", stderr(&o));
    }
    assert_eq!(e.server.hits("/down/t.tar"), 0);
    // Plain http is refused up front without --allow-http (exit 2), and
    // http -> http redirects work with it; a redirect loop is exit 4.
    let o = e.run_env(
        &strict,
        &["--sha256", &h, &e.server.url("/down/t.tar")],
        &[],
    );
    assert_nothing_left(&e, &o, 2);
    let hop = e
        .server
        .route("/hop/t.tar", Reply::Redirect("/down/t.tar".into()));
    let o = e.run(&["--sha256", &h, &hop]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    std::fs::remove_file(e.out().join("t.tar")).unwrap();
    let lp = e
        .server
        .route("/loop/t.tar", Reply::Redirect("/loop/t.tar".into()));
    let o = e.run(&["--sha256", &h, &lp]);
    assert_nothing_left(&e, &o, 4);
}

#[test]
fn proxies_http_socks5h_and_no_proxy() {
    let e = setup();
    let h = sha256_hex(&e.data);
    e.server.route("/p/d.tar", Reply::Body(e.data.clone()));
    // --proxy: the request names a host only the proxy knows.
    let proxy = format!("http://127.0.0.1:{}", e.server.port);
    let o = e.run(&[
        "--proxy",
        &proxy,
        "--sha256",
        &h,
        "http://distfiles.invalid/p/d.tar",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(e.server.proxied(), vec!["distfiles.invalid"]);
    std::fs::remove_file(e.out().join("d.tar")).unwrap();

    // ALL_PROXY=socks5h:// (Tor): the name is resolved by the proxy, and
    // TLS still checks the certificate against that name.
    let ca = TestCa::new();
    let tls = Server::start_tls(&ca);
    tls.route("/d.tar", Reply::Body(e.data.clone()));
    let socks = Socks5::start();
    let url = format!("https://distfiles.invalid:{}/d.tar", tls.port);
    let all = socks.url("socks5h");
    let ca_file = ca.ca_pem.to_str().unwrap();
    let args = ["--ca-file", ca_file, "--sha256", &h, &url];
    let o = e.run_env(&["--retries", "0"], &args, &[("ALL_PROXY", &all)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        socks.targets(),
        vec![format!("distfiles.invalid:{}", tls.port)]
    );
    std::fs::remove_file(e.out().join("d.tar")).unwrap();

    // NO_PROXY: a listed host goes direct; an unlisted one goes through
    // the proxy (which is dead here: exit 4, nothing left).
    let direct = e.server.url("/p/d.tar");
    let dead = [("ALL_PROXY", "socks5h://127.0.0.1:1")];
    let o = e.run_env(
        &["--allow-http", "--retries", "0"],
        &["--sha256", &h, &direct],
        &dead,
    );
    assert_nothing_left(&e, &o, 4);
    let with_no = [dead[0], ("NO_PROXY", "localhost,127.0.0.1")];
    let o = e.run_env(
        &["--allow-http", "--retries", "0"],
        &["--sha256", &h, &direct],
        &with_no,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // An explicit --proxy (Tor) carries every request: NO_PROXY cannot
    // route around it (a dead proxy: exit 4, nothing left).
    std::fs::remove_file(e.out().join("d.tar")).unwrap();
    let o = e.run_env(
        &["--allow-http", "--retries", "0", "--proxy", dead[0].1],
        &["--sha256", &h, &direct],
        &[with_no[1]],
    );
    assert_nothing_left(&e, &o, 4);
    // https_proxy does not apply to http URLs (curl's rule).
    let o = e.run_env(
        &["--allow-http", "--retries", "0"],
        &["--sha256", &h, &direct],
        &[("https_proxy", "socks5h://127.0.0.1:1")],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn redirects_to_other_schemes_are_refused() {
    let e = setup();
    let h = sha256_hex(&e.data);
    for (path, to) in [
        ("/to-file", "file:///etc/passwd".to_string()),
        ("/to-file-upper", "FILE:///etc/passwd".to_string()),
        ("/to-ftp", "ftp://127.0.0.1/x.tar".to_string()),
        ("/to-data", "data:text/plain,x".to_string()),
    ] {
        let url = e.server.route(path, Reply::Redirect(to.clone()));
        let o = e.run(&["--sha256", &h, "-o", "r.tar", &url]);
        assert_nothing_left(&e, &o, 1);
        assert!(stderr(&o).contains("refused"), "{to}: {}", stderr(&o));
    }
    // A relative Location holding "://" is a path on the same server.
    let target = "/land?from=http://elsewhere.invalid/x.tar";
    e.server.route(target, Reply::Body(e.data.clone()));
    let url = e.server.route("/rel", Reply::Redirect(target.into()));
    let o = e.run(&["--sha256", &h, "-o", "r.tar", &url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(e.server.hits(target), 1);
    assert_eq!(listing(&e.out()), vec!["r.tar"]);
}

#[test]
fn self_signed_certificates_as_with_curl_cacert() {
    let e = setup();
    let h = sha256_hex(&e.data);
    let curl = oracle("curl");
    for leaf in [true, false] {
        let ca = TestCa::self_signed(leaf);
        let tls = Server::start_tls(&ca);
        let url = tls.route("/ss.tar", Reply::Body(e.data.clone()));
        let ca_file = ca.ca_pem.to_str().unwrap();
        let before = tls.hits("/ss.tar");
        let o = e.run_env(
            &["--retries", "2"],
            &["--ca-file", ca_file, "--sha256", &h, &url],
            &[],
        );
        let mine = tls.hits("/ss.tar");
        if curl {
            let c = Command::new("curl")
                .args(["-sS", "-o", "/dev/null", "--cacert", ca_file, &url])
                .output()
                .unwrap();
            assert!(c.status.success(), "curl --cacert: {}", stderr(&c));
        }
        if leaf {
            assert_eq!(code(&o), 0, "{}", stderr(&o));
            assert_eq!(listing(&e.out()), vec!["ss.tar"]);
            std::fs::remove_file(e.out().join("ss.tar")).unwrap();
        } else {
            // curl takes a CA certificate as its own server's; rustls does
            // not, and the error says so and what to do.
            assert_nothing_left(&e, &o, 1);
            let err = stderr(&o);
            assert!(err.contains("CA:TRUE") && err.contains("CA:FALSE"), "{err}");
            // A certificate failure is not retried (no request at all).
            assert_eq!(mine, before);
        }
        // Without --ca-file: not trusted, never retried.
        let before = tls.hits("/ss.tar");
        let o = e.run_env(&["--retries", "2"], &["--sha256", &h, &url], &[]);
        assert_nothing_left(&e, &o, 1);
        assert!(!stderr(&o).contains("retrying"), "{}", stderr(&o));
        assert_eq!(tls.hits("/ss.tar"), before);
        assert!(stderr(&o).contains("certificate"), "{}", stderr(&o));
    }
}

#[test]
fn proxy_failures_name_the_proxy() {
    let e = setup();
    let h = sha256_hex(&e.data);
    let url = e.server.route("/px.tar", Reply::Body(e.data.clone()));
    let port = closed_port();
    let proxy = format!("http://user:secret@127.0.0.1:{port}");
    let o = e.run(&["--proxy", &proxy, "--sha256", &h, &url]);
    assert_nothing_left(&e, &o, 4);
    let err = stderr(&o);
    assert!(
        err.contains(&format!("through proxy http://127.0.0.1:{port}")),
        "{err}"
    );
    assert!(!err.contains("secret"), "credentials shown: {err}");
    let all = format!("socks5h://127.0.0.1:{port}");
    let o = e.run_env(
        &["--allow-http", "--retries", "0"],
        &["--sha256", &h, &url],
        &[("ALL_PROXY", &all)],
    );
    assert_nothing_left(&e, &o, 4);
    assert!(
        stderr(&o).contains(&format!("through proxy {all}")),
        "{}",
        stderr(&o)
    );
}
