//! The signature policy of DESIGN.md §3: one sequoia `StandardPolicy`, with
//! SHA-1 judged by the context it is used in and the signature's date.
//!
//! - Data signatures need SHA-256 or stronger. SHA-1 data signatures made
//!   before `--allow-sha1-before DATE` are accepted for historical builds
//!   (Qubes' tags of 2014-2016); the verifier warns about each.
//! - SHA-1 self-signatures (sequoia's second-preimage context: the signer
//!   chose what it signs) are accepted: real upstream keys of 2010-2014
//!   carry only those, and rejecting them (as sqv does) breaks real tarballs.
//! - SHA-1 where collision resistance matters (third-party certifications,
//!   which `--trust-root` relies on) counts only when made before
//!   2020-01-01, the first practical chosen-prefix collision (configurable).
//! - SHA-1 revocations are honoured: a forged one can only make a check fail.
//!
//! `StandardPolicy`'s own hash cutoffs apply at its reference time (now),
//! not at a signature's date, so the SHA-1 rules above, which depend on the
//! signature's date, are decided here; everything else (weak hashes such as
//! MD5, critical subpackets, key sizes, packet versions) is the standard
//! policy's, with SHA-1 left to us.

use sequoia_openpgp::packet::Signature;
use sequoia_openpgp::policy::{HashAlgoSecurity, Policy, StandardPolicy};
use sequoia_openpgp::types::{HashAlgorithm, SignatureType};
use sequoia_openpgp::{Error, Packet};
use std::time::{Duration, SystemTime};

/// Hashes a signature over data may use.
pub const DATA_HASHES: [HashAlgorithm; 5] = [
    HashAlgorithm::SHA256,
    HashAlgorithm::SHA384,
    HashAlgorithm::SHA512,
    HashAlgorithm::SHA3_256,
    HashAlgorithm::SHA3_512,
];

/// 2020-01-01T00:00:00Z: "SHA-1 is a Shambles", the first practical
/// chosen-prefix collision, was published in January 2020.
pub fn sha1_collision_cutoff() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_836_800)
}

/// Where SHA-1 is still accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sha1Rules {
    /// In self-signatures (second-preimage context).
    pub self_signatures: bool,
    /// In signatures that need collision resistance other than over data
    /// (third-party certifications), when made before this time.
    pub certifications_before: Option<SystemTime>,
    /// In data signatures, when made before this time.
    pub data_before: Option<SystemTime>,
}

impl Default for Sha1Rules {
    fn default() -> Self {
        Sha1Rules {
            self_signatures: true,
            certifications_before: Some(sha1_collision_cutoff()),
            data_before: None,
        }
    }
}

impl Sha1Rules {
    /// No SHA-1 anywhere but in revocations (`--reject-sha1-certifications`).
    pub fn strict() -> Self {
        Sha1Rules {
            self_signatures: false,
            certifications_before: None,
            data_before: None,
        }
    }
}

#[derive(Debug)]
pub struct BuildPolicy {
    /// Sequoia's policy with SHA-1 accepted: [`Sha1Rules`] decide it.
    standard: StandardPolicy<'static>,
    sha1: Sha1Rules,
}

impl Default for BuildPolicy {
    fn default() -> Self {
        Self::new(Sha1Rules::default())
    }
}

impl BuildPolicy {
    pub fn new(sha1: Sha1Rules) -> Self {
        let mut standard = StandardPolicy::new();
        standard.accept_hash(HashAlgorithm::SHA1);
        BuildPolicy { standard, sha1 }
    }

    pub fn sha1(&self) -> Sha1Rules {
        self.sha1
    }

    /// Is a SHA-1 signature of this kind acceptable?
    fn sha1_allowed(&self, sig: &Signature, sec: HashAlgoSecurity) -> Result<(), String> {
        let made = sig.signature_creation_time();
        let before = |cutoff: Option<SystemTime>| match (made, cutoff) {
            (Some(t), Some(c)) => t < c,
            _ => false,
        };
        if is_data_signature(sig.typ()) {
            return if before(self.sha1.data_before) {
                Ok(())
            } else {
                Err(match self.sha1.data_before {
                    None => "SHA-1 in a data signature (SHA-256 or stronger is required; --allow-sha1-before DATE accepts older ones for historical builds)".into(),
                    Some(_) => "SHA-1 in a data signature made after the --allow-sha1-before date".into(),
                })
            };
        }
        if is_revocation(sig.typ()) {
            return Ok(());
        }
        match sec {
            HashAlgoSecurity::SecondPreImageResistance if self.sha1.self_signatures => Ok(()),
            HashAlgoSecurity::SecondPreImageResistance => {
                Err("SHA-1 in a self-signature (--reject-sha1-certifications)".into())
            }
            HashAlgoSecurity::CollisionResistance if before(self.sha1.certifications_before) => {
                Ok(())
            }
            HashAlgoSecurity::CollisionResistance => Err(
                "SHA-1 in a certification made after the --sha1-certifications-before date".into(),
            ),
        }
    }
}

/// Signatures over documents, as opposed to over keys and user IDs.
pub fn is_data_signature(t: SignatureType) -> bool {
    matches!(
        t,
        SignatureType::Binary | SignatureType::Text | SignatureType::Standalone
    )
}

fn is_revocation(t: SignatureType) -> bool {
    matches!(
        t,
        SignatureType::KeyRevocation
            | SignatureType::SubkeyRevocation
            | SignatureType::CertificationRevocation
    )
}

impl Policy for BuildPolicy {
    fn signature(&self, sig: &Signature, sec: HashAlgoSecurity) -> sequoia_openpgp::Result<()> {
        let hash = sig.hash_algo();
        if hash == HashAlgorithm::SHA1 {
            self.sha1_allowed(sig, sec)
                .map_err(|why| Error::PolicyViolation(why, None))?;
        } else if is_data_signature(sig.typ()) && !DATA_HASHES.contains(&hash) {
            return Err(Error::PolicyViolation(
                format!("{hash} in a data signature (SHA-256 or stronger is required)"),
                None,
            )
            .into());
        }
        self.standard.signature(sig, sec)
    }

    fn key(
        &self,
        ka: &sequoia_openpgp::cert::prelude::ValidErasedKeyAmalgamation<
            sequoia_openpgp::packet::key::PublicParts,
        >,
    ) -> sequoia_openpgp::Result<()> {
        self.standard.key(ka)
    }

    fn symmetric_algorithm(
        &self,
        algo: sequoia_openpgp::types::SymmetricAlgorithm,
    ) -> sequoia_openpgp::Result<()> {
        self.standard.symmetric_algorithm(algo)
    }

    fn aead_algorithm(
        &self,
        algo: sequoia_openpgp::types::AEADAlgorithm,
    ) -> sequoia_openpgp::Result<()> {
        self.standard.aead_algorithm(algo)
    }

    fn packet(&self, packet: &Packet) -> sequoia_openpgp::Result<()> {
        self.standard.packet(packet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_the_documented_date() {
        assert_eq!(
            crate::time::parse_date("2020-01-01"),
            Ok(sha1_collision_cutoff())
        );
    }
}
