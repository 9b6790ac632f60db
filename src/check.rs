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
use crate::lists::hashlist::{self, display_name, Entry, Format, ParseOptions};
use crate::lists::signed::{self, cleartext_text, Detached};
use crate::lists::{debian, implied_file, list_options, MAX_LIST};
use crate::openpgp::verify::is_cleartext_signed;
use crate::openpgp::Verifier;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Files hashed in parallel before their results are reported: large
/// enough to keep every core busy, small enough to keep output flowing.
const WINDOW: usize = 256;

/// Targets built at a time for checking: many windows' worth, so the
/// pause where one chunk's last file finishes is rare.
const CHUNK: usize = 16 * WINDOW;

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

/// No pin (the end of an item's chain).
const NONE: u32 = u32::MAX;

/// One file in [`Targets`]: its name (and path, when it differs) in the
/// arena, its pins as a chain.
#[derive(Clone, Copy, Debug)]
struct Item {
    at: usize,
    name_len: u32,
    /// 0: the path is the name's bytes; else its length, after the name.
    path_len: u32,
    first: u32,
    last: u32,
}

/// One pinned digest (its offset in the arena) or size.
#[derive(Clone, Copy, Debug)]
struct Pin {
    value: u64,
    next: u32,
    /// None: `value` is a size.
    algo: Option<Algo>,
    len: u16,
}

/// Every file to check, in first-seen order, with its pins merged across
/// lines and lists.
///
/// Kept compactly, because a list of millions of entries must not cost
/// gigabytes (DESIGN.md §1.6): names, paths and digests back to back in
/// one arena, a few words per file and per pin, and an index of the files
/// by name (duplicate names are grouped, so the whole list is needed
/// before anything is hashed). About 60 bytes per entry plus its name and
/// digest; [`check_all`] builds the [`Target`]s of a few thousand files at
/// a time.
#[derive(Debug, Default)]
pub struct Targets {
    bytes: Vec<u8>,
    items: Vec<Item>,
    pins: Vec<Pin>,
    index: hashbrown::HashTable<u32>,
    hasher: std::collections::hash_map::RandomState,
}

impl Targets {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn name_of<'a>(bytes: &'a [u8], it: &Item) -> &'a [u8] {
        bytes
            .get(it.at..it.at + it.name_len as usize)
            .unwrap_or_default()
    }

    /// The file at `i` (in first-seen order) with everything pinned for it.
    pub fn get(&self, i: usize) -> Option<Target> {
        let it = self.items.get(i)?;
        let name = Self::name_of(&self.bytes, it).to_vec();
        let path = match it.path_len {
            0 => name.clone(),
            n => {
                let start = it.at + it.name_len as usize;
                self.bytes
                    .get(start..start + n as usize)
                    .unwrap_or_default()
                    .to_vec()
            }
        };
        let mut t = Target {
            name,
            path: PathBuf::from(OsStr::from_bytes(&path)),
            expected: Vec::new(),
            sizes: Vec::new(),
        };
        for pin in self.pins_of(it) {
            match pin.algo {
                Some(algo) => {
                    let at = pin.value as usize;
                    let d = self.bytes.get(at..at + usize::from(pin.len));
                    t.expected.push((algo, d.unwrap_or_default().to_vec()));
                }
                None => t.sizes.push(pin.value),
            }
        }
        Some(t)
    }

    /// The pins of `it`, in the order they were added.
    fn pins_of<'a>(&'a self, it: &Item) -> impl Iterator<Item = &'a Pin> + 'a {
        std::iter::successors(self.pins.get(it.first as usize), |p| {
            self.pins.get(p.next as usize)
        })
    }

    /// Pin `digest` for the file `name` at `path`.
    pub fn add(
        &mut self,
        name: Vec<u8>,
        path: PathBuf,
        algo: Algo,
        digest: Vec<u8>,
    ) -> anyhow::Result<()> {
        self.add_ref(&name, &path, algo, &digest)
    }

    fn add_ref(
        &mut self,
        name: &[u8],
        path: &Path,
        algo: Algo,
        digest: &[u8],
    ) -> anyhow::Result<()> {
        let len = u16::try_from(digest.len()).map_err(|_| too_many())?;
        let i = self.target(name, path)?;
        let value = self.bytes.len() as u64;
        self.bytes.extend_from_slice(digest);
        self.push_pin(
            i,
            Pin {
                value,
                next: NONE,
                algo: Some(algo),
                len,
            },
        )
    }

    /// Pin the size of the file `name` at `path` (Debian lists).
    pub fn add_size(&mut self, name: Vec<u8>, path: PathBuf, size: u64) -> anyhow::Result<()> {
        let i = self.target(&name, &path)?;
        let known = self.items.get(i).is_some_and(|it| {
            self.pins_of(it)
                .any(|p| p.algo.is_none() && p.value == size)
        });
        if known {
            return Ok(());
        }
        self.push_pin(
            i,
            Pin {
                value: size,
                next: NONE,
                algo: None,
                len: 0,
            },
        )
    }

    fn push_pin(&mut self, i: usize, pin: Pin) -> anyhow::Result<()> {
        let p = u32::try_from(self.pins.len())
            .ok()
            .filter(|&p| p != NONE)
            .ok_or_else(too_many)?;
        let it = self.items.get_mut(i).ok_or_else(too_many)?;
        match self.pins.get_mut(it.last as usize) {
            Some(last) => last.next = p,
            None => it.first = p,
        }
        it.last = p;
        self.pins.push(pin);
        Ok(())
    }

    /// The index of the target for `name`, created when new.
    fn target(&mut self, name: &[u8], path: &Path) -> anyhow::Result<usize> {
        use std::hash::BuildHasher;
        let h = self.hasher.hash_one(name);
        let (bytes, items) = (&self.bytes, &self.items);
        let same = |&i: &u32| {
            items
                .get(i as usize)
                .is_some_and(|it| Self::name_of(bytes, it) == name)
        };
        if let Some(&i) = self.index.find(h, same) {
            return Ok(i as usize);
        }
        let i = u32::try_from(self.items.len())
            .ok()
            .filter(|&i| i != NONE)
            .ok_or_else(too_many)?;
        let at = self.bytes.len();
        self.bytes.extend_from_slice(name);
        let path = path.as_os_str().as_bytes();
        let path_len = if path == name {
            0
        } else {
            self.bytes.extend_from_slice(path);
            u32::try_from(path.len()).map_err(|_| too_many())?
        };
        self.items.push(Item {
            at,
            name_len: u32::try_from(name.len()).map_err(|_| too_many())?,
            path_len,
            first: NONE,
            last: NONE,
        });
        let (bytes, items, hasher) = (&self.bytes, &self.items, &self.hasher);
        self.index.insert_unique(h, i, |&j| {
            let it = items.get(j as usize);
            hasher.hash_one(it.map_or(&[][..], |it| Self::name_of(bytes, it)))
        });
        Ok(i as usize)
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
            self.add_ref(file.as_os_str().as_bytes(), &path, algo, &digest)?;
        }
        Ok(())
    }

    /// Add one list entry. `list` is its path (None for stdin): a bare
    /// digest in `foo.sha256` pins `foo` next to it (or in `-C DIR`).
    fn add_entry(&mut self, e: Entry, list: Option<&Path>, opts: &Options) -> anyhow::Result<()> {
        match e.name {
            Some(name) => {
                let path = listed_path(&name, opts, &format!("line {}", e.line))?;
                self.add_ref(&name, &path, e.algo, &e.digest)?;
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
                self.add_ref(path.as_os_str().as_bytes(), &path, algo, &e.digest)?;
            }
        }
        Ok(())
    }

    /// Add the entries of one list (see [`Targets::add_entry`]).
    pub fn add_entries(
        &mut self,
        entries: Vec<Entry>,
        list: Option<&Path>,
        opts: &Options,
    ) -> anyhow::Result<()> {
        entries
            .into_iter()
            .try_for_each(|e| self.add_entry(e, list, opts))
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
    ///
    /// A plain hash list without keys is parsed as it is read, never held
    /// whole; a signed or Debian list is read whole (its signature covers
    /// the bytes, a Debian list is parsed by paragraphs), at most
    /// [`MAX_LIST`] bytes.
    pub fn add_list_signed_by(
        &mut self,
        list: &Path,
        signature: Option<&Path>,
        opts: &Options,
        verifier: Option<&Verifier>,
    ) -> anyhow::Result<Vec<String>> {
        let shown = list.display().to_string();
        let mut input = open_list(list)?;
        let head = read_head(&mut input, &shown)?;
        let sep = if opts.parse.zero_terminated {
            b'\0'
        } else {
            b'\n'
        };
        if verifier.is_none() && streamable(&head.bytes, head.eof, sep) {
            let reader = std::io::BufReader::with_capacity(
                1 << 20,
                std::io::Read::chain(&head.bytes[..], input),
            );
            let what = format!("list {shown}");
            let file = (list != Path::new("-")).then_some(list);
            let mut add = |e: Entry| self.add_entry(e, file, opts);
            let n = hashlist::parse_reader(
                reader,
                list_options(list, opts.parse),
                MAX_LIST,
                &what,
                &mut add,
            )
            .with_code(Code::Usage, || shown.clone())?;
            return no_entry(n, list).map(|()| Vec::new());
        }
        let mut raw = head.bytes;
        let rest = MAX_LIST.saturating_sub(raw.len() as u64);
        raw.extend(crate::fsutil::read_bounded(
            input,
            rest,
            &format!("list {shown}"),
            Code::Usage,
        )?);
        let (data, notes) =
            signed_text(raw, list, signature, verifier).map_err(|e| e.context(shown.clone()))?;
        if debian::looks_like_deb822(&data) {
            self.add_debian(&data, &shown, opts)?;
            return Ok(notes);
        }
        self.add_parsed(&data, list, opts)?;
        Ok(notes)
    }

    /// The files a Debian list pins, with their sizes.
    fn add_debian(&mut self, data: &[u8], shown: &str, opts: &Options) -> anyhow::Result<()> {
        let pins = debian::list_entries(data).with_code(Code::Usage, || shown.to_string())?;
        if pins.is_empty() {
            return Err(fail(
                Code::Missing,
                format!("{shown}: lists no file: nothing to verify"),
            ));
        }
        for pin in pins {
            let path = listed_path(&pin.path, opts, shown)?;
            self.add_size(pin.path.clone(), path.clone(), pin.size)?;
            for (algo, digest) in pin.digests {
                self.add_ref(&pin.path, &path, algo, &digest)?;
            }
        }
        Ok(())
    }

    fn add_parsed(&mut self, data: &[u8], list: &Path, opts: &Options) -> anyhow::Result<()> {
        let file = (list != Path::new("-")).then_some(list);
        let n = hashlist::parse_each(data, list_options(list, opts.parse), |e| {
            self.add_entry(e, file, opts)
        })
        .with_code(Code::Usage, || format!("{}", list.display()))?;
        no_entry(n, list)
    }

    /// `--require FILE`: exit 3 unless FILE has an entry (`./x` is `x`).
    pub fn require(&self, name: &str) -> anyhow::Result<()> {
        let norm = |mut n: &[u8]| -> Vec<u8> {
            while let Some(rest) = n.strip_prefix(b"./") {
                n = rest;
            }
            n.to_vec()
        };
        let want = norm(name.as_bytes());
        if self
            .items
            .iter()
            .any(|it| norm(Self::name_of(&self.bytes, it)) == want)
        {
            Ok(())
        } else {
            Err(fail(Code::Missing, format!("no hash entry for {name}")))
        }
    }
}

/// More files, pins or bytes than the compact form counts (billions):
/// far past any list this reads.
fn too_many() -> anyhow::Error {
    fail(Code::Usage, "more hash entries than can be checked at once")
}

/// A list with no entry verifies nothing: exit 3.
fn no_entry(n: usize, list: &Path) -> anyhow::Result<()> {
    if n == 0 {
        return Err(fail(
            Code::Missing,
            format!("{}: no checksum line: nothing to verify", list.display()),
        ));
    }
    Ok(())
}

/// How much of a list is read before deciding how to read the rest.
const HEAD: usize = 1 << 20;

/// The first bytes of a list, and whether they are all of it.
struct Head {
    bytes: Vec<u8>,
    eof: bool,
}

/// A list opened for reading: a file, or standard input for `-`.
fn open_list(list: &Path) -> anyhow::Result<Box<dyn std::io::Read>> {
    if list == Path::new("-") {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    Ok(Box::new(crate::fsutil::input::open_regular(list, "list")?))
}

fn read_head(input: &mut impl std::io::Read, shown: &str) -> anyhow::Result<Head> {
    use std::io::Read;
    let mut bytes = Vec::new();
    input
        .take(HEAD as u64)
        .read_to_end(&mut bytes)
        .with_code(Code::Io, || format!("reading list {shown}"))?;
    let eof = bytes.len() < HEAD;
    Ok(Head { bytes, eof })
}

/// Can a list starting with `head` be parsed as it is read? Only a plain
/// hash list: not cleartext-signed, not a Debian list, which the first
/// meaningful line tells (so it must be in `head`, whole).
fn streamable(head: &[u8], eof: bool, sep: u8) -> bool {
    if is_cleartext_signed(head) || debian::looks_like_deb822(head) {
        return false;
    }
    for line in head.split_inclusive(|&b| b == sep || b == b'\n') {
        let l = line.trim_ascii_end();
        if !l.is_empty() && !l.starts_with(b"#") {
            // Whole when it ends here, or the head is all there is.
            return line.ends_with(&[sep]) || line.ends_with(b"\n") || eof;
        }
    }
    // Nothing but blanks and comments in the head: let the whole read decide.
    eof
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
    let Some(v) = verifier else {
        if is_cleartext_signed(&raw) {
            let text = cleartext_text(&raw)
                .ok_or_else(|| fail(Code::Usage, "malformed cleartext-signed message"))?;
            return Ok((
                text,
                vec!["signature not checked (no --keyring given)".to_string()],
            ));
        }
        return Ok((raw, Vec::new()));
    };
    let detached = match signature {
        Some(sig) => Detached::Named(sig),
        None => Detached::Beside(&["gpg", "asc", "sig"]),
    };
    let from = (list != Path::new("-")).then_some(list);
    let s = signed::verify(raw, from, detached, v, MAX_LIST)?;
    let mut notes: Vec<String> = s
        .verdict
        .signers
        .iter()
        .map(|f| format!("signed by {f}"))
        .collect();
    notes.extend(s.verdict.notes);
    Ok((s.text, notes))
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
    let data = crate::lists::read_list(path)?;
    Ok(crate::lists::is_list(&data, path, opts.parse))
}

fn is_outside(p: &Path) -> bool {
    p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir))
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
