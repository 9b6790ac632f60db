//! Checking files against hash lists: the engine behind check-hashes.
//!
//! Lists are parsed whole and strictly before any file is hashed, so a
//! malformed list never produces a partial "OK" report. Entries are grouped
//! per file in first-seen order; a file passes only when every digest
//! listed for it matches. Each file is read once for all its algorithms,
//! many files in parallel (rayon, one thread per core), and results are
//! reported in list order, one bounded chunk at a time (flat memory: a
//! file is streamed through a fixed buffer whatever its size).

use crate::digest::{hash_file, hash_reader, Algo, Digests};
use crate::exit::{fail, Code, ResultExt};
use crate::hashlist::{self, display_name, Entry, Format, ParseOptions};
use crate::openpgp::verify::is_cleartext_signed;
use crate::openpgp::Verifier;
use crate::package;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Longest hash list read (bounded input).
pub const MAX_LIST: u64 = 256 * 1024 * 1024;

/// Files hashed in parallel before their results are reported: large
/// enough to keep every core busy, small enough to keep output flowing.
const WINDOW: usize = 256;

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

/// One file to check and everything the lists pin for it.
#[derive(Clone, Debug)]
pub struct Target {
    /// The name as written in the list (for output).
    pub name: Vec<u8>,
    pub path: PathBuf,
    pub expected: Vec<(Algo, Vec<u8>)>,
    /// Sizes the lists pin (Debian lists carry them); all must match.
    pub sizes: Vec<u64>,
}

/// Every file to check, in first-seen order, with its pins merged across
/// lines and lists.
#[derive(Debug, Default)]
pub struct Targets {
    items: Vec<Target>,
    index: HashMap<Vec<u8>, usize>,
}

impl Targets {
    pub fn as_slice(&self) -> &[Target] {
        &self.items
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Pin `digest` for the file `name` at `path`.
    pub fn add(&mut self, name: Vec<u8>, path: PathBuf, algo: Algo, digest: Vec<u8>) {
        let i = self.target(name, path);
        if let Some(t) = self.items.get_mut(i) {
            t.expected.push((algo, digest));
        }
    }

    /// Pin the size of the file `name` at `path` (Debian lists).
    pub fn add_size(&mut self, name: Vec<u8>, path: PathBuf, size: u64) {
        let i = self.target(name, path);
        if let Some(t) = self.items.get_mut(i) {
            if !t.sizes.contains(&size) {
                t.sizes.push(size);
            }
        }
    }

    /// The index of the target for `name`, created when new.
    fn target(&mut self, name: Vec<u8>, path: PathBuf) -> usize {
        if let Some(&i) = self.index.get(&name) {
            return i;
        }
        let i = self.items.len();
        self.index.insert(name.clone(), i);
        self.items.push(Target {
            name,
            path,
            expected: Vec::new(),
            sizes: Vec::new(),
        });
        i
    }

    /// `check-hashes --sha256 HEX FILE`: FILE comes from the command line,
    /// not from a list, so it is not subject to `--allow-outside`.
    /// FILE is named on the command line: missing or not a regular file is
    /// a usage error (exit 2), unlike a file a list names (exit 1).
    pub fn pin(
        &mut self,
        file: &Path,
        pins: Vec<(Algo, Vec<u8>)>,
        opts: &Options,
    ) -> anyhow::Result<()> {
        let path = opts.resolve(file);
        crate::fsutil::input::require_regular(&path, "file")?;
        for (algo, digest) in pins {
            let name = file.as_os_str().as_bytes().to_vec();
            self.add(name, path.clone(), algo, digest);
        }
        Ok(())
    }

    /// Add the entries of one list. `list` is its path (None for stdin): a
    /// bare digest in `foo.sha256` pins `foo` next to it (or in `-C DIR`).
    pub fn add_entries(
        &mut self,
        entries: Vec<Entry>,
        list: Option<&Path>,
        opts: &Options,
    ) -> anyhow::Result<()> {
        for e in entries {
            match e.name {
                Some(name) => {
                    let path = listed_path(&name, opts, &format!("line {}", e.line))?;
                    self.add(name, path, e.algo, e.digest);
                }
                None => {
                    let list = list.ok_or_else(|| {
                        fail(
                            Code::Usage,
                            "a digest without a file name needs a list file named FILE.sha256 (or .sha512, ...), not standard input",
                        )
                    })?;
                    let (file, ext_algo) = implied_file(list)?;
                    let algo = match (e.format, ext_algo) {
                        // `foo.b2` says BLAKE2b where the length alone says SHA-512.
                        (Format::Bare, Some(a)) if a.digest_len() == e.digest.len() => a,
                        (Format::Bare, Some(a)) => {
                            return Err(fail(
                                Code::Usage,
                                format!(
                                    "line {}: a {}-byte digest is not {a}",
                                    e.line,
                                    e.digest.len()
                                ),
                            ))
                        }
                        _ => e.algo,
                    };
                    let path = match &opts.dir {
                        Some(d) => d.join(file.file_name().unwrap_or_default()),
                        None => file,
                    };
                    let name = path.as_os_str().as_bytes().to_vec();
                    self.add(name, path, algo, e.digest);
                }
            }
        }
        Ok(())
    }

    /// Read, parse and add one list (`-` is standard input). A list with
    /// no entry is exit 3: it verifies nothing.
    pub fn add_list(&mut self, list: &Path, opts: &Options) -> anyhow::Result<()> {
        self.add_list_verified(list, opts, None).map(|_| ())
    }

    /// [`Targets::add_list`], Debian lists included, with the list's
    /// signature verified first when `verifier` is given: a
    /// cleartext-signed list (InRelease, .dsc, .changes, sha256sums.asc),
    /// or a detached `LIST.gpg` / `LIST.asc` / `LIST.sig` beside it; a list
    /// without one is exit 3. Returns notes for stderr (signers, ignored
    /// signatures, a signature left unchecked without keys).
    pub fn add_list_verified(
        &mut self,
        list: &Path,
        opts: &Options,
        verifier: Option<&Verifier>,
    ) -> anyhow::Result<Vec<String>> {
        self.add_list_signed_by(list, None, opts, verifier)
    }

    /// [`Targets::add_list_verified`] with the list's detached signature
    /// named (`--signature SHA256SUMS.gpg`) instead of looked for beside it.
    pub fn add_list_signed_by(
        &mut self,
        list: &Path,
        signature: Option<&Path>,
        opts: &Options,
        verifier: Option<&Verifier>,
    ) -> anyhow::Result<Vec<String>> {
        let raw = read_list(list)?;
        let shown = list.display().to_string();
        let (data, notes) =
            signed_text(raw, list, signature, verifier).map_err(|e| e.context(shown.clone()))?;
        if package::debian::looks_like_deb822(&data) {
            self.add_debian(&data, &shown, opts)?;
            return Ok(notes);
        }
        self.add_parsed(&data, list, opts)?;
        Ok(notes)
    }

    /// The files a Debian list pins, with their sizes.
    fn add_debian(&mut self, data: &[u8], shown: &str, opts: &Options) -> anyhow::Result<()> {
        let pins =
            package::debian::list_entries(data).with_code(Code::Usage, || shown.to_string())?;
        if pins.is_empty() {
            return Err(fail(
                Code::Missing,
                format!("{shown}: lists no file: nothing to verify"),
            ));
        }
        for pin in pins {
            let path = listed_path(&pin.path, opts, shown)?;
            self.add_size(pin.path.clone(), path.clone(), pin.size);
            for (algo, digest) in pin.digests {
                self.add(pin.path.clone(), path.clone(), algo, digest);
            }
        }
        Ok(())
    }

    fn add_parsed(&mut self, data: &[u8], list: &Path, opts: &Options) -> anyhow::Result<()> {
        let entries = hashlist::parse_list(data, list_options(list, opts.parse))
            .with_code(Code::Usage, || format!("{}", list.display()))?;
        if entries.is_empty() {
            return Err(fail(
                Code::Missing,
                format!("{}: no checksum line: nothing to verify", list.display()),
            ));
        }
        let file = (list != Path::new("-")).then_some(list);
        self.add_entries(entries, file, opts)
            .with_code(Code::Usage, || format!("{}", list.display()))
    }

    /// `--require FILE`: exit 3 unless FILE has an entry (`./x` is `x`).
    pub fn require(&self, name: &str) -> anyhow::Result<()> {
        let norm = |n: &[u8]| -> Vec<u8> {
            let mut n = n;
            while let Some(rest) = n.strip_prefix(b"./") {
                n = rest;
            }
            n.to_vec()
        };
        let want = norm(name.as_bytes());
        if self.items.iter().any(|t| norm(&t.name) == want) {
            Ok(())
        } else {
            Err(fail(Code::Missing, format!("no hash entry for {name}")))
        }
    }
}

/// Where a listed name is, refusing absolute and `..` names unless allowed.
fn listed_path(name: &[u8], opts: &Options, at: &str) -> anyhow::Result<PathBuf> {
    let rel = Path::new(OsStr::from_bytes(name));
    if !opts.allow_outside && is_outside(rel) {
        return Err(fail(
            Code::Usage,
            format!(
                "{at}: refusing {:?}: absolute or `..` names need --allow-outside",
                String::from_utf8_lossy(&display_name(name))
            ),
        ));
    }
    Ok(opts.resolve(rel))
}

/// The text of a list whose signature has been checked (with keys), or
/// whose cleartext signature is stripped with a note (without keys).
fn signed_text(
    raw: Vec<u8>,
    list: &Path,
    signature: Option<&Path>,
    verifier: Option<&Verifier>,
) -> anyhow::Result<(Vec<u8>, Vec<String>)> {
    let signer_notes = |v: &crate::openpgp::Verdict| -> Vec<String> {
        let mut n: Vec<String> = v.signers.iter().map(|f| format!("signed by {f}")).collect();
        n.extend(v.notes.iter().cloned());
        n
    };
    let cleartext = is_cleartext_signed(&raw);
    let Some(v) = verifier else {
        if cleartext {
            let text = package::deb822::cleartext_text(&raw)
                .ok_or_else(|| fail(Code::Usage, "malformed cleartext-signed message"))?;
            return Ok((
                text,
                vec!["signature not checked (no --keyring given)".to_string()],
            ));
        }
        return Ok((raw, Vec::new()));
    };
    if let Some(sig) = signature {
        // The bytes verified are the bytes parsed: the list is not read again.
        let sig_bytes =
            crate::fsutil::input::read_regular(sig, "signature", MAX_SIGNATURE, Code::Failed)?;
        let verdict = v
            .verify_detached_bytes(&sig_bytes, &raw)
            .map_err(|e| e.context(format!("signature {}", sig.display())))?;
        let text = if cleartext {
            package::deb822::cleartext_text(&raw)
                .ok_or_else(|| fail(Code::Usage, "malformed cleartext-signed message"))?
        } else {
            raw
        };
        return Ok((text, signer_notes(&verdict)));
    }
    if cleartext {
        let (verdict, text) = v.verify_cleartext(&raw, MAX_LIST)?;
        return Ok((text, signer_notes(&verdict)));
    }
    if list == Path::new("-") {
        return Err(fail(
            Code::Missing,
            "standard input is not cleartext-signed: nothing to verify it with",
        ));
    }
    for ext in ["gpg", "asc", "sig"] {
        let mut p = list.as_os_str().to_owned();
        p.push(format!(".{ext}"));
        let sig = PathBuf::from(p);
        if !sig.is_file() {
            continue;
        }
        let what = sig.display().to_string();
        let f = std::fs::File::open(&sig).with_code(Code::Io, || format!("opening {what}"))?;
        let bytes = crate::fsutil::read_bounded(f, 1 << 20, &what, Code::Failed)?;
        let verdict = v
            .verify_detached_bytes(&bytes, &raw)
            .map_err(|e| e.context(format!("signature {what}")))?;
        return Ok((raw, signer_notes(&verdict)));
    }
    Err(fail(
        Code::Missing,
        "no signature: neither cleartext-signed nor LIST.gpg, LIST.asc or LIST.sig beside it",
    ))
}

/// Largest detached signature read (a few signatures are a few KiB).
pub const MAX_SIGNATURE: u64 = 1 << 20;

/// Verify a detached signature `sig` of the file `path` on disk, as `gpgv
/// SIG FILE` does, hashing the file as it is read; nothing is deleted or
/// changed. Both are operands: missing or not regular files are exit 2.
pub fn verify_file_signature(
    path: &Path,
    sig: &Path,
    verifier: &Verifier,
) -> anyhow::Result<crate::openpgp::Verdict> {
    let sig_bytes =
        crate::fsutil::input::read_regular(sig, "signature", MAX_SIGNATURE, Code::Failed)?;
    let file = crate::fsutil::input::open_regular(path, "file")?;
    verifier
        .verify_detached_reader(
            &sig_bytes,
            std::io::BufReader::with_capacity(crate::digest::BLOCK, file),
        )
        .map_err(|e| e.context(format!("{} (signature {})", path.display(), sig.display())))
}

/// [`is_hash_list`] of a file on disk: a binary file (a NUL in its first
/// 64 KiB, as in every tarball) or one larger than a list may be is not
/// read whole.
pub fn is_hash_list_file(path: &Path, opts: &Options) -> anyhow::Result<bool> {
    use std::io::Read;
    let f = crate::fsutil::input::open_regular(path, "file")?;
    let len = f
        .metadata()
        .with_code(Code::Io, || format!("reading {}", path.display()))?
        .len();
    if len > MAX_LIST {
        return Ok(false);
    }
    let mut head = Vec::new();
    (&f).take(64 * 1024)
        .read_to_end(&mut head)
        .with_code(Code::Io, || format!("reading {}", path.display()))?;
    if head.contains(&0) && !opts.parse.zero_terminated {
        return Ok(false);
    }
    let data = read_list(path)?;
    Ok(is_hash_list(&data, path, opts))
}

/// Does `data` read as a hash list (or a Debian list) with at least one
/// entry? With `--signature`, such an operand is checked entry by entry;
/// any other file is verified by the signature alone.
pub fn is_hash_list(data: &[u8], list: &Path, opts: &Options) -> bool {
    if package::debian::looks_like_deb822(data) {
        return package::debian::list_entries(data).is_ok_and(|e| !e.is_empty());
    }
    hashlist::parse_list(data, list_options(list, opts.parse))
        .is_ok_and(|e| !e.is_empty() && e.iter().all(|x| x.name.is_some()))
}

fn is_outside(p: &Path) -> bool {
    p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir))
}

/// `dir/foo.tar.gz.sha512` → (`dir/foo.tar.gz`, SHA-512): the file a
/// nameless list pins, and the algorithm its extension names (none for
/// `.sri`).
pub fn implied_file(list: &Path) -> anyhow::Result<(PathBuf, Option<Algo>)> {
    let ext = list
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let algo = Algo::from_name(ext.strip_suffix("sum").unwrap_or(&ext));
    match (algo, list.file_stem()) {
        (Some(_), Some(stem)) => Ok((list.with_file_name(stem), algo)),
        (None, Some(stem)) if ext == "sri" => Ok((list.with_file_name(stem), None)),
        _ => Err(fail(
            Code::Usage,
            format!(
                "{}: a digest without a file name needs the list to be named FILE.sha256, FILE.sha512, ...",
                list.display()
            ),
        )),
    }
}

/// Read a whole list, bounded; `-` is standard input.
pub fn read_list(list: &Path) -> anyhow::Result<Vec<u8>> {
    let what = format!("list {}", list.display());
    if list == Path::new("-") {
        crate::fsutil::read_bounded(std::io::stdin().lock(), MAX_LIST, &what, Code::Usage)
    } else {
        crate::fsutil::input::read_regular(list, "list", MAX_LIST, Code::Usage)
    }
}

/// Parse options for the list at `list`: one named for BLAKE2 (B2SUMS,
/// foo.b2) makes untagged 128-digit lines BLAKE2b rather than SHA-512.
pub fn list_options(list: &Path, mut parse: ParseOptions) -> ParseOptions {
    let lname = list
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let blake = lname.starts_with("b2sum") || lname.ends_with(".b2") || lname.contains("blake2");
    if parse.untagged_512.is_none() && blake {
        parse.untagged_512 = Some(Algo::Blake2b512);
    }
    parse
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

/// The digests the list file `list` pins for the file called `name`
/// (fetch-verified --hash-file): read bounded, parsed as check-hashes
/// parses it.
pub fn pinned_in_list(list: &Path, name: &[u8]) -> anyhow::Result<Vec<(Algo, Vec<u8>)>> {
    let data = read_list(list)?;
    hashlist::expected_for_with(&data, name, list_options(list, ParseOptions::default()))
        .map_err(|e| e.context(format!("hash list {}", list.display())))
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

/// Map `f` over `items` on all cores, handing each result to `sink` in
/// order as soon as it and those before it are done; `idle` runs whenever
/// the next result is not ready yet (the caller flushes its output there,
/// so a line appears when it is known, without a write per line when
/// results come fast). At most [`WINDOW`] items are in flight ahead of the
/// next one to report, so memory stays bounded whatever the list's length.
pub fn par_in_order<'a, T: Sync, R: Send>(
    items: &'a [T],
    f: impl Fn(&'a T) -> R + Sync,
    mut sink: impl FnMut(&'a T, R) -> anyhow::Result<()>,
    mut idle: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Option<R>)>();
    let f = &f;
    // In place: this thread collects while the pool's threads hash.
    rayon::in_place_scope(|s| {
        let mut ready: std::collections::BTreeMap<usize, R> = std::collections::BTreeMap::new();
        let (mut spawned, mut next) = (0usize, 0usize);
        while next < items.len() {
            // Report what is ready first, then fill the window it freed:
            // in the other order the collector could wait with no work out.
            while let Some(r) = ready.remove(&next) {
                if let Some(item) = items.get(next) {
                    sink(item, r)?;
                }
                next += 1;
            }
            if next >= items.len() {
                break;
            }
            while spawned < items.len() && spawned - next < WINDOW {
                let (i, tx) = (spawned, tx.clone());
                if let Some(item) = items.get(i) {
                    s.spawn(move |_| {
                        // A panic is reported to the collector instead of
                        // leaving it waiting for a result that never comes;
                        // the collector may have stopped: nothing to do then.
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(item)));
                        let _ = tx.send((i, r.ok()));
                    });
                }
                spawned += 1;
            }
            let (i, r) = match rx.try_recv() {
                Ok(got) => got,
                Err(_) => {
                    idle()?;
                    rx.recv()
                        .map_err(|_| anyhow::anyhow!("a hashing task was lost"))?
                }
            };
            match r {
                Some(r) => {
                    ready.insert(i, r);
                }
                None => return Err(anyhow::anyhow!("a hashing task panicked")),
            }
        }
        Ok(())
    })
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
pub fn check_all(targets: &[Target], opts: &Options, sink: &mut impl Sink) -> anyhow::Result<Code> {
    let mut code = Code::Ok;
    let mut verified = 0usize;
    let sink = std::cell::RefCell::new(sink);
    par_in_order(
        targets,
        |t| check(t, opts),
        |_, o| {
            code = code.worst(o.status.code());
            verified += usize::from(o.status != Status::Skipped);
            sink.borrow_mut().report(&o)
        },
        || sink.borrow_mut().idle(),
    )?;
    if verified == 0 {
        code = code.worst(Code::Missing);
    }
    Ok(code)
}

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

/// `--generate`: what to write.
#[derive(Clone, Debug)]
pub struct Generate {
    pub algo: Algo,
    /// BSD `ALG (NAME) = HEX` lines instead of GNU `HEX  NAME`.
    pub tag: bool,
    /// NUL-terminated lines, names unescaped (`sha256sum -z`).
    pub zero: bool,
    /// Resolve FILES relative to this directory; names are written as given.
    pub dir: Option<PathBuf>,
    /// One JSON object per file and a summary instead of list lines.
    pub json: bool,
}

/// Write a list for `files` (`-` is standard input) as `sha256sum`
/// (`--tag`, `-z`) would, hashing on all cores, in argument order. A file
/// that cannot be read is reported on `err` and makes the result exit 4.
pub fn generate(
    files: &[PathBuf],
    g: &Generate,
    out: &mut impl Write,
    err: &mut impl Write,
) -> anyhow::Result<Code> {
    let mut code = Code::Ok;
    let hash_one = |p: &PathBuf| {
        if p.as_path() == Path::new("-") {
            hash_reader(std::io::stdin().lock(), &[g.algo])
        } else {
            match &g.dir {
                Some(d) => hash_file(&d.join(p), &[g.algo]),
                None => hash_file(p, &[g.algo]),
            }
        }
    };
    let mut written = 0usize;
    let out = std::cell::RefCell::new(out);
    par_in_order(
        files,
        hash_one,
        |p, r| {
            let mut out = out.borrow_mut();
            let name = p.as_os_str().as_bytes();
            let shown = String::from_utf8_lossy(&display_name(name)).into_owned();
            match r {
                Ok(d) => {
                    written += 1;
                    let digest = d.get(g.algo).unwrap_or_default();
                    let line = if g.json {
                        let v = serde_json::json!({"path": shown, "algo": g.algo.name(),
                        "digest": hex::encode(digest), "size": d.len});
                        format!("{v}\n").into_bytes()
                    } else {
                        hashlist::format_line(g.algo, digest, name, g.tag, g.zero)
                    };
                    out.write_all(&line).code(Code::Io, "writing the list")
                }
                Err(e) => {
                    code = code.worst(Code::Io);
                    out.flush().code(Code::Io, "writing the list")?;
                    writeln!(err, "check-hashes: {shown}: {e}").code(Code::Io, "writing to stderr")
                }
            }
        },
        || out.borrow_mut().flush().code(Code::Io, "writing the list"),
    )?;
    let out = out.into_inner();
    if g.json {
        let v = serde_json::json!({"summary": {"files": files.len(), "hashed": written,
            "unreadable": files.len() - written, "exit": code.as_u8()}});
        writeln!(out, "{v}").code(Code::Io, "writing the list")?;
    }
    out.flush().code(Code::Io, "writing the list")?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_in_order_reports_everything_in_order() {
        // When the first item of a window is the slowest, every result of
        // the window is ready at once and drained in one go: refilling the
        // window before draining once left the collector waiting with no
        // work out (a hang, caught here by a watchdog, not a timing).
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for round in 0..3 {
                let items: Vec<usize> = (0..1000 + round).collect();
                let mut seen = Vec::new();
                par_in_order(
                    &items,
                    |i| {
                        if i % WINDOW == 0 {
                            std::thread::sleep(std::time::Duration::from_millis(20));
                        }
                        *i * 2
                    },
                    |i, r| {
                        assert_eq!(r, *i * 2);
                        seen.push(*i);
                        Ok(())
                    },
                    || Ok(()),
                )
                .unwrap();
                assert_eq!(seen, items);
            }
            let _ = done_tx.send(());
        });
        assert!(
            done_rx
                .recv_timeout(std::time::Duration::from_secs(300))
                .is_ok(),
            "par_in_order hung"
        );
    }

    #[test]
    fn a_panicking_task_is_an_error_not_a_hang() {
        let items: Vec<usize> = (0..10).collect();
        let r = par_in_order(
            &items,
            |i| {
                assert!(*i != 7, "boom");
                *i
            },
            |_, _| Ok(()),
            || Ok(()),
        );
        assert!(r.is_err());
    }
}
