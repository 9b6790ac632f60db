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
    /// Receiver UTC time, RFC 3339 with microseconds ([`format_time`]).
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
        serde_json::from_slice(line)
            .map_err(|e| fail(Code::Failed, format!("not a valid record: {e}")))
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

/// Append the decimal digits of `n`.
pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(i..).unwrap_or_default());
}

/// The receiver's per-session constants of a line record, pre-encoded.
#[derive(Clone, Debug)]
pub struct LineEncoder {
    /// `,"src":"..."` or nothing.
    src: Vec<u8>,
}

impl LineEncoder {
    pub fn new(src: Option<&str>) -> LineEncoder {
        let mut s = Vec::new();
        if let Some(src) = src {
            s.extend_from_slice(b",\"src\":\"");
            escape_json_str(&mut s, src);
            s.push(b'"');
        }
        LineEncoder { src: s }
    }

    /// Append the record for one input line (or piece of one), without
    /// the newline; `t` is a [`format_time`] string. Same field order and
    /// escapes as [`Record::to_line`].
    pub fn encode_line(
        &self,
        out: &mut Vec<u8>,
        seq: u64,
        t: &str,
        bytes: &[u8],
        cont: bool,
        noeol: bool,
    ) {
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
        if cont {
            out.extend_from_slice(b",\"cont\":true");
        }
        if noeol {
            out.extend_from_slice(b",\"noeol\":true");
        }
        out.push(b'}');
    }
}

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// `YYYY-MM-DDTHH:MM:SS.uuuuuuZ`: fixed width, so times order as strings.
pub fn format_time(micros: u64) -> String {
    let secs = micros / 1_000_000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        micros % 1_000_000
    )
}

/// The inverse of [`format_time`]; `None` for anything else.
pub fn parse_time(t: &str) -> Option<u64> {
    let b = t.as_bytes();
    if b.len() != 27 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let s = b.get(r)?;
        s.iter().try_fold(0u64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u64::from(c - b'0'))
        })
    };
    let seps = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (26, b'Z'),
    ];
    if seps.iter().any(|&(i, c)| b.get(i) != Some(&c)) {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s, us) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..26)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let days = days_from_civil(y as i64, mo as u32, d as u32);
    let (y2, m2, d2) = civil_from_days(days);
    if (y2, m2, d2) != (y as i64, mo as u32, d as u32) || days < 0 {
        return None;
    }
    Some(((days as u64 * 86_400) + h * 3600 + mi * 60 + s) * 1_000_000 + us)
}

// Howard Hinnant's civil calendar algorithms (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Bytes shown on a terminal: control characters (but tab), bidi overrides
/// and invalid UTF-8 escaped as `\xNN` / `\u{NNNN}`, backslash doubled so
/// the escapes are unambiguous.
pub fn terminal_safe(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
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

    #[test]
    fn time_round_trips_and_matches_rfc3339() {
        for us in [
            0u64,
            1,
            951_782_400_123_456,
            1_764_059_758_000_001,
            4_102_444_799_999_999,
        ] {
            let t = format_time(us);
            assert_eq!(parse_time(&t), Some(us), "{t}");
            let sys = std::time::UNIX_EPOCH + std::time::Duration::from_micros(us);
            assert_eq!(t, humantime::format_rfc3339_micros(sys).to_string());
        }
        for bad in [
            "2026-02-30T00:00:00.000000Z",
            "2026-11-25T24:00:00.000000Z",
            "2026-11-25 08:00:00.000000Z",
            "2026-11-25T08:00:00.00000Z",
            "+026-11-25T08:00:00.000000Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn encoded_lines_parse_back_and_match_serde() {
        let enc = LineEncoder::new(Some("vm\u{1b}"));
        let samples: &[&[u8]] = &[
            b"plain",
            b"",
            b"quote \" backslash \\ tab \t cr \r esc \x1b bel \x07 del \x7f",
            "c1 \u{9b}31m bidi \u{202e}x\u{2069} ok é ü 日本".as_bytes(),
            b"\xff\xfe not utf-8",
            b"##sign-log material {\"name\":\"x\"}",
        ];
        for (i, s) in samples.iter().enumerate() {
            let mut out = Vec::new();
            let t = format_time(1_764_059_758_000_001);
            enc.encode_line(&mut out, i as u64, &t, s, i == 1, i == 2);
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
    }

    #[test]
    fn terminal_safe_escapes() {
        assert_eq!(
            terminal_safe(b"a\x1b[2J\\x1b\t\xff\xe2\x80\xae"),
            "a\\x1b[2J\\\\x1b\t\\xff\\u{202e}"
        );
    }
}
