//! `sign-log receive`: every input line becomes a record, appended as it
//! arrives, bracketed by `start` and `end`, with bounded resources.

use super::record::{now, DIRECTIVE};
use super::store::Log;
use crate::exit::{Code, ResultExt};
use base64::Engine as _;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// When appended records reach the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncMode {
    /// fdatasync after every record.
    Always,
    /// fdatasync every 10,000 records or every second, whichever is first.
    Batch,
    /// fdatasync once, at the end.
    End,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub name: String,
    pub source: Option<String>,
    pub sync: SyncMode,
    pub max_bytes: u64,
    pub max_records: u64,
    pub max_line: usize,
    /// Lines longer than this are split into continuation records.
    pub record_size: usize,
}

/// What the caller gets back (over qrexec: `NAME SIZE ROOT`).
#[derive(Clone, Debug)]
pub struct Received {
    pub size: u64,
    pub root: String,
    /// eof, error or cap.
    pub reason: String,
}

const BATCH_RECORDS: u64 = 10_000;
const BATCH_TIME: Duration = Duration::from_secs(1);
const FLUSH_BYTES: usize = 1 << 20;

/// A line record, borrowed: no allocation per line on the hot path.
#[derive(serde::Serialize)]
struct LineRec<'a> {
    seq: u64,
    t: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    src: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    b64: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    cont: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    noeol: bool,
}

struct Writer<'a> {
    log: &'a mut Log,
    opts: &'a Options,
    buf: Vec<u8>,
    since_sync: u64,
    last_sync: Instant,
    records: u64,
}

impl Writer<'_> {
    fn line(&mut self, bytes: &[u8], cont: bool, noeol: bool) -> anyhow::Result<()> {
        let t = now();
        let (kind, data, b64) = match std::str::from_utf8(bytes) {
            Ok(s) => (
                if !cont && s.starts_with(DIRECTIVE) {
                    "directive"
                } else {
                    "line"
                },
                Some(s),
                None,
            ),
            Err(_) => (
                "line",
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
            ),
        };
        let rec = LineRec {
            seq: self.log.next_seq,
            t: &t,
            kind,
            src: self.opts.source.as_deref(),
            data,
            b64,
            cont,
            noeol,
        };
        let start = self.buf.len();
        serde_json::to_writer(&mut self.buf, &rec).code(Code::Io, "serializing a record")?;
        self.log
            .frontier
            .push_leaf(self.buf.get(start..).unwrap_or_default());
        self.buf.push(b'\n');
        self.log.next_seq += 1;
        self.log.last_time = Some(t);
        self.records += 1;
        self.after_record()
    }

    fn record(&mut self, r: &super::record::Record) -> anyhow::Result<()> {
        self.log.append(r, &mut self.buf)?;
        self.after_record()
    }

    fn after_record(&mut self) -> anyhow::Result<()> {
        self.since_sync += 1;
        let due = match self.opts.sync {
            SyncMode::Always => true,
            SyncMode::Batch => {
                self.since_sync >= BATCH_RECORDS || self.last_sync.elapsed() >= BATCH_TIME
            }
            SyncMode::End => false,
        };
        if due {
            self.sync()?;
        } else if self.buf.len() >= FLUSH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        self.log
            .file
            .write_all(&self.buf)
            .code(Code::Io, "appending to the log")?;
        self.buf.clear();
        Ok(())
    }

    fn sync(&mut self) -> anyhow::Result<()> {
        self.flush()?;
        self.log
            .file
            .sync_data()
            .code(Code::Io, "syncing the log")?;
        self.since_sync = 0;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// One input line, split into continuation records past `record_size`.
    fn input_line(&mut self, line: &[u8], noeol: bool) -> anyhow::Result<()> {
        let size = self.opts.record_size.max(1);
        let mut pieces = line.chunks(size).peekable();
        if pieces.peek().is_none() {
            return self.line(line, false, noeol);
        }
        let mut first = true;
        while let Some(p) = pieces.next() {
            let last = pieces.peek().is_none();
            self.line(p, !first, noeol && last)?;
            first = false;
        }
        Ok(())
    }
}

/// Receive `input` into the log in `dir` until EOF, an error or a cap.
/// The session is always closed with an `end` record saying which.
pub fn receive(
    dir: &std::path::Path,
    mut input: impl Read,
    opts: &Options,
) -> anyhow::Result<(Received, Code)> {
    let mut log = Log::open(dir)?;
    let mut w = Writer {
        log: &mut log,
        opts,
        buf: Vec::with_capacity(2 * FLUSH_BYTES),
        since_sync: 0,
        last_sync: Instant::now(),
        records: 0,
    };
    let mut start = w.log.record("start");
    start.name = Some(opts.name.clone());
    start.src = opts.source.clone();
    w.record(&start)?;
    w.sync()?;

    let mut chunk = vec![0u8; 256 * 1024];
    let mut carry: Vec<u8> = Vec::new();
    let mut total = 0u64;
    let (reason, detail, code) = loop {
        let n = match input.read(&mut chunk) {
            Ok(0) => {
                if !carry.is_empty() {
                    let line = std::mem::take(&mut carry);
                    w.input_line(&line, true)?;
                }
                break ("eof", None, Code::Ok);
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break ("error", Some(format!("reading input: {e}")), Code::Io),
        };
        total += n as u64;
        if total > opts.max_bytes {
            break (
                "cap",
                Some(format!("more than {} bytes (--max-bytes)", opts.max_bytes)),
                Code::Failed,
            );
        }
        let mut rest = chunk.get(..n).unwrap_or_default();
        let mut capped = None;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(nl);
            rest = tail.get(1..).unwrap_or_default();
            let line_len = carry.len() + head.len();
            if line_len > opts.max_line {
                capped = Some(format!(
                    "a line of {line_len} bytes (--max-line {})",
                    opts.max_line
                ));
                break;
            }
            if carry.is_empty() {
                w.input_line(head, false)?;
            } else {
                carry.extend_from_slice(head);
                let line = std::mem::take(&mut carry);
                w.input_line(&line, false)?;
            }
            if w.records >= opts.max_records {
                capped = Some(format!("{} records (--max-records)", opts.max_records));
                break;
            }
        }
        if capped.is_none() {
            carry.extend_from_slice(rest);
            if carry.len() > opts.max_line {
                capped = Some(format!(
                    "a line longer than {} bytes (--max-line)",
                    opts.max_line
                ));
            }
        }
        if let Some(why) = capped {
            break ("cap", Some(why), Code::Failed);
        }
    };
    let mut end = w.log.record("end");
    end.reason = Some(match &detail {
        Some(d) => format!("{reason}: {d}"),
        None => reason.to_string(),
    });
    w.record(&end)?;
    w.sync()?;
    if let Some(d) = &detail {
        eprintln!("sign-log: session ended ({reason}): {d}");
    }
    let received = Received {
        size: log.next_seq,
        root: log.root_b64(),
        reason: reason.to_string(),
    };
    Ok((received, code))
}
