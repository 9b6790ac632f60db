//! An attestation out: an in-toto link in securesystemslib's
//! signed-metadata envelope, the format rebuilders publish and every reader
//! of theirs accepts (repro-threshold, rebuilderd's tooling,
//! in-toto-verify), rather than a DSSE Statement that repro-threshold
//! cannot read. Signed with an Ed25519 key (PKCS#8 PEM, what `openssl
//! genpkey -algorithm ed25519` writes; securesystemslib 1.x's key id), or
//! through a gpg-compatible program in securesystemslib's OpenPGP form, as
//! in-toto-run --gpg and Qubes' rebuilder sign (Split-GPG: the key stays in
//! its VM).

use super::gpg;
use super::json::{object, string, Json};
use super::keys::sslib_keyid;
use crate::exit::{fail, Code, ResultExt};
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signer as _, SigningKey};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Who signs the attestation.
pub enum AttestSigner {
    Ed25519(Box<SigningKey>),
    /// `PROG --detach-sign --armor --digest-algo SHA256 --local-user KEY`
    /// (securesystemslib verifies OpenPGP signatures with SHA-256 only).
    Program {
        program: PathBuf,
        local_user: String,
    },
}

/// Largest secret key file.
const MAX_SECRET: u64 = 64 << 10;

impl AttestSigner {
    /// `--attest KEY`: an Ed25519 secret key file, or with a gpg-compatible
    /// `program` (Split-GPG) the OpenPGP key it signs with.
    pub fn choose(key: &str, program: Option<PathBuf>) -> anyhow::Result<AttestSigner> {
        match program {
            Some(program) => Ok(AttestSigner::Program {
                program,
                local_user: key.to_owned(),
            }),
            None => AttestSigner::load_key(Path::new(key)),
        }
    }

    /// An Ed25519 secret key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn load_key(path: &Path) -> anyhow::Result<AttestSigner> {
        let bytes = crate::fsutil::read_regular(path, "secret key", MAX_SECRET, Code::Usage)?;
        let text = zeroize::Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned());
        let key = SigningKey::from_pkcs8_pem(text.trim()).map_err(|e| {
            fail(
                Code::Usage,
                format!(
                    "{}: not an Ed25519 PKCS#8 PEM secret key ({e}; openssl genpkey -algorithm ed25519 makes one)",
                    path.display()
                ),
            )
        })?;
        Ok(AttestSigner::Ed25519(Box::new(key)))
    }

    /// One signature object over `data` for the envelope.
    fn sign(&self, data: &[u8]) -> anyhow::Result<Json> {
        match self {
            AttestSigner::Ed25519(k) => {
                let sig = k.sign(data);
                Ok(object([
                    ("keyid", string(sslib_keyid(&k.verifying_key()))),
                    ("sig", string(hex::encode(sig.to_bytes()))),
                ]))
            }
            AttestSigner::Program {
                program,
                local_user,
            } => {
                let armored = run_program(program, local_user, data)?;
                let packets = crate::openpgp::verify::signature_packets(&armored).map_err(|e| {
                    e.context(format!(
                        "{} returned no usable signature",
                        program.display()
                    ))
                })?;
                let split = gpg::from_packet(&packets).map_err(|why| {
                    fail(
                        Code::Failed,
                        format!("the signature {} made: {why}", program.display()),
                    )
                })?;
                Ok(object([
                    ("keyid", string(split.keyid)),
                    ("other_headers", string(hex::encode(split.other_headers))),
                    ("signature", string(hex::encode(split.signature))),
                ]))
            }
        }
    }
}

fn run_program(program: &Path, local_user: &str, data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let name = program.display().to_string();
    let mut child = Command::new(program)
        .args([
            "--detach-sign",
            "--armor",
            "--digest-algo",
            "SHA256",
            "--local-user",
            local_user,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_code(Code::Usage, || format!("running {name}"))?;
    // Written from another thread: a link can outgrow the pipe's buffer
    // while the program already writes its answer.
    let mut stdin = child.stdin.take();
    let input = data.to_vec();
    let writer = std::thread::spawn(move || match stdin.as_mut() {
        Some(s) => s.write_all(&input),
        None => Ok(()),
    });
    let out = child
        .wait_with_output()
        .with_code(Code::Io, || format!("running {name}"))?;
    let written = writer
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("writer")));
    if !out.status.success() {
        return Err(fail(
            Code::Failed,
            format!("{name} failed to sign ({})", out.status),
        ));
    }
    written.with_code(Code::Io, || format!("writing to {name}"))?;
    Ok(out.stdout)
}

/// A file and its SHA-256, as a link names it.
pub struct Artifact {
    pub name: String,
    pub sha256: [u8; 32],
}

fn artifacts(list: &[Artifact]) -> Json {
    Json::Object(
        list.iter()
            .map(|a| {
                (
                    a.name.clone(),
                    object([("sha256", string(hex::encode(a.sha256)))]),
                )
            })
            .collect(),
    )
}

/// The `signed` part of a link: `_type` link, the step name, materials,
/// products, and byproducts (what the tool wants to say about how).
pub fn link(name: &str, materials: &[Artifact], products: &[Artifact], byproducts: Json) -> Json {
    object([
        ("_type", string("link")),
        ("name", string(name)),
        ("materials", artifacts(materials)),
        ("products", artifacts(products)),
        ("byproducts", byproducts),
        ("command", Json::Array(Vec::new())),
        ("environment", Json::Object(BTreeMap::new())),
    ])
}

/// The envelope of `signed`, signed: the bytes of the file (standard
/// JSON, keys sorted, a final newline).
pub fn sign_link(signed: Json, signer: &AttestSigner) -> anyhow::Result<Vec<u8>> {
    let sig = signer.sign(&signed.canonical())?;
    let envelope = object([("signatures", Json::Array(vec![sig])), ("signed", signed)]);
    let mut out = envelope.to_json_bytes();
    out.push(b'\n');
    Ok(out)
}

/// Write `bytes` to `path` atomically, readable as a published file.
pub fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    crate::fsutil::write_atomic_mode(path, bytes, crate::fsutil::new_file_mode())
        .with_code(Code::Io, || format!("writing {}", path.display()))
}
