//! Keyrings come only from files named by the caller (DESIGN.md §1.3):
//! never `~/.gnupg`, a keyserver or an agent.

use crate::exit::{fail, Code, ResultExt};
use sequoia_openpgp::cert::CertParser;
use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::{Cert, Fingerprint, KeyHandle};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The certificates a verification may use, merged by fingerprint.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    certs: BTreeMap<Fingerprint, Cert>,
}

impl Keyring {
    /// Load every certificate from `files` (armored or binary, one or many
    /// per file) and from the `*.asc` files of `keys_dirs`. An unreadable,
    /// malformed or empty source is a configuration error (exit 2), never
    /// "no trusted keys, so nothing verified".
    pub fn load(files: &[PathBuf], keys_dirs: &[PathBuf]) -> anyhow::Result<Keyring> {
        let mut ring = Keyring::default();
        for f in files {
            for cert in read_certs(f)? {
                ring.insert(cert)?;
            }
        }
        for dir in keys_dirs {
            let mut n = 0;
            let entries = std::fs::read_dir(dir).with_code(Code::Usage, || {
                format!("reading keys directory {}", dir.display())
            })?;
            let mut paths: Vec<PathBuf> = Vec::new();
            for e in entries {
                let e = e.with_code(Code::Usage, || {
                    format!("reading keys directory {}", dir.display())
                })?;
                let p = e.path();
                if p.extension().is_some_and(|x| x == "asc") {
                    paths.push(p);
                }
            }
            paths.sort();
            for p in paths {
                for cert in read_certs_named(&p)? {
                    ring.insert(cert)?;
                    n += 1;
                }
            }
            if n == 0 {
                return Err(fail(
                    Code::Usage,
                    format!(
                        "keys directory {} holds no <FPR>.asc certificate",
                        dir.display()
                    ),
                ));
            }
        }
        if ring.certs.is_empty() {
            return Err(fail(
                Code::Usage,
                "no keyring given (--keyring FILE or --keys-dir DIR): refusing to verify against nothing",
            ));
        }
        Ok(ring)
    }

    /// A keyring of the given certificates (secret parts are dropped).
    pub fn from_certs(certs: impl IntoIterator<Item = Cert>) -> anyhow::Result<Keyring> {
        let mut ring = Keyring::default();
        for c in certs {
            ring.insert(c)?;
        }
        Ok(ring)
    }

    fn insert(&mut self, cert: Cert) -> anyhow::Result<()> {
        let cert = cert.strip_secret_key_material();
        let fpr = cert.fingerprint();
        let merged = match self.certs.remove(&fpr) {
            Some(old) => old
                .merge_public(cert)
                .with_code(Code::Usage, || format!("merging two copies of {fpr}"))?,
            None => cert,
        };
        self.certs.insert(fpr, merged);
        Ok(())
    }

    pub fn certs(&self) -> impl Iterator<Item = &Cert> {
        self.certs.values()
    }

    pub fn len(&self) -> usize {
        self.certs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The certificate with this primary fingerprint.
    pub fn find(&self, fpr: &Fingerprint) -> Option<&Cert> {
        self.certs.get(fpr)
    }

    /// Certificates holding a key (primary or subkey) matching any handle.
    pub fn lookup(&self, handles: &[KeyHandle]) -> Vec<Cert> {
        self.certs
            .values()
            .filter(|c| {
                c.keys()
                    .any(|k| handles.iter().any(|h| h.aliases(k.key().key_handle())))
            })
            .cloned()
            .collect()
    }
}

/// Largest keyring file read (Debian's archive keyring is ~100 KiB, a
/// distribution's whole developer keyring a few MiB).
pub const MAX_KEYRING: u64 = 64 << 20;

/// Every certificate in one keyring file: a regular file (a FIFO or a
/// device is refused, never read), at most [`MAX_KEYRING`] bytes.
pub fn read_certs(path: &Path) -> anyhow::Result<Vec<Cert>> {
    let bytes =
        crate::fsutil::read_regular(path, "keyring", MAX_KEYRING, Code::Usage).map_err(|e| {
            match crate::exit::code_of(&e) {
                // Unreadable (permissions, I/O) is a configuration error too.
                Code::Io => e.context(crate::exit::Failure::new(
                    Code::Usage,
                    format!("reading keyring {}", path.display()),
                )),
                _ => e,
            }
        })?;
    parse_certs(&bytes).with_code(Code::Usage, || format!("keyring {}", path.display()))
}

/// Every certificate in a byte string; empty or malformed input is an error.
pub fn parse_certs(bytes: &[u8]) -> anyhow::Result<Vec<Cert>> {
    let mut certs = Vec::new();
    for c in CertParser::from_bytes(bytes)? {
        certs.push(c.map_err(|e| fail(Code::Usage, format!("malformed certificate: {e}")))?);
    }
    if certs.is_empty() {
        return Err(fail(Code::Usage, "holds no OpenPGP certificate"));
    }
    Ok(certs)
}

/// A `<FPR>.asc` file: when the name is a fingerprint it must be the
/// certificate's, so a mislabelled key cannot slip in under a trusted name.
fn read_certs_named(path: &Path) -> anyhow::Result<Vec<Cert>> {
    let certs = read_certs(path)?;
    let stem = path.file_stem().map(|s| s.to_string_lossy().to_uppercase());
    if let Some(stem) = stem {
        let is_fpr =
            (stem.len() == 40 || stem.len() == 64) && stem.chars().all(|c| c.is_ascii_hexdigit());
        if is_fpr && !certs.iter().any(|c| c.fingerprint().to_hex() == stem) {
            return Err(fail(
                Code::Usage,
                format!(
                    "{} does not hold the certificate its name says",
                    path.display()
                ),
            ));
        }
    }
    Ok(certs)
}
