//! Signatures over uncompressed content: --decompress stores the verified
//! content; tampering, bombs and cut-off streams leave nothing.

use super::*;

#[test]
fn signatures_over_uncompressed_content() {
    let e = setup();
    let sig = sign_detached(&e.key, &e.data);
    let sig_path = e.dir.path().join("x.tar.sign");
    std::fs::write(&sig_path, armor_sig(&sig)).unwrap();
    for (prog, ext) in [("xz", "xz"), ("gzip", "gz"), ("bzip2", "bz2")] {
        let packed = compress(prog, &e.data);
        let name = format!("x.tar.{ext}");
        let fetch_as_name = |url: &str| e.run_uncompress(&["-o", &name], url, &sig_path);
        let url = e
            .server
            .route(&format!("/{name}"), Reply::Body(packed.clone()));
        let o = e.run_uncompress(&[], &url, &sig_path);
        assert_eq!(code(&o), 0, "{ext}: {}", stderr(&o));
        // The compressed file is what is kept.
        assert_eq!(std::fs::read(e.out().join(&name)).unwrap(), packed);
        std::fs::remove_file(e.out().join(&name)).unwrap();
        // Without --uncompress the signature does not cover these bytes.
        let o = e.run(&["--keyring", e.keyring(), &url, sig_path.to_str().unwrap()]);
        assert_nothing_left(&e, &o, 1);
        // A truncated stream is a failure, not a shorter valid input.
        let cut = e.server.route(
            &format!("/cut/{name}"),
            Reply::Body(packed[..packed.len() * 2 / 3].to_vec()),
        );
        assert_nothing_left(&e, &fetch_as_name(&cut), 1);
        // Trailing bytes after the stream are not covered: refused.
        let mut tail = packed.clone();
        tail.extend_from_slice(b"GARBAGE");
        let t = e.server.route(&format!("/tail/{name}"), Reply::Body(tail));
        assert_nothing_left(&e, &fetch_as_name(&t), 1);
    }
}

#[test]
fn a_cut_off_compressed_download_is_a_network_error() {
    // Cut by the network (Content-Length not reached) is retryable, exit 4;
    // a complete but truncated stream is exit 1 (signatures_over_...).
    let e = setup();
    let sig = sign_detached(&e.key, &e.data);
    let sig_path = e.dir.path().join("c.tar.sign");
    std::fs::write(&sig_path, &sig).unwrap();
    let packed = compress("xz", &e.data);
    let url = e.server.route(
        "/c.tar.xz",
        Reply::Truncated(packed.clone(), packed.len() / 2),
    );
    let o = e.run_uncompress(&[], &url, &sig_path);
    assert_nothing_left(&e, &o, 4);
}

#[test]
fn a_compression_bomb_is_cut_off() {
    // 8 MiB of zeros gzip to a few KiB: under --max-size, over the limit on
    // what the content may decompress to.
    let e = setup();
    let zeros = vec![0u8; 8 << 20];
    let packed = compress("gzip", &zeros);
    assert!(packed.len() < 64 * 1024);
    let url = e.server.route("/z.tar.gz", Reply::Body(packed));
    let h = sha256_hex(&zeros);
    let args = ["--uncompress", "--sha256", &h, &url];
    let mut capped = vec!["--max-uncompressed-size", "1048576"];
    capped.extend(args);
    let o = e.run(&capped);
    assert_nothing_left(&e, &o, 1);
    assert!(
        stderr(&o).contains("decompresses to more than"),
        "{}",
        stderr(&o)
    );
    // The same within the limit verifies.
    let o = e.run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn decompress_stores_the_verified_content() {
    let e = setup();
    let k = e.keyring();
    let sig = sign_detached(&e.key, &e.data);
    for (prog, ext) in [("xz", "xz"), ("gzip", "gz"), ("bzip2", "bz2")] {
        let packed = compress(prog, &e.data);
        let path = format!("/{ext}/x.tar.{ext}");
        let url = e.server.route(&path, Reply::Body(packed.clone()));
        let sig_url = e
            .server
            .route(&format!("/{ext}/x.tar.sign"), Reply::Body(armor_sig(&sig)));
        let args = ["--keyring", k, "--decompress", "--json", &url, &sig_url];
        // No -o: stored as the decompressed name, the content itself.
        let o = e.run(&args);
        assert_eq!(code(&o), 0, "{ext}: {}", stderr(&o));
        assert_eq!(std::fs::read(e.out().join("x.tar")).unwrap(), e.data);
        assert_eq!(listing(&e.out()), vec!["x.tar"]);
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["size"], e.data.len() as u64);
        assert_eq!(j["sha256"], sha256_hex(&e.data));
        assert_eq!(j["reused"], false);
        // Again: the stored .tar itself is re-verified, nothing fetched.
        let o = e.run(&args);
        assert_eq!(code(&o), 0, "{ext}: {}", stderr(&o));
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            (j["reused"].clone(), j["sha256"].clone()),
            (true.into(), sha256_hex(&e.data).into())
        );
        assert_eq!(e.server.hits(&path), 1);
        // A changed .tar fails that check and is fetched again.
        std::fs::write(e.out().join("x.tar"), b"evil").unwrap();
        let o = e.run(&args);
        assert_eq!(code(&o), 0, "{ext}: {}", stderr(&o));
        assert_eq!(std::fs::read(e.out().join("x.tar")).unwrap(), e.data);
        assert_eq!(e.server.hits(&path), 2);
        std::fs::remove_file(e.out().join("x.tar")).unwrap();
    }
    // Hash-pinned (the decompressed content's hash), with -o.
    let xz = compress("xz", &e.data);
    let url = e.server.route("/h/y.tar.xz", Reply::Body(xz.clone()));
    let o = e.run(&[
        "--decompress",
        "--sha256",
        &sha256_hex(&e.data),
        "-o",
        "src.tar",
        &url,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(e.out().join("src.tar")).unwrap(), e.data);
    std::fs::remove_file(e.out().join("src.tar")).unwrap();
    // Not a compressed name: a usage error.
    let plain = e.server.route("/h/y.tar", Reply::Body(e.data.clone()));
    let o = e.run(&["--decompress", "--sha256", &sha256_hex(&e.data), &plain]);
    assert_nothing_left(&e, &o, 2);
}

#[test]
fn decompress_tampering_leaves_nothing() {
    let e = setup();
    let sig = sign_detached(&e.key, &e.data);
    let xz = compress("xz", &e.data);
    let mut bad_sig = sig.clone();
    let n = bad_sig.len() - 3;
    bad_sig[n] ^= 0x40;
    let intruder = gen_key("Intruder");
    let mut tail = xz.clone();
    tail.extend_from_slice(b"unsigned");
    let cases: Vec<(&str, Reply, Vec<u8>, i32)> = vec![
        (
            "flipped file byte",
            Reply::Flipped(xz.clone(), xz.len() / 2),
            sig.clone(),
            1,
        ),
        ("flipped SIG byte", Reply::Body(xz.clone()), bad_sig, 1),
        (
            "wrong key",
            Reply::Body(xz.clone()),
            sign_detached(&intruder, &e.data),
            1,
        ),
        (
            "truncated file",
            Reply::Body(xz[..xz.len() / 2].to_vec()),
            sig.clone(),
            1,
        ),
        ("bytes after the stream", Reply::Body(tail), sig.clone(), 1),
        (
            "transfer cut off",
            Reply::Truncated(xz.clone(), xz.len() / 2),
            sig.clone(),
            4,
        ),
    ];
    for (i, (what, reply, s, want)) in cases.into_iter().enumerate() {
        let url = e.server.route(&format!("/{i}/k.tar.xz"), reply);
        let sig_url = e.server.route(&format!("/{i}/k.tar.sign"), Reply::Body(s));
        let o = e.run(&["--keyring", e.keyring(), "--decompress", &url, &sig_url]);
        assert_eq!(code(&o), want, "{what}: {}", stderr(&o));
        assert_nothing_left(&e, &o, want);
    }
}

#[test]
fn help_says_what_uncompress_leaves_unverified() {
    let o = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout).replace('\n', " ");
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains("are NOT covered by a signature over the decompressed content"),
        "{help}"
    );
    for flag in [
        "--decompress",
        "--mirror-only",
        "--untrusted-suffix",
        "NAME.UNTRUSTED",
    ] {
        assert!(help.contains(flag), "{flag}");
    }
}
