//! tlog-tiles: hash tiles, entry bundles, a monitor's state. The genuine
//! files are Tessera's test log (tests/data/tessera-testdata): only they
//! may pass the reader's authentication.

use build_verify::log::checkpoint;
use build_verify::log::merkle::Hash;
use build_verify::log::note::{self, Note, VerifierKey};
use build_verify::log::tiles;

mod tessera {
    pub const TILE_15: &[u8] =
        include_bytes!("../../../tests/data/tessera-testdata/log/tile/0/000.p/15");
    pub const BUNDLE_15: &[u8] =
        include_bytes!("../../../tests/data/tessera-testdata/log/tile/entries/000.p/15");
    pub const CP_15: &str = include_str!("../../../tests/data/tessera-testdata/log/checkpoint.15");
    pub const CP_7: &str = include_str!("../../../tests/data/tessera-testdata/log/checkpoint.7");
    pub const CP_0: &str = include_str!("../../../tests/data/tessera-testdata/log/checkpoint.0");
    pub const VKEY: &str =
        "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx";
}

/// A log served from memory: (path, bytes).
struct Served(Vec<(String, Vec<u8>)>);

impl tiles::Source for Served {
    fn get(&self, path: &str, limit: u64) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self
            .0
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
            .filter(|b| b.len() as u64 <= limit))
    }

    fn locate(&self, path: &str) -> String {
        path.to_string()
    }
}

fn tessera_root() -> Hash {
    checkpoint::parse_note(tessera::CP_15.as_bytes())
        .map(|(_, cp)| cp.root)
        .unwrap_or_default()
}

/// Hash tiles: a tile parses only at its exact width and gives its bytes
/// back; served as the right edge of Tessera's tree of 15, only the
/// genuine tile hashes to its root.
pub fn tlog_tile(data: &[u8]) {
    for width in [
        data.len() as u64 / 32,
        u64::from(data.first().copied().unwrap_or(0)) + 1,
    ] {
        if let Ok(hashes) = tiles::parse_tile(data, width) {
            assert_eq!(hashes.len() as u64, width);
            assert_eq!(hashes.concat(), data);
        }
    }
    let src = Served(vec![("tile/0/000.p/15".into(), data.to_vec())]);
    if let Ok(mut t) = tiles::Tree::open(&src, 15, tessera_root()) {
        assert_eq!(data, tessera::TILE_15, "a fuzzed tile hashed to the root");
        let _ = t.inclusion_proof(u64::from(data.first().copied().unwrap_or(0)) % 15);
    }
}

/// Entry bundles: what parses re-encodes to the same bytes; served with
/// Tessera's tile, only the genuine bundle passes the entries check.
pub fn tlog_bundle(data: &[u8]) {
    let lenient = tiles::parse_bundle(data, u64::MAX);
    let width = match &lenient {
        Err(tiles::FormatError::EntryCount { got, .. }) => *got,
        _ => 0,
    };
    if let Ok(entries) = tiles::parse_bundle(data, width) {
        let mut again = Vec::new();
        for e in &entries {
            assert!(tiles::push_entry(&mut again, e).is_ok());
        }
        assert_eq!(again, data);
        assert!(tiles::parse_bundle(data, width + 1).is_err());
    }
    let src = Served(vec![
        ("tile/0/000.p/15".into(), tessera::TILE_15.to_vec()),
        ("tile/entries/000.p/15".into(), data.to_vec()),
    ]);
    if let Ok(mut t) = tiles::Tree::open(&src, 15, tessera_root()) {
        if t.entries(1, |_, _| Ok(())).is_ok() {
            assert_eq!(data, tessera::BUNDLE_15, "a fuzzed bundle passed");
        }
    }
}

/// A monitor's state file (a signed checkpoint note): what parses
/// re-parses from its encoding to the same; one that Tessera's key
/// verifies is one of Tessera's checkpoints.
pub fn tlog_state(data: &[u8]) {
    let Ok((note, cp)) = build_verify::log::monitor::parse_state(data) else {
        return;
    };
    let enc = note.encode();
    let again = build_verify::log::monitor::parse_state(enc.as_bytes()).ok();
    assert_eq!(again.as_ref().map(|(n, c)| (n, c)), Some((&note, &cp)));
    let Ok(key) = VerifierKey::parse(tessera::VKEY) else {
        return;
    };
    let policy = note::Policy {
        log_key: Some(&key),
        ..Default::default()
    };
    if policy.check(&note, "state").is_ok() {
        let genuine = [tessera::CP_0, tessera::CP_7, tessera::CP_15]
            .iter()
            .any(|c| Note::parse(c.as_bytes()).map(|n| n.text).ok().as_ref() == Some(&note.text));
        assert!(genuine, "a fuzzed state verified: {:?}", note.text);
    }
}
