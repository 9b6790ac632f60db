//! Package fixtures made with the real tools, once per test binary: gpg
//! keys in a private GNUPGHOME, RPMs built by rpmbuild and signed by
//! rpmsign (gpg as its backend), a Debian repository made by dpkg-deb,
//! dpkg-source and apt-ftparchive and signed by gpg; and the peers as
//! oracles: `rpmkeys -K` with an explicit --dbpath, and apt-get against a
//! `file:` source in a private root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Is `tool` installed? Under CI a missing oracle is a failure, never a
/// silent pass; locally the test is skipped with a note.
pub fn oracle(tool: &str) -> bool {
    if super::have(tool) {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{tool} is missing under CI (.ci/run installs it)"
    );
    eprintln!("skipping: {tool} is not installed");
    false
}

/// Run a command; panic with its output unless it succeeds.
pub fn sh(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}\n{}",
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

    pub fn cmd(&self) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", &self.home)
            .args(["--batch", "--quiet", "--no-tty"]);
        c
    }

    /// A new signing key `email` of `algo` (rsa2048, ed25519, ...).
    pub fn gen(&self, email: &str, algo: &str) {
        sh(self
            .cmd()
            .args(["--passphrase", "", "--quick-gen-key"])
            .arg(format!("Test {email} <{email}>"))
            .args([algo, "sign", "never"]));
    }

    /// The public key, armored, into `path`.
    pub fn export(&self, email: &str, path: &Path, armor: bool) {
        let mut c = self.cmd();
        if armor {
            c.arg("--armor");
        }
        let out = sh(c.arg("--export").arg(email));
        assert!(!out.stdout.is_empty(), "no key {email}");
        std::fs::write(path, out.stdout).unwrap();
    }

    pub fn fingerprint(&self, email: &str) -> String {
        let out = sh(self.cmd().args(["--with-colons", "--list-keys", email]));
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
        sh(c.args(["--digest-algo", "SHA256", "--clearsign", "-o"])
            .arg(output)
            .arg(input));
    }

    /// An armored detached signature of `input` into `output` (apt reads no other).
    pub fn detach_sign(&self, by: &str, input: &Path, output: &Path) {
        let _ = std::fs::remove_file(output);
        sh(self
            .cmd()
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
            .arg(input));
    }

    /// Stop the agent gpg started for this home (by its home, not by name).
    pub fn stop_agent(&self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.home)
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// Build a noarch RPM `name-1.0-1` holding one small file; returns its path.
pub fn rpmbuild(top: &Path, name: &str, content: &str) -> PathBuf {
    let specs = top.join("SPECS");
    std::fs::create_dir_all(&specs).unwrap();
    let spec = specs.join(format!("{name}.spec"));
    std::fs::write(
        &spec,
        format!(
            "Name: {name}\nVersion: 1.0\nRelease: 1\nSummary: test package\nLicense: MIT\n\
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
    top.join(format!("RPMS/noarch/{name}-1.0-1.noarch.rpm"))
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
