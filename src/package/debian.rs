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
//! The same parsing turns Debian lists into hash-list entries with sizes
//! for check-hashes ([`list_entries`]).

use super::deb822::{self, checksum_lines, Paragraph};
use super::open_operand;
use crate::codec::Compression;
use crate::digest::{hash_file, Algo, HashingReader};
use crate::exit::{fail, Code, ResultExt};
use crate::openpgp::verify::is_cleartext_signed;
use crate::openpgp::Verifier;
use crate::time;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Largest Release or .dsc read (the Debian main archive's InRelease is
/// ~200 KB).
pub const MAX_CONTROL: u64 = 64 << 20;
/// Largest detached signature read.
const MAX_SIG: u64 = 1 << 20;
/// Signatures (and Release Dates) this far in the future still pass:
/// the clock skew sequoia tolerates.
const SKEW_SECS: i64 = 30 * 60;

/// The digest fields of Release files (multi-line) and their algorithms,
/// strongest first.
const RELEASE_SUMS: [(&str, Algo); 4] = [
    ("SHA512", Algo::Sha512),
    ("SHA256", Algo::Sha256),
    ("SHA1", Algo::Sha1),
    ("MD5Sum", Algo::Md5),
];
/// The single-line digest fields of Packages stanzas.
const PACKAGE_SUMS: [(&str, Algo); 4] = [
    ("SHA512", Algo::Sha512),
    ("SHA256", Algo::Sha256),
    ("SHA1", Algo::Sha1),
    ("MD5sum", Algo::Md5),
];
/// The checksum fields of Sources stanzas, .dsc and .changes files.
const SOURCE_SUMS: [(&str, Algo); 4] = [
    ("Checksums-Sha512", Algo::Sha512),
    ("Checksums-Sha256", Algo::Sha256),
    ("Checksums-Sha1", Algo::Sha1),
    ("Files", Algo::Md5),
];

/// What a verified list says one file must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    /// The path as listed (`pool/main/h/hello/hello_2.10-3_amd64.deb`).
    pub path: Vec<u8>,
    pub size: u64,
    /// Every digest listed, weak ones included (the checker decides).
    pub digests: Vec<(Algo, Vec<u8>)>,
    /// The verified list that pins it (an index path, a .dsc).
    pub by: String,
}

impl Pin {
    /// The one digest the chain checks: SHA-256 (SHA-NI makes it the
    /// fastest), else the strongest listed. The signed list lists them all
    /// over the same bytes; a second strong digest adds hashing time, not
    /// security. A weak one comes out only when nothing else is listed
    /// (and is then refused).
    pub fn checked_digests(&self) -> Vec<(Algo, Vec<u8>)> {
        let pick = [Algo::Sha256, Algo::Sha512, Algo::Sha384, Algo::Blake2b512]
            .into_iter()
            .find_map(|a| self.digests.iter().find(|(b, _)| *b == a));
        match pick {
            Some(d) => vec![d.clone()],
            None => self.usable_digests(),
        }
    }

    /// The strong digests, or the weak ones when there is nothing else.
    pub fn usable_digests(&self) -> Vec<(Algo, Vec<u8>)> {
        let strong: Vec<_> = self
            .digests
            .iter()
            .filter(|(a, _)| !a.is_weak())
            .cloned()
            .collect();
        if strong.is_empty() {
            self.digests.clone()
        } else {
            strong
        }
    }
}

/// Add `algo`'s digest for `path` to `pins` (keyed by path, in order).
fn add_pin(
    pins: &mut Vec<Pin>,
    index: &mut HashMap<Vec<u8>, usize>,
    path: Vec<u8>,
    size: u64,
    algo: Algo,
    digest: Vec<u8>,
    by: &str,
) -> Result<(), String> {
    match index.get(&path).and_then(|&i| pins.get_mut(i)) {
        Some(p) => {
            if p.size != size {
                return Err(format!(
                    "{} is listed with two sizes ({} and {size})",
                    String::from_utf8_lossy(&path),
                    p.size
                ));
            }
            p.digests.push((algo, digest));
        }
        None => {
            index.insert(path.clone(), pins.len());
            pins.push(Pin {
                path,
                size,
                digests: vec![(algo, digest)],
                by: by.to_string(),
            });
        }
    }
    Ok(())
}

/// The files one paragraph pins, whatever list it comes from: Release
/// (multi-line `SHA256:` sections), Packages (`Filename`, `Size`,
/// `SHA256`), Sources (`Directory` + `Checksums-Sha256`), .dsc and
/// .changes (`Checksums-Sha256`, `Files`).
pub fn paragraph_pins(p: &Paragraph, by: &str) -> Result<Vec<Pin>, String> {
    let mut pins = Vec::new();
    let mut index = HashMap::new();
    let at = |e: String| format!("paragraph at line {}: {e}", p.line);
    if let Some(filename) = p.get("Filename") {
        let size = p
            .get("Size")
            .and_then(deb822::decimal)
            .ok_or_else(|| at("Filename without a valid Size".into()))?;
        for (field, algo) in PACKAGE_SUMS {
            if let Some(v) = p.get(field) {
                let d = deb822::hex_digest(v, algo)
                    .ok_or_else(|| at(format!("{field} is not a {algo} hex digest")))?;
                add_pin(&mut pins, &mut index, filename.to_vec(), size, algo, d, by).map_err(at)?;
            }
        }
        return Ok(pins);
    }
    let dir = p.get("Directory").map(|d| {
        let mut d = d.to_vec();
        if !d.is_empty() && !d.ends_with(b"/") {
            d.push(b'/');
        }
        d
    });
    let fields: &[(&str, Algo)] = if p.get("SHA256").is_some() || p.get("MD5Sum").is_some() {
        &RELEASE_SUMS
    } else {
        &SOURCE_SUMS
    };
    for (field, algo) in fields {
        let Some(v) = p.get(field) else { continue };
        // Release's `SHA256` is multi-line; a Packages-style single value
        // without Filename is not a list of files.
        for s in checksum_lines(v, *algo).map_err(|e| at(format!("{field}: {e}")))? {
            let path = match &dir {
                Some(d) => [d.as_slice(), &s.name].concat(),
                None => s.name,
            };
            add_pin(&mut pins, &mut index, path, s.size, *algo, s.digest, by).map_err(at)?;
        }
    }
    Ok(pins)
}

/// The last path component of a listed path.
pub fn basename(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

/// Is this list a Debian control file (or a cleartext-signed one)?
/// Its first meaningful line is `Field: value`; no hash-list format has a
/// colon right after a leading word.
pub fn looks_like_deb822(data: &[u8]) -> bool {
    if is_cleartext_signed(data) {
        // A signed message: what it holds decides.
        return deb822::cleartext_text(data).is_some_and(|t| looks_like_deb822(&t));
    }
    let Some(line) = data
        .split(|&b| b == b'\n')
        .map(|l| l.trim_ascii_end())
        .find(|l| !l.is_empty() && !l.starts_with(b"#"))
    else {
        return false;
    };
    match memchr::memchr(b':', line) {
        Some(i) => {
            let name = line.get(..i).unwrap_or_default();
            !name.is_empty()
                && name
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        }
        None => false,
    }
}

/// A Debian list as check-hashes entries: every file pinned, with its
/// size. Weak digests of a file that also has a strong one are dropped.
pub fn list_entries(text: &[u8]) -> anyhow::Result<Vec<Pin>> {
    let mut out = Vec::new();
    for p in deb822::Reader::new(text, deb822::LIMITS) {
        let p = p.map_err(|e| fail(Code::Usage, format!("{e}")))?;
        let mut pins = paragraph_pins(&p, "").map_err(|e| fail(Code::Usage, e))?;
        for pin in &mut pins {
            pin.digests = pin.usable_digests();
        }
        out.extend(pins);
    }
    Ok(out)
}

/// A verified Release file.
#[derive(Clone, Debug)]
pub struct Release {
    pub path: PathBuf,
    pub signers: Vec<String>,
    pub notes: Vec<String>,
    pub suite: Option<String>,
    pub codename: Option<String>,
    pub date: Option<i64>,
    pub valid_until: Option<i64>,
    /// What it lists, by path relative to its directory.
    pub entries: Vec<Pin>,
}

impl Release {
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "path": self.path.display().to_string(),
            "suite": self.suite,
            "codename": self.codename,
            "date": self.date.map(time::format_rfc2822),
            "valid_until": self.valid_until.map(time::format_rfc2822),
            "signers": self.signers,
            "entries": self.entries.len(),
        })
    }

    /// `RELEASE: signatures OK (...)`, for -v.
    pub fn summary_line(&self) -> String {
        let until = match self.valid_until {
            Some(t) => format!(", valid until {}", time::format_rfc2822(t)),
            None => String::new(),
        };
        format!(
            "{}: signatures OK, signed by {}{until}",
            self.path.display(),
            self.signers.join(", ")
        )
    }
}

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
    let (verdict, text) = if is_cleartext_signed(&bytes) {
        verifier.verify_cleartext(&bytes, MAX_CONTROL)?
    } else {
        let sig_path = match sig {
            Some(s) => s.to_path_buf(),
            None => {
                let mut p = path.as_os_str().to_owned();
                p.push(".gpg");
                PathBuf::from(p)
            }
        };
        if sig.is_none() && !sig_path.exists() {
            return Err(fail(
                Code::Missing,
                format!(
                    "not cleartext-signed, and no detached signature {} beside it",
                    sig_path.display()
                ),
            ));
        }
        let (sf, _) = open_operand(&sig_path)?;
        let sig_bytes = crate::fsutil::read_bounded(
            sf,
            MAX_SIG,
            &sig_path.display().to_string(),
            Code::Failed,
        )?;
        let v = verifier
            .verify_detached_bytes(&sig_bytes, &bytes)
            .map_err(|e| e.context(format!("signature {}", sig_path.display())))?;
        (v, bytes)
    };
    release_from_text(path, verdict, &text, ignore_valid_until)
}

/// A Release whose signature `verdict` has passed, from its signed `text`:
/// what it lists, and its dates checked (a `Date` in the future, or a
/// `Valid-Until` past, fails unless `ignore_valid_until`). `path` names it
/// in reports (a file, or the URL it came from).
pub fn release_from_text(
    path: &Path,
    verdict: crate::openpgp::Verdict,
    text: &[u8],
    ignore_valid_until: bool,
) -> anyhow::Result<Release> {
    let shown = path.display().to_string();
    let mut paragraphs = deb822::Reader::new(text, deb822::LIMITS);
    let p = paragraphs
        .next()
        .transpose()
        .map_err(|e| fail(Code::Failed, format!("malformed Release: {e}")))?
        .ok_or_else(|| fail(Code::Failed, "malformed Release: no fields"))?;
    let pins = paragraph_pins(&p, &shown)
        .map_err(|e| fail(Code::Failed, format!("malformed Release: {e}")))?;
    let when = |field: &str| -> anyhow::Result<Option<i64>> {
        match p.text(field) {
            None => Ok(None),
            Some(s) => time::parse_rfc2822(&s).map(Some).ok_or_else(|| {
                fail(
                    Code::Failed,
                    format!("malformed Release: {field}: {s:?} is not a date"),
                )
            }),
        }
    };
    let mut notes = verdict.notes;
    let date = when("Date")?;
    let valid_until = when("Valid-Until")?;
    let now = time::now_unix();
    if let Some(d) = date {
        if d > now.saturating_add(SKEW_SECS) {
            return Err(fail(
                Code::Failed,
                format!("not valid yet: its Date is {}", time::format_rfc2822(d)),
            ));
        }
    }
    if let Some(u) = valid_until {
        if u < now {
            let msg = format!(
                "expired: Valid-Until {} has passed",
                time::format_rfc2822(u)
            );
            if !ignore_valid_until {
                return Err(fail(Code::Failed, msg));
            }
            notes.push(format!("{msg} (accepted: --ignore-valid-until)"));
        }
    }
    Ok(Release {
        path: path.to_path_buf(),
        signers: verdict.signers.iter().map(|f| f.to_hex()).collect(),
        notes,
        suite: p.text("Suite"),
        codename: p.text("Codename"),
        date,
        valid_until,
        entries: pins,
    })
}

/// The files a signed Debian list pins, once its signature `verdict`
/// passed: an InRelease (the first paragraph lists files in `SHA256:`
/// sections) through [`release_from_text`], its dates checked; anything
/// else (.dsc, .changes) by its checksum fields. Returns the pins and the
/// notes (the signature's, an accepted expiry).
pub fn signed_list_pins(
    label: &str,
    verdict: crate::openpgp::Verdict,
    text: &[u8],
    ignore_valid_until: bool,
) -> anyhow::Result<(Vec<Pin>, Vec<String>)> {
    let first = deb822::Reader::new(text, deb822::LIMITS)
        .next()
        .transpose()
        .map_err(|e| fail(Code::Failed, format!("malformed list: {e}")))?;
    let release = first.as_ref().is_some_and(|p| {
        p.get("Filename").is_none() && RELEASE_SUMS.iter().any(|(f, _)| p.get(f).is_some())
    });
    if release {
        let r = release_from_text(Path::new(label), verdict, text, ignore_valid_until)?;
        return Ok((r.entries, r.notes));
    }
    let pins = list_entries(text).map_err(|e| {
        let why = format!("{e:#}");
        fail(Code::Failed, format!("malformed list: {why}"))
    })?;
    Ok((pins, verdict.notes))
}

/// The entry of `pins` for the file at `path` (a URL's path, percent-
/// decoded): the longest listed path that `path` is or ends with at a
/// `/` (`main/binary-amd64/Packages.xz` for `.../dists/stable/main/
/// binary-amd64/Packages.xz`, `pool/main/h/hello/hello_2.10.deb` for the
/// archive's URL of it, a bare name for a .dsc's files); else the one
/// whose file name is one of `names` (the output's). Nothing listed is
/// exit 3; two different entries that fit equally well, exit 2.
pub fn pin_for_path<'p>(pins: &'p [Pin], path: &[u8], names: &[&[u8]]) -> anyhow::Result<&'p Pin> {
    let under = |p: &Pin| {
        path == p.path.as_slice()
            || (path.ends_with(&p.path)
                && path.len() > p.path.len()
                && path.get(path.len() - p.path.len() - 1) == Some(&b'/'))
    };
    let mut found: Vec<&Pin> = pins
        .iter()
        .filter(|p| !p.path.is_empty() && under(p))
        .collect();
    // Of the entries the path ends with, the longest is the one it names.
    let longest = found.iter().map(|p| p.path.len()).max().unwrap_or(0);
    found.retain(|p| p.path.len() == longest);
    if found.is_empty() {
        found = pins
            .iter()
            .filter(|p| names.contains(&basename(&p.path)))
            .collect();
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found.dedup_by(|a, b| a.path == b.path);
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(fail(
            Code::Missing,
            format!("no entry for {}", String::from_utf8_lossy(basename(path))),
        )),
        many => Err(fail(
            Code::Usage,
            format!(
                "{} entries fit {}: {}; fetch it from the URL the list names it by",
                many.len(),
                String::from_utf8_lossy(basename(path)),
                many.iter()
                    .map(|p| String::from_utf8_lossy(&p.path).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
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
/// matching entry, or the reason none did.
fn match_any<'p>(
    cands: &[&'p Pin],
    len: u64,
    digests: &crate::digest::Digests,
) -> Result<&'p Pin, String> {
    let mut why = Vec::new();
    for p in cands {
        if p.size != len {
            why.push(format!(
                "{}: size mismatch: expected {}, got {len}",
                String::from_utf8_lossy(&p.path),
                p.size
            ));
            continue;
        }
        let want = p.checked_digests();
        if let Some((a, _)) = want.iter().find(|(a, _)| a.is_weak()) {
            why.push(format!(
                "{}: only a weak {a} digest is listed",
                String::from_utf8_lossy(&p.path)
            ));
            continue;
        }
        let bad = crate::digest::mismatches(&want, digests);
        if bad.is_empty() {
            return Ok(p);
        }
        why.push(format!(
            "{}: {}",
            String::from_utf8_lossy(&p.path),
            bad.join("; ")
        ));
    }
    Err(why.join("; "))
}

fn algos_of(cands: &[&Pin]) -> Vec<Algo> {
    let mut v: Vec<Algo> = cands
        .iter()
        .flat_map(|p| p.checked_digests().into_iter().map(|(a, _)| a))
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

    let mut outer = HashingReader::new(BufReader::new(file), &algos_of(&own));
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

/// A decoder's complaint is a corrupt file (exit 1); other errors are I/O.
fn classify_read(e: std::io::Error) -> anyhow::Error {
    use std::io::ErrorKind::{InvalidData, InvalidInput, UnexpectedEof};
    if matches!(e.kind(), InvalidData | InvalidInput | UnexpectedEof) {
        fail(Code::Failed, format!("corrupt compressed data: {e}"))
    } else {
        anyhow::Error::new(e).context("reading")
    }
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
                chain.add(p);
            }
        }
        chain.release = Some(release);
        Ok(chain)
    }

    pub fn release(&self) -> Option<&Release> {
        self.release.as_ref()
    }

    fn add(&mut self, p: Pin) {
        self.pins
            .entry(basename(&p.path).to_vec())
            .or_default()
            .push(p);
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

    /// The pins for a file name, or exit 3.
    fn pins_for(&self, name: &[u8]) -> anyhow::Result<Vec<&Pin>> {
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
        let (report, text) =
            match self.pins.get(&name).filter(|v| !v.is_empty()) {
                Some(cands) => {
                    let cands: Vec<&Pin> = cands.iter().collect();
                    let d = crate::digest::hash_reader(bytes.as_slice(), &algos_of(&cands))?;
                    let report = self.report_for(&cands, &d)?;
                    // Authenticated by its hash: the signature need not be checked.
                    let text = deb822::cleartext_text(&bytes).unwrap_or_else(|| bytes.clone());
                    (report, text)
                }
                None if is_cleartext_signed(&bytes) => {
                    let (verdict, text) = verifier.verify_cleartext(&bytes, MAX_CONTROL)?;
                    let report = FileReport {
                        pin: Pin {
                            path: name.clone(),
                            size: bytes.len() as u64,
                            digests: Vec::new(),
                            by: "its own signature".into(),
                        },
                        digests: Vec::new(),
                        signers: verdict.signers.iter().map(|f| f.to_hex()).collect(),
                        notes: verdict.notes,
                    };
                    (report, text)
                }
                None => return Err(fail(
                    Code::Missing,
                    "neither pinned by an index nor cleartext-signed: nothing to verify it with",
                )),
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
            self.pins
                .entry(basename(&pin.path).to_vec())
                .or_default()
                .insert(0, pin);
        }
        Ok(super::Verified::Debian(report))
    }

    /// Verify a file some verified list pins (.deb, tarball, ...): its
    /// size first, then its digests.
    pub fn verify_pinned(&self, path: &Path, len: u64) -> anyhow::Result<FileReport> {
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
        let d = hash_file(path, &algos_of(&sized))
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
            .checked_digests()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(path: &str) -> Pin {
        Pin {
            path: path.as_bytes().to_vec(),
            size: path.len() as u64,
            digests: vec![(Algo::Sha256, vec![0; 32])],
            by: "InRelease".into(),
        }
    }

    #[test]
    fn entries_are_found_by_the_path_the_url_names() {
        let pins = [
            pin("main/binary-amd64/Packages.xz"),
            pin("main/binary-i386/Packages.xz"),
            pin("main/debian-installer/binary-amd64/Packages.xz"),
            pin("contrib/binary-amd64/Packages.xz"),
            pin("hello_2.10.orig.tar.gz"),
        ];
        let find = |path: &str, names: &[&str]| {
            let names: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
            pin_for_path(&pins, path.as_bytes(), &names)
                .map(|p| String::from_utf8_lossy(&p.path).into_owned())
        };
        assert_eq!(
            find("/debian/dists/bookworm/main/binary-amd64/Packages.xz", &[]).unwrap(),
            "main/binary-amd64/Packages.xz"
        );
        assert_eq!(
            find(
                "/debian/dists/bookworm/main/debian-installer/binary-amd64/Packages.xz",
                &[]
            )
            .unwrap(),
            "main/debian-installer/binary-amd64/Packages.xz"
        );
        // A suffix at a path boundary only: "xmain/..." is not "main/...".
        assert!(find("/dists/xmain/binary-amd64/Packages.xz", &[]).is_err());
        assert_eq!(
            find("/pool/main/h/hello/hello_2.10.orig.tar.gz", &[]).unwrap(),
            "hello_2.10.orig.tar.gz"
        );
        // Not under the list's layout: by file name, refused when ambiguous.
        let e = find("/mirror/Packages.xz", &["Packages.xz"]).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Usage);
        assert!(format!("{e:#}").contains("4 entries fit"), "{e:#}");
        let e = find("/mirror/Sources.xz", &["Sources.xz"]).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Missing);
        assert_eq!(
            find("/x/download?id=3", &["hello_2.10.orig.tar.gz"]).unwrap(),
            "hello_2.10.orig.tar.gz"
        );
    }
}
