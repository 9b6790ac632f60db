//! The witness client: submit the log's newest checkpoint to witnesses
//! over c2sp.org/tlog-witness and store the cosignatures they return on
//! it (the published `checkpoint` follows at the next `publish`).
//!
//! Each witness gets `old N` with N the newest checkpoint of this log it
//! is seen to have cosigned (its line on one of the last stored
//! checkpoints; else 0) and the consistency proof from N, computed from
//! the published tiles when they hold this checkpoint (a few tiles), else
//! from the log. A 409 says the witness's size: the request is made once
//! more from it. Lines by keys other than the witness's are ignored; a
//! line its key claims must verify. Every cosignature is checked again
//! when it is stored ([`super::witness::add_cosignatures`]).

use super::merkle::{self, Hash};
use super::note::{self, Note, SignatureLine};
use super::quorum::{Quorum, Witness};
use super::store;
use super::tiles::{DirSource, Tree};
use super::tlogwitness::{self, Request};
use crate::exit::{fail, Code};
use crate::net::Transport;
use serde::Serialize;
use std::path::Path;
use std::sync::Mutex;

/// Stored checkpoints looked through for a witness's last cosignature.
const LOOK_BACK: usize = 16;
/// A witness's answer: signature lines, or a reason.
const MAX_ANSWER: u64 = 64 * 1024;

/// What one witness did.
#[derive(Clone, Debug, Serialize)]
pub struct Asked {
    pub witness: String,
    pub url: String,
    /// `cosigned`, `already` (the stored checkpoint has its line), or
    /// `failed`.
    pub status: &'static str,
    /// The old size of the last request sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<u64>,
    /// The cosignature's time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The exit code this witness's failure maps to (0 when it cosigned).
    pub exit: u8,
}

/// What a submission did.
#[derive(Clone, Debug, Serialize)]
pub struct Submitted {
    pub origin: String,
    pub size: u64,
    pub witnesses: Vec<Asked>,
    /// Cosignature lines stored on the checkpoint.
    pub added: usize,
    /// Whether the stored checkpoint now meets the quorum.
    pub quorum: bool,
    /// Why not, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shortfall: Option<String>,
}

impl Submitted {
    /// 0 when the quorum is met; else the worst of the witnesses'
    /// failures (1 when none failed).
    pub fn code(&self) -> Code {
        if self.quorum {
            return Code::Ok;
        }
        self.witnesses
            .iter()
            .filter(|a| a.exit != 0)
            .map(|a| code_of_u8(a.exit))
            .fold(Code::Failed, Code::worst)
    }
}

fn code_of_u8(n: u8) -> Code {
    match n {
        0 => Code::Ok,
        2 => Code::Usage,
        3 => Code::Missing,
        4 => Code::Io,
        _ => Code::Failed,
    }
}

/// Consistency proofs to the newest checkpoint: from the published
/// tiles when they hold it, else streamed from the log.
struct Proofs<'a> {
    dir: &'a Path,
    size: u64,
    tree: Option<Tree<'a, DirSource>>,
}

impl Proofs<'_> {
    fn from(&mut self, old: u64) -> anyhow::Result<Vec<Hash>> {
        if old == 0 || old >= self.size {
            return Ok(Vec::new());
        }
        if let Some(t) = self.tree.as_mut() {
            return t.consistency_proof(old);
        }
        match super::proof::prove_consistency(self.dir, old, self.size)? {
            super::proof::Proof::Consistency { proof, .. } => proof
                .iter()
                .map(|n| merkle::from_b64(n).ok_or_else(|| fail(Code::Failed, "a bad node")))
                .collect(),
            _ => Err(fail(Code::Failed, "not a consistency proof")),
        }
    }
}

/// The newest of the last stored checkpoints up to `size` that carries a
/// verifying cosignature by `w`: the witness's size as far as this log
/// knows.
fn last_cosigned(dir: &Path, size: u64, w: &Witness) -> u64 {
    let Ok(sizes) = store::checkpoint_sizes(dir) else {
        return 0;
    };
    for s in sizes
        .into_iter()
        .rev()
        .filter(|&s| s <= size)
        .take(LOOK_BACK)
    {
        let Ok((_, note, _)) = store::checkpoint_note_bytes(dir, s) else {
            continue;
        };
        if note::verify(&note, &w.keys).is_ok_and(|v| !v.is_empty()) {
            return s;
        }
    }
    0
}

/// A failure of one witness: its code and reason.
type Refused = (Code, String);

/// One checkpoint being submitted: what every witness's request shares.
struct Round<'a> {
    transport: &'a Transport,
    dir: &'a Path,
    note_bytes: &'a [u8],
    note: &'a Note,
    size: u64,
    proofs: &'a Mutex<Proofs<'a>>,
}

/// Ask witness `w` to cosign `note` (checkpoint `size`): its verified
/// lines, the old size sent last, or why not.
fn ask(
    r: &Round,
    w: &Witness,
    url: &str,
    first_old: u64,
) -> (u64, Result<Vec<(SignatureLine, note::Verified)>, Refused>) {
    let Round {
        transport,
        note_bytes,
        note,
        size,
        proofs,
        ..
    } = *r;
    let mut old = first_old;
    for attempt in 0..2 {
        let proof = match proofs.lock().map_err(|_| ()).map(|mut p| p.from(old)) {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return (old, Err((crate::exit::code_of(&e), format!("{e:#}")))),
            Err(()) => return (old, Err((Code::Failed, "a proof thread failed".into()))),
        };
        let body = Request {
            old,
            proof,
            checkpoint: note_bytes.to_vec(),
        }
        .encode();
        let ans = match transport.post(url, "text/plain", &body, MAX_ANSWER) {
            Ok(a) => a,
            Err(e) => return (old, Err((crate::exit::code_of(&e), format!("{e:#}")))),
        };
        let said = || {
            let b = String::from_utf8_lossy(
                ans.body.get(..ans.body.len().min(300)).unwrap_or_default(),
            )
            .trim()
            .to_string();
            super::record::terminal_safe(b.as_bytes())
        };
        let refused = |code, what: String| {
            (
                old,
                Err((
                    code,
                    format!(
                        "{what} ({} {}: {})",
                        ans.status,
                        tlogwitness::reason(ans.status),
                        said()
                    ),
                )),
            )
        };
        match ans.status {
            200 => return (old, cosignatures(w, note, &ans.body)),
            409 => {
                let Some(theirs) = tlogwitness::parse_size_body(&ans.body) else {
                    return refused(Code::Failed, "a 409 without the witness's size".into());
                };
                if theirs > size {
                    return refused(
                        Code::Failed,
                        format!("the witness has cosigned a tree of {theirs}, larger than this log's newest checkpoint {size}: the log lost checkpoints, or showed the witness another history"),
                    );
                }
                if attempt == 1 {
                    return refused(
                        Code::Io,
                        format!("the witness moved to {theirs} meanwhile (another client submitting): try again"),
                    );
                }
                old = theirs;
            }
            404 => return refused(Code::Usage, "the witness does not know this log (give it the log's note key)".into()),
            403 => return refused(Code::Failed, "the witness does not accept the checkpoint's signature".into()),
            422 => return refused(Code::Failed, format!("the witness finds checkpoint {size} inconsistent with the tree of {old} it cosigned: a fork, or a broken proof")),
            400 => return refused(Code::Failed, "the witness calls the request malformed".into()),
            s if s >= 500 || s == 408 || s == 429 => {
                return refused(Code::Io, "the witness failed".into())
            }
            _ => return refused(Code::Failed, "an unexpected answer".into()),
        }
    }
    (old, Err((Code::Failed, "no answer".into())))
}

/// The lines of a 200 that `w`'s keys claim, each verified over the
/// checkpoint (others ignored, as the spec asks); none is a failure.
fn cosignatures(
    w: &Witness,
    note: &Note,
    body: &[u8],
) -> Result<Vec<(SignatureLine, note::Verified)>, Refused> {
    let lines = tlogwitness::parse_cosignatures(body)
        .map_err(|e| (Code::Failed, format!("a malformed answer: {e}")))?;
    let mut out = Vec::new();
    for l in lines {
        for k in w.keys.iter().filter(|k| k.claims(&l)) {
            let v = k
                .verify(&note.text, &l)
                .map_err(|e| (Code::Failed, format!("its answer: {e}")))?;
            out.push((l.clone(), v));
        }
    }
    if out.is_empty() {
        return Err((
            Code::Failed,
            "it answered 200 without a cosignature by its key".into(),
        ));
    }
    Ok(out)
}

impl Asked {
    fn new(w: &Witness, url: String) -> Asked {
        Asked {
            witness: w.name.clone(),
            url,
            status: "already",
            old: None,
            timestamp: None,
            reason: None,
            exit: 0,
        }
    }
}

/// Submit to witness `w`: what it did, and its verified lines.
fn one(r: &Round, w: &Witness) -> (Asked, Vec<SignatureLine>) {
    let (dir, size) = (r.dir, r.size);
    let base = w.url.as_deref().unwrap_or_default();
    let url = format!("{}/add-checkpoint", base.trim_end_matches('/'));
    let mut a = Asked::new(w, url);
    let old = last_cosigned(dir, size, w);
    if old == size {
        return (a, Vec::new());
    }
    let (old, got) = ask(r, w, &a.url, old);
    a.old = Some(old);
    match got {
        Ok(lines) => {
            a.status = "cosigned";
            a.timestamp = lines.iter().find_map(|(_, v)| v.timestamp);
            (a, lines.into_iter().map(|(l, _)| l).collect())
        }
        Err((code, why)) => {
            a.status = "failed";
            a.reason = Some(why);
            a.exit = code.as_u8();
            (a, Vec::new())
        }
    }
}

/// Submit the newest checkpoint of the log in `dir` (which must carry the
/// log's Ed25519 note signature: witnesses verify no other) to every
/// witness of `quorum` with a URL, store the cosignatures, and say
/// whether the stored checkpoint meets the quorum. `tiles` is the log's
/// published directory, whose tiles give the proofs when it holds this
/// checkpoint.
pub fn submit(
    transport: &Transport,
    dir: &Path,
    quorum: &Quorum,
    tiles: Option<&Path>,
) -> anyhow::Result<Submitted> {
    let size = store::last_checkpoint_size(dir)?.ok_or_else(|| {
        fail(
            Code::Usage,
            format!(
                "{}: the log was never sealed: nothing to submit",
                dir.display()
            ),
        )
    })?;
    let (note_bytes, note, cp) = store::checkpoint_note_bytes(dir, size)?;
    super::publish::require_note_signature(&note, &cp, "witnesses verify")?;
    let asked: Vec<&Witness> = quorum
        .witnesses
        .iter()
        .filter(|w| w.url.is_some())
        .collect();
    if asked.is_empty() {
        return Err(fail(
            Code::Usage,
            "no witness URL given: nothing to submit to",
        ));
    }
    let src = tiles.map(DirSource::new);
    let tree = src.as_ref().and_then(|s| Tree::open(s, size, cp.root).ok());
    let proofs = Mutex::new(Proofs { dir, size, tree });
    let round = Round {
        transport,
        dir,
        note_bytes: &note_bytes,
        note: &note,
        size,
        proofs: &proofs,
    };
    let results: Vec<(Asked, Vec<SignatureLine>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = asked
            .iter()
            .map(|w| {
                let round = &round;
                scope.spawn(move || one(round, w))
            })
            .collect();
        handles
            .into_iter()
            .zip(&asked)
            .map(|(h, w)| {
                h.join().unwrap_or_else(|_| {
                    let mut a = Asked::new(w, String::new());
                    a.status = "failed";
                    a.reason = Some("its thread failed".into());
                    a.exit = Code::Failed.as_u8();
                    (a, Vec::new())
                })
            })
            .collect()
    });
    let (answers, lines): (Vec<Asked>, Vec<Vec<SignatureLine>>) = results.into_iter().unzip();
    let lines: Vec<SignatureLine> = lines.into_iter().flatten().collect();
    let added = if lines.is_empty() {
        0
    } else {
        super::witness::add_cosignatures(dir, Some(size), &lines, &quorum.witness_keys())?
            .added
            .len()
    };
    let (_, stored, _) = store::checkpoint_note_bytes(dir, size)?;
    let check = quorum.check(&stored, &cp.origin, false, &format!("checkpoint {size}"));
    Ok(Submitted {
        origin: cp.origin,
        size,
        witnesses: answers,
        added,
        quorum: check.is_ok(),
        shortfall: check.err().map(|e| format!("{e:#}")),
    })
}
