//! fetch-verified end to end: a real HTTP server on 127.0.0.1, keys and
//! signatures made with sequoia at test time. Every failing case asserts the
//! exit code and that no unverified file is left in the directory.

mod common;

use common::http::{Reply, Server, Socks5, TestCa};
use common::*;
use sequoia_openpgp::types::{HashAlgorithm, ReasonForRevocation};
use sequoia_openpgp::Cert;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_fetch-verified");

const PROXY_VARS: [&str; 9] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "SSL_CERT_FILE",
];

struct Env {
    dir: tempfile::TempDir,
    server: Server,
    key: Cert,
    keyring: std::path::PathBuf,
    data: Vec<u8>,
}

fn setup() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let key = gen_key("Upstream <up@example.org>");
    let keyring = write_keyring(&dir.path().join("upstream.asc"), &[&key]);
    let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    Env {
        dir,
        server: Server::start(),
        key,
        keyring,
        data,
    }
}

impl Env {
    fn out(&self) -> std::path::PathBuf {
        self.dir.path().join("out")
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_env(RUN_FLAGS, args, &[])
    }

    /// Run in the output directory with `flags` then `args`, a clean
    /// environment (no mirror or proxy from the machine) plus `env`.
    fn run_env(&self, flags: &[&str], args: &[&str], env: &[(&str, &str)]) -> Output {
        self.cmd(flags, args)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    /// The tool with `flags` then `args`, in the output directory, with a
    /// clean environment.
    fn cmd(&self, flags: &[&str], args: &[&str]) -> Command {
        let mut cmd = tool_in(&self.out(), flags);
        cmd.args(args);
        cmd
    }

    /// A quiet fetch of `url` checked against `sha256`, left running.
    fn spawn(&self, sha256: &str, url: &str) -> std::process::Child {
        self.cmd(
            &["--allow-http", "--retries", "0", "--quiet"],
            &["--sha256", sha256, url],
        )
        .spawn()
        .unwrap()
    }

    /// `--keyring KEYS --uncompress EXTRA... URL SIG`.
    fn run_uncompress(&self, extra: &[&str], url: &str, sig: &Path) -> Output {
        let mut args = vec!["--keyring", self.keyring(), "--uncompress"];
        args.extend_from_slice(extra);
        args.extend([url, sig.to_str().unwrap()]);
        self.run(&args)
    }

    fn keyring(&self) -> &str {
        self.keyring.to_str().unwrap()
    }
}

/// The tool in `dir` (made if missing) with `flags`, and a clean
/// environment (no mirror or proxy from the machine).
fn tool_in(dir: &Path, flags: &[&str]) -> Command {
    std::fs::create_dir_all(dir).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(flags).current_dir(dir);
    for var in PROXY_VARS.iter().chain(&["DISTFILES_MIRROR"]) {
        cmd.env_remove(var);
    }
    cmd
}

/// [`Env::run`]'s flags: plain HTTP to the test server, no retries.
const RUN_FLAGS: &[&str] = &["--allow-http", "--retries", "0", "--read-timeout", "2"];

/// Poll `cond` for up to 10 s; fail the test with `what` if it never holds.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_nothing_left(e: &Env, o: &Output, want: i32) {
    assert_eq!(code(o), want, "stderr: {}", stderr(o));
    assert_eq!(
        listing(&e.out()),
        Vec::<String>::new(),
        "left behind after: {}",
        stderr(o)
    );
}

#[test]
fn good_signature_binary_and_armored_url_and_path() {
    let e = setup();
    let sig = sign_detached(&e.key, &e.data);
    let url = e
        .server
        .route("/foo-1.0.tar.gz", Reply::Body(e.data.clone()));
    let sig_url = e
        .server
        .route("/foo-1.0.tar.gz.sig", Reply::Body(sig.clone()));
    let o = e.run(&["--keyring", e.keyring(), &url, &sig_url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        e.key.fingerprint().to_hex()
    );
    assert_eq!(
        std::fs::read(e.out().join("foo-1.0.tar.gz")).unwrap(),
        e.data
    );
    assert_eq!(listing(&e.out()), vec!["foo-1.0.tar.gz"]);

    // Armored signature from a local path, explicit -o, JSON summary.
    let asc = e.dir.path().join("foo.asc");
    std::fs::write(&asc, armor_sig(&sig)).unwrap();
    let o = e.run(&[
        "--keyring",
        e.keyring(),
        "--json",
        "-o",
        "renamed.tgz",
        &url,
        asc.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["size"], e.data.len() as u64);
    assert_eq!(j["signers"][0], e.key.fingerprint().to_hex());
    let sha = String::from_utf8(
        Command::new("sha256sum")
            .arg(e.out().join("renamed.tgz"))
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(j["sha256"], sha.split_whitespace().next().unwrap());
}

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

fn sha2_256(data: &[u8]) -> Vec<u8> {
    build_verify::digest::hash_reader(data, &[build_verify::digest::Algo::Sha256])
        .unwrap()
        .get(build_verify::digest::Algo::Sha256)
        .unwrap()
        .to_vec()
}

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
fn pinned_hashes() {
    let e = setup();
    let url = e.server.route("/p.tar", Reply::Body(e.data.clone()));
    let good = hex::encode(sha2_256(&e.data));
    let o = e.run(&["--sha256", &"ab".repeat(32), &url]);
    assert_nothing_left(&e, &o, 1);
    assert!(
        stderr(&o).contains("sha256 mismatch: expected abab"),
        "{}",
        stderr(&o)
    );
    // A bare hex hash file, then a GNU list naming the file.
    let bare = e.dir.path().join("p.tar.sha256");
    std::fs::write(&bare, format!("{good}\n")).unwrap();
    let o = e.run(&["--hash-file", bare.to_str().unwrap(), &url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    std::fs::remove_file(e.out().join("p.tar")).unwrap();
    let list = e.dir.path().join("SHA256SUMS");
    std::fs::write(&list, format!("{good}  other\n")).unwrap();
    let o = e.run(&["--hash-file", list.to_str().unwrap(), &url]);
    assert_nothing_left(&e, &o, 3);
    std::fs::write(
        &list,
        format!("{}  other\n{good}  p.tar\n", "00".repeat(32)),
    )
    .unwrap();
    let o = e.run(&["--hash-file", list.to_str().unwrap(), &url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // A list named B2SUMS holds BLAKE2b digests, as check-hashes reads it
    // (the same 128 digits taken as SHA-512 would fail).
    std::fs::remove_file(e.out().join("p.tar")).unwrap();
    use blake2::Digest as _;
    let b2 = hex::encode(blake2::Blake2b512::digest(&e.data));
    let b2sums = e.dir.path().join("B2SUMS");
    std::fs::write(&b2sums, format!("{b2}  p.tar\n")).unwrap();
    let o = e.run(&["--hash-file", b2sums.to_str().unwrap(), &url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // A hash file too large to be one is refused before it is read whole.
    std::fs::remove_file(e.out().join("p.tar")).unwrap();
    let f = std::fs::File::create(e.dir.path().join("HUGE")).unwrap();
    f.set_len(256 * 1024 * 1024 + 1).unwrap();
    let huge = e.dir.path().join("HUGE");
    let o = e.run(&["--hash-file", huge.to_str().unwrap(), &url]);
    assert_nothing_left(&e, &o, 2);
    assert!(stderr(&o).contains("larger than"), "{}", stderr(&o));
}

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

/// One case of the signature matrix: what we must answer, and what gpgv
/// and sqv answer (accept or not; None: the peer cannot express the case).
struct SigCase<'a> {
    name: &'a str,
    sig: Vec<u8>,
    /// The keyring: every key in it is trusted unless `flags` restrict.
    ring: Vec<&'a Cert>,
    flags: Vec<&'a str>,
    want: i32,
    gpgv: Option<bool>,
    sqv: Option<bool>,
}

/// The DESIGN §3 matrix through the binary, with gpgv and sqv run on the
/// same signature, data and keyring. Where a peer's answer differs from
/// ours, the expected answers below are the documentation of why:
/// - gpgv (2.2) exits 0, with a warning only on stderr, for a SHA-1 data
///   signature, a hard-revoked key, a key soft-revoked or expired before
///   it signed, and a signature dated 3 days in the future. A Makefile
///   testing its exit status passes all of these; we and sqv reject them.
/// - gpgv fails a good signature plus one by a key not in the keyring
///   (Debian's InRelease); we and sqv ignore the unknown key's signature.
/// - sqv (1.1) accepts a good plus a cryptographically bad signature (it
///   counts good ones); we and gpgv fail: a forgery next to a good
///   signature is an attack to report, not noise.
/// - gpgv has no signer count; sqv's --signatures is our --min-signers.
/// - `--trusted-key` has no peer equivalent other than a smaller keyring.
#[test]
fn signature_matrix_against_gpgv_and_sqv() {
    let e = setup();
    let other = gen_key("Other <o@example.org>");
    let second = gen_key("Second <s@example.org>");
    let expiring = gen_key_with("Exp <e@example.org>", days_from_now(-30), Some(DAY * 20));
    let hard = revoke(
        &e.key,
        ReasonForRevocation::KeyCompromised,
        days_from_now(-1),
    );
    let soft_after = revoke(
        &e.key,
        ReasonForRevocation::KeySuperseded,
        days_from_now(-1),
    );
    let soft_before = revoke(&e.key, ReasonForRevocation::KeyRetired, days_from_now(-3));
    let url = e.server.route("/s.tar", Reply::Body(e.data.clone()));
    let d = &e.data;
    let sig =
        |c: &Cert, h: HashAlgorithm, days: i64| sign_detached_with(c, d, h, days_from_now(days));
    let good = sig(&e.key, HashAlgorithm::SHA256, -2);
    let bad = sign_detached_with(
        &e.key,
        b"other data",
        HashAlgorithm::SHA256,
        days_from_now(-2),
    );
    let by_second = sig(&second, HashAlgorithm::SHA512, -1);
    let second_fpr = second.fingerprint().to_hex();
    let k = &e.key;
    let c = |name, sig, ring, flags, want, gpgv, sqv| SigCase {
        name,
        sig,
        ring,
        flags,
        want,
        gpgv,
        sqv,
    };
    let cases = vec![
        c(
            "good binary",
            good.clone(),
            vec![k],
            vec![],
            0,
            Some(true),
            Some(true),
        ),
        c(
            "good armored",
            armor_sig(&good),
            vec![k],
            vec![],
            0,
            Some(true),
            Some(true),
        ),
        c(
            "bad",
            bad.clone(),
            vec![k],
            vec![],
            1,
            Some(false),
            Some(false),
        ),
        c(
            "wrong key",
            sig(&other, HashAlgorithm::SHA256, -2),
            vec![k],
            vec![],
            1,
            Some(false),
            Some(false),
        ),
        c(
            "two signers, two required",
            concat_sigs(&[good.clone(), by_second.clone()]),
            vec![k, &second],
            vec!["--min-signers", "2"],
            0,
            None,
            Some(true),
        ),
        c(
            "one signer, two required",
            good.clone(),
            vec![k, &second],
            vec!["--min-signers", "2"],
            1,
            None,
            Some(false),
        ),
        c(
            "good + bad",
            concat_sigs(&[good.clone(), bad]),
            vec![k],
            vec![],
            1,
            Some(false),
            Some(true),
        ),
        c(
            "good + unknown key",
            concat_sigs(&[good.clone(), sig(&other, HashAlgorithm::SHA256, -2)]),
            vec![k],
            vec![],
            0,
            Some(false),
            Some(true),
        ),
        c(
            "hard-revoked key",
            good.clone(),
            vec![&hard],
            vec![],
            1,
            Some(true),
            Some(false),
        ),
        c(
            "soft revocation after signing",
            good.clone(),
            vec![&soft_after],
            vec![],
            0,
            Some(true),
            Some(true),
        ),
        c(
            "soft revocation before signing",
            good.clone(),
            vec![&soft_before],
            vec![],
            1,
            Some(true),
            Some(false),
        ),
        c(
            "expired after signing",
            sig(&expiring, HashAlgorithm::SHA256, -15),
            vec![&expiring],
            vec![],
            0,
            Some(true),
            Some(true),
        ),
        c(
            "expired before signing",
            sig(&expiring, HashAlgorithm::SHA256, -2),
            vec![&expiring],
            vec![],
            1,
            Some(true),
            Some(false),
        ),
        c(
            "SHA-1 data signature",
            sig(k, HashAlgorithm::SHA1, -2),
            vec![k],
            vec![],
            1,
            Some(true),
            Some(false),
        ),
        c(
            "future-dated",
            sig(k, HashAlgorithm::SHA256, 3),
            vec![k],
            vec![],
            1,
            Some(true),
            Some(false),
        ),
        c(
            "good by a key not selected",
            good.clone(),
            vec![k, &second],
            vec!["--trusted-key", &second_fpr],
            1,
            None,
            None,
        ),
        c(
            "empty signature",
            Vec::new(),
            vec![k],
            vec![],
            3,
            Some(false),
            Some(false),
        ),
    ];
    let sigfile = e.dir.path().join("s.sig");
    let data = e.dir.path().join("data");
    std::fs::write(&data, d).unwrap();
    let oracles = have("gpgv") && have("sqv");
    let mut table = Vec::new();
    let mut surprises = Vec::new();
    for case in cases {
        std::fs::write(&sigfile, &case.sig).unwrap();
        let ring = write_keyring(&e.dir.path().join("ring.asc"), &case.ring);
        let mut args = vec!["--keyring", ring.to_str().unwrap()];
        args.extend(&case.flags);
        args.extend([url.as_str(), sigfile.to_str().unwrap()]);
        let o = e.run(&args);
        let name = case.name;
        assert_eq!(code(&o), case.want, "{name}: {}", stderr(&o));
        if case.want == 0 {
            std::fs::remove_file(e.out().join("s.tar")).unwrap();
            if name == "expired after signing" {
                assert!(
                    stderr(&o).contains(", while it was valid: refresh the key"),
                    "{}",
                    stderr(&o)
                );
            }
        } else {
            assert_nothing_left(&e, &o, case.want);
        }
        if !oracles {
            continue;
        }
        let bin = write_keyring_binary(&e.dir.path().join("ring.gpg"), &case.ring);
        let got_gpgv = gpgv_accepts(&bin, &sigfile, &data);
        let n = if case.flags.contains(&"--min-signers") {
            "2"
        } else {
            "1"
        };
        let got_sqv = Command::new("sqv")
            .args(["--signatures", n, "--keyring"])
            .arg(&bin)
            .arg(&sigfile)
            .arg(&data)
            .output()
            .unwrap()
            .status
            .success();
        table.push(format!(
            "{name:32} ours {} gpgv {got_gpgv} sqv {got_sqv}",
            case.want
        ));
        if case.gpgv.is_some_and(|g| g != got_gpgv) || case.sqv.is_some_and(|q| q != got_sqv) {
            surprises.push(name);
        }
    }
    eprintln!("{}", table.join("\n"));
    assert!(
        surprises.is_empty(),
        "peers answered otherwise than documented: {surprises:?}"
    );
}

fn compress(prog: &str, data: &[u8]) -> Vec<u8> {
    pipe(prog, &["-c"], data)
}

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
fn help_ends_with_exit_codes() {
    let o = Command::new(BIN).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout)
        .trim_end()
        .ends_with("permission"));
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2_256(data))
}

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
fn cleartext_signed_hash_lists() {
    let e = setup();
    let good = hex::encode(sha2_256(&e.data));
    let url = e.server.route("/p.tar", Reply::Body(e.data.clone()));
    let k = e.keyring();
    let list = format!("{}  other.tar\n{good}  p.tar\n", "00".repeat(32));
    let signed = sign_cleartext(&e.key, list.as_bytes(), HashAlgorithm::SHA256);
    let list_url = e
        .server
        .route("/sha256sums.asc", Reply::Body(signed.clone()));
    let bin = write_keyring_binary(&e.dir.path().join("ring.gpg"), &[&e.key]);
    let local = |name: &str, bytes: &[u8]| {
        let p = e.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    };

    // The list verifies, and its entry for p.tar pins the download.
    let o = e.run(&["--keyring", k, &url, &list_url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        e.key.fingerprint().to_hex()
    );
    assert_eq!(listing(&e.out()), vec!["p.tar"]);
    std::fs::remove_file(e.out().join("p.tar")).unwrap();
    // Saved under another name, the file is looked up by the URL's.
    let o = e.run(&["--keyring", k, "-o", "renamed.tar", &url, &list_url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    std::fs::remove_file(e.out().join("renamed.tar")).unwrap();
    if have("gpgv") {
        let good = local("good.asc", &signed);
        assert!(gpgv_accepts_files(&bin, &[Path::new(&good)]));
    }

    // A signed list whose entry does not match the file: exit 1.
    let wrong = format!("{}  p.tar\n", "ab".repeat(32));
    let wrong = local(
        "wrong.asc",
        &sign_cleartext(&e.key, wrong.as_bytes(), HashAlgorithm::SHA256),
    );
    let o = e.run(&["--keyring", k, &url, &wrong]);
    assert_nothing_left(&e, &o, 1);
    assert!(stderr(&o).contains("mismatch"), "{}", stderr(&o));

    // A list edited after signing fails before the file is requested.
    let before = e.server.hits("/p.tar");
    let text = String::from_utf8(signed.clone()).unwrap();
    let forged = text.replacen(&"00".repeat(32), &"11".repeat(32), 1);
    assert_ne!(forged, text);
    let forged = local("forged.asc", forged.as_bytes());
    let o = e.run(&["--keyring", k, &url, &forged]);
    assert_nothing_left(&e, &o, 1);
    assert_eq!(e.server.hits("/p.tar"), before, "fetched on a forged list");
    if have("gpgv") {
        assert!(!gpgv_accepts_files(&bin, &[Path::new(&forged)]));
    }

    // Signed by a key not in the keyring; SHA-1 over the text: exit 1.
    let stranger = gen_key("Stranger <s@example.org>");
    let by_stranger = local(
        "stranger.asc",
        &sign_cleartext(&stranger, list.as_bytes(), HashAlgorithm::SHA256),
    );
    let o = e.run(&["--keyring", k, &url, &by_stranger]);
    assert_nothing_left(&e, &o, 1);
    let sha1 = local(
        "sha1.asc",
        &sign_cleartext(&e.key, list.as_bytes(), HashAlgorithm::SHA1),
    );
    let o = e.run(&["--keyring", k, &url, &sha1]);
    assert_nothing_left(&e, &o, 1);

    // A good list without an entry for the file: nothing to verify with.
    let other = format!("{good}  other.tar\n");
    let other = local(
        "other.asc",
        &sign_cleartext(&e.key, other.as_bytes(), HashAlgorithm::SHA256),
    );
    let o = e.run(&["--keyring", k, &url, &other]);
    assert_nothing_left(&e, &o, 3);
    assert!(
        stderr(&o).contains("no hash entry for p.tar"),
        "{}",
        stderr(&o)
    );

    // With --uncompress the list names the decompressed file.
    let xz = compress("xz", &e.data);
    let xz_url = e.server.route("/q.tar.xz", Reply::Body(xz.clone()));
    let q = format!("{good}  q.tar\n");
    let q = local(
        "q.asc",
        &sign_cleartext(&e.key, q.as_bytes(), HashAlgorithm::SHA512),
    );
    let o = e.run(&["--keyring", k, "--uncompress", &xz_url, &q]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(e.out().join("q.tar.xz")).unwrap(), xz);
}

#[test]
fn a_missing_signature_is_nothing_to_verify_with() {
    let e = setup();
    let url = e.server.route("/m.tar", Reply::Body(e.data.clone()));
    let gone = e.server.route("/m.tar.sig", Reply::Status(404));
    let o = e.run(&["--keyring", e.keyring(), &url, &gone]);
    assert_nothing_left(&e, &o, 3);
    assert!(stderr(&o).contains("no signature at"), "{}", stderr(&o));
    let absent = e.dir.path().join("absent.sig");
    let o = e.run(&["--keyring", e.keyring(), &url, absent.to_str().unwrap()]);
    assert_nothing_left(&e, &o, 3);
    // A server error on the signature stays a network error (retryable).
    let broken = e.server.route("/m.tar.asc", Reply::Status(500));
    let o = e.run(&["--keyring", e.keyring(), &url, &broken]);
    assert_nothing_left(&e, &o, 4);
    assert_eq!(e.server.hits("/m.tar"), 0);
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
fn signatures_come_from_mirrors_too() {
    let e = setup();
    let k = e.keyring();
    let sig = sign_detached(&e.key, &e.data);
    let mirror = Server::start();
    mirror.route("/d/s.tar", Reply::Body(e.data.clone()));
    mirror.route("/d/s.tar.sig", Reply::Body(sig.clone()));
    let m = mirror.url("/d");
    // Upstream is gone (nothing listens): the mirror's file and SIG pass.
    let gone = format!("http://127.0.0.1:{}/rel", closed_port());
    let (url, sig_url) = (format!("{gone}/s.tar"), format!("{gone}/s.tar.sig"));
    let o = e.run(&["--keyring", k, "--mirror", &m, &url, &sig_url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(e.out().join("s.tar")).unwrap(), e.data);
    assert_eq!(
        (mirror.hits("/d/s.tar"), mirror.hits("/d/s.tar.sig")),
        (1, 1)
    );
    // A present file is re-verified with the mirror's SIG, upstream still gone.
    let o = e.run(&["--keyring", k, "--mirror", &m, &url, &sig_url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("present, re-verified"));
    std::fs::remove_file(e.out().join("s.tar")).unwrap();

    // --mirror-only (here with DISTFILES_MIRROR): upstream, which answers
    // 404, is never asked for either.
    let up = e.server.url("/up/s.tar");
    let up_sig = e.server.route("/up/s.tar.sig", Reply::Status(404));
    let flags = ["--allow-http", "--retries", "0", "--mirror-only"];
    let o = e.run_env(
        &flags,
        &["--keyring", k, &up, &up_sig],
        &[("DISTFILES_MIRROR", &m)],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        (e.server.hits("/up/s.tar"), e.server.hits("/up/s.tar.sig")),
        (0, 0)
    );
    std::fs::remove_file(e.out().join("s.tar")).unwrap();
    // ...and without a mirror it is a usage error, before any request.
    let o = e.run_env(&flags, &["--keyring", k, &up, &up_sig], &[]);
    assert_nothing_left(&e, &o, 2);
    assert!(stderr(&o).contains("--mirror-only"), "{}", stderr(&o));

    // A mirror holding the file but no SIG: upstream's SIG verifies the
    // mirror's file; upstream's file is not needed.
    let up = e.server.route("/up/s.tar", Reply::Body(e.data.clone()));
    let up_sig = e.server.route("/up/s.tar.sig", Reply::Body(sig.clone()));
    let files_only = Server::start();
    files_only.route("/d/s.tar", Reply::Body(e.data.clone()));
    let o = e.run(&[
        "--keyring",
        k,
        "--mirror",
        &files_only.url("/d"),
        &up,
        &up_sig,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        (
            files_only.hits("/d/s.tar.sig"),
            e.server.hits("/up/s.tar.sig")
        ),
        (1, 1)
    );
    assert_eq!(e.server.hits("/up/s.tar"), 0);

    // A mirror with a corrupt SIG: a present good file is re-verified with
    // upstream's copy and kept, never deleted...
    let mut bad = sig.clone();
    let n = bad.len() - 3;
    bad[n] ^= 0x40;
    let corrupt = Server::start();
    corrupt.route("/d/s.tar", Reply::Body(e.data.clone()));
    corrupt.route("/d/s.tar.sig", Reply::Body(bad));
    let cm = corrupt.url("/d");
    let o = e.run(&["--keyring", k, "--mirror", &cm, &up, &up_sig]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("present, re-verified"),
        "{}",
        stderr(&o)
    );
    assert_eq!(corrupt.hits("/d/s.tar"), 0);
    // ...and a download goes on to upstream's file and SIG.
    std::fs::remove_file(e.out().join("s.tar")).unwrap();
    let o = e.run(&["--keyring", k, "--mirror", &cm, &up, &up_sig]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("trying the next source"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        (corrupt.hits("/d/s.tar"), e.server.hits("/up/s.tar")),
        (1, 1)
    );
    assert_eq!(std::fs::read(e.out().join("s.tar")).unwrap(), e.data);
    assert_eq!(listing(&e.out()), vec!["s.tar"]);
    std::fs::remove_file(e.out().join("s.tar")).unwrap();
    // With the corrupt mirror only, it fails (exit 1), leaving nothing.
    let only = [
        "--allow-http",
        "--retries",
        "0",
        "--mirror-only",
        "--mirror",
        &cm,
    ];
    let o = e.run_env(&only, &["--keyring", k, &up, &up_sig], &[]);
    assert_nothing_left(&e, &o, 1);
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

// ---- The fault matrix (issue 14) and the daily-path fixes (issue 12). ----

/// Run `cmd` with its output captured; a run longer than `secs` is killed
/// and fails the test (a hang is what these cases guard against).
fn run_bounded(cmd: &mut Command, secs: u64) -> Output {
    run_deadline(cmd, secs).unwrap_or_else(|o| panic!("hung for {secs}s: {cmd:?}: {}", stderr(&o)))
}

impl Env {
    /// [`Env::run`] under a time bound.
    fn run_bounded(&self, args: &[&str]) -> Output {
        run_bounded(&mut self.cmd(RUN_FLAGS, args), 20)
    }
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
fn hostile_signatures_fail_before_the_download() {
    let e = setup();
    let k = e.keyring();
    let url = e.server.route("/h.tar", Reply::Body(e.data.clone()));
    let stranger = gen_key("Stranger <s@example.org>");
    let html = b"<!DOCTYPE html><html><body>Not Found, but 200</body></html>\n".to_vec();
    let huge = vec![b'A'; 2 << 20];
    let cases: Vec<(&str, Vec<u8>, i32)> = vec![
        ("html.sig", html, 1),
        ("huge.sig", huge, 1),
        ("empty.sig", Vec::new(), 3),
        ("stranger.sig", sign_detached(&stranger, &e.data), 1),
        (
            "stranger.asc",
            armor_sig(&sign_detached(&stranger, &e.data)),
            1,
        ),
    ];
    for (name, body, want) in cases {
        let sig = e.server.route(&format!("/{name}"), Reply::Body(body));
        let o = e.run(&["--keyring", k, &url, &sig]);
        assert_eq!(code(&o), want, "{name}: {}", stderr(&o));
        assert_nothing_left(&e, &o, want);
        assert_eq!(e.server.hits("/h.tar"), 0, "{name}: fetched for nothing");
    }
    // A good signature, by the right key, of another file: the download is
    // what fails, and nothing stays.
    let other = e
        .server
        .route("/other.sig", Reply::Body(sign_detached(&e.key, b"other")));
    let o = e.run(&["--keyring", k, &url, &other]);
    assert_nothing_left(&e, &o, 1);
    assert!(stderr(&o).contains("BAD signature"), "{}", stderr(&o));
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

// ---- Stock packages through fetch-verified (issue 13). ----

use common::pkg::shared_rpms as pkg_rpms;
use common::pkg::{self as pk, rpm_accepts, rpm_layout, Deb, Keys};

fn pkg_deb() -> Option<(&'static Keys, &'static Deb)> {
    pk::shared_deb(&[])
}

/// fetch-verified in `dir` (made if missing) with the test flags and a
/// clean environment.
fn fetch_in(dir: &Path, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut cmd = tool_in(dir, RUN_FLAGS);
    for a in args {
        cmd.arg(a.as_ref());
    }
    cmd.output().unwrap()
}

#[test]
fn rpms_verified_by_their_own_signature_as_rpmkeys_says() {
    let Some((k, r)) = pkg_rpms() else { return };
    let e = setup();
    let read = |p: &Path| std::fs::read(p).unwrap();
    let good = read(&r.rsa);
    let other = read(&r.other);
    let (main, payload) = rpm_layout(&good);
    let (other_main, _) = rpm_layout(&other);
    let n = good.len();
    let flip = |at: usize| {
        let mut b = good.clone();
        b[at] ^= 1;
        b
    };
    let swapped = [&good[..96], &other[96..other_main], &good[main..]].concat();
    let cases: Vec<(&str, Vec<u8>, &Path, &Path, i32)> = vec![
        ("RSA", good.clone(), &k.rsa_asc, &r.db_all, 0),
        ("EdDSA", read(&r.ed), &k.ed_asc, &r.db_all, 0),
        ("with --rpmv3", read(&r.v3), &k.rsa_asc, &r.db_all, 0),
        ("unsigned", read(&r.unsigned), &k.rsa_asc, &r.db_all, 3),
        ("wrong key", good.clone(), &k.other_asc, &r.db_other, 1),
        (
            "corrupted header",
            flip(payload - 8),
            &k.rsa_asc,
            &r.db_all,
            1,
        ),
        ("corrupted payload", flip(n - 8), &k.rsa_asc, &r.db_all, 1),
        (
            "truncated",
            good[..payload + (n - payload) / 2].to_vec(),
            &k.rsa_asc,
            &r.db_all,
            1,
        ),
        (
            "signature of another package",
            swapped,
            &k.rsa_asc,
            &r.db_all,
            1,
        ),
    ];
    let scratch = e.dir.path().join("oracle");
    std::fs::create_dir_all(&scratch).unwrap();
    for (i, (what, bytes, key, db, want)) in cases.into_iter().enumerate() {
        let f = scratch.join(format!("{i}.rpm"));
        std::fs::write(&f, &bytes).unwrap();
        let rpm_ok = rpm_accepts(db, &f);
        let url = e
            .server
            .route(&format!("/{i}/bvtest-1.0-1.noarch.rpm"), Reply::Body(bytes));
        let o = e.run(&["--keyring", key.to_str().unwrap(), &url]);
        assert_eq!(code(&o), want, "{what}: {}", stderr(&o));
        assert_eq!(want == 0, rpm_ok, "{what}: rpm says {rpm_ok}");
        if want == 0 {
            assert_eq!(listing(&e.out()), vec!["bvtest-1.0-1.noarch.rpm"], "{what}");
            assert!(
                stderr(&o).contains("bvtest-1.0-1.noarch: digests signatures OK"),
                "{what}: {}",
                stderr(&o)
            );
            std::fs::remove_file(e.out().join("bvtest-1.0-1.noarch.rpm")).unwrap();
        } else {
            assert_nothing_left(&e, &o, want);
        }
    }

    // Present and good: re-verified by its signature, not fetched again;
    // tampered: replaced by the verified download.
    let url = e
        .server
        .route("/p/bvtest-1.0-1.noarch.rpm", Reply::Body(good.clone()));
    let ring = k.rsa_asc.to_str().unwrap();
    let o = e.run(&["--keyring", ring, "--json", &url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["package"], "bvtest-1.0-1.noarch");
    assert_eq!(j["signers"][0], k.rsa_fpr.as_str());
    let o = e.run(&["--keyring", ring, "--json", &url]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["reused"], true);
    std::fs::write(e.out().join("bvtest-1.0-1.noarch.rpm"), flip(n - 8)).unwrap();
    let o = e.run(&["--keyring", ring, &url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(read(&e.out().join("bvtest-1.0-1.noarch.rpm")), good);
    assert_eq!(e.server.hits("/p/bvtest-1.0-1.noarch.rpm"), 2);
    std::fs::remove_file(e.out().join("bvtest-1.0-1.noarch.rpm")).unwrap();

    // --rpm for a URL that does not say .rpm; with a SIG it is a usage error.
    let koji = e.server.route("/getfile?id=7", Reply::Body(good.clone()));
    let o = e.run(&["--keyring", ring, "--rpm", "-o", "pkg.bin", &koji]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    std::fs::remove_file(e.out().join("pkg.bin")).unwrap();
    let o = e.run(&["--keyring", ring, "--rpm", &url, &url]);
    assert_nothing_left(&e, &o, 2);
    // A pinned hash is checked as well as the signature.
    let o = e.run(&["--keyring", ring, "--sha256", &"00".repeat(32), &url]);
    assert_nothing_left(&e, &o, 1);
}

#[test]
fn a_real_rpm_fusion_package_by_its_distributor_key() {
    let e = setup();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rpm");
    let pkg = "rpmfusion-free-release-44-1.noarch.rpm";
    e.server.serve_dir(&data);
    let url = e.server.url(&format!("/{pkg}"));
    let key = data.join("RPM-GPG-KEY-rpmfusion-free-fedora-2020");
    let o = e.run(&["--keyring", key.to_str().unwrap(), &url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "E9A491A3DE247814E7E067EAE06F8ECDD651FF2E"
    );
    assert_eq!(listing(&e.out()), vec![pkg]);
    std::fs::remove_file(e.out().join(pkg)).unwrap();
    let fedora = data.join("RPM-GPG-KEY-fedora-39-primary");
    let o = e.run(&["--keyring", fedora.to_str().unwrap(), &url]);
    assert_nothing_left(&e, &o, 1);
    if pk::oracle("rpmkeys") {
        let db = pk::rpmdb(&e.dir.path().join("db"), &[&key]);
        assert!(rpm_accepts(&db, &data.join(pkg)));
        let db = pk::rpmdb(&e.dir.path().join("db-fedora"), &[&fedora]);
        assert!(!rpm_accepts(&db, &data.join(pkg)));
    }
}

/// A copy of the fixture repository served over HTTP, to tamper with.
struct Served {
    _tmp: tempfile::TempDir,
    repo: std::path::PathBuf,
    server: Server,
}

impl Served {
    fn new(d: &Deb) -> Served {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        pk::copy_tree(&d.repo, &repo);
        let server = Server::start();
        server.serve_dir(&repo);
        Served {
            _tmp: tmp,
            repo,
            server,
        }
    }

    fn url(&self, rel: &str) -> String {
        self.server.url(&format!("/{rel}"))
    }
}

const IN_RELEASE: &str = "dists/stable/InRelease";
const PACKAGES_XZ: &str = "dists/stable/main/binary-amd64/Packages.xz";
const HELLO_DEB: &str = "pool/main/bvhello_1.0-1_all.deb";

#[test]
fn debian_chain_through_fetch_verified() {
    let Some((k, d)) = pkg_deb() else { return };
    let e = setup();
    let s = Served::new(d);
    let ring = &k.rsa_asc;
    let good = e.dir.path().join("good");
    // InRelease as SIG pins the index by its entry (size and SHA-256); the
    // second archive key's signature is reported and ignored.
    let o = fetch_in(
        &good,
        &[&"--keyring", ring, &s.url(PACKAGES_XZ), &s.url(IN_RELEASE)],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), k.rsa_fpr);
    assert!(stderr(&o).contains("ignored"), "{}", stderr(&o));
    // The verified index pins the .deb by its Filename stanza.
    let o = fetch_in(&good, &[&"--hash-file", &"Packages.xz", &s.url(HELLO_DEB)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // --decompress stores the index by its uncompressed entry.
    let o = fetch_in(
        &good,
        &[
            &"--keyring",
            ring,
            &"--decompress",
            &s.url(PACKAGES_XZ),
            &s.url(IN_RELEASE),
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        std::fs::read(good.join("Packages")).unwrap(),
        std::fs::read(s.repo.join("dists/stable/main/binary-amd64/Packages")).unwrap()
    );
    // Sources: the index pins the .dsc; the .dsc (maintainer-signed) as
    // SIG pins the tarballs.
    let sources = "dists/stable/main/source/Sources.xz";
    let o = fetch_in(
        &good,
        &[&"--keyring", ring, &s.url(sources), &s.url(IN_RELEASE)],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let dsc = "pool/main/bvsrc_1.0-1.dsc";
    let o = fetch_in(&good, &[&"--hash-file", &"Sources.xz", &s.url(dsc)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for tarball in [
        "pool/main/bvsrc_1.0.orig.tar.gz",
        "pool/main/bvsrc_1.0-1.debian.tar.xz",
    ] {
        let o = fetch_in(
            &good,
            &[&"--keyring", &k.ed_asc, &s.url(tarball), &s.url(dsc)],
        );
        assert_eq!(code(&o), 0, "{tarball}: {}", stderr(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains(&k.ed_fpr));
    }
    // An entry the list does not have: nothing to verify with.
    let o = fetch_in(
        &e.out(),
        &[&"--keyring", ring, &s.url(HELLO_DEB), &s.url(IN_RELEASE)],
    );
    assert_nothing_left(&e, &o, 3);

    // Each link tampered: exit 1, nothing left (no final file, no
    // NAME.UNTRUSTED).
    let tampered =
        |name: &str, change: &dyn Fn(&Path), args: &dyn Fn(&Served) -> Vec<String>, what: &str| {
            let s = Served::new(d);
            change(&s.repo);
            let out = e.dir.path().join(name);
            let a = args(&s);
            let refs: Vec<&dyn AsRef<std::ffi::OsStr>> =
                a.iter().map(|x| x as &dyn AsRef<std::ffi::OsStr>).collect();
            let o = fetch_in(&out, &refs);
            assert_eq!(code(&o), 1, "{name}: {}", stderr(&o));
            assert!(stderr(&o).contains(what), "{name}: {}", stderr(&o));
            assert_eq!(listing(&out), Vec::<String>::new(), "{name}");
            s
        };
    let ring_s = ring.to_str().unwrap().to_string();
    let index_args = |s: &Served| {
        vec![
            "--keyring".to_string(),
            ring_s.clone(),
            s.url(PACKAGES_XZ),
            s.url(IN_RELEASE),
        ]
    };
    let hash_file = good.join("Packages.xz").to_str().unwrap().to_string();
    let deb_args = |s: &Served| {
        vec![
            "--hash-file".to_string(),
            hash_file.clone(),
            s.url(HELLO_DEB),
        ]
    };
    let s = tampered(
        "inrelease",
        &|repo| {
            let p = repo.join(IN_RELEASE);
            let t = std::fs::read_to_string(&p).unwrap();
            let at = t.find("SHA256:").unwrap() + 10;
            let mut b = t.into_bytes();
            b[at] = if b[at] == b'0' { b'1' } else { b'0' };
            std::fs::write(&p, b).unwrap();
        },
        &index_args,
        "BAD signature",
    );
    assert_eq!(
        s.server.hits(&format!("/{PACKAGES_XZ}")),
        0,
        "fetched on a forged InRelease"
    );
    tampered(
        "index",
        &|repo| {
            let plain = repo.join("dists/stable/main/binary-amd64/Packages");
            let t = std::fs::read_to_string(&plain)
                .unwrap()
                .replace("Version: 1.0-1", "Version: 1.0-2");
            pk::write_index(&plain, t.as_bytes());
        },
        &index_args,
        "mismatch",
    );
    tampered(
        "deb",
        &|repo| {
            let p = repo.join(HELLO_DEB);
            let mut b = std::fs::read(&p).unwrap();
            let n = b.len();
            b[n - 5] ^= 1;
            std::fs::write(&p, b).unwrap();
        },
        &deb_args,
        "sha256 mismatch",
    );
    tampered(
        "size",
        &|repo| {
            let p = repo.join(HELLO_DEB);
            let b = std::fs::read(&p).unwrap();
            std::fs::write(&p, [b.as_slice(), b"x"].concat()).unwrap();
        },
        &deb_args,
        "size mismatch",
    );
    tampered(
        "expired",
        &|repo| {
            std::fs::copy(&d.expired, repo.join(IN_RELEASE)).unwrap();
        },
        &index_args,
        "expired: Valid-Until",
    );
    tampered(
        "orig",
        &|repo| {
            let p = repo.join("pool/main/bvsrc_1.0.orig.tar.gz");
            let mut b = std::fs::read(&p).unwrap();
            b[20] ^= 1;
            std::fs::write(&p, b).unwrap();
        },
        &|s: &Served| {
            vec![
                "--keyring".into(),
                k.ed_asc.to_str().unwrap().into(),
                s.url("pool/main/bvsrc_1.0.orig.tar.gz"),
                s.url(dsc),
            ]
        },
        "mismatch",
    );
}
