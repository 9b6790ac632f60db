//! C2SP tlog-checkpoint bodies (origin, tree size, base64 root) and where a
//! log keeps them: `checkpoints/<size>`, a C2SP signed note (the body, then
//! any Ed25519 note signature and witness cosignature lines after a blank
//! line), with `checkpoints/<size>.asc`, the detached OpenPGP signature
//! over the body (the note text), which added cosignatures leave intact.

use super::merkle::{from_b64, to_b64};
use super::note::Note;
use crate::exit::{fail, Code, ResultExt};
use std::path::{Path, PathBuf};

pub const DIR: &str = "checkpoints";

/// A parsed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: [u8; 32],
}

impl Checkpoint {
    /// The body that is signed: three lines, each ending in `\n`.
    pub fn text(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, to_b64(&self.root))
    }

    /// Parse strictly: a non-empty origin line without controls, a decimal
    /// size without sign or leading zeros, a base64 SHA-256, each line
    /// ending in `\n`; non-empty extension lines (C2SP) may follow and are
    /// ignored.
    pub fn parse(text: &[u8]) -> anyhow::Result<Checkpoint> {
        let s =
            std::str::from_utf8(text).map_err(|_| fail(Code::Failed, "checkpoint is not UTF-8"))?;
        let mut lines = s.split_inclusive('\n');
        let mut line = |what: &str| -> anyhow::Result<&str> {
            lines
                .next()
                .and_then(|l| l.strip_suffix('\n'))
                .ok_or_else(|| fail(Code::Failed, format!("checkpoint has no {what} line")))
        };
        let origin = line("origin")?;
        let size = line("size")?;
        let root = line("root hash")?;
        if origin.is_empty() || origin.chars().any(char::is_control) {
            return Err(fail(
                Code::Failed,
                "checkpoint origin line is empty or not text",
            ));
        }
        let size_ok = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size = size
            .parse::<u64>()
            .ok()
            .filter(|_| size_ok)
            .ok_or_else(|| {
                fail(
                    Code::Failed,
                    format!("checkpoint size {size:?} is not a number"),
                )
            })?;
        let root = from_b64(root)
            .ok_or_else(|| fail(Code::Failed, "checkpoint root is not a base64 SHA-256"))?;
        for ext in lines {
            if ext == "\n" || !ext.ends_with('\n') {
                return Err(fail(
                    Code::Failed,
                    "checkpoint extension line is empty or has no newline",
                ));
            }
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }

    /// Read and parse a checkpoint file (a note: its text is the body).
    pub fn read(path: &Path) -> anyhow::Result<Checkpoint> {
        Ok(read_note(path)?.1)
    }
}

/// A checkpoint body or signature is a few hundred bytes, a note with a
/// hundred cosignatures some 10 KiB; these files are read before any
/// signature is checked, so anything larger is refused.
pub const MAX_FILE: u64 = 64 * 1024;

/// Read a checkpoint body or signature file, bounded (larger: exit 1); a
/// missing file or one not regular is exit 2.
pub fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    crate::fsutil::input::read_regular(path, "checkpoint file", MAX_FILE, Code::Failed)
}

/// Parse a stored checkpoint: the note, and the checkpoint in its text.
pub fn parse_note(bytes: &[u8]) -> anyhow::Result<(Note, Checkpoint)> {
    let note = Note::parse(bytes).map_err(|e| fail(Code::Failed, format!("checkpoint: {e}")))?;
    let cp = Checkpoint::parse(note.text.as_bytes())?;
    Ok((note, cp))
}

/// Read and parse a checkpoint file.
pub fn read_note(path: &Path) -> anyhow::Result<(Note, Checkpoint)> {
    parse_note(&read_file(path)?).map_err(|e| e.context(path.display().to_string()))
}

/// A checkpoint as a log stores it.
#[derive(Clone, Debug)]
pub struct Stored {
    pub note: Note,
    pub checkpoint: Checkpoint,
    /// The detached OpenPGP signature over `note.text`.
    pub signature: Vec<u8>,
}

/// Read a checkpoint and its detached signature. A missing signature
/// is exit `missing`: 1 inside a sealed log (it was removed), 3 for a
/// checkpoint handed to `verify-proof` (nothing to verify it with).
pub fn read_stored(body: &Path, asc: &Path, missing: Code) -> anyhow::Result<Stored> {
    let (note, checkpoint) = read_note(body)?;
    match std::fs::symlink_metadata(asc) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(fail(
            missing,
            format!(
                "checkpoint {} has no signature {}",
                body.display(),
                asc.display()
            ),
        )),
        _ => Ok(Stored {
            note,
            checkpoint,
            signature: read_file(asc)?,
        }),
    }
}

/// The signature file next to a checkpoint file: `FILE.asc`.
pub fn asc_of(path: &Path) -> PathBuf {
    let mut asc = path.as_os_str().to_owned();
    asc.push(".asc");
    PathBuf::from(asc)
}

/// Checkpoint files are read by whoever reads the log: the same mode as
/// the log file (the umask's), not a temporary file's 0600.
pub fn write_public(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    crate::fsutil::write_atomic_mode(path, bytes, crate::fsutil::new_file_mode())
}

/// `checkpoints/<size>` and its signature.
pub fn paths(dir: &Path, size: u64) -> (PathBuf, PathBuf) {
    let d = dir.join(DIR);
    (d.join(size.to_string()), d.join(format!("{size}.asc")))
}

/// Every sealed size, from the checkpoint file names, ascending.
pub fn sizes(dir: &Path) -> anyhow::Result<Vec<u64>> {
    let d = dir.join(DIR);
    let mut sizes = Vec::new();
    let entries = match std::fs::read_dir(&d) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(sizes),
        Err(e) => return Err(e).with_code(Code::Io, || format!("listing {}", d.display())),
    };
    for e in entries {
        let e = e.with_code(Code::Io, || format!("listing {}", d.display()))?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        // Only canonical decimal names: `007` is not checkpoint 7.
        if let Some(n) = name.parse::<u64>().ok().filter(|n| n.to_string() == name) {
            sizes.push(n);
        }
    }
    sizes.sort_unstable();
    Ok(sizes)
}

/// The origin for a new checkpoint: the one the log already uses (so
/// moving the directory changes nothing), else one unique per log:
/// `build-verify.sign-log/[SRC/]NAME`, with the log's name (receive's
/// --name, else the name its first session was received under, else the
/// directory's) and its source when known (two build VMs' logs of one
/// component must not share an origin: to a witness or a gate, one origin
/// with two trees is a fork).
pub fn origin_for(dir: &Path, session: Option<(&str, Option<&str>)>) -> anyhow::Result<String> {
    if let Some(last) = sizes(dir)?.last() {
        return Ok(Checkpoint::read(&paths(dir, *last).0)?.origin);
    }
    let (name, src) = match session {
        Some((n, s)) => (n.to_string(), s.map(str::to_string)),
        None => match super::store::first_session(dir)? {
            Some(found) => found,
            None => (
                dir.canonicalize()
                    .ok()
                    .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .unwrap_or_else(|| "log".into()),
                None,
            ),
        },
    };
    Ok(match src.filter(|s| !s.is_empty()) {
        Some(src) => format!("build-verify.sign-log/{src}/{name}"),
        None => format!("build-verify.sign-log/{name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_parse() {
        let root = to_b64(&[7u8; 32]);
        let good = format!("example.org/log\n12\n{root}\n");
        let c = Checkpoint::parse(good.as_bytes()).unwrap();
        assert_eq!(
            (c.origin.as_str(), c.size, c.root),
            ("example.org/log", 12, [7u8; 32])
        );
        assert_eq!(c.text(), good);
        // C2SP extension lines are allowed.
        assert!(Checkpoint::parse(format!("{good}ext\n").as_bytes()).is_ok());
        for bad in [
            format!("example.org/log\n+12\n{root}\n"),
            format!("example.org/log\n012\n{root}\n"),
            format!("example.org/log\n12\n{root}"),
            format!("\n12\n{root}\n"),
            format!("a\x1bb\n12\n{root}\n"),
            "example.org/log\n12\nAAAA\n".to_string(),
            "example.org/log\n12\n".to_string(),
        ] {
            assert!(Checkpoint::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
