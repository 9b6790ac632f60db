//! tlog-proof files, tlog-policy files, the tlog-witness request, a
//! witness's state and the one HTTP request a witness reads. The genuine
//! inputs are the sealed log's (fuzz/data/sealed-log): its product record
//! 6 in checkpoint 15, which its note key signed and witness w1 cosigned.

use super::fixtures::{sealed, sealed_leaves, sealed_lines, sealed_note_keys};
use build_verify::log::checkpoint;
use build_verify::log::merkle;
use build_verify::log::note::Note;
use build_verify::log::quorum::Quorum;
use build_verify::log::tlogproof::{self, TlogProof};
use build_verify::log::tlogwitness::{self, Request, Witness};
use std::sync::OnceLock;

const ORIGIN: &str = "build-verify.sign-log/build-vm/demo";

/// The sealed log's note key and its witness, as a quorum of one.
fn quorum() -> &'static Quorum {
    static Q: OnceLock<Quorum> = OnceLock::new();
    Q.get_or_init(|| {
        let keys = sealed_note_keys();
        Quorum::from_keys(
            keys.first().cloned(),
            keys.get(1).cloned().into_iter().collect(),
            Some(1),
        )
        .unwrap_or_else(|e| panic!("{e:#}"))
    })
}

/// The genuine proof of record 6 in checkpoint 15.
pub(super) fn genuine_proof() -> TlogProof {
    let leaves = sealed_leaves();
    TlogProof {
        extra: sealed_lines().get(6).map(|l| l.to_vec()),
        index: 6,
        nodes: merkle::inclusion_proof(6, leaves.get(..15).unwrap_or_default()),
        checkpoint: sealed::CP15.as_bytes().to_vec(),
    }
}

/// A tlog-proof: what parses is written back byte for byte; what verifies
/// against the sealed log's keys is the genuine proof of record 6.
pub fn tlog_proof(data: &[u8]) {
    let Ok((p, note, cp)) = TlogProof::parse(data) else {
        return;
    };
    assert_eq!(p.encode(), data, "a parsed proof writes back otherwise");
    let expect = tlogproof::Expect::default();
    if tlogproof::verify(&p, &note, &cp, &expect, quorum()).is_ok() {
        let genuine = genuine_proof();
        assert_eq!(p.extra, genuine.extra, "a fuzzed record verified");
        assert_eq!(p.index, 6);
        assert_eq!(cp, super::fixtures::sealed_checkpoint(15));
    }
}

/// A witness for the sealed log, with its state in a directory of its
/// own (emptied before each input).
fn witness() -> Option<&'static (tempfile::TempDir, Witness)> {
    static W: OnceLock<Option<(tempfile::TempDir, Witness)>> = OnceLock::new();
    W.get_or_init(|| {
        let dir = tempfile::tempdir().ok()?;
        let key = build_verify::log::note::SignerKey::generate(
            "fuzz.example/w",
            build_verify::log::note::COSIGNATURE,
        )
        .ok()?;
        let logs = sealed_note_keys().first().cloned().into_iter().collect();
        let w = Witness::new(vec![key], logs, dir.path().join("state")).ok()?;
        Some((dir, w))
    })
    .as_ref()
}

/// An add-checkpoint request: what parses is written back byte for byte;
/// a fresh witness of the sealed log cosigns only the sealed log's own
/// checkpoints, and answers every input with one of the spec's codes.
pub fn witness_request(data: &[u8]) {
    if let Ok(r) = Request::parse(data) {
        assert_eq!(r.encode(), data);
    }
    witness_answer(data);
    let Some((_, w)) = witness() else {
        return;
    };
    let _ = std::fs::remove_dir_all(&w.state);
    let Ok(ans) = w.add_checkpoint(data, 1_700_000_000) else {
        return;
    };
    assert!(
        [200, 400, 403, 404, 409, 422].contains(&ans.status),
        "{}",
        ans.status
    );
    if ans.status == 200 {
        let r = Request::parse(data).unwrap_or_else(|e| panic!("200 to a malformed request: {e}"));
        let text = Note::parse(&r.checkpoint).map(|n| n.text).ok();
        let genuine = [sealed::CP11, sealed::CP15]
            .iter()
            .any(|c| Note::parse(c.as_bytes()).map(|n| n.text).ok() == text);
        assert!(genuine, "a fuzzed checkpoint was cosigned: {text:?}");
    }
}

/// A witness's answer as `submit` reads it from the network: a 200's
/// cosignature lines and a 409's size write back byte for byte.
fn witness_answer(data: &[u8]) {
    if let Ok(lines) = tlogwitness::parse_cosignatures(data) {
        assert!(!lines.is_empty());
        assert!(lines.len() <= build_verify::log::note::MAX_SIGNATURES);
        let again: String = lines.iter().map(|l| l.encode()).collect();
        assert_eq!(again.as_bytes(), data);
    }
    if let Some(n) = tlogwitness::parse_size_body(data) {
        assert_eq!(format!("{n}\n").as_bytes(), data);
    }
}

/// A witness's state: what parses re-parses from its encoding to the
/// same, of the origin asked for.
pub fn witness_state(data: &[u8]) {
    let Ok((note, cp)) = tlogwitness::parse_state(data, ORIGIN) else {
        return;
    };
    assert_eq!(cp.origin, ORIGIN);
    let again = tlogwitness::parse_state(note.encode().as_bytes(), ORIGIN).ok();
    assert_eq!(again, Some((note, cp)));
}

/// A tlog-policy file: reading is deterministic, the quorum never needs
/// more witnesses than there are, and a policy that checkpoint 15 meets
/// names the keys that signed it.
pub fn tlog_policy(data: &[u8]) {
    let Ok(q) = Quorum::parse(data) else {
        return;
    };
    assert_eq!(Quorum::parse(data).ok().as_ref(), Some(&q));
    assert!(q.rule.least() <= q.witnesses.len());
    let Ok((note, _)) = checkpoint::parse_note(sealed::CP15.as_bytes()) else {
        return;
    };
    if let Ok(signed) = q.check(&note, ORIGIN, false, "checkpoint 15") {
        let keys = sealed_note_keys();
        if !q.logs.is_empty() {
            assert!(q.logs.iter().any(|(k, _)| Some(k) == keys.first()));
        }
        if q.rule.least() > 0 {
            assert!(q.witness_keys().iter().any(|k| Some(k) == keys.get(1)));
            assert!(!signed.witnesses.is_empty());
        }
    }
}

/// One HTTP request as a witness under socket activation reads it: a
/// body is exactly its Content-Length.
pub fn http_request(data: &[u8]) {
    let mut r = std::io::BufReader::new(data);
    if let Ok(req) = build_verify::net::serve::read_http(&mut r, 1 << 16) {
        assert!(req.body.len() <= 1 << 16);
        assert!(!req.method.is_empty());
    }
}

/// The genuine inputs above must pass, or the invariants would hold
/// vacuously: the proof of record 6 verifies, a witness cosigns
/// checkpoint 15 from nothing. Run by tests/it/fuzz_replay.rs.
pub fn witness_fixtures_verify() {
    let p = genuine_proof();
    let (_, note, cp) = TlogProof::parse(&p.encode()).unwrap_or_else(|e| panic!("{e:#}"));
    let v = tlogproof::verify(&p, &note, &cp, &tlogproof::Expect::default(), quorum());
    assert!(v.is_ok(), "{v:?}");
    let Some((_, w)) = witness() else {
        panic!("no witness");
    };
    let _ = std::fs::remove_dir_all(&w.state);
    let body = Request {
        old: 0,
        proof: Vec::new(),
        checkpoint: sealed::CP15.as_bytes().to_vec(),
    }
    .encode();
    let ans = w
        .add_checkpoint(&body, 1_700_000_000)
        .map(|a| a.status)
        .ok();
    assert_eq!(ans, Some(200));
}
