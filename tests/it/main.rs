//! The integration tests, one binary: a module per tool or concern (each
//! was its own binary, and each linked the whole crate). tests/common is
//! their shared support (keys, git, HTTP servers, package fixtures made
//! once per run), tests/data their data with its provenance.
//!
//! A new test file is a module here (tests/it/NAME.rs and `mod NAME;`
//! below), not tests/NAME.rs: `layout` fails on a second test binary.

#[path = "../common/mod.rs"]
mod common;

mod attest;
mod check_hashes;
mod cli_contract;
mod defects;
mod fetch_verified;
mod fuzz_replay;
mod layout;
mod maintainer;
mod make_fragments;
mod openpgp_core;
mod packaging;
mod qubes_builderv2;
mod readme;
mod rpm_repo;
mod sign_log;
mod verify_package;
mod verify_tag;
