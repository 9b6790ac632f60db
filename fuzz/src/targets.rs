//! One function per fuzz target: feed untrusted bytes to a parser, and
//! check invariants beyond "does not panic" where the parser has some.
//! Also compiled into the main crate's tests/it/fuzz_replay.rs, which runs
//! every committed corpus file through these functions on each `cargo test`.
//!
//! One file per area under targets/, the fixtures they share in
//! targets/fixtures.rs. (The `path` attributes keep them found from
//! tests/it/fuzz_replay.rs too, which includes this file by its path.)

#[path = "targets/attest.rs"]
mod attest;
#[path = "targets/codec.rs"]
mod codec;
#[path = "targets/fixtures.rs"]
mod fixtures;
#[path = "targets/git.rs"]
mod git;
#[path = "targets/lists.rs"]
mod lists;
#[path = "targets/log.rs"]
mod log;
#[path = "targets/openpgp.rs"]
mod openpgp;
#[path = "targets/proof.rs"]
mod proof;
#[path = "targets/rpm.rs"]
mod rpm;
#[path = "targets/rpmmd.rs"]
mod rpmmd;
#[path = "targets/tlog.rs"]
mod tlog;
#[path = "targets/witness.rs"]
mod witness;

pub use attest::attest;
pub use codec::decompress;
pub use fixtures::fixtures_verify;
pub use git::{git_objects, refs};
pub use lists::{deb822, hashlist};
pub use log::{checkpoint, log_directive, log_record};
pub use openpgp::{cleartext, openpgp_keyring, openpgp_signature};
pub use proof::proof;
pub use rpm::{rpm_header, rpm_package};
pub use rpmmd::{metalink, rpm_primary, rpm_repomd};
pub use tlog::{tlog_bundle, tlog_state, tlog_tile};
pub use witness::{
    http_request, tlog_policy, tlog_proof, witness_fixtures_verify, witness_request, witness_state,
};
