//! Which keys count for which component: the command line's keyring and
//! trust (roots and the keys they certified, maintainers), plus the
//! environment's per-component maintainer keys.

use super::env::{Allowed, QubesEnv};
use super::Check;
use crate::exit::{fail, Code};
use crate::openpgp::{BuildPolicy, Cert, Fingerprint, Keyring, Trust};
use std::borrow::Cow;
use std::collections::BTreeSet;

/// Keys, trust and rules shared by every repository of one run.
pub struct Config {
    /// Certificates from the command line (may be empty when the
    /// environment supplies every key).
    pub keyring: Keyring,
    /// The trust they define: `None` is every certificate (no
    /// `--trust-root`, `--maintainer` or `--trusted-key`).
    pub trust: Option<BTreeSet<Fingerprint>>,
    pub policy: BuildPolicy,
    pub check: Check,
    pub min_signers: usize,
    /// Per-component keys from the environment, loaded.
    pub allowed: Vec<(Allowed, Cert)>,
}

impl Config {
    /// Trust from the command line: roots (and the keys they certified)
    /// plus maintainers; every certificate when neither is given.
    pub fn new(
        keyring: Keyring,
        roots: &[Fingerprint],
        maintainers: &[Fingerprint],
        policy: BuildPolicy,
    ) -> anyhow::Result<Config> {
        let trust = if roots.is_empty() && maintainers.is_empty() {
            None
        } else {
            match Trust::from_roots(&keyring, roots, maintainers, &policy)? {
                Trust::Only(set) => Some(set),
                Trust::All => None,
            }
        };
        Ok(Config {
            keyring,
            trust,
            policy,
            check: Check::SignedTag,
            min_signers: 1,
            allowed: Vec::new(),
        })
    }

    /// Load the environment's keys that some of `components` use from
    /// `KEYS_DIR/<FPR>.asc` (exit 2 when missing or mislabelled).
    pub fn load_allowed(&mut self, env: &QubesEnv, components: &[String]) -> anyhow::Result<()> {
        for a in &env.allowed {
            if !a.components.iter().any(|c| components.contains(c)) {
                continue;
            }
            let dir = env.keys_dir.as_deref().ok_or_else(|| {
                fail(
                    Code::Usage,
                    format!(
                        "ALLOWED_COMPONENTS_{} is set but neither KEYS_DIR nor BUILDER_DIR is",
                        a.fpr.to_hex()
                    ),
                )
            })?;
            let path = dir.join(format!("{}.asc", a.fpr.to_hex()));
            let cert = crate::openpgp::keyring::read_certs(&path)?
                .into_iter()
                .find(|c| c.fingerprint() == a.fpr)
                .ok_or_else(|| {
                    fail(
                        Code::Usage,
                        format!("{} does not hold key {}", path.display(), a.fpr),
                    )
                })?;
            self.allowed.push((a.clone(), cert));
        }
        Ok(())
    }

    /// The keys and trust for one component: the command line's, plus the
    /// environment's keys allowed for it, trusted directly.
    pub fn context(&self, component: &str) -> anyhow::Result<Context<'_>> {
        let extra: Vec<&(Allowed, Cert)> = self
            .allowed
            .iter()
            .filter(|(a, _)| a.components.iter().any(|c| c == component))
            .collect();
        let keyring = if extra.is_empty() {
            Cow::Borrowed(&self.keyring)
        } else {
            let certs = self
                .keyring
                .certs()
                .cloned()
                .chain(extra.iter().map(|(_, c)| c.clone()));
            Cow::Owned(Keyring::from_certs(certs)?)
        };
        if keyring.is_empty() {
            return Err(fail(
                Code::Usage,
                format!("no keys for component {component}: give --keyring FILE or --keys-dir DIR"),
            ));
        }
        let trust = match &self.trust {
            None => Trust::All,
            Some(set) => {
                let mut set = set.clone();
                set.extend(extra.iter().map(|(a, _)| a.fpr.clone()));
                Trust::Only(set)
            }
        };
        Ok(Context {
            keyring,
            trust,
            policy: &self.policy,
            check: self.check,
            min_signers: self.min_signers,
        })
    }
}

/// Everything a check needs besides the repository.
pub struct Context<'a> {
    pub keyring: Cow<'a, Keyring>,
    pub trust: Trust,
    pub policy: &'a BuildPolicy,
    pub check: Check,
    pub min_signers: usize,
}
