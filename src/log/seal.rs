//! Sealing: a C2SP tlog-checkpoint of the current tree, signed, stored
//! atomically, then a `seal` record appended.

use super::checkpoint::Checkpoint;
use super::note::{self, Note, SignerKey};
use super::record::kind;
use super::store::{self, Log};
use crate::exit::{fail, Code, ResultExt};
use crate::openpgp::sign::SigningKey;
use sequoia_openpgp::KeyHandle;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Who signs checkpoints.
pub enum Signer {
    /// A key file, through sequoia.
    Key(Box<SigningKey>),
    /// A gpg-compatible program run as `PROG --detach-sign --armor
    /// --local-user FPR` (Split-GPG's qubes-gpg-client-wrapper): the key
    /// never enters the log VM.
    Program {
        program: PathBuf,
        local_user: String,
    },
}

impl Signer {
    /// The signer the options name: a secret key file (and its passphrase
    /// file), else a gpg-compatible program and the key it signs with.
    pub fn choose(
        key: Option<&Path>,
        passphrase_file: Option<&Path>,
        program: Option<&Path>,
        local_user: Option<&str>,
    ) -> anyhow::Result<Signer> {
        match (key, program, local_user) {
            (Some(k), _, _) => {
                crate::fsutil::require_regular(k, "secret key")?;
                if let Some(p) = passphrase_file {
                    crate::fsutil::require_regular(p, "passphrase file")?;
                }
                Ok(Signer::Key(Box::new(SigningKey::load(k, passphrase_file)?)))
            }
            (None, Some(p), Some(u)) => Ok(Signer::Program {
                program: p.to_path_buf(),
                local_user: u.to_string(),
            }),
            _ => Err(fail(
                Code::Usage,
                "sealing needs --key FILE or --gpg-program PROG --local-user FPR",
            )),
        }
    }

    /// A detached, armored signature over `data`.
    pub fn sign(&mut self, data: &[u8]) -> anyhow::Result<Vec<u8>> {
        let sig = match self {
            Signer::Key(k) => k.sign_detached_armored(data)?,
            Signer::Program {
                program,
                local_user,
            } => {
                let name = program.display().to_string();
                let mut child = Command::new(&*program)
                    .args([
                        "--detach-sign",
                        "--armor",
                        "--local-user",
                        local_user.as_str(),
                    ])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .with_code(Code::Usage, || format!("running {name}"))?;
                // The checkpoint is a few lines: the pipe takes it whole
                // before the program has to answer.
                if let Some(mut stdin) = child.stdin.take() {
                    stdin
                        .write_all(data)
                        .with_code(Code::Io, || format!("writing to {name}"))?;
                }
                let out = child
                    .wait_with_output()
                    .with_code(Code::Io, || format!("running {name}"))?;
                if !out.status.success() {
                    return Err(fail(
                        Code::Failed,
                        format!("{name} failed to sign ({})", out.status),
                    ));
                }
                out.stdout
            }
        };
        if !sig.starts_with(b"-----BEGIN PGP SIGNATURE-----") {
            return Err(fail(
                Code::Failed,
                "the signer did not return an armored OpenPGP signature",
            ));
        }
        Ok(sig)
    }
}

fn shown(handles: &[KeyHandle]) -> String {
    let mut v: Vec<String> = handles.iter().map(|h| h.to_hex()).collect();
    v.sort();
    v.dedup();
    if v.is_empty() {
        "no issuer".into()
    } else {
        v.join(", ")
    }
}

/// How to seal.
pub struct SealOptions<'a> {
    /// The origin line; must be the log's earlier checkpoints' origin.
    pub origin: &'a str,
    /// Also sign the checkpoint as a C2SP note with this Ed25519 key
    /// (named as the origin), next to the OpenPGP signature.
    pub note_key: Option<&'a SignerKey>,
    /// Allow a key other than the one that signed the last checkpoint.
    pub rotate_key: bool,
}

/// What a seal made, and what is worth telling the user.
#[derive(Clone, Debug)]
pub struct Sealed {
    pub checkpoint: Checkpoint,
    pub notes: Vec<String>,
}

/// Seal `log` (open and locked): write `checkpoints/<size>` and its
/// signature atomically, then append the `seal` record. Refuses (exit 2,
/// nothing written) another origin than the log's, and another signing
/// key than the last checkpoint's unless `rotate_key`.
pub fn seal(log: &mut Log, signer: &mut Signer, opts: &SealOptions) -> anyhow::Result<Sealed> {
    let origin = opts.origin;
    let cp = Checkpoint {
        origin: origin.to_string(),
        size: log.next_seq,
        root: log.root(),
    };
    let text = cp.text();
    // The origin must survive a round trip, or verify could never match it.
    if Checkpoint::parse(text.as_bytes()).ok().as_ref() != Some(&cp) {
        return Err(fail(
            Code::Usage,
            format!("origin {origin:?} cannot be a checkpoint line"),
        ));
    }
    // Its seal record must fit a published entry too.
    let longest = super::record::Record {
        seq: u64::MAX,
        t: crate::time::format_rfc3339_micros(u64::MAX / 2).into(),
        kind: kind::SEAL.into(),
        size: Some(u64::MAX),
        root: Some(log.root_b64().into()),
        name: Some(origin.into()),
        ..Default::default()
    };
    if longest.to_line().len() > super::record::MAX_RECORD {
        return Err(fail(
            Code::Usage,
            format!(
                "origin of {} bytes: too long for a record of a published log",
                origin.len()
            ),
        ));
    }
    if let Some(k) = opts.note_key {
        if k.kind != note::ED25519 || k.name != origin {
            return Err(fail(
                Code::Usage,
                format!(
                    "the note key is a {} key named {:?}: a log signs its checkpoints with an Ed25519 note key named as its origin {origin:?}",
                    k.kind_name(),
                    k.name
                ),
            ));
        }
    }
    let last = match store::last_checkpoint_size(&log.dir)? {
        Some(size) => Some(store::read_checkpoint(&log.dir, size)?),
        None => None,
    };
    if let Some(last) = &last {
        if last.checkpoint.origin != origin {
            return Err(fail(
                Code::Usage,
                format!(
                    "origin {origin:?} is not the log's: checkpoint {} has origin {:?} (one log, one origin; verify would fail)",
                    last.checkpoint.size, last.checkpoint.origin
                ),
            ));
        }
    }
    let sig = signer.sign(text.as_bytes())?;
    let mut notes = Vec::new();
    if let Some(last) = &last {
        let before = crate::openpgp::verify::issuers(&last.signature);
        let now = match signer {
            Signer::Key(k) => k.cert().keys().map(|k| k.key().key_handle()).collect(),
            Signer::Program { .. } => crate::openpgp::verify::issuers(&sig),
        };
        let same = before.iter().any(|b| now.iter().any(|n| b.aliases(n)));
        if !same && !opts.rotate_key {
            return Err(fail(
                Code::Usage,
                format!(
                    "checkpoint {} was signed by {}, this seal would be by {}: give --rotate-key to change the log's key",
                    last.checkpoint.size,
                    shown(&before),
                    shown(&crate::openpgp::verify::issuers(&sig))
                ),
            ));
        }
        if !same {
            notes.push(format!(
                "key rotated: checkpoint {} was signed by {}, checkpoint {} by {}",
                last.checkpoint.size,
                shown(&before),
                cp.size,
                shown(&crate::openpgp::verify::issuers(&sig))
            ));
        }
    }
    let mut stored =
        Note::parse(text.as_bytes()).map_err(|e| fail(Code::Failed, format!("checkpoint: {e}")))?;
    if let Some(k) = opts.note_key {
        stored.add(k.sign(&text, crate::time::now_secs()));
    }
    // The records this checkpoint adds, hash by hash, so that verify can
    // name the first one changed later (DESIGN.md §6).
    let from = last.as_ref().map_or(0, |l| l.checkpoint.size).min(cp.size);
    let leaves = store::leaf_hashes(&log.dir, from, cp.size)?;
    store::write_sealed_leaves(&log.dir, cp.size, &leaves)?;
    store::write_checkpoint(&log.dir, cp.size, &sig, &stored)?;
    let mut r = log.record(kind::SEAL);
    r.size = Some(cp.size);
    r.root = Some(log.root_b64().into());
    r.name = Some(origin.to_string().into());
    log.append_now(&r)?;
    Ok(Sealed {
        checkpoint: cp,
        notes,
    })
}
