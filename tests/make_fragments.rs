//! GNU make running make/build-verify.mk against the HTTP server in the test
//! process: good sources, a bad signature, re-runs, -j4, killed fetches.

mod common;

use common::http::{Reply, Server};
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

impl Env {
    /// Serve NAME (and NAME.asc signed by the upstream key); returns the URL.
    fn publish(&self, name: &str, data: &[u8]) -> String {
        self.server.route(
            &format!("/{name}.asc"),
            Reply::Body(armor_sig(&sign_detached(&self.key, data))),
        );
        self.server
            .route(&format!("/{name}"), Reply::Body(data.to_vec()))
    }

    /// A component Makefile fetching `sources` (name → hash-pinned or signed).
    fn makefile(&self, signed: &[&str], hashed: &[(&str, &str)]) -> PathBuf {
        let dir = self.tmp.path().join("component");
        std::fs::create_dir_all(&dir).unwrap();
        let mut mk = format!(
            "FETCH_VERIFIED := {}\nFETCH_VERIFIED_FLAGS := --allow-http --retries 0 --read-timeout 2\n\
             include {}/make/build-verify.mk\n",
            env!("CARGO_BIN_EXE_fetch-verified"),
            env!("CARGO_MANIFEST_DIR")
        );
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
        std::fs::write(dir.join("Makefile"), mk).unwrap();
        dir
    }
}

fn make(dir: &Path, args: &[&str]) -> Output {
    Command::new("make")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn sha256_hex(data: &[u8]) -> String {
    use build_verify::digest::{hash_reader, Algo};
    hash_reader(data, &[Algo::Sha256])
        .unwrap()
        .hex(Algo::Sha256)
        .unwrap()
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
    assert!(
        text(&o).contains("fetch-verified --allow-http"),
        "{}",
        text(&o)
    );
    assert_eq!(e.server.hits("/foo-1.0.tar.gz"), 0);

    let o = make(&dir, &["get-sources"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(dir.join("foo-1.0.tar.gz")).unwrap(),
        b"foo source"
    );
    assert_eq!(std::fs::read(dir.join("notice.txt")).unwrap(), b"pinned");
    // Verified files present and unchanged: nothing is remade or downloaded.
    let o = make(&dir, &["get-sources"]);
    assert!(o.status.success());
    assert!(
        text(&o).contains("Nothing to be done") || !text(&o).contains("fetch-verified"),
        "{}",
        text(&o)
    );
    assert_eq!(e.server.hits("/foo-1.0.tar.gz"), 1);
    // verify-sources re-verifies every file, without downloading it again.
    let o = make(&dir, &["verify-sources"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        text(&o).matches("fetch-verified --allow-http").count(),
        3,
        "{}",
        text(&o)
    );
    assert_eq!(e.server.hits("/foo-1.0.tar.gz"), 1);
    // A file tampered with after the fetch fails verify-sources... and is
    // replaced by the verified upstream copy, never kept.
    std::fs::write(dir.join("notice.txt"), b"evil").unwrap();
    e.server
        .route("/notice.txt", Reply::Flipped(b"pinned".to_vec(), 0));
    let o = make(&dir, &["verify-sources"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(!dir.join("notice.txt").exists());
    // clean-sources removes everything fetched and any leftovers.
    std::fs::write(dir.join(".foo-1.0.tar.gz.UNTRUSTED-x1"), b"junk").unwrap();
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
    assert!(!o.status.success());
    assert_eq!(o.status.code(), Some(2), "make's own failure code");
    assert!(
        !text(&o).contains("BUILT"),
        "the build did not go on: {}",
        text(&o)
    );
    assert_eq!(listing(&dir), vec!["Makefile"], "nothing unverified left");
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

#[test]
fn a_killed_fetch_then_a_rerun() {
    let e = setup();
    let data = vec![7u8; 100_000];
    e.publish("big.tar", &data);
    e.server
        .route("/big.tar", Reply::Stall(data.clone(), 10_000));
    let dir = e.makefile(&["big.tar"], &[]);
    let mut child = Command::new("make")
        .arg("get-sources")
        .current_dir(&dir)
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    // Kill the whole job (make and fetch-verified) as a CI timeout would.
    // Only this test's fetch: the URL names this test's server port.
    let _ = Command::new("pkill")
        .args(["-9", "-f", &e.server.url("/big.tar.asc")])
        .status();
    child.kill().ok();
    child.wait().unwrap();
    assert!(!dir.join("big.tar").exists(), "no final file after a kill");
    // The next run removes the stale temporary and fetches a verified copy.
    e.server.route("/big.tar", Reply::Body(data.clone()));
    let o = make(&dir, &["get-sources"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(dir.join("big.tar")).unwrap(), data);
    assert_eq!(listing(&dir), vec!["Makefile", "big.tar"]);
}

#[test]
fn names_with_spaces_fail_clearly() {
    let e = setup();
    let dir = e.tmp.path().join("spaces");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Makefile"),
        format!(
            "include {}/make/build-verify.mk\n$(eval $(call fetch-hashed-rule,a b.tar,http://x/a,h))\nall:\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    )
    .unwrap();
    let o = make(&dir, &[]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("file names with spaces are not supported"),
        "{}",
        text(&o)
    );
}
