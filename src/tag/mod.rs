//! verify-tag: authenticate the commit a component is built from by the
//! signed annotated tags pointing at it (or its own signature, when allowed),
//! closing the gaps `git verify-tag` leaves: tag-name binding, one signature
//! per tag, keys valid now, and rollback protection.
//!
//! - [`env`]: the old script's environment, read once.
//! - [`args`]: what the operands name.
//! - [`trust`]: which keys count for which component.
//! - [`scan`]: the key-independent phase (revision, candidate tags).
//! - [`check`]: the checks of one revision.
//! - [`state`]: the rollback record.
//! - [`run`]: one run over one or many repositories.

pub mod args;
pub mod check;
pub mod env;
pub mod run;
pub mod scan;
pub mod state;
pub mod trust;

pub use args::{component_name, targets, Target};
pub use check::{
    check_candidates, verify_candidates, verify_rev, Check, Report, TagResult, TagStatus,
    COMMIT_MAX, MAX_TAGS, TAG_MAX,
};
pub use env::{Allowed, QubesEnv, NO_CHECK_ADVICE};
pub use run::{verify_all, Outcome, RunOptions};
pub use scan::{candidates, Candidate, Candidates, TagObject};
pub use state::State;
pub use trust::{Config, Context};
