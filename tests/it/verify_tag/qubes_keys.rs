//! verify-tag's trust roots on real data: Qubes OS' qubes-developers-keys.asc
//! (from QubesOS/qubes-builder), whose root, the Qubes Master Signing Key,
//! certified the developers' signing keys with SHA-1 certifications in
//! 2010-2014 and revoked one certification in 2014. GnuPG with the root's
//! ultimate ownertrust (the old script's setup) is the oracle.

use crate::common;

use build_verify::openpgp::{
    parse_fingerprint, BuildPolicy, Fingerprint, Keyring, Sha1Rules, Trust,
};
use common::git::*;
use common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_verify-tag");
const ROOT: &str = "427F11FD0FAA4B080123F01CDDFA1A3E36879494";
/// Developers' keys the root certified (2013-2014), still unexpired.
const CERTIFIED: [&str; 3] = [
    "9AB3241224446FA555AF73237397C8B034898310",
    "0064428F455451B3EBE78A7F063938BA42CFA724",
    "DF9E7E80EB28C2FE4932B45570483D0A15CE40BF",
];
/// Certified in July 2014, certification revoked by the root in November
/// 2014 ("Old key, no longer in use for code signing").
const REVOKED_CERTIFICATION: &str = "7F04483184C1E11D959C03565BA92D6DAF975A7D";

fn qubes_keys() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/qubes/qubes-developers-keys-2015.asc")
}

fn fpr(s: &str) -> Fingerprint {
    parse_fingerprint(s).unwrap()
}

fn trust() -> (Keyring, Trust) {
    let ring = Keyring::load(&[qubes_keys()], &[]).unwrap();
    let t = Trust::from_roots(&ring, &[fpr(ROOT)], &[], &BuildPolicy::default()).unwrap();
    (ring, t)
}

#[test]
fn root_certifies_the_developers_keys() {
    let (ring, t) = trust();
    assert_eq!(ring.len(), 12);
    assert!(t.is_trusted(&fpr(ROOT)));
    for dev in CERTIFIED {
        assert!(t.is_trusted(&fpr(dev)), "{dev} is certified by the root");
    }
    assert!(
        !t.is_trusted(&fpr(REVOKED_CERTIFICATION)),
        "the root revoked its certification"
    );
}

#[test]
fn sha1_certifications_count_only_when_allowed() {
    // Every self-signature and certification in the file is SHA-1: with them
    // rejected (the documented option of DESIGN.md §3) the root itself is not
    // a valid key, which is a configuration error, not an empty trust set.
    let ring = Keyring::load(&[qubes_keys()], &[]).unwrap();
    let e = Trust::from_roots(
        &ring,
        &[fpr(ROOT)],
        &[],
        &BuildPolicy::new(Sha1Rules::strict()),
    )
    .unwrap_err();
    assert_eq!(
        build_verify::exit::code_of(&e),
        build_verify::exit::Code::Usage
    );
    let o = Command::new(BIN)
        .args(["--reject-sha1-certifications", "--keyring"])
        .arg(qubes_keys())
        .args(["--trust-root", ROOT, "."])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
}

#[test]
fn gnupg_computes_the_same_validity() {
    if !have("gpg") {
        eprintln!("gpg not installed: oracle skipped");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let gpg = |args: &[&str], stdin: Option<&str>| {
        let mut c = Command::new("gpg");
        c.arg("--batch")
            .arg("--quiet")
            .args(args)
            .env("GNUPGHOME", home.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        let mut child = c.spawn().unwrap();
        if let Some(s) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        }
        drop(child.stdin.take());
        let o = child.wait_with_output().unwrap();
        String::from_utf8(o.stdout).unwrap()
    };
    gpg(&["--import", qubes_keys().to_str().unwrap()], None);
    gpg(&["--import-ownertrust"], Some(&format!("{ROOT}:6:\n")));
    gpg(&["--check-trustdb"], None);
    // Full or ultimate validity, as the old script required.
    let mut valid = BTreeSet::new();
    let mut validity = String::new();
    for line in gpg(&["--with-colons", "--list-keys"], None).lines() {
        let f: Vec<&str> = line.split(':').collect();
        match f.first() {
            Some(&"pub") => validity = f.get(1).unwrap_or(&"").to_string(),
            Some(&"fpr") if !validity.is_empty() => {
                if validity == "f" || validity == "u" {
                    valid.insert(f.get(9).unwrap().to_string());
                }
                validity.clear();
            }
            _ => {}
        }
    }
    assert!(valid.contains(ROOT), "{valid:?}");
    // Ours also trusts certified keys that have since expired (a signature
    // they made while valid still passes); gpg calls those expired.
    let (ring, t) = trust();
    // Alive under our policy: these self-signatures are SHA-1 too.
    let policy = BuildPolicy::default();
    let alive = |c: &build_verify::openpgp::Cert| {
        c.with_policy(&policy, None)
            .and_then(|vc| vc.alive())
            .is_ok()
    };
    let ours: BTreeSet<String> = ring
        .certs()
        .filter(|c| t.is_trusted(&c.fingerprint()) && alive(c))
        .map(|c| c.fingerprint().to_hex())
        .collect();
    assert_eq!(ours, valid);
}

#[test]
fn drop_in_wrapper_with_real_keys() {
    // contrib/qubes/verify-git-tag in a builder layout: the real keyring and
    // root, plus a maintainer allowed for one component by the environment.
    let tmp = tempfile::tempdir().unwrap();
    let builder = tmp.path().join("builder");
    std::fs::create_dir_all(builder.join("keys")).unwrap();
    std::fs::copy(qubes_keys(), builder.join("qubes-developers-keys.asc")).unwrap();
    let maint = gen_key("Community Maintainer <m@example.org>");
    let mfpr = maint.fingerprint().to_hex();
    write_keyring(&builder.join("keys").join(format!("{mfpr}.asc")), &[&maint]);
    let repo = builder.join("qubes-src").join("app-linux-foo");
    let head = init(&repo, false);
    signed_tag(&repo, &head, "v1.0", &maint);
    let wrapper = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/qubes/verify-git-tag");
    let run = |allowed: &str| {
        Command::new("bash")
            .arg(&wrapper)
            .arg(&repo)
            .env("BUILDER_DIR", &builder)
            .env_remove("KEYS_DIR")
            .env_remove("CHECK")
            .env_remove("NO_CHECK")
            .env("VERIFY_TAG", BIN)
            .env(format!("ALLOWED_COMPONENTS_{mfpr}"), allowed)
            .output()
            .unwrap()
    };
    // Not certified by the Qubes root, not allowed for this component.
    let o = run("app-linux-bar");
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(!String::from_utf8_lossy(&o.stdout).contains("Good tag"));
    let o = run("app-linux-bar app-linux-foo");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("---> Good tag "), "{text}");
    assert!(text.contains(&mfpr), "{text}");
}
