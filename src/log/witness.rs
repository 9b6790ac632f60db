//! Witnesses (c2sp.org/tlog-cosignature): a witness accepts a checkpoint
//! exactly as the signing gate does (the log key's signature, consistency
//! with the last one it accepted) and then cosigns it; the log adds the
//! cosignature line to its stored checkpoint, next to the OpenPGP
//! signature, which stays valid (it covers the note text only).

use super::gate::{self, Accepted};
use super::note::{self, SignatureLine, SignerKey, VerifierKey};
use super::proof::Evidence;
use super::store;
use crate::exit::{fail, Code};
use crate::openpgp::Verifier;
use std::path::Path;

/// Accept the evidence's checkpoint (as the gate does, with the witness's
/// own state) and return the witness's cosignature line over it.
pub fn cosign(
    ev: &Evidence,
    verifier: &Verifier,
    key: &SignerKey,
    opts: &gate::Options,
) -> anyhow::Result<(SignatureLine, Accepted)> {
    if key.kind != note::COSIGNATURE {
        return Err(fail(
            Code::Usage,
            format!(
                "{} is a {} key; a witness cosigns with a cosignature (type 4) key",
                key.name,
                key.kind_name()
            ),
        ));
    }
    let accepted = gate::accept(ev, verifier, opts)?;
    let line = key.sign(&accepted.note.text, crate::time::now_secs());
    Ok((line, accepted))
}

/// What adding cosignatures changed.
#[derive(Debug)]
pub struct Added {
    pub size: u64,
    pub added: Vec<String>,
    pub already: Vec<String>,
}

impl Added {
    /// `checkpoint N: added K cosignature(s)[, J already there]`.
    pub fn summary_line(&self) -> String {
        let already = if self.already.is_empty() {
            String::new()
        } else {
            format!(", {} already there", self.already.len())
        };
        format!(
            "checkpoint {}: added {} cosignature(s){already}",
            self.size,
            self.added.len()
        )
    }
}

/// Add cosignature `lines` to the log's checkpoint `size` (default: the
/// newest). Each line must be claimed by one of `witnesses` and verify:
/// nothing unverified is stored. The note is replaced atomically under a
/// lock on the checkpoints directory.
pub fn add_cosignatures(
    dir: &Path,
    size: Option<u64>,
    lines: &[SignatureLine],
    witnesses: &[VerifierKey],
) -> anyhow::Result<Added> {
    let _lock = store::lock_checkpoints(dir)?;
    let size = match size {
        Some(n) => n,
        None => store::last_checkpoint_size(dir)?.ok_or_else(|| {
            fail(
                Code::Usage,
                format!("{}: the log was never sealed", dir.display()),
            )
        })?,
    };
    let mut stored = store::read_checkpoint(dir, size)?;
    let mut out = Added {
        size,
        added: Vec::new(),
        already: Vec::new(),
    };
    for line in lines {
        let k = witnesses.iter().find(|k| k.claims(line)).ok_or_else(|| {
            fail(
                Code::Failed,
                format!(
                    "the signature line of {} (key ID {:08x}) is by none of the given witnesses",
                    line.name, line.key_id
                ),
            )
        })?;
        k.verify(&stored.note.text, line)
            .map_err(|e| fail(Code::Failed, format!("checkpoint {size}: {e}")))?;
        if stored.note.add(line.clone()) {
            out.added.push(k.name.clone());
        } else {
            out.already.push(k.name.clone());
        }
    }
    if !out.added.is_empty() {
        store::rewrite_checkpoint_note(dir, size, &stored.note)?;
    }
    Ok(out)
}
