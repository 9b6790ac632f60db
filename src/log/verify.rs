//! `sign-log verify`: recompute every sealed root, check checkpoint
//! signatures and the record sequence, and summarize the build.

use super::merkle::Frontier;
use super::record::{Record, DIRECTIVE};
use super::seal::parse_checkpoint;
use super::store::{checkpoint_paths, checkpoint_sizes, log_path};
use crate::exit::{fail, Code, ResultExt};
use crate::openpgp::Verifier;
use base64::Engine as _;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// A `##sign-log` directive's payload.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Directive {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha512: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
}

/// `material`, `product`, `step-begin` or `step-end`, with its payload.
pub fn parse_directive(line: &str) -> Option<(String, Directive)> {
    let rest = line.strip_prefix(DIRECTIVE)?;
    let (verb, json) = rest.split_once(' ')?;
    let d: Directive = serde_json::from_str(json).ok()?;
    Some((verb.to_string(), d))
}

/// What one session recorded.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Session {
    pub name: String,
    pub src: Option<String>,
    pub first_seq: u64,
    pub last_seq: u64,
    pub end: Option<String>,
    pub lines: u64,
    pub materials: Vec<Directive>,
    pub products: Vec<Directive>,
    pub steps: Vec<Directive>,
    pub errors: Vec<String>,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Summary {
    pub records: u64,
    pub sealed: u64,
    pub unsealed: u64,
    pub checkpoints: Vec<u64>,
    pub signers: Vec<String>,
    pub sessions: Vec<Session>,
    pub warnings: Vec<String>,
}

fn looks_like_error(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    l.contains("error") || l.contains("failed") || l.contains("fatal") || l.contains("*** ")
}

/// Read every record of the log, checking sequence, time and sessions as it
/// goes; `visit` sees each (seq, raw line, record).
pub fn scan_records(
    dir: &Path,
    mut visit: impl FnMut(u64, &[u8], &Record, &Frontier) -> anyhow::Result<()>,
) -> anyhow::Result<Frontier> {
    let path = log_path(dir);
    let f = std::fs::File::open(&path)
        .with_code(Code::Missing, || format!("opening {}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, f);
    let mut frontier = Frontier::default();
    let mut line = Vec::new();
    let mut seq = 0u64;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .with_code(Code::Io, || "reading the log")?;
        if n == 0 {
            break;
        }
        let Some(body) = line.strip_suffix(b"\n") else {
            return Err(fail(
                Code::Failed,
                format!("record {seq}: incomplete last line (torn tail)"),
            ));
        };
        let rec: Record = serde_json::from_slice(body).map_err(|e| {
            fail(
                Code::Failed,
                format!("record {seq}: not a valid record: {e}"),
            )
        })?;
        if rec.seq != seq {
            return Err(fail(
                Code::Failed,
                format!("record {seq}: seq is {}, expected {seq}", rec.seq),
            ));
        }
        visit(seq, body, &rec, &frontier)?;
        frontier.push_leaf(body);
        seq += 1;
    }
    Ok(frontier)
}

/// Verify the log in `dir` against checkpoint signatures by `verifier`.
pub fn verify(dir: &Path, verifier: &Verifier, origin: Option<&str>) -> anyhow::Result<Summary> {
    let b64 = base64::engine::general_purpose::STANDARD;
    // Every checkpoint: parse and check its signature first.
    let mut expected: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut signers = std::collections::BTreeSet::new();
    for size in checkpoint_sizes(dir)? {
        let (cp, asc) = checkpoint_paths(dir, size);
        let text =
            std::fs::read(&cp).with_code(Code::Io, || format!("reading {}", cp.display()))?;
        let sig = std::fs::read(&asc).with_code(Code::Failed, || {
            format!("checkpoint {size} has no signature {}", asc.display())
        })?;
        let c = parse_checkpoint(&text).map_err(|e| e.context(format!("checkpoint {size}")))?;
        if c.size != size {
            return Err(fail(
                Code::Failed,
                format!("checkpoint {size} says size {}", c.size),
            ));
        }
        if let Some(o) = origin {
            if c.origin != o {
                return Err(fail(
                    Code::Failed,
                    format!("checkpoint {size} is for origin {:?}, not {o:?}", c.origin),
                ));
            }
        }
        let v = verifier
            .verify_detached_bytes(&sig, &text)
            .map_err(|e| e.context(format!("checkpoint {size} signature")))?;
        signers.extend(v.signers.iter().map(|f| f.to_hex()));
        expected.insert(size, c.root);
    }
    if expected.is_empty() {
        return Err(fail(
            Code::Missing,
            format!("{}: the log was never sealed", dir.display()),
        ));
    }

    let mut summary = Summary::default();
    let mut current: Option<Session> = None;
    let mut seal_records: Vec<u64> = Vec::new();
    let mut last_t = String::new();
    let frontier = scan_records(dir, |seq, _raw, rec, frontier| {
        // The tree of the `seq` records before this one.
        if let Some(root) = expected.get(&seq) {
            if frontier.root().as_slice() != root.as_slice() {
                return Err(fail(
                    Code::Failed,
                    format!("record {seq}: the log differs from checkpoint {seq} (root mismatch)"),
                ));
            }
        }
        if rec.t < last_t {
            return Err(fail(
                Code::Failed,
                format!("record {seq}: time {} goes back from {last_t}", rec.t),
            ));
        }
        last_t.clone_from(&rec.t);
        match rec.kind.as_str() {
            "start" => {
                if let Some(s) = current.take() {
                    summary.warnings.push(format!("session {:?} (records {}..{}) has no end record: the receiver was interrupted", s.name, s.first_seq, s.last_seq));
                    summary.sessions.push(s);
                }
                current = Some(Session {
                    name: rec.name.clone().unwrap_or_default(),
                    src: rec.src.clone(),
                    first_seq: seq,
                    last_seq: seq,
                    ..Session::default()
                });
            }
            "end" => {
                let Some(mut s) = current.take() else {
                    return Err(fail(
                        Code::Failed,
                        format!("record {seq}: end without start"),
                    ));
                };
                s.end = rec.reason.clone();
                s.last_seq = seq;
                summary.sessions.push(s);
            }
            "line" | "directive" => {
                let Some(s) = current.as_mut() else {
                    return Err(fail(
                        Code::Failed,
                        format!("record {seq}: line outside a session"),
                    ));
                };
                s.last_seq = seq;
                s.lines += 1;
                let text = String::from_utf8_lossy(&rec.bytes()).into_owned();
                if rec.kind == "directive" {
                    if let Some((verb, d)) = parse_directive(&text) {
                        match verb.as_str() {
                            "material" => s.materials.push(d),
                            "product" => s.products.push(d),
                            "step-end" => s.steps.push(d),
                            _ => {}
                        }
                    }
                } else if looks_like_error(&text) && s.errors.len() < 20 {
                    s.errors.push(format!(
                        "{seq}: {}",
                        super::record::terminal_safe(text.as_bytes())
                    ));
                }
            }
            "seal" => {
                let root = b64.encode(frontier.root());
                if rec.size != Some(seq) || rec.root.as_deref() != Some(root.as_str()) {
                    return Err(fail(
                        Code::Failed,
                        format!("record {seq}: seal record does not match the log before it"),
                    ));
                }
                seal_records.push(seq);
            }
            "recovered" => summary.warnings.push(format!(
                "record {seq}: {}",
                rec.reason.clone().unwrap_or_default()
            )),
            other => {
                return Err(fail(
                    Code::Failed,
                    format!("record {seq}: unknown record type {other:?}"),
                ))
            }
        }
        Ok(())
    })?;
    let total = frontier.size();
    if let Some(s) = current.take() {
        summary.warnings.push(format!(
            "session {:?} is still open (no end record)",
            s.name
        ));
        summary.sessions.push(s);
    }
    if let Some((&size, root)) = expected.iter().next_back() {
        if size > total {
            return Err(fail(
                Code::Failed,
                format!("the log has {total} records but checkpoint {size} was sealed: truncated"),
            ));
        }
        if size == total && frontier.root().as_slice() != root.as_slice() {
            return Err(fail(
                Code::Failed,
                format!("the log differs from checkpoint {size}"),
            ));
        }
        summary.sealed = size;
    }
    summary.records = total;
    // The seal record right after a checkpoint is the seal itself.
    let seal_after = u64::from(seal_records.contains(&summary.sealed));
    summary.unsealed = total - summary.sealed - seal_after.min(total - summary.sealed);
    summary.checkpoints = expected.keys().copied().collect();
    summary.signers = signers.into_iter().collect();
    Ok(summary)
}
