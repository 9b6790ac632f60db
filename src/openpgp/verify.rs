//! Detached-signature verification under the rules of DESIGN.md §3.
//!
//! Sequoia checks each signature cryptographically and evaluates the
//! signing key *at the signature's creation time* (so a key that expired
//! after signing still verifies, and a soft revocation only voids later
//! signatures). On top of that we decide what counts:
//! - a good signature by a trusted key counts once per primary key;
//! - a signature by a key we do not have, or by a key we have but do not
//!   trust, is reported and ignored (several archive keys sign InRelease);
//! - a cryptographically bad signature, or a trusted key's signature that
//!   fails policy (weak hash, revoked, expired, future-dated), fails all.

use super::{BuildPolicy, Keyring, Trust};
use crate::exit::{fail, Code};
use sequoia_openpgp::parse::stream::{
    DetachedVerifierBuilder, MessageLayer, MessageStructure, VerificationError, VerificationHelper,
    VerifierBuilder,
};
use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::{Cert, Fingerprint, KeyHandle, Packet, PacketPile};
use std::collections::BTreeSet;
use std::io::Read;
use std::time::SystemTime;

/// Who verified, and what was worth saying about the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Distinct primary fingerprints of good signatures by trusted keys.
    pub signers: Vec<Fingerprint>,
    /// Ignored signatures and warnings, one sentence each, for stderr.
    pub notes: Vec<String>,
}

/// A verification context: keys, trust, policy and how many signers.
pub struct Verifier<'a> {
    pub keyring: &'a Keyring,
    pub trust: &'a Trust,
    pub policy: &'a BuildPolicy,
    /// Distinct trusted primary keys required (at least 1).
    pub min_signers: usize,
    /// Reference time; `None` is now, with sequoia's clock-skew tolerance.
    pub time: Option<SystemTime>,
}

impl Verifier<'_> {
    /// Verify a detached signature over everything `data` yields. The data
    /// is read once and hashed as it streams; an I/O error while reading it
    /// surfaces as an `std::io::Error` in the chain (exit 4).
    pub fn verify_detached_reader<R: Read + Send + Sync>(
        &self,
        sig: &[u8],
        data: R,
    ) -> anyhow::Result<Verdict> {
        count_signatures(sig)?;
        let helper = Helper {
            v: self,
            verdict: None,
        };
        let builder = DetachedVerifierBuilder::from_bytes(sig)
            .map_err(|e| fail(Code::Failed, format!("unusable signature: {e}")))?;
        let mut dv = builder
            .with_policy(self.policy, self.time, helper)
            .map_err(|e| fail(Code::Failed, format!("unusable signature: {e}")))?;
        dv.verify_reader(data)?;
        let verdict = dv.into_helper().verdict.unwrap_or_default();
        Ok(verdict)
    }

    /// Verify a detached signature over a byte string.
    pub fn verify_detached_bytes(&self, sig: &[u8], data: &[u8]) -> anyhow::Result<Verdict> {
        self.verify_detached_reader(sig, data)
    }

    /// Verify a cleartext-signed message (`-----BEGIN PGP SIGNED
    /// MESSAGE-----`, e.g. an upstream's signed `sha256sums.asc`) under
    /// the same rules as a detached signature; returns the verdict and the
    /// signed text (dash-escaping undone), at most `limit` bytes of it.
    /// Nothing of the text is returned unless the signatures passed.
    pub fn verify_cleartext(&self, msg: &[u8], limit: u64) -> anyhow::Result<(Verdict, Vec<u8>)> {
        if !is_cleartext_signed(msg) {
            return Err(fail(Code::Failed, "not a cleartext-signed message"));
        }
        let helper = Helper {
            v: self,
            verdict: None,
        };
        // The verifier buffers the whole (small) message and runs `check`
        // before it yields a byte; its verdict, a Failure, must survive.
        let keep = |e: anyhow::Error| {
            if e.chain().any(|c| c.is::<crate::exit::Failure>()) {
                e
            } else {
                fail(Code::Failed, format!("unusable signed message: {e}"))
            }
        };
        let mut v = VerifierBuilder::from_bytes(msg)
            .map_err(keep)?
            .with_policy(self.policy, self.time, helper)
            .map_err(keep)?;
        let mut text = Vec::new();
        (&mut v)
            .take(limit.saturating_add(1))
            .read_to_end(&mut text)
            .map_err(|e| keep(e.into()))?;
        if text.len() as u64 > limit {
            return Err(fail(
                Code::Failed,
                format!("the signed text is larger than {limit} bytes"),
            ));
        }
        // `check` runs at the end of the message at the latest: without a
        // verdict nothing was verified.
        let verdict = v
            .into_helper()
            .verdict
            .ok_or_else(|| fail(Code::Missing, "no OpenPGP signature found"))?;
        Ok((verdict, text))
    }
}

/// Is `bytes` a cleartext-signed message (RFC 9580 §7)? Leading
/// whitespace is tolerated, as by armor readers.
pub fn is_cleartext_signed(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes
        .get(start..)
        .is_some_and(|b| b.starts_with(b"-----BEGIN PGP SIGNED MESSAGE-----"))
}

/// Signature packets in a detached signature; none is "nothing to verify
/// with" (exit 3), anything but signatures is not a detached signature.
pub fn count_signatures(sig: &[u8]) -> anyhow::Result<usize> {
    if sig.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(fail(Code::Missing, "the signature is empty"));
    }
    let pile = PacketPile::from_bytes(sig)
        .map_err(|e| fail(Code::Failed, format!("malformed signature: {e}")))?;
    let mut n = 0;
    for p in pile.descendants() {
        match p {
            Packet::Signature(_) => n += 1,
            Packet::Marker(_) => {}
            Packet::Unknown(u) if u.tag() == sequoia_openpgp::packet::Tag::Signature => n += 1,
            other => {
                return Err(fail(
                    Code::Failed,
                    format!(
                        "not a detached signature: it holds a {} packet",
                        other.tag()
                    ),
                ))
            }
        }
    }
    if n == 0 {
        return Err(fail(Code::Missing, "no OpenPGP signature found"));
    }
    Ok(n)
}

struct Helper<'a, 'b> {
    v: &'b Verifier<'a>,
    verdict: Option<Verdict>,
}

fn issuer_of(sig: &sequoia_openpgp::packet::Signature) -> String {
    sig.get_issuers()
        .first()
        .map(|h| h.to_hex())
        .unwrap_or_else(|| "an unnamed key".into())
}

impl VerificationHelper for Helper<'_, '_> {
    fn get_certs(&mut self, ids: &[KeyHandle]) -> sequoia_openpgp::Result<Vec<Cert>> {
        Ok(self.v.keyring.lookup(ids))
    }

    fn check(&mut self, structure: MessageStructure) -> sequoia_openpgp::Result<()> {
        let mut signers: BTreeSet<Fingerprint> = BTreeSet::new();
        let mut notes = Vec::new();
        let mut failures: Vec<String> = Vec::new();
        let now = SystemTime::now();
        let trusted = |f: &Fingerprint| self.v.trust.is_trusted(f);

        for layer in structure {
            let MessageLayer::SignatureGroup { results } = layer else {
                failures.push("unexpected compression or encryption layer".into());
                continue;
            };
            for r in results {
                match r {
                    Ok(good) => {
                        let primary = good.ka.cert().fingerprint();
                        if !trusted(&primary) {
                            notes
                                .push(format!("good signature by untrusted key {primary} ignored"));
                            continue;
                        }
                        // Valid when made; say so if the key has died since.
                        if let Err(e) = good
                            .ka
                            .cert()
                            .with_policy(self.v.policy, now)
                            .and_then(|vc| vc.alive())
                        {
                            notes.push(format!(
                                "warning: key {primary} is no longer valid ({e}); the signature was made while it was"
                            ));
                        }
                        signers.insert(primary);
                    }
                    Err(VerificationError::MissingKey { sig }) => {
                        notes.push(format!(
                            "signature by unknown key {} ignored",
                            issuer_of(sig)
                        ));
                    }
                    Err(VerificationError::UnknownSignature { sig }) => {
                        notes.push(format!("unsupported signature ignored: {}", sig.error()));
                    }
                    Err(VerificationError::MalformedSignature { sig, error }) => {
                        failures.push(format!(
                            "malformed signature by {}: {error}",
                            issuer_of(sig)
                        ));
                    }
                    Err(VerificationError::UnboundKey { cert, error, .. }) => {
                        let f = cert.fingerprint();
                        if trusted(&f) {
                            failures.push(format!("key {f} was not valid when it signed: {error}"));
                        } else {
                            notes.push(format!("signature by untrusted key {f} ignored: {error}"));
                        }
                    }
                    Err(VerificationError::BadKey { ka, error, .. }) => {
                        let f = ka.cert().fingerprint();
                        if trusted(&f) {
                            failures.push(format!("key {f} is unusable: {error}"));
                        } else {
                            notes.push(format!("signature by untrusted key {f} ignored: {error}"));
                        }
                    }
                    Err(VerificationError::BadSignature { ka, error, .. }) => {
                        let f = ka.cert().fingerprint();
                        // Policy and time failures of a key we do not trust
                        // do not matter; a forged signature always does.
                        let policy_only = error
                            .downcast_ref::<sequoia_openpgp::Error>()
                            .is_some_and(|e| {
                                matches!(
                                    e,
                                    sequoia_openpgp::Error::PolicyViolation(..)
                                        | sequoia_openpgp::Error::Expired(_)
                                        | sequoia_openpgp::Error::NotYetLive(_)
                                )
                            });
                        if trusted(&f) || !policy_only {
                            failures.push(format!("bad signature by {f}: {error}"));
                        } else {
                            notes.push(format!("signature by untrusted key {f} ignored: {error}"));
                        }
                    }
                    Err(other) => failures.push(format!("{other}")),
                }
            }
        }

        let signers: Vec<Fingerprint> = signers.into_iter().collect();
        let found = signers.len();
        self.verdict = Some(Verdict {
            signers,
            notes: notes.clone(),
        });
        let context = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join("; "))
        };
        if let Some(first) = failures.first() {
            let more = match failures.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            return Err(fail(Code::Failed, format!("{first}{more}{context}")));
        }
        let need = self.v.min_signers.max(1);
        if found == 0 {
            return Err(fail(
                Code::Failed,
                format!("no good signature by a trusted key{context}"),
            ));
        }
        if found < need {
            return Err(fail(
                Code::Failed,
                format!("{found} distinct trusted signer(s), {need} required{context}"),
            ));
        }
        Ok(())
    }
}
