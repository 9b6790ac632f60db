//! The signing gate (Qubes issue #2721): the keys VM signs an artifact
//! only if its SHA-256, computed here, is the digest of a `product` record
//! included in a checkpoint signed by the log key, and that checkpoint is
//! consistent with the last one this gate accepted.
//!
//! The gate keeps the last accepted checkpoint (note and OpenPGP
//! signature) in a state file, replaced atomically under a lock. A smaller
//! checkpoint (rollback), another root at the same size (fork) or a
//! larger one that does not extend it (fork) is refused, and both signed
//! checkpoints are written next to the state as evidence: two checkpoints
//! signed by one key that cannot both be true prove the log misbehaved.
//! The same acceptance serves a witness before it cosigns ([`accept`]).

use super::checkpoint::{self, Checkpoint};
use super::merkle::{self, from_b64, to_b64};
use super::note::{self, Note};
use super::proof::{self, Evidence};
use super::quorum::Quorum;
use super::tlogproof::{self, TlogProof};
use crate::exit::{fail, Code};
use crate::openpgp::{LoadedKeys, Verifier};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The last checkpoint a gate (or witness) accepted.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub origin: String,
    pub size: u64,
    /// Base64, as in the checkpoint.
    pub root: String,
    /// The checkpoint note as accepted, and its OpenPGP signature: the
    /// evidence should a conflicting one be presented later.
    pub checkpoint: String,
    pub signature: String,
    /// When it was accepted (UTC, RFC 3339).
    pub accepted_at: String,
}

/// A state file is one checkpoint and its signature.
const MAX_STATE: u64 = 1 << 20;

/// Read the state at `path`; none yet is `None`.
pub fn read_state(path: &Path) -> anyhow::Result<Option<State>> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    crate::fsutil::input::read_json(path, "gate state", MAX_STATE, Code::Failed).map(Some)
}

/// The size a receiver with state `path` needs a consistency proof from
/// (0 without state): what to ask the log's `prove product --from-size`.
pub fn last_size(path: &Path) -> anyhow::Result<u64> {
    Ok(read_state(path)?.map_or(0, |s| s.size))
}

/// What to check besides the log key's OpenPGP signature.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options<'a> {
    /// The last accepted checkpoint, kept across runs; without it only the
    /// checkpoint and the inclusion proofs are checked.
    pub state: Option<&'a Path>,
    /// Require this origin (default: the state's, else any).
    pub origin: Option<&'a str>,
    /// Note signatures (log key, witnesses) the checkpoint must carry.
    pub notes: note::Policy<'a>,
    /// Logs and witnesses as a quorum (a tlog-policy file, or the command
    /// line's keys): checked too when given; a tlog-proof needs one.
    pub quorum: Option<&'a Quorum>,
    /// The product records must come from this source (the build VM
    /// asking for the signature), not from another sender into the log.
    pub source: Option<&'a str>,
}

/// A checkpoint that passed every check, not yet recorded in the state.
pub struct Accepted {
    pub note: Note,
    pub checkpoint: Checkpoint,
    pub signature: Vec<u8>,
    /// Primary fingerprints of the checkpoint's OpenPGP signers.
    pub signers: Vec<String>,
    pub note_signatures: Vec<note::Verified>,
    /// The size accepted before (none: no state yet).
    pub previous: Option<u64>,
    pub notes: Vec<String>,
    state: Option<(PathBuf, File)>,
    changed: bool,
}

impl Accepted {
    /// Record the checkpoint as the last accepted one (atomically; the
    /// state's lock is released after).
    pub fn commit(self) -> anyhow::Result<()> {
        let Some((path, _lock)) = &self.state else {
            return Ok(());
        };
        if !self.changed {
            return Ok(());
        }
        let st = State {
            origin: self.checkpoint.origin.clone(),
            size: self.checkpoint.size,
            root: to_b64(&self.checkpoint.root),
            checkpoint: self.note.encode(),
            signature: String::from_utf8_lossy(&self.signature).into_owned(),
            accepted_at: crate::time::format_rfc3339_micros(crate::time::now_micros()),
        };
        let mut bytes = serde_json::to_vec_pretty(&st).unwrap_or_default();
        bytes.push(b'\n');
        crate::fsutil::write_atomic(path, &bytes)
    }
}

/// Names from the log or the command line, shown terminal-safe.
fn safe(s: &str) -> String {
    super::record::terminal_safe(s.as_bytes())
}

/// The checkpoint must be of origin `want`, when one is asked for.
fn want_origin(cp: &Checkpoint, want: Option<&str>) -> anyhow::Result<()> {
    match want {
        Some(o) if cp.origin != o => Err(fail(
            Code::Failed,
            format!(
                "the checkpoint is for origin \"{}\", not \"{}\"",
                safe(&cp.origin),
                safe(o)
            ),
        )),
        _ => Ok(()),
    }
}

/// Why a presented checkpoint conflicts with the accepted one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Conflict {
    Rollback,
    Fork,
}

/// Keep both signed checkpoints (and the failing proof) next to the state;
/// returns where.
fn keep_evidence(
    state_path: &Path,
    accepted: &State,
    ev: &Evidence,
    reason: &str,
) -> anyhow::Result<PathBuf> {
    let mut name = state_path.as_os_str().to_owned();
    name.push(format!(
        ".conflict-{}-{}",
        crate::time::now_micros(),
        accepted.size
    ));
    let path = PathBuf::from(name);
    let doc = serde_json::json!({
        "reason": reason,
        "accepted": {"checkpoint": accepted.checkpoint, "signature": accepted.signature, "accepted_at": accepted.accepted_at},
        "presented": ev,
    });
    let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    bytes.push(b'\n');
    crate::fsutil::write_atomic(&path, &bytes)?;
    Ok(path)
}

/// Check the evidence's checkpoint: signed by the log key (and the note
/// policy), of the expected origin, and consistent with the state's last
/// accepted checkpoint. A conflict is exit 1 with both checkpoints kept.
pub fn accept(ev: &Evidence, verifier: &Verifier, opts: &Options) -> anyhow::Result<Accepted> {
    let (note, cp) = checkpoint::parse_note(ev.checkpoint.as_bytes())?;
    let signature = ev.signature.as_bytes().to_vec();
    let verdict = verifier
        .verify_detached_bytes(&signature, note.text.as_bytes())
        .map_err(|e| {
            e.context(format!(
                "checkpoint {} of \"{}\": signature",
                cp.size,
                safe(&cp.origin)
            ))
        })?;
    let what = format!("checkpoint {}", cp.size);
    let mut note_signatures = opts.notes.check(&note, &what)?;
    if let Some(q) = opts.quorum {
        for v in q.check(&note, &cp.origin, false, &what)?.signatures {
            if !note_signatures.contains(&v) {
                note_signatures.push(v);
            }
        }
    }
    let lock = match opts.state {
        // `STATE.lock`, held for the whole check.
        Some(p) => Some((p.to_path_buf(), crate::fsutil::lock_beside(p)?)),
        None => None,
    };
    let prev = match opts.state {
        Some(p) => read_state(p)?,
        None => None,
    };
    want_origin(
        &cp,
        opts.origin.or(prev.as_ref().map(|s| s.origin.as_str())),
    )?;
    let mut notes: Vec<String> = verdict.notes.clone();
    let changed = match &prev {
        None => {
            if opts.state.is_some() {
                notes.push(format!(
                    "first checkpoint accepted for \"{}\" (no earlier state): size {}",
                    safe(&cp.origin),
                    cp.size
                ));
            }
            true
        }
        Some(st) => {
            let conflict = consistent(st, &cp, ev)?;
            if let (Some(c), Some(p)) = (conflict, opts.state) {
                let reason = match c {
                    Conflict::Rollback => format!(
                        "rollback: checkpoint {} is older than the accepted checkpoint {}",
                        cp.size, st.size
                    ),
                    Conflict::Fork if cp.size == st.size => format!(
                        "fork: checkpoint {} has another root than the accepted checkpoint {} (two histories signed by the same key)",
                        cp.size, st.size
                    ),
                    Conflict::Fork => format!(
                        "fork: checkpoint {} is not proved to extend the accepted checkpoint {} (the consistency proof fails: another history, or a broken proof)",
                        cp.size, st.size
                    ),
                };
                let kept = keep_evidence(p, st, ev, &reason)?;
                return Err(fail(
                    Code::Failed,
                    format!(
                        "{reason}; both signed checkpoints kept in {}",
                        kept.display()
                    ),
                ));
            }
            cp.size != st.size
        }
    };
    Ok(Accepted {
        previous: prev.as_ref().map(|s| s.size),
        note,
        checkpoint: cp,
        signature,
        signers: verdict.signers.iter().map(|f| f.to_hex()).collect(),
        note_signatures,
        notes,
        state: lock,
        changed,
    })
}

/// Is `cp` consistent with the accepted state? A missing consistency proof
/// is nothing to verify with (exit 3); one that fails is a fork.
fn consistent(st: &State, cp: &Checkpoint, ev: &Evidence) -> anyhow::Result<Option<Conflict>> {
    let old_root = from_b64(&st.root).ok_or_else(|| {
        fail(
            Code::Failed,
            "the gate state's root is not a base64 SHA-256",
        )
    })?;
    if cp.size < st.size {
        return Ok(Some(Conflict::Rollback));
    }
    if cp.size == st.size {
        return Ok((cp.root != old_root).then_some(Conflict::Fork));
    }
    if st.size == 0 {
        // Every tree extends the empty one.
        return Ok((old_root != merkle::empty_root()).then_some(Conflict::Fork));
    }
    let missing = || {
        fail(
            Code::Missing,
            format!(
                "no consistency proof from the accepted size {} to {} (ask the log for one --from-size {})",
                st.size, cp.size, st.size
            ),
        )
    };
    let p = ev.consistency.as_ref().ok_or_else(missing)?;
    if !matches!(p, proof::Proof::Consistency { size1, size2, .. } if (*size1, *size2) == (st.size, cp.size))
    {
        return Err(missing());
    }
    let old = Checkpoint {
        origin: st.origin.clone(),
        size: st.size,
        root: old_root,
    };
    // Both trees are signed by the log key: a proof between them that
    // fails means two histories.
    Ok(proof::verify_consistency_proof(p, &old, cp)
        .err()
        .map(|_| Conflict::Fork))
}

/// One artifact the gate let through.
#[derive(Clone, Debug, Serialize)]
pub struct Passed {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    /// The product record: its name in the log and its seq.
    pub product: String,
    pub seq: u64,
}

/// What the gate decided (only successes come back; refusals are errors).
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub origin: String,
    pub size: u64,
    pub root: String,
    pub previous: Option<u64>,
    pub signers: Vec<String>,
    pub note_signatures: Vec<note::Verified>,
    pub artifacts: Vec<Passed>,
    pub notes: Vec<String>,
}

impl Outcome {
    /// One line per artifact passed, then the checkpoint's signers.
    /// Product names and origins come from the log: shown terminal-safe.
    pub fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut o = String::new();
        for a in &self.artifacts {
            let _ = writeln!(
                o,
                "gate passed {} sha256={} product \"{}\" record {} in checkpoint {} of {}",
                a.path.display(),
                a.sha256,
                safe(&a.product),
                a.seq,
                self.size,
                safe(&self.origin)
            );
        }
        for s in &self.signers {
            let _ = writeln!(o, "checkpoint signer {s}");
        }
        o
    }
}

/// The gate: hash `artifacts` (on another thread, while the keys load and
/// the checkpoint is checked), accept the evidence's checkpoint, find a
/// verifying inclusion proof of a product record with each digest, and
/// only then record the checkpoint as accepted.
pub fn gate(
    evidence: &Path,
    load_keys: impl FnOnce() -> anyhow::Result<LoadedKeys>,
    artifacts: &[PathBuf],
    opts: &Options,
) -> anyhow::Result<Outcome> {
    if artifacts.is_empty() {
        return Err(fail(Code::Usage, "the gate needs at least one artifact"));
    }
    let bytes = crate::fsutil::input::read_arg(
        evidence,
        "sign-log evidence",
        proof::MAX_EVIDENCE,
        Code::Usage,
    )?;
    if tlogproof::is_tlog_proof(&bytes) {
        return gate_tlog_proof(&bytes, artifacts, opts);
    }
    let (digests, checked) = std::thread::scope(|scope| {
        let hasher = scope.spawn(|| {
            artifacts
                .iter()
                .map(|a| tlogproof::artifact_sha256(a))
                .collect::<anyhow::Result<Vec<_>>>()
        });
        let checked = (|| {
            let ev: Evidence = serde_json::from_slice(&bytes).map_err(|e| {
                fail(
                    Code::Usage,
                    format!(
                        "{} is not sign-log evidence (JSON from `prove product`) nor a {}: {e}",
                        evidence.display(),
                        tlogproof::HEADER
                    ),
                )
            })?;
            let keys = load_keys()?;
            let accepted = accept(&ev, &keys.verifier(), opts)?;
            Ok::<_, anyhow::Error>((ev, accepted))
        })();
        let digests = hasher
            .join()
            .unwrap_or_else(|_| Err(fail(Code::Io, "the hashing thread failed")));
        (digests, checked)
    });
    // A refused checkpoint is the answer whatever the artifacts are.
    let (ev, accepted) = checked?;
    let digests = digests?;
    let mut passed = Vec::new();
    for (path, (sha, size)) in artifacts.iter().zip(digests) {
        let (seq, name) = included(&ev, &accepted.checkpoint, &sha, opts.source)
            .map_err(|e| e.context(format!("artifact {} (SHA-256 {sha})", path.display())))?;
        passed.push(Passed {
            path: path.clone(),
            size,
            sha256: sha,
            product: name,
            seq,
        });
    }
    let out = Outcome {
        origin: accepted.checkpoint.origin.clone(),
        size: accepted.checkpoint.size,
        root: to_b64(&accepted.checkpoint.root),
        previous: accepted.previous,
        signers: accepted.signers.clone(),
        note_signatures: accepted.note_signatures.clone(),
        artifacts: passed,
        notes: accepted.notes.clone(),
    };
    accepted.commit()?;
    Ok(out)
}

/// The gate on a c2sp.org/tlog-proof: no OpenPGP signature and no
/// consistency proof, so it takes one only with a witness quorum of at
/// least one witness (each witness cosigns only a tree consistent with
/// every tree it cosigned before: a split view needs the quorum to
/// collude), and not with a state it cannot extend. One proof is one
/// product: one artifact. Nothing is written.
fn gate_tlog_proof(bytes: &[u8], artifacts: &[PathBuf], opts: &Options) -> anyhow::Result<Outcome> {
    let [artifact] = artifacts else {
        return Err(fail(
            Code::Usage,
            "a tlog-proof proves one product: give one ARTIFACT",
        ));
    };
    if opts.state.is_some() {
        return Err(fail(
            Code::Usage,
            "--state needs sign-log's JSON evidence (its consistency proofs); a tlog-proof's guard against a split view is its witness quorum",
        ));
    }
    let quorum = opts
        .quorum
        .filter(|q| q.rule.least() > 0)
        .ok_or_else(|| {
            fail(
                Code::Usage,
                "a tlog-proof is accepted only with a witness quorum: --witness VKEY... with --min-witnesses K (K >= 1), or --policy FILE",
            )
        })?;
    let (p, note, cp): (TlogProof, _, _) = TlogProof::parse(bytes)?;
    want_origin(&cp, opts.origin)?;
    let (sha, size) = tlogproof::artifact_sha256(artifact)?;
    let checked = tlogproof::verify(
        &p,
        &note,
        &cp,
        &tlogproof::Expect {
            sha256: Some(&sha),
            source: opts.source,
        },
        quorum,
    )
    .map_err(|e| e.context(format!("artifact {} (SHA-256 {sha})", artifact.display())))?;
    Ok(Outcome {
        origin: checked.origin,
        size: checked.size,
        root: checked.root,
        previous: None,
        signers: checked.signed.log.into_iter().collect(),
        note_signatures: checked.signed.signatures,
        artifacts: vec![Passed {
            path: artifact.clone(),
            size,
            sha256: sha,
            product: checked.product,
            seq: checked.index,
        }],
        notes: vec![format!(
            "tlog-proof: cosigned by {}",
            checked.signed.witnesses.join(", ")
        )],
    })
}

/// The product record with digest `sha` (and source `source`, when
/// given) that the evidence proves included in `cp`: (seq, product name).
/// None offered is exit 3; offered but not verifying is exit 1.
fn included(
    ev: &Evidence,
    cp: &Checkpoint,
    sha: &str,
    source: Option<&str>,
) -> anyhow::Result<(u64, String)> {
    let mut last_err = None;
    for p in &ev.products {
        let proof::Proof::Inclusion {
            leaf_index, leaf, ..
        } = p
        else {
            continue;
        };
        let Some(product) = proof::product_of(leaf.as_bytes()) else {
            continue;
        };
        if product.sha256 != sha || source.is_some_and(|s| product.src.as_deref() != Some(s)) {
            continue;
        }
        match proof::verify_inclusion_proof(p, cp) {
            Ok(_) => return Ok((*leaf_index, product.name)),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| {
        fail(
            Code::Missing,
            format!(
                "no product record with this digest{} is proved included in checkpoint {} of \"{}\"",
                source.map_or(String::new(), |s| format!(" from \"{}\"", safe(s))),
                cp.size,
                safe(&cp.origin)
            ),
        )
    }))
}
