//! C2SP tlog-checkpoint bodies: origin, tree size, base64 root. A stored
//! checkpoint is a C2SP signed note whose text is the body (the log's
//! store keeps them: [`super::store`]).

use super::merkle::{from_b64, to_b64};
use super::note::Note;
use crate::exit::{fail, Code};

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
}

/// Parse a stored checkpoint: the note, and the checkpoint in its text.
pub fn parse_note(bytes: &[u8]) -> anyhow::Result<(Note, Checkpoint)> {
    let note = Note::parse(bytes).map_err(|e| fail(Code::Failed, format!("checkpoint: {e}")))?;
    let cp = Checkpoint::parse(note.text.as_bytes())?;
    Ok((note, cp))
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
