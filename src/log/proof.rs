//! Inclusion and consistency proofs from the log, and their verification
//! against checkpoints alone (RFC 9162).

use super::merkle::{self, Hash};
use super::seal::parse_checkpoint;
use super::verify::scan_records;
use crate::exit::{fail, Code, ResultExt};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Proof {
    Inclusion {
        leaf_index: u64,
        tree_size: u64,
        /// The record line itself (the leaf data).
        leaf: String,
        proof: Vec<String>,
    },
    Consistency {
        size1: u64,
        size2: u64,
        proof: Vec<String>,
    },
}

fn b64(h: &Hash) -> String {
    base64::engine::general_purpose::STANDARD.encode(h)
}

fn unb64(s: &str) -> anyhow::Result<Hash> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .ok()
        .and_then(|v| Hash::try_from(v.as_slice()).ok())
        .ok_or_else(|| fail(Code::Failed, format!("{s:?} is not a base64 SHA-256")))
}

/// Leaf hashes (and, when asked, one line) of the first `limit` records.
fn leaves(dir: &Path, want_line: Option<u64>) -> anyhow::Result<(Vec<Hash>, Option<String>)> {
    let mut hashes = Vec::new();
    let mut line = None;
    scan_records(dir, |seq, raw, _rec, _f| {
        hashes.push(merkle::leaf_hash(raw));
        if Some(seq) == want_line {
            line = Some(String::from_utf8_lossy(raw).into_owned());
        }
        Ok(())
    })?;
    Ok((hashes, line))
}

pub fn prove_inclusion(dir: &Path, seq: u64, size: Option<u64>) -> anyhow::Result<Proof> {
    let (all, line) = leaves(dir, Some(seq))?;
    let size = size.unwrap_or(all.len() as u64);
    let tree = all.get(..size as usize).ok_or_else(|| {
        fail(
            Code::Usage,
            format!("the log has only {} records", all.len()),
        )
    })?;
    if seq >= size {
        return Err(fail(
            Code::Usage,
            format!("record {seq} is not in a tree of {size}"),
        ));
    }
    Ok(Proof::Inclusion {
        leaf_index: seq,
        tree_size: size,
        leaf: line.unwrap_or_default(),
        proof: merkle::inclusion_proof(seq as usize, tree)
            .iter()
            .map(b64)
            .collect(),
    })
}

pub fn prove_consistency(dir: &Path, m: u64, n: u64) -> anyhow::Result<Proof> {
    let (all, _) = leaves(dir, None)?;
    if m > n {
        return Err(fail(
            Code::Usage,
            "the first size must not exceed the second",
        ));
    }
    let tree = all.get(..n as usize).ok_or_else(|| {
        fail(
            Code::Usage,
            format!("the log has only {} records", all.len()),
        )
    })?;
    Ok(Proof::Consistency {
        size1: m,
        size2: n,
        proof: merkle::consistency_proof(m as usize, tree)
            .iter()
            .map(b64)
            .collect(),
    })
}

/// Check a proof against checkpoint files (their roots and sizes). For a
/// consistency proof, `checkpoints` are the old then the new checkpoint.
pub fn verify_proof(proof: &Proof, checkpoints: &[&Path]) -> anyhow::Result<()> {
    let read = |p: &Path| -> anyhow::Result<super::seal::Checkpoint> {
        let text = std::fs::read(p).with_code(Code::Io, || format!("reading {}", p.display()))?;
        parse_checkpoint(&text).map_err(|e| e.context(p.display().to_string()))
    };
    let ok = match (proof, checkpoints) {
        (
            Proof::Inclusion {
                leaf_index,
                tree_size,
                leaf,
                proof,
            },
            [cp],
        ) => {
            let c = read(cp)?;
            if c.size != *tree_size {
                return Err(fail(
                    Code::Failed,
                    format!("proof is for size {tree_size}, checkpoint for {}", c.size),
                ));
            }
            let path = proof
                .iter()
                .map(|s| unb64(s))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let root =
                Hash::try_from(c.root.as_slice()).map_err(|_| fail(Code::Failed, "bad root"))?;
            merkle::verify_inclusion(
                *leaf_index,
                *tree_size,
                &merkle::leaf_hash(leaf.as_bytes()),
                &path,
                &root,
            )
        }
        (
            Proof::Consistency {
                size1,
                size2,
                proof,
            },
            [old, new],
        ) => {
            let (a, b) = (read(old)?, read(new)?);
            if (a.size, b.size) != (*size1, *size2) {
                return Err(fail(
                    Code::Failed,
                    "the checkpoints' sizes are not the proof's",
                ));
            }
            let path = proof
                .iter()
                .map(|s| unb64(s))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let r1 =
                Hash::try_from(a.root.as_slice()).map_err(|_| fail(Code::Failed, "bad root"))?;
            let r2 =
                Hash::try_from(b.root.as_slice()).map_err(|_| fail(Code::Failed, "bad root"))?;
            merkle::verify_consistency(*size1, *size2, &path, &r1, &r2)
        }
        _ => {
            return Err(fail(
                Code::Usage,
                "an inclusion proof needs one checkpoint, a consistency proof two",
            ))
        }
    };
    if ok {
        Ok(())
    } else {
        Err(fail(
            Code::Failed,
            "the proof does not verify against the checkpoint(s)",
        ))
    }
}
