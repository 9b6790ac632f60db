//! Package fixtures made with the real tools, once per test run: gpg
//! keys in a private GNUPGHOME, RPMs built by rpmbuild and signed by
//! rpmsign (gpg as its backend), a Debian repository made by dpkg-deb,
//! dpkg-source and apt-ftparchive and signed by gpg; and the peers as
//! oracles: `rpmkeys -K` with an explicit --dbpath, and apt-get against a
//! `file:` source in a private root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use super::oracle;
use std::sync::{Mutex, OnceLock};

/// One gpg (or rpmsign) run at a time in this process: the tests share one
/// gpg home (the shared keys), and a fixture stopping its agent when done,
/// or concurrent runs starting one, cut off another test still signing.
/// Each run takes the turn (not a sequence of runs: a test's signing
/// restarts the agent another stopped).
fn gpg_turn() -> std::sync::MutexGuard<'static, ()> {
    static GPG_TURN: Mutex<()> = Mutex::new(());
    GPG_TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh directory for the fixture `what`, under target/.
pub fn fixture_dir(what: &str) -> PathBuf {
    let d =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{what}", env!("CARGO_CRATE_NAME")));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The test keys, made once per test run; `None` (the test skips)
/// without gpg.
pub fn shared_keys() -> Option<&'static Keys> {
    static K: OnceLock<Option<Keys>> = OnceLock::new();
    K.get_or_init(|| oracle("gpg").then(|| Keys::make(&fixture_dir("keys"))))
        .as_ref()
}

/// The signed RPMs, made once per test run; `None` without rpm's tools.
pub fn shared_rpms() -> Option<(&'static Keys, &'static Rpms)> {
    static R: OnceLock<Option<Rpms>> = OnceLock::new();
    let k = shared_keys()?;
    let r = R
        .get_or_init(|| {
            ["rpmbuild", "rpmsign", "rpmkeys"]
                .iter()
                .all(|t| oracle(t))
                .then(|| Rpms::make(k, &fixture_dir("rpm")))
        })
        .as_ref()?;
    Some((k, r))
}

/// The signed Debian repository, made once per test run; `None` without
/// the tools that make it or the `oracles` the caller also needs (checked
/// on every call: callers needing different oracles share the fixture).
pub fn shared_deb(oracles: &[&str]) -> Option<(&'static Keys, &'static Deb)> {
    static D: OnceLock<Option<Deb>> = OnceLock::new();
    if !oracles.iter().all(|t| oracle(t)) {
        return None;
    }
    let k = shared_keys()?;
    let d = D
        .get_or_init(|| {
            ["dpkg-deb", "dpkg-source", "apt-ftparchive", "xz"]
                .iter()
                .all(|t| oracle(t))
                .then(|| Deb::make(k, &fixture_dir("deb")))
        })
        .as_ref()?;
    Some((k, d))
}

/// Run a command; panic with its output unless it succeeds.
pub fn sh(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A gpg home with test keys, for rpmsign and for signing Debian files.
pub struct Gpg {
    pub home: PathBuf,
}

impl Gpg {
    pub fn new(home: &Path) -> Gpg {
        std::fs::create_dir_all(home).unwrap();
        std::fs::set_permissions(home, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        Gpg {
            home: home.to_path_buf(),
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", &self.home)
            .args(["--batch", "--quiet", "--no-tty"]);
        c
    }

    /// Run gpg (`cmd()`) in its turn; panic unless it succeeds.
    fn run(&self, c: &mut Command) -> Output {
        let _turn = gpg_turn();
        sh(c)
    }

    /// A new signing key `email` of `algo` (rsa2048, ed25519, ...).
    pub fn gen(&self, email: &str, algo: &str) {
        self.run(
            self.cmd()
                .args(["--passphrase", "", "--quick-gen-key"])
                .arg(format!("Test {email} <{email}>"))
                .args([algo, "sign", "never"]),
        );
    }

    /// The public key, armored, into `path`.
    pub fn export(&self, email: &str, path: &Path, armor: bool) {
        let mut c = self.cmd();
        if armor {
            c.arg("--armor");
        }
        let out = self.run(c.arg("--export").arg(email));
        assert!(!out.stdout.is_empty(), "no key {email}");
        std::fs::write(path, out.stdout).unwrap();
    }

    pub fn fingerprint(&self, email: &str) -> String {
        let out = self.run(self.cmd().args(["--with-colons", "--list-keys", email]));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("fpr:::::::::"))
            .map(|f| f.trim_end_matches(':').to_string())
            .unwrap()
    }

    /// Cleartext-sign `input` into `output` by every key in `by`.
    pub fn clearsign(&self, by: &[&str], input: &Path, output: &Path) {
        let mut c = self.cmd();
        for u in by {
            c.args(["-u", u]);
        }
        let _ = std::fs::remove_file(output);
        self.run(
            c.args(["--digest-algo", "SHA256", "--clearsign", "-o"])
                .arg(output)
                .arg(input),
        );
    }

    /// An armored detached signature of `input` into `output` (apt reads no other).
    pub fn detach_sign(&self, by: &str, input: &Path, output: &Path) {
        let _ = std::fs::remove_file(output);
        self.run(
            self.cmd()
                .args([
                    "-u",
                    by,
                    "--digest-algo",
                    "SHA256",
                    "--armor",
                    "--detach-sign",
                    "-o",
                ])
                .arg(output)
                .arg(input),
        );
    }

    /// Stop the agent gpg started for this home (by its home, not by name).
    pub fn stop_agent(&self) {
        let _turn = gpg_turn();
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.home)
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// Build a noarch RPM `name-1.0-1` holding one small file; returns its path.
pub fn rpmbuild(top: &Path, name: &str, content: &str) -> PathBuf {
    rpmbuild_version(top, name, "1.0", content)
}

/// Build a noarch RPM `name-VERSION-1` holding one small file; returns its path.
pub fn rpmbuild_version(top: &Path, name: &str, version: &str, content: &str) -> PathBuf {
    rpmbuild_with(top, name, version, content, "")
}

/// [`rpmbuild_version`] with more spec header lines (`Provides: ...\n`).
pub fn rpmbuild_with(
    top: &Path,
    name: &str,
    version: &str,
    content: &str,
    headers: &str,
) -> PathBuf {
    let specs = top.join("SPECS");
    std::fs::create_dir_all(&specs).unwrap();
    let spec = specs.join(format!("{name}.spec"));
    std::fs::write(
        &spec,
        format!(
            "Name: {name}\nVersion: {version}\nRelease: 1\n{headers}Summary: test package\nLicense: MIT\n\
             BuildArch: noarch\n%description\ntest\n%install\nmkdir -p %{{buildroot}}/usr/share/{name}\n\
             echo '{content}' > %{{buildroot}}/usr/share/{name}/data.txt\n%files\n/usr/share/{name}/data.txt\n"
        ),
    )
    .unwrap();
    sh(Command::new("rpmbuild")
        .arg("--quiet")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .args(["-bb"])
        .arg(&spec));
    top.join(format!("RPMS/noarch/{name}-{version}-1.noarch.rpm"))
}

/// Sign `rpm` in place with gpg key `who`; `v3` adds header+payload signatures.
pub fn rpmsign(gpg: &Gpg, rpm: &Path, who: &str, v3: bool) {
    let mut c = Command::new("rpmsign");
    c.env("GNUPGHOME", &gpg.home)
        .arg("--define")
        .arg("__gpg /usr/bin/gpg")
        .arg("--define")
        .arg(format!("_gpg_path {}", gpg.home.display()))
        .arg("--define")
        .arg(format!("_gpg_name {who}"))
        .arg("--addsign");
    if v3 {
        c.arg("--rpmv3");
    }
    let _turn = gpg_turn();
    sh(c.arg(rpm));
}

/// An rpm database holding `keys`, for `rpmkeys --dbpath`.
pub fn rpmdb(dir: &Path, keys: &[&Path]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for k in keys {
        sh(Command::new("rpmkeys")
            .arg("--dbpath")
            .arg(dir)
            .arg("--import")
            .arg(k));
    }
    dir.to_path_buf()
}

/// rpm's verdict: does `rpmkeys -K` say `digests signatures OK`?
pub fn rpm_accepts(db: &Path, rpm: &Path) -> bool {
    let out = Command::new("rpmkeys")
        .arg("--dbpath")
        .arg(db)
        .arg("-K")
        .arg(rpm)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success() && text.trim_end().ends_with(": digests signatures OK")
}

/// Offsets in an RPM: (main header start, payload start).
pub fn rpm_layout(b: &[u8]) -> (usize, usize) {
    let be = |at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let sig = 96;
    let sig_len = 16 + 16 * be(sig + 8) + be(sig + 12);
    let main = sig + sig_len.div_ceil(8) * 8;
    let payload = main + 16 + 16 * be(main + 8) + be(main + 12);
    (main, payload)
}

/// apt-get in a private root: trusts only `key`, reads `sources`.
pub struct Apt {
    pub root: PathBuf,
}

impl Apt {
    pub fn new(root: &Path, key: &Path, repo: &Path, suite: &str) -> Apt {
        for d in [
            "etc/apt/sources.list.d",
            "etc/apt/trusted.gpg.d",
            "etc/apt/preferences.d",
            "etc/apt/apt.conf.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg",
            "dl",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
        // The machine's own apt configuration (which may turn off the
        // Valid-Until check) must not leak in: APT_CONFIG names this file
        // and its parts directory instead of /etc/apt's.
        std::fs::write(
            root.join("apt.conf"),
            format!(
                "Dir \"{r}/\";\nDir::Etc::Parts \"{r}/etc/apt/apt.conf.d\";\nDir::Etc::main \"/dev/null\";\n",
                r = root.display()
            ),
        )
        .unwrap();
        std::fs::write(
            root.join("etc/apt/sources.list"),
            format!(
                "deb [signed-by={k}] file:{r} {suite} main\ndeb-src [signed-by={k}] file:{r} {suite} main\n",
                k = key.display(),
                r = repo.display()
            ),
        )
        .unwrap();
        Apt {
            root: root.to_path_buf(),
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let r = self.root.display();
        let mut c = Command::new("apt-get");
        for o in [
            format!("Dir={r}"),
            format!("Dir::State::status={r}/var/lib/dpkg/status"),
            "Dir::Etc::trusted=/dev/null".into(),
            format!("Dir::Etc::trustedparts={r}/etc/apt/trusted.gpg.d"),
            "APT::Sandbox::User=root".into(),
            "Debug::NoLocking=1".into(),
            "Acquire::Languages=none".into(),
            "APT::Architecture=amd64".into(),
        ] {
            c.arg("-o").arg(o);
        }
        c.args(args).current_dir(self.root.join("dl"));
        c.env("GNUPGHOME", self.root.join("gnupg"))
            .env("APT_CONFIG", self.root.join("apt.conf"));
        c.output().unwrap()
    }

    /// apt's verdict on the repository's signed metadata and indices.
    pub fn update_ok(&self) -> bool {
        let o = self.run(&["update"]);
        let err = String::from_utf8_lossy(&o.stderr);
        let ok = o.status.success() && !err.contains("E:") && !err.contains("W: GPG error");
        if !ok {
            eprintln!("apt-get update: {err}");
        }
        ok
    }

    /// apt's verdict on a package (binary) or, with `source`, a source package.
    pub fn download_ok(&self, name: &str, source: bool) -> bool {
        let o = if source {
            self.run(&["source", "--download-only", name])
        } else {
            self.run(&["download", name])
        };
        o.status.success() && !String::from_utf8_lossy(&o.stderr).contains("E:")
    }
}

/// Copy a directory tree (a repository to tamper with).
pub fn copy_tree(from: &Path, to: &Path) {
    sh(Command::new("cp").arg("-a").arg(from).arg(to));
}

/// Test keys in a gpg home, as the package tools use them.
pub struct Keys {
    pub gpg: Gpg,
    pub rsa_asc: PathBuf,
    pub ed_asc: PathBuf,
    pub other_asc: PathBuf,
    pub rsa_gpg: PathBuf,
    pub rsa_fpr: String,
    pub ed_fpr: String,
}

impl Keys {
    /// Three gpg keys in a private home under `dir` (rsa, ed, other),
    /// exported armored (and rsa binary, for apt).
    pub fn make(dir: &Path) -> Keys {
        let gpg = Gpg::new(&dir.join("gnupg"));
        gpg.gen("rsa@example.org", "rsa2048");
        gpg.gen("ed@example.org", "ed25519");
        gpg.gen("other@example.org", "ed25519");
        let k = |n: &str, armor: bool| {
            let p = dir.join(if armor {
                format!("{n}.asc")
            } else {
                format!("{n}.gpg")
            });
            gpg.export(&format!("{n}@example.org"), &p, armor);
            p
        };
        Keys {
            rsa_asc: k("rsa", true),
            ed_asc: k("ed", true),
            other_asc: k("other", true),
            rsa_gpg: k("rsa", false),
            rsa_fpr: gpg.fingerprint("rsa@example.org"),
            ed_fpr: gpg.fingerprint("ed@example.org"),
            gpg,
        }
    }
}

/// Signed RPMs built at test time.
pub struct Rpms {
    pub dir: PathBuf,
    pub rsa: PathBuf,
    pub ed: PathBuf,
    pub v3: PathBuf,
    pub unsigned: PathBuf,
    /// Another package, signed by the same key (signature swaps).
    pub other: PathBuf,
    pub db_all: PathBuf,
    pub db_other: PathBuf,
}

impl Rpms {
    /// RPMs built by rpmbuild and signed by rpmsign under `dir` with
    /// `k`'s keys, and rpm databases holding them for `rpmkeys -K`.
    pub fn make(k: &Keys, dir: &Path) -> Rpms {
        let top = dir.join("top");
        let a = rpmbuild(&top, "bvtest", "hello");
        let b = rpmbuild(&top, "bvother", "other");
        let cp = |from: &Path, name: &str| {
            let p = dir.join(name);
            std::fs::copy(from, &p).unwrap();
            p
        };
        let (rsa, ed, v3, unsigned, other) = (
            cp(&a, "rsa.rpm"),
            cp(&a, "ed.rpm"),
            cp(&a, "v3.rpm"),
            cp(&a, "unsigned.rpm"),
            cp(&b, "other.rpm"),
        );
        rpmsign(&k.gpg, &rsa, "rsa@example.org", false);
        rpmsign(&k.gpg, &ed, "ed@example.org", false);
        rpmsign(&k.gpg, &v3, "rsa@example.org", true);
        rpmsign(&k.gpg, &other, "rsa@example.org", false);
        k.gpg.stop_agent();
        Rpms {
            db_all: rpmdb(&dir.join("db-all"), &[&k.rsa_asc, &k.ed_asc]),
            db_other: rpmdb(&dir.join("db-other"), &[&k.other_asc]),
            dir: dir.to_path_buf(),
            rsa,
            ed,
            v3,
            unsigned,
            other,
        }
    }
}

pub struct Deb {
    pub repo: PathBuf,
    pub dsc: PathBuf,
    pub orig: PathBuf,
    pub debian_tar: PathBuf,
    /// An InRelease whose Valid-Until has passed, signed by the archive key.
    pub expired: PathBuf,
}

/// A copy of the shared repository for one test to change, and apt set
/// up on it (`Deb::copy`).
pub struct DebCopy {
    pub tmp: tempfile::TempDir,
    /// TMP/repo
    pub repo: PathBuf,
    pub apt: Apt,
}

impl Deb {
    /// A [`DebCopy`] of this repository, apt trusting `k`'s archive key.
    pub fn copy(&self, k: &Keys) -> DebCopy {
        let tmp = tempfile::tempdir_in(self.repo.parent().unwrap()).unwrap();
        let repo = tmp.path().join("repo");
        copy_tree(&self.repo, &repo);
        let apt = Apt::new(&tmp.path().join("apt"), &k.rsa_gpg, &repo, "stable");
        DebCopy { tmp, repo, apt }
    }

    /// A Debian repository under `dir`: two .debs, a 3.0 (quilt) source
    /// package with a .dsc signed by `ed`, Packages and Sources (plain,
    /// .xz, .gz), InRelease signed by `rsa` and `other`, Release.gpg by
    /// `rsa`, and an expired InRelease beside it.
    pub fn make(k: &Keys, dir: &Path) -> Deb {
        let repo = dir.join("repo");
        let pool = repo.join("pool/main");
        std::fs::create_dir_all(&pool).unwrap();
        for (name, ver) in [("bvhello", "1.0-1"), ("bvother", "2.0-1")] {
            let root = dir.join(format!("build-{name}"));
            write_file(
            &root.join("DEBIAN/control"),
            &format!("Package: {name}\nVersion: {ver}\nArchitecture: all\nMaintainer: Test <t@example.org>\nDescription: test package\n A test.\n"),
        );
            write_file(&root.join(format!("usr/share/doc/{name}/README")), name);
            sh(Command::new("dpkg-deb")
                .args(["--root-owner-group", "-Zgzip", "--build"])
                .arg(&root)
                .arg(pool.join(format!("{name}_{ver}_all.deb"))));
        }
        // A 3.0 (quilt) source package: orig tarball, debian tarball, .dsc
        // cleartext-signed by its maintainer.
        let src = dir.join("src");
        let tree = src.join("bvsrc-1.0");
        write_file(&tree.join("hello.c"), "int main(void) { return 0; }\n");
        sh(Command::new("tar").current_dir(&src).args([
            "--owner=0",
            "--group=0",
            "-czf",
            "bvsrc_1.0.orig.tar.gz",
            "bvsrc-1.0",
        ]));
        write_file(&tree.join("debian/source/format"), "3.0 (quilt)\n");
        write_file(
        &tree.join("debian/control"),
        "Source: bvsrc\nMaintainer: Test <ed@example.org>\n\nPackage: bvsrc\nArchitecture: any\nDescription: test\n A test.\n",
    );
        write_file(
        &tree.join("debian/changelog"),
        "bvsrc (1.0-1) unstable; urgency=medium\n\n  * Test.\n\n -- Test <ed@example.org>  Tue, 01 Dec 2026 00:00:00 +0000\n",
    );
        write_file(
            &tree.join("debian/rules"),
            "#!/usr/bin/make -f\n%:\n\tdh $@\n",
        );
        sh(Command::new("dpkg-source")
            .current_dir(&src)
            .args(["-b", "bvsrc-1.0"]));
        let plain = src.join("bvsrc_1.0-1.dsc");
        k.gpg
            .clearsign(&["ed@example.org"], &plain, &pool.join("bvsrc_1.0-1.dsc"));
        for f in ["bvsrc_1.0.orig.tar.gz", "bvsrc_1.0-1.debian.tar.xz"] {
            std::fs::copy(src.join(f), pool.join(f)).unwrap();
        }
        let dists = repo.join("dists/stable");
        for (sub, kind) in [
            ("main/binary-amd64", "packages"),
            ("main/source", "sources"),
        ] {
            std::fs::create_dir_all(dists.join(sub)).unwrap();
            let out = sh(Command::new("apt-ftparchive")
                .current_dir(&repo)
                .args([kind, "pool"]));
            let name = if kind == "packages" {
                "Packages"
            } else {
                "Sources"
            };
            write_index(&dists.join(sub).join(name), &out.stdout);
        }
        sign_release(k, &dists);
        // The same Release, expired (dates rewritten, then signed).
        let text = std::fs::read_to_string(dists.join("Release")).unwrap();
        let old: String = text
            .lines()
            .map(|l| {
                if l.starts_with("Date:") {
                    "Date: Mon, 01 Jan 2024 00:00:00 UTC".to_string()
                } else if l.starts_with("Valid-Until:") {
                    "Valid-Until: Mon, 08 Jan 2024 00:00:00 UTC".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
        let expired_plain = dir.join("Release.expired");
        std::fs::write(&expired_plain, old).unwrap();
        let expired = dir.join("InRelease.expired");
        k.gpg
            .clearsign(&["rsa@example.org"], &expired_plain, &expired);
        k.gpg.stop_agent();
        Deb {
            dsc: pool.join("bvsrc_1.0-1.dsc"),
            orig: pool.join("bvsrc_1.0.orig.tar.gz"),
            debian_tar: pool.join("bvsrc_1.0-1.debian.tar.xz"),
            expired,
            repo,
        }
    }
}

pub fn write_file(p: &Path, s: &str) {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(p, s).unwrap();
}

/// `apt-ftparchive release` of dists/stable into Release, signed: InRelease
/// by the archive key and a second key (as Debian signs with several),
/// Release.gpg by the archive key.
pub fn sign_release(k: &Keys, dists: &Path) {
    for f in ["Release", "InRelease", "Release.gpg"] {
        let _ = std::fs::remove_file(dists.join(f));
    }
    let out = sh(Command::new("apt-ftparchive")
        .args([
            "-o",
            "APT::FTPArchive::Release::Suite=stable",
            "-o",
            "APT::FTPArchive::Release::Codename=stable",
            "-o",
            "APT::FTPArchive::Release::Components=main",
            "-o",
            "APT::FTPArchive::Release::Architectures=amd64",
            "-o",
            "APT::FTPArchive::Release::ValidTime=604800",
            "release",
        ])
        .arg(dists));
    std::fs::write(dists.join("Release"), out.stdout).unwrap();
    k.gpg.clearsign(
        &["rsa@example.org", "other@example.org"],
        &dists.join("Release"),
        &dists.join("InRelease"),
    );
    k.gpg.detach_sign(
        "rsa@example.org",
        &dists.join("Release"),
        &dists.join("Release.gpg"),
    );
}

/// Write an index and its .xz and .gz next to it.
pub fn write_index(path: &Path, content: &[u8]) {
    std::fs::write(path, content).unwrap();
    for (tool, flags, ext) in [("xz", "-c", "xz"), ("gzip", "-cn", "gz")] {
        let out = sh(Command::new(tool).arg(flags).arg(path));
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{ext}"));
        std::fs::write(PathBuf::from(p), out.stdout).unwrap();
    }
}
