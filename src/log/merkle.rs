//! RFC 6962 / RFC 9162 Merkle trees over the stored log lines, SHA-256.
//!
//! [`Frontier`] hashes a log of any length in one pass with O(log n)
//! memory (the right edge of perfect subtrees). Proofs need the leaf
//! hashes and follow RFC 9162 §2.1.3 and §2.1.4; their verification uses
//! only the proof, sizes and roots.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// A hash as checkpoints, proofs and records write it: standard base64.
pub fn to_b64(h: &Hash) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(h)
}

/// The hash in `s`, if it is exactly a base64 SHA-256 ([`to_b64`]).
pub fn from_b64(s: &str) -> Option<Hash> {
    use base64::Engine as _;
    let v = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    Hash::try_from(v.as_slice()).ok()
}

pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Leaf hashes of `lines` appended to `out`, a batch at a time on the
/// SIMD lanes (or SHA-NI streams): equal to [`leaf_hash`] of each, faster
/// for the many short records of a log.
pub fn leaf_hashes(lines: &[&[u8]], out: &mut Vec<Hash>) {
    let start = out.len();
    out.resize(start + lines.len(), [0; 32]);
    if let Some(dst) = out.get_mut(start..) {
        tape_sha256::hash_many_prefixed(&[0], lines, dst);
    }
}

/// The parents of consecutive pairs of `level` (an even number of nodes),
/// in one multi-buffer batch.
fn parents(level: &[Hash]) -> Vec<Hash> {
    let (left, right): (Vec<&[u8]>, Vec<&[u8]>) = level
        .chunks_exact(2)
        .filter_map(|p| match p {
            [l, r] => Some((l.as_slice(), r.as_slice())),
            _ => None,
        })
        .unzip();
    let mut out = vec![[0u8; 32]; left.len()];
    tape_sha256::hash_pairs(&[1], &left, &right, &mut out);
    out
}

/// Lines hashed per batch by [`Frontier::extend_lines`]: every lane busy,
/// the batch still in the L2 cache.
const LINE_BATCH: usize = 4096;

/// Fewer leaves than this are added one by one: a batch would leave most
/// lanes idle.
const BATCH_MIN: usize = 16;

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Incremental tree: perfect subtrees, largest first.
#[derive(Clone, Debug, Default)]
pub struct Frontier {
    /// (height, hash) of each perfect subtree on the right edge.
    stack: Vec<(u32, Hash)>,
    size: u64,
}

impl Frontier {
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn push_leaf(&mut self, data: &[u8]) {
        self.push_hash(leaf_hash(data));
    }

    pub fn push_hash(&mut self, mut h: Hash) {
        let mut height = 0;
        while let Some((top_h, top)) = self.stack.last() {
            if *top_h != height {
                break;
            }
            h = node_hash(top, &h);
            height += 1;
            self.stack.pop();
        }
        self.stack.push((height, h));
        self.size += 1;
    }

    /// Add many leaf hashes: the same tree as [`Frontier::push_hash`] on
    /// each, with the interior nodes computed a level at a time, each level
    /// in one batch.
    pub fn extend_hashes(&mut self, leaves: &[Hash]) {
        if leaves.len() < BATCH_MIN {
            leaves.iter().for_each(|h| self.push_hash(*h));
            return;
        }
        self.size += leaves.len() as u64;
        // The new nodes at `height`, left to right.
        let mut level = leaves.to_vec();
        let mut height = 0;
        // The right edge left over at each height, lowest first.
        let mut unpaired = Vec::new();
        while !level.is_empty() {
            // A perfect subtree of this height already on the edge is the
            // left sibling of the first new node. (The stack holds heights
            // strictly decreasing to its top, and every lower one has been
            // taken at a lower level.)
            if self.stack.last().is_some_and(|(h, _)| *h == height) {
                if let Some((_, left)) = self.stack.pop() {
                    level.insert(0, left);
                }
            }
            if level.len() % 2 == 1 {
                if let Some(last) = level.pop() {
                    unpaired.push((height, last));
                }
            }
            level = parents(&level);
            height += 1;
        }
        self.stack.extend(unpaired.into_iter().rev());
    }

    /// Add the leaves of `lines` (record lines without their `\n`).
    pub fn extend_lines<'a>(&mut self, lines: impl IntoIterator<Item = &'a [u8]>) {
        let mut batch: Vec<&[u8]> = Vec::with_capacity(LINE_BATCH);
        let mut hashes = Vec::with_capacity(LINE_BATCH);
        let mut lines = lines.into_iter().peekable();
        while lines.peek().is_some() {
            batch.clear();
            batch.extend(lines.by_ref().take(LINE_BATCH));
            hashes.clear();
            leaf_hashes(&batch, &mut hashes);
            self.extend_hashes(&hashes);
        }
    }

    /// The root of the tree so far (RFC 6962 MTH).
    pub fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        let Some((_, last)) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |acc, (_, h)| node_hash(h, &acc))
    }
}

/// Largest power of two smaller than n (n > 1). Computed, not searched: a
/// doubling loop wraps to 0 and never ends for n > 2^63, a size that any
/// checkpoint file name or proof can claim.
fn split(n: u64) -> u64 {
    n.saturating_sub(1).checked_ilog2().map_or(0, |b| 1 << b)
}

/// A run of leaves `start..end` whose subtree root is one proof node.
pub type Range = (u64, u64);

/// RFC 9162 §2.1.3.1 PATH(m, D[n]) as the leaf ranges whose roots
/// (MTH(D[start:end])) are the proof nodes, in proof order.
pub fn inclusion_ranges(index: u64, size: u64) -> Vec<Range> {
    let (mut lo, mut hi) = (0u64, size);
    let mut ranges = Vec::new();
    let m = index;
    if m >= size {
        return ranges;
    }
    // Walk down from the root; record the sibling at each level, then
    // reverse into proof order (leaf level first).
    while hi - lo > 1 {
        let k = split(hi - lo);
        if m < lo + k {
            ranges.push((lo + k, hi));
            hi = lo + k;
        } else {
            ranges.push((lo, lo + k));
            lo += k;
        }
    }
    ranges.reverse();
    ranges
}

/// RFC 9162 §2.1.4.1 PROOF(m, D[n]) as leaf ranges, in proof order.
pub fn consistency_ranges(m: u64, n: u64) -> Vec<Range> {
    let mut ranges = Vec::new();
    if m == 0 || m >= n {
        return ranges;
    }
    // SUBPROOF(m, D[lo:hi], complete), unrolled.
    let (mut lo, mut hi, mut m, mut complete) = (0u64, n, m, true);
    loop {
        if m == hi - lo {
            if !complete {
                ranges.push((lo, hi));
            }
            break;
        }
        let k = split(hi - lo);
        if m <= k {
            ranges.push((lo + k, hi));
            hi = lo + k;
        } else {
            ranges.push((lo, lo + k));
            lo += k;
            m -= k;
            complete = false;
        }
    }
    ranges.reverse();
    ranges
}

/// Roots of disjoint leaf ranges, computed in one pass over the leaves
/// with O(ranges x log n) memory.
#[derive(Debug)]
pub struct RangeRoots {
    /// (start, end, position in the proof), by start.
    todo: Vec<(u64, u64, usize)>,
    next: usize,
    current: Frontier,
    roots: Vec<Option<Hash>>,
}

impl RangeRoots {
    pub fn new(ranges: &[Range]) -> RangeRoots {
        let mut todo: Vec<(u64, u64, usize)> = ranges
            .iter()
            .enumerate()
            .map(|(i, &(a, b))| (a, b, i))
            .collect();
        todo.sort_unstable();
        RangeRoots {
            todo,
            next: 0,
            current: Frontier::default(),
            roots: vec![None; ranges.len()],
        }
    }

    /// Feed leaf `index` (in increasing order).
    pub fn push(&mut self, index: u64, leaf: &Hash) {
        let Some(&(start, end, pos)) = self.todo.get(self.next) else {
            return;
        };
        if index < start {
            return;
        }
        self.current.push_hash(*leaf);
        if index + 1 == end {
            if let Some(slot) = self.roots.get_mut(pos) {
                *slot = Some(self.current.root());
            }
            self.current = Frontier::default();
            self.next += 1;
        }
    }

    /// The roots in proof order, or `None` when leaves were missing.
    pub fn finish(self) -> Option<Vec<Hash>> {
        self.roots.into_iter().collect()
    }
}

/// MTH over leaf hashes.
pub fn root_of(leaves: &[Hash]) -> Hash {
    let mut f = Frontier::default();
    for h in leaves {
        f.push_hash(*h);
    }
    f.root()
}

fn proof_from(ranges: &[Range], leaves: &[Hash]) -> Vec<Hash> {
    ranges
        .iter()
        .map(|&(a, b)| root_of(leaves.get(a as usize..b as usize).unwrap_or_default()))
        .collect()
}

/// PATH(index, D[n]) over leaf hashes in memory (tests, small trees).
pub fn inclusion_proof(index: u64, leaves: &[Hash]) -> Vec<Hash> {
    proof_from(&inclusion_ranges(index, leaves.len() as u64), leaves)
}

/// PROOF(m, D[n]) over leaf hashes in memory (tests, small trees).
pub fn consistency_proof(m: u64, leaves: &[Hash]) -> Vec<Hash> {
    proof_from(&consistency_ranges(m, leaves.len() as u64), leaves)
}

/// Why a proof does not verify: typed, with the expected and the
/// calculated values, so a caller can say exactly what disagreed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not in a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("the old tree size {size1} is larger than the new one {size2}")]
    SizesOutOfOrder { size1: u64, size2: u64 },
    #[error("a consistency proof from the empty tree proves nothing")]
    FromEmptyTree,
    #[error("the proof has {got} hashes; one for these sizes has {expected}")]
    WrongLength { expected: usize, got: usize },
    #[error("calculated root {calculated}, expected {expected}")]
    RootMismatch { expected: B64, calculated: B64 },
    #[error("calculated old root {calculated}, expected {expected}")]
    OldRootMismatch { expected: B64, calculated: B64 },
}

/// A hash shown as base64, as checkpoints write roots.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct B64(pub Hash);

impl std::fmt::Display for B64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&to_b64(&self.0))
    }
}

impl std::fmt::Debug for B64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

fn matches(expected: &Hash, calculated: Hash) -> Result<(), ProofError> {
    if calculated == *expected {
        Ok(())
    } else {
        Err(ProofError::RootMismatch {
            expected: B64(*expected),
            calculated: B64(calculated),
        })
    }
}

fn length(expected: usize, proof: &[Hash]) -> Result<(), ProofError> {
    if proof.len() == expected {
        Ok(())
    } else {
        Err(ProofError::WrongLength {
            expected,
            got: proof.len(),
        })
    }
}

/// RFC 9162 §2.1.3.2: does `proof` show `leaf` at `index` in a tree of
/// `size` leaves with `root`?
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    length(inclusion_ranges(index, size).len(), proof)?;
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    matches(root, r)
}

/// RFC 9162 §2.1.4.2: is the tree (`size2`, `root2`) an append-only
/// extension of (`size1`, `root1`)? As transparency-dev/merkle decides
/// the edge cases: equal sizes need equal roots and an empty proof; a
/// proof from the empty tree is refused (it proves nothing).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), ProofError> {
    if size1 > size2 {
        return Err(ProofError::SizesOutOfOrder { size1, size2 });
    }
    if size1 == 0 {
        return Err(ProofError::FromEmptyTree);
    }
    length(consistency_ranges(size1, size2).len(), proof)?;
    if size1 == size2 {
        return matches(root2, *root1);
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if size1.is_power_of_two() {
        path.insert(0, *root1);
    }
    let Some((first, rest)) = path.split_first() else {
        return Err(ProofError::WrongLength {
            expected: 1,
            got: 0,
        });
    };
    let (mut fnode, mut snode) = (size1 - 1, size2 - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if fr != *root1 {
        return Err(ProofError::OldRootMismatch {
            expected: B64(*root1),
            calculated: B64(fr),
        });
    }
    matches(root2, sr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_the_largest_power_of_two_below_any_size() {
        for (n, k) in [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8)] {
            assert_eq!(split(n), k, "split({n})");
        }
        assert_eq!(split((1 << 63) + 1), 1 << 63);
        assert_eq!(split(u64::MAX), 1 << 63);
        // Path computations for absurd sizes end (at most 64 levels).
        assert!(inclusion_ranges(0, u64::MAX).len() <= 64);
        assert!(inclusion_ranges(u64::MAX - 1, u64::MAX).len() <= 64);
        assert!(consistency_ranges(1, u64::MAX).len() <= 65);
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
            .collect()
    }

    fn h(s: &str) -> Hash {
        Hash::try_from(hex::decode(s).unwrap().as_slice()).unwrap()
    }

    // RFC 6962 MTH, PATH and PROOF transcribed literally (recursive), as
    // the reference the range-based, streaming versions must equal.
    fn split_usize(n: usize) -> usize {
        split(n as u64) as usize
    }
    fn mth(d: &[Hash]) -> Hash {
        match d {
            [] => empty_root(),
            [one] => *one,
            _ => {
                let (l, r) = d.split_at(split_usize(d.len()));
                node_hash(&mth(l), &mth(r))
            }
        }
    }
    fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
        if d.len() <= 1 {
            return vec![];
        }
        let k = split_usize(d.len());
        let (l, r) = d.split_at(k);
        if m < k {
            [path(m, l), vec![mth(r)]].concat()
        } else {
            [path(m - k, r), vec![mth(l)]].concat()
        }
    }
    fn subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { vec![] } else { vec![mth(d)] };
        }
        let k = split_usize(n);
        let (l, r) = d.split_at(k);
        if m <= k {
            [subproof(m, l, b), vec![mth(r)]].concat()
        } else {
            [subproof(m - k, r, false), vec![mth(l)]].concat()
        }
    }

    /// The RFC 6962 test tree used by Certificate Transparency and
    /// transparency-dev: eight leaves, published roots and proofs.
    const CT_LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const CT_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn ct_leaves() -> Vec<Hash> {
        CT_LEAVES
            .iter()
            .map(|l| leaf_hash(&hex::decode(l).unwrap()))
            .collect()
    }

    #[test]
    fn published_rfc6962_roots_and_proofs() {
        let l = ct_leaves();
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut f = Frontier::default();
        for (n, leaf) in l.iter().enumerate() {
            f.push_hash(*leaf);
            assert_eq!(hex::encode(f.root()), CT_ROOTS[n], "size {}", n + 1);
        }
        let inclusion: [(u64, u64, &[&str]); 4] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (0, 1, &[]),
        ];
        for (i, n, want) in inclusion {
            let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
            let tree = &l[..n as usize];
            assert_eq!(inclusion_proof(i, tree), want, "PATH({i}, {n})");
            let root = h(CT_ROOTS[n as usize - 1]);
            assert!(verify_inclusion(i, n, &l[i as usize], &want, &root).is_ok());
        }
        let consistency: [(u64, u64, &[&str]); 4] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (m, n, want) in consistency {
            let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
            assert_eq!(
                consistency_proof(m, &l[..n as usize]),
                want,
                "PROOF({m}, {n})"
            );
            let (r1, r2) = (h(CT_ROOTS[m as usize - 1]), h(CT_ROOTS[n as usize - 1]));
            assert!(verify_consistency(m, n, &want, &r1, &r2).is_ok());
            // Truncated, extended, wrong root.
            if let Some((_, short)) = want.split_last() {
                assert!(verify_consistency(m, n, short, &r1, &r2).is_err());
                assert!(verify_consistency(m, n, &want, &r2, &r2).is_err());
                let mut long = want.clone();
                long.push(r1);
                assert!(verify_consistency(m, n, &long, &r1, &r2).is_err());
            }
        }
    }

    #[test]
    fn proof_errors_carry_expected_and_calculated_values() {
        let l = leaves(5);
        let root = root_of(&l);
        let p = inclusion_proof(2, &l);
        let wrong = leaf_hash(b"other");
        match verify_inclusion(2, 5, &l[2], &p, &wrong) {
            Err(ProofError::RootMismatch {
                expected,
                calculated,
            }) => assert_eq!((expected, calculated), (B64(wrong), B64(root))),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            verify_inclusion(5, 5, &l[2], &p, &root),
            Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            verify_inclusion(2, 5, &l[2], &p[1..], &root),
            Err(ProofError::WrongLength {
                expected: p.len(),
                got: p.len() - 1
            })
        );
        let c = consistency_proof(3, &l);
        let r3 = root_of(&l[..3]);
        assert!(matches!(
            verify_consistency(3, 5, &c, &wrong, &root),
            Err(ProofError::OldRootMismatch { expected, .. }) if expected == B64(wrong)
        ));
        assert_eq!(
            verify_consistency(5, 3, &c, &r3, &root),
            Err(ProofError::SizesOutOfOrder { size1: 5, size2: 3 })
        );
        let e = verify_consistency(3, 5, &c, &r3, &wrong).unwrap_err();
        assert!(e.to_string().contains(&B64(root).to_string()), "{e}");
    }

    #[test]
    fn batches_equal_one_by_one() {
        // Multi-buffer leaves equal sha2's, over every padding edge.
        let data: Vec<u8> = (0..600u32).map(|i| (i * 7 + 3) as u8).collect();
        let lines: Vec<&[u8]> = (0..300).map(|n| &data[n..2 * n]).collect();
        let mut batched = Vec::new();
        leaf_hashes(&lines, &mut batched);
        let single: Vec<Hash> = lines.iter().map(|l| leaf_hash(l)).collect();
        assert_eq!(batched, single);
        // Any starting size, any batch size: the same tree.
        let l = leaves(300);
        for before in [0usize, 1, 2, 3, 5, 8, 15, 16, 17, 31, 64, 100] {
            for n in [0usize, 1, 15, 16, 17, 33, 64, 65, 127, 128, 129, 199] {
                let mut one = Frontier::default();
                let mut many = Frontier::default();
                for h in &l[..before] {
                    one.push_hash(*h);
                    many.push_hash(*h);
                }
                for h in &l[before..before + n] {
                    one.push_hash(*h);
                }
                many.extend_hashes(&l[before..before + n]);
                assert_eq!(many.size(), one.size());
                assert_eq!(many.stack, one.stack, "before={before} n={n}");
                assert_eq!(many.root(), mth(&l[..before + n]));
            }
        }
        let mut f = Frontier::default();
        f.extend_lines(lines.iter().copied());
        assert_eq!(f.root(), mth(&single));
    }

    #[test]
    fn ranges_and_streaming_equal_the_recursive_definitions() {
        let l = leaves(70);
        for n in 0..70usize {
            let mut f = Frontier::default();
            for h in &l[..n] {
                f.push_hash(*h);
            }
            assert_eq!(f.root(), mth(&l[..n]), "n={n}");
            for m in 0..n {
                let want = path(m, &l[..n]);
                assert_eq!(inclusion_proof(m as u64, &l[..n]), want, "PATH({m},{n})");
                let mut rr = RangeRoots::new(&inclusion_ranges(m as u64, n as u64));
                for (i, h) in l[..n].iter().enumerate() {
                    rr.push(i as u64, h);
                }
                assert_eq!(rr.finish().unwrap(), want);
                let want = if m == 0 {
                    vec![]
                } else {
                    subproof(m, &l[..n], true)
                };
                assert_eq!(consistency_proof(m as u64, &l[..n]), want, "PROOF({m},{n})");
            }
        }
        // Leaves missing: no proof.
        let mut rr = RangeRoots::new(&inclusion_ranges(3, 8));
        for (i, h) in l[..5].iter().enumerate() {
            rr.push(i as u64, h);
        }
        assert!(rr.finish().is_none());
    }

    #[test]
    fn inclusion_proofs_good_truncated_and_wrong_root() {
        for n in 1..40u64 {
            let l = leaves(n as usize);
            let root = root_of(&l);
            for i in 0..n {
                let leaf = &l[i as usize];
                let p = inclusion_proof(i, &l);
                assert!(
                    verify_inclusion(i, n, leaf, &p, &root).is_ok(),
                    "n={n} i={i}"
                );
                assert!(verify_inclusion(n, n, leaf, &p, &root).is_err());
                if let Some((_, short)) = p.split_last() {
                    assert!(verify_inclusion(i, n, leaf, short, &root).is_err());
                    let mut extended = p.clone();
                    extended.push(root);
                    assert!(verify_inclusion(i, n, leaf, &extended, &root).is_err());
                    let mut flipped = p.clone();
                    flipped[0][0] ^= 1;
                    assert!(verify_inclusion(i, n, leaf, &flipped, &root).is_err());
                }
                assert!(verify_inclusion(i, n, leaf, &p, &leaf_hash(b"x")).is_err());
                let other = (i + 1) % n;
                if other != i {
                    assert!(verify_inclusion(i, n, &l[other as usize], &p, &root).is_err());
                }
            }
        }
    }

    #[test]
    fn consistency_proofs_good_truncated_and_wrong_root() {
        let l = leaves(40);
        for n in 1..40u64 {
            for m in 1..=n {
                let (r1, r2) = (root_of(&l[..m as usize]), root_of(&l[..n as usize]));
                let p = consistency_proof(m, &l[..n as usize]);
                assert!(
                    verify_consistency(m, n, &p, &r1, &r2).is_ok(),
                    "m={m} n={n}"
                );
                if let Some((_, short)) = p.split_last() {
                    assert!(verify_consistency(m, n, short, &r1, &r2).is_err());
                }
                if m < n {
                    assert!(verify_consistency(m, n, &p, &leaf_hash(b"x"), &r2).is_err());
                    assert!(verify_consistency(m, n, &p, &r1, &leaf_hash(b"x")).is_err());
                }
            }
        }
    }
}
