//! verify-package --repo and fetch-verified on RPM repositories (issue
//! 25), against the real tools: RPMs built by rpmbuild and signed by
//! rpmsign, repositories made by createrepo_c, repomd.xml signed by gpg,
//! and dnf 4 (repo_gpgcheck=1, gpgcheck=1, a private installroot) as the
//! oracle whose verdict every case is compared with.
//!
//! Where our verdict differs from dnf's on purpose, the test says so:
//! - a package file in the set that no primary lists: dnf never looks at
//!   it; `--exact` fails it;
//! - rollback: dnf accepts an older validly signed repomd.xml; `--state`
//!   refuses it;
//! - SHA-1 checksums: dnf accepts them; we refuse them unless
//!   `--allow-sha1-checksums`;
//! - unsigned packages in a signed repository: both refuse them by
//!   default; `--allow-unsigned-packages` accepts them by checksum;
//! - a primary listing a wrong size for a local package: dnf checks only
//!   the checksum; we refuse the inconsistent listing.

use crate::common;

use common::http::Server;
use common::listing;
use common::pkg::{self, oracle, sh, Keys};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_verify-package");
const FETCH: &str = env!("CARGO_BIN_EXE_fetch-verified");

/// The signed packages every repository here is made of.
struct Fixture {
    keys: &'static Keys,
    /// alpha 1.0 and 2.0 (the older build), beta, all signed by rsa.
    alpha1: PathBuf,
    alpha2: PathBuf,
    beta: PathBuf,
    /// gamma, unsigned.
    unsigned: PathBuf,
    /// delta, signed by rsa, in no repository.
    stray: PathBuf,
    /// Provides system-release(40) and (44), what RPM Fusion's release
    /// packages need to be installable by dnf; signed by rsa.
    release: PathBuf,
}

fn fixture() -> Option<&'static Fixture> {
    static F: OnceLock<Option<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        let keys = pkg::shared_keys()?;
        if !["rpmbuild", "rpmsign", "createrepo_c", "zstd", "gzip"]
            .iter()
            .all(|t| oracle(t))
        {
            return None;
        }
        let dir = pkg::fixture_dir("rpmrepo");
        let top = dir.join("top");
        let built = |name: &str, version: &str, sign: bool| {
            let headers = match name {
                "fake-release" => "Provides: system-release(40)\nProvides: system-release(44)\n",
                _ => "",
            };
            let p = pkg::rpmbuild_with(&top, name, version, &format!("{name} {version}"), headers);
            let to = dir.join(p.file_name().unwrap());
            std::fs::copy(&p, &to).unwrap();
            if sign {
                pkg::rpmsign(&keys.gpg, &to, "rsa@example.org", false);
            }
            to
        };
        Some(Fixture {
            alpha1: built("alpha", "1.0", true),
            alpha2: built("alpha", "2.0", true),
            beta: built("beta", "1.0", true),
            unsigned: built("gamma", "1.0", false),
            stray: built("delta", "1.0", true),
            release: built("fake-release", "1.0", true),
            keys,
        })
    })
    .as_ref()
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    pkg::fixture_dir(&format!("case-{name}"))
}

/// A repository at `root` holding `pkgs` under Packages/, made by
/// createrepo_c (`extra` flags), repomd.xml signed by `signer`.
fn make_repo(root: &Path, pkgs: &[&Path], extra: &[&str], signer: Option<&str>) -> PathBuf {
    let p = root.join("Packages");
    std::fs::create_dir_all(&p).unwrap();
    for f in pkgs {
        std::fs::copy(f, p.join(f.file_name().unwrap())).unwrap();
    }
    sh(Command::new("createrepo_c")
        .args(["-q", "--no-database"])
        .args(extra)
        .arg(root));
    if let Some(s) = signer {
        sign_repomd(root, s);
    }
    root.to_path_buf()
}

fn sign_repomd(root: &Path, signer: &str) {
    let f = fixture().unwrap();
    let md = root.join("repodata/repomd.xml");
    f.keys
        .gpg
        .detach_sign(signer, &md, &root.join("repodata/repomd.xml.asc"));
}

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    common::run(BIN, args, Path::new("."))
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit `want`, and (when failing) `what` on stderr.
fn expect(o: &Output, want: i32, what: &str) {
    assert_eq!(code(o), want, "{}", stderr(o));
    assert!(stderr(o).contains(what), "{}", stderr(o));
}

/// verify-package with the rsa key, then `args`.
fn keyed(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let f = fixture().unwrap();
    let mut all: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"--keyring", &f.keys.rsa_asc];
    all.extend_from_slice(args);
    run(&all)
}

/// verify-package --all on `repo` with the rsa key (plus `more` flags).
fn ours(repo: &Path, more: &[&str]) -> Output {
    let f = fixture().unwrap();
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> =
        vec![&"--keyring", &f.keys.rsa_asc, &"--repo", &repo, &"--all"];
    for m in more {
        args.push(m);
    }
    run(&args)
}

/// dnf's verdict: can it download `names` from `repo` with repository
/// and package signatures checked against `key` only?
fn dnf_accepts(repo: &Path, key: &Path, names: &[&str]) -> (bool, String) {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    for sub in ["root", "repos", "cache", "log", "persist", "dl"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    let conf = d.join("dnf.conf");
    std::fs::write(
        &conf,
        format!(
            "[main]\ngpgcheck=1\nrepo_gpgcheck=1\nskip_if_unavailable=0\nreposdir={0}/repos\n\
             cachedir={0}/cache\nlogdir={0}/log\npersistdir={0}/persist\ninstall_weak_deps=0\n\
             [t]\nname=t\nbaseurl=file://{1}\ngpgkey=file://{2}\n",
            d.display(),
            repo.display(),
            key.display()
        ),
    )
    .unwrap();
    let out = Command::new("dnf")
        .arg("-c")
        .arg(&conf)
        .arg("--installroot")
        .arg(d.join("root"))
        .args([
            "--releasever",
            "40",
            "--noplugins",
            "-y",
            "--downloadonly",
            "--destdir",
        ])
        .arg(d.join("dl"))
        .arg("install")
        .args(names)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn have_dnf() -> bool {
    oracle("dnf")
}

/// Our verdict and dnf's agree: both accept, or both refuse (we with
/// exit `want`).
fn agree(name: &str, repo: &Path, want: i32, what: &str) {
    let f = fixture().unwrap();
    let o = ours(repo, &[]);
    assert_eq!(code(&o), want, "{name}: ours: {}", stderr(&o));
    if want != 0 {
        assert!(stderr(&o).contains(what), "{name}: {}", stderr(&o));
    }
    if have_dnf() {
        let (ok, text) = dnf_accepts(repo, &f.keys.rsa_asc, &["alpha", "beta"]);
        assert_eq!(ok, want == 0, "{name}: dnf disagrees: {text}");
    }
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

/// Rewrite repomd.xml's `kind` entry for a new metadata file: `edit`
/// turns the decompressed content into the new one, stored compressed by
/// `compress` (`gzip`, `zstd`) under a new name; repomd.xml is re-signed
/// by rsa (as a repository's own tools would after a change).
fn rewrite_metadata(root: &Path, kind: &str, compress: &str, edit: &dyn Fn(String) -> String) {
    let md_path = root.join("repodata/repomd.xml");
    let md = std::fs::read_to_string(&md_path).unwrap();
    let start = md.find(&format!("<data type=\"{kind}\">")).unwrap();
    let end = start + md[start..].find("</data>").unwrap();
    let block = &md[start..end];
    let href = href_in(block);
    let old = root.join(href);
    let decoded = match href.rsplit('.').next().unwrap() {
        "gz" => pkg::sh(Command::new("gzip").arg("-dc").arg(&old)).stdout,
        "zst" => pkg::sh(Command::new("zstd").arg("-dcq").arg(&old)).stdout,
        other => panic!("compression {other}"),
    };
    let content = edit(String::from_utf8(decoded).unwrap());
    let (ext, compressed) = match compress {
        "gzip" => ("gz", common::pipe("gzip", &["-nc"], content.as_bytes())),
        "zstd" => ("zst", common::pipe("zstd", &["-qc"], content.as_bytes())),
        other => panic!("compression {other}"),
    };
    let sum = sha256_hex(&compressed);
    let new_href = format!("repodata/{sum}-{kind}.xml.{ext}");
    std::fs::remove_file(&old).unwrap();
    std::fs::write(root.join(&new_href), &compressed).unwrap();
    let tag = |b: &str, t: &str, v: &str| {
        let s = b.find(&format!("<{t}")).unwrap();
        let open_end = s + b[s..].find('>').unwrap() + 1;
        let close = open_end + b[open_end..].find(&format!("</{t}>")).unwrap();
        format!("{}{v}{}", &b[..open_end], &b[close..])
    };
    let mut nb = tag(block, "checksum", &sum);
    nb = tag(&nb, "open-checksum", &sha256_hex(content.as_bytes()));
    nb = tag(&nb, "size", &compressed.len().to_string());
    nb = tag(&nb, "open-size", &content.len().to_string());
    nb = nb.replace(href, &new_href);
    std::fs::write(&md_path, format!("{}{nb}{}", &md[..start], &md[end..])).unwrap();
    sign_repomd(root, "rsa@example.org");
}

fn good_repo(name: &str) -> PathBuf {
    let f = fixture().unwrap();
    make_repo(
        &scratch(name).join("repo"),
        &[&f.alpha2, &f.beta],
        &[],
        Some("rsa@example.org"),
    )
}

/// The first `href="..."` value in `text`.
fn href_in(text: &str) -> &str {
    let after = text.split_once("href=\"").unwrap().1;
    after.split_once('"').unwrap().0
}

fn primary_path(root: &Path) -> PathBuf {
    let md = std::fs::read_to_string(root.join("repodata/repomd.xml")).unwrap();
    let start = md.find("<data type=\"primary\">").unwrap();
    root.join(href_in(&md[start..]))
}

#[test]
fn a_good_repository_passes_as_dnf_agrees() {
    if fixture().is_none() {
        return;
    }
    let repo = good_repo("good");
    agree("good", &repo, 0, "");
    let o = ours(&repo, &["-v"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("alpha-2.0-1.noarch listed by"), "{out}");
    assert!(
        out.contains("Packages/beta-1.0-1.noarch.rpm: digests signatures OK")
            && out.contains(": repomd.xml OK (signature repomd.xml.asc)"),
        "{out}"
    );
}

#[test]
fn tampered_repositories_fail_as_dnf_agrees() {
    let Some(f) = fixture() else { return };

    let repo = good_repo("flip");
    let md = repo.join("repodata/repomd.xml");
    let mut b = std::fs::read(&md).unwrap();
    let i = b.len() / 2;
    b[i] ^= 0x20;
    std::fs::write(&md, b).unwrap();
    agree("repomd byte flipped", &repo, 1, "repomd.xml");

    let repo = good_repo("otherkey");
    sign_repomd(&repo, "other@example.org");
    let o = ours(&repo, &[]);
    assert_ne!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("repomd.xml.asc"), "{}", stderr(&o));
    if have_dnf() {
        assert!(!dnf_accepts(&repo, &f.keys.rsa_asc, &["alpha"]).0);
    }

    // The primary of an older, validly made repository put back.
    let old = make_repo(
        &scratch("older").join("repo"),
        &[&f.alpha1, &f.beta],
        &[],
        None,
    );
    let repo = good_repo("oldprimary");
    let old_primary = std::fs::read(primary_path(&old)).unwrap();
    std::fs::write(primary_path(&repo), old_primary).unwrap();
    agree("primary swapped for an older one", &repo, 1, "mismatch");

    let repo = good_repo("olderbuild");
    std::fs::copy(&f.alpha1, repo.join("Packages/alpha-2.0-1.noarch.rpm")).unwrap();
    agree(
        "a package replaced by an older signed build",
        &repo,
        1,
        "mismatch",
    );

    let repo = good_repo("wrongsize");
    rewrite_metadata(&repo, "primary", "gzip", &|s| {
        let i = s.find("<size package=\"").unwrap() + "<size package=\"".len();
        let j = i + s[i..].find('"').unwrap();
        let n: u64 = s[i..j].parse().unwrap();
        format!("{}{}{}", &s[..i], n + 1, &s[j..])
    });
    // A difference on purpose: dnf does not compare a local package's size
    // with its listing (the checksum still matches); the listing is
    // inconsistent, and we refuse it.
    let o = ours(&repo, &[]);
    expect(&o, 1, "size mismatch: repository");
    if have_dnf() {
        assert!(dnf_accepts(&repo, &f.keys.rsa_asc, &["alpha", "beta"]).0);
    }

    let repo = good_repo("truncated");
    let p = primary_path(&repo);
    let b = std::fs::read(&p).unwrap();
    std::fs::write(&p, &b[..b.len() - 10]).unwrap();
    agree("compressed metadata truncated", &repo, 1, "size mismatch");
}

#[test]
fn zstd_metadata_is_read_as_dnf_reads_it() {
    let Some(f) = fixture() else { return };
    let repo = good_repo("zstd");
    rewrite_metadata(&repo, "primary", "zstd", &|s| s);
    assert!(primary_path(&repo).to_string_lossy().ends_with(".xml.zst"));
    agree("zstd primary", &repo, 0, "");
    // A byte of the zstd primary changed: its checksum catches it first.
    let p = primary_path(&repo);
    let mut b = std::fs::read(&p).unwrap();
    let i = b.len() - 20;
    b[i] ^= 1;
    std::fs::write(&p, b).unwrap();
    agree("zstd primary flipped", &repo, 1, "checksum mismatch");
    let _ = f;
}

#[test]
fn a_file_no_primary_lists_fails_with_exact_where_dnf_never_looks() {
    let Some(f) = fixture() else { return };
    let repo = good_repo("stray");
    std::fs::copy(&f.stray, repo.join("Packages/delta-1.0-1.noarch.rpm")).unwrap();
    let set = repo.join("Packages");
    // Named without --exact: nothing vouches for it (exit 3).
    let o = keyed(&[&"--repo", &repo, &set]);
    expect(&o, 3, "delta-1.0-1.noarch.rpm: not listed");
    let o = keyed(&[&"--repo", &repo, &"--exact", &set]);
    expect(&o, 1, "(--exact)");
    // --exact also counts files that are not RPMs.
    std::fs::remove_file(repo.join("Packages/delta-1.0-1.noarch.rpm")).unwrap();
    std::fs::write(set.join("README"), "x").unwrap();
    let o = keyed(&[&"--repo", &repo, &"--exact", &set]);
    expect(&o, 1, "");
    std::fs::remove_file(set.join("README")).unwrap();
    let o = keyed(&[&"--repo", &repo, &"--exact", &set]);
    expect(&o, 0, "");
    if have_dnf() {
        std::fs::copy(&f.stray, repo.join("Packages/delta-1.0-1.noarch.rpm")).unwrap();
        assert!(
            dnf_accepts(&repo, &f.keys.rsa_asc, &["alpha"]).0,
            "dnf ignores the stray file"
        );
    }
    // --all: a listed package missing from the set fails.
    std::fs::remove_file(repo.join("Packages/beta-1.0-1.noarch.rpm")).unwrap();
    let o = ours(&repo, &[]);
    expect(
        &o,
        1,
        "beta-1.0-1.noarch is listed but not in the package set",
    );
}

#[test]
fn a_set_from_several_repositories_is_bound_to_each() {
    let Some(f) = fixture() else { return };
    let d = scratch("multi");
    let a = make_repo(
        &d.join("fedora"),
        &[&f.alpha2],
        &[],
        Some("rsa@example.org"),
    );
    let b = make_repo(&d.join("qubes"), &[&f.beta], &[], Some("rsa@example.org"));
    // The ISO's flat package directory.
    let set = d.join("iso");
    std::fs::create_dir_all(&set).unwrap();
    for p in [&f.alpha2, &f.beta] {
        std::fs::copy(p, set.join(p.file_name().unwrap())).unwrap();
    }
    let ra = format!("fedora={}", a.display());
    let rb = format!("qubes={}", b.display());
    let o = keyed(&[&"--repo", &ra, &"--repo", &rb, &"--exact", &"--json", &set]);
    expect(&o, 0, "");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(r#""repository":"qubes""#)
            && out.contains(r#""location":"Packages/beta-1.0-1.noarch.rpm""#),
        "{out}"
    );
    // Only one repository given: the other's package is not vouched for.
    let o = keyed(&[&"--repo", &ra, &"--exact", &set]);
    expect(&o, 1, "");
    // A package inside a repository's tree is checked against that repository only.
    std::fs::copy(&f.beta, a.join("Packages/beta-1.0-1.noarch.rpm")).unwrap();
    let inside = a.join("Packages/beta-1.0-1.noarch.rpm");
    let o = keyed(&[&"--repo", &ra, &"--repo", &rb, &inside]);
    expect(&o, 3, "not listed in the primary of repository fedora");
}

#[test]
fn rollback_is_refused_with_state_where_dnf_accepts_it() {
    let Some(f) = fixture() else { return };
    let d = scratch("rollback");
    let old = make_repo(
        &d.join("old"),
        &[&f.alpha1, &f.beta],
        &["--revision", "100"],
        Some("rsa@example.org"),
    );
    let new = make_repo(
        &d.join("new"),
        &[&f.alpha2, &f.beta],
        &["--revision", "200"],
        Some("rsa@example.org"),
    );
    let state = d.join("repos.json");
    let at = |r: &Path| format!("fedora={}", r.display());
    let o = keyed(&[&"--repo", &at(&new), &"--state", &state]);
    expect(&o, 0, "");
    let recorded = std::fs::read_to_string(&state).unwrap();
    assert!(recorded.contains("\"revision\": \"200\""), "{recorded}");
    let o = keyed(&[&"--repo", &at(&old), &"--state", &state]);
    expect(&o, 1, "");
    assert!(
        stderr(&o)
            .contains("rollback: repository fedora: repomd.xml revision 100 is older than 200"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        recorded,
        "state unchanged"
    );
    let o = keyed(&[
        &"--repo",
        &at(&old),
        &"--state",
        &state,
        &"--allow-rollback",
    ]);
    expect(&o, 0, "");
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        recorded,
        "an older one is never recorded"
    );
    if have_dnf() {
        assert!(
            dnf_accepts(&old, &f.keys.rsa_asc, &["alpha"]).0,
            "dnf keeps no rollback state"
        );
    }
    // Freeze: metadata older than --max-age.
    let o = keyed(&[&"--repo", &new, &"--max-age", &"1s"]);
    let o2 = keyed(&[&"--repo", &new, &"--max-age", &"3650d"]);
    assert_eq!(code(&o2), 0, "{}", stderr(&o2));
    std::thread::sleep(std::time::Duration::from_secs(2));
    let o = if code(&o) == 0 {
        keyed(&[&"--repo", &new, &"--max-age", &"1s"])
    } else {
        o
    };
    expect(&o, 1, "metadata too old");
}

#[test]
fn sha1_checksums_are_refused_unless_allowed_where_dnf_accepts_them() {
    let Some(f) = fixture() else { return };
    let repo = make_repo(
        &scratch("sha1").join("repo"),
        &[&f.alpha2],
        &["-s", "sha1"],
        Some("rsa@example.org"),
    );
    let o = ours(&repo, &[]);
    expect(&o, 1, "");
    let e = stderr(&o);
    assert!(
        e.contains("repomd.xml") && e.contains("SHA-1 checksum refused (--allow-sha1-checksums"),
        "{e}"
    );
    let o = ours(&repo, &["--allow-sha1-checksums"]);
    expect(&o, 0, "");
    if have_dnf() {
        assert!(dnf_accepts(&repo, &f.keys.rsa_asc, &["alpha"]).0);
    }
}

#[test]
fn unsigned_packages_in_a_signed_repository_fail_unless_allowed() {
    let Some(f) = fixture() else { return };
    let repo = make_repo(
        &scratch("unsigned").join("repo"),
        &[&f.alpha2, &f.unsigned],
        &[],
        Some("rsa@example.org"),
    );
    let o = ours(&repo, &[]);
    expect(&o, 1, "");
    assert!(
        stderr(&o).contains("gamma-1.0-1.noarch.rpm: unsigned")
            && stderr(&o).contains("--allow-unsigned-packages"),
        "{}",
        stderr(&o)
    );
    let o = ours(&repo, &["--allow-unsigned-packages"]);
    expect(&o, 0, "accepted by the repository's checksum alone");
    if have_dnf() {
        let (ok, text) = dnf_accepts(&repo, &f.keys.rsa_asc, &["gamma"]);
        assert!(!ok, "dnf with gpgcheck=1 refuses it too: {text}");
    }
}

#[test]
fn a_pinned_digest_or_a_metalink_replaces_the_signature() {
    let Some(f) = fixture() else { return };
    let repo = make_repo(&scratch("pinned").join("repo"), &[&f.alpha2], &[], None);
    let md = std::fs::read(repo.join("repodata/repomd.xml")).unwrap();
    let sum = sha256_hex(&md);
    let o = keyed(&[&"--repo", &repo]);
    assert_eq!(code(&o), 3, "no signature: {}", stderr(&o));
    assert!(
        stderr(&o).contains("--repomd-sha256 or --metalink"),
        "{}",
        stderr(&o)
    );
    let o = keyed(&[&"--repo", &repo, &"--repomd-sha256", &sum, &"--all"]);
    expect(&o, 0, "");
    let o = keyed(&[&"--repo", &repo, &"--repomd-sha256", &"00".repeat(32)]);
    expect(&o, 1, "");
    let metalink = repo.join("metalink.xml");
    let write_ml = |hash: &str| {
        std::fs::write(
            &metalink,
            format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<metalink version=\"3.0\" xmlns=\"http://www.metalinker.org/\" xmlns:mm0=\"http://fedorahosted.org/mirrormanager\">\n<files><file name=\"repomd.xml\"><mm0:timestamp>1</mm0:timestamp><size>{}</size><verification><hash type=\"sha256\">{hash}</hash></verification></file></files></metalink>\n",
                md.len()
            ),
        )
        .unwrap()
    };
    write_ml(&sum);
    let o = keyed(&[&"--repo", &repo, &"--metalink", &metalink, &"--all"]);
    expect(&o, 0, "");
    write_ml(&"ab".repeat(32));
    let o = keyed(&[&"--repo", &repo, &"--metalink", &metalink]);
    expect(&o, 1, "matches no version the metalink lists");
}

#[test]
fn bad_metadata_gets_one_line_naming_the_file_and_the_entry() {
    let Some(f) = fixture() else { return };
    type Edit<'a> = &'a dyn Fn(String) -> String;
    let cases: [(&str, Edit, &str); 5] = [
        (
            "crc",
            &|s| {
                s.replacen(
                    "<checksum type=\"sha256\" pkgid",
                    "<checksum type=\"crc32\" pkgid",
                    1,
                )
            },
            "unknown checksum type \"crc32\"",
        ),
        (
            "xmlbase",
            &|s| {
                s.replacen(
                    "<location href=",
                    "<location xml:base=\"http://evil/\" href=",
                    1,
                )
            },
            "xml:base refused",
        ),
        (
            "dotdot",
            &|s| s.replacen("href=\"Packages/", "href=\"../Packages/", 1),
            "`..` component",
        ),
        (
            "malformed",
            &|s| s.replacen("</name>", "</nam>", 1),
            "</nam> closes <name>",
        ),
        (
            "dup",
            &|s| {
                let i = s.find("<package ").unwrap();
                let j = s.find("</package>").unwrap() + "</package>".len();
                let p = s[i..j].to_string();
                s.replacen(&p, &format!("{p}\n{p}"), 1).replacen(
                    "packages=\"2\"",
                    "packages=\"3\"",
                    1,
                )
            },
            "duplicate package entries",
        ),
    ];
    for (name, edit, what) in cases {
        let repo = good_repo(&format!("bad-{name}"));
        rewrite_metadata(&repo, "primary", "gzip", edit);
        let o = ours(&repo, &[]);
        assert_eq!(code(&o), 1, "{name}: {}", stderr(&o));
        let e = stderr(&o);
        assert_eq!(e.lines().count(), 1, "{name}: one line: {e}");
        assert!(
            e.contains("-primary.xml.gz") && e.contains(what),
            "{name}: {e}"
        );
    }
    let _ = f;
}

/// A comment among a package's elements is well-formed XML that dnf
/// (libxml2) reads and no repository tool writes; we refuse it. Our
/// scanner passes over a package's <format> to its first </format>
/// unread (a comment in there is passed over too), and what a comment
/// there could hide after an early </format> fails the package.
#[test]
fn a_comment_inside_a_package_is_refused_where_dnf_reads_it() {
    let Some(f) = fixture() else { return };
    let cases: [(&str, &str, &str); 2] = [
        (
            "comment",
            "<!-- a comment --><format>",
            "a comment inside a package",
        ),
        (
            "smuggle",
            "<format><!-- </format><location href=\"Packages/evil.rpm\"/><format> -->",
            "duplicate <location>",
        ),
    ];
    for (name, format, what) in cases {
        let repo = good_repo(&format!("xml-{name}"));
        rewrite_metadata(&repo, "primary", "gzip", &|s| {
            s.replacen("<format>", format, 1)
        });
        let o = ours(&repo, &[]);
        expect(&o, 1, what);
        if have_dnf() {
            let (ok, text) = dnf_accepts(&repo, &f.keys.rsa_asc, &["alpha", "beta"]);
            assert!(ok, "{name}: dnf reads the comment as a comment: {text}");
        }
    }
}

#[test]
fn metadata_over_the_size_cap_is_refused() {
    if fixture().is_none() {
        return;
    }
    let repo = good_repo("sizecap");
    let o = ours(&repo, &["--max-metadata-size", "200"]);
    expect(&o, 1, "--max-metadata-size");
    assert!(stderr(&o).contains("-primary.xml.gz"), "{}", stderr(&o));
    let o = ours(&repo, &["--max-metadata-size", "1M"]);
    expect(&o, 0, "");
}

#[test]
fn real_rpmfusion_packages_in_a_createrepo_repository() {
    let Some(f) = fixture() else { return };
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rpm");
    let pkgs = [
        data.join("rpmfusion-free-release-40-1.noarch.rpm"),
        data.join("rpmfusion-free-release-44-1.noarch.rpm"),
    ];
    let mut refs: Vec<&Path> = pkgs.iter().map(PathBuf::as_path).collect();
    refs.push(&f.release);
    let repo = make_repo(
        &scratch("rpmfusion").join("repo"),
        &refs,
        &[],
        Some("rsa@example.org"),
    );
    let fusion = data.join("RPM-GPG-KEY-rpmfusion-free-fedora-2020");
    let o = run(&[
        &"--keyring",
        &f.keys.rsa_asc,
        &"--keyring",
        &fusion,
        &"--repo",
        &repo,
        &"--all",
        &"--json",
    ]);
    expect(&o, 0, "");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("E9A491A3DE247814E7E067EAE06F8ECDD651FF2E"),
        "{out}"
    );
    // The repository's key alone does not vouch for RPM Fusion's packages.
    let o = ours(&repo, &[]);
    expect(&o, 1, "");
    if have_dnf() {
        // dnf: repo_gpgcheck with the repository's key, gpgcheck with RPM Fusion's.
        let t = tempfile::tempdir().unwrap();
        let both = t.path().join("both.asc");
        let mut k = std::fs::read(&f.keys.rsa_asc).unwrap();
        k.extend(std::fs::read(&fusion).unwrap());
        std::fs::write(&both, k).unwrap();
        let (ok, text) = dnf_accepts(&repo, &both, &["rpmfusion-free-release-44-1"]);
        assert!(ok, "{text}");
    }
}

#[test]
fn a_repository_over_http_and_fetch_verified_through_the_chain() {
    let Some(f) = fixture() else { return };
    let repo = good_repo("http");
    rewrite_metadata(&repo, "primary", "zstd", &|s| s);
    let srv = Server::start();
    srv.serve_dir(&repo);
    let url = srv.url("/");
    let o = run(&[
        &"--keyring",
        &f.keys.rsa_asc,
        &"--repo",
        &url,
        &"--allow-http",
        &repo.join("Packages"),
    ]);
    expect(&o, 0, "");

    // fetch-verified: repomd.xml by its .asc, primary by repomd.xml, a package by primary.
    let out = scratch("http-fetch");
    let fetch = |args: &[&dyn AsRef<std::ffi::OsStr>]| common::run(FETCH, args, &out);
    let o = fetch(&[
        &"--keyring",
        &f.keys.rsa_asc,
        &"--allow-http",
        &srv.url("/repodata/repomd.xml"),
        &srv.url("/repodata/repomd.xml.asc"),
    ]);
    expect(&o, 0, "");
    let primary = primary_path(&repo);
    let primary_rel = primary
        .strip_prefix(&repo)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let primary_url = srv.url(&format!("/{primary_rel}"));
    let fetch_primary = || fetch(&[&"--hash-file", &"repomd.xml", &"--allow-http", &primary_url]);
    let o = fetch_primary();
    expect(&o, 0, "");
    let pname = primary.file_name().unwrap().to_string_lossy().into_owned();
    let fetch_package = || {
        fetch(&[
            &"--hash-file",
            &pname,
            &"--keyring",
            &f.keys.rsa_asc,
            &"--allow-http",
            &srv.url("/Packages/alpha-2.0-1.noarch.rpm"),
        ])
    };
    let o = fetch_package();
    expect(&o, 0, "");
    assert!(out.join("alpha-2.0-1.noarch.rpm").exists());

    // A package the primary does not list as served: nothing under its name.
    std::fs::copy(&f.alpha1, repo.join("Packages/alpha-2.0-1.noarch.rpm")).unwrap();
    std::fs::remove_file(out.join("alpha-2.0-1.noarch.rpm")).unwrap();
    let o = fetch_package();
    expect(&o, 1, "");
    let mut left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        vec![pname.clone(), "repomd.xml".to_string()],
        "nothing else left behind"
    );
    // A primary that repomd.xml does not list as served.
    std::fs::remove_file(out.join(&pname)).unwrap();
    std::fs::write(&primary, b"garbage").unwrap();
    let o = fetch_primary();
    expect(&o, 1, "");
    assert!(!out.join(&pname).exists());
}

#[test]
fn a_package_set_from_a_repository_with_the_make_rule() {
    let Some(f) = fixture() else { return };
    if !oracle("make") {
        return;
    }
    let repo = good_repo("make-upstream");
    rewrite_metadata(&repo, "primary", "zstd", &|s| s);
    let srv = Server::start();
    srv.serve_dir(&repo);
    let dir = scratch("make");
    let mk = Path::new(env!("CARGO_MANIFEST_DIR")).join("make/build-verify.mk");
    std::fs::write(
        dir.join("Makefile"),
        format!(
            "FETCH_VERIFIED := {FETCH}\nVERIFY_PACKAGE := {BIN}\nBUILD_VERIFY_FETCH_FLAGS := --allow-http --quiet\n\
             BUILD_VERIFY_RPM_STATE := repos.json\ninclude {}\n\
             $(eval $(call rpm-repo-rule,mirror,{},Packages/alpha-2.0-1.noarch.rpm Packages/beta-1.0-1.noarch.rpm,{}))\n",
            mk.display(),
            srv.url("").trim_end_matches('/'),
            f.keys.rsa_asc.display()
        ),
    )
    .unwrap();
    let make = |args: &[&str]| {
        Command::new("make")
            .arg("-C")
            .arg(&dir)
            .args(args)
            .output()
            .unwrap()
    };
    let o = make(&["mirror.verified"]);
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    assert!(dir.join("mirror/Packages/beta-1.0-1.noarch.rpm").exists());
    assert!(std::fs::read_to_string(dir.join("repos.json"))
        .unwrap()
        .contains("\"mirror\""));
    let o = make(&["verify-sources"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // A package replaced upstream by an older signed build: make stops, and
    // nothing is under its name.
    std::fs::remove_file(dir.join("mirror/Packages/alpha-2.0-1.noarch.rpm")).unwrap();
    std::fs::remove_file(dir.join("mirror.verified")).unwrap();
    std::fs::copy(&f.alpha1, repo.join("Packages/alpha-2.0-1.noarch.rpm")).unwrap();
    let o = make(&["mirror.verified"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("mismatch"), "{}", stderr(&o));
    let mut left: Vec<String> = std::fs::read_dir(dir.join("mirror/Packages"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, vec!["beta-1.0-1.noarch.rpm".to_string()]);
    assert!(!dir.join("mirror.verified").exists());
}

/// A --state that is a FIFO or a directory can never be read: a usage
/// error (exit 2) naming it, not an I/O error (4, "try again"), and
/// nothing is written beside it.
#[test]
fn a_state_file_that_is_not_a_file_is_exit_2() {
    let Some(f) = fixture() else { return };
    let d = scratch("state-special");
    let repo = make_repo(
        &d.join("repo"),
        &[&f.alpha2, &f.beta],
        &["--revision", "200"],
        Some("rsa@example.org"),
    );
    let at = format!("fedora={}", repo.display());
    let fifo = d.join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let dir = d.join("dir");
    std::fs::create_dir(&dir).unwrap();
    let before = listing(&d);
    for state in [&fifo, &dir] {
        let o = keyed(&[&"--repo", &at, &"--state", state]);
        expect(&o, 2, "not a regular file");
        assert_eq!(listing(&d), before, "nothing written");
        assert!(listing(&dir).is_empty());
    }
}

/// A local repository whose `repodata` is a file, not a directory, has
/// no repomd.xml, as one without `repodata`: exit 3 both ways, never 4
/// (ENOTDIR is no I/O error a retry mends).
#[test]
fn a_repodata_that_is_a_file_is_no_repository_not_an_io_error() {
    if fixture().is_none() {
        return;
    }
    let d = scratch("repodata-file");
    let repo = d.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let at = format!("fedora={}", repo.display());
    let o = keyed(&[&"--repo", &at, &"--all"]);
    expect(&o, 3, "repomd.xml");
    std::fs::write(repo.join("repodata"), b"x\n").unwrap();
    let o = keyed(&[&"--repo", &at, &"--all"]);
    expect(&o, 3, "repomd.xml");
    assert_eq!(listing(&repo), ["repodata"]);
}

/// The primary's open-checksum in repomd.xml replaced by zeros of its
/// length, repomd.xml re-signed: the compressed bytes still match.
fn zero_open_checksum(root: &Path) {
    let md_path = root.join("repodata/repomd.xml");
    let md = std::fs::read_to_string(&md_path).unwrap();
    let start = md.find("<data type=\"primary\">").unwrap();
    let tag = start + md[start..].find("<open-checksum").unwrap();
    let open_end = tag + md[tag..].find('>').unwrap() + 1;
    let close = open_end + md[open_end..].find("</open-checksum>").unwrap();
    let zeros = "0".repeat(close - open_end);
    std::fs::write(
        &md_path,
        format!("{}{zeros}{}", &md[..open_end], &md[close..]),
    )
    .unwrap();
    sign_repomd(root, "rsa@example.org");
}

/// After a strong checksum of the compressed bytes the open-checksum
/// authenticates nothing more (decoding is a function of those bytes), so
/// it is not checked, as dnf does not check it; after a SHA-1 checksum
/// (--allow-sha1-checksums) it is, and a wrong one fails.
#[test]
fn the_open_checksum_counts_only_after_a_weak_checksum() {
    let Some(f) = fixture() else { return };
    let strong = good_repo("open-strong");
    zero_open_checksum(&strong);
    expect(&ours(&strong, &[]), 0, "");
    if have_dnf() {
        let (ok, text) = dnf_accepts(&strong, &f.keys.rsa_asc, &["alpha", "beta"]);
        assert!(ok, "dnf checks the open-checksum after all: {text}");
    }
    let weak = make_repo(
        &scratch("open-weak").join("repo"),
        &[&f.alpha2],
        &["-s", "sha1"],
        Some("rsa@example.org"),
    );
    expect(&ours(&weak, &["--allow-sha1-checksums"]), 0, "");
    zero_open_checksum(&weak);
    let o = ours(&weak, &["--allow-sha1-checksums"]);
    expect(&o, 1, "open-checksum mismatch");
}
