//! verify-tag on real git repositories, with tags signed by keys made with
//! sequoia at test time; gpg + `git verify-tag` as an oracle where installed.

use crate::common;

mod qubes_history;
mod qubes_keys;

use common::git::*;
use common::*;
use sequoia_openpgp::cert::prelude::*;
use sequoia_openpgp::packet::signature::SignatureBuilder;
use sequoia_openpgp::types::{HashAlgorithm, ReasonForRevocation, SignatureType};
use sequoia_openpgp::Cert;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

const BIN: &str = env!("CARGO_BIN_EXE_verify-tag");

struct Env {
    tmp: tempfile::TempDir,
    repo: PathBuf,
    key: Cert,
    keyring: PathBuf,
    head: String,
}

fn setup() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("core-admin");
    let head = init(&repo, false);
    let key = gen_key("Dev <dev@example.org>");
    let keyring = write_keyring(&tmp.path().join("keys.asc"), &[&key]);
    Env {
        tmp,
        repo,
        key,
        keyring,
        head,
    }
}

fn vt(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("CHECK").env_remove("NO_CHECK");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

impl Env {
    fn run(&self, extra: &[&str]) -> Output {
        let mut args = vec!["--keyring", self.keyring.to_str().unwrap()];
        args.extend(extra);
        args.push(self.repo.to_str().unwrap());
        vt(&args, &[])
    }

    /// `verify-tag --keyring KEYS EXTRA... REPO REV` with `env` added.
    fn run_at(&self, extra: &[&str], rev: &str, env: &[(&str, &str)]) -> Output {
        let mut args = vec!["--keyring", self.keyring.to_str().unwrap()];
        args.extend(extra);
        args.extend([self.repo.to_str().unwrap(), rev]);
        vt(&args, env)
    }
}

/// `git verify-tag` with a throwaway GNUPGHOME trusting `certs`.
fn git_accepts(repo: &Path, tag: &str, certs: &[&Cert]) -> Option<bool> {
    if !have("gpg") {
        return None;
    }
    let home = tempfile::tempdir().unwrap();
    for c in certs {
        let f = home.path().join("k.asc");
        std::fs::write(&f, armor_cert(c)).unwrap();
        Command::new("gpg")
            .arg("--batch")
            .arg("--quiet")
            .arg("--import")
            .arg(&f)
            .env("GNUPGHOME", home.path())
            .output()
            .unwrap();
    }
    let o = Command::new("git")
        .args(["verify-tag", tag])
        .current_dir(repo)
        .env("GNUPGHOME", home.path())
        .output()
        .unwrap();
    Some(o.status.success())
}

#[test]
fn good_tag_prints_like_the_old_script() {
    let e = setup();
    let id = signed_tag(&e.repo, &e.head, "v1.0", &e.key);
    let o = e.run(&[]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        text,
        format!("---> Good tag v1.0\n{}\n", e.key.fingerprint().to_hex()),
        "the old script's line, then the signer"
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!("HEAD resolves to {}", e.head)),
        "{}",
        out(&o)
    );
    if let Some(ok) = git_accepts(&e.repo, "v1.0", &[&e.key]) {
        assert!(ok, "git verify-tag agrees");
    }
    // REV as a ref name and as a full id; JSON.
    let o = e.run_at(&["--json"], "main", &[]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    let lines = json_lines(&o);
    let j = &lines[0];
    assert_eq!(j["commit"], e.head);
    assert_eq!(j["status"], "ok");
    assert_eq!(j["tags"][0]["name"], "v1.0");
    assert_eq!(j["tags"][0]["id"], id);
    assert_eq!(j["tags"][0]["status"], "good");
    assert_eq!(j["tags"][0]["signers"][0], e.key.fingerprint().to_hex());
    assert_eq!(lines[1]["summary"]["exit"], 0);
    let o = e.run_at(&[], &e.head, &[]);
    assert_eq!(code(&o), 0, "{}", out(&o));
}

#[test]
fn no_tag_lightweight_tag_and_signed_commits() {
    let e = setup();
    assert_eq!(code(&e.run(&[])), 3);
    git(&e.repo, &["tag", "v0.9"]);
    assert_eq!(code(&e.run(&[])), 3, "a lightweight tag does not count");
    let signed = sign_head_commit(&e.repo, &e.key);
    let o = e.run(&[]);
    assert_eq!(code(&o), 3, "{}", out(&o));
    assert!(out(&o).contains("forget to add a tag"), "{}", out(&o));
    let o = e.run(&["--check", "signed-tag-or-commit"]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    let o = e.run_at(&[], &signed, &[("CHECK", "signed-tag-or-commit")]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    // A commit signed by an untrusted key is not accepted; two signatures neither.
    let other = gen_key("Other");
    commit(&e.repo, "next");
    sign_head_commit(&e.repo, &other);
    assert_eq!(code(&e.run(&["--check", "signed-tag-or-commit"])), 1);
    sign_head_commit(&e.repo, &e.key);
    let o = e.run(&["--check", "signed-tag-or-commit"]);
    assert_eq!(code(&o), 1, "{}", out(&o));
    assert!(out(&o).contains("more than one signature"), "{}", out(&o));
}

#[test]
fn renamed_tag_is_forged_though_git_accepts_it() {
    let e = setup();
    write_tag(
        &e.repo,
        &tag_text(&e.head, "v1.0", "release"),
        &[&e.key],
        "v3.0",
    );
    let o = e.run(&[]);
    assert_eq!(code(&o), 1, "{}", out(&o));
    assert!(out(&o).contains("forged"), "{}", out(&o));
    if let Some(ok) = git_accepts(&e.repo, "v3.0", &[&e.key]) {
        assert!(
            ok,
            "git verify-tag accepts the renamed tag (we are stricter)"
        );
    }
}

#[test]
fn two_signatures_in_one_tag_are_rejected() {
    let e = setup();
    let second = gen_key("Second");
    let ring = write_keyring(&e.tmp.path().join("both.asc"), &[&e.key, &second]);
    write_tag(
        &e.repo,
        &tag_text(&e.head, "v1.0", "release"),
        &[&e.key, &second],
        "v1.0",
    );
    let o = vt(
        &[
            "--keyring",
            ring.to_str().unwrap(),
            e.repo.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code(&o), 1, "{}", out(&o));
    assert!(out(&o).contains("more than one signature"), "{}", out(&o));
}

#[test]
fn signature_marker_inside_the_message_does_not_split_it() {
    let e = setup();
    let msg = "release notes\n-----BEGIN PGP SIGNATURE-----\nnot really\n-----END PGP SIGNATURE-----\nmore";
    write_tag(&e.repo, &tag_text(&e.head, "v1.0", msg), &[&e.key], "v1.0");
    let o = e.run(&[]);
    assert_eq!(code(&o), 0, "{}", out(&o));
}

#[test]
fn bad_untrusted_unsupported_and_weak() {
    let e = setup();
    // Signed by a key not trusted.
    let other = gen_key("Other");
    signed_tag(&e.repo, &e.head, "v1.0", &other);
    let o = e.run(&[]);
    assert_eq!(code(&o), 1, "{}", out(&o));
    // Tampered payload: signature over another text.
    let e = setup();
    let text = tag_text(&e.head, "v1.0", "release");
    let sig = armor_sig(&sign_detached(&e.key, b"something else"));
    let mut raw = text.clone().into_bytes();
    raw.extend(sig);
    write_raw_tag(&e.repo, &raw, "v1.0");
    assert_eq!(code(&e.run(&[])), 1);
    // SSH signature: unsupported, not bad.
    let e = setup();
    let mut raw = tag_text(&e.head, "v1.0", "release").into_bytes();
    raw.extend(b"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n");
    write_raw_tag(&e.repo, &raw, "v1.0");
    let o = e.run(&[]);
    assert_eq!(code(&o), 1);
    assert!(out(&o).contains("unsupported"), "{}", out(&o));
    // SHA-1 data signature.
    let e = setup();
    let text = tag_text(&e.head, "v1.0", "release");
    let sig = sign_detached_with(
        &e.key,
        text.as_bytes(),
        HashAlgorithm::SHA1,
        days_from_now(-1),
    );
    let mut raw = text.into_bytes();
    raw.extend(armor_sig(&sig));
    write_raw_tag(&e.repo, &raw, "v1.0");
    assert_eq!(code(&e.run(&[])), 1);
    // Revoked key.
    let e = setup();
    signed_tag(&e.repo, &e.head, "v1.0", &e.key);
    let revoked = revoke(
        &e.key,
        ReasonForRevocation::KeyCompromised,
        days_from_now(0) - std::time::Duration::from_secs(60),
    );
    write_keyring(&e.keyring, &[&revoked]);
    assert_eq!(code(&e.run(&[])), 1);
    if let Some(ok) = git_accepts(&e.repo, "v1.0", &[&revoked]) {
        assert!(!ok, "gpg also rejects the revoked key");
    }
}

#[test]
fn tag_pattern_and_min_signers() {
    let e = setup();
    signed_tag(&e.repo, &e.head, "release-1", &e.key);
    assert_eq!(code(&e.run(&["--tag-pattern", "v*"])), 3);
    assert_eq!(code(&e.run(&["--tag-pattern", "release-*"])), 0);
    let second = gen_key("Second");
    let ring = write_keyring(&e.tmp.path().join("both.asc"), &[&e.key, &second]);
    let args = |n: &str| {
        vec![
            "--keyring".to_string(),
            ring.to_str().unwrap().to_string(),
            "--min-signers".into(),
            n.into(),
            e.repo.to_str().unwrap().into(),
        ]
    };
    let run = |a: Vec<String>| vt(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    assert_eq!(code(&run(args("2"))), 1);
    signed_tag(&e.repo, &e.head, "v1.0", &second);
    assert_eq!(code(&run(args("2"))), 0);
}

/// `root` certifies `cert`'s user ID.
fn certify(root: &Cert, cert: &Cert) -> Cert {
    let mut signer = primary_signer(root);
    let uid = cert.userids().next().unwrap().userid().clone();
    let sig = uid
        .certify(
            &mut signer,
            cert,
            SignatureType::GenericCertification,
            None,
            days_from_now(-10),
        )
        .unwrap();
    cert.clone().insert_packets(sig).unwrap().0
}

#[test]
fn trust_root_certifications() {
    let e = setup();
    let root = gen_key("Master Signing Key");
    let stranger_root = gen_key("Not the root");
    signed_tag(&e.repo, &e.head, "v1.0", &e.key);
    let root_fpr = root.fingerprint().to_hex();
    let check = |dev: &Cert| {
        let ring = write_keyring(
            &e.tmp.path().join("ring.asc"),
            &[&root, &stranger_root, dev],
        );
        code(&vt(
            &[
                "--keyring",
                ring.to_str().unwrap(),
                "--trust-root",
                &root_fpr,
                e.repo.to_str().unwrap(),
            ],
            &[],
        ))
    };
    assert_eq!(check(&e.key), 1, "uncertified key");
    let certified = certify(&root, &e.key);
    assert_eq!(check(&certified), 0, "root-certified key");
    assert_eq!(
        check(&certify(&stranger_root, &e.key)),
        1,
        "certified by a non-root"
    );

    // The root revokes its certification.
    let mut rs = primary_signer(&root);
    let uid = e.key.userids().next().unwrap().userid().clone();
    let rev = SignatureBuilder::new(SignatureType::CertificationRevocation)
        .set_signature_creation_time(days_from_now(-1))
        .unwrap()
        .sign_userid_binding(&mut rs, e.key.primary_key().key(), &uid)
        .unwrap();
    let cert_revoked = certified.clone().insert_packets(rev).unwrap().0;
    assert_eq!(check(&cert_revoked), 1, "certification revoked");

    // The owner revokes the certified user ID.
    let mut os = primary_signer(&e.key);
    let uid_rev = UserIDRevocationBuilder::new()
        .set_reason_for_revocation(ReasonForRevocation::UIDRetired, b"gone")
        .unwrap()
        .build(&mut os, &e.key, &uid, None)
        .unwrap();
    let uid_revoked = certified.insert_packets(uid_rev).unwrap().0;
    assert_eq!(check(&uid_revoked), 1, "user ID revoked");

    // A revoked root vouches for nobody: a configuration error.
    let revoked_root = revoke(
        &root,
        ReasonForRevocation::KeyCompromised,
        days_from_now(0) - std::time::Duration::from_secs(60),
    );
    let ring = write_keyring(
        &e.tmp.path().join("revoked-root.asc"),
        &[&revoked_root, &certify(&root, &e.key)],
    );
    let o = vt(
        &[
            "--keyring",
            ring.to_str().unwrap(),
            "--trust-root",
            &root_fpr,
            e.repo.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code(&o), 2, "{}", out(&o));

    // --maintainer trusts directly.
    let ring = write_keyring(&e.tmp.path().join("m.asc"), &[&e.key]);
    let o = vt(
        &[
            "--keyring",
            ring.to_str().unwrap(),
            "--maintainer",
            &e.key.fingerprint().to_hex(),
            e.repo.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", out(&o));
}

#[test]
fn rollback_is_refused_unless_allowed() {
    let e = setup();
    signed_tag(&e.repo, &e.head, "v1.0", &e.key);
    let state = e.tmp.path().join("state.json");
    let s = state.to_str().unwrap();
    assert_eq!(code(&e.run(&["--state", s])), 0);
    let c2 = commit(&e.repo, "second");
    signed_tag(&e.repo, &c2, "v2.0", &e.key);
    assert_eq!(code(&e.run(&["--state", s])), 0);
    let st: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(st["components"]["core-admin"]["main"], c2);
    // Back to v1.0: validly signed, but older.
    git(&e.repo, &["checkout", "-q", "v1.0"]);
    let o = e.run(&["--state", s]);
    assert_eq!(code(&o), 1, "{}", out(&o));
    assert!(out(&o).contains("rollback"), "{}", out(&o));
    let st2: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(st2, st, "a refused rollback does not move the state");
    assert_eq!(code(&e.run(&["--state", s, "--allow-rollback"])), 0);
}

#[test]
fn sha256_repositories_work() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("r");
    let head = init(&repo, true);
    assert_eq!(head.len(), 64);
    let key = gen_key("Dev");
    let ring = write_keyring(&tmp.path().join("k.asc"), &[&key]);
    signed_tag(&repo, &head, "v1.0", &key);
    let o = vt(
        &["--keyring", ring.to_str().unwrap(), repo.to_str().unwrap()],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", out(&o));
}

#[test]
fn environment_of_the_old_script_and_errors() {
    let e = setup();
    signed_tag(&e.repo, &e.head, "v1.0", &e.key);
    let o = vt(
        &[
            "--keyring",
            e.keyring.to_str().unwrap(),
            e.repo.to_str().unwrap(),
        ],
        &[("NO_CHECK", "1")],
    );
    assert_eq!(code(&o), 2);
    assert!(out(&o).contains("NO_CHECK is no longer supported"));
    // ALLOWED_COMPONENTS_<FPR> trusts KEYS_DIR/<FPR>.asc for those components only.
    let keys = e.tmp.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let fpr = e.key.fingerprint().to_hex();
    write_keyring(&keys.join(format!("{fpr}.asc")), &[&e.key]);
    let root = gen_key("root");
    let ring = write_keyring(&e.tmp.path().join("root.asc"), &[&root]);
    let var = format!("ALLOWED_COMPONENTS_{fpr}");
    let args = [
        "--keyring",
        ring.to_str().unwrap(),
        "--trust-root",
        &root.fingerprint().to_hex(),
        e.repo.to_str().unwrap(),
    ];
    let ok = vt(
        &args,
        &[
            (&var, "core-admin linux-utils"),
            ("KEYS_DIR", keys.to_str().unwrap()),
        ],
    );
    assert_eq!(code(&ok), 0, "{}", out(&ok));
    let other = vt(
        &args,
        &[(&var, "linux-utils"), ("KEYS_DIR", keys.to_str().unwrap())],
    );
    assert_eq!(code(&other), 1, "{}", out(&other));
    // Unreadable repository; empty keyring.
    let o = vt(
        &[
            "--keyring",
            e.keyring.to_str().unwrap(),
            e.tmp.path().join("nope").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code(&o), 2, "{}", out(&o));
    assert!(out(&o).contains("no such directory"), "{}", out(&o));
    let empty = e.tmp.path().join("empty.asc");
    std::fs::write(&empty, "").unwrap();
    assert_eq!(
        code(&vt(
            &[
                "--keyring",
                empty.to_str().unwrap(),
                e.repo.to_str().unwrap()
            ],
            &[]
        )),
        2
    );
}

#[test]
fn many_components_in_one_call() {
    let tmp = tempfile::tempdir().unwrap();
    let key = gen_key("Dev");
    let ring = write_keyring(&tmp.path().join("k.asc"), &[&key]);
    let mut dirs = Vec::new();
    for i in 0..4 {
        let d = tmp.path().join(format!("comp{i}"));
        let head = init(&d, false);
        if i != 2 {
            signed_tag(&d, &head, "v1.0", &key);
        }
        dirs.push(d);
    }
    let mut args = vec!["--keyring".to_string(), ring.to_str().unwrap().to_string()];
    args.extend(dirs.iter().map(|d| d.to_str().unwrap().to_string()));
    let o = vt(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    assert_eq!(code(&o), 3, "one component has no tag: {}", out(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.matches("---> Good tag").count(), 3, "{text}");
    assert!(out(&o).contains("comp2"), "{}", out(&o));
}

/// Run with `--state` in a fresh directory and assert a refused run left no
/// record behind (nothing unverified is remembered as verified).
fn refused_without_trace(e: &Env, extra: &[&str], want: i32) -> String {
    let state = e.tmp.path().join("refused-state.json");
    let _ = std::fs::remove_file(&state);
    let mut args = vec!["--state", state.to_str().unwrap()];
    args.extend(extra);
    let o = e.run(&args);
    assert_eq!(code(&o), want, "{}", out(&o));
    assert!(!state.exists(), "a refused revision was recorded");
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("Good tag"),
        "{}",
        out(&o)
    );
    out(&o)
}

#[test]
fn tag_binding_object_and_type() {
    // A tag at another commit does not count for HEAD.
    let e = setup();
    signed_tag(&e.repo, &e.head, "v1.0", &e.key);
    commit(&e.repo, "later");
    refused_without_trace(&e, &[], 3);

    // Signed, named right, pointing at HEAD, but claiming to be a tree's tag.
    let e = setup();
    let text = tag_text(&e.head, "v1.0", "release").replace("type commit", "type tree");
    write_raw_tag(&e.repo, &signed_tag_bytes(&text, &e.key), "v1.0");
    let msg = refused_without_trace(&e, &[], 1);
    assert!(msg.contains("not commit"), "{msg}");

    // A signed tag of a signed tag: its `object` is not the commit.
    let e = setup();
    let inner = signed_tag(&e.repo, &e.head, "v1.0-inner", &e.key);
    let outer = format!(
        "object {inner}\ntype tag\ntag v1.0\ntagger Dev <dev@example.org> 1700000000 +0000\n\nouter\n"
    );
    git(&e.repo, &["tag", "-d", "v1.0-inner"]);
    write_raw_tag(&e.repo, &signed_tag_bytes(&outer, &e.key), "v1.0");
    refused_without_trace(&e, &[], 3);

    // A repeated binding header is malformed, hence rejected.
    let e = setup();
    let text = tag_text(&e.head, "v1.0", "release").replace("tag v1.0\n", "tag v1.0\ntag v3.0\n");
    write_raw_tag(&e.repo, &signed_tag_bytes(&text, &e.key), "v1.0");
    let msg = refused_without_trace(&e, &[], 1);
    assert!(msg.contains("malformed"), "{msg}");
}

#[test]
fn unsigned_tags_are_nothing_to_verify_with() {
    let e = setup();
    git(&e.repo, &["tag", "-a", "-m", "unsigned", "v1.0"]);
    let msg = refused_without_trace(&e, &[], 3);
    assert!(msg.contains("no signed tag"), "{msg}");
    // ... so a signed commit may stand in for it when allowed.
    sign_head_commit(&e.repo, &e.key);
    git(&e.repo, &["tag", "-f", "-a", "-m", "unsigned", "v1.0"]);
    let o = e.run(&["--check", "signed-tag-or-commit"]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("does not have a signed tag"),
        "{}",
        out(&o)
    );
}

#[test]
fn trailing_text_after_the_signature_is_malformed() {
    let e = setup();
    let text = tag_text(&e.head, "v1.0", "release");
    let mut raw = signed_tag_bytes(&text, &e.key);
    raw.extend(b"appended later\n");
    write_raw_tag(&e.repo, &raw, "v1.0");
    let msg = refused_without_trace(&e, &[], 1);
    assert!(msg.contains("malformed"), "{msg}");
}

#[test]
fn tampered_tag_fails_here_and_in_git() {
    let e = setup();
    let text = tag_text(&e.head, "v1.0", "release");
    let raw = signed_tag_bytes(&text, &e.key);
    // Same signature, message changed after signing.
    let forged = String::from_utf8(raw)
        .unwrap()
        .replace("release", "relea5e");
    write_raw_tag(&e.repo, forged.as_bytes(), "v1.0");
    let msg = refused_without_trace(&e, &[], 1);
    assert!(msg.contains("BAD signature by"), "{msg}");
    if let Some(ok) = git_accepts(&e.repo, "v1.0", &[&e.key]) {
        assert!(!ok, "git verify-tag rejects it too");
    }
}

#[test]
fn packed_refs_and_many_tags() {
    let e = setup();
    // Tags at older commits, loose, then packed with peeled lines.
    for i in 0..30 {
        let c = commit(&e.repo, &format!("c{i}"));
        signed_tag(&e.repo, &c, &format!("v0.{i}"), &e.key);
    }
    let head = commit(&e.repo, "release");
    let id = signed_tag(&e.repo, &head, "v1.0", &e.key);
    let o = e.run(&[]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("---> Good tag v1.0\n"));
    git(&e.repo, &["gc", "-q"]);
    assert!(std::fs::read_to_string(e.repo.join(".git/packed-refs"))
        .unwrap()
        .contains("\n^"));
    let o = e.run(&["--json"]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    assert_eq!(json_lines(&o)[0]["tags"][0]["id"], id.as_str());
    // An older revision is verified by its own tag, not by v1.0.
    let o = e.run_at(&[], "v0.3", &[]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("v1.0"));
}

#[test]
fn many_loose_tags_are_scanned_on_two_threads() {
    let e = setup();
    // More loose tags than one thread peeks at alone, with tags at HEAD in
    // both halves of the scan: a forged one in the first, good ones in both.
    let old = commit(&e.repo, "old");
    let head = commit(&e.repo, "release");
    let mut good = Vec::new();
    for i in 0..80 {
        let name = format!("t{i:02}");
        match i {
            5 | 70 => good.push(signed_tag(&e.repo, &head, &name, &e.key)),
            _ => {
                signed_tag(&e.repo, &old, &name, &e.key);
            }
        }
    }
    let forged = write_tag(
        &e.repo,
        &tag_text(&head, "t99", "release"),
        &[&e.key],
        "t10x",
    );
    let o = e.run(&[]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(stdout.matches("---> Good tag").count(), 2, "{stdout}");
    assert_eq!(good.len(), 2);
    for name in ["t05", "t70"] {
        assert!(
            stdout.contains(&format!("---> Good tag {name}\n")),
            "{stdout}"
        );
    }
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(&forged) && stderr.contains("forged"),
        "{stderr}"
    );
    // The old revision: 78 good tags, none of HEAD's.
    let o = vt(
        &[
            "--keyring",
            e.keyring.to_str().unwrap(),
            e.repo.to_str().unwrap(),
            &old,
        ],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", out(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(stdout.matches("---> Good tag").count(), 78, "{stdout}");
}

#[test]
fn sha256_signed_commit_and_git_oracle() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("r");
    init(&repo, true);
    let key = gen_key("Dev <dev@example.org>");
    let ring = write_keyring(&tmp.path().join("k.asc"), &[&key]);
    let signed = sign_head_commit(&repo, &key);
    assert_eq!(signed.len(), 64);
    let run = |check: &str| {
        vt(
            &[
                "--keyring",
                ring.to_str().unwrap(),
                "--check",
                check,
                repo.to_str().unwrap(),
            ],
            &[],
        )
    };
    assert_eq!(code(&run("signed-tag")), 3);
    let o = run("signed-tag-or-commit");
    assert_eq!(code(&o), 0, "{}", out(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains(&key.fingerprint().to_hex()));
    signed_tag(&repo, &signed, "v1.0", &key);
    let o = run("signed-tag");
    assert_eq!(code(&o), 0, "{}", out(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("---> Good tag v1.0\n"));
    if let Some(ok) = git_accepts(&repo, "v1.0", &[&key]) {
        assert!(ok, "git verify-tag agrees on the SHA-256 tag");
    }
}

#[test]
fn old_script_environment_edges() {
    let e = setup();
    signed_tag(&e.repo, &e.head, "v1.0", &e.key);
    let ring = e.keyring.to_str().unwrap();
    let dir = e.repo.to_str().unwrap();
    // NO_CHECK empty is unset, as in the old script.
    assert_eq!(code(&vt(&["--keyring", ring, dir], &[("NO_CHECK", "")])), 0);
    let o = vt(&["--keyring", ring, dir], &[("CHECK", "insecure-no-check")]);
    assert_eq!(code(&o), 2);
    assert!(out(&o).contains("Please avoid"), "{}", out(&o));
    assert_eq!(
        code(&vt(&["--keyring", ring, dir], &[("CHECK", "bogus")])),
        2
    );
    // ALLOWED_COMPONENTS_<FPR> for this component without a keys dir, or
    // with a file that does not hold that key: configuration errors.
    let fpr = e.key.fingerprint().to_hex();
    let var = format!("ALLOWED_COMPONENTS_{fpr}");
    let o = vt(&["--keyring", ring, dir], &[(&var, "core-admin")]);
    assert_eq!(code(&o), 2, "{}", out(&o));
    let keys = e.tmp.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let other = gen_key("Other");
    write_keyring(&keys.join(format!("{fpr}.asc")), &[&other]);
    let o = vt(
        &["--keyring", ring, dir],
        &[(&var, "core-admin"), ("KEYS_DIR", keys.to_str().unwrap())],
    );
    assert_eq!(code(&o), 2, "{}", out(&o));
    // A variable for other components only needs no key file at all.
    let o = vt(&["--keyring", ring, dir], &[(&var, "linux-utils")]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    // --component overrides the directory's base name; `.` is "builder".
    let o = vt(
        &["--keyring", ring, "--component", "builder", dir],
        &[(&var, "builder")],
    );
    assert_eq!(
        code(&o),
        2,
        "the key for `builder` is looked up: {}",
        out(&o)
    );
}

#[test]
fn rollback_edges() {
    let e = setup();
    signed_tag(&e.repo, &e.head, "v1.0", &e.key);
    let state = e.tmp.path().join("state.json");
    let s = state.to_str().unwrap();
    // A recorded commit this repository does not have: cannot prove descent.
    std::fs::write(
        &state,
        format!(
            "{{\"components\": {{\"core-admin\": \"{}\"}}}}",
            "1".repeat(40)
        ),
    )
    .unwrap();
    let before = std::fs::read(&state).unwrap();
    let o = e.run(&["--state", s]);
    assert_eq!(code(&o), 1, "{}", out(&o));
    assert!(out(&o).contains("rollback"), "{}", out(&o));
    assert_eq!(std::fs::read(&state).unwrap(), before);
    let o = e.run(&["--state", s, "--allow-rollback"]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    assert!(out(&o).contains("warning"), "{}", out(&o));
    let st: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(st["components"]["core-admin"]["main"], e.head);
    // A corrupt state file is a configuration error, and stays as it is.
    std::fs::write(&state, "{oops").unwrap();
    assert_eq!(code(&e.run(&["--state", s])), 2);
    assert_eq!(std::fs::read(&state).unwrap(), b"{oops");
}

#[test]
fn json_for_many_components() {
    let tmp = tempfile::tempdir().unwrap();
    let key = gen_key("Dev");
    let ring = write_keyring(&tmp.path().join("k.asc"), &[&key]);
    let good = tmp.path().join("good");
    let head = init(&good, false);
    signed_tag(&good, &head, "v1.0", &key);
    let forged = tmp.path().join("forged");
    let head2 = init(&forged, false);
    write_tag(&forged, &tag_text(&head2, "v1.0", "x"), &[&key], "v2.0");
    let o = vt(
        &[
            "--json",
            "--keyring",
            ring.to_str().unwrap(),
            good.to_str().unwrap(),
            forged.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code(&o), 1, "{}", out(&o));
    let lines = json_lines(&o);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["status"], "ok");
    assert_eq!(lines[0]["component"], "good");
    assert_eq!(lines[1]["status"], "failed");
    assert_eq!(lines[1]["exit"], 1);
    assert!(lines[1]["reason"].as_str().unwrap().contains("forged"));
    assert!(String::from_utf8_lossy(&o.stderr).contains("forged"));
    assert_eq!(lines[2]["summary"]["verified"], 1);
    assert_eq!(lines[2]["summary"]["exit"], 1);
}

#[test]
fn a_reftable_repository_is_refused_not_read_as_empty() {
    // gix reads refs from files only: a reftable clone (git >= 2.45, as
    // the machine's and CI's git) would look like a repository without a
    // branch or a tag (exit 3, "not found"). Its refs backend is named,
    // with the way out, and it is a configuration error (2), where git
    // itself finds the tag.
    let e = setup();
    signed_tag(&e.repo, &e.head, "v1.0", &e.key);
    let table = e.tmp.path().join("reftable");
    let (from, to) = (e.repo.to_str().unwrap(), table.to_str().unwrap());
    git(
        e.tmp.path(),
        &["clone", "-q", "--ref-format=reftable", from, to],
    );
    assert_eq!(git(&table, &["tag", "--points-at", "HEAD"]), "v1.0");
    for rev in [&[][..], &["v1.0"][..]] {
        let mut args = vec!["--keyring", e.keyring.to_str().unwrap(), to];
        args.extend_from_slice(rev);
        let o = vt(&args, &[]);
        assert_eq!(code(&o), 2, "{}", out(&o));
        assert!(
            out(&o).contains(r#"refs are stored as "reftable""#),
            "{}",
            out(&o)
        );
        assert!(out(&o).contains("git refs migrate --ref-format=files"));
        assert!(!String::from_utf8_lossy(&o.stdout).contains("Good tag"));
    }
}

#[test]
fn a_directory_inside_a_verified_repository_is_not_that_repository() {
    // A component that failed to clone leaves a plain directory inside the
    // builder's own (signed) repository: git would discover the builder's
    // HEAD and its tag; we refuse (exit 4) instead of verifying the wrong tree.
    let e = setup();
    signed_tag(&e.repo, &e.head, "v1.0", &e.key);
    let inner = e.repo.join("qubes-src").join("linux-kernel");
    std::fs::create_dir_all(&inner).unwrap();
    let o = vt(
        &[
            "--keyring",
            e.keyring.to_str().unwrap(),
            inner.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code(&o), 2, "{}", out(&o));
    assert!(out(&o).contains("not a git repository"), "{}", out(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("Good tag"));
    // The git directory itself is the repository too.
    let o = vt(
        &[
            "--keyring",
            e.keyring.to_str().unwrap(),
            e.repo.join(".git").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", out(&o));
    // `DIR REV` when the second argument is not a directory; an unknown REV
    // is nothing to verify with.
    let o = e.run_at(&[], "no-such-branch", &[]);
    assert_eq!(code(&o), 3, "{}", out(&o));
}

#[test]
fn oversized_tag_objects_are_not_read() {
    let e = setup();
    let big = "x".repeat(2 << 20);
    let text = tag_text(&e.head, "v1.0", &big);
    write_raw_tag(&e.repo, &signed_tag_bytes(&text, &e.key), "v1.0");
    let msg = refused_without_trace(&e, &[], 3);
    assert!(msg.contains("more than"), "{msg}");
}

#[test]
fn an_unreadable_tag_is_skipped_not_fatal() {
    // A dangling tag ref (its object missing) cannot verify anything; like
    // the old script, the other tags at REV still count.
    let e = setup();
    let id = signed_tag(&e.repo, &e.head, "v1.0", &e.key);
    let tags = e.repo.join(".git/refs/tags");
    std::fs::write(tags.join("dangling"), format!("{}\n", "ab".repeat(20))).unwrap();
    // So does a loose ref file whose content is not an object id.
    std::fs::write(tags.join("garbage"), "hello\n").unwrap();
    let o = e.run(&[]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("---> Good tag v1.0\n"));
    assert!(out(&o).contains("refs/tags/garbage"), "{}", out(&o));
    let _ = id;
    // Alone, it leaves nothing to verify with, and the note says why.
    std::fs::remove_file(tags.join("v1.0")).unwrap();
    let o = e.run(&[]);
    assert_eq!(code(&o), 3, "{}", out(&o));
    assert!(out(&o).contains("tag dangling ignored"), "{}", out(&o));
}

/// A tag named `name` at `commit` signed by `signer` at `time`.
fn tag_signed_at(dir: &Path, commit: &str, name: &str, signer: &Cert, time: SystemTime) -> String {
    let text = tag_text(commit, name, &format!("release {name}"));
    let sig = sign_detached_with(signer, text.as_bytes(), HashAlgorithm::SHA256, time);
    let mut raw = text.into_bytes();
    raw.extend(armor_sig(&sig));
    write_raw_tag(dir, &raw, name)
}

#[test]
fn keys_are_judged_now_at_head_but_at_signing_for_release_files() {
    // DESIGN.md §3: a tag at HEAD needs a key valid now; a release file
    // signed while the key was valid passes after it expired or was retired.
    let expired = gen_key_with(
        "Expired <e@example.org>",
        days_from_now(-30),
        Some(DAY * 20),
    );
    let retired = revoke(
        &gen_key("Retired <r@example.org>"),
        ReasonForRevocation::KeyRetired,
        days_from_now(-1),
    );
    for (key, made) in [
        (&expired, days_from_now(-20)),
        (&retired, days_from_now(-5)),
    ] {
        let e = setup();
        write_keyring(&e.keyring, &[key]);
        tag_signed_at(&e.repo, &e.head, "v1.0", key, made);
        let o = e.run(&[]);
        assert_eq!(code(&o), 1, "{}", out(&o));
        assert!(
            out(&o).contains("not valid now") || out(&o).contains("but keys must be valid now"),
            "{}",
            out(&o)
        );
        assert!(!out(&o).contains("Good tag"), "{}", out(&o));
        if let Some(ok) = git_accepts(&e.repo, "v1.0", &[key]) {
            // git + gpg: an expired key's tag is "good, but expired" with a
            // non-zero exit; a revoked one is refused.
            assert!(!ok, "git verify-tag agrees");
        }
        // The same key and time on a release file: accepted, with a warning.
        let dir = e.tmp.path();
        std::fs::write(dir.join("src.tar"), b"release").unwrap();
        let sig = sign_detached_with(key, b"release", HashAlgorithm::SHA256, made);
        std::fs::write(dir.join("src.tar.sig"), sig).unwrap();
        let out_dir = dir.join("out");
        std::fs::create_dir(&out_dir).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_fetch-verified"))
            .arg("--keyring")
            .arg(&e.keyring)
            .arg(format!("file://{}", dir.join("src.tar").display()))
            .arg(dir.join("src.tar.sig"))
            .arg("-o")
            .arg(out_dir.join("src.tar"))
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}", out(&o));
        assert!(
            out(&o).contains("no longer valid")
                || out(&o).contains(", while it was valid: refresh"),
            "{}",
            out(&o)
        );
    }
}

#[test]
fn rollback_records_are_kept_per_branch() {
    let e = setup();
    let state = e.tmp.path().join("state.json");
    let s = state.to_str().unwrap();
    signed_tag(&e.repo, &e.head, "v1.0", &e.key);
    // main moves on; a release branch stays at v1.0's commit.
    git(&e.repo, &["branch", "release1", &e.head]);
    let c2 = commit(&e.repo, "second");
    signed_tag(&e.repo, &c2, "v2.0", &e.key);
    assert_eq!(code(&e.run(&["--state", s])), 0, "main at v2.0");
    // Switching BRANCH to the older release branch is no rollback.
    git(&e.repo, &["checkout", "-q", "release1"]);
    let o = e.run(&["--state", s]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    let st: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(st["components"]["core-admin"]["main"], c2);
    assert_eq!(st["components"]["core-admin"]["release1"], e.head);
    // Going back on main is: by REV, by --branch, by FETCH_HEAD's branch.
    // A tag is no branch: v1.0 is checked against every record of the
    // component (it is release1's commit) and never recorded as "v1.0".
    let o = e.run_at(&["--state", s], "v1.0", &[]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    let st: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert!(st["components"]["core-admin"].get("v1.0").is_none(), "{st}");
    let o = e.run_at(&["--state", s, "--branch", "main"], "v1.0", &[]);
    assert_eq!(code(&o), 1, "{}", out(&o));
    assert!(out(&o).contains("on main"), "{}", out(&o));
    std::fs::write(
        e.repo.join(".git/FETCH_HEAD"),
        format!(
            "{}\t\tbranch 'main' of https://example.org/core-admin\n",
            e.head
        ),
    )
    .unwrap();
    let o = e.run_at(&["--state", s], "FETCH_HEAD", &[]);
    assert_eq!(code(&o), 1, "{}", out(&o));
    // A detached checkout of the old commit descends from release1's
    // record, so it is no rollback; an unknown older commit would be.
    git(&e.repo, &["checkout", "-q", "--detach", &e.head]);
    assert_eq!(code(&e.run(&["--state", s])), 0);
    let older = {
        git(&e.repo, &["checkout", "-q", "--orphan", "other"]);
        let c = commit(&e.repo, "unrelated");
        signed_tag(&e.repo, &c, "v0.1", &e.key);
        git(&e.repo, &["checkout", "-q", "--detach", &c]);
        c
    };
    let o = e.run(&["--state", s]);
    assert_eq!(code(&o), 1, "{}", out(&o));
    assert!(out(&o).contains("--branch NAME"), "{}", out(&o));
    assert!(out(&o).contains(&older), "{}", out(&o));
}

#[test]
fn operands_and_usage_errors() {
    let e = setup();
    signed_tag(&e.repo, &e.head, "v1.0", &e.key);
    let k = e.keyring.to_str().unwrap();
    let r = e.repo.to_str().unwrap();
    // Three operands that are not all repositories: a usage error.
    let o = vt(&["--keyring", k, r, "HEAD", "extra"], &[]);
    assert_eq!(code(&o), 2, "{}", out(&o));
    assert!(
        out(&o).contains("HEAD is not a git repository"),
        "{}",
        out(&o)
    );
    // A REV that names an existing plain directory is still a revision.
    std::fs::create_dir(e.tmp.path().join("main")).unwrap();
    let o = Command::new(BIN)
        .args(["--keyring", k, r, "main"])
        .current_dir(e.tmp.path())
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", out(&o));
    // A second operand that is a repository and a revision: ambiguous.
    let other = e.tmp.path().join("v1.0");
    init(&other, false);
    let o = Command::new(BIN)
        .args(["--keyring", k, r, "v1.0"])
        .current_dir(e.tmp.path())
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", out(&o));
    assert!(
        out(&o).contains("both a repository and a revision"),
        "{}",
        out(&o)
    );
    // Missing and wrong-kind operands are usage errors, said once.
    let nope = e.tmp.path().join("nope");
    let o = vt(&["--keyring", k, nope.to_str().unwrap()], &[]);
    assert_eq!(code(&o), 2, "{}", out(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches(nope.to_str().unwrap()).count(), 1, "{err}");
    let o = vt(&["--keyring", k, k], &[]);
    assert_eq!(code(&o), 2, "{}", out(&o));
}

#[test]
fn quiet_prints_nothing_on_stderr() {
    let e = setup();
    signed_tag(&e.repo, &e.head, "v1.0", &e.key);
    // A note-worthy run: a lightweight tag and HEAD resolved.
    git(&e.repo, &["tag", "light"]);
    let o = e.run(&[]);
    assert_eq!(code(&o), 0);
    assert!(!o.stderr.is_empty());
    let o = e.run(&["-q"]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "");
    assert!(String::from_utf8_lossy(&o.stdout).contains("---> Good tag v1.0"));
    // Errors are still reported.
    let o = e.run_at(&["-q"], "light", &[]);
    assert_eq!(code(&o), 0);
    git(&e.repo, &["tag", "-d", "v1.0"]);
    let o = e.run(&["--quiet"]);
    assert_eq!(code(&o), 3, "{}", out(&o));
    assert!(!o.stderr.is_empty());
}

#[test]
fn tags_at_one_revision_are_capped() {
    // 100,000 annotated tags at HEAD (packed, as a clone has them): at most --max-tags are read, the rest counted in
    // one note; the output stays a few lines.
    let e = setup();
    let names: Vec<String> = (0..100_000).map(|i| format!("t{i:06}")).collect();
    packed_tags(&e.repo, &e.head, &names);
    let o = e.run(&[]);
    assert_eq!(code(&o), 3, "unsigned tags only: {}", out(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("99900 more tags"), "{err}");
    assert_eq!(err.matches("more tags").count(), 1, "one note: {err}");
    assert!(err.lines().count() < 110, "{} lines", err.lines().count());
    // A signed tag within the cap verifies; beyond it, it is not read.
    signed_tag(&e.repo, &e.head, "a-release", &e.key);
    let o = e.run(&[]);
    assert_eq!(code(&o), 0, "{}", out(&o));
    let o = e.run(&["--max-tags", "1", "--tag-pattern", "t*"]);
    assert_eq!(code(&o), 3, "{}", out(&o));
    assert!(out(&o).contains("99999 more tags"), "{}", out(&o));
    let o = e.run(&["--max-tags", "0"]);
    assert_eq!(code(&o), 2, "{}", out(&o));
}

#[test]
fn lightweight_tags_at_one_revision_take_no_place_under_the_cap() {
    // 100,000 lightweight tags at HEAD, sorted before the release (packed,
    // as a clone has them): not read, one note, the release still verifies.
    let e = setup();
    let mut refs = String::from("# pack-refs with: peeled fully-peeled sorted \n");
    for i in 0..100_000 {
        refs.push_str(&format!("{} refs/tags/l{i:06}\n", e.head));
    }
    std::fs::write(e.repo.join(".git/packed-refs"), refs).unwrap();
    signed_tag(&e.repo, &e.head, "v1.0", &e.key);
    for args in [&[][..], &["--max-tags", "1"]] {
        let o = e.run(args);
        assert_eq!(code(&o), 0, "{args:?}: {}", out(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            err.matches("100000 lightweight tags ignored").count(),
            1,
            "{err}"
        );
        assert!(!err.contains("more tags"), "{err}");
        assert!(err.lines().count() < 5, "{err}");
        assert!(out(&o).contains("Good tag v1.0"), "{}", out(&o));
    }
    // Lightweight tags alone verify nothing: 3, still one note.
    git(&e.repo, &["tag", "-d", "v1.0"]);
    let o = e.run(&[]);
    assert_eq!(code(&o), 3, "{}", out(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("lightweight tags ignored").count(), 1, "{err}");
    assert!(err.lines().count() < 5, "{err}");
}
