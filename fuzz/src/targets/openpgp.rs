//! Keyrings, signatures, cleartext-signed messages.

use super::fixtures::{keyring, policy};
use build_verify::openpgp::keyring::parse_certs;
use build_verify::openpgp::{Keyring, Trust, Verifier};

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
