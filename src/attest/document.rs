//! One attestation as published, parsed but not yet verified:
//!
//! - an in-toto link in securesystemslib's signed-metadata envelope,
//!   `{"signed": {"_type": "link", ...}, "signatures": [{"keyid", "sig"}]}`,
//!   signed over the canonical JSON of `signed` (reproduce.debian.net,
//!   rebuilderd, in-toto-run); an OpenPGP signature there is
//!   securesystemslib's split form `{"keyid", "other_headers",
//!   "signature"}` (in-toto-run --gpg, Qubes' rebuilder);
//! - a DSSE envelope `{"payloadType": "application/vnd.in-toto+json",
//!   "payload": BASE64, "signatures": [{"keyid", "sig": BASE64}]}`, signed
//!   over the PAE of type and payload, holding an in-toto Statement (v1 or
//!   v0.1) or a link (in-toto 3's `--use-dsse`).
//!
//! What a document attests is the SHA-256 of its products (a link) or of
//! its subjects (a Statement whose predicate claims a build or a passed
//! verification). Everything else is refused here: duplicate keys, a
//! `_type` other than link, unknown envelope members, an empty signature
//! list, malformed digests.

use super::json::Json;
use base64::Engine as _;
use std::collections::BTreeMap;

/// The DSSE payload type of in-toto documents.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
pub const LINK_PREDICATE: &str = "https://in-toto.io/attestation/link/v0.3";
pub const VSA_V1: &str = "https://slsa.dev/verification_summary/v1";
const VSA_V02: &str = "https://slsa.dev/verification_summary/v0.2";
const PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
const PROVENANCE_V02: &str = "https://slsa.dev/provenance/v0.2";

/// Largest attestation document (rebuilders' links are about a kilobyte;
/// a link recording a whole source tree can be megabytes).
pub const MAX_DOCUMENT: u64 = 16 << 20;

/// Most signatures a document may carry. Each is verified over the whole
/// signed part, so the work is their number times its size: unbounded, a
/// 16 MiB document of junk signatures over a megabyte would hash for
/// hours. Rebuilders sign with one key; a threshold of a few is the most
/// an in-toto layout asks of one link.
pub const MAX_SIGNATURES: usize = 32;

/// How a document is wrapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// securesystemslib's signed-metadata envelope around a link.
    Link,
    /// DSSE around a link.
    DsseLink,
    /// DSSE around an in-toto Statement.
    DsseStatement,
}

/// One signature as the document carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SigValue {
    /// Raw signature bytes (Ed25519: 64 bytes).
    Raw(Vec<u8>),
    /// securesystemslib's OpenPGP form: the hashed part of the signature
    /// packet and the algorithm-specific signature values.
    Gpg {
        other_headers: Vec<u8>,
        signature: Vec<u8>,
    },
    /// OpenPGP signature packets (in a DSSE `sig`).
    OpenPgp(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sig {
    /// As the document says; unauthenticated, only a hint.
    pub keyid: String,
    pub value: SigValue,
}

/// A product (or subject) a document names, with its SHA-256 if given.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Claim {
    pub name: String,
    #[serde(with = "hex_opt")]
    pub sha256: Option<[u8; 32]>,
}

mod hex_opt {
    pub fn serialize<S: serde::Serializer>(v: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }
}

/// A parsed, unverified attestation.
#[derive(Clone, Debug)]
pub struct Document {
    pub format: Format,
    /// The link's name, or the Statement's predicate type.
    pub name: String,
    /// What it attests (products, or subjects).
    pub claims: Vec<Claim>,
    /// Why it attests nothing though it may verify (a failed verification
    /// summary, a predicate that claims no build).
    pub attests_nothing: Option<String>,
    /// The bytes the signatures cover.
    pub signed: Vec<u8>,
    pub signatures: Vec<Sig>,
}

/// Why a document was refused.
pub type Refusal = String;

/// Parse one attestation document (JSON).
pub fn parse(bytes: &[u8]) -> Result<Document, Refusal> {
    let v = Json::parse(bytes).map_err(|e| format!("not strict JSON: {e}"))?;
    let top = v.as_object().ok_or("not a JSON object")?;
    if top.contains_key("signed") {
        only(top, &["signed", "signatures"], "the envelope")?;
        return parse_link_envelope(top);
    }
    if top.contains_key("payload") {
        only(
            top,
            &["payload", "payloadType", "signatures"],
            "the DSSE envelope",
        )?;
        return parse_dsse(top);
    }
    Err("neither a signed-metadata envelope (signed, signatures) nor a DSSE envelope (payload, payloadType, signatures)".into())
}

/// Refuse members other than `allowed`.
fn only(obj: &BTreeMap<String, Json>, allowed: &[&str], what: &str) -> Result<(), Refusal> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("{what} has an unknown member {k:?}")),
        None => Ok(()),
    }
}

fn signatures(top: &BTreeMap<String, Json>) -> Result<&[Json], Refusal> {
    let sigs = top
        .get("signatures")
        .ok_or("no signatures")?
        .as_array()
        .ok_or("signatures is not an array")?;
    if sigs.is_empty() {
        return Err("the envelope holds no signature".into());
    }
    if sigs.len() > MAX_SIGNATURES {
        return Err(format!(
            "the envelope holds {} signatures, more than {MAX_SIGNATURES} signatures",
            sigs.len()
        ));
    }
    Ok(sigs)
}

fn str_member<'a>(
    obj: &'a BTreeMap<String, Json>,
    key: &str,
    what: &str,
) -> Result<&'a str, Refusal> {
    match obj.get(key) {
        Some(Json::Str(s)) => Ok(s),
        Some(other) => Err(format!("{what}: {key} is {}, not a string", other.kind())),
        None => Err(format!("{what}: no {key}")),
    }
}

/// Lowercase hex, as securesystemslib writes it: one spelling per value,
/// so no byte of a document can change without changing what it says.
fn unhex(s: &str, what: &str) -> Result<Vec<u8>, Refusal> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!("{what} is not lowercase hex"));
    }
    hex::decode(s).map_err(|_| format!("{what} is not hex"))
}

fn parse_link_envelope(top: &BTreeMap<String, Json>) -> Result<Document, Refusal> {
    let signed = top.get("signed").ok_or("no signed")?;
    let mut sigs = Vec::new();
    for (i, s) in signatures(top)?.iter().enumerate() {
        let what = format!("signature {}", i + 1);
        let obj = s.as_object().ok_or(format!("{what} is not an object"))?;
        let keyid = str_member(obj, "keyid", &what)?.to_owned();
        let value = if obj.contains_key("other_headers") {
            only(obj, &["keyid", "other_headers", "signature"], &what)?;
            SigValue::Gpg {
                other_headers: unhex(str_member(obj, "other_headers", &what)?, &what)?,
                signature: unhex(str_member(obj, "signature", &what)?, &what)?,
            }
        } else {
            only(obj, &["keyid", "sig"], &what)?;
            SigValue::Raw(unhex(str_member(obj, "sig", &what)?, &what)?)
        };
        sigs.push(Sig { keyid, value });
    }
    let (name, claims) = link_body(signed)?;
    Ok(Document {
        format: Format::Link,
        name,
        claims,
        attests_nothing: None,
        signed: signed.canonical(),
        signatures: sigs,
    })
}

/// DSSE's pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// DSSE allows standard or URL-safe base64, padded or not.
fn unbase64(s: &str, what: &str) -> Result<Vec<u8>, Refusal> {
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    use base64::engine::DecodePaddingMode;
    let lenient =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let std = GeneralPurpose::new(&base64::alphabet::STANDARD, lenient);
    let url = GeneralPurpose::new(&base64::alphabet::URL_SAFE, lenient);
    std.decode(s)
        .or_else(|_| url.decode(s))
        .map_err(|_| format!("{what} is not base64"))
}

fn parse_dsse(top: &BTreeMap<String, Json>) -> Result<Document, Refusal> {
    let ptype = str_member(top, "payloadType", "the DSSE envelope")?;
    if ptype != PAYLOAD_TYPE {
        return Err(format!("payload type {ptype:?} is not {PAYLOAD_TYPE}"));
    }
    let payload = unbase64(str_member(top, "payload", "the DSSE envelope")?, "payload")?;
    let mut sigs = Vec::new();
    for (i, s) in signatures(top)?.iter().enumerate() {
        let what = format!("signature {}", i + 1);
        let obj = s.as_object().ok_or(format!("{what} is not an object"))?;
        // DSSE's keyid is optional.
        let keyid = match obj.get("keyid") {
            None => String::new(),
            Some(_) => str_member(obj, "keyid", &what)?.to_owned(),
        };
        let sig = unbase64(str_member(obj, "sig", &what)?, &what)?;
        let value = if obj.contains_key("other_headers") {
            only(obj, &["keyid", "sig", "other_headers"], &what)?;
            SigValue::Gpg {
                other_headers: unhex(str_member(obj, "other_headers", &what)?, &what)?,
                signature: sig,
            }
        } else {
            only(obj, &["keyid", "sig"], &what)?;
            // An OpenPGP signature packet starts with a tag byte with the
            // high bit set (0x88/0x89 old format, 0xc2 new); Ed25519's 64
            // bytes are anything.
            if sig.len() != 64 && sig.first().is_some_and(|b| b & 0x80 != 0) {
                SigValue::OpenPgp(sig)
            } else {
                SigValue::Raw(sig)
            }
        };
        sigs.push(Sig { keyid, value });
    }
    let body = Json::parse(&payload).map_err(|e| format!("payload is not strict JSON: {e}"))?;
    let signed = pae(ptype, &payload);
    let t = body.get("_type").and_then(Json::as_str).unwrap_or_default();
    if t == "link" {
        let (name, claims) = link_body(&body)?;
        return Ok(Document {
            format: Format::DsseLink,
            name,
            claims,
            attests_nothing: None,
            signed,
            signatures: sigs,
        });
    }
    if t != STATEMENT_V1 && t != STATEMENT_V01 {
        return Err(format!(
            "payload _type {t:?} is neither a link nor an in-toto Statement"
        ));
    }
    let (name, claims, attests_nothing) = statement_body(&body)?;
    Ok(Document {
        format: Format::DsseStatement,
        name,
        claims,
        attests_nothing,
        signed,
        signatures: sigs,
    })
}

/// A digest set `{"sha256": HEX, ...}`: the SHA-256 if there is one; every
/// value must be a hex string, and a SHA-256 32 bytes.
fn digest_set(v: &Json, what: &str) -> Result<Option<[u8; 32]>, Refusal> {
    let obj = v
        .as_object()
        .ok_or(format!("{what}: digests are not an object"))?;
    let mut sha256 = None;
    for (alg, value) in obj {
        let hexed = value
            .as_str()
            .ok_or(format!("{what}: digest {alg} is not a string"))?;
        let bytes = unhex(hexed, &format!("{what}: digest {alg}"))?;
        if alg == "sha256" {
            sha256 = Some(
                <[u8; 32]>::try_from(bytes.as_slice())
                    .map_err(|_| format!("{what}: a sha256 of {} bytes", bytes.len()))?,
            );
        }
    }
    Ok(sha256)
}

/// A link: `_type` link, a name, products (and materials) as artifact
/// maps. Other members are covered by the signature and not interpreted.
fn link_body(v: &Json) -> Result<(String, Vec<Claim>), Refusal> {
    let obj = v.as_object().ok_or("the signed part is not an object")?;
    let t = str_member(obj, "_type", "the link")?;
    if t != "link" {
        return Err(format!("_type {t:?} is not link"));
    }
    let name = str_member(obj, "name", "the link")?.to_owned();
    let mut claims = Vec::new();
    for part in ["materials", "products"] {
        let Some(map) = obj.get(part) else {
            return Err(format!("the link has no {part}"));
        };
        let map = map.as_object().ok_or(format!("{part} is not an object"))?;
        for (file, digests) in map {
            let sha256 = digest_set(digests, &format!("{part} {file:?}"))?;
            if part == "products" {
                claims.push(Claim {
                    name: file.clone(),
                    sha256,
                });
            }
        }
    }
    Ok((name, claims))
}

/// A Statement: subjects with digests; the predicate type decides whether
/// it claims the subjects were built (link, SLSA provenance) or verified
/// (a verification summary that PASSED).
fn statement_body(v: &Json) -> Result<(String, Vec<Claim>, Option<String>), Refusal> {
    let obj = v.as_object().ok_or("the statement is not an object")?;
    let ptype = str_member(obj, "predicateType", "the statement")?.to_owned();
    let subjects = obj
        .get("subject")
        .and_then(Json::as_array)
        .ok_or("the statement has no subject array")?;
    if subjects.is_empty() {
        return Err("the statement has no subject".into());
    }
    let mut claims = Vec::new();
    for (i, s) in subjects.iter().enumerate() {
        let what = format!("subject {}", i + 1);
        let so = s.as_object().ok_or(format!("{what} is not an object"))?;
        let name = match so.get("name") {
            None => String::new(),
            Some(_) => str_member(so, "name", &what)?.to_owned(),
        };
        let digest = so.get("digest").ok_or(format!("{what} has no digest"))?;
        claims.push(Claim {
            name,
            sha256: digest_set(digest, &what)?,
        });
    }
    let predicate = obj.get("predicate");
    let nothing = match ptype.as_str() {
        LINK_PREDICATE | PROVENANCE_V1 | PROVENANCE_V02 => None,
        VSA_V1 | VSA_V02 => {
            match predicate
                .and_then(|p| p.get("verificationResult"))
                .and_then(Json::as_str)
            {
                Some("PASSED") => None,
                Some(r) => Some(format!("a verification summary with result {r}")),
                None => Some("a verification summary without verificationResult".into()),
            }
        }
        other => Some(format!(
            "predicate type {other} claims neither a build nor a passed verification"
        )),
    };
    Ok((ptype, claims, nothing))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: &str = r#"{"signatures":[{"keyid":"ab","sig":"00ff"}],"signed":{"_type":"link","name":"x","materials":{},"products":{"a.deb":{"sha256":"32be954941cdb42bce44c19ece910af04ece3a1acc9b79fa3e8ff735ffb511cd"}},"environment":null,"byproducts":{},"command":[]}}"#;

    #[test]
    fn link_envelope() {
        let d = parse(LINK.as_bytes()).unwrap();
        assert_eq!(d.format, Format::Link);
        assert_eq!(d.claims.len(), 1);
        assert!(d.signed.starts_with(br#"{"_type":"link","byproducts":{}"#));
        assert_eq!(d.signatures[0].value, SigValue::Raw(vec![0, 255]));
    }

    #[test]
    fn refusals() {
        let cases = [
            LINK.replace(r#""_type":"link""#, r#""_type":"layout""#),
            LINK.replace(r#"[{"keyid":"ab","sig":"00ff"}]"#, "[]"),
            LINK.replace(r#""name":"x""#, r#""name":"x","name":"y""#),
            LINK.replace(r#""sig":"00ff""#, r#""sig":"0g""#),
            LINK.replace(r#""sig":"00ff""#, r#""sig":"00FF""#),
            LINK.replace(r#"{"signatures""#, r#"{"extra":1,"signatures""#),
            LINK.replace("b511cd\"", "b511\""),
            LINK.replace(r#""materials":{},"#, ""),
        ];
        for c in cases {
            assert!(parse(c.as_bytes()).is_err(), "{c}");
        }
    }

    #[test]
    fn pae_matches_the_dsse_spec() {
        // The DSSE protocol's example.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn statements_by_predicate() {
        let st = |ptype: &str, pred: &str| {
            let body = format!(
                r#"{{"_type":"{STATEMENT_V1}","subject":[{{"name":"a","digest":{{"sha256":"{}"}}}}],"predicateType":"{ptype}","predicate":{pred}}}"#,
                "00".repeat(32)
            );
            let env = format!(
                r#"{{"payloadType":"{PAYLOAD_TYPE}","payload":"{}","signatures":[{{"sig":"{}"}}]}}"#,
                base64::engine::general_purpose::STANDARD.encode(body),
                base64::engine::general_purpose::STANDARD.encode([0u8; 64])
            );
            parse(env.as_bytes()).unwrap()
        };
        assert!(st(VSA_V1, r#"{"verificationResult":"PASSED"}"#)
            .attests_nothing
            .is_none());
        assert!(st(VSA_V1, r#"{"verificationResult":"FAILED"}"#)
            .attests_nothing
            .is_some());
        assert!(st("https://example.com/scan", "{}")
            .attests_nothing
            .is_some());
        assert!(st(LINK_PREDICATE, "{}").attests_nothing.is_none());
    }
}
