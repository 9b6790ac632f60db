//! build-verify: source verification and signed build logs for Makefile builds.
//!
//! The library holds all logic; `src/bin/*` are thin clap front ends.
//! Every tool maps its failures through [`exit`] to the codes of DESIGN.md §2.
//! The modules are layered: a module names none above it, and none
//! import each other in a cycle. The table is `.ci/layers`, which CI
//! checks; docs/DESIGN.md §5 says what each layer holds.

pub mod check;
pub mod codec;
pub mod digest;
pub mod exit;
pub mod fetch;
pub mod fsutil;
pub mod git;
pub mod lists;
pub mod log;
pub mod net;
pub mod openpgp;
pub mod package;
pub mod tag;
pub mod time;
pub mod units;
