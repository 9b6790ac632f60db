//! The OpenPGP trust core against the rules of DESIGN.md §3, with gpgv and
//! sqv as oracles where they agree with us.

use crate::common;

use build_verify::exit::{code_of, Code};
use build_verify::openpgp::sign::SigningKey;
use build_verify::openpgp::{
    BuildPolicy, KeyValidity, Keyring, Sha1Rules, Trust, Verdict, Verifier,
};
use common::*;
use sequoia_openpgp::packet::signature::SignatureBuilder;
use sequoia_openpgp::types::SignatureType;
use sequoia_openpgp::types::{HashAlgorithm, ReasonForRevocation};
use sequoia_openpgp::Cert;
use std::time::{Duration, SystemTime};

const DATA: &[u8] = b"upstream-1.0.tar contents\n";

fn verify_with(
    certs: &[&Cert],
    trust: Trust,
    min: usize,
    sig: &[u8],
    data: &[u8],
    policy: &BuildPolicy,
) -> anyhow::Result<Verdict> {
    let ring = Keyring::from_certs(certs.iter().map(|c| (*c).clone())).unwrap();
    Verifier::new(&ring, &trust, policy)
        .min_signers(min)
        .verify_detached_bytes(sig, data)
}

fn verify(certs: &[&Cert], sig: &[u8]) -> anyhow::Result<Verdict> {
    verify_with(certs, Trust::All, 1, sig, DATA, &BuildPolicy::default())
}

fn code(r: anyhow::Result<Verdict>) -> Code {
    match r {
        Ok(_) => Code::Ok,
        Err(e) => code_of(&e),
    }
}

#[test]
fn good_signature_names_the_primary_key() {
    let k = gen_key("Alice <alice@example.org>");
    let v = verify(&[&k], &sign_detached(&k, DATA)).unwrap();
    // Signed by the subkey; reported by the primary fingerprint.
    assert_eq!(v.signers, vec![k.fingerprint()]);
    let armored = armor_sig(&sign_detached(&k, DATA));
    assert_eq!(
        verify(&[&k], &armored).unwrap().signers,
        vec![k.fingerprint()]
    );
}

#[test]
fn modified_data_and_wrong_key_fail() {
    let k = gen_key("a");
    let other = gen_key("b");
    let sig = sign_detached(&k, DATA);
    let r = verify_with(
        &[&k],
        Trust::All,
        1,
        &sig,
        b"tampered",
        &BuildPolicy::default(),
    );
    assert_eq!(code(r), Code::Failed);
    // Signature by a key we do not have: ignored, so zero good signatures.
    let e = verify(&[&other], &sig).unwrap_err();
    assert_eq!(code_of(&e), Code::Failed);
    assert!(format!("{e:#}").contains("no good signature"), "{e:#}");
}

#[test]
fn unknown_signer_is_ignored_next_to_a_good_one() {
    let k = gen_key("a");
    let stranger = gen_key("s");
    let sig = concat_sigs(&[sign_detached(&stranger, DATA), sign_detached(&k, DATA)]);
    let v = verify(&[&k], &sig).unwrap();
    assert_eq!(v.signers, vec![k.fingerprint()]);
    assert!(
        v.notes.iter().any(|n| n.contains("unknown key")),
        "{:?}",
        v.notes
    );
}

#[test]
fn good_plus_bad_fails() {
    let a = gen_key("a");
    let b = gen_key("b");
    let bad = sign_detached(&b, b"other data");
    let sig = concat_sigs(&[sign_detached(&a, DATA), bad]);
    assert_eq!(code(verify(&[&a, &b], &sig)), Code::Failed);
}

#[test]
fn min_signers_counts_primary_keys_not_signatures() {
    let a = gen_key("a");
    let b = gen_key("b");
    let two = concat_sigs(&[sign_detached(&a, DATA), sign_detached(&b, DATA)]);
    let p = BuildPolicy::default();
    let v = verify_with(&[&a, &b], Trust::All, 2, &two, DATA, &p).unwrap();
    assert_eq!(v.signers.len(), 2);
    // The same key twice is one signer.
    let twice = concat_sigs(&[sign_detached(&a, DATA), sign_detached(&a, DATA)]);
    let e = verify_with(&[&a, &b], Trust::All, 2, &twice, DATA, &p).unwrap_err();
    assert_eq!(code_of(&e), Code::Failed);
    assert!(
        format!("{e:#}").contains("1 distinct trusted signer(s), 2 required"),
        "{e:#}"
    );
}

#[test]
fn trusted_key_restricts_signers() {
    let a = gen_key("a");
    let b = gen_key("b");
    let sig = sign_detached(&b, DATA);
    let only_a = Trust::from_fingerprints([a.fingerprint()]);
    let e = verify_with(&[&a, &b], only_a, 1, &sig, DATA, &BuildPolicy::default()).unwrap_err();
    assert_eq!(code_of(&e), Code::Failed);
    assert!(format!("{e:#}").contains("untrusted key"), "{e:#}");
}

#[test]
fn hard_revocation_voids_old_signatures_soft_only_later_ones() {
    let k = gen_key("a");
    let sig_old = sign_detached_with(&k, DATA, HashAlgorithm::SHA256, days_from_now(-10));
    let hard = revoke(&k, ReasonForRevocation::KeyCompromised, days_from_now(-5));
    let e = verify(&[&hard], &sig_old).unwrap_err();
    assert_eq!(code_of(&e), Code::Failed);
    assert!(format!("{e:#}").contains("revoked"), "{e:#}");

    let soft = revoke(&k, ReasonForRevocation::KeySuperseded, days_from_now(-5));
    assert!(
        verify(&[&soft], &sig_old).is_ok(),
        "soft revocation after signing"
    );
    let sig_new = sign_detached_with(&k, DATA, HashAlgorithm::SHA256, days_from_now(-1));
    assert_eq!(code(verify(&[&soft], &sig_new)), Code::Failed);
}

#[test]
fn expiry_after_signing_passes_with_a_warning_before_signing_fails() {
    let k = gen_key_with("e", days_from_now(-30), Some(DAY * 20));
    assert!(!alive_now(&k));
    let made_while_valid = sign_detached_with(&k, DATA, HashAlgorithm::SHA256, days_from_now(-20));
    let v = verify(&[&k], &made_while_valid).unwrap();
    assert_eq!(v.signers, vec![k.fingerprint()]);
    assert!(
        v.notes
            .iter()
            .any(|n| n.contains(", while it was valid: refresh the key")),
        "{:?}",
        v.notes
    );

    let made_after_expiry = sign_detached_with(&k, DATA, HashAlgorithm::SHA256, days_from_now(-2));
    let e = verify(&[&k], &made_after_expiry).unwrap_err();
    assert_eq!(code_of(&e), Code::Failed);
    assert!(
        format!("{e:#}").contains(", after that: refresh the key"),
        "{e:#}"
    );
}

#[test]
fn sha1_data_signatures_and_future_dates_fail() {
    let k = gen_key("a");
    let sha1 = sign_detached_with(&k, DATA, HashAlgorithm::SHA1, days_from_now(-1));
    let e = verify(&[&k], &sha1).unwrap_err();
    assert_eq!(code_of(&e), Code::Failed);
    assert!(
        format!("{e:#}")
            .contains("refused: SHA-256 or stronger is required (--allow-sha1-before DATE"),
        "{e:#}"
    );
    let future = sign_detached_with(&k, DATA, HashAlgorithm::SHA256, days_from_now(2));
    let e = verify(&[&k], &future).unwrap_err();
    assert_eq!(code_of(&e), Code::Failed);
    assert!(format!("{e:#}").contains("Not live until"), "{e:#}");
    // Within the clock-skew tolerance is fine.
    let skew = sign_detached_with(
        &k,
        DATA,
        HashAlgorithm::SHA256,
        SystemTime::now() + Duration::from_secs(60),
    );
    assert!(verify(&[&k], &skew).is_ok());
    let sha512 = sign_detached_with(&k, DATA, HashAlgorithm::SHA512, days_from_now(-1));
    assert!(verify(&[&k], &sha512).is_ok());
}

#[test]
fn legacy_sha1_self_signature_key_verifies_its_old_signature() {
    let created = at(1_400_000_000); // May 2014
    let k = gen_legacy_sha1_key("Upstream Maintainer <m@example.org>", created);
    let signed = at(1_410_000_000); // Sep 2014
    let sig = sign_detached_with(&k, DATA, HashAlgorithm::SHA256, signed);
    let v = verify(&[&k], &sig).unwrap();
    assert_eq!(v.signers, vec![k.fingerprint()]);
    // The strict view (sqv's) rejects the key.
    let strict = BuildPolicy::new(Sha1Rules::strict());
    let r = verify_with(&[&k], Trust::All, 1, &sig, DATA, &strict);
    assert_eq!(code(r), Code::Failed);

    // Oracles: gpgv accepts this key, sqv 1.1 does not (DESIGN.md §3).
    let dir = tempfile::tempdir().unwrap();
    let ring = write_keyring_binary(&dir.path().join("ring.gpg"), &[&k]);
    let (s, d) = (dir.path().join("x.sig"), dir.path().join("x"));
    std::fs::write(&s, &sig).unwrap();
    std::fs::write(&d, DATA).unwrap();
    if have("gpgv") {
        assert!(gpgv_accepts(&ring, &s, &d));
    }
    if have("sqv") {
        assert!(!sqv_accepts(&ring, &s, &d));
    }
}

#[test]
fn empty_and_garbage_signatures() {
    let k = gen_key("a");
    assert_eq!(code(verify(&[&k], b"")), Code::Missing);
    assert_eq!(code(verify(&[&k], b"\n\n")), Code::Missing);
    assert_eq!(
        code(verify(&[&k], b"this is not a signature")),
        Code::Failed
    );
    // A key is not a signature.
    assert_eq!(code(verify(&[&k], &armor_cert(&k))), Code::Failed);
}

#[test]
fn keyring_errors_are_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.asc");
    let e = Keyring::load(&[missing], &[]).unwrap_err();
    assert_eq!(code_of(&e), Code::Usage);
    let empty = dir.path().join("empty.asc");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(
        code_of(&Keyring::load(&[empty], &[]).unwrap_err()),
        Code::Usage
    );
    let junk = dir.path().join("junk.asc");
    std::fs::write(&junk, b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n").unwrap();
    assert_eq!(
        code_of(&Keyring::load(&[junk], &[]).unwrap_err()),
        Code::Usage
    );
    assert_eq!(code_of(&Keyring::load(&[], &[]).unwrap_err()), Code::Usage);

    // Many certs per file, armored and binary, and a keys directory.
    let (a, b, c) = (gen_key("a"), gen_key("b"), gen_key("c"));
    let armored = write_keyring(&dir.path().join("two.asc"), &[&a, &b]);
    let binary = write_keyring_binary(&dir.path().join("one.gpg"), &[&c]);
    let ring = Keyring::load(&[armored, binary], &[]).unwrap();
    assert_eq!(ring.len(), 3);
    let kd = dir.path().join("keys");
    std::fs::create_dir(&kd).unwrap();
    write_keyring(&kd.join(format!("{}.asc", a.fingerprint().to_hex())), &[&a]);
    assert_eq!(
        Keyring::load(&[], std::slice::from_ref(&kd)).unwrap().len(),
        1
    );
    // A file named for one key but holding another is refused.
    write_keyring(&kd.join(format!("{}.asc", c.fingerprint().to_hex())), &[&b]);
    assert_eq!(
        code_of(&Keyring::load(&[], &[kd]).unwrap_err()),
        Code::Usage
    );
}

#[test]
fn signing_key_round_trip_and_gpgv_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let k = gen_key("Log signer <log@example.org>");
    let keyfile = dir.path().join("key.asc");
    std::fs::write(&keyfile, armor_tsk(&k)).unwrap();
    let mut sk = SigningKey::load(&keyfile, None).unwrap();
    assert_eq!(sk.fingerprint(), k.fingerprint());
    let sig = sk.sign_detached_armored(DATA).unwrap();
    assert!(sig.starts_with(b"-----BEGIN PGP SIGNATURE-----"));
    assert_eq!(verify(&[&k], &sig).unwrap().signers, vec![k.fingerprint()]);

    if have("gpgv") {
        let ring = write_keyring_binary(&dir.path().join("ring.gpg"), &[&k]);
        let (s, d) = (dir.path().join("x.asc"), dir.path().join("x"));
        std::fs::write(&s, &sig).unwrap();
        std::fs::write(&d, DATA).unwrap();
        assert!(gpgv_accepts(&ring, &s, &d));
        std::fs::write(&d, b"tampered").unwrap();
        assert!(!gpgv_accepts(&ring, &s, &d));
    }
    // A public key is not a signing key.
    let public = dir.path().join("pub.asc");
    std::fs::write(&public, armor_cert(&k)).unwrap();
    assert_eq!(
        code_of(&SigningKey::load(&public, None).err().unwrap()),
        Code::Usage
    );
}

#[test]
fn passphrase_protected_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    let (k, _) = sequoia_openpgp::cert::CertBuilder::general_purpose(Some("p"))
        .set_password(Some("correct horse".into()))
        .generate()
        .unwrap();
    let keyfile = dir.path().join("key.asc");
    std::fs::write(&keyfile, armor_tsk(&k)).unwrap();
    assert_eq!(
        code_of(&SigningKey::load(&keyfile, None).err().unwrap()),
        Code::Usage
    );
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "nope\n").unwrap();
    assert_eq!(
        code_of(&SigningKey::load(&keyfile, Some(&wrong)).err().unwrap()),
        Code::Usage
    );
    let right = dir.path().join("right");
    std::fs::write(&right, "correct horse\n").unwrap();
    let mut sk = SigningKey::load(&keyfile, Some(&right)).unwrap();
    let sig = sk.sign_detached_armored(DATA).unwrap();
    assert!(verify(&[&k], &sig).is_ok());
}

/// The tools define libssl's one symbol they would use (sequoia's
/// constructor calls `OPENSSL_init_ssl`) so that libssl is never loaded
/// (src/openpgp/backend.rs). Should anything start to use libssl for real,
/// it must not get that stand-in: the library would be linked again and
/// this fails. glibc's loader lists a program's libraries without running
/// it when LD_TRACE_LOADED_OBJECTS is set.
#[test]
fn no_tool_loads_libssl() {
    let tools = [
        env!("CARGO_BIN_EXE_verify-tag"),
        env!("CARGO_BIN_EXE_fetch-verified"),
        env!("CARGO_BIN_EXE_check-hashes"),
        env!("CARGO_BIN_EXE_sign-log"),
        env!("CARGO_BIN_EXE_verify-package"),
    ];
    for tool in tools {
        let o = std::process::Command::new(tool)
            .env("LD_TRACE_LOADED_OBJECTS", "1")
            .output()
            .unwrap();
        let libs = String::from_utf8_lossy(&o.stdout);
        assert!(libs.contains("libcrypto.so"), "{tool}: {libs}");
        assert!(!libs.contains("libssl.so"), "{tool} loads libssl: {libs}");
    }
}

#[test]
fn stripped_bindings_are_judged_by_the_current_ones() {
    let created = days_from_now(-400);
    let signed = days_from_now(-100);
    let data = DATA;
    // Refreshed keyring: the key's only self-signature is from last week.
    let stripped = gen_primary_signing_key("Dev", created, &[(days_from_now(-7), None)]);
    let sig = sign_by_primary_at(&stripped, data, signed);
    for validity in [KeyValidity::AtSigning, KeyValidity::Now] {
        let ring = Keyring::from_certs([stripped.clone()]).unwrap();
        let p = BuildPolicy::default();
        let v = Verifier::new(&ring, &Trust::All, &p)
            .validity(validity)
            .verify_detached_bytes(&sig, data)
            .unwrap();
        assert_eq!(v.signers, vec![stripped.fingerprint()]);
        assert!(
            v.notes.iter().any(|n| n.contains("probably stripped")),
            "{:?}",
            v.notes
        );
    }
    // The same signature over other data is still bad.
    let r = verify_with(
        &[&stripped],
        Trust::All,
        1,
        &sig,
        b"other",
        &BuildPolicy::default(),
    );
    assert_eq!(code(r), Code::Failed);

    // A key created after the signature's date fails.
    let young = gen_primary_signing_key("Young", days_from_now(-50), &[(days_from_now(-7), None)]);
    let e = verify(&[&young], &sign_by_primary_at(&young, data, signed)).unwrap_err();
    assert_eq!(code_of(&e), Code::Failed);
    assert!(format!("{e:#}").contains("after the signature"), "{e:#}");

    // A binding at the signature's time that says the key had expired
    // then is not a stripped binding: it fails though the key is valid now.
    let lapsed = gen_primary_signing_key(
        "Lapsed",
        created,
        &[(created, Some(DAY * 30)), (days_from_now(-7), None)],
    );
    let e = verify(&[&lapsed], &sign_by_primary_at(&lapsed, data, signed)).unwrap_err();
    assert_eq!(code_of(&e), Code::Failed, "{e:#}");

    // Stripped and revoked now: not valid now, so not judged by "now".
    let revoked = revoke(
        &stripped,
        ReasonForRevocation::KeySuperseded,
        days_from_now(-1),
    );
    let e = verify(&[&revoked], &sig).unwrap_err();
    assert_eq!(code_of(&e), Code::Failed);
    assert!(format!("{e:#}").contains("revoked"), "{e:#}");

    // gpgv agrees: it judges by the current self-signatures.
    if have("gpgv") {
        let dir = tempfile::tempdir().unwrap();
        let ring = write_keyring_binary(&dir.path().join("ring.gpg"), &[&stripped]);
        let (s, d) = (dir.path().join("x.sig"), dir.path().join("x"));
        std::fs::write(&s, &sig).unwrap();
        std::fs::write(&d, data).unwrap();
        assert!(gpgv_accepts(&ring, &s, &d));
    }
}

#[test]
fn keys_judged_now_fail_when_expired_or_revoked_since() {
    let data = DATA;
    let expired = gen_key_with("Expired", days_from_now(-30), Some(DAY * 20));
    let sig = sign_detached_with(&expired, data, HashAlgorithm::SHA256, days_from_now(-20));
    let soft = gen_key("Retired");
    let soft_sig = sign_detached_with(&soft, data, HashAlgorithm::SHA256, days_from_now(-5));
    let soft = revoke(&soft, ReasonForRevocation::KeyRetired, days_from_now(-1));
    for (cert, sig) in [(&expired, &sig), (&soft, &soft_sig)] {
        let ring = Keyring::from_certs([cert.clone()]).unwrap();
        let p = BuildPolicy::default();
        let v = Verifier::new(&ring, &Trust::All, &p);
        // Release artifacts: made while valid, so it passes (with a warning).
        assert!(v.verify_detached_bytes(sig, data).is_ok());
        let e = Verifier::new(&ring, &Trust::All, &p)
            .validity(KeyValidity::Now)
            .verify_detached_bytes(sig, data)
            .unwrap_err();
        assert_eq!(code_of(&e), Code::Failed);
        assert!(
            format!("{e:#}").contains("not valid now")
                || format!("{e:#}").contains("but keys must be valid now"),
            "{e:#}"
        );
    }
}

#[test]
fn sha1_data_signatures_only_before_the_allowed_date() {
    let k = gen_key("Old");
    let sig = sign_detached_with(&k, DATA, HashAlgorithm::SHA1, days_from_now(-200));
    let allow = |days: i64| {
        BuildPolicy::new(Sha1Rules {
            data_before: Some(days_from_now(days)),
            ..Sha1Rules::default()
        })
    };
    let v = verify_with(&[&k], Trust::All, 1, &sig, DATA, &allow(-100)).unwrap();
    assert!(
        v.notes.iter().any(|n| n.contains("warning: SHA-1")),
        "{:?}",
        v.notes
    );
    let e = verify_with(&[&k], Trust::All, 1, &sig, DATA, &allow(-300)).unwrap_err();
    assert!(
        format!("{e:#}").contains("refused: it is not older than --allow-sha1-before "),
        "{e:#}"
    );
    // MD5 stays refused whatever the SHA-1 rules.
    let md5 = sign_detached_with(&k, DATA, HashAlgorithm::MD5, days_from_now(-200));
    assert_eq!(
        code(verify_with(&[&k], Trust::All, 1, &md5, DATA, &allow(-100))),
        Code::Failed
    );
}

#[test]
fn sha1_certifications_count_only_before_the_cutoff() {
    let root = gen_key_with("Root", at(1_500_000_000), None);
    let dev = gen_key_with("Dev <dev@example.org>", at(1_500_000_000), None);
    let certify_at = |t: SystemTime| {
        let mut signer = primary_signer(&root);
        let uid = dev.userids().next().unwrap().userid().clone();
        let sig = SignatureBuilder::new(SignatureType::GenericCertification)
            .set_hash_algo(HashAlgorithm::SHA1)
            .set_signature_creation_time(t)
            .unwrap()
            .sign_userid_binding(&mut signer, dev.primary_key().key(), &uid)
            .unwrap();
        dev.clone().insert_packets(sig).unwrap().0
    };
    let trusted = |dev: Cert, policy: &BuildPolicy| {
        let ring = Keyring::from_certs([root.clone(), dev]).unwrap();
        Trust::from_roots(&ring, &[root.fingerprint()], &[], policy)
            .unwrap()
            .is_trusted(&dev_fpr(&ring))
    };
    fn dev_fpr(ring: &Keyring) -> sequoia_openpgp::Fingerprint {
        ring.certs()
            .find(|c| c.userids().any(|u| u.userid().value().starts_with(b"Dev")))
            .unwrap()
            .fingerprint()
    }
    let default = BuildPolicy::default();
    assert!(
        trusted(certify_at(at(1_560_000_000)), &default),
        "June 2019"
    );
    assert!(
        !trusted(certify_at(at(1_610_000_000)), &default),
        "January 2021"
    );
    let later = BuildPolicy::new(Sha1Rules {
        certifications_before: Some(at(1_640_000_000)),
        ..Sha1Rules::default()
    });
    assert!(
        trusted(certify_at(at(1_610_000_000)), &later),
        "cutoff moved to 2021-12"
    );
    assert!(
        !trusted(
            certify_at(at(1_560_000_000)),
            &BuildPolicy::new(Sha1Rules::strict())
        ),
        "--reject-sha1-certifications"
    );
}

#[test]
fn every_armored_block_of_a_signature_file_counts() {
    let a = gen_key("a");
    let b = gen_key("b");
    let stranger = gen_key("s");
    let blocks = [
        armor_sig(&sign_detached(&stranger, DATA)),
        armor_sig(&sign_detached(&a, DATA)),
        armor_sig(&sign_detached(&b, DATA)),
    ]
    .concat();
    let p = BuildPolicy::default();
    let v = verify_with(&[&a, &b], Trust::All, 2, &blocks, DATA, &p).unwrap();
    assert_eq!(v.signers.len(), 2, "{:?}", v);
    // A bad signature in a later block fails the whole file.
    let with_bad = [blocks.clone(), armor_sig(&sign_detached(&a, b"other"))].concat();
    assert_eq!(
        code(verify_with(&[&a, &b], Trust::All, 1, &with_bad, DATA, &p)),
        Code::Failed
    );
    // Text between blocks is not a signature.
    let garbage = [armor_sig(&sign_detached(&a, DATA)), b"hello\n".to_vec()].concat();
    assert_eq!(code(verify(&[&a], &garbage)), Code::Failed);
    // gpgv reads every block too: a bad second block fails it as it fails us.
    if have("gpgv") {
        let dir = tempfile::tempdir().unwrap();
        let ring = write_keyring_binary(&dir.path().join("ring.gpg"), &[&b]);
        let (s, d) = (dir.path().join("x.asc"), dir.path().join("x"));
        std::fs::write(&d, DATA).unwrap();
        let good = armor_sig(&sign_detached(&b, DATA));
        std::fs::write(&s, &good).unwrap();
        assert!(gpgv_accepts(&ring, &s, &d));
        let bad_second = [good, armor_sig(&sign_detached(&b, b"other"))].concat();
        std::fs::write(&s, &bad_second).unwrap();
        assert!(!gpgv_accepts(&ring, &s, &d));
        assert_eq!(code(verify(&[&b], &bad_second)), Code::Failed);
    }
}

#[test]
fn a_forged_signature_says_bad_signature_and_names_the_key() {
    let k = gen_key("a");
    let e = verify_with(
        &[&k],
        Trust::All,
        1,
        &sign_detached(&k, DATA),
        b"other",
        &BuildPolicy::default(),
    )
    .unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains(&format!("BAD signature by {}", k.fingerprint())),
        "{msg}"
    );
}
