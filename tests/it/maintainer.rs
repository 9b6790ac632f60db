//! A Qubes maintainer's first day (issue 23): the Make fragment as Qubes
//! Builder v1 drives it (its own `get-sources-extra` logic, quoted below),
//! offline re-verification, Make misuse that must be loud, and the
//! messages that say what to do.

use crate::common;

use common::git::git;
use common::http::{Reply, Server};
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// QubesOS/qubes-builder `scripts/get-sources-extra`, verbatim, at commit
/// 85b2cb7ac958bd66ea7020a4884643ff03310844 (the last to change it as of
/// the repository's 571f0cd, 2024-11-16). `have_src_targets` is the point:
/// a component whose `make -n get-sources verify-sources` fails is taken
/// for one without sources, silently.
const GET_SOURCES_EXTRA: &str = r#"#!/bin/bash
#
# Configuration by env:
#  - REPO=dir - specify repository directory, component will be guessed based
#    on basename

[ "$DEBUG" = "1" ] && set -x

# For additionally download sources
MAKE=${MAKE:-make}

[ -n "$REPO" ] && COMPONENT="`basename $REPO`"

have_src_targets() {
    [ "$REPO" == "." ] && return 1;
    $MAKE -C $REPO -n get-sources verify-sources >/dev/null 2>/dev/null
}

set -e

if have_src_targets; then
    export GNUPGHOME="$PWD/keyrings/$COMPONENT"
    mkdir -m 700 -p "$GNUPGHOME"
    echo "--> Downloading additional sources for $COMPONENT..."
    $MAKE -C $REPO get-sources
    echo "--> Verifying the sources..."
    $MAKE -C $REPO verify-sources
fi
"#;

/// The lines of QubesOS/qubes-builder's `Makefile` (same commit 571f0cd)
/// that run it and set the environment a component's make sees, verbatim
/// with their line numbers; the glue (marked) lists the components.
const BUILDER_MAKEFILE: &str = r#"# 4:
SHELL = /bin/bash
# 6-7:
SRC_DIR := qubes-src
BUILDER_DIR := $(shell readlink -m $(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
# 21-25:
ifeq (${VERBOSE},2)
Q =
else
Q = @
endif
# 27-29:
http_proxy := $(REPO_PROXY)
https_proxy := $(REPO_PROXY)
ALL_PROXY := $(REPO_PROXY)
# 41:
FETCH_CMD := $(if $(REPO_PROXY),http_proxy='$(subst ','\'',$(REPO_PROXY))' https_proxy='$(subst ','\'',$(REPO_PROXY))' )curl --proto '=https' --proto-redir '=https' --tlsv1.2 --http1.1 -sSfL -o
# 159:
.EXPORT_ALL_VARIABLES:
# glue (221 maps get-sources-sort, the sorted COMPONENTS):
get-sources-extra-tgt = $(COMPONENTS:%=%.get-sources-extra)
# 225-226:
$(get-sources-extra-tgt):
	${Q}REPO=$(@:%.get-sources-extra=$(SRC_DIR)/%) MAKE="$(MAKE)" $(BUILDER_DIR)/scripts/get-sources-extra
"#;

/// The fetch flags the tests need (the server is plain http, and a failure
/// should not wait).
const FLAGS: &str = "--allow-http --retries 0 --read-timeout 2";

/// A builder directory with one component under qubes-src/, an upstream
/// server and key.
struct Builder {
    tmp: tempfile::TempDir,
    server: Server,
    key: sequoia_openpgp::Cert,
}

impl Builder {
    fn new() -> Builder {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("builder");
        std::fs::create_dir_all(dir.join("scripts")).unwrap();
        std::fs::create_dir_all(dir.join("qubes-src")).unwrap();
        std::fs::write(dir.join("Makefile"), BUILDER_MAKEFILE).unwrap();
        let script = dir.join("scripts/get-sources-extra");
        std::fs::write(&script, GET_SOURCES_EXTRA).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        Builder {
            tmp,
            server: Server::start(),
            key: gen_key("Upstream"),
        }
    }

    fn dir(&self) -> PathBuf {
        self.tmp.path().join("builder")
    }

    /// qubes-src/NAME with `makefile` and the upstream key as keys/upstream.asc.
    fn component(&self, name: &str, makefile: &str) -> PathBuf {
        let dir = self.dir().join("qubes-src").join(name);
        std::fs::create_dir_all(dir.join("keys")).unwrap();
        write_keyring(&dir.join("keys/upstream.asc"), &[&self.key]);
        std::fs::write(dir.join("Makefile"), makefile).unwrap();
        dir
    }

    /// Serve NAME and NAME.asc (signed by the upstream key); the URL.
    fn publish(&self, name: &str, data: &[u8]) -> String {
        self.server.publish_signed(&self.key, name, data)
    }

    /// `make COMPONENT.get-sources-extra` in the builder, with `vars`.
    fn get_sources_extra(&self, component: &str, vars: &[&str]) -> Output {
        Command::new("make")
            .arg("--no-print-directory")
            .arg("-C")
            .arg(self.dir())
            .arg(format!("COMPONENTS={component}"))
            .args(vars)
            .arg(format!("{component}.get-sources-extra"))
            .env_remove("DISTFILES_MIRROR")
            .env_remove("FETCH_VERIFIED_FLAGS")
            .env_remove("MAKEFLAGS")
            .output()
            .unwrap()
    }
}

/// The head of a component Makefile: our tool, the test's flags, and the
/// fragment included the documented way from `mk_dir`.
fn head(mk_dir: &Path) -> String {
    format!(
        "FETCH_VERIFIED := {}\nBUILD_VERIFY_FETCH_FLAGS := {FLAGS}\n\
         BUILD_VERIFY_MK ?= {}\n{}",
        env!("CARGO_BIN_EXE_fetch-verified"),
        mk_dir.display(),
        include_pattern()
    )
}

/// The include pattern README.md documents, read from README.md itself (so
/// the test runs what users copy).
fn include_pattern() -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("-include $(BUILD_VERIFY_MK)/build-verify.mk")
        .expect("README documents the -include pattern");
    let end = start + readme[start..].find("endif\n").expect("its endif") + "endif\n".len();
    readme[start..end].to_string()
}

fn fragment_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("make")
}

fn make(dir: &Path, args: &[&str]) -> Output {
    Command::new("make")
        .args(args)
        .current_dir(dir)
        .env_remove("DISTFILES_MIRROR")
        .env_remove("FETCH_VERIFIED_FLAGS")
        .env_remove("MAKEFLAGS")
        .output()
        .unwrap()
}

/// The lines of a Makefile fetching `name` signed, from `url`.
fn signed_rule(name: &str, url: &str) -> String {
    format!("$(eval $(call fetch-verified-rule,{name},{url},{url}.asc,keys/upstream.asc))\n")
}

const GET_SOURCES: &str = "get-sources: $(BUILD_VERIFY_SOURCES)\n.PHONY: get-sources\n";

#[test]
fn builder_v1_fetches_and_verifies_through_get_sources_extra() {
    let b = Builder::new();
    let url = b.publish("foo-1.0.tar.gz", b"foo source");
    let dir = b.component(
        "foo",
        &format!(
            "{}{}{GET_SOURCES}",
            head(&fragment_dir()),
            signed_rule("foo-1.0.tar.gz", &url)
        ),
    );
    let o = b.get_sources_extra("foo", &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("--> Verifying the sources..."),
        "{}",
        text(&o)
    );
    assert_eq!(
        std::fs::read(dir.join("foo-1.0.tar.gz")).unwrap(),
        b"foo source"
    );
    // Again with the upstream gone: re-verified offline, nothing fetched.
    b.server.stop();
    let o = b.get_sources_extra("foo", &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        text(&o).matches("present, re-verified").count(),
        2,
        "{}",
        text(&o)
    );
}

#[test]
fn a_missing_fragment_fails_get_sources_instead_of_a_silent_skip() {
    let b = Builder::new();
    let url = b.publish("foo-1.0.tar.gz", b"foo source");
    let nowhere = b.tmp.path().join("not-installed");
    let rules = signed_rule("foo-1.0.tar.gz", &url) + GET_SOURCES;
    // What the builder did with a plain `include`: `make -n` fails, the
    // component is taken for one without sources, and nothing is fetched,
    // nothing said, exit 0. (This is what the documented pattern prevents.)
    let plain = format!(
        "BUILD_VERIFY_MK ?= {}\ninclude $(BUILD_VERIFY_MK)/build-verify.mk\n{rules}",
        nowhere.display()
    );
    let dir = b.component("plain", &plain);
    let o = b.get_sources_extra("plain", &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(text(&o), "", "silent");
    assert_eq!(b.server.hits("/foo-1.0.tar.gz"), 0);
    assert_eq!(listing(&dir), ["Makefile", "keys"]);
    // The documented pattern: `make -n` succeeds, get-sources itself fails
    // and says where the fragment was looked for and what to set.
    let dir = b.component("foo", &(head(&nowhere) + &rules));
    let o = b.get_sources_extra("foo", &[]);
    assert!(!o.status.success(), "{}", text(&o));
    let want = format!(
        "{}/build-verify.mk: not found; install build-verify or set BUILD_VERIFY_MK",
        nowhere.display()
    );
    assert!(text(&o).contains(&want), "{}", text(&o));
    assert!(text(&o).contains("--> Downloading additional sources for foo..."));
    assert_eq!(b.server.hits("/foo-1.0.tar.gz"), 0);
    assert_eq!(listing(&dir), ["Makefile", "keys"]);
    // Set on the builder's command line, it is found (the builder exports
    // its variables to the component's make).
    let mk = format!("BUILD_VERIFY_MK={}", fragment_dir().display());
    let o = b.get_sources_extra("foo", &[&mk]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(dir.join("foo-1.0.tar.gz")).unwrap(),
        b"foo source"
    );
}

#[test]
fn repo_proxy_reaches_fetch_verified() {
    // The builder exports REPO_PROXY as http_proxy/https_proxy/ALL_PROXY
    // (its Makefile's lines 27-29 with .EXPORT_ALL_VARIABLES), which
    // fetch-verified reads as curl does. The URL's host resolves nowhere:
    // only the proxy can fetch it.
    let b = Builder::new();
    b.publish("p/foo-1.0.tar.gz", b"foo source");
    let url = "http://distfiles.invalid/p/foo-1.0.tar.gz";
    let dir = b.component(
        "foo",
        &format!(
            "{}{}{GET_SOURCES}",
            head(&fragment_dir()),
            signed_rule("foo-1.0.tar.gz", url)
        ),
    );
    let proxy = format!("REPO_PROXY={}", b.server.url(""));
    let o = b.get_sources_extra("foo", &[&proxy]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(dir.join("foo-1.0.tar.gz")).unwrap(),
        b"foo source"
    );
    assert_eq!(
        b.server.proxied(),
        ["distfiles.invalid", "distfiles.invalid"],
        "the signature and the file, both through REPO_PROXY"
    );
    // Without it there is no way to the host: the run fails, nothing left.
    std::fs::remove_file(dir.join("foo-1.0.tar.gz")).unwrap();
    std::fs::remove_file(dir.join("foo-1.0.tar.gz.asc")).unwrap();
    let o = b.get_sources_extra("foo", &[]);
    assert!(!o.status.success(), "{}", text(&o));
    assert_eq!(listing(&dir), ["Makefile", "keys"]);
}

#[test]
fn a_mistyped_rule_name_fails_and_names_it() {
    let b = Builder::new();
    let good = b.publish("foo-1.0.tar.gz", b"foo source");
    let typo = b.publish("bar-2.0.tar.gz", b"bar source");
    let makefile = format!(
        "{}{}\
         # $(call fetch-nothing-rule,...) in a comment is no call\n\
         $(eval $(call fetch-verify-rule,bar-2.0.tar.gz,{typo},{typo}.asc,keys/upstream.asc))\n\
         {GET_SOURCES}",
        head(&fragment_dir()),
        signed_rule("foo-1.0.tar.gz", &good),
    );
    let dir = b.component("typo", &makefile);
    let line = makefile
        .lines()
        .position(|l| l.contains("fetch-verify-rule"))
        .unwrap()
        + 1;
    let want = format!(
        "build-verify: Makefile:{line}: $(call fetch-verify-rule,...) calls no such rule, \
         so it defined nothing (the rules: fetch-verified-rule fetch-decompressed-rule \
         fetch-hashed-rule fetch-hashed-urls fetch-package-rule rpm-repo-rule)"
    );
    // Through the builder: `make -n` still succeeds, so get-sources runs
    // and fails, saying which call and where, before anything is fetched.
    let o = b.get_sources_extra("typo", &[]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&want), "{}", text(&o));
    assert!(!text(&o).contains("fetch-nothing-rule"), "{}", text(&o));
    assert_eq!(b.server.hits("/foo-1.0.tar.gz"), 0);
    // Directly, for every target that fetches or verifies.
    for target in ["get-sources", "verify-sources", "foo-1.0.tar.gz"] {
        let o = make(&dir, &[target]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains(&want), "{target}: {}", text(&o));
    }
    assert_eq!(listing(&dir), ["Makefile", "keys"]);
}

#[test]
fn arguments_with_spaces_after_commas_work() {
    let b = Builder::new();
    let tar = b"a tar".to_vec();
    let xz = pipe("xz", &["-c"], &tar);
    b.server.route("/linux-6.1.tar.xz", Reply::Body(xz));
    let sign = b.server.route(
        "/linux-6.1.tar.sign",
        Reply::Body(armor_sig(&sign_detached(&b.key, &tar))),
    );
    let pinned = b
        .server
        .route("/notice.txt", Reply::Body(b"pinned".to_vec()));
    let makefile = format!(
        "{}$(eval $(call fetch-decompressed-rule, linux-6.1.tar, {}, {sign}, keys/upstream.asc))\n\
         $(eval $(call fetch-hashed-rule, notice.txt, {pinned}, notice.txt.sha256 ))\n{GET_SOURCES}",
        head(&fragment_dir()),
        b.server.url("/linux-6.1.tar.xz"),
    );
    let dir = b.component("spaces", &makefile);
    let digest = Command::new("sh")
        .arg("-c")
        .arg("printf pinned | sha256sum | cut -c1-64")
        .output()
        .unwrap();
    std::fs::write(dir.join("notice.txt.sha256"), digest.stdout).unwrap();
    let o = b.get_sources_extra("spaces", &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(dir.join("linux-6.1.tar")).unwrap(), tar);
    assert_eq!(std::fs::read(dir.join("notice.txt")).unwrap(), b"pinned");
}

#[test]
fn a_file_name_with_spaces_fails_through_the_builder_too() {
    // Make cannot express it; `make -n` must not be the one failing.
    let b = Builder::new();
    let url = b.publish("a.tar", b"a");
    let makefile = format!(
        "{}$(eval $(call fetch-hashed-rule,a b.tar,{url},a.tar.sha256))\n{GET_SOURCES}",
        head(&fragment_dir())
    );
    let dir = b.component("named", &makefile);
    let o = b.get_sources_extra("named", &[]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("\"a b.tar\": file names with spaces are not supported by make"),
        "{}",
        text(&o)
    );
    assert_eq!(listing(&dir), ["Makefile", "keys"]);
}

/// QubesOS/qubes-vmm-xen's `.gitignore` (055a2c2): the patterns a Qubes
/// component already has for its sources and their signatures.
const XEN_GITIGNORE: &str =
    "*.tgz\n*.tar.gz\n*.tar.bz2\n*.tar.*.sig*\n*.sign\nxen-?.?.?/\ndeb/\npkgs/\n";

#[test]
fn a_present_file_is_never_done_because_it_exists() {
    let b = Builder::new();
    let xen = b"xen 4.17.3 source".to_vec();
    b.server
        .route("/xen-4.17.3.tar.gz", Reply::Body(xen.clone()));
    let sig = b.server.route(
        "/xen-4.17.3.tar.gz.sig",
        Reply::Body(sign_detached(&b.key, &xen)),
    );
    let makefile = format!(
        "{}$(eval $(call fetch-verified-rule,xen-4.17.3.tar.gz,{},{sig},keys/upstream.asc))\n\
         {GET_SOURCES}build.log: xen-4.17.3.tar.gz\n\techo built >> build.log\n",
        head(&fragment_dir()),
        b.server.url("/xen-4.17.3.tar.gz"),
    );
    let dir = b.component("vmm-xen", &makefile);
    std::fs::write(dir.join(".gitignore"), XEN_GITIGNORE).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    git(
        &dir,
        &["-c", "user.name=D", "-c", "user.email=d@e", "add", "-A"],
    );
    git(
        &dir,
        &[
            "-c",
            "user.name=D",
            "-c",
            "user.email=d@e",
            "commit",
            "-q",
            "-m",
            "c",
        ],
    );
    // A file under the name before anything was fetched (an old build's,
    // copied in): not trusted; verified against the signature fetched,
    // fails, is replaced by the verified download.
    std::fs::write(dir.join("xen-4.17.3.tar.gz"), b"an old unverified copy").unwrap();
    let o = make(&dir, &["get-sources"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("present but fails verification"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(dir.join("xen-4.17.3.tar.gz")).unwrap(), xen);
    // The signature is kept beside it, under a name the .gitignore has.
    assert!(dir.join("xen-4.17.3.tar.gz.sig").exists());
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
    // Built once; re-verification does not make it stale.
    assert!(make(&dir, &["build.log"]).status.success());
    assert!(make(&dir, &["build.log"]).status.success());
    assert_eq!(std::fs::read(dir.join("build.log")).unwrap(), b"built\n");
    // Tampered after the fetch: `make get-sources` (not only
    // verify-sources) fails, deletes it, and the build does not go on.
    std::fs::write(dir.join("xen-4.17.3.tar.gz"), b"xen 4.17.3 sourcE").unwrap();
    let o = make(&dir, &["build.log"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("Error 1"), "{}", text(&o));
    assert!(
        text(&o).contains(
            "xen-4.17.3.tar.gz not verified: deleted (a run without --offline fetches it again): "
        ),
        "{}",
        text(&o)
    );
    assert!(!dir.join("xen-4.17.3.tar.gz").exists());
    assert_eq!(std::fs::read(dir.join("build.log")).unwrap(), b"built\n");
    // The next run fetches it again.
    assert!(make(&dir, &["build.log"]).status.success());
    assert_eq!(std::fs::read(dir.join("xen-4.17.3.tar.gz")).unwrap(), xen);
    assert_eq!(b.server.hits("/xen-4.17.3.tar.gz"), 2);
    // clean-sources removes the file and its kept signature.
    assert!(make(&dir, &["clean-sources"]).status.success());
    assert_eq!(
        git(&dir, &["status", "--porcelain", "--ignored"]),
        "?? build.log"
    );
}

/// fetch-verified in `dir` with `args`.
fn fetch_verified(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fetch-verified"))
        .args(args)
        .current_dir(dir)
        .env_remove("DISTFILES_MIRROR")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_signature_over_the_decompressed_content_names_decompress() {
    // kernel.org's linux-X.tar.xz with linux-X.tar.sign, fetched without
    // --decompress (fetch-verified-rule instead of fetch-decompressed-rule).
    let b = Builder::new();
    let tar = b"linux 6.1 as a tar".to_vec();
    let xz_url = b
        .server
        .route("/linux-6.1.tar.xz", Reply::Body(pipe("xz", &["-c"], &tar)));
    let sign = b.server.route(
        "/linux-6.1.tar.sign",
        Reply::Body(armor_sig(&sign_detached(&b.key, &tar))),
    );
    let makefile = format!(
        "{}$(eval $(call fetch-verified-rule,linux-6.1.tar.xz,{xz_url},{sign},keys/upstream.asc))\n{GET_SOURCES}",
        head(&fragment_dir())
    );
    let dir = b.component("linux-kernel", &makefile);
    let o = make(&dir, &["get-sources"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("Error 1"), "{}", text(&o));
    let fp = b.key.fingerprint().to_hex();
    let want = format!(
        "fetch-verified: linux-6.1.tar.xz not fetched: linux-6.1.tar.xz: the signature \
         verifies over its decompressed content, not over the compressed bytes: use \
         --decompress to store the verified linux-6.1.tar (build-verify.mk: \
         fetch-decompressed-rule): {xz_url}: BAD signature by {fp}: the data does not \
         match the signature\n"
    );
    assert!(stderr(&o).contains(&want), "{}", stderr(&o));
    assert_eq!(listing(&dir), ["Makefile", "keys"]);
    // What it says works.
    let ring = dir.join("keys/upstream.asc");
    let ring = ring.to_str().unwrap();
    let args = [
        "--allow-http",
        "--keyring",
        ring,
        "--decompress",
        &xz_url,
        &sign,
    ];
    let o = fetch_verified(&dir, &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.join("linux-6.1.tar")).unwrap(), tar);
    // A signature over something else altogether: no such advice.
    b.server.route(
        "/linux-6.1.tar.sign",
        Reply::Body(armor_sig(&sign_detached(&b.key, b"another tar"))),
    );
    let o = fetch_verified(&dir, &["--allow-http", "--keyring", ring, &xz_url, &sign]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("BAD signature"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("--decompress"), "{}", stderr(&o));
    assert_eq!(listing(&dir), ["Makefile", "keys", "linux-6.1.tar"]);
}

/// A Debian archive as apt sees it, built here: a Release listing Packages
/// for four components and eight architectures, in three forms each (as
/// Debian's lists ~100 of them), cleartext-signed as InRelease; the one
/// index that matters, main/binary-amd64, holds `deb`'s stanza.
struct Archive {
    dir: tempfile::TempDir,
    keyring: PathBuf,
    deb: PathBuf,
}

fn sha256_of(data: &[u8]) -> String {
    use build_verify::digest::{hash_reader, Algo};
    hash_reader(data, &[Algo::Sha256])
        .unwrap()
        .hex(Algo::Sha256)
        .unwrap()
}

fn archive() -> Archive {
    let dir = tempfile::tempdir().unwrap();
    let key = gen_key("Debian Archive Automatic Signing Key");
    let keyring = write_keyring(&dir.path().join("archive.asc"), &[&key]);
    let deb_bytes = b"!<arch>\nnot really a deb, but pinned like one\n".to_vec();
    let deb = dir.path().join("hello_2.10-3_amd64.deb");
    std::fs::write(&deb, &deb_bytes).unwrap();
    let dists = dir.path().join("dists/bookworm");
    let mut sha256 = String::new();
    for comp in ["main", "contrib", "non-free", "non-free-firmware"] {
        for arch in [
            "all", "amd64", "arm64", "armel", "armhf", "i386", "mips64el", "ppc64el",
        ] {
            let sub = format!("{comp}/binary-{arch}");
            let stanza = if sub == "main/binary-amd64" {
                format!(
                    "Package: hello\nVersion: 2.10-3\nArchitecture: amd64\n\
                     Filename: pool/main/h/hello/hello_2.10-3_amd64.deb\nSize: {}\nSHA256: {}\n\n",
                    deb_bytes.len(),
                    sha256_of(&deb_bytes)
                )
            } else {
                format!("Package: other-{comp}-{arch}\nVersion: 1\n\n")
            };
            std::fs::create_dir_all(dists.join(&sub)).unwrap();
            let plain = stanza.into_bytes();
            let forms = [
                ("Packages", plain.clone()),
                ("Packages.xz", pipe("xz", &["-c"], &plain)),
                ("Packages.gz", pipe("gzip", &["-cn"], &plain)),
            ];
            for (name, bytes) in forms {
                std::fs::write(dists.join(&sub).join(name), &bytes).unwrap();
                sha256 += &format!(" {} {:>8} {sub}/{name}\n", sha256_of(&bytes), bytes.len());
            }
        }
    }
    let release = format!(
        "Origin: Debian\nSuite: stable\nCodename: bookworm\nDate: Sat, 10 Jun 2023 08:53:33 UTC\n\
         Components: main contrib non-free non-free-firmware\nSHA256:\n{sha256}"
    );
    std::fs::write(
        dists.join("InRelease"),
        sign_cleartext(
            &key,
            release.as_bytes(),
            sequoia_openpgp::types::HashAlgorithm::SHA256,
        ),
    )
    .unwrap();
    Archive { dir, keyring, deb }
}

#[test]
fn a_tampered_debian_index_names_its_entry_in_one_line() {
    let a = archive();
    let d = a.dir.path();
    let dists = d.join("dists/bookworm");
    let index = dists.join("main/binary-amd64/Packages.xz");
    let run = |index: &Path| {
        Command::new(env!("CARGO_BIN_EXE_verify-package"))
            .arg("--keyring")
            .arg(&a.keyring)
            .arg("--release")
            .arg(dists.join("InRelease"))
            .arg("--index")
            .arg(index)
            .arg(&a.deb)
            .output()
            .unwrap()
    };
    let o = run(&index);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Copied out of the tree (only its file name says which of the 32
    // entries of that name it is), then one byte changed: the same size
    // as its own entry, so that is the one named, in one line.
    let tamper = |name: &str| {
        let mut bytes = std::fs::read(dists.join("main/binary-amd64").join(name)).unwrap();
        let n = bytes.len();
        bytes[n / 2] ^= 0x20;
        let flat = d.join(name);
        std::fs::write(&flat, &bytes).unwrap();
        (flat, bytes)
    };
    let (flat, bytes) = tamper("Packages");
    let o = run(&flat);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let want = format!(
        "verify-package: {}: does not match {}: main/binary-amd64/Packages: sha256 mismatch: \
         expected {}, got {}\n",
        flat.display(),
        dists.join("InRelease").display(),
        sha256_of(&std::fs::read(dists.join("main/binary-amd64/Packages")).unwrap()),
        sha256_of(&bytes)
    );
    assert_eq!(stderr(&o), want);
    // A size no entry has: the sizes, a few of them.
    std::fs::write(&flat, b"Package: x\n\n").unwrap();
    let o = run(&flat);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "size 12 is that of none of the 32 entries of that name (main/binary-all/Packages "
        ),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains(" (and 29 more))"), "{}", stderr(&o));
    // The .xz corrupted: the decoder refuses it, a verification failure
    // (exit 1), not "try again" (4).
    let (flat, _) = tamper("Packages.xz");
    let o = run(&flat);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("corrupt compressed data"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
}

/// QubesOS/qubes-linux-utils' signed tags and commits (tests/data/qubes),
/// as a bare repository.
fn linux_utils(dir: &Path) -> PathBuf {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/qubes");
    let r = dir.join("linux-utils.git");
    git(dir, &["init", "-q", "--bare", r.to_str().unwrap()]);
    let pack = r.join("objects/pack/pack-qubes.pack");
    std::fs::copy(data.join("linux-utils.pack"), &pack).unwrap();
    git(&r, &["index-pack", pack.to_str().unwrap()]);
    std::fs::copy(data.join("linux-utils.refs"), r.join("packed-refs")).unwrap();
    r
}

/// A Qubes Builder v1 layout for the shim: today's qubes-developers-keys.asc.
fn shim_builder(dir: &Path) -> PathBuf {
    let b = dir.join("builder");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/qubes/qubes-developers-keys.asc"),
        b.join("qubes-developers-keys.asc"),
    )
    .unwrap();
    b
}

fn shim(builder: &Path, args: &[&dyn AsRef<std::ffi::OsStr>], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new("bash");
    c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/qubes/verify-git-tag"));
    for a in args {
        c.arg(a.as_ref());
    }
    c.env("BUILDER_DIR", builder)
        .env("VERIFY_TAG", env!("CARGO_BIN_EXE_verify-tag"))
        .env_remove("VERIFY_TAG_FLAGS")
        .env_remove("KEYS_DIR")
        .env_remove("CHECK")
        .env_remove("NO_CHECK")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn a_sha1_tag_leads_with_sha1_and_the_shim_names_verify_tag_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = linux_utils(tmp.path());
    let builder = shim_builder(tmp.path());
    // mm_e9a21c03: Marek's tag of 2016-07-08, SHA-1 (verdicts.tsv: "sha1").
    let commit = "e9a21c03c2069d345332c58d22ea950f147321bd";
    let sha1 = format!(
        "verify-tag: {}: no valid signed tag at {commit}: tag mm_e9a21c03 \
         (c2c7f28be3b7f130c06625cf34f9e4558dd347d5): SHA-1 signature by \
         0064428F455451B3EBE78A7F063938BA42CFA724 made 2016-07-08T10:03:37Z refused: \
         SHA-256 or stronger is required (--allow-sha1-before DATE accepts SHA-1 \
         signatures made before DATE, for historical builds)\n",
        repo.display()
    );
    let o = shim(&builder, &[&repo, &commit], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "{sha1}verify-git-tag: to build the 2014-2016 history signed with SHA-1, \
             set VERIFY_TAG_FLAGS=\"--allow-sha1-before 2017-01-01\"\n"
        )
    );
    // What it says works.
    let flags = [("VERIFY_TAG_FLAGS", "--allow-sha1-before 2017-01-01")];
    let o = shim(&builder, &[&repo, &commit], &flags);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // verify-tag alone: the same first line, no shim advice.
    let o = Command::new(env!("CARGO_BIN_EXE_verify-tag"))
        .arg("--keyring")
        .arg(builder.join("qubes-developers-keys.asc"))
        .args(["--trust-root", "427F11FD0FAA4B080123F01CDDFA1A3E36879494"])
        .arg(&repo)
        .arg(commit)
        .env_remove("CHECK")
        .env_remove("NO_CHECK")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(stderr(&o), sha1);
}

#[test]
fn no_check_advice_names_what_the_builder_honours() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = linux_utils(tmp.path());
    let builder = shim_builder(tmp.path());
    let o = shim(&builder, &[&repo], &[("NO_CHECK", "1")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(
        stderr(&o),
        "verify-tag: Sorry, NO_CHECK is no longer supported. If you really want to turn off \
         signature checking, list the component in INSECURE_SKIP_CHECKING in builder.conf (the \
         builder then does not call verify-git-tag at all), or in \
         LESS_SECURE_SIGNED_COMMITS_SUFFICIENT to accept a signed commit without a signed tag\n"
    );
    // The value the old advice recommended is refused (as the old script
    // refuses it), and not recommended any more.
    assert!(!stderr(&o).contains("insecure-no-check"));
    let o = shim(&builder, &[&repo], &[("CHECK", "insecure-no-check")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains("(Qubes Builder v1: INSECURE_SKIP_CHECKING in builder.conf)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn check_hashes_says_what_is_wrong_with_a_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("a"), b"hello").unwrap();
    let h = sha256_of(b"hello");
    let run = |list: &str, body: String| {
        std::fs::write(d.join(list), body).unwrap();
        let ours = Command::new(env!("CARGO_BIN_EXE_check-hashes"))
            .arg(list)
            .current_dir(d)
            .output()
            .unwrap();
        let theirs = oracle("sha256sum").then(|| {
            Command::new("sha256sum")
                .args(["-c", list])
                .current_dir(d)
                .output()
                .unwrap()
        });
        (ours, theirs)
    };
    // One space between digest and name (`md5 -r`, `sha256 -r`): read as
    // sha256sum -c reads it, the same verdicts.
    let (o, c) = run("ONE", format!("{h} a\n"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "a: OK\n");
    if let Some(c) = c {
        assert_eq!(c.status.code(), Some(0), "{}", text(&c));
    }
    let other = sha256_of(b"hellp");
    let (o, c) = run("ONEBAD", format!("{other} a\n"));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    if let Some(c) = c {
        assert_eq!(c.status.code(), Some(1), "{}", text(&c));
    }
    // Both forms in one list: coreutils reads the second line's name as
    // " a" (the first line set the form); refused, saying so.
    let (o, c) = run("MIXED", format!("{h} a\n{h}  a\n"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(
        stderr(&o),
        "check-hashes: MIXED: line 2: this line and line 1 separate digest and name \
         differently (one space; two, or \" *\"): sha256sum -c reads a list by its first \
         line's form, so keep to one\n"
    );
    if let Some(c) = c {
        assert!(stderr(&c).contains("' a'"), "{}", text(&c));
    }
    // A digest with a byte that is not hex, in a GNU and a Buildroot line.
    let bad = format!("{}g{}", &h[..40], &h[41..]);
    let (o, _) = run("NONHEX", format!("{bad}  a\n"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(
        stderr(&o),
        "check-hashes: NONHEX: line 1: the digest has 'g' at column 41, which is not a hex digit\n"
    );
    let (o, _) = run("BR", format!("# Buildroot\nsha256  {bad}  a\n"));
    assert_eq!(
        stderr(&o),
        "check-hashes: BR: line 2: the digest has 'g' at column 49, which is not a hex digit\n"
    );
    // Digests of the wrong length: hex digits counted, the lengths listed.
    let (o, _) = run("SHORT", format!("{}  a\n", &h[..62]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(
        stderr(&o),
        "check-hashes: SHORT: line 1: a digest of 62 hex digits is no algorithm's \
         (md5 32, sha1 40, sha256 64, sha384 96, sha512 128)\n"
    );
    let (o, _) = run("ODD", format!("{h}0  a\n"));
    assert!(stderr(&o).contains("line 1: a digest of 65 hex digits is no algorithm's"));
    let (o, _) = run("BRLEN", format!("sha256  {}  a\n", &h[..62]));
    assert_eq!(
        stderr(&o),
        "check-hashes: BRLEN: line 1: a sha256 digest is 32 bytes (64 hex digits), this one is 31\n"
    );
    // Nothing was hashed for a malformed list.
    assert!(o.stdout.is_empty());
}

#[test]
fn tls_failures_read_like_curl_and_are_not_retried() {
    use common::http::TestCa;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let h = sha256_of(b"data");
    let get = |ca: Option<&Path>, url: &str| {
        let mut args = vec!["--retries", "2", "--sha256", &h];
        if let Some(ca) = ca {
            args.extend(["--ca-file", ca.to_str().unwrap()]);
        }
        args.push(url);
        let o = fetch_verified(d, &args);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(!stderr(&o).contains("retrying"), "{}", stderr(&o));
        assert_eq!(listing(d), Vec::<String>::new());
        stderr(&o)
    };
    let leaf = TestCa::self_signed(true);
    let srv = Server::start_tls(&leaf);
    let url = srv.route("/f", Reply::Body(b"data".to_vec()));
    // curl: "SSL certificate problem: self-signed certificate".
    assert_eq!(
        get(None, &url),
        format!(
            "fetch-verified: f not fetched: GET {url}: SSL certificate problem: self-signed \
             certificate or unknown issuer: the certificate of 127.0.0.1 is not issued by a CA \
             of the system store (a self-signed server certificate is trusted when --ca-file \
             holds it, unless it is a CA certificate)\n"
        )
    );
    // curl: "no alternative certificate subject name matches target host
    // name 'localhost'".
    let by_name = url.replacen("127.0.0.1", "localhost", 1);
    assert_eq!(
        get(Some(&leaf.ca_pem), &by_name),
        format!(
            "fetch-verified: f not fetched: GET {by_name}: SSL certificate problem: name \
             mismatch: no alternative certificate subject name matches target host name \
             'localhost' (it names IP 127.0.0.1; a subject CN alone is not used)\n"
        )
    );
    // curl: "certificate has expired".
    let old = TestCa::self_signed_dated("20200101000000Z", "20200201000000Z");
    let srv = Server::start_tls(&old);
    let url = srv.route("/f", Reply::Body(b"data".to_vec()));
    let err = get(Some(&old.ca_pem), &url);
    assert!(
        err.starts_with(&format!(
            "fetch-verified: f not fetched: GET {url}: SSL certificate problem: certificate \
             has expired: it was valid until 2020-02-01T00:00:00Z, it is "
        )),
        "{err}"
    );
    assert!(
        !err.contains("Context") && !err.contains("UnixTime"),
        "{err}"
    );
}

#[test]
fn an_expired_key_gives_both_dates_and_says_to_refresh_it() {
    use sequoia_openpgp::types::HashAlgorithm::SHA256;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Made 30 days ago, valid for 20: expired 10 days ago.
    let k = gen_key_with("Upstream", days_from_now(-30), Some(DAY * 20));
    let fpr = k.fingerprint().to_hex();
    let ring = write_keyring(&d.join("upstream.asc"), &[&k]);
    let secs =
        |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let rfc = |t: std::time::SystemTime| humantime::format_rfc3339_seconds(t).to_string();
    let expired = rfc(k.primary_key().key().creation_time() + DAY * 20);
    let (after, before) = (at(secs(days_from_now(-2))), at(secs(days_from_now(-20))));
    let refresh = "refresh the key (its owner may have extended its expiry; the keyring given \
                   may hold an old copy)";
    std::fs::write(d.join("f"), b"data").unwrap();
    let check = |sig: &[u8]| {
        std::fs::write(d.join("f.sig"), sig).unwrap();
        Command::new(env!("CARGO_BIN_EXE_check-hashes"))
            .arg("--keyring")
            .arg(&ring)
            .args(["--signature", "f.sig", "f"])
            .current_dir(d)
            .output()
            .unwrap()
    };
    // Signed after it expired: refused, both dates, what to do.
    let o = check(&sign_detached_with(&k, b"data", SHA256, after));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "check-hashes: f (signature f.sig): key {fpr} expired on {expired}; the signature \
             was made on {}, after that: {refresh}\n",
            rfc(after)
        )
    );
    // Signed while valid: a release file passes (judged when it signed),
    // with the same dates in the warning.
    let o = check(&sign_detached_with(&k, b"data", SHA256, before));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "check-hashes: f: warning: key {fpr} expired on {expired}; the signature was made \
             on {}, while it was valid: {refresh}\n",
            rfc(before)
        )
    );
    // A tag signed while it was valid: verify-tag needs keys valid now.
    let r = d.join("repo");
    std::fs::create_dir_all(&r).unwrap();
    common::git::init(&r, false);
    let commit = common::git::commit(&r, "c");
    let tag = common::git::tag_text(&commit, "v1.0", "v1.0");
    let mut raw = tag.into_bytes();
    raw.extend(armor_sig(&sign_detached_with(&k, &raw, SHA256, before)));
    let id = common::git::write_raw_tag(&r, &raw, "v1.0");
    let o = Command::new(env!("CARGO_BIN_EXE_verify-tag"))
        .arg("--keyring")
        .arg(&ring)
        .arg(&r)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "verify-tag: {}: no valid signed tag at {commit}: tag v1.0 ({id}): key {fpr} \
             expired on {expired}; the signature was made on {}, while it was valid, but keys \
             must be valid now (a signature's date is the signer's to choose): {refresh}\n",
            r.display(),
            rfc(before)
        )
    );
}

#[test]
fn a_usage_error_under_json_is_an_object_too() {
    let tools: [(&str, &[&str]); 5] = [
        (env!("CARGO_BIN_EXE_fetch-verified"), &[]),
        (env!("CARGO_BIN_EXE_check-hashes"), &[]),
        (env!("CARGO_BIN_EXE_verify-tag"), &[]),
        (env!("CARGO_BIN_EXE_verify-package"), &[]),
        (env!("CARGO_BIN_EXE_sign-log"), &["verify"]),
    ];
    for (bin, sub) in tools {
        let o = Command::new(bin)
            .args(sub)
            .args(["--json", "--bogus"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{bin}: {}", text(&o));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "{\"exit\":2,\"reason\":\"unexpected argument '--bogus' found\",\"status\":\"failed\"}\n",
            "{bin}"
        );
        assert!(
            stderr(&o).contains("unexpected argument '--bogus'"),
            "{bin}"
        );
    }
    // Without --json, stdout stays empty.
    let o = Command::new(env!("CARGO_BIN_EXE_check-hashes"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
}

/// sign-log with the test's log key: `args`, `input` on stdin.
fn sign_log(args: &[&dyn AsRef<std::ffi::OsStr>], input: &[u8]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sign-log"));
    for a in args {
        c.arg(a.as_ref());
    }
    run_fed(c.env_remove("QREXEC_REMOTE_DOMAIN"), input)
}

/// A log key (secret and public files) under `dir`.
fn log_key(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let k = gen_key(name);
    let secret = dir.join(format!("{name}.key.asc"));
    std::fs::write(&secret, armor_tsk(&k)).unwrap();
    let public = write_keyring(&dir.join(format!("{name}.pub.asc")), &[&k]);
    (secret, public)
}

#[test]
fn sign_log_names_the_first_changed_record_and_its_summary_adds_up() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (key, public) = log_key(d, "log");
    let log = d.join("log");
    let lines: String = (1..=12).map(|i| format!("line {i}\n")).collect();
    let receive = |input: &[u8]| {
        let o = sign_log(
            &[
                &"receive",
                &"--log",
                &log,
                &"--name",
                &"core-admin",
                &"--source",
                &"vm",
            ],
            input,
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    };
    let seal = || {
        let o = sign_log(&[&"seal", &"--log", &log, &"--key", &key], b"");
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    };
    receive(lines.as_bytes());
    seal();
    receive(b"more\nmore2\n");
    let verify = || sign_log(&[&"verify", &"--log", &log, &"--keyring", &public], b"");
    // 19 records: 14 sealed (start, 12 lines, end), the seal's own, 4 after.
    let o = verify();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with(
            "log verified: 19 records (14 sealed, 1 seal, 4 unsealed); origin \
             build-verify.sign-log/vm/core-admin; checkpoints [14]\n"
        ),
        "{}",
        text(&o)
    );
    // A record changed in place (still valid JSON, every field plausible):
    // the one named is the one changed, wherever it is.
    let original = std::fs::read_to_string(log.join("log.jsonl")).unwrap();
    for i in [1usize, 5, 12, 13] {
        let mut recs: Vec<String> = original.lines().map(String::from).collect();
        recs[i] = recs[i].replace("line", "lime").replace("eof", "eog");
        std::fs::write(log.join("log.jsonl"), recs.join("\n") + "\n").unwrap();
        let o = verify();
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(
            stderr(&o).ends_with(&format!(
                "sign-log: record {i}: not the record checkpoint 14 sealed (changed, or records \
                 removed, inserted or reordered there): its hash differs from the one sealed \
                 with the checkpoint\n"
            )),
            "{i}: {}",
            stderr(&o)
        );
    }
    // A record removed: the first one that differs from what was sealed.
    let mut recs: Vec<String> = original.lines().map(String::from).collect();
    recs.remove(7);
    std::fs::write(log.join("log.jsonl"), recs.join("\n") + "\n").unwrap();
    assert!(
        stderr(&verify()).contains("record 7: "),
        "{}",
        stderr(&verify())
    );
    // The sealed hashes changed too (they no longer give the signed root):
    // not trusted, and only the range is named.
    let mut recs: Vec<String> = original.lines().map(String::from).collect();
    recs[5] = recs[5].replace("line", "lime");
    std::fs::write(log.join("log.jsonl"), recs.join("\n") + "\n").unwrap();
    std::fs::write(log.join("checkpoints/14.leaves"), vec![7u8; 14 * 32]).unwrap();
    let o = verify();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stderr(&o).ends_with(
            "sign-log: records 0..13: do not match checkpoint 14 (root mismatch: a record was \
             changed, removed, inserted or reordered)\n"
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
fn agree_says_how_many_builders_reported_a_product() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let product = d.join("core-admin.rpm");
    std::fs::write(&product, b"the package").unwrap();
    let directive = sign_log(&[&"hash", &product], b"");
    assert_eq!(directive.status.code(), Some(0), "{}", text(&directive));
    let mut rings = Vec::new();
    let mut logs = Vec::new();
    for (name, reports) in [("b1", true), ("b2", false)] {
        let (key, public) = log_key(d, name);
        let log = d.join(name);
        let input = [
            &b"building\n"[..],
            if reports { &directive.stdout[..] } else { b"" },
        ]
        .concat();
        let o = sign_log(
            &[&"receive", &"--log", &log, &"--name", &"core-admin"],
            &input,
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let o = sign_log(&[&"seal", &"--log", &log, &"--key", &key], b"");
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        rings.push(public);
        logs.push(log);
    }
    let o = sign_log(
        &[
            &"agree",
            &"--log",
            &logs[0],
            &"--log",
            &logs[1],
            &"--keyring",
            &rings[0],
            &"--keyring",
            &rings[1],
            &"--min",
            &"1",
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let row = out
        .lines()
        .find(|l| l.starts_with("core-admin.rpm"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.ends_with("  agreed (1 agrees, 1 did not report it; 1 required)"),
        "{out}"
    );
}

#[test]
fn man_page_synopses_show_option_values() {
    let tmp = tempfile::tempdir().unwrap();
    let page = |bin: &str, name: &str| {
        let o = Command::new(bin)
            .env("BUILD_VERIFY_GEN_DOCS", tmp.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let text = std::fs::read_to_string(tmp.path().join(format!("man1/{name}.1"))).unwrap();
        let at = text.find(".SH SYNOPSIS\n").unwrap();
        text[at..].lines().nth(3).unwrap().to_string()
    };
    let ch = page(env!("CARGO_BIN_EXE_check-hashes"), "check-hashes");
    for want in [
        "[\\fB\\-\\-sha256\\fR\\ \\fIHEX\\fR]",
        "[\\fB\\-C\\fR|\\fB\\-\\-directory\\fR\\ \\fIDIR\\fR]",
        "[\\fB\\-\\-keyring\\fR\\ \\fIFILE\\fR]...",
        "[\\fB\\-\\-json\\fR]",
        "[\\fILIST\\fR]...",
    ] {
        assert!(ch.contains(want), "{want} in {ch}");
    }
    let v = page(env!("CARGO_BIN_EXE_sign-log"), "sign-log-verify");
    assert!(
        v.starts_with("\\fBsign\\-log verify\\fR \\fB\\-\\-log\\fR\\ \\fIDIR\\fR "),
        "{v}"
    );
    // man renders it with each option next to its value.
    if oracle("man") {
        let o = Command::new("man")
            .arg("-l")
            .arg(tmp.path().join("man1/check-hashes.1"))
            .env("MANWIDTH", "80")
            .env_remove("MAN_KEEP_FORMATTING")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let shown = String::from_utf8_lossy(&o.stdout);
        assert!(shown.contains("[--keyring FILE]..."), "{shown}");
        assert!(shown.contains("[-C|--directory DIR]"), "{shown}");
    }
}

#[test]
fn sign_log_step_names_each_step_by_its_command() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (key, public) = log_key(d, "log");
    std::fs::write(
        d.join("Makefile"),
        format!(
            "SIGN_LOG := {}\ninclude {}/build-verify.mk\n\
             out:\n\t@$(SIGN_LOG_STEP) sh -c 'echo configure'\n\
             \t@$(SIGN_LOG_STEP) sh -c 'echo compile'\n\
             \t@$(call SIGN_LOG_STEP_AS,install) true\n",
            env!("CARGO_BIN_EXE_sign-log"),
            fragment_dir().display()
        ),
    )
    .unwrap();
    let built = make(d, &["out"]);
    assert!(built.status.success(), "{}", text(&built));
    let log = d.join("log");
    let o = sign_log(
        &[&"receive", &"--log", &log, &"--name", &"c"],
        &built.stdout,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = sign_log(&[&"seal", &"--log", &log, &"--key", &key], b"");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = sign_log(&[&"verify", &"--log", &log, &"--keyring", &public], b"");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let steps: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with("step "))
        .map(|l| l.trim().to_string())
        .collect();
    assert_eq!(
        steps,
        [
            "step     sh -c 'echo configure' exit=0",
            "step     sh -c 'echo compile' exit=0",
            "step     install exit=0"
        ]
    );
}

#[test]
fn a_revision_that_does_not_exist_is_said_plainly() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = linux_utils(tmp.path());
    let keys =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/qubes/qubes-developers-keys.asc");
    for rev in ["v9.9.9", "deadbeef", "HEAD~3"] {
        let o = Command::new(env!("CARGO_BIN_EXE_verify-tag"))
            .arg("--keyring")
            .arg(&keys)
            .arg(&repo)
            .arg(rev)
            .env_remove("CHECK")
            .env_remove("NO_CHECK")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(3), "{}", text(&o));
        assert_eq!(
            stderr(&o),
            format!(
                "verify-tag: {}: revision \"{rev}\" not found: no branch, tag or commit of that name\n",
                repo.display()
            )
        );
    }
}

#[test]
fn the_json_of_a_failed_package_has_every_field() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rpm");
    // A real RPM Fusion package, checked with another distributor's key.
    let o = Command::new(env!("CARGO_BIN_EXE_verify-package"))
        .arg("--json")
        .arg("--keyring")
        .arg(data.join("RPM-GPG-KEY-fedora-39-primary"))
        .arg(data.join("rpmfusion-free-release-44-1.noarch.rpm"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    for key in [
        "path", "status", "exit", "kind", "signers", "notes", "reason",
    ] {
        assert!(first.get(key).is_some(), "{key} in {first}");
    }
    assert_eq!(first["kind"], "rpm");
    assert_eq!(first["status"], "failed");
    assert_eq!(first["signers"], serde_json::json!([]));
}

fn prerequisites_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/dist/check-build-prerequisites")
}

const INSTALL_LINES: &str = "  Debian: sudo apt-get install build-essential pkg-config libssl-dev libclang-dev\n  \
     Fedora: sudo dnf install gcc pkgconf-pkg-config openssl-devel clang-devel cargo\n  \
     Rust 1.89 or newer: Fedora 42's cargo, or a rustup toolchain first on PATH (Debian 12's is older).\n";

#[test]
fn the_example_names_missing_build_prerequisites_before_building() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let empty = d.join("empty");
    std::fs::create_dir(&empty).unwrap();
    // Nothing on PATH (make by its full path), libclang hidden: the
    // example stops in its first recipe, with one message.
    let make_path = Command::new("sh")
        .args(["-c", "command -v make"])
        .output()
        .unwrap();
    let make_path = String::from_utf8(make_path.stdout).unwrap();
    let o = Command::new(make_path.trim())
        .arg("-f")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Makefile.example"))
        .arg(format!("WORK={}", d.join("work").display()))
        .arg(format!("CARGO_TARGET_DIR={}", d.join("target").display()))
        .env_clear()
        .env("PATH", &empty)
        .env("LIBCLANG_PATH", &empty)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).starts_with(&format!(
            "cannot build build-verify: missing a C compiler (cc), pkg-config, the OpenSSL \
             headers (libssl-dev, openssl-devel), libclang (libclang-dev, clang-devel), cargo \
             (Rust 1.89 or newer).\n{INSTALL_LINES}"
        )),
        "{}",
        stderr(&o)
    );
    assert!(!d.join("target").exists() && !d.join("work").exists());
    // pkg-config without openssl.pc, and a Rust too old (Debian 12's).
    let fake = d.join("fake");
    std::fs::create_dir(&fake).unwrap();
    for (tool, body) in [
        ("cc", "exit 0"),
        ("pkg-config", "exit 1"),
        ("cargo", "exit 0"),
        ("rustc", "echo 'rustc 1.63.0 (4b91a6ea7 2022-08-08)'"),
    ] {
        let p = fake.join(tool);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let here = std::env::var_os("LIBCLANG_PATH");
    let o = Command::new(prerequisites_script())
        .env_clear()
        .env("PATH", &fake)
        .envs(here.map(|h| ("LIBCLANG_PATH", h)))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "cannot build build-verify: missing the OpenSSL headers (pkg-config finds no openssl), \
             Rust 1.89 or newer (rustc is 1.63.0).\n{INSTALL_LINES}"
        )
    );
    // This machine built the tests: it has everything.
    let o = Command::new(prerequisites_script()).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(text(&o), "");
}

#[test]
fn get_sources_and_verify_sources_in_one_parallel_run() {
    let b = Builder::new();
    let mut rules = String::new();
    for i in 0..4 {
        let name = format!("src{i}.tar.gz");
        let url = b.publish(&name, format!("source {i}").as_bytes());
        rules += &signed_rule(&name, &url);
    }
    let dir = b.component(
        "many",
        &format!("{}{rules}{GET_SOURCES}", head(&fragment_dir())),
    );
    // Each file's verification waits for its fetch.
    let o = make(&dir, &["-j4", "get-sources", "verify-sources"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        text(&o).matches("present, re-verified").count(),
        4,
        "{}",
        text(&o)
    );
    for i in 0..4 {
        assert_eq!(b.server.hits(&format!("/src{i}.tar.gz")), 1);
    }
}
