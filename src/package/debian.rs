//! The Debian archive chain: a Release file (InRelease, or Release with
//! Release.gpg) signed by archive keys, the indices it lists (Packages,
//! Sources) by size and hash, the files those indices list, and the files
//! a verified .dsc lists.
//!
//! Each link is authenticated by the one before it and nothing is trusted
//! before its link is checked: an index is parsed while it is hashed, but
//! what it pins is used only once its size and digest matched. Indices
//! stream through their decoder (memory stays flat whatever their size)
//! and only the stanzas of the files asked about are kept.
//!
//! The lists themselves (what a Release, an index or a .dsc pins) are read
//! by [`crate::lists::debian`].

use super::open_operand;
use crate::codec::Compression;
use crate::digest::{hash_open_file, Algo, HashingReader};
use crate::exit::{fail, Code, ResultExt};
use crate::lists::deb822;
use crate::lists::debian::{basename, merge_pin, paragraph_pins, release_from_text, Pin, Release};
use crate::lists::signed::{self, cleartext_text, Detached};
use crate::openpgp::verify::is_cleartext_signed;
use crate::openpgp::Verifier;
use std::collections::{HashMap, HashSet};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Largest Release or .dsc read (the Debian main archive's InRelease is
/// ~200 KB).
pub const MAX_CONTROL: u64 = 64 << 20;

/// Verify a Release: InRelease by its cleartext signature, Release by
/// `sig` (default `RELEASE.gpg` beside it); then its dates.
pub fn verify_release(
    path: &Path,
    sig: Option<&Path>,
    verifier: &Verifier,
    ignore_valid_until: bool,
) -> anyhow::Result<Release> {
    let (file, _) = open_operand(path)?;
    let shown = path.display().to_string();
    let bytes = crate::fsutil::read_bounded(file, MAX_CONTROL, &shown, Code::Failed)?;
    let detached = match sig {
        Some(s) => Detached::Fallback(s),
        None => Detached::Beside(&["gpg"]),
    };
    let s = signed::verify(bytes, Some(path), detached, verifier, MAX_CONTROL)?;
    release_from_text(path, s.verdict, &s.text, ignore_valid_until)
}

/// What was checked of one index.
#[derive(Clone, Debug)]
pub struct IndexReport {
    pub path: PathBuf,
    /// The Release entries it matched (compressed and/or uncompressed).
    pub entries: Vec<String>,
}

/// The Release entries a local index file may be: the entry at its path
/// relative to the Release's directory, else every entry with its file
/// name.
fn entries_named<'r>(release: &'r Release, rel: Option<&[u8]>, name: &[u8]) -> Vec<&'r Pin> {
    if let Some(rel) = rel {
        let exact: Vec<&Pin> = release.entries.iter().filter(|p| p.path == rel).collect();
        if !exact.is_empty() {
            return exact;
        }
    }
    release
        .entries
        .iter()
        .filter(|p| basename(&p.path) == name)
        .collect()
}

/// `index` relative to the Release's directory, when it lies below it.
fn relative_to_release(release: &Path, index: &Path) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let base = std::fs::canonicalize(crate::fsutil::parent_dir(release)).ok()?;
    let idx = std::fs::canonicalize(index).ok()?;
    let rel = idx.strip_prefix(base).ok()?;
    Some(rel.as_os_str().as_bytes().to_vec())
}

/// Does `got` (size and digests) satisfy one of `cands`? Returns the
/// matching entry, or why none did, in one short line: the entries of
/// the file's size are the ones it was meant to be (a Release lists a
/// Packages.xz for every component and architecture), so only they are
/// named; with none of that size, the sizes listed.
fn match_any<'p>(
    cands: &[&'p Pin],
    len: u64,
    digests: &crate::digest::Digests,
) -> Result<&'p Pin, String> {
    /// Entries named in a failure, at most.
    const NAMED: usize = 3;
    let path = |p: &Pin| String::from_utf8_lossy(&p.path).into_owned();
    let more = |n: usize| match n.checked_sub(NAMED) {
        Some(extra) if extra > 0 => format!(" (and {extra} more)"),
        _ => String::new(),
    };
    let sized: Vec<&&Pin> = cands.iter().filter(|p| p.size == len).collect();
    let mut why = Vec::new();
    for p in &sized {
        let want = p.usable_digests();
        if let Some((a, _)) = want.iter().find(|(a, _)| a.is_weak()) {
            why.push(format!("{}: only a weak {a} digest is listed", path(p)));
            continue;
        }
        let bad = crate::digest::mismatches(&want, digests);
        if bad.is_empty() {
            return Ok(p);
        }
        why.push(format!("{}: {}", path(p), bad.join("; ")));
    }
    if !why.is_empty() {
        let n = why.len();
        why.truncate(NAMED);
        return Err(format!("{}{}", why.join("; "), more(n)));
    }
    match cands {
        [one] => Err(format!(
            "{}: size mismatch: expected {}, got {len}",
            path(one),
            one.size
        )),
        _ => {
            let listed: Vec<String> = cands
                .iter()
                .take(NAMED)
                .map(|p| format!("{} {}", path(p), p.size))
                .collect();
            Err(format!(
                "size {len} is that of none of the {} entries of that name ({}{})",
                cands.len(),
                listed.join(", "),
                more(cands.len())
            ))
        }
    }
}

fn algos_of(cands: &[&Pin]) -> Vec<Algo> {
    let mut v: Vec<Algo> = cands
        .iter()
        .flat_map(|p| p.usable_digests().into_iter().map(|(a, _)| a))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Verify one index against the Release and collect the pins of the
/// files named `wanted` (by file name).
pub fn verify_index(
    release: &Release,
    path: &Path,
    wanted: &HashSet<Vec<u8>>,
    max_size: u64,
) -> anyhow::Result<(IndexReport, Vec<Pin>)> {
    use std::os::unix::ffi::OsStrExt;
    let (file, len) = open_operand(path)?;
    let name = path
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_default();
    let name_str = String::from_utf8_lossy(&name).into_owned();
    let compression = Compression::from_name(&name_str);
    let rel = relative_to_release(&release.path, path);
    let own = entries_named(release, rel.as_deref(), &name);
    let plain: Vec<&Pin> = match compression {
        Some(_) => {
            let dn = Compression::decompressed_name(&name_str).unwrap_or_default();
            let rel_plain = rel.as_ref().and_then(|r| {
                r.strip_suffix(name.as_slice())
                    .map(|d| [d, dn.as_bytes()].concat())
            });
            entries_named(release, rel_plain.as_deref(), dn.as_bytes())
        }
        None => Vec::new(),
    };
    if own.is_empty() && plain.is_empty() {
        return Err(fail(
            Code::Missing,
            format!("no entry for {name_str} in {}", release.path.display()),
        ));
    }
    // The compressed file is known by its size before a byte is read.
    let own: Vec<&Pin> = if own.iter().any(|p| p.size == len) || plain.is_empty() {
        own
    } else {
        Vec::new()
    };
    let by = match &rel {
        Some(r) => String::from_utf8_lossy(r).into_owned(),
        None => name_str.clone(),
    };

    let mut outer = HashingReader::new(BufReader::new(FromDisk(file)), &algos_of(&own));
    let mut pins = Vec::new();
    let inner_algos = algos_of(&plain);
    let parse = |r: &mut dyn Read, pins: &mut Vec<Pin>| -> anyhow::Result<()> {
        let bounded = BufReader::new(r.take(max_size.saturating_add(1)));
        let mut reader = deb822::Reader::new(bounded, deb822::LIMITS);
        while let Some(p) = reader.next_paragraph().map_err(|e| match e {
            deb822::Deb822Error::Read(io) => classify_read(io),
            e => fail(Code::Failed, format!("malformed index: {e}")),
        })? {
            for pin in paragraph_pins(&p, &by)
                .map_err(|e| fail(Code::Failed, format!("malformed index: {e}")))?
            {
                if wanted.contains(basename(&pin.path)) {
                    pins.push(pin);
                }
            }
        }
        Ok(())
    };
    let plain_digests = match compression {
        Some(c) => {
            let dec = c.decoder(&mut outer);
            let mut inner = HashingReader::new(dec, &inner_algos);
            let mut counted = Counted {
                inner: &mut inner,
                n: 0,
            };
            parse(&mut counted, &mut pins)?;
            if counted.n > max_size {
                return Err(fail(
                    Code::Failed,
                    format!("decompresses to more than {max_size} bytes (--max-index-size)"),
                ));
            }
            // Whatever the parser left unread still counts.
            std::io::copy(&mut inner, &mut std::io::sink()).map_err(classify_read)?;
            Some(inner.finalize()?)
        }
        None => {
            parse(&mut outer, &mut pins)?;
            None
        }
    };
    std::io::copy(&mut outer, &mut std::io::sink()).map_err(classify_read)?;
    let outer_digests = outer.finalize()?;

    let mut matched = Vec::new();
    if !own.is_empty() {
        let p = match_any(&own, outer_digests.len, &outer_digests).map_err(|why| {
            fail(
                Code::Failed,
                format!("does not match {}: {why}", release.path.display()),
            )
        })?;
        matched.push(String::from_utf8_lossy(&p.path).into_owned());
    }
    if let Some(d) = &plain_digests {
        if !plain.is_empty() {
            let p = match_any(&plain, d.len, d).map_err(|why| {
                fail(
                    Code::Failed,
                    format!(
                        "uncompressed content does not match {}: {why}",
                        release.path.display()
                    ),
                )
            })?;
            matched.push(String::from_utf8_lossy(&p.path).into_owned());
        }
    }
    // What the files are pinned by: the Release entry the index matched.
    if let Some(first) = matched.first() {
        for p in &mut pins {
            p.by = first.clone();
        }
    }
    Ok((
        IndexReport {
            path: path.to_path_buf(),
            entries: matched,
        },
        pins,
    ))
}

/// An error of the index file's own reads, told apart from a decoder's
/// (a decoder reports corruption with whatever error kind it likes: xz's
/// "dist overflow" is `Other`).
#[derive(Debug)]
struct DiskError(std::io::Error);

impl std::fmt::Display for DiskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for DiskError {}

/// The index file, its read errors marked as [`DiskError`]s.
struct FromDisk<R>(R);

impl<R: Read> Read for FromDisk<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| std::io::Error::new(e.kind(), DiskError(e)))
    }
}

/// A read of the file that failed is I/O (exit 4); anything else a
/// decoder said is a corrupt file (exit 1).
fn classify_read(e: std::io::Error) -> anyhow::Error {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|i| i as _);
    while let Some(c) = cur {
        if c.is::<DiskError>() {
            return anyhow::Error::new(e).context("reading");
        }
        cur = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref().map(|i| i as _));
    }
    fail(Code::Failed, format!("corrupt compressed data: {e}"))
}

/// Counts the bytes read through it.
struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

/// What the chain checks, from the command line.
#[derive(Clone, Debug, Default)]
pub struct ChainOptions {
    pub release: Option<PathBuf>,
    pub release_sig: Option<PathBuf>,
    pub indices: Vec<PathBuf>,
    pub ignore_valid_until: bool,
    pub max_index_size: u64,
}

/// How one Debian file was verified.
#[derive(Clone, Debug)]
pub struct FileReport {
    /// The pin it matched.
    pub pin: Pin,
    /// The digests checked, hex.
    pub digests: Vec<(Algo, String)>,
    /// Signers of the link that authenticated the pin (the Release, or a
    /// .dsc's own signature).
    pub signers: Vec<String>,
    pub notes: Vec<String>,
}

/// The verified links, and the pins they give.
#[derive(Debug, Default)]
pub struct Chain {
    release: Option<Release>,
    pub indices: Vec<IndexReport>,
    /// Pins by file name.
    pins: HashMap<Vec<u8>, Vec<Pin>>,
    /// File names whose entries contradict each other, and how.
    conflicts: HashMap<Vec<u8>, String>,
}

fn file_name_bytes(p: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    p.file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_default()
}

impl Chain {
    /// Verify the Release and the indices the options name, keeping the
    /// pins of `files`.
    pub fn open(
        opts: &ChainOptions,
        files: &[PathBuf],
        verifier: &Verifier,
    ) -> anyhow::Result<Chain> {
        let mut chain = Chain::default();
        let Some(rel_path) = &opts.release else {
            return Ok(chain);
        };
        let release = verify_release(
            rel_path,
            opts.release_sig.as_deref(),
            verifier,
            opts.ignore_valid_until,
        )
        .map_err(|e| e.context(rel_path.display().to_string()))?;
        let wanted: HashSet<Vec<u8>> = files.iter().map(|f| file_name_bytes(f)).collect();
        for idx in &opts.indices {
            let (report, pins) = verify_index(&release, idx, &wanted, opts.max_index_size)
                .map_err(|e| e.context(idx.display().to_string()))?;
            chain.indices.push(report);
            for p in pins {
                chain.add(p, false);
            }
        }
        chain.release = Some(release);
        Ok(chain)
    }

    pub fn release(&self) -> Option<&Release> {
        self.release.as_ref()
    }

    /// Keep `p` among the pins of its file name (first with `front`).
    /// Another entry for the same path is merged with it; entries that
    /// contradict each other leave that file nothing to match but the
    /// contradiction (exit 1 when it is verified; other files unharmed).
    fn add(&mut self, p: Pin, front: bool) {
        let name = basename(&p.path).to_vec();
        let bucket = self.pins.entry(name.clone()).or_default();
        if bucket.iter().any(|q| q.path == p.path) {
            let by = p.by.clone();
            if let Err(why) = merge_pin(bucket, p) {
                self.conflicts
                    .entry(name)
                    .or_insert_with(|| format!("{why} (in {by})"));
            }
        } else if front {
            bucket.insert(0, p);
        } else {
            bucket.push(p);
        }
    }

    fn release_signers(&self) -> Vec<String> {
        self.release
            .as_ref()
            .map(|r| r.signers.clone())
            .unwrap_or_default()
    }

    /// .dsc operands (verified first: they pin the files after them) and the rest.
    pub fn order(&self, files: &[PathBuf]) -> (Vec<PathBuf>, Vec<PathBuf>) {
        files
            .iter()
            .cloned()
            .partition(|f| f.extension().is_some_and(|e| e.eq_ignore_ascii_case("dsc")))
    }

    /// The pins for a file name, or exit 3; exit 1 when its entries
    /// contradict each other.
    fn pins_for(&self, name: &[u8]) -> anyhow::Result<Vec<&Pin>> {
        if let Some(why) = self.conflicts.get(name) {
            return Err(fail(Code::Failed, why.clone()));
        }
        match self.pins.get(name) {
            Some(v) if !v.is_empty() => Ok(v.iter().collect()),
            _ => Err(fail(
                Code::Missing,
                if self.release.is_none() {
                    "no entry for it: a Debian file is verified through --release and --index, or a signed .dsc".to_string()
                } else {
                    "no entry for it in the indices or .dsc files given".to_string()
                },
            )),
        }
    }

    /// Verify a .dsc: by its index entry when it has one, else by its
    /// own cleartext signature; then pin the files it lists.
    pub fn verify_dsc(
        &mut self,
        path: &Path,
        verifier: &Verifier,
    ) -> anyhow::Result<super::Verified> {
        let (file, _) = open_operand(path)?;
        let shown = path.display().to_string();
        let bytes = crate::fsutil::read_bounded(file, MAX_CONTROL, &shown, Code::Failed)?;
        let name = file_name_bytes(path);
        if let Some(why) = self.conflicts.get(&name) {
            return Err(fail(Code::Failed, why.clone()));
        }
        let (report, text) = match self.pins.get(&name).filter(|v| !v.is_empty()) {
            Some(cands) => {
                let cands: Vec<&Pin> = cands.iter().collect();
                let d = crate::digest::hash_reader(bytes.as_slice(), &algos_of(&cands))?;
                let report = self.report_for(&cands, &d)?;
                // Authenticated by its hash: the signature need not be checked.
                let text = cleartext_text(&bytes).unwrap_or_else(|| bytes.clone());
                (report, text)
            }
            None if is_cleartext_signed(&bytes) => {
                let size = bytes.len() as u64;
                let signed::Signed { verdict, text } =
                    signed::verify(bytes, Some(path), Detached::Nowhere, verifier, MAX_CONTROL)?;
                let report = FileReport {
                    pin: Pin {
                        path: name.clone(),
                        size,
                        digests: Vec::new(),
                        by: "its own signature".into(),
                    },
                    digests: Vec::new(),
                    signers: verdict.signers.iter().map(|f| f.to_hex()).collect(),
                    notes: verdict.notes,
                };
                (report, text)
            }
            None => {
                return Err(fail(
                    Code::Missing,
                    "neither pinned by an index nor cleartext-signed: nothing to verify it with",
                ))
            }
        };
        let mut reader = deb822::Reader::new(text.as_slice(), deb822::LIMITS);
        let p = reader
            .next_paragraph()
            .map_err(|e| fail(Code::Failed, format!("malformed .dsc: {e}")))?
            .ok_or_else(|| fail(Code::Failed, "malformed .dsc: no fields"))?;
        let by = String::from_utf8_lossy(&name).into_owned();
        let pins = paragraph_pins(&p, &by)
            .map_err(|e| fail(Code::Failed, format!("malformed .dsc: {e}")))?;
        // The .dsc's pins come first: its files are reported as pinned by
        // it (InRelease -> Sources -> .dsc -> tarball).
        for pin in pins {
            self.add(pin, true);
        }
        Ok(super::Verified::Debian(report))
    }

    /// Verify a file some verified list pins (.deb, tarball, ...), open as
    /// `file` (never opened again by name): its size first, then its
    /// digests.
    pub fn verify_pinned(
        &self,
        path: &Path,
        file: std::fs::File,
        len: u64,
    ) -> anyhow::Result<FileReport> {
        let cands = self.pins_for(&file_name_bytes(path))?;
        let sized: Vec<&Pin> = cands.iter().copied().filter(|p| p.size == len).collect();
        if sized.is_empty() {
            let p = cands
                .first()
                .map(|p| (p.size, p.by.clone()))
                .unwrap_or_default();
            return Err(fail(
                Code::Failed,
                format!(
                    "size mismatch: {} lists {} bytes, the file has {len}",
                    p.1, p.0
                ),
            ));
        }
        let d = hash_open_file(file, &algos_of(&sized))
            .with_code(Code::Io, || format!("reading {}", path.display()))?;
        self.report_for(&sized, &d)
    }

    /// The report for a file whose digests are `d`, if a pin in `cands`
    /// matches them.
    fn report_for(&self, cands: &[&Pin], d: &crate::digest::Digests) -> anyhow::Result<FileReport> {
        let pin = match_any(cands, d.len, d)
            .map_err(|why| fail(Code::Failed, why))?
            .clone();
        let digests = pin
            .usable_digests()
            .iter()
            .map(|(a, _)| (*a, d.hex(*a).unwrap_or_default()))
            .collect();
        Ok(FileReport {
            pin,
            digests,
            signers: self.release_signers(),
            notes: Vec::new(),
        })
    }
}
