//! build-verify: source verification and signed build logs for Makefile builds.
//!
//! The library holds all logic; `src/bin/*` are thin clap front ends.
//! Every tool maps its failures through [`exit`] to the codes of DESIGN.md §2.

pub mod check;
pub mod digest;
pub mod exit;
pub mod fetch;
pub mod fsutil;
pub mod git;
pub mod hashlist;
pub mod lists;
pub mod log;
pub mod openpgp;
pub mod package;
pub mod tag;
pub mod units;
