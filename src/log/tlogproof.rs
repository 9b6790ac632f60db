//! c2sp.org/tlog-proof@v1 files ("spicy signatures"): the index of an
//! entry, its inclusion proof and the checkpoint with its signatures, in
//! one file a user keeps next to an artifact and checks offline.
//!
//! Our leaves are records, not bare digests, so the `extra` line carries
//! the record: the exact stored line (a `product` directive record), in
//! base64. The verifier recomputes everything from it: the artifact's
//! SHA-256 (hashed there) must be the record's; the record's `seq` must be
//! the index; the leaf hash is SHA-256(0x00 || record), which the
//! inclusion proof must take to the checkpoint's root; the checkpoint must
//! carry the log's Ed25519 note signature and the witness cosignatures the
//! policy asks for. The extra data is trusted only once its hash is proved
//! under the signed root.
//!
//! Such a proof has no consistency proof and no OpenPGP signature: what
//! keeps a log from showing this checkpoint to some and another history
//! to others is the witnesses, each of which cosigns only a tree
//! consistent with every tree it cosigned before.

use super::checkpoint::{parse_note, Checkpoint};
use super::merkle::{self, Hash};
use super::note::Note;
use super::proof::{self, Product};
use super::quorum::{Quorum, Signed};
use super::record::{terminal_safe, Record};
use crate::exit::{fail, Code};
use base64::Engine as _;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The first line of every proof.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// The file extension the spec asks for.
pub const EXTENSION: &str = "tlog-proof";
/// An inclusion proof of a tree of up to 2^63 leaves has at most 63 nodes.
pub const MAX_NODES: usize = 63;
/// A record (64 KiB) in base64, 63 nodes and a checkpoint note with its
/// signatures (64 KiB): anything larger is not a proof.
pub const MAX_FILE: u64 = 256 * 1024;

/// A parsed proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    /// The `extra` data: for our logs, the record.
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    /// Leaf level first.
    pub nodes: Vec<Hash>,
    /// The checkpoint note, verbatim (with every signature line).
    pub checkpoint: Vec<u8>,
}

fn malformed(why: impl std::fmt::Display) -> anyhow::Error {
    fail(Code::Usage, format!("not a {HEADER} proof: {why}"))
}

/// The next line of `s` (without its newline) and what follows it; none
/// when no newline ends it.
pub fn split_line(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = memchr::memchr(b'\n', s)?;
    Some((s.get(..at)?, s.get(at + 1..)?))
}

fn line(s: &[u8]) -> anyhow::Result<(&[u8], &[u8])> {
    split_line(s).ok_or_else(|| malformed("a line without its newline"))
}

/// Base64 SHA-256 lines up to a blank line, at most [`MAX_NODES`] (a
/// tlog-proof's inclusion proof, an add-checkpoint's consistency proof):
/// the hashes and what follows the blank line.
pub fn parse_nodes(mut s: &[u8]) -> Result<(Vec<Hash>, &[u8]), String> {
    let mut nodes = Vec::new();
    loop {
        let (l, rest) = split_line(s).ok_or("a line without its newline")?;
        s = rest;
        if l.is_empty() {
            return Ok((nodes, s));
        }
        if nodes.len() == MAX_NODES {
            return Err(format!("more than {MAX_NODES} proof lines"));
        }
        nodes.push(parse_node(l).ok_or("a proof line is not a base64 SHA-256")?);
    }
}

/// A decimal with no leading zero (but `0`), as the C2SP texts write sizes
/// and indexes.
pub fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty()
        || !s.iter().all(u8::is_ascii_digit)
        || (s.len() > 1 && s.first() == Some(&b'0'))
    {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// One base64 SHA-256 line.
pub fn parse_node(l: &[u8]) -> Option<Hash> {
    merkle::from_b64(std::str::from_utf8(l).ok()?)
}

impl TlogProof {
    /// Parse a proof strictly (the header, an optional `extra` line, the
    /// index, at most 63 nodes, a blank line, a checkpoint note), with the
    /// checkpoint in it. The index must lie in the checkpoint's tree.
    pub fn parse(bytes: &[u8]) -> anyhow::Result<(TlogProof, Note, Checkpoint)> {
        let (first, mut rest) = line(bytes)?;
        if first != HEADER.as_bytes() {
            return Err(malformed(format!("the first line is not {HEADER}")));
        }
        let (mut l, r) = line(rest)?;
        rest = r;
        let mut extra = None;
        if let Some(b64) = l.strip_prefix(b"extra ") {
            extra = Some(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| malformed("the extra line is not base64"))?,
            );
            (l, rest) = line(rest)?;
        }
        let index = l
            .strip_prefix(b"index ")
            .and_then(parse_decimal)
            .ok_or_else(|| malformed("no index line (`index N`, N decimal)"))?;
        let (nodes, rest) = parse_nodes(rest).map_err(malformed)?;
        let (note, cp) = parse_note(rest).map_err(|e| e.context(format!("{HEADER} proof")))?;
        if index >= cp.size {
            return Err(malformed(format!(
                "index {index} is not in the checkpoint's tree of {}",
                cp.size
            )));
        }
        let proof = TlogProof {
            extra,
            index,
            nodes,
            checkpoint: rest.to_vec(),
        };
        Ok((proof, note, cp))
    }

    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("{HEADER}\n").into_bytes();
        if let Some(e) = &self.extra {
            out.extend_from_slice(b"extra ");
            out.extend_from_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(e)
                    .as_bytes(),
            );
            out.push(b'\n');
        }
        out.extend_from_slice(format!("index {}\n", self.index).as_bytes());
        for n in &self.nodes {
            out.extend_from_slice(merkle::to_b64(n).as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.checkpoint);
        out
    }
}

/// Is `bytes` a tlog-proof (rather than sign-log's JSON evidence)?
pub fn is_tlog_proof(bytes: &[u8]) -> bool {
    bytes.starts_with(format!("{HEADER}\n").as_bytes())
}

/// A proof made for one product.
#[derive(Clone, Debug)]
pub struct Made {
    pub product: Product,
    pub proof: TlogProof,
}

impl Made {
    /// `NAME.tlog-proof`, NAME the last part of the product's name in the
    /// log (its SHA-256 when that is no usable file name).
    pub fn file_name(&self) -> String {
        let base = self.product.name.rsplit('/').next().unwrap_or_default();
        let usable = !base.is_empty()
            && base != "."
            && base != ".."
            && base.len() <= 200
            && !base.chars().any(|c| c.is_control() || c == '\\');
        if usable {
            format!("{base}.{EXTENSION}")
        } else {
            format!("{}.{EXTENSION}", self.product.sha256)
        }
    }
}

/// Proofs for `sha256s` (lowercase hex) against the log's newest
/// checkpoint, which must carry the log's Ed25519 note signature (a
/// tlog-proof has no other). A digest no sealed product record has is
/// exit 3, as for the JSON evidence.
pub fn prove(dir: &Path, sha256s: &[String]) -> anyhow::Result<Vec<Made>> {
    let ev = proof::prove_products(dir, sha256s, None)?;
    let (note, cp) = parse_note(ev.checkpoint.as_bytes())?;
    super::publish::require_note_signature(
        &note,
        &cp,
        "a tlog-proof's checkpoint must (it carries no OpenPGP signature)",
    )?;
    ev.products
        .iter()
        .map(|p| {
            let proof::Proof::Inclusion {
                leaf_index,
                leaf,
                proof: nodes,
                ..
            } = p
            else {
                return Err(fail(Code::Failed, "not an inclusion proof"));
            };
            let product = proof::product_of(leaf.as_bytes()).ok_or_else(|| {
                fail(
                    Code::Failed,
                    format!("record {leaf_index} is not a product"),
                )
            })?;
            let nodes = nodes
                .iter()
                .map(|n| merkle::from_b64(n).ok_or_else(|| fail(Code::Failed, "a bad node")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok(Made {
                product,
                proof: TlogProof {
                    extra: Some(leaf.as_bytes().to_vec()),
                    index: *leaf_index,
                    nodes,
                    checkpoint: ev.checkpoint.as_bytes().to_vec(),
                },
            })
        })
        .collect()
}

/// Write `made` into `dir`, one `NAME.tlog-proof` each, each atomically;
/// two products with one file name are refused before anything is
/// written. Returns the paths.
pub fn write(dir: &Path, made: &[Made]) -> anyhow::Result<Vec<PathBuf>> {
    let paths: Vec<PathBuf> = made.iter().map(|m| dir.join(m.file_name())).collect();
    for (i, p) in paths.iter().enumerate() {
        if paths.get(..i).is_some_and(|before| before.contains(p)) {
            return Err(fail(
                Code::Usage,
                format!(
                    "two products would be written to {}: prove them one at a time",
                    p.display()
                ),
            ));
        }
    }
    for (m, p) in made.iter().zip(&paths) {
        crate::fsutil::write_atomic_public(p, &m.proof.encode())?;
    }
    Ok(paths)
}

/// What a verified proof says.
#[derive(Clone, Debug, Serialize)]
pub struct Checked {
    /// The product record's name in the log, its SHA-256 and source.
    pub product: String,
    pub sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub index: u64,
    pub origin: String,
    pub size: u64,
    pub root: String,
    /// Who signed the checkpoint: the log key and the witnesses.
    pub signed: Signed,
}

impl Checked {
    /// One line: what was proved, in which tree, signed by whom.
    pub fn line(&self) -> String {
        let by = if self.signed.witnesses.is_empty() {
            "no witness".to_string()
        } else {
            self.signed.witnesses.join(", ")
        };
        format!(
            "product \"{}\" sha256={} record {} in checkpoint {} of {} signed by {}, cosigned by {by}",
            terminal_safe(self.product.as_bytes()),
            self.sha256,
            self.index,
            self.size,
            terminal_safe(self.origin.as_bytes()),
            self.signed.log.as_deref().unwrap_or("?"),
        )
    }
}

/// What the record must match.
#[derive(Clone, Copy, Debug, Default)]
pub struct Expect<'a> {
    /// The artifact's SHA-256 (lowercase hex), hashed by the caller.
    pub sha256: Option<&'a str>,
    /// The record's source (the build VM that sent it).
    pub source: Option<&'a str>,
}

/// Verify a proof (c2sp.org/tlog-proof's four steps): the leaf from the
/// record in `extra`, the log's signature for the checkpoint's origin
/// (`quorum.logs`: none given is nothing to verify with, exit 3), the
/// witnesses' cosignatures against the quorum, the inclusion proof.
pub fn verify(
    p: &TlogProof,
    note: &Note,
    cp: &Checkpoint,
    expect: &Expect,
    quorum: &Quorum,
) -> anyhow::Result<Checked> {
    let record = p.extra.as_deref().ok_or_else(|| {
        fail(
            Code::Failed,
            "the proof carries no record (no extra line): not a sign-log product proof",
        )
    })?;
    let product = proof::product_of(record).ok_or_else(|| {
        fail(
            Code::Failed,
            "the proof's record (its extra line) is not a product record",
        )
    })?;
    let seq = Record::parse(record).map(|r| r.seq).ok();
    if seq != Some(p.index) {
        return Err(fail(
            Code::Failed,
            format!(
                "the proof's record is record {}, its index {}",
                seq.map_or("?".into(), |s| s.to_string()),
                p.index
            ),
        ));
    }
    if let Some(want) = expect.sha256 {
        if product.sha256 != want {
            return Err(fail(
                Code::Failed,
                format!(
                    "the proof is for product \"{}\" (SHA-256 {}), not for this artifact (SHA-256 {want})",
                    terminal_safe(product.name.as_bytes()),
                    product.sha256
                ),
            ));
        }
    }
    if let Some(src) = expect.source {
        if product.src.as_deref() != Some(src) {
            return Err(fail(
                Code::Failed,
                format!(
                    "the proof's product record comes from \"{}\", not \"{}\"",
                    terminal_safe(product.src.as_deref().unwrap_or("").as_bytes()),
                    terminal_safe(src.as_bytes())
                ),
            ));
        }
    }
    if quorum.logs.is_empty() {
        return Err(fail(
            Code::Missing,
            "nothing to verify the checkpoint with: give the log's note key (--note-key) or a policy with a log line",
        ));
    }
    let what = format!("checkpoint {} of the proof", cp.size);
    let signed = quorum.check(note, &cp.origin, true, &what)?;
    merkle::verify_inclusion(
        p.index,
        cp.size,
        &merkle::leaf_hash(record),
        &p.nodes,
        &cp.root,
    )
    .map_err(|e| {
        fail(
            Code::Failed,
            format!("the inclusion proof does not verify against {what}: {e}"),
        )
    })?;
    Ok(Checked {
        product: product.name,
        sha256: product.sha256,
        source: product.src,
        index: p.index,
        origin: cp.origin.clone(),
        size: cp.size,
        root: merkle::to_b64(&cp.root),
        signed,
    })
}

/// SHA-256 (hex) and size of an artifact (a regular file: a FIFO is
/// refused).
pub fn artifact_sha256(path: &Path) -> anyhow::Result<(String, u64)> {
    use crate::digest::{hash_reader, Algo};
    use crate::exit::ResultExt;
    let f = crate::fsutil::input::open_regular(path, "artifact")?;
    let d = hash_reader(f, &[Algo::Sha256])
        .with_code(Code::Io, || format!("reading artifact {}", path.display()))?;
    Ok((d.hex(Algo::Sha256).unwrap_or_default(), d.len))
}

/// A proof file as `verify-proof` takes it: a tlog-proof, or sign-log's
/// JSON proof.
pub enum ProofFile {
    Tlog(Box<(TlogProof, Note, Checkpoint)>),
    Json(proof::Proof),
}

/// Read a proof file (or `-`) once, bounded, and tell which it is.
pub fn read_any(path: &Path) -> anyhow::Result<ProofFile> {
    let bytes = crate::fsutil::input::read_arg(path, "proof", proof::MAX_PROOF, Code::Usage)?;
    if is_tlog_proof(&bytes) {
        let parsed = TlogProof::parse(&bytes).map_err(|e| e.context(path.display().to_string()))?;
        return Ok(ProofFile::Tlog(Box::new(parsed)));
    }
    serde_json::from_slice(&bytes)
        .map(ProofFile::Json)
        .map_err(|e| {
            fail(
                Code::Usage,
                format!(
                    "{} is neither a {HEADER} proof nor a JSON proof: {e}",
                    path.display()
                ),
            )
        })
}

/// Read a proof file (or `-`), bounded, and parse it.
pub fn read(path: &Path) -> anyhow::Result<(TlogProof, Note, Checkpoint)> {
    let bytes = crate::fsutil::input::read_arg(path, "tlog-proof", MAX_FILE, Code::Usage)?;
    TlogProof::parse(&bytes).map_err(|e| e.context(path.display().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_strictness() {
        let cp = "example.com/log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u{2014} example.com/log AAAAAQID\n";
        let p = TlogProof {
            extra: Some(b"{\"seq\":1}".to_vec()),
            index: 1,
            nodes: vec![[1; 32], [2; 32]],
            checkpoint: cp.as_bytes().to_vec(),
        };
        let enc = p.encode();
        let (again, _, c) = TlogProof::parse(&enc).unwrap();
        assert_eq!(again, p);
        assert_eq!(c.size, 3);
        let text = String::from_utf8(enc).unwrap();
        for bad in [
            text.replacen("@v1", "@v2", 1),
            text.replacen("index 1", "index 01", 1),
            text.replacen("index 1", "index 3", 1),
            text.replacen("index 1", "index -1", 1),
            text.replacen("extra ", "extra  ", 1),
            text.replacen("\n\nexample", "\nexample", 1),
            text.replacen("AQEB", "AQE", 1),
            text.trim_end().to_string(),
        ] {
            // The proof's own lines are a usage error; a malformed
            // checkpoint in it is one of the checkpoint (exit 1).
            let e = TlogProof::parse(bad.as_bytes()).unwrap_err();
            assert_ne!(crate::exit::code_of(&e), Code::Ok, "{bad:?}");
        }
        let many = format!(
            "{HEADER}\nindex 0\n{}\n{cp}",
            "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n".repeat(64)
        );
        assert!(TlogProof::parse(many.as_bytes()).is_err());
    }
}
