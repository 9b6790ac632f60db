//! Several builders agreeing: the products recorded by independently
//! sealed logs, compared by name. Each log is verified whole first (a
//! product counts only when its record is covered by the log's last
//! checkpoint); logs whose checkpoints share a signing key are one builder,
//! so one key sealing two logs cannot make two votes.
//!
//! Rebuilders' attestations (issue 26) count beside the logs: a rebuilder
//! is one more builder, unless one of its OpenPGP keys sealed a log, in
//! which case it and that log's builder are one; what it attests for a
//! product's name is that builder's digest for it.

use super::verify::{self, Summary};
use crate::attest::Attestations;
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

/// Logs sealed by overlapping keys, and the rebuilders holding those keys:
/// one independent builder.
#[derive(Clone, Debug, Serialize)]
pub struct Builder {
    pub logs: Vec<PathBuf>,
    pub signers: Vec<String>,
    /// Rebuilders (voters of the attestation policy) that are this builder.
    pub rebuilders: Vec<String>,
}

/// One product across the builders.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub name: String,
    /// Per builder: the digest(s) its logs and attestations report (none:
    /// not built there; several: it disagrees with itself, and counts for
    /// none).
    pub digests: Vec<Vec<String>>,
    /// Per builder: the attestations naming this product.
    pub attested_in: Vec<Vec<String>>,
    /// The digest most builders report, and how many do.
    pub majority: Option<String>,
    pub agreeing: usize,
    pub ok: bool,
}

impl Row {
    /// What the builders said of this product, adding up to all of them:
    /// "2 agree, 1 disagrees, 1 did not report it" (parts of 0 left out).
    pub fn tally(&self, builders: usize) -> String {
        let reported = self.digests.iter().filter(|d| !d.is_empty()).count();
        let disagree = reported.saturating_sub(self.agreeing);
        let silent = builders.saturating_sub(reported);
        let mut parts = vec![match self.agreeing {
            1 => "1 agrees".to_string(),
            n => format!("{n} agree"),
        }];
        match disagree {
            0 => {}
            1 => parts.push("1 disagrees".into()),
            n => parts.push(format!("{n} disagree")),
        }
        if silent > 0 {
            parts.push(format!("{silent} did not report it"));
        }
        parts.join(", ")
    }
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
            let mut parts: Vec<String> = Vec::new();
            if !b.logs.is_empty() {
                let logs: Vec<String> = b.logs.iter().map(|l| l.display().to_string()).collect();
                parts.push(format!(
                    "{} (signed by {})",
                    terminal_safe(logs.join(", ").as_bytes()),
                    b.signers.join(", ")
                ));
            }
            if !b.rebuilders.is_empty() {
                parts.push(format!(
                    "rebuilder {}",
                    terminal_safe(b.rebuilders.join(", ").as_bytes())
                ));
            }
            let _ = writeln!(o, "builder {}: {}", i + 1, parts.join(", "));
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
                "  {} ({}; {} required)",
                if r.ok { "agreed" } else { "NOT AGREED" },
                r.tally(self.builders.len()),
                self.min
            );
        }
        // Who attested what, and where.
        for r in &self.products {
            for (i, docs) in r.attested_in.iter().enumerate() {
                if !docs.is_empty() {
                    let _ = writeln!(
                        o,
                        "{} attested by builder {} in {}",
                        terminal_safe(r.name.as_bytes()),
                        i + 1,
                        terminal_safe(docs.join(", ").as_bytes())
                    );
                }
            }
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

/// Group logs whose signer sets overlap, and the rebuilders (voters, with
/// their OpenPGP keys) that sealed them (union-find over shared keys).
/// Returns the builders and each voter's builder.
fn builders(
    logs: &mut [LogReport],
    voters: &[(String, Vec<String>)],
) -> (Vec<Builder>, Vec<usize>) {
    let n = logs.len() + voters.len();
    let signers = |i: usize| -> &[String] {
        match logs.get(i) {
            Some(l) => &l.signers,
            None => voters
                .get(i - logs.len())
                .map(|v| v.1.as_slice())
                .unwrap_or_default(),
        }
    };
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
            let shared = signers(a).iter().any(|s| signers(b).contains(s));
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
    let mut voter_builder = vec![0; voters.len()];
    for i in 0..n {
        let root = find(&mut parent, i);
        let b = *index.entry(root).or_insert_with(|| {
            out.push(Builder {
                logs: Vec::new(),
                signers: Vec::new(),
                rebuilders: Vec::new(),
            });
            out.len() - 1
        });
        let Some(builder) = out.get_mut(b) else {
            continue;
        };
        if let Some(log) = logs.get_mut(i) {
            log.builder = b;
            builder.logs.push(log.log.clone());
            builder.signers.extend(log.signers.iter().cloned());
            builder.signers.sort();
            builder.signers.dedup();
        } else if let (Some(v), Some(slot)) = (
            voters.get(i - logs.len()),
            voter_builder.get_mut(i - logs.len()),
        ) {
            *slot = b;
            builder.rebuilders.push(v.0.clone());
        }
    }
    (out, voter_builder)
}

/// Verify every log and compare the products `names` (default: every
/// product any log recorded, or with no log every product attested); `min`
/// builders must report one digest for each (default: all of them).
/// Rebuilders' `attestations` count as builders too.
pub fn agree(
    dirs: &[PathBuf],
    verifier: Option<&Verifier>,
    names: &[String],
    min: Option<usize>,
    attestations: Option<&Attestations>,
) -> anyhow::Result<Agreement> {
    if dirs.is_empty() && attestations.is_none() {
        return Err(fail(
            Code::Usage,
            "agree needs at least one --log or --attestations",
        ));
    }
    let mut logs = Vec::new();
    for d in dirs {
        let verifier = verifier.ok_or_else(|| fail(Code::Usage, "logs need --keyring"))?;
        let s = verify::verify(d, verifier, &verify::Options::default())
            .map_err(|e| e.context(format!("log {}", d.display())))?;
        logs.push(report(d, &s));
    }
    let voters: Vec<(String, Vec<String>)> = attestations
        .map(|a| {
            (0..a.policy.voters.len())
                .map(|v| (a.policy.label(v), a.policy.openpgp_keys(v)))
                .collect()
        })
        .unwrap_or_default();
    let (builders, voter_builder) = builders(&mut logs, &voters);
    let min = min.unwrap_or(builders.len());
    let names: BTreeSet<String> = if !names.is_empty() {
        names.iter().map(|n| file_name(n).to_string()).collect()
    } else if logs.is_empty() {
        attestations
            .map(|a| {
                a.evidence
                    .names()
                    .into_iter()
                    .map(|n| file_name(n).to_string())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        logs.iter()
            .flat_map(|l| l.products.keys().cloned())
            .collect()
    };
    if names.is_empty() {
        return Err(fail(
            Code::Missing,
            "no sealed product records in these logs, and no attested product: nothing to compare",
        ));
    }
    let mut rows = Vec::new();
    for name in names {
        let mut digests: Vec<BTreeSet<String>> = vec![BTreeSet::new(); builders.len()];
        let mut attested_in: Vec<Vec<String>> = vec![Vec::new(); builders.len()];
        for l in &logs {
            if let (Some(seen), Some(set)) = (l.products.get(&name), digests.get_mut(l.builder)) {
                set.insert(seen.sha256.clone());
            }
        }
        if let Some(a) = attestations {
            for (v, ds) in a.evidence.digests_named(&name) {
                let b = voter_builder.get(v).copied().unwrap_or(0);
                if let Some(set) = digests.get_mut(b) {
                    set.extend(ds.iter().map(hex::encode));
                }
                if let Some(list) = attested_in.get_mut(b) {
                    list.extend(a.evidence.sources_naming(&name, v));
                }
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
            attested_in,
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

/// `agree` counts logs and rebuilders together against its own `--min`: a
/// threshold for the rebuilders alone is a usage error.
pub fn refuse_rebuilder_threshold(args: &crate::attest::AttestArgs) -> anyhow::Result<()> {
    match args.min_rebuilders {
        Some(_) => Err(fail(
            Code::Usage,
            "agree counts logs and rebuilders together: give --min, not --min-rebuilders",
        )),
        None => Ok(()),
    }
}

/// [`attestation`], written to `to` atomically.
pub fn write_attestation(
    a: &Agreement,
    signer: &crate::attest::write::AttestSigner,
    to: &Path,
) -> anyhow::Result<()> {
    crate::attest::write::write_file(to, &attestation(a, signer)?)
}

/// The agreed products as a signed in-toto link (`agree --attest`):
/// products are the agreed digests by name; materials, each log's last
/// sealed checkpoint (by its origin and size); byproducts say how many
/// builders agreed and who they were.
pub fn attestation(
    a: &Agreement,
    signer: &crate::attest::write::AttestSigner,
) -> anyhow::Result<Vec<u8>> {
    use crate::attest::json::{object, string, Json};
    use crate::attest::write::{link, sign_link, Artifact};
    use sha2::Digest;
    let mut materials = Vec::new();
    for l in &a.logs {
        let bytes = super::store::checkpoint_bytes(&l.log, l.sealed)?;
        materials.push(Artifact {
            name: format!("{}/checkpoint/{}", l.origin, l.sealed),
            sha256: sha2::Sha256::digest(&bytes).into(),
        });
    }
    let mut products = Vec::new();
    for r in a.products.iter().filter(|r| r.ok) {
        let Some(sha256) = r
            .majority
            .as_deref()
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
        else {
            continue;
        };
        products.push(Artifact {
            name: r.name.clone(),
            sha256,
        });
    }
    let builders = a
        .builders
        .iter()
        .map(|b| {
            let mut names: Vec<Json> = b
                .logs
                .iter()
                .map(|l| string(l.display().to_string()))
                .collect();
            names.extend(
                b.rebuilders
                    .iter()
                    .map(|r| string(format!("rebuilder {r}"))),
            );
            object([
                (
                    "signers",
                    Json::Array(b.signers.iter().map(|s| string(s.clone())).collect()),
                ),
                ("sources", Json::Array(names)),
            ])
        })
        .collect();
    let byproducts = object([
        ("builders", Json::Array(builders)),
        ("min", Json::Int(a.min as i128)),
    ]);
    sign_link(
        link("sign-log agree", &materials, &products, byproducts),
        signer,
    )
}
