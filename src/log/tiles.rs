//! c2sp.org/tlog-tiles: a log as static files that any web host serves.
//!
//! - `tile/<L>/<N>[.p/<W>]`: hash tiles, 256 consecutive hashes of one
//!   level of the RFC 6962 tree; level L holds the roots of the subtrees
//!   of 256^L leaves, a partial tile (`.p/W`) the first W of them;
//! - `tile/entries/<N>[.p/<W>]`: entry bundles, the leaves' data, each
//!   behind its big-endian uint16 length;
//! - `checkpoint`: the signed checkpoint (c2sp.org/tlog-checkpoint).
//!
//! This module holds the paths and the two formats ([`parse_tile`],
//! [`parse_bundle`], strict), [`Source`] (where a reader gets a path
//! from: [`DirSource`] here, HTTP in `fetch`), and [`Tree`], which reads
//! the tiles of a tree whose checkpoint was verified and authenticates
//! each tile before any hash of it is used: the right edge (the partial
//! tiles) must hash to the checkpoint's root, any full tile to its entry
//! in the tile above. A tile or bundle that does not is named.

use super::merkle::{self, Frontier, Hash};
use crate::exit::{fail, Code};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Hashes in a full tile, entries in a full bundle.
pub const WIDTH: u64 = 256;
/// A full tile's bytes.
pub const FULL_TILE: usize = 256 * 32;
/// The longest entry a bundle can hold (its uint16 length prefix).
pub const MAX_ENTRY: usize = 65_535;
/// The largest bundle: 256 entries of the longest length.
pub const MAX_BUNDLE: u64 = 256 * (2 + MAX_ENTRY as u64);
/// Where the checkpoint is served.
pub const CHECKPOINT: &str = "checkpoint";

/// `N` as path elements: groups of three digits, zero-padded, every group
/// but the last prefixed with `x` (1234067 is `x001/x234/067`).
pub fn index_path(n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    let mut rest = n / 1000;
    while rest > 0 {
        groups.push(format!("x{:03}", rest % 1000));
        rest /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

fn with_width(base: String, width: u64) -> String {
    if width < WIDTH {
        format!("{base}.p/{width}")
    } else {
        base
    }
}

/// The path of hash tile `index` of `level`, `width` hashes wide.
pub fn tile_path(level: u8, index: u64, width: u64) -> String {
    with_width(format!("tile/{level}/{}", index_path(index)), width)
}

/// The path of entry bundle `index`, `width` entries wide.
pub fn bundle_path(index: u64, width: u64) -> String {
    with_width(format!("tile/entries/{}", index_path(index)), width)
}

/// Hashes at height 8 x `level` whose subtrees are complete in a tree of
/// `size` leaves (the tiles of `level` hold them).
pub fn level_hashes(size: u64, level: u8) -> u64 {
    size.checked_shr(8 * u32::from(level)).unwrap_or(0)
}

/// The width of tile `index` of `level` in a tree of `size` leaves: 256
/// for a full tile, fewer for the partial one at the right edge, 0 for a
/// tile the tree does not have.
pub fn tile_width(size: u64, level: u8, index: u64) -> u64 {
    level_hashes(size, level)
        .saturating_sub(index.saturating_mul(WIDTH))
        .min(WIDTH)
}

/// Levels with at least one hash (0 for the empty tree).
pub fn levels(size: u64) -> u8 {
    (0..8u8).take_while(|&l| level_hashes(size, l) > 0).count() as u8
}

/// Why a tile or bundle is malformed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("{got} bytes; a tile of {width} hashes is {} bytes", width.saturating_mul(32))]
    TileLength { got: usize, width: u64 },
    #[error("entry {entry} is cut short ({missing} bytes missing)")]
    Truncated { entry: u64, missing: usize },
    #[error("{got} entries; this bundle holds {width}")]
    EntryCount { got: u64, width: u64 },
}

/// A tile of `width` hashes: exactly `width` x 32 bytes.
pub fn parse_tile(bytes: &[u8], width: u64) -> Result<Vec<Hash>, FormatError> {
    let bad = || FormatError::TileLength {
        got: bytes.len(),
        width,
    };
    if width == 0 || width > WIDTH || bytes.len() as u64 != width * 32 {
        return Err(bad());
    }
    Ok(bytes
        .chunks_exact(32)
        .filter_map(|c| Hash::try_from(c).ok())
        .collect())
}

/// An entry bundle of `width` entries: exactly that many length-prefixed
/// entries and nothing after them.
pub fn parse_bundle(bytes: &[u8], width: u64) -> Result<Vec<&[u8]>, FormatError> {
    let mut entries = Vec::with_capacity(width.min(WIDTH) as usize);
    let mut rest = bytes;
    while !rest.is_empty() {
        let entry = entries.len() as u64;
        if entry == width {
            // Count what follows, for the message.
            let more = parse_bundle(rest, u64::MAX).map_or(1, |e| e.len() as u64);
            return Err(FormatError::EntryCount {
                got: width + more,
                width,
            });
        }
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            return Err(FormatError::Truncated { entry, missing: 1 });
        };
        let len = usize::from(u16::from_be_bytes(*len));
        let Some(data) = tail.get(..len) else {
            return Err(FormatError::Truncated {
                entry,
                missing: len - tail.len(),
            });
        };
        entries.push(data);
        rest = tail.get(len..).unwrap_or_default();
    }
    if entries.len() as u64 != width {
        return Err(FormatError::EntryCount {
            got: entries.len() as u64,
            width,
        });
    }
    Ok(entries)
}

/// Append `entry` to a bundle being built; more than [`MAX_ENTRY`] bytes
/// do not fit.
pub fn push_entry(bundle: &mut Vec<u8>, entry: &[u8]) -> Result<(), usize> {
    let len = u16::try_from(entry.len()).map_err(|_| entry.len())?;
    bundle.extend_from_slice(&len.to_be_bytes());
    bundle.extend_from_slice(entry);
    Ok(())
}

/// The root of the perfect subtree over `hashes` (a power of two of
/// them), a level at a time in batches.
pub fn subtree_root(hashes: &[Hash]) -> Hash {
    let mut f = Frontier::default();
    f.extend_hashes(hashes);
    f.root()
}

/// The roots of the perfect subtrees a run of `hashes` (from an aligned
/// start) splits into, left to right: the run's bits, largest first.
fn peaks(hashes: &[Hash], out: &mut Vec<Hash>) {
    let mut start = 0usize;
    for b in (0..usize::BITS).rev() {
        let n = 1usize << b;
        if hashes.len() & n != 0 {
            out.push(subtree_root(
                hashes.get(start..start + n).unwrap_or_default(),
            ));
            start += n;
        }
    }
}

/// The tree root over its peaks (perfect subtrees, left to right).
fn fold_peaks(peaks: &[Hash]) -> Hash {
    let mut it = peaks.iter().rev();
    match it.next() {
        None => merkle::empty_root(),
        Some(last) => it.fold(*last, |acc, p| merkle::node_hash(p, &acc)),
    }
}

/// The root of a tree from its right edge: the hashes of its partial
/// tile at each level, the top level first (empty levels skipped).
pub fn edge_root<'h>(edge: impl IntoIterator<Item = &'h [Hash]>) -> Hash {
    let mut tops = Vec::new();
    for hashes in edge {
        peaks(hashes, &mut tops);
    }
    fold_peaks(&tops)
}

/// Where a reader gets the resources of a log from. A path is relative
/// to the log's prefix (`checkpoint`, `tile/0/000`).
pub trait Source: Sync {
    /// The resource at `path`, at most `limit` bytes (more is an error,
    /// exit 1); `None` when it does not exist.
    fn get(&self, path: &str, limit: u64) -> anyhow::Result<Option<Vec<u8>>>;
    /// How `path` is named in messages: its URL, or its file.
    fn locate(&self, path: &str) -> String;
}

/// A published log in a local directory.
pub struct DirSource {
    pub root: PathBuf,
}

impl DirSource {
    pub fn new(root: &Path) -> DirSource {
        DirSource {
            root: root.to_path_buf(),
        }
    }
}

impl Source for DirSource {
    fn get(&self, path: &str, limit: u64) -> anyhow::Result<Option<Vec<u8>>> {
        let file = self.root.join(path);
        if let Err(e) = std::fs::symlink_metadata(&file) {
            if e.kind() == std::io::ErrorKind::NotFound {
                return Ok(None);
            }
        }
        crate::fsutil::read_regular(&file, "published file", limit, Code::Failed).map(Some)
    }

    fn locate(&self, path: &str) -> String {
        self.root.join(path).display().to_string()
    }
}

/// The tiles of one tree (a verified checkpoint's size and root), each
/// authenticated before it is used, so every hash read from it is the
/// tree's. Tiles are fetched once; the ones kept are the right edge and
/// those above level 0 (1/256 of the tree).
pub struct Tree<'a, S: Source + ?Sized> {
    src: &'a S,
    size: u64,
    root: Hash,
    tiles: HashMap<(u8, u64), Vec<Hash>>,
    fetched: Mutex<Vec<String>>,
}

impl<'a, S: Source + ?Sized> Tree<'a, S> {
    /// Fetch the right edge of the tree of `size` leaves (one partial tile
    /// per level) and check that it hashes to `root`.
    pub fn open(src: &'a S, size: u64, root: Hash) -> anyhow::Result<Tree<'a, S>> {
        let mut t = Tree {
            src,
            size,
            root,
            tiles: HashMap::new(),
            fetched: Mutex::new(Vec::new()),
        };
        let mut edge = Vec::new();
        let mut names = Vec::new();
        for level in (0..levels(size)).rev() {
            let index = level_hashes(size, level) / WIDTH;
            let width = tile_width(size, level, index);
            if width == 0 || width == WIDTH {
                continue;
            }
            edge.push((level, index, t.fetch_tile(level, index)?));
            names.push(t.src.locate(&tile_path(level, index, width)));
        }
        let calculated = edge_root(edge.iter().map(|(_, _, h)| h.as_slice()));
        if calculated != root {
            return Err(fail(
                Code::Failed,
                format!(
                    "the tiles {} do not hash to the root of the tree of {size} ({}, calculated {})",
                    if names.is_empty() {
                        "(none: an empty tree)".to_string()
                    } else {
                        names.join(", ")
                    },
                    merkle::B64(root),
                    merkle::B64(calculated)
                ),
            ));
        }
        for (level, index, hashes) in edge {
            t.tiles.insert((level, index), hashes);
        }
        Ok(t)
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn root(&self) -> Hash {
        self.root
    }

    /// The paths fetched so far, in order.
    pub fn fetched(&self) -> Vec<String> {
        self.fetched.lock().map(|f| f.clone()).unwrap_or_default()
    }

    fn get(&self, path: &str, limit: u64) -> anyhow::Result<Option<Vec<u8>>> {
        let got = self.src.get(path, limit)?;
        if got.is_some() {
            if let Ok(mut f) = self.fetched.lock() {
                f.push(path.to_string());
            }
        }
        Ok(got)
    }

    fn missing(&self, path: &str) -> anyhow::Error {
        fail(
            Code::Failed,
            format!(
                "{}: not served, and the tree of {} needs it",
                self.src.locate(path),
                self.size
            ),
        )
    }

    /// Tile `index` of `level` as wide as this tree has it, not yet
    /// authenticated. A partial tile no longer served may be read from
    /// the full tile that replaced it (the spec allows deleting it).
    fn fetch_tile(&self, level: u8, index: u64) -> anyhow::Result<Vec<Hash>> {
        let width = tile_width(self.size, level, index);
        let path = tile_path(level, index, width);
        let parse = |bytes: &[u8], path: &str, w: u64| {
            parse_tile(bytes, w)
                .map_err(|e| fail(Code::Failed, format!("{}: {e}", self.src.locate(path))))
        };
        if let Some(bytes) = self.get(&path, FULL_TILE as u64)? {
            return parse(&bytes, &path, width);
        }
        if width < WIDTH {
            let full = tile_path(level, index, WIDTH);
            if let Some(bytes) = self.get(&full, FULL_TILE as u64)? {
                let mut hashes = parse(&bytes, &full, WIDTH)?;
                hashes.truncate(width as usize);
                return Ok(hashes);
            }
        }
        Err(self.missing(&path))
    }

    /// Fetch, authenticate and keep tile `index` of `level`: a full tile
    /// must hash to its entry in the tile above (itself authenticated);
    /// the partial ones are the right edge, checked at [`Tree::open`].
    fn ensure(&mut self, level: u8, index: u64) -> anyhow::Result<()> {
        if self.tiles.contains_key(&(level, index)) {
            return Ok(());
        }
        let width = tile_width(self.size, level, index);
        if width < WIDTH {
            return Err(fail(
                Code::Failed,
                format!(
                    "tile {} is not in the tree of {}",
                    tile_path(level, index, width.max(1)),
                    self.size
                ),
            ));
        }
        let hashes = self.fetch_tile(level, index)?;
        self.check_full(level, index, &hashes)?;
        self.tiles.insert((level, index), hashes);
        Ok(())
    }

    /// Is `hashes`, the full tile `index` of `level`, the one the tree
    /// above names? (The tile above is fetched and authenticated first.)
    fn check_full(&mut self, level: u8, index: u64, hashes: &[Hash]) -> anyhow::Result<()> {
        let expected = self.node(8 * (u32::from(level) + 1), index)?;
        self.compare_full(level, index, hashes, &expected)
    }

    fn compare_full(
        &self,
        level: u8,
        index: u64,
        hashes: &[Hash],
        expected: &Hash,
    ) -> anyhow::Result<()> {
        if subtree_root(hashes) == *expected {
            return Ok(());
        }
        let above = index / WIDTH;
        Err(fail(
            Code::Failed,
            format!(
                "{} does not hash to entry {} of {}",
                self.src.locate(&tile_path(level, index, WIDTH)),
                index % WIDTH,
                tile_path(level + 1, above, tile_width(self.size, level + 1, above))
            ),
        ))
    }

    /// The root of the perfect subtree of height `height` (2^height
    /// leaves) at position `index` (leaves index x 2^height onwards).
    pub fn node(&mut self, height: u32, index: u64) -> anyhow::Result<Hash> {
        let level = (height.min(63) / 8) as u8;
        let sub = height.min(63) - 8 * u32::from(level);
        let count = 1u64 << sub;
        let first = index.saturating_mul(count);
        let end = first.saturating_add(count);
        if height >= 64 || end > level_hashes(self.size, level) {
            return Err(fail(
                Code::Failed,
                format!(
                    "the subtree {index} of height {height} is not complete in the tree of {}",
                    self.size
                ),
            ));
        }
        let tile = first / WIDTH;
        self.ensure_any(level, tile)?;
        let hashes = self
            .tiles
            .get(&(level, tile))
            .and_then(|h| h.get((first % WIDTH) as usize..(first % WIDTH + count) as usize))
            .ok_or_else(|| fail(Code::Failed, "a tile is shorter than its width"))?;
        Ok(subtree_root(hashes))
    }

    /// [`Tree::ensure`] for a tile that may be on the right edge.
    fn ensure_any(&mut self, level: u8, index: u64) -> anyhow::Result<()> {
        if self.tiles.contains_key(&(level, index)) {
            Ok(())
        } else {
            self.ensure(level, index)
        }
    }

    /// MTH(D[lo:hi]) for a range of this tree as RFC 6962 splits it (any
    /// range of a proof): perfect aligned subtrees read from the tiles.
    pub fn range_root(&mut self, lo: u64, hi: u64) -> anyhow::Result<Hash> {
        let n = hi.saturating_sub(lo);
        if n == 0 || hi > self.size {
            return Err(fail(
                Code::Failed,
                format!("no range {lo}..{hi} in the tree of {}", self.size),
            ));
        }
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            return self.node(n.trailing_zeros(), lo / n);
        }
        let k = 1u64 << (n - 1).ilog2();
        let left = self.range_root(lo, lo + k)?;
        let right = self.range_root(lo + k, hi)?;
        Ok(merkle::node_hash(&left, &right))
    }

    /// The root of the tree of this tree's first `size` leaves.
    pub fn root_at(&mut self, size: u64) -> anyhow::Result<Hash> {
        if size == self.size {
            return Ok(self.root);
        }
        if size > self.size {
            return Err(fail(
                Code::Failed,
                format!("no tree of {size} in the tree of {}", self.size),
            ));
        }
        let mut tops = Vec::new();
        let mut start = 0u64;
        for b in (0..64u32).rev() {
            if size & (1 << b) != 0 {
                tops.push(self.node(b, start >> b)?);
                start += 1 << b;
            }
        }
        Ok(fold_peaks(&tops))
    }

    /// RFC 9162 PROOF(size, this tree), from the tiles.
    pub fn consistency_proof(&mut self, size: u64) -> anyhow::Result<Vec<Hash>> {
        merkle::consistency_ranges(size, self.size)
            .into_iter()
            .map(|(a, b)| self.range_root(a, b))
            .collect()
    }

    /// RFC 9162 PATH(index, this tree), from the tiles.
    pub fn inclusion_proof(&mut self, index: u64) -> anyhow::Result<Vec<Hash>> {
        merkle::inclusion_ranges(index, self.size)
            .into_iter()
            .map(|(a, b)| self.range_root(a, b))
            .collect()
    }

    /// Fetch every entry bundle and every tile, check each bundle's
    /// leaves against its (authenticated) level-0 tile, re-derive the tree
    /// from the entries alone, and hand each entry to `visit` in order.
    /// Fetches run `parallel` at a time; memory stays flat (a window of
    /// bundles at once). Returns the number of entries.
    pub fn entries(
        &mut self,
        parallel: usize,
        mut visit: impl FnMut(u64, &[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<u64> {
        use rayon::prelude::*;
        // Every tile above level 0 (a 256th of the tree), authenticated.
        for level in (1..levels(self.size)).rev() {
            let tiles = level_hashes(self.size, level).div_ceil(WIDTH);
            for index in 0..tiles {
                self.ensure_any(level, index)?;
            }
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(parallel.max(1))
            .build()
            .map_err(|e| fail(Code::Io, format!("starting fetch threads: {e}")))?;
        let bundles = self.size.div_ceil(WIDTH);
        let window = (4 * parallel.max(1)) as u64;
        let mut frontier = Frontier::default();
        let mut start = 0;
        while start < bundles {
            let end = (start + window).min(bundles);
            let this = &*self;
            let got: Vec<(Vec<u8>, Vec<Hash>)> = pool.install(|| {
                (start..end)
                    .into_par_iter()
                    .map(|k| this.bundle(k))
                    .collect::<anyhow::Result<_>>()
            })?;
            for (k, (bytes, leaves)) in (start..end).zip(got) {
                let width = tile_width(self.size, 0, k);
                let entries = parse_bundle(&bytes, width).unwrap_or_default();
                for (i, e) in entries.iter().enumerate() {
                    visit(k * WIDTH + i as u64, e)?;
                }
                frontier.extend_hashes(&leaves);
            }
            start = end;
        }
        let calculated = frontier.root();
        if frontier.size() != self.size || calculated != self.root {
            return Err(fail(
                Code::Failed,
                format!(
                    "the entries do not hash to the root of the tree of {} ({}, calculated {})",
                    self.size,
                    merkle::B64(self.root),
                    merkle::B64(calculated)
                ),
            ));
        }
        Ok(self.size)
    }

    /// Bundle `k` and its leaf hashes, checked against level-0 tile `k`
    /// (itself checked against the level above, or the right edge).
    fn bundle(&self, k: u64) -> anyhow::Result<(Vec<u8>, Vec<Hash>)> {
        let width = tile_width(self.size, 0, k);
        let tile = match self.tiles.get(&(0, k)) {
            Some(t) => t.clone(),
            None => {
                let t = self.fetch_tile(0, k)?;
                let expected = self
                    .tiles
                    .get(&(1, k / WIDTH))
                    .and_then(|above| above.get((k % WIDTH) as usize).copied())
                    .ok_or_else(|| fail(Code::Failed, "the level above is not fetched"))?;
                self.compare_full(0, k, &t, &expected)?;
                t
            }
        };
        let path = bundle_path(k, width);
        let mut bytes = self.get(&path, MAX_BUNDLE)?;
        if bytes.is_none() && width < WIDTH {
            // Replaced by the full bundle: its first `width` entries.
            if let Some(full) = self.get(&bundle_path(k, WIDTH), MAX_BUNDLE)? {
                let keep: usize = parse_bundle(&full, WIDTH)
                    .map_err(|e| {
                        fail(
                            Code::Failed,
                            format!("{}: {e}", self.src.locate(&bundle_path(k, WIDTH))),
                        )
                    })?
                    .iter()
                    .take(width as usize)
                    .map(|e| 2 + e.len())
                    .sum();
                bytes = Some(full.get(..keep).unwrap_or_default().to_vec());
            }
        }
        let bytes = bytes.ok_or_else(|| self.missing(&path))?;
        let entries = parse_bundle(&bytes, width)
            .map_err(|e| fail(Code::Failed, format!("{}: {e}", self.src.locate(&path))))?;
        let mut leaves = Vec::with_capacity(entries.len());
        merkle::leaf_hashes(&entries, &mut leaves);
        if let Some(i) = leaves.iter().zip(&tile).position(|(a, b)| a != b) {
            return Err(fail(
                Code::Failed,
                format!(
                    "{}: entry {} (leaf {}) does not hash to its leaf in {}",
                    self.src.locate(&path),
                    i,
                    k * WIDTH + i as u64,
                    tile_path(0, k, width)
                ),
            ));
        }
        Ok((bytes, leaves))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_as_the_spec_writes_them() {
        assert_eq!(index_path(0), "000");
        assert_eq!(index_path(999), "999");
        assert_eq!(index_path(1000), "x001/000");
        assert_eq!(index_path(1_234_067), "x001/x234/067");
        assert_eq!(tile_path(0, 3, 256), "tile/0/003");
        assert_eq!(tile_path(2, 0, 15), "tile/2/000.p/15");
        assert_eq!(bundle_path(3906, 64), "tile/entries/x003/906.p/64");
        // The spec's example: a tree of 70,000.
        let s = 70_000;
        assert_eq!(tile_width(s, 0, 272), 256);
        assert_eq!(tile_width(s, 0, 273), 112);
        assert_eq!(tile_width(s, 0, 274), 0);
        assert_eq!(tile_width(s, 1, 0), 256);
        assert_eq!(tile_width(s, 1, 1), 17);
        assert_eq!(tile_width(s, 2, 0), 1);
        assert_eq!(levels(s), 3);
        assert_eq!((levels(0), levels(255), levels(256)), (0, 1, 2));
        assert_eq!(tile_width(u64::MAX, 7, 0), 255);
        assert_eq!(levels(u64::MAX), 8);
    }

    #[test]
    fn nodes_outside_the_tree_are_errors_not_panics() {
        let src = DirSource::new(Path::new("/nonexistent"));
        let mut t = Tree::open(&src, 0, merkle::empty_root()).unwrap();
        for (h, i) in [
            (0, 0),
            (63, 1),
            (64, 0),
            (u32::MAX, u64::MAX),
            (7, u64::MAX),
        ] {
            assert!(t.node(h, i).is_err(), "{h} {i}");
        }
        assert!(t.range_root(0, 1).is_err());
        assert!(t.root_at(1).is_err());
        assert_eq!(t.root_at(0).unwrap(), merkle::empty_root());
        // A checkpoint claiming the largest tree: its right edge is missing.
        assert!(Tree::open(&src, u64::MAX, [0; 32]).is_err());
    }

    #[test]
    fn formats_are_strict() {
        let tile = [[1u8; 32], [2u8; 32]].concat();
        assert_eq!(parse_tile(&tile, 2).unwrap().len(), 2);
        for (bytes, w) in [
            (&tile[..63], 2),
            (&tile[..], 1),
            (&tile[..], 3),
            (&[][..], 0),
            (&tile[..], u64::MAX),
        ] {
            // The message too: a width from anywhere does not overflow it.
            assert!(!parse_tile(bytes, w).unwrap_err().to_string().is_empty());
        }
        let mut b = Vec::new();
        for e in [&b"one"[..], b"", b"three"] {
            push_entry(&mut b, e).unwrap();
        }
        assert_eq!(parse_bundle(&b, 3).unwrap(), [&b"one"[..], b"", b"three"]);
        assert_eq!(
            parse_bundle(&b, 2),
            Err(FormatError::EntryCount { got: 3, width: 2 })
        );
        assert_eq!(
            parse_bundle(&b, 4),
            Err(FormatError::EntryCount { got: 3, width: 4 })
        );
        assert_eq!(
            parse_bundle(&b[..b.len() - 1], 3),
            Err(FormatError::Truncated {
                entry: 2,
                missing: 1
            })
        );
        assert!(parse_bundle(&[0], 1).is_err());
        assert!(push_entry(&mut b, &[0u8; 65_536]).is_err());
    }
}
