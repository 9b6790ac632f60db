//! The log directory: `log.jsonl` (append-only, one writer at a time),
//! `checkpoints/<size>` and `<size>.asc`.

use super::merkle::Frontier;
use super::record::{now, Record};
use crate::exit::{fail, Code, ResultExt};
use base64::Engine as _;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const LOG_FILE: &str = "log.jsonl";
pub const CHECKPOINTS: &str = "checkpoints";

pub fn log_path(dir: &Path) -> PathBuf {
    dir.join(LOG_FILE)
}

/// An open, locked log positioned at its end.
pub struct Log {
    pub file: File,
    pub frontier: Frontier,
    pub next_seq: u64,
    pub last_time: Option<String>,
    pub dir: PathBuf,
}

impl Log {
    /// Open (creating) and lock the log; rebuild the tree; recover a torn
    /// tail left by a crash into a `recovered` record.
    pub fn open(dir: &Path) -> anyhow::Result<Log> {
        std::fs::create_dir_all(dir)
            .with_code(Code::Io, || format!("creating {}", dir.display()))?;
        let path = log_path(dir);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .with_code(Code::Io, || format!("opening {}", path.display()))?;
        // One writer at a time; a second receiver waits.
        file.lock()
            .with_code(Code::Io, || format!("locking {}", path.display()))?;
        let (frontier, complete_len, last) = scan(&mut file)?;
        let mut log = Log {
            next_seq: frontier.size(),
            frontier,
            last_time: last.map(|r| r.t),
            file,
            dir: dir.to_path_buf(),
        };
        let total = log
            .file
            .metadata()
            .with_code(Code::Io, || "reading the log size")?
            .len();
        if total > complete_len {
            // A crash mid-write: keep the torn bytes, never drop them.
            let mut torn = Vec::new();
            log.file
                .seek(SeekFrom::Start(complete_len))
                .with_code(Code::Io, || "seeking")?;
            log.file
                .read_to_end(&mut torn)
                .with_code(Code::Io, || "reading the torn tail")?;
            log.file
                .set_len(complete_len)
                .with_code(Code::Io, || "truncating the torn tail")?;
            let mut r = log.record("recovered");
            r.b64 = Some(base64::engine::general_purpose::STANDARD.encode(&torn));
            r.reason = Some(format!(
                "{} bytes of an incomplete record from an interrupted writer",
                torn.len()
            ));
            let mut w = Vec::new();
            log.append(&r, &mut w)?;
            log.file
                .write_all(&w)
                .with_code(Code::Io, || "writing the log")?;
            log.file
                .sync_data()
                .with_code(Code::Io, || "syncing the log")?;
        }
        Ok(log)
    }

    /// A new record of `kind` with the next seq and the current time.
    pub fn record(&self, kind: &str) -> Record {
        Record {
            seq: self.next_seq,
            t: now(),
            kind: kind.into(),
            ..Record::default()
        }
    }

    /// Serialize `r` into `buf` as one line and add it to the tree.
    pub fn append(&mut self, r: &Record, buf: &mut Vec<u8>) -> anyhow::Result<()> {
        let start = buf.len();
        serde_json::to_writer(&mut *buf, r).code(Code::Io, "serializing a record")?;
        self.frontier
            .push_leaf(buf.get(start..).unwrap_or_default());
        buf.push(b'\n');
        self.next_seq += 1;
        self.last_time = Some(r.t.clone());
        Ok(())
    }

    pub fn root_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.frontier.root())
    }
}

/// Hash every complete line; returns the tree, the length of the complete
/// part and the last record.
fn scan(file: &mut File) -> anyhow::Result<(Frontier, u64, Option<Record>)> {
    file.seek(SeekFrom::Start(0))
        .with_code(Code::Io, || "seeking the log")?;
    let mut reader = BufReader::with_capacity(1 << 20, &mut *file);
    let mut frontier = Frontier::default();
    let mut complete = 0u64;
    let mut last_line = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .with_code(Code::Io, || "reading the log")?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        let body = line.get(..line.len() - 1).unwrap_or_default();
        frontier.push_leaf(body);
        complete += n as u64;
        last_line.clear();
        last_line.extend_from_slice(body);
    }
    let last = if last_line.is_empty() {
        None
    } else {
        Some(serde_json::from_slice::<Record>(&last_line).map_err(|e| {
            fail(
                Code::Failed,
                format!("the last record of the log is not valid: {e}"),
            )
        })?)
    };
    Ok((frontier, complete, last))
}

/// `checkpoints/<size>` and its signature.
pub fn checkpoint_paths(dir: &Path, size: u64) -> (PathBuf, PathBuf) {
    let d = dir.join(CHECKPOINTS);
    (d.join(size.to_string()), d.join(format!("{size}.asc")))
}

/// Every sealed size, from the checkpoint files.
pub fn checkpoint_sizes(dir: &Path) -> anyhow::Result<Vec<u64>> {
    let d = dir.join(CHECKPOINTS);
    let mut sizes = Vec::new();
    let entries = match std::fs::read_dir(&d) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(sizes),
        Err(e) => return Err(e).with_code(Code::Io, || format!("listing {}", d.display())),
    };
    for e in entries {
        let e = e.with_code(Code::Io, || format!("listing {}", d.display()))?;
        if let Some(n) = e.file_name().to_str().and_then(|s| s.parse::<u64>().ok()) {
            sizes.push(n);
        }
    }
    sizes.sort_unstable();
    Ok(sizes)
}
