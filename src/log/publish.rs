//! Publishing a log as static c2sp.org/tlog-tiles ([`super::tiles`]):
//! [`Writer`] turns raw entries into hash tiles and entry bundles, and
//! [`publish`] feeds it a sealed log's records up to its newest
//! checkpoint, which it then serves as `checkpoint`.
//!
//! Every file is written under a temporary name and renamed into place,
//! so a reader never sees a torn one. Only what is new is written: full
//! tiles and bundles as they fill, and the partial ones of each
//! checkpointed size. `checkpoint` is replaced last; until then nothing
//! names the new files (a reader fetches only what a verified checkpoint
//! needs), and a run that fails removes them.
//!
//! Sync policy: once per run, not per file. Before `checkpoint` is
//! replaced, one `syncfs` of the output's file system makes every new
//! tile and bundle durable; then `checkpoint` is written, fsynced,
//! renamed, and its directory fsynced. A crash can lose new files but
//! never leave a checkpoint naming files that are not on disk, and the
//! next run writes again whatever lies beyond the published checkpoint.
//! A sync per file (8,000 files for a million records) would cost a
//! journal commit each, seconds where the whole run takes a fraction of
//! one. (`syncfs` also flushes other programs' dirty pages on the same
//! file system: give the output one of its own on a busy host.)

use super::checkpoint::Checkpoint;
use super::merkle::{self, Hash};
use super::note::{self, Note, VerifierKey};
use super::record::MAX_RECORD;
use super::store;
use super::tiles::{self, DirSource, Source, WIDTH};
use crate::exit::{fail, Code, ResultExt};
use std::collections::HashSet;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Builds the tiles of a growing tree into a directory.
pub struct Writer {
    out: PathBuf,
    size: u64,
    /// The hashes of the unfinished tile of each level (fewer than 256).
    levels: Vec<Vec<Hash>>,
    /// The unfinished entry bundle, encoded.
    bundle: Vec<u8>,
    /// Directories known to exist.
    dirs: HashSet<PathBuf>,
    /// The size already published when the writer started: its files are
    /// never written again (nor removed).
    published: u64,
    /// Files written by this writer: removed unless it commits.
    written: HashSet<PathBuf>,
    /// The threads that write them.
    files: FileThreads,
    committed: bool,
}

impl Writer {
    /// A writer for an empty tree into `out` (created if needed).
    pub fn create(out: &Path) -> anyhow::Result<Writer> {
        std::fs::create_dir_all(out)
            .with_code(Code::Io, || format!("creating {}", out.display()))?;
        Ok(Writer {
            out: out.to_path_buf(),
            size: 0,
            published: 0,
            levels: Vec::new(),
            bundle: Vec::new(),
            dirs: HashSet::new(),
            written: HashSet::new(),
            files: FileThreads::start(crate::fsutil::new_file_mode()),
            committed: false,
        })
    }

    /// A writer that goes on from the tree of `size` leaves with `root`
    /// already published in `out`: its right edge (partial tiles and
    /// bundle) is read back and must hash to `root` and agree.
    pub fn resume(out: &Path, size: u64, root: &Hash) -> anyhow::Result<Writer> {
        let mut w = Writer::create(out)?;
        let src = DirSource::new(out);
        let read = |path: &str, limit: u64| -> anyhow::Result<Vec<u8>> {
            src.get(path, limit)?.ok_or_else(|| {
                fail(
                    Code::Failed,
                    format!(
                        "{}: missing, and the published tree of {size} needs it",
                        src.locate(path)
                    ),
                )
            })
        };
        let bad = |path: &str, e: tiles::FormatError| {
            fail(Code::Failed, format!("{}: {e}", src.locate(path)))
        };
        for level in 0..tiles::levels(size) {
            let index = tiles::level_hashes(size, level) / WIDTH;
            let width = tiles::tile_width(size, level, index);
            let hashes = if width == 0 {
                Vec::new()
            } else {
                let path = tiles::tile_path(level, index, width);
                tiles::parse_tile(&read(&path, tiles::FULL_TILE as u64)?, width)
                    .map_err(|e| bad(&path, e))?
            };
            w.levels.push(hashes);
        }
        let width = size % WIDTH;
        if width > 0 {
            let path = tiles::bundle_path(size / WIDTH, width);
            let bytes = read(&path, tiles::MAX_BUNDLE)?;
            let entries = tiles::parse_bundle(&bytes, width).map_err(|e| bad(&path, e))?;
            let mut leaves = Vec::new();
            merkle::leaf_hashes(&entries, &mut leaves);
            if w.levels.first() != Some(&leaves) {
                return Err(fail(
                    Code::Failed,
                    format!(
                        "{}: its entries do not hash to {}",
                        src.locate(&path),
                        tiles::tile_path(0, size / WIDTH, width)
                    ),
                ));
            }
            w.bundle = bytes;
        }
        w.size = size;
        w.published = size;
        let calculated = w.root();
        if calculated != *root {
            return Err(fail(
                Code::Failed,
                format!(
                    "{}: the published tiles do not hash to the published checkpoint's root ({}, calculated {})",
                    out.display(),
                    merkle::B64(*root),
                    merkle::B64(calculated)
                ),
            ));
        }
        Ok(w)
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of the tree written so far.
    pub fn root(&self) -> Hash {
        tiles::edge_root(self.levels.iter().rev().map(Vec::as_slice))
    }

    /// Add raw entries (hashed here, a batch at a time).
    pub fn append(&mut self, entries: &[&[u8]]) -> anyhow::Result<()> {
        let mut leaves = Vec::with_capacity(entries.len());
        merkle::leaf_hashes(entries, &mut leaves);
        self.append_hashed(entries, &leaves)
    }

    /// Add entries whose leaf hashes the caller computed (`leaves[i]` is
    /// the RFC 6962 leaf hash of `entries[i]`).
    pub fn append_hashed(&mut self, entries: &[&[u8]], leaves: &[Hash]) -> anyhow::Result<()> {
        for (entry, leaf) in entries.iter().zip(leaves) {
            tiles::push_entry(&mut self.bundle, entry).map_err(|len| {
                fail(
                    Code::Usage,
                    format!(
                        "entry {} is {len} bytes; a tlog-tiles entry is at most {}",
                        self.size,
                        tiles::MAX_ENTRY
                    ),
                )
            })?;
            self.size += 1;
            self.push(0, *leaf)?;
        }
        Ok(())
    }

    /// Add a hash at `level`; a tile it fills is written, and its root
    /// goes one level up.
    fn push(&mut self, level: u8, hash: Hash) -> anyhow::Result<()> {
        let l = usize::from(level);
        if self.levels.len() <= l {
            self.levels.resize(l + 1, Vec::new());
        }
        let Some(hashes) = self.levels.get_mut(l) else {
            return Ok(());
        };
        hashes.push(hash);
        if hashes.len() as u64 != WIDTH {
            return Ok(());
        }
        let full = std::mem::take(hashes);
        let index = tiles::level_hashes(self.size, level) / WIDTH - 1;
        self.write(&tiles::tile_path(level, index, WIDTH), full.concat())?;
        if level == 0 {
            let bundle = std::mem::take(&mut self.bundle);
            self.write(&tiles::bundle_path(index, WIDTH), bundle)?;
        }
        self.push(level + 1, tiles::subtree_root(&full))
    }

    /// Write the partial tiles and bundle of the current size: a checkpoint
    /// of this size will be published, and readers will fetch them.
    pub fn write_partial(&mut self) -> anyhow::Result<()> {
        for level in 0..self.levels.len() {
            let Some(hashes) = self.levels.get(level).filter(|h| !h.is_empty()) else {
                continue;
            };
            let width = hashes.len() as u64;
            let index = tiles::level_hashes(self.size, level as u8) / WIDTH;
            if tiles::tile_width(self.published, level as u8, index) == width {
                // Already published, the same hashes.
                continue;
            }
            let bytes = hashes.concat();
            self.write(&tiles::tile_path(level as u8, index, width), bytes)?;
        }
        let width = self.size % WIDTH;
        if width > 0 && tiles::tile_width(self.published, 0, self.size / WIDTH) != width {
            let bytes = self.bundle.clone();
            self.write(&tiles::bundle_path(self.size / WIDTH, width), bytes)?;
        }
        Ok(())
    }

    /// Write `rel` (under the output) atomically, on the file threads: a
    /// path already written in this run is not written again (the same
    /// partial tile of two sizes is the same bytes).
    fn write(&mut self, rel: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        let path = self.out.join(rel);
        if self.written.contains(&path) {
            return Ok(());
        }
        let dir = crate::fsutil::parent_dir(&path).to_path_buf();
        if !self.dirs.contains(&dir) {
            std::fs::create_dir_all(&dir)
                .with_code(Code::Io, || format!("creating {}", dir.display()))?;
            self.dirs.insert(dir);
        }
        self.written.insert(path.clone());
        self.files.send(path, bytes)
    }

    /// Files written so far.
    pub fn written(&self) -> usize {
        self.written.len()
    }

    /// Make the new files durable (one `syncfs`), then replace
    /// `checkpoint` with `note` (fsynced, renamed, directory fsynced).
    pub fn commit(mut self, note: &[u8]) -> anyhow::Result<()> {
        self.files.finish()?;
        let dir = File::open(&self.out)
            .with_code(Code::Io, || format!("opening {}", self.out.display()))?;
        sync_filesystem(&dir).with_code(Code::Io, || format!("syncing {}", self.out.display()))?;
        crate::fsutil::write_atomic_public(&self.out.join(tiles::CHECKPOINT), note)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Writer {
    /// A writer dropped without committing takes back what it wrote: no
    /// checkpoint names those files.
    fn drop(&mut self) {
        let _ = self.files.finish();
        if !self.committed {
            for p in &self.written {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// Threads that write files while the tree is hashed: creating thousands
/// of files is the file system's work, and with a thread per core it is
/// done in parallel. Jobs queue in a bounded channel (flat memory); the
/// first error is kept and reported by [`FileThreads::finish`].
struct FileThreads {
    jobs: Option<std::sync::mpsc::SyncSender<(PathBuf, Vec<u8>)>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    error: std::sync::Arc<std::sync::Mutex<Option<anyhow::Error>>>,
}

impl FileThreads {
    fn start(mode: u32) -> FileThreads {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(PathBuf, Vec<u8>)>(64);
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let error = std::sync::Arc::new(std::sync::Mutex::new(None));
        let n = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
        let threads = (0..n)
            .map(|_| {
                let (rx, error) = (rx.clone(), error.clone());
                std::thread::spawn(move || loop {
                    let job = rx.lock().ok().and_then(|r| r.recv().ok());
                    let Some((path, bytes)) = job else { return };
                    if let Err(e) = write_file(&path, &bytes, mode) {
                        if let Ok(mut slot) = error.lock() {
                            slot.get_or_insert(e);
                        }
                    }
                })
            })
            .collect();
        FileThreads {
            jobs: Some(tx),
            threads,
            error,
        }
    }

    fn failed(&self) -> Option<anyhow::Error> {
        self.error.lock().ok().and_then(|mut e| e.take())
    }

    fn send(&self, path: PathBuf, bytes: Vec<u8>) -> anyhow::Result<()> {
        if let Some(e) = self.failed() {
            return Err(e);
        }
        self.jobs
            .as_ref()
            .and_then(|j| j.send((path, bytes)).ok())
            .ok_or_else(|| fail(Code::Io, "the file threads stopped"))
    }

    /// Wait for every file queued; the first error, if any.
    fn finish(&mut self) -> anyhow::Result<()> {
        self.jobs = None;
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                return Err(fail(Code::Io, "a file thread failed"));
            }
        }
        self.failed().map_or(Ok(()), Err)
    }
}

/// Write `path` atomically: a temporary file in its directory, renamed
/// into place; not synced (see the module's policy).
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = crate::fsutil::parent_dir(path);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp"));
    let create = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(mode)
            .open(&tmp)
    };
    // The output is locked and a path is written once a run: a temporary
    // already there is a crashed run's.
    let mut f = match create() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let _ = std::fs::remove_file(&tmp);
            create()
        }
        other => other,
    }
    .with_code(Code::Io, || format!("creating {}", tmp.display()))?;
    let done = f
        .write_all(bytes)
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = done {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_code(Code::Io, || format!("writing {}", path.display()));
    }
    Ok(())
}

/// `syncfs(2)`: flush every dirty page and the journal of the file system
/// holding `f`, in one call.
fn sync_filesystem(f: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: syncfs reads only the descriptor, which `f` keeps open.
    if unsafe { libc::syncfs(f.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// What a publication did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Published {
    pub origin: String,
    /// The size now published.
    pub size: u64,
    /// The size published before (0 for a new publication).
    pub previous: u64,
    /// Tiles and bundles written.
    pub files: usize,
    /// Whether `checkpoint` was replaced (a new size, or new cosignatures).
    pub checkpoint: bool,
}

/// Refuse a checkpoint without the log's Ed25519 note signature (a line
/// by its origin's name), which readers other than sign-log verify (`why`
/// says who needs it), saying how to add one.
pub fn require_note_signature(note: &Note, cp: &Checkpoint, why: &str) -> anyhow::Result<()> {
    // A plain Ed25519 signature is 64 bytes; a cosignature 72.
    if note
        .signatures
        .iter()
        .any(|s| s.name == cp.origin && s.sig.len() == 64)
    {
        return Ok(());
    }
    Err(fail(
        Code::Usage,
        format!(
            "checkpoint {} carries no Ed25519 note signature, which {why}; \
make a note key once (`sign-log keygen --name '{}' --secret note.key`, kept in the log VM) and seal with `--note-key note.key`",
            cp.size, cp.origin
        ),
    ))
}

/// The log's newest checkpoint as it will be served: its stored note (the
/// log's Ed25519 note signature, and any witness cosignatures added to it),
/// refused without that signature.
fn sealed_note(dir: &Path, key: Option<&VerifierKey>) -> anyhow::Result<(Vec<u8>, Checkpoint)> {
    let size = store::last_checkpoint_size(dir)?.ok_or_else(|| {
        fail(
            Code::Usage,
            format!(
                "{}: the log was never sealed: nothing to publish",
                dir.display()
            ),
        )
    })?;
    let (bytes, note, cp) = store::checkpoint_note_bytes(dir, size)?;
    require_note_signature(
        &note,
        &cp,
        "a published log's checkpoint must (c2sp.org/tlog-tiles)",
    )?;
    if let Some(k) = key {
        note::Policy {
            log_key: Some(k),
            ..Default::default()
        }
        .check(&note, &format!("checkpoint {size}"))?;
    }
    Ok((bytes, cp))
}

/// Publish the log in `dir` as tlog-tiles in `out` up to its newest
/// checkpoint (which must carry an Ed25519 note signature; with `key`, a
/// valid one by it): the records as entries, the checkpoint's note as
/// `checkpoint`, kept as sealed (never re-signed). Only what lies beyond
/// the checkpoint already published in `out` is written, after checking
/// that `out` holds this log (same origin, the published tiles hash to
/// its checkpoint, the new records extend it to the sealed root).
pub fn publish(dir: &Path, out: &Path, key: Option<&VerifierKey>) -> anyhow::Result<Published> {
    crate::fsutil::create_dir_all(out, "output directory")?;
    // One publisher per output at a time.
    let lock = File::open(out).with_code(Code::Io, || format!("opening {}", out.display()))?;
    lock.lock()
        .with_code(Code::Io, || format!("locking {}", out.display()))?;
    let (note_bytes, cp) = sealed_note(dir, key)?;
    let current = out.join(tiles::CHECKPOINT);
    // Read once, bounded and through the special-file rule: the same
    // bytes are parsed and compared with the sealed note below.
    let published = match std::fs::symlink_metadata(&current) {
        Ok(_) => {
            let bytes = crate::fsutil::input::read_regular(
                &current,
                "checkpoint file",
                store::MAX_CHECKPOINT_FILE,
                Code::Failed,
            )?;
            let (_, p) = super::checkpoint::parse_note(&bytes)
                .map_err(|e| e.context(current.display().to_string()))?;
            Some((bytes, p))
        }
        Err(_) => None,
    };
    let (previous, prev_root) = match &published {
        None => (0, merkle::empty_root()),
        Some((_, p)) => {
            if p.origin != cp.origin {
                return Err(fail(
                    Code::Usage,
                    format!(
                        "{} publishes origin {:?}, the log's is {:?}: another log's publication",
                        out.display(),
                        p.origin,
                        cp.origin
                    ),
                ));
            }
            if p.size > cp.size || (p.size == cp.size && p.root != cp.root) {
                return Err(fail(
                    Code::Failed,
                    format!(
                        "{} publishes a tree of {} that the log's newest checkpoint {} does not extend",
                        out.display(),
                        p.size,
                        cp.size
                    ),
                ));
            }
            (p.size, p.root)
        }
    };
    let mut out_of = Published {
        origin: cp.origin.clone(),
        size: cp.size,
        previous,
        files: 0,
        checkpoint: false,
    };
    if previous == cp.size {
        let same = published.as_ref().is_some_and(|(b, _)| *b == note_bytes);
        if !same {
            crate::fsutil::write_atomic_public(&current, &note_bytes)?;
            out_of.checkpoint = true;
        }
        return Ok(out_of);
    }
    let mut w = if previous == 0 {
        Writer::create(out)?
    } else {
        Writer::resume(out, previous, &prev_root)?
    };
    // Partial tiles for every size sealed in between: readers holding one
    // of those checkpoints fetch them.
    let sealed: Vec<u64> = store::checkpoint_sizes(dir)?
        .into_iter()
        .filter(|&s| s > previous && s < cp.size)
        .collect();
    feed(dir, &mut w, cp.size, &sealed)?;
    let calculated = w.root();
    if calculated != cp.root {
        return Err(fail(
            Code::Failed,
            format!(
                "records {previous}..{} of {} do not hash to checkpoint {}'s root ({}, calculated {})",
                cp.size,
                dir.display(),
                cp.size,
                merkle::B64(cp.root),
                merkle::B64(calculated)
            ),
        ));
    }
    w.write_partial()?;
    out_of.files = w.written();
    w.commit(&note_bytes)?;
    out_of.checkpoint = true;
    Ok(out_of)
}

/// Lines hashed and handed to the writer at a time.
const BATCH: usize = 4096;

/// Feed records `w.size()..size` of the log to `w`, writing the partial
/// tiles of each size in `sealed`. Records are found by offset, not read
/// from the start.
fn feed(dir: &Path, w: &mut Writer, size: u64, sealed: &[u64]) -> anyhow::Result<()> {
    let first = w.size();
    let mut f = store::open_read(dir)?;
    f.seek(SeekFrom::Start(store::offset_of(dir, first)?))
        .with_code(Code::Io, || "seeking the log")?;
    let mut sealed = sealed.iter().copied().peekable();
    let mut leaves = Vec::with_capacity(BATCH);
    let mut flush = |w: &mut Writer, batch: &mut Vec<&[u8]>| -> anyhow::Result<()> {
        leaves.clear();
        merkle::leaf_hashes(batch, &mut leaves);
        w.append_hashed(batch, &leaves)?;
        batch.clear();
        Ok(())
    };
    store::read_blocks(f, |start, block| {
        let mut batch: Vec<&[u8]> = Vec::with_capacity(BATCH);
        for (i, line) in store::block_lines(&block).enumerate() {
            let seq = first + start + i as u64;
            if seq >= size {
                break;
            }
            if line.len() > MAX_RECORD {
                return Err(fail(
                    Code::Usage,
                    format!(
                        "record {seq} is {} bytes: a published entry is at most {MAX_RECORD} (a sign-log before 2026-05 stored longer ones); this log cannot be published as tlog-tiles",
                        line.len()
                    ),
                ));
            }
            batch.push(line);
            let at = seq + 1;
            if batch.len() == BATCH || sealed.peek() == Some(&at) {
                flush(w, &mut batch)?;
            }
            if sealed.peek() == Some(&at) {
                sealed.next();
                w.write_partial()?;
            }
        }
        flush(w, &mut batch)
    })?;
    if w.size() < size {
        return Err(fail(
            Code::Failed,
            format!(
                "{}: the log has {} records, its checkpoint {size}",
                dir.display(),
                w.size()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_tiles_match_the_tree_and_resume() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("www");
        let data: Vec<Vec<u8>> = (0..70_000u32)
            .map(|i| format!("entry {i}").into_bytes())
            .collect();
        let refs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
        let leaves: Vec<Hash> = refs.iter().map(|e| merkle::leaf_hash(e)).collect();
        let mut w = Writer::create(&out).unwrap();
        w.append(&refs[..1000]).unwrap();
        w.write_partial().unwrap();
        assert_eq!(w.root(), merkle::root_of(&leaves[..1000]));
        w.commit(b"first\n").unwrap();
        let mut w = Writer::resume(&out, 1000, &merkle::root_of(&leaves[..1000])).unwrap();
        assert!(Writer::resume(&out, 1000, &leaves[0]).is_err());
        w.append(&refs[1000..]).unwrap();
        w.write_partial().unwrap();
        let root = merkle::root_of(&leaves);
        assert_eq!(w.root(), root);
        w.commit(b"second\n").unwrap();
        // Read back through the verified reader: every node and proof.
        let src = DirSource::new(&out);
        let mut t = tiles::Tree::open(&src, 70_000, root).unwrap();
        assert_eq!(t.root_at(1000).unwrap(), merkle::root_of(&leaves[..1000]));
        assert_eq!(
            t.root_at(65_536).unwrap(),
            merkle::root_of(&leaves[..65_536])
        );
        for m in [1u64, 255, 256, 257, 1000, 65_535, 65_536, 69_999] {
            assert_eq!(
                t.consistency_proof(m).unwrap(),
                merkle::consistency_proof(m, &leaves),
                "{m}"
            );
        }
        for i in [0u64, 300, 65_536, 69_999] {
            assert_eq!(
                t.inclusion_proof(i).unwrap(),
                merkle::inclusion_proof(i, &leaves)
            );
        }
        let mut n = 0;
        t.entries(3, |i, e| {
            assert_eq!(e, refs[i as usize]);
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 70_000);
        // The old size's partial tiles are still there.
        let t = tiles::Tree::open(&src, 1000, merkle::root_of(&leaves[..1000]));
        assert!(t.is_ok());
    }

    #[test]
    fn an_abandoned_writer_takes_its_files_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::create(dir.path()).unwrap();
        w.append(&[b"a".as_slice(); 600]).unwrap();
        w.write_partial().unwrap();
        assert_eq!(w.written(), 7, "two full tiles and bundles, three partial");
        drop(w);
        let left: Vec<_> = walk(dir.path());
        assert!(left.is_empty(), "{left:?}");
        let mut w = Writer::create(dir.path()).unwrap();
        assert!(w.append(&[&[0u8; 65_536][..]]).is_err());
    }

    #[test]
    fn a_failed_run_leaves_the_published_tree_whole() {
        let dir = tempfile::tempdir().unwrap();
        let entries: Vec<Vec<u8>> = (0..70_100u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
        let mut w = Writer::create(dir.path()).unwrap();
        w.append(&refs[..70_000]).unwrap();
        w.write_partial().unwrap();
        let root = w.root();
        w.commit(b"cp\n").unwrap();
        let before = walk(dir.path());
        // 100 more: the level-1 and level-2 partial tiles are the same
        // files; a run that is abandoned must not take them away.
        let mut w = Writer::resume(dir.path(), 70_000, &root).unwrap();
        w.append(&refs[70_000..]).unwrap();
        w.write_partial().unwrap();
        assert_eq!(w.written(), 2, "the level-0 partial tile and bundle only");
        drop(w);
        assert_eq!(walk(dir.path()), before);
        assert!(tiles::Tree::open(&DirSource::new(dir.path()), 70_000, root).is_ok());
    }

    fn walk(d: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(d).unwrap().collect();
        entries.sort_by_key(|e| e.as_ref().unwrap().path());
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }
}
