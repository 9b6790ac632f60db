//! Rollback protection: the last verified commit per component and per
//! branch (or ref) being built, so that switching `BRANCH` is not taken
//! for a rollback while going back on one branch is.

use crate::exit::{fail, Code, ResultExt};
use crate::git::{self, Repo};
use std::collections::BTreeMap;
use std::path::Path;

/// The ref of a state file written before branches were recorded: it
/// stands for any branch of its component without a record of its own, and
/// is replaced by the branch's record at the component's next update.
const ANY_BRANCH: &str = "";

/// Component -> branch -> last verified commit.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct State {
    pub components: BTreeMap<String, BTreeMap<String, String>>,
}

/// One component's record as stored: per branch, or (older files) one
/// commit for the component.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Stored {
    Branches(BTreeMap<String, String>),
    Component(String),
}

#[derive(serde::Deserialize)]
struct StoredState {
    components: BTreeMap<String, Stored>,
}

/// A state file larger than this is not ours.
const STATE_MAX: u64 = 16 << 20;

impl State {
    /// Read the state file (missing: empty). A corrupt one, or one that is
    /// not a regular file (a FIFO, a device, a directory: refused, never
    /// read), is exit 2.
    pub fn load(path: &Path) -> anyhow::Result<State> {
        let file = match crate::fsutil::open_regular_io(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => return Err(crate::fsutil::refused_or_io(e, "state file", path)),
        };
        let what = format!("state file {}", path.display());
        let bytes = crate::fsutil::read_bounded(file, STATE_MAX, &what, Code::Usage)?;
        let stored: StoredState = serde_json::from_slice(&bytes).with_code(Code::Usage, || {
            format!("state file {} is corrupt", path.display())
        })?;
        let components = stored
            .components
            .into_iter()
            .map(|(c, s)| {
                let branches = match s {
                    Stored::Branches(b) => b,
                    Stored::Component(commit) => BTreeMap::from([(ANY_BRANCH.into(), commit)]),
                };
                (c, branches)
            })
            .collect();
        Ok(State { components })
    }

    /// Written atomically: a crash leaves the old state or the new.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        crate::fsutil::write_atomic(path, &bytes).with_code(Code::Io, || {
            format!("writing state file {}", path.display())
        })
    }

    /// Record verified commits (component, branch, commit): under an
    /// exclusive lock on `FILE.lock`, so concurrent runs (`make -j`) do not
    /// lose each other's updates, the file is re-read, updated and replaced
    /// atomically.
    pub fn update(path: &Path, verified: Vec<(String, String, String)>) -> anyhow::Result<()> {
        // Held to the end of the update (`_lock`, not `_`, keeps it).
        let _lock = crate::fsutil::lock_beside(path)?;
        let mut st = State::load(path)?;
        let before = st.clone();
        for (component, branch, commit) in verified {
            let branches = st.components.entry(component).or_default();
            branches.remove(ANY_BRANCH);
            branches.insert(branch, commit);
        }
        if st != before {
            st.save(path)?;
        }
        Ok(())
    }

    /// The commit last verified for `component` on `branch`.
    pub fn last(&self, component: &str, branch: &str) -> Option<&String> {
        let branches = self.components.get(component)?;
        branches.get(branch).or_else(|| branches.get(ANY_BRANCH))
    }

    /// A new commit must be the recorded one of its branch or descend from
    /// it. When the branch is not known (a detached HEAD, an object id, a
    /// tag as REV), it must descend from the record of some branch of the
    /// component: neither a detached checkout nor a tag's name is a way
    /// around the record.
    pub fn check(
        &self,
        repo: &Repo,
        component: &str,
        building: &Building,
        commit: &str,
    ) -> anyhow::Result<()> {
        let records: Vec<(&str, &String)> = match building.branch() {
            Some(b) => self
                .last(component, b)
                .map(|c| (b, c))
                .into_iter()
                .collect(),
            None => self
                .components
                .get(component)
                .map(|m| m.iter().map(|(b, c)| (b.as_str(), c)).collect())
                .unwrap_or_default(),
        };
        if records.is_empty() {
            return Ok(());
        }
        let Some(new_id) = git::parse_oid(commit) else {
            return Err(fail(Code::Usage, format!("bad commit id {commit:?}")));
        };
        let mut why = Vec::new();
        for (b, last) in records {
            let Some(last_id) = git::parse_oid(last) else {
                return Err(fail(
                    Code::Usage,
                    format!("state for {component} holds a bad commit id {last:?}"),
                ));
            };
            let on = if b.is_empty() {
                String::new()
            } else {
                format!(" on {b}")
            };
            if !repo.has(last_id)? {
                why.push(format!("{component} was last verified{on} at {last}, which this repository does not have, so {commit} cannot be shown to descend from it"));
                continue;
            }
            if repo.is_ancestor(last_id, new_id)? {
                return Ok(());
            }
            why.push(format!(
                "{component} was last verified{on} at {last}, and {commit} does not descend from it"
            ));
        }
        let unknown = match building {
            Building::Branch(_) => String::new(),
            Building::Unknown => {
                " (the branch being built is unknown: --branch NAME names it)".into()
            }
            Building::Tag(t) => {
                format!(" ({t} is a tag, not a branch: --branch NAME names the branch being built)")
            }
        };
        Err(fail(
            Code::Failed,
            format!(
                "rollback: {}{unknown} (--allow-rollback to accept)",
                why.join("; ")
            ),
        ))
    }
}

/// The key a verified commit of an unknown branch is recorded under.
pub const DETACHED: &str = "(detached)";

/// The branch being built, as far as the command line and REV tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Building {
    /// `--branch NAME`, or the branch REV names.
    Branch(String),
    /// A tag as REV: it names a commit, not a branch. Checked and
    /// recorded as [`Building::Unknown`]; never recorded under its name,
    /// or an older release's tag would start a "branch" of its own with
    /// no record to be a rollback from.
    Tag(String),
    /// An object id, a detached HEAD.
    Unknown,
}

impl Building {
    /// The branch whose record a verified commit is checked against and
    /// recorded under; `None`: every record of the component, and
    /// [`DETACHED`].
    pub fn branch(&self) -> Option<&str> {
        match self {
            Building::Branch(b) => Some(b),
            Building::Tag(_) | Building::Unknown => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_bounded_and_corruption_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        assert_eq!(State::load(&p).unwrap(), State::default());
        State::update(&p, vec![("a".into(), "main".into(), "00".into())]).unwrap();
        State::update(&p, vec![("b".into(), "main".into(), "11".into())]).unwrap();
        State::update(&p, vec![("a".into(), "r4.2".into(), "22".into())]).unwrap();
        let st = State::load(&p).unwrap();
        assert_eq!(st.components.len(), 2, "updates merge");
        assert_eq!(st.last("a", "main").map(String::as_str), Some("00"));
        assert_eq!(st.last("a", "r4.2").map(String::as_str), Some("22"));
        assert_eq!(st.last("a", "other"), None);
        std::fs::write(&p, "{not json").unwrap();
        assert_eq!(
            crate::exit::code_of(&State::load(&p).unwrap_err()),
            Code::Usage
        );
    }

    #[test]
    fn files_without_branches_still_protect() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        std::fs::write(&p, r#"{"components": {"a": "00"}}"#).unwrap();
        let st = State::load(&p).unwrap();
        assert_eq!(st.last("a", "main").map(String::as_str), Some("00"));
        State::update(&p, vec![("a".into(), "main".into(), "11".into())]).unwrap();
        let st = State::load(&p).unwrap();
        assert_eq!(st.last("a", "main").map(String::as_str), Some("11"));
        assert_eq!(st.last("a", "other"), None, "the old record is replaced");
    }
}
