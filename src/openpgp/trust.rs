//! Which signers count. By default every certificate in the given keyrings
//! (gpgv semantics); `--trusted-key` narrows that to named primary keys.

use sequoia_openpgp::Fingerprint;
use std::collections::BTreeSet;

#[derive(Clone, Debug, Default)]
pub enum Trust {
    /// Every certificate in the keyrings.
    #[default]
    All,
    /// Only these primary fingerprints.
    Only(BTreeSet<Fingerprint>),
}

impl Trust {
    pub fn is_trusted(&self, fpr: &Fingerprint) -> bool {
        match self {
            Trust::All => true,
            Trust::Only(set) => set.contains(fpr),
        }
    }

    /// The trust of `--trusted-key` options: all when none is given.
    pub fn from_fingerprints(fprs: impl IntoIterator<Item = Fingerprint>) -> Trust {
        let set: BTreeSet<Fingerprint> = fprs.into_iter().collect();
        if set.is_empty() {
            Trust::All
        } else {
            Trust::Only(set)
        }
    }
}

use super::Keyring;
use crate::exit::{fail, Code};
use sequoia_openpgp::cert::amalgamation::ValidAmalgamation;
use sequoia_openpgp::policy::{HashAlgoSecurity, Policy};
use sequoia_openpgp::types::RevocationStatus;
use sequoia_openpgp::Cert;

impl Trust {
    /// Trust from roots and maintainers (verify-tag): each maintainer
    /// directly; each root, and every key in the keyring that carries a
    /// valid certification by a root on a non-revoked user ID (one level,
    /// as GnuPG derives validity from one ultimately trusted key).
    pub fn from_roots(
        keyring: &Keyring,
        roots: &[Fingerprint],
        maintainers: &[Fingerprint],
        policy: &dyn Policy,
    ) -> anyhow::Result<Trust> {
        let mut set = BTreeSet::new();
        for m in maintainers {
            if keyring.find(m).is_none() {
                return Err(fail(
                    Code::Usage,
                    format!("maintainer key {m} is not in the keyring"),
                ));
            }
            set.insert(m.clone());
        }
        for r in roots {
            let root = keyring.find(r).ok_or_else(|| {
                fail(Code::Usage, format!("trust root {r} is not in the keyring"))
            })?;
            // A revoked or policy-invalid root vouches for nobody.
            let usable = root
                .with_policy(policy, None)
                .map(|vc| !matches!(vc.revocation_status(), RevocationStatus::Revoked(_)));
            if !matches!(usable, Ok(true)) {
                return Err(fail(
                    Code::Usage,
                    format!("trust root {r} is revoked or not valid under the policy"),
                ));
            }
            set.insert(r.clone());
            for cert in keyring.certs() {
                if cert.fingerprint() != *r && certified_by(cert, root, policy) {
                    set.insert(cert.fingerprint());
                }
            }
        }
        Ok(Trust::Only(set))
    }
}

/// Does `root` certify a non-revoked user ID of `cert`, with a certification
/// that verifies, passes policy, has not expired and was not revoked later?
pub fn certified_by(cert: &Cert, root: &Cert, policy: &dyn Policy) -> bool {
    let Ok(vc) = cert.with_policy(policy, None) else {
        return false;
    };
    let root_pk = root.primary_key().key();
    let pk = cert.primary_key().key();
    let by_root = |s: &sequoia_openpgp::packet::Signature| {
        s.get_issuers()
            .iter()
            .any(|h| h.aliases(root_pk.key_handle()))
    };
    for ua in vc.userids() {
        if matches!(ua.revocation_status(), RevocationStatus::Revoked(_)) {
            continue;
        }
        let uid = ua.userid();
        for c in ua.certifications() {
            let valid = by_root(c)
                && c.verify_userid_binding(root_pk, pk, uid).is_ok()
                && policy
                    .signature(c, HashAlgoSecurity::CollisionResistance)
                    .is_ok()
                && c.signature_alive(None, std::time::Duration::ZERO).is_ok();
            if !valid {
                continue;
            }
            let made = c.signature_creation_time();
            let revoked = ua.other_revocations().any(|r| {
                by_root(r)
                    && r.verify_userid_revocation(root_pk, pk, uid).is_ok()
                    && r.signature_creation_time() >= made
            });
            if !revoked {
                return true;
            }
        }
    }
    false
}
