//! Sealing: a C2SP tlog-checkpoint of the current tree, signed, stored
//! atomically, and a `seal` record appended.

use super::store::{checkpoint_paths, Log};
use crate::exit::{fail, Code, ResultExt};
use crate::openpgp::sign::SigningKey;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Who signs checkpoints.
pub enum Signer {
    /// A key file, through sequoia.
    Key(Box<SigningKey>),
    /// A gpg-compatible program (Split-GPG's qubes-gpg-client-wrapper):
    /// the key never enters the log VM.
    Program {
        program: PathBuf,
        local_user: String,
    },
}

impl Signer {
    pub fn sign(&mut self, data: &[u8]) -> anyhow::Result<Vec<u8>> {
        match self {
            Signer::Key(k) => k.sign_detached_armored(data),
            Signer::Program {
                program,
                local_user,
            } => {
                let mut child = Command::new(&*program)
                    .args([
                        "--batch",
                        "--detach-sign",
                        "--armor",
                        "--local-user",
                        local_user.as_str(),
                    ])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .with_code(Code::Usage, || format!("running {}", program.display()))?;
                if let Some(mut stdin) = child.stdin.take() {
                    stdin
                        .write_all(data)
                        .with_code(Code::Io, || format!("writing to {}", program.display()))?;
                }
                let out = child
                    .wait_with_output()
                    .with_code(Code::Io, || format!("running {}", program.display()))?;
                if !out.status.success() || out.stdout.is_empty() {
                    return Err(fail(
                        Code::Failed,
                        format!("{} failed to sign ({})", program.display(), out.status),
                    ));
                }
                Ok(out.stdout)
            }
        }
    }
}

/// The checkpoint body: origin line, tree size, base64 root hash.
pub fn checkpoint_text(origin: &str, size: u64, root_b64: &str) -> String {
    format!("{origin}\n{size}\n{root_b64}\n")
}

/// A parsed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Vec<u8>,
}

pub fn parse_checkpoint(text: &[u8]) -> anyhow::Result<Checkpoint> {
    use base64::Engine as _;
    let s = std::str::from_utf8(text).map_err(|_| fail(Code::Failed, "checkpoint is not UTF-8"))?;
    let mut lines = s.lines();
    let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
        return Err(fail(
            Code::Failed,
            "checkpoint needs origin, size and root lines",
        ));
    };
    let size = size
        .parse::<u64>()
        .map_err(|_| fail(Code::Failed, "checkpoint size is not a number"))?;
    let root = base64::engine::general_purpose::STANDARD
        .decode(root)
        .ok()
        .filter(|r| r.len() == 32)
        .ok_or_else(|| fail(Code::Failed, "checkpoint root is not a base64 SHA-256"))?;
    Ok(Checkpoint {
        origin: origin.to_string(),
        size,
        root,
    })
}

/// The default origin of a log: unique per log directory name.
pub fn default_origin(dir: &Path) -> String {
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "log".into());
    format!("build-verify.sign-log/{name}")
}

/// Seal the log in `dir`: returns (size, base64 root).
pub fn seal(dir: &Path, signer: &mut Signer, origin: &str) -> anyhow::Result<(u64, String)> {
    let mut log = Log::open(dir)?;
    let size = log.next_seq;
    let root = log.root_b64();
    let text = checkpoint_text(origin, size, &root);
    let sig = signer.sign(text.as_bytes())?;
    let (cp, asc) = checkpoint_paths(dir, size);
    std::fs::create_dir_all(crate::fsutil::parent_dir(&cp))
        .with_code(Code::Io, || "creating checkpoints/")?;
    crate::fsutil::write_atomic(&cp, text.as_bytes())?;
    crate::fsutil::write_atomic(&asc, &sig)?;
    let mut r = log.record("seal");
    r.size = Some(size);
    r.root = Some(root.clone());
    r.name = Some(origin.to_string());
    let mut buf = Vec::new();
    log.append(&r, &mut buf)?;
    log.file
        .write_all(&buf)
        .code(Code::Io, "appending the seal record")?;
    log.file.sync_data().code(Code::Io, "syncing the log")?;
    Ok((size, root))
}
