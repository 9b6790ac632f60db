//! Reading a log back: terminal-safe text, and in-toto link statements.

use super::record::terminal_safe;
use super::store::checkpoint_sizes;
use super::verify::{scan_records, Session};
use crate::exit::{fail, Code};
use serde_json::json;
use std::io::Write;
use std::path::Path;

/// Print the lines of every session (or session `k`, 1-based), escaped so
/// a log cannot drive the reader's terminal.
pub fn cat(dir: &Path, session: Option<usize>, out: &mut impl Write) -> anyhow::Result<()> {
    let mut current = 0usize;
    let mut started = false;
    let mut open_line = false;
    scan_records(dir, |_seq, _raw, rec, _f| {
        if rec.kind == "start" {
            current += 1;
        }
        let selected = session.is_none_or(|k| k == current);
        if selected && (rec.kind == "line" || rec.kind == "directive") {
            // A continuation piece joins the line before it.
            if started && !rec.cont {
                out.write_all(b"\n")?;
            }
            out.write_all(terminal_safe(&rec.bytes()).as_bytes())?;
            started = true;
            open_line = !rec.noeol;
        }
        Ok(())
    })?;
    if open_line {
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// An in-toto Statement v1 with a link predicate for session `k` of a
/// verified summary: materials, products as subjects, the command and its
/// return value, and the checkpoint sealing it as a byproduct.
pub fn in_toto(dir: &Path, sessions: &[Session], k: usize) -> anyhow::Result<serde_json::Value> {
    let s = k
        .checked_sub(1)
        .and_then(|i| sessions.get(i))
        .ok_or_else(|| {
            fail(
                Code::Usage,
                format!("no session {k} (the log has {})", sessions.len()),
            )
        })?;
    let digest = |d: &super::verify::Directive| {
        let mut m = serde_json::Map::new();
        if let Some(h) = &d.sha256 {
            m.insert("sha256".into(), json!(h));
        }
        if let Some(h) = &d.sha512 {
            m.insert("sha512".into(), json!(h));
        }
        json!({"name": d.name, "digest": m})
    };
    let sealed_by = checkpoint_sizes(dir)?.into_iter().find(|n| *n > s.last_seq);
    let last_step = s.steps.last();
    Ok(json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": s.products.iter().map(digest).collect::<Vec<_>>(),
        "predicateType": "https://in-toto.io/attestation/link/v0.3",
        "predicate": {
            "name": s.name,
            "command": last_step.and_then(|st| st.argv.clone()).unwrap_or_default(),
            "materials": s.materials.iter().map(digest).collect::<Vec<_>>(),
            "byproducts": {
                "return-value": last_step.and_then(|st| st.exit),
                "steps": s.steps,
                "checkpoint": sealed_by.map(|n| format!("checkpoints/{n}")),
                "records": [s.first_seq, s.last_seq],
            }
        }
    }))
}
