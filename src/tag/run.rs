//! One run over one or many repositories: keys load on one thread while
//! the repositories are scanned, then each is checked, rollbacks refused
//! against the state file, and the verified commits recorded.

use super::args::Target;
use super::check::{check_candidates, Report};
use super::scan::candidates;
use super::state::{Building, State, DETACHED};
use super::trust::Config;
use crate::exit::{fail, Code};
use crate::git::{Repo, RevName};
use std::path::Path;
use std::sync::OnceLock;

/// What a run checks besides the keys.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions<'a> {
    pub tag_pattern: Option<&'a glob::Pattern>,
    /// Tags at the revision checked at most.
    pub max_tags: usize,
    /// Rollback state file.
    pub state: Option<&'a Path>,
    pub allow_rollback: bool,
    /// The branch being built, for the rollback state (default: the
    /// branch REV names, HEAD's, or FETCH_HEAD's; a tag names none).
    pub branch: Option<&'a str>,
}

/// What became of one repository.
pub struct Outcome {
    pub target: Target,
    /// The branch its rollback record is kept under; `None` when not
    /// known (a detached HEAD, an object id, a tag).
    pub branch: Option<String>,
    pub result: anyhow::Result<Report>,
    /// When the check failed: what it found (the tags at the revision,
    /// their verdicts and signers), for reports of why.
    pub partial: Option<Report>,
    /// Set when --allow-rollback accepted a revision the state refused.
    pub rollback_allowed: Option<String>,
}

impl Outcome {
    /// The exit code this repository contributes.
    pub fn code(&self) -> Code {
        match &self.result {
            Ok(_) => Code::Ok,
            Err(e) => crate::exit::code_of(e),
        }
    }
}

/// Verify every target (in parallel when there are several), checking
/// rollbacks against the state file and recording the commits that
/// verified.
///
/// `load` builds the keys and trust (parsing keyrings is a good part of a
/// run): it runs on its own thread while the repositories are opened and
/// their tags scanned, which needs no keys. Its error, when it fails, is
/// the result, as if it had run first.
pub fn verify_all<F>(
    load: F,
    targets: Vec<Target>,
    opts: RunOptions<'_>,
) -> anyhow::Result<Vec<Outcome>>
where
    F: FnOnce() -> anyhow::Result<Config> + Send,
{
    use rayon::prelude::*;
    // The loader's result, once there is one; every repository's check
    // waits for it after its scan. Keys first, then the state file: the
    // errors come in the order they did when both were read first.
    let loaded: OnceLock<anyhow::Result<(Config, Option<State>)>> = OnceLock::new();
    let outcomes: Vec<Option<Outcome>> = std::thread::scope(|s| {
        s.spawn(|| {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(load))
                .unwrap_or_else(|_| Err(fail(Code::Usage, "loading keys failed")))
                .and_then(|config| {
                    let recorded = match opts.state {
                        Some(p) => Some(State::load(p)?),
                        None => None,
                    };
                    Ok((config, recorded))
                });
            // Always set, so that no check waits for ever.
            let _ = loaded.set(r);
        });
        let one = |target: Target, split: bool| -> Option<Outcome> {
            let scanned = Repo::open(&target.dir).and_then(|repo| {
                let c = candidates(&repo, &target.rev, opts.tag_pattern, opts.max_tags, split)?;
                Ok((repo, c))
            });
            let building = match (&scanned, opts.branch) {
                (_, Some(b)) => Building::Branch(b.to_string()),
                (Ok((repo, _)), None) => match repo.rev_name(&target.rev) {
                    RevName::Branch(b) => Building::Branch(b),
                    RevName::Tag(t) => Building::Tag(t),
                    RevName::None => Building::Unknown,
                },
                (Err(_), None) => Building::Unknown,
            };
            let branch = building.branch().map(str::to_string);
            // Without keys there is nothing to check: the loader's error
            // is the result of the whole run.
            let (config, recorded) = loaded.wait().as_ref().ok()?;
            let mut rollback_allowed = None;
            let mut partial = None;
            let result = (|| {
                // A component without keys is a usage error before
                // anything about its repository.
                let ctx = config.context(&target.component)?;
                let (repo, c) = scanned?;
                let (report, checked) = check_candidates(&repo, c, &ctx);
                if let Err(e) = checked {
                    partial = Some(report);
                    return Err(e);
                }
                if let Some(st) = recorded {
                    if let Err(e) = st.check(&repo, &target.component, &building, &report.commit) {
                        if !opts.allow_rollback {
                            return Err(e);
                        }
                        rollback_allowed = Some(format!("{e:#}"));
                    }
                }
                Ok(report)
            })();
            Some(Outcome {
                target,
                branch,
                result,
                partial,
                rollback_allowed,
            })
        };
        // One repository: no thread pool to start; its peeks take two
        // threads instead.
        if targets.len() == 1 {
            targets.into_iter().map(|t| one(t, true)).collect()
        } else {
            targets.into_par_iter().map(|t| one(t, false)).collect()
        }
    });
    let _ = loaded
        .into_inner()
        .unwrap_or_else(|| Err(fail(Code::Usage, "loading keys failed")))?;
    let outcomes: Vec<Outcome> = outcomes.into_iter().flatten().collect();
    if let Some(path) = opts.state {
        let verified: Vec<(String, String, String)> = outcomes
            .iter()
            .filter_map(|o| {
                o.result.as_ref().ok().map(|r| {
                    (
                        o.target.component.clone(),
                        o.branch.clone().unwrap_or_else(|| DETACHED.into()),
                        r.commit.clone(),
                    )
                })
            })
            .collect();
        if !verified.is_empty() {
            State::update(path, verified)?;
        }
    }
    Ok(outcomes)
}
