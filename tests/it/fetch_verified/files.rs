//! The output directory: present files verified again, concurrent runs,
//! untrusted names, special files, a full disk, and nothing unverified
//! left behind.

use super::*;

#[test]
fn present_files_are_reverified_and_stale_temporaries_removed() {
    let e = setup();
    let h = hex::encode(sha2_256(&e.data));
    let url = e.server.route("/r.tar", Reply::Body(e.data.clone()));
    let o = e.run(&["--sha256", &h, &url]);
    assert_eq!(code(&o), 0);
    assert_eq!(e.server.hits("/r.tar"), 1);
    // Present and good: not downloaded again.
    let o = e.run(&["--sha256", &h, &url]);
    assert_eq!(code(&o), 0);
    assert_eq!(e.server.hits("/r.tar"), 1);
    // Present and tampered: deleted and fetched again.
    std::fs::write(e.out().join("r.tar"), b"evil").unwrap();
    std::fs::write(e.out().join("r.tar.UNTRUSTED"), b"stale").unwrap();
    let o = e.run(&["--sha256", &h, &url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(e.server.hits("/r.tar"), 2);
    assert_eq!(std::fs::read(e.out().join("r.tar")).unwrap(), e.data);
    assert_eq!(listing(&e.out()), vec!["r.tar"]);
    // Present, tampered, and the source is bad too: nothing remains.
    std::fs::write(e.out().join("r.tar"), b"evil").unwrap();
    let bad = e
        .server
        .route("/bad/r.tar", Reply::Flipped(e.data.clone(), 1));
    let o = e.run(&["--sha256", &h, &bad]);
    assert_nothing_left(&e, &o, 1);
}

#[test]
fn concurrent_runs_for_one_file_both_succeed() {
    // Two `make` processes fetching the same file: the second must not take
    // the first one's download in progress for a killed run's leftover.
    let e = setup();
    let h = hex::encode(sha2_256(&e.data));
    let url = e.server.route(
        "/c.tar",
        Reply::Slow(e.data.clone(), std::time::Duration::from_millis(100)),
    );
    let first = e.spawn(&h, &url);
    wait_until("first run never started", || {
        listing(&e.out()).iter().any(|f| f == "c.tar.UNTRUSTED")
    });
    // Unverified bytes are readable by nobody else.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(e.out().join("c.tar.UNTRUSTED"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");
    let second = e.run(&["--sha256", &h, &url]);
    let first = first.wait_with_output().unwrap();
    assert_eq!(code(&first), 0, "first run: {}", stderr(&first));
    assert_eq!(code(&second), 0, "second run: {}", stderr(&second));
    // The second waited for the first and re-verified its file.
    assert!(stderr(&second).contains("waiting"), "{}", stderr(&second));
    assert!(stderr(&second).contains("present, re-verified"));
    assert_eq!(e.server.hits("/c.tar"), 1);
    assert_eq!(std::fs::read(e.out().join("c.tar")).unwrap(), e.data);
    assert_eq!(listing(&e.out()), vec!["c.tar"]);
}

#[test]
fn file_urls_with_escaped_names() {
    let e = setup();
    let src = e.dir.path().join("with space.tar");
    std::fs::write(&src, &e.data).unwrap();
    let h = hex::encode(sha2_256(&e.data));
    let url = format!("file://{}", e.dir.path().join("with%20space.tar").display());
    let o = e.run(&["--sha256", &h, "-o", "copy.tar", &url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(e.out().join("copy.tar")).unwrap(), e.data);
}

#[test]
fn untrusted_names_and_their_suffix() {
    let e = setup();
    let h = sha256_hex(&e.data);
    let url = e.server.route("/u.tar", Reply::Body(e.data.clone()));
    // A stale file under another suffix, and a symlink planted under the
    // default name pointing outside: removed, the target never written.
    std::fs::create_dir_all(e.out()).unwrap();
    std::fs::write(e.out().join("u.tar.part"), b"stale").unwrap();
    let outside = e.dir.path().join("outside");
    std::fs::write(&outside, b"keep").unwrap();
    std::os::unix::fs::symlink(&outside, e.out().join("u.tar.UNTRUSTED")).unwrap();
    let o = e.run(&["--untrusted-suffix", ".part", "--sha256", &h, &url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("removed stale"), "{}", stderr(&o));
    assert_eq!(listing(&e.out()), vec!["u.tar", "u.tar.UNTRUSTED"]);
    std::fs::remove_file(e.out().join("u.tar")).unwrap();
    let o = e.run(&["--sha256", &h, &url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
    assert_eq!(listing(&e.out()), vec!["u.tar"]);
    std::fs::remove_file(e.out().join("u.tar")).unwrap();
    for bad in ["", "a/b"] {
        let o = e.run(&["--untrusted-suffix", bad, "--sha256", &h, &url]);
        assert_nothing_left(&e, &o, 2);
    }
}

#[test]
fn a_present_file_is_never_deleted_for_a_bad_or_unreachable_sig() {
    let e = setup();
    let k = e.keyring();
    let url = e.server.route("/keep.tar", Reply::Body(e.data.clone()));
    let good = e
        .server
        .route("/keep.tar.sig", Reply::Body(sign_detached(&e.key, &e.data)));
    let o = e.run(&["--keyring", k, &url, &good]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let stranger = gen_key("Stranger");
    let dead = format!("http://127.0.0.1:{}/keep.tar.sig", closed_port());
    let bad_sigs: Vec<(String, i32)> = vec![
        (e.server.route("/s500", Reply::Status(500)), 4),
        (e.server.route("/s404", Reply::Status(404)), 3),
        (dead, 4),
        (
            e.server
                .route("/shtml", Reply::Body(b"<html>oops</html>".to_vec())),
            1,
        ),
        (e.server.route("/shuge", Reply::Body(vec![0u8; 2 << 20])), 1),
        (
            e.server
                .route("/sstranger", Reply::Body(sign_detached(&stranger, &e.data))),
            1,
        ),
        (
            e.server.route(
                "/slist",
                Reply::Body(sign_cleartext(
                    &e.key,
                    format!("{}  other.tar\n", "00".repeat(32)).as_bytes(),
                    HashAlgorithm::SHA256,
                )),
            ),
            3,
        ),
    ];
    // Good or tampered, the present file stays: nothing usable judged it.
    for content in [e.data.clone(), b"tampered".to_vec()] {
        std::fs::write(e.out().join("keep.tar"), &content).unwrap();
        for (sig, want) in &bad_sigs {
            let o = e.run(&["--keyring", k, "-o", "keep.tar", &url, sig]);
            assert_eq!(code(&o), *want, "{sig}: {}", stderr(&o));
            assert_eq!(listing(&e.out()), vec!["keep.tar"], "{sig}");
            assert_eq!(std::fs::read(e.out().join("keep.tar")).unwrap(), content);
        }
    }
    assert_eq!(e.server.hits("/keep.tar"), 1, "fetched again on a bad SIG");
    // A usable SIG that the tampered file fails: only then is it replaced.
    let o = e.run(&["--keyring", k, "-o", "keep.tar", &url, &good]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(e.out().join("keep.tar")).unwrap(), e.data);
}

/// Run the tool in a private mount namespace with a small tmpfs as its
/// directory (read-only with `ro`); returns its output and what the
/// directory holds afterwards. None (with a visible note) where mounts
/// cannot be made (not root, no unshare).
fn in_tmpfs(size: &str, ro: bool, args: &[&str]) -> Option<(Output, Vec<String>)> {
    let probe = Command::new("unshare")
        .args(["-m", "sh", "-c", "mount -t tmpfs -o size=16k tmpfs /mnt"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root and unshare)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "mount -t tmpfs -o size={size},mode=0755 tmpfs \"$0\" || exit 99\n\
         {}cd \"$0\" || exit 99\n\"$@\"; rc=$?\necho ==LISTING== >&2\nls -A >&2\nexit $rc",
        if ro {
            "mount -o remount,ro \"$0\" || exit 99\n"
        } else {
            ""
        }
    );
    let o = run_bounded(
        Command::new("unshare")
            .args(["-m", "sh", "-c", &script])
            .arg(dir.path())
            .arg(BIN)
            .args(args),
        30,
    );
    assert_ne!(code(&o), 99, "setting up the tmpfs: {}", stderr(&o));
    let err = stderr(&o);
    let (_, listing) = err.rsplit_once("==LISTING==\n").unwrap();
    let listing = listing.lines().map(String::from).collect();
    Some((o, listing))
}

#[test]
fn a_full_disk_and_a_read_only_directory_leave_nothing() {
    let e = setup();
    let h = sha256_hex(&e.data);
    let url = e.server.route("/big.tar", Reply::Body(e.data.clone()));
    let args = ["--allow-http", "--retries", "2", "--sha256", &h, &url];
    // 64 KiB of room for 800 KB: ENOSPC mid-download, exit 4, not retried.
    if let Some((o, listing)) = in_tmpfs("64k", false, &args) {
        assert_eq!(code(&o), 4, "{}", stderr(&o));
        assert!(stderr(&o).contains("No space left"), "{}", stderr(&o));
        assert_eq!(listing, Vec::<String>::new(), "{}", stderr(&o));
        assert_eq!(e.server.hits("/big.tar"), 1, "a full disk was retried");
    }
    if let Some((o, listing)) = in_tmpfs("1m", true, &args) {
        assert_eq!(code(&o), 4, "{}", stderr(&o));
        assert!(stderr(&o).contains("Read-only"), "{}", stderr(&o));
        assert_eq!(listing, Vec::<String>::new());
    }
}

fn mkfifo(p: &Path) {
    let o = Command::new("mkfifo").arg(p).output().unwrap();
    assert!(o.status.success());
}

#[test]
fn special_files_are_refused_never_read() {
    let e = setup();
    let h = sha256_hex(&e.data);
    let url = e.server.route("/sp.tar", Reply::Body(e.data.clone()));
    let sig = e.dir.path().join("sp.sig");
    std::fs::write(&sig, sign_detached(&e.key, &e.data)).unwrap();
    let fifo = e.dir.path().join("fifo");
    mkfifo(&fifo);
    let (f, s) = (fifo.to_str().unwrap(), sig.to_str().unwrap());
    let k = e.keyring();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("FIFO as SIG", vec!["--keyring", k, &url, f]),
        ("device as SIG", vec!["--keyring", k, &url, "/dev/zero"]),
        ("FIFO as keyring", vec!["--keyring", f, &url, s]),
        ("device as keyring", vec!["--keyring", "/dev/zero", &url, s]),
        ("FIFO as hash file", vec!["--hash-file", f, &url]),
        (
            "device as hash file",
            vec!["--hash-file", "/dev/zero", &url],
        ),
        (
            "FIFO as --ca-file",
            vec!["--ca-file", f, "--sha256", &h, &url],
        ),
    ];
    for (what, args) in cases {
        let o = e.run_bounded(&args);
        assert_nothing_left(&e, &o, 2);
        assert!(stderr(&o).contains("refused"), "{what}: {}", stderr(&o));
    }
    // A FIFO, a device, a directory at the output path: refused, kept.
    let out_fifo = e.out().join("fifo.tar");
    mkfifo(&out_fifo);
    let o = e.run_bounded(&["--sha256", &h, "-o", "fifo.tar", &url]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("a FIFO"), "{}", stderr(&o));
    std::fs::remove_file(&out_fifo).unwrap();
    let o = e.run_bounded(&["--sha256", &h, "-o", "/dev/null", &url]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("a device"), "{}", stderr(&o));
    // A file:// source that is a FIFO is refused too.
    let o = e.run_bounded(&["--sha256", &h, "-o", "x.tar", &format!("file://{f}")]);
    assert_nothing_left(&e, &o, 2);
    assert_eq!(e.server.hits("/sp.tar"), 0);
}

#[test]
fn a_directory_at_the_untrusted_name() {
    let e = setup();
    let h = sha256_hex(&e.data);
    let url = e.server.route("/d.tar", Reply::Body(e.data.clone()));
    std::fs::create_dir_all(e.out().join("d.tar.UNTRUSTED")).unwrap();
    // Empty: removed like any leftover, with a note.
    let o = e.run(&["--sha256", &h, &url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("removed stale"), "{}", stderr(&o));
    assert_eq!(listing(&e.out()), vec!["d.tar"]);
    std::fs::remove_file(e.out().join("d.tar")).unwrap();
    // Holding files: refused with what to do, exit 2 (not 4 forever).
    std::fs::create_dir_all(e.out().join("d.tar.UNTRUSTED")).unwrap();
    std::fs::write(e.out().join("d.tar.UNTRUSTED/mine"), b"x").unwrap();
    for _ in 0..2 {
        let o = e.run(&["--sha256", &h, &url]);
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        assert!(stderr(&o).contains("remove it"), "{}", stderr(&o));
        assert_eq!(listing(&e.out()), vec!["d.tar.UNTRUSTED"]);
    }
}

#[test]
fn output_directories_are_made_only_when_asked() {
    let e = setup();
    let h = sha256_hex(&e.data);
    let url = e.server.route("/cd.tar", Reply::Body(e.data.clone()));
    let o = e.run(&["--sha256", &h, "-o", "a/b/cd.tar", &url]);
    assert_nothing_left(&e, &o, 2);
    assert!(stderr(&o).contains("--create-dirs"), "{}", stderr(&o));
    assert_eq!(e.server.hits("/cd.tar"), 0);
    let o = e.run(&["--sha256", &h, "--create-dirs", "-o", "a/b/cd.tar", &url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(e.out().join("a/b/cd.tar")).unwrap(), e.data);
    // A file where a directory should be: exit 2.
    let o = e.run(&["--sha256", &h, "--create-dirs", "-o", "a/b/cd.tar/x", &url]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}
