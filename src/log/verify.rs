//! `sign-log verify`: check every checkpoint's signature, recompute the
//! root of every sealed prefix in one streaming pass, check the record
//! sequence (seq, time, sessions, seals) and summarize the build.

use super::checkpoint::{self, Checkpoint};
use super::directive::{self, Directive, Verb};
use super::merkle::{Frontier, Hash};
use super::record::{kind, parse_time, terminal_safe, Record};
use super::store::scan_log;
use crate::exit::{fail, Code, ResultExt};
use crate::openpgp::Verifier;
use base64::Engine as _;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Error-looking lines kept per session (all are counted).
const MAX_ERRORS: usize = 20;
/// Materials, products or steps kept per session: the build side is
/// untrusted and must not grow the verifier's memory without bound.
const MAX_DIRECTIVES: usize = 100_000;

/// What one session recorded.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Session {
    pub name: String,
    pub src: Option<String>,
    pub first_seq: u64,
    pub last_seq: u64,
    /// The `end` record's reason; none when the receiver was interrupted.
    pub end: Option<String>,
    pub lines: u64,
    pub materials: Vec<Directive>,
    pub products: Vec<Directive>,
    /// Finished steps (step-end), with their exit codes.
    pub steps: Vec<Directive>,
    /// Lines that look like errors (the first few, terminal-safe).
    pub errors: Vec<String>,
    pub error_lines: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub records: u64,
    /// Records covered by the last checkpoint.
    pub sealed: u64,
    /// Records after the last checkpoint (its own seal record excluded).
    pub unsealed: u64,
    /// Bytes after the last complete record (an interrupted writer's).
    pub torn_bytes: u64,
    pub origin: String,
    pub checkpoints: Vec<u64>,
    pub signers: Vec<String>,
    pub sessions: Vec<Session>,
    pub warnings: Vec<String>,
}

impl Summary {
    /// The human summary; everything from the log is terminal-safe.
    pub fn text(&self) -> String {
        use std::fmt::Write as _;
        let safe = |s: &str| terminal_safe(s.as_bytes());
        let mut o = String::new();
        let _ = writeln!(
            o,
            "log verified: {} records, {} sealed, {} unsealed; origin {}; checkpoints {:?}",
            self.records,
            self.sealed,
            self.unsealed,
            safe(&self.origin),
            self.checkpoints
        );
        for f in &self.signers {
            let _ = writeln!(o, "checkpoint signer {f}");
        }
        for (i, s) in self.sessions.iter().enumerate() {
            let _ = writeln!(
                o,
                "session {} \"{}\" from {}: {} lines, records {}..{}, end: {}",
                i + 1,
                safe(&s.name),
                s.src.as_deref().map_or("-".into(), safe),
                s.lines,
                s.first_seq,
                s.last_seq,
                s.end.as_deref().map_or("(none)".into(), safe)
            );
            for (what, list) in [("material", &s.materials), ("product ", &s.products)] {
                for d in list {
                    let _ = writeln!(
                        o,
                        "  {what} {} size={} sha256={}",
                        safe(&d.name),
                        d.size.map_or("-".into(), |n| n.to_string()),
                        d.sha256.as_deref().map_or("-".into(), safe)
                    );
                }
            }
            for st in &s.steps {
                let _ = writeln!(
                    o,
                    "  step     {} exit={}",
                    safe(&st.name),
                    st.exit.map_or("-".into(), |c| c.to_string())
                );
            }
            for e in &s.errors {
                let _ = writeln!(o, "  error?   {e}");
            }
            if s.error_lines > s.errors.len() as u64 {
                let _ = writeln!(
                    o,
                    "  error?   ... {} more error-looking lines",
                    s.error_lines - s.errors.len() as u64
                );
            }
        }
        o
    }

    /// Warnings, the unsealed tail last.
    pub fn warning_lines(&self) -> Vec<String> {
        let mut w = self.warnings.clone();
        if self.unsealed > 0 {
            w.push(format!(
                "{} record(s) after the last seal are not covered by a signature",
                self.unsealed
            ));
        }
        w
    }
}

fn bad(seq: u64, msg: impl std::fmt::Display) -> anyhow::Error {
    fail(Code::Failed, format!("record {seq}: {msg}"))
}

/// Case-insensitive "error", "failed", "fatal", or make's "*** ".
pub fn looks_like_error(s: &[u8]) -> bool {
    let at = |i: usize, w: &[u8]| {
        s.get(i..i + w.len())
            .is_some_and(|x| x.eq_ignore_ascii_case(w))
    };
    memchr::memchr3_iter(b'e', b'E', b'*', s).any(|i| at(i, b"error") || at(i, b"*** "))
        || memchr::memchr2_iter(b'f', b'F', s).any(|i| at(i, b"failed") || at(i, b"fatal"))
}

/// Every checkpoint, its signature checked; returns (size -> root).
fn checkpoints(
    dir: &Path,
    verifier: &Verifier,
    want_origin: Option<&str>,
    summary: &mut Summary,
) -> anyhow::Result<BTreeMap<u64, Hash>> {
    let mut roots = BTreeMap::new();
    let mut signers = BTreeSet::new();
    for size in checkpoint::sizes(dir)? {
        let (body, asc) = checkpoint::paths(dir, size);
        let text =
            std::fs::read(&body).with_code(Code::Io, || format!("reading {}", body.display()))?;
        let sig = match std::fs::read(&asc) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(fail(
                    Code::Failed,
                    format!("checkpoint {size} has no signature {}", asc.display()),
                ))
            }
            Err(e) => return Err(e).with_code(Code::Io, || format!("reading {}", asc.display())),
        };
        let cp = Checkpoint::parse(&text).map_err(|e| e.context(format!("checkpoint {size}")))?;
        if cp.size != size {
            return Err(fail(
                Code::Failed,
                format!("checkpoint {size} says size {}", cp.size),
            ));
        }
        // One log, one origin: --origin when given, else the first one's.
        let want = want_origin.unwrap_or(if summary.origin.is_empty() {
            &cp.origin
        } else {
            &summary.origin
        });
        if cp.origin != want {
            return Err(fail(
                Code::Failed,
                format!(
                    "checkpoint {size} is for origin {:?}, not {:?}",
                    terminal_safe(cp.origin.as_bytes()),
                    terminal_safe(want.as_bytes())
                ),
            ));
        }
        summary.origin.clone_from(&cp.origin);
        let v = verifier
            .verify_detached_bytes(&sig, &text)
            .map_err(|e| e.context(format!("checkpoint {size}: signature")))?;
        summary
            .warnings
            .extend(v.notes.iter().map(|n| format!("checkpoint {size}: {n}")));
        signers.extend(v.signers.iter().map(|f| f.to_hex()));
        roots.insert(size, cp.root);
    }
    summary.signers = signers.into_iter().collect();
    Ok(roots)
}

/// Verify the log in `dir` with checkpoint signatures checked by
/// `verifier`; any mismatch is an error (exit 1) naming the first bad record.
pub fn verify(dir: &Path, verifier: &Verifier, origin: Option<&str>) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    let roots = checkpoints(dir, verifier, origin, &mut summary)?;
    let Some(&last_size) = roots.keys().next_back() else {
        return Err(fail(
            Code::Missing,
            format!(
                "{}: the log was never sealed (no checkpoints)",
                dir.display()
            ),
        ));
    };
    summary.checkpoints = roots.keys().copied().collect();

    let mut st = State {
        summary,
        frontier: Frontier::default(),
        current: None,
        last_t: 0,
        prev_checkpoint: 0,
        roots: &roots,
        seal_at_last: false,
        last_size,
    };
    let scan = scan_log(dir, |seq, line| st.record(seq, line))?;
    let mut summary = st.finish(scan.lines)?;
    if last_size > scan.lines {
        return Err(fail(
            Code::Failed,
            format!(
                "record {}: missing, the log ends there but checkpoint {last_size} was sealed (truncated)",
                scan.lines
            ),
        ));
    }
    if scan.torn_len > 0 {
        summary.torn_bytes = scan.torn_len;
        summary.warnings.push(format!(
            "{} bytes after record {} are an incomplete record (an interrupted writer's; the next receive keeps them in a recovered record)",
            scan.torn_len,
            scan.lines.saturating_sub(1)
        ));
    }
    Ok(summary)
}

struct State<'a> {
    summary: Summary,
    frontier: Frontier,
    current: Option<Session>,
    last_t: u64,
    prev_checkpoint: u64,
    roots: &'a BTreeMap<u64, Hash>,
    seal_at_last: bool,
    last_size: u64,
}

impl State<'_> {
    /// The tree of the records before `seq` against checkpoint `seq`.
    fn check_root(&mut self, seq: u64) -> anyhow::Result<()> {
        if let Some(root) = self.roots.get(&seq) {
            if self.frontier.root() != *root {
                return Err(fail(
                    Code::Failed,
                    format!(
                        "records {}..{}: do not match checkpoint {seq} (root mismatch: a record was changed, removed, inserted or reordered)",
                        self.prev_checkpoint,
                        seq.saturating_sub(1)
                    ),
                ));
            }
            self.prev_checkpoint = seq;
        }
        Ok(())
    }

    fn record(&mut self, seq: u64, line: &[u8]) -> anyhow::Result<()> {
        self.check_root(seq)?;
        let rec = Record::parse(line).map_err(|e| bad(seq, format!("{e:#}")))?;
        if rec.seq != seq {
            return Err(bad(seq, format!("seq is {}, expected {seq}", rec.seq)));
        }
        let t = parse_time(&rec.t).ok_or_else(|| {
            bad(
                seq,
                format!(
                    "time {:?} is not UTC RFC 3339 with microseconds",
                    terminal_safe(rec.t.as_bytes())
                ),
            )
        })?;
        if t < self.last_t {
            return Err(bad(
                seq,
                format!("time {} goes back before the previous record's", rec.t),
            ));
        }
        self.last_t = t;
        self.semantics(seq, &rec)?;
        self.frontier.push_leaf(line);
        Ok(())
    }

    fn semantics(&mut self, seq: u64, rec: &Record) -> anyhow::Result<()> {
        let s = &mut self.summary;
        match rec.kind.as_ref() {
            kind::START => {
                if let Some(open) = self.current.take() {
                    s.warnings.push(format!(
                        "session {} {:?} (records {}..{}) has no end record: the receiver was interrupted",
                        s.sessions.len() + 1,
                        terminal_safe(open.name.as_bytes()),
                        open.first_seq,
                        open.last_seq
                    ));
                    s.sessions.push(open);
                }
                self.current = Some(Session {
                    name: rec.name.as_deref().unwrap_or_default().to_string(),
                    src: rec.src.as_deref().map(str::to_string),
                    first_seq: seq,
                    last_seq: seq,
                    ..Session::default()
                });
            }
            kind::END => {
                let mut open = self
                    .current
                    .take()
                    .ok_or_else(|| bad(seq, "end record without a start"))?;
                open.end = Some(rec.reason.as_deref().unwrap_or_default().to_string());
                open.last_seq = seq;
                s.sessions.push(open);
            }
            kind::LINE | kind::DIRECTIVE => {
                let open = self
                    .current
                    .as_mut()
                    .ok_or_else(|| bad(seq, "a line outside a session"))?;
                open.last_seq = seq;
                open.lines += 1;
                let bytes = rec.bytes().map_err(|e| bad(seq, format!("{e:#}")))?;
                if rec.kind == kind::DIRECTIVE {
                    let text = rec
                        .data
                        .as_deref()
                        .ok_or_else(|| bad(seq, "a directive must be text"))?;
                    match directive::parse(text) {
                        Ok((verb, d)) => {
                            let list = match verb {
                                Verb::Material => Some(&mut open.materials),
                                Verb::Product => Some(&mut open.products),
                                Verb::StepEnd => Some(&mut open.steps),
                                Verb::StepBegin => None,
                            };
                            if let Some(list) = list {
                                if list.len() < MAX_DIRECTIVES {
                                    list.push(d);
                                }
                            }
                        }
                        Err(e) => s.warnings.push(format!("record {seq}: {e:#}")),
                    }
                } else if looks_like_error(&bytes) {
                    open.error_lines += 1;
                    if open.errors.len() < MAX_ERRORS {
                        open.errors
                            .push(format!("{seq}: {}", terminal_safe(&bytes)));
                    }
                }
            }
            kind::SEAL => {
                let root = base64::engine::general_purpose::STANDARD.encode(self.frontier.root());
                if rec.size != Some(seq) || rec.root.as_deref() != Some(root.as_str()) {
                    return Err(bad(seq, "seal record does not match the log before it"));
                }
                if !self.roots.contains_key(&seq) {
                    return Err(bad(
                        seq,
                        format!("seal of size {seq} without its checkpoint (checkpoints/{seq} was removed)"),
                    ));
                }
                if rec.name.as_deref() != Some(s.origin.as_str()) {
                    return Err(bad(
                        seq,
                        "seal record names another origin than its checkpoint",
                    ));
                }
                if seq == self.last_size {
                    self.seal_at_last = true;
                }
            }
            kind::RECOVERED => {
                rec.bytes().map_err(|e| bad(seq, format!("{e:#}")))?;
                s.warnings.push(format!(
                    "record {seq}: recovered: {}",
                    terminal_safe(rec.reason.as_deref().unwrap_or_default().as_bytes())
                ));
            }
            other => {
                return Err(bad(
                    seq,
                    format!("unknown record type {:?}", terminal_safe(other.as_bytes())),
                ))
            }
        }
        Ok(())
    }

    fn finish(&mut self, records: u64) -> anyhow::Result<Summary> {
        // A checkpoint of the whole log is checked after its last record.
        if records == self.last_size {
            self.check_root(records)?;
        }
        let mut summary = std::mem::take(&mut self.summary);
        if let Some(open) = self.current.take() {
            summary.warnings.push(format!(
                "session {} {:?} is still open (no end record: a receiver is running or was interrupted)",
                summary.sessions.len() + 1,
                terminal_safe(open.name.as_bytes())
            ));
            summary.sessions.push(open);
        }
        summary.records = records;
        summary.sealed = self.last_size.min(records);
        summary.unsealed = records
            .saturating_sub(self.last_size)
            .saturating_sub(u64::from(self.seal_at_last));
        Ok(summary)
    }
}
