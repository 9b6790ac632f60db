//! The OpenPGP layer shared by every tool (DESIGN.md §3): keyrings from
//! files only, the signature policy, trust selection, detached-signature
//! verification and signing. Sequoia with the OpenSSL backend; no GnuPG.

pub mod args;
pub mod backend;
pub mod keyring;
pub mod policy;
pub mod sign;
pub mod trust;
pub mod verify;

pub use args::{KeyArgs, LoadedKeys};
pub use keyring::Keyring;
pub use policy::{BuildPolicy, Sha1Rules};
pub use sequoia_openpgp::{Cert, Fingerprint};
pub use trust::Trust;
pub use verify::{KeyValidity, Verdict, Verifier};

use crate::exit::{fail, Code};

/// Largest detached signature file read: a few signatures are a few KiB.
pub const MAX_SIGNATURE: u64 = 1 << 20;

/// Parse a fingerprint given on the command line or in the environment.
/// Spaces (as gpg prints them) and a `0x` prefix are tolerated; short key
/// IDs are refused: they are forgeable.
pub fn parse_fingerprint(s: &str) -> anyhow::Result<Fingerprint> {
    let cleaned: String = s
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if !(cleaned.len() == 40 || cleaned.len() == 64)
        || !cleaned.chars().all(|c| c.is_ascii_hexdigit())
    {
        return Err(fail(
            Code::Usage,
            format!("{s:?} is not a full key fingerprint (40 or 64 hex digits)"),
        ));
    }
    cleaned
        .parse::<Fingerprint>()
        .map_err(|e| fail(Code::Usage, format!("bad fingerprint {s:?}: {e}")))
}
