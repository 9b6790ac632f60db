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
