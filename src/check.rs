//! Checking files against hash lists: the engine behind check-hashes.
//!
//! Entries are grouped per file in list order; a file passes only when every
//! digest listed for it matches. Files are hashed once for all their
//! algorithms, many files in parallel, and results come back in list order.

use crate::digest::{digest_eq, hash_file, Algo, Digests};
use crate::exit::{fail, Code};
use crate::hashlist::Entry;
use rayon::prelude::*;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// What the caller allows beyond the strict defaults.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Resolve names relative to this directory (`-C`).
    pub dir: Option<PathBuf>,
    /// A listed file that does not exist is skipped, not failed.
    pub ignore_missing: bool,
    /// Accept MD5 and SHA-1 entries.
    pub allow_weak: bool,
    /// Accept absolute names and names with `..`.
    pub allow_outside: bool,
}

/// One file to check and everything the lists pin for it.
#[derive(Clone, Debug)]
pub struct Target {
    /// The name as written in the list (for output).
    pub name: Vec<u8>,
    pub path: PathBuf,
    pub expected: Vec<(Algo, Vec<u8>)>,
}

/// The outcome for one file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Ok,
    /// A digest did not match.
    Failed,
    /// A weak algorithm was listed and not allowed.
    Weak,
    /// The file does not exist.
    Missing,
    /// The file exists but could not be read.
    Unreadable,
    /// Missing, and `--ignore-missing` was given.
    Skipped,
}

impl Status {
    pub fn code(&self) -> Code {
        match self {
            Status::Ok | Status::Skipped => Code::Ok,
            Status::Failed | Status::Weak | Status::Missing => Code::Failed,
            Status::Unreadable => Code::Io,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub target: Target,
    pub status: Status,
    /// What was computed, when the file could be read.
    pub actual: Option<Digests>,
    /// One sentence for stderr when not OK: file, expected, observed.
    pub reason: Option<String>,
}

/// Turn parsed entries into targets, grouped per name in first-seen order.
/// `list` is the list's path (None for stdin): a bare digest in `foo.sha256`
/// pins `foo` next to it.
pub fn targets(
    entries: Vec<Entry>,
    list: Option<&Path>,
    opts: &Options,
) -> anyhow::Result<Vec<Target>> {
    let mut out: Vec<Target> = Vec::new();
    for e in entries {
        let (name, path) = match e.name {
            Some(name) => {
                let rel = Path::new(OsStr::from_bytes(&name));
                if !opts.allow_outside && is_outside(rel) {
                    return Err(fail(
                        Code::Usage,
                        format!(
                            "line {}: refusing {:?}: absolute or `..` names need --allow-outside",
                            e.line,
                            String::from_utf8_lossy(&name)
                        ),
                    ));
                }
                let path = match &opts.dir {
                    Some(d) => d.join(rel),
                    None => rel.to_path_buf(),
                };
                (name, path)
            }
            None => {
                let list = list.ok_or_else(|| {
                    fail(
                        Code::Usage,
                        "a bare digest needs a list file named FILE.sha256 (or similar)",
                    )
                })?;
                let (file, algo) = implied_file(list)?;
                if let Some(a) = algo {
                    if a.digest_len() != e.digest.len() {
                        return Err(fail(
                            Code::Usage,
                            format!(
                                "{}: holds a {}-byte digest, not {a}",
                                list.display(),
                                e.digest.len()
                            ),
                        ));
                    }
                }
                let algo = match algo {
                    Some(Algo::Blake2b512) => Algo::Blake2b512,
                    _ => e.algo,
                };
                let name = file.as_os_str().as_bytes().to_vec();
                out.push(Target {
                    name,
                    path: file,
                    expected: vec![(algo, e.digest)],
                });
                continue;
            }
        };
        match out.iter_mut().find(|t| t.name == name) {
            Some(t) => t.expected.push((e.algo, e.digest)),
            None => out.push(Target {
                name,
                path,
                expected: vec![(e.algo, e.digest)],
            }),
        }
    }
    Ok(out)
}

fn is_outside(p: &Path) -> bool {
    p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir))
}

/// `dir/foo.tar.gz.sha512` → (`dir/foo.tar.gz`, SHA-512).
pub fn implied_file(list: &Path) -> anyhow::Result<(PathBuf, Option<Algo>)> {
    let ext = list
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let algo = ext
        .as_deref()
        .and_then(|e| Algo::from_name(e.trim_end_matches("sum")));
    match (algo, list.file_stem()) {
        (Some(a), Some(stem)) => Ok((list.with_file_name(stem), Some(a))),
        _ => Err(fail(
            Code::Usage,
            format!(
                "{}: a bare digest needs the list to be named FILE.sha256, FILE.sha512, ...",
                list.display()
            ),
        )),
    }
}

/// Check one file against everything pinned for it.
pub fn check(target: &Target, opts: &Options) -> Outcome {
    let shown = String::from_utf8_lossy(&target.name).into_owned();
    let weak: Vec<Algo> = target
        .expected
        .iter()
        .map(|(a, _)| *a)
        .filter(|a| a.is_weak())
        .collect();
    if !weak.is_empty() && !opts.allow_weak {
        return Outcome {
            target: target.clone(),
            status: Status::Weak,
            actual: None,
            reason: Some(format!(
                "{shown}: weak algorithm {} (use --allow-weak to accept)",
                weak.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
            )),
        };
    }
    let algos: Vec<Algo> = target.expected.iter().map(|(a, _)| *a).collect();
    match hash_file(&target.path, &algos) {
        Err(e) => {
            let missing = e.kind() == std::io::ErrorKind::NotFound;
            let status = match (missing, opts.ignore_missing) {
                (true, true) => Status::Skipped,
                (true, false) => Status::Missing,
                _ => Status::Unreadable,
            };
            Outcome {
                target: target.clone(),
                status,
                actual: None,
                reason: Some(format!("{shown}: {e}")),
            }
        }
        Ok(d) => {
            let bad = target
                .expected
                .iter()
                .find(|(a, want)| d.get(*a).is_none_or(|got| !digest_eq(got, want)));
            let reason = bad.map(|(a, want)| {
                format!(
                    "{shown}: {a} mismatch: expected {}, got {}",
                    hex::encode(want),
                    d.hex(*a).unwrap_or_default()
                )
            });
            Outcome {
                target: target.clone(),
                status: if bad.is_some() {
                    Status::Failed
                } else {
                    Status::Ok
                },
                actual: Some(d),
                reason,
            }
        }
    }
}

/// Check every target, hashing in parallel, and hand the outcomes to
/// `report` in list order as they complete chunk by chunk. Returns the
/// overall exit code.
pub fn check_all(targets: &[Target], opts: &Options, mut report: impl FnMut(&Outcome)) -> Code {
    // Chunks keep output flowing and memory bounded on long lists.
    const CHUNK: usize = 256;
    let mut code = Code::Ok;
    let mut verified = 0usize;
    for chunk in targets.chunks(CHUNK) {
        let outcomes: Vec<Outcome> = chunk.par_iter().map(|t| check(t, opts)).collect();
        for o in &outcomes {
            code = code.worst(o.status.code());
            verified += usize::from(o.status != Status::Skipped);
            report(o);
        }
    }
    if targets.is_empty() || verified == 0 {
        code = code.worst(Code::Missing);
    }
    code
}
