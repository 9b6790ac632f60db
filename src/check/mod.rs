//! Checking files against hash lists: the engine behind check-hashes.
//!
//! Lists are parsed whole and strictly before any file is hashed, so a
//! malformed list never produces a partial "OK" report. Entries are grouped
//! per file in first-seen order; a file passes only when every digest
//! listed for it matches. Each file is read once for all its algorithms,
//! many files in parallel (rayon, one thread per core), and results are
//! reported in list order, one bounded chunk at a time (flat memory: a
//! file is streamed through a fixed buffer whatever its size).
//!
//! - [`targets`]: the compact index of files to check and their pins;
//! - [`read`]: lists read into it (streamed, signed, Debian);
//! - [`order`]: the ordered parallel map the checks run on;
//! - [`report`]: verdicts as coreutils prints them, or JSON;
//! - [`generate`](mod@generate): `--generate`, lists written as `sha256sum` does.

pub mod generate;
pub mod order;
pub mod read;
pub mod report;
pub mod targets;

pub use generate::{generate, Generate};
pub use order::par_in_order;
pub use report::{Reporter, Style};
pub use targets::{Target, Targets};

use crate::digest::{Algo, Digests};
use crate::exit::{Code, ResultExt};
use crate::lists::hashlist::{display_name, ParseOptions};
use crate::openpgp::Verifier;
use std::path::{Path, PathBuf};

/// Targets built at a time for checking: many windows' worth, so the
/// pause where one chunk's last file finishes is rare.
const CHUNK: usize = 16 * order::WINDOW;

/// What the caller allows beyond the strict defaults.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Resolve names relative to this directory (`-C`).
    pub dir: Option<PathBuf>,
    /// A listed file that does not exist is skipped, not failed.
    pub ignore_missing: bool,
    /// Accept MD5 and SHA-1 entries.
    pub allow_weak: bool,
    /// Accept absolute names and names with `..`.
    pub allow_outside: bool,
    /// How lists are read (`-z`, BLAKE2b for 128-digit lines).
    pub parse: ParseOptions,
}

impl Options {
    fn resolve(&self, name: &Path) -> PathBuf {
        match &self.dir {
            Some(d) => d.join(name),
            None => name.to_path_buf(),
        }
    }
}

/// Verify a detached signature `sig` of the file `path` on disk, as `gpgv
/// SIG FILE` does, hashing the file as it is read; nothing is deleted or
/// changed. Both are operands: missing or not regular files are exit 2.
pub fn verify_file_signature(
    path: &Path,
    sig: &Path,
    verifier: &Verifier,
) -> anyhow::Result<crate::openpgp::Verdict> {
    let sig_bytes = crate::fsutil::input::read_regular(
        sig,
        "signature",
        crate::openpgp::MAX_SIGNATURE,
        Code::Failed,
    )?;
    let file = crate::fsutil::input::open_regular(path, "file")?;
    verifier
        .verify_detached_reader(
            &sig_bytes,
            std::io::BufReader::with_capacity(crate::digest::BLOCK, file),
        )
        .map_err(|e| e.context(format!("{} (signature {})", path.display(), sig.display())))
}

/// Does the file at `path` read as a hash list or a Debian list with at
/// least one entry ([`crate::lists::is_list`])? With `--signature`, such
/// an operand is checked entry by entry; any other file is verified by the
/// signature alone. A binary file (a NUL in its first 64 KiB, as in every
/// tarball) or one larger than a list may be is not read whole.
pub fn is_hash_list_file(path: &Path, opts: &Options) -> anyhow::Result<bool> {
    use std::io::Read;
    let f = crate::fsutil::input::open_regular(path, "file")?;
    let len = f
        .metadata()
        .with_code(Code::Io, || format!("reading {}", path.display()))?
        .len();
    if len > crate::lists::MAX_LIST {
        return Ok(false);
    }
    let mut head = Vec::new();
    (&f).take(64 * 1024)
        .read_to_end(&mut head)
        .with_code(Code::Io, || format!("reading {}", path.display()))?;
    if head.contains(&0) && !opts.parse.zero_terminated {
        return Ok(false);
    }
    let data = crate::lists::read_list(path)?;
    Ok(crate::lists::is_list(&data, path, opts.parse))
}

/// `--sha256 HEX` / `--sha512 HEX` options as pinned digests.
pub fn pins(sha256: Option<&str>, sha512: Option<&str>) -> anyhow::Result<Vec<(Algo, Vec<u8>)>> {
    let mut pins = Vec::new();
    for (a, h) in [(Algo::Sha256, sha256), (Algo::Sha512, sha512)] {
        if let Some(h) = h {
            pins.push((a, crate::digest::parse_hex_option(a, h)?));
        }
    }
    Ok(pins)
}

/// The outcome for one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Ok,
    /// A digest did not match.
    Failed,
    /// A weak algorithm was listed and not allowed.
    Weak,
    /// The file does not exist.
    Missing,
    /// The file exists but could not be read.
    Unreadable,
    /// Missing, and `--ignore-missing` was given.
    Skipped,
}

impl Status {
    /// The exit code this outcome contributes. A listed file that is
    /// missing is a failed check (as `sha256sum -c`), not a retryable error.
    pub fn code(self) -> Code {
        match self {
            Status::Ok | Status::Skipped => Code::Ok,
            Status::Failed | Status::Weak | Status::Missing => Code::Failed,
            Status::Unreadable => Code::Io,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Outcome<'a> {
    pub target: &'a Target,
    pub status: Status,
    /// What was computed, when the file could be read.
    pub actual: Option<Digests>,
    /// One sentence for stderr when not OK: file, expected, observed.
    pub reason: Option<String>,
}

/// Check one file against everything pinned for it.
pub fn check<'a>(target: &'a Target, opts: &Options) -> Outcome<'a> {
    let shown = String::from_utf8_lossy(&display_name(&target.name)).into_owned();
    let outcome = |status, actual, reason| Outcome {
        target,
        status,
        actual,
        reason: Some(reason),
    };
    let mut weak: Vec<&str> = target
        .expected
        .iter()
        .filter(|(a, _)| a.is_weak())
        .map(|(a, _)| a.name())
        .collect();
    weak.dedup();
    if !weak.is_empty() && !opts.allow_weak {
        let why = format!(
            "{shown}: weak algorithm {} refused (--allow-weak accepts it)",
            weak.join(", ")
        );
        return outcome(Status::Weak, None, why);
    }
    let algos: Vec<Algo> = target.expected.iter().map(|(a, _)| *a).collect();
    // Only regular files are hashed, judged on the open file: a list
    // (untrusted) naming a FIFO or a device would otherwise block or never
    // end. What is not a file is as good as missing: the check fails.
    let hashed = crate::fsutil::input::open_regular_io(&target.path)
        .and_then(|f| crate::digest::hash_open_file(f, &algos));
    match hashed {
        Err(e) => {
            let status = match (e.kind(), opts.ignore_missing) {
                (std::io::ErrorKind::NotFound, true) => Status::Skipped,
                (std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidInput, _) => {
                    Status::Missing
                }
                _ => Status::Unreadable,
            };
            outcome(status, None, format!("{shown}: {e}"))
        }
        Ok(d) => {
            let mut bad: Vec<String> = target
                .sizes
                .iter()
                .filter(|&&s| s != d.len)
                .map(|s| format!("size mismatch: expected {s}, got {}", d.len))
                .collect();
            bad.extend(crate::digest::mismatches(&target.expected, &d));
            if bad.is_empty() {
                Outcome {
                    target,
                    status: Status::Ok,
                    actual: Some(d),
                    reason: None,
                }
            } else {
                let why = format!("{shown}: {}", bad.join("; "));
                outcome(Status::Failed, Some(d), why)
            }
        }
    }
}

/// Where [`check_all`] hands its outcomes.
pub trait Sink {
    /// One outcome, in list order.
    fn report(&mut self, o: &Outcome) -> anyhow::Result<()>;
    /// Nothing new for now: a good moment to flush.
    fn idle(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Check every target and hand the outcomes to `sink` in list order, each
/// as soon as it and those before it are known. Returns the overall exit
/// code: the worst outcome, or 3 when nothing was verified (an empty set,
/// or every file skipped by `--ignore-missing`).
pub fn check_all(targets: &Targets, opts: &Options, sink: &mut impl Sink) -> anyhow::Result<Code> {
    let mut code = Code::Ok;
    let mut verified = 0usize;
    let sink = std::cell::RefCell::new(sink);
    // A chunk of targets at a time: the list's files are never all held
    // as Targets, and the window keeps hashing ahead within a chunk.
    for start in (0..targets.len()).step_by(CHUNK) {
        let chunk: Vec<Target> = (start..targets.len().min(start + CHUNK))
            .filter_map(|i| targets.get(i))
            .collect();
        par_in_order(
            &chunk,
            |t| check(t, opts),
            |_, o| {
                code = code.worst(o.status.code());
                verified += usize::from(o.status != Status::Skipped);
                sink.borrow_mut().report(&o)
            },
            || sink.borrow_mut().idle(),
        )?;
    }
    if verified == 0 {
        code = code.worst(Code::Missing);
    }
    Ok(code)
}
