//! Regression tests for the seven defects of issue 21 (an outside attack
//! on main 1ef7666), one group per item. Each test failed on that code:
//! it asserts the exit code and, where files are written, the directory
//! listing. Peers (apt, GNU make) are the oracles where they have a say.

use crate::common;

use common::git::{commit, init, signed_tag};
use common::http::{Reply, Server};
use common::pkg::{self, sign_release, write_index, Apt, Deb, Keys};
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const CHECK_HASHES: &str = env!("CARGO_BIN_EXE_check-hashes");
const FETCH_VERIFIED: &str = env!("CARGO_BIN_EXE_fetch-verified");
const VERIFY_PACKAGE: &str = env!("CARGO_BIN_EXE_verify-package");
const VERIFY_TAG: &str = env!("CARGO_BIN_EXE_verify-tag");
const SIGN_LOG: &str = env!("CARGO_BIN_EXE_sign-log");

/// A command that must end within this many seconds (a regression of
/// item 4 would otherwise hang the suite).
const DEADLINE: u64 = 20;

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// `bin ARGS` in `dir`, killed (and the test failed) after [`DEADLINE`].
fn tool(bin: &str, dir: &Path, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut c = Command::new(bin);
    c.current_dir(dir)
        .env_remove("QREXEC_REMOTE_DOMAIN")
        .env_remove("CHECK")
        .env_remove("DISTFILES_MIRROR");
    for v in ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"] {
        c.env_remove(v);
    }
    for a in args {
        c.arg(a.as_ref());
    }
    match run_deadline(&mut c, DEADLINE) {
        Ok(o) => o,
        Err(o) => panic!(
            "{bin} {:?} hung: {}",
            c.get_args().collect::<Vec<_>>(),
            text(&o)
        ),
    }
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

// ---------------------------------------------------------------------
// The Debian fixture (items 1 and 5): a repository made by dpkg-deb and
// apt-ftparchive, signed by gpg, with apt-get in a private root as the
// oracle.

fn deb() -> Option<(&'static Keys, &'static Deb)> {
    pkg::shared_deb(&["apt-get"])
}

const DEB: &str = "pool/main/bvhello_1.0-1_all.deb";
const PACKAGES: &str = "dists/stable/main/binary-amd64/Packages";
const PACKAGES_XZ: &str = "dists/stable/main/binary-amd64/Packages.xz";
const IN_RELEASE: &str = "dists/stable/InRelease";

/// A copy of the repository to change, apt set up on it, and a server
/// publishing it.
struct Repo {
    tmp: tempfile::TempDir,
    repo: PathBuf,
    apt: Apt,
    server: Server,
}

impl Repo {
    fn new(k: &Keys, d: &Deb) -> Repo {
        let pkg::DebCopy { tmp, repo, apt } = d.copy(k);
        let server = Server::start();
        server.serve_dir(&repo);
        std::fs::create_dir(tmp.path().join("out")).unwrap();
        Repo {
            tmp,
            repo,
            apt,
            server,
        }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.repo.join(rel)
    }

    fn out(&self) -> PathBuf {
        self.tmp.path().join("out")
    }

    /// Rewrite the Release's text with `edit` and clearsign it as
    /// InRelease by the archive key (gpg), as an archive would.
    fn resign_release(&self, k: &Keys, edit: impl Fn(&str) -> String) {
        let dists = self.p("dists/stable");
        let text = edit(&std::fs::read_to_string(dists.join("Release")).unwrap());
        let plain = self.tmp.path().join("Release.edited");
        std::fs::write(&plain, text).unwrap();
        let _ = std::fs::remove_file(dists.join("InRelease"));
        k.gpg
            .clearsign(&["rsa@example.org"], &plain, &dists.join("InRelease"));
        k.gpg.stop_agent();
    }

    /// Replace the binary index (plain, .xz, .gz) and sign a new Release
    /// over it: the index is authentic, whatever it says.
    fn publish_packages(&self, k: &Keys, text: &str) {
        write_index(&self.p(PACKAGES), text.as_bytes());
        sign_release(k, &self.p("dists/stable"));
        k.gpg.stop_agent();
    }

    fn check_hashes(&self, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
        tool(CHECK_HASHES, &self.repo, args)
    }

    fn verify_package(&self, k: &Keys, files: &[&str]) -> Output {
        let mut a: Vec<std::ffi::OsString> = vec![
            "--keyring".into(),
            k.rsa_asc.clone().into(),
            "--release".into(),
            self.p(IN_RELEASE).into(),
            "--index".into(),
            self.p(PACKAGES_XZ).into(),
        ];
        a.extend(files.iter().map(|f| self.p(f).into()));
        let refs: Vec<&dyn AsRef<std::ffi::OsStr>> =
            a.iter().map(|x| x as &dyn AsRef<std::ffi::OsStr>).collect();
        tool(VERIFY_PACKAGE, &self.repo, &refs)
    }

    /// fetch-verified into out/ (which must stay empty on failure).
    fn fetch(&self, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
        let mut a: Vec<&dyn AsRef<std::ffi::OsStr>> =
            vec![&"--allow-http", &"--retries", &"0", &"--read-timeout", &"5"];
        a.extend_from_slice(args);
        tool(FETCH_VERIFIED, &self.out(), &a)
    }

    fn url(&self, rel: &str) -> String {
        self.server.url(&format!("/{rel}"))
    }

    /// The .deb refused by every tool that reads the binary index (exit 1,
    /// saying `why`; nothing fetched), and its Packages by check-hashes.
    fn deb_refused(&self, k: &Keys, why: &str) {
        let o = self.verify_package(k, &[DEB]);
        assert_eq!(code(&o), 1, "{}", text(&o));
        assert!(text(&o).contains(why), "{why}: {}", text(&o));
        let o = self.check_hashes(&[&PACKAGES]);
        assert_eq!(code(&o), 1, "{}", text(&o));
        let o = self.fetch(&[&"--hash-file", &self.p(PACKAGES_XZ), &self.url(DEB)]);
        assert_eq!(code(&o), 1, "{}", text(&o));
        assert!(text(&o).contains(why), "{why}: {}", text(&o));
        assert_eq!(listing(&self.out()), Vec::<String>::new());
    }
}

/// The Release's `Date` and `Valid-Until` lines replaced.
fn redate(text: &str, date: &str, until: &str) -> String {
    text.lines()
        .map(|l| {
            if l.starts_with("Date:") {
                format!("Date: {date}")
            } else if l.starts_with("Valid-Until:") {
                format!("Valid-Until: {until}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

// ---------------------------------------------------------------------
// Item 1: one rule for a Release's dates, check-hashes included.

#[test]
fn item1_check_hashes_refuses_stale_and_future_releases_as_apt_does() {
    let Some((k, d)) = deb() else { return };
    let ring = &k.rsa_asc;
    for (case, date, until) in [
        (
            "stale",
            "Mon, 01 Jan 2024 00:00:00 UTC",
            "Mon, 08 Jan 2024 00:00:00 UTC",
        ),
        (
            "future",
            "Sat, 01 Jan 2050 00:00:00 UTC",
            "Sat, 08 Jan 2050 00:00:00 UTC",
        ),
    ] {
        let r = Repo::new(k, d);
        r.resign_release(k, |t| redate(t, date, until));
        assert!(!r.apt.update_ok(), "{case}: apt accepts it");
        // Every file the Release lists is there and matches: only its
        // dates are wrong.
        let o = r.check_hashes(&[&"--keyring", ring, &"-C", &"dists/stable", &IN_RELEASE]);
        assert_eq!(code(&o), 1, "{case}: {}", text(&o));
        let why = if case == "stale" {
            "expired: Valid-Until"
        } else {
            "not valid yet"
        };
        assert!(text(&o).contains(why), "{case}: {}", text(&o));
        assert!(!text(&o).contains(": OK"), "{case}: {}", text(&o));
        // Without keys (the signature stripped, with a note) the dates
        // still count: the rule is about the file, not the key.
        let o = r.check_hashes(&[&"-C", &"dists/stable", &IN_RELEASE]);
        assert_eq!(code(&o), 1, "{case}, no keyring: {}", text(&o));
        // The other readers of a Release agree.
        let o = r.verify_package(k, &[DEB]);
        assert_eq!(code(&o), 1, "{case}: verify-package: {}", text(&o));
        let o = r.fetch(&[&"--keyring", ring, &r.url(PACKAGES_XZ), &r.url(IN_RELEASE)]);
        assert_eq!(code(&o), 1, "{case}: fetch-verified: {}", text(&o));
        assert_eq!(listing(&r.out()), Vec::<String>::new(), "{case}");
        let o = r.fetch(&[&"--hash-file", &r.p(IN_RELEASE), &r.url(PACKAGES_XZ)]);
        assert_eq!(code(&o), 1, "{case}: --hash-file: {}", text(&o));
        assert_eq!(listing(&r.out()), Vec::<String>::new(), "{case}");
        if case == "stale" {
            // verify-package's escape hatch, now check-hashes' too.
            let o = r.check_hashes(&[
                &"--keyring",
                ring,
                &"--ignore-valid-until",
                &"-C",
                &"dists/stable",
                &IN_RELEASE,
            ]);
            assert_eq!(code(&o), 0, "{}", text(&o));
            assert!(text(&o).contains("--ignore-valid-until"), "{}", text(&o));
            // And fetch-verified's, for the InRelease as SIG and as
            // --hash-file: the file verified, with the note.
            for how in ["sig", "hash-file"] {
                let o = match how {
                    "sig" => r.fetch(&[
                        &"--keyring",
                        ring,
                        &"--ignore-valid-until",
                        &r.url(PACKAGES_XZ),
                        &r.url(IN_RELEASE),
                    ]),
                    _ => r.fetch(&[
                        &"--ignore-valid-until",
                        &"--hash-file",
                        &r.p(IN_RELEASE),
                        &r.url(PACKAGES_XZ),
                    ]),
                };
                assert_eq!(code(&o), 0, "{how}: {}", text(&o));
                assert!(
                    text(&o).contains("--ignore-valid-until"),
                    "{how}: {}",
                    text(&o)
                );
                assert_eq!(listing(&r.out()), vec!["Packages.xz".to_string()], "{how}");
                std::fs::remove_file(r.out().join("Packages.xz")).unwrap();
            }
        } else {
            // A Date in the future is not what the option accepts.
            let o = r.fetch(&[
                &"--keyring",
                ring,
                &"--ignore-valid-until",
                &r.url(PACKAGES_XZ),
                &r.url(IN_RELEASE),
            ]);
            assert_eq!(code(&o), 1, "{}", text(&o));
            assert_eq!(listing(&r.out()), Vec::<String>::new());
        }
    }
}

// ---------------------------------------------------------------------
// Item 5: every strong digest listed must match; entries that contradict
// each other fail.

#[test]
fn item5_a_wrong_second_digest_in_a_signed_stanza_fails_as_apt_says() {
    let Some((k, d)) = deb() else { return };
    let r = Repo::new(k, d);
    let index = std::fs::read_to_string(r.p(PACKAGES)).unwrap();
    let at = index.find("SHA512: ").unwrap() + 8;
    let mut bad = index.into_bytes();
    bad[at] = if bad[at] == b'0' { b'1' } else { b'0' };
    r.publish_packages(k, std::str::from_utf8(&bad).unwrap());
    assert!(r.apt.update_ok(), "the index itself is authentic");
    assert!(
        !r.apt.download_ok("bvhello", false),
        "apt accepts a .deb whose SHA512 differs from its stanza's"
    );
    r.deb_refused(k, "sha512 mismatch");
}

#[test]
fn item5_a_wrong_second_digest_in_the_release_fails_as_apt_says() {
    let Some((k, d)) = deb() else { return };
    let r = Repo::new(k, d);
    let entry = "main/binary-amd64/Packages.xz";
    r.resign_release(k, |t| {
        let mut in_sha512 = false;
        t.lines()
            .map(|l| {
                if !l.starts_with(' ') {
                    in_sha512 = l == "SHA512:";
                    return l.to_string();
                }
                if in_sha512 && l.ends_with(&format!(" {entry}")) {
                    let hex = l.split_whitespace().next().unwrap();
                    let flipped = if hex.starts_with('0') { "1" } else { "0" };
                    return l.replacen(hex, &format!("{flipped}{}", &hex[1..]), 1);
                }
                l.to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    });
    assert!(
        !r.apt.update_ok(),
        "apt accepts an index whose SHA512 differs from the Release's"
    );
    let o = r.verify_package(k, &[DEB]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("sha512 mismatch"), "{}", text(&o));
    let o = r.fetch(&[
        &"--keyring",
        &k.rsa_asc,
        &r.url(PACKAGES_XZ),
        &r.url(IN_RELEASE),
    ]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert_eq!(listing(&r.out()), Vec::<String>::new());
    let o = r.check_hashes(&[
        &"--keyring",
        &k.rsa_asc,
        &"-C",
        &"dists/stable",
        &IN_RELEASE,
    ]);
    assert_eq!(code(&o), 1, "{}", text(&o));
}

#[test]
fn item5_two_stanzas_for_one_file_that_disagree_fail_as_apt_says() {
    let Some((k, d)) = deb() else { return };
    for wrong_first in [true, false] {
        let r = Repo::new(k, d);
        let index = std::fs::read_to_string(r.p(PACKAGES)).unwrap();
        let stanza = index.split("\n\n").find(|s| s.contains(DEB)).unwrap();
        // The same Filename twice, with two SHA256 values: the true stanza
        // and one with a digit changed.
        let at = stanza.find("SHA256: ").unwrap() + 8;
        let mut other = stanza.to_string().into_bytes();
        other[at] = if other[at] == b'0' { b'1' } else { b'0' };
        let other = String::from_utf8(other).unwrap();
        let both = match wrong_first {
            true => format!("{other}\n\n{}\n", index.trim_end()),
            false => format!("{}\n\n{other}\n", index.trim_end()),
        };
        r.publish_packages(k, &both);
        assert!(r.apt.update_ok(), "the index itself is authentic");
        // apt goes by the first stanza and says the sources disagree: it
        // refuses the .deb when that one is wrong, and warns otherwise. A
        // list that contradicts itself pins nothing for us either way.
        let o = r.apt.run(&["download", "bvhello"]);
        let said = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(said.contains("Sources disagree on hashes"), "{said}");
        if wrong_first {
            assert!(said.contains("Hash Sum mismatch"), "{said}");
        }
        r.deb_refused(k, "listed twice");
    }
}

// ---------------------------------------------------------------------
// The log fixture (items 2 and 4): a log with a product, sealed, and
// witnesses' keys.

struct Log {
    tmp: tempfile::TempDir,
    log: PathBuf,
    key: PathBuf,
    public: PathBuf,
    art: PathBuf,
}

fn sl(dir: &Path, args: &[&str]) -> Output {
    let a: Vec<&dyn AsRef<std::ffi::OsStr>> = args
        .iter()
        .map(|s| s as &dyn AsRef<std::ffi::OsStr>)
        .collect();
    tool(SIGN_LOG, dir, &a)
}

impl Log {
    fn new() -> Log {
        let tmp = tempfile::tempdir().unwrap();
        let common::signlog::LogKey { key, public, .. } = common::signlog::log_key(tmp.path());
        let log = tmp.path().join("log");
        let art = tmp.path().join("a.rpm");
        std::fs::write(&art, b"rpm a").unwrap();
        let h = sl(tmp.path(), &["hash", "--product", art.to_str().unwrap()]);
        assert_eq!(code(&h), 0, "{}", text(&h));
        let input = [b"cc -o a a.c\n".as_slice(), &h.stdout].concat();
        let o = run_fed(
            Command::new(SIGN_LOG)
                .args(["receive", "--log", log.to_str().unwrap(), "--name", "a"])
                .env_remove("QREXEC_REMOTE_DOMAIN"),
            &input,
        );
        assert_eq!(code(&o), 0, "{}", text(&o));
        let l = Log {
            tmp,
            log,
            key,
            public,
            art,
        };
        let o = l.sl(&["seal", "--log", l.l(), "--key", l.s(&l.key)]);
        assert_eq!(code(&o), 0, "{}", text(&o));
        l
    }

    fn p(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn l(&self) -> &str {
        self.log.to_str().unwrap()
    }

    fn s<'a>(&self, p: &'a Path) -> &'a str {
        p.to_str().unwrap()
    }

    fn sl(&self, args: &[&str]) -> Output {
        sl(self.tmp.path(), args)
    }

    /// A witness's key pair: the secret key in NAME.skey, the vkey returned.
    fn witness(&self, name: &str, file: &str) -> String {
        let f = self.p(file);
        let o = self.sl(&[
            "keygen",
            "--witness",
            "--name",
            name,
            "--secret",
            self.s(&f),
        ]);
        assert_eq!(code(&o), 0, "{}", text(&o));
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    }

    /// `cosign --key SKEY --proof EV EXTRA...` with the log's public key.
    fn cosign(&self, skey: &str, ev: &Path, extra: &[&str]) -> Output {
        let key = self.p(skey);
        let mut a = vec!["cosign", "--key", self.s(&key), "--keyring"];
        a.extend([self.s(&self.public), "--proof", self.s(ev)]);
        a.extend_from_slice(extra);
        self.sl(&a)
    }

    /// `prove checkpoint` (a witness's evidence) into FILE.
    fn checkpoint_evidence(&self, file: &str) -> PathBuf {
        let o = self.sl(&["prove", "checkpoint", "--log", self.l()]);
        assert_eq!(code(&o), 0, "{}", text(&o));
        let p = self.p(file);
        std::fs::write(&p, &o.stdout).unwrap();
        p
    }

    /// `prove product --file ART` (the gate's evidence) into FILE.
    fn product_evidence(&self, file: &str) -> PathBuf {
        let o = self.sl(&[
            "prove",
            "product",
            "--log",
            self.l(),
            "--file",
            self.s(&self.art),
        ]);
        assert_eq!(code(&o), 0, "{}", text(&o));
        let p = self.p(file);
        std::fs::write(&p, &o.stdout).unwrap();
        p
    }

    /// The newest stored checkpoint file.
    fn checkpoint(&self) -> PathBuf {
        let n = *checkpoint_sizes(&self.log).last().unwrap();
        self.log.join(format!("checkpoints/{n}"))
    }
}

// ---------------------------------------------------------------------
// Item 2: witnesses are distinct by public key.

/// The same Ed25519 key as `vkey` under another name: the key ID
/// recomputed (SHA-256 of name, newline, type, key), as anyone can.
fn relabel_vkey(vkey: &str, name: &str) -> String {
    use base64::Engine as _;
    let b64 = vkey.splitn(3, '+').nth(2).unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let id = key_id(name, &raw);
    format!("{name}+{id:08x}+{b64}")
}

fn key_id(name: &str, typed_key: &[u8]) -> u32 {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update(typed_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// A cosignature line under another name: the same signature bytes (the
/// name is not signed), the key ID recomputed for `vkey`'s key.
fn relabel_line(line: &str, name: &str, vkey: &str) -> String {
    use base64::Engine as _;
    let e = base64::engine::general_purpose::STANDARD;
    let typed = e.decode(vkey.splitn(3, '+').nth(2).unwrap()).unwrap();
    let sig64 = line.trim_end().rsplit(' ').next().unwrap();
    let mut raw = e.decode(sig64).unwrap();
    raw[..4].copy_from_slice(&key_id(name, &typed).to_be_bytes());
    format!("\u{2014} {name} {}\n", e.encode(raw))
}

#[test]
fn item2_one_witness_is_counted_once_whatever_its_names() {
    let l = Log::new();
    let w1 = l.witness("witness.example/w1", "w1.skey");
    let w2 = l.witness("witness.example/w2", "w2.skey");
    let ev = l.checkpoint_evidence("ev.json");
    let o = l.cosign("w1.skey", &ev, &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let line = String::from_utf8(o.stdout).unwrap();
    std::fs::write(l.p("c1"), &line).unwrap();
    let add = |ws: &[&str], lines: &str| {
        let mut a = vec!["add-cosignature", "--log", l.l()];
        a.extend(ws.iter().flat_map(|w| ["--witness", w]));
        a.push(lines);
        l.sl(&a)
    };
    let o = add(&[&w1], l.s(&l.p("c1")));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let cp = l.checkpoint();
    let stored = std::fs::read(&cp).unwrap();

    // The same key under a second name, and its line relabelled.
    let w1b = relabel_vkey(&w1, "witness.example/w1b");
    let relabelled = relabel_line(&line, "witness.example/w1b", &w1b);
    std::fs::write(l.p("c1b"), &relabelled).unwrap();
    let c1b = l.p("c1b");
    let o = add(&[&w1, &w1b], l.s(&c1b));
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("added 0"), "{}", text(&o));
    assert_eq!(
        std::fs::read(&cp).unwrap(),
        stored,
        "a second line by one witness's key is not stored"
    );
    let o = add(&[&w1b], l.s(&c1b));
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(std::fs::read(&cp).unwrap(), stored, "named w1b alone");

    let verify = |extra: &[&str]| {
        let mut a = vec!["verify", "--log", l.l(), "--keyring", l.s(&l.public)];
        a.extend_from_slice(extra);
        l.sl(&a)
    };
    // One vkey given twice names one witness: two cannot be required.
    let o = verify(&witnesses(&[&w1, &w1], "2"));
    assert_eq!(code(&o), 2, "{}", text(&o));
    let o = verify(&witnesses(&[&w1, &w1b], "2"));
    assert_eq!(code(&o), 2, "{}", text(&o));
    // With a second witness given (that never cosigned), one cosignature
    // counts once: given twice, or stored twice under two names.
    let o = verify(&witnesses(&[&w1, &w1, &w2], "2"));
    assert_eq!(code(&o), 1, "{}", text(&o));
    let mut both = String::from_utf8(stored.clone()).unwrap();
    both.push_str(&relabelled);
    std::fs::write(&cp, &both).unwrap();
    let o = verify(&witnesses(&[&w1, &w1b, &w2], "2"));
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("cosigned by 1"), "{}", text(&o));
    let o = verify(&witnesses(&[&w1, &w1b, &w2], "1"));
    assert_eq!(code(&o), 0, "{}", text(&o));
    // The gate counts the same way, and keeps no state for a refusal.
    let ev = l.product_evidence("ev-gate.json");
    let st = l.p("gate.json");
    for ws in [[&w1, &w1, &w2], [&w1, &w1b, &w2]] {
        let mut a = vec!["gate", "--keyring", l.s(&l.public), "--proof", l.s(&ev)];
        a.extend(["--state", l.s(&st)]);
        a.extend(witnesses(&ws.map(String::as_str), "2"));
        a.push(l.s(&l.art));
        let o = l.sl(&a);
        assert_eq!(code(&o), 1, "{}", text(&o));
        assert!(!st.exists(), "a refused checkpoint was recorded");
    }
}

/// `--witness W...` and `--min-witnesses MIN`.
fn witnesses<'a>(ws: &[&'a str], min: &'a str) -> Vec<&'a str> {
    let mut a: Vec<&str> = ws.iter().flat_map(|w| ["--witness", w]).collect();
    a.extend(["--min-witnesses", min]);
    a
}

// ---------------------------------------------------------------------
// Item 3: a tag REV is not a branch.

struct TagRepo {
    tmp: tempfile::TempDir,
    repo: PathBuf,
    keyring: PathBuf,
    state: PathBuf,
    old: String,
    new: String,
}

impl TagRepo {
    /// main: v1 at `old`, v2 at `new` (HEAD).
    fn new() -> TagRepo {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("core-admin");
        let old = init(&repo, false);
        let key = gen_key("Dev <dev@example.org>");
        let keyring = write_keyring(&tmp.path().join("keys.asc"), &[&key]);
        signed_tag(&repo, &old, "v1", &key);
        let new = commit(&repo, "second");
        signed_tag(&repo, &new, "v2", &key);
        let state = tmp.path().join("state.json");
        TagRepo {
            tmp,
            repo,
            keyring,
            state,
            old,
            new,
        }
    }

    fn vt(&self, extra: &[&str], rev: &str) -> Output {
        let mut a: Vec<&dyn AsRef<std::ffi::OsStr>> =
            vec![&"--keyring", &self.keyring, &"--state", &self.state];
        for x in extra {
            a.push(x);
        }
        a.push(&self.repo);
        a.push(&rev);
        tool(VERIFY_TAG, self.tmp.path(), &a)
    }

    fn records(&self) -> serde_json::Value {
        let st: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&self.state).unwrap()).unwrap();
        st["components"]["core-admin"].clone()
    }
}

#[test]
fn item3_an_older_tag_is_no_way_around_the_recorded_head() {
    let t = TagRepo::new();
    let o = t.vt(&[], "HEAD");
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(t.records(), serde_json::json!({"main": t.new}));
    let recorded = std::fs::read(&t.state).unwrap();
    // By its id: refused, as before.
    let o = t.vt(&[], &t.old);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // By its tag's name: the same commit, the same refusal, nothing recorded.
    let o = t.vt(&[], "v1");
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("rollback"), "{}", text(&o));
    assert!(text(&o).contains("v1 is a tag"), "{}", text(&o));
    let o = t.vt(&[], "refs/tags/v1");
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert_eq!(std::fs::read(&t.state).unwrap(), recorded);
    // ...so the detached id stays refused afterwards.
    let o = t.vt(&[], &t.old);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // A FETCH_HEAD of `git fetch origin tag v1` names a tag, not a branch.
    std::fs::write(
        t.repo.join(".git/FETCH_HEAD"),
        format!("{}\t\ttag 'v1' of https://example.org/core-admin\n", t.old),
    )
    .unwrap();
    let o = t.vt(&[], "FETCH_HEAD");
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert_eq!(std::fs::read(&t.state).unwrap(), recorded);
    // A newer tag of the branch is no rollback: recorded as detached, never
    // as a branch named after the tag.
    let o = t.vt(&[], "v2");
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(
        t.records(),
        serde_json::json!({"main": t.new, "(detached)": t.new})
    );
    // Building an older release on purpose: say which branch it is built
    // as. Checked against that branch's record (main: a rollback), or
    // recorded as the start of a branch that has none.
    let o = t.vt(&["--branch", "main"], "v1");
    assert_eq!(code(&o), 1, "{}", text(&o));
    let o = t.vt(&["--branch", "release1"], "v1");
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(t.records()["release1"], t.old.as_str());
    assert!(t.records().get("v1").is_none(), "{}", t.records());
    assert_eq!(
        listing(t.tmp.path()),
        vec!["core-admin", "keys.asc", "state.json", "state.json.lock"]
    );
}

// ---------------------------------------------------------------------
// Item 4: special files at state and lock paths are refused at once.

#[test]
fn item4_verify_tag_state_and_lock_that_are_not_files_are_refused_at_once() {
    let t = TagRepo::new();
    // The state a FIFO, a symlink to a device, a directory.
    mkfifo(&t.state);
    let o = t.vt(&[], "HEAD");
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("a FIFO"), "{}", text(&o));
    std::fs::remove_file(&t.state).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &t.state).unwrap();
    let o = t.vt(&[], "HEAD");
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("a device"), "never read: {}", text(&o));
    std::fs::remove_file(&t.state).unwrap();
    std::fs::create_dir(&t.state).unwrap();
    let o = t.vt(&[], "HEAD");
    assert_eq!(code(&o), 2, "{}", text(&o));
    std::fs::remove_dir(&t.state).unwrap();
    // A FIFO planted where the lock goes.
    let lock = t.tmp.path().join("state.json.lock");
    mkfifo(&lock);
    let o = t.vt(&[], "HEAD");
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("state.json.lock"), "{}", text(&o));
    assert_eq!(
        listing(t.tmp.path()),
        vec!["core-admin", "keys.asc", "state.json.lock"],
        "nothing recorded"
    );
}

#[test]
fn item4_sign_log_locks_that_are_not_files_are_refused_at_once() {
    let l = Log::new();
    let w1 = l.witness("witness.example/w1", "w1.skey");
    let ev = l.product_evidence("ev-gate.json");
    let cev = l.checkpoint_evidence("ev.json");
    let gate = |state: &Path| {
        l.sl(&[
            "gate",
            "--keyring",
            l.s(&l.public),
            "--proof",
            l.s(&ev),
            "--state",
            l.s(state),
            l.s(&l.art),
        ])
    };
    let st = l.p("gate.json");
    mkfifo(&l.p("gate.json.lock"));
    let o = gate(&st);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(!st.exists());
    mkfifo(&l.p("w1.json.lock"));
    let o = l.cosign("w1.skey", &cev, &["--state", l.s(&l.p("w1.json"))]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(o.stdout.is_empty(), "no cosignature for a refused run");
    assert!(!l.p("w1.json").exists());
    // A state file that is a FIFO, for the gate.
    mkfifo(&l.p("fifo.json"));
    let o = gate(&l.p("fifo.json"));
    assert_eq!(code(&o), 2, "{}", text(&o));
    // The checkpoints directory, which add-cosignature locks, a FIFO.
    let other = l.p("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::copy(l.log.join("log.jsonl"), other.join("log.jsonl")).unwrap();
    mkfifo(&other.join("checkpoints"));
    std::fs::write(l.p("none"), "").unwrap();
    let o = l.sl(&[
        "add-cosignature",
        "--log",
        l.s(&other),
        "--witness",
        &w1,
        l.s(&l.p("none")),
    ]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert_eq!(listing(&other), vec!["checkpoints", "log.jsonl"]);
    // A passphrase file that is a FIFO.
    mkfifo(&l.p("pass"));
    let o = l.sl(&[
        "seal",
        "--log",
        l.l(),
        "--key",
        l.s(&l.key),
        "--passphrase-file",
        l.s(&l.p("pass")),
    ]);
    assert_eq!(code(&o), 2, "{}", text(&o));
}

// ---------------------------------------------------------------------
// Item 6: NAME.UNTRUSTED is removed on SIGINT and SIGTERM, and the tool
// dies by that signal.

/// Wait until `path` holds at least `n` bytes.
fn wait_for_bytes(path: &Path, n: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(DEADLINE);
    while std::fs::metadata(path).map_or(0, |m| m.len()) < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{} never got {n} bytes",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait for `child` (at most [`DEADLINE`]); kill it and fail if it hangs.
fn wait_child(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + Duration::from_secs(DEADLINE);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("did not end after the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// As a terminal starts a command: SIGINT, SIGTERM and SIGHUP at their
/// default action. A harness started as a background job of a script
/// (`cmd &` without job control) inherits SIGINT ignored, and the tools
/// leave an ignored signal ignored (as `nohup` expects): then no signal
/// test could end its child.
fn default_signals(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: runs in the child between fork and exec, and calls only
    // signal(), which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::signal(s, libc::SIG_DFL);
            }
            Ok(())
        })
    }
}

fn kill(target: &str, sig: &str) {
    assert!(Command::new("kill")
        .args([&format!("-{sig}"), "--", target])
        .status()
        .unwrap()
        .success());
}

#[test]
fn item6_a_signal_removes_the_untrusted_file_and_kills_as_the_signal_would() {
    use std::os::unix::process::ExitStatusExt;
    let data = vec![7u8; 100_000];
    let server = Server::start();
    let url = server.route("/big.tar", Reply::Stall(data.clone(), 10_000));
    let hash = sha256_hex(&data);
    for (sig, num) in [("INT", libc::SIGINT), ("TERM", libc::SIGTERM)] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = default_signals(&mut Command::new(FETCH_VERIFIED))
            .args(["--allow-http", "--retries", "0", "--read-timeout", "60"])
            .args(["--quiet", "--sha256", &hash, &url])
            .current_dir(dir.path())
            .env_remove("DISTFILES_MIRROR")
            .env_remove("http_proxy")
            .spawn()
            .unwrap();
        wait_for_bytes(&dir.path().join("big.tar.UNTRUSTED"), 10_000);
        kill(&child.id().to_string(), sig);
        let status = wait_child(&mut child);
        assert_eq!(status.signal(), Some(num), "{sig}: {status:?}");
        assert_eq!(listing(dir.path()), Vec::<String>::new(), "{sig}");
    }
}

#[test]
fn item6_ctrl_c_under_make_leaves_nothing_and_make_reports_it() {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    if !have("make") {
        return;
    }
    let data = vec![7u8; 100_000];
    let server = Server::start();
    let url = server.route("/big.tar", Reply::Stall(data.clone(), 10_000));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.tar.sha256"), sha256_hex(&data) + "\n").unwrap();
    std::fs::write(
        dir.path().join("Makefile"),
        format!(
            "FETCH_VERIFIED := {FETCH_VERIFIED}\n\
             BUILD_VERIFY_FETCH_FLAGS := --allow-http --retries 0 --read-timeout 60\n\
             include {}/make/build-verify.mk\n\
             $(eval $(call fetch-hashed-rule,big.tar,{url},big.tar.sha256))\n\
             get-sources: $(BUILD_VERIFY_SOURCES)\n.PHONY: get-sources\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    )
    .unwrap();
    // Ctrl-C: SIGINT to the terminal's foreground process group, make and
    // its recipe alike.
    let child = default_signals(&mut Command::new("make"))
        .arg("get-sources")
        .current_dir(dir.path())
        .env_remove("DISTFILES_MIRROR")
        .env_remove("MAKEFLAGS")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    wait_for_bytes(&dir.path().join("big.tar.UNTRUSTED"), 10_000);
    kill(&format!("-{}", child.id()), "INT");
    let deadline = std::time::Instant::now() + Duration::from_secs(DEADLINE);
    let mut child = child;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("make did not end after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Interrupt"), "make says nothing: {err}");
    assert_eq!(
        o.status.signal(),
        Some(libc::SIGINT),
        "{:?}: {err}",
        o.status
    );
    assert_eq!(
        listing(dir.path()),
        vec!["Makefile", "big.tar.sha256"],
        "{err}"
    );
}

// ---------------------------------------------------------------------
// Item 7: only what may succeed on retry is exit 4.

#[test]
fn item7_listed_names_that_cannot_exist_fail_the_check() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::write(dir.join("a.txt"), b"a").unwrap();
    std::os::unix::fs::symlink("loop", dir.join("loop")).unwrap();
    let h = sha256_hex(b"a");
    for name in [
        "a.txt/x".to_string(),
        "n".repeat(300),
        "loop".to_string(),
        "loop/x".into(),
    ] {
        std::fs::write(dir.join("SUMS"), format!("{h}  {name}\n")).unwrap();
        let o = tool(CHECK_HASHES, dir, &[&"SUMS"]);
        assert_eq!(code(&o), 1, "{name}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("FAILED"),
            "{name}"
        );
        // Absent with --ignore-missing is skipped; a name that cannot exist
        // is no absence to skip.
        let o = tool(CHECK_HASHES, dir, &[&"--ignore-missing", &"SUMS"]);
        assert_eq!(code(&o), 1, "{name}: {}", text(&o));
    }
    // A missing listed file, as before.
    std::fs::write(dir.join("SUMS"), format!("{h}  none\n")).unwrap();
    assert_eq!(code(&tool(CHECK_HASHES, dir, &[&"SUMS"])), 1);
}

#[test]
fn item7_output_names_that_cannot_be_used_are_usage_errors() {
    let data = b"some source".to_vec();
    let server = Server::start();
    let url = server.route("/src.tar", Reply::Body(data.clone()));
    let hash = sha256_hex(&data);
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::write(dir.join("a.txt"), b"a").unwrap();
    std::os::unix::fs::symlink("nowhere", dir.join("dangling")).unwrap();
    std::os::unix::fs::symlink("loop", dir.join("loop")).unwrap();
    let before = listing(dir);
    for out in [
        // Its NAME.UNTRUSTED is longer than NAME_MAX.
        "x".repeat(250),
        "x".repeat(300),
        "dangling".into(),
        "a.txt/sub/x".into(),
        "loop/x".into(),
    ] {
        let o = tool(
            FETCH_VERIFIED,
            dir,
            &[
                &"--allow-http",
                &"--retries",
                &"0",
                &"--sha256",
                &hash,
                &"-o",
                &out,
                &url,
            ],
        );
        assert_eq!(code(&o), 2, "{out}: {}", text(&o));
        assert_eq!(listing(dir), before, "{out}");
    }
    assert_eq!(
        server.hits("/src.tar"),
        0,
        "nothing fetched for a name it cannot keep"
    );
}
