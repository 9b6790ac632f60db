//! `sign-log receive`: every input line becomes a record, bracketed by
//! `start` and `end`, with bounded resources.
//!
//! Whatever one `read` returns is encoded and handed to the kernel with
//! one `write` before the next `read` (a second thread hashes the written
//! records into the tree), so a receiver killed at any moment loses nothing
//! it has read beyond the chunk in hand, and a build that goes quiet never
//! leaves lines in a user-space buffer.
//! All lines of one read share that read's time: they arrived together.

use super::merkle::{leaf_hashes, Frontier, Hash};
use super::record::{encoded_data_len, kind, LineEncoder, MAX_RECORD};
use super::store::Log;
use crate::exit::{fail, Code};
use crate::fsutil::BackgroundSync;
use crate::time::format_rfc3339_micros;
use std::io::Read;
use std::sync::mpsc;
use std::time::Duration;

/// When appended records reach the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncMode {
    /// fdatasync after each read from the input, before reading more.
    Always,
    /// fdatasync in the background at least every second and every
    /// 100,000 records; once more at the end.
    Batch,
    /// fdatasync once, at the end of the session.
    End,
}

#[derive(Clone, Debug)]
pub struct Options {
    /// The log name, in the `start` record.
    pub name: String,
    /// Who sends (the qrexec domain or --source), in every record.
    pub source: Option<String>,
    pub sync: SyncMode,
    pub max_bytes: u64,
    pub max_records: u64,
    pub max_line: u64,
    /// Lines longer than this are split into continuation records.
    pub record_size: usize,
}

/// Lines longer than this are stored as continuation records.
pub const RECORD_SIZE: usize = 16 * 1024;

/// Who is sending: the qrexec domain when the transport names one
/// (`QREXEC_REMOTE_DOMAIN`), else what the receiver was told
/// (`--source`); never what the stream says.
pub fn source(given: Option<String>) -> Option<String> {
    std::env::var("QREXEC_REMOTE_DOMAIN")
        .ok()
        .filter(|s| !s.is_empty())
        .or(given)
}

/// The log's name: the one given, else the log directory's name.
pub fn log_name(given: Option<String>, dir: &std::path::Path) -> String {
    given.unwrap_or_else(|| {
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    })
}

/// How a session ended, and the tree after it.
#[derive(Clone, Debug)]
pub struct Received {
    pub size: u64,
    pub root: String,
    /// eof, error or cap.
    pub reason: &'static str,
    /// Ok, Failed (cap) or Io (input error).
    pub code: Code,
    /// Why the session ended, when it was not the end of the input, for
    /// the front end to show.
    pub notes: Vec<String>,
}

/// The least room for a line's bytes in a record (a source name longer
/// than some 60 KiB leaves less, and is refused).
const MIN_DATA: usize = 4096;

pub const BATCH_RECORDS: u64 = 100_000;
pub const BATCH_TIME: Duration = Duration::from_secs(1);
const READ_SIZE: usize = 256 * 1024;

/// One session's line state.
struct Session<'a> {
    log: &'a mut Log,
    opts: &'a Options,
    enc: LineEncoder,
    /// Encoded records of the current chunk, written with one call.
    out: Chunk,
    /// The current chunk's time.
    t: String,
    /// The unfinished line (shorter than a record piece).
    carry: Vec<u8>,
    /// Pieces of the current line are already stored.
    in_line: bool,
    line_len: u64,
    records: u64,
    /// Records already reported to the syncer.
    reported: u64,
    /// The longest `data` (escaped) or `b64` a record may hold.
    max_data: usize,
    cap: Option<String>,
}

impl Session<'_> {
    fn records_full(&self) -> bool {
        self.records >= self.opts.max_records
    }

    /// Encode one record; the hashing thread adds it to the tree.
    fn emit(&mut self, bytes: &[u8], cont: bool, noeol: bool) {
        self.enc.encode_line(
            &mut self.out.bytes,
            self.log.next_seq,
            &self.t,
            bytes,
            cont,
            noeol,
        );
        self.log.commit_unhashed(&mut self.out.bytes);
        self.out.ends.push(self.out.bytes.len());
        self.records += 1;
    }

    fn record_size(&self) -> usize {
        self.opts.record_size.max(4)
    }

    /// At most `size` (>= 4) bytes of `s`, not splitting a UTF-8
    /// character that straddles the limit.
    fn cut(s: &[u8], size: usize) -> usize {
        if s.len() <= size {
            return s.len();
        }
        let is_cont = |i: usize| s.get(i).is_some_and(|&b| b & 0xc0 == 0x80);
        let mut n = size;
        while n > size - 3 && is_cont(n) {
            n -= 1;
        }
        if is_cont(n) {
            size
        } else {
            n
        }
    }

    /// Bytes of the next piece of `s`: at most a record's worth of input,
    /// and few enough that the record stays within [`MAX_RECORD`] once
    /// escaped (a control byte takes six, `\u00XX`).
    fn piece_len(&self, s: &[u8]) -> usize {
        let fits = |n: usize| encoded_data_len(s.get(..n).unwrap_or_default()) <= self.max_data;
        let n = Session::cut(s, self.record_size());
        if n.saturating_mul(6) <= self.max_data || fits(n) {
            return n;
        }
        // The longest cut that fits: `lo` fits, `hi` does not.
        let (mut lo, mut hi) = (Session::cut(s, (self.max_data / 6).max(4)), n);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let m = Session::cut(s, mid);
            if m > lo && fits(m) {
                lo = m;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Store all but the last record piece of `s`; return what is left. At
    /// the end of the line (`end`) that piece fits one record; before it,
    /// it is at most a record's worth of input, which more may follow.
    fn emit_pieces<'s>(&mut self, mut s: &'s [u8], end: bool) -> &'s [u8] {
        while !self.records_full() && (end || s.len() > self.record_size()) {
            let n = self.piece_len(s);
            if n >= s.len() {
                break;
            }
            let (piece, rest) = s.split_at(n);
            self.emit(piece, self.in_line, false);
            self.in_line = true;
            s = rest;
        }
        s
    }

    /// The rest of a line, and its end (`noeol`: the input ended instead).
    fn end_line(&mut self, head: &[u8], noeol: bool) {
        let mut line = std::mem::take(&mut self.carry);
        let whole: &[u8] = if line.is_empty() {
            head
        } else {
            line.extend_from_slice(head);
            &line
        };
        let last = self.emit_pieces(whole, true);
        if !self.records_full() {
            self.emit(last, self.in_line, noeol);
        }
        line.clear();
        self.carry = line;
        self.in_line = false;
        self.line_len = 0;
    }

    /// How many of `add` more bytes of the current line fit --max-line;
    /// sets the cap when not all do.
    fn fits(&mut self, add: usize) -> usize {
        let room = self.opts.max_line.saturating_sub(self.line_len);
        if add as u64 > room {
            self.line_len = self.opts.max_line;
            self.cap = Some(format!(
                "a line longer than {} bytes (--max-line)",
                self.opts.max_line
            ));
            return room as usize;
        }
        self.line_len += add as u64;
        add
    }

    fn feed(&mut self, mut data: &[u8]) {
        while self.cap.is_none() && !self.records_full() {
            let (head, rest) = match memchr::memchr(b'\n', data) {
                Some(i) => (data.get(..i).unwrap_or_default(), data.get(i + 1..)),
                None => (data, None),
            };
            let fit = self.fits(head.len());
            if fit < head.len() {
                // What fits is kept as the line's last piece (flush_carry).
                self.carry
                    .extend_from_slice(head.get(..fit).unwrap_or_default());
                return;
            }
            match rest {
                Some(rest) => {
                    self.end_line(head, false);
                    data = rest;
                }
                None => {
                    let mut carry = std::mem::take(&mut self.carry);
                    carry.extend_from_slice(head);
                    let used = carry.len() - self.emit_pieces(&carry, false).len();
                    carry.drain(..used);
                    self.carry = carry;
                    return;
                }
            }
        }
    }

    /// Whatever is left of an unfinished line, as its last piece.
    fn flush_carry(&mut self) {
        if !self.carry.is_empty() {
            self.end_line(&[], true);
        }
    }
}

/// Receive `input` into `log` until EOF, an input error or a cap. The
/// session is always closed with an `end` record saying which, and synced.
pub fn receive(log: &mut Log, mut input: impl Read, opts: &Options) -> anyhow::Result<Received> {
    let mut start = log.record(kind::START);
    start.name = Some(opts.name.clone().into());
    start.src = opts.source.clone().map(Into::into);
    // Every record must fit a published entry (MAX_RECORD): the name and
    // source are in records, and must leave room for the lines.
    let max_data =
        MAX_RECORD.saturating_sub(LineEncoder::new(opts.source.as_deref()).max_overhead());
    if start.to_line().len() > MAX_RECORD || max_data < MIN_DATA {
        return Err(fail(
            Code::Usage,
            format!("the log name and source take too much of a record ({MAX_RECORD} bytes at most): give shorter ones"),
        ));
    }
    log.append_now(&start)?;

    let syncer = BackgroundSync::new(BATCH_RECORDS, BATCH_TIME);
    let file = log
        .file
        .try_clone()
        .map_err(|e| fail(Code::Io, format!("duplicating the log's descriptor: {e}")))?;
    let (reason, detail, code) = std::thread::scope(|scope| {
        if opts.sync == SyncMode::Batch {
            scope.spawn(|| syncer.run(&file));
        }
        let r = session(log, &mut input, opts, &syncer, max_data);
        syncer.stop();
        r
    })?;

    let mut end = log.record(kind::END);
    end.reason = Some(match &detail {
        Some(d) => format!("{reason}: {d}").into(),
        None => reason.into(),
    });
    log.append_now(&end)?;
    Ok(Received {
        size: log.next_seq,
        root: log.root_b64(),
        reason,
        code,
        notes: detail
            .iter()
            .map(|d| format!("session ended ({reason}): {d}"))
            .collect(),
    })
}

type Ending = (&'static str, Option<String>, Code);

/// Chunks of encoded records in flight to the hashing thread; bounds the
/// memory the pipeline may hold.
const IN_FLIGHT: usize = 4;

/// A chunk of encoded records, and their leaf hashes when the encoding
/// thread computed them.
struct Chunk {
    bytes: Vec<u8>,
    /// Where each record ends (after its `\n`): the hashing thread needs
    /// no scan for the lines.
    ends: Vec<usize>,
    leaves: Vec<Hash>,
}

impl Chunk {
    fn new() -> Chunk {
        Chunk {
            bytes: Vec::with_capacity(2 * READ_SIZE),
            ends: Vec::new(),
            leaves: Vec::new(),
        }
    }

    /// The record lines, without their `\n`.
    fn lines<'a>(bytes: &'a [u8], ends: &'a [usize]) -> impl Iterator<Item = &'a [u8]> {
        let mut start = 0;
        ends.iter().map(move |&end| {
            let line = bytes.get(start..end.saturating_sub(1)).unwrap_or_default();
            start = end;
            line
        })
    }

    fn hash_leaves(&mut self) {
        let lines: Vec<&[u8]> = Chunk::lines(&self.bytes, &self.ends).collect();
        self.leaves.clear();
        leaf_hashes(&lines, &mut self.leaves);
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.leaves.clear();
    }
}

/// The tree side of the pipeline: every record line of each written chunk
/// becomes a leaf, in order, and the tree grows by them: the five SHA-256
/// compressions a record costs (three for its leaf, two for its share of
/// interior nodes), a batch at a time on the SIMD lanes. When this thread
/// falls behind, the encoding thread hashes a chunk's leaves itself. Spent
/// chunks go back for reuse. Returns the tree when the channel closes.
fn grow_tree(
    chunks: mpsc::Receiver<Chunk>,
    spent: mpsc::Sender<Chunk>,
    mut tree: Frontier,
) -> Frontier {
    for mut chunk in chunks {
        if chunk.leaves.len() == chunk.ends.len() {
            tree.extend_hashes(&chunk.leaves);
        } else {
            tree.extend_lines(Chunk::lines(&chunk.bytes, &chunk.ends));
        }
        chunk.clear();
        // The encoder may be gone already (it finished or failed).
        let _ = spent.send(chunk);
    }
    tree
}

fn session(
    log: &mut Log,
    input: &mut impl Read,
    opts: &Options,
    syncer: &BackgroundSync,
    max_data: usize,
) -> anyhow::Result<Ending> {
    let (to_hasher, chunks) = mpsc::sync_channel::<Chunk>(IN_FLIGHT);
    let (spent_tx, spent) = mpsc::channel::<Chunk>();
    // The hashing thread owns the tree for the session; it is handed back
    // before anything else is appended.
    let tree = std::mem::take(&mut log.frontier);
    std::thread::scope(|scope| {
        let hasher = scope.spawn(move || grow_tree(chunks, spent_tx, tree));
        let mut s = Session {
            log: &mut *log,
            opts,
            enc: LineEncoder::new(opts.source.as_deref()),
            out: Chunk::new(),
            t: String::new(),
            carry: Vec::new(),
            in_line: false,
            line_len: 0,
            records: 0,
            reported: 0,
            max_data,
            cap: None,
        };
        let mut pipe = Pipe {
            to_hasher: Some(to_hasher),
            spent,
        };
        let r = read_loop(&mut s, input, opts, syncer, &mut pipe);
        // Closing the channel ends the hasher, which returns the tree.
        pipe.to_hasher = None;
        s.log.frontier = hasher
            .join()
            .map_err(|_| fail(Code::Io, "the hashing thread failed"))?;
        r
    })
}

struct Pipe {
    to_hasher: Option<mpsc::SyncSender<Chunk>>,
    /// Chunks the hasher is done with, for reuse.
    spent: mpsc::Receiver<Chunk>,
}

impl Pipe {
    /// Send the written chunk to be added to the tree; if the hashing
    /// thread is behind, hash its leaves here first (work sharing: both
    /// cores hash when hashing is the bottleneck).
    fn pass(&mut self, out: &mut Chunk) -> anyhow::Result<()> {
        let fresh = self.spent.try_recv().unwrap_or_else(|_| Chunk::new());
        let next = std::mem::replace(out, fresh);
        let stopped = || fail(Code::Io, "the hashing thread stopped");
        let to = self.to_hasher.as_ref().ok_or_else(stopped)?;
        match to.try_send(next) {
            Ok(()) => Ok(()),
            Err(mpsc::TrySendError::Full(mut chunk)) => {
                chunk.hash_leaves();
                to.send(chunk).map_err(|_| stopped())
            }
            Err(mpsc::TrySendError::Disconnected(_)) => Err(stopped()),
        }
    }
}

fn read_loop(
    s: &mut Session,
    input: &mut impl Read,
    opts: &Options,
    syncer: &BackgroundSync,
    pipe: &mut Pipe,
) -> anyhow::Result<Ending> {
    let mut chunk = vec![0u8; READ_SIZE];
    let mut total = 0u64;
    let ending = loop {
        let n = match input.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break ("error", Some(format!("reading input: {e}")), Code::Io),
        };
        s.t = format_rfc3339_micros(s.log.stamp());
        if n == 0 {
            s.flush_carry();
            break ("eof", None, Code::Ok);
        }
        let allowed = (n as u64).min(opts.max_bytes.saturating_sub(total)) as usize;
        total += allowed as u64;
        s.feed(chunk.get(..allowed).unwrap_or_default());
        if allowed < n && s.cap.is_none() {
            s.cap = Some(format!("more than {} bytes (--max-bytes)", opts.max_bytes));
        }
        if s.cap.is_none() && s.records_full() {
            s.cap = Some(format!("{} records (--max-records)", opts.max_records));
        }
        if s.cap.is_some() {
            break ("cap", s.cap.take(), Code::Failed);
        }
        flush(s, syncer, pipe)?;
    };
    if !s.records_full() {
        // Received within the caps: stored, never dropped.
        s.flush_carry();
    }
    flush(s, syncer, pipe)?;
    Ok(ending)
}

/// Hand the chunk's records to the kernel (and the disk, per --sync).
fn flush(s: &mut Session, syncer: &BackgroundSync, pipe: &mut Pipe) -> anyhow::Result<()> {
    if s.out.bytes.is_empty() {
        return Ok(());
    }
    s.log.write(&s.out.bytes)?;
    pipe.pass(&mut s.out)?;
    let records = s.records;
    match s.opts.sync {
        SyncMode::Always => s.log.sync(),
        SyncMode::Batch => {
            let new = records - std::mem::replace(&mut s.reported, records);
            syncer
                .written(new)
                .map_err(|e| fail(Code::Io, format!("syncing the log: {e}")))
        }
        SyncMode::End => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::record::Record;
    use crate::log::store::{scan_log, tree};
    use proptest::prelude::*;

    fn opts(record_size: usize) -> Options {
        Options {
            name: "t".into(),
            source: Some("vm".into()),
            sync: SyncMode::End,
            max_bytes: u64::MAX,
            max_records: u64::MAX,
            max_line: u64::MAX,
            record_size,
        }
    }

    /// Rebuild the input from the line records: pieces join until a
    /// record that is not a continuation starts a new line.
    fn rebuild(dir: &std::path::Path) -> Vec<u8> {
        let mut out = Vec::new();
        let mut open = false;
        scan_log(dir, |_, raw| {
            let r = Record::parse(raw)?;
            if r.kind == kind::LINE || r.kind == kind::DIRECTIVE {
                if open && !r.cont {
                    out.push(b'\n');
                }
                out.extend_from_slice(&r.bytes()?);
                open = !r.noeol;
            }
            Ok(())
        })
        .unwrap();
        if open {
            out.push(b'\n');
        }
        out
    }

    /// Reads of odd sizes, so lines straddle chunks.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(b.len()).min(self.0.len());
            b[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any bytes, any read sizes, any record size: the records give the
        /// input back exactly, and the tree is the one over the file.
        #[test]
        fn nothing_is_lost_or_rewritten(
            input in proptest::collection::vec(
                prop_oneof![Just(b'\n'), Just(0xc3u8), Just(0xa9u8), any::<u8>(), 0x20u8..0x7f],
                0..400,
            ),
            read in 1usize..50,
            record_size in 4usize..24,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut log = Log::open(dir.path()).unwrap();
            let r = receive(&mut log, Trickle(&input, read), &opts(record_size)).unwrap();
            drop(log);
            prop_assert_eq!(r.reason, "eof");
            let t = reference_tree(dir.path());
            prop_assert_eq!(r.size, t.size());
            prop_assert_eq!(r.root.clone(), b64(&t));
            prop_assert_eq!(rebuild(dir.path()), input);
        }
    }

    /// The tree over the file, one leaf at a time through sha2: the
    /// reference the batched, multi-buffer pipeline must equal.
    fn reference_tree(dir: &std::path::Path) -> Frontier {
        let mut f = Frontier::default();
        crate::log::store::scan_log(dir, |_, line| {
            f.push_leaf(line);
            Ok(())
        })
        .unwrap();
        f
    }

    fn b64(f: &Frontier) -> String {
        crate::log::merkle::to_b64(&f.root())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Lines of control bytes, C1 controls, bidi overrides, invalid
        /// UTF-8 and directives, longer than a record: every stored record
        /// fits a tlog-tiles entry, and the records give the input back.
        #[test]
        fn records_fit_a_published_entry(
            line in proptest::collection::vec(
                prop_oneof![0u8..0x20, Just(0x7f), Just(0xc2), Just(0x9b), Just(0xe2),
                    Just(0x80), Just(0xae), Just(b'"'), any::<u8>(), Just(b'a')],
                10_000..40_000,
            ),
            directive in any::<bool>(),
            read in prop_oneof![Just(1usize << 20), 1000usize..70_000],
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut input = if directive { b"##sign-log ".to_vec() } else { Vec::new() };
            input.extend_from_slice(&line);
            input.push(b'\n');
            let mut log = Log::open(dir.path()).unwrap();
            receive(&mut log, Trickle(&input, read), &opts(16 * 1024)).unwrap();
            drop(log);
            scan_log(dir.path(), |_, raw| {
                assert!(raw.len() <= MAX_RECORD, "a record of {} bytes", raw.len());
                Ok(())
            })
            .unwrap();
            prop_assert_eq!(rebuild(dir.path()), input);
        }
    }

    #[test]
    fn a_line_of_control_bytes_is_split_to_fit_a_published_entry() {
        // 16 KiB of \x01 escapes to 96 KiB: two records, each within 64 KiB.
        let dir = tempfile::tempdir().unwrap();
        let mut input = vec![1u8; 16 * 1024];
        input.push(b'\n');
        let mut log = Log::open(dir.path()).unwrap();
        let r = receive(&mut log, Trickle(&input, 1 << 20), &opts(16 * 1024)).unwrap();
        drop(log);
        assert_eq!(r.size, 4, "start, two pieces, end");
        let mut lens = Vec::new();
        scan_log(dir.path(), |_, raw| {
            lens.push(raw.len());
            Ok(())
        })
        .unwrap();
        assert!(lens.iter().all(|&n| n <= MAX_RECORD), "{lens:?}");
        assert!(
            lens[1] > MAX_RECORD - 200,
            "the first piece is as long as fits: {lens:?}"
        );
        assert_eq!(rebuild(dir.path()), input);
        // A source too long to leave room for lines is refused up front.
        let mut o = opts(16 * 1024);
        o.source = Some("s".repeat(MAX_RECORD));
        let mut log = Log::open(dir.path()).unwrap();
        let e = receive(&mut log, Trickle(b"x\n", 1), &o).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Usage, "{e:#}");
    }

    #[test]
    fn big_reads_batch_the_tree_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let input: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("line {i} {}\n", "x".repeat(i % 300)).into_bytes())
            .collect();
        let mut log = Log::open(dir.path()).unwrap();
        let r = receive(&mut log, Trickle(&input, 1 << 20), &opts(16 * 1024)).unwrap();
        drop(log);
        assert_eq!(r.size, 20_002);
        assert_eq!(r.root, b64(&reference_tree(dir.path())));
        assert_eq!(b64(&tree(dir.path()).unwrap()), r.root);
        // Reopening rebuilds the same tree (batched too) and appends to it.
        let mut log = Log::open(dir.path()).unwrap();
        let r = receive(&mut log, Trickle(&input, 70_000), &opts(16 * 1024)).unwrap();
        drop(log);
        assert_eq!(r.size, 40_004);
        assert_eq!(r.root, b64(&reference_tree(dir.path())));
    }
}
