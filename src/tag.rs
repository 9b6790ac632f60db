//! verify-tag: authenticate the commit a component is built from by the
//! signed annotated tags pointing at it (or its own signature, when allowed),
//! closing the gaps `git verify-tag` leaves: tag-name binding, one signature
//! per tag, and rollback protection.

use crate::exit::{fail, Code, ResultExt};
use crate::git::{self, Kind, Oid, Repo, Signature};
use crate::openpgp::{
    parse_fingerprint, BuildPolicy, Cert, Fingerprint, KeyValidity, Keyring, Trust, Verifier,
};
use serde_json::json;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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
            "insecure-no-check" => {
                Err("Please avoid calling this script if you don't want signatures checked".into())
            }
            other => Err(format!(
                "{other:?} is not signed-tag or signed-tag-or-commit"
            )),
        }
    }
}

/// The old script's advice when `NO_CHECK` is set.
pub const NO_CHECK_ADVICE: &str = "Sorry, NO_CHECK is no longer supported. If you really want to \
turn off signature checking, use \u{201c}CHECK=insecure-no-check\u{201d} (the build then does not \
call verify-tag at all)";

/// Refuse the old script's `NO_CHECK` (exit 2), as it does: set and not empty.
pub fn refuse_no_check() -> anyhow::Result<()> {
    if std::env::var_os("NO_CHECK").is_some_and(|v| !v.is_empty()) {
        return Err(fail(Code::Usage, NO_CHECK_ADVICE));
    }
    Ok(())
}

/// One key the environment trusts for some components only:
/// `ALLOWED_COMPONENTS_<FPR>="comp1 comp2"`, key in `KEYS_DIR/<FPR>.asc`.
#[derive(Clone, Debug)]
pub struct Allowed {
    pub fpr: Fingerprint,
    pub components: Vec<String>,
}

/// The `ALLOWED_COMPONENTS_<FPR>` variables of `vars` (exit 2 when the
/// suffix is not a full fingerprint: a typo must not pass unnoticed).
pub fn allowed_components(
    vars: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<Vec<Allowed>> {
    let mut out = Vec::new();
    for (k, v) in vars {
        if let Some(fpr) = k.strip_prefix("ALLOWED_COMPONENTS_") {
            let fpr = parse_fingerprint(fpr).with_code(Code::Usage, || format!("${k}"))?;
            out.push(Allowed {
                fpr,
                components: v.split_whitespace().map(String::from).collect(),
            });
        }
    }
    Ok(out)
}

/// Where `ALLOWED_COMPONENTS_<FPR>` keys live: `$KEYS_DIR`, else the old
/// script's `$BUILDER_DIR/keys`.
pub fn env_keys_dir() -> Option<PathBuf> {
    std::env::var_os("KEYS_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("BUILDER_DIR").map(|b| PathBuf::from(b).join("keys")))
}

/// The component a directory is, as Qubes Builder names it: its base name,
/// `.` meaning the builder itself.
pub fn component_name(dir: &Path) -> String {
    if dir == Path::new(".") {
        return "builder".into();
    }
    let canonical = dir.canonicalize().ok();
    let name = match dir.file_name() {
        // DIR/.git names DIR's component.
        Some(n) if n == ".git" => dir.parent().map(component_name),
        Some(n) => Some(n.to_string_lossy().into_owned()),
        None => canonical
            .as_ref()
            .and_then(|c| c.file_name())
            .map(|n| n.to_string_lossy().into_owned()),
    };
    name.unwrap_or_else(|| "builder".into())
}

/// Keys, trust and rules shared by every repository of one run.
pub struct Config {
    /// Certificates from the command line (may be empty when the
    /// environment supplies every key).
    pub keyring: Keyring,
    /// The trust they define: `None` is every certificate (no
    /// `--trust-root`, `--maintainer` or `--trusted-key`).
    pub trust: Option<BTreeSet<Fingerprint>>,
    pub policy: BuildPolicy,
    pub check: Check,
    pub min_signers: usize,
    /// Per-component keys from the environment, loaded.
    pub allowed: Vec<(Allowed, Cert)>,
}

impl Config {
    /// Trust from the command line: roots (and the keys they certified)
    /// plus maintainers; every certificate when neither is given.
    pub fn new(
        keyring: Keyring,
        roots: &[Fingerprint],
        maintainers: &[Fingerprint],
        policy: BuildPolicy,
    ) -> anyhow::Result<Config> {
        let trust = if roots.is_empty() && maintainers.is_empty() {
            None
        } else {
            match Trust::from_roots(&keyring, roots, maintainers, &policy)? {
                Trust::Only(set) => Some(set),
                Trust::All => None,
            }
        };
        Ok(Config {
            keyring,
            trust,
            policy,
            check: Check::SignedTag,
            min_signers: 1,
            allowed: Vec::new(),
        })
    }

    /// Load the keys of `allowed` that some of `components` use from
    /// `keys_dir/<FPR>.asc` (exit 2 when missing or mislabelled).
    pub fn load_allowed(
        &mut self,
        allowed: Vec<Allowed>,
        components: &[String],
        keys_dir: Option<&Path>,
    ) -> anyhow::Result<()> {
        for a in allowed {
            if !a.components.iter().any(|c| components.contains(c)) {
                continue;
            }
            let dir = keys_dir.ok_or_else(|| {
                fail(
                    Code::Usage,
                    format!(
                        "ALLOWED_COMPONENTS_{} is set but neither KEYS_DIR nor BUILDER_DIR is",
                        a.fpr.to_hex()
                    ),
                )
            })?;
            let path = dir.join(format!("{}.asc", a.fpr.to_hex()));
            let cert = crate::openpgp::keyring::read_certs(&path)?
                .into_iter()
                .find(|c| c.fingerprint() == a.fpr)
                .ok_or_else(|| {
                    fail(
                        Code::Usage,
                        format!("{} does not hold key {}", path.display(), a.fpr),
                    )
                })?;
            self.allowed.push((a, cert));
        }
        Ok(())
    }

    /// The keys and trust for one component: the command line's, plus the
    /// environment's keys allowed for it, trusted directly.
    pub fn context(&self, component: &str) -> anyhow::Result<Context<'_>> {
        let extra: Vec<&(Allowed, Cert)> = self
            .allowed
            .iter()
            .filter(|(a, _)| a.components.iter().any(|c| c == component))
            .collect();
        let keyring = if extra.is_empty() {
            Cow::Borrowed(&self.keyring)
        } else {
            let certs = self
                .keyring
                .certs()
                .cloned()
                .chain(extra.iter().map(|(_, c)| c.clone()));
            Cow::Owned(Keyring::from_certs(certs)?)
        };
        if keyring.is_empty() {
            return Err(fail(
                Code::Usage,
                format!("no keys for component {component}: give --keyring FILE or --keys-dir DIR"),
            ));
        }
        let trust = match &self.trust {
            None => Trust::All,
            Some(set) => {
                let mut set = set.clone();
                set.extend(extra.iter().map(|(a, _)| a.fpr.clone()));
                Trust::Only(set)
            }
        };
        Ok(Context {
            keyring,
            trust,
            policy: &self.policy,
            check: self.check,
            min_signers: self.min_signers,
        })
    }
}

/// Everything a check needs besides the repository.
pub struct Context<'a> {
    pub keyring: Cow<'a, Keyring>,
    pub trust: Trust,
    pub policy: &'a BuildPolicy,
    pub check: Check,
    pub min_signers: usize,
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
    /// Signers of the commit itself, when it was accepted as signed commit.
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

    fn verify_signature(
        &self,
        signature: Signature,
        notes: &mut Vec<String>,
    ) -> anyhow::Result<Vec<Fingerprint>> {
        match signature {
            Signature::OpenPgp { payload, signature } => self.verify(&payload, &signature, notes),
            Signature::None => Err(fail(Code::Missing, "not signed")),
            Signature::Multiple => Err(fail(
                Code::Failed,
                "holds more than one signature (one signature per tag)",
            )),
            Signature::Unsupported(what) => Err(fail(
                Code::Failed,
                format!("unsupported: {what} (only OpenPGP signatures are verified)"),
            )),
            Signature::Malformed(why) => Err(fail(Code::Failed, format!("malformed: {why}"))),
        }
    }
}

/// The key-independent part of a check: the commit a revision names, the
/// tags that may point at it and their objects. Needs no keys, so it runs
/// while they load.
#[derive(Debug)]
pub struct Candidates {
    pub commit: Oid,
    /// Tags not excluded by the pattern or by a hint that they lead
    /// elsewhere, in ref order, each with its object read; each is still
    /// checked in full.
    pub tags: Vec<Candidate>,
    /// Tag refs whose names are not UTF-8.
    pub skipped: Vec<String>,
}

/// A tag ref that may point at the revision, and what its ref leads to.
#[derive(Debug)]
pub struct Candidate {
    pub tag: git::TagRef,
    pub object: TagObject,
}

/// What a candidate tag ref points at, as read before any key is needed.
#[derive(Debug)]
pub enum TagObject {
    /// The commit itself: a lightweight tag.
    Lightweight,
    /// An object that is not a tag (a tree, a blob, another commit).
    NotTag,
    /// A tag object that cannot count (unreadable, dangling, too large):
    /// why, for the notes.
    Ignored(String),
    /// A tag object's bytes, at most [`TAG_MAX`].
    Tag(Vec<u8>),
}

impl TagObject {
    /// Read what `t` points at. An unreadable tag (dangling ref, corrupt
    /// object) is ignored like the old script skips a tag `git verify-tag`
    /// fails on: it cannot make anything verify, and other tags at REV
    /// still count.
    fn read(repo: &Repo, t: &git::TagRef, commit: Oid) -> TagObject {
        if t.target == commit {
            return TagObject::Lightweight;
        }
        match repo.header(t.target) {
            Err(e) => TagObject::Ignored(format!("{e:#}")),
            Ok((kind, _)) if kind != Kind::Tag => TagObject::NotTag,
            Ok((_, size)) if size > TAG_MAX => {
                TagObject::Ignored(format!("its object is {size} bytes, more than {TAG_MAX}"))
            }
            Ok(_) => match repo.read(t.target, TAG_MAX) {
                Ok((_, raw)) => TagObject::Tag(raw),
                Err(e) => TagObject::Ignored(format!("{e:#}")),
            },
        }
    }
}

/// Fewer loose tags than this are peeked at on one thread: starting a
/// second one costs more than it saves.
const SPLIT_MIN: usize = 64;

/// Resolve `rev` and list the tags that may point at it (the pattern
/// applied, tags at other revisions skipped by packed-refs' peeled entries
/// or by a peek at their loose object). With `split`, the peeks run on two
/// threads.
pub fn candidates(
    repo: &Repo,
    rev: &str,
    tag_pattern: Option<&glob::Pattern>,
    split: bool,
) -> anyhow::Result<Candidates> {
    let commit = repo.resolve_commit(rev)?;
    let (tags, skipped) = repo.tags()?;
    let tags: Vec<git::TagRef> = tags
        .into_iter()
        .filter(|t| tag_pattern.is_none_or(|p| p.matches(&t.name)))
        // packed-refs says where an annotated tag leads: skip the others
        // without reading them (a stale hint can only hide a tag).
        .filter(|t| t.peeled.is_none_or(|p| p == commit))
        .collect();
    // A loose tag object's `object` header: only a hint, as above.
    let keep = |peeker: &mut git::LoosePeeker, t: &git::TagRef| {
        t.peeled.is_some()
            || t.target == commit
            || peeker.peek(t.target).is_none_or(|o| o == commit)
    };
    let to_peek = tags.iter().filter(|t| t.peeled.is_none()).count();
    let kept: Vec<bool> = if split && to_peek >= SPLIT_MIN {
        let (a, b) = tags.split_at(tags.len() / 2);
        let (mut pa, mut pb) = (repo.loose_peeker(), repo.loose_peeker());
        std::thread::scope(|s| {
            let other = s.spawn(move || b.iter().map(|t| keep(&mut pb, t)).collect::<Vec<_>>());
            let mut kept: Vec<bool> = a.iter().map(|t| keep(&mut pa, t)).collect();
            match other.join() {
                Ok(v) => {
                    kept.extend(v);
                    Ok(kept)
                }
                Err(_) => Err(fail(Code::Io, "scanning tag objects: a thread failed")),
            }
        })?
    } else {
        let mut p = repo.loose_peeker();
        tags.iter().map(|t| keep(&mut p, t)).collect()
    };
    let tags = tags
        .into_iter()
        .zip(kept)
        .filter(|(_, k)| *k)
        .map(|(tag, _)| Candidate {
            object: TagObject::read(repo, &tag, commit),
            tag,
        })
        .collect();
    Ok(Candidates {
        commit,
        tags,
        skipped,
    })
}

/// Check revision `rev` of `repo`: the signed tags at it, else (when
/// allowed) the commit's own signature.
pub fn verify_rev(
    repo: &Repo,
    rev: &str,
    tag_pattern: Option<&glob::Pattern>,
    ctx: &Context,
) -> anyhow::Result<Report> {
    let c = candidates(repo, rev, tag_pattern, true)?;
    verify_candidates(repo, c, ctx)
}

/// The checking phase of [`verify_rev`], on the tags [`candidates`] found.
pub fn verify_candidates(repo: &Repo, c: Candidates, ctx: &Context) -> anyhow::Result<Report> {
    let commit = c.commit;
    let mut report = Report {
        commit: commit.to_string(),
        ..Report::default()
    };
    match check_rev(repo, c, ctx, &mut report) {
        Ok(()) => Ok(report),
        // What was ignored may be why nothing verified: say it.
        Err(e) if !report.notes.is_empty() => Err(fail(
            crate::exit::code_of(&e),
            format!("{e:#} ({})", report.notes.join("; ")),
        )),
        Err(e) => Err(e),
    }
}

fn check_rev(repo: &Repo, c: Candidates, ctx: &Context, report: &mut Report) -> anyhow::Result<()> {
    let commit = c.commit;
    for name in c.skipped {
        report
            .notes
            .push(format!("tag {name:?} ignored: its name is not UTF-8"));
    }
    let mut signers: BTreeSet<Fingerprint> = BTreeSet::new();
    for Candidate { tag: t, object } in c.tags {
        let raw = match object {
            TagObject::Tag(raw) => raw,
            TagObject::NotTag => continue,
            TagObject::Lightweight => {
                report
                    .notes
                    .push(format!("lightweight tag {} ignored", t.name));
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
    match (ctx.check, signed) {
        (Check::SignedTagOrCommit, Some(Ok(fprs))) => {
            let need = ctx.min_signers.max(1);
            if fprs.len() < need {
                return Err(fail(
                    Code::Failed,
                    format!("{what} at {commit}, and its own signature has {} trusted signer(s), {need} required", fprs.len()),
                ));
            }
            report.commit_signers = fprs.iter().map(|f| f.to_hex()).collect();
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

/// Tag objects are a few KiB (a message and one signature).
pub const TAG_MAX: u64 = 1 << 20;
/// Commits carry messages and mergetags; this is far above real ones.
pub const COMMIT_MAX: u64 = 16 << 20;

/// One repository to verify.
#[derive(Clone, Debug)]
pub struct Target {
    pub dir: PathBuf,
    pub rev: String,
    pub component: String,
}

/// The repositories the positionals name: `DIR [REV]`, or `DIR1 DIR2 ...`
/// when the second is an existing directory (then each at HEAD). The
/// component is `component` when given (one repository only), else each
/// directory's base name.
pub fn targets(args: &[PathBuf], component: Option<&str>) -> anyhow::Result<Vec<Target>> {
    let (dirs, rev): (&[PathBuf], String) = match args {
        [] => return Err(fail(Code::Usage, "no repository given")),
        [dir, rev] if !rev.is_dir() => (
            std::slice::from_ref(dir),
            rev.to_string_lossy().into_owned(),
        ),
        [_] => (args, "HEAD".into()),
        many => (many, "HEAD".into()),
    };
    if component.is_some() && dirs.len() > 1 {
        return Err(fail(Code::Usage, "--component names one repository"));
    }
    Ok(dirs
        .iter()
        .map(|dir| Target {
            dir: dir.clone(),
            rev: rev.clone(),
            component: component
                .map(String::from)
                .unwrap_or_else(|| component_name(dir)),
        })
        .collect())
}

/// What became of one repository.
pub struct Outcome {
    pub target: Target,
    pub result: anyhow::Result<Report>,
    /// Set when --allow-rollback accepted a revision the state refused.
    pub rollback_allowed: Option<String>,
}

/// Verify every target (in parallel when there are several), checking
/// rollbacks against `state` and recording the commits that verified.
///
/// `load` builds the keys and trust (parsing keyrings is a good part of a
/// run): it runs on its own thread while the repositories are opened and
/// their tags scanned, which needs no keys. Its error, when it fails, is
/// the result, as if it had run first.
pub fn verify_all<F>(
    load: F,
    tag_pattern: Option<&glob::Pattern>,
    targets: Vec<Target>,
    state: Option<&Path>,
    allow_rollback: bool,
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
                    let recorded = match state {
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
                let c = candidates(&repo, &target.rev, tag_pattern, split)?;
                Ok((repo, c))
            });
            // Without keys there is nothing to check: the loader's error
            // is the result of the whole run.
            let (config, recorded) = loaded.wait().as_ref().ok()?;
            let mut rollback_allowed = None;
            let result = (|| {
                // A component without keys is a usage error before
                // anything about its repository.
                let ctx = config.context(&target.component)?;
                let (repo, c) = scanned?;
                let report = verify_candidates(&repo, c, &ctx)?;
                if let Some(st) = recorded {
                    if let Err(e) = st.check(&repo, &target.component, &report.commit) {
                        if !allow_rollback {
                            return Err(e);
                        }
                        rollback_allowed = Some(format!("{e:#}"));
                    }
                }
                Ok(report)
            })();
            Some(Outcome {
                target,
                result,
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
    if let Some(path) = state {
        let verified: Vec<(String, String)> = outcomes
            .iter()
            .filter_map(|o| {
                o.result
                    .as_ref()
                    .ok()
                    .map(|r| (o.target.component.clone(), r.commit.clone()))
            })
            .collect();
        if !verified.is_empty() {
            State::update(path, verified)?;
        }
    }
    Ok(outcomes)
}

impl Outcome {
    /// The exit code this repository contributes.
    pub fn code(&self) -> Code {
        match &self.result {
            Ok(_) => Code::Ok,
            Err(e) => crate::exit::code_of(e),
        }
    }

    /// The old script's lines on `out` (`prefix` names the repository when
    /// there are several); notes and the failure go to stderr.
    pub fn print(&self, prefix: &str, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        if let Some(w) = &self.rollback_allowed {
            eprintln!("verify-tag: {prefix}warning: {w}; accepted (--allow-rollback)");
        }
        let report = match &self.result {
            Ok(r) => r,
            Err(e) => {
                eprintln!("verify-tag: {}: {e:#}", self.target.dir.display());
                return Ok(());
            }
        };
        // Which commit was authenticated, when REV did not spell it out.
        if self.target.rev != report.commit {
            eprintln!(
                "verify-tag: {prefix}{} resolves to {}",
                self.target.rev, report.commit
            );
        }
        for n in &report.notes {
            eprintln!("verify-tag: {prefix}{n}");
        }
        for t in report.tags.iter().filter(|t| t.status != TagStatus::Good) {
            eprintln!(
                "verify-tag: {prefix}tag {} ({}) not counted: {}",
                t.name,
                t.id,
                t.reason.as_deref().unwrap_or("")
            );
        }
        for t in report.good() {
            writeln!(out, "{prefix}---> Good tag {}", t.id)?;
            for s in &t.signers {
                writeln!(out, "{prefix}{s}")?;
            }
        }
        if !report.commit_signers.is_empty() {
            writeln!(
                out,
                "{prefix}---> {} does not have a signed tag",
                report.commit
            )?;
            writeln!(
                out,
                "{prefix}---> However, it is signed by a trusted key, and CHECK is signed-tag-or-commit"
            )?;
            for s in &report.commit_signers {
                writeln!(out, "{prefix}{s}")?;
            }
        }
        Ok(())
    }

    /// One JSON object for this repository.
    pub fn json(&self) -> serde_json::Value {
        let t = &self.target;
        let mut v = json!({
            "dir": t.dir,
            "component": t.component,
            "rev": t.rev,
            "exit": self.code().as_u8(),
        });
        match &self.result {
            Ok(r) => {
                v["status"] = json!("verified");
                v["commit"] = json!(r.commit);
                v["tags"] = json!(r.tags);
                v["commit_signers"] = json!(r.commit_signers);
                v["notes"] = json!(r.notes);
            }
            Err(e) => {
                v["status"] = json!("failed");
                v["error"] = json!(format!("{e:#}"));
            }
        }
        if let Some(w) = &self.rollback_allowed {
            v["rollback_allowed"] = json!(w);
        }
        v
    }
}

/// Rollback state: the last verified commit per component.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct State {
    pub components: BTreeMap<String, String>,
}

/// A state file larger than this is not ours.
const STATE_MAX: u64 = 16 << 20;

impl State {
    /// Read the state file (missing: empty). A corrupt one is exit 2.
    pub fn load(path: &Path) -> anyhow::Result<State> {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => {
                return Err(e).with_code(Code::Io, || {
                    format!("reading state file {}", path.display())
                })
            }
        };
        let what = format!("state file {}", path.display());
        let bytes = crate::fsutil::read_bounded(file, STATE_MAX, &what, Code::Usage)?;
        serde_json::from_slice(&bytes).with_code(Code::Usage, || {
            format!("state file {} is corrupt", path.display())
        })
    }

    /// Written atomically: a crash leaves the old state or the new.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        crate::fsutil::write_atomic(path, &bytes).with_code(Code::Io, || {
            format!("writing state file {}", path.display())
        })
    }

    /// Record verified commits: under an exclusive lock on `FILE.lock`, so
    /// concurrent runs (`make -j`) do not lose each other's updates, the
    /// file is re-read, updated and replaced atomically.
    pub fn update(path: &Path, verified: Vec<(String, String)>) -> anyhow::Result<()> {
        let mut lock_name = path.as_os_str().to_owned();
        lock_name.push(".lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_name)
            .with_code(Code::Io, || {
                format!("opening lock {}", Path::new(&lock_name).display())
            })?;
        lock.lock().with_code(Code::Io, || {
            format!("locking {}", Path::new(&lock_name).display())
        })?;
        let mut st = State::load(path)?;
        let before = st.clone();
        st.components.extend(verified);
        if st != before {
            st.save(path)?;
        }
        Ok(())
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
        if !repo.has(last_id)? {
            return Err(fail(
                Code::Failed,
                format!("rollback: {component} was last verified at {last}, which this repository does not have, so {commit} cannot be shown to descend from it (--allow-rollback to accept)"),
            ));
        }
        if repo.is_ancestor(last_id, new_id)? {
            return Ok(());
        }
        Err(fail(
            Code::Failed,
            format!("rollback: {component} was last verified at {last}, and {commit} does not descend from it (--allow-rollback to accept)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values_and_the_old_escape_hatch() {
        assert_eq!("signed-tag".parse::<Check>(), Ok(Check::SignedTag));
        assert_eq!(
            "signed-tag-or-commit".parse::<Check>(),
            Ok(Check::SignedTagOrCommit)
        );
        assert!("insecure-no-check"
            .parse::<Check>()
            .unwrap_err()
            .contains("Please avoid"));
        assert!("x".parse::<Check>().is_err());
    }

    #[test]
    fn component_names_follow_the_old_script() {
        assert_eq!(component_name(Path::new(".")), "builder");
        assert_eq!(
            component_name(Path::new("qubes-src/core-admin")),
            "core-admin"
        );
        assert_eq!(
            component_name(Path::new("qubes-src/core-admin/")),
            "core-admin"
        );
    }

    #[test]
    fn positionals_are_dir_rev_or_many_dirs() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a");
        let b = d.path().join("b");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let t = targets(&[a.clone(), "v1.0".into()], None).unwrap();
        assert_eq!((t.len(), t[0].rev.as_str()), (1, "v1.0"));
        let t = targets(&[a.clone(), b.clone()], None).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!((t[1].component.as_str(), t[1].rev.as_str()), ("b", "HEAD"));
        let t = targets(std::slice::from_ref(&a), Some("builder")).unwrap();
        assert_eq!(t[0].component, "builder");
        assert!(targets(&[a, b], Some("x")).is_err());
        assert!(targets(&[], None).is_err());
    }

    #[test]
    fn allowed_components_parse_and_refuse_typos() {
        let fpr = "427F11FD0FAA4B080123F01CDDFA1A3E36879494";
        let a = allowed_components([
            (
                format!("ALLOWED_COMPONENTS_{fpr}"),
                "core-admin  linux-utils".into(),
            ),
            ("PATH".into(), "/bin".into()),
        ])
        .unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].components, ["core-admin", "linux-utils"]);
        let e = allowed_components([("ALLOWED_COMPONENTS_1234".into(), "x".into())]).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Usage);
    }

    #[test]
    fn state_is_bounded_and_corruption_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        assert_eq!(State::load(&p).unwrap(), State::default());
        State::update(&p, vec![("a".into(), "00".into())]).unwrap();
        State::update(&p, vec![("b".into(), "11".into())]).unwrap();
        let st = State::load(&p).unwrap();
        assert_eq!(st.components.len(), 2, "updates merge");
        std::fs::write(&p, "{not json").unwrap();
        assert_eq!(
            crate::exit::code_of(&State::load(&p).unwrap_err()),
            Code::Usage
        );
    }
}
