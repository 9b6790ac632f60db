//! contrib/qubes-builderv2/get-and-verify-source.py, Qubes Builder v2's
//! source step on verify-tag, run the way the fetch plugin runs it (URL
//! CLONE-DIR KEYRING-DIR KEYS-DIR and its flags) against repositories made
//! here and served from file:// URLs, with keys made at test time.
//!
//! The cases are those of the builder's tests/test_scripts.py for the
//! original script, without the network. Each runs the original too (the
//! copy in tests/data/qubes-builderv2, with python3 and gpg: an oracle that
//! must be present under CI=true) on a twin of the same state, and compares
//! the verdicts and, where the lines are the same, the whole output; the
//! deliberate differences (README, "Qubes Builder v2") are asserted as
//! such. The last tests run both on real Qubes tags with the real keys.
//!
//! The script and verify-tag are the source tree's and this build's, or
//! the installed ones (BUILD_VERIFY_DROPINS_DIR, BUILD_VERIFY_TOOLS_DIR, as
//! tests/it/qubes_builderv2.rs).

use crate::common;

use common::git::{commit, git, init, sign_head_commit, signed_tag, tag_text, write_tag};
use sequoia_openpgp::Cert;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script() -> PathBuf {
    match std::env::var_os("BUILD_VERIFY_DROPINS_DIR") {
        Some(d) => PathBuf::from(d).join("get-and-verify-source.py"),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("contrib/qubes-builderv2/get-and-verify-source.py"),
    }
}

fn verify_tag() -> PathBuf {
    match std::env::var_os("BUILD_VERIFY_TOOLS_DIR") {
        Some(d) => PathBuf::from(d).join("verify-tag"),
        None => PathBuf::from(env!("CARGO_BIN_EXE_verify-tag")),
    }
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The original script (GPL-3.0-or-later, tests/data/qubes-builderv2).
fn original() -> PathBuf {
    data("qubes-builderv2/get-and-verify-source.py")
}

/// Can the original run here? python3 and gpg (it looks for /usr/bin/gpg
/// itself); under CI=true they must be.
fn original_runs() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OK.get_or_init(|| {
        common::oracle("python3")
            && common::oracle("gpg")
            && (Path::new("/usr/bin/gpg").exists() || Path::new("/usr/bin/gpg-sq").exists())
    })
}

/// One run: exit code, stdout, stderr.
#[derive(Debug)]
struct Run {
    code: i32,
    out: String,
    err: String,
}

impl Run {
    fn of(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            out: String::from_utf8_lossy(&o.stdout).into_owned(),
            err: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    fn ok(&self) -> &Run {
        assert_eq!(self.code, 0, "{self:#?}");
        self
    }

    fn code(&self, want: i32) -> &Run {
        assert_eq!(self.code, want, "{self:#?}");
        self
    }

    fn says(&self, line: &str) -> &Run {
        assert!(
            self.out.lines().any(|l| l == line),
            "no line {line:?} in {self:#?}"
        );
        self
    }
}

/// Ours and, when it can run, the original, each on its own copy of the
/// component directory.
struct Pair {
    ours: Run,
    theirs: Option<Run>,
    ours_dir: PathBuf,
    theirs_dir: PathBuf,
}

impl Pair {
    /// Same verdict, same lines on stdout (but the original's "ERROR:"
    /// lines: the output of each `git verify-tag` that failed).
    fn same(&self) -> &Pair {
        if let Some(t) = &self.theirs {
            let lines: String = t
                .out
                .lines()
                .filter(|l| !l.starts_with("ERROR: CalledProcessError"))
                .map(|l| format!("{l}\n"))
                .collect();
            assert_eq!(
                (self.ours.code == 0, &self.ours.out),
                (t.code == 0, &lines),
                "ours {:#?}\noriginal {t:#?}",
                self.ours
            );
        }
        self
    }

    /// Same verdict (the lines may differ).
    fn same_verdict(&self) -> &Pair {
        if let Some(t) = &self.theirs {
            assert_eq!(
                self.ours.code == 0,
                t.code == 0,
                "ours {:#?}\noriginal {t:#?}",
                self.ours
            );
        }
        self
    }

    /// A documented difference: the original's verdict is `theirs_ok`,
    /// ours the opposite.
    fn differs(&self, theirs_ok: bool) -> &Pair {
        assert_eq!(self.ours.code == 0, !theirs_ok, "{:#?}", self.ours);
        if let Some(t) = &self.theirs {
            assert_eq!(t.code == 0, theirs_ok, "original {t:#?}");
        }
        self
    }
}

/// A scratch directory whose path the original accepts as a component
/// directory (`^/[A-Za-z][A-Za-z0-9/_-]*$`: no dots), keys made here in
/// `keys/<FPR>.asc`, and remotes.
struct World {
    tmp: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let base = std::env::temp_dir();
        let base = if base.to_str().is_some_and(|b| {
            b.starts_with('/')
                && b.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c))
        }) {
            base
        } else {
            PathBuf::from("/tmp")
        };
        let tmp = tempfile::Builder::new()
            .prefix("bvsrc")
            .rand_bytes(8)
            .tempdir_in(base)
            .unwrap();
        std::fs::create_dir_all(tmp.path().join("keys")).unwrap();
        std::fs::create_dir_all(tmp.path().join("home")).unwrap();
        World { tmp }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn keys(&self) -> PathBuf {
        self.path("keys")
    }

    /// A key, its certificate in keys/<FPR>.asc; returns it and its FPR.
    fn key(&self, name: &str) -> (Cert, String) {
        let k = common::gen_key(&format!("{name} <{name}@example.org>"));
        let fpr = k.fingerprint().to_hex();
        common::write_keyring(&self.keys().join(format!("{fpr}.asc")), &[&k]);
        (k, fpr)
    }

    /// A remote repository with one commit on main; its file:// URL.
    fn remote(&self, name: &str) -> (PathBuf, String) {
        let r = self.path(name);
        init(&r, false);
        (r.clone(), format!("file://{}", r.display()))
    }

    fn env(&self, cmd: &mut Command) {
        let home = self.path("home");
        cmd.env("HOME", &home)
            .env("GNUPGHOME", home.join("gnupg"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            // Submodules over file:// (git refuses them by default).
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "protocol.file.allow")
            .env("GIT_CONFIG_VALUE_0", "always")
            .env("VERIFY_TAG", verify_tag())
            .env_remove("VERIFY_TAG_FLAGS")
            .current_dir(self.tmp.path());
    }

    /// Our script on component directory `dir` (under the world).
    fn ours(&self, url: &str, dir: &str, args: &[&str]) -> Run {
        self.ours_with(url, dir, args, &[])
    }

    /// The same, with more environment variables.
    fn ours_with(&self, url: &str, dir: &str, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(script());
        self.env(&mut cmd);
        cmd.envs(vars.iter().copied());
        cmd.arg(url)
            .arg(self.path(dir))
            .arg(self.path(&format!("{dir}-keyring")))
            .arg(self.keys())
            .args(args);
        Run::of(cmd.output().unwrap())
    }

    /// The original on component directory `dir`, if it can run here.
    fn theirs(&self, url: &str, dir: &str, args: &[&str]) -> Option<Run> {
        if !original_runs() {
            return None;
        }
        let mut cmd = Command::new("python3");
        self.env(&mut cmd);
        let keyring = self.path(&format!("{dir}-keyring"));
        cmd.arg(original())
            .arg(url)
            .arg(self.path(dir))
            .arg(&keyring)
            .arg(self.keys())
            .args(args);
        let run = Run::of(cmd.output().unwrap());
        // The original leaves the gpg-agent its imports started (its
        // gpgconf --kill aims at GNUPGHOME): stop it, as the disposal of
        // the builder's executor would.
        if keyring.exists() {
            let _ = Command::new("gpgconf")
                .arg("--homedir")
                .arg(&keyring)
                .args(["--kill", "gpg-agent"])
                .output();
        }
        Some(run)
    }

    /// Both, each on its own directory `ours-NAME` / `py-NAME`, after
    /// `prepare` made the same state in each.
    fn pair(&self, url: &str, name: &str, prepare: impl Fn(&Path), args: &[&str]) -> Pair {
        let (o, t) = (format!("ours-{name}"), format!("py-{name}"));
        prepare(&self.path(&o));
        prepare(&self.path(&t));
        Pair {
            ours: self.ours(url, &o, args),
            theirs: self.theirs(url, &t, args),
            ours_dir: self.path(&o),
            theirs_dir: self.path(&t),
        }
    }
}

fn nothing(_: &Path) {}

/// A world, the maintainer's key (and its FPR) and a remote with one
/// commit on main (and its URL): where most cases start.
fn maintained() -> (World, Cert, String, PathBuf, String) {
    let w = World::new();
    let (m, mf) = w.key("marek");
    let (r, url) = w.remote("remote");
    (w, m, mf, r, url)
}

/// `git clone -b BRANCH URL DIR`, as the builder's tests prepare an
/// existing repository.
fn cloned(url: &str, branch: &str) -> impl Fn(&Path) {
    let (url, branch) = (url.to_string(), branch.to_string());
    move |dir: &Path| {
        let parent = dir.parent().unwrap();
        git(
            parent,
            &["clone", "-q", "-b", &branch, &url, dir.to_str().unwrap()],
        );
    }
}

fn head(dir: &Path) -> String {
    git(dir, &["rev-parse", "HEAD"])
}

fn branch(dir: &Path) -> String {
    git(dir, &["rev-parse", "--abbrev-ref", "HEAD"])
}

fn version_tags_at_head(dir: &Path) -> String {
    git(dir, &["tag", "--points-at", "HEAD", "--list", "v*"])
}

/// A failure left nothing: a fresh clone is gone.
fn gone(dir: &Path) {
    assert!(!dir.exists(), "{} was left behind", dir.display());
}

/// A failure on an existing repository left its checkout as it was and
/// no FETCH_HEAD naming the unverified commit.
fn untouched(dir: &Path, was: &str, file: &str) {
    assert_eq!(head(dir), was);
    assert_eq!(std::fs::read_to_string(dir.join("file")).unwrap(), file);
    assert!(!dir.join(".git/FETCH_HEAD").exists());
    assert_eq!(git(dir, &["status", "--porcelain"]), "");
}

fn good(id: &str) -> String {
    format!("---> Good tag {id}.")
}

const SWITCH_MAIN: &str = "--> Switching branch from main branch to main";

// The cases of the builder's tests/test_scripts.py.

#[test]
fn repository_on_main() {
    let (w, m, mf, r, url) = maintained();
    let c = head(&r);
    let t = signed_tag(&r, &c, "v1.0", &m);
    let p = w.pair(&url, "main", nothing, &["--maintainer", &mf]);
    p.same();
    assert_eq!(
        p.ours.ok().out,
        format!("--> Verifying tags...\n{}\nEnough distinct tag signatures. Found 1, mandatory minimum is 1.\n{SWITCH_MAIN}\n", good(&t))
    );
    assert_eq!(branch(&p.ours_dir), "main");
    assert_eq!(head(&p.ours_dir), c);
    assert_eq!(
        std::fs::read_to_string(p.ours_dir.join("file")).unwrap(),
        "initial"
    );
    // Nothing of GnuPG: the keyring directory is not even created.
    assert!(!w.path("ours-main-keyring").exists());
}

#[test]
fn invalid_branch() {
    let (w, _, mf, _, url) = maintained();
    let p = w.pair(
        &url,
        "nobranch",
        nothing,
        &["--maintainer", &mf, "--git-branch", "nonexistent"],
    );
    p.same_verdict();
    // The remote said it has no such branch: a configuration error.
    p.ours
        .code(2)
        .says(&format!("---> {url} has no branch or tag nonexistent"));
    assert!(p.ours.err.contains("nonexistent"), "{:#?}", p.ours);
    gone(&p.ours_dir);
    gone(&p.theirs_dir);
    // An invalid name is refused before anything is fetched.
    let r = w.ours(&url, "bad", &["--git-branch", "-x"]);
    r.code(2);
    let r = w.ours(&url, "bad", &["--git-branch", "a b"]);
    r.code(2).says("Invalid branch a b");
    gone(&w.path("bad"));
}

#[test]
fn non_qubes_repository_without_maintainer_keys() {
    // An unsigned commit, no tag: the maintainers' keys cannot vouch for it.
    let (w, _, mf, r, url) = maintained();
    let c = head(&r);
    let p = w.pair(&url, "nonqubes", nothing, &["--maintainer", &mf]);
    p.same();
    assert_eq!(
        p.ours.code(1).out,
        format!("--> Verifying tags...\n---> No tag pointing at {c}\n---> Invalid commit {c}.\n")
    );
    gone(&p.ours_dir);
}

#[test]
fn non_qubes_repository_with_maintainer_and_signed_commit() {
    let w = World::new();
    let (f, ff) = w.key("fepitre");
    let (r, url) = w.remote("remote");
    git(&r, &["checkout", "-q", "-b", "builderv2"]);
    commit(&r, "second");
    let c = sign_head_commit(&r, &f);
    let p = w.pair(
        &url,
        "signedcommit",
        nothing,
        &[
            "--git-branch",
            "builderv2",
            "--less-secure-signed-commits-sufficient",
            "--maintainer",
            &ff,
        ],
    );
    p.same();
    assert_eq!(
        p.ours.ok().out,
        format!(
            "--> Verifying tags or commits...\n---> No tag pointing at {c}\n---> {c} does not have a signed tag. However, it is signed by a trusted key, and CHECK is set to signed-tag-or-commit. Accepting it anyway.\n--> Switching branch from builderv2 branch to builderv2\n"
        )
    );
    assert_eq!(branch(&p.ours_dir), "builderv2");
    assert_eq!(head(&p.ours_dir), c);
    // Without --less-secure-signed-commits-sufficient the signer forgot a tag.
    let p = w.pair(
        &url,
        "signedcommit-strict",
        nothing,
        &["--git-branch", "builderv2", "--maintainer", &ff],
    );
    p.same();
    p.ours.code(1).says(&format!(
        "---> {c} is a commit signed by a trusted key. Did the signer forget to add a tag?"
    ));
    gone(&p.ours_dir);
}

#[test]
fn non_qubes_repository_with_maintainer_and_signed_tag() {
    let w = World::new();
    let (f, ff) = w.key("fepitre");
    let (_, mf) = w.key("marek");
    let (r, url) = w.remote("remote");
    git(&r, &["checkout", "-q", "-b", "builderv2-tests-3"]);
    let c = commit(&r, "tagged");
    let t = signed_tag(&r, &c, "v2.0", &f);
    let p = w.pair(
        &url,
        "signedtag",
        nothing,
        &[
            "--git-branch",
            "builderv2-tests-3",
            "--maintainer",
            &ff,
            "--maintainer",
            &mf,
        ],
    );
    p.same();
    p.ours.ok().says(&good(&t));
    assert_eq!(branch(&p.ours_dir), "builderv2-tests-3");
}

#[test]
fn repository_without_version_tags() {
    // A signed tag, but no v* tag: nothing a version build may use.
    let (w, m, mf, r, url) = maintained();
    let c = commit(&r, "second");
    signed_tag(&r, &c, "R4.2", &m);
    let p = w.pair(
        &url,
        "noversion",
        nothing,
        &["--fetch-versions-only", "--maintainer", &mf],
    );
    p.same();
    assert_eq!(p.ours.code(3).out, "No version tag.\n");
    gone(&p.ours_dir);
}

#[test]
fn existing_repository_without_version_tags() {
    let (w, m, mf, r, url) = maintained();
    git(&r, &["checkout", "-q", "-b", "builderv2-tests-1"]);
    let c = commit(&r, "second");
    signed_tag(&r, &c, "R4.2", &m);
    let p = w.pair(
        &url,
        "existing-noversion",
        cloned(&url, "builderv2-tests-1"),
        &[
            "--git-branch",
            "builderv2-tests-1",
            "--fetch-versions-only",
            "--maintainer",
            &mf,
        ],
    );
    p.same();
    assert_eq!(p.ours.ok().out, "No version tag.\n");
    assert!(!p.ours_dir.join(".git/FETCH_HEAD").exists());
    assert_eq!(head(&p.ours_dir), c);
}

#[test]
fn existing_repository_with_version_tags() {
    let (w, m, mf, r, url) = maintained();
    git(&r, &["checkout", "-q", "-b", "builderv2-tests-2"]);
    let c = commit(&r, "release");
    let ids: Vec<String> = ["v1.0.1", "v1.0.2", "v1.0.3"]
        .iter()
        .map(|n| signed_tag(&r, &c, n, &m))
        .collect();
    let p = w.pair(
        &url,
        "existing-version",
        cloned(&url, "builderv2-tests-2"),
        &[
            "--git-branch",
            "builderv2-tests-2",
            "--fetch-versions-only",
            "--maintainer",
            &mf,
        ],
    );
    p.same();
    assert_eq!(
        p.ours.ok().out,
        format!(
            "--> Verifying tags...\n{}\n{}\n{}\nEnough distinct tag signatures. Found 1, mandatory minimum is 1.\n--> Merging...\n",
            good(&ids[0]),
            good(&ids[1]),
            good(&ids[2])
        )
    );
    assert!(p.ours_dir.join(".git/FETCH_HEAD").exists());
}

#[test]
fn existing_repository_switching_branch() {
    let (w, m, mf, r, url) = maintained();
    let detached = commit(&r, "untagged");
    git(&r, &["checkout", "-q", "-b", "release4.2"]);
    let c42 = commit(&r, "4.2");
    signed_tag(&r, &c42, "v4.2.0", &m);
    git(&r, &["checkout", "-q", "-b", "release4.1", "main"]);
    let c41 = commit(&r, "4.1");
    signed_tag(&r, &c41, "v4.1.0", &m);
    git(&r, &["checkout", "-q", "main"]);
    // Cloned, then on a commit without a version tag.
    let prepare = |dir: &Path| {
        cloned(&url, "main")(dir);
        git(dir, &["checkout", "-q", &detached]);
    };
    let args = |b: &'static str| {
        vec![
            "--fetch-versions-only",
            "--git-branch",
            b,
            "--maintainer",
            mf.as_str(),
        ]
    };
    let p = w.pair(&url, "switch", prepare, &args("release4.2"));
    p.same();
    p.ours
        .ok()
        .says("--> Switching branch from HEAD branch to new release4.2");
    assert_eq!(version_tags_at_head(&p.ours_dir), "v4.2.0");
    // Each copy again, to the other branch.
    let again = Pair {
        ours: w.ours(&url, "ours-switch", &args("release4.1")),
        theirs: w.theirs(&url, "py-switch", &args("release4.1")),
        ours_dir: p.ours_dir.clone(),
        theirs_dir: p.theirs_dir.clone(),
    };
    again.same();
    assert!(
        again.ours.ok().out.contains(
            "--> Switching branch from release4.2 branch to new release4.1\n--> Merging...\n"
        ),
        "{:#?}",
        again.ours
    );
    assert!(p.ours_dir.join(".git/FETCH_HEAD").exists());
    assert_eq!(version_tags_at_head(&p.ours_dir), "v4.1.0");
    assert_eq!(branch(&p.ours_dir), "release4.1");
    // Back to release4.2: the branch exists and is an ancestor.
    let back = w.ours(&url, "ours-switch", &args("release4.2"));
    back.ok()
        .says("--> Switching branch from release4.1 branch to release4.2");
    assert_eq!(head(&p.ours_dir), c42);
}

/// `n` keys; tags at the remote's HEAD, one per signer in `by` (indices).
fn tags_by(w: &World, keys: &[(Cert, String)], by: &[usize]) -> (String, Vec<String>) {
    let (r, url) = w.remote("remote");
    let c = head(&r);
    let ids = by
        .iter()
        .enumerate()
        .map(|(i, k)| signed_tag(&r, &c, &format!("tag{i}"), &keys[*k].0))
        .collect();
    (url, ids)
}

#[test]
fn several_distinct_signatures() {
    let w = World::new();
    let keys: Vec<_> = ["a", "b", "c"].iter().map(|n| w.key(n)).collect();
    let (url, ids) = tags_by(&w, &keys, &[0, 1, 2]);
    let mut args = vec!["--minimum-distinct-maintainers", "3"];
    for (_, f) in &keys {
        args.extend(["--maintainer", f.as_str()]);
    }
    let p = w.pair(&url, "distinct", nothing, &args);
    p.same();
    p.ours
        .ok()
        .says(&good(&ids[2]))
        .says("Enough distinct tag signatures. Found 3, mandatory minimum is 3.");
}

#[test]
fn several_non_distinct_signatures() {
    let w = World::new();
    let keys: Vec<_> = ["a", "b"].iter().map(|n| w.key(n)).collect();
    let (url, ids) = tags_by(&w, &keys, &[0, 0, 0, 1]);
    let p = w.pair(
        &url,
        "nondistinct",
        nothing,
        &[
            "--minimum-distinct-maintainers",
            "3",
            "--maintainer",
            &keys[0].1,
            "--maintainer",
            &keys[1].1,
        ],
    );
    p.same();
    let want: String = ids.iter().map(|i| good(i) + "\n").collect();
    assert_eq!(
        p.ours.code(1).out,
        format!("--> Verifying tags...\n{want}Not enough distinct tag signatures. Found 2, mandatory minimum is 3.\n")
    );
    gone(&p.ours_dir);
}

#[test]
fn signatures_by_keys_outside_the_maintainers() {
    let w = World::new();
    let keys: Vec<_> = ["a", "b"].iter().map(|n| w.key(n)).collect();
    let (_, mf) = w.key("marek");
    let (url, ids) = tags_by(&w, &keys, &[0, 1]);
    let p = w.pair(&url, "outsiders", nothing, &["--maintainer", &mf]);
    p.same();
    assert_eq!(
        p.ours.code(1).out,
        format!(
            "--> Verifying tags...\n---> Invalid tag {}.\n---> Invalid tag {}.\nNot enough distinct tag signatures. Found 0, mandatory minimum is 1.\n",
            ids[0], ids[1]
        )
    );
    gone(&p.ours_dir);
}

#[test]
fn signed_commit() {
    let w = World::new();
    let (k, kf) = w.key("a");
    let (r, url) = w.remote("remote");
    for i in 1..5 {
        commit(&r, &format!("commit {i}"));
        sign_head_commit(&r, &k);
    }
    let c = head(&r);
    let accepted = format!("---> {c} does not have a signed tag. However, it is signed by a trusted key, and CHECK is set to signed-tag-or-commit. Accepting it anyway.");
    let args = |min: &'static str| {
        vec![
            "--less-secure-signed-commits-sufficient",
            "--minimum-distinct-maintainers",
            min,
            "--maintainer",
            kf.as_str(),
        ]
    };
    let p = w.pair(&url, "commit1", nothing, &args("1"));
    p.same();
    p.ours.ok().says(&accepted);
    // The builder's case asks for three: the original accepts one commit
    // signature anyway; here it is one signer, refused (documented).
    let p = w.pair(&url, "commit3", nothing, &args("3"));
    p.differs(true);
    p.ours
        .code(1)
        .says("Not enough distinct commit signatures. Found 1, mandatory minimum is 3.");
    gone(&p.ours_dir);
}

#[test]
fn submodules() {
    let w = World::new();
    let (m, mf) = w.key("marek");
    let (sub, sub_url) = w.remote("sub");
    let (r, url) = w.remote("remote");
    let out = Command::new("git")
        .args(["-c", "protocol.file.allow=always", "submodule", "add", "-q"])
        .arg(&sub_url)
        .arg("sub")
        .current_dir(&r)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    git(&r, &["commit", "-q", "-m", "add sub"]);
    let c = head(&r);
    signed_tag(&r, &c, "v1.0", &m);
    let p = w.pair(&url, "submodules", nothing, &["--maintainer", &mf]);
    p.same();
    p.ours.ok().says("--> Updating submodules");
    assert_eq!(
        std::fs::read_to_string(p.ours_dir.join("sub/file")).unwrap(),
        "initial"
    );
    assert_eq!(head(&p.ours_dir.join("sub")), head(&sub));
}

#[test]
fn version_tag_earlier_than_head() {
    // The branch's tip has a signed tag that is no version; an earlier
    // commit has v1.0: the build takes v1.0.
    let (w, m, mf, r, url) = maintained();
    git(&r, &["checkout", "-q", "-b", "builderv2-tests-4"]);
    let v = commit(&r, "v1.0");
    signed_tag(&r, &v, "v1.0", &m);
    let tip = commit(&r, "later");
    signed_tag(&r, &tip, "R4.2-later", &m);
    let p = w.pair(
        &url,
        "earlier",
        nothing,
        &[
            "--git-branch",
            "builderv2-tests-4",
            "--fetch-versions-only",
            "--maintainer",
            &mf,
        ],
    );
    p.same();
    p.ours.ok();
    assert_eq!(head(&p.ours_dir), v);
    assert_eq!(version_tags_at_head(&p.ours_dir), "v1.0");
    assert_eq!(branch(&p.ours_dir), "builderv2-tests-4");
}

#[test]
fn specific_commit_is_a_pin() {
    let (w, m, mf, r, url) = maintained();
    let pinned = commit(&r, "pinned");
    let tip = commit(&r, "later");
    signed_tag(&r, &tip, "v1.0", &m);
    let p = w.pair(
        &url,
        "pin",
        nothing,
        &["--git-commit", &pinned, "--maintainer", &mf],
    );
    p.same_verdict();
    let note = format!("--> {pinned} is a pinned commit, not verified by signature (--git-commit)");
    p.ours.ok().says("--> NOT verifying tags").says(&note);
    assert!(p
        .ours
        .err
        .contains("pinned commit, not verified by signature"));
    if let Some(t) = &p.theirs {
        // The same lines but the pin's.
        let ours: String = p
            .ours
            .out
            .lines()
            .filter(|l| *l != note)
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(ours, t.out);
    }
    assert_eq!(head(&p.ours_dir), pinned);
    assert_eq!(
        std::fs::read_to_string(p.ours_dir.join("file")).unwrap(),
        "pinned"
    );
    // Into an existing repository too.
    let again = w.ours(&url, "ours-pin", &["--git-commit", &pinned]);
    again.ok().says(&note);
    // A pin is a commit: the id of a tag object is refused (the original
    // builds the commit the tag points at).
    let tag_id = git(&r, &["rev-parse", "refs/tags/v1.0"]);
    let p = w.pair(&url, "pin-tag", nothing, &["--git-commit", &tag_id]);
    p.differs(true);
    p.ours.code(1);
    gone(&p.ours_dir);
    // Not a full id: refused before anything is fetched.
    w.ours(&url, "pin-short", &["--git-commit", &pinned[..12]])
        .code(2);
    gone(&w.path("pin-short"));
}

#[test]
fn trust_all_keys() {
    let w = World::new();
    let (k, _) = w.key("upstream");
    let (r, url) = w.remote("remote");
    let t = signed_tag(&r, &head(&r), "v1.0", &k);
    let p = w.pair(&url, "trustall", nothing, &["--trust-all-keys"]);
    p.same();
    p.ours.ok().says(&good(&t));
    assert!(p.ours_dir.join("file").exists());
    // Not with --maintainer.
    let fpr = k.fingerprint().to_hex();
    let p = w.pair(
        &url,
        "trustall-m",
        nothing,
        &["--trust-all-keys", "--maintainer", &fpr],
    );
    p.same();
    p.ours
        .code(2)
        .says("--maintainer cannot be used together with --trust-all-keys");
}

#[test]
fn shallow_clone() {
    let (w, m, mf, r, url) = maintained();
    for i in 0..3 {
        commit(&r, &format!("c{i}"));
    }
    signed_tag(&r, &head(&r), "v1.0", &m);
    let p = w.pair(
        &url,
        "shallow",
        nothing,
        &["--shallow-clone", "--maintainer", &mf],
    );
    p.same();
    p.ours.ok();
    assert_eq!(
        git(&p.ours_dir, &["rev-parse", "--is-shallow-repository"]),
        "true"
    );
    assert_eq!(
        std::fs::read_to_string(p.ours_dir.join("file")).unwrap(),
        "c2"
    );
}

// Beyond the builder's cases: the flow's other paths.

#[test]
fn existing_repository_follows_the_remote_and_keeps_its_checkout_on_failure() {
    let (w, m, mf, r, url) = maintained();
    let c1 = head(&r);
    signed_tag(&r, &c1, "v1.0", &m);
    let p = w.pair(&url, "follow", nothing, &["--maintainer", &mf]);
    p.same();
    // A new signed release: fetched, verified, merged.
    let c2 = commit(&r, "second");
    signed_tag(&r, &c2, "v1.1", &m);
    let again = |args: &[&str]| Pair {
        ours: w.ours(&url, "ours-follow", args),
        theirs: w.theirs(&url, "py-follow", args),
        ours_dir: p.ours_dir.clone(),
        theirs_dir: p.theirs_dir.clone(),
    };
    let up = again(&["--maintainer", &mf]);
    up.same();
    up.ours.ok().says("--> Merging...");
    assert_eq!(head(&p.ours_dir), c2);
    // The tracking branch as the original leaves it (moved only when it
    // is a loose ref; a clone packs it).
    if up.theirs.is_some() {
        let tracking = |d: &Path| git(d, &["rev-parse", "refs/remotes/origin/main"]);
        assert_eq!(tracking(&p.ours_dir), tracking(&p.theirs_dir));
    }
    // Up to date: the same lines, nothing moves.
    let same = again(&["--maintainer", &mf]);
    same.same();
    assert_eq!(head(&p.ours_dir), c2);
    // An unsigned release: refused; the checkout stays on the verified one.
    let c3 = commit(&r, "third");
    write_tag(&r, &tag_text(&c3, "v1.2", "unsigned"), &[], "v1.2");
    let bad = again(&["--maintainer", &mf]);
    bad.same();
    bad.ours
        .code(1)
        .says("Not enough distinct tag signatures. Found 0, mandatory minimum is 1.");
    untouched(&p.ours_dir, &c2, "second");
    // --fetch-only verifies and leaves the checkout alone.
    git(&r, &["reset", "-q", "--hard", &c2]);
    let c4 = commit(&r, "fourth");
    signed_tag(&r, &c4, "v1.3", &m);
    let fetched = again(&["--fetch-only", "--maintainer", &mf]);
    fetched.same();
    assert_eq!(head(&p.ours_dir), c2);
    assert_eq!(git(&p.ours_dir, &["rev-parse", "FETCH_HEAD^{commit}"]), c4);
    // History rewritten to a signed commit that is no descendant: verified,
    // but the fast-forward-only merge refuses it.
    git(&r, &["reset", "-q", "--hard", &c1]);
    let d = commit(&r, "diverged");
    signed_tag(&r, &d, "v2.0", &m);
    let diverged = again(&["--maintainer", &mf]);
    diverged.same_verdict();
    diverged.ours.code(1);
    assert_eq!(head(&p.ours_dir), c2);
    // Back to an older signed commit: an ancestor, nothing moves.
    git(&r, &["reset", "-q", "--hard", &c1]);
    let back = again(&["--maintainer", &mf]);
    back.same();
    back.ours.ok();
    assert_eq!(head(&p.ours_dir), c2);
}

/// The up-to-date path reads the fetched commit, HEAD and its branch from
/// the files git wrote when they are plain (FETCH_HEAD's first line, a
/// loose branch ref): every other way git stores them takes git's answer.
/// A packed branch and a detached HEAD, each up to date and then with a
/// new signed release, against the original on twins. A reftable
/// repository (whose HEAD file names the placeholder branch `.invalid`) is
/// a documented difference: verify-tag cannot read its refs and says so
/// (exit 2), where the original, on git, passes; the checkout is untouched.
#[test]
fn refs_stored_any_way_are_read_as_git_reads_them() {
    let (w, m, mf, r, url) = maintained();
    let c1 = head(&r);
    signed_tag(&r, &c1, "v1.0", &m);
    let pack = |d: &Path| {
        git(d, &["pack-refs", "--all"]);
        assert!(!d.join(".git/refs/heads/main").exists());
    };
    let detach = |d: &Path| {
        git(d, &["checkout", "-q", "--detach"]);
    };
    let clone = cloned(&url, "main");
    let reftable = |d: &Path| {
        // git >= 2.45 (the machine's and CI's /usr/local git): a git that
        // cannot make one fails here rather than skip the case.
        let to = d.to_str().unwrap();
        let args = [
            "clone",
            "-q",
            "--ref-format=reftable",
            "-b",
            "main",
            &url,
            to,
        ];
        git(d.parent().unwrap(), &args);
        assert_eq!(
            std::fs::read_to_string(d.join(".git/HEAD")).unwrap(),
            "ref: refs/heads/.invalid\n"
        );
    };
    let prepared = |name: &str, make: &dyn Fn(&Path), then: &dyn Fn(&Path)| {
        let both = |d: &Path| {
            make(d);
            then(d);
        };
        let p = w.pair(&url, name, both, &["--maintainer", &mf]);
        p.same();
        p.ours.ok();
        assert_eq!(head(&p.ours_dir), c1);
        assert_eq!(branch(&p.ours_dir), "main");
        p
    };
    let packed = prepared("packed", &clone, &pack);
    packed.ours.says("--> Merging...");
    let detached = prepared("detached", &clone, &detach);
    detached
        .ours
        .says("--> Switching branch from HEAD branch to main");
    let table = w.pair(&url, "reftable", reftable, &["--maintainer", &mf]);
    table.differs(true);
    table.ours.code(2).says(
        "---> verify-tag could not check {c1}"
            .replace("{c1}", &c1)
            .as_str(),
    );
    assert!(
        table
            .ours
            .err
            .contains("git refs migrate --ref-format=files"),
        "{:#?}",
        table.ours
    );
    assert_eq!(head(&table.ours_dir), c1);
    assert!(!table.ours_dir.join(".git/FETCH_HEAD").exists());
    // A new signed release: fetched, verified and merged into each.
    let c2 = commit(&r, "second");
    signed_tag(&r, &c2, "v1.1", &m);
    for (p, then) in [(&packed, &pack as &dyn Fn(&Path)), (&detached, &detach)] {
        then(&p.ours_dir);
        then(&p.theirs_dir);
        let name = |d: &Path| d.file_name().unwrap().to_str().unwrap().to_string();
        let up = Pair {
            ours: w.ours(&url, &name(&p.ours_dir), &["--maintainer", &mf]),
            theirs: w.theirs(&url, &name(&p.theirs_dir), &["--maintainer", &mf]),
            ours_dir: p.ours_dir.clone(),
            theirs_dir: p.theirs_dir.clone(),
        };
        up.same();
        up.ours.ok();
        assert_eq!(head(&p.ours_dir), c2, "{}", p.ours_dir.display());
        assert_eq!(branch(&p.ours_dir), "main");
        assert_eq!(git(&p.ours_dir, &["status", "--porcelain"]), "");
    }
}

/// The script's clones keep their refs in files whatever the user's
/// default (here GIT_DEFAULT_REF_FORMAT=reftable, which would otherwise
/// make every fresh clone one that verify-tag refuses), by `git clone` and
/// by `git init` for a commit given as branch.
#[test]
fn clones_keep_their_refs_in_files_whatever_the_default() {
    let (w, m, mf, r, url) = maintained();
    let c = head(&r);
    signed_tag(&r, &c, "v1.0", &m);
    let reftable = [("GIT_DEFAULT_REF_FORMAT", "reftable")];
    for (dir, branch) in [("ours-files", "main"), ("ours-files-commit", c.as_str())] {
        let args = ["--git-branch", branch, "--maintainer", &mf];
        let run = w.ours_with(&url, dir, &args, &reftable);
        run.ok().says(&good(&git(&r, &["rev-parse", "v1.0"])));
        let d = w.path(dir);
        assert_eq!(head(&d), c);
        let storage = git(&d, &["rev-parse", "--show-ref-format"]);
        assert_eq!(storage, "files", "{dir}: {run:#?}");
    }
}

/// Git's automatic maintenance, which the fetch is told not to start: not
/// on an up-to-date call (the path every build takes), but once a fetch
/// brought a new commit, by the merge (git merge starts it) or, when
/// nothing is merged (--fetch-only), by the script at the end. Seen in
/// GIT_TRACE.
#[test]
fn maintenance_runs_once_a_new_commit_came() {
    let (w, m, mf, r, url) = maintained();
    let c1 = head(&r);
    signed_tag(&r, &c1, "v1.0", &m);
    w.ours(&url, "ours-maint", &["--maintainer", &mf]).ok();
    let trace = w.path("trace");
    let maintained = |args: &[&str]| -> bool {
        let _ = std::fs::remove_file(&trace);
        let vars = [("GIT_TRACE", trace.to_str().unwrap())];
        w.ours_with(&url, "ours-maint", args, &vars).ok();
        let t = std::fs::read_to_string(&trace).unwrap();
        t.lines().any(|l| l.contains("git maintenance run --auto"))
    };
    assert!(!maintained(&["--maintainer", &mf]), "up to date");
    let c2 = commit(&r, "second");
    signed_tag(&r, &c2, "v1.1", &m);
    assert!(
        maintained(&["--fetch-only", "--maintainer", &mf]),
        "--fetch-only"
    );
    assert_eq!(head(&w.path("ours-maint")), c1);
    assert!(maintained(&["--maintainer", &mf]), "merged");
    assert_eq!(head(&w.path("ours-maint")), c2);
    assert!(!maintained(&["--maintainer", &mf]), "up to date again");
}

#[test]
fn insecure_skip_checking_and_clean() {
    let w = World::new();
    let (r, url) = w.remote("remote");
    let p = w.pair(
        &url,
        "insecure",
        |d: &Path| std::fs::create_dir_all(d.join("junk")).unwrap(),
        &["--insecure-skip-checking"],
    );
    p.same();
    p.ours.ok().says("--> NOT verifying tags");
    assert!(p
        .ours
        .err
        .contains("is not verified (--insecure-skip-checking)"));
    assert_eq!(head(&p.ours_dir), head(&r));
    assert!(!p.ours_dir.join("junk").exists());
    // --clean starts over.
    std::fs::write(p.ours_dir.join("local"), "x").unwrap();
    w.ours(
        &url,
        "ours-insecure",
        &["--clean", "--insecure-skip-checking"],
    )
    .ok();
    assert!(!p.ours_dir.join("local").exists());
    assert!(p.ours_dir.join("file").exists());
}

#[test]
fn keys_and_options_refused() {
    let (w, m, mf, r, url) = maintained();
    signed_tag(&r, &head(&r), "v1.0", &m);
    let missing = "0123456789ABCDEF0123456789ABCDEF01234567";
    let p = w.pair(&url, "nokey", nothing, &["--maintainer", missing]);
    p.same();
    p.ours
        .code(2)
        .says(&format!("Cannot find {}/{missing}.asc", w.keys().display()));
    gone(&p.ours_dir);
    w.ours(&url, "x", &["--maintainer", "1234"])
        .code(2)
        .says("Invalid maintainer provided: 1234");
    // No key at all: nothing can vouch for the source.
    let p = w.pair(&url, "nomaintainer", nothing, &[]);
    p.same_verdict();
    p.ours.code(1);
    gone(&p.ours_dir);
    // The component directory must be plain (the original's rule).
    let mut cmd = Command::new(script());
    w.env(&mut cmd);
    let o = Run::of(
        cmd.args([&url, "/tmp/a.b", "/tmp/k", "/tmp/keys"])
            .output()
            .unwrap(),
    );
    o.code(2).says("Invalid repository directory /tmp/a.b");
    // Operands and options as argparse takes them.
    let o = Run::of({
        let mut cmd = Command::new(script());
        w.env(&mut cmd);
        cmd.arg("--maintainer")
            .arg(&mf)
            .arg(&url)
            .arg(w.path("argparse"))
            .arg(w.path("kr"))
            .arg("--git-b=main")
            .arg(w.keys())
            .args(["--minimum", "1"])
            .output()
            .unwrap()
    });
    o.ok();
    // Unknown, ambiguous, valueless: usage errors, as argparse's.
    for bad in [
        &["--fetch"][..],
        &["--nope"],
        &["--clean=1"],
        &["--git-branch"],
        &["-x"],
    ] {
        let mut cmd = Command::new(script());
        w.env(&mut cmd);
        let o = Run::of(
            cmd.arg(&url)
                .arg(w.path("argparse-bad"))
                .arg(w.path("kr"))
                .arg(w.keys())
                .args(bad)
                .output()
                .unwrap(),
        );
        o.code(2);
        gone(&w.path("argparse-bad"));
    }
    let o = Run::of(Command::new(script()).arg("--help").output().unwrap());
    o.ok();
    assert!(o.out.contains("--minimum-distinct-maintainers"));
    let o = Run::of(Command::new(script()).arg(&url).output().unwrap());
    o.code(2);
    // verify-tag missing: refused, nothing left.
    let mut cmd = Command::new(script());
    w.env(&mut cmd);
    let o = Run::of(
        cmd.env("VERIFY_TAG", w.path("no-verify-tag"))
            .arg(&url)
            .arg(w.path("novt"))
            .arg(w.path("kr"))
            .arg(w.keys())
            .args(["--maintainer", &mf])
            .output()
            .unwrap(),
    );
    assert_ne!(o.code, 0);
    gone(&w.path("novt"));
}

// The deliberate differences.

/// A key with two signing subkeys; a detached signature by the n-th.
fn two_subkey_key() -> Cert {
    sequoia_openpgp::cert::CertBuilder::new()
        .add_userid("Two <two@example.org>")
        .add_signing_subkey()
        .add_signing_subkey()
        .set_creation_time(common::days_from_now(-365))
        .generate()
        .unwrap()
        .0
}

fn sign_with_subkey(cert: &Cert, n: usize, data: &[u8]) -> Vec<u8> {
    use sequoia_openpgp::packet::signature::SignatureBuilder;
    use sequoia_openpgp::policy::StandardPolicy;
    use sequoia_openpgp::serialize::Marshal;
    use sequoia_openpgp::types::SignatureType;
    let p = StandardPolicy::new();
    let key = cert
        .keys()
        .subkeys()
        .with_policy(&p, None)
        .for_signing()
        .secret()
        .nth(n)
        .unwrap()
        .key()
        .clone();
    let mut signer = key.into_keypair().unwrap();
    let sig = SignatureBuilder::new(SignatureType::Binary)
        .set_signature_creation_time(std::time::SystemTime::now() - common::DAY)
        .unwrap()
        .sign_message(&mut signer, data)
        .unwrap();
    let mut out = Vec::new();
    sequoia_openpgp::Packet::from(sig)
        .serialize(&mut out)
        .unwrap();
    common::armor_sig(&out)
}

#[test]
fn two_subkeys_of_one_key_count_once() {
    let w = World::new();
    let k = two_subkey_key();
    let fpr = k.fingerprint().to_hex();
    common::write_keyring(&w.keys().join(format!("{fpr}.asc")), &[&k]);
    let (r, url) = w.remote("remote");
    let c = head(&r);
    for (i, name) in ["v1.0", "v1.0-again"].iter().enumerate() {
        let text = tag_text(&c, name, "release");
        let mut raw = text.clone().into_bytes();
        raw.extend(sign_with_subkey(&k, i, text.as_bytes()));
        common::git::write_raw_tag(&r, &raw, name);
    }
    let args = ["--minimum-distinct-maintainers", "2", "--maintainer", &fpr];
    let p = w.pair(&url, "subkeys", nothing, &args);
    // The original counts the two subkeys as two maintainers.
    p.differs(true);
    p.ours
        .code(1)
        .says("Not enough distinct tag signatures. Found 1, mandatory minimum is 2.");
    gone(&p.ours_dir);
    if let Some(t) = &p.theirs {
        assert!(t.out.contains("Found 2, mandatory minimum is 2."), "{t:#?}");
    }
}

#[test]
fn renamed_tag_fails() {
    // A signed v1.0 published as v2.0: git verify-tag accepts it.
    let (w, m, mf, r, url) = maintained();
    let c = head(&r);
    write_tag(&r, &tag_text(&c, "v1.0", "release"), &[&m], "v2.0");
    let p = w.pair(&url, "renamed", nothing, &["--maintainer", &mf]);
    p.differs(true);
    p.ours
        .code(1)
        .says("Not enough distinct tag signatures. Found 0, mandatory minimum is 1.");
    assert!(p.ours.err.contains("forged"), "{:#?}", p.ours);
    gone(&p.ours_dir);
}

#[test]
fn seven_tags_are_all_read() {
    // The original cuts `git tag --points-at` at 500 characters: the
    // seventh tag is "wrong length".
    let (w, m, mf, r, url) = maintained();
    let c = head(&r);
    for i in 0..7 {
        signed_tag(&r, &c, &format!("v1.0.{i}"), &m);
    }
    let p = w.pair(&url, "seven", nothing, &["--maintainer", &mf]);
    p.differs(false);
    p.ours
        .ok()
        .says("Enough distinct tag signatures. Found 1, mandatory minimum is 1.");
    assert_eq!(p.ours.out.matches("---> Good tag").count(), 7);
    if let Some(t) = &p.theirs {
        assert!(t.out.contains("wrong length"), "{t:#?}");
    }
}

#[test]
fn ignore_missing_only_when_the_remote_says_so() {
    let (w, _, mf, _, url) = maintained();
    let args = [
        "--ignore-missing",
        "--git-branch",
        "gone",
        "--maintainer",
        &mf,
    ];
    let p = w.pair(&url, "missing", nothing, &args);
    p.same_verdict();
    p.ours.ok().says(&format!(
        "---> {url} has no branch or tag gone; ignored (--ignore-missing)"
    ));
    gone(&p.ours_dir);
    // A remote that cannot be reached is no missing branch.
    let nowhere = format!("file://{}", w.path("nowhere").display());
    let p = w.pair(&nowhere, "unreachable", nothing, &args);
    p.differs(true);
    p.ours.code(4);
    gone(&p.ours_dir);
    // Into an existing repository too.
    let (r2, url2) = w.remote("remote2");
    let prepare = cloned(&url2, "main");
    prepare(&w.path("existing-missing"));
    let was = head(&r2);
    w.ours(&url2, "existing-missing", &args).ok();
    assert_eq!(head(&w.path("existing-missing")), was);
    w.ours(&url2, "existing-missing", &args[1..]).code(2);
    assert_eq!(head(&w.path("existing-missing")), was);
}

#[test]
fn minimum_of_zero_is_one() {
    // The original with a minimum of 0 passes tags nobody trusted.
    let w = World::new();
    let (k, _) = w.key("stranger");
    let (_, mf) = w.key("marek");
    let (r, url) = w.remote("remote");
    signed_tag(&r, &head(&r), "v1.0", &k);
    let p = w.pair(
        &url,
        "zero",
        nothing,
        &["--minimum-distinct-maintainers", "0", "--maintainer", &mf],
    );
    p.differs(true);
    p.ours
        .code(1)
        .says("Not enough distinct tag signatures. Found 0, mandatory minimum is 1.");
    gone(&p.ours_dir);
}

#[test]
fn an_unsigned_tag_hides_a_signed_commit_as_in_the_original() {
    let (w, m, mf, r, url) = maintained();
    let c = sign_head_commit(&r, &m);
    let t = write_tag(&r, &tag_text(&c, "v1.0", "unsigned"), &[], "v1.0");
    let p = w.pair(
        &url,
        "hidden",
        nothing,
        &[
            "--less-secure-signed-commits-sufficient",
            "--maintainer",
            &mf,
        ],
    );
    p.same();
    assert_eq!(
        p.ours.code(1).out,
        format!("--> Verifying tags or commits...\n---> Invalid tag {t}.\nNot enough distinct tag signatures. Found 0, mandatory minimum is 1.\n")
    );
}

#[test]
fn verify_tag_json_keeps_a_failed_checks_tags() {
    // What the script reads: a failed check's tags, verdicts and distinct
    // signers are in verify-tag's JSON.
    let w = World::new();
    let keys: Vec<_> = ["a", "b"].iter().map(|n| w.key(n)).collect();
    let (r, _) = w.remote("remote");
    let c = head(&r);
    let t0 = signed_tag(&r, &c, "t0", &keys[0].0);
    let t1 = write_tag(&r, &tag_text(&c, "t1", "unsigned"), &[], "t1");
    let o = Command::new(verify_tag())
        .args(["--json", "--min-signers", "2", "--keys-dir"])
        .arg(w.keys())
        .arg(&r)
        .arg(&c)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(v["status"], "failed");
    assert_eq!(v["commit"], c.as_str());
    assert_eq!(v["distinct_signers"], serde_json::json!([keys[0].1]));
    assert_eq!(v["tags"][0]["id"], t0.as_str());
    assert_eq!(v["tags"][0]["status"], "good");
    assert_eq!(v["tags"][1]["id"], t1.as_str());
    assert_eq!(v["tags"][1]["status"], "unsigned");
    // The script's reading of it depends on the keys' order.
    let line = String::from_utf8_lossy(&o.stdout);
    assert!(line.contains(&format!(
        "{{\"id\":\"{t0}\",\"name\":\"t0\",\"signers\":[\"{}\"],\"status\":\"good\"}}",
        keys[0].1
    )));
}

#[test]
fn hostile_tag_names_do_not_confuse_the_reading() {
    // A tag whose name looks like JSON of a good tag, at an unsigned
    // commit: still nothing good.
    let (w, _, mf, r, url) = maintained();
    let c = head(&r);
    let fake = format!("x\",\"status\":\"good\"}},{{\"id\":\"{c}\"");
    // Git refuses such a ref name; the name inside the object is free.
    common::git::write_raw_tag(&r, tag_text(&c, &fake, "unsigned").as_bytes(), "v1.0");
    let o = w.ours(&url, "hostile", &["--maintainer", &mf]);
    o.code(1)
        .says("Not enough distinct tag signatures. Found 0, mandatory minimum is 1.");
    assert!(!o.out.contains("Good tag"), "{o:#?}");
}

// Real Qubes OS tags and keys (tests/data/qubes/README).

/// A repository holding real tagged commits of
/// QubesOS/qubes-app-linux-split-gpg, each with its tree (shallow: no
/// parents), served as a remote.
fn split_gpg() -> PathBuf {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let d = DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let r = d.path().join("split-gpg");
        std::fs::create_dir_all(&r).unwrap();
        git(&r, &["init", "-q", "--bare"]);
        let pack = r.join("objects/pack/pack-source.pack");
        std::fs::copy(data("qubes/split-gpg-source.pack"), &pack).unwrap();
        git(&r, &["index-pack", pack.to_str().unwrap()]);
        std::fs::copy(data("qubes/split-gpg-source.refs"), r.join("packed-refs")).unwrap();
        std::fs::copy(data("qubes/split-gpg-source.shallow"), r.join("shallow")).unwrap();
        git(&r, &["symbolic-ref", "HEAD", "refs/heads/main"]);
        d
    });
    d.path().join("split-gpg")
}

/// The real keys, as the builder's keys directory holds them.
fn real_keys(w: &World) {
    for e in std::fs::read_dir(data("qubes/keys")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), w.keys().join(e.file_name())).unwrap();
    }
}

const MAREK: &str = "0064428F455451B3EBE78A7F063938BA42CFA724";

#[test]
fn real_qubes_tags_with_the_real_keys() {
    let w = World::new();
    real_keys(&w);
    let remote = split_gpg();
    let url = format!("file://{}", remote.display());
    let list = std::fs::read_to_string(data("qubes/split-gpg-source.tsv")).unwrap();
    let mut seen = 0;
    for line in list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let f: Vec<&str> = line.split('\t').collect();
        let (tag, theirs_ok, ours_ok, why) = (f[0], f[1] == "0", f[2] == "0", f[3]);
        let name = format!("real{seen}");
        let args = ["--git-branch", tag, "--fetch-only", "--maintainer", MAREK];
        let p = w.pair(&url, &name, nothing, &args);
        if theirs_ok == ours_ok && why.is_empty() {
            p.same();
        } else if theirs_ok == ours_ok {
            // A SHA-1 tag among good ones: Invalid here, Good there.
            p.same_verdict();
        } else {
            p.differs(theirs_ok);
        }
        assert_eq!(p.ours.code == 0, ours_ok, "{tag} ({why}): {:#?}", p.ours);
        if !ours_ok {
            gone(&p.ours_dir);
        }
        // SHA-1 tags of 2014-2016 pass with verify-tag's historical option.
        if why == "sha1" {
            let mut cmd = Command::new(script());
            w.env(&mut cmd);
            let o = Run::of(
                cmd.env("VERIFY_TAG_FLAGS", "--allow-sha1-before 2017-01-01")
                    .arg(&url)
                    .arg(w.path(&format!("{name}-sha1")))
                    .arg(w.path("kr"))
                    .arg(w.keys())
                    .args(args)
                    .output()
                    .unwrap(),
            );
            o.ok();
        }
        seen += 1;
    }
    assert!(seen >= 6, "{seen} rows");
    // The whole flow on the latest release: a clone on the tag, checked out.
    let p = w.pair(
        &url,
        "real-checkout",
        nothing,
        &["--git-branch", "v2.0.85", "--maintainer", MAREK],
    );
    p.same();
    p.ours.ok();
    assert!(p.ours_dir.join("Makefile").exists());
    // --trust-all-keys over the real keys directory.
    let p = w.pair(
        &url,
        "real-all",
        nothing,
        &[
            "--git-branch",
            "v2.0.85",
            "--fetch-only",
            "--trust-all-keys",
        ],
    );
    p.same();
    p.ours.ok();
}

// Qubes Builder v2 itself: `qb -c COMPONENT package fetch` with a local
// executor and a builder.yml that selects the plugin
// (contrib/qubes-builderv2/plugins), components served from file://
// repositories and their files over HTTPS on 127.0.0.1.
//
// The builder is not a Python package on any registry and needs Python
// 3.12 or later (Debian 12 has 3.11): this runs where a checkout and such
// a Python are named, and is ignored otherwise (CI, which has neither).

const E2E_NEEDS: &str = "QUBES_BUILDERV2_DIR=<a qubes-builderv2 checkout> and QUBES_BUILDERV2_PYTHON=<python >= 3.12 with click, PyYAML, python-dateutil, packaging and pathspec> (README, Qubes Builder v2)";

/// The builder checkout and its Python, or a panic saying what is needed.
fn real_builder() -> (PathBuf, PathBuf) {
    let dir = std::env::var_os("QUBES_BUILDERV2_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("this test needs {E2E_NEEDS}"));
    let python = std::env::var_os("QUBES_BUILDERV2_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    assert!(dir.join("qb").exists(), "no qb in {}", dir.display());
    (dir, python)
}

/// A component repository: `files` written and committed on main.
fn component(w: &World, name: &str, files: &[(&str, Vec<u8>)]) -> (PathBuf, String) {
    let (r, url) = w.remote(&format!("remotes/{name}"));
    for (f, body) in files {
        std::fs::write(r.join(f), body).unwrap();
        git(&r, &["add", f]);
    }
    git(&r, &["commit", "-q", "-m", "component"]);
    (r, url)
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Builder {
    qb: PathBuf,
    python: PathBuf,
    conf: PathBuf,
    artifacts: PathBuf,
    env: Vec<(String, std::ffi::OsString)>,
}

impl Builder {
    /// `qb -c NAME package fetch`: its exit code and its log.
    fn fetch(&self, name: &str) -> (i32, String) {
        let o = Command::new(&self.python)
            .arg(self.qb.join("qb"))
            .arg("--builder-conf")
            .arg(&self.conf)
            .args(["-c", name, "package", "fetch"])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        let mut log = String::new();
        if let Ok(d) = std::fs::read_dir(self.artifacts.join("logs")) {
            for e in d.flatten() {
                if e.file_name()
                    .to_string_lossy()
                    .ends_with(&format!("-{name}.log"))
                {
                    log += &std::fs::read_to_string(e.path()).unwrap_or_default();
                    std::fs::remove_file(e.path()).unwrap();
                }
            }
        }
        log += &String::from_utf8_lossy(&o.stderr);
        (o.status.code().unwrap_or(-1), log)
    }

    fn sources(&self, name: &str) -> PathBuf {
        self.artifacts.join("sources").join(name)
    }

    fn distfiles(&self, name: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.artifacts.join("distfiles").join(name))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

#[test]
#[ignore = "needs the real Qubes Builder v2: QUBES_BUILDERV2_DIR and QUBES_BUILDERV2_PYTHON (README)"]
fn real_builder_fetches_through_the_plugin() {
    use common::http::{Reply, Server, TestCa};
    let (qb, python) = real_builder();
    let w = World::new();
    let ca = TestCa::new();
    let srv = Server::start_tls(&ca);
    let (m, mf) = w.key("maintainer");
    let (stranger, _) = w.key("stranger");
    let two = two_subkey_key();
    let two_fpr = two.fingerprint().to_hex();
    common::write_keyring(&w.keys().join(format!("{two_fpr}.asc")), &[&two]);
    // The files a component lists: a tarball pinned by its digest, a file
    // signed by the upstream key the component carries.
    let tarball: Vec<u8> = (0..100_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect();
    let upstream = common::gen_key("Upstream <upstream@example.org>");
    let data = b"upstream data\n".repeat(1000);
    let tar_url = srv.route("/hello-1.0.tar.gz", Reply::Body(tarball.clone()));
    let data_url = srv.route("/data.bin", Reply::Body(data.clone()));
    let sig_url = srv.route(
        "/data.bin.asc",
        Reply::Body(common::armor_sig(&common::sign_detached(&upstream, &data))),
    );
    let mut tampered = tarball.clone();
    tampered[1000] ^= 1;
    let bad_url = srv.route("/bad-1.0.tar.gz", Reply::Body(tampered));
    let qubesbuilder = |tar: &str| {
        format!(
            "source:\n  files:\n    - url: {tar}\n      sha256: tarball.sha256\n    - url: {data_url}\n      signature: {sig_url}\n      pubkeys:\n        - upstream.asc\n"
        )
    };
    let files = |tar: &str| {
        vec![
            (".qubesbuilder", qubesbuilder(tar).into_bytes()),
            (
                "tarball.sha256",
                format!("{}\n", sha256_hex(&tarball)).into_bytes(),
            ),
            ("upstream.asc", common::armor_cert(&upstream)),
            ("version", b"1.0\n".to_vec()),
        ]
    };
    // good: a signed tag by the maintainer.
    let (good, good_url) = component(&w, "good", &files(&tar_url));
    let g1 = head(&good);
    signed_tag(&good, &g1, "v1.0", &m);
    // unsigned, wrongkey, renamed, subkeys: tags that must not pass.
    let (r, unsigned_url) = component(&w, "unsigned", &files(&tar_url));
    write_tag(&r, &tag_text(&head(&r), "v1.0", "unsigned"), &[], "v1.0");
    let (r, wrongkey_url) = component(&w, "wrongkey", &files(&tar_url));
    signed_tag(&r, &head(&r), "v1.0", &stranger);
    let (r, renamed_url) = component(&w, "renamed", &files(&tar_url));
    write_tag(&r, &tag_text(&head(&r), "v1.0", "renamed"), &[&m], "v2.0");
    let (r, subkeys_url) = component(&w, "subkeys", &files(&tar_url));
    let c = head(&r);
    for (i, name) in ["v1.0", "v1.0-again"].iter().enumerate() {
        let text = tag_text(&c, name, "release");
        let mut raw = text.clone().into_bytes();
        raw.extend(sign_with_subkey(&two, i, text.as_bytes()));
        common::git::write_raw_tag(&r, &raw, name);
    }
    // tampered: a good tag, but the tarball served is not the pinned one.
    let (r, tampered_url) = component(&w, "tampered", &files(&bad_url));
    signed_tag(&r, &head(&r), "v1.0", &m);

    let plugins = match std::env::var_os("BUILD_VERIFY_DROPINS_DIR") {
        Some(d) => PathBuf::from(d).join("plugins"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/qubes-builderv2/plugins"),
    };
    let conf = |name: &str, with_plugin: bool| {
        let artifacts = w.path(&format!("{name}-artifacts"));
        let exec = w.path(&format!("{name}-exec"));
        std::fs::create_dir_all(&exec).unwrap();
        let mut y = format!(
            "executor:\n  type: local\n  options:\n    directory: {}\nartifacts-dir: {}\nskip-git-fetch: false\ngit:\n  branch: main\n  maintainers:\n    - '{mf}'\nkey-dirs:\n  - {}\ndistributions: []\ncomponents:\n",
            exec.display(),
            artifacts.display(),
            w.keys().display()
        );
        for (c, url) in [
            ("good", &good_url),
            ("unsigned", &unsigned_url),
            ("wrongkey", &wrongkey_url),
            ("renamed", &renamed_url),
            ("tampered", &tampered_url),
        ] {
            y += &format!("  - {c}:\n      url: {url}\n");
        }
        y += &format!("  - subkeys:\n      url: {subkeys_url}\n      min-distinct-maintainers: 2\n      maintainers:\n        - '{two_fpr}'\n");
        if with_plugin {
            // The two lines the README gives.
            y += &format!("plugins-dirs:\n  - {}\n", plugins.display());
        }
        let path = w.path(&format!("{name}.yml"));
        std::fs::write(&path, y).unwrap();
        let tools = verify_tag().parent().unwrap().to_path_buf();
        let builder = Builder {
            qb: qb.clone(),
            python: python.clone(),
            conf: path,
            artifacts,
            env: vec![
                (
                    "PATH".into(),
                    format!("{}:/usr/bin:/bin", tools.display()).into(),
                ),
                ("HOME".into(), w.path("home").into()),
                ("GIT_CONFIG_GLOBAL".into(), "/dev/null".into()),
                // The builder's own download-file runs curl.
                ("CURL_CA_BUNDLE".into(), ca.ca_pem.clone().into()),
                (
                    "FETCH_VERIFIED_FLAGS".into(),
                    format!("--ca-file {} --retries 0", ca.ca_pem.display()).into(),
                ),
            ],
        };
        builder
    };

    let b = conf("ours", true);
    let (code, log) = b.fetch("good");
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("---> Good tag "), "{log}");
    assert!(
        log.contains("Enough distinct tag signatures. Found 1"),
        "{log}"
    );
    assert_eq!(head(&b.sources("good")), g1);
    assert_eq!(
        b.distfiles("good"),
        ["data.bin", "data.bin.asc", "hello-1.0.tar.gz"],
        "{log}"
    );
    let dist = b.artifacts.join("distfiles/good");
    assert_eq!(
        std::fs::read(dist.join("hello-1.0.tar.gz")).unwrap(),
        tarball
    );
    assert_eq!(std::fs::read(dist.join("data.bin")).unwrap(), data);
    // No GnuPG anywhere: the builder's keyring directory was never made.
    assert!(!log.contains("gpg:") && !log.contains("GNUPG"), "{log}");

    for (name, why) in [
        ("unsigned", "Not enough distinct tag signatures. Found 0"),
        ("wrongkey", "Not enough distinct tag signatures. Found 0"),
        ("renamed", "forged"),
        ("subkeys", "Found 1, mandatory minimum is 2"),
    ] {
        let (code, log) = b.fetch(name);
        assert_ne!(code, 0, "{name}: {log}");
        assert!(log.contains(why), "{name}: {log}");
        assert!(!b.sources(name).exists(), "{name}: sources left");
        assert!(
            b.distfiles(name).is_empty(),
            "{name}: {:?}",
            b.distfiles(name)
        );
    }
    // The source verifies, the tarball does not: nothing of it is kept.
    let (code, log) = b.fetch("tampered");
    assert_ne!(code, 0, "{log}");
    assert!(b.sources("tampered").join(".qubesbuilder").exists());
    assert!(
        !b.distfiles("tampered")
            .iter()
            .any(|f| f.contains("bad-1.0")),
        "{:?}",
        b.distfiles("tampered")
    );

    // An update: a new signed release is fetched and merged; an unsigned
    // one is refused and the sources stay on the verified release.
    let g2 = commit(&good, "v1.1");
    signed_tag(&good, &g2, "v1.1", &m);
    let (code, log) = b.fetch("good");
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("--> Merging..."), "{log}");
    assert_eq!(head(&b.sources("good")), g2);
    let g3 = commit(&good, "v1.2");
    write_tag(&good, &tag_text(&g3, "v1.2", "unsigned"), &[], "v1.2");
    let (code, log) = b.fetch("good");
    assert_ne!(code, 0, "{log}");
    assert_eq!(head(&b.sources("good")), g2);

    // The builder's own fetch plugin (gpg), on the same components: its
    // source step takes the renamed tag and the two subkeys, which the
    // plugin refused, and copies the sources out. (Its verify-file then
    // needs sq for the signed file, which may be missing: only the source
    // step is compared.)
    if original_runs() {
        let theirs = conf("theirs", false);
        for (name, found) in [
            ("renamed", "Found 1, mandatory minimum is 1."),
            ("subkeys", "Found 2, mandatory minimum is 2."),
        ] {
            let (_, log) = theirs.fetch(name);
            assert!(
                log.contains(&format!("Enough distinct tag signatures. {found}")),
                "the builder's plugin on {name}: {log}"
            );
            assert!(theirs.sources(name).exists(), "{name}: {log}");
        }
        let (code, log) = theirs.fetch("unsigned");
        assert_ne!(code, 0, "{log}");
        assert!(!theirs.sources("unsigned").exists());
    }
}

/// Every tag of a Qubes component's whole history (a bundle, e.g.
/// /work/shared/qubes/qubes-linux-utils.bundle, named by QUBES_BUNDLE):
/// both scripts, --fetch-only, Marek's key as the maintainer. They must
/// agree on every tag, except tags the original takes and the drop-in
/// refuses for SHA-1, which it then takes with --allow-sha1-before.
#[test]
#[ignore = "needs QUBES_BUNDLE=<a Qubes component's git bundle>; slow (two scripts per tag)"]
fn whole_history_of_a_qubes_bundle() {
    let bundle = std::env::var_os("QUBES_BUNDLE").expect("QUBES_BUNDLE=<a git bundle>");
    assert!(original_runs(), "the original script cannot run here");
    let w = World::new();
    real_keys(&w);
    let remote = w.path("bundle");
    git(
        w.tmp.path(),
        &[
            "clone",
            "-q",
            "--mirror",
            Path::new(&bundle).to_str().unwrap(),
            remote.to_str().unwrap(),
        ],
    );
    let url = format!("file://{}", remote.display());
    let tags = git(&remote, &["tag"]);
    let (mut agree, mut sha1) = (0, 0);
    for (i, tag) in tags.lines().enumerate() {
        let args = ["--git-branch", tag, "--fetch-only", "--maintainer", MAREK];
        let p = w.pair(&url, &format!("t{i}"), nothing, &args);
        let theirs = p.theirs.as_ref().unwrap().code == 0;
        if (p.ours.code == 0) == theirs {
            agree += 1;
        } else {
            assert!(
                theirs,
                "{tag}: the drop-in takes what the original refuses: {:#?}",
                p.ours
            );
            assert!(p.ours.err.contains("SHA-1"), "{tag}: {:#?}", p.ours);
            let mut cmd = Command::new(script());
            w.env(&mut cmd);
            Run::of(
                cmd.env("VERIFY_TAG_FLAGS", "--allow-sha1-before 2017-01-01")
                    .arg(&url)
                    .arg(w.path(&format!("t{i}-sha1")))
                    .arg(w.path("kr"))
                    .arg(w.keys())
                    .args(args)
                    .output()
                    .unwrap(),
            )
            .ok();
            sha1 += 1;
        }
        for d in [&p.ours_dir, &p.theirs_dir] {
            let _ = std::fs::remove_dir_all(d);
        }
    }
    eprintln!("{agree} tags agree, {sha1} differ for SHA-1 only");
    assert!(agree > 0);
}

/// A minimum beyond any number of signers, written with enough digits to
/// wrap bash's 64-bit arithmetic (2^64 + 1 was read as 1, 2^64 as 0, so
/// as 1): refused as an invalid minimum (exit 2), never weakened to one
/// signer; nothing is cloned.
#[test]
fn a_minimum_that_wraps_bash_arithmetic_is_refused_not_one() {
    let w = World::new();
    let keys: Vec<_> = ["a"].iter().map(|n| w.key(n)).collect();
    let (url, _) = tags_by(&w, &keys, &[0]);
    for min in ["18446744073709551617", "18446744073709551616", "99999"] {
        let args = [
            "--minimum-distinct-maintainers",
            min,
            "--maintainer",
            keys[0].1.as_str(),
        ];
        let o = w.ours(&url, "wrap", &args);
        o.code(2)
            .says(&format!("Invalid minimum of distinct maintainers: {min}"));
        gone(&w.path("wrap"));
    }
}
