//! The log directory, and the one place that knows its layout:
//! `log.jsonl` (append-only, one writer at a time) and `checkpoints/`,
//! where checkpoint `N` is `checkpoints/N`, a C2SP signed note (the body,
//! then any Ed25519 note signature and witness cosignature lines after a
//! blank line), with `checkpoints/N.asc`, the detached OpenPGP signature
//! over the note's text, which added cosignatures leave intact. Opening
//! for writing locks the log file, rebuilds the Merkle frontier in one
//! streaming pass and recovers a torn tail; readers stream the lines with
//! flat memory.

use super::checkpoint::{parse_note, Checkpoint};
use super::merkle::{Frontier, Hash};
use super::note::Note;
use super::record::{kind, Record};
use crate::exit::{fail, Code, ResultExt};
use crate::time::{format_rfc3339_micros, now_micros, parse_rfc3339_micros};
use base64::Engine as _;
use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const LOG_FILE: &str = "log.jsonl";

/// The directory of a log's checkpoints.
const CHECKPOINTS: &str = "checkpoints";

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
    exists(&log_path(dir)) || exists(&dir.join(CHECKPOINTS))
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

/// A checkpoint body or signature is a few hundred bytes, a note with a
/// hundred cosignatures some 10 KiB; these files are read before any
/// signature is checked, so anything larger is refused.
pub const MAX_CHECKPOINT_FILE: u64 = 64 * 1024;

/// A checkpoint as a log stores it.
#[derive(Clone, Debug)]
pub struct Stored {
    pub note: Note,
    pub checkpoint: Checkpoint,
    /// The detached OpenPGP signature over `note.text`.
    pub signature: Vec<u8>,
}

/// Read a checkpoint body or signature file, bounded (larger: exit 1); a
/// missing file or one not regular is exit 2.
fn read_checkpoint_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    crate::fsutil::input::read_regular(path, "checkpoint file", MAX_CHECKPOINT_FILE, Code::Failed)
}

/// Read and parse a checkpoint file (a note: its text is the body), in a
/// log or handed over on its own.
pub fn read_checkpoint_file(path: &Path) -> anyhow::Result<(Note, Checkpoint)> {
    parse_note(&read_checkpoint_bytes(path)?).map_err(|e| e.context(path.display().to_string()))
}

/// Read a checkpoint file and its detached signature `FILE.asc`. A
/// missing signature is exit `missing`: 1 inside a sealed log (it was
/// removed), 3 for a checkpoint handed to `verify-proof` (nothing to
/// verify it with).
pub fn read_signed_checkpoint_file(body: &Path, missing: Code) -> anyhow::Result<Stored> {
    let mut asc = body.as_os_str().to_owned();
    asc.push(".asc");
    let asc = PathBuf::from(asc);
    let (note, checkpoint) = read_checkpoint_file(body)?;
    match std::fs::symlink_metadata(&asc) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(fail(
            missing,
            format!(
                "checkpoint {} has no signature {}",
                body.display(),
                asc.display()
            ),
        )),
        _ => Ok(Stored {
            note,
            checkpoint,
            signature: read_checkpoint_bytes(&asc)?,
        }),
    }
}

/// `checkpoints/<size>` of the log in `dir`.
fn checkpoint_path(dir: &Path, size: u64) -> PathBuf {
    dir.join(CHECKPOINTS).join(size.to_string())
}

/// Checkpoint `size` of the log in `dir`, with its signature (a missing
/// one is exit 1: it was removed).
pub fn read_checkpoint(dir: &Path, size: u64) -> anyhow::Result<Stored> {
    read_signed_checkpoint_file(&checkpoint_path(dir, size), Code::Failed)
}

/// The bytes of checkpoint `size` of the log in `dir` as stored (what an
/// attestation names as a material), bounded as every checkpoint read.
pub fn checkpoint_bytes(dir: &Path, size: u64) -> anyhow::Result<Vec<u8>> {
    read_checkpoint_bytes(&checkpoint_path(dir, size))
}

/// The note of checkpoint `size` of the log in `dir` as stored, byte for
/// byte (a published log serves it so), with the checkpoint in it.
pub fn checkpoint_note_bytes(dir: &Path, size: u64) -> anyhow::Result<(Vec<u8>, Note, Checkpoint)> {
    let path = checkpoint_path(dir, size);
    let bytes = read_checkpoint_bytes(&path)?;
    let (note, cp) = parse_note(&bytes).map_err(|e| e.context(path.display().to_string()))?;
    Ok((bytes, note, cp))
}

/// The body of checkpoint `size` of the log in `dir`, its signature not
/// read.
pub fn checkpoint_body(dir: &Path, size: u64) -> anyhow::Result<Checkpoint> {
    Ok(read_checkpoint_file(&checkpoint_path(dir, size))?.1)
}

/// Every sealed size of the log in `dir`, from the checkpoint file
/// names, ascending.
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
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        // Only canonical decimal names: `007` is not checkpoint 7.
        if let Some(n) = name.parse::<u64>().ok().filter(|n| n.to_string() == name) {
            sizes.push(n);
        }
    }
    sizes.sort_unstable();
    Ok(sizes)
}

/// The newest checkpoint's size, if the log was ever sealed.
pub fn last_checkpoint_size(dir: &Path) -> anyhow::Result<Option<u64>> {
    Ok(checkpoint_sizes(dir)?.last().copied())
}

/// Every name in the log's checkpoint directory, sorted (empty when
/// unreadable): to notice a concurrent seal.
pub fn checkpoint_names(dir: &Path) -> Vec<std::ffi::OsString> {
    let mut names: Vec<_> = std::fs::read_dir(dir.join(CHECKPOINTS))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// The leaf hashes of the records checkpoint `size` added since the one
/// before it: `checkpoints/<size>.leaves`, 32 bytes a record. Not trusted
/// by itself: only hashes that, with the tree before them, give the
/// signed root are (see [`read_sealed_leaves`]); they let `verify` name
/// the first record changed since it was sealed, where a root mismatch
/// alone only names the range.
fn leaves_path(dir: &Path, size: u64) -> PathBuf {
    dir.join(CHECKPOINTS).join(format!("{size}.leaves"))
}

/// The leaf hashes of records `from..to` of the log in `dir`, read from
/// the log (`to - from` of them, or an error).
pub fn leaf_hashes(dir: &Path, from: u64, to: u64) -> anyhow::Result<Vec<Hash>> {
    let mut out = Vec::new();
    scan_log(dir, |seq, line| {
        if (from..to).contains(&seq) {
            out.push(super::merkle::leaf_hash(line));
        }
        Ok(())
    })?;
    if out.len() as u64 != to - from {
        return Err(fail(
            Code::Io,
            format!("the log holds {} of records {from}..{to}", out.len()),
        ));
    }
    Ok(out)
}

/// Store the leaf hashes checkpoint `size` seals (written before the
/// checkpoint, so a checkpoint is never without them).
pub fn write_sealed_leaves(dir: &Path, size: u64, leaves: &[Hash]) -> anyhow::Result<()> {
    let path = leaves_path(dir, size);
    let parent = crate::fsutil::parent_dir(&path);
    std::fs::create_dir_all(parent)
        .with_code(Code::Io, || format!("creating {}", parent.display()))?;
    write_public(&path, &leaves.concat())
}

/// The leaf hashes checkpoint `size` sealed after `before` (the tree of
/// the records before them), when stored and authentic: they extend
/// `before` to `root`. `None` when missing (a log sealed before they were
/// kept), of the wrong size, or not what the signed root says.
pub fn read_sealed_leaves(
    dir: &Path,
    size: u64,
    before: &Frontier,
    root: &Hash,
) -> Option<Vec<Hash>> {
    let n = size.checked_sub(before.size())?;
    let want = n.checked_mul(32)?;
    let bytes =
        crate::fsutil::read_regular(&leaves_path(dir, size), "leaves", want, Code::Failed).ok()?;
    if bytes.len() as u64 != want {
        return None;
    }
    let leaves: Vec<Hash> = bytes
        .chunks_exact(32)
        .filter_map(|c| c.try_into().ok())
        .collect();
    let mut tree = before.clone();
    tree.extend_hashes(&leaves);
    (tree.root() == *root).then_some(leaves)
}

/// Checkpoint files are read by whoever reads the log: the same mode as
/// the log file (the umask's), not a temporary file's 0600.
fn write_public(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    crate::fsutil::write_atomic_public(path, bytes)
}

/// Store checkpoint `size` of the log in `dir`: its detached signature
/// first (a checkpoint file without one would read as forged), then the
/// note, each replaced atomically.
pub fn write_checkpoint(
    dir: &Path,
    size: u64,
    signature: &[u8],
    note: &Note,
) -> anyhow::Result<()> {
    let body = checkpoint_path(dir, size);
    let parent = crate::fsutil::parent_dir(&body);
    std::fs::create_dir_all(parent)
        .with_code(Code::Io, || format!("creating {}", parent.display()))?;
    let mut asc = body.as_os_str().to_owned();
    asc.push(".asc");
    write_public(Path::new(&asc), signature)?;
    write_public(&body, note.encode().as_bytes())
}

/// Replace the note of checkpoint `size` (cosignature lines added; the
/// text, and so its signature, unchanged).
pub fn rewrite_checkpoint_note(dir: &Path, size: u64, note: &Note) -> anyhow::Result<()> {
    write_public(&checkpoint_path(dir, size), note.encode().as_bytes())
}

/// An exclusive lock on the log's checkpoint directory, held until the
/// file is dropped; no such directory is exit 2 (never sealed), as is
/// anything else under its name (a FIFO is refused, never opened in a way
/// that waits for a writer).
pub fn lock_checkpoints(dir: &Path) -> anyhow::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let cps = dir.join(CHECKPOINTS);
    let lock = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NONBLOCK)
        .open(&cps)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                fail(Code::Usage, format!("{}: no checkpoints", dir.display()))
            }
            std::io::ErrorKind::NotADirectory => fail(
                Code::Usage,
                format!("{}: not a directory: refused", cps.display()),
            ),
            _ => anyhow::Error::new(e).context(crate::exit::Failure::new(
                Code::Io,
                format!("opening {}", cps.display()),
            )),
        })?;
    lock.lock()
        .with_code(Code::Io, || format!("locking {}", cps.display()))?;
    Ok(lock)
}

/// The origin for a new checkpoint: `given` (`--origin`), else
/// [`origin_for`] the log.
pub fn origin(
    given: Option<&str>,
    dir: &Path,
    session: Option<(&str, Option<&str>)>,
) -> anyhow::Result<String> {
    match given {
        Some(o) => Ok(o.to_string()),
        None => origin_for(dir, session),
    }
}

/// The origin for a new checkpoint: the one the log already uses (so
/// moving the directory changes nothing), else one unique per log:
/// `build-verify.sign-log/[SRC/]NAME`, with the log's name (receive's
/// --name, else the name its first session was received under, else the
/// directory's) and its source when known (two build VMs' logs of one
/// component must not share an origin: to a witness or a gate, one origin
/// with two trees is a fork).
pub fn origin_for(dir: &Path, session: Option<(&str, Option<&str>)>) -> anyhow::Result<String> {
    if let Some(last) = last_checkpoint_size(dir)? {
        return Ok(checkpoint_body(dir, last)?.origin);
    }
    let (name, src) = match session {
        Some((n, s)) => (n.to_string(), s.map(str::to_string)),
        None => match first_session(dir)? {
            Some(found) => found,
            None => (
                dir.canonicalize()
                    .ok()
                    .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .unwrap_or_else(|| "log".into()),
                None,
            ),
        },
    };
    Ok(match src.filter(|s| !s.is_empty()) {
        Some(src) => format!("build-verify.sign-log/{src}/{name}"),
        None => format!("build-verify.sign-log/{name}"),
    })
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
        crate::fsutil::create_dir_all(dir, "log directory")?;
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
        let path = log_path(dir);
        // The special-file rule: a FIFO planted as the log is refused.
        let mut file = crate::fsutil::open_checked(
            OpenOptions::new().read(true).append(true).create(create),
            &path,
        )
        .map_err(|e| crate::fsutil::refused_or_io(e, "log", &path))?;
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
            parse_rfc3339_micros(&r.t).unwrap_or(0)
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
            t: Cow::Owned(format_rfc3339_micros(self.stamp())),
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
        super::merkle::to_b64(&self.root())
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
