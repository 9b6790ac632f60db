//! The packaging: `make install` copies what was built (and never builds),
//! `make uninstall` removes all of it, the completions it installs work in
//! bash, and the packaging files agree with each other and with Qubes
//! Builder v2's documented `.qubesbuilder` keys. The package builds
//! themselves (dpkg-buildpackage, rpmbuild, lintian, the installed .deb)
//! are .ci/packages.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn top() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(top().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn version() -> String {
    read("version").trim().to_string()
}

/// The tools, as the Makefile finds them: every src/bin/NAME.rs.
fn tools() -> Vec<String> {
    let mut t: Vec<String> = std::fs::read_dir(top().join("src/bin"))
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let n = e.file_name().to_string_lossy().into_owned();
            // src/bin/NAME.rs, or src/bin/NAME/main.rs (a binary of
            // several files; src/bin/common is a module, not a binary).
            match n.strip_suffix(".rs") {
                Some(t) => Some(t.to_string()),
                None => e.path().join("main.rs").is_file().then_some(n),
            }
        })
        .collect();
    t.sort();
    t
}

/// Where cargo put this build's binaries (target/debug).
fn built_bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

fn make(args: &[&str], envs: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new("make");
    cmd.arg("--no-print-directory")
        .arg("-C")
        .arg(top())
        .args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Every file and symlink under `root`, relative to it.
fn files_under(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out
}

fn names_in(dir: &str, pred: impl Fn(&str) -> bool) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(top().join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| pred(n))
        .collect();
    v.sort();
    v
}

/// A target directory as `make` leaves it (release binaries, docs), made
/// from this build's binaries so that the test needs no release build.
fn fake_built_tree(target: &Path) {
    let release = target.join("release");
    std::fs::create_dir_all(&release).unwrap();
    for t in tools() {
        std::fs::copy(built_bin_dir().join(&t), release.join(&t)).unwrap();
        let o = Command::new(release.join(&t))
            .env("BUILD_VERIFY_GEN_DOCS", target.join("docs"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{t}: {o:?}");
    }
}

#[test]
fn install_copies_what_make_built_and_uninstall_removes_it_all() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("target");
    let dest = tmp.path().join("dest");
    // Any cargo run by install would leave this marker.
    let marker = tmp.path().join("cargo-ran");
    let cargo = tmp.path().join("cargo");
    std::fs::write(
        &cargo,
        format!("#!/bin/sh\ntouch '{}'\nexit 1\n", marker.display()),
    )
    .unwrap();
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let destdir = format!("DESTDIR={}", dest.display());
    let vars = ["PREFIX=/usr", destdir.as_str()];
    let envs = [
        ("CARGO_TARGET_DIR", target.as_path()),
        ("CARGO", cargo.as_path()),
    ];

    // Nothing built: a clear failure, nothing installed, no cargo.
    let o = make(&[&["install"][..], &vars].concat(), &envs);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not built") && err.contains("run 'make' first"),
        "{err}"
    );
    assert!(files_under(&dest).is_empty());
    assert!(!marker.exists(), "make install ran cargo");

    fake_built_tree(&target);
    // Somebody else's files in the same tree, which uninstall must keep.
    for other in ["usr/bin/other-tool", "usr/share/man/man1/other-tool.1"] {
        let p = dest.join(other);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "not ours").unwrap();
    }
    let o = make(&[&["install"][..], &vars].concat(), &envs);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!marker.exists(), "make install ran cargo");

    let mut want = BTreeSet::new();
    let mut add = |p: String| {
        want.insert(p);
    };
    for t in tools() {
        add(format!("usr/bin/{t}"));
        add(format!("usr/share/bash-completion/completions/{t}"));
        add(format!("usr/share/zsh/site-functions/_{t}"));
        add(format!("usr/share/fish/vendor_completions.d/{t}.fish"));
    }
    for m in std::fs::read_dir(target.join("docs/man1")).unwrap() {
        let n = m.unwrap().file_name().to_string_lossy().into_owned();
        add(format!("usr/share/man/man1/{n}"));
    }
    for mk in names_in("make", |n| n.ends_with(".mk")) {
        add(format!("usr/share/build-verify/make/{mk}"));
    }
    for s in names_in("contrib/qubes", |n| n.starts_with("qubes.")) {
        add(format!("usr/lib/build-verify/{s}"));
    }
    for p in names_in("contrib/qubes", |n| n.ends_with(".policy")) {
        add(format!("usr/share/build-verify/qubes/{p}"));
    }
    add("usr/lib/build-verify/verify-git-tag".into());
    for s in ["download-file", "verify-file", "get-and-verify-source.py"] {
        add(format!("usr/lib/build-verify/qubes-builderv2/{s}"));
    }
    // The plugin builder.yml's plugins-dirs names (a module, not run).
    let plugin = "usr/lib/build-verify/qubes-builderv2/plugins/build_verify/__init__.py";
    add(plugin.into());
    // The paths the documentation names.
    for named in [
        "usr/lib/build-verify/qubes.AppendLog",
        "usr/share/build-verify/qubes/30-build-logs.policy",
        "usr/share/build-verify/make/build-verify.mk",
    ] {
        assert!(want.contains(named), "{named}");
    }
    let mut got = files_under(&dest);
    got.remove("usr/bin/other-tool");
    got.remove("usr/share/man/man1/other-tool.1");
    assert_eq!(got, want);
    for f in &want {
        let mode = std::fs::metadata(dest.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        let exec =
            f.starts_with("usr/bin/") || (f.starts_with("usr/lib/build-verify/") && f != plugin);
        assert_eq!(mode, if exec { 0o755 } else { 0o644 }, "{f}");
    }
    completions_work_in_bash(&dest);

    let o = make(&[&["uninstall"][..], &vars].concat(), &envs);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        files_under(&dest),
        ["usr/bin/other-tool", "usr/share/man/man1/other-tool.1"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    assert!(!dest.join("usr/lib/build-verify").exists());
    assert!(!dest.join("usr/share/build-verify").exists());
}

/// The installed bash completions load, register for their tool and
/// complete its options (and sign-log's subcommands).
fn completions_work_in_bash(dest: &Path) {
    for t in tools() {
        let file = dest.join("usr/share/bash-completion/completions").join(&t);
        let words = if t == "sign-log" { "\"\"" } else { "--" };
        let script = format!(
            r#"source "$1" || exit 10
spec=$(complete -p "$2") || exit 11
fn=$(printf '%s\n' "$spec" | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
[ -n "$fn" ] || exit 12
COMP_WORDS=("$2" {words}); COMP_CWORD=1; COMP_LINE="$2 "; COMP_POINT=${{#COMP_LINE}}
"$fn" "$2" "${{COMP_WORDS[1]}}" "$2"
printf '%s\n' "${{COMPREPLY[@]}}""#
        );
        let o = Command::new("bash")
            .arg("-c")
            .arg(script)
            .arg("bash")
            .arg(&file)
            .arg(&t)
            .output()
            .unwrap();
        assert!(o.status.success(), "{t}: {o:?}");
        let got: BTreeSet<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(String::from)
            .collect();
        let want: &[&str] = if t == "sign-log" {
            &["receive", "seal", "verify", "hash", "help"]
        } else {
            &["--help", "--version", "--json"]
        };
        for w in want {
            assert!(got.contains(*w), "{t}: {w} not completed: {got:?}");
        }
    }
}

#[test]
fn versions_agree_across_the_packaging() {
    let v = version();
    let rel = read("rel").trim().to_string();
    let cargo = read("Cargo.toml");
    assert!(
        cargo.contains(&format!("\nversion = \"{v}\"\n")),
        "Cargo.toml is not {v}"
    );
    let changelog = read("debian/changelog");
    let first = changelog.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("build-verify ({v}-{rel}) ")),
        "debian/changelog: {first}"
    );
    let spec = read("rpm_spec/build-verify.spec.in");
    assert!(spec.contains("\nVersion:        @VERSION@\n"));
    assert!(spec.contains("\nRelease:        @REL@%{?dist}\n"));
    assert!(
        spec.contains(&format!("- {v}-{rel}\n")),
        "the spec's %changelog has no {v}-{rel}"
    );
    // The Rust version the packaging documents is Cargo.toml's.
    let rust = cargo
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|r| r.strip_suffix('"'))
        .unwrap();
    for f in [
        "rpm_spec/build-verify.spec.in",
        "debian/control",
        "debian/rules",
        "debian/README.source",
    ] {
        assert!(
            read(f).contains(&format!("Rust {rust}")) || read(f).contains(&format!(">= {rust}")),
            "{f}"
        );
    }
    // Debian's rustc is too old: the toolchain is a documented requirement,
    // not a build dependency that would pull it in.
    let control = read("debian/control");
    let bd = control.split("Build-Depends:").nth(1).unwrap();
    let bd = bd.split("\nStandards-Version").next().unwrap();
    for no in ["cargo", "rustc", "dh-cargo"] {
        assert!(!bd.contains(no), "Build-Depends names {no}");
    }
}

#[test]
fn rpm_license_names_every_license_of_the_linked_crates() {
    let spec = read("rpm_spec/build-verify.spec.in");
    let license = spec
        .lines()
        .find_map(|l| l.strip_prefix("License:"))
        .unwrap();
    let ids = |s: &str| -> BTreeSet<String> {
        s.split(|c: char| c.is_whitespace() || "()/".contains(c))
            .filter(|w| !w.is_empty() && !["AND", "OR", "WITH", "*"].contains(w))
            .map(String::from)
            .collect()
    };
    let o = Command::new(option_env!("CARGO").unwrap_or("cargo"))
        .args([
            "tree",
            "--offline",
            "--locked",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        // The host's crates: the packages build for Linux only (other
        // targets' crates may not even be downloaded here).
        .args(["--format", "{l}", "--manifest-path"])
        .arg(top().join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let used = ids(&String::from_utf8_lossy(&o.stdout));
    let declared = ids(license);
    let missing: Vec<_> = used.difference(&declared).collect();
    assert!(missing.is_empty(), "the spec's License lacks {missing:?}");
}

/// The YAML that `.qubesbuilder` files use: block mappings, block
/// sequences of scalars or mappings, `[]`, comments. Anything else fails.
#[derive(Debug)]
enum Y {
    Map(Vec<(String, Y)>),
    List(Vec<Y>),
    Str(String),
}

struct Line {
    indent: usize,
    text: String,
}

fn yaml(src: &str) -> Y {
    let mut ls: Vec<Line> = src
        .lines()
        .filter_map(|l| {
            let t = l.trim_end();
            let body = t.trim_start();
            (!body.is_empty() && !body.starts_with('#')).then(|| Line {
                indent: t.len() - body.len(),
                text: body.to_string(),
            })
        })
        .collect();
    let mut i = 0;
    let y = block(&mut ls, &mut i, 0);
    assert_eq!(
        i,
        ls.len(),
        "unparsed from line {:?}",
        ls.get(i).map(|l| &l.text)
    );
    y
}

fn block(ls: &mut [Line], i: &mut usize, indent: usize) -> Y {
    if ls[*i].text.starts_with("- ") {
        let mut items = Vec::new();
        while *i < ls.len() && ls[*i].indent == indent && ls[*i].text.starts_with("- ") {
            let rest = ls[*i].text[2..].to_string();
            let inline_map = rest
                .split_once(':')
                .is_some_and(|(k, v)| !k.contains(' ') && (v.is_empty() || v.starts_with(' ')));
            if inline_map {
                ls[*i] = Line {
                    indent: indent + 2,
                    text: rest,
                };
                items.push(block(ls, i, indent + 2));
            } else {
                items.push(Y::Str(rest));
                *i += 1;
            }
        }
        return Y::List(items);
    }
    let mut entries = Vec::new();
    while *i < ls.len() && ls[*i].indent == indent && !ls[*i].text.starts_with("- ") {
        let (k, v) = ls[*i].text.split_once(':').expect("key: value");
        let (k, v) = (k.to_string(), v.trim().to_string());
        *i += 1;
        let value = if v == "[]" {
            Y::List(Vec::new())
        } else if !v.is_empty() {
            Y::Str(v)
        } else if *i < ls.len()
            && (ls[*i].indent > indent || ls[*i].indent == indent && ls[*i].text.starts_with("- "))
        {
            let ind = ls[*i].indent;
            block(ls, i, ind)
        } else {
            Y::Str(String::new())
        };
        entries.push((k, value));
    }
    assert!(
        *i == ls.len() || ls[*i].indent < indent,
        "bad indentation at {:?}",
        ls[*i].text
    );
    Y::Map(entries)
}

fn map(y: &Y) -> &[(String, Y)] {
    match y {
        Y::Map(m) => m,
        other => panic!("not a mapping: {other:?}"),
    }
}

fn strings(y: &Y) -> Vec<&str> {
    match y {
        Y::List(l) => l
            .iter()
            .map(|i| match i {
                Y::Str(s) => s.as_str(),
                other => panic!("not a string: {other:?}"),
            })
            .collect(),
        other => panic!("not a list: {other:?}"),
    }
}

/// Qubes Builder v2's README, section ".qubesbuilder": the plugin entry
/// points, the keys under `source`, the keys of a `files` entry.
const ENTRY_POINTS: &[&str] = &["rpm", "deb", "archlinux", "windows", "source", "build"];
const SOURCE_KEYS: &[&str] = &["files", "modules", "commands", "create-archive"];
const FILE_KEYS: &[&str] = &[
    "url",
    "sha256",
    "sha512",
    "signature",
    "uncompress",
    "pubkeys",
    "git-url",
    "tag",
    "commit-id",
    "git-basename",
];

/// What the entry points of a `.qubesbuilder` ask for.
#[derive(Default)]
struct Component {
    /// (entry point, build path)
    builds: Vec<(String, String)>,
    /// (url, checksum file) of each `files` entry, placeholders replaced.
    pinned: Vec<(String, String)>,
}

fn entry_point(ep: &str, body: &Y, subst: &dyn Fn(&str) -> String, c: &mut Component) {
    assert!(ENTRY_POINTS.contains(&ep), "unknown entry point {ep}");
    if ep != "source" {
        for (bk, list) in map(body) {
            assert_eq!(bk, "build", "{ep}.{bk}");
            for b in strings(list) {
                c.builds.push((ep.to_string(), b.to_string()));
            }
        }
        return;
    }
    for (sk, sv) in map(body) {
        assert!(SOURCE_KEYS.contains(&sk.as_str()), "source.{sk}");
        if sk != "files" {
            continue;
        }
        let Y::List(files) = sv else {
            panic!("source.files is not a list")
        };
        for f in files {
            let f = map(f);
            for (key, _) in f {
                assert!(FILE_KEYS.contains(&key.as_str()), "files: {key}");
            }
            let get = |key: &str| {
                f.iter().find(|(k, _)| k == key).map(|(_, v)| match v {
                    Y::Str(s) => subst(s),
                    other => panic!("{key}: {other:?}"),
                })
            };
            let url = get("url").expect("a url entry");
            assert!(url.starts_with("https://"), "{url}");
            let sum = get("sha256")
                .or_else(|| get("sha512"))
                .expect("the source pinned by hash");
            c.pinned.push((url, sum));
        }
    }
}

#[test]
fn qubesbuilder_uses_only_documented_keys_and_pins_the_dist_tarball() {
    let v = version();
    let rel = read("rel").trim().to_string();
    let subst = |s: &str| s.replace("@VERSION@", &v).replace("@REL@", &rel);
    let mut c = Component::default();
    for (k, val) in map(&yaml(&read(".qubesbuilder"))) {
        if ENTRY_POINTS.contains(&k.as_str()) {
            entry_point(k, val, &subst, &mut c);
            continue;
        }
        // A package set, or a package set and a distribution (vm-bookworm).
        let set = k.split('-').next().unwrap_or_default();
        assert!(["host", "vm"].contains(&set), "top-level key {k}");
        for (ep, body) in map(val) {
            entry_point(ep, body, &subst, &mut c);
        }
    }
    for (ep, b) in &c.builds {
        match ep.as_str() {
            // Qubes renders NAME.spec from NAME.spec.in.
            "rpm" => assert!(top().join(format!("{b}.in")).is_file(), "{b}.in"),
            "deb" => {
                for f in ["control", "rules", "changelog", "source/format"] {
                    assert!(top().join(b).join(f).is_file(), "{b}/{f}");
                }
            }
            other => panic!("no {other} packaging here"),
        }
    }
    let kinds: BTreeSet<&str> = c.builds.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(kinds, ["deb", "rpm"].into_iter().collect());
    // The one source: the make dist tarball, the spec's Source0 and the
    // deb's orig tarball, pinned by the bare digest `make qubes-pin` writes.
    let name = format!("build-verify-{v}.tar.xz");
    assert_eq!(c.pinned.len(), 1, "{:?}", c.pinned);
    let (url, sum) = &c.pinned[0];
    assert!(url.ends_with(&format!("/{name}")), "{url}");
    assert_eq!(sum, &format!("{name}.sha256"));
    let digest = read(sum);
    let digest = digest.strip_suffix('\n').unwrap_or(&digest);
    assert!(
        digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
        "{sum} must hold a bare SHA-256: {digest:?}"
    );
    let spec = read("rpm_spec/build-verify.spec.in");
    assert!(spec.contains("\nName:           build-verify\n"));
    assert!(spec.contains("\nSource0:        %{name}-%{version}.tar.xz\n"));
    // The tarball must not hold its own pin.
    assert!(read(".gitattributes").contains("/build-verify-*.tar.xz.sha256 export-ignore"));
}
