//! Issue 26: in-toto attestations of rebuilders, the K-of-N policy, and the
//! attestation `sign-log agree --attest` writes. Real data: the
//! reproduce.debian.net link, .deb and key of tests/data/rebuilders; keys
//! made at test time; Python's in-toto 3 (with securesystemslib) as the
//! oracle both ways.

use crate::common;

use build_verify::attest::evidence::{Evidence, Input};
use build_verify::attest::json::{object, string, Json};
use build_verify::attest::write::{link, Artifact};
use build_verify::attest::{Attestations, Policy};
use common::*;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer as _, SigningKey};
use sequoia_openpgp::types::{HashAlgorithm, ReasonForRevocation};
use sequoia_openpgp::Cert;
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const VP: &str = env!("CARGO_BIN_EXE_verify-package");
const CH: &str = env!("CARGO_BIN_EXE_check-hashes");
const FV: &str = env!("CARGO_BIN_EXE_fetch-verified");
const SL: &str = env!("CARGO_BIN_EXE_sign-log");

const DEB: &str = "librust-as-slice-dev_0.2.1-1+b2_amd64.deb";
const LINK: &str = "librust-as-slice-dev_0.2.1-1+b2_amd64.in-toto.link";
const PUB: &str = "reproduce-debian-net-amd64.pub";
const DEB_SHA256: &str = "32be954941cdb42bce44c19ece910af04ece3a1acc9b79fa3e8ff735ffb511cd";

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/rebuilders")
        .join(name)
}

fn tool(bin: &str, args: &[&str]) -> Output {
    Command::new(bin).args(args).output().unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `verify-package --attestations-decide` of `file` with these
/// attestations, rebuilders (`NAME=KEY`) and K.
fn admit(att: &[&Path], rebuilders: &[String], min: Option<usize>, file: &Path) -> Output {
    let mut a: Vec<String> = Vec::new();
    for p in att {
        a.extend(["--attestations".into(), s(p).into()]);
    }
    for r in rebuilders {
        a.extend(["--rebuilder".into(), r.clone()]);
    }
    if let Some(k) = min {
        a.extend(["--min-rebuilders".into(), k.to_string()]);
    }
    a.extend(["--attestations-decide".into(), s(file).into()]);
    let args: Vec<&str> = a.iter().map(String::as_str).collect();
    tool(VP, &args)
}

fn rdn() -> String {
    format!("rdn={}", s(&data(PUB)))
}

/// An Ed25519 key made at test time: its PKCS#8 secret and PEM public key
/// files in `dir`.
struct Ed {
    key: SigningKey,
    public: PathBuf,
    secret: PathBuf,
}

fn ed_key(dir: &Path, name: &str) -> Ed {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).unwrap();
    let key = SigningKey::from_bytes(&seed);
    let public = dir.join(format!("{name}.pub"));
    let secret = dir.join(format!("{name}.pem"));
    std::fs::write(
        &public,
        key.verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap(),
    )
    .unwrap();
    std::fs::write(
        &secret,
        key.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes(),
    )
    .unwrap();
    Ed {
        key,
        public,
        secret,
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(bytes).into()
}

/// The `signed` part of a link whose products are `products`.
fn signed_link(products: &[(&str, [u8; 32])]) -> Json {
    let products: Vec<Artifact> = products
        .iter()
        .map(|(n, d)| Artifact {
            name: n.to_string(),
            sha256: *d,
        })
        .collect();
    link("rebuild", &[], &products, Json::Object(Default::default()))
}

/// An envelope of `signed` with these signature objects, as file bytes.
fn envelope(signed: Json, sigs: Vec<Json>) -> Vec<u8> {
    object([("signatures", Json::Array(sigs)), ("signed", signed)]).to_json_bytes()
}

/// A securesystemslib Ed25519 signature object over `data`.
fn ed_sig(k: &SigningKey, data: &[u8]) -> Json {
    object([
        (
            "keyid",
            string(build_verify::attest::keys::sslib_keyid(&k.verifying_key())),
        ),
        ("sig", string(hex::encode(k.sign(data).to_bytes()))),
    ])
}

/// A link with `products`, signed by each of `keys`.
fn ed_link(products: &[(&str, [u8; 32])], keys: &[&SigningKey]) -> Vec<u8> {
    let signed = signed_link(products);
    let c = signed.canonical();
    envelope(signed, keys.iter().map(|k| ed_sig(k, &c)).collect())
}

/// A link with `products`, signed by `cert` at `time` in securesystemslib's
/// OpenPGP form (in-toto-run --gpg).
fn pgp_link(products: &[(&str, [u8; 32])], cert: &Cert, time: std::time::SystemTime) -> Vec<u8> {
    let signed = signed_link(products);
    let packet = sign_detached_with(cert, &signed.canonical(), HashAlgorithm::SHA256, time);
    let split = build_verify::attest::gpg::from_packet(&packet).unwrap();
    let sig = object([
        ("keyid", string(split.keyid)),
        ("other_headers", string(hex::encode(split.other_headers))),
        ("signature", string(hex::encode(split.signature))),
    ]);
    envelope(signed, vec![sig])
}

/// A product file `name` with `content` in `dir`, and its digest.
fn product(dir: &Path, name: &str, content: &[u8]) -> (PathBuf, [u8; 32]) {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    (p, sha256(content))
}

#[test]
fn the_real_link_admits_its_deb_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let link = data(LINK);
    // The .deb, by the rebuilder's published key (the link's second
    // signature: the first is by a key we do not have).
    let o = admit(&[&link], &[rdn()], None, &data(DEB));
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains(&format!("{DEB}: attested OK")),
        "{}",
        text(&o)
    );
    // The directory as published works the same.
    let o = admit(&[&data("")], &[rdn()], Some(1), &data(DEB));
    assert_eq!(code(&o), 0, "{}", text(&o));

    // Any other file: nobody attests it (3) ...
    let other = tmp.path().join("other.deb");
    let mut bytes = std::fs::read(data(DEB)).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&other, &bytes).unwrap();
    let o = admit(&[&link], &[rdn()], None, &other);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(
        text(&o).contains("0 of 1 required rebuilders"),
        "{}",
        text(&o)
    );
    // ... and under the .deb's own name the rebuilder attests another
    // digest: a verification failure, naming what it reproduced.
    let renamed = tmp.path().join(DEB);
    std::fs::write(&renamed, &bytes).unwrap();
    let o = admit(&[&link], &[rdn()], None, &renamed);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        text(&o).contains(&format!("rdn attests {DEB} as sha256 {DEB_SHA256}")),
        "{}",
        text(&o)
    );
    // The link itself is no package.
    assert_eq!(code(&admit(&[&link], &[rdn()], None, &link)), 3);

    // Another key: the link is not counted, the .deb not admitted.
    let k = ed_key(tmp.path(), "other");
    let o = admit(&[&link], &[format!("x={}", s(&k.public))], None, &data(DEB));
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(
        text(&o).contains("not counted: signed by no configured rebuilder key"),
        "{}",
        text(&o)
    );

    // check-hashes: the .deb matches its list and is attested; with
    // another rebuilder's key it matches, but nothing attests it: 3, as in
    // verify-package and fetch-verified.
    let sums = tmp.path().join("SUMS");
    std::fs::write(&sums, format!("{DEB_SHA256}  {DEB}\n")).unwrap();
    let dir = data("");
    let att = ["--attestations", s(&link), "-C", s(&dir)];
    let o = tool(CH, &[&att[..], &["--rebuilder", &rdn(), s(&sums)]].concat());
    assert_eq!(code(&o), 0, "{}", text(&o));
    let x = format!("x={}", s(&k.public));
    let o = tool(CH, &[&att[..], &["--rebuilder", &x, s(&sums)]].concat());
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(text(&o).contains(": FAILED not attested"), "{}", text(&o));

    // fetch-verified: the download gets its name only if attested;
    // otherwise nothing is left behind.
    let dl = tmp.path().join("dl");
    std::fs::create_dir(&dl).unwrap();
    let url = format!("file://{}", s(&data(DEB)));
    let dest = dl.join(DEB);
    let fv = |rebuilder: &str| {
        tool(
            FV,
            &[
                "--sha256",
                DEB_SHA256,
                "--attestations",
                s(&link),
                "--rebuilder",
                rebuilder,
                "-o",
                s(&dest),
                &url,
            ],
        )
    };
    let o = fv(&format!("x={}", s(&k.public)));
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(listing(&dl).is_empty(), "{:?}", listing(&dl));
    let o = fv(&rdn());
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(listing(&dl), [DEB]);
}

/// Changing any byte of the real link either makes it fail, or lies where
/// no verifier can see it: the key ids (counting is by key, never by key
/// id) and the other rebuilder's signature. Every byte, two ways.
#[test]
fn every_changed_byte_of_the_real_link_fails_where_it_matters() {
    let link = std::fs::read(data(LINK)).unwrap();
    let policy = Policy::load(&[("rdn".into(), vec![data(PUB)])]).unwrap();
    let deb: [u8; 32] = hex::decode(DEB_SHA256).unwrap().try_into().unwrap();
    let admitted = |bytes: Vec<u8>| -> usize {
        let ev = Evidence::load(
            &policy,
            &[Input::Fetched {
                source: "mutant".into(),
                bytes,
            }],
        )
        .unwrap();
        let att = Attestations {
            policy: Policy::load(&[("rdn".into(), vec![data(PUB)])]).unwrap(),
            evidence: ev,
            min: 1,
        };
        let d = att.decide(&deb, Some(DEB));
        assert!(d.rebuilders.len() <= 1);
        usize::from(d.ok)
    };
    assert_eq!(admitted(link.clone()), 1);
    // The spans no signature covers: both key ids, the first signature.
    let shown = std::str::from_utf8(&link).unwrap();
    let span = |needle: &str| {
        let at = shown.find(needle).unwrap();
        at..at + needle.len()
    };
    let first_sig = shown.find(r#""sig":""#).unwrap() + 7;
    let free = [
        span("70a3c0fb49aaae5e4944ded6761ede4e09f9f1ea0a08e01630b59e119963c5c5"),
        span("2980aa6249ad89ce0ef0f0f5e6d0896214301b2818aad33443444cf460df6ed6"),
        first_sig..first_sig + 128,
    ];
    let (mut failed, mut tolerated) = (0, 0);
    for i in 0..link.len() {
        let b = link[i];
        // Another hex digit (stays well-formed), and a flipped bit.
        let digit = match b {
            b'0'..=b'8' | b'a'..=b'e' => Some(b + 1),
            b'9' => Some(b'a'),
            b'f' => Some(b'0'),
            _ => None,
        };
        for m in digit.into_iter().chain([b ^ 0x01, b ^ 0x20]) {
            let mut mutant = link.clone();
            mutant[i] = m;
            if admitted(mutant) == 0 {
                failed += 1;
            } else {
                assert!(
                    free.iter().any(|r| r.contains(&i)),
                    "byte {i} ({:?} -> {:?}) changed and the link still admits the .deb",
                    b as char,
                    m as char
                );
                tolerated += 1;
            }
        }
    }
    assert!(failed > 2 * link.len(), "{failed}");
    // Only what stays well-formed survives, and only in the spans: hex
    // digits turned into others (two ways), and in the free-form key ids
    // a case change too.
    assert!(tolerated <= 3 * (64 + 64) + 2 * 128, "{tolerated}");
}

#[test]
fn strict_parsing_refuses_what_a_lenient_reader_would_count() {
    let tmp = tempfile::tempdir().unwrap();
    let k = ed_key(tmp.path(), "r");
    let (file, d) = product(tmp.path(), "p.deb", b"package");
    let reb = [format!("r={}", s(&k.public))];
    let run = |bytes: &[u8]| {
        let f = tmp.path().join("doc.link");
        std::fs::write(&f, bytes).unwrap();
        admit(&[&f], &reb, None, &file)
    };
    // The good one, for contrast.
    assert_eq!(code(&run(&ed_link(&[("p.deb", d)], &[&k.key]))), 0);

    // Duplicate keys: the signature covers the last "products" (what
    // Python's json and serde_json keep); the first names another file.
    let signed = signed_link(&[("p.deb", d)]);
    let c = signed.canonical();
    let good = envelope(signed, vec![ed_sig(&k.key, &c)]);
    let good = String::from_utf8(good).unwrap();
    let dup = good.replacen(
        r#""products":"#,
        &format!(
            r#""products":{{"evil.deb":{{"sha256":"{}"}}}},"products":"#,
            "ab".repeat(32)
        ),
        1,
    );
    assert_ne!(dup, good);
    let o = run(dup.as_bytes());
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(
        text(&o).contains("refused: not strict JSON: duplicate key \"products\""),
        "{}",
        text(&o)
    );

    // A layout (or anything but a link), properly signed.
    let mut layout = signed_link(&[("p.deb", d)]);
    if let Json::Object(m) = &mut layout {
        m.insert("_type".into(), string("layout"));
    }
    let c = layout.canonical();
    let o = run(&envelope(layout, vec![ed_sig(&k.key, &c)]));
    assert_eq!(code(&o), 3);
    assert!(
        text(&o).contains(r#"_type "layout" is not link"#),
        "{}",
        text(&o)
    );

    // No signature at all.
    let o = run(&envelope(signed_link(&[("p.deb", d)]), vec![]));
    assert_eq!(code(&o), 3);
    assert!(text(&o).contains("holds no signature"), "{}", text(&o));

    // A float in the signed part: canonical JSON has none.
    let float = String::from_utf8(ed_link(&[("p.deb", d)], &[&k.key]))
        .unwrap()
        .replace(r#""byproducts":{}"#, r#""byproducts":{"x":1.5}"#);
    let o = run(float.as_bytes());
    assert_eq!(code(&o), 3);
    assert!(text(&o).contains("integers"), "{}", text(&o));

    // Nothing unverified is counted from a bad attestation beside a good
    // one: the good one still admits, the bad one is reported.
    let bad = tmp.path().join("bad.link");
    std::fs::write(&bad, b"{\"signed\": ").unwrap();
    let ok = tmp.path().join("ok.link");
    std::fs::write(&ok, ed_link(&[("p.deb", d)], &[&k.key])).unwrap();
    let o = admit(&[&bad, &ok], &reb, None, &file);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("bad.link refused"), "{}", text(&o));
}

#[test]
fn one_rebuilder_with_two_keys_counts_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("att");
    std::fs::create_dir(&dir).unwrap();
    let (a1, a2, b, c) = (
        ed_key(tmp.path(), "a1"),
        ed_key(tmp.path(), "a2"),
        ed_key(tmp.path(), "b"),
        ed_key(tmp.path(), "c"),
    );
    let (file, d) = product(tmp.path(), "p.deb", b"reproducible");
    // Rebuilder a signs with a key per architecture: two links.
    std::fs::write(dir.join("a1.link"), ed_link(&[("p.deb", d)], &[&a1.key])).unwrap();
    std::fs::write(dir.join("a2.link"), ed_link(&[("p.deb", d)], &[&a2.key])).unwrap();
    let rebuilders = [
        format!("a={},{}", s(&a1.public), s(&a2.public)),
        format!("b={}", s(&b.public)),
        format!("c={}", s(&c.public)),
    ];
    let o = admit(&[&dir], &rebuilders, Some(2), &file);
    assert_eq!(code(&o), 1, "a's two keys are one vote: {}", text(&o));
    assert!(
        text(&o).contains("1 of 2 required rebuilders attest"),
        "{}",
        text(&o)
    );
    // b attests too: 2 of 3.
    std::fs::write(dir.join("b.link"), ed_link(&[("p.deb", d)], &[&b.key])).unwrap();
    let o = admit(&[&dir], &rebuilders, Some(2), &file);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // All three required by default.
    assert_eq!(code(&admit(&[&dir], &rebuilders, None, &file)), 1);
    // One link signed by both of a's keys is still one vote.
    std::fs::remove_file(dir.join("b.link")).unwrap();
    std::fs::write(
        dir.join("both.link"),
        ed_link(&[("p.deb", d)], &[&a1.key, &a2.key]),
    )
    .unwrap();
    assert_eq!(code(&admit(&[&dir], &rebuilders, Some(2), &file)), 1);
    // K above the distinct rebuilders is a usage error.
    assert_eq!(code(&admit(&[&dir], &rebuilders, Some(4), &file)), 2);
    // The rebuilders file says the same.
    let file_policy = tmp.path().join("rebuilders");
    std::fs::write(
        &file_policy,
        "# name  keys (relative to this file)\na a1.pub a2.pub\nb b.pub\n",
    )
    .unwrap();
    std::fs::write(dir.join("b.link"), ed_link(&[("p.deb", d)], &[&b.key])).unwrap();
    let o = tool(
        VP,
        &[
            "--attestations",
            s(&dir),
            "--rebuilders",
            s(&file_policy),
            "--attestations-decide",
            "-v",
            s(&file),
        ],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains("attested by 2 of 2 required rebuilders: a, b"),
        "{}",
        text(&o)
    );
}

#[test]
fn one_key_under_two_names_counts_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (k, z) = (ed_key(tmp.path(), "k"), ed_key(tmp.path(), "z"));
    let (file, d) = product(tmp.path(), "p.deb", b"pkg");
    let dir = tmp.path().join("att");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("k.link"), ed_link(&[("p.deb", d)], &[&k.key])).unwrap();
    let rebuilders = [
        format!("x={}", s(&k.public)),
        format!("y={}", s(&k.public)),
        format!("z={}", s(&z.public)),
    ];
    let o = admit(&[&dir], &rebuilders, Some(2), &file);
    assert_eq!(code(&o), 1, "x and y are one key: {}", text(&o));
    assert!(text(&o).contains("(x/y)"), "{}", text(&o));
    // Only two distinct rebuilders exist.
    assert_eq!(code(&admit(&[&dir], &rebuilders, Some(3), &file)), 2);
    std::fs::write(dir.join("z.link"), ed_link(&[("p.deb", d)], &[&z.key])).unwrap();
    assert_eq!(code(&admit(&[&dir], &rebuilders, Some(2), &file)), 0);
}

#[test]
fn openpgp_rebuilders_expired_and_revoked_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let (file, d) = product(tmp.path(), "p.deb", b"pkg");
    let dir = tmp.path().join("att");
    std::fs::create_dir(&dir).unwrap();
    let att = |name: &str, bytes: Vec<u8>| {
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    // `name`: a link for p.deb signed by `cert` `days` ago.
    let signed = |name: &str, cert: &Cert, days: i64| {
        att(name, pgp_link(&[("p.deb", d)], cert, days_from_now(-days)));
    };
    let key = |name: &str, cert: &Cert| {
        let p = tmp.path().join(format!("{name}.asc"));
        std::fs::write(&p, armor_cert(cert)).unwrap();
        format!("{name}={}", s(&p))
    };
    // A key valid for 100 days from a year ago: expired 265 days ago.
    let expired = gen_key_with(
        "Old <old@example.org>",
        days_from_now(-365),
        Some(DAY * 100),
    );
    assert!(!alive_now(&expired));
    // Revoked ten days ago: soft (retired, superseded) or hard
    // (compromised, or no reason given).
    let revoked = |who: &str, reason| {
        revoke(
            &gen_key(&format!("{who} <{who}@example.org>")),
            reason,
            days_from_now(-10),
        )
    };
    let retired = revoked("retired", ReasonForRevocation::KeyRetired);
    let superseded = revoked("superseded", ReasonForRevocation::KeySuperseded);
    let compromised = revoked("compromised", ReasonForRevocation::KeyCompromised);
    let unspecified = revoked("unspecified", ReasonForRevocation::Unspecified);
    let live = gen_key("Live <live@example.org>");
    let rebuilders = [
        key("old", &expired),
        key("retired", &retired),
        key("superseded", &superseded),
        key("compromised", &compromised),
        key("unspecified", &unspecified),
        key("live", &live),
    ];
    signed("live.link", &live, 2);
    // Signed while the key was valid: counts, with a warning.
    signed("old.link", &expired, 300);
    let o = admit(&[&dir], &rebuilders, Some(2), &file);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains(", while it was valid: refresh the key"),
        "{}",
        text(&o)
    );
    // Signed after it expired: refused.
    signed("old.link", &expired, 5);
    let o = admit(&[&dir], &rebuilders, Some(2), &file);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("old.link refused"), "{}", text(&o));
    std::fs::remove_file(dir.join("old.link")).unwrap();
    // A soft revocation voids only what was signed after it (DESIGN.md
    // §3, as for a signed download): made before, it counts with a warning.
    for (who, cert) in [("retired", &retired), ("superseded", &superseded)] {
        signed("rev.link", cert, 30);
        let o = admit(&[&dir], &rebuilders, Some(2), &file);
        assert_eq!(code(&o), 0, "{who}: {}", text(&o));
        assert!(text(&o).contains("no longer valid"), "{who}: {}", text(&o));
        signed("rev.link", cert, 5);
        let o = admit(&[&dir], &rebuilders, Some(2), &file);
        assert_eq!(code(&o), 1, "{who}: {}", text(&o));
        assert!(text(&o).contains("rev.link refused"), "{who}: {}", text(&o));
        assert!(text(&o).contains("revoked"), "{who}: {}", text(&o));
    }
    // A hard one voids every signature, made before it or after.
    for (who, cert) in [("compromised", &compromised), ("unspecified", &unspecified)] {
        for days in [30, 5] {
            signed("rev.link", cert, days);
            let o = admit(&[&dir], &rebuilders, Some(2), &file);
            assert_eq!(code(&o), 1, "{who} {days}: {}", text(&o));
            assert!(text(&o).contains("rev.link refused"), "{who}: {}", text(&o));
            assert!(text(&o).contains("revoked"), "{who}: {}", text(&o));
        }
    }
    std::fs::remove_file(dir.join("rev.link")).unwrap();
    // A cryptographically bad OpenPGP signature: refused.
    let mut forged =
        String::from_utf8(pgp_link(&[("p.deb", d)], &live, days_from_now(-2))).unwrap();
    forged = forged.replace(&hex::encode(d), &hex::encode(sha256(b"other")));
    att("live.link", forged.into_bytes());
    // A refused attestation of the file is a failed verification (1), as
    // a bad signature is, not "nothing to verify with".
    let o = admit(&[&dir], &rebuilders, Some(1), &file);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("live.link refused"), "{}", text(&o));
}

#[test]
fn a_rebuilder_that_reproduced_another_digest_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        ed_key(tmp.path(), "a"),
        ed_key(tmp.path(), "b"),
        ed_key(tmp.path(), "c"),
    );
    let (file, d) = product(tmp.path(), "p.deb", b"the build");
    let dir = tmp.path().join("att");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("a.link"), ed_link(&[("p.deb", d)], &[&a.key])).unwrap();
    std::fs::write(dir.join("b.link"), ed_link(&[("p.deb", d)], &[&b.key])).unwrap();
    let other = sha256(b"not reproducible");
    std::fs::write(dir.join("c.link"), ed_link(&[("p.deb", other)], &[&c.key])).unwrap();
    let rebuilders = [
        format!("a={}", s(&a.public)),
        format!("b={}", s(&b.public)),
        format!("c={}", s(&c.public)),
    ];
    let o = admit(&[&dir], &rebuilders, None, &file);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        text(&o).contains(&format!("c attests p.deb as sha256 {}", hex::encode(other))),
        "{}",
        text(&o)
    );
    // 2 of 3 suffice: c's disagreement is reported, not a veto.
    assert_eq!(code(&admit(&[&dir], &rebuilders, Some(2), &file)), 0);
}

#[test]
fn dsse_statements_bundles_and_urls() {
    use base64::Engine as _;
    let tmp = tempfile::tempdir().unwrap();
    let k = ed_key(tmp.path(), "k");
    let (file, d) = product(tmp.path(), "p.deb", b"pkg");
    let dsse = |ptype: &str, predicate: &str| {
        let st = format!(
            r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"p.deb","digest":{{"sha256":"{}"}}}}],"predicateType":"{ptype}","predicate":{predicate}}}"#,
            hex::encode(d)
        );
        let pae =
            build_verify::attest::document::pae("application/vnd.in-toto+json", st.as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD;
        format!(
            r#"{{"payloadType":"application/vnd.in-toto+json","payload":"{}","signatures":[{{"keyid":"","sig":"{}"}}]}}"#,
            b64.encode(&st),
            b64.encode(k.key.sign(&pae).to_bytes())
        )
    };
    let reb = [format!("k={}", s(&k.public))];
    let vsa = "https://slsa.dev/verification_summary/v1";
    let f = tmp.path().join("vsa.json");
    std::fs::write(&f, dsse(vsa, r#"{"verificationResult":"PASSED"}"#)).unwrap();
    assert_eq!(code(&admit(&[&f], &reb, None, &file)), 0);
    // A trusted rebuilder saying its verification FAILED speaks of the
    // file: exit 1, not 3.
    std::fs::write(&f, dsse(vsa, r#"{"verificationResult":"FAILED"}"#)).unwrap();
    let o = admit(&[&f], &reb, None, &file);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("result FAILED"), "{}", text(&o));
    // A JSON Lines bundle, fetched from a URL.
    let bundle = tmp.path().join("all.intoto.jsonl");
    std::fs::write(
        &bundle,
        format!(
            "{}\n{}\n",
            dsse("https://in-toto.io/attestation/link/v0.3", "{}"),
            String::from_utf8(ed_link(&[("q.deb", sha256(b"q"))], &[&k.key])).unwrap()
        ),
    )
    .unwrap();
    let url = format!("file://{}", s(&bundle));
    let o = tool(
        VP,
        &[
            "--attestations",
            &url,
            "--rebuilder",
            &reb[0],
            "--attestations-decide",
            s(&file),
        ],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    // fetch-verified reads the bundle over HTTP with its own transport.
    let srv = http::Server::start();
    let bundle_url = srv.route(
        "/att.jsonl",
        http::Reply::Body(std::fs::read(&bundle).unwrap()),
    );
    let pkg_url = srv.route("/p.deb", http::Reply::Body(b"pkg".to_vec()));
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let o = tool(
        FV,
        &[
            "--allow-http",
            "--sha256",
            &hex::encode(d),
            "--attestations",
            &bundle_url,
            "--rebuilder",
            &reb[0],
            "-o",
            s(&out.join("p.deb")),
            &pkg_url,
        ],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(listing(&out), ["p.deb"]);
}

/// Too few attestations end alike in verify-package, check-hashes and
/// fetch-verified (DESIGN.md §2): no attestation speaks of the file at all
/// is 3 (nothing to verify with); some do, but fewer than K rebuilders
/// attest its digest (too few, a disagreement, a refused one) is 1. Nothing
/// is left behind either way.
#[test]
fn too_few_attestations_end_alike_in_every_tool() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (ed_key(tmp.path(), "a"), ed_key(tmp.path(), "b"));
    let pkgs = tmp.path().join("pkgs");
    std::fs::create_dir(&pkgs).unwrap();
    let (file, d) = product(&pkgs, "p.deb", b"the package");
    let sums = tmp.path().join("SHA256SUMS");
    std::fs::write(&sums, format!("{}  p.deb\n", hex::encode(d))).unwrap();
    let att = tmp.path().join("att");
    let dl = tmp.path().join("dl");
    std::fs::create_dir(&dl).unwrap();
    let rebuilders = [format!("a={}", s(&a.public)), format!("b={}", s(&b.public))];
    // Each tool on p.deb with the links of `att` and K; its exit code.
    let exits = |k: &str| -> [i32; 3] {
        let mut common: Vec<&str> = vec!["--attestations", s(&att), "--min-rebuilders", k];
        for r in &rebuilders {
            common.extend(["--rebuilder", r]);
        }
        let vp = tool(
            VP,
            &[&common[..], &["--attestations-decide", s(&file)]].concat(),
        );
        let ch = tool(CH, &[&common[..], &["-C", s(&pkgs), s(&sums)]].concat());
        let url = format!("file://{}", s(&file));
        let dest = dl.join("p.deb");
        let fv = tool(
            FV,
            &[
                &common[..],
                &["--sha256", &hex::encode(d), "-o", s(&dest), &url],
            ]
            .concat(),
        );
        for o in [&vp, &ch, &fv] {
            assert_ne!(code(o), 0, "{}", text(o));
        }
        assert!(listing(&dl).is_empty(), "{:?}", listing(&dl));
        assert_eq!(listing(&pkgs), ["p.deb"]);
        [code(&vp), code(&ch), code(&fv)]
    };
    let links = |files: &[(&str, Vec<u8>)]| {
        let _ = std::fs::remove_dir_all(&att);
        std::fs::create_dir(&att).unwrap();
        for (name, bytes) in files {
            std::fs::write(att.join(name), bytes).unwrap();
        }
    };
    // Only another package is attested: nothing speaks of p.deb.
    links(&[("a.link", ed_link(&[("q.deb", sha256(b"q"))], &[&a.key]))]);
    assert_eq!(exits("1"), [3; 3]);
    // A link of p.deb by a key no rebuilder holds is not an attestation.
    let stranger = ed_key(tmp.path(), "stranger");
    links(&[("s.link", ed_link(&[("p.deb", d)], &[&stranger.key]))]);
    assert_eq!(exits("1"), [3; 3]);
    // One rebuilder of the two required attests it: too few.
    links(&[("a.link", ed_link(&[("p.deb", d)], &[&a.key]))]);
    assert_eq!(exits("2"), [1; 3]);
    // The only rebuilder that speaks of p.deb reproduced another digest.
    links(&[("b.link", ed_link(&[("p.deb", sha256(b"x"))], &[&b.key]))]);
    assert_eq!(exits("1"), [1; 3]);
    // A's link of p.deb with its signature broken: refused, and a failure.
    let mut forged = String::from_utf8(ed_link(&[("p.deb", d)], &[&a.key])).unwrap();
    let sig = forged.find(r#""sig":""#).unwrap() + 7;
    let flipped = if &forged[sig..=sig] == "0" { "1" } else { "0" };
    forged.replace_range(sig..=sig, flipped);
    links(&[("a.link", forged.into_bytes())]);
    assert_eq!(exits("1"), [1; 3]);
}

/// `hash --product` lines, received into a log sealed by `key`.
fn sealed_log(tmp: &Path, n: u32, files: &[(&str, &[u8])]) -> (PathBuf, PathBuf, Cert) {
    let cert = gen_key(&format!("Builder {n} <b{n}@example.org>"));
    let key = tmp.join(format!("b{n}.key"));
    std::fs::write(&key, armor_tsk(&cert)).unwrap();
    let public = write_keyring(&tmp.join(format!("b{n}.pub")), &[&cert]);
    let build = tmp.join(format!("build{n}"));
    std::fs::create_dir_all(&build).unwrap();
    let mut out = b"make[1]: Entering directory build\n".to_vec();
    for (name, bytes) in files {
        let p = build.join(name);
        std::fs::write(&p, bytes).unwrap();
        let h = tool(SL, &["hash", "--product", s(&p)]);
        assert_eq!(code(&h), 0, "{}", text(&h));
        out.extend(h.stdout);
    }
    let log = tmp.join(format!("log{n}"));
    let o = run_fed(
        Command::new(SL).args(["receive", "--log", s(&log), "--name", "core-admin"]),
        &out,
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = tool(SL, &["seal", "--log", s(&log), "--key", s(&key)]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    (log, public, cert)
}

#[test]
fn agree_counts_sealed_logs_and_links_together_and_attests() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let rpm: &[u8] = b"reproducible rpm";
    let (log1, pub1, cert1) = sealed_log(t, 1, &[("core-admin_4.2_amd64.deb", rpm)]);
    let (log2, pub2, _) = sealed_log(t, 2, &[("core-admin_4.2_amd64.deb", rpm)]);
    let att = t.join("att");
    std::fs::create_dir(&att).unwrap();
    let r = ed_key(t, "r");
    std::fs::write(
        att.join("r.link"),
        ed_link(&[("core-admin_4.2_amd64.deb", sha256(rpm))], &[&r.key]),
    )
    .unwrap();
    // Builder 1's own OpenPGP key also signs a link: the same builder.
    std::fs::write(
        att.join("b1.link"),
        pgp_link(
            &[("core-admin_4.2_amd64.deb", sha256(rpm))],
            &cert1,
            days_from_now(-1),
        ),
    )
    .unwrap();
    let agree = |extra: &[&str]| {
        let mut a = vec![
            "agree",
            "--log",
            s(&log1),
            "--log",
            s(&log2),
            "--keyring",
            s(&pub1),
            "--keyring",
            s(&pub2),
            "--attestations",
            s(&att),
        ];
        a.extend_from_slice(extra);
        tool(SL, &a)
    };
    let b1 = format!("b1={}", s(&pub1));
    let rr = format!("r={}", s(&r.public));
    let o = agree(&["--rebuilder", &rr, "--rebuilder", &b1, "--min", "3"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("rebuilder b1"), "{out}");
    assert!(out.contains("agreed (3 agree; 3 required)"), "{out}");
    assert!(out.contains("attested by builder"), "{out}");
    // Four would need b1 to count twice.
    let o = agree(&["--rebuilder", &rr, "--rebuilder", &b1, "--min", "4"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // A rebuilder that reproduced something else makes it NOT AGREED by all.
    let x = ed_key(t, "x");
    std::fs::write(
        att.join("x.link"),
        ed_link(&[("core-admin_4.2_amd64.deb", sha256(b"other"))], &[&x.key]),
    )
    .unwrap();
    let rx = format!("x={}", s(&x.public));
    let o = agree(&["--rebuilder", &rr, "--rebuilder", &rx]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("NOT AGREED (3 agree, 1 disagrees; 4 required)"),
        "{}",
        text(&o)
    );
    // --attest writes the agreement as a link, which counts for its key.
    let me = ed_key(t, "me");
    let out_link = t.join("agreed.link");
    let o = agree(&[
        "--rebuilder",
        &rr,
        "--rebuilder",
        &rx,
        "--min",
        "3",
        "--attest",
        s(&me.secret),
        "--attest-to",
        s(&out_link),
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let built = t.join("build1/core-admin_4.2_amd64.deb");
    let o = admit(
        &[&out_link],
        &[format!("me={}", s(&me.public))],
        None,
        &built,
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    // Not agreed: nothing written.
    let none = t.join("none.link");
    let o = agree(&[
        "--rebuilder",
        &rx,
        "--attest",
        s(&me.secret),
        "--attest-to",
        s(&none),
    ]);
    assert_eq!(code(&o), 1);
    assert!(!none.exists());
}

/// Python's in-toto (3.x, with securesystemslib): found as
/// $BUILD_VERIFY_IN_TOTO_PYTHON (.ci/run's virtual environment) or
/// python3; a test oracle that CI must have.
fn in_toto_python() -> Option<String> {
    let py = std::env::var("BUILD_VERIFY_IN_TOTO_PYTHON").unwrap_or_else(|_| "python3".into());
    let present = Command::new(&py)
        .args([
            "-c",
            "import in_toto, securesystemslib; assert int(in_toto.__version__.split('.')[0]) >= 3",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    oracle_present("Python in-toto 3", present).then_some(py)
}

fn py(python: &str, args: &[&str]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/attest/in_toto_oracle.py");
    Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn python_in_toto_verifies_ours_and_writes_links_we_verify() {
    let Some(python) = in_toto_python() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (file, d) = product(t, "p.deb", b"a reproducible package");
    let dh = hex::encode(d);
    // Python writes: a link, a DSSE link, a DSSE Statement (VSA), Ed25519.
    let o = py(&python, &["write-ed25519", s(t), "p.deb", &dh]);
    assert!(o.status.success(), "{}", text(&o));
    let reb = format!("py={}", s(&t.join("py.pub")));
    for f in ["py.link", "py-dsse.json", "py-statement.json"] {
        let o = admit(&[&t.join(f)], std::slice::from_ref(&reb), None, &file);
        assert_eq!(code(&o), 0, "{f}: {}", text(&o));
    }
    // ... and an OpenPGP-signed link (Metablock.sign_gpg, gpg).
    let gpg = pkg::Gpg::new(&t.join("gnupg"));
    gpg.gen("rebuilder@example.org", "ed25519");
    let fpr = gpg.fingerprint("rebuilder@example.org");
    let cert = t.join("rebuilder.asc");
    gpg.export("rebuilder@example.org", &cert, true);
    let o = py(
        &python,
        &["write-gpg", s(t), s(&gpg.home), &fpr, "p.deb", &dh],
    );
    assert!(o.status.success(), "{}", text(&o));
    let pgp = format!("q={}", s(&cert));
    let o = admit(
        &[&t.join("py-gpg.link")],
        std::slice::from_ref(&pgp),
        None,
        &file,
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    // A changed product digest in Python's link fails for us too.
    let tampered = t.join("tampered.link");
    let bytes = std::fs::read_to_string(t.join("py.link"))
        .unwrap()
        .replace(&dh, &"0".repeat(64));
    std::fs::write(&tampered, bytes).unwrap();
    assert_ne!(
        code(&admit(
            &[&tampered],
            std::slice::from_ref(&reb),
            None,
            &file
        )),
        0
    );

    // We write (sign-log agree --attest), Python verifies: Ed25519 ...
    let py_link = t.join("py.link");
    let agree = |key: &str, to: &Path| {
        let mut c = Command::new(SL);
        c.args(["agree", "--attestations", s(&py_link), "--rebuilder", &reb])
            .args(["--attest", key, "--attest-to", s(to)])
            .env("GNUPGHOME", &gpg.home);
        c
    };
    let me = ed_key(t, "me");
    let ours = t.join("ours.link");
    let o = agree(s(&me.secret), &ours).output().unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = py(&python, &["verify-ed25519", s(&ours), s(&me.public)]);
    assert!(o.status.success(), "{}", text(&o));
    // ... and through a gpg program (Split-GPG's place), OpenPGP.
    let wrapper = t.join("gpg-wrapper");
    std::fs::write(&wrapper, "#!/bin/sh\nexec gpg --batch --no-tty \"$@\"\n").unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let ours_gpg = t.join("ours-gpg.link");
    let o = agree(&fpr, &ours_gpg)
        .args(["--gpg-program", s(&wrapper)])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = py(&python, &["verify-gpg", s(&ours_gpg), s(&gpg.home), &fpr]);
    assert!(o.status.success(), "{}", text(&o));
    // Python refuses our link once a byte of it changes.
    let changed = std::fs::read_to_string(&ours).unwrap().replacen(
        "\"sign-log agree\"",
        "\"sign-log agreE\"",
        1,
    );
    std::fs::write(&ours, changed).unwrap();
    let o = py(&python, &["verify-ed25519", s(&ours), s(&me.public)]);
    assert!(!o.status.success(), "{}", text(&o));
    gpg.stop_agent();
}

/// Our canonical JSON against securesystemslib's encode_canonical, on the
/// edge cases: escapes, control characters, non-ASCII, key order by code
/// point (prefixes, quote, backslash), big integers.
#[test]
fn canonical_json_matches_securesystemslib() {
    let Some(python) = in_toto_python() else {
        return;
    };
    let docs = [
        r#"{"b":1,"a":2,"a!":3,"a\"b":4,"a#":5,"a\\":6,"":7}"#,
        r#"["tab\there","nl\nx","q\"","bs\\","\u0001\u001f","\u00e9","e\u0301","\ud83d\ude00","/"]"#,
        r#"{"n":[0,-1,9223372036854775807,-9223372036854775808,18446744073709551615],"t":true,"f":false,"z":null}"#,
        r#"{"\u00e9":1,"z":2,"Z":3,"\u0101":4,"\ud83d\ude00":5,"\uffff":6}"#,
        r#"{"nested":{"y":[{"b":{},"a":[]}],"x":""}}"#,
    ];
    let input = docs.join("\n") + "\n";
    let o = run_fed(
        Command::new(&python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/attest/in_toto_oracle.py"))
            .arg("canonical"),
        input.as_bytes(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let theirs: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(theirs.len(), docs.len());
    for (doc, want) in docs.iter().zip(theirs) {
        let ours = hex::encode(Json::parse(doc.as_bytes()).unwrap().canonical());
        assert_eq!(ours, want, "{doc}");
    }
}

/// Every signature of a document is verified over its whole signed part,
/// so N signatures over S bytes cost N x S hashing: a 9 MB link of one
/// megabyte signed and 40,000 junk signatures was hours of SHA-512 (a
/// hang) for one file. A document with more than
/// `document::MAX_SIGNATURES` signatures is refused at once, as any
/// other malformed document: it counts for no rebuilder (exit 3), and
/// nothing is written.
#[test]
fn a_document_with_thousands_of_signatures_is_refused_not_verified_for_hours() {
    use build_verify::attest::document::MAX_SIGNATURES;
    let tmp = tempfile::tempdir().unwrap();
    let k = ed_key(tmp.path(), "r");
    let (file, d) = product(tmp.path(), "p.deb", b"package");
    let reb = [format!("r={}", s(&k.public))];
    let byproducts = object([("stdout", string("x".repeat(1 << 20)))]);
    let signed = link(
        "rebuild",
        &[],
        &[Artifact {
            name: "p.deb".into(),
            sha256: d,
        }],
        byproducts,
    );
    let c = signed.canonical();
    let good = ed_sig(&k.key, &c);
    let junk = object([
        (
            "keyid",
            string(build_verify::attest::keys::sslib_keyid(
                &k.key.verifying_key(),
            )),
        ),
        ("sig", string("ab".repeat(64))),
    ]);
    let doc = |n: usize| {
        let mut sigs = vec![good.clone()];
        sigs.extend(std::iter::repeat_n(junk.clone(), n - 1));
        envelope(signed.clone(), sigs)
    };
    let run = |bytes: &[u8]| {
        let f = tmp.path().join("doc.link");
        std::fs::write(&f, bytes).unwrap();
        let before = listing(tmp.path());
        let mut cmd = Command::new(VP);
        cmd.args(["--attestations", s(&f), "--rebuilder", &reb[0]])
            .args(["--attestations-decide", s(&file)]);
        let o = run_deadline(&mut cmd, 60)
            .unwrap_or_else(|o| panic!("still verifying after 60 s: {}", text(&o)));
        assert_eq!(listing(tmp.path()), before, "nothing written");
        o
    };
    // At the limit, a document counts as usual (the good signature first).
    let o = run(&doc(MAX_SIGNATURES));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = run(&doc(40_000));
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(
        text(&o).contains(&format!("more than {MAX_SIGNATURES} signatures")),
        "{}",
        text(&o)
    );
}

/// An --attestations path through a file (`a.link/x`) can never exist: a
/// usage error (exit 2) as a missing one, not an I/O error (4).
#[test]
fn an_attestations_path_through_a_file_is_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let k = ed_key(tmp.path(), "r");
    let (file, _) = product(tmp.path(), "p.deb", b"package");
    let reb = [format!("r={}", s(&k.public))];
    let before = listing(tmp.path());
    for att in [tmp.path().join("missing"), file.join("x")] {
        let o = admit(&[&att], &reb, None, &file);
        assert_eq!(code(&o), 2, "{}: {}", att.display(), text(&o));
    }
    assert_eq!(listing(tmp.path()), before);
}
