//! Sealing: a C2SP tlog-checkpoint of the current tree, signed, stored
//! atomically, then a `seal` record appended.

use super::checkpoint::{self, Checkpoint};
use super::record::kind;
use super::store::Log;
use crate::exit::{fail, Code, ResultExt};
use crate::openpgp::sign::SigningKey;
use std::io::Write;
use std::path::PathBuf;
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

/// Seal `log` (open and locked): write `checkpoints/<size>` and its
/// signature atomically, then append the `seal` record. Returns the
/// checkpoint.
pub fn seal(log: &mut Log, signer: &mut Signer, origin: &str) -> anyhow::Result<Checkpoint> {
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
    let sig = signer.sign(text.as_bytes())?;
    let (body, asc) = checkpoint::paths(&log.dir, cp.size);
    let parent = crate::fsutil::parent_dir(&body);
    std::fs::create_dir_all(parent)
        .with_code(Code::Io, || format!("creating {}", parent.display()))?;
    // Signature first: a checkpoint file without one would read as forged.
    crate::fsutil::write_atomic(&asc, &sig)?;
    crate::fsutil::write_atomic(&body, text.as_bytes())?;
    let mut r = log.record(kind::SEAL);
    r.size = Some(cp.size);
    r.root = Some(log.root_b64().into());
    r.name = Some(origin.to_string().into());
    log.append_now(&r)?;
    Ok(cp)
}
