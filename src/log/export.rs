//! Reading a log back: its lines, terminal-safe (`cat`), and a session as
//! an in-toto Statement v1 with a link predicate (`export`).

use super::directive::Directive;
use super::record::{kind, terminal_safe_line, Record};
use super::store::{self, scan_log};
use super::verify::Summary;
use crate::exit::{fail, Code, ResultExt};
use serde_json::json;
use std::io::Write;
use std::path::Path;

/// Print the lines of every session (or session `k`, 1-based), escaped so
/// a log cannot drive the reader's terminal (backslashes stay as they
/// were: the lines read as the build printed them); continuation pieces
/// are joined back into their line.
pub fn cat(dir: &Path, session: Option<usize>, out: &mut impl Write) -> anyhow::Result<()> {
    let mut current = 0usize;
    let mut open_line = false;
    scan_log(dir, |seq, raw| {
        let rec = Record::parse(raw).map_err(|e| e.context(format!("record {seq}")))?;
        if rec.kind == kind::START {
            current += 1;
        }
        let selected = session.is_none_or(|k| k == current);
        if selected && (rec.kind == kind::LINE || rec.kind == kind::DIRECTIVE) {
            if open_line && !rec.cont {
                out.write_all(b"\n").code(Code::Io, "writing to stdout")?;
            }
            let bytes = rec
                .bytes()
                .map_err(|e| e.context(format!("record {seq}")))?;
            out.write_all(terminal_safe_line(&bytes).as_bytes())
                .code(Code::Io, "writing to stdout")?;
            open_line = !rec.noeol;
        }
        Ok(())
    })?;
    if open_line {
        out.write_all(b"\n").code(Code::Io, "writing to stdout")?;
    }
    out.flush().code(Code::Io, "writing to stdout")
}

fn descriptor(d: &Directive) -> serde_json::Value {
    let mut digest = serde_json::Map::new();
    if let Some(h) = &d.sha256 {
        digest.insert("sha256".into(), json!(h.to_ascii_lowercase()));
    }
    if let Some(h) = &d.sha512 {
        digest.insert("sha512".into(), json!(h.to_ascii_lowercase()));
    }
    json!({"name": d.name, "digest": digest})
}

/// An in-toto Statement v1, link predicate v0.3, for session `k` (1-based)
/// of a verified log: products as subjects, materials, the command and
/// return value of its last step, and the checkpoint sealing it.
pub fn in_toto(dir: &Path, summary: &Summary, k: usize) -> anyhow::Result<serde_json::Value> {
    let s = k
        .checked_sub(1)
        .and_then(|i| summary.sessions.get(i))
        .ok_or_else(|| {
            fail(
                Code::Usage,
                format!("no session {k} (the log has {})", summary.sessions.len()),
            )
        })?;
    // Only what a signature covers is attested.
    let Some(size) = summary
        .checkpoints
        .iter()
        .copied()
        .find(|&n| n > s.last_seq)
    else {
        return Err(fail(
            Code::Missing,
            format!(
                "session {k} (records {}..{}) is not sealed yet",
                s.first_seq, s.last_seq
            ),
        ));
    };
    if s.products.is_empty() {
        return Err(fail(
            Code::Missing,
            format!("session {k} recorded no products: an in-toto statement needs a subject"),
        ));
    }
    let cp = store::checkpoint_body(dir, size)?;
    let last_step = s.steps.last().map(|l| &l.directive);
    Ok(json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": s.products.iter().map(|l| descriptor(&l.directive)).collect::<Vec<_>>(),
        "predicateType": "https://in-toto.io/attestation/link/v0.3",
        "predicate": {
            "name": s.name,
            "command": last_step.and_then(|st| st.argv.clone()).unwrap_or_default(),
            "materials": s.materials.iter().map(|l| descriptor(&l.directive)).collect::<Vec<_>>(),
            "byproducts": {
                "return-value": last_step.and_then(|st| st.exit),
                "steps": s.steps,
                "records": [s.first_seq, s.last_seq],
                "end": s.end,
                "checkpoint": {
                    "origin": cp.origin,
                    "size": cp.size,
                    "root": super::merkle::to_b64(&cp.root),
                    "signers": summary.signers,
                },
            },
            "environment": {"source": s.src},
        }
    }))
}
