//! The checks of one revision: each candidate tag's binding (object, type,
//! name) and its one signature; else, when allowed, the commit's own
//! signature.

use super::scan::{candidates, Candidate, Candidates, TagObject};
use super::trust::Context;
use crate::exit::{fail, Code};
use crate::git::{self, Oid, Repo, Signature};
use crate::openpgp::{Fingerprint, KeyValidity, Verifier};
use std::collections::BTreeSet;

/// What counts as authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// A signed annotated tag at the revision.
    SignedTag,
    /// A signed tag, or else a signed commit.
    SignedTagOrCommit,
}

impl std::str::FromStr for Check {
    type Err = String;

    /// The values of the old script's `$CHECK`; its escape hatch is refused
    /// with the advice the old script gives.
    fn from_str(s: &str) -> Result<Check, String> {
        match s {
            "signed-tag" => Ok(Check::SignedTag),
            "signed-tag-or-commit" => Ok(Check::SignedTagOrCommit),
            "insecure-no-check" => Err(
                "Please avoid calling this script if you don't want signatures checked \
                     (Qubes Builder v1: INSECURE_SKIP_CHECKING in builder.conf)"
                    .into(),
            ),
            other => Err(format!(
                "{other:?} is not signed-tag or signed-tag-or-commit"
            )),
        }
    }
}

/// What became of one annotated tag at the revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TagStatus {
    /// Signed by enough trusted keys.
    Good,
    /// Not signed: nothing to verify with.
    Unsigned,
    /// Forged, bad, untrusted, unsupported or malformed.
    Rejected,
}

/// One annotated tag pointing at the revision.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TagResult {
    pub name: String,
    /// The tag object's id.
    pub id: String,
    pub status: TagStatus,
    pub signers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The outcome for one revision that verified.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Report {
    pub commit: String,
    pub tags: Vec<TagResult>,
    /// The distinct trusted signers (primary keys) of the good tags: what
    /// --min-signers counts.
    pub distinct_signers: Vec<String>,
    /// Signers of the commit itself: when the report verified, it was
    /// accepted as signed commit; in a failed check's report, its own
    /// signature verified but did not suffice.
    pub commit_signers: Vec<String>,
    /// Ignored signatures and tags, warnings: for stderr.
    pub notes: Vec<String>,
}

impl Report {
    pub fn good(&self) -> impl Iterator<Item = &TagResult> {
        self.tags.iter().filter(|t| t.status == TagStatus::Good)
    }
}

impl Context<'_> {
    fn verifier(&self) -> Verifier<'_> {
        Verifier::new(&self.keyring, &self.trust, self.policy).validity(KeyValidity::Now)
    }

    /// Verify one signed payload carrying exactly one signature; returns
    /// the signer's fingerprint.
    fn verify(
        &self,
        payload: &[u8],
        sig: &[u8],
        notes: &mut Vec<String>,
    ) -> anyhow::Result<Vec<Fingerprint>> {
        // Dearmored once: counted, then verified.
        let sig = crate::openpgp::verify::signature_packets(sig)?;
        if crate::openpgp::verify::count_signatures(&sig)? > 1 {
            return Err(fail(
                Code::Failed,
                "holds more than one signature (one signature per tag)",
            ));
        }
        let v = self.verifier().verify_detached_bytes(&sig, payload)?;
        notes.extend(v.notes);
        Ok(v.signers)
    }

    fn verify_signature(
        &self,
        signature: Signature,
        notes: &mut Vec<String>,
    ) -> anyhow::Result<Vec<Fingerprint>> {
        let (payload, signature) = signature.into_parts()?;
        self.verify(&payload, &signature, notes)
    }
}

/// Check revision `rev` of `repo`: the signed tags at it, else (when
/// allowed) the commit's own signature.
pub fn verify_rev(
    repo: &Repo,
    rev: &str,
    tag_pattern: Option<&glob::Pattern>,
    ctx: &Context,
) -> anyhow::Result<Report> {
    let c = candidates(repo, rev, tag_pattern, MAX_TAGS as usize, true)?;
    verify_candidates(repo, c, ctx)
}

/// The checking phase of [`verify_rev`], on the tags [`candidates`] found.
pub fn verify_candidates(repo: &Repo, c: Candidates, ctx: &Context) -> anyhow::Result<Report> {
    let (report, result) = check_candidates(repo, c, ctx);
    result.map(|()| report)
}

/// [`verify_candidates`], keeping the report when the check fails: the
/// tags examined, their verdicts and signers, for a caller that shows why
/// (verify-tag --json).
pub fn check_candidates(repo: &Repo, c: Candidates, ctx: &Context) -> (Report, anyhow::Result<()>) {
    let mut report = Report {
        commit: c.commit.to_string(),
        ..Report::default()
    };
    let result = match check_rev(repo, c, ctx, &mut report) {
        Ok(()) => Ok(()),
        // What was ignored may be why nothing verified: say it.
        Err(e) if !report.notes.is_empty() => Err(fail(
            crate::exit::code_of(&e),
            format!("{e:#} ({})", report.notes.join("; ")),
        )),
        Err(e) => Err(e),
    };
    (report, result)
}

fn check_rev(repo: &Repo, c: Candidates, ctx: &Context, report: &mut Report) -> anyhow::Result<()> {
    let commit = c.commit;
    report.notes.extend(c.skipped);
    if c.over_cap > 0 {
        report.notes.push(format!(
            "{} more tags that may point at {commit} not checked (--max-tags)",
            c.over_cap
        ));
    }
    let mut lightweight = Vec::new();
    let mut signers: BTreeSet<Fingerprint> = BTreeSet::new();
    for Candidate { tag: t, object } in c.tags {
        let raw = match object {
            TagObject::Tag(raw) => raw,
            TagObject::NotTag => continue,
            TagObject::Lightweight => {
                lightweight.push(t.name);
                continue;
            }
            TagObject::Ignored(why) => {
                report.notes.push(format!("tag {} ignored: {why}", t.name));
                continue;
            }
        };
        let id = t.target.to_string();
        let mut result = TagResult {
            name: t.name.clone(),
            id: id.clone(),
            status: TagStatus::Rejected,
            signers: Vec::new(),
            reason: None,
        };
        let headers = match git::tag_headers(&raw) {
            Ok(h) => h,
            Err(e) => {
                // Only a tag that names this commit concerns us.
                if raw.starts_with(format!("object {commit}\n").as_bytes()) {
                    result.reason = Some(format!("{e:#}"));
                    report.tags.push(result);
                } else {
                    report.notes.push(format!("tag {} ignored: {e:#}", t.name));
                }
                continue;
            }
        };
        if git::parse_oid(&headers.object) != Some(commit) {
            continue;
        }
        match check_tag(ctx, &t.name, &headers, &raw, &mut report.notes) {
            Ok(fprs) => {
                result.status = TagStatus::Good;
                result.signers = fprs.iter().map(|f| f.to_hex()).collect();
                signers.extend(fprs);
            }
            Err(e) => {
                if crate::exit::code_of(&e) == Code::Missing {
                    result.status = TagStatus::Unsigned;
                }
                result.reason = Some(format!("{e:#}"));
            }
        }
        report.tags.push(result);
    }

    match lightweight.as_slice() {
        [] => {}
        [one] => report.notes.push(format!("lightweight tag {one} ignored")),
        many => report.notes.push(format!(
            "{} lightweight tags ignored ({}{})",
            many.len(),
            many.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
            if many.len() > 5 { ", ..." } else { "" }
        )),
    }
    if report.good().next().is_none() {
        let rejected: Vec<String> = report
            .tags
            .iter()
            .filter(|t| t.status == TagStatus::Rejected)
            .map(|t| {
                format!(
                    "tag {} ({}): {}",
                    t.name,
                    t.id,
                    t.reason.as_deref().unwrap_or("rejected")
                )
            })
            .collect();
        if !rejected.is_empty() {
            return Err(fail(
                Code::Failed,
                format!("no valid signed tag at {commit}: {}", rejected.join("; ")),
            ));
        }
        return commit_fallback(repo, commit, ctx, report);
    }
    report.distinct_signers = signers.iter().map(|f| f.to_hex()).collect();
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
    Ok(())
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
            format!("its type is {:?}, not commit", headers.kind),
        ));
    }
    // git accepts a signed v1.0 republished as refs/tags/v3.0; we do not.
    if headers.tag != name.as_bytes() {
        return Err(fail(
            Code::Failed,
            format!(
                "forged: the tag object is named {:?} but published as {name:?}",
                String::from_utf8_lossy(&headers.tag)
            ),
        ));
    }
    ctx.verify_signature(git::tag_signature(raw), notes)
}

fn commit_fallback(
    repo: &Repo,
    commit: Oid,
    ctx: &Context,
    report: &mut Report,
) -> anyhow::Result<()> {
    let (_, raw) = repo.read(commit, COMMIT_MAX)?;
    let signature = git::commit_signature(&raw, repo.format());
    let signed = match signature {
        Signature::None => None,
        s => Some(ctx.verify_signature(s, &mut report.notes)),
    };
    let what = if report.tags.is_empty() {
        "no annotated tag"
    } else {
        "no signed tag"
    };
    if let Some(Ok(fprs)) = &signed {
        report.commit_signers = fprs.iter().map(|f| f.to_hex()).collect();
    }
    match (ctx.check, signed) {
        (Check::SignedTagOrCommit, Some(Ok(fprs))) => {
            let need = ctx.min_signers.max(1);
            if fprs.len() < need {
                return Err(fail(
                    Code::Failed,
                    format!("{what} at {commit}, and its own signature has {} trusted signer(s), {need} required", fprs.len()),
                ));
            }
            Ok(())
        }
        (Check::SignedTagOrCommit, Some(Err(e))) => {
            Err(e.context(format!("{what} at {commit}, and the commit's own signature fails")))
        }
        (Check::SignedTag, Some(Ok(_))) => Err(fail(
            Code::Missing,
            format!("{what} at {commit}: it is a commit signed by a trusted key (did the signer forget to add a tag? --check signed-tag-or-commit accepts it)"),
        )),
        _ => Err(fail(Code::Missing, format!("{what} at {commit}"))),
    }
}

/// Tags at one revision checked by default (`--max-tags`): real components
/// have a handful.
pub const MAX_TAGS: u32 = 100;

/// Tag objects are a few KiB (a message and one signature).
pub const TAG_MAX: u64 = 1 << 20;
/// Commits carry messages and mergetags; this is far above real ones.
pub const COMMIT_MAX: u64 = 16 << 20;
