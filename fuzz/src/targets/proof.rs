//! Inclusion and consistency proofs and the gate's evidence, against the
//! sealed log; the Merkle tree's invariants.

use super::fixtures::{
    keyring, policy, sealed_checkpoint, sealed_leaves, sealed_lines, state_at_11,
};
use build_verify::log::checkpoint::Checkpoint;
use build_verify::log::gate;
use build_verify::log::merkle::{self, Hash};
use build_verify::log::proof::{self, Evidence, Proof};
use build_verify::openpgp::{Trust, Verifier};

/// Proofs, the gate's evidence and state files: parsed as JSON, checked
/// against the sealed log as the gate checks them (a product proof that
/// verifies shows a record that is in the log; a consistency proof that
/// the gate accepts is the real one). Then a small tree built from the
/// input's lines: every inclusion and consistency proof verifies, and
/// none does for a changed leaf or a changed proof node.
pub fn proof(data: &[u8]) {
    let _ = serde_json::from_slice::<gate::State>(data);
    if let Ok(p) = serde_json::from_slice::<Proof>(data) {
        proof_against_sealed(&p);
        let again = serde_json::to_vec(&p).unwrap_or_default();
        assert_eq!(
            serde_json::from_slice::<Proof>(&again).ok().as_ref(),
            Some(&p)
        );
    }
    if let Ok(ev) = serde_json::from_slice::<Evidence>(data) {
        evidence_against_sealed(&ev);
    }
    tree_invariants(data);
}

/// A fuzzed proof checked against the sealed log's real checkpoints.
fn proof_against_sealed(p: &Proof) {
    let lines = sealed_lines();
    let n = lines.len() as u64;
    match p {
        Proof::Inclusion {
            leaf_index,
            tree_size,
            leaf,
            ..
        } => {
            let cp = sealed_checkpoint((*tree_size).min(n));
            if proof::verify_inclusion_proof(p, &cp).is_ok() {
                assert!(*leaf_index < cp.size);
                let real = usize::try_from(*leaf_index).ok().and_then(|i| lines.get(i));
                assert_eq!(
                    real,
                    Some(&leaf.as_bytes()),
                    "a proof of a record not in the log verified"
                );
            }
        }
        Proof::Consistency {
            size1,
            size2,
            proof: nodes,
        } => {
            let (old, new) = (
                sealed_checkpoint((*size1).min(n)),
                sealed_checkpoint((*size2).min(n)),
            );
            if proof::verify_consistency_proof(p, &old, &new).is_ok() && old.size > 0 {
                let real = merkle::consistency_proof(
                    old.size,
                    sealed_leaves().get(..new.size as usize).unwrap_or_default(),
                );
                let real: Vec<String> = real.iter().map(merkle::to_b64).collect();
                assert_eq!(&real, nodes, "a forged consistency proof verified");
            }
        }
    }
}

/// Evidence as the gate accepts it, with a state that accepted the
/// sealed log's checkpoint 11.
fn evidence_against_sealed(ev: &Evidence) {
    for p in ev.products.iter().chain(&ev.consistency) {
        proof_against_sealed(p);
    }
    let Some((_dir, state)) = state_at_11() else {
        return;
    };
    let trust = Trust::All;
    let v = Verifier::new(keyring(), &trust, policy());
    for state in [None, Some(state.as_path())] {
        let opts = gate::Options {
            state,
            ..gate::Options::default()
        };
        let Ok(acc) = gate::accept(ev, &v, &opts) else {
            continue;
        };
        // Only a checkpoint the log key signed passes: one of the log's.
        let cp = &acc.checkpoint;
        assert_eq!(
            cp,
            &sealed_checkpoint(cp.size),
            "a checkpoint the log never signed passed"
        );
        if state.is_some() && cp.size > 11 {
            match &ev.consistency {
                Some(p @ Proof::Consistency { .. }) => proof_against_sealed(p),
                other => panic!("accepted without a consistency proof: {other:?}"),
            }
        }
        for p in &ev.products {
            if proof::verify_inclusion_proof(p, cp).is_ok() {
                proof_against_sealed(p);
            }
        }
    }
}

/// Leaves for a small tree: the input's lines, at most 24.
fn tree_invariants(data: &[u8]) {
    let leaves: Vec<&[u8]> = data.split(|&b| b == b'\n').take(24).collect();
    let hashes: Vec<Hash> = leaves.iter().map(|l| merkle::leaf_hash(l)).collect();
    let n = hashes.len() as u64;
    let root = merkle::root_of(&hashes);
    // The streaming frontier and the batched leaf hashes agree.
    let mut f = merkle::Frontier::default();
    f.extend_lines(leaves.iter().copied());
    assert_eq!((f.size(), f.root()), (n, root));
    let mut batch = Vec::new();
    merkle::leaf_hashes(&leaves, &mut batch);
    assert_eq!(batch, hashes);
    let pick = data.first().copied().unwrap_or(0) as u64;
    for (i, leaf) in leaves.iter().enumerate() {
        let i = i as u64;
        let path = merkle::inclusion_proof(i, &hashes);
        let h = merkle::leaf_hash(leaf);
        assert!(
            merkle::verify_inclusion(i, n, &h, &path, &root).is_ok(),
            "leaf {i} of {n}"
        );
        let mut changed = leaf.to_vec();
        changed.push(b'x');
        let bad = merkle::leaf_hash(&changed);
        assert!(
            merkle::verify_inclusion(i, n, &bad, &path, &root).is_err(),
            "a changed leaf {i} of {n} verified"
        );
        for k in 0..path.len() {
            let mut p = path.clone();
            p[k][(pick as usize + k) % 32] ^= 1;
            assert!(
                merkle::verify_inclusion(i, n, &h, &p, &root).is_err(),
                "a changed node {k} verified"
            );
        }
        if !path.is_empty() {
            assert!(
                merkle::verify_inclusion(i, n, &h, path.get(1..).unwrap_or_default(), &root)
                    .is_err()
            );
        }
    }
    // Through the proof file's form, against a checkpoint.
    if let Some((i, leaf)) = leaves
        .iter()
        .enumerate()
        .nth(pick as usize % leaves.len().max(1))
    {
        if let Ok(text) = std::str::from_utf8(leaf) {
            let nodes = merkle::inclusion_proof(i as u64, &hashes);
            let p = Proof::Inclusion {
                leaf_index: i as u64,
                tree_size: n,
                leaf: text.to_string(),
                proof: nodes.iter().map(merkle::to_b64).collect(),
            };
            let cp = Checkpoint {
                origin: "o".into(),
                size: n,
                root,
            };
            assert_eq!(proof::verify_inclusion_proof(&p, &cp).ok(), Some(text));
            let mut other = cp.clone();
            other.root[0] ^= 1;
            assert!(proof::verify_inclusion_proof(&p, &other).is_err());
        }
    }
    // Consistency from a few old sizes m to n.
    for m in [1, pick % n.max(1) + 1, n / 2 + 1, n.saturating_sub(1)] {
        if m == 0 || m > n {
            continue;
        }
        let old = merkle::root_of(hashes.get(..m as usize).unwrap_or_default());
        let cons = merkle::consistency_proof(m, &hashes);
        assert!(
            merkle::verify_consistency(m, n, &cons, &old, &root).is_ok(),
            "{m} -> {n}"
        );
        // A changed leaf in the old tree changes its root; one after it
        // changes only the new root: neither pair verifies.
        for at in [0, m - 1, m, n - 1] {
            let Some(leaf) = leaves.get(at as usize) else {
                continue;
            };
            let mut hs = hashes.clone();
            let mut changed = leaf.to_vec();
            changed.push(b'x');
            hs[at as usize] = merkle::leaf_hash(&changed);
            let (old2, new2) = (merkle::root_of(&hs[..m as usize]), merkle::root_of(&hs));
            if at < m {
                assert!(
                    merkle::verify_consistency(m, n, &cons, &old2, &root).is_err(),
                    "changed old leaf {at}: {m} -> {n}"
                );
            }
            if m < n {
                assert!(
                    merkle::verify_consistency(m, n, &cons, &old, &new2).is_err(),
                    "changed leaf {at}: {m} -> {n}"
                );
            }
        }
        for k in 0..cons.len() {
            let mut c = cons.clone();
            c[k][k % 32] ^= 0x80;
            assert!(
                merkle::verify_consistency(m, n, &c, &old, &root).is_err(),
                "changed node {k}: {m} -> {n}"
            );
        }
    }
}

// ---------------------------------------------------------------------
// Stock packages: RPM headers and packages, Debian control files.
