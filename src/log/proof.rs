//! Inclusion and consistency proofs (RFC 9162 §2.1.3, §2.1.4) computed
//! from the log in one streaming pass, and their verification against
//! checkpoints alone.

use super::checkpoint::Checkpoint;
use super::merkle::{self, Hash, RangeRoots};
use super::store::{self, scan_log};
use crate::exit::{fail, Code};
use crate::openpgp::{LoadedKeys, Verifier};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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

fn unb64(s: &str) -> anyhow::Result<Hash> {
    merkle::from_b64(s).ok_or_else(|| fail(Code::Failed, format!("{s:?} is not a base64 SHA-256")))
}

/// The default tree size: the last checkpoint's, else the whole log.
fn default_size(dir: &Path) -> anyhow::Result<u64> {
    match store::last_checkpoint_size(dir)? {
        Some(n) => Ok(n),
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
        proof: nodes.iter().map(merkle::to_b64).collect(),
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
        proof: nodes.iter().map(merkle::to_b64).collect(),
    })
}

/// A proof holds at most ~64 hashes per tree level walked and one record
/// (16 KiB, escaped): anything larger is not a proof.
pub const MAX_PROOF: u64 = 1 << 20;

/// Read a proof file (`prove`'s JSON, or `-`), bounded.
pub fn read_proof(path: &Path) -> anyhow::Result<Proof> {
    crate::fsutil::input::read_json(path, "proof", MAX_PROOF, Code::Usage)
}

/// Read a checkpoint file; with a verifier, also check its signature in
/// `<file>.asc` (over the note text: cosignature lines may follow it).
pub fn read_checkpoint(path: &Path, verifier: Option<&Verifier>) -> anyhow::Result<Checkpoint> {
    match verifier {
        Some(v) => {
            let stored = store::read_signed_checkpoint_file(path, Code::Missing)?;
            v.verify_detached_bytes(&stored.signature, stored.note.text.as_bytes())
                .map_err(|e| e.context(format!("{}: signature", path.display())))?;
            Ok(stored.checkpoint)
        }
        None => Ok(store::read_checkpoint_file(path)?.1),
    }
}

fn decode(p: &[String]) -> anyhow::Result<Vec<Hash>> {
    p.iter().map(|s| unb64(s)).collect()
}

/// A proof that does not verify: exit 1, saying what disagreed.
fn refused(e: merkle::ProofError) -> anyhow::Error {
    fail(
        Code::Failed,
        format!("the proof does not verify against the checkpoint(s): {e}"),
    )
}

/// Check an inclusion proof against a checkpoint; returns the leaf.
pub fn verify_inclusion_proof<'p>(proof: &'p Proof, cp: &Checkpoint) -> anyhow::Result<&'p str> {
    let Proof::Inclusion {
        leaf_index,
        tree_size,
        leaf,
        proof,
    } = proof
    else {
        return Err(fail(Code::Usage, "not an inclusion proof"));
    };
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
    .map_err(refused)?;
    Ok(leaf)
}

/// Check a consistency proof from `old` to `new`.
pub fn verify_consistency_proof(
    proof: &Proof,
    old: &Checkpoint,
    new: &Checkpoint,
) -> anyhow::Result<()> {
    let Proof::Consistency {
        size1,
        size2,
        proof,
    } = proof
    else {
        return Err(fail(Code::Usage, "not a consistency proof"));
    };
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
        .map_err(refused)
}

/// Check a proof against checkpoints: one for inclusion, the old then
/// the new one for consistency.
pub fn verify_proof(proof: &Proof, checkpoints: &[Checkpoint]) -> anyhow::Result<()> {
    match (proof, checkpoints) {
        (Proof::Inclusion { .. }, [cp]) => verify_inclusion_proof(proof, cp).map(drop),
        (Proof::Consistency { .. }, [old, new]) => verify_consistency_proof(proof, old, new),
        _ => Err(fail(
            Code::Usage,
            "an inclusion proof needs one checkpoint, a consistency proof two (old, then new)",
        )),
    }
}

/// `verify-proof`: the proof in the file `proof` checked against the
/// checkpoint files, each with its signature `FILE.asc` checked by the
/// keys `load_keys` gives. Zero signatures checked is no verification
/// (DESIGN.md §1.4): without keys the roots are taken as they are only
/// when `unsigned` says they are trusted by other means (with a note);
/// otherwise exit 3. Returns the notes.
pub fn verify_proof_files(
    proof: &Path,
    checkpoints: &[PathBuf],
    load_keys: Option<impl FnOnce() -> anyhow::Result<LoadedKeys>>,
    unsigned: bool,
) -> anyhow::Result<Vec<String>> {
    verify_parsed_proof(&read_proof(proof)?, checkpoints, load_keys, unsigned)
}

/// [`verify_proof_files`] of a proof already read.
pub fn verify_parsed_proof(
    parsed: &Proof,
    checkpoints: &[PathBuf],
    load_keys: Option<impl FnOnce() -> anyhow::Result<LoadedKeys>>,
    unsigned: bool,
) -> anyhow::Result<Vec<String>> {
    if checkpoints.is_empty() {
        return Err(fail(
            Code::Usage,
            "a JSON proof is checked against checkpoint files: give --checkpoint",
        ));
    }
    let loaded = match (load_keys, unsigned) {
        (Some(load), _) => Some(load()?),
        (None, true) => None,
        (None, false) => {
            return Err(fail(
                Code::Missing,
                "nothing to verify the checkpoints with: give --keyring (or --unsigned to trust their roots as they are)",
            ))
        }
    };
    let verifier = loaded.as_ref().map(LoadedKeys::verifier);
    let cps = checkpoints
        .iter()
        .map(|c| read_checkpoint(c, verifier.as_ref()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    verify_proof(parsed, &cps)?;
    Ok(match verifier {
        Some(_) => Vec::new(),
        None => vec!["checkpoint signatures not checked (--unsigned)".to_string()],
    })
}

/// A product's SHA-256 as `--sha256` gives it: 64 hex digits, in lower
/// case.
pub fn parse_sha256(s: &str) -> anyhow::Result<String> {
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(fail(
            Code::Usage,
            format!("{s:?} is not a SHA-256 (64 hex digits)"),
        ))
    }
}

/// What the signing gate (or a witness) needs from the log, in one
/// self-contained JSON object that travels over one stream (qrexec
/// stdin/stdout, no shared files): the log's newest checkpoint with its
/// signatures, a consistency proof from the size the receiver accepted
/// last, and inclusion proofs of the product records asked for.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// The checkpoint as stored: the note, with any signature lines.
    pub checkpoint: String,
    /// Its detached OpenPGP signature (armored), over the note text.
    pub signature: String,
    /// From the receiver's last size to this checkpoint's; none when
    /// the receiver has no size yet or the sizes are equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<Proof>,
    /// Inclusion proofs of `product` directive records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<Proof>,
}

/// Evidence is a checkpoint, a signature and a few proofs: a few KiB per
/// product; anything larger is refused before it is parsed.
pub const MAX_EVIDENCE: u64 = 16 << 20;

/// Read evidence (`prove product`'s JSON) from a file or `-`, bounded.
pub fn read_evidence(path: &Path) -> anyhow::Result<Evidence> {
    crate::fsutil::input::read_json(path, "sign-log evidence", MAX_EVIDENCE, Code::Usage)
}

/// A `##sign-log product` directive record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    /// Lowercase hex.
    pub sha256: String,
    pub name: String,
    /// Who sent it (the qrexec domain or --source of the receiver).
    pub src: Option<String>,
}

/// The product `line` records, if it is a product directive record with a
/// SHA-256.
pub fn product_of(line: &[u8]) -> Option<Product> {
    use super::directive::{self, Verb};
    use super::record::{kind, Record};
    // Most records are plain lines: skip them before a JSON parse.
    memchr::memmem::find(line, b"\"type\":\"directive\"")?;
    let rec = Record::parse(line).ok()?;
    if rec.kind != kind::DIRECTIVE {
        return None;
    }
    let (verb, d) = directive::parse(rec.data.as_deref()?).ok()?;
    if verb != Verb::Product {
        return None;
    }
    Some(Product {
        sha256: d.sha256?.to_ascii_lowercase(),
        name: d.name,
        src: rec.src.map(|s| s.into_owned()),
    })
}

/// The evidence for `sha256s` (lowercase hex digests) against the log's
/// newest checkpoint, with a consistency proof from `from_size`. A digest
/// that no sealed product record has is exit 3 (one only in the unsealed
/// tail says so); a log that does not match its checkpoint is exit 1.
pub fn prove_products(
    dir: &Path,
    sha256s: &[String],
    from_size: Option<u64>,
) -> anyhow::Result<Evidence> {
    let Some(size) = store::last_checkpoint_size(dir)? else {
        return Err(fail(
            Code::Missing,
            format!(
                "{}: the log was never sealed (no checkpoints)",
                dir.display()
            ),
        ));
    };
    let stored = store::read_checkpoint(dir, size)?;
    // Pass 1: the newest record of each product, sealed or not.
    let mut found: Vec<Option<u64>> = vec![None; sha256s.len()];
    let mut tail: Vec<Option<u64>> = vec![None; sha256s.len()];
    scan_log(dir, |i, raw| {
        if let Some(p) = product_of(raw) {
            for (k, want) in sha256s.iter().enumerate() {
                if *want == p.sha256 {
                    let slot = if i < size {
                        &mut found[k]
                    } else {
                        &mut tail[k]
                    };
                    *slot = Some(i);
                }
            }
        }
        Ok(())
    })?;
    for (k, want) in sha256s.iter().enumerate() {
        if found[k].is_none() {
            return Err(fail(
                Code::Missing,
                match tail[k] {
                    Some(i) => format!(
                        "product {want} is only in record {i}, after the last seal (checkpoint {size}): seal the log first"
                    ),
                    None => format!("no product record with SHA-256 {want} in the log"),
                },
            ));
        }
    }
    let consistency = match from_size {
        Some(m) if m > size => {
            return Err(fail(
                Code::Failed,
                format!(
                    "the receiver has seen a checkpoint of {m} records, the log's newest is {size}: the log lost checkpoints"
                ),
            ))
        }
        Some(m) if m > 0 && m < size => Some(m),
        _ => None,
    };
    // Pass 2: every proof's nodes, and the root the checkpoint must have.
    let seqs: Vec<u64> = found.iter().flatten().copied().collect();
    // One set of ranges per proof: the ranges of two proofs overlap.
    let mut sets: Vec<Vec<merkle::Range>> = seqs
        .iter()
        .map(|&seq| merkle::inclusion_ranges(seq, size))
        .collect();
    if let Some(m) = consistency {
        sets.push(merkle::consistency_ranges(m, size));
    }
    let (mut nodes, leaves, root) = stream_many(dir, size, &sets, &seqs)?;
    if root != stored.checkpoint.root {
        return Err(fail(
            Code::Failed,
            format!("the log's first {size} records do not match checkpoint {size} (tampered)"),
        ));
    }
    let cons_nodes = consistency.and_then(|_| nodes.pop());
    let products = seqs
        .iter()
        .zip(nodes)
        .zip(leaves)
        .map(|((&seq, nodes), leaf)| {
            Ok(Proof::Inclusion {
                leaf_index: seq,
                tree_size: size,
                leaf: String::from_utf8(leaf)
                    .map_err(|_| fail(Code::Failed, format!("record {seq} is not UTF-8")))?,
                proof: nodes.iter().map(merkle::to_b64).collect(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Evidence {
        checkpoint: stored.note.encode(),
        signature: String::from_utf8_lossy(&stored.signature).into_owned(),
        consistency: consistency.map(|m| Proof::Consistency {
            size1: m,
            size2: size,
            proof: cons_nodes
                .unwrap_or_default()
                .iter()
                .map(merkle::to_b64)
                .collect(),
        }),
        products,
    })
}

/// Each proof's nodes, the wanted record lines, the tree's root.
type Streamed = (Vec<Vec<Hash>>, Vec<Vec<u8>>, Hash);

/// One pass over the first `size` records: the roots of each set of
/// disjoint ranges (one proof's nodes each), the lines of `want`, and the
/// tree's root.
fn stream_many(
    dir: &Path,
    size: u64,
    sets: &[Vec<merkle::Range>],
    want: &[u64],
) -> anyhow::Result<Streamed> {
    let mut roots: Vec<RangeRoots> = sets.iter().map(|r| RangeRoots::new(r)).collect();
    let mut lines = vec![Vec::new(); want.len()];
    let mut tree = merkle::Frontier::default();
    let scan = super::store::read_blocks(super::store::open_read(dir)?, |first, block| {
        let mut batch: Vec<&[u8]> = Vec::new();
        for (k, raw) in super::store::block_lines(&block).enumerate() {
            let i = first + k as u64;
            if i >= size {
                break;
            }
            batch.push(raw);
            for (slot, &w) in lines.iter_mut().zip(want) {
                if w == i {
                    *slot = raw.to_vec();
                }
            }
        }
        let mut leaves = Vec::with_capacity(batch.len());
        merkle::leaf_hashes(&batch, &mut leaves);
        for (k, leaf) in leaves.iter().enumerate() {
            for r in &mut roots {
                r.push(first + k as u64, leaf);
            }
        }
        tree.extend_hashes(&leaves);
        Ok(())
    })?;
    if scan.lines < size {
        return Err(fail(
            Code::Failed,
            format!(
                "the log has only {} records but checkpoint {size} was sealed (truncated)",
                scan.lines
            ),
        ));
    }
    let nodes = roots
        .into_iter()
        .map(|r| {
            r.finish()
                .ok_or_else(|| fail(Code::Failed, "the log changed while it was read"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((nodes, lines, tree.root()))
}
