//! RPM (rpm-md) repositories as a chain, for builds and ISO package sets:
//!
//! 1. `repodata/repomd.xml`, authenticated by its detached signature
//!    `repomd.xml.asc` with the selected keys, or by a pinned SHA-256, or
//!    by the hashes a metalink gives it (Fedora's way);
//! 2. each metadata file it lists (primary always; every one with
//!    [`RepoOptions::all_metadata`]): size and checksum of the bytes, then
//!    open-size (and open-checksum, after a weak checksum) of the decompressed content (gzip, xz, bzip2,
//!    zstd). The compressed bytes are checked first, so a decoder only ever
//!    sees authenticated bytes; then primary.xml streams through its
//!    parser into an index by location;
//! 3. each package: listed in the primary of the repository it is checked
//!    against, at its location, with that size and checksum, and signed by
//!    the selected keys ([`super::rpm::verify_rpm`], in the same pass).
//!
//! A repository is read through a [`Source`] ([`super::reposource`]: a
//! local directory or a URL).

use super::reposource::Source;
use super::repostate::{self, Record, RepoState};
use super::rpm::{self, RpmOptions, RpmReport};
use crate::codec::Compression;
use crate::digest::{Algo, Digests, HashingReader};
use crate::exit::{code_of, fail, Code, ResultExt};
use crate::lists::metalink::{Expected, Metalink};
use crate::lists::primary::{self, Index, Package};
use crate::lists::repomd::{self, Data, Repomd};
use crate::lists::rpmmd::{Checksum, Policy};
use crate::lists::signed;
use crate::openpgp::Verifier;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Largest detached signature read.
const MAX_SIG: u64 = crate::openpgp::MAX_SIGNATURE;
/// Decoded metadata travels in blocks of this size between threads, at
/// most this many waiting at each hand-off.
const BLOCK: usize = 1 << 20;
const IN_FLIGHT: usize = 4;

/// What authenticates a repository's repomd.xml.
#[derive(Clone, Debug)]
pub enum Anchor {
    /// `repodata/repomd.xml.asc` with the selected keys.
    Signature,
    /// A pinned SHA-256 of repomd.xml.
    Sha256(Vec<u8>),
    /// The repomd.xml entry of a metalink (current or alternate).
    Metalink(Metalink),
}

/// How the chain is checked.
#[derive(Clone, Debug)]
pub struct RepoOptions {
    pub policy: Policy,
    /// Largest metadata file, compressed or decompressed.
    pub max_metadata: u64,
    /// Check every metadata file repomd.xml lists, not only primary.
    pub all_metadata: bool,
    /// Refuse metadata whose newest timestamp is older than this.
    pub max_age: Option<std::time::Duration>,
    /// Accept packages without a signature (the chain alone vouches).
    pub unsigned_packages: bool,
    pub rpm: RpmOptions,
}

/// One metadata file checked.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MetadataCheck {
    pub kind: String,
    pub location: String,
    pub size: u64,
    pub open_size: Option<u64>,
    pub notes: Vec<String>,
}

/// A verified repository: its repomd.xml, and its primary's index.
pub struct Repo {
    /// The name its rollback record is kept under.
    pub id: String,
    pub source: Box<dyn Source>,
    /// How repomd.xml was authenticated, for reports.
    pub anchor: String,
    pub signers: Vec<String>,
    pub notes: Vec<String>,
    pub repomd: Repomd,
    pub record: Record,
    pub metadata: Vec<MetadataCheck>,
    pub index: Index,
}

/// What is reported of a verified repository.
#[derive(Clone, Debug)]
pub struct RepoSummary {
    /// How repomd.xml was authenticated.
    pub anchor: String,
    /// One line for -v.
    pub line: String,
    pub json: serde_json::Value,
    pub signers: Vec<String>,
    pub notes: Vec<String>,
}

impl Repo {
    pub fn summary(&self) -> RepoSummary {
        RepoSummary {
            anchor: self.anchor.clone(),
            line: self.summary_line(),
            json: self.to_json(),
            signers: self.signers.clone(),
            notes: self.notes.clone(),
        }
    }

    /// What was checked, for -v.
    pub fn summary_line(&self) -> String {
        let signers = match self.signers.as_slice() {
            [] => String::new(),
            s => format!(", signed by {}", s.join(", ")),
        };
        format!(
            "revision {}, {} packages, {} metadata files checked{signers}",
            self.repomd.revision.as_deref().unwrap_or("none"),
            self.index.len(),
            self.metadata.len()
        )
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "repository": self.id,
            "repomd": self.source.name("repodata/repomd.xml"),
            "anchor": self.anchor,
            "signers": self.signers,
            "revision": self.repomd.revision,
            "timestamp": self.record.timestamp,
            "sha256": self.record.sha256,
            "metadata": self.metadata,
            "packages": self.index.len(),
            "notes": self.notes,
        })
    }
}

/// Read a small file whole (at most `max` bytes; more is exit 1).
fn read_small(source: &dyn Source, rel: &str, max: u64) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(f) = source.get(rel, max)? else {
        return Ok(None);
    };
    crate::fsutil::read_bounded(f, max, &source.name(rel), Code::Failed).map(Some)
}

/// Verify repomd.xml by `anchor`: the signers (or nothing for a pin),
/// how, and notes.
fn authenticate(
    source: &dyn Source,
    bytes: &[u8],
    anchor: &Anchor,
    verifier: &Verifier,
) -> anyhow::Result<(Vec<String>, String, Vec<String>)> {
    let sha256 = crate::digest::hash_reader(bytes, &[Algo::Sha256])?;
    match anchor {
        Anchor::Signature => {
            let rel = "repodata/repomd.xml.asc";
            let Some(sig) = read_small(source, rel, MAX_SIG)? else {
                return Err(fail(
                    Code::Missing,
                    format!(
                        "no signature {} (--repomd-sha256 or --metalink pins repomd.xml instead)",
                        source.name(rel)
                    ),
                ));
            };
            // The list's bytes stay ours to parse (they are small): the
            // one signed-list reader checks them.
            let v =
                signed::verify_detached(bytes.to_vec(), &sig, &source.name(rel), verifier)?.verdict;
            let signers = v.signers.iter().map(|f| f.to_hex()).collect();
            Ok((signers, "signature repomd.xml.asc".into(), v.notes))
        }
        Anchor::Sha256(want) => {
            let got = sha256.get(Algo::Sha256).unwrap_or_default();
            if !crate::digest::digest_eq(got, want) {
                return Err(fail(
                    Code::Failed,
                    format!(
                        "SHA-256 mismatch: --repomd-sha256 pins {}, got {}",
                        hex::encode(want),
                        hex::encode(got)
                    ),
                ));
            }
            Ok((Vec::new(), "pinned SHA-256".into(), Vec::new()))
        }
        Anchor::Metalink(m) => {
            let len = bytes.len() as u64;
            let matches = |e: &Expected| -> anyhow::Result<bool> {
                if e.size.is_some_and(|s| s != len) {
                    return Ok(false);
                }
                let algos: Vec<Algo> = e.hashes.iter().map(|(a, _)| *a).collect();
                let d = crate::digest::hash_reader(bytes, &algos)?;
                Ok(crate::digest::mismatches(&e.hashes, &d).is_empty())
            };
            if matches(&m.current)? {
                return Ok((Vec::new(), "metalink".into(), Vec::new()));
            }
            for (i, alt) in m.alternates.iter().enumerate() {
                if matches(alt)? {
                    let note = format!(
                        "repomd.xml matches the metalink's alternate {} (timestamp {}), not its current version",
                        i + 1,
                        alt.timestamp.map_or("unknown".into(), |t| t.to_string())
                    );
                    return Ok((Vec::new(), "metalink alternate".into(), vec![note]));
                }
            }
            Err(fail(
                Code::Failed,
                format!(
                    "repomd.xml ({len} bytes, SHA-256 {}) matches no version the metalink lists",
                    sha256.hex(Algo::Sha256).unwrap_or_default()
                ),
            ))
        }
    }
}

/// Open and verify repository `id`: repomd.xml by `anchor`, its age and
/// rollback record, then its metadata and primary's index.
pub fn open_repo(
    id: &str,
    source: Box<dyn Source>,
    anchor: &Anchor,
    verifier: &Verifier,
    opts: &RepoOptions,
    state: Option<&RepoState>,
) -> anyhow::Result<Repo> {
    let rel = "repodata/repomd.xml";
    let named = source.name(rel);
    let bytes = read_small(source.as_ref(), rel, repomd::MAX_REPOMD)?
        .ok_or_else(|| fail(Code::Missing, format!("{named}: no such file")))?;
    let (signers, how, mut notes) = authenticate(source.as_ref(), &bytes, anchor, verifier)
        .map_err(|e| e.context(named.clone()))?;
    let md = repomd::parse(&bytes, opts.policy).map_err(|e| e.context(named.clone()))?;
    let record = Record {
        revision: md.revision.clone(),
        timestamp: md.newest(),
        sha256: crate::digest::hash_reader(&bytes[..], &[Algo::Sha256])?
            .hex(Algo::Sha256)
            .unwrap_or_default(),
    };
    if let Some(st) = state {
        st.check(id, &record)
            .map_err(|e| e.context(named.clone()))?;
    }
    if let Some(age) = opts.max_age {
        repostate::check_age(record.timestamp, age, crate::time::now_secs())
            .map_err(|e| e.context(named.clone()))?;
    }
    let primary_entry = md
        .get("primary")
        .ok_or_else(|| fail(Code::Failed, format!("{named}: no primary data entry")))?
        .clone();
    let mut index = Index::default();
    let mut metadata = Vec::new();
    {
        let mut parser = primary::Parser::new(opts.policy);
        let index = &mut index;
        let mut reserved = false;
        let check = check_metadata(source.as_ref(), &primary_entry, opts, &mut |block| {
            // Room for what the root declares, once it has been read.
            if let (false, Some(n)) = (reserved, parser.declared()) {
                index.reserve(n);
                reserved = true;
            }
            parser.feed(block, &mut |p: Package| index.insert(p))
        })?;
        parser
            .finish(&mut |p: Package| index.insert(p))
            .map_err(|e| e.context(source.name(&primary_entry.location)))?;
        metadata.push(check);
    }
    if opts.all_metadata {
        for d in md.data.iter().filter(|d| d.kind != "primary") {
            metadata.push(check_metadata(source.as_ref(), d, opts, &mut |_| Ok(()))?);
        }
    }
    notes.extend(metadata.iter().flat_map(|m| m.notes.iter().cloned()));
    Ok(Repo {
        id: id.to_string(),
        source,
        anchor: how,
        signers,
        notes,
        repomd: md,
        record,
        metadata,
        index,
    })
}

/// Check one metadata file: its bytes by size and checksum first (a
/// decoder sees nothing unauthenticated), then its decompressed content
/// by open-size (and open-checksum where the checksum was weak), handed
/// to `sink` a block at a time.
pub fn check_metadata(
    source: &dyn Source,
    d: &Data,
    opts: &RepoOptions,
    sink: &mut (dyn FnMut(&[u8]) -> anyhow::Result<()> + Send),
) -> anyhow::Result<MetadataCheck> {
    let named = source.name(&d.location);
    let ctx = |e: anyhow::Error| e.context(named.clone());
    let mut file = source
        .get(&d.location, opts.max_metadata)
        .map_err(ctx)?
        .ok_or_else(|| {
            fail(
                Code::Failed,
                format!("{named}: listed in repomd.xml ({}) but missing", d.kind),
            )
        })?;
    let len = file
        .metadata()
        .with_code(Code::Io, || format!("reading {named}"))?
        .len();
    if let Some(want) = d.size.filter(|s| *s != len) {
        return Err(ctx(fail(
            Code::Failed,
            format!("size mismatch: repomd.xml lists {want} bytes, the file has {len}"),
        )));
    }
    if len > opts.max_metadata {
        return Err(ctx(fail(
            Code::Failed,
            format!(
                "larger than {} bytes (--max-metadata-size)",
                opts.max_metadata
            ),
        )));
    }
    let got = crate::digest::hash_reader(&mut file, &[d.checksum.algo])
        .with_code(Code::Io, || format!("reading {named}"))?;
    compare(&d.checksum, &got, "checksum").map_err(ctx)?;
    file.rewind()
        .with_code(Code::Io, || format!("reading {named}"))?;
    let mut notes = Vec::new();
    let checked = |open_size: Option<u64>, notes: Vec<String>| MetadataCheck {
        kind: d.kind.clone(),
        location: d.location.clone(),
        size: len,
        open_size,
        notes,
    };
    let compression = Compression::from_metadata_name(&d.location);
    let plain = compression.is_none();
    if plain && d.open_checksum.is_none() {
        // Its content is its bytes, already checked.
        let mut buf = vec![0u8; BLOCK];
        loop {
            let n = read_some(&mut file, &mut buf)
                .with_code(Code::Io, || format!("reading {named}"))?;
            if n == 0 {
                break;
            }
            sink(buf.get(..n).unwrap_or_default()).map_err(ctx)?;
        }
        return Ok(checked(None, notes));
    }
    if compression.is_none() && !d.location.ends_with(".xml") && !d.location.ends_with(".yaml") {
        // A compression with no decoder here (zchunk): the bytes are checked.
        notes.push(format!(
            "{named}: open-checksum not checked (no decoder for its compression)"
        ));
        return Ok(checked(None, notes));
    }
    // The open-checksum authenticates nothing more once a strong checksum
    // of the compressed bytes matched: decoding is a function of those
    // bytes (dnf checks only the checksum too). It is checked when the
    // compressed bytes were judged by a weak one (--allow-sha1), and
    // open-size always (it costs nothing).
    let open = d
        .open_checksum
        .as_ref()
        .filter(|_| plain || d.checksum.algo.is_weak());
    let open_algo = open.map(|c| c.algo);
    let decoded =
        decode_into(file, compression, open_algo, opts.max_metadata, sink).map_err(ctx)?;
    if let Some(want) = d.open_size.filter(|s| *s != decoded.len) {
        return Err(ctx(fail(
            Code::Failed,
            format!(
                "open-size mismatch: repomd.xml lists {want} bytes decompressed, got {}",
                decoded.len
            ),
        )));
    }
    if let Some(c) = open {
        compare(c, &decoded, "open-checksum").map_err(ctx)?;
    }
    Ok(checked(Some(decoded.len), notes))
}

fn compare(want: &Checksum, got: &Digests, what: &str) -> anyhow::Result<()> {
    let g = got.get(want.algo).unwrap_or_default();
    if crate::digest::digest_eq(g, &want.digest) {
        return Ok(());
    }
    Err(fail(
        Code::Failed,
        format!(
            "{what} mismatch: repomd.xml lists {} {}, got {}",
            want.algo,
            want.hex(),
            hex::encode(g)
        ),
    ))
}

/// Decode `file` on one thread, hash the content on a second, and hand it
/// to `sink` on this one: a pipeline of blocks, so on two cores the time is
/// about half the sum of the three (Fedora's primary.xml is ~230 MB
/// decompressed: libzstd, SHA-256 and the parser each take about as long),
/// and blocks are recycled rather than allocated (fresh pages cost more
/// than the copy).
fn decode_into(
    file: File,
    compression: Option<Compression>,
    algo: Option<Algo>,
    max: u64,
    sink: &mut (dyn FnMut(&[u8]) -> anyhow::Result<()> + Send),
) -> anyhow::Result<Digests> {
    use std::sync::mpsc::{channel, sync_channel};
    let algos: Vec<Algo> = algo.into_iter().collect();
    let (to_hash, hash_rx) = sync_channel::<Vec<u8>>(IN_FLIGHT);
    let (to_sink, sink_rx) = sync_channel::<Vec<u8>>(IN_FLIGHT);
    let (spent_tx, spent_rx) = channel::<Vec<u8>>();
    std::thread::scope(|s| {
        let decoding = s.spawn(move || -> anyhow::Result<()> {
            let reader = std::io::BufReader::with_capacity(1 << 20, file);
            let mut dec: Box<dyn Read + Send + Sync> = match compression {
                Some(c) => c.decoder(reader),
                None => Box::new(reader),
            };
            let mut total = 0u64;
            loop {
                let mut block = spent_rx.try_recv().unwrap_or_default();
                block.resize(BLOCK, 0);
                let mut filled = 0;
                while filled < BLOCK {
                    let n = read_some(&mut dec, block.get_mut(filled..).unwrap_or_default())
                        .map_err(decode_error)?;
                    if n == 0 {
                        break;
                    }
                    filled += n;
                }
                block.truncate(filled);
                total += filled as u64;
                if total > max {
                    return Err(fail(
                        Code::Failed,
                        format!("decompresses to more than {max} bytes (--max-metadata-size)"),
                    ));
                }
                // A stage that stopped has failed; its error is reported.
                if filled == 0 || to_hash.send(block).is_err() {
                    return Ok(());
                }
            }
        });
        let hashing = s.spawn(move || -> anyhow::Result<Digests> {
            let mut hasher = crate::digest::MultiHasher::new(&algos);
            for block in hash_rx.iter() {
                hasher.update(&block);
                if to_sink.send(block).is_err() {
                    break;
                }
            }
            hasher
                .finalize()
                .with_code(Code::Io, || "hashing".to_string())
        });
        let mut sunk = Ok(());
        for block in sink_rx.iter() {
            if let Err(e) = sink(&block) {
                sunk = Err(e);
                break;
            }
            let _ = spent_tx.send(block);
        }
        drop(sink_rx);
        // The decoder's failure first: what the stages after it saw was cut short.
        joined(decoding.join())?;
        let digests = joined(hashing.join());
        sunk?;
        digests
    })
}

/// A pipeline thread's result (a panic is reported, never propagated).
fn joined<T>(r: std::thread::Result<anyhow::Result<T>>) -> anyhow::Result<T> {
    r.unwrap_or_else(|_| Err(fail(Code::Io, "a metadata thread failed")))
}

/// A decoder's complaint about authenticated bytes is the repository's
/// fault (exit 1); anything else is I/O.
fn decode_error(e: std::io::Error) -> anyhow::Error {
    use std::io::ErrorKind::{InvalidData, InvalidInput, Other, UnexpectedEof};
    if matches!(e.kind(), InvalidData | InvalidInput | UnexpectedEof | Other) {
        fail(Code::Failed, format!("corrupt compressed data: {e}"))
    } else {
        anyhow::Error::new(e).context("reading")
    }
}

/// One read, retried when interrupted.
fn read_some(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// How one package of the set was verified.
#[derive(Clone, Debug)]
pub struct PackageReport {
    pub repo: String,
    pub location: String,
    pub nevra: String,
    pub checksum: String,
    /// None with `unsigned_packages` for an unsigned package.
    pub rpm: Option<RpmReport>,
    pub signers: Vec<String>,
    pub notes: Vec<String>,
}

/// The verified repositories a package set is checked against.
pub struct PackageSet {
    pub repos: Vec<Repo>,
    /// Canonical local roots, by repository.
    roots: Vec<Option<PathBuf>>,
    /// File name -> (repository, location): see [`PackageSet::by_name`].
    by_name: OnceLock<HashMap<String, Vec<(usize, String)>>>,
}

impl PackageSet {
    pub fn new(repos: Vec<Repo>) -> PackageSet {
        let roots = repos
            .iter()
            .map(|r| {
                r.source
                    .local_root()
                    .and_then(|p| std::fs::canonicalize(p).ok())
            })
            .collect();
        PackageSet {
            repos,
            roots,
            by_name: OnceLock::new(),
        }
    }

    /// File name -> (repository, location), made when first asked: a set
    /// checked in its repositories' own directories never needs it.
    fn by_name(&self) -> &HashMap<String, Vec<(usize, String)>> {
        self.by_name.get_or_init(|| {
            let mut by_name: HashMap<String, Vec<(usize, String)>> = HashMap::new();
            for (i, r) in self.repos.iter().enumerate() {
                for p in r.index.iter() {
                    let base = p.location().rsplit('/').next().unwrap_or(p.location());
                    by_name
                        .entry(base.to_string())
                        .or_default()
                        .push((i, p.location().to_string()));
                }
            }
            by_name
        })
    }

    fn candidates(&self, path: &Path) -> anyhow::Result<Vec<(usize, &Package)>> {
        if let Ok(abs) = std::fs::canonicalize(path) {
            for (i, root) in self.roots.iter().enumerate() {
                let Some(rel) = root.as_ref().and_then(|r| abs.strip_prefix(r).ok()) else {
                    continue;
                };
                let rel = rel.to_string_lossy();
                let repo = self.repos.get(i).map(|r| r.id.as_str()).unwrap_or_default();
                return match self.repos.get(i).and_then(|r| r.index.get(&rel)) {
                    Some(p) => Ok(vec![(i, p)]),
                    None => Err(fail(
                        Code::Missing,
                        format!("not listed in the primary of repository {repo} (at {rel})"),
                    )),
                };
            }
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let found: Vec<(usize, &Package)> = self
            .by_name()
            .get(&name)
            .into_iter()
            .flatten()
            .filter_map(|(i, loc)| Some((*i, self.repos.get(*i)?.index.get(loc)?)))
            .collect();
        if found.is_empty() {
            return Err(fail(
                Code::Missing,
                "not listed in any repository's primary",
            ));
        }
        Ok(found)
    }

    /// Verify one package file: listed (size, checksum) and signed.
    pub fn verify(
        &self,
        path: &Path,
        verifier: &Verifier,
        opts: &RepoOptions,
    ) -> anyhow::Result<PackageReport> {
        let (file, len) = super::open_operand(path)?;
        let cands = self.candidates(path)?;
        let sized: Vec<(usize, &Package)> = cands
            .iter()
            .copied()
            .filter(|(_, p)| p.size == len)
            .collect();
        let Some(first) = cands.first() else {
            return Err(fail(
                Code::Missing,
                "not listed in any repository's primary",
            ));
        };
        if sized.is_empty() {
            return Err(fail(
                Code::Failed,
                format!(
                    "size mismatch: repository {} lists {} with {} bytes, the file has {len}",
                    self.repo_id(first.0),
                    first.1.location(),
                    first.1.size
                ),
            ));
        }
        let mut algos: Vec<Algo> = sized.iter().map(|(_, p)| p.checksum.algo).collect();
        algos.sort();
        algos.dedup();
        let mut hashing =
            HashingReader::new(std::io::BufReader::with_capacity(1 << 16, file), &algos);
        let buf = usize::try_from(len.saturating_add(1)).unwrap_or(usize::MAX);
        let signed = rpm::verify_rpm(&mut hashing, verifier, &opts.rpm, buf);
        std::io::copy(&mut hashing, &mut std::io::sink())
            .with_code(Code::Io, || format!("reading {}", path.display()))?;
        let digests = hashing.finalize()?;
        let Some((i, pkg)) = sized
            .iter()
            .copied()
            .find(|(_, p)| digests.get(p.checksum.algo) == Some(&p.checksum.digest[..]))
        else {
            let (i, p) = sized.first().copied().unwrap_or(*first);
            return Err(fail(
                Code::Failed,
                format!(
                    "{} mismatch: repository {} lists {} with {}, got {}",
                    p.checksum.algo,
                    self.repo_id(i),
                    p.location(),
                    p.checksum.hex(),
                    digests.hex(p.checksum.algo).unwrap_or_default()
                ),
            ));
        };
        let mut report = PackageReport {
            repo: self.repo_id(i).to_string(),
            location: pkg.location().to_string(),
            nevra: pkg.nevra(),
            checksum: format!("{} {}", pkg.checksum.algo, pkg.checksum.hex()),
            rpm: None,
            signers: Vec::new(),
            notes: Vec::new(),
        };
        match signed {
            Ok(r) => {
                report.signers = r.signers();
                report.notes.extend(r.notes.iter().cloned());
                report.rpm = Some(r);
            }
            Err(e) if code_of(&e) == Code::Missing && opts.unsigned_packages => {
                report.notes.push(format!(
                    "{e:#}; accepted by the repository's checksum alone (--allow-unsigned-packages)"
                ));
            }
            Err(e) if code_of(&e) == Code::Missing => {
                return Err(fail(
                    Code::Failed,
                    format!(
                        "{e:#}: an unsigned package in repository {} \
                         (--allow-unsigned-packages accepts it by the repository's checksum)",
                        report.repo
                    ),
                ))
            }
            Err(e) => return Err(e),
        }
        Ok(report)
    }

    fn repo_id(&self, i: usize) -> &str {
        self.repos.get(i).map(|r| r.id.as_str()).unwrap_or_default()
    }

    /// Every package file of the local repositories, at its listed
    /// location (what `--all` checks when no package is named).
    pub fn listed_files(&self) -> anyhow::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for r in &self.repos {
            let Some(root) = r.source.local_root() else {
                return Err(fail(
                    Code::Usage,
                    format!(
                        "--all without packages: repository {} is not a local directory; name the package files",
                        r.id
                    ),
                ));
            };
            let mut locs: Vec<&str> = r.index.iter().map(|p| p.location()).collect();
            locs.sort();
            out.extend(locs.into_iter().map(|l| root.join(l)));
        }
        Ok(out)
    }

    /// The listed packages that no verified file matched (`--all`):
    /// (repository, location, NEVRA).
    pub fn missing(&self, verified: &HashSet<(String, String)>) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for r in &self.repos {
            for p in r.index.iter() {
                if !verified.contains(&(r.id.clone(), p.location().to_string())) {
                    out.push((r.id.clone(), p.location().to_string(), p.nevra()));
                }
            }
        }
        out.sort();
        out
    }

    /// Record the accepted repomd.xml files in the state file.
    pub fn record(&self, state: &Path) -> anyhow::Result<()> {
        RepoState::update(
            state,
            self.repos
                .iter()
                .map(|r| (r.id.clone(), r.record.clone()))
                .collect(),
        )
    }
}

/// The files of a package-set operand: a file as it is; a directory's
/// regular files, recursively, in name order, without `repodata/`
/// directories (metadata, not packages); with `only_rpms`, `.rpm` files only.
pub fn expand_operands(operands: &[PathBuf], only_rpms: bool) -> anyhow::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, only_rpms: bool, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .with_code(Code::Io, || format!("reading directory {}", dir.display()))?
            .collect::<Result<_, _>>()
            .with_code(Code::Io, || format!("reading directory {}", dir.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let t = e
                .file_type()
                .with_code(Code::Io, || format!("examining {}", p.display()))?;
            if t.is_dir() {
                if e.file_name() != "repodata" {
                    walk(&p, only_rpms, out)?;
                }
            } else if !only_rpms || p.extension().is_some_and(|x| x == "rpm") {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for op in operands {
        if op.is_dir() {
            walk(op, only_rpms, &mut out)?;
        } else {
            out.push(op.clone());
        }
    }
    Ok(out)
}
