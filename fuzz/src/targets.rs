//! One function per fuzz target: feed untrusted bytes to a parser, and
//! check invariants beyond "does not panic" where the parser has some.
//! Also compiled into the main crate's tests/fuzz_replay.rs, which runs
//! every committed corpus file through these functions on each `cargo test`.

use build_verify::git::{self, Format, Signature};
use build_verify::hashlist::{self, ParseOptions};
use build_verify::openpgp::keyring::parse_certs;
use build_verify::openpgp::{BuildPolicy, Keyring, Trust, Verifier};
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
/// its own format, to the same entries.
pub fn hashlist(data: &[u8]) {
    for zero in [false, true] {
        let opts = ParseOptions {
            zero_terminated: zero,
            untagged_512: None,
        };
        let Ok(entries) = hashlist::parse_list(data, opts) else {
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
