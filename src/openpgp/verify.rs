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
//!   fails policy (weak hash, revoked, expired, future-dated), fails all;
//! - with [`KeyValidity::Now`] (verify-tag) the key must also be valid now;
//! - a certificate with no binding signature at the signature's time only
//!   because its older self-signatures were stripped (the key predates the
//!   signature, the certificate is valid now) is judged by its current
//!   bindings, with a note, as gpg does and rpm-sequoia does since #52.

use super::{BuildPolicy, Keyring, Trust};
use crate::exit::{fail, Code};
use sequoia_openpgp::cert::amalgamation::ValidAmalgamation;
use sequoia_openpgp::packet::Signature;
use sequoia_openpgp::parse::stream::{
    DetachedVerifierBuilder, MessageLayer, MessageStructure, VerificationError, VerificationHelper,
    VerifierBuilder,
};
use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::policy::Policy;
use sequoia_openpgp::types::{HashAlgorithm, RevocationStatus};
use sequoia_openpgp::{Cert, Fingerprint, KeyHandle, Packet, PacketPile};
use std::borrow::Cow;
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

/// When the signing key must have been valid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyValidity {
    /// When it signed (release artifacts: a signature made while the key
    /// was valid passes after the key expired; a soft revocation voids only
    /// later signatures, a hard one all).
    #[default]
    AtSigning,
    /// When it signed and now (the state of a repository now: timestamps
    /// are the signer's choice, so a leaked retired key could otherwise
    /// sign backdated tags).
    Now,
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
    pub validity: KeyValidity,
}

impl<'a> Verifier<'a> {
    /// One signer, now, keys judged when they signed.
    pub fn new(keyring: &'a Keyring, trust: &'a Trust, policy: &'a BuildPolicy) -> Self {
        Verifier {
            keyring,
            trust,
            policy,
            min_signers: 1,
            time: None,
            validity: KeyValidity::AtSigning,
        }
    }

    pub fn min_signers(self, n: usize) -> Self {
        Verifier {
            min_signers: n,
            ..self
        }
    }

    pub fn validity(self, validity: KeyValidity) -> Self {
        Verifier { validity, ..self }
    }

    /// Verify a detached signature over everything `data` yields. The data
    /// is read once and hashed as it streams; an I/O error while reading it
    /// surfaces as an `std::io::Error` in the chain (exit 4).
    pub fn verify_detached_reader<R: Read + Send + Sync>(
        &self,
        sig: &[u8],
        data: R,
    ) -> anyhow::Result<Verdict> {
        let sig = &*signature_packets(sig)?;
        count_packets(sig)?;
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

impl Verifier<'_> {
    /// Can the detached signature `sig` decide about any data: signature
    /// packets (binary or armored blocks), made by enough distinct trusted
    /// keys of the keyring ([`Verifier::min_signers`]), each of those
    /// acceptable to the policy? Checked before data is fetched or a file
    /// already present is judged by it, so that a garbage SIG (an HTML
    /// page, another key's signature) never costs a good file. No
    /// signature at all is exit 3; anything else that cannot pass, 1.
    pub fn check_usable(&self, sig: &[u8]) -> anyhow::Result<()> {
        use sequoia_openpgp::policy::HashAlgoSecurity;
        let packets = signature_packets(sig)?;
        count_packets(&packets)?;
        let pile = PacketPile::from_bytes(&packets)
            .map_err(|e| fail(Code::Failed, format!("malformed signature: {e}")))?;
        let mut signers: BTreeSet<Fingerprint> = BTreeSet::new();
        let mut others = Vec::new();
        for p in pile.descendants() {
            let Packet::Signature(s) = p else { continue };
            let certs = self.keyring.lookup(&s.get_issuers());
            let Some(cert) = certs
                .iter()
                .find(|c| self.trust.is_trusted(&c.fingerprint()))
            else {
                others.push(issuer_of(s));
                continue;
            };
            let fpr = cert.fingerprint();
            if let Err(e) = self
                .policy
                .signature(s, HashAlgoSecurity::CollisionResistance)
            {
                return Err(fail(
                    Code::Failed,
                    format!("signature by {fpr} refused: {e}"),
                ));
            }
            signers.insert(fpr);
        }
        let need = self.min_signers.max(1);
        if signers.is_empty() {
            others.dedup();
            return Err(fail(
                Code::Failed,
                format!(
                    "no good signature by a trusted key: signed only by {} (not in the keyrings, or not trusted)",
                    others.join(", ")
                ),
            ));
        }
        if signers.len() < need {
            return Err(fail(
                Code::Failed,
                format!(
                    "{} distinct trusted signer(s), {need} required",
                    signers.len()
                ),
            ));
        }
        Ok(())
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

const ARMOR_BEGIN: &[u8] = b"-----BEGIN PGP SIGNATURE-----";
const ARMOR_END: &[u8] = b"-----END PGP SIGNATURE-----";

/// The binary packets of a signature file: as is when binary; every
/// armored block of an armored file, one after another (`SHA256SUMS.asc`
/// with several signers' blocks concatenated), as gpgv reads them. Text
/// between blocks other than whitespace makes it malformed.
pub fn signature_packets(sig: &[u8]) -> anyhow::Result<Cow<'_, [u8]>> {
    if sig.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(fail(Code::Missing, "the signature is empty"));
    }
    let start = sig
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    let Some(mut rest) = sig.get(start..).filter(|r| r.starts_with(b"-----")) else {
        return Ok(Cow::Borrowed(sig));
    };
    let malformed = |why: &str| fail(Code::Failed, format!("malformed signature: {why}"));
    let mut out = Vec::new();
    while !rest.iter().all(|b| b.is_ascii_whitespace()) {
        let trimmed = rest
            .get(
                rest.iter()
                    .position(|b| !b.is_ascii_whitespace())
                    .unwrap_or(0)..,
            )
            .unwrap_or_default();
        if !trimmed.starts_with(ARMOR_BEGIN) {
            return Err(malformed("text outside an armored PGP SIGNATURE block"));
        }
        let end = find(trimmed, ARMOR_END)
            .ok_or_else(|| malformed("an armored block without its END line"))?;
        let block_end = end + ARMOR_END.len();
        let block = trimmed.get(..block_end).unwrap_or_default();
        let mut reader = sequoia_openpgp::armor::Reader::from_bytes(
            block,
            sequoia_openpgp::armor::ReaderMode::Tolerant(Some(
                sequoia_openpgp::armor::Kind::Signature,
            )),
        );
        reader
            .read_to_end(&mut out)
            .map_err(|e| malformed(&format!("bad armor: {e}")))?;
        rest = trimmed.get(block_end..).unwrap_or_default();
    }
    Ok(Cow::Owned(out))
}

/// The keys (primary or subkeys, as key handles) the signatures of a
/// detached signature name as their issuers; none when it does not parse.
pub fn issuers(sig: &[u8]) -> Vec<KeyHandle> {
    signature_packets(sig)
        .ok()
        .and_then(|p| PacketPile::from_bytes(&p).ok())
        .map(|pile| {
            pile.descendants()
                .filter_map(|p| match p {
                    Packet::Signature(s) => Some(s.get_issuers()),
                    _ => None,
                })
                .flatten()
                .collect()
        })
        .unwrap_or_default()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Signature packets in a detached signature; none is "nothing to verify
/// with" (exit 3), anything but signatures is not a detached signature.
pub fn count_signatures(sig: &[u8]) -> anyhow::Result<usize> {
    count_packets(&signature_packets(sig)?)
}

/// [`count_signatures`] of binary packets.
fn count_packets(sig: &[u8]) -> anyhow::Result<usize> {
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

fn issuer_of(sig: &Signature) -> String {
    sig.get_issuers()
        .first()
        .map(|h| h.to_hex())
        .unwrap_or_else(|| "an unnamed key".into())
}

fn date(t: Option<SystemTime>) -> String {
    t.map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .unwrap_or_else(|| "an unknown time".into())
}

/// Why a key is not valid now.
enum NotValid {
    /// It (the certificate or the signing key) expired, then.
    Expired(Option<SystemTime>),
    Other(String),
}

impl std::fmt::Display for NotValid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotValid::Expired(t) => write!(f, "it expired on {}", date(*t)),
            NotValid::Other(why) => f.write_str(why),
        }
    }
}

/// What to do about an expired key: keys are often extended, and the
/// keyring given may hold an old copy.
const REFRESH: &str = "refresh the key (its owner may have extended its expiry; the keyring \
given may hold an old copy)";

/// Is the certificate, and its key `signer`, valid now: bound, alive, not
/// revoked (hard or soft), signing-capable?
fn valid_now(cert: &Cert, signer: &Fingerprint, policy: &BuildPolicy) -> Result<(), NotValid> {
    let other = |s: String| NotValid::Other(s);
    let vc = cert
        .with_policy(policy, None)
        .map_err(|e| other(format!("not valid now: {e}")))?;
    vc.alive()
        .map_err(|_| NotValid::Expired(vc.primary_key().key_expiration_time()))?;
    if let RevocationStatus::Revoked(_) = vc.revocation_status() {
        return Err(other("revoked".into()));
    }
    let ka = vc
        .keys()
        .find(|k| k.key().fingerprint() == *signer)
        .ok_or_else(|| other(format!("its signing key {signer} is not valid now")))?;
    ka.alive()
        .map_err(|_| NotValid::Expired(ka.key_expiration_time()))?;
    if let RevocationStatus::Revoked(_) = ka.revocation_status() {
        return Err(other(format!("its signing key {signer} is revoked")));
    }
    if !ka.for_signing() {
        return Err(other(format!(
            "its key {signer} is not signing-capable now"
        )));
    }
    Ok(())
}

/// When the key that made `sig` had expired by the time it signed, if
/// that is why it is unusable then: the earlier of its own expiry and its
/// certificate's.
fn expired_before(
    ka: &sequoia_openpgp::cert::prelude::ValidErasedKeyAmalgamation<
        sequoia_openpgp::packet::key::PublicParts,
    >,
    sig: &Signature,
) -> Option<SystemTime> {
    let made = sig.signature_creation_time()?;
    [
        ka.key_expiration_time(),
        ka.valid_cert().primary_key().key_expiration_time(),
    ]
    .into_iter()
    .flatten()
    .filter(|t| *t <= made)
    .min()
}

/// Was the key unbound at the signature's time only for want of a binding
/// signature (older self-signatures stripped), rather than by one that
/// said it was invalid?
fn no_binding_at_time(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        matches!(
            e.downcast_ref::<sequoia_openpgp::Error>(),
            Some(sequoia_openpgp::Error::NoBindingSignature(_))
        )
    })
}

impl Helper<'_, '_> {
    /// A data signature refused for its own hash (SHA-1 without, or after,
    /// `--allow-sha1-before`; anything weaker than SHA-256), said first:
    /// whatever else is wrong with its key at that time (a key of the SHA-1
    /// era often has no binding the policy accepts then either), the hash
    /// is what the user can act on.
    fn refused_hash(&self, sig: &Signature, signer: &Fingerprint) -> Option<String> {
        let hash = sig.hash_algo();
        let weak = hash == HashAlgorithm::SHA1 || !super::policy::DATA_HASHES.contains(&hash);
        if !weak || self.v.policy.signature(sig, Default::default()).is_ok() {
            return None;
        }
        let made = date(sig.signature_creation_time());
        let name = match hash {
            HashAlgorithm::SHA1 => "SHA-1".to_string(),
            other => other.to_string(),
        };
        Some(match (hash, self.v.policy.sha1().data_before) {
            (HashAlgorithm::SHA1, None) => format!(
                "SHA-1 signature by {signer} made {made} refused: SHA-256 or stronger is required \
                 (--allow-sha1-before DATE accepts SHA-1 signatures made before DATE, for historical builds)"
            ),
            (HashAlgorithm::SHA1, Some(cutoff)) => format!(
                "SHA-1 signature by {signer} made {made} refused: it is not older than \
                 --allow-sha1-before {}",
                date(Some(cutoff))
            ),
            _ => format!(
                "{name} signature by {signer} made {made} refused: SHA-256 or stronger is required"
            ),
        })
    }

    /// A signature whose key had no binding signature at its time: judged
    /// by the certificate's current bindings when the signing key predates
    /// the signature and the certificate and key are valid now. Returns the
    /// signing key's fingerprint, or why not.
    fn judge_stripped(&self, sig: &Signature, cert: &Cert) -> Result<Fingerprint, String> {
        let made = sig
            .signature_creation_time()
            .ok_or("the signature has no creation time")?;
        let policy = self.v.policy;
        let vc = cert
            .with_policy(policy, None)
            .map_err(|e| format!("and no valid binding now either: {e}"))?;
        let mut why = "no signing-capable key of the certificate issued it".to_string();
        for ka in vc.keys().key_handles(sig.get_issuers()) {
            let fpr = ka.key().fingerprint();
            if ka.key().creation_time() > made {
                why = format!(
                    "its key {fpr} was created at {}, after the signature",
                    date(Some(ka.key().creation_time()))
                );
                continue;
            }
            if let Err(e) = valid_now(cert, &fpr, policy) {
                why = e.to_string();
                continue;
            }
            sig.verify_document(ka.key())
                .map_err(|e| format!("BAD signature: {e}"))?;
            policy
                .signature(sig, Default::default())
                .map_err(|e| format!("{e:#}"))?;
            sig.signature_alive(self.v.time, None)
                .map_err(|e| format!("{e:#}"))?;
            return Ok(fpr);
        }
        Err(why)
    }
}

impl VerificationHelper for Helper<'_, '_> {
    fn get_certs(&mut self, ids: &[KeyHandle]) -> sequoia_openpgp::Result<Vec<Cert>> {
        Ok(self.v.keyring.lookup(ids))
    }

    fn check(&mut self, structure: MessageStructure) -> sequoia_openpgp::Result<()> {
        let mut signers: BTreeSet<Fingerprint> = BTreeSet::new();
        let mut notes = Vec::new();
        let mut failures: Vec<String> = Vec::new();
        let policy = self.v.policy;
        let trusted = |f: &Fingerprint| self.v.trust.is_trusted(f);
        // A good signature by a trusted key: count it, or fail it when its
        // key must be valid now and is not.
        let mut accept = |sig: &Signature,
                          cert: &Cert,
                          key: &Fingerprint,
                          notes: &mut Vec<String>,
                          failures: &mut Vec<String>| {
            let primary = cert.fingerprint();
            if sig.hash_algo() == HashAlgorithm::SHA1 {
                notes.push(format!(
                    "warning: SHA-1 signature by {primary} made {} accepted (--allow-sha1-before)",
                    date(sig.signature_creation_time())
                ));
            }
            let made = date(sig.signature_creation_time());
            match (valid_now(cert, key, policy), self.v.validity) {
                (Ok(()), _) => {}
                (Err(NotValid::Expired(t)), KeyValidity::Now) => {
                    failures.push(format!(
                        "key {primary} expired on {}; the signature was made on {made}, while it \
                         was valid, but keys must be valid now (a signature's date is the \
                         signer's to choose): {REFRESH}",
                        date(t)
                    ));
                    return;
                }
                (Err(e), KeyValidity::Now) => {
                    failures.push(format!("key {primary} is not valid now: {e}"));
                    return;
                }
                (Err(NotValid::Expired(t)), KeyValidity::AtSigning) => notes.push(format!(
                    "warning: key {primary} expired on {}; the signature was made on {made}, \
                     while it was valid: {REFRESH}",
                    date(t)
                )),
                (Err(e), KeyValidity::AtSigning) => notes.push(format!(
                    "warning: key {primary} is no longer valid ({e}); the signature was made while it was"
                )),
            }
            signers.insert(primary);
        };

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
                        let key = good.ka.key().fingerprint();
                        accept(good.sig, good.ka.cert(), &key, &mut notes, &mut failures);
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
                    Err(VerificationError::UnboundKey { sig, cert, error }) => {
                        let f = cert.fingerprint();
                        if !trusted(&f) {
                            notes.push(format!("signature by untrusted key {f} ignored: {error}"));
                            continue;
                        }
                        if let Some(why) = self.refused_hash(sig, &f) {
                            failures.push(why);
                            continue;
                        }
                        if !no_binding_at_time(&error) {
                            failures.push(format!("key {f} was not valid when it signed: {error}"));
                            continue;
                        }
                        match self.judge_stripped(sig, cert) {
                            Ok(key) => {
                                notes.push(format!(
                                    "key {f} has no binding signature at the signature's time ({}), \
                                     probably stripped in a refresh: judged by its current bindings",
                                    date(sig.signature_creation_time())
                                ));
                                accept(sig, cert, &key, &mut notes, &mut failures);
                            }
                            Err(why) => failures.push(format!(
                                "key {f} was not valid when it signed ({error}): {why}"
                            )),
                        }
                    }
                    Err(VerificationError::BadKey { ka, error, sig }) => {
                        let f = ka.cert().fingerprint();
                        if let (true, Some(t)) = (trusted(&f), expired_before(&ka, sig)) {
                            failures.push(format!(
                                "key {f} expired on {}; the signature was made on {}, after \
                                 that: {REFRESH}",
                                date(Some(t)),
                                date(sig.signature_creation_time())
                            ));
                        } else if trusted(&f) {
                            failures.push(format!("key {f} is unusable: {error}"));
                        } else {
                            notes.push(format!("signature by untrusted key {f} ignored: {error}"));
                        }
                    }
                    Err(VerificationError::BadSignature { ka, error, sig }) => {
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
                        if !policy_only {
                            // Sequoia says "Message has been manipulated";
                            // what a gpgv user looks for is BAD signature.
                            let manipulated = error
                                .downcast_ref::<sequoia_openpgp::Error>()
                                .is_some_and(|e| {
                                    matches!(e, sequoia_openpgp::Error::ManipulatedMessage)
                                });
                            let why = if manipulated {
                                "the data does not match the signature".to_string()
                            } else {
                                format!("{error}")
                            };
                            failures.push(format!("BAD signature by {f}: {why}"));
                        } else if trusted(&f) {
                            failures.push(
                                self.refused_hash(sig, &f).unwrap_or_else(|| {
                                    format!("signature by {f} refused: {error}")
                                }),
                            );
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
