//! Debian control files (deb822(5)): Release, Packages, Sources, .dsc,
//! .changes. Hand-written from the format document, streamed one
//! paragraph at a time from a `BufRead` so a 60 MB Packages index never
//! sits in memory whole, and bounded: line length, field size and fields
//! per paragraph are capped.
//!
//! - Paragraphs are separated by lines that are empty or hold only spaces
//!   and tabs; lines starting with `#` are comments.
//! - A field is `Name: value`; names are printable ASCII without spaces
//!   or `:`, not starting with `#` or `-`, matched case-insensitively; a
//!   name twice in one paragraph is an error (deb822(5) forbids it, and
//!   two `SHA256` fields would be ambiguous).
//! - A line starting with a space or tab continues the field before it.
//!   The value keeps the first line (trimmed) and each continuation line,
//!   trimmed, after a `\n`.
//!
//! Also here: the `hash size name` lines of checksum fields.

use crate::digest::Algo;
use std::io::BufRead;

/// Why a control file was refused.
#[derive(Debug, thiserror::Error)]
pub enum Deb822Error {
    #[error("line {line}: longer than {max} bytes")]
    LineTooLong { line: usize, max: usize },
    #[error("line {line}: field {name} is longer than {max} bytes")]
    FieldTooLong {
        line: usize,
        name: String,
        max: usize,
    },
    #[error("line {line}: more than {max} fields in one paragraph")]
    TooManyFields { line: usize, max: usize },
    #[error("line {line}: a continuation line with no field before it")]
    Continuation { line: usize },
    #[error("line {line}: not a `Name: value` field")]
    NotAField { line: usize },
    #[error("line {line}: field {name} appears twice in one paragraph")]
    Duplicate { line: usize, name: String },
    #[error("reading: {0}")]
    Read(#[from] std::io::Error),
}

/// Caps on what a control file may hold.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest physical line.
    pub max_line: usize,
    /// Largest field value (all its lines).
    pub max_field: usize,
    /// Most fields in one paragraph.
    pub max_fields: usize,
}

/// Real Packages stanzas reach a few hundred KB (Provides of Rust library
/// packages); these caps leave room for them and nothing absurd.
pub const LIMITS: Limits = Limits {
    max_line: 8 << 20,
    max_field: 16 << 20,
    max_fields: 512,
};

/// One paragraph (stanza): fields in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Paragraph {
    /// 1-based line of its first field.
    pub line: usize,
    pub fields: Vec<(String, Vec<u8>)>,
}

impl Paragraph {
    /// The value of field `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The value as text (lossy: control files are UTF-8 by policy).
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

/// Paragraphs from a reader, one at a time.
pub struct Reader<R> {
    inner: R,
    limits: Limits,
    line: usize,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead> Reader<R> {
    pub fn new(inner: R, limits: Limits) -> Self {
        Reader {
            inner,
            limits,
            line: 0,
            buf: Vec::new(),
            done: false,
        }
    }

    /// The next physical line into `self.buf` (without `\n`, `\r\n`);
    /// false at the end of input.
    fn next_line(&mut self) -> Result<bool, Deb822Error> {
        self.buf.clear();
        let max = self.limits.max_line;
        loop {
            let avail = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if avail.is_empty() {
                if self.buf.is_empty() {
                    return Ok(false);
                }
                break;
            }
            let (take, end) = match memchr::memchr(b'\n', avail) {
                Some(i) => (i, true),
                None => (avail.len(), false),
            };
            if self.buf.len() + take > max {
                return Err(Deb822Error::LineTooLong {
                    line: self.line + 1,
                    max,
                });
            }
            self.buf
                .extend_from_slice(avail.get(..take).unwrap_or_default());
            self.inner.consume(take + usize::from(end));
            if end {
                break;
            }
        }
        self.line += 1;
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(true)
    }

    /// The next paragraph, or None at the end.
    pub fn next_paragraph(&mut self) -> Result<Option<Paragraph>, Deb822Error> {
        if self.done {
            return Ok(None);
        }
        let mut p = Paragraph::default();
        loop {
            if !self.next_line()? {
                self.done = true;
                break;
            }
            let l = self.buf.as_slice();
            if l.iter().all(|b| *b == b' ' || *b == b'\t') {
                if p.fields.is_empty() {
                    continue;
                }
                break;
            }
            if l.first() == Some(&b'#') {
                continue;
            }
            if matches!(l.first(), Some(b' ' | b'\t')) {
                let line = self.line;
                let max = self.limits.max_field;
                let Some((name, value)) = p.fields.last_mut() else {
                    return Err(Deb822Error::Continuation { line });
                };
                let t = l.trim_ascii();
                if value.len() + 1 + t.len() > max {
                    return Err(Deb822Error::FieldTooLong {
                        line,
                        name: name.clone(),
                        max,
                    });
                }
                value.push(b'\n');
                value.extend_from_slice(t);
                continue;
            }
            let line = self.line;
            let colon = memchr::memchr(b':', l).ok_or(Deb822Error::NotAField { line })?;
            let (name, rest) = l.split_at(colon);
            let valid = !name.is_empty()
                && !matches!(name.first(), Some(b'#' | b'-'))
                && name.iter().all(|b| b.is_ascii_graphic() && *b != b':');
            if !valid {
                return Err(Deb822Error::NotAField { line });
            }
            let name = String::from_utf8_lossy(name).into_owned();
            if p.fields.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                return Err(Deb822Error::Duplicate { line, name });
            }
            if p.fields.len() >= self.limits.max_fields {
                return Err(Deb822Error::TooManyFields {
                    line,
                    max: self.limits.max_fields,
                });
            }
            if p.fields.is_empty() {
                p.line = line;
            }
            let value = rest.get(1..).unwrap_or_default().trim_ascii().to_vec();
            p.fields.push((name, value));
        }
        Ok((!p.fields.is_empty()).then_some(p))
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Paragraph, Deb822Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_paragraph() {
            Ok(Some(p)) => Some(Ok(p)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Every paragraph of a whole (small) control file.
pub fn parse_all(data: &[u8], limits: Limits) -> Result<Vec<Paragraph>, Deb822Error> {
    Reader::new(data, limits).collect()
}

/// One line of a checksum field: ` HASH SIZE NAME` (Release, Sources,
/// .dsc), or the five-column ` MD5 SIZE SECTION PRIORITY NAME` of a
/// .changes `Files` field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sum {
    pub digest: Vec<u8>,
    pub size: u64,
    pub name: Vec<u8>,
}

/// The checksum lines of a multi-line field holding `algo` digests. The
/// value's first line (empty in all these files) is skipped.
pub fn checksum_lines(value: &[u8], algo: Algo) -> Result<Vec<Sum>, String> {
    let mut out = Vec::new();
    for (i, line) in value.split(|&b| b == b'\n').enumerate() {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let f: Vec<&[u8]> = line
            .split(|b| *b == b' ' || *b == b'\t')
            .filter(|t| !t.is_empty())
            .collect();
        let (hexd, size, name) = match f.as_slice() {
            [h, s, n] | [h, s, _, _, n] => (*h, *s, *n),
            _ => return Err(format!("checksum line {}: not `HASH SIZE NAME`", i + 1)),
        };
        out.push(Sum {
            digest: hex_digest(hexd, algo)
                .ok_or_else(|| format!("checksum line {}: not a {algo} hex digest", i + 1))?,
            size: decimal(size).ok_or_else(|| format!("checksum line {}: bad size", i + 1))?,
            name: name.to_vec(),
        });
    }
    Ok(out)
}

/// A hex digest of `algo`'s length.
pub fn hex_digest(s: &[u8], algo: Algo) -> Option<Vec<u8>> {
    hex::decode(s).ok().filter(|d| d.len() == algo.digest_len())
}

/// A decimal size (no sign, no blanks, fits u64).
pub fn decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_fields_and_continuations() {
        let text = b"Origin: Debian\nSHA256:\n 00 1 a\n\tbb 2 b\n\n\n# comment\nPackage: x\r\nversion:  1.0 \n";
        let ps = parse_all(text, LIMITS).unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("origin"), Some(&b"Debian"[..]));
        assert_eq!(ps[0].get("SHA256"), Some(&b"\n00 1 a\nbb 2 b"[..]));
        assert_eq!(ps[1].get("Version"), Some(&b"1.0"[..]));
        assert_eq!(ps[1].line, 8);
    }

    #[test]
    fn malformed_and_bounded() {
        for bad in [
            &b" leading continuation\n"[..],
            b"no colon here\n",
            b"-Dash: x\n",
            b"A: 1\na: 2\n",
            b": empty name\n",
        ] {
            assert!(
                parse_all(bad, LIMITS).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let small = Limits {
            max_line: 16,
            max_field: 15,
            max_fields: 2,
        };
        assert!(matches!(
            parse_all(b"A: 0123456789abcdef\n", small),
            Err(Deb822Error::LineTooLong { .. })
        ));
        assert!(matches!(
            parse_all(b"A: 1\n 23456789\n 23456789\n", small),
            Err(Deb822Error::FieldTooLong { .. })
        ));
        assert!(matches!(
            parse_all(b"A: 1\nB: 2\nC: 3\n", small),
            Err(Deb822Error::TooManyFields { .. })
        ));
        // A field far longer than a buffer, in one line and in many.
        let long = format!("A: {}\n", "x".repeat(1 << 20));
        assert_eq!(
            parse_all(long.as_bytes(), LIMITS).unwrap()[0]
                .get("a")
                .unwrap()
                .len(),
            1 << 20
        );
        let tight = Limits {
            max_line: 1 << 16,
            ..LIMITS
        };
        assert!(parse_all(long.as_bytes(), tight).is_err());
    }

    #[test]
    fn checksum_fields() {
        let h = "ab".repeat(32);
        let v = format!("\n{h} 12 main/binary-amd64/Packages\n {h}  0 x\n");
        let sums = checksum_lines(v.as_bytes(), Algo::Sha256).unwrap();
        assert_eq!(sums.len(), 2);
        assert_eq!(sums[0].size, 12);
        assert_eq!(sums[0].name, b"main/binary-amd64/Packages");
        let md5 = "cd".repeat(16);
        let files = format!("\n{md5} 3 utils optional foo_1.dsc");
        assert_eq!(
            checksum_lines(files.as_bytes(), Algo::Md5).unwrap()[0].name,
            b"foo_1.dsc"
        );
        for bad in [
            format!("{h} 12"),
            format!("{h} -1 x"),
            format!("{h} 99999999999999999999999 x"),
            format!("{md5} 1 x"),
        ] {
            assert!(
                checksum_lines(bad.as_bytes(), Algo::Sha256).is_err(),
                "{bad}"
            );
        }
    }
}
