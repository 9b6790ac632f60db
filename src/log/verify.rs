//! `sign-log verify`: check every checkpoint's signature, recompute the
//! root of every sealed prefix in one streaming pass, check the record
//! sequence (seq, time, sessions, seals) and summarize the build.

use super::checkpoint::Checkpoint;
use super::directive::{self, Directive, Verb};
use super::merkle::{self, Frontier, Hash};
use super::note::{self, VerifierKey};
use super::record::{kind, terminal_safe, Record};
use super::store::{self, block_lines, holds_log, log_path, open_read, read_blocks};
use crate::exit::{fail, Code};
use crate::openpgp::Verifier;
use crate::time::parse_rfc3339_micros;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{mpsc, Arc};

/// Error-looking lines kept per session (all are counted).
const MAX_ERRORS: usize = 20;
/// Materials, products or steps kept per session: the build side is
/// untrusted and must not grow the verifier's memory without bound.
const MAX_DIRECTIVES: usize = 100_000;
/// And their text, per session: a directive record may be 16 KiB.
const MAX_DIRECTIVE_BYTES: usize = 32 << 20;
/// Warnings kept (malformed directives, recovered records); more are counted.
const MAX_WARNINGS: usize = 1_000;

/// A directive and the record it is in.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Logged {
    pub seq: u64,
    #[serde(flatten)]
    pub directive: Directive,
}

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
    /// Every record of the session is covered by the last checkpoint; a
    /// session appended after it (or still open past it) is not.
    pub sealed: bool,
    pub materials: Vec<Logged>,
    pub products: Vec<Logged>,
    /// Finished steps (step-end), with their exit codes.
    pub steps: Vec<Logged>,
    /// Lines that look like errors (the first few, terminal-safe).
    pub errors: Vec<String>,
    pub error_lines: u64,
    /// Directives past the per-session caps: counted, not kept.
    pub directives_dropped: u64,
    #[serde(skip)]
    directive_bytes: usize,
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
    /// Verified note signatures and witness cosignatures on the last
    /// checkpoint.
    pub note_signatures: Vec<note::Verified>,
    pub sessions: Vec<Session>,
    pub warnings: Vec<String>,
    /// Warnings past MAX_WARNINGS: counted, not kept.
    pub warnings_dropped: u64,
}

impl Summary {
    /// The human summary; everything from the log is terminal-safe.
    pub fn text(&self) -> String {
        use std::fmt::Write as _;
        let safe = |s: &str| terminal_safe(s.as_bytes());
        let mut o = String::new();
        // The last seal's own record is in neither count (the checkpoint it
        // records does not cover it, and it is no unsealed build output).
        let seal = self.records.saturating_sub(self.sealed + self.unsealed);
        let _ = writeln!(
            o,
            "log verified: {} records ({} sealed, {}{} unsealed); origin {}; checkpoints {:?}",
            self.records,
            self.sealed,
            match seal {
                0 => String::new(),
                n => format!("{n} seal, "),
            },
            self.unsealed,
            safe(&self.origin),
            self.checkpoints
        );
        for f in &self.signers {
            let _ = writeln!(o, "checkpoint signer {f}");
        }
        for n in &self.note_signatures {
            let _ = writeln!(
                o,
                "note signature {} {}{}",
                safe(&n.name),
                n.key_id,
                n.timestamp
                    .map_or(String::new(), |t| format!(" cosigned at {t}"))
            );
        }
        for (i, s) in self.sessions.iter().enumerate() {
            let _ = writeln!(
                o,
                "session {} \"{}\" from {}: {} lines, records {}..{}, end: {}{}",
                i + 1,
                safe(&s.name),
                s.src.as_deref().map_or("-".into(), safe),
                s.lines,
                s.first_seq,
                s.last_seq,
                s.end.as_deref().map_or("(none)".into(), safe),
                if s.sealed {
                    ""
                } else {
                    " [UNSEALED: not covered by a signature]"
                }
            );
            for (what, list) in [("material", &s.materials), ("product ", &s.products)] {
                for Logged { directive: d, .. } in list {
                    let _ = writeln!(
                        o,
                        "  {what} {} size={} sha256={}",
                        safe(&d.name),
                        d.size.map_or("-".into(), |n| n.to_string()),
                        d.sha256.as_deref().map_or("-".into(), safe)
                    );
                }
            }
            for Logged { directive: st, .. } in &s.steps {
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
            if s.directives_dropped > 0 {
                let _ = writeln!(
                    o,
                    "  ... {} more directives not listed (over {MAX_DIRECTIVES} or {MAX_DIRECTIVE_BYTES} bytes)",
                    s.directives_dropped
                );
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

    /// Record a warning; past MAX_WARNINGS only their number is kept (a
    /// build side printing bad directives must not grow our memory).
    fn warn(&mut self, msg: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(msg);
        } else {
            self.warnings_dropped += 1;
        }
    }

    /// Warnings, the unsealed tail last.
    pub fn warning_lines(&self) -> Vec<String> {
        let mut w = self.warnings.clone();
        if self.warnings_dropped > 0 {
            w.push(format!("... {} more warnings", self.warnings_dropped));
        }
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

/// What `verify` checks beyond the log's own checkpoints.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options<'a> {
    /// Require this checkpoint origin (default: every checkpoint must have
    /// the first one's).
    pub origin: Option<&'a str>,
    /// A checkpoint kept elsewhere (its signature already checked): the
    /// log must hold that tree, and seals at least as large.
    pub pinned: Option<&'a Checkpoint>,
    /// The log's last seal must cover at least this many records.
    pub expect_size: Option<u64>,
    /// Fail on any record after the last seal.
    pub require_sealed: bool,
    /// Note signatures the last checkpoint must carry (every line a given
    /// key claims, on any checkpoint, must verify).
    pub notes: note::Policy<'a>,
}

/// Every checkpoint, its signatures checked; returns (size -> root).
fn checkpoints(
    dir: &Path,
    verifier: &Verifier,
    opts: &Options,
    summary: &mut Summary,
) -> anyhow::Result<BTreeMap<u64, Hash>> {
    let mut roots = BTreeMap::new();
    let mut signers = BTreeSet::new();
    // Older checkpoints: every known key's line must verify; only the
    // last one must meet the policy.
    let mut known: Vec<VerifierKey> = opts.notes.witnesses.to_vec();
    known.extend(opts.notes.log_key.cloned());
    let sizes = store::checkpoint_sizes(dir)?;
    for &size in &sizes {
        let stored = store::read_checkpoint(dir, size)
            .map_err(|e| e.context(format!("checkpoint {size}")))?;
        let cp = &stored.checkpoint;
        if cp.size != size {
            return Err(fail(
                Code::Failed,
                format!("checkpoint {size} says size {}", cp.size),
            ));
        }
        // One log, one origin: --origin when given, else the first one's.
        let want = opts.origin.unwrap_or(if summary.origin.is_empty() {
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
            .verify_detached_bytes(&stored.signature, stored.note.text.as_bytes())
            .map_err(|e| e.context(format!("checkpoint {size}: signature")))?;
        summary
            .warnings
            .extend(v.notes.iter().map(|n| format!("checkpoint {size}: {n}")));
        signers.extend(v.signers.iter().map(|f| f.to_hex()));
        // A known key's line that fails voids the checkpoint (signed-note).
        let what = format!("checkpoint {size}");
        if sizes.last() == Some(&size) {
            summary.note_signatures = opts.notes.check(&stored.note, &what)?;
        } else {
            note::verify(&stored.note, &known)
                .map_err(|e| fail(Code::Failed, format!("{what}: {e}")))?;
        }
        roots.insert(size, cp.root);
    }
    summary.signers = signers.into_iter().collect();
    Ok(roots)
}

/// Verify the log in `dir` with checkpoint signatures checked by
/// `verifier`; any mismatch is an error (exit 1) naming the first bad record.
///
/// One pass, two threads: this one parses and checks every record, the
/// other recomputes the tree and compares each checkpoint's root.
pub fn verify(dir: &Path, verifier: &Verifier, opts: &Options) -> anyhow::Result<Summary> {
    // verify takes no lock: it may list the checkpoints just before a
    // concurrent seal writes one, then read that seal's record. The seal
    // writes its checkpoint before the record, so the checkpoint is there
    // now: a failure while the set of checkpoints changed is judged again
    // (a few times at most); one that stays is the log's.
    let mut retries = 3;
    loop {
        let before = store::checkpoint_names(dir);
        match verify_once(dir, verifier, opts) {
            Err(_) if retries > 0 && store::checkpoint_names(dir) != before => retries -= 1,
            r => return r,
        }
    }
}

fn verify_once(dir: &Path, verifier: &Verifier, opts: &Options) -> anyhow::Result<Summary> {
    if !holds_log(dir) {
        return Err(fail(
            Code::Usage,
            format!(
                "{}: no log here (no {} and no checkpoints)",
                dir.display(),
                store_file()
            ),
        ));
    }
    // The log file first: one that is not a regular file is refused
    // before anything else is said about it.
    let file = match std::fs::symlink_metadata(log_path(dir)) {
        Ok(_) => Some(open_read(dir)?),
        Err(_) => None,
    };
    let mut summary = Summary::default();
    let roots = checkpoints(dir, verifier, opts, &mut summary)?;
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
    // The roots the tree must have: the log's checkpoints and a pinned one.
    let mut check = roots.clone();
    if let Some(pin) = opts.pinned {
        pin_checks(pin, &summary.origin, last_size, &mut check)?;
    }
    if let Some(n) = opts.expect_size {
        if last_size < n {
            return Err(fail(
                Code::Failed,
                format!(
                    "the log's last seal covers {last_size} records, fewer than the {n} expected (--expect-size): a checkpoint and its seal were removed"
                ),
            ));
        }
    }
    // Sealed, then removed: that is the whole log truncated away.
    let Some(file) = file else {
        return Err(fail(
            Code::Failed,
            format!(
                "record 0: missing: the log file is gone but checkpoint {last_size} was sealed"
            ),
        ));
    };
    let (to_hasher, blocks) = mpsc::sync_channel::<Arc<Vec<u8>>>(4);
    let mut st = State {
        summary,
        current: None,
        last_t: (String::new(), 0),
        roots: &roots,
        seal_at_last: false,
        last_size,
    };
    let (parsed, hashed) = std::thread::scope(|scope| {
        let hasher = scope.spawn(|| check_roots(blocks, &check));
        let parsed = read_blocks(file, |first, block| {
            let block = Arc::new(block);
            // The hasher stops at the first mismatch; its error then wins.
            let sent = to_hasher.send(Arc::clone(&block)).is_ok();
            for (i, line) in block_lines(&block).enumerate() {
                let seq = first + i as u64;
                st.record(seq, line).map_err(|e| Bad(seq, e))?;
            }
            if sent {
                Ok(())
            } else {
                Err(HasherStopped.into())
            }
        });
        drop(to_hasher);
        let hashed = hasher
            .join()
            .unwrap_or_else(|_| Err(Bad(0, fail(Code::Io, "the hashing thread failed"))));
        (parsed, hashed)
    });
    // Report the first bad record: a parse error before the range a root
    // mismatch covers wins over it.
    match (parsed, hashed) {
        (Err(e), Err(Bad(from, he))) => Err(match e.downcast::<Bad>() {
            Ok(Bad(seq, pe)) if seq < from => pe,
            _ => first_changed(dir, he),
        }),
        (Ok(_), Err(Bad(_, he))) => Err(first_changed(dir, he)),
        (Err(e), Ok(_)) => Err(match e.downcast::<Bad>() {
            Ok(Bad(_, pe)) => pe,
            Err(e) => e,
        }),
        (Ok(scan), Ok(())) => {
            let mut summary = st.finish(scan.lines);
            if last_size > scan.lines {
                return Err(fail(
                    Code::Failed,
                    format!(
                        "record {}: missing: the log ends there but checkpoint {last_size} was sealed (truncated)",
                        scan.lines
                    ),
                ));
            }
            if let Some(pin) = opts.pinned {
                if pin.size > scan.lines {
                    return Err(fail(
                        Code::Failed,
                        format!(
                            "record {}: missing: the log ends there but the checkpoint kept elsewhere was sealed at {} (truncated)",
                            scan.lines, pin.size
                        ),
                    ));
                }
            }
            if scan.torn_len > 0 {
                summary.torn_bytes = scan.torn_len;
                summary.warn(format!(
                    "{} bytes after record {} are an incomplete record (an interrupted writer's; the next receive keeps them in a recovered record)",
                    scan.torn_len,
                    scan.lines.saturating_sub(1)
                ));
            }
            if opts.require_sealed && (summary.unsealed > 0 || summary.torn_bytes > 0) {
                return Err(fail(
                    Code::Failed,
                    format!(
                        "record {}: not sealed: {} record(s) and {} torn byte(s) after the last seal (--require-sealed)",
                        scan.lines - summary.unsealed,
                        summary.unsealed,
                        summary.torn_bytes
                    ),
                ));
            }
            Ok(summary)
        }
    }
}

fn store_file() -> &'static str {
    super::store::LOG_FILE
}

/// A checkpoint kept elsewhere: same origin, not beyond the log's last
/// seal (or its newer seals were removed), and its root is one more the
/// tree is checked against.
fn pin_checks(
    pin: &Checkpoint,
    origin: &str,
    last_size: u64,
    check: &mut BTreeMap<u64, Hash>,
) -> anyhow::Result<()> {
    if pin.origin != origin {
        return Err(fail(
            Code::Failed,
            format!(
                "the checkpoint kept elsewhere is for origin {:?}, the log's is {:?}",
                terminal_safe(pin.origin.as_bytes()),
                terminal_safe(origin.as_bytes())
            ),
        ));
    }
    if pin.size > last_size {
        return Err(fail(
            Code::Failed,
            format!(
                "the checkpoint kept elsewhere was sealed at {} records, the log's last seal covers {last_size}: checkpoints or seal records were removed",
                pin.size
            ),
        ));
    }
    if let Some(root) = check.get(&pin.size) {
        if *root != pin.root {
            return Err(fail(
                Code::Failed,
                format!(
                    "checkpoint {} of the log has another root than the one kept elsewhere (a fork)",
                    pin.size
                ),
            ));
        }
    }
    check.insert(pin.size, pin.root);
    Ok(())
}

/// An error at a record index (for a root mismatch: where its range starts).
#[derive(Debug)]
struct Bad(u64, anyhow::Error);

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.1)
    }
}

impl std::error::Error for Bad {}

/// The tree over records `before.size()..at` does not give checkpoint
/// `at`'s `root`.
#[derive(Debug)]
struct RootMismatch {
    at: u64,
    root: Hash,
    before: Frontier,
}

impl std::fmt::Display for RootMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "records {}..{}: do not match checkpoint {} (root mismatch: a record was changed, removed, inserted or reordered)",
            self.before.size(),
            self.at.saturating_sub(1),
            self.at
        )
    }
}

impl std::error::Error for RootMismatch {}

/// A root mismatch said as the first record that differs from what the
/// checkpoint sealed, when the leaf hashes stored with it are there and
/// give its signed root; else as the range.
fn first_changed(dir: &Path, err: anyhow::Error) -> anyhow::Error {
    let Some(m) = crate::exit::typed_ref::<RootMismatch>(&err) else {
        return err;
    };
    let from = m.before.size();
    let Some(sealed) = store::read_sealed_leaves(dir, m.at, &m.before, &m.root) else {
        return err;
    };
    let mut now = Vec::new();
    let scanned = store::scan_log(dir, |seq, line| {
        if (from..m.at).contains(&seq) {
            now.push(merkle::leaf_hash(line));
        }
        Ok(())
    });
    if scanned.is_err() {
        return err;
    }
    let first = (0..sealed.len())
        .find(|&i| now.get(i) != sealed.get(i))
        .map(|i| from + i as u64);
    match first {
        Some(seq) => fail(
            Code::Failed,
            format!(
                "record {seq}: not the record checkpoint {} sealed (changed, or records removed, inserted or reordered there): its hash differs from the one sealed with the checkpoint",
                m.at
            ),
        ),
        None => err,
    }
}

#[derive(Debug)]
struct HasherStopped;

impl std::fmt::Display for HasherStopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the hashing thread stopped")
    }
}

impl std::error::Error for HasherStopped {}

/// Recompute the tree over the lines of `blocks` and compare the root of
/// every checkpointed prefix.
fn check_roots(
    blocks: mpsc::Receiver<Arc<Vec<u8>>>,
    roots: &BTreeMap<u64, Hash>,
) -> Result<(), Bad> {
    let mut frontier = Frontier::default();
    // The tree at the last checkpoint that matched.
    let mut before = Frontier::default();
    let mut check = |f: &Frontier| -> Result<(), Bad> {
        let at = f.size();
        if let Some(root) = roots.get(&at) {
            if f.root() != *root {
                let from = before.size();
                return Err(Bad(
                    from,
                    crate::exit::typed(
                        Code::Failed,
                        RootMismatch {
                            at,
                            root: *root,
                            before: before.clone(),
                        },
                    ),
                ));
            }
            before = f.clone();
        }
        Ok(())
    };
    // Each block's lines are added a batch at a time, split where a
    // checkpoint's size falls inside the block.
    for block in blocks {
        let lines: Vec<&[u8]> = block_lines(&block).collect();
        let mut rest: &[&[u8]] = &lines;
        while !rest.is_empty() {
            check(&frontier)?;
            let at = frontier.size();
            let next_cp = roots.range(at + 1..).next().map(|(s, _)| *s);
            let take = next_cp.map_or(rest.len(), |cp| {
                usize::try_from(cp - at).map_or(rest.len(), |d| d.min(rest.len()))
            });
            let (now, later) = rest.split_at(take);
            frontier.extend_lines(now.iter().copied());
            rest = later;
        }
    }
    check(&frontier)
}

struct State<'a> {
    summary: Summary,
    current: Option<Session>,
    /// The last record's time, as text and microseconds.
    last_t: (String, u64),
    roots: &'a BTreeMap<u64, Hash>,
    seal_at_last: bool,
    last_size: u64,
}

impl State<'_> {
    fn record(&mut self, seq: u64, line: &[u8]) -> anyhow::Result<()> {
        let rec = Record::parse(line).map_err(|e| bad(seq, format!("{e:#}")))?;
        if rec.seq != seq {
            return Err(bad(seq, format!("seq is {}, expected {seq}", rec.seq)));
        }
        // Times are fixed-width: the same text needs no second parse.
        if rec.t != self.last_t.0 {
            let t = parse_rfc3339_micros(&rec.t).ok_or_else(|| {
                bad(
                    seq,
                    format!(
                        "time {:?} is not UTC RFC 3339 with microseconds",
                        terminal_safe(rec.t.as_bytes())
                    ),
                )
            })?;
            if t < self.last_t.1 {
                return Err(bad(
                    seq,
                    format!("time {} goes back before the previous record's", rec.t),
                ));
            }
            self.last_t = (rec.t.to_string(), t);
        }
        self.semantics(seq, &rec)
    }

    fn semantics(&mut self, seq: u64, rec: &Record) -> anyhow::Result<()> {
        let s = &mut self.summary;
        match rec.kind.as_ref() {
            kind::START => {
                if let Some(open) = self.current.take() {
                    s.warn(format!(
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
                                if list.len() < MAX_DIRECTIVES
                                    && open.directive_bytes + text.len() <= MAX_DIRECTIVE_BYTES
                                {
                                    open.directive_bytes += text.len();
                                    list.push(Logged { seq, directive: d });
                                } else {
                                    open.directives_dropped += 1;
                                }
                            }
                        }
                        Err(e) => s.warn(format!("record {seq}: {e:#}")),
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
                // Its checkpoint's root is compared with the tree by the
                // hasher; the record must name that checkpoint exactly.
                let root = self.roots.get(&seq).ok_or_else(|| {
                    bad(
                        seq,
                        format!("seal of size {seq} without its checkpoint (checkpoints/{seq} was removed)"),
                    )
                })?;
                let root = merkle::to_b64(root);
                if rec.size != Some(seq) || rec.root.as_deref() != Some(root.as_str()) {
                    return Err(bad(seq, "seal record does not match its checkpoint"));
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
                s.warn(format!(
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

    fn finish(&mut self, records: u64) -> Summary {
        let mut summary = std::mem::take(&mut self.summary);
        if let Some(open) = self.current.take() {
            summary.warn(format!(
                "session {} {:?} is still open (no end record: a receiver is running or was interrupted)",
                summary.sessions.len() + 1,
                terminal_safe(open.name.as_bytes())
            ));
            summary.sessions.push(open);
        }
        for s in &mut summary.sessions {
            s.sealed = s.last_seq < self.last_size;
        }
        summary.records = records;
        summary.sealed = self.last_size.min(records);
        summary.unsealed = records
            .saturating_sub(self.last_size)
            .saturating_sub(u64::from(self.seal_at_last));
        summary
    }
}
