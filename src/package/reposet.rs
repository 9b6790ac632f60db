//! `verify-package --repo`: the options of the RPM repository chain, and
//! the run over a package set (the repositories first, then each package,
//! then what `--all` and `--exact` ask of the set, then the rollback
//! record). Outcomes go to a sink; the caller renders them.

use super::repostate::RepoState;
use super::rpm::RpmOptions;
use super::rpmrepo::{self, Anchor, PackageSet, Repo, RepoOptions};
use super::Verified;
use crate::exit::{code_of, fail, Code};
use crate::lists::rpmmd::Policy;
use crate::openpgp::Verifier;
use std::collections::HashSet;
use std::path::PathBuf;

#[derive(clap::Args, Clone, Debug, Default)]
pub struct RepoArgs {
    /// RPM: a repository the packages must be listed in: the directory or URL holding
    /// repodata/, optionally named `ID=` (the name its rollback record is kept under; default:
    /// the operand). Repeatable: a set drawn from several repositories (Fedora, updates, Qubes).
    /// Its repodata/repomd.xml must be signed (repomd.xml.asc, by the keys given) unless pinned.
    #[arg(long = "repo", value_name = "[ID=]DIR|URL", conflicts_with = "release")]
    pub repos: Vec<String>,

    /// RPM: pin repomd.xml by its SHA-256 instead of its signature (`ID=HEX` with several --repo).
    #[arg(long, value_name = "[ID=]HEX", requires = "repos")]
    pub repomd_sha256: Vec<String>,

    /// RPM: pin repomd.xml by the hashes a metalink lists for it (Fedora's MirrorManager
    /// metalink, fetched over HTTPS: it is trusted as given). `ID=FILE` with several --repo.
    #[arg(long, value_name = "[ID=]FILE", requires = "repos")]
    pub metalink: Vec<String>,

    /// RPM: every package the repositories list must be in the set and good (without FILEs:
    /// each at its location in its repository's directory), and every metadata file repomd.xml
    /// lists is checked, not only primary.
    #[arg(long, requires = "repos")]
    pub all: bool,

    /// RPM: every file in the set (directories walked whole) must be a package some repository
    /// lists: an unlisted file fails (exit 1) instead of being exit 3.
    #[arg(long, requires = "repos")]
    pub exact: bool,

    /// RPM: the rollback state: each repository's last accepted repomd.xml (revision, newest
    /// timestamp). An older one is exit 1; a run that passes records what it accepted.
    #[arg(long, value_name = "FILE", requires = "repos")]
    pub state: Option<PathBuf>,

    /// RPM: accept a repomd.xml older than the state's record (it is still recorded if newer).
    #[arg(long, requires = "state")]
    pub allow_rollback: bool,

    /// RPM: refuse metadata whose newest timestamp is older than DURATION (`7d`, `36h`):
    /// repomd.xml has no expiry, so a mirror could serve old, validly signed metadata forever.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, requires = "repos")]
    pub max_age: Option<std::time::Duration>,

    /// RPM: accept SHA-1 (`sha`, `sha1`) checksums in repository metadata (EL5-era
    /// repositories). Refused by default.
    #[arg(long, requires = "repos")]
    pub allow_sha1_checksums: bool,

    /// RPM: accept unsigned packages in a repository on its checksum alone. By default a package
    /// must be listed AND signed by the keys given.
    #[arg(long, requires = "repos")]
    pub allow_unsigned_packages: bool,

    /// RPM: largest metadata file, compressed or decompressed (K, M, G: multiples of 1024).
    #[arg(long, value_name = "SIZE", default_value = "4G", value_parser = crate::units::parse_size)]
    pub max_metadata_size: u64,

    /// RPM: allow http:// repository URLs (the signatures and checksums still decide).
    #[arg(long, requires = "repos")]
    pub allow_http: bool,
}

/// One repository as named on the command line.
#[derive(Clone, Debug)]
pub struct RepoSpec {
    pub id: String,
    pub operand: String,
    pub anchor: Anchor,
}

/// `ID=VALUE` when ID is a plain name (no `/` or `:`, so neither a path
/// nor a URL is split), else the whole operand.
fn split_id(s: &str) -> (Option<&str>, &str) {
    match s.split_once('=') {
        Some((id, v))
            if !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) =>
        {
            (Some(id), v)
        }
        _ => (None, s),
    }
}

impl RepoArgs {
    pub fn given(&self) -> bool {
        !self.repos.is_empty()
    }

    pub fn options(&self, rpm: RpmOptions) -> RepoOptions {
        RepoOptions {
            policy: Policy {
                allow_sha1: self.allow_sha1_checksums,
            },
            max_metadata: self.max_metadata_size,
            all_metadata: self.all,
            max_age: self.max_age,
            unsigned_packages: self.allow_unsigned_packages,
            rpm,
        }
    }

    /// The repositories and what authenticates each repomd.xml.
    pub fn specs(&self) -> anyhow::Result<Vec<RepoSpec>> {
        let mut specs: Vec<RepoSpec> = Vec::new();
        for r in &self.repos {
            let (id, operand) = split_id(r);
            let id = id.unwrap_or(operand).to_string();
            if specs.iter().any(|s| s.id == id) {
                return Err(fail(Code::Usage, format!("--repo {id} given twice")));
            }
            specs.push(RepoSpec {
                id,
                operand: operand.to_string(),
                anchor: Anchor::Signature,
            });
        }
        let pins = self
            .repomd_sha256
            .iter()
            .map(|p| (p, true))
            .chain(self.metalink.iter().map(|p| (p, false)));
        for (p, is_hex) in pins {
            let (id, value) = split_id(p);
            let spec = match (id, specs.len()) {
                (Some(id), _) => specs.iter_mut().find(|s| s.id == id),
                (None, 1) => specs.first_mut(),
                (None, _) => {
                    return Err(fail(
                        Code::Usage,
                        format!("{p}: with several --repo, name the repository (ID=...)"),
                    ))
                }
            }
            .ok_or_else(|| fail(Code::Usage, format!("{p}: no --repo with that ID")))?;
            if !matches!(spec.anchor, Anchor::Signature) {
                return Err(fail(
                    Code::Usage,
                    format!("repository {}: pinned twice", spec.id),
                ));
            }
            spec.anchor = if is_hex {
                Anchor::Sha256(crate::digest::parse_hex_option(
                    crate::digest::Algo::Sha256,
                    value,
                )?)
            } else {
                let path = std::path::Path::new(value);
                let bytes = crate::fsutil::read_regular(
                    path,
                    "metalink",
                    crate::lists::metalink::MAX_METALINK,
                    Code::Usage,
                )?;
                let m = crate::lists::metalink::parse(&bytes)
                    .map_err(|e| e.context(format!("metalink {value}")))?;
                Anchor::Metalink(m)
            };
        }
        Ok(specs)
    }
}

/// What the run tells its caller, as it goes.
pub enum Event<'a> {
    /// A repository verified, or why not.
    Repo {
        id: &'a str,
        result: Result<&'a Repo, anyhow::Error>,
    },
    /// One package of the set (or one listed package missing from it).
    Package {
        file: String,
        result: anyhow::Result<Box<Verified>>,
    },
}

/// Verify the repositories, then the package set `files` against them.
/// The rollback state is recorded only when everything passed.
pub fn check_set(
    args: &RepoArgs,
    files: &[PathBuf],
    verifier: &Verifier,
    rpm: RpmOptions,
    sink: &mut dyn FnMut(Event) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let opts = args.options(rpm);
    let specs = args.specs()?;
    let state = match (&args.state, args.allow_rollback) {
        (Some(p), false) => Some(RepoState::load(p)?),
        _ => None,
    };
    let mut repos = Vec::new();
    let mut worst = Code::Ok;
    for spec in &specs {
        let r = super::reposource::open(&spec.operand, args.allow_http).and_then(|src| {
            rpmrepo::open_repo(&spec.id, src, &spec.anchor, verifier, &opts, state.as_ref())
        });
        match r {
            Ok(repo) => {
                sink(Event::Repo {
                    id: &spec.id,
                    result: Ok(&repo),
                })?;
                repos.push(repo);
            }
            Err(e) => {
                worst = worst.worst(code_of(&e));
                sink(Event::Repo {
                    id: &spec.id,
                    result: Err(e),
                })?;
            }
        }
    }
    // A package set is judged against all of its repositories or not at all.
    if worst != Code::Ok {
        return Ok(());
    }
    let set = PackageSet::new(repos);
    let files = match (files.is_empty(), args.all) {
        (true, true) => set.listed_files()?,
        _ => rpmrepo::expand_operands(files, !args.exact)?,
    };
    let mut verified: HashSet<(String, String)> = HashSet::new();
    // On all cores, each result reported in order as soon as it is known.
    crate::check::par_in_order(
        &files,
        |f| set.verify(f, verifier, &opts),
        |f, result| {
            let result = match result {
                Ok(r) => {
                    verified.insert((r.repo.clone(), r.location.clone()));
                    Ok(Box::new(Verified::Repo(r)))
                }
                Err(e) if args.exact && code_of(&e) == Code::Missing => {
                    Err(fail(Code::Failed, format!("{e:#} (--exact)")))
                }
                Err(e) => Err(e),
            };
            if let Err(e) = &result {
                worst = worst.worst(code_of(e));
            }
            sink(Event::Package {
                file: f.display().to_string(),
                result,
            })
        },
        || Ok(()),
    )?;
    if args.all {
        for (id, location, nevra) in set.missing(&verified) {
            worst = worst.worst(Code::Failed);
            sink(Event::Package {
                file: format!("{id}: {location}"),
                result: Err(fail(
                    Code::Failed,
                    format!("{nevra} is listed but not in the package set (--all)"),
                )),
            })?;
        }
    }
    if let (Some(path), Code::Ok) = (&args.state, worst) {
        set.record(path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_split_only_plain_names() {
        assert_eq!(split_id("fedora=/srv/f"), (Some("fedora"), "/srv/f"));
        assert_eq!(split_id("/srv/a=b"), (None, "/srv/a=b"));
        assert_eq!(split_id("https://x/?a=b"), (None, "https://x/?a=b"));
        assert_eq!(
            split_id("qubes-r4.2=https://x/"),
            (Some("qubes-r4.2"), "https://x/")
        );
    }
}
