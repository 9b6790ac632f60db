//! The key options every verifying tool shares.

use super::policy::Sha1Rules;
use super::{parse_fingerprint, BuildPolicy, Keyring, Trust, Verifier};
use crate::time::parse_date;
use std::path::PathBuf;
use std::time::SystemTime;

#[derive(clap::Args, Clone, Debug)]
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
    /// default SHA-1 self-signatures are accepted (keys from 2010-2014 carry
    /// them) and SHA-1 certifications by other keys count when made before
    /// --sha1-certifications-before.
    #[arg(long)]
    pub reject_sha1_certifications: bool,

    /// SHA-1 certifications by other keys (what --trust-root relies on)
    /// count only when made before DATE (YYYY-MM-DD or RFC 3339; the first
    /// practical chosen-prefix collision was published in January 2020).
    #[arg(long, value_name = "DATE", default_value = "2020-01-01", value_parser = parse_date)]
    pub sha1_certifications_before: SystemTime,

    /// Accept SHA-1 data signatures made before DATE (YYYY-MM-DD or RFC
    /// 3339), with a warning each: for historical builds whose tags or
    /// tarballs were signed with SHA-1. Off by default: SHA-1 signatures
    /// over data are rejected.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub allow_sha1_before: Option<SystemTime>,
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
        Verifier::new(&self.keyring, &self.trust, &self.policy).min_signers(self.min_signers)
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
            policy: self.policy(),
            min_signers: self.min_signers(),
        })
    }

    /// [`KeyArgs::load`], every key file judged first: a special file
    /// among them (a FIFO given as keyring) is refused before any is read.
    pub fn load_checked(&self) -> anyhow::Result<LoadedKeys> {
        for k in &self.keyrings {
            crate::fsutil::require_regular(k, "keyring")?;
        }
        for d in &self.keys_dirs {
            if let Ok(entries) = std::fs::read_dir(d) {
                for e in entries.flatten() {
                    let p = e.path();
                    if p.extension().is_some_and(|x| x == "asc") {
                        crate::fsutil::require_regular(&p, "keyring")?;
                    }
                }
            }
        }
        self.load()
    }

    /// The policy these options describe (DESIGN.md §3).
    pub fn policy(&self) -> BuildPolicy {
        BuildPolicy::new(self.sha1_rules())
    }

    pub fn sha1_rules(&self) -> Sha1Rules {
        let base = if self.reject_sha1_certifications {
            Sha1Rules::strict()
        } else {
            Sha1Rules {
                certifications_before: Some(self.sha1_certifications_before),
                ..Sha1Rules::default()
            }
        };
        Sha1Rules {
            data_before: self.allow_sha1_before,
            ..base
        }
    }

    /// Were any keys given at all?
    pub fn given(&self) -> bool {
        !self.keyrings.is_empty() || !self.keys_dirs.is_empty()
    }

    pub fn min_signers(&self) -> usize {
        usize::from(self.min_signers)
    }
}
