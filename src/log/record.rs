//! Log records: one JSON object per stored line (JSON Lines). The stored
//! line bytes are the Merkle leaves, so records are never rewritten.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Lines starting with this are directives from the build side.
pub const DIRECTIVE: &str = "##sign-log ";

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    /// Receiver UTC time, RFC 3339 with microseconds.
    pub t: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<String>,
    /// The line as text (JSON escapes keep control characters inert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The line as base64 when it is not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b64: Option<String>,
    /// A continuation piece of a line longer than the record size.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cont: bool,
    /// The input ended without a final newline.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub noeol: bool,
    /// start: the log name; end: eof, error or cap; seal: the origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// seal: the sealed tree size and base64 root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
}

impl Record {
    /// The line's bytes, from `data` or `b64`.
    pub fn bytes(&self) -> Vec<u8> {
        match (&self.data, &self.b64) {
            (Some(d), _) => d.clone().into_bytes(),
            (None, Some(b)) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// A line record for `bytes`.
    pub fn line(seq: u64, t: String, src: Option<String>, bytes: &[u8]) -> Record {
        let (kind, data, b64) = match std::str::from_utf8(bytes) {
            Ok(s) => {
                let kind = if s.starts_with(DIRECTIVE) {
                    "directive"
                } else {
                    "line"
                };
                (kind, Some(s.to_string()), None)
            }
            Err(_) => (
                "line",
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
            ),
        };
        Record {
            seq,
            t,
            kind: kind.into(),
            src,
            data,
            b64,
            ..Record::default()
        }
    }
}

/// Now, as the receiver stamps records.
pub fn now() -> String {
    humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string()
}

/// Bytes shown on a terminal: control characters (but tab) and invalid
/// UTF-8 escaped, so a log cannot drive the reader's terminal.
pub fn terminal_safe(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() && c != '\t' {
                out.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}
