//! The keys rebuilders publish: Ed25519 as a PEM `PUBLIC KEY`
//! (SubjectPublicKeyInfo) or as a securesystemslib key object, and OpenPGP
//! certificates. A key is identified by its public key (the 32 bytes, or
//! the primary fingerprint), never by a securesystemslib key id: those
//! differ between securesystemslib versions for one key.

use super::json::{object, string, Json};
use crate::exit::{fail, Code};
use crate::openpgp::{Cert, Fingerprint};
use ed25519_dalek::pkcs8::spki::der::{self, Decode, Tagged};
use ed25519_dalek::pkcs8::spki::SubjectPublicKeyInfoRef;
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;

/// id-Ed25519 (RFC 8410).
const ED25519_OID: &str = "1.3.101.112";

/// Largest key file read (an OpenPGP certificate with its signatures).
pub const MAX_KEY_FILE: u64 = 1 << 20;

/// What a vote is counted by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Identity {
    Ed25519([u8; 32]),
    OpenPgp(Fingerprint),
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Ed25519(k) => write!(f, "ed25519:{}", hex::encode(k)),
            Identity::OpenPgp(fpr) => write!(f, "openpgp:{}", fpr.to_hex()),
        }
    }
}

/// A public key a rebuilder signs with.
#[derive(Clone, Debug)]
pub enum Key {
    Ed25519(VerifyingKey),
    OpenPgp(Box<Cert>),
}

impl Key {
    pub fn identity(&self) -> Identity {
        match self {
            Key::Ed25519(k) => Identity::Ed25519(k.to_bytes()),
            Key::OpenPgp(c) => Identity::OpenPgp(c.fingerprint()),
        }
    }

    /// The key ids securesystemslib has given this key (Ed25519 only): the
    /// SHA-256 of its canonical key object, with (before 1.0) and without
    /// `keyid_hash_algorithms`. Only a hint of which signature to try first.
    pub fn sslib_keyids(&self) -> Vec<String> {
        let Key::Ed25519(k) = self else {
            return Vec::new();
        };
        let new = sslib_key_object(k);
        let mut old = new.clone();
        if let Json::Object(m) = &mut old {
            m.insert(
                "keyid_hash_algorithms".into(),
                Json::Array(vec![string("sha256"), string("sha512")]),
            );
        }
        [new, old]
            .iter()
            .map(|o| hex::encode(Sha256::digest(o.canonical())))
            .collect()
    }
}

/// securesystemslib's public key object of an Ed25519 key.
pub fn sslib_key_object(k: &VerifyingKey) -> Json {
    object([
        ("keytype", string("ed25519")),
        ("scheme", string("ed25519")),
        (
            "keyval",
            object([("public", string(hex::encode(k.to_bytes())))]),
        ),
    ])
}

/// The key id securesystemslib 1.x computes for `k` (what we sign with).
pub fn sslib_keyid(k: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(sslib_key_object(k).canonical()))
}

fn bad(path: &Path, why: impl fmt::Display) -> anyhow::Error {
    fail(Code::Usage, format!("key {}: {why}", path.display()))
}

/// Every key in a key file: PEM `PUBLIC KEY` blocks (Ed25519), a
/// securesystemslib key object (or an object of them by key id), or
/// OpenPGP certificates (armored or binary). Anything else, or a key of
/// another algorithm, is a configuration error (exit 2).
pub fn read_key_file(path: &Path) -> anyhow::Result<Vec<Key>> {
    let bytes = crate::fsutil::read_regular(path, "key", MAX_KEY_FILE, Code::Usage)?;
    parse_keys(&bytes).map_err(|why| bad(path, why))
}

/// [`read_key_file`] of bytes; the error says why, without a path.
pub fn parse_keys(bytes: &[u8]) -> Result<Vec<Key>, String> {
    let text = std::str::from_utf8(bytes).ok().map(str::trim_start);
    match text {
        Some(t) if t.starts_with("-----BEGIN PUBLIC KEY-----") => pem_keys(t),
        Some(t) if t.starts_with('{') => {
            let v = Json::parse(t.as_bytes()).map_err(|e| format!("not a key object: {e}"))?;
            sslib_keys(&v)
        }
        _ => {
            let certs = crate::openpgp::keyring::parse_certs(bytes).map_err(|e| {
                format!("not a PEM PUBLIC KEY, securesystemslib key or OpenPGP certificate: {e:#}")
            })?;
            Ok(certs
                .into_iter()
                .map(|c| Key::OpenPgp(Box::new(c.strip_secret_key_material())))
                .collect())
        }
    }
}

/// Each `-----BEGIN PUBLIC KEY-----` block of a PEM file.
fn pem_keys(text: &str) -> Result<Vec<Key>, String> {
    const END: &str = "-----END PUBLIC KEY-----";
    let mut keys = Vec::new();
    let mut rest = text;
    while !rest.trim().is_empty() {
        let start = rest.trim_start();
        if !start.starts_with("-----BEGIN PUBLIC KEY-----") {
            return Err("text outside a PEM PUBLIC KEY block".into());
        }
        let end = start.find(END).ok_or("a PEM block without its END line")? + END.len();
        let block = start.get(..end).unwrap_or_default();
        let (label, der) =
            der::pem::decode_vec(block.as_bytes()).map_err(|e| format!("bad PEM: {e}"))?;
        if label != "PUBLIC KEY" {
            return Err(format!("a PEM {label} block, not a PUBLIC KEY"));
        }
        keys.push(Key::Ed25519(spki_ed25519(&der)?));
        rest = start.get(end..).unwrap_or_default();
    }
    Ok(keys)
}

/// An Ed25519 SubjectPublicKeyInfo. RFC 8410 says the algorithm has no
/// parameters, but keys rebuilders publish (reproduce.debian.net's) carry
/// an explicit NULL, which the ed25519 crate's strict conversion (and
/// Python's cryptography) refuse; NULL is accepted here, any other
/// parameter is not.
pub fn spki_ed25519(der: &[u8]) -> Result<VerifyingKey, String> {
    let spki =
        SubjectPublicKeyInfoRef::from_der(der).map_err(|e| format!("bad public key: {e}"))?;
    if spki.algorithm.oid.to_string() != ED25519_OID {
        return Err(format!(
            "algorithm {} is not Ed25519 ({ED25519_OID})",
            spki.algorithm.oid
        ));
    }
    if let Some(p) = &spki.algorithm.parameters {
        if p.tag() != der::Tag::Null || !p.value().is_empty() {
            return Err("Ed25519 key with algorithm parameters".into());
        }
    }
    let raw = spki
        .subject_public_key
        .as_bytes()
        .ok_or("public key bit string with unused bits")?;
    ed25519_raw(raw)
}

fn ed25519_raw(raw: &[u8]) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = raw
        .try_into()
        .map_err(|_| format!("an Ed25519 key is 32 bytes, not {}", raw.len()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not a valid Ed25519 point".to_string())
}

/// A securesystemslib key object `{"keytype": "ed25519", "scheme":
/// "ed25519", "keyval": {"public": HEX}}` (other members ignored), or an
/// object of such objects by key id.
fn sslib_keys(v: &Json) -> Result<Vec<Key>, String> {
    if v.get("keytype").is_some() {
        return Ok(vec![sslib_key(v)?]);
    }
    let map = v.as_object().ok_or("not a key object")?;
    if map.is_empty() {
        return Err("an empty object holds no key".into());
    }
    map.values().map(sslib_key).collect()
}

fn sslib_key(v: &Json) -> Result<Key, String> {
    let field = |k: &str| v.get(k).and_then(Json::as_str);
    match (field("keytype"), field("scheme")) {
        (Some("ed25519"), Some("ed25519")) => {}
        (t, s) => {
            return Err(format!(
                "keytype {} with scheme {}: only ed25519 is supported",
                t.unwrap_or("(none)"),
                s.unwrap_or("(none)")
            ))
        }
    }
    let public = v
        .get("keyval")
        .and_then(|k| k.get("public"))
        .and_then(Json::as_str)
        .ok_or("no keyval.public")?;
    let raw = hex::decode(public).map_err(|_| "keyval.public is not hex".to_string())?;
    Ok(Key::Ed25519(ed25519_raw(&raw)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// reproduce.debian.net's amd64 rebuilder key (tests/data/rebuilders).
    const RDN: &str = "-----BEGIN PUBLIC KEY-----\n\
        MCwwBwYDK2VwBQADIQATuimKMfCOSfiKc2AT/T1NKQhn9y39Kz5Suo0w5UUXGA==\n\
        -----END PUBLIC KEY-----\n";

    #[test]
    fn real_key_with_null_parameters_and_both_keyids() {
        let keys = parse_keys(RDN.as_bytes()).unwrap();
        let [k] = keys.as_slice() else { panic!() };
        let Key::Ed25519(v) = k else { panic!() };
        assert_eq!(
            hex::encode(v.to_bytes()),
            "13ba298a31f08e49f88a736013fd3d4d290867f72dfd2b3e52ba8d30e5451718"
        );
        // Computed by securesystemslib 1.6 (new) and with the pre-1.0
        // keyid_hash_algorithms member (old, the link's second signature).
        assert_eq!(
            k.sslib_keyids(),
            [
                "41fd42b5b76ee2dc0e70a7d0eb0a8274c5116f53e9f37a3108ca70ca9b47837e",
                "2980aa6249ad89ce0ef0f0f5e6d0896214301b2818aad33443444cf460df6ed6"
            ]
        );
        let obj = format!(
            r#"{{"keytype":"ed25519","scheme":"ed25519","keyval":{{"public":"{}"}}}}"#,
            hex::encode(v.to_bytes())
        );
        let again = parse_keys(obj.as_bytes()).unwrap();
        assert_eq!(again[0].identity(), k.identity());
        let two = format!("{RDN}{RDN}");
        assert_eq!(parse_keys(two.as_bytes()).unwrap().len(), 2);
    }

    #[test]
    fn refuses_other_keys() {
        // An RSA key object, a PEM of another label, garbage.
        for bad in [
            r#"{"keytype":"rsa","scheme":"rsassa-pss-sha256","keyval":{"public":"x"}}"#,
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VuAyEA\n-----END PUBLIC KEY-----\n",
            "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n",
            "hello",
            "{}",
        ] {
            assert!(parse_keys(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
