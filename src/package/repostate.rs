//! Rollback and freeze protection for RPM repositories: repomd.xml has
//! no expiry of its own, so the last accepted `<revision>` and newest data
//! timestamp of each repository are kept in a state file (as verify-tag
//! keeps the last verified commits), and metadata older than a maximum age
//! can be refused.

use crate::exit::{fail, Code, ResultExt};
use std::collections::BTreeMap;
use std::path::Path;

/// What was last accepted of one repository.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// repomd.xml's `<revision>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The newest `<timestamp>` of its data entries (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    /// SHA-256 of the repomd.xml accepted (hex).
    pub sha256: String,
}

impl Record {
    fn revision_number(&self) -> Option<u64> {
        self.revision.as_deref().and_then(|r| r.trim().parse().ok())
    }

    /// Why `self` (a repomd.xml being checked) is older than `last`, if it is.
    pub fn older_than(&self, last: &Record) -> Option<String> {
        if let (Some(new), Some(old)) = (self.revision_number(), last.revision_number()) {
            if new < old {
                return Some(format!("revision {new} is older than {old}"));
            }
        }
        if let (Some(new), Some(old)) = (self.timestamp, last.timestamp) {
            if new < old {
                return Some(format!(
                    "its newest metadata timestamp {new} is older than {old}"
                ));
            }
        }
        None
    }
}

/// Repository id -> last accepted repomd.xml.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RepoState {
    pub repositories: BTreeMap<String, Record>,
}

/// A state file larger than this is not ours.
const STATE_MAX: u64 = 16 << 20;

impl RepoState {
    /// Read the state file (missing: empty). A corrupt one is exit 2.
    pub fn load(path: &Path) -> anyhow::Result<RepoState> {
        let file = match crate::fsutil::open_regular_io(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RepoState::default()),
            // Not a regular file, or a name that cannot be one: exit 2.
            Err(e) => return Err(crate::fsutil::refused_or_io(e, "state file", path)),
        };
        let what = format!("state file {}", path.display());
        let bytes = crate::fsutil::read_bounded(file, STATE_MAX, &what, Code::Usage)?;
        serde_json::from_slice(&bytes).with_code(Code::Usage, || {
            format!("state file {} is corrupt", path.display())
        })
    }

    /// Is `new` for repository `id` a rollback? Exit 1 naming both.
    pub fn check(&self, id: &str, new: &Record) -> anyhow::Result<()> {
        let Some(last) = self.repositories.get(id) else {
            return Ok(());
        };
        match new.older_than(last) {
            None => Ok(()),
            Some(why) => Err(fail(
                Code::Failed,
                format!(
                    "rollback: repository {id}: repomd.xml {why}, the last accepted \
                     (--allow-rollback to accept)"
                ),
            )),
        }
    }

    /// Record accepted repomd.xml files: under an exclusive lock on
    /// `FILE.lock` the file is re-read, each record replaced unless the
    /// stored one is newer (a concurrent run accepted a later one), and
    /// the file replaced atomically.
    pub fn update(path: &Path, accepted: Vec<(String, Record)>) -> anyhow::Result<()> {
        let _lock = crate::fsutil::lock_beside(path)?;
        let mut st = RepoState::load(path)?;
        let before = st.clone();
        for (id, rec) in accepted {
            let keep = st
                .repositories
                .get(&id)
                .is_some_and(|last| rec.older_than(last).is_some());
            if !keep {
                st.repositories.insert(id, rec);
            }
        }
        if st == before {
            return Ok(());
        }
        let mut bytes = serde_json::to_vec_pretty(&st)?;
        bytes.push(b'\n');
        crate::fsutil::write_atomic(path, &bytes).with_code(Code::Io, || {
            format!("writing state file {}", path.display())
        })
    }
}

/// Refuse metadata whose newest timestamp is more than `max_age` before
/// `now` (a mirror frozen on old, still validly signed metadata).
pub fn check_age(
    newest: Option<u64>,
    max_age: std::time::Duration,
    now: u64,
) -> anyhow::Result<()> {
    let Some(t) = newest else {
        return Err(fail(
            Code::Failed,
            "--max-age: repomd.xml has no data timestamp to judge its age by",
        ));
    };
    let age = now.saturating_sub(t);
    if age > max_age.as_secs() {
        return Err(fail(
            Code::Failed,
            format!(
                "metadata too old: its newest timestamp {t} is {} old, more than --max-age {}",
                humantime::format_duration(std::time::Duration::from_secs(age)),
                humantime::format_duration(max_age)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(rev: &str, ts: u64) -> Record {
        Record {
            revision: Some(rev.into()),
            timestamp: Some(ts),
            sha256: rev.into(),
        }
    }

    #[test]
    fn older_revision_or_timestamp_is_a_rollback() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("repos.json");
        RepoState::update(&p, vec![("fedora".into(), rec("20", 200))]).unwrap();
        let st = RepoState::load(&p).unwrap();
        assert!(st.check("fedora", &rec("20", 200)).is_ok());
        assert!(st.check("fedora", &rec("21", 201)).is_ok());
        assert!(st.check("updates", &rec("1", 1)).is_ok());
        let e = st.check("fedora", &rec("19", 300)).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Failed);
        assert!(format!("{e:#}").contains("revision 19 is older than 20"));
        assert!(st.check("fedora", &rec("x", 199)).is_err());
        // A concurrent run's newer record is not replaced by an older one.
        RepoState::update(&p, vec![("fedora".into(), rec("19", 100))]).unwrap();
        assert_eq!(
            RepoState::load(&p).unwrap().repositories["fedora"],
            rec("20", 200)
        );
        std::fs::write(&p, "{").unwrap();
        assert_eq!(
            crate::exit::code_of(&RepoState::load(&p).unwrap_err()),
            Code::Usage
        );
    }

    #[test]
    fn max_age() {
        let day = std::time::Duration::from_secs(86400);
        assert!(check_age(Some(1000), day, 1000 + 86400).is_ok());
        assert!(check_age(Some(1000), day, 1001 + 86400).is_err());
        assert!(check_age(None, day, 0).is_err());
    }
}
