//! GNU make running make/build-verify.mk against the HTTP server in the test
//! process: good sources, a bad signature, re-runs, -j4, killed fetches, and
//! two component Makefiles of the kinds Qubes has: kernel-style (a signed
//! uncompressed .tar served as .tar.xz, stored as the verified .tar) and
//! xen-style (a signed tarball and many FILE.sha512-pinned ones), with
//! mirrors, tampering, and `git status` after an interrupted run.

use crate::common;

use common::git::git;
use common::http::{Reply, Server};
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FRAGMENT_FLAGS: &str = "--allow-http --retries 0 --read-timeout 2";

struct Env {
    tmp: tempfile::TempDir,
    server: Server,
    keyring: PathBuf,
    key: sequoia_openpgp::Cert,
}

fn setup() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let key = gen_key("Upstream");
    let keyring = write_keyring(&tmp.path().join("upstream.asc"), &[&key]);
    Env {
        tmp,
        server: Server::start(),
        keyring,
        key,
    }
}

/// The head of every test Makefile: our tools, the fetch flags the tests
/// need (in the component's variable), the fragment.
fn preamble() -> String {
    format!(
        "FETCH_VERIFIED := {}\nBUILD_VERIFY_FETCH_FLAGS := {FRAGMENT_FLAGS}\n\
         include {}/make/build-verify.mk\n",
        env!("CARGO_BIN_EXE_fetch-verified"),
        env!("CARGO_MANIFEST_DIR")
    )
}

impl Env {
    /// Serve NAME (and NAME.asc signed by the upstream key); returns the URL.
    fn publish(&self, name: &str, data: &[u8]) -> String {
        self.server.publish_signed(&self.key, name, data)
    }

    fn component(&self, name: &str, makefile: &str) -> PathBuf {
        let dir = self.tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Makefile"), makefile).unwrap();
        dir
    }

    /// A component Makefile fetching `sources` (name → hash-pinned or signed).
    fn makefile(&self, signed: &[&str], hashed: &[(&str, &str)]) -> PathBuf {
        let mut mk = preamble();
        for s in signed {
            let url = self.server.url(&format!("/{s}"));
            mk += &format!(
                "$(eval $(call fetch-verified-rule,{s},{url},{url}.asc,{}))\n",
                self.keyring.display()
            );
        }
        for (s, hashfile) in hashed {
            let url = self.server.url(&format!("/{s}"));
            mk += &format!("$(eval $(call fetch-hashed-rule,{s},{url},{hashfile}))\n");
        }
        mk += "get-sources: $(BUILD_VERIFY_SOURCES)\n.PHONY: get-sources\n";
        self.component("component", &mk)
    }
}

fn make(dir: &Path, args: &[&str]) -> Output {
    make_env(dir, args, &[])
}

/// make in `dir`, without a mirror from the machine's environment.
fn make_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new("make")
        .args(args)
        .current_dir(dir)
        .env_remove("DISTFILES_MIRROR")
        .env_remove("FETCH_VERIFIED_FLAGS")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn sha256_hex(data: &[u8]) -> String {
    use build_verify::digest::{hash_reader, Algo};
    hash_reader(data, &[Algo::Sha256])
        .unwrap()
        .hex(Algo::Sha256)
        .unwrap()
}

/// A failed make: make's own status 2, the tool's exit code in make's
/// "Error N" line, and nothing but `kept` left in `dir`.
fn assert_failed_leaving(dir: &Path, o: &Output, tool_code: i32, kept: &[&str]) {
    assert_eq!(o.status.code(), Some(2), "{}", text(o));
    assert!(
        text(o).contains(&format!("Error {tool_code}")),
        "want the tool's exit {tool_code}: {}",
        text(o)
    );
    assert_eq!(listing(dir), kept, "left behind after: {}", text(o));
}

#[test]
fn good_sources_rerun_and_verify_sources() {
    let e = setup();
    e.publish("foo-1.0.tar.gz", b"foo source");
    e.publish("bar-2.0.tar.xz", b"bar source");
    e.server
        .route("/notice.txt", Reply::Body(b"pinned".to_vec()));
    let dir = e.makefile(
        &["foo-1.0.tar.gz", "bar-2.0.tar.xz"],
        &[("notice.txt", "notice.txt.sha256")],
    );
    std::fs::write(dir.join("notice.txt.sha256"), sha256_hex(b"pinned") + "\n").unwrap();
    // -n shows the real commands and runs nothing.
    let o = make(&dir, &["-n", "get-sources"]);
    assert!(text(&o).contains(FRAGMENT_FLAGS), "{}", text(&o));
    assert_eq!(e.server.hits("/foo-1.0.tar.gz"), 0);

    let o = make(&dir, &["get-sources"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(dir.join("foo-1.0.tar.gz")).unwrap(),
        b"foo source"
    );
    assert_eq!(std::fs::read(dir.join("notice.txt")).unwrap(), b"pinned");
    // Verified files present: re-verified against the kept signatures and
    // pin, nothing downloaded (a present file is never done because it exists).
    let o = make(&dir, &["get-sources"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        text(&o).matches("present, re-verified").count(),
        3,
        "{}",
        text(&o)
    );
    assert_eq!(e.server.hits("/foo-1.0.tar.gz"), 1);
    assert_eq!(e.server.hits("/foo-1.0.tar.gz.asc"), 1);
    // verify-sources re-verifies every file, without downloading anything.
    let o = make(&dir, &["verify-sources"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(text(&o).matches(FRAGMENT_FLAGS).count(), 3, "{}", text(&o));
    assert_eq!(e.server.hits("/foo-1.0.tar.gz"), 1);
    assert_eq!(e.server.hits("/foo-1.0.tar.gz.asc"), 1);
    // A file tampered with after the fetch fails verify-sources and is
    // deleted, never kept; the next get-sources fetches it again.
    std::fs::write(dir.join("notice.txt"), b"evil").unwrap();
    let o = make(&dir, &["verify-sources"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(!dir.join("notice.txt").exists());
    assert!(make(&dir, &["get-sources"]).status.success());
    assert_eq!(std::fs::read(dir.join("notice.txt")).unwrap(), b"pinned");
    // clean-sources removes everything fetched and any leftovers.
    std::fs::write(dir.join("foo-1.0.tar.gz.UNTRUSTED"), b"junk").unwrap();
    assert!(
        dir.join("foo-1.0.tar.gz.asc").exists(),
        "the kept signature"
    );
    assert!(make(&dir, &["clean-sources"]).status.success());
    assert_eq!(listing(&dir), vec!["Makefile", "notice.txt.sha256"]);
}

#[test]
fn a_bad_signature_stops_make_and_leaves_nothing() {
    let e = setup();
    e.publish("foo-1.0.tar.gz", b"foo source");
    e.server
        .route("/foo-1.0.tar.gz", Reply::Flipped(b"foo source".to_vec(), 3));
    let dir = e.makefile(&["foo-1.0.tar.gz"], &[]);
    std::fs::write(
        dir.join("Makefile"),
        std::fs::read_to_string(dir.join("Makefile")).unwrap() + "all: get-sources\n\techo BUILT\n",
    )
    .unwrap();
    let o = make(&dir, &["all"]);
    assert!(
        !text(&o).contains("BUILT"),
        "the build did not go on: {}",
        text(&o)
    );
    assert_failed_leaving(&dir, &o, 1, &["Makefile"]);
}

#[test]
fn parallel_fetches_with_j4() {
    let e = setup();
    let names: Vec<String> = (0..6).map(|i| format!("src{i}.tar.gz")).collect();
    for n in &names {
        e.publish(n, format!("content of {n}").as_bytes());
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let dir = e.makefile(&refs, &[]);
    let o = make(&dir, &["-j4", "get-sources"]);
    assert!(o.status.success(), "{}", text(&o));
    for n in &names {
        assert_eq!(
            std::fs::read(dir.join(n)).unwrap(),
            format!("content of {n}").as_bytes()
        );
    }
    assert!(make(&dir, &["-j4", "verify-sources"]).status.success());
}

/// A git repository holding the component's Makefile and a .gitignore
/// with Qubes' patterns, committed.
fn git_component(dir: &Path, ignored: &[&str]) {
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.name", "Dev"]);
    git(dir, &["config", "user.email", "dev@example.org"]);
    std::fs::write(dir.join(".gitignore"), ignored.join("\n") + "\n").unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "component"]);
}

#[test]
fn a_killed_fetch_leaves_only_an_ignored_untrusted_file_then_a_rerun() {
    let e = setup();
    let data = vec![7u8; 100_000];
    e.publish("big.tar", &data);
    e.server
        .route("/big.tar", Reply::Stall(data.clone(), 10_000));
    let dir = e.makefile(&["big.tar"], &[]);
    git_component(&dir, &["*.UNTRUSTED", "/big.tar", "/big.tar.asc"]);
    // make and fetch-verified in a process group of their own, killed
    // together as a CI timeout would.
    use std::os::unix::process::CommandExt;
    let mut child = Command::new("make")
        .arg("get-sources")
        .current_dir(&dir)
        .env_remove("DISTFILES_MIRROR")
        .process_group(0)
        .spawn()
        .unwrap();
    let leftover = dir.join("big.tar.UNTRUSTED");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::metadata(&leftover).map_or(0, |m| m.len()) < 10_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the fetch never began"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let group = format!("-{}", child.id());
    assert!(Command::new("kill")
        .args(["-KILL", "--", &group])
        .status()
        .unwrap()
        .success());
    child.wait().unwrap();
    assert!(!dir.join("big.tar").exists(), "no final file after a kill");
    assert!(
        leftover.exists(),
        "the killed run's untrusted file is there"
    );
    // The builder's "component not clean" check: the .gitignore covers it.
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
    assert_eq!(
        git(&dir, &["status", "--porcelain", "--ignored"]),
        "!! big.tar.UNTRUSTED"
    );
    // The next run removes the stale file (never reusing it) and fetches.
    e.server.route("/big.tar", Reply::Body(data.clone()));
    let o = make(&dir, &["get-sources"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("removed stale"), "{}", text(&o));
    assert_eq!(std::fs::read(dir.join("big.tar")).unwrap(), data);
    assert_eq!(
        listing(&dir),
        vec![".git", ".gitignore", "Makefile", "big.tar", "big.tar.asc"]
    );
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
}

#[test]
fn names_with_spaces_fail_clearly() {
    let e = setup();
    let dir = e.component(
        "spaces",
        &format!(
            "include {}/make/build-verify.mk\n$(eval $(call fetch-hashed-rule,a b.tar,http://x/a,h))\nall:\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    );
    let o = make(&dir, &[]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("file names with spaces are not supported"),
        "{}",
        text(&o)
    );
}

/// kernel.org's release: a real tar, published xz-compressed with a
/// signature over the uncompressed .tar (binary, as the tamper case flips
/// a byte of the signature value itself).
struct KernelRelease {
    tar: Vec<u8>,
    xz: Vec<u8>,
    sign: Vec<u8>,
}

fn kernel_release(dir: &Path, signer: &sequoia_openpgp::Cert) -> KernelRelease {
    let src = dir.join("linux-6.1.7");
    std::fs::create_dir_all(src.join("kernel")).unwrap();
    std::fs::write(src.join("Makefile"), "VERSION = 6\nPATCHLEVEL = 1\n").unwrap();
    let body: Vec<u8> = (0..300_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect();
    std::fs::write(src.join("kernel/sched.c"), body).unwrap();
    let tar = Command::new("tar")
        .args(["-cf", "-", "-C"])
        .arg(dir)
        .arg("linux-6.1.7")
        .output()
        .unwrap();
    assert!(tar.status.success());
    let xz = pipe("xz", &["-c"], &tar.stdout);
    let sign = sign_detached(signer, &tar.stdout);
    KernelRelease {
        tar: tar.stdout,
        xz,
        sign,
    }
}

/// A kernel-style component Makefile: the version in a variable, the
/// source base URL, two keyrings (only the second holds the signer).
fn kernel_makefile(base: &str, keyrings: &str) -> String {
    format!(
        "{}VERSION := 6.1.7\nSRC_BASEURL := {base}\nSRC_FILE := linux-$(VERSION).tar\n\
         $(eval $(call fetch-decompressed-rule,$(SRC_FILE),$(SRC_BASEURL)/$(SRC_FILE).xz,$(SRC_BASEURL)/$(SRC_FILE).sign,{keyrings}))\n\
         get-sources: $(BUILD_VERIFY_SOURCES)\n.PHONY: get-sources\n",
        preamble()
    )
}

/// A kernel component with its keys; returns (dir, release).
fn kernel_component(e: &Env, name: &str, base: &str) -> (PathBuf, KernelRelease) {
    let other = gen_key("Another kernel developer");
    let release = kernel_release(e.tmp.path(), &e.key);
    let dir = e.component(
        name,
        &kernel_makefile(base, "kernel-a-key.asc kernel-b-key.asc"),
    );
    write_keyring(&dir.join("kernel-a-key.asc"), &[&other]);
    write_keyring(&dir.join("kernel-b-key.asc"), &[&e.key]);
    (dir, release)
}

const KERNEL_KEYS: [&str; 3] = ["Makefile", "kernel-a-key.asc", "kernel-b-key.asc"];

#[test]
fn kernel_style_keeps_the_verified_tar_and_reverifies_it() {
    let e = setup();
    let base = e.server.url("/pub/linux/kernel/v6.x");
    let (dir, rel) = kernel_component(&e, "linux-kernel", &base);
    let xz_path = "/pub/linux/kernel/v6.x/linux-6.1.7.tar.xz";
    e.server.route(xz_path, Reply::Body(rel.xz.clone()));
    e.server.route(
        "/pub/linux/kernel/v6.x/linux-6.1.7.tar.sign",
        Reply::Body(armor_sig(&rel.sign)),
    );
    // Both keyrings are passed; the rule is the decompressing one.
    let o = make(&dir, &["-n", "get-sources"]);
    assert!(
        text(&o).contains("--keyring kernel-a-key.asc --keyring kernel-b-key.asc --decompress"),
        "{}",
        text(&o)
    );
    // The user's FETCH_VERIFIED_FLAGS on the command line does not drop the
    // component's flags (--allow-http here: without it nothing is fetched),
    // and a flag given again there wins (the component gives --read-timeout).
    let o = make(
        &dir,
        &[
            "FETCH_VERIFIED_FLAGS=--quiet --read-timeout 5",
            "get-sources",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !text(&o).contains("fetched and verified"),
        "--quiet applied"
    );
    // The verified .tar is stored (what the spec's Source0 names), not the
    // .xz, and the signature it verified with is kept beside it under its
    // upstream name (what the component's .gitignore has: linux-*.sign).
    assert_eq!(std::fs::read(dir.join("linux-6.1.7.tar")).unwrap(), rel.tar);
    let mut want: Vec<&str> = KERNEL_KEYS.to_vec();
    want.extend(["linux-6.1.7.tar", "linux-6.1.7.tar.sign"]);
    want.sort();
    assert_eq!(listing(&dir), want);
    // gpgv agrees that the stored .tar is what the signature covers.
    if oracle("gpgv") {
        let ring = write_keyring_binary(&e.tmp.path().join("k.gpg"), &[&e.key]);
        let sig = e.tmp.path().join("linux-6.1.7.tar.sign");
        std::fs::write(&sig, &rel.sign).unwrap();
        assert!(gpgv_accepts(&ring, &sig, &dir.join("linux-6.1.7.tar")));
    }
    // Second run, and verify-sources: the .tar itself re-verified against
    // the kept signature, nothing downloaded.
    for target in ["get-sources", "verify-sources"] {
        let o = make(&dir, &[target]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("present, re-verified"), "{}", text(&o));
    }
    assert_eq!(e.server.hits(xz_path), 1);
    assert_eq!(
        e.server.hits("/pub/linux/kernel/v6.x/linux-6.1.7.tar.sign"),
        1
    );
    // A .tar changed on disk fails that re-verification: deleted, never
    // kept, and make stops; the next get-sources fetches it again.
    let mut evil = rel.tar.clone();
    evil[600] ^= 1;
    for target in ["verify-sources", "get-sources"] {
        std::fs::write(dir.join("linux-6.1.7.tar"), &evil).unwrap();
        let o = make(&dir, &[target]);
        assert_failed_leaving(
            &dir,
            &o,
            1,
            &[&KERNEL_KEYS[..], &["linux-6.1.7.tar.sign"]].concat(),
        );
        assert!(
            text(&o).contains("not verified: deleted (a run without --offline"),
            "{}",
            text(&o)
        );
    }
    assert!(make(&dir, &["get-sources"]).status.success());
    assert_eq!(std::fs::read(dir.join("linux-6.1.7.tar")).unwrap(), rel.tar);
    assert_eq!(e.server.hits(xz_path), 2);
    // The network gone: both targets still re-verify, and tampering still
    // fails.
    e.server.stop();
    for target in ["get-sources", "verify-sources"] {
        let o = make(&dir, &[target]);
        assert!(o.status.success(), "{target} offline: {}", text(&o));
    }
    std::fs::write(dir.join("linux-6.1.7.tar"), &evil).unwrap();
    let o = make(&dir, &["get-sources"]);
    assert_failed_leaving(
        &dir,
        &o,
        1,
        &[&KERNEL_KEYS[..], &["linux-6.1.7.tar.sign"]].concat(),
    );
}

#[test]
fn kernel_style_from_a_mirror_when_upstream_is_gone() {
    let e = setup();
    let mirror = Server::start();
    // Upstream: nothing listens, or every file is gone (404).
    let refused = format!("http://127.0.0.1:{}/pub/linux/kernel/v6.x", closed_port());
    let gone = e.server.url("/gone/v6.x");
    let (dir, rel) = kernel_component(&e, "linux-kernel", &refused);
    mirror.route("/distfiles/linux-6.1.7.tar.xz", Reply::Body(rel.xz.clone()));
    mirror.route(
        "/distfiles/linux-6.1.7.tar.sign",
        Reply::Body(armor_sig(&rel.sign)),
    );
    let dm = ("DISTFILES_MIRROR", mirror.url("/distfiles/"));
    let env = [(dm.0, dm.1.as_str())];
    // Mirrors first: upstream refusing connections does not matter.
    let o = make_env(&dir, &["get-sources"], &env);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(dir.join("linux-6.1.7.tar")).unwrap(), rel.tar);
    // "Mirror replaces upstream": upstream (404 here) is never asked, for
    // the file or the signature.
    std::fs::write(
        dir.join("Makefile"),
        kernel_makefile(&gone, "kernel-a-key.asc kernel-b-key.asc"),
    )
    .unwrap();
    std::fs::remove_file(dir.join("linux-6.1.7.tar")).unwrap();
    let o = make_env(&dir, &["BUILD_VERIFY_MIRROR_ONLY=1", "get-sources"], &env);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("--mirror-only"), "{}", text(&o));
    assert_eq!(std::fs::read(dir.join("linux-6.1.7.tar")).unwrap(), rel.tar);
    assert_eq!(e.server.hits("/gone/v6.x/linux-6.1.7.tar.xz"), 0);
    assert_eq!(e.server.hits("/gone/v6.x/linux-6.1.7.tar.sign"), 0);
    assert_eq!(mirror.hits("/distfiles/linux-6.1.7.tar.sign"), 2);
    // verify-sources with the mirror only re-verifies the .tar.
    let o = make_env(
        &dir,
        &["BUILD_VERIFY_MIRROR_ONLY=1", "verify-sources"],
        &env,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(mirror.hits("/distfiles/linux-6.1.7.tar.xz"), 2);
    // A mirror holding only the file: without upstream there is no
    // signature, nothing to verify with (exit 3), and nothing is kept but
    // the signature the earlier copy verified with.
    std::fs::remove_file(dir.join("linux-6.1.7.tar")).unwrap();
    mirror.route("/distfiles/linux-6.1.7.tar.sign", Reply::Status(404));
    let o = make_env(&dir, &["BUILD_VERIFY_MIRROR_ONLY=1", "get-sources"], &env);
    assert_failed_leaving(
        &dir,
        &o,
        3,
        &[&KERNEL_KEYS[..], &["linux-6.1.7.tar.sign"]].concat(),
    );
}

#[test]
fn kernel_style_tampering_fails_and_leaves_nothing() {
    let e = setup();
    let base = e.server.url("/v6.x");
    let (dir, rel) = kernel_component(&e, "linux-kernel", &base);
    let (xz, sign) = ("/v6.x/linux-6.1.7.tar.xz", "/v6.x/linux-6.1.7.tar.sign");
    let intruder = gen_key("Not a kernel developer");
    let mut bad_sig = rel.sign.clone();
    let last = bad_sig.len() - 3;
    bad_sig[last] ^= 0x40;
    let xz_len = rel.xz.len();
    let cases: Vec<(&str, Reply, Vec<u8>, i32)> = vec![
        (
            "flipped byte in the file",
            Reply::Flipped(rel.xz.clone(), xz_len / 2),
            rel.sign.clone(),
            1,
        ),
        (
            "flipped byte in the signature",
            Reply::Body(rel.xz.clone()),
            bad_sig,
            1,
        ),
        (
            "signed by a key in neither keyring",
            Reply::Body(rel.xz.clone()),
            sign_detached(&intruder, &rel.tar),
            1,
        ),
        (
            "truncated file",
            Reply::Body(rel.xz[..xz_len * 2 / 3].to_vec()),
            rel.sign.clone(),
            1,
        ),
        (
            "transfer cut off",
            Reply::Truncated(rel.xz.clone(), xz_len / 3),
            rel.sign.clone(),
            4,
        ),
    ];
    for (what, file, sig, want) in cases {
        e.server.route(xz, file);
        e.server.route(sign, Reply::Body(sig));
        let o = make(&dir, &["get-sources"]);
        eprintln!("{what}: {}", text(&o));
        assert_failed_leaving(&dir, &o, want, &KERNEL_KEYS);
    }
}

fn sha512_file(dir: &Path, name: &str) {
    let o = Command::new("sha512sum")
        .arg(name)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success());
    let out = String::from_utf8(o.stdout).unwrap();
    let hex = out.split_whitespace().next().unwrap();
    std::fs::write(dir.join(format!("{name}.sha512")), format!("{hex}\n")).unwrap();
}

#[test]
fn xen_style_signed_tarball_and_many_hash_pinned_files() {
    let e = setup();
    let xen = b"xen 4.17.3 source".to_vec();
    e.server.route(
        "/release/xen/4.17.3/xen-4.17.3.tar.gz",
        Reply::Body(xen.clone()),
    );
    e.server.route(
        "/release/xen/4.17.3/xen-4.17.3.tar.gz.sig",
        Reply::Body(sign_detached(&e.key, &xen)),
    );
    // Several hash-pinned files; one named by a #/ fragment, one behind a
    // query string with '&' (shell-quoted by the fragment).
    let pinned: [(&str, &str, &[u8]); 3] = [
        ("/gnu/grub/grub-2.06.tar.xz", "grub-2.06.tar.xz", b"grub"),
        ("/ipxe/archive/1a2b3c.tar.gz", "ipxe-1a2b3c.tar.gz", b"ipxe"),
        ("/get?name=edk2&v=1", "edk2-1.tar.gz", b"edk2"),
    ];
    let mut urls = Vec::new();
    for (path, name, body) in pinned {
        let url = e.server.route(path, Reply::Body(body.to_vec()));
        urls.push(if path.ends_with(name) {
            url
        } else {
            format!("{url}#/{name}")
        });
    }
    let dir = e.component(
        "vmm-xen",
        &format!(
            "{}version := 4.17.3\nUPSTREAM := {}\n\
             $(eval $(call fetch-verified-rule,xen-$(version).tar.gz,$(UPSTREAM)/release/xen/$(version)/xen-$(version).tar.gz,$(UPSTREAM)/release/xen/$(version)/xen-$(version).tar.gz.sig,xen-key.asc))\n\
             $(eval $(call fetch-hashed-urls,{}))\n\
             BUILD_VERIFY_CLEAN += build-stamp\n\
             clean-sources::\n\trm -rf unpacked\n\
             get-sources: $(BUILD_VERIFY_SOURCES)\n.PHONY: get-sources\n",
            preamble(),
            e.server.url(""),
            urls.join(" ")
        ),
    );
    write_keyring(&dir.join("xen-key.asc"), &[&e.key]);
    // The FILE.sha512 files a component keeps next to each source.
    let stage = e.tmp.path().join("stage");
    std::fs::create_dir_all(&stage).unwrap();
    for (_, name, body) in pinned {
        std::fs::write(stage.join(name), body).unwrap();
        sha512_file(&stage, name);
        std::fs::copy(
            stage.join(format!("{name}.sha512")),
            dir.join(format!("{name}.sha512")),
        )
        .unwrap();
    }
    let o = make(&dir, &["-j3", "get-sources"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("warning"), "{}", text(&o));
    assert_eq!(std::fs::read(dir.join("xen-4.17.3.tar.gz")).unwrap(), xen);
    for (_, name, body) in pinned {
        assert_eq!(std::fs::read(dir.join(name)).unwrap(), body, "{name}");
    }
    let o = make(&dir, &["verify-sources"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        text(&o).matches("present, re-verified").count(),
        4,
        "{}",
        text(&o)
    );
    // A pin that does not match: that file fails (exit 1), the others stay.
    std::fs::remove_file(dir.join("grub-2.06.tar.xz")).unwrap();
    e.server.route(
        "/gnu/grub/grub-2.06.tar.xz",
        Reply::Body(b"grub, backdoored".to_vec()),
    );
    let o = make(&dir, &["grub-2.06.tar.xz"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("Error 1"), "{}", text(&o));
    assert!(!dir.join("grub-2.06.tar.xz").exists());
    assert!(!dir.join("grub-2.06.tar.xz.UNTRUSTED").exists());
    e.server
        .route("/gnu/grub/grub-2.06.tar.xz", Reply::Body(b"grub".to_vec()));
    assert!(make(&dir, &["get-sources"]).status.success());
    // The network gone: every file re-verifies against the kept signature
    // (its upstream name, which vmm-xen's .gitignore covers: *.tar.*.sig*)
    // and the pins; a tampered one still fails, and is deleted.
    assert!(dir.join("xen-4.17.3.tar.gz.sig").exists());
    e.server.stop();
    for target in ["get-sources", "verify-sources"] {
        let o = make(&dir, &["-j3", target]);
        assert!(o.status.success(), "{target} offline: {}", text(&o));
        assert_eq!(
            text(&o).matches("present, re-verified").count(),
            4,
            "{}",
            text(&o)
        );
    }
    std::fs::write(dir.join("xen-4.17.3.tar.gz"), b"xen 4.17.3 sourcE").unwrap();
    let o = make(&dir, &["get-sources"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("Error 1"), "{}", text(&o));
    assert!(!dir.join("xen-4.17.3.tar.gz").exists());
    // clean-sources: the fragment's recipe, the component's own `::` recipe
    // and BUILD_VERIFY_CLEAN, without "overriding recipe" warnings.
    std::fs::create_dir_all(dir.join("unpacked")).unwrap();
    std::fs::write(dir.join("build-stamp"), b"").unwrap();
    std::fs::write(dir.join("ipxe-1a2b3c.tar.gz.UNTRUSTED"), b"junk").unwrap();
    let o = make(&dir, &["clean-sources"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("warning"), "{}", text(&o));
    assert_eq!(
        listing(&dir),
        vec![
            "Makefile",
            "edk2-1.tar.gz.sha512",
            "grub-2.06.tar.xz.sha512",
            "ipxe-1a2b3c.tar.gz.sha512",
            "xen-key.asc"
        ]
    );
}

#[test]
fn a_dry_run_of_the_example_writes_nothing() {
    // `make -n` runs a line holding $(MAKE) even so; the example's log pipe
    // must then not record a real session (or create anything).
    let top = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().unwrap();
    let w = work.path().join("build");
    let o = Command::new("make")
        .arg("-n")
        .arg("-f")
        .arg(top.join("Makefile.example"))
        .arg(format!("WORK={}", w.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("sign-log seal"));
    assert!(!w.exists(), "make -n created {}", w.display());
}

#[test]
fn stock_rpms_with_fetch_package_rule() {
    // A real RPM Fusion release package, verified by its own signature
    // with the distributor's key (what Qubes' builder-rpm does with
    // `dnf download` + rename + `rpmkeys --checksig`).
    let e = setup();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rpm");
    let pkg = "rpmfusion-free-release-44-1.noarch.rpm";
    let good = std::fs::read(data.join(pkg)).unwrap();
    let url = e
        .server
        .route(&format!("/{pkg}"), Reply::Body(good.clone()));
    let component = |name: &str, key: &str| {
        let mk = format!(
            "{}$(eval $(call fetch-package-rule,{pkg},{url},{}))\nget-sources: $(BUILD_VERIFY_SOURCES)\n",
            preamble(),
            data.join(key).display()
        );
        e.component(name, &mk)
    };
    let dir = component("rpm", "RPM-GPG-KEY-rpmfusion-free-fedora-2020");
    let o = make(&dir, &["get-sources"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("--rpm"), "{}", text(&o));
    assert_eq!(std::fs::read(dir.join(pkg)).unwrap(), good);
    assert!(make(&dir, &["verify-sources"]).status.success());
    assert_eq!(e.server.hits(&format!("/{pkg}")), 1);
    // Tampered in place and upstream: verify-sources fails, nothing stays.
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 10] ^= 1;
    std::fs::write(dir.join(pkg), &bad).unwrap();
    e.server
        .route(&format!("/{pkg}"), Reply::Flipped(good.clone(), n - 10));
    let o = make(&dir, &["verify-sources"]);
    assert_failed_leaving(&dir, &o, 1, &["Makefile"]);
    // Signed by a key other than the one given: make stops, nothing left.
    e.server.route(&format!("/{pkg}"), Reply::Body(good));
    let dir = component("wrong-key", "RPM-GPG-KEY-fedora-39-primary");
    let o = make(&dir, &["get-sources"]);
    assert_failed_leaving(&dir, &o, 1, &["Makefile"]);
}
