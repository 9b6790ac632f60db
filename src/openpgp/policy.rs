//! The signature policy of DESIGN.md §3.
//!
//! Data signatures need SHA-256 or stronger. SHA-1 stays acceptable inside
//! self-signatures and certifications, because real upstream keys made in
//! 2010-2014 carry only those; rejecting them (as sqv does) breaks the
//! verification of real tarballs while protecting nothing a signature over
//! data depends on. `--reject-sha1-certifications` restores the strict view.

use sequoia_openpgp::packet::Signature;
use sequoia_openpgp::policy::{HashAlgoSecurity, Policy, StandardPolicy};
use sequoia_openpgp::types::{HashAlgorithm, SignatureType};
use sequoia_openpgp::{Error, Packet};

/// Hashes a signature over data may use.
pub const DATA_HASHES: [HashAlgorithm; 5] = [
    HashAlgorithm::SHA256,
    HashAlgorithm::SHA384,
    HashAlgorithm::SHA512,
    HashAlgorithm::SHA3_256,
    HashAlgorithm::SHA3_512,
];

#[derive(Debug)]
pub struct BuildPolicy {
    standard: StandardPolicy<'static>,
    /// StandardPolicy that also accepts SHA-1, used only for certifications.
    legacy: StandardPolicy<'static>,
    sha1_certifications: bool,
}

impl Default for BuildPolicy {
    fn default() -> Self {
        Self::new(true)
    }
}

impl BuildPolicy {
    pub fn new(sha1_certifications: bool) -> Self {
        let mut legacy = StandardPolicy::new();
        legacy.accept_hash(HashAlgorithm::SHA1);
        BuildPolicy {
            standard: StandardPolicy::new(),
            legacy,
            sha1_certifications,
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

impl Policy for BuildPolicy {
    fn signature(&self, sig: &Signature, sec: HashAlgoSecurity) -> sequoia_openpgp::Result<()> {
        let hash = sig.hash_algo();
        if is_data_signature(sig.typ()) {
            if !DATA_HASHES.contains(&hash) {
                return Err(Error::PolicyViolation(
                    format!("data signature uses weak hash {hash}; SHA-256 or stronger required"),
                    None,
                )
                .into());
            }
            return self.standard.signature(sig, sec);
        }
        if hash == HashAlgorithm::SHA1 && self.sha1_certifications {
            return self.legacy.signature(sig, sec);
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
