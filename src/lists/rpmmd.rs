//! What the rpm-md formats (repomd.xml, primary.xml) and metalinks share:
//! checksums named by type, the rule for locations, element text gathered
//! from quick-xml's events, and the bounded element stack.
//!
//! Every failure is exit 1 (the metadata failed verification) with a
//! message naming the entry; the caller puts the file in front.

use crate::digest::Algo;
use crate::exit::{fail, Code};
use quick_xml::events::{BytesRef, BytesStart, Event};

/// Deepest element nesting accepted (createrepo_c writes 5 levels).
pub const MAX_DEPTH: usize = 32;
/// Longest text of one element that is kept (a name, a digest, a size).
pub const MAX_TEXT: usize = 64 << 10;

/// What the caller allows beyond the defaults.
#[derive(Clone, Copy, Debug, Default)]
pub struct Policy {
    /// Accept SHA-1 (`sha`, `sha1`) checksums: repositories of the EL5
    /// era. Refused by default, as DESIGN.md §4 refuses SHA-1 pins.
    pub allow_sha1: bool,
}

/// A listed checksum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checksum {
    pub algo: Algo,
    pub digest: Vec<u8>,
}

impl Checksum {
    /// The checksum named `kind` (repomd's `type` attribute) with value
    /// `hex`. An unknown type, MD5, and SHA-1 unless allowed, are refused.
    pub fn parse(kind: &str, hex_value: &str, policy: Policy) -> Result<Checksum, String> {
        Checksum::from_hex(algo_of(kind, policy)?, hex_value)
    }

    /// The checksum `hex` of a type already known to be `algo`.
    pub fn from_hex(algo: Algo, hex_value: &str) -> Result<Checksum, String> {
        let hex_value = hex_value.trim_ascii();
        let digest = decode_hex(hex_value.as_bytes())
            .filter(|d| d.len() == algo.digest_len())
            .ok_or_else(|| format!("checksum {hex_value:?} is not a {algo} hex digest"))?;
        Ok(Checksum { algo, digest })
    }

    pub fn hex(&self) -> String {
        hex::encode(&self.digest)
    }
}

/// The algorithm of checksum type `kind`. An unknown type, MD5, and SHA-1
/// unless allowed, are refused.
pub fn algo_of(kind: &str, policy: Policy) -> Result<Algo, String> {
    Ok(match kind {
        "sha256" => Algo::Sha256,
        "sha384" => Algo::Sha384,
        "sha512" => Algo::Sha512,
        "sha" | "sha1" if policy.allow_sha1 => Algo::Sha1,
        "sha" | "sha1" => {
            return Err(format!(
                "SHA-1 checksum refused (--allow-sha1-checksums accepts it): {kind}"
            ))
        }
        "md5" => return Err("MD5 checksum refused".into()),
        other => return Err(format!("unknown checksum type {other:?}")),
    })
}

/// Hex digits' values; 0xff for anything else.
const HEX: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Hex to bytes, by table: a primary holds one digest per package, and
/// the hex crate's decoder took a tenth of its parse.
fn decode_hex(h: &[u8]) -> Option<Vec<u8>> {
    let (pairs, []) = h.as_chunks::<2>() else {
        return None;
    };
    pairs
        .iter()
        .map(|[a, b]| {
            let (a, b) = (HEX[usize::from(*a)], HEX[usize::from(*b)]);
            (a < 16 && b < 16).then_some(a << 4 | b)
        })
        .collect()
}

impl std::fmt::Display for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.algo, self.hex())
    }
}

/// A listed location must be a plain relative path inside the
/// repository: no scheme, not absolute, no `..` component, no empty or
/// `.` component, no backslash or control character. dnf would fetch a
/// location with a scheme from wherever it names, and one with `..` from
/// outside the repository.
pub fn check_location(href: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("location {href:?} refused: {why}"));
    if href.is_empty() {
        return bad("empty");
    }
    if href.starts_with('/') {
        return bad("an absolute path");
    }
    if let Some(i) = memchr::memchr(b':', href.as_bytes()) {
        let head = href.get(..i).unwrap_or_default();
        if !head.contains('/') {
            return bad("it names a scheme");
        }
    }
    // Printable ASCII needs no closer look.
    let plain = |b: &u8| (b' '..=b'~').contains(b) && *b != b'\\';
    if !href.bytes().all(|b| plain(&b)) && href.chars().any(|c| c.is_control() || c == '\\') {
        return bad("a control character or backslash");
    }
    for part in href.split('/') {
        match part {
            ".." => return bad("a `..` component"),
            "" | "." => return bad("an empty or `.` component"),
            _ => {}
        }
    }
    Ok(())
}

/// The text of one element, from its Text, CData and reference events.
#[derive(Debug, Default)]
pub struct Text {
    s: String,
    too_long: bool,
}

impl Text {
    pub fn clear(&mut self) {
        self.s.clear();
        self.too_long = false;
    }

    fn push(&mut self, part: &str) {
        if self.s.len() + part.len() > MAX_TEXT {
            self.too_long = true;
        } else {
            self.s.push_str(part);
        }
    }

    /// Text as it appears (no references in it: quick-xml gives those
    /// apart).
    pub fn push_text(&mut self, raw: &str) {
        self.push(raw);
    }

    /// A reference: a character reference or one of XML's five entities;
    /// anything else is refused (no DTD is read).
    pub fn push_ref(&mut self, r: &BytesRef) -> Result<(), String> {
        let name = r.clone().into_inner();
        if let Ok(Some(c)) = r.resolve_char_ref() {
            let mut b = [0u8; 4];
            self.push(c.encode_utf8(&mut b));
            return Ok(());
        }
        match quick_xml::escape::resolve_predefined_entity(&name) {
            Some(s) => {
                self.push(s);
                Ok(())
            }
            None => Err(format!("unknown entity &{name};")),
        }
    }

    /// The text, trimmed; an over-long text is refused.
    pub fn get(&self, what: &str) -> Result<&str, String> {
        if self.too_long {
            return Err(format!("{what}: text longer than {MAX_TEXT} bytes"));
        }
        Ok(self.s.trim())
    }
}

/// An element's attribute, unescaped; None when absent.
pub fn attr(e: &BytesStart, name: &str) -> Result<Option<String>, String> {
    for a in e.attributes() {
        let a = a.map_err(|err| format!("<{}>: bad attribute: {err}", e.name().as_ref()))?;
        if a.key.as_ref() == name {
            let v = a
                .normalized_value(quick_xml::XmlVersion::default())
                .map_err(|err| format!("<{}>: attribute {name}: {err}", e.name().as_ref()))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// A decimal size or count.
pub fn number(s: &str, what: &str) -> Result<u64, String> {
    let t = s.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} {s:?} is not a number"));
    }
    t.parse()
        .map_err(|_| format!("{what} {s:?} is out of range"))
}

/// The open elements, bounded; an end tag must close the last one.
#[derive(Debug, Default)]
pub struct Stack {
    names: Vec<String>,
}

impl Stack {
    pub fn depth(&self) -> usize {
        self.names.len()
    }

    pub fn push(&mut self, name: &str) -> Result<(), String> {
        if self.names.len() >= MAX_DEPTH {
            return Err(format!("elements nested deeper than {MAX_DEPTH}"));
        }
        self.names.push(name.to_string());
        Ok(())
    }

    pub fn pop(&mut self, name: &str) -> Result<(), String> {
        match self.names.pop() {
            Some(open) if open == name => Ok(()),
            Some(open) => Err(format!("</{name}> closes <{open}>")),
            None => Err(format!("</{name}> closes nothing")),
        }
    }

    /// The innermost open element.
    pub fn top(&self) -> Option<&str> {
        self.names.last().map(String::as_str)
    }
}

/// A malformed document: exit 1.
pub fn malformed(what: &str, why: impl std::fmt::Display) -> anyhow::Error {
    fail(Code::Failed, format!("malformed {what}: {why}"))
}

/// What a small document's reader does at each element ([`walk`]).
pub trait Handler {
    /// An element opens at `depth` (1: a child of the root).
    fn open(&mut self, e: &BytesStart, depth: usize) -> Result<(), String>;
    /// An element closes; `depth` is its parent's (0: the root closed).
    fn close(&mut self, name: &str, depth: usize, text: &Text) -> Result<(), String>;
}

/// Read a whole small document (repomd.xml, a metalink) whose root element
/// is `root`, with the element stack and text kept for `h`. A DOCTYPE, a
/// second root, text outside the root and a missing end are refused.
pub fn walk(bytes: &[u8], root: &str, h: &mut dyn Handler) -> Result<(), String> {
    let mut r = quick_xml::Reader::from_reader(bytes);
    configure(&mut r);
    let mut stack = Stack::default();
    let mut text = Text::default();
    let mut root_done = false;
    let local = |n: &str| n.rsplit(':').next().unwrap_or_default().to_string();
    loop {
        let ev = r
            .read_event()
            .map_err(|e| format!("at byte {}: {e}", r.error_position()))?;
        let (start, empty) = match &ev {
            Event::Start(e) => (Some(e), false),
            Event::Empty(e) => (Some(e), true),
            _ => (None, false),
        };
        if let Some(e) = start {
            let name = e.name().as_ref().to_string();
            if stack.depth() == 0 {
                if root_done {
                    return Err(format!("<{name}> after the root element"));
                }
                if local(&name) != root {
                    return Err(format!("the root element is <{name}>, not <{root}>"));
                }
            }
            h.open(e, stack.depth())?;
            text.clear();
            if empty {
                h.close(&name, stack.depth(), &text)?;
            } else {
                stack.push(&name)?;
            }
            if empty && stack.depth() == 0 {
                root_done = true;
            }
            continue;
        }
        match ev {
            Event::Eof => break,
            Event::DocType(_) => return Err("DOCTYPE refused".into()),
            Event::End(e) => {
                let name = e.name().as_ref().to_string();
                stack.pop(&name)?;
                h.close(&name, stack.depth(), &text)?;
                text.clear();
                if stack.depth() == 0 {
                    root_done = true;
                }
            }
            Event::Text(t) => {
                let raw = t.into_inner();
                if stack.depth() == 0 && !raw.trim().is_empty() {
                    return Err("text outside the root element".into());
                }
                text.push_text(&raw);
            }
            Event::CData(t) => text.push_text(&t.into_inner()),
            Event::GeneralRef(g) => text.push_ref(&g)?,
            _ => {}
        }
    }
    if stack.depth() > 0 || !root_done {
        return Err(format!("the document ends before </{root}>"));
    }
    Ok(())
}

/// quick-xml's configuration for untrusted rpm-md: end names checked by
/// [`Stack`] (so documents can be read a piece at a time), no trimming.
pub fn configure<R>(r: &mut quick_xml::Reader<R>) {
    let c = r.config_mut();
    c.check_end_names = false;
    c.allow_unmatched_ends = true;
    c.expand_empty_elements = false;
    c.trim_text_start = false;
    c.trim_text_end = false;
    c.check_comments = true;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        for ok in [
            "Packages/f/foo-1.0.rpm",
            "foo.rpm",
            "a/b:c.rpm",
            "repodata/x-primary.xml.gz",
        ] {
            assert!(check_location(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../foo.rpm",
            "a/../../b.rpm",
            "https://evil/x.rpm",
            "file:x.rpm",
            "a//b.rpm",
            "./a.rpm",
            "a\\b.rpm",
            "a\nb.rpm",
        ] {
            assert!(check_location(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn checksums() {
        let p = Policy::default();
        let h = "ab".repeat(32);
        assert_eq!(Checksum::parse("sha256", &h, p).unwrap().algo, Algo::Sha256);
        let e = Checksum::parse("sha1", &"ab".repeat(20), p).unwrap_err();
        assert!(e.contains("--allow-sha1-checksums"), "{e}");
        let sha1 = Policy { allow_sha1: true };
        assert_eq!(
            Checksum::parse("sha", &"ab".repeat(20), sha1).unwrap().algo,
            Algo::Sha1
        );
        assert!(Checksum::parse("md5", &"ab".repeat(16), sha1).is_err());
        assert!(Checksum::parse("crc32", "abcd", p)
            .unwrap_err()
            .contains("unknown checksum type"));
        assert!(Checksum::parse("sha256", "abcd", p).is_err());
    }
}
