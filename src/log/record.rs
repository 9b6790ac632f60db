//! Log records: one JSON object per stored line (JSON Lines). The stored
//! line bytes are the Merkle leaves, so records are never rewritten.
//!
//! The receiver writes line records by hand ([`encode_line`]) because it
//! runs once per input line; every other record goes through serde. Both
//! escape every control character (C0, DEL, C1) and the bidirectional
//! overrides, so neither `cat log.jsonl` nor `sign-log cat` can drive the
//! reader's terminal.

use crate::exit::{fail, Code};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Lines starting with this are directives from the build side.
pub const DIRECTIVE: &str = "##sign-log ";

/// The longest stored record: a published log's entry bundles prefix each
/// entry with a big-endian uint16 length (c2sp.org/tlog-tiles), so the
/// receiver splits what would encode longer.
pub const MAX_RECORD: usize = 65_535;

/// Record types.
pub mod kind {
    pub const START: &str = "start";
    pub const END: &str = "end";
    pub const LINE: &str = "line";
    pub const DIRECTIVE: &str = "directive";
    pub const SEAL: &str = "seal";
    pub const RECOVERED: &str = "recovered";
}

/// A record as written (every type but the receiver's line records) and as
/// read back: strings borrow from the line when they hold no escapes.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Record<'a> {
    pub seq: u64,
    /// Receiver UTC time, RFC 3339 with microseconds ([`crate::time::format_rfc3339_micros`]).
    #[serde(borrow)]
    pub t: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub src: Option<Cow<'a, str>>,
    /// The line as text.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub data: Option<Cow<'a, str>>,
    /// The line as base64 when it is not UTF-8 (and recovered bytes).
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub b64: Option<Cow<'a, str>>,
    /// A continuation piece of a line longer than the record size.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cont: bool,
    /// The input ended without a final newline.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub noeol: bool,
    /// start: the log name; seal: the checkpoint origin.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub name: Option<Cow<'a, str>>,
    /// end: eof, error or cap (with details); recovered: what happened.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Cow<'a, str>>,
    /// seal: the sealed tree size and base64 root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub root: Option<Cow<'a, str>>,
}

impl Record<'_> {
    /// Parse one stored line.
    pub fn parse(line: &[u8]) -> anyhow::Result<Record<'_>> {
        if let Some(r) = Record::parse_plain_line(line) {
            return Ok(r);
        }
        serde_json::from_slice(line)
            .map_err(|e| fail(Code::Failed, format!("not a valid record: {e}")))
    }

    /// The receiver's plain line record, exactly as [`LineEncoder`] writes
    /// it: `{"seq":N,"t":"T","type":"line"[,"src":"S"],"data":"D"}` with
    /// T, S and D [`is_plain`] (no quote, backslash or control byte, so no
    /// escapes and nothing that could end a string early). Read without a
    /// JSON parser, it is the record serde_json reads from those bytes;
    /// anything else (`None`) goes to serde_json. Most of a log.
    fn parse_plain_line(line: &[u8]) -> Option<Record<'_>> {
        fn text(b: &[u8]) -> Option<&str> {
            if is_plain(b) {
                std::str::from_utf8(b).ok()
            } else {
                None
            }
        }
        let rest = line.strip_prefix(b"{\"seq\":")?;
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (num, rest) = rest.split_at(digits);
        // JSON numbers have no leading zeros; overflow is serde's error.
        if num.is_empty() || (num.len() > 1 && num.first() == Some(&b'0')) {
            return None;
        }
        let seq = std::str::from_utf8(num).ok()?.parse::<u64>().ok()?;
        let rest = rest.strip_prefix(b",\"t\":\"")?;
        let (t, rest) = rest.split_at_checked(27)?;
        let rest = rest.strip_prefix(b"\",\"type\":\"line\"")?;
        let (src, rest) = match rest.strip_prefix(b",\"src\":\"") {
            Some(r) => {
                let end = memchr::memchr(b'"', r)?;
                let (s, r) = r.split_at(end);
                (Some(Cow::Borrowed(text(s)?)), r.strip_prefix(b"\"")?)
            }
            None => (None, rest),
        };
        let data = rest.strip_prefix(b",\"data\":\"")?.strip_suffix(b"\"}")?;
        Some(Record {
            seq,
            t: Cow::Borrowed(text(t)?),
            kind: Cow::Borrowed(kind::LINE),
            src,
            data: Some(Cow::Borrowed(text(data)?)),
            ..Record::default()
        })
    }

    /// The line's bytes, from `data` or `b64`.
    pub fn bytes(&self) -> anyhow::Result<Cow<'_, [u8]>> {
        match (&self.data, &self.b64) {
            (Some(d), None) => Ok(Cow::Borrowed(d.as_bytes())),
            (None, Some(b)) => base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .map(Cow::Owned)
                .map_err(|e| fail(Code::Failed, format!("bad b64: {e}"))),
            (None, None) => Ok(Cow::Borrowed(b"")),
            (Some(_), Some(_)) => Err(fail(Code::Failed, "both data and b64")),
        }
    }

    /// The record as one stored line, without the newline.
    pub fn to_line(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        escape_terminal_controls(&mut v);
        v
    }
}

/// serde_json leaves DEL, C1 controls and bidi overrides raw; escape them
/// in a serialized record (inside strings: JSON structure is ASCII).
fn escape_terminal_controls(json: &mut Vec<u8>) {
    if !json.iter().any(|&b| b == 0x7f || b >= 0x80) {
        return;
    }
    let mut out = Vec::with_capacity(json.len() + 16);
    let mut rest = json.as_slice();
    while let Some((&b, tail)) = rest.split_first() {
        match terminal_unsafe_char(rest) {
            Some((c, len)) => {
                push_u_escape(&mut out, c);
                rest = rest.get(len..).unwrap_or_default();
            }
            None => {
                out.push(b);
                rest = tail;
            }
        }
    }
    *json = out;
}

/// If `s` starts with a character a terminal could act on (besides the C0
/// controls JSON escapes anyway), that character and its UTF-8 length.
fn terminal_unsafe_char(s: &[u8]) -> Option<(u32, usize)> {
    match s {
        [0x7f, ..] => Some((0x7f, 1)),
        // U+0080..U+009F: C1 controls (0x9b is CSI on 8-bit terminals).
        [0xc2, b @ 0x80..=0x9f, ..] => Some((u32::from(*b), 2)),
        // U+202A..U+202E, U+2066..U+2069: bidi overrides ("Trojan Source").
        [0xe2, 0x80, b @ 0xaa..=0xae, ..] => Some((0x2000 + u32::from(*b - 0x80), 3)),
        [0xe2, 0x81, b @ 0xa6..=0xa9, ..] => Some((0x2040 + u32::from(*b - 0x80), 3)),
        _ => None,
    }
}

fn push_u_escape(out: &mut Vec<u8>, c: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[((c >> shift) & 0xf) as usize]);
    }
}

/// Append `s` as the inside of a JSON string, escaping what JSON requires
/// and what a terminal would act on.
pub fn escape_json_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        // Eight plain bytes at a time: most build output needs no escape.
        if let Some(word) = bytes.get(i..i + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            if !word_needs_escape(u64::from_le_bytes(w)) {
                i += 8;
                continue;
            }
        }
        let special = b < 0x20 || b == b'"' || b == b'\\' || b >= 0x7f;
        if !special {
            i += 1;
            continue;
        }
        let tail = bytes.get(i..).unwrap_or_default();
        let (esc_len, esc): (usize, Option<&[u8]>) = match b {
            b'"' => (1, Some(b"\\\"")),
            b'\\' => (1, Some(b"\\\\")),
            b'\n' => (1, Some(b"\\n")),
            b'\t' => (1, Some(b"\\t")),
            b'\r' => (1, Some(b"\\r")),
            0x08 => (1, Some(b"\\b")),
            0x0c => (1, Some(b"\\f")),
            0..0x20 => (1, None),
            _ => match terminal_unsafe_char(tail) {
                Some((_, len)) => (len, None),
                None => {
                    // Harmless non-ASCII: copied as is.
                    i += 1;
                    continue;
                }
            },
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => {
                let c = terminal_unsafe_char(tail).map_or(u32::from(b), |(c, _)| c);
                push_u_escape(out, c);
            }
        }
        i += esc_len;
        start = i;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
}

/// Does any byte of `w` need a look: < 0x20, `"`, `\\`, DEL or non-ASCII?
/// (SWAR: false positives are fine, the byte loop then decides.)
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_0x20 = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    (below_0x20
        | zero_byte(w ^ (ONES * u64::from(b'"')))
        | zero_byte(w ^ (ONES * u64::from(b'\\')))
        | zero_byte(w ^ (ONES * 0x7f))
        | (w & HIGH))
        != 0
}

/// Append the decimal digits of `n` (two at a time: itoa).
pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// The receiver's per-session constants of a line record, pre-encoded.
#[derive(Clone, Debug)]
pub struct LineEncoder {
    /// `,"src":"..."` or nothing.
    src: Vec<u8>,
    /// The time `mid` was made for.
    mid_t: String,
    /// `,"t":"<t>","type":"line"<src>,"data":"`: all of a plain line's
    /// record between its seq and its data, the same for every line of a
    /// read (they share its time).
    mid: Vec<u8>,
}

/// Is every byte of `b` printable ASCII other than `"` and `\`? Such a line
/// is valid UTF-8 and its JSON string is itself: no check or escape pass.
/// (Most build output. A fold, not an early exit, so it vectorizes.)
pub fn is_plain(b: &[u8]) -> bool {
    !b.iter().fold(false, |bad, &c| {
        bad | !(0x20..0x7f).contains(&c) | (c == b'"') | (c == b'\\')
    })
}

impl LineEncoder {
    pub fn new(src: Option<&str>) -> LineEncoder {
        let mut s = Vec::new();
        if let Some(src) = src {
            s.extend_from_slice(b",\"src\":\"");
            escape_json_str(&mut s, src);
            s.push(b'"');
        }
        LineEncoder {
            src: s,
            mid_t: String::new(),
            mid: Vec::new(),
        }
    }

    /// Append the record for one input line (or piece of one), without
    /// the newline; `t` is a [`crate::time::format_rfc3339_micros`] string. Same field order and
    /// escapes as [`Record::to_line`].
    pub fn encode_line(
        &mut self,
        out: &mut Vec<u8>,
        seq: u64,
        t: &str,
        bytes: &[u8],
        cont: bool,
        noeol: bool,
    ) {
        if is_plain(bytes) && (cont || !bytes.starts_with(DIRECTIVE.as_bytes())) {
            if self.mid_t != t {
                self.mid_t.clear();
                self.mid_t.push_str(t);
                self.mid.clear();
                self.mid.extend_from_slice(b",\"t\":\"");
                self.mid.extend_from_slice(t.as_bytes());
                self.mid.extend_from_slice(b"\",\"type\":\"line\"");
                self.mid.extend_from_slice(&self.src);
                self.mid.extend_from_slice(b",\"data\":\"");
            }
            out.reserve(bytes.len() + self.mid.len() + 64);
            out.extend_from_slice(b"{\"seq\":");
            push_u64(out, seq);
            out.extend_from_slice(&self.mid);
            out.extend_from_slice(bytes);
            out.push(b'"');
            self.finish(out, cont, noeol);
            return;
        }
        out.extend_from_slice(b"{\"seq\":");
        push_u64(out, seq);
        out.extend_from_slice(b",\"t\":\"");
        out.extend_from_slice(t.as_bytes());
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                out.extend_from_slice(if !cont && s.starts_with(DIRECTIVE) {
                    b"\",\"type\":\"directive\""
                } else {
                    b"\",\"type\":\"line\""
                });
                out.extend_from_slice(&self.src);
                out.extend_from_slice(b",\"data\":\"");
                escape_json_str(out, s);
            }
            Err(_) => {
                out.extend_from_slice(b"\",\"type\":\"line\"");
                out.extend_from_slice(&self.src);
                out.extend_from_slice(b",\"b64\":\"");
                let start = out.len();
                let len = base64::encoded_len(bytes.len(), true).unwrap_or(0);
                out.resize(start + len, 0);
                if let Some(dst) = out.get_mut(start..) {
                    let n = base64::engine::general_purpose::STANDARD
                        .encode_slice(bytes, dst)
                        .unwrap_or(0);
                    out.truncate(start + n);
                }
            }
        }
        out.push(b'"');
        self.finish(out, cont, noeol);
    }

    /// The most bytes a line record of this session can have around its
    /// `data` (or `b64`) content: the largest seq, both flags, and the
    /// `directive` type, the longest.
    pub fn max_overhead(&self) -> usize {
        let mut out = Vec::new();
        let t = "0000-00-00T00:00:00.000000Z";
        self.clone()
            .encode_line(&mut out, u64::MAX, t, b"", true, true);
        out.len() + kind::DIRECTIVE.len() - kind::LINE.len()
    }

    /// The flags and the closing brace.
    fn finish(&self, out: &mut Vec<u8>, cont: bool, noeol: bool) {
        if cont {
            out.extend_from_slice(b",\"cont\":true");
        }
        if noeol {
            out.extend_from_slice(b",\"noeol\":true");
        }
        out.push(b'}');
    }
}

/// How many bytes `bytes` take inside a line record: its JSON string with
/// the escapes [`escape_json_str`] writes, or its base64 when it is not
/// UTF-8 (as [`LineEncoder::encode_line`] stores it).
pub fn encoded_data_len(bytes: &[u8]) -> usize {
    if is_plain(bytes) {
        return bytes.len();
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => {
            let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 4);
            escape_json_str(&mut out, s);
            out.len()
        }
        Err(_) => base64::encoded_len(bytes.len(), true).unwrap_or(usize::MAX),
    }
}

/// Bytes shown on a terminal: control characters (but tab), bidi overrides
/// and invalid UTF-8 escaped as `\xNN` / `\u{NNNN}`, backslash doubled so
/// the escapes are unambiguous.
pub fn terminal_safe(bytes: &[u8]) -> String {
    escape_for_terminal(bytes, true)
}

/// A log line shown as the build printed it (`sign-log cat`): control
/// characters, bidi overrides and invalid UTF-8 escaped as
/// [`terminal_safe`] does, backslashes left alone.
pub fn terminal_safe_line(bytes: &[u8]) -> String {
    escape_for_terminal(bytes, false)
}

fn escape_for_terminal(bytes: &[u8], double_backslash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' if double_backslash => out.push_str("\\\\"),
                '\t' => out.push('\t'),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                    out.push_str(&format!("\\u{{{:04x}}}", c as u32))
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn serde_parse(line: &[u8]) -> Option<Record<'_>> {
        serde_json::from_slice(line).ok()
    }

    #[test]
    fn the_plain_fast_path_reads_what_the_encoder_writes() {
        let t = crate::time::format_rfc3339_micros(1_764_059_758_123_456);
        for src in [None, Some("build-vm")] {
            let mut enc = LineEncoder::new(src);
            for (seq, data) in [(0u64, &b""[..]), (7, b"plain"), (u64::MAX, b"a}b,c:d")] {
                let mut out = Vec::new();
                enc.encode_line(&mut out, seq, &t, data, false, false);
                let fast = Record::parse_plain_line(&out).expect("a plain record");
                assert_eq!(Some(&fast), serde_parse(&out).as_ref());
                assert_eq!(fast.data.as_deref().map(str::as_bytes), Some(data));
            }
        }
        // Not the fast path's: serde_json decides (and refuses these).
        for bad in [
            &br#"{"seq":01,"t":"2026-11-25T08:00:00.000000Z","type":"line","data":"x"}"#[..],
            br#"{"seq":18446744073709551616,"t":"2026-11-25T08:00:00.000000Z","type":"line","data":"x"}"#,
            br#"{"seq":1,"t":"2026-11-25T08:00:00.000000Z","type":"line","data":"x","data":"y"}"#,
        ] {
            assert!(Record::parse_plain_line(bad).is_none());
            assert!(serde_parse(bad).is_none());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Whatever the fast path accepts, serde_json reads the same way.
        #[test]
        fn the_plain_fast_path_agrees_with_serde(
            seq in prop_oneof![Just("0".to_string()), Just("007".into()), any::<u64>().prop_map(|n| n.to_string()), "[0-9]{1,22}"],
            t in prop_oneof![Just("2026-11-25T08:00:00.000000Z".to_string()), "[ -~]{25,29}"],
            src in proptest::option::of("[ -~\u{7f}\u{e9}]{0,6}"),
            data in prop_oneof!["[a-z0-9 :,{}]{0,24}", "[ -~\u{0}-\u{1f}\u{7f}\u{e9}\u{202e}]{0,24}"],
            tail in prop_oneof![Just("\"}".to_string()), "[ -~]{0,4}"],
        ) {
            let src = src.map(|s| format!(",\"src\":\"{s}\"")).unwrap_or_default();
            let line = format!("{{\"seq\":{seq},\"t\":\"{t}\",\"type\":\"line\"{src},\"data\":\"{data}{tail}");
            if let Some(fast) = Record::parse_plain_line(line.as_bytes()) {
                prop_assert_eq!(Some(fast), serde_parse(line.as_bytes()));
            }
        }
    }

    #[test]
    fn encoded_lines_parse_back_and_match_serde() {
        let mut enc = LineEncoder::new(Some("vm\u{1b}"));
        let samples: &[&[u8]] = &[
            b"plain",
            b"plain and long enough for more than one word, and a tail",
            b"cont",
            b"##sign-log not a directive when it continues a line",
            b"",
            b"quote \" backslash \\ tab \t cr \r esc \x1b bel \x07 del \x7f",
            "c1 \u{9b}31m bidi \u{202e}x\u{2069} ok é ü 日本".as_bytes(),
            b"\xff\xfe not utf-8",
            b"##sign-log material {\"name\":\"x\"}",
        ];
        for (i, s) in samples.iter().enumerate() {
            let mut out = Vec::new();
            // Times change between reads: the cached middle must follow.
            let t = crate::time::format_rfc3339_micros(1_764_059_758_000_001 + (i as u64 / 2));
            let (cont, noeol) = (i == 1 || i == 3 || i == 4, i == 2);
            enc.encode_line(&mut out, i as u64, &t, s, cont, noeol);
            let r = Record::parse(&out).unwrap();
            assert_eq!(r.bytes().unwrap().as_ref(), *s);
            assert_eq!(r.seq, i as u64);
            assert_eq!(r.src.as_deref(), Some("vm\u{1b}"));
            // The same bytes serde (plus our escapes) writes.
            assert_eq!(
                String::from_utf8(r.to_line()).unwrap(),
                String::from_utf8(out.clone()).unwrap()
            );
            assert!(!out.iter().any(|&b| b < 0x20 || b == 0x7f), "{out:?}");
            let text = String::from_utf8(out).unwrap();
            assert!(!text.contains('\u{9b}') && !text.contains('\u{202e}'));
        }
    }

    #[test]
    fn word_scan_never_misses_a_byte_to_escape() {
        for pos in 0..8 {
            for b in 0..=255u8 {
                let mut w = *b"abcdefgh";
                w[pos] = b;
                let special = b < 0x20 || b == b'"' || b == b'\\' || b >= 0x7f;
                if special {
                    assert!(word_needs_escape(u64::from_le_bytes(w)), "{b:#x} at {pos}");
                }
            }
        }
        assert!(!word_needs_escape(u64::from_le_bytes(*b"plain ok")));
        // The same bytes anywhere in a line (word or tail) make it not plain.
        for len in [1usize, 7, 8, 9, 16, 23] {
            assert!(is_plain(&vec![b'a'; len]));
            for pos in 0..len {
                for b in [0u8, 0x1f, b'"', b'\\', 0x7f, 0x80, 0xff] {
                    let mut v = vec![b'a'; len];
                    v[pos] = b;
                    assert!(!is_plain(&v), "{b:#x} at {pos} of {len}");
                }
            }
        }
    }

    #[test]
    fn terminal_safe_escapes() {
        assert_eq!(
            terminal_safe(b"a\x1b[2J\\x1b\t\xff\xe2\x80\xae"),
            "a\\x1b[2J\\\\x1b\t\\xff\\u{202e}"
        );
        assert_eq!(terminal_safe_line(b"C:\\dir \\n \x1b"), "C:\\dir \\n \\x1b");
    }
}
