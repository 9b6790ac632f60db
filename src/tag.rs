//! verify-tag: authenticate the commit a component is built from by the
//! signed annotated tags pointing at it (or its own signature, when allowed),
//! closing the gaps `git verify-tag` leaves: tag-name binding, one signature
//! per tag, and rollback protection.

use crate::exit::{fail, Code, ResultExt};
use crate::git::{self, Kind, Oid, Repo, Signature};
use crate::openpgp::{BuildPolicy, Fingerprint, Keyring, Trust, Verifier};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What counts as authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// A signed annotated tag at the revision.
    SignedTag,
    /// A signed tag, or else a signed commit.
    SignedTagOrCommit,
}

/// Everything a check needs besides the repository.
pub struct Context<'a> {
    pub keyring: &'a Keyring,
    pub trust: Trust,
    pub policy: &'a BuildPolicy,
    pub check: Check,
    pub min_signers: usize,
    pub tag_pattern: Option<glob::Pattern>,
}

/// A tag that verified.
#[derive(Clone, Debug, serde::Serialize)]
pub struct GoodTag {
    pub name: String,
    pub id: String,
    pub signers: Vec<String>,
}

/// The outcome for one revision.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Report {
    pub commit: String,
    pub good: Vec<GoodTag>,
    /// Tags at the revision that did not verify, with the reason.
    pub rejected: Vec<String>,
    /// Signers of the commit itself, when it was accepted as signed commit.
    pub commit_signers: Vec<String>,
    pub notes: Vec<String>,
}

impl Context<'_> {
    fn verifier(&self) -> Verifier<'_> {
        Verifier {
            keyring: self.keyring,
            trust: &self.trust,
            policy: self.policy,
            min_signers: 1,
            time: None,
        }
    }

    /// Verify one signed payload; returns the signers' fingerprints.
    fn verify(
        &self,
        payload: &[u8],
        sig: &[u8],
        notes: &mut Vec<String>,
    ) -> anyhow::Result<Vec<Fingerprint>> {
        if crate::openpgp::verify::count_signatures(sig)? > 1 {
            return Err(fail(
                Code::Failed,
                "holds more than one signature (one signature per tag)",
            ));
        }
        let v = self.verifier().verify_detached_bytes(sig, payload)?;
        notes.extend(v.notes);
        Ok(v.signers)
    }
}

/// Check revision `rev` of `repo`.
pub fn verify_rev(repo: &Repo, rev: &str, ctx: &Context) -> anyhow::Result<Report> {
    let commit = repo.resolve_commit(rev)?;
    let mut report = Report {
        commit: commit.to_string(),
        ..Report::default()
    };
    let mut signers: BTreeSet<Fingerprint> = BTreeSet::new();
    let mut seen_any = false;
    for t in repo.tags()? {
        if let Some(p) = &ctx.tag_pattern {
            if !p.matches(&t.name) {
                continue;
            }
        }
        let (kind, raw) = repo.read(t.target)?;
        // Lightweight tags carry no signature: they do not count.
        if kind != Kind::Tag {
            continue;
        }
        let headers = match git::tag_headers(&raw) {
            Ok(h) => h,
            Err(e) => {
                report.rejected.push(format!("{}: {e:#}", t.name));
                continue;
            }
        };
        if git::parse_oid(&headers.object) != Some(commit) {
            continue;
        }
        seen_any = true;
        match check_tag(ctx, &t.name, &headers, &raw, &mut report.notes) {
            Ok(fprs) => {
                signers.extend(fprs.iter().cloned());
                report.good.push(GoodTag {
                    name: t.name.clone(),
                    id: t.target.to_string(),
                    signers: fprs.iter().map(|f| f.to_hex()).collect(),
                });
            }
            Err(e) => report
                .rejected
                .push(format!("tag {} ({}): {e:#}", t.name, t.target)),
        }
    }

    if report.good.is_empty() {
        if !report.rejected.is_empty() {
            return Err(fail(
                Code::Failed,
                format!(
                    "no valid signed tag at {commit}: {}",
                    report.rejected.join("; ")
                ),
            ));
        }
        return commit_fallback(repo, commit, ctx, report, seen_any);
    }
    let need = ctx.min_signers.max(1);
    if signers.len() < need {
        return Err(fail(
            Code::Failed,
            format!(
                "{} distinct trusted signer(s) across the tags at {commit}, {need} required",
                signers.len()
            ),
        ));
    }
    Ok(report)
}

fn check_tag(
    ctx: &Context,
    name: &str,
    headers: &git::TagHeaders,
    raw: &[u8],
    notes: &mut Vec<String>,
) -> anyhow::Result<Vec<Fingerprint>> {
    if headers.kind != "commit" {
        return Err(fail(
            Code::Failed,
            format!("points at a {}, not a commit", headers.kind),
        ));
    }
    // git accepts a signed v1.0 republished as refs/tags/v3.0; we do not.
    if headers.tag != name {
        return Err(fail(
            Code::Failed,
            format!(
                "forged: the tag object is named {:?} but published as {name:?}",
                headers.tag
            ),
        ));
    }
    match git::tag_signature(raw) {
        Signature::OpenPgp { payload, signature } => ctx.verify(&payload, &signature, notes),
        Signature::None => Err(fail(Code::Failed, "not signed")),
        Signature::Multiple => Err(fail(
            Code::Failed,
            "holds more than one signature (one signature per tag)",
        )),
        Signature::Unsupported(what) => Err(fail(Code::Failed, format!("unsupported: {what}"))),
    }
}

fn commit_fallback(
    repo: &Repo,
    commit: Oid,
    ctx: &Context,
    mut report: Report,
    seen_any: bool,
) -> anyhow::Result<Report> {
    let (_, raw) = repo.read(commit)?;
    let signed = match git::commit_signature(&raw) {
        Signature::OpenPgp { payload, signature } => {
            Some(ctx.verify(&payload, &signature, &mut report.notes))
        }
        Signature::Multiple => Some(Err(fail(Code::Failed, "holds more than one signature"))),
        Signature::Unsupported(what) => {
            Some(Err(fail(Code::Failed, format!("unsupported: {what}"))))
        }
        Signature::None => None,
    };
    match (ctx.check, signed) {
        (Check::SignedTagOrCommit, Some(Ok(fprs))) => {
            if fprs.len() < ctx.min_signers.max(1) {
                return Err(fail(Code::Failed, format!("commit {commit}: too few trusted signers")));
            }
            report.commit_signers = fprs.iter().map(|f| f.to_hex()).collect();
            Ok(report)
        }
        (Check::SignedTagOrCommit, Some(Err(e))) => Err(e.context(format!("commit {commit} has no signed tag and its own signature fails"))),
        (Check::SignedTag, Some(Ok(_))) => Err(fail(
            Code::Missing,
            format!("no signed tag at {commit}: it is a commit signed by a trusted key (did the signer forget to add a tag?)"),
        )),
        _ => {
            let what = if seen_any { "no valid" } else { "no" };
            Err(fail(Code::Missing, format!("{what} signed tag at {commit}")))
        }
    }
}

/// The component a directory is, as Qubes Builder names it: its base name,
/// `.` meaning the builder itself.
pub fn component_name(dir: &Path) -> String {
    let canonical = dir.canonicalize().ok();
    let name = match dir.file_name() {
        Some(n) if n != "." => Some(n.to_string_lossy().into_owned()),
        _ => canonical
            .as_ref()
            .and_then(|c| c.file_name())
            .map(|n| n.to_string_lossy().into_owned()),
    };
    match name {
        Some(n) if dir != Path::new(".") => n,
        _ => "builder".to_string(),
    }
}

/// Rollback state: the last verified commit per component.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct State {
    pub components: BTreeMap<String, String>,
}

impl State {
    /// Read the state file (missing: empty). A corrupt one is exit 2.
    pub fn load(path: &Path) -> anyhow::Result<State> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_code(Code::Usage, || {
                format!("state file {} is corrupt", path.display())
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(e).with_code(Code::Io, || {
                format!("reading state file {}", path.display())
            }),
        }
    }

    /// Written atomically: a crash leaves the old state or the new.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        crate::fsutil::write_atomic(path, &bytes)
    }

    /// A new commit must be the recorded one or a descendant of it.
    pub fn check(&self, repo: &Repo, component: &str, commit: &str) -> anyhow::Result<()> {
        let Some(last) = self.components.get(component) else {
            return Ok(());
        };
        let (Some(last_id), Some(new_id)) = (git::parse_oid(last), git::parse_oid(commit)) else {
            return Err(fail(
                Code::Usage,
                format!("state for {component} holds a bad commit id {last:?}"),
            ));
        };
        let known = repo.read(last_id).is_ok();
        if known && repo.is_ancestor(last_id, new_id)? {
            return Ok(());
        }
        Err(fail(
            Code::Failed,
            format!("rollback: {component} was last verified at {last}, and {commit} does not descend from it (--allow-rollback to accept)"),
        ))
    }
}
