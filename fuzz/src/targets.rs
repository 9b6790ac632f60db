//! One function per fuzz target: feed untrusted bytes to a parser, and
//! check invariants beyond "does not panic" where the parser has some.
//! Also compiled into the main crate's tests/it/fuzz_replay.rs, which runs
//! every committed corpus file through these functions on each `cargo test`.

use build_verify::digest::Algo;
use build_verify::git::{self, Format, Signature};
use build_verify::hashlist::{self, ParseOptions};
use build_verify::log::checkpoint::{self, Checkpoint};
use build_verify::log::directive::{self, Verb};
use build_verify::log::gate;
use build_verify::log::merkle::{self, Hash};
use build_verify::log::note::{self, Note, SignatureLine, SignerKey, VerifierKey};
use build_verify::log::proof::{self, Evidence, Proof};
use build_verify::log::record::{self, LineEncoder, Record};
use build_verify::openpgp::keyring::parse_certs;
use build_verify::openpgp::{BuildPolicy, Keyring, Trust, Verifier};
use build_verify::package::header::{self, ty, Header};
use build_verify::package::{date, deb822, debian, rpm};
use std::io::Read;
use std::sync::OnceLock;

/// The demo keys of Makefile.example: a real keyring to verify fuzzed
/// signatures and signed lists against (the cleartext corpus is signed by
/// the log key, whose secret half is published with the example).
const KEYS: [&[u8]; 2] = [
    include_bytes!("../../example/keys/upstream.asc"),
    include_bytes!("../../example/keys/demo-log-key.pub.asc"),
];

fn keyring() -> &'static Keyring {
    static RING: OnceLock<Keyring> = OnceLock::new();
    RING.get_or_init(|| {
        let certs = KEYS.iter().flat_map(|k| parse_certs(k).unwrap_or_default());
        Keyring::from_certs(certs).unwrap_or_default()
    })
}

fn policy() -> &'static BuildPolicy {
    static POLICY: OnceLock<BuildPolicy> = OnceLock::new();
    POLICY.get_or_init(BuildPolicy::default)
}

/// Hash lists in every format: whatever parses re-parses, once written in
/// its own format, to the same entries; parsing as it is read
/// (check-hashes' plain lists) gives what parsing it whole gives.
pub fn hashlist(data: &[u8]) {
    for zero in [false, true] {
        let opts = ParseOptions {
            zero_terminated: zero,
            untagged_512: None,
        };
        let whole = hashlist::parse_list(data, opts);
        // Streamed through reads of a size the input picks, the list
        // parses to the same entries or fails on the same line.
        let cap = 1 + usize::from(data.first().copied().unwrap_or(0) % 64);
        let mut streamed = Vec::new();
        let r = hashlist::parse_reader(
            std::io::BufReader::with_capacity(cap, data),
            opts,
            u64::MAX,
            "list",
            |e| {
                streamed.push(e);
                Ok(())
            },
        );
        match (&whole, r) {
            (Ok(w), Ok(n)) => assert!(*w == streamed && n == w.len(), "streamed {streamed:?}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!("parse_list {a:?}, parse_reader {b:?}"),
        }
        let Ok(entries) = whole else {
            continue;
        };
        if zero {
            continue;
        }
        for e in &entries {
            let Ok(line) = hashlist::format_entry(e) else {
                continue;
            };
            let again = hashlist::parse_list(&line, opts)
                .unwrap_or_else(|err| panic!("{e:?} written as {line:?} does not parse: {err:#}"));
            let same: Vec<_> = again.iter().map(|x| (x.algo, &x.digest, &x.name)).collect();
            assert!(
                same.contains(&(e.algo, &e.digest, &e.name)),
                "{e:?} written as {line:?} reads back as {again:?}"
            );
        }
    }
    let _ = hashlist::expected_for(data, b"hello-1.0.tar.gz");
}

/// Tag and commit objects: headers, and the signature split from the end.
/// A split tag signature is the object's tail: payload + signature = raw.
pub fn git_objects(data: &[u8]) {
    let _ = git::tag_headers(data);
    if let Signature::OpenPgp { payload, signature } = git::tag_signature(data) {
        assert_eq!([payload, signature].concat(), data);
    }
    for format in [Format::Sha1, Format::Sha256] {
        if let Signature::OpenPgp { payload, signature } = git::commit_signature(data, format) {
            assert!(payload.len() < data.len() && !signature.is_empty());
        }
    }
}

/// Keyring files: parsed, each certificate judged under the policy.
pub fn openpgp_keyring(data: &[u8]) {
    if let Ok(certs) = parse_certs(data) {
        for c in &certs {
            if let Ok(vc) = c.with_policy(policy(), None) {
                let _ = vc.alive();
                let _ = vc.revocation_status();
            }
        }
        if let Ok(ring) = Keyring::from_certs(certs) {
            let _ = Trust::from_roots(&ring, &[], &[], policy());
        }
    }
}

/// Detached signature files (binary, armored, several blocks) over fixed
/// data, against the demo key.
pub fn openpgp_signature(data: &[u8]) {
    let trust = Trust::All;
    let v = Verifier::new(keyring(), &trust, policy());
    let r = v.verify_detached_bytes(data, b"hello\n");
    // A forgery of the demo key's signature is not in any corpus: nothing
    // fuzzed may verify.
    assert!(r.is_err(), "a fuzzed signature verified: {r:?}");
}

/// Cleartext-signed messages (signed hash lists).
pub fn cleartext(data: &[u8]) {
    let trust = Trust::All;
    let v = Verifier::new(keyring(), &trust, policy());
    if let Ok((_, text)) = v.verify_cleartext(data, 1 << 20) {
        // Only a genuine signed list of the corpus verifies; its text is
        // then a hash list or prose, and must be at most the bound.
        assert!(text.len() <= 1 << 20);
    }
}

/// The strict decoders behind --uncompress, with the output capped.
pub fn decompress(data: &[u8]) {
    use build_verify::fetch::Compression;
    for c in [Compression::Gzip, Compression::Xz, Compression::Bzip2] {
        let mut sink = Vec::new();
        let _ = c.decoder(data).take(16 << 20).read_to_end(&mut sink);
    }
}

/// packed-refs and a loose tag ref as a repository holds them, read
/// through gix as verify-tag reads them. The first line of the input is
/// the loose ref, the rest packed-refs.
pub fn refs(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let g = dir.path();
    let (loose, packed) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => data.split_at(i + 1),
        None => (data, &b""[..]),
    };
    let ok = std::fs::create_dir_all(g.join("refs/tags"))
        .and_then(|()| std::fs::create_dir_all(g.join("objects")))
        .and_then(|()| std::fs::write(g.join("HEAD"), "ref: refs/heads/main\n"))
        .and_then(|()| std::fs::write(g.join("packed-refs"), packed))
        .and_then(|()| std::fs::write(g.join("refs/tags/loose"), loose));
    if ok.is_err() {
        return;
    }
    if let Ok(repo) = git::Repo::open(g) {
        let _ = repo.tags();
        let _ = repo.ref_name("HEAD");
        let _ = repo.ref_name("loose");
    }
}

// ---------------------------------------------------------------------
// sign-log: records, directives, checkpoints and notes, proofs, the gate.

/// A real sealed log (fuzz/data/sealed-log, made with the demo log key):
/// two sessions, checkpoints 11 and 15 with the log's note signature and,
/// on 15, a witness cosignature.
mod sealed {
    pub const LOG: &str = include_str!("../data/sealed-log/log.jsonl");
    pub const CP11: &str = include_str!("../data/sealed-log/11");
    pub const CP11_ASC: &str = include_str!("../data/sealed-log/11.asc");
    pub const CP15: &str = include_str!("../data/sealed-log/15");
    pub const NOTE_VKEY: &str = include_str!("../data/sealed-log/note.vkey");
    pub const WITNESS_VKEY: &str = include_str!("../data/sealed-log/w1.vkey");
}

fn sealed_lines() -> Vec<&'static [u8]> {
    sealed::LOG.lines().map(str::as_bytes).collect()
}

/// The note keys of the sealed log: its own, and the witness's.
fn sealed_note_keys() -> &'static [VerifierKey] {
    static KEYS: OnceLock<Vec<VerifierKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [sealed::NOTE_VKEY, sealed::WITNESS_VKEY]
            .iter()
            .filter_map(|k| VerifierKey::parse(k.trim()).ok())
            .collect()
    })
}

/// A log record line: the fast path of [`Record::parse`] must read
/// exactly what serde_json reads (or leave the line to it); a parsed
/// record written back re-parses to itself. Then the input as a build's
/// line: the receiver's encoding parses back to the same bytes, flags and
/// type, holds no byte a terminal acts on, and is what serde writes.
pub fn log_record(data: &[u8]) {
    let ours = Record::parse(data).ok();
    let serde = serde_json::from_slice::<Record>(data).ok();
    assert_eq!(
        ours, serde,
        "the fast record parser disagrees with serde_json"
    );
    if let Some(r) = &ours {
        let line = r.to_line();
        let again = Record::parse(&line)
            .unwrap_or_else(|e| panic!("{r:?} written as {line:?} does not parse: {e:#}"));
        assert_eq!(&again, r);
        if let Ok(bytes) = r.bytes() {
            let _ = record::terminal_safe_line(&bytes);
        }
        if let Some(us) = record::parse_time(&r.t) {
            assert_eq!(record::format_time(us), r.t);
        }
    }
    // The input as one line (or piece) a build printed.
    let (flags, line) = data.split_first().unwrap_or((&0, data));
    let (cont, noeol) = (flags & 1 == 1, flags & 2 == 2);
    let src = (flags & 4 == 4).then_some("build-vm\u{1b}\"");
    let seq = u64::from(*flags) << 40 | line.len() as u64;
    let t = record::format_time(u64::from(*flags) * 1_000_003_000_001);
    let mut enc = LineEncoder::new(src);
    let mut out = Vec::new();
    enc.encode_line(&mut out, seq, &t, line, cont, noeol);
    let r = Record::parse(&out)
        .unwrap_or_else(|e| panic!("the encoding {out:?} does not parse: {e:#}"));
    assert_eq!(r.bytes().ok().as_deref(), Some(line));
    assert_eq!(
        (r.seq, r.t.as_ref(), r.src.as_deref()),
        (seq, t.as_str(), src)
    );
    assert_eq!((r.cont, r.noeol), (cont, noeol));
    let directive =
        !cont && std::str::from_utf8(line).is_ok_and(|s| s.starts_with(record::DIRECTIVE));
    let want = if directive {
        record::kind::DIRECTIVE
    } else {
        record::kind::LINE
    };
    assert_eq!(r.kind, want);
    assert!(
        !out.iter().any(|&b| b < 0x20 || b == 0x7f),
        "a control byte in the record {out:?}"
    );
    assert_eq!(
        r.to_line(),
        out,
        "the receiver's encoding is not what serde writes"
    );
    for shown in [
        record::terminal_safe(line),
        record::terminal_safe_line(line),
    ] {
        assert!(!shown.chars().any(|c| c.is_control() && c != '\t'));
    }
}

/// `##sign-log` directives: what parses is written back to the same
/// directive; a directive inside a record is the product the gate finds.
pub fn log_directive(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in [text.to_string(), format!("{}{text}", record::DIRECTIVE)] {
        let Ok((verb, d)) = directive::parse(&line) else {
            continue;
        };
        let again = directive::line(verb, &d);
        assert_eq!(directive::parse(&again).ok(), Some((verb, d.clone())));
        // As the receiver stores it, and as the gate reads it back.
        let mut rec = Vec::new();
        LineEncoder::new(Some("vm")).encode_line(
            &mut rec,
            3,
            &record::format_time(0),
            line.as_bytes(),
            false,
            false,
        );
        let product = proof::product_of(&rec);
        match (verb, &d.sha256) {
            (Verb::Product, Some(sha)) => {
                let p = product.unwrap_or_else(|| panic!("no product in {rec:?}"));
                assert_eq!(p.sha256, sha.to_ascii_lowercase());
                assert_eq!(
                    (p.name.as_str(), p.src.as_deref()),
                    (d.name.as_str(), Some("vm"))
                );
            }
            _ => assert!(product.is_none(), "{rec:?} is not a product"),
        }
    }
    let _ = proof::product_of(data);
}

/// Checkpoints as C2SP signed notes, signature lines and note keys: each
/// parsed value printed re-parses to itself; no fuzzed note verifies
/// under the sealed log's keys unless its text is one they signed.
pub fn checkpoint(data: &[u8]) {
    if let Ok(note) = Note::parse(data) {
        let enc = note.encode();
        assert_eq!(Note::parse(enc.as_bytes()).as_ref(), Ok(&note), "{enc:?}");
        if let Ok(cp) = Checkpoint::parse(note.text.as_bytes()) {
            let text = cp.text();
            assert_eq!(Checkpoint::parse(text.as_bytes()).ok().as_ref(), Some(&cp));
            assert!(
                note.text.starts_with(&text),
                "the body is the note's first lines"
            );
        }
        let genuine = |cp: &str| {
            Note::parse(cp.as_bytes())
                .map(|n| n.text)
                .unwrap_or_default()
        };
        if let Ok(v) = note::verify(&note, sealed_note_keys()) {
            if !v.is_empty() {
                let signed = [sealed::CP11, sealed::CP15]
                    .iter()
                    .any(|cp| genuine(cp) == note.text);
                assert!(signed, "a fuzzed note verified: {:?}", note.text);
            }
        }
        let (log_key, witnesses) = sealed_note_keys()
            .split_first()
            .map_or((None, &[][..]), |(l, w)| (Some(l), w));
        let policy = note::Policy {
            log_key,
            witnesses,
            min_witnesses: 1,
        };
        if policy.check(&note, "checkpoint").is_ok() {
            assert_eq!(
                note.text,
                genuine(sealed::CP15),
                "a fuzzed note met the policy"
            );
        }
    }
    if let Ok((note, cp)) = checkpoint::parse_note(data) {
        assert!(note.text.starts_with(&cp.text()));
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines().take(16) {
        if let Ok(s) = SignatureLine::parse(line) {
            let enc = s.encode();
            assert_eq!(
                SignatureLine::parse(enc.trim_end_matches('\n')).as_ref(),
                Ok(&s)
            );
        }
        if let Ok(k) = VerifierKey::parse(line) {
            assert_eq!(VerifierKey::parse(&k.encode()).as_ref(), Ok(&k));
        }
        if let Ok(k) = SignerKey::parse(line) {
            let again = SignerKey::parse(&k.encode()).map(|k| k.verifier());
            assert_eq!(again.as_ref(), Ok(&k.verifier()));
        }
    }
}

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

/// The sealed log's leaf hashes.
fn sealed_leaves() -> &'static [Hash] {
    static LEAVES: OnceLock<Vec<Hash>> = OnceLock::new();
    LEAVES.get_or_init(|| {
        sealed_lines()
            .iter()
            .map(|l| merkle::leaf_hash(l))
            .collect()
    })
}

fn sealed_checkpoint(size: u64) -> Checkpoint {
    let leaves = sealed_leaves();
    let n = (size as usize).min(leaves.len());
    Checkpoint {
        origin: "build-verify.sign-log/build-vm/demo".into(),
        size,
        root: merkle::root_of(leaves.get(..n).unwrap_or_default()),
    }
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
                let real: Vec<String> = real.iter().map(b64).collect();
                assert_eq!(&real, nodes, "a forged consistency proof verified");
            }
        }
    }
}

fn b64(h: &Hash) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(h)
}

/// A gate state file that accepted the sealed log's checkpoint 11.
fn state_at_11() -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    let dir = tempfile::tempdir().ok()?;
    let state = dir.path().join("state.json");
    let st = gate::State {
        origin: sealed_checkpoint(11).origin,
        size: 11,
        root: b64(&sealed_checkpoint(11).root),
        checkpoint: sealed::CP11.into(),
        signature: sealed::CP11_ASC.into(),
        accepted_at: record::format_time(0),
    };
    std::fs::write(&state, serde_json::to_vec(&st).ok()?).ok()?;
    Some((dir, state))
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
                proof: nodes.iter().map(b64).collect(),
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

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// What every header the parser accepts must satisfy: the bytes are the
/// input, the region tag first, and every entry's data inside the data
/// section (strings ending in their NUL); no accessor panics.
fn check_header(h: &Header, bytes: &[u8], region: u32) {
    assert_eq!(h.raw(), bytes);
    let (il, dl) = (
        be32(bytes, 8).unwrap_or(0) as usize,
        be32(bytes, 12).unwrap_or(0) as u64,
    );
    let data_start = header::INTRO_LEN + il * header::ENTRY_LEN;
    assert_eq!(bytes.len() as u64, data_start as u64 + dl);
    assert_eq!(h.entries().len(), il);
    assert_eq!(h.entries().first().map(|e| e.tag), Some(region));
    for e in h.entries().iter().skip(1) {
        let end = u64::from(e.offset) + u64::from(e.len);
        assert!(
            e.len > 0 && end <= dl,
            "entry {e:?} runs past {dl} bytes of data"
        );
        if matches!(e.ty, ty::STRING | ty::STRING_ARRAY | ty::I18NSTRING) {
            assert_eq!(bytes.get(data_start + end as usize - 1), Some(&0), "{e:?}");
        }
        let _ = (
            h.bin(e.tag),
            h.strings(e.tag),
            h.string(e.tag),
            h.int32(e.tag),
        );
    }
    let _ = h.check_sorted();
}

/// Parse `bytes` as a header both ways; check what is accepted.
fn parse_header(bytes: &[u8]) {
    for (region, limits) in [
        (header::TAG_HEADERSIGNATURES, header::SIGNATURE_LIMITS),
        (header::TAG_HEADERIMMUTABLE, header::MAIN_LIMITS),
    ] {
        if let Ok(h) = Header::parse(bytes.to_vec(), region, limits) {
            check_header(&h, bytes, region);
        }
        let mut r = bytes;
        if let Ok(read) = header::read_header(&mut r, limits) {
            assert!(bytes.starts_with(&read));
        }
    }
}

/// Bytes taken from the front of the input.
struct Source<'a>(&'a [u8]);

impl Source<'_> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        *b
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
}

/// RPM headers: the input as a header (signature or main), then a header
/// written from entries the input describes, which must parse and read
/// back, then that header with a few of its bytes or words overwritten,
/// which must be refused or satisfy every invariant (never panic).
pub fn rpm_header(data: &[u8]) {
    parse_header(data);
    let mut src = Source(data);
    let n = usize::from(src.byte() % 8) + 1;
    let mut items: Vec<(u32, u32, Vec<u8>, u32)> = Vec::new();
    for i in 0..n {
        let t = u32::from(src.byte() % 9) + 1;
        let count = u32::from(src.byte() % 4) + 1;
        let (payload, count) = match t {
            ty::STRING | ty::STRING_ARRAY | ty::I18NSTRING => {
                let count = if t == ty::STRING { 1 } else { count };
                let mut v = Vec::new();
                for _ in 0..count {
                    let len = usize::from(src.byte() % 6);
                    v.extend(src.bytes(len).into_iter().map(|b| b.max(1)));
                    v.push(0);
                }
                (v, count)
            }
            _ => {
                let size = match t {
                    ty::INT16 => 2,
                    ty::INT32 => 4,
                    ty::INT64 => 8,
                    _ => 1,
                };
                (src.bytes(size * count as usize), count)
            }
        };
        items.push((1000 + 7 * i as u32, t, payload, count));
    }
    let refs: Vec<(u32, u32, &[u8], u32)> = items
        .iter()
        .map(|(a, b, c, d)| (*a, *b, c.as_slice(), *d))
        .collect();
    let good = header::encode(header::TAG_HEADERIMMUTABLE, &refs);
    let h = Header::parse(
        good.clone(),
        header::TAG_HEADERIMMUTABLE,
        header::MAIN_LIMITS,
    )
    .unwrap_or_else(|e| panic!("a header written from {items:?} does not parse: {e}"));
    check_header(&h, &good, header::TAG_HEADERIMMUTABLE);
    assert!(h.check_sorted().is_ok());
    for (tag, t, payload, _) in &items {
        match *t {
            ty::BIN => assert_eq!(h.bin(*tag).ok().flatten(), Some(payload.as_slice())),
            ty::INT32 => assert_eq!(h.int32(*tag).ok().flatten(), be32(payload, 0)),
            ty::STRING | ty::STRING_ARRAY | ty::I18NSTRING => {
                let want: Vec<&[u8]> = payload
                    .strip_suffix(&[0])
                    .unwrap_or(payload)
                    .split(|&b| b == 0)
                    .collect();
                assert_eq!(h.strings(*tag).ok().flatten(), Some(want));
            }
            _ => {}
        }
    }
    let mut bad = good;
    for _ in 0..=src.byte() % 3 {
        let at = usize::from(u16::from_be_bytes([src.byte(), src.byte()])) % bad.len();
        if src.byte() & 1 == 0 {
            bad[at] = src.byte();
        } else {
            let at = at & !3;
            let word = u32::from_be_bytes([src.byte(), src.byte(), src.byte(), src.byte()]);
            if let Some(w) = bad.get_mut(at..at + 4) {
                w.copy_from_slice(&word.to_be_bytes());
            }
        }
    }
    parse_header(&bad);
    // And cut short anywhere.
    let cut = usize::from(src.byte()) % bad.len();
    parse_header(&bad[..cut]);
}

/// The real RPMs of tests/data/rpm: a package verifies only if its main
/// header and payload are one of them, byte for byte.
const RPMS: [&[u8]; 2] = [
    include_bytes!("../../tests/data/rpm/rpmfusion-free-release-40-1.noarch.rpm"),
    include_bytes!("../../tests/data/rpm/rpmfusion-free-release-44-1.noarch.rpm"),
];

fn rpm_keyring() -> &'static Keyring {
    static RING: OnceLock<Keyring> = OnceLock::new();
    RING.get_or_init(|| {
        let key = include_bytes!("../../tests/data/rpm/RPM-GPG-KEY-rpmfusion-free-fedora-2020");
        Keyring::from_certs(parse_certs(key).unwrap_or_default()).unwrap_or_default()
    })
}

/// Where the main header starts: lead, signature header, its padding.
fn main_header_offset(b: &[u8]) -> Option<usize> {
    let sig = rpm::LEAD_LEN;
    let len = 16 + 16 * be32(b, sig + 8)? as usize + be32(b, sig + 12)? as usize;
    Some(sig + len.div_ceil(8) * 8)
}

/// Whole RPM packages, verified under the policy with the RPM Fusion key.
pub fn rpm_package(data: &[u8]) {
    let trust = Trust::All;
    let v = Verifier::new(rpm_keyring(), &trust, policy());
    for v3 in [false, true] {
        let opts = rpm::RpmOptions {
            v3_signatures: v3,
            main_limits: header::MAIN_LIMITS,
        };
        let Ok(report) = rpm::verify_rpm(data, &v, &opts, data.len()) else {
            continue;
        };
        assert!(!report.signers().is_empty());
        let signed = main_header_offset(data).and_then(|m| data.get(m..));
        let genuine = RPMS
            .iter()
            .any(|g| main_header_offset(g).and_then(|m| g.get(m..)) == signed);
        assert!(
            genuine,
            "a package verified whose header or payload was changed: {report:?}"
        );
    }
}

/// Debian control files: the streaming reader gives what the whole-buffer
/// parse gives whatever the read size; a paragraph written back as
/// `Name: value` lines re-parses to itself; checksum fields, pins, list
/// entries and Release dates do not panic, and dates round-trip.
pub fn deb822(data: &[u8]) {
    let whole = deb822::parse_all(data, deb822::LIMITS);
    let chunk = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let streamed: Result<Vec<_>, _> = deb822::Reader::new(
        std::io::BufReader::with_capacity(chunk, data),
        deb822::LIMITS,
    )
    .collect();
    assert_eq!(
        whole.as_ref().ok(),
        streamed.as_ref().ok(),
        "the reader depends on its read size ({chunk})"
    );
    assert_eq!(whole.is_ok(), streamed.is_ok());
    let small = deb822::Limits {
        max_line: 64,
        max_field: 128,
        max_fields: 4,
    };
    let _ = deb822::parse_all(data, small);
    for p in whole.iter().flatten() {
        let mut text = Vec::new();
        let mut printable = true;
        for (name, value) in &p.fields {
            let mut lines = value.split(|&b| b == b'\n');
            text.extend_from_slice(name.as_bytes());
            text.extend_from_slice(b": ");
            text.extend_from_slice(lines.next().unwrap_or_default());
            text.push(b'\n');
            for l in lines {
                // A continuation that is only blanks ends a paragraph: not
                // something a parsed value can hold, except through
                // characters that trim as blanks but do not end one.
                printable &= !l.is_empty();
                text.push(b' ');
                text.extend_from_slice(l);
                text.push(b'\n');
            }
        }
        if printable {
            let again = deb822::parse_all(&text, deb822::LIMITS).ok();
            let fields = again.as_ref().and_then(|v| v.first()).map(|q| &q.fields);
            assert_eq!(
                fields,
                Some(&p.fields),
                "{:?} printed as {:?}",
                p,
                String::from_utf8_lossy(&text)
            );
        }
        let _ = debian::paragraph_pins(p, "fuzz");
        for (_, value) in &p.fields {
            for algo in [Algo::Sha256, Algo::Md5] {
                if let Ok(sums) = deb822::checksum_lines(value, algo) {
                    assert!(sums.iter().all(|s| s.digest.len() == algo.digest_len()));
                }
            }
            if let Ok(s) = std::str::from_utf8(value) {
                if let Some(t) = date::parse_rfc2822(s) {
                    assert_eq!(
                        date::parse_rfc2822(&date::format_rfc2822(t)),
                        Some(t),
                        "{s:?}"
                    );
                }
            }
        }
    }
    if debian::looks_like_deb822(data) {
        let _ = debian::list_entries(data);
    }
    if let Some(text) = deb822::cleartext_text(data) {
        assert!(text.len() <= data.len());
        let _ = deb822::parse_all(&text, deb822::LIMITS);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Some(t) = date::parse_rfc2822(s) {
            assert_eq!(
                date::parse_rfc2822(&date::format_rfc2822(t)),
                Some(t),
                "{s:?}"
            );
        }
    }
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
    let ev: Evidence = serde_json::from_str(include_str!("../corpus/proof/evidence-product"))
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
