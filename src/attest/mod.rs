//! Several builders: in-toto attestations in the formats rebuilders publish
//! (DESIGN.md §4), a K-of-N rebuilder policy, and an attestation out.
//!
//! - [`json`]: strict JSON (duplicate keys refused) and securesystemslib's
//!   canonical JSON.
//! - [`document`]: a link in securesystemslib's signed-metadata envelope, a
//!   Statement or link in DSSE; what it attests.
//! - [`keys`]: Ed25519 keys (PEM, securesystemslib key objects) and
//!   OpenPGP certificates; a key is its public key, never a key id.
//! - [`gpg`]: securesystemslib's split OpenPGP signatures.
//! - [`policy`]: rebuilders (a name and keys) grouped into voters.
//! - [`evidence`]: documents loaded and verified, indexed by digest.
//! - [`write`]: a signed link out (`sign-log agree --attest`).
//! - [`args`]: the options the tools share, and the decision for one file.
//!
//! Every policy decision is here: a tool hands over a digest and gets a
//! [`Decision`] with its notes.

pub mod args;
pub mod document;
pub mod evidence;
pub mod gpg;
pub mod json;
pub mod keys;
pub mod policy;
pub mod write;

pub use args::{AttestArgs, Attestations, Decision};
pub use evidence::{Evidence, Input};
pub use policy::Policy;
