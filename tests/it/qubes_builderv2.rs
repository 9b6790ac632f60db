//! contrib/qubes-builderv2/download-file and verify-file, run with Qubes
//! Builder v2's own flags the way its fetch plugin runs them (download into
//! the executor's component directory, verify into a temporary directory
//! holding the untrusted files), against the HTTPS server of
//! tests/common/http.rs, with keys and digests made here; sqv and
//! sha256sum/sha512sum judge the same inputs.
//!
//! The scripts and tools are the source tree's and this build's, or the
//! installed ones: BUILD_VERIFY_DROPINS_DIR=/usr/lib/build-verify/qubes-builderv2
//! and BUILD_VERIFY_TOOLS_DIR=/usr/bin (CI runs these and `source`, the
//! source step, after installing the package).

use crate::common;

mod source;

use common::http::{Reply, Server, TestCa};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dropin(name: &str) -> PathBuf {
    match std::env::var_os("BUILD_VERIFY_DROPINS_DIR") {
        Some(d) => PathBuf::from(d).join(name),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("contrib/qubes-builderv2")
            .join(name),
    }
}

fn tool(name: &str, built: &str) -> PathBuf {
    match std::env::var_os("BUILD_VERIFY_TOOLS_DIR") {
        Some(d) => PathBuf::from(d).join(name),
        None => PathBuf::from(built),
    }
}

/// A server, a key, and the places the builder uses.
struct World {
    _ca: TestCa,
    ca_pem: PathBuf,
    srv: Server,
    tmp: tempfile::TempDir,
    key: sequoia_openpgp::Cert,
    keyring: PathBuf,
}

impl World {
    fn new() -> World {
        let ca = TestCa::new();
        let srv = Server::start_tls(&ca);
        let tmp = tempfile::tempdir().unwrap();
        let key = common::gen_key("Upstream <upstream@example.org>");
        let keyring = common::write_keyring(&tmp.path().join("upstream.asc"), &[&key]);
        World {
            ca_pem: ca.ca_pem.clone(),
            _ca: ca,
            srv,
            tmp,
            key,
            keyring,
        }
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn script(&self, name: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
        let mut cmd = Command::new(dropin(name));
        cmd.current_dir(self.tmp.path())
            .env(
                "FETCH_VERIFIED",
                tool("fetch-verified", env!("CARGO_BIN_EXE_fetch-verified")),
            )
            .env(
                "CHECK_HASHES",
                tool("check-hashes", env!("CARGO_BIN_EXE_check-hashes")),
            )
            .env(
                "FETCH_VERIFIED_FLAGS",
                format!("--ca-file {} --retries 0", self.ca_pem.display()),
            );
        for a in args {
            cmd.arg(a.as_ref());
        }
        cmd.output().unwrap()
    }

    /// download-file as the fetch plugin calls it.
    fn download(&self, out: &Path, name: &str, url: &str, sig: Option<&str>, x: bool) -> Output {
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
            &"--output-dir",
            &out,
            &"--file-name",
            &name,
            &"--file-url",
            &url,
        ];
        if let Some(s) = &sig {
            args.push(&"--signature-url");
            args.push(s);
        }
        if x {
            args.push(&"--uncompress");
        }
        self.script("download-file", &args)
    }
}

/// Every entry of `dir`, by name, with its content (directories as "/").
fn listing(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    rd.map(|e| {
        let e = e.unwrap();
        let p = e.path();
        let body = if p.is_dir() {
            b"/".to_vec()
        } else {
            std::fs::read(&p).unwrap()
        };
        (e.file_name().to_string_lossy().into_owned(), body)
    })
    .collect()
}

fn names(dir: &Path) -> Vec<String> {
    listing(dir).into_keys().collect()
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn compress(program: &str, data: &[u8]) -> Vec<u8> {
    common::pipe(program, &["-c"], data)
}

fn tarball() -> Vec<u8> {
    (0..200_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect()
}

#[test]
fn signed_file_is_downloaded_then_verified_as_the_builder_does() {
    let w = World::new();
    let data = tarball();
    let sig = common::armor_sig(&common::sign_detached(&w.key, &data));
    let url = w.srv.route("/hello-1.0.tar.gz", Reply::Body(data.clone()));
    let sig_url = w
        .srv
        .route("/hello-1.0.tar.gz.asc", Reply::Body(sig.clone()));
    let exec = w.dir("executor/hello");

    ok(&w.download(&exec, "hello-1.0.tar.gz", &url, Some(&sig_url), false));
    let left = listing(&exec);
    assert_eq!(
        left.keys().collect::<Vec<_>>(),
        [
            "untrusted_hello-1.0.tar.gz",
            "untrusted_hello-1.0.tar.gz.asc"
        ]
    );
    assert_eq!(left["untrusted_hello-1.0.tar.gz"], data);
    assert_eq!(left["untrusted_hello-1.0.tar.gz.asc"], sig);

    // The plugin copies both out into a temporary directory and verifies
    // there, with that directory as the output directory.
    let t = w.dir("verify-tmp");
    std::fs::create_dir_all(&t).unwrap();
    for n in left.keys() {
        std::fs::copy(exec.join(n), t.join(n)).unwrap();
    }
    assert!(common::have("sqv"));
    assert!(common::sqv_accepts(
        &w.keyring,
        &t.join("untrusted_hello-1.0.tar.gz.asc"),
        &t.join("untrusted_hello-1.0.tar.gz")
    ));
    let o = w.script(
        "verify-file",
        &[
            &"--output-dir",
            &t,
            &"--untrusted-file",
            &t.join("untrusted_hello-1.0.tar.gz"),
            &"--untrusted-signature-file",
            &t.join("untrusted_hello-1.0.tar.gz.asc"),
            &"--pubkey-file",
            &w.keyring,
        ],
    );
    ok(&o);
    let done = listing(&t);
    assert_eq!(
        done.keys().collect::<Vec<_>>(),
        ["hello-1.0.tar.gz", "hello-1.0.tar.gz.asc"]
    );
    assert_eq!(done["hello-1.0.tar.gz"], data);
    assert_eq!(done["hello-1.0.tar.gz.asc"], sig);
    // The signer's fingerprint on stdout, as sqv prints it.
    let fpr = w.key.fingerprint().to_hex();
    assert!(String::from_utf8_lossy(&o.stdout).contains(&fpr));
}

#[test]
fn uncompress_stores_the_tar_whose_signature_is_checked() {
    let w = World::new();
    let tar = tarball();
    for (ext, program) in [("gz", "gzip"), ("xz", "xz"), ("bz2", "bzip2")] {
        let name = format!("linux-6.1.tar.{ext}");
        let url = w
            .srv
            .route(&format!("/{name}"), Reply::Body(compress(program, &tar)));
        // kernel.org style: the signature covers the uncompressed tar.
        let sig = common::sign_detached(&w.key, &tar);
        let sig_url = w
            .srv
            .route(&format!("/{ext}/linux-6.1.tar.sign"), Reply::Body(sig));
        let exec = w.dir(&format!("exec-{ext}"));
        ok(&w.download(&exec, &name, &url, Some(&sig_url), true));
        let left = listing(&exec);
        assert_eq!(
            left.keys().collect::<Vec<_>>(),
            ["untrusted_linux-6.1.tar", "untrusted_linux-6.1.tar.sign"],
            "{ext}"
        );
        assert_eq!(left["untrusted_linux-6.1.tar"], tar, "{ext}");

        let out = w.dir(&format!("out-{ext}"));
        ok(&w.script(
            "verify-file",
            &[
                &"-o",
                &out,
                &"-f",
                &exec.join("untrusted_linux-6.1.tar"),
                &"-s",
                &exec.join("untrusted_linux-6.1.tar.sign"),
                &"-p",
                &w.keyring,
            ],
        ));
        assert_eq!(
            names(&out),
            ["linux-6.1.tar", "linux-6.1.tar.sign"],
            "{ext}"
        );
        assert!(
            names(&exec).is_empty(),
            "{ext}: the untrusted names are gone"
        );
    }
}

#[test]
fn bare_digest_checksum_files_pin_downloads() {
    let w = World::new();
    let tar = tarball();
    // An -rc kernel: .tar.gz, uncompressed, pinned by the tar's SHA-256;
    // and a plain file pinned by SHA-512 (a bare digest and a newline).
    let gz = w
        .srv
        .route("/linux-6.2-rc1.tar.gz", Reply::Body(compress("gzip", &tar)));
    let notice = b"notice\r\n".to_vec();
    // Qubes' URL#/NAME convention names the download.
    let plain = w.srv.route("/NOTICE.txt", Reply::Body(notice.clone())) + "#/NOTICE-1.txt";
    let src = w.dir("component");
    std::fs::create_dir_all(&src).unwrap();
    let sha256 = sha(&src, "sha256sum", "linux-6.2-rc1.tar", &tar);
    let sha512 = sha(&src, "sha512sum", "NOTICE-1.txt", &notice);

    let exec = w.dir("exec");
    ok(&w.download(&exec, "linux-6.2-rc1.tar.gz", &gz, None, true));
    ok(&w.download(&exec, "NOTICE-1.txt", &plain, None, false));
    assert_eq!(
        names(&exec),
        ["untrusted_NOTICE-1.txt", "untrusted_linux-6.2-rc1.tar"]
    );
    // The server never saw the fragment.
    assert_eq!(w.srv.hits("/NOTICE.txt"), 1);

    let out = w.dir("out");
    for (file, sum, cmd) in [
        ("untrusted_linux-6.2-rc1.tar", &sha256, "sha256sum"),
        ("untrusted_NOTICE-1.txt", &sha512, "sha512sum"),
    ] {
        ok(&w.script(
            "verify-file",
            &[
                &"--output-dir",
                &out,
                &"--untrusted-file",
                &exec.join(file),
                &"--checksum-cmd",
                &cmd,
                &"--checksum-file",
                sum,
            ],
        ));
    }
    let done = listing(&out);
    assert_eq!(done["linux-6.2-rc1.tar"], tar);
    assert_eq!(done["NOTICE-1.txt"], notice);
    assert_eq!(done.len(), 2);
    assert!(names(&exec).is_empty());
}

/// A bare-digest file NAME.sha256 (or .sha512) for `data` in `dir`, as
/// Qubes components carry them, checked by the coreutils tool itself.
fn sha(dir: &Path, cmd: &str, name: &str, data: &[u8]) -> PathBuf {
    let f = dir.join(name);
    std::fs::write(&f, data).unwrap();
    let o = Command::new(cmd).arg(&f).output().unwrap();
    assert!(o.status.success());
    std::fs::remove_file(&f).unwrap();
    let digest = String::from_utf8(o.stdout).unwrap();
    let digest = digest.split_whitespace().next().unwrap().to_string();
    let ext = cmd.trim_end_matches("sum");
    let p = dir.join(format!("{name}.{ext}"));
    std::fs::write(&p, format!("{digest}\n")).unwrap();
    p
}

#[test]
fn failed_downloads_leave_nothing() {
    let w = World::new();
    let data = tarball();
    let good_sig = common::sign_detached(&w.key, &data);
    let file = w.srv.route("/f.tar.gz", Reply::Body(data.clone()));
    let sig = w.srv.route("/f.tar.gz.sig", Reply::Body(good_sig));
    let missing = w.srv.route("/missing.tar.gz", Reply::Status(404));
    let missing_sig = w.srv.route("/missing.sig", Reply::Status(404));
    let cut = w
        .srv
        .route("/cut.tar.gz", Reply::Truncated(data.clone(), 1000));
    let gz = compress("gzip", &data);
    let mut bad_gz = gz.clone();
    let mid = bad_gz.len() / 2;
    bad_gz[mid] ^= 0x55;
    let corrupt = w.srv.route("/corrupt.tar.gz", Reply::Body(bad_gz));
    let mut trailing = compress("xz", &data);
    trailing.extend_from_slice(b"appended");
    let garbage = w.srv.route("/garbage.tar.xz", Reply::Body(trailing));
    let xz = compress("xz", &data);
    let short = w
        .srv
        .route("/short.tar.xz", Reply::Body(xz[..xz.len() / 2].to_vec()));
    let down = w.srv.route(
        "/down.tar.gz",
        Reply::Redirect("http://127.0.0.1:9/x".into()),
    );
    let plain_http = file.replacen("https://", "http://", 1);
    let zip = w.srv.route("/f.zip", Reply::Body(data.clone()));

    // (what, --file-name, --file-url, --signature-url, --uncompress, exit code)
    type Case<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, bool, i32);
    let cases: Vec<Case> = vec![
        ("404", "missing.tar.gz", &missing, None, false, 3),
        (
            "signature 404",
            "f.tar.gz",
            &file,
            Some(&missing_sig),
            false,
            3,
        ),
        (
            "file 404 after its signature",
            "missing.tar.gz",
            &missing,
            Some(&sig),
            false,
            3,
        ),
        ("cut off", "cut.tar.gz", &cut, None, false, 4),
        ("corrupt gzip", "corrupt.tar.gz", &corrupt, None, true, 1),
        (
            "xz with trailing data",
            "garbage.tar.xz",
            &garbage,
            None,
            true,
            1,
        ),
        ("truncated xz", "short.tar.xz", &short, None, true, 1),
        (
            "https to http redirect",
            "down.tar.gz",
            &down,
            None,
            false,
            1,
        ),
        ("plain http", "f.tar.gz", &plain_http, None, false, 2),
        (
            "http signature",
            "f.tar.gz",
            &file,
            Some("http://127.0.0.1:9/f.sig"),
            false,
            2,
        ),
        ("uncompress of a .zip", "f.zip", &zip, None, true, 2),
        ("a path as file name", "../f.tar.gz", &file, None, false, 2),
    ];
    for (what, name, url, sig_url, x, want) in cases {
        let exec = w.dir(&format!("exec-{}", what.replace(' ', "-")));
        let o = w.download(&exec, name, url, sig_url, x);
        assert_eq!(
            code(&o),
            want,
            "{what}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(names(&exec).is_empty(), "{what}: left {:?}", names(&exec));
    }
    // Refused before any request.
    assert_eq!(w.srv.hits("/f.zip"), 0);
}

#[test]
fn failed_verifications_leave_only_the_untrusted_files() {
    let w = World::new();
    let data = tarball();
    let other = common::gen_key("Someone else <other@example.org>");
    let other_ring = common::write_keyring(&w.dir("other.asc"), &[&other]);
    let t = w.dir("t");
    std::fs::create_dir_all(&t).unwrap();
    let src = w.dir("component");
    std::fs::create_dir_all(&src).unwrap();
    let good_sum = sha(&src, "sha256sum", "f.tar", &data);
    let wrong_sum = sha(&src, "sha256sum", "g.tar", b"other bytes");
    let listed = src.join("f.tar.listed.sha256");
    std::fs::write(
        &listed,
        format!(
            "{}  f.tar\n",
            std::fs::read_to_string(&good_sum).unwrap().trim()
        ),
    )
    .unwrap();

    let mut flipped = data.clone();
    flipped[1234] ^= 1;
    let good_sig = common::sign_detached(&w.key, &data);
    let by_other = common::sign_detached(&other, &data);
    let f = t.join("untrusted_f.tar");
    let s = t.join("untrusted_f.tar.sig");
    let missing = w.dir("nowhere.asc");

    type Case<'a> = (
        &'a str,
        &'a [u8],
        Option<&'a [u8]>,
        Vec<&'a dyn AsRef<std::ffi::OsStr>>,
        i32,
    );
    let cases: Vec<Case> = vec![
        (
            "bad signature",
            &flipped,
            Some(&good_sig),
            vec![&"-s", &s, &"-p", &w.keyring],
            1,
        ),
        (
            "unknown signer",
            &data,
            Some(&by_other),
            vec![&"-s", &s, &"-p", &w.keyring],
            1,
        ),
        (
            "wrong key given",
            &data,
            Some(&good_sig),
            vec![&"-s", &s, &"-p", &other_ring],
            1,
        ),
        (
            "garbage signature",
            &data,
            Some(b"not a signature"),
            vec![&"-s", &s, &"-p", &w.keyring],
            1,
        ),
        ("wrong checksum", &data, None, vec![&"-c", &wrong_sum], 1),
        (
            "checksum of changed bytes",
            &flipped,
            None,
            vec![&"-c", &good_sum],
            1,
        ),
        (
            "sha512sum of a sha256 digest",
            &data,
            None,
            vec![&"-m", &"sha512sum", &"-c", &good_sum],
            2,
        ),
        (
            "a list, not a bare digest",
            &data,
            None,
            vec![&"-c", &listed],
            2,
        ),
        (
            "md5sum",
            &data,
            None,
            vec![&"-m", &"md5sum", &"-c", &good_sum],
            2,
        ),
        (
            "missing checksum file",
            &data,
            None,
            vec![&"-c", &missing],
            2,
        ),
        (
            "missing pubkey",
            &data,
            Some(&good_sig),
            vec![&"-s", &s, &"-p", &missing],
            2,
        ),
        (
            "signature without pubkey",
            &data,
            Some(&good_sig),
            vec![&"-s", &s],
            2,
        ),
        (
            "pubkey without signature",
            &data,
            None,
            vec![&"-p", &w.keyring],
            2,
        ),
        ("nothing to verify with", &data, None, vec![], 2),
        (
            "good checksum, bad signature",
            &data,
            Some(&by_other),
            vec![&"-c", &good_sum, &"-s", &s, &"-p", &w.keyring],
            1,
        ),
    ];
    for (what, content, sig, extra, want) in cases {
        let _ = std::fs::remove_dir_all(&t);
        std::fs::create_dir_all(&t).unwrap();
        std::fs::write(&f, content).unwrap();
        if let Some(sig) = sig {
            std::fs::write(&s, sig).unwrap();
        }
        let before = listing(&t);
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"-o", &t, &"-f", &f];
        args.extend(extra);
        let o = w.script("verify-file", &args);
        assert_eq!(
            code(&o),
            want,
            "{what}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        // Exactly what was there: the untrusted files, unmoved and intact.
        assert_eq!(listing(&t), before, "{what}");
        // The peers agree: sqv that these signatures fail (but for the
        // one by a key not given), the original's sha256sum check that
        // these digests do not match.
        if want == 1 && sig.is_some() && what != "wrong key given" {
            assert!(!common::sqv_accepts(&w.keyring, &s, &f), "{what}");
        }
        if want == 1 && sig.is_none() {
            let sum = if what == "wrong checksum" {
                &wrong_sum
            } else {
                &good_sum
            };
            assert!(!sha256sum_accepts(sum, &f), "{what}");
        }
    }
    assert!(sha256sum_accepts(&good_sum, &f));
}

/// The original verify-file's check: `sha256sum --status -c` of
/// "$(cat SUMFILE)  -" with the file on standard input.
fn sha256sum_accepts(sum: &Path, file: &Path) -> bool {
    Command::new("bash")
        .arg("-c")
        .arg(r#"sha256sum --status -c <(printf '%s  -\n' "$(cat "$1")") < "$2""#)
        .arg("bash")
        .arg(sum)
        .arg(file)
        .status()
        .unwrap()
        .success()
}

#[test]
fn verify_file_into_another_directory_and_file_system() {
    let w = World::new();
    let data = tarball();
    let src = w.dir("component");
    std::fs::create_dir_all(&src).unwrap();
    let sum = sha(&src, "sha256sum", "f.tar", &data);
    let sig = common::sign_detached(&w.key, &data);
    // /dev/shm is a tmpfs: a rename from the temporary directory cannot
    // reach it, so the verified copy is made there instead.
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    for (what, extra) in [
        ("checksum", vec![&"-c" as &dyn AsRef<std::ffi::OsStr>, &sum]),
        (
            "signature",
            vec![&"-s", &w.dir("t/untrusted_f.tar.sig"), &"-p", &w.keyring],
        ),
        (
            "both",
            vec![
                &"-c",
                &sum,
                &"-s",
                &w.dir("t/untrusted_f.tar.sig"),
                &"-p",
                &w.keyring,
            ],
        ),
    ] {
        for out in [w.dir(&format!("out-{what}")), base.path().join(what)] {
            let t = w.dir("t");
            let _ = std::fs::remove_dir_all(&t);
            std::fs::create_dir_all(&t).unwrap();
            let f = t.join("untrusted_f.tar");
            std::fs::write(&f, &data).unwrap();
            std::fs::write(t.join("untrusted_f.tar.sig"), &sig).unwrap();
            let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"-o", &out, &"-f", &f];
            args.extend(extra.iter().copied());
            ok(&w.script("verify-file", &args));
            let done = listing(&out);
            assert_eq!(done["f.tar"], data, "{what} into {}", out.display());
            let signed = what != "checksum";
            assert_eq!(done.contains_key("f.tar.sig"), signed, "{what}");
            assert_eq!(
                done.len(),
                1 + usize::from(signed),
                "{what}: {:?}",
                done.keys()
            );
            let mut left = names(&t);
            left.retain(|n| n != "untrusted_f.tar.sig" || signed);
            assert!(left.is_empty(), "{what}: left {left:?}");
        }
    }
}

#[test]
fn help_and_bad_options() {
    let w = World::new();
    for s in ["download-file", "verify-file"] {
        let o = w.script(s, &[&"--help"]);
        ok(&o);
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("--output-dir"),
            "{s}"
        );
        let o = w.script(s, &[&"--no-such-option"]);
        assert_eq!(code(&o), 2, "{s}");
        let o = w.script(s, &[]);
        assert_eq!(code(&o), 2, "{s}");
    }
}

/// fetch-verified --unverified, which download-file is made of, stores
/// only under names that say the file is unverified, and takes nothing
/// that would suggest a check.
#[test]
fn unverified_downloads_only_get_untrusted_names() {
    let w = World::new();
    let url = w.srv.route("/f.tar.gz", Reply::Body(tarball()));
    let fv = tool("fetch-verified", env!("CARGO_BIN_EXE_fetch-verified"));
    let dir = w.dir("dl");
    std::fs::create_dir_all(&dir).unwrap();
    let ca = w.ca_pem.display().to_string();
    let run = |args: &[&str]| {
        Command::new(&fv)
            .args(["--ca-file", &ca, "--retries", "0", "--unverified"])
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    for (args, why) in [
        (
            vec!["-o", "f.tar.gz", url.as_str()],
            "a name without untrusted_",
        ),
        (vec!["-o", "untrusted_", url.as_str()], "the prefix alone"),
        (vec![url.as_str()], "no -o"),
        (
            vec!["-o", "untrusted_f", "--keyring", "k.asc", url.as_str()],
            "a keyring",
        ),
        (
            vec!["-o", "untrusted_f", url.as_str(), "f.sig"],
            "a signature",
        ),
        (
            vec!["-o", "untrusted_f", "--sha256", "00", url.as_str()],
            "a pin",
        ),
        (
            vec!["-o", "untrusted_f", "--uncompress", url.as_str()],
            "--uncompress",
        ),
        (
            vec![
                "-o",
                "untrusted_f",
                "--mirror",
                "https://m.invalid",
                url.as_str(),
            ],
            "a mirror",
        ),
    ] {
        let o = run(&args);
        assert_eq!(code(&o), 2, "{why}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(names(&dir).is_empty(), "{why}");
    }
    assert_eq!(w.srv.hits("/f.tar.gz"), 0);
    let o = run(&["-o", "untrusted_f.tar.gz", &url]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("NOT verified"));
    assert_eq!(names(&dir), ["untrusted_f.tar.gz"]);
    // --decompress of a name that is not compressed is refused.
    let o = run(&[
        "--decompress",
        "-o",
        "untrusted_g",
        &url.replace(".tar.gz", ".tar"),
    ]);
    assert_eq!(code(&o), 2, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(names(&dir), ["untrusted_f.tar.gz"]);
}
