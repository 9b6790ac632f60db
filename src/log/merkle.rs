//! RFC 6962 / RFC 9162 Merkle trees over the stored log lines, SHA-256.
//!
//! [`Frontier`] hashes a log of any length in one pass with O(log n)
//! memory (the right edge of perfect subtrees). Proofs need the leaf
//! hashes and follow RFC 9162 §2.1.3 and §2.1.4; their verification uses
//! only the proof, sizes and roots.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

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

    /// The root of the tree so far (RFC 6962 MTH).
    pub fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        let Some((_, last)) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |acc, (_, h)| node_hash(h, &acc))
    }
}

/// Largest power of two smaller than n (n > 1).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH over leaf hashes.
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [one] => *one,
        _ => {
            let (l, r) = leaves.split_at(split(leaves.len()));
            node_hash(&root_of(l), &root_of(r))
        }
    }
}

/// RFC 9162 §2.1.3.1 PATH(m, D[n]).
pub fn inclusion_proof(index: usize, leaves: &[Hash]) -> Vec<Hash> {
    if leaves.len() <= 1 {
        return Vec::new();
    }
    let k = split(leaves.len());
    let (l, r) = leaves.split_at(k);
    if index < k {
        let mut p = inclusion_proof(index, l);
        p.push(root_of(r));
        p
    } else {
        let mut p = inclusion_proof(index - k, r);
        p.push(root_of(l));
        p
    }
}

/// RFC 9162 §2.1.4.1 PROOF(m, D[n]).
pub fn consistency_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    fn subproof(m: usize, d: &[Hash], complete: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if complete {
                Vec::new()
            } else {
                vec![root_of(d)]
            };
        }
        let k = split(n);
        let (l, r) = d.split_at(k);
        if m <= k {
            let mut p = subproof(m, l, complete);
            p.push(root_of(r));
            p
        } else {
            let mut p = subproof(m - k, r, false);
            p.push(root_of(l));
            p
        }
    }
    if m == 0 || m >= leaves.len() {
        return Vec::new();
    }
    subproof(m, leaves, true)
}

/// RFC 9162 §2.1.3.2: does `proof` show `leaf` at `index` in a tree of
/// `size` leaves with `root`?
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
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
    snode == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: is the tree (`size2`, `root2`) an append-only
/// extension of (`size1`, `root1`)?
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> bool {
    if size1 > size2 {
        return false;
    }
    if size1 == size2 {
        return proof.is_empty() && root1 == root2;
    }
    if size1 == 0 {
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if size1.is_power_of_two() {
        path.insert(0, *root1);
    }
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut fnode, mut snode) = (size1 - 1, size2 - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if snode == 0 {
            return false;
        }
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
    snode == 0 && fr == *root1 && sr == *root2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn frontier_matches_the_recursive_definition() {
        for n in 0..70 {
            let l = leaves(n);
            let mut f = Frontier::default();
            for h in &l {
                f.push_hash(*h);
            }
            assert_eq!(f.root(), root_of(&l), "n={n}");
        }
        // The RFC 6962 empty-tree root.
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn inclusion_proofs_good_truncated_and_wrong_root() {
        for n in 1..40usize {
            let l = leaves(n);
            let root = root_of(&l);
            for i in 0..n {
                let p = inclusion_proof(i, &l);
                assert!(
                    verify_inclusion(i as u64, n as u64, &l[i], &p, &root),
                    "n={n} i={i}"
                );
                if !p.is_empty() {
                    assert!(!verify_inclusion(
                        i as u64,
                        n as u64,
                        &l[i],
                        &p[..p.len() - 1],
                        &root
                    ));
                    let mut extended = p.clone();
                    extended.push(root);
                    assert!(!verify_inclusion(
                        i as u64, n as u64, &l[i], &extended, &root
                    ));
                }
                assert!(!verify_inclusion(
                    i as u64,
                    n as u64,
                    &l[i],
                    &p,
                    &leaf_hash(b"x")
                ));
                let other = (i + 1) % n;
                if other != i {
                    assert!(!verify_inclusion(i as u64, n as u64, &l[other], &p, &root));
                }
            }
        }
    }

    #[test]
    fn consistency_proofs_good_truncated_and_wrong_root() {
        let l = leaves(40);
        for n in 1..40usize {
            for m in 1..=n {
                let (r1, r2) = (root_of(&l[..m]), root_of(&l[..n]));
                let p = consistency_proof(m, &l[..n]);
                assert!(
                    verify_consistency(m as u64, n as u64, &p, &r1, &r2),
                    "m={m} n={n}"
                );
                if !p.is_empty() {
                    assert!(!verify_consistency(
                        m as u64,
                        n as u64,
                        &p[..p.len() - 1],
                        &r1,
                        &r2
                    ));
                }
                if m < n {
                    assert!(!verify_consistency(
                        m as u64,
                        n as u64,
                        &p,
                        &leaf_hash(b"x"),
                        &r2
                    ));
                    assert!(!verify_consistency(
                        m as u64,
                        n as u64,
                        &p,
                        &r1,
                        &leaf_hash(b"x")
                    ));
                }
            }
        }
    }
}
