//! Several builders agreeing: the products recorded by independently
//! sealed logs, compared by name. Each log is verified whole first (a
//! product counts only when its record is covered by the log's last
//! checkpoint); logs whose checkpoints share a signing key are one builder,
//! so one key sealing two logs cannot make two votes.

use super::verify::{self, Summary};
use crate::exit::{fail, Code};
use crate::openpgp::Verifier;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A product as one log recorded it last (sealed records only).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Seen {
    pub sha256: String,
    pub seq: u64,
    /// The name as the build side gave it (a path).
    pub recorded_as: String,
}

/// One verified log.
#[derive(Clone, Debug, Serialize)]
pub struct LogReport {
    pub log: PathBuf,
    pub origin: String,
    pub signers: Vec<String>,
    pub sealed: u64,
    /// Product (file) name -> its last sealed record.
    pub products: BTreeMap<String, Seen>,
    /// Index into [`Agreement::builders`].
    pub builder: usize,
}

/// Logs sealed by overlapping keys: one independent builder.
#[derive(Clone, Debug, Serialize)]
pub struct Builder {
    pub logs: Vec<PathBuf>,
    pub signers: Vec<String>,
}

/// One product across the builders.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub name: String,
    /// Per builder: the digest(s) its logs report (none: not built there;
    /// several: its own logs disagree, and it counts for none).
    pub digests: Vec<Vec<String>>,
    /// The digest most builders report, and how many do.
    pub majority: Option<String>,
    pub agreeing: usize,
    pub ok: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Agreement {
    pub logs: Vec<LogReport>,
    pub builders: Vec<Builder>,
    pub min: usize,
    pub products: Vec<Row>,
    pub ok: bool,
}

impl Agreement {
    /// Products x builders as a table, digests shortened to 16 hex
    /// digits; names from the logs shown terminal-safe.
    pub fn table(&self) -> String {
        use super::record::terminal_safe;
        use std::fmt::Write as _;
        let mut o = String::new();
        for (i, b) in self.builders.iter().enumerate() {
            let logs: Vec<String> = b.logs.iter().map(|l| l.display().to_string()).collect();
            let _ = writeln!(
                o,
                "builder {}: {} (signed by {})",
                i + 1,
                terminal_safe(logs.join(", ").as_bytes()),
                b.signers.join(", ")
            );
        }
        let width = self
            .products
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(0)
            .max(7);
        let _ = write!(o, "{:width$}", "product");
        for i in 0..self.builders.len() {
            let _ = write!(o, "  {:16}", format!("builder {}", i + 1));
        }
        let _ = writeln!(o, "  verdict");
        for r in &self.products {
            let _ = write!(o, "{:width$}", terminal_safe(r.name.as_bytes()));
            for d in &r.digests {
                let cell = match d.as_slice() {
                    [] => "-".to_string(),
                    [one] => one.chars().take(16).collect(),
                    _ => "(disagrees)".to_string(),
                };
                let _ = write!(o, "  {cell:16}");
            }
            let _ = writeln!(
                o,
                "  {} ({} of {} builders, {} required)",
                if r.ok { "agreed" } else { "NOT AGREED" },
                r.agreeing,
                self.builders.len(),
                self.min
            );
        }
        o
    }

    /// Why the builders do not agree (None when they do): the products
    /// fewer than the required builders agree on.
    pub fn shortfall(&self) -> Option<String> {
        if self.ok {
            return None;
        }
        let bad: Vec<&str> = self
            .products
            .iter()
            .filter(|r| !r.ok)
            .map(|r| r.name.as_str())
            .collect();
        Some(format!(
            "fewer than {} builders agree on: {}",
            self.min,
            bad.join(", ")
        ))
    }
}

/// Products are compared by file name: builders build in different
/// directories.
fn file_name(recorded: &str) -> &str {
    recorded.rsplit('/').next().unwrap_or(recorded)
}

fn report(dir: &Path, s: &Summary) -> LogReport {
    let mut products: BTreeMap<String, Seen> = BTreeMap::new();
    for sess in &s.sessions {
        for p in &sess.products {
            let (Some(sha), true) = (&p.directive.sha256, p.seq < s.sealed) else {
                continue;
            };
            let seen = Seen {
                sha256: sha.to_ascii_lowercase(),
                seq: p.seq,
                recorded_as: p.directive.name.clone(),
            };
            let name = file_name(&p.directive.name).to_string();
            if products.get(&name).is_none_or(|old| old.seq < seen.seq) {
                products.insert(name, seen);
            }
        }
    }
    LogReport {
        log: dir.to_path_buf(),
        origin: s.origin.clone(),
        signers: s.signers.clone(),
        sealed: s.sealed,
        products,
        builder: 0,
    }
}

/// Group logs whose signer sets overlap (union-find over shared keys).
fn builders(logs: &mut [LogReport]) -> Vec<Builder> {
    let n = logs.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while let Some(&up) = p.get(i) {
            if up == i {
                break;
            }
            i = up;
        }
        i
    }
    for a in 0..n {
        for b in a + 1..n {
            let shared = logs
                .get(a)
                .zip(logs.get(b))
                .is_some_and(|(x, y)| x.signers.iter().any(|s| y.signers.contains(s)));
            if shared {
                let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
                if let Some(slot) = parent.get_mut(rb) {
                    *slot = ra;
                }
            }
        }
    }
    let mut index: BTreeMap<usize, usize> = BTreeMap::new();
    let mut out: Vec<Builder> = Vec::new();
    for i in 0..n {
        let root = find(&mut parent, i);
        let b = *index.entry(root).or_insert_with(|| {
            out.push(Builder {
                logs: Vec::new(),
                signers: Vec::new(),
            });
            out.len() - 1
        });
        if let (Some(log), Some(builder)) = (logs.get_mut(i), out.get_mut(b)) {
            log.builder = b;
            builder.logs.push(log.log.clone());
            builder.signers.extend(log.signers.iter().cloned());
            builder.signers.sort();
            builder.signers.dedup();
        }
    }
    out
}

/// Verify every log and compare the products `names` (default: every
/// product any log recorded); `min` builders must report one digest for
/// each (default: all of them).
pub fn agree(
    dirs: &[PathBuf],
    verifier: &Verifier,
    names: &[String],
    min: Option<usize>,
) -> anyhow::Result<Agreement> {
    if dirs.is_empty() {
        return Err(fail(Code::Usage, "agree needs at least one --log"));
    }
    let mut logs = Vec::new();
    for d in dirs {
        let s = verify::verify(d, verifier, &verify::Options::default())
            .map_err(|e| e.context(format!("log {}", d.display())))?;
        logs.push(report(d, &s));
    }
    let builders = builders(&mut logs);
    let min = min.unwrap_or(builders.len());
    let names: BTreeSet<String> = if names.is_empty() {
        logs.iter()
            .flat_map(|l| l.products.keys().cloned())
            .collect()
    } else {
        names.iter().map(|n| file_name(n).to_string()).collect()
    };
    if names.is_empty() {
        return Err(fail(
            Code::Missing,
            "no sealed product records in these logs: nothing to compare",
        ));
    }
    let mut rows = Vec::new();
    for name in names {
        let mut digests: Vec<BTreeSet<String>> = vec![BTreeSet::new(); builders.len()];
        for l in &logs {
            if let (Some(seen), Some(set)) = (l.products.get(&name), digests.get_mut(l.builder)) {
                set.insert(seen.sha256.clone());
            }
        }
        // A builder whose own logs disagree counts for no digest.
        let mut votes: BTreeMap<&String, usize> = BTreeMap::new();
        for set in &digests {
            if let (1, Some(d)) = (set.len(), set.first()) {
                *votes.entry(d).or_default() += 1;
            }
        }
        let mut ranked: Vec<(&String, usize)> = votes.into_iter().collect();
        ranked.sort_by_key(|r| std::cmp::Reverse(r.1));
        let (majority, agreeing) = ranked
            .first()
            .map_or((None, 0), |(d, n)| (Some((*d).clone()), *n));
        let rivals = ranked.iter().filter(|(_, n)| *n >= min.max(1)).count();
        rows.push(Row {
            name,
            ok: agreeing >= min.max(1) && rivals == 1,
            digests: digests
                .into_iter()
                .map(|s| s.into_iter().collect())
                .collect(),
            majority,
            agreeing,
        });
    }
    Ok(Agreement {
        ok: rows.iter().all(|r| r.ok),
        logs,
        builders,
        min,
        products: rows,
    })
}
