//! Inclusion and consistency proofs (RFC 9162 §2.1.3, §2.1.4) computed
//! from the log in one streaming pass, and their verification against
//! checkpoints alone.

use super::checkpoint::{self, Checkpoint};
use super::merkle::{self, Hash, RangeRoots};
use super::store::scan_log;
use crate::exit::{fail, Code};
use crate::openpgp::Verifier;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Proof {
    Inclusion {
        leaf_index: u64,
        tree_size: u64,
        /// The record line itself (the leaf data), so the proof shows what
        /// was logged, not only that something was.
        leaf: String,
        /// Base64 SHA-256 nodes, leaf level first.
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

/// The default tree size: the last checkpoint's, else the whole log.
fn default_size(dir: &Path) -> anyhow::Result<u64> {
    match checkpoint::sizes(dir)?.last() {
        Some(n) => Ok(*n),
        None => Ok(scan_log(dir, |_, _| Ok(()))?.lines),
    }
}

/// One pass: the roots of `ranges` and, when asked, one record line.
fn stream(
    dir: &Path,
    size: u64,
    ranges: &[merkle::Range],
    want: Option<u64>,
) -> anyhow::Result<(Vec<Hash>, Option<Vec<u8>>)> {
    let mut roots = RangeRoots::new(ranges);
    let mut line = None;
    let scan = scan_log(dir, |i, raw| {
        if i < size {
            roots.push(i, &merkle::leaf_hash(raw));
            if Some(i) == want {
                line = Some(raw.to_vec());
            }
        }
        Ok(())
    })?;
    if scan.lines < size {
        return Err(fail(
            Code::Usage,
            format!("the log has only {} records, not {size}", scan.lines),
        ));
    }
    let roots = roots
        .finish()
        .ok_or_else(|| fail(Code::Failed, "the log changed while it was read"))?;
    Ok((roots, line))
}

pub fn prove_inclusion(dir: &Path, seq: u64, size: Option<u64>) -> anyhow::Result<Proof> {
    let size = match size {
        Some(n) => n,
        None => default_size(dir)?,
    };
    if seq >= size {
        return Err(fail(
            Code::Usage,
            format!("record {seq} is not in a tree of {size} records"),
        ));
    }
    let (nodes, line) = stream(dir, size, &merkle::inclusion_ranges(seq, size), Some(seq))?;
    let line = line.ok_or_else(|| fail(Code::Failed, format!("record {seq} not found")))?;
    Ok(Proof::Inclusion {
        leaf_index: seq,
        tree_size: size,
        leaf: String::from_utf8(line)
            .map_err(|_| fail(Code::Failed, format!("record {seq} is not UTF-8")))?,
        proof: nodes.iter().map(b64).collect(),
    })
}

pub fn prove_consistency(dir: &Path, m: u64, n: u64) -> anyhow::Result<Proof> {
    if m > n {
        return Err(fail(
            Code::Usage,
            "the first size must not exceed the second",
        ));
    }
    let (nodes, _) = stream(dir, n, &merkle::consistency_ranges(m, n), None)?;
    Ok(Proof::Consistency {
        size1: m,
        size2: n,
        proof: nodes.iter().map(b64).collect(),
    })
}

/// A proof holds at most ~64 hashes per tree level walked and one record
/// (16 KiB, escaped): anything larger is not a proof.
pub const MAX_PROOF: u64 = 1 << 20;

/// Read a proof file (`prove`'s JSON), bounded.
pub fn read_proof(path: &Path) -> anyhow::Result<Proof> {
    let text = crate::fsutil::read_file_bounded(path, MAX_PROOF, Code::Usage)?;
    serde_json::from_slice(&text).map_err(|e| {
        fail(
            Code::Usage,
            format!("{} is not a proof: {e}", path.display()),
        )
    })
}

/// Read a checkpoint file; with a verifier, also check its signature in
/// `<file>.asc`.
pub fn read_checkpoint(path: &Path, verifier: Option<&Verifier>) -> anyhow::Result<Checkpoint> {
    let mut asc = path.as_os_str().to_owned();
    asc.push(".asc");
    let text = match verifier {
        Some(v) => {
            let (text, sig) = checkpoint::read_signed(path, Path::new(&asc), Code::Missing)?;
            v.verify_detached_bytes(&sig, &text)
                .map_err(|e| e.context(format!("{}: signature", path.display())))?;
            text
        }
        None => checkpoint::read_file(path)?,
    };
    Checkpoint::parse(&text).map_err(|e| e.context(path.display().to_string()))
}

/// Check a proof against checkpoints: one for inclusion, the old then
/// the new one for consistency.
pub fn verify_proof(proof: &Proof, checkpoints: &[Checkpoint]) -> anyhow::Result<()> {
    let decode = |p: &[String]| {
        p.iter()
            .map(|s| unb64(s))
            .collect::<anyhow::Result<Vec<_>>>()
    };
    let ok =
        match (proof, checkpoints) {
            (
                Proof::Inclusion {
                    leaf_index,
                    tree_size,
                    leaf,
                    proof,
                },
                [cp],
            ) => {
                if cp.size != *tree_size {
                    return Err(fail(
                        Code::Failed,
                        format!(
                            "the proof is for size {tree_size}, the checkpoint for {}",
                            cp.size
                        ),
                    ));
                }
                merkle::verify_inclusion(
                    *leaf_index,
                    *tree_size,
                    &merkle::leaf_hash(leaf.as_bytes()),
                    &decode(proof)?,
                    &cp.root,
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
                if (old.size, new.size) != (*size1, *size2) {
                    return Err(fail(
                        Code::Failed,
                        format!(
                        "the proof is for sizes {size1} and {size2}, the checkpoints for {} and {}",
                        old.size, new.size
                    ),
                    ));
                }
                if old.origin != new.origin {
                    return Err(fail(
                        Code::Failed,
                        "the checkpoints are of different origins",
                    ));
                }
                merkle::verify_consistency(*size1, *size2, &decode(proof)?, &old.root, &new.root)
            }
            _ => return Err(fail(
                Code::Usage,
                "an inclusion proof needs one checkpoint, a consistency proof two (old, then new)",
            )),
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
