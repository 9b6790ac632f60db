//! Verdicts as they come: `NAME: OK` / `NAME: FAILED` lines as coreutils
//! prints them, reasons on stderr, or one JSON object per file and a
//! summary.

use super::{Outcome, Sink, Status};
use crate::digest::Algo;
use crate::exit::{Code, ResultExt};
use crate::lists::hashlist::display_name;
use std::collections::HashMap;
use std::io::Write;

/// How outcomes are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `NAME: OK` / `NAME: FAILED` / `NAME: FAILED open or read`, as coreutils.
    Text,
    /// Like text without the OK lines (`--quiet`).
    Quiet,
    /// Nothing; the exit code tells (`--status`).
    Status,
    /// One JSON object per file and a summary (`--json`).
    Json,
}

/// Writes outcomes as they come: verdicts on `out`, reasons on `err`.
pub struct Reporter<O: Write, E: Write> {
    style: Style,
    out: O,
    err: E,
    counts: HashMap<Status, usize>,
}

impl<O: Write, E: Write> Sink for Reporter<O, E> {
    fn report(&mut self, o: &Outcome) -> anyhow::Result<()> {
        Reporter::report(self, o)
    }

    fn idle(&mut self) -> anyhow::Result<()> {
        self.out.flush().code(Code::Io, "writing the report")
    }
}

impl<O: Write, E: Write> Reporter<O, E> {
    pub fn new(style: Style, out: O, err: E) -> Self {
        Reporter {
            style,
            out,
            err,
            counts: HashMap::new(),
        }
    }

    fn count(&self, s: Status) -> usize {
        self.counts.get(&s).copied().unwrap_or(0)
    }

    pub fn report(&mut self, o: &Outcome) -> anyhow::Result<()> {
        *self.counts.entry(o.status).or_default() += 1;
        let io = |r: std::io::Result<()>| r.code(Code::Io, "writing the report");
        if self.style == Style::Json {
            let hexes = |v: &[(Algo, Vec<u8>)]| -> serde_json::Map<String, serde_json::Value> {
                v.iter()
                    .map(|(a, d)| (a.name().to_string(), hex::encode(d).into()))
                    .collect()
            };
            let v = serde_json::json!({
                "path": String::from_utf8_lossy(&display_name(&o.target.name)),
                "exit": o.status.code().as_u8(),
                "size": o.actual.as_ref().map(|d| d.len),
                "status": o.status,
                "expected": hexes(&o.target.expected),
                "actual": o.actual.as_ref().map(|d| hexes(&d.values)),
                "reason": o.reason,
            });
            return io(writeln!(self.out, "{v}"));
        }
        if self.style == Style::Status {
            return Ok(());
        }
        let word: &[u8] = match o.status {
            Status::Ok if self.style == Style::Quiet => return Ok(()),
            Status::Skipped => return Ok(()),
            Status::Ok => b"OK",
            Status::Failed => b"FAILED",
            Status::Weak => b"FAILED weak algorithm",
            Status::Missing | Status::Unreadable => b"FAILED open or read",
        };
        let mut line = display_name(&o.target.name);
        line.extend_from_slice(b": ");
        line.extend_from_slice(word);
        line.push(b'\n');
        io(self.out.write_all(&line))?;
        if let Some(r) = &o.reason {
            // Verdict and reason appear in order on a shared terminal.
            io(self.out.flush())?;
            io(writeln!(self.err, "check-hashes: {r}"))?;
        }
        Ok(())
    }

    /// The closing summary (JSON), or coreutils-style warnings (text).
    pub fn finish(mut self, code: Code) -> anyhow::Result<()> {
        let io = |r: std::io::Result<()>| r.code(Code::Io, "writing the report");
        let failed = self.count(Status::Failed) + self.count(Status::Weak);
        let unread = self.count(Status::Missing) + self.count(Status::Unreadable);
        match self.style {
            Style::Json => {
                let v = serde_json::json!({"summary": {
                    "files": self.counts.values().sum::<usize>(),
                    "ok": self.count(Status::Ok),
                    "failed": failed,
                    "missing": self.count(Status::Missing),
                    "unreadable": self.count(Status::Unreadable),
                    "skipped": self.count(Status::Skipped),
                    "exit": code.as_u8(),
                }});
                io(writeln!(self.out, "{v}"))?;
            }
            Style::Status => {}
            Style::Text | Style::Quiet => {
                io(self.out.flush())?;
                if failed > 0 {
                    io(writeln!(
                        self.err,
                        "check-hashes: WARNING: {failed} file(s) did NOT match"
                    ))?;
                }
                if unread > 0 {
                    io(writeln!(
                        self.err,
                        "check-hashes: WARNING: {unread} listed file(s) could not be read"
                    ))?;
                }
                if code == Code::Missing {
                    io(writeln!(self.err, "check-hashes: no file was verified"))?;
                }
            }
        }
        io(self.out.flush())
    }
}
