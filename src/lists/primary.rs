//! `primary.xml`: every package of an rpm-md repository with its
//! checksum, size and location, streamed (Fedora's is ~230 MB for ~70,000
//! packages) and indexed by location.
//!
//! Bytes are pushed in as they are decoded ([`Parser::feed`]) and read in
//! pieces that each end at a `</package>`, so memory holds one package, not
//! the document. A strict scanner, not a general XML parser, reads them:
//! text runs to the next `<` (memchr), tags are read byte by byte with
//! their attributes (quoted, no `<` in a value, none twice), end tags must
//! close what is open, references are XML's five entities and character
//! references. A package's `<format>` (dependencies and file lists: most of
//! the bytes) does not bear on what the package file is and is passed over
//! to its `</format>` (memmem) unread.
//!
//! What createrepo_c never writes is refused rather than interpreted: a
//! DOCTYPE, CDATA, comments and processing instructions among a package's
//! elements, text beside them, a second `<format>`. That is what
//! makes passing over a format safe: a `</format>` or `</package>` that a
//! general parser would read as a comment's or attribute's content cannot
//! end the format early here without the rest of the package failing to
//! scan (a `</package>` inside a format fails its own package; content
//! after an early `</format>` meets the real one as an end tag with no
//! format open, or is a second format).

use super::rpmmd::{
    self, check_location, malformed, number, Checksum, Policy, MAX_DEPTH, MAX_TEXT,
};
use crate::digest::Algo;
use crate::exit::{fail, Code};
use memchr::memmem;
use std::borrow::Cow;
use std::ops::Range;

/// Most packages an index makes room for ahead ([`Index::reserve`]):
/// Fedora's primary lists ~70,000.
pub const RESERVE_MAX: u64 = 1 << 17;

/// Largest single `<package>` element (with its unread format).
pub const MAX_PACKAGE: usize = 64 << 20;

/// One listed package. Its text fields are kept end to end in one
/// string: an index holds ~70,000 of them.
#[derive(Clone, PartialEq, Eq)]
pub struct Package {
    /// name, epoch, version, release, arch, location.
    text: Box<str>,
    /// Where each of them ends in `text`.
    ends: [u32; 6],
    pub checksum: Checksum,
    /// The package file's size (`<size package=...>`).
    pub size: u64,
}

impl Package {
    /// A package from its fields; an empty epoch is `0`, as rpm reads it.
    pub fn new(
        [name, epoch, version, release, arch, location]: [&str; 6],
        checksum: Checksum,
        size: u64,
    ) -> Package {
        let epoch = if epoch.is_empty() { "0" } else { epoch };
        let fields = [name, epoch, version, release, arch, location];
        let mut text = String::with_capacity(fields.iter().map(|f| f.len()).sum());
        let mut ends = [0u32; 6];
        for (end, f) in ends.iter_mut().zip(fields) {
            text.push_str(f);
            // Fields come from one package element (at most MAX_PACKAGE).
            *end = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        Package {
            text: text.into_boxed_str(),
            ends,
            checksum,
            size,
        }
    }

    fn field(&self, i: usize) -> &str {
        let start = match i.checked_sub(1) {
            Some(j) => self.ends.get(j).copied().unwrap_or(0),
            None => 0,
        };
        let end = self.ends.get(i).copied().unwrap_or(0);
        self.text
            .get(start as usize..end as usize)
            .unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.field(0)
    }

    pub fn epoch(&self) -> &str {
        self.field(1)
    }

    pub fn version(&self) -> &str {
        self.field(2)
    }

    pub fn release(&self) -> &str {
        self.field(3)
    }

    pub fn arch(&self) -> &str {
        self.field(4)
    }

    /// Relative to the repository's root.
    pub fn location(&self) -> &str {
        self.field(5)
    }

    /// name-[epoch:]version-release.arch, as rpm prints it.
    pub fn nevra(&self) -> String {
        let epoch = match self.epoch() {
            "0" => String::new(),
            e => format!("{e}:"),
        };
        format!(
            "{}-{epoch}{}-{}.{}",
            self.name(),
            self.version(),
            self.release(),
            self.arch()
        )
    }

    /// The NEVRA as one key: its fields' ends and their text.
    fn nevra_key(&self) -> (&[u32], &str) {
        let end = self.ends.get(4).copied().unwrap_or(0) as usize;
        (
            self.ends.get(..5).unwrap_or_default(),
            self.text.get(..end).unwrap_or_default(),
        )
    }
}

impl std::fmt::Debug for Package {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Package")
            .field("nevra", &self.nevra())
            .field("location", &self.location())
            .field("checksum", &self.checksum)
            .field("size", &self.size)
            .finish()
    }
}

/// A package element being read.
#[derive(Default)]
struct Partial {
    /// Inside a `<package>`.
    open: bool,
    name: Option<String>,
    arch: Option<String>,
    evr: Option<[String; 3]>,
    checksum: Option<Checksum>,
    checksum_type: Option<Algo>,
    size: Option<u64>,
    location: Option<String>,
    format: bool,
}

impl Partial {
    fn start(&mut self) {
        *self = Partial {
            open: true,
            ..Partial::default()
        };
    }

    /// The package read, once its `</package>` closed it.
    fn finish(&mut self) -> Result<Package, String> {
        self.open = false;
        let missing = |f: &str| format!("no {f}");
        let [epoch, version, release] = self.evr.as_ref().ok_or_else(|| missing("<version>"))?;
        let name = self.name.as_deref().ok_or_else(|| missing("<name>"))?;
        let arch = self.arch.as_deref().ok_or_else(|| missing("<arch>"))?;
        let location = self
            .location
            .as_deref()
            .ok_or_else(|| missing("<location>"))?;
        let size = self.size.ok_or_else(|| missing("<size package=...>"))?;
        let checksum = self.checksum.take().ok_or_else(|| missing("<checksum>"))?;
        Ok(Package::new(
            [name, epoch, version, release, arch, location],
            checksum,
            size,
        ))
    }
}

/// An attribute of the tag being read: its name and value as ranges of
/// the piece, and whether the value is as it stands (no reference, no
/// white space to normalize).
struct Attr {
    key: Range<usize>,
    value: Range<usize>,
    plain: bool,
}

/// What ends every piece of the document (see [`Parser::feed`]).
const END: &[u8] = b"</package>";

/// The streaming parser: a strict scanner for the XML rpm-md writers
/// produce, reading every tag of a package but its `<format>`.
pub struct Parser {
    policy: Policy,
    /// The start of a piece whose `</package>` has not arrived yet.
    buf: Vec<u8>,
    /// The open elements' names, end to end, and where each begins.
    names: Vec<u8>,
    open: Vec<usize>,
    cur: Partial,
    /// The text of the kept field being read (name, arch, checksum).
    text: String,
    /// The attributes of the tag being read.
    attrs: Vec<Attr>,
    root_seen: bool,
    root_done: bool,
    /// The root's `packages` attribute.
    declared: Option<u64>,
    count: u64,
    end: memmem::Finder<'static>,
    end_rev: memmem::FinderRev<'static>,
    format_end: memmem::Finder<'static>,
}

/// Calls for each package, in document order; an error stops the parse.
pub type Each<'a> = dyn FnMut(Package) -> anyhow::Result<()> + 'a;

/// XML's white space (not Unicode's, nor form feed).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_space(p: &[u8], mut i: usize) -> usize {
    while p.get(i).copied().is_some_and(is_space) {
        i += 1;
    }
    i
}

/// The bytes of an XML name: ASCII name characters, and any non-ASCII
/// byte (a name is compared, never interpreted).
const NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':') || b >= 0x80;
        i += 1;
    }
    t
};

/// The length of the XML name at the start of `p` (none starts with a
/// digit, `-` or `.`).
fn name_len(p: &[u8]) -> usize {
    match p.first() {
        Some(b) if b.is_ascii_digit() || matches!(b, b'-' | b'.') => 0,
        _ => p
            .iter()
            .position(|b| !NAME[usize::from(*b)])
            .unwrap_or(p.len()),
    }
}

/// Append `raw` (text, or an attribute value when `attr`) to `out` with
/// its references resolved: character references and XML's five
/// entities, nothing else (no DTD is read). An attribute's white space
/// characters become spaces, as XML normalizes them.
fn utf8(b: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(b).map_err(|_| "text that is not UTF-8".to_string())
}

fn unescape(raw: &[u8], attr: bool, out: &mut String) -> Result<(), String> {
    let push = |part: &[u8], out: &mut String| -> Result<(), String> {
        let part = utf8(part)?;
        if attr && part.bytes().any(|b| matches!(b, b'\t' | b'\n' | b'\r')) {
            out.extend(part.chars().map(|c| match c {
                '\t' | '\n' | '\r' => ' ',
                c => c,
            }));
        } else {
            out.push_str(part);
        }
        Ok(())
    };
    let mut rest = raw;
    while let Some(i) = memchr::memchr(b'&', rest) {
        push(rest.get(..i).unwrap_or_default(), out)?;
        let after = rest.get(i + 1..).unwrap_or_default();
        let semi = memchr::memchr(b';', after)
            .ok_or_else(|| "a `&` that starts no reference".to_string())?;
        out.push(reference(utf8(after.get(..semi).unwrap_or_default())?)?);
        rest = after.get(semi + 1..).unwrap_or_default();
    }
    push(rest, out)
}

/// The character of the reference `&name;`.
fn reference(name: &str) -> Result<char, String> {
    Ok(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => char_ref(name).ok_or_else(|| format!("unknown entity &{name};"))?,
    })
}

/// Text or a value not kept: its references must still be known ones.
fn check_refs(raw: &[u8]) -> Result<(), String> {
    let mut at = 0;
    while let Some(i) = raw.get(at..).and_then(|r| memchr::memchr(b'&', r)) {
        let after = raw.get(at + i + 1..).unwrap_or_default();
        let semi = memchr::memchr(b';', after)
            .ok_or_else(|| "a `&` that starts no reference".to_string())?;
        let name = after.get(..semi).unwrap_or_default();
        reference(std::str::from_utf8(name).unwrap_or("?"))?;
        at += i + 1 + semi + 1;
    }
    Ok(())
}

/// `#NNN` or `#xHHH`: a character XML allows (no NUL, no other C0 control
/// but tab, newline and carriage return).
fn char_ref(name: &str) -> Option<char> {
    let n = match name.strip_prefix("#x") {
        Some(h) => u32::from_str_radix(h, 16).ok()?,
        None => name.strip_prefix('#')?.parse().ok()?,
    };
    let hex_or_dec = name.get(1..).is_some_and(|d| {
        let d = d.strip_prefix('x').unwrap_or(d);
        !d.is_empty() && d.bytes().all(|b| b.is_ascii_hexdigit())
    });
    let c = char::from_u32(n).filter(|_| hex_or_dec)?;
    (c >= ' ' || matches!(c, '\t' | '\n' | '\r')).then_some(c)
}

impl Parser {
    pub fn new(policy: Policy) -> Parser {
        Parser {
            policy,
            buf: Vec::new(),
            names: Vec::new(),
            open: Vec::new(),
            cur: Partial::default(),
            text: String::new(),
            attrs: Vec::new(),
            root_seen: false,
            root_done: false,
            declared: None,
            count: 0,
            end: memmem::Finder::new(END),
            end_rev: memmem::FinderRev::new(END),
            format_end: memmem::Finder::new(b"</format>"),
        }
    }

    /// Packages parsed so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The count of packages the root element declares, once read.
    pub fn declared(&self) -> Option<u64> {
        self.declared
    }

    /// More of the document: every complete package in it is passed to
    /// `each`.
    ///
    /// The document is read in pieces that each end right after a
    /// `</package>` (wherever that string is: in a well-formed document
    /// only as an end tag), so how it was fed never changes where pieces
    /// end, nor the verdict. Whole pieces are parsed where they lie; only
    /// the start of an unfinished one is copied and kept.
    pub fn feed(&mut self, data: &[u8], each: &mut Each) -> anyhow::Result<()> {
        let mut data = data;
        if !self.buf.is_empty() {
            let Some(k) = self.first_end(data) else {
                self.buf.extend_from_slice(data);
                return self.check_pending();
            };
            let (head, rest) = data.split_at(k);
            let mut piece = std::mem::take(&mut self.buf);
            piece.extend_from_slice(head);
            let r = self.parse_piece(&piece, each);
            piece.clear();
            self.buf = piece;
            r?;
            data = rest;
        }
        let end = self.end_rev.rfind(data).map_or(0, |i| i + END.len());
        let (run, tail) = data.split_at(end);
        let mut rest = run;
        while !rest.is_empty() {
            let k = self.end.find(rest).map_or(rest.len(), |i| i + END.len());
            let (piece, after) = rest.split_at(k);
            self.parse_piece(piece, each)?;
            rest = after;
        }
        self.buf.extend_from_slice(tail);
        self.check_pending()
    }

    /// Where in `data` the first `</package>` after the kept start ends,
    /// that string possibly begun in the kept start (which holds none).
    fn first_end(&self, data: &[u8]) -> Option<usize> {
        const N: usize = END.len() - 1;
        let kept = self.buf.get(self.buf.len().saturating_sub(N)..)?;
        let head = data.get(..data.len().min(N))?;
        let mut join = [0u8; 2 * N];
        let joined = join.get_mut(..kept.len() + head.len())?;
        let (a, b) = joined.split_at_mut(kept.len());
        a.copy_from_slice(kept);
        b.copy_from_slice(head);
        match self.end.find(joined) {
            Some(i) => Some(i + END.len() - kept.len()),
            None => self.end.find(data).map(|i| i + END.len()),
        }
    }

    /// An unfinished piece is bounded.
    fn check_pending(&self) -> anyhow::Result<()> {
        if self.buf.len() > MAX_PACKAGE {
            return Err(self.bad(format!("no </package> within {MAX_PACKAGE} bytes")));
        }
        Ok(())
    }

    /// The end of the document: the rest is parsed, the root must be
    /// closed, and the count must be the root's `packages` attribute.
    pub fn finish(mut self, each: &mut Each) -> anyhow::Result<u64> {
        let rest = std::mem::take(&mut self.buf);
        self.parse_piece(&rest, each)?;
        if !self.root_done {
            return Err(malformed(
                "primary.xml",
                "the document ends before </metadata>",
            ));
        }
        if let Some(n) = self.declared.filter(|n| *n != self.count) {
            return Err(malformed(
                "primary.xml",
                format!("<metadata packages=\"{n}\"> but {} packages", self.count),
            ));
        }
        Ok(self.count)
    }

    /// One piece, markup by markup: text runs to the next `<` (XML allows
    /// none in text), so only tags are read byte by byte, and a package's
    /// `<format>` (dependencies and file lists: most of the bytes) is
    /// passed over to its `</format>`.
    fn parse_piece(&mut self, p: &[u8], each: &mut Each) -> anyhow::Result<()> {
        if p.len() > MAX_PACKAGE {
            return Err(self.bad(format!("no </package> within {MAX_PACKAGE} bytes")));
        }
        let mut at = 0;
        while at < p.len() {
            // Between tags there is mostly a line break and indentation:
            // looked at here, memchr only for real text.
            let blank = skip_space(p, at);
            let lt = match p.get(blank) {
                Some(b'<') => blank,
                _ => memchr::memchr(b'<', p.get(blank..).unwrap_or_default())
                    .map_or(p.len(), |i| blank + i),
            };
            if lt > blank || (lt > at && self.in_kept_field()) {
                self.text(p.get(at..lt).unwrap_or_default())
                    .map_err(|w| self.bad(w))?;
            }
            at = lt;
            if at < p.len() {
                at = self.markup(p, at, each)?;
            }
        }
        Ok(())
    }

    /// The innermost open element's name.
    fn top(&self) -> &[u8] {
        let from = self.open.last().copied().unwrap_or(self.names.len());
        self.names.get(from..).unwrap_or_default()
    }

    /// Is the innermost element a package's name, arch or checksum?
    fn in_kept_field(&self) -> bool {
        self.cur.open
            && self.open.len() == 3
            && matches!(self.top(), b"name" | b"arch" | b"checksum")
    }

    /// Text between markup: white space only outside elements and
    /// between a package's children; gathered in the fields kept.
    fn text(&mut self, raw: &[u8]) -> Result<(), String> {
        if raw.is_empty() {
            return Ok(());
        }
        if self.open.len() <= 2 {
            if raw.iter().all(|b| is_space(*b)) {
                return Ok(());
            }
            return Err(match self.open.len() {
                0 => "text outside the root element".into(),
                _ => format!("text in <{}>", String::from_utf8_lossy(self.top())),
            });
        }
        if !self.in_kept_field() {
            return check_refs(raw);
        }
        unescape(raw, false, &mut self.text)?;
        if self.text.len() > MAX_TEXT {
            return Err(format!(
                "<{}>: text longer than {MAX_TEXT} bytes",
                String::from_utf8_lossy(self.top())
            ));
        }
        Ok(())
    }

    /// The markup at `p[at]` (a `<`): returns where it ends.
    fn markup(&mut self, p: &[u8], at: usize, each: &mut Each) -> anyhow::Result<usize> {
        let rest = p.get(at..).unwrap_or_default();
        let in_package = self.cur.open;
        let find = |what: &[u8], from: usize| {
            memmem::find(rest.get(from..).unwrap_or_default(), what).map(|i| at + from + i)
        };
        match rest.get(1) {
            Some(b'/') => self.end_tag(p, at + 2, each),
            Some(b'?') if in_package => Err(self.bad("a processing instruction inside a package")),
            Some(b'?') => find(b"?>", 2)
                .map(|e| e + 2)
                .ok_or_else(|| self.bad("an unclosed <?")),
            Some(b'!') if rest.starts_with(b"<!--") => {
                if in_package {
                    return Err(self.bad("a comment inside a package"));
                }
                let e = find(b"-->", 4).ok_or_else(|| self.bad("an unclosed comment"))?;
                if p.get(at + 4..e)
                    .is_some_and(|c| memmem::find(c, b"--").is_some())
                {
                    return Err(self.bad("`--` inside a comment"));
                }
                Ok(e + 3)
            }
            Some(b'!') if rest.starts_with(b"<![CDATA[") => Err(self.bad("CDATA refused")),
            Some(b'!') if rest.starts_with(b"<!DOCTYPE") => Err(self.bad("DOCTYPE refused")),
            Some(_) => self.start_tag(p, at + 1, each),
            None => Err(self.bad("the document ends inside a tag")),
        }
    }

    /// An end tag whose name starts at `p[i]`.
    fn end_tag(&mut self, p: &[u8], i: usize, each: &mut Each) -> anyhow::Result<usize> {
        let rest = p.get(i..).unwrap_or_default();
        let n = name_len(rest);
        let name = rest.get(..n).unwrap_or_default();
        let close = skip_space(p, i + n);
        if n == 0 || p.get(close) != Some(&b'>') {
            return Err(self.bad("a malformed end tag"));
        }
        let Some(from) = self.open.pop() else {
            return Err(self.bad(format!(
                "</{}> closes nothing",
                String::from_utf8_lossy(name)
            )));
        };
        if self.names.get(from..) != Some(name) {
            let open = String::from_utf8_lossy(self.names.get(from..).unwrap_or_default());
            return Err(self.bad(format!(
                "</{}> closes <{open}>",
                String::from_utf8_lossy(name)
            )));
        }
        self.names.truncate(from);
        self.close(name, each)?;
        Ok(close + 1)
    }

    /// A start or empty-element tag whose name starts at `p[i]`: its
    /// attributes are read strictly (quoted, no `<` in a value, none twice).
    fn start_tag(&mut self, p: &[u8], i: usize, each: &mut Each) -> anyhow::Result<usize> {
        let n = name_len(p.get(i..).unwrap_or_default());
        let name = i..i + n;
        if n == 0 {
            return Err(self.bad("a malformed tag"));
        }
        self.attrs.clear();
        let mut j = i + n;
        let empty = loop {
            let k = skip_space(p, j);
            match p.get(k) {
                Some(b'>') => {
                    j = k + 1;
                    break false;
                }
                Some(b'/') if p.get(k + 1) == Some(&b'>') => {
                    j = k + 2;
                    break true;
                }
                Some(_) if k > j => {
                    let an = name_len(p.get(k..).unwrap_or_default());
                    let eq = skip_space(p, k + an);
                    let q = skip_space(p, eq + 1);
                    let quote = p.get(q).copied().filter(|b| matches!(b, b'"' | b'\''));
                    let (Some(quote), true, b'=') =
                        (quote, an > 0, p.get(eq).copied().unwrap_or_default())
                    else {
                        return Err(self.bad("a malformed attribute"));
                    };
                    // Values are short: one loop finds the quote, refuses
                    // a `<` and notes what needs unescaping.
                    let value_at = q + 1;
                    let mut e = value_at;
                    let mut plain = true;
                    loop {
                        match p.get(e) {
                            Some(b) if *b == quote => break,
                            Some(b'<') => return Err(self.bad("a `<` in an attribute value")),
                            Some(b'&' | b'\t' | b'\n' | b'\r') => plain = false,
                            Some(_) => {}
                            None => return Err(self.bad("an unclosed attribute value")),
                        }
                        e += 1;
                    }
                    let value = value_at..e;
                    if !plain {
                        check_refs(p.get(value.clone()).unwrap_or_default())
                            .map_err(|w| self.bad(w))?;
                    }
                    let key = p.get(k..k + an).unwrap_or_default();
                    if self.attrs.iter().any(|a| p.get(a.key.clone()) == Some(key)) {
                        return Err(self.bad(format!(
                            "attribute {} given twice",
                            String::from_utf8_lossy(key)
                        )));
                    }
                    self.attrs.push(Attr {
                        key: k..k + an,
                        value,
                        plain,
                    });
                    j = e + 1;
                }
                Some(_) => return Err(self.bad("a malformed tag")),
                None => return Err(self.bad("the document ends inside a tag")),
            }
        };
        let name = p.get(name).unwrap_or_default();
        self.open_element(p, name).map_err(|w| self.bad(w))?;
        self.text.clear();
        if empty {
            return self.close(name, each).map(|()| j);
        }
        if self.open.len() >= MAX_DEPTH {
            return Err(self.bad(format!("elements nested deeper than {MAX_DEPTH}")));
        }
        self.open.push(self.names.len());
        self.names.extend_from_slice(name);
        if self.cur.open && self.open.len() == 3 && name == b"format" {
            // Passed over within its package (the piece ends at the first
            // `</package>`): a `</package>` inside a format fails here.
            let e = self
                .format_end
                .find(p.get(j..).unwrap_or_default())
                .ok_or_else(|| self.bad("<format> without its end tag"))?;
            return Ok(j + e);
        }
        Ok(j)
    }

    /// An attribute of the tag just read, unescaped; None when absent.
    fn attr<'p>(&self, p: &'p [u8], key: &str) -> Result<Option<Cow<'p, str>>, String> {
        let Some(a) = self
            .attrs
            .iter()
            .find(|a| p.get(a.key.clone()) == Some(key.as_bytes()))
        else {
            return Ok(None);
        };
        let raw = p.get(a.value.clone()).unwrap_or_default();
        if let (true, Ok(s)) = (a.plain, std::str::from_utf8(raw)) {
            return Ok(Some(Cow::Borrowed(s)));
        }
        let mut out = String::new();
        unescape(raw, true, &mut out).map_err(|w| format!("attribute {key}: {w}"))?;
        Ok(Some(Cow::Owned(out)))
    }

    /// An element `name` opens (not yet on the stack): the root, a
    /// package, or a package's field.
    fn open_element(&mut self, p: &[u8], name: &[u8]) -> Result<(), String> {
        let shown = || String::from_utf8_lossy(name);
        match self.open.len() {
            0 if self.root_done => Err(format!("<{}> after the root element", shown())),
            0 if name != b"metadata" => {
                Err(format!("the root element is <{}>, not <metadata>", shown()))
            }
            0 => {
                self.root_seen = true;
                if let Some(n) = self.attr(p, "packages")? {
                    self.declared = Some(number(&n, "packages")?);
                }
                Ok(())
            }
            1 if name == b"package" => {
                self.cur.start();
                Ok(())
            }
            2 if self.cur.open => self.field(p, name),
            3 if self.in_kept_field() => Err(format!(
                "<{}> inside <{}>",
                shown(),
                String::from_utf8_lossy(self.top())
            )),
            _ => Ok(()),
        }
    }

    /// A package's child element opens: the attributes kept are read.
    fn field(&mut self, p: &[u8], name: &[u8]) -> Result<(), String> {
        let c = &self.cur;
        let seen = match name {
            b"format" => c.format,
            b"version" => c.evr.is_some(),
            b"checksum" => c.checksum.is_some() || c.checksum_type.is_some(),
            b"size" => c.size.is_some(),
            b"location" => c.location.is_some(),
            _ => false,
        };
        if seen {
            return Err(format!("duplicate <{}>", String::from_utf8_lossy(name)));
        }
        match name {
            b"format" => self.cur.format = true,
            b"version" => {
                let get =
                    |a: &str| Ok::<_, String>(self.attr(p, a)?.unwrap_or_default().into_owned());
                let evr = [get("epoch")?, get("ver")?, get("rel")?];
                self.cur.evr = Some(evr);
            }
            b"checksum" => {
                let t = self.attr(p, "type")?.ok_or("<checksum> without a type")?;
                self.cur.checksum_type = Some(rpmmd::algo_of(&t, self.policy)?);
            }
            b"size" => {
                let s = self.attr(p, "package")?.ok_or("<size> without package=")?;
                self.cur.size = Some(number(&s, "size")?);
            }
            b"location" => {
                if self.attr(p, "xml:base")?.is_some() {
                    return Err("xml:base refused".into());
                }
                let href = self.attr(p, "href")?.ok_or("<location> without href")?;
                check_location(&href)?;
                self.cur.location = Some(href.into_owned());
            }
            _ => {}
        }
        Ok(())
    }

    /// Where the parse is, for messages: the package being read.
    fn bad(&self, why: impl std::fmt::Display) -> anyhow::Error {
        let at = match self.cur.name.as_ref().filter(|_| self.cur.open) {
            Some(n) => format!("package {} ({n})", self.count + 1),
            None if self.root_seen => format!("package {}", self.count + 1),
            None => "the start".into(),
        };
        malformed("primary.xml", format!("{at}: {why}"))
    }

    /// An element closed; the stack no longer holds it.
    fn close(&mut self, name: &[u8], each: &mut Each) -> anyhow::Result<()> {
        match self.open.len() {
            0 => self.root_done = true,
            1 if name == b"package" && self.cur.open => {
                let pkg = self.cur.finish().map_err(|w| self.bad(w))?;
                self.count += 1;
                each(pkg)?;
            }
            2 if self.cur.open => {
                let value = self.text.trim();
                let p = &mut self.cur;
                let r = match name {
                    b"name" | b"arch" => {
                        let slot = match name {
                            b"name" => &mut p.name,
                            _ => &mut p.arch,
                        };
                        match slot.replace(value.to_string()) {
                            Some(_) => {
                                Err(format!("duplicate <{}>", String::from_utf8_lossy(name)))
                            }
                            None => Ok(()),
                        }
                    }
                    b"checksum" => match p.checksum_type.take() {
                        Some(algo) => Checksum::from_hex(algo, value).map(|c| p.checksum = Some(c)),
                        None => Err("<checksum> without a type".into()),
                    },
                    _ => Ok(()),
                };
                r.map_err(|w| self.bad(w))?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// The packages of one primary, by location; a location or a NEVRA listed
/// twice is refused. Compact for Fedora's ~70,000 packages: the packages
/// in one vector, two tables of indices into it (no key is copied).
#[derive(Debug, Default)]
pub struct Index {
    packages: Vec<Package>,
    by_location: hashbrown::HashTable<u32>,
    by_nevra: hashbrown::HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
}

/// The two keys of a package, by [`Index`]'s hasher.
fn hash_location(h: &hashbrown::DefaultHashBuilder, p: &Package) -> u64 {
    std::hash::BuildHasher::hash_one(h, p.location())
}

fn hash_nevra(h: &hashbrown::DefaultHashBuilder, p: &Package) -> u64 {
    std::hash::BuildHasher::hash_one(h, p.nevra_key())
}

/// How a table hashes a package (by location, by NEVRA).
type HashFn = fn(&hashbrown::DefaultHashBuilder, &Package) -> u64;

/// The hash of the package a table slot points at, for the table to grow.
fn rehash(packages: &[Package], h: &hashbrown::DefaultHashBuilder, j: u32, f: HashFn) -> u64 {
    packages.get(j as usize).map_or(0, |q| f(h, q))
}

impl Index {
    /// Add a package: a duplicate location or NEVRA is exit 1, naming both.
    pub fn insert(&mut self, p: Package) -> anyhow::Result<()> {
        let Index {
            packages,
            by_location,
            by_nevra,
            hasher,
        } = self;
        let at = |i: &u32| packages.get(*i as usize);
        let h_loc = hash_location(hasher, &p);
        if by_location
            .find(h_loc, |i| {
                at(i).is_some_and(|q| q.location() == p.location())
            })
            .is_some()
        {
            return Err(fail(
                Code::Failed,
                format!("duplicate package entries at {}", p.location()),
            ));
        }
        let h_nevra = hash_nevra(hasher, &p);
        if let Some(q) = by_nevra
            .find(h_nevra, |i| {
                at(i).is_some_and(|q| q.nevra_key() == p.nevra_key())
            })
            .and_then(at)
        {
            return Err(fail(
                Code::Failed,
                format!(
                    "duplicate package entries: {} at {} and at {}",
                    p.nevra(),
                    q.location(),
                    p.location()
                ),
            ));
        }
        let i = u32::try_from(packages.len())
            .map_err(|_| fail(Code::Failed, "more packages than an index holds"))?;
        packages.push(p);
        let rehash = |j: &u32, f: HashFn| rehash(packages, hasher, *j, f);
        by_location.insert_unique(h_loc, i, |j| rehash(j, hash_location));
        by_nevra.insert_unique(h_nevra, i, |j| rehash(j, hash_nevra));
        Ok(())
    }

    /// Room for `n` packages (at most [`RESERVE_MAX`]: a declared count
    /// is a hint, not a promise).
    pub fn reserve(&mut self, n: u64) {
        let n = usize::try_from(n.min(RESERVE_MAX)).unwrap_or(0);
        let Index {
            packages,
            by_location,
            by_nevra,
            hasher,
        } = self;
        packages.reserve(n);
        let rehash = |j: &u32, f: HashFn| rehash(packages, hasher, *j, f);
        by_location.reserve(n, |j| rehash(j, hash_location));
        by_nevra.reserve(n, |j| rehash(j, hash_nevra));
    }

    pub fn get(&self, location: &str) -> Option<&Package> {
        let h = std::hash::BuildHasher::hash_one(&self.hasher, location);
        let i = self.by_location.find(h, |i| {
            self.packages
                .get(*i as usize)
                .is_some_and(|q| q.location() == location)
        })?;
        self.packages.get(*i as usize)
    }

    pub fn len(&self) -> usize {
        self.packages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Package> {
        self.packages.iter()
    }
}

/// Parse a whole document held in memory (tests, fuzzing, small lists).
pub fn parse_all(bytes: &[u8], policy: Policy) -> anyhow::Result<Vec<Package>> {
    let mut out = Vec::new();
    let mut p = Parser::new(policy);
    let mut push = |pkg: Package| {
        out.push(pkg);
        Ok(())
    };
    p.feed(bytes, &mut push)?;
    p.finish(&mut push)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, loc: &str) -> String {
        format!(
            "<package type=\"rpm\">\n  <name>{name}</name>\n  <arch>noarch</arch>\n  <version epoch=\"0\" ver=\"1.0\" rel=\"1\"/>\n  <checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>\n  <summary>a &amp; b</summary>\n  <description>d</description>\n  <size package=\"6014\" installed=\"3\" archive=\"256\"/>\n  <location href=\"{loc}\"/>\n  <format>\n    <rpm:license>MIT</rpm:license>\n    <rpm:provides><rpm:entry name=\"{name}\" flags=\"EQ\"/></rpm:provides>\n    <file>/usr/share/{name}/d</file>\n  </format>\n</package>\n",
            "ab".repeat(32)
        )
    }

    fn doc(pkgs: &[String]) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{}\">\n{}</metadata>\n",
            pkgs.len(),
            pkgs.concat()
        )
    }

    fn err(s: &str) -> String {
        format!(
            "{:#}",
            parse_all(s.as_bytes(), Policy::default()).unwrap_err()
        )
    }

    #[test]
    fn streams_in_any_pieces() {
        let d = doc(&[
            pkg("foo", "foo-1.0-1.noarch.rpm"),
            pkg("bar&amp;x", "b/bar.rpm"),
        ]);
        let all = parse_all(d.as_bytes(), Policy::default()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].name(), "bar&x");
        assert_eq!(all[0].size, 6014);
        assert_eq!(all[0].nevra(), "foo-1.0-1.noarch");
        for step in [1, 7, 100] {
            let mut got = Vec::new();
            let mut p = Parser::new(Policy::default());
            let mut push = |x: Package| {
                got.push(x);
                Ok(())
            };
            for c in d.as_bytes().chunks(step) {
                p.feed(c, &mut push).unwrap();
            }
            p.finish(&mut push).unwrap();
            assert_eq!(got, all, "pieces of {step}");
        }
    }

    #[test]
    fn refusals_name_the_package() {
        let good = pkg("foo", "foo.rpm");
        let e = err(&doc(&[good.replace("sha256", "sha1")]));
        assert!(e.contains("package 1 (foo)") && e.contains("SHA-1"), "{e}");
        let e = err(&doc(&[
            good.replace("href=", "xml:base=\"http://x/\" href=")
        ]));
        assert!(e.contains("xml:base refused"), "{e}");
        let e = err(&doc(&[good.replace("foo.rpm", "/tmp/foo.rpm")]));
        assert!(e.contains("absolute"), "{e}");
        let e = err(&doc(&[
            good.replace("  <size", "  <size package=\"1\"/><size")
        ]));
        assert!(e.contains("duplicate <size>"), "{e}");
        let e = err(&doc(std::slice::from_ref(&good)).replace("packages=\"1\"", "packages=\"2\""));
        assert!(e.contains("but 1 packages"), "{e}");
        let e = err(&doc(&[good.replace("<location href=\"foo.rpm\"/>", "")]));
        assert!(e.contains("no <location>"), "{e}");
        let e = err(&doc(std::slice::from_ref(&good)).replace("</metadata>", ""));
        assert!(e.contains("ends before </metadata>"), "{e}");
        let e = err(&doc(&[good.replace("</name>", "</nome>")]));
        assert!(e.contains("</nome> closes <name>"), "{e}");
        let e = err(&doc(&[good.replace("a &amp; b", "a &ent; b")]));
        assert!(e.contains("&ent;"), "{e}");
        let e = err(&doc(&[good.replace("</format>", "")]));
        assert!(e.contains("malformed primary.xml"), "{e}");
        // An unclosed description or format is not closed by the next
        // package's (a skip stays inside its package, as a piece does).
        let unclosed = good.replace("</description>", "");
        let e = err(&doc(&[unclosed, pkg("bar", "bar.rpm")]));
        assert!(e.contains("</package> closes <description>"), "{e}");
        let unclosed = good.replace("</format>", "");
        let e = err(&doc(&[unclosed, pkg("bar", "bar.rpm")]));
        assert!(
            e.contains("package 1 (foo): <format> without its end tag"),
            "{e}"
        );
    }

    /// What a general XML parser reads as a comment, a processing
    /// instruction or an attribute value cannot end a passed-over
    /// `<format>` early and slip a field in: each way fails the package.
    #[test]
    fn nothing_is_smuggled_past_a_format() {
        let good = pkg("foo", "foo.rpm");
        let bare = good.replace("  <location href=\"foo.rpm\"/>\n", "");
        let evil = |inside: &str| {
            let d = doc(&[bare.replace("<format>\n", &format!("<format>{inside}\n"))]);
            err(&d)
        };
        let e = evil("<!-- </format><location href=\"evil.rpm\"/><format> -->");
        assert!(e.contains("duplicate <format>"), "{e}");
        let e = evil("<?x </format><location href=\"evil.rpm\"/><?y ?>");
        assert!(
            e.contains("a processing instruction inside a package"),
            "{e}"
        );
        let e = evil("<x a=\"</format><location href='evil.rpm'/>\"/>");
        assert!(e.contains("text in <package>"), "{e}");
        let e = evil("<!-- </format><location href=\"evil.rpm\"/><!-- -->");
        assert!(e.contains("a comment inside a package"), "{e}");
        // A `</package>` inside a format ends its piece: the format is
        // unclosed there, whatever a general parser would make of it.
        let e = evil("<!-- </package> -->");
        assert!(e.contains("<format> without its end tag"), "{e}");
        // Between packages a comment is fine, unless it holds </package>.
        let two = |between: &str| {
            doc(&[good.clone(), between.into(), pkg("bar", "bar.rpm")])
                .replace("packages=\"3\"", "packages=\"2\"")
        };
        let ok = parse_all(two("<!-- a comment -->\n").as_bytes(), Policy::default());
        assert_eq!(ok.unwrap().len(), 2);
        let e = err(&two("<!-- </package> -->\n"));
        assert!(e.contains("an unclosed comment"), "{e}");
    }

    #[test]
    fn tags_and_text_are_read_strictly() {
        let good = pkg("foo", "foo.rpm");
        for (from, to, why) in [
            (
                "<name>foo</name>",
                "<name><![CDATA[foo]]></name>",
                "CDATA refused",
            ),
            (
                "<name>foo</name>",
                "<name>f<b/>oo</name>",
                "<b> inside <name>",
            ),
            ("<name>foo</name>", "<name>foo</name>x", "text in <package>"),
            (
                "href=\"foo.rpm\"",
                "href=\"foo<.rpm\"",
                "a `<` in an attribute value",
            ),
            (
                "href=\"foo.rpm\"",
                "href=\"foo.rpm\" href=\"a.rpm\"",
                "attribute href given twice",
            ),
            (
                "href=\"foo.rpm\"",
                "href=\"foo.rpm",
                "a `<` in an attribute value",
            ),
            ("href=\"foo.rpm\"", "href=foo.rpm", "a malformed attribute"),
            ("ver=\"1.0\" rel", "ver=\"1.0\"rel", "a malformed tag"),
            (
                "href=\"foo.rpm\"",
                "href=\"foo&#10;.rpm\"",
                "control character",
            ),
            (
                "href=\"foo.rpm\"",
                "href=\"foo&#0;.rpm\"",
                "unknown entity &#0;",
            ),
            (
                "pkgid=\"YES\"",
                "pkgid=\"&bogus;\"",
                "unknown entity &bogus;",
            ),
            (
                "<summary>a &amp; b",
                "<summary>a & b",
                "a `&` that starts no reference",
            ),
            ("</name>", "</name >", ""),
        ] {
            let d = doc(&[good.replace(from, to)]);
            match parse_all(d.as_bytes(), Policy::default()) {
                Ok(_) => assert!(why.is_empty(), "{to} passed"),
                Err(e) => assert!(!why.is_empty() && format!("{e:#}").contains(why), "{e:#}"),
            }
        }
        let d = doc(&[good.replace("foo.rpm", "a&amp;b&#x20;c.rpm")]);
        let p = parse_all(d.as_bytes(), Policy::default()).unwrap();
        assert_eq!(p[0].location(), "a&b c.rpm");
        let e = err(&format!("<!DOCTYPE x>{}", doc(&[good])));
        assert!(e.contains("DOCTYPE refused"), "{e}");
    }

    #[test]
    fn the_index_refuses_duplicates() {
        let d = doc(&[pkg("foo", "a/foo.rpm"), pkg("foo", "b/foo.rpm")]);
        let mut idx = Index::default();
        let r: anyhow::Result<()> = parse_all(d.as_bytes(), Policy::default())
            .unwrap()
            .into_iter()
            .try_for_each(|p| idx.insert(p));
        let e = format!("{:#}", r.unwrap_err());
        assert!(
            e.contains("duplicate package entries: foo-1.0-1.noarch at a/foo.rpm and at b/foo.rpm"),
            "{e}"
        );
    }
}
