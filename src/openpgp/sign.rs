//! Signing with a key file through sequoia (sign-log seal). The other path,
//! `--gpg-program`, keeps the key in another VM and lives with its caller.

use crate::exit::{fail, Code, ResultExt};
use sequoia_openpgp::armor;
use sequoia_openpgp::crypto::{KeyPair, Password};
use sequoia_openpgp::packet::signature::SignatureBuilder;
use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::policy::StandardPolicy;
use sequoia_openpgp::serialize::Serialize;
use sequoia_openpgp::types::SignatureType;
use sequoia_openpgp::{Cert, Fingerprint, Packet};
use std::io::Write;
use std::path::Path;

/// Largest secret key file read (a key and its subkeys are a few KiB).
const MAX_KEY_FILE: u64 = 16 << 20;

/// A secret signing key, decrypted and ready.
pub struct SigningKey {
    cert: Cert,
    keypair: KeyPair,
}

impl SigningKey {
    /// Load a secret key (TSK) file. An encrypted key reads its passphrase
    /// from the first line of `passphrase_file`. Problems are exit 2.
    pub fn load(path: &Path, passphrase_file: Option<&Path>) -> anyhow::Result<SigningKey> {
        // Both files through the special-file rule: a FIFO is refused,
        // never read.
        let key = crate::fsutil::read_regular(path, "secret key", MAX_KEY_FILE, Code::Usage)?;
        let cert = Cert::from_bytes(&key).with_code(Code::Usage, || {
            format!("reading secret key {}", path.display())
        })?;
        let password: Option<Password> = match passphrase_file {
            Some(p) => {
                let text = crate::fsutil::read_regular(p, "passphrase file", 4096, Code::Usage)?;
                let text = zeroize::Zeroizing::new(text);
                let first = text.split(|&b| b == b'\n').next().unwrap_or_default();
                Some(String::from_utf8_lossy(first).trim_end_matches('\r').into())
            }
            None => None,
        };
        let policy = StandardPolicy::new();
        let ka = cert
            .keys()
            .with_policy(&policy, None)
            .supported()
            .alive()
            .revoked(false)
            .for_signing()
            .secret()
            .next()
            .ok_or_else(|| {
                fail(
                    Code::Usage,
                    format!("{} holds no valid secret signing key", path.display()),
                )
            })?;
        let mut key = ka.key().clone();
        if key.secret().is_encrypted() {
            let pw = password.ok_or_else(|| {
                fail(
                    Code::Usage,
                    format!(
                        "{} is protected by a passphrase: give --passphrase-file",
                        path.display()
                    ),
                )
            })?;
            key = key
                .decrypt_secret(&pw)
                .with_code(Code::Usage, || format!("unlocking {}", path.display()))?;
        }
        let keypair = key
            .into_keypair()
            .with_code(Code::Usage, || format!("using {}", path.display()))?;
        Ok(SigningKey { cert, keypair })
    }

    /// The primary key's fingerprint, as verifiers print it.
    pub fn fingerprint(&self) -> Fingerprint {
        self.cert.fingerprint()
    }

    /// The public certificate, for publishing next to what it signs.
    pub fn cert(&self) -> &Cert {
        &self.cert
    }

    /// A detached, armored signature over `data` (SHA-512).
    pub fn sign_detached_armored(&mut self, data: &[u8]) -> anyhow::Result<Vec<u8>> {
        let sig = SignatureBuilder::new(SignatureType::Binary)
            .set_hash_algo(sequoia_openpgp::types::HashAlgorithm::SHA512)
            .sign_message(&mut self.keypair, data)
            .code(Code::Failed, "signing")?;
        let mut out = Vec::new();
        {
            let mut w = armor::Writer::new(&mut out, armor::Kind::Signature)
                .code(Code::Failed, "armoring the signature")?;
            Packet::from(sig)
                .serialize(&mut w)
                .code(Code::Failed, "serializing the signature")?;
            w.finalize().code(Code::Failed, "armoring the signature")?;
        }
        out.flush().ok();
        Ok(out)
    }
}
