//! Reading any c2sp.org/tlog-tiles log, as a monitor: fetch its
//! checkpoint, verify the log's Ed25519 note signature and the witnesses'
//! cosignatures, check that the tiles hash to its root, that it extends
//! the checkpoint accepted last (a state file), and, when asked, every
//! entry. The log may be anyone's: Tessera's, a static CT log's, ours.
//!
//! The state is the last accepted checkpoint exactly as it was served (a
//! signed note, so anyone can check it again). A smaller checkpoint
//! (rollback), another root at the same size, or a larger tree that does
//! not extend the accepted one (fork) is exit 1, and both checkpoints are
//! kept next to the state as `STATE.conflict-*`: two checkpoints signed
//! by one key that cannot both be true prove that the log misbehaved.
//! Only the tiles needed are fetched: the right edge of the new tree and,
//! for consistency, at most one more tile per level.

use super::checkpoint::{self, Checkpoint};
use super::merkle;
use super::note::{self, Note};
use super::record::terminal_safe;
use super::store;
use super::tiles::{self, Source, Tree};
use crate::exit::{fail, Code};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What a monitor checks besides the tree.
#[derive(Clone, Copy, Debug)]
pub struct Options<'a> {
    /// The log key (required) and the witnesses' cosignatures.
    pub notes: note::Policy<'a>,
    /// The checkpoint's origin (default: the log key's name, which the
    /// signed-note and tlog-checkpoint conventions make the origin).
    pub origin: Option<&'a str>,
    /// The last accepted checkpoint, replaced on success.
    pub state: Option<&'a Path>,
    /// Fetch every entry bundle and re-derive the tree.
    pub entries: bool,
    /// Bundles fetched at a time with `entries`.
    pub parallel: usize,
}

/// What a monitor found (refusals are errors).
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// Where the checkpoint came from.
    pub checkpoint: String,
    pub origin: String,
    pub size: u64,
    pub root: String,
    /// The size accepted before (none: no state yet).
    pub previous: Option<u64>,
    pub note_signatures: Vec<note::Verified>,
    /// Entries fetched and re-hashed (`entries`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
    /// The resources fetched, checkpoint first.
    pub fetched: Vec<String>,
    pub notes: Vec<String>,
}

/// A state file is one checkpoint note.
const MAX_STATE: u64 = store::MAX_CHECKPOINT_FILE;

/// Parse a state file: a checkpoint note with at least one signature
/// line (the log key's, checked by the caller against its key).
pub fn parse_state(bytes: &[u8]) -> anyhow::Result<(Note, Checkpoint)> {
    let (note, cp) = checkpoint::parse_note(bytes)?;
    if note.signatures.is_empty() {
        return Err(fail(
            Code::Failed,
            "a state holds a signed checkpoint; this one has no signature",
        ));
    }
    Ok((note, cp))
}

/// The state at `path` (none yet: `None`), its log signature checked.
fn read_state(path: &Path, opts: &Options) -> anyhow::Result<Option<(Vec<u8>, Checkpoint)>> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    let bytes = crate::fsutil::read_regular(path, "monitor state", MAX_STATE, Code::Usage)?;
    let what = format!("state {}", path.display());
    let (note, cp) =
        parse_state(&bytes).map_err(|e| fail(Code::Usage, format!("{what}: {e:#}")))?;
    // A state this key never signed is another log's (or was edited).
    note::Policy {
        log_key: opts.notes.log_key,
        ..Default::default()
    }
    .check(&note, &what)
    .map_err(|e| fail(Code::Usage, format!("{e:#}: not a state of this log")))?;
    Ok(Some((bytes, cp)))
}

/// Keep the accepted and the presented checkpoint next to the state;
/// returns where.
fn keep_conflict(
    state: &Path,
    accepted: &[u8],
    presented: &[u8],
    from: &str,
    reason: &str,
) -> anyhow::Result<PathBuf> {
    let mut name = state.as_os_str().to_owned();
    name.push(format!(".conflict-{}", crate::time::now_micros()));
    let path = PathBuf::from(name);
    let doc = serde_json::json!({
        "reason": reason,
        "accepted": String::from_utf8_lossy(accepted),
        "presented": String::from_utf8_lossy(presented),
        "from": from,
    });
    let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    bytes.push(b'\n');
    crate::fsutil::write_atomic(&path, &bytes)?;
    Ok(path)
}

/// Read the log `src` serves: see the module documentation.
pub fn monitor<S: Source + ?Sized>(src: &S, opts: &Options) -> anyhow::Result<Outcome> {
    let Some(log_key) = opts.notes.log_key else {
        return Err(fail(Code::Usage, "a monitor needs the log's note key"));
    };
    let at = src.locate(tiles::CHECKPOINT);
    let bytes = src
        .get(tiles::CHECKPOINT, store::MAX_CHECKPOINT_FILE)?
        .ok_or_else(|| fail(Code::Missing, format!("{at}: no checkpoint served")))?;
    let (note, cp) = checkpoint::parse_note(&bytes).map_err(|e| e.context(at.clone()))?;
    let want = opts.origin.unwrap_or(&log_key.name);
    if cp.origin != want {
        return Err(fail(
            Code::Failed,
            format!(
                "{at}: the checkpoint is for origin \"{}\", not \"{}\"",
                terminal_safe(cp.origin.as_bytes()),
                terminal_safe(want.as_bytes())
            ),
        ));
    }
    let note_signatures = opts.notes.check(&note, &at)?;
    // `STATE.lock`, held until the state is written.
    let _lock = opts.state.map(crate::fsutil::lock_beside).transpose()?;
    let prev = match opts.state {
        Some(p) => read_state(p, opts)?,
        None => None,
    };
    let mut notes = Vec::new();
    let conflict = |reason: String, accepted: &[u8]| -> anyhow::Error {
        let Some(state) = opts.state else {
            return fail(Code::Failed, reason);
        };
        match keep_conflict(state, accepted, &bytes, &at, &reason) {
            Ok(kept) => fail(
                Code::Failed,
                format!("{reason}; both checkpoints kept in {}", kept.display()),
            ),
            Err(e) => e.context(reason),
        }
    };
    if let Some((_, old)) = &prev {
        if old.origin != cp.origin {
            return Err(fail(
                Code::Usage,
                format!(
                    "the state is for origin \"{}\", the log's is \"{}\": another log's state",
                    terminal_safe(old.origin.as_bytes()),
                    terminal_safe(cp.origin.as_bytes())
                ),
            ));
        }
    }
    if let Some((accepted, old)) = &prev {
        if cp.size < old.size {
            return Err(conflict(
                format!(
                    "rollback: {at} is a tree of {}, older than the accepted {}",
                    cp.size, old.size
                ),
                accepted,
            ));
        }
        if cp.size == old.size && cp.root != old.root {
            return Err(conflict(
                format!(
                    "fork: {at} has another root for the tree of {} than the accepted checkpoint (two histories signed by the same key)",
                    cp.size
                ),
                accepted,
            ));
        }
    }
    let mut tree = Tree::open(src, cp.size, cp.root)?;
    if let Some((accepted, old)) = &prev {
        if old.size > 0 && old.size < cp.size {
            let proof = tree.consistency_proof(old.size)?;
            // Every hash of the proof comes from a tile authenticated
            // against the new root: a proof that fails is two histories.
            if let Err(e) =
                merkle::verify_consistency(old.size, cp.size, &proof, &old.root, &cp.root)
            {
                return Err(conflict(
                    format!(
                        "fork: {at}'s tree of {} does not extend the accepted tree of {} ({e})",
                        cp.size, old.size
                    ),
                    accepted,
                ));
            }
        }
    }
    if prev.is_none() && opts.state.is_some() {
        notes.push(format!(
            "first checkpoint accepted for \"{}\" (no earlier state): size {}",
            terminal_safe(cp.origin.as_bytes()),
            cp.size
        ));
    }
    let entries = if opts.entries {
        Some(tree.entries(opts.parallel, |_, _| Ok(()))?)
    } else {
        None
    };
    if let Some(state) = opts.state {
        if prev.as_ref().map(|(b, _)| b.as_slice()) != Some(bytes.as_slice()) {
            crate::fsutil::write_atomic(state, &bytes)?;
        }
    }
    let mut fetched = vec![tiles::CHECKPOINT.to_string()];
    fetched.extend(tree.fetched());
    Ok(Outcome {
        checkpoint: at,
        origin: cp.origin.clone(),
        size: cp.size,
        root: merkle::to_b64(&cp.root),
        previous: prev.map(|(_, c)| c.size),
        note_signatures,
        entries,
        fetched,
        notes,
    })
}
