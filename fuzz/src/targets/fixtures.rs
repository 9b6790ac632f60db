//! What the targets compare with: the demo keys, the sealed log of
//! fuzz/data/sealed-log, real RPMs; and the check that they verify.

use build_verify::log::checkpoint::{self, Checkpoint};
use build_verify::log::gate;
use build_verify::log::merkle::{self, Hash};
use build_verify::log::note::{self, Note, VerifierKey};
use build_verify::log::proof::{self, Evidence};
use build_verify::openpgp::keyring::parse_certs;
use build_verify::openpgp::{BuildPolicy, Keyring, Trust, Verifier};
use build_verify::package::rpm;
use build_verify::time;
use std::sync::OnceLock;

/// The demo keys of Makefile.example: a real keyring to verify fuzzed
/// signatures and signed lists against (the cleartext corpus is signed by
/// the log key, whose secret half is published with the example).
pub(super) const KEYS: [&[u8]; 2] = [
    include_bytes!("../../../example/keys/upstream.asc"),
    include_bytes!("../../../example/keys/demo-log-key.pub.asc"),
];

pub(super) fn keyring() -> &'static Keyring {
    static RING: OnceLock<Keyring> = OnceLock::new();
    RING.get_or_init(|| {
        let certs = KEYS.iter().flat_map(|k| parse_certs(k).unwrap_or_default());
        Keyring::from_certs(certs).unwrap_or_default()
    })
}

pub(super) fn policy() -> &'static BuildPolicy {
    static POLICY: OnceLock<BuildPolicy> = OnceLock::new();
    POLICY.get_or_init(BuildPolicy::default)
}

/// A real sealed log (fuzz/data/sealed-log, made with the demo log key):
/// two sessions, checkpoints 11 and 15 with the log's note signature and,
/// on 15, a witness cosignature.
pub(super) mod sealed {
    pub const LOG: &str = include_str!("../../data/sealed-log/log.jsonl");
    pub const CP11: &str = include_str!("../../data/sealed-log/11");
    pub const CP11_ASC: &str = include_str!("../../data/sealed-log/11.asc");
    pub const CP15: &str = include_str!("../../data/sealed-log/15");
    pub const NOTE_VKEY: &str = include_str!("../../data/sealed-log/note.vkey");
    pub const WITNESS_VKEY: &str = include_str!("../../data/sealed-log/w1.vkey");
}

pub(super) fn sealed_lines() -> Vec<&'static [u8]> {
    sealed::LOG.lines().map(str::as_bytes).collect()
}

/// The note keys of the sealed log: its own, and the witness's.
pub(super) fn sealed_note_keys() -> &'static [VerifierKey] {
    static KEYS: OnceLock<Vec<VerifierKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [sealed::NOTE_VKEY, sealed::WITNESS_VKEY]
            .iter()
            .filter_map(|k| VerifierKey::parse(k.trim()).ok())
            .collect()
    })
}

/// The sealed log's leaf hashes.
pub(super) fn sealed_leaves() -> &'static [Hash] {
    static LEAVES: OnceLock<Vec<Hash>> = OnceLock::new();
    LEAVES.get_or_init(|| {
        sealed_lines()
            .iter()
            .map(|l| merkle::leaf_hash(l))
            .collect()
    })
}

pub(super) fn sealed_checkpoint(size: u64) -> Checkpoint {
    let leaves = sealed_leaves();
    let n = (size as usize).min(leaves.len());
    Checkpoint {
        origin: "build-verify.sign-log/build-vm/demo".into(),
        size,
        root: merkle::root_of(leaves.get(..n).unwrap_or_default()),
    }
}

/// A gate state file that accepted the sealed log's checkpoint 11.
pub(super) fn state_at_11() -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    let dir = tempfile::tempdir().ok()?;
    let state = dir.path().join("state.json");
    let st = gate::State {
        origin: sealed_checkpoint(11).origin,
        size: 11,
        root: merkle::to_b64(&sealed_checkpoint(11).root),
        checkpoint: sealed::CP11.into(),
        signature: sealed::CP11_ASC.into(),
        accepted_at: time::format_rfc3339_micros(0),
    };
    std::fs::write(&state, serde_json::to_vec(&st).ok()?).ok()?;
    Some((dir, state))
}

/// The real RPMs of tests/data/rpm: a package verifies only if its main
/// header and payload are one of them, byte for byte.
pub(super) const RPMS: [&[u8]; 2] = [
    include_bytes!("../../../tests/data/rpm/rpmfusion-free-release-40-1.noarch.rpm"),
    include_bytes!("../../../tests/data/rpm/rpmfusion-free-release-44-1.noarch.rpm"),
];

pub(super) fn rpm_keyring() -> &'static Keyring {
    static RING: OnceLock<Keyring> = OnceLock::new();
    RING.get_or_init(|| {
        let key = include_bytes!("../../../tests/data/rpm/RPM-GPG-KEY-rpmfusion-free-fedora-2020");
        Keyring::from_certs(parse_certs(key).unwrap_or_default()).unwrap_or_default()
    })
}

/// The fixtures the invariants above compare with must verify, or those
/// invariants would hold vacuously: the real RPMs pass, the sealed log's
/// evidence passes the gate (from its checkpoint 11 state too), its
/// checkpoint 15 meets the note policy. Run by tests/it/fuzz_replay.rs.
pub fn fixtures_verify() {
    let trust = Trust::All;
    let v = Verifier::new(rpm_keyring(), &trust, policy());
    for g in RPMS {
        let r = rpm::verify_rpm(g, &v, &rpm::RpmOptions::default(), g.len());
        assert!(r.is_ok(), "{r:?}");
    }
    let ev: Evidence = serde_json::from_str(include_str!("../../corpus/proof/evidence-product"))
        .unwrap_or_else(|e| panic!("{e}"));
    let v = Verifier::new(keyring(), &trust, policy());
    let acc = gate::accept(&ev, &v, &gate::Options::default()).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(acc.checkpoint, sealed_checkpoint(15));
    let (_dir, state) = state_at_11().unwrap_or_else(|| panic!("no state file"));
    let opts = gate::Options {
        state: Some(&state),
        ..gate::Options::default()
    };
    let from_11 = gate::accept(&ev, &v, &opts).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(from_11.previous, Some(11));
    let products: Vec<_> = ev
        .products
        .iter()
        .filter(|p| proof::verify_inclusion_proof(p, &acc.checkpoint).is_ok())
        .collect();
    assert_eq!(products.len(), 1);
    let note = Note::parse(sealed::CP15.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let (log_key, witnesses) = sealed_note_keys()
        .split_first()
        .unwrap_or_else(|| panic!("no note keys"));
    let policy = note::Policy {
        log_key: Some(log_key),
        witnesses,
        min_witnesses: 1,
    };
    assert_eq!(
        policy.check(&note, "checkpoint 15").map(|v| v.len()).ok(),
        Some(2)
    );
    assert_eq!(
        checkpoint::parse_note(sealed::CP15.as_bytes())
            .map(|(_, c)| c)
            .ok(),
        Some(sealed_checkpoint(15))
    );
}
