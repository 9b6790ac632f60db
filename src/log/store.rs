//! The log directory: `log.jsonl` (append-only, one writer at a time) and
//! `checkpoints/`. Opening for writing locks the file, rebuilds the Merkle
//! frontier in one streaming pass and recovers a torn tail; readers stream
//! the lines with flat memory.

use super::merkle::{Frontier, Hash};
use super::record::{format_time, kind, now_micros, parse_time, Record};
use crate::exit::{fail, Code, ResultExt};
use base64::Engine as _;
use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const LOG_FILE: &str = "log.jsonl";

/// Longest stored line a reader accepts: a 16 KiB piece in base64 with
/// every field is far below; anything longer is not ours.
pub const MAX_STORED_LINE: usize = 2 << 20;

/// Torn bytes are kept in `recovered` records of at most this many bytes.
const RECOVER_PIECE: usize = 16 * 1024;

pub fn log_path(dir: &Path) -> PathBuf {
    dir.join(LOG_FILE)
}

/// What a streaming pass over `log.jsonl` saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Complete (newline-terminated) lines.
    pub lines: u64,
    /// Bytes in complete lines.
    pub complete_len: u64,
    /// Bytes after the last newline: a torn tail from an interrupted writer.
    pub torn_len: u64,
}

/// Blocks read at a time; every block handed on holds whole lines only.
const BLOCK: usize = 1 << 20;

/// Feed `input` to `visit` in blocks of complete lines (each ending in
/// `\n`), with the index of the block's first line; memory stays flat.
pub fn read_blocks(
    mut input: impl Read,
    mut visit: impl FnMut(u64, Vec<u8>) -> anyhow::Result<()>,
) -> anyhow::Result<Scan> {
    let mut scan = Scan::default();
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let mut buf = Vec::with_capacity(BLOCK + carry.len());
        buf.append(&mut carry);
        // read_to_end fills without zeroing the buffer first.
        let want = BLOCK.saturating_sub(buf.len()).max(64 * 1024);
        let got = (&mut input)
            .take(want as u64)
            .read_to_end(&mut buf)
            .code(Code::Io, "reading the log")?;
        let eof = got < want;
        let Some(last_nl) = memchr::memrchr(b'\n', &buf) else {
            if eof {
                scan.torn_len = buf.len() as u64;
                return Ok(scan);
            }
            if buf.len() > MAX_STORED_LINE {
                return Err(fail(
                    Code::Failed,
                    format!("record {}: longer than {MAX_STORED_LINE} bytes", scan.lines),
                ));
            }
            carry = buf;
            continue;
        };
        carry = buf.get(last_nl + 1..).unwrap_or_default().to_vec();
        buf.truncate(last_nl + 1);
        let first = scan.lines;
        scan.lines += memchr::memchr_iter(b'\n', &buf).count() as u64;
        scan.complete_len += buf.len() as u64;
        visit(first, buf)?;
        if eof {
            scan.torn_len = carry.len() as u64;
            return Ok(scan);
        }
    }
}

/// The lines of a block from [`read_blocks`], without their `\n`.
pub fn block_lines(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', block).map(move |nl| {
        let line = block.get(start..nl).unwrap_or_default();
        start = nl + 1;
        line
    })
}

/// The last line of a block from [`read_blocks`], without its `\n`.
fn last_line(block: &[u8]) -> Option<&[u8]> {
    let body = block.strip_suffix(b"\n")?;
    Some(match memchr::memrchr(b'\n', body) {
        Some(nl) => body.get(nl + 1..).unwrap_or_default(),
        None => body,
    })
}

/// Feed every complete line of `input` (without its `\n`) to `visit` with
/// its index.
pub fn read_lines(
    input: impl Read,
    mut visit: impl FnMut(u64, &[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<Scan> {
    read_blocks(input, |first, block| {
        for (i, line) in block_lines(&block).enumerate() {
            visit(first + i as u64, line)?;
        }
        Ok(())
    })
}

/// Open the log in `dir` for reading. No log there (a typo'd directory)
/// is a usage error: exit 2, never "nothing recorded".
pub fn open_read(dir: &Path) -> anyhow::Result<File> {
    let path = log_path(dir);
    if !exists(&path) {
        return Err(no_log(dir));
    }
    crate::fsutil::input::open_regular(&path, "log")
}

fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

fn no_log(dir: &Path) -> anyhow::Error {
    fail(
        Code::Usage,
        format!("{}: no log here (no {LOG_FILE})", dir.display()),
    )
}

/// Does `dir` hold a log file or checkpoints (anything to verify)?
pub fn holds_log(dir: &Path) -> bool {
    exists(&log_path(dir)) || exists(&dir.join(super::checkpoint::DIR))
}

/// The name and source the log's first session was received under (its
/// first record, a `start`), if it has one.
pub fn first_session(dir: &Path) -> anyhow::Result<Option<(String, Option<String>)>> {
    let path = log_path(dir);
    if !exists(&path) {
        return Ok(None);
    }
    let f = crate::fsutil::input::open_regular(&path, "log")?;
    let mut first = Vec::new();
    (&f).take(MAX_STORED_LINE as u64)
        .read_to_end(&mut first)
        .with_code(Code::Io, || format!("reading {}", path.display()))?;
    let Some(line) = first
        .split(|&b| b == b'\n')
        .next()
        .filter(|_| first.contains(&b'\n'))
    else {
        return Ok(None);
    };
    Ok(Record::parse(line)
        .ok()
        .filter(|r| r.kind == kind::START)
        .and_then(|r| {
            let name = r.name.map(|n| n.into_owned()).filter(|n| !n.is_empty())?;
            Some((name, r.src.map(|s| s.into_owned())))
        }))
}

/// Stream the lines of the log in `dir`.
pub fn scan_log(
    dir: &Path,
    visit: impl FnMut(u64, &[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<Scan> {
    read_lines(open_read(dir)?, visit)
}

/// The tree over the complete records of the log in `dir`, read without
/// the writer's lock (a torn tail is left out).
pub fn tree(dir: &Path) -> anyhow::Result<Frontier> {
    let mut frontier = Frontier::default();
    read_blocks(open_read(dir)?, |_, block| {
        frontier.extend_lines(block_lines(&block));
        Ok(())
    })?;
    Ok(frontier)
}

/// The seq a stored line starts with (`{"seq":N,`: every record's first
/// field), if it does.
fn seq_prefix(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if rest.get(digits) != Some(&b',') {
        return None;
    }
    std::str::from_utf8(rest.get(..digits)?).ok()?.parse().ok()
}

/// The first line starting at or after byte `pos` of `f` (`len` bytes):
/// its offset and seq; `None` past the last complete line.
fn line_from(f: &File, pos: u64, len: u64) -> anyhow::Result<Option<(u64, u64)>> {
    use std::os::unix::fs::FileExt;
    let mut start = pos;
    let mut buf = vec![0u8; 4096];
    if pos > 0 {
        // The line start is after the first newline at or after pos - 1.
        let mut at = pos - 1;
        loop {
            if at >= len || at - (pos - 1) > MAX_STORED_LINE as u64 {
                return Ok(None);
            }
            let n = f.read_at(&mut buf, at).code(Code::Io, "reading the log")?;
            if n == 0 {
                return Ok(None);
            }
            if let Some(i) = memchr::memchr(b'\n', buf.get(..n).unwrap_or_default()) {
                start = at + i as u64 + 1;
                break;
            }
            at += n as u64;
        }
    }
    if start >= len {
        return Ok(None);
    }
    let n = f
        .read_at(&mut buf, start)
        .code(Code::Io, "reading the log")?;
    let head = buf.get(..n).unwrap_or_default();
    match seq_prefix(head) {
        Some(seq) => Ok(Some((start, seq))),
        None => Err(fail(
            Code::Failed,
            format!("the record at byte {start} of the log does not start with its seq"),
        )),
    }
}

/// The byte offset of record `seq` in the log in `dir`, found without
/// reading the log: a binary search on the seq every record starts with
/// (a record's seq is its index; `verify` checks it). Whoever reads from
/// there checks what it reads against a signed root.
pub fn offset_of(dir: &Path, seq: u64) -> anyhow::Result<u64> {
    if seq == 0 {
        return Ok(0);
    }
    let f = open_read(dir)?;
    let len = f.metadata().code(Code::Io, "reading the log")?.len();
    // The first byte position whose next line has a seq >= `seq`.
    let (mut lo, mut hi) = (0u64, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match line_from(&f, mid, len)? {
            Some((_, s)) if s >= seq => hi = mid,
            Some(_) => lo = mid + 1,
            None => hi = mid,
        }
    }
    match line_from(&f, lo, len)? {
        Some((at, s)) if s == seq => Ok(at),
        _ => Err(fail(
            Code::Failed,
            format!("{}: no record {seq}", log_path(dir).display()),
        )),
    }
}

/// An open, locked log positioned at its end.
pub struct Log {
    pub file: File,
    pub frontier: Frontier,
    pub next_seq: u64,
    /// The newest record time, so a clock stepping back cannot make the
    /// log's times go backwards.
    pub last_micros: u64,
    pub dir: PathBuf,
}

impl Log {
    /// Open (creating) and lock the log; rebuild the tree; recover a torn
    /// tail left by a crash into `recovered` records. A second writer waits
    /// for the lock.
    pub fn open(dir: &Path) -> anyhow::Result<Log> {
        std::fs::create_dir_all(dir)
            .with_code(Code::Io, || format!("creating {}", dir.display()))?;
        Log::open_with(dir, true)
    }

    /// Open and lock a log that must already exist (`seal`: a typo'd
    /// directory must not become an empty log sealed with exit 0).
    pub fn open_existing(dir: &Path) -> anyhow::Result<Log> {
        if !exists(&log_path(dir)) {
            return Err(no_log(dir).context("refusing to seal"));
        }
        Log::open_with(dir, false)
    }

    fn open_with(dir: &Path, create: bool) -> anyhow::Result<Log> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = log_path(dir);
        // O_NONBLOCK: a FIFO planted as the log must not block the open.
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(create)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .with_code(Code::Io, || format!("opening {}", path.display()))?;
        let meta = file
            .metadata()
            .with_code(Code::Io, || format!("opening {}", path.display()))?;
        if !meta.is_file() {
            return Err(fail(
                Code::Usage,
                format!("log {}: not a regular file: refused", path.display()),
            ));
        }
        file.lock()
            .with_code(Code::Io, || format!("locking {}", path.display()))?;
        file.seek(SeekFrom::Start(0))
            .with_code(Code::Io, || "seeking the log")?;
        let mut frontier = Frontier::default();
        let mut last = Vec::new();
        let scan = read_blocks(&mut file, |_, block| {
            frontier.extend_lines(block_lines(&block));
            if let Some(line) = last_line(&block) {
                last.clear();
                last.extend_from_slice(line);
            }
            Ok(())
        })?;
        let last_micros = if last.is_empty() {
            0
        } else {
            let r = Record::parse(&last).map_err(|e| {
                e.context(format!(
                    "{}: record {} (the last one)",
                    path.display(),
                    scan.lines - 1
                ))
            })?;
            parse_time(&r.t).unwrap_or(0)
        };
        let mut log = Log {
            file,
            next_seq: frontier.size(),
            frontier,
            last_micros,
            dir: dir.to_path_buf(),
        };
        if scan.torn_len > 0 {
            log.recover(scan)?;
        }
        Ok(log)
    }

    /// Keep the bytes after the last newline in `recovered` records: they
    /// are what an interrupted writer left, never silently dropped.
    fn recover(&mut self, scan: Scan) -> anyhow::Result<()> {
        let mut torn = Vec::with_capacity(scan.torn_len as usize);
        self.file
            .seek(SeekFrom::Start(scan.complete_len))
            .with_code(Code::Io, || "seeking the torn tail")?;
        (&mut self.file)
            .take(scan.torn_len)
            .read_to_end(&mut torn)
            .with_code(Code::Io, || "reading the torn tail")?;
        let mut out = Vec::new();
        let pieces = torn.len().div_ceil(RECOVER_PIECE);
        for (i, piece) in torn.chunks(RECOVER_PIECE).enumerate() {
            let mut r = self.record(kind::RECOVERED);
            r.b64 = Some(
                base64::engine::general_purpose::STANDARD
                    .encode(piece)
                    .into(),
            );
            r.reason = Some(
                format!(
                    "{} bytes of an incomplete record left by an interrupted writer at byte {} (piece {} of {pieces})",
                    torn.len(),
                    scan.complete_len,
                    i + 1
                )
                .into(),
            );
            r.cont = i > 0;
            self.append(&r, &mut out);
        }
        // Built first, so the torn bytes are replaced by their record in
        // two adjacent system calls.
        self.file
            .set_len(scan.complete_len)
            .with_code(Code::Io, || "truncating the torn tail")?;
        self.write(&out)?;
        self.sync()
    }

    /// The time for a new record: now, but never before the last record.
    pub fn stamp(&mut self) -> u64 {
        self.last_micros = now_micros().max(self.last_micros);
        self.last_micros
    }

    /// A new record of `kind` with the next seq and the time.
    pub fn record(&mut self, kind: &str) -> Record<'static> {
        Record {
            seq: self.next_seq,
            t: Cow::Owned(format_time(self.stamp())),
            kind: Cow::Owned(kind.to_string()),
            ..Record::default()
        }
    }

    /// `buf[start..]` is the next record line: add it to the tree and end
    /// it with `\n`.
    pub fn commit_encoded(&mut self, buf: &mut Vec<u8>, start: usize) {
        self.frontier
            .push_leaf(buf.get(start..).unwrap_or_default());
        self.commit_unhashed(buf);
    }

    /// End the next record line in `buf`; the caller adds it to the tree
    /// (the receiver hashes on another thread).
    pub fn commit_unhashed(&mut self, buf: &mut Vec<u8>) {
        buf.push(b'\n');
        self.next_seq += 1;
    }

    /// Serialize `r` as the next line into `buf` and add it to the tree.
    pub fn append(&mut self, r: &Record, buf: &mut Vec<u8>) {
        let start = buf.len();
        buf.extend_from_slice(&r.to_line());
        self.commit_encoded(buf, start);
    }

    pub fn write(&mut self, buf: &[u8]) -> anyhow::Result<()> {
        self.file.write_all(buf).with_code(Code::Io, || {
            format!("appending to {}", log_path(&self.dir).display())
        })
    }

    pub fn sync(&mut self) -> anyhow::Result<()> {
        self.file.sync_data().with_code(Code::Io, || {
            format!("syncing {}", log_path(&self.dir).display())
        })
    }

    /// Append one record now, durably.
    pub fn append_now(&mut self, r: &Record) -> anyhow::Result<()> {
        let mut buf = Vec::new();
        self.append(r, &mut buf);
        self.write(&buf)?;
        self.sync()
    }

    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    pub fn root_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.root())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_of_records_by_binary_search() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = Vec::new();
        let mut offsets = Vec::new();
        for i in 0..3000u64 {
            offsets.push(text.len() as u64);
            let pad = "y".repeat((i * 37 % 900) as usize);
            text.extend_from_slice(
                format!("{{\"seq\":{i},\"t\":\"x\",\"data\":\"{pad}\"}}\n").as_bytes(),
            );
        }
        text.extend_from_slice(b"{\"seq\":3000,\"torn");
        std::fs::write(log_path(dir.path()), &text).unwrap();
        for i in [0u64, 1, 2, 17, 999, 1000, 2998, 2999] {
            assert_eq!(
                offset_of(dir.path(), i).unwrap(),
                offsets[i as usize],
                "{i}"
            );
        }
        assert!(offset_of(dir.path(), 5000).is_err());
    }

    #[test]
    fn read_lines_across_buffer_boundaries() {
        let mut input = Vec::new();
        for i in 0..5000 {
            input.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, i % 700));
            input.push(b'\n');
        }
        input.extend_from_slice(b"torn");
        // A reader returning odd sizes.
        struct Odd<'a>(&'a [u8], usize);
        impl Read for Odd<'_> {
            fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
                self.1 += 1;
                let n = (self.1 * 7919 % 65_536).min(b.len()).min(self.0.len());
                b[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut got = Vec::new();
        let scan = read_lines(Odd(&input, 0), |i, l| {
            assert_eq!(i as usize, got.len());
            got.push(l.len());
            Ok(())
        })
        .unwrap();
        assert_eq!(got, (0..5000).map(|i| i % 700).collect::<Vec<_>>());
        assert_eq!(scan.torn_len, 4);
        assert_eq!(scan.complete_len as usize, input.len() - 4);
    }
}
