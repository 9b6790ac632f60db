//! C2SP signed notes (c2sp.org/signed-note) with Ed25519 signature lines,
//! and timestamped Ed25519 cosignatures (c2sp.org/tlog-cosignature), so
//! checkpoints can be checked by existing transparency tooling (Go's
//! `golang.org/x/mod/sumdb/note`) and cosigned by witnesses.
//!
//! A note is a text ending in a newline, a blank line, then signature
//! lines `— NAME base64(keyID || signature)`. The key ID is the first four
//! bytes of SHA-256(NAME || "\n" || type || public key), type 0x01 for
//! plain Ed25519 over the text, 0x04 for a cosignature: Ed25519 over
//! `cosignature/v1\ntime T\n` and the text, with T (8 bytes, big-endian)
//! before the signature. Keys are written as Go's note package writes them:
//! `NAME+HASH+base64(type || key)`, with `PRIVATE+KEY+` before a secret one.

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;

/// Signature type of a plain Ed25519 note signature.
pub const ED25519: u8 = 0x01;
/// Signature type of a timestamped Ed25519 checkpoint cosignature.
pub const COSIGNATURE: u8 = 0x04;
/// Signature lines read from one note; the spec asks for at least 16.
pub const MAX_SIGNATURES: usize = 100;

const SIG_PREFIX: &str = "\u{2014} ";
const COSIG_HEADER: &str = "cosignature/v1\n";

/// Why a note, key or signature is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("key name {0:?} is empty or holds a space or '+'")]
    BadName(String),
    #[error("malformed {kind} key: {why}")]
    BadKey { kind: &'static str, why: String },
    #[error("the signature of {name} (key ID {key_id:08x}) does not verify")]
    BadSignature { name: String, key_id: u32 },
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Key names are non-empty, without Unicode spaces or '+'.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// The key ID of a key: SHA-256(name || "\n" || type || public key)[:4].
pub fn key_id(name: &str, kind: u8, public: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([kind]);
    h.update(public);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// One signature line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureLine {
    pub name: String,
    pub key_id: u32,
    /// The signature bytes after the key ID.
    pub sig: Vec<u8>,
}

impl SignatureLine {
    /// `— NAME base64(keyID || sig)` with its newline.
    pub fn encode(&self) -> String {
        let mut raw = self.key_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.sig);
        format!("{SIG_PREFIX}{} {}\n", self.name, b64().encode(raw))
    }

    /// Parse one line (without its newline).
    pub fn parse(line: &str) -> Result<SignatureLine, NoteError> {
        let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed(
            "a signature line must start with an em dash",
        ))?;
        let (name, sig64) = rest.split_once(' ').ok_or(NoteError::Malformed(
            "a signature line needs a name and a signature",
        ))?;
        if !valid_name(name) {
            return Err(NoteError::BadName(name.to_string()));
        }
        let raw = b64()
            .decode(sig64)
            .map_err(|_| NoteError::Malformed("a signature is not base64"))?;
        let (id, sig) = raw
            .split_first_chunk::<4>()
            .filter(|(_, s)| !s.is_empty())
            .ok_or(NoteError::Malformed("a signature is shorter than 5 bytes"))?;
        Ok(SignatureLine {
            name: name.to_string(),
            key_id: u32::from_be_bytes(*id),
            sig: sig.to_vec(),
        })
    }
}

/// A note: its text and signature lines (none for a checkpoint stored
/// with its OpenPGP signature only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub signatures: Vec<SignatureLine>,
}

impl Note {
    /// Parse a note as Go's `note.Open` does (UTF-8, no control character
    /// but newline, the text ends at the last blank line), except that a
    /// text without any signature line is accepted as it is.
    pub fn parse(msg: &[u8]) -> Result<Note, NoteError> {
        let s = std::str::from_utf8(msg).map_err(|_| NoteError::Malformed("not UTF-8"))?;
        if s.chars().any(|c| c < ' ' && c != '\n') {
            return Err(NoteError::Malformed("a control character"));
        }
        if !s.ends_with('\n') {
            return Err(NoteError::Malformed("no newline at the end"));
        }
        let Some(split) = s.rfind("\n\n") else {
            return Ok(Note {
                text: s.to_string(),
                signatures: Vec::new(),
            });
        };
        let (text, sigs) = (&s[..=split], &s[split + 2..]);
        if sigs.is_empty() {
            return Err(NoteError::Malformed("a blank line without signatures"));
        }
        let mut signatures = Vec::new();
        for line in sigs.lines() {
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::Malformed("too many signatures"));
            }
            signatures.push(SignatureLine::parse(line)?);
        }
        Ok(Note {
            text: text.to_string(),
            signatures,
        })
    }

    /// The note as stored: the text, then the signature lines after a
    /// blank line when there are any.
    pub fn encode(&self) -> String {
        let mut out = self.text.clone();
        if !self.signatures.is_empty() {
            out.push('\n');
            for s in &self.signatures {
                out.push_str(&s.encode());
            }
        }
        out
    }

    /// Add a signature line; one already there by the same key (name and
    /// key ID) is replaced, as Go's `note.Sign` does. Returns whether the
    /// note changed.
    pub fn add(&mut self, line: SignatureLine) -> bool {
        if self.signatures.contains(&line) {
            return false;
        }
        self.signatures
            .retain(|s| (s.name.as_str(), s.key_id) != (line.name.as_str(), line.key_id));
        self.signatures.push(line);
        true
    }
}

/// A public key as a verifier key (vkey).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierKey {
    pub name: String,
    pub key_id: u32,
    /// [`ED25519`] or [`COSIGNATURE`].
    pub kind: u8,
    key: VerifyingKey,
}

/// What a known key's signature line said, once verified.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Verified {
    pub name: String,
    pub key_id: String,
    /// The cosignature's time (seconds since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
}

fn kind_name(kind: u8) -> &'static str {
    match kind {
        ED25519 => "Ed25519 note",
        COSIGNATURE => "cosignature",
        _ => "note",
    }
}

/// `NAME+HASH+BASE64` split, the hash checked to be 8 hex digits.
fn split_key(s: &str, what: &'static str) -> Result<(String, u32, Vec<u8>), NoteError> {
    let bad = |why: &str| NoteError::BadKey {
        kind: what,
        why: why.to_string(),
    };
    let mut parts = s.trim_end_matches(['\n', '\r']).splitn(3, '+');
    let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("not NAME+HASH+KEY"));
    };
    if !valid_name(name) {
        return Err(NoteError::BadName(name.to_string()));
    }
    if hash.len() != 8 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("the key hash is not 8 hex digits"));
    }
    let id = u32::from_str_radix(hash, 16).map_err(|_| bad("the key hash is not hex"))?;
    let key = b64()
        .decode(key)
        .map_err(|_| bad("the key is not base64"))?;
    Ok((name.to_string(), id, key))
}

fn typed_key(raw: &[u8], what: &'static str) -> Result<(u8, [u8; 32]), NoteError> {
    match raw {
        [kind @ (ED25519 | COSIGNATURE), key @ ..] => {
            let key = <[u8; 32]>::try_from(key).map_err(|_| NoteError::BadKey {
                kind: what,
                why: "an Ed25519 key is 32 bytes".into(),
            })?;
            Ok((*kind, key))
        }
        _ => Err(NoteError::BadKey {
            kind: what,
            why: "not an Ed25519 (type 1) or cosignature (type 4) key".into(),
        }),
    }
}

impl VerifierKey {
    /// Parse a vkey, checking its key ID.
    pub fn parse(vkey: &str) -> Result<VerifierKey, NoteError> {
        let (name, id, raw) = split_key(vkey, "verifier")?;
        let (kind, public) = typed_key(&raw, "verifier")?;
        let key = VerifyingKey::from_bytes(&public).map_err(|_| NoteError::BadKey {
            kind: "verifier",
            why: "not a point on Ed25519".into(),
        })?;
        if key_id(&name, kind, &public) != id {
            return Err(NoteError::BadKey {
                kind: "verifier",
                why: "the key hash does not match the name and key".into(),
            });
        }
        Ok(VerifierKey {
            name,
            key_id: id,
            kind,
            key,
        })
    }

    pub fn encode(&self) -> String {
        let mut raw = vec![self.kind];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, b64().encode(raw))
    }

    /// The Ed25519 public key: what makes two witnesses two, whatever
    /// their names (a name is a label anyone can put on a key, with the
    /// key ID recomputed to match).
    pub fn public_key(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    /// Does this key claim `line` (same name and key ID)?
    pub fn claims(&self, line: &SignatureLine) -> bool {
        line.name == self.name && line.key_id == self.key_id
    }

    /// Verify `line` (which this key claims) over the note `text`.
    pub fn verify(&self, text: &str, line: &SignatureLine) -> Result<Verified, NoteError> {
        let bad = || NoteError::BadSignature {
            name: self.name.clone(),
            key_id: self.key_id,
        };
        let (timestamp, sig, msg) = match self.kind {
            COSIGNATURE => {
                let (t, sig) = line.sig.split_first_chunk::<8>().ok_or_else(bad)?;
                let t = u64::from_be_bytes(*t);
                if t > i64::MAX as u64 {
                    return Err(bad());
                }
                (Some(t), sig, cosigned_message(t, text))
            }
            _ => (None, line.sig.as_slice(), text.as_bytes().to_vec()),
        };
        let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| bad())?;
        self.key.verify_strict(&msg, &sig).map_err(|_| bad())?;
        Ok(Verified {
            name: self.name.clone(),
            key_id: format!("{:08x}", self.key_id),
            timestamp,
        })
    }
}

/// What a v1 cosignature signs: header, time line, the checkpoint text.
pub fn cosigned_message(t: u64, text: &str) -> Vec<u8> {
    format!("{COSIG_HEADER}time {t}\n{text}").into_bytes()
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

/// Every signature line of `note` that one of `known` claims, verified. A
/// claimed line that fails is an error (the spec's "reject the whole
/// note"); lines no known key claims are ignored. Each key counts once.
pub fn verify(note: &Note, known: &[VerifierKey]) -> Result<Vec<Verified>, NoteError> {
    let mut out: Vec<Verified> = Vec::new();
    for line in &note.signatures {
        for k in known.iter().filter(|k| k.claims(line)) {
            let v = k.verify(&note.text, line)?;
            if !out.iter().any(|o| o.name == v.name && o.key_id == v.key_id) {
                out.push(v);
            }
        }
    }
    Ok(out)
}

/// How many distinct public keys `keys` hold (witnesses are counted by
/// key, never by name).
pub fn distinct_keys<'k>(keys: impl Iterator<Item = &'k VerifierKey>) -> usize {
    let mut seen: Vec<&[u8; 32]> = keys.map(VerifierKey::public_key).collect();
    seen.sort();
    seen.dedup();
    seen.len()
}

/// Which note signatures a checkpoint must carry: the log's own Ed25519
/// line (when its key is given) and `min_witnesses` cosignatures by the
/// given witnesses.
#[derive(Clone, Copy, Debug, Default)]
pub struct Policy<'a> {
    pub log_key: Option<&'a VerifierKey>,
    pub witnesses: &'a [VerifierKey],
    pub min_witnesses: usize,
}

impl Policy<'_> {
    /// Verify every line a known key claims (a bad one is an error), then
    /// require what the policy asks for. `what` names the checkpoint.
    pub fn check(&self, note: &Note, what: &str) -> anyhow::Result<Vec<Verified>> {
        use crate::exit::{fail, Code};
        let mut known: Vec<VerifierKey> = self.witnesses.to_vec();
        known.extend(self.log_key.cloned());
        let verified =
            verify(note, &known).map_err(|e| fail(Code::Failed, format!("{what}: {e}")))?;
        let by = |k: &VerifierKey| {
            verified
                .iter()
                .any(|v| v.name == k.name && v.key_id == format!("{:08x}", k.key_id))
        };
        if let Some(k) = self.log_key {
            if !by(k) {
                return Err(fail(
                    Code::Failed,
                    format!("{what} carries no note signature by the log key {}", k.name),
                ));
            }
        }
        // Witnesses are distinct by public key: one key given twice, or
        // under a second name with its line relabelled, is one witness.
        let n = distinct_keys(self.witnesses.iter().filter(|k| by(k)));
        if n < self.min_witnesses {
            return Err(fail(
                Code::Failed,
                format!(
                    "{what} is cosigned by {n} of the given witnesses; {} required",
                    self.min_witnesses
                ),
            ));
        }
        Ok(verified)
    }
}

/// A secret key (skey) for note signatures or cosignatures.
pub struct SignerKey {
    pub name: String,
    pub key_id: u32,
    pub kind: u8,
    key: SigningKey,
}

impl SignerKey {
    /// A new key from the operating system's random source.
    pub fn generate(name: &str, kind: u8) -> anyhow::Result<SignerKey> {
        if !valid_name(name) {
            return Err(NoteError::BadName(name.to_string()).into());
        }
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::getrandom(seed.as_mut())
            .map_err(|e| anyhow::anyhow!("reading the system's random source: {e}"))?;
        let key = SigningKey::from_bytes(&seed);
        Ok(SignerKey {
            name: name.to_string(),
            key_id: key_id(name, kind, key.verifying_key().as_bytes()),
            kind,
            key,
        })
    }

    /// Parse `PRIVATE+KEY+NAME+HASH+base64(type || seed)`, checking the
    /// hash against the derived public key.
    pub fn parse(skey: &str) -> Result<SignerKey, NoteError> {
        let rest = skey
            .trim_end_matches(['\n', '\r'])
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::BadKey {
                kind: "secret",
                why: "it does not start with PRIVATE+KEY+".into(),
            })?;
        let (name, id, raw) = split_key(rest, "secret")?;
        let raw = zeroize::Zeroizing::new(raw);
        let (kind, seed) = typed_key(&raw, "secret")?;
        let seed = zeroize::Zeroizing::new(seed);
        let key = SigningKey::from_bytes(&seed);
        if key_id(&name, kind, key.verifying_key().as_bytes()) != id {
            return Err(NoteError::BadKey {
                kind: "secret",
                why: "the key hash does not match the name and key".into(),
            });
        }
        Ok(SignerKey {
            name,
            key_id: id,
            kind,
            key,
        })
    }

    /// The skey text (secret: store it 0600).
    pub fn encode(&self) -> zeroize::Zeroizing<String> {
        let mut raw = zeroize::Zeroizing::new(vec![self.kind]);
        raw.extend_from_slice(self.key.as_bytes());
        zeroize::Zeroizing::new(format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            b64().encode(raw.as_slice())
        ))
    }

    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            key_id: self.key_id,
            kind: self.kind,
            key: self.key.verifying_key(),
        }
    }

    /// The signature line of this key over `text`; a cosignature is dated
    /// `now` (seconds since the epoch).
    pub fn sign(&self, text: &str, now: u64) -> SignatureLine {
        let sig = match self.kind {
            COSIGNATURE => {
                let mut v = now.to_be_bytes().to_vec();
                v.extend_from_slice(&self.key.sign(&cosigned_message(now, text)).to_bytes());
                v
            }
            _ => self.key.sign(text.as_bytes()).to_bytes().to_vec(),
        };
        SignatureLine {
            name: self.name.clone(),
            key_id: self.key_id,
            sig,
        }
    }

    pub fn kind_name(&self) -> &'static str {
        kind_name(self.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of c2sp.org/signed-note and tlog-cosignature.
    #[test]
    fn spec_examples_verify() {
        let vkey = VerifierKey::parse(
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        )
        .unwrap();
        let msg = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
        let note = Note::parse(msg.as_bytes()).unwrap();
        assert_eq!(note.text, "This is an example message.\n");
        assert_eq!(note.encode(), msg);
        let v = verify(&note, std::slice::from_ref(&vkey)).unwrap();
        assert_eq!(v.len(), 1);
        // Another text: the known key's signature fails, the note with it.
        let mut forged = note.clone();
        forged.text = "This is another message.\n".into();
        assert_eq!(
            verify(&forged, &[vkey]),
            Err(NoteError::BadSignature {
                name: "example.com/foo".into(),
                key_id: 0x530d903a
            })
        );
    }

    #[test]
    fn keys_sign_and_cosign_round_trip() {
        for kind in [ED25519, COSIGNATURE] {
            let k = SignerKey::generate("witness.example/w1", kind).unwrap();
            let again = SignerKey::parse(&k.encode()).unwrap();
            assert_eq!(again.verifier(), k.verifier());
            let vk = VerifierKey::parse(&k.verifier().encode()).unwrap();
            let text = "origin\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
            let mut note = Note::parse(text.as_bytes()).unwrap();
            assert!(note.add(k.sign(text, 1_700_000_000)));
            let parsed = Note::parse(note.encode().as_bytes()).unwrap();
            let v = verify(&parsed, std::slice::from_ref(&vk)).unwrap();
            assert_eq!(v.len(), 1);
            assert_eq!(v[0].timestamp.is_some(), kind == COSIGNATURE);
            // The same name and ID with the other type is another key.
            let other = SignerKey::generate("witness.example/w1", kind).unwrap();
            assert!(verify(&parsed, &[other.verifier()]).unwrap().is_empty());
        }
        assert!(SignerKey::parse("PRIVATE+KEY+a b+00000000+AQ==").is_err());
        assert!(VerifierKey::parse("name+zzzzzzzz+AQ==").is_err());
    }

    /// A witness's key under a second name, its line relabelled (the
    /// name is not signed; the key ID is recomputed): still one witness.
    #[test]
    fn witnesses_are_counted_by_key_not_name() {
        let w = SignerKey::generate("w.example/one", COSIGNATURE).unwrap();
        let other = SignerKey::generate("w.example/two", COSIGNATURE).unwrap();
        let (a, b) = (w.verifier(), other.verifier());
        let public = *a.public_key();
        let alias = VerifierKey::parse(&format!(
            "w.example/alias+{:08x}+{}",
            key_id("w.example/alias", COSIGNATURE, &public),
            b64().encode([[COSIGNATURE].as_slice(), &public].concat())
        ))
        .unwrap();
        let text = "origin\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let mut note = Note::parse(text.as_bytes()).unwrap();
        let line = w.sign(text, 1_700_000_000);
        let relabelled = SignatureLine {
            name: alias.name.clone(),
            key_id: alias.key_id,
            sig: line.sig.clone(),
        };
        note.add(line);
        note.add(relabelled);
        let policy = |ws: &[VerifierKey], min| {
            Policy {
                log_key: None,
                witnesses: ws,
                min_witnesses: min,
            }
            .check(&note, "checkpoint 3")
        };
        assert_eq!(
            policy(&[a.clone(), alias.clone()], 2)
                .unwrap_err()
                .to_string(),
            "checkpoint 3 is cosigned by 1 of the given witnesses; 2 required"
        );
        assert!(policy(&[a.clone(), a.clone(), b.clone()], 2).is_err());
        assert!(policy(&[a.clone(), alias.clone(), b.clone()], 1).is_ok());
        assert_eq!(distinct_keys([a.clone(), alias, a, b].iter()), 2);
    }

    #[test]
    fn malformed_notes_are_refused() {
        for bad in [
            "no newline",
            "text\n\n",
            "text\x01\n",
            "text\n\nnot a signature\n",
            "text\n\n\u{2014} name AAAA\n",
            "text\n\n\u{2014} a+b AAAAAAA=\n",
        ] {
            assert!(Note::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
