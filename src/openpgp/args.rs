//! The key options every verifying tool shares.

use super::{parse_fingerprint, BuildPolicy, Keyring, Trust, Verifier};
use std::path::PathBuf;

#[derive(clap::Args, Clone, Debug, Default)]
pub struct KeyArgs {
    /// Certificates to verify with (armored or binary, one or many per file).
    /// Repeatable. Never ~/.gnupg, a keyserver or an agent.
    #[arg(long = "keyring", value_name = "FILE")]
    pub keyrings: Vec<PathBuf>,

    /// A directory of <FPR>.asc certificates. Repeatable.
    #[arg(long = "keys-dir", value_name = "DIR")]
    pub keys_dirs: Vec<PathBuf>,

    /// Accept signatures only by these primary key fingerprints (default:
    /// every certificate in the keyrings). Repeatable.
    #[arg(long = "trusted-key", value_name = "FPR")]
    pub trusted_keys: Vec<String>,

    /// Distinct trusted signers (primary keys, not subkeys) required.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub min_signers: u16,

    /// Also reject SHA-1 in key self-signatures and certifications. By
    /// default they are accepted (keys from 2010-2014 carry them); SHA-1
    /// signatures over data are always rejected.
    #[arg(long)]
    pub reject_sha1_certifications: bool,
}

/// The keys [`KeyArgs`] name, loaded: what a [`Verifier`] borrows.
pub struct LoadedKeys {
    pub keyring: Keyring,
    pub trust: Trust,
    pub policy: BuildPolicy,
    pub min_signers: usize,
}

impl LoadedKeys {
    /// A verifier at the current time over these keys.
    pub fn verifier(&self) -> Verifier<'_> {
        Verifier {
            keyring: &self.keyring,
            trust: &self.trust,
            policy: &self.policy,
            min_signers: self.min_signers,
            time: None,
        }
    }
}

impl KeyArgs {
    /// The keyring, trust, policy and signer count these options describe.
    pub fn load(&self) -> anyhow::Result<LoadedKeys> {
        let keyring = Keyring::load(&self.keyrings, &self.keys_dirs)?;
        let fprs = self
            .trusted_keys
            .iter()
            .map(|s| parse_fingerprint(s))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(LoadedKeys {
            keyring,
            trust: Trust::from_fingerprints(fprs),
            policy: BuildPolicy::new(!self.reject_sha1_certifications),
            min_signers: self.min_signers(),
        })
    }

    /// Were any keys given at all?
    pub fn given(&self) -> bool {
        !self.keyrings.is_empty() || !self.keys_dirs.is_empty()
    }

    pub fn min_signers(&self) -> usize {
        usize::from(self.min_signers)
    }
}
