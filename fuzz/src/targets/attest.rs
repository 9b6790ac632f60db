//! In-toto attestations (issue 26).

use std::sync::OnceLock;

/// Attestations (issue 26): strict JSON, canonical JSON, the envelopes,
/// keys and securesystemslib's OpenPGP form, and a whole verification
/// against reproduce.debian.net's real key. Invariants: what parses
/// re-parses from its standard JSON to the same tree, and its canonical
/// form is a fixed point; a parsed document is strict JSON; splitting and
/// rebuilding an OpenPGP signature is stable; a document counted for the
/// rebuilder names at least one voter.
pub fn attest(data: &[u8]) {
    use build_verify::attest::evidence::{Evidence, Input};
    use build_verify::attest::json::Json;
    use build_verify::attest::policy::{Policy, Rebuilder};
    use build_verify::attest::{document, gpg, keys};
    static POLICY: OnceLock<Option<Policy>> = OnceLock::new();
    if let Ok(v) = Json::parse(data) {
        assert_eq!(Json::parse(&v.to_json_bytes()).ok(), Some(v.clone()));
        let c = v.canonical();
        if let Ok(again) = Json::parse(&c) {
            assert_eq!(again.canonical(), c);
        }
    }
    if document::parse(data).is_ok() {
        assert!(Json::parse(data).is_ok());
    }
    let _ = keys::parse_keys(data);
    if let Ok(split) = gpg::from_packet(data) {
        let again = |s: &gpg::Split| {
            gpg::to_packet(&s.keyid, &s.other_headers, &s.signature, b"data")
                .ok()
                .and_then(|p| gpg::from_packet(&p).ok())
        };
        if let Some(two) = again(&split) {
            assert_eq!(again(&two).as_ref(), Some(&two));
        }
    }
    if let Some(i) = data.len().checked_sub(1) {
        // Any split of the input as other_headers and signature values.
        let (h, s) = data.split_at(usize::from(data[0]) % (i + 1));
        let _ = gpg::to_packet("", h, s, data);
    }
    let policy = POLICY.get_or_init(|| {
        let key = keys::parse_keys(include_bytes!(
            "../../../tests/data/rebuilders/reproduce-debian-net-amd64.pub"
        ))
        .ok()?;
        Policy::new(vec![Rebuilder {
            name: "rdn".into(),
            keys: key,
        }])
        .ok()
    });
    if let Some(p) = policy {
        let input = Input::Fetched {
            source: "fuzz".into(),
            bytes: data.to_vec(),
        };
        if let Ok(ev) = Evidence::load(p, &[input]) {
            for a in &ev.attested {
                assert!(!a.voters.is_empty());
            }
        }
    }
}
