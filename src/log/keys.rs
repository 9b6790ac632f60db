//! Note keys as the tools take them: a secret key file (one line), a
//! verifier key given as itself or as a file holding it, the note
//! signatures a checkpoint must carry (the log's key, witnesses and how
//! many of them), a new key pair (the secret half written once, mode
//! 0600), and the cosignature lines witnesses send back.

use super::note::{self, Policy, SignatureLine, SignerKey, VerifierKey};
use crate::exit::{fail, Code};
use crate::fsutil::input;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A note key file is one line.
pub const MAX_KEY_FILE: u64 = 4096;

/// A secret note key from its file (`PRIVATE+KEY+...`, from `keygen`).
pub fn read_signer(path: &Path) -> anyhow::Result<SignerKey> {
    let text = input::read_regular(path, "note key", MAX_KEY_FILE, Code::Usage)?;
    let text = zeroize::Zeroizing::new(String::from_utf8_lossy(&text).into_owned());
    SignerKey::parse(text.trim()).map_err(|e| fail(Code::Usage, format!("{}: {e}", path.display())))
}

/// A verifier key (`NAME+HASH+KEY`) given as itself, or as a file
/// holding it.
pub fn verifier_arg(arg: &str) -> anyhow::Result<VerifierKey> {
    match VerifierKey::parse(arg) {
        Ok(k) => Ok(k),
        Err(e) if !Path::new(arg).exists() => Err(fail(Code::Usage, format!("{arg}: {e}"))),
        Err(_) => {
            let text =
                input::read_regular(Path::new(arg), "verifier key", MAX_KEY_FILE, Code::Usage)?;
            let text = String::from_utf8_lossy(&text);
            VerifierKey::parse(text.trim()).map_err(|e| fail(Code::Usage, format!("{arg}: {e}")))
        }
    }
}

/// The note signatures a checkpoint must carry: the log's Ed25519 note
/// key's (`--note-key`), and cosignatures by `min` of the witnesses
/// (`--witness`, `--min-witnesses`; all of them by default).
#[derive(Debug, Default)]
pub struct NoteKeys {
    log_key: Option<VerifierKey>,
    witnesses: Vec<VerifierKey>,
    min: usize,
}

impl NoteKeys {
    /// Parse the keys, each of the kind its role needs (a type 1 note key
    /// for the log, type 4 cosignature keys for witnesses); asking for
    /// more witnesses than given is a usage error.
    pub fn load(
        log_key: Option<&str>,
        witnesses: &[String],
        min: Option<usize>,
    ) -> anyhow::Result<NoteKeys> {
        let log_key = log_key.map(verifier_arg).transpose()?;
        let witnesses = witnesses
            .iter()
            .map(|w| verifier_arg(w))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if let Some(k) = log_key.as_ref().filter(|k| k.kind != note::ED25519) {
            return Err(fail(
                Code::Usage,
                format!("--note-key {}: not an Ed25519 note (type 1) key", k.name),
            ));
        }
        if let Some(k) = witnesses.iter().find(|k| k.kind != note::COSIGNATURE) {
            return Err(fail(
                Code::Usage,
                format!("--witness {}: not a cosignature (type 4) key", k.name),
            ));
        }
        let min = min.unwrap_or(witnesses.len());
        if min > witnesses.len() {
            return Err(fail(
                Code::Usage,
                format!(
                    "--min-witnesses {min} but only {} --witness keys given",
                    witnesses.len()
                ),
            ));
        }
        Ok(NoteKeys {
            log_key,
            witnesses,
            min,
        })
    }

    pub fn policy(&self) -> Policy<'_> {
        Policy {
            log_key: self.log_key.as_ref(),
            witnesses: &self.witnesses,
            min_witnesses: self.min,
        }
    }
}

/// Make a note key named `name`: a witness's cosignature key (type 4)
/// or a log's note signature key (type 1). The secret key goes to
/// `secret`, a new file (never overwritten, mode 0600); returns the
/// verifier key, to publish.
pub fn keygen(name: &str, witness: bool, secret: &Path) -> anyhow::Result<VerifierKey> {
    let kind = if witness {
        note::COSIGNATURE
    } else {
        note::ED25519
    };
    let k = SignerKey::generate(name, kind).map_err(|e| e.context(format!("--name {name:?}")))?;
    let mut f = crate::fsutil::create_new_private(secret)
        .map_err(|e| fail(Code::Usage, format!("{e:#}")))?;
    let text = k.encode();
    f.write_all(text.as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all())
        .map_err(|e| fail(Code::Io, format!("writing {}: {e}", secret.display())))?;
    Ok(k.verifier())
}

/// The cosignature lines in `files` (`cosign`'s output; `-` is standard
/// input), blank lines skipped; anything else is a usage error.
pub fn read_cosignature_lines(files: &[PathBuf]) -> anyhow::Result<Vec<SignatureLine>> {
    let mut parsed = Vec::new();
    for f in files {
        let text = input::read_arg(
            f,
            "cosignature lines",
            super::store::MAX_CHECKPOINT_FILE,
            Code::Usage,
        )?;
        let text = String::from_utf8(text)
            .map_err(|_| fail(Code::Usage, format!("{}: not UTF-8", f.display())))?;
        for l in text.lines().filter(|l| !l.trim().is_empty()) {
            parsed.push(
                SignatureLine::parse(l)
                    .map_err(|e| fail(Code::Usage, format!("{}: {e}", f.display())))?,
            );
        }
    }
    Ok(parsed)
}
