//! Hash lists: parse every common format (DESIGN.md §4), auto-detected per
//! line, and write them back; GNU and BSD lines byte for byte as coreutils.
//!
//! # Formats, per line
//!
//! Lines end with `\n` (a trailing `\r` is dropped: CRLF lists) or, with
//! [`ParseOptions::zero_terminated`], with NUL. Blank lines and lines whose
//! first non-blank byte is `#` are skipped; leading blanks are ignored, as
//! coreutils does.
//!
//! | format | line | notes |
//! |---|---|---|
//! | [`Format::Gnu`] | `HEX  NAME`, `HEX *NAME` | a leading `\` marks a name escaped with `\\`, `\n`, `\r`; the algorithm comes from the digest length (128 digits: SHA-512 unless told BLAKE2b) |
//! | [`Format::GnuOneSpace`] | `HEX NAME` | one space, as `md5 -r`/`sha256 -r` write it and `sha256sum -c` reads it; not mixed with the two-space form in one list (coreutils reads a list by its first line's form) |
//! | [`Format::Bsd`] | `ALG (NAME) = HEX` | `sha256sum --tag`, `cksum`, Fedora `sources`; optional leading `\`; a base64 value (coreutils `--base64`) is accepted |
//! | [`Format::Buildroot`] | `ALG  HEX  NAME` | Buildroot `.hash`; whitespace-separated |
//! | [`Format::Sri`] | `sha256-BASE64 [sha512-BASE64 ...] [NAME]` | Subresource Integrity |
//! | [`Format::Bare`] | `HEX` | `NAME.sha256` holding only the digest of `NAME` (Qubes) |
//!
//! Strictness: a line in no known format, an unknown algorithm, a digest of
//! the wrong length, a bad escape or an empty name is malformed (exit 2,
//! naming the line). Digests without a name (bare, lone SRI) are valid only
//! when the whole list is nameless: it then pins one file the caller names.
//! MD5 and SHA-1 are parsed (rejecting them is the checker's policy).
//!
//! # API for other tools
//!
//! fetch-verified's `--hash-file LIST` asks "which digests does this list
//! pin for the file I am fetching":
//!
//! ```
//! use build_verify::lists::hashlist;
//! let list = b"SHA256 (foo-1.0.tar.gz) = \
//!     ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n";
//! let pins = hashlist::expected_for(list, b"foo-1.0.tar.gz").unwrap();
//! assert_eq!(pins[0].0, build_verify::digest::Algo::Sha256);
//! // No entry for the name: exit 3; a malformed list: exit 2.
//! let err = hashlist::expected_for(list, b"bar.tar.gz").unwrap_err();
//! assert_eq!(build_verify::exit::code_of(&err), build_verify::exit::Code::Missing);
//! ```
//!
//! [`expected_for`] returns every digest listed for that name (a file must
//! match all of them), including weak ones: refusing MD5/SHA-1 is the
//! caller's policy. [`parse_list`] gives every [`Entry`]; [`format_line`]
//! and [`format_entry`] write lines.

use crate::digest::Algo;
use crate::exit::{fail, Code};
use base64::Engine as _;

/// Longest line accepted; a longer one is malformed (bounded input).
pub const MAX_LINE: usize = 64 * 1024;

/// The format a line was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Gnu,
    /// `HEX NAME`: one space, no text/binary flag.
    GnuOneSpace,
    Bsd,
    Buildroot,
    Sri,
    Bare,
}

/// One pinned digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub algo: Algo,
    pub digest: Vec<u8>,
    /// The file name, unescaped; `None` for a bare digest or a lone SRI.
    pub name: Option<Vec<u8>>,
    pub format: Format,
    /// 1-based line number in the list.
    pub line: usize,
}

/// How to read a list.
#[derive(Clone, Copy, Debug, Default)]
pub struct ParseOptions {
    /// Lines end with NUL instead of newline (`-z`); names are not escaped.
    pub zero_terminated: bool,
    /// Algorithm of 128-hex-digit lines without an algorithm name: SHA-512
    /// (the default, as `sha512sum`) or BLAKE2b (`b2sum`).
    pub untagged_512: Option<Algo>,
}

/// Why a list does not parse, and on which line (1-based). A malformed
/// list is a usage error, exit 2 (raised through [`crate::exit::typed`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    pub line: usize,
    pub kind: ParseErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    #[error("line too long")]
    TooLong,
    #[error(
        "this line and line {0} separate digest and name differently (one space; two, or \" *\"): \
         sha256sum -c reads a list by its first line's form, so keep to one"
    )]
    MixedSpacing(usize),
    #[error("a digest without a file name is only valid in a list of such digests")]
    NamelessAmongNamed,
    #[error("not a checksum line in any known format")]
    UnknownFormat,
    #[error("bad SRI digest")]
    BadSri,
    #[error("unknown algorithm {0:?}")]
    UnknownAlgorithm(String),
    #[error(
        "a digest of {0} hex digits is no algorithm's (md5 32, sha1 40, sha256 64, sha384 96, \
         sha512 128)"
    )]
    UnknownDigestLength(usize),
    #[error("the digest has {found:?} at column {column}, which is not a hex digit")]
    NotHex { found: char, column: usize },
    #[error("bad base64 digest")]
    BadBase64,
    #[error(
        "a {algo} digest is {} bytes ({} hex digits), this one is {got}",
        algo.digest_len(),
        2 * algo.digest_len()
    )]
    WrongLength { algo: Algo, got: usize },
    #[error("missing file name")]
    MissingName,
    #[error("NUL byte in file name")]
    NulInName,
    #[error("bad escape in file name")]
    BadEscape,
}

fn malformed(line: usize, kind: ParseErrorKind) -> anyhow::Error {
    crate::exit::typed(Code::Usage, ParseError { line, kind })
}

/// Parse a whole list. Errors (exit 2) name the first bad line.
pub fn parse_list(data: &[u8], opts: ParseOptions) -> anyhow::Result<Vec<Entry>> {
    let mut out = Vec::new();
    parse_each(data, opts, |e| {
        out.push(e);
        Ok(())
    })?;
    Ok(out)
}

/// [`parse_list`] without the list of entries: each is handed to `f` in
/// list order, so a caller keeping them compactly never holds them all
/// as [`Entry`] values. A list mixing nameless digests with named
/// entries is refused at its end, after `f` saw them: nothing may be
/// used before this returns `Ok`.
pub fn parse_each(
    data: &[u8],
    opts: ParseOptions,
    mut f: impl FnMut(Entry) -> anyhow::Result<()>,
) -> anyhow::Result<usize> {
    let sep = if opts.zero_terminated { b'\0' } else { b'\n' };
    let mut stream = EntryStream::default();
    for (i, raw) in data.split(|&b| b == sep).enumerate() {
        stream.line(raw, i + 1, opts, &mut f)?;
    }
    stream.finish()
}

/// [`parse_each`] of a list read from `r`, at most `max` bytes (more is
/// exit 2, as a list read whole): the list is never in memory whole.
pub fn parse_reader(
    mut r: impl std::io::BufRead,
    opts: ParseOptions,
    max: u64,
    what: &str,
    mut f: impl FnMut(Entry) -> anyhow::Result<()>,
) -> anyhow::Result<usize> {
    use crate::exit::ResultExt;
    let sep = if opts.zero_terminated { b'\0' } else { b'\n' };
    let mut stream = EntryStream::default();
    let mut line = Vec::new();
    let (mut n, mut total) = (0usize, 0u64);
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_code(Code::Io, || format!("reading {what}")),
        };
        if avail.is_empty() {
            // The last line, terminated or not (an empty one is blank).
            stream.line(&line, n + 1, opts, &mut f)?;
            return stream.finish();
        }
        let (take, end) = match memchr::memchr(sep, avail) {
            Some(i) => (i, true),
            None => (avail.len(), false),
        };
        total += (take + usize::from(end)) as u64;
        if total > max {
            return Err(fail(
                Code::Usage,
                format!("{what}: larger than {max} bytes"),
            ));
        }
        // Longer than any line may be: refused without reading it whole.
        if line.len() + take > MAX_LINE {
            return Err(malformed(n + 1, ParseErrorKind::TooLong));
        }
        line.extend_from_slice(avail.get(..take).unwrap_or_default());
        r.consume(take + usize::from(end));
        if end {
            n += 1;
            stream.line(&line, n, opts, &mut f)?;
            line.clear();
        }
    }
}

/// The state of a list parsed line by line: whether nameless digests
/// and named entries were mixed (refused at the end).
#[derive(Default)]
struct EntryStream {
    entries: usize,
    nameless: usize,
    first_nameless: Option<usize>,
    /// The first `HEX  NAME` (or `HEX *NAME`) line, and the first
    /// `HEX NAME` one: a list must keep to one.
    flagged: Option<usize>,
    one_space: Option<usize>,
    buf: Vec<Entry>,
}

impl EntryStream {
    fn line(
        &mut self,
        raw: &[u8],
        n: usize,
        opts: ParseOptions,
        f: &mut impl FnMut(Entry) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        if raw.len() > MAX_LINE {
            return Err(malformed(n, ParseErrorKind::TooLong));
        }
        parse_line_into(raw, n, opts, &mut self.buf)?;
        for e in self.buf.drain(..) {
            match e.format {
                Format::Gnu => _ = self.flagged.get_or_insert(e.line),
                Format::GnuOneSpace => _ = self.one_space.get_or_insert(e.line),
                _ => {}
            }
            if let (Some(a), Some(b)) = (self.flagged, self.one_space) {
                let (first, other) = (a.min(b), a.max(b));
                return Err(malformed(other, ParseErrorKind::MixedSpacing(first)));
            }
            self.entries += 1;
            if e.name.is_none() {
                self.nameless += 1;
                self.first_nameless.get_or_insert(e.line);
            }
            f(e)?;
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<usize> {
        if self.nameless > 0 && self.nameless < self.entries {
            return Err(malformed(
                self.first_nameless.unwrap_or(1),
                ParseErrorKind::NamelessAmongNamed,
            ));
        }
        Ok(self.entries)
    }
}

/// Parse one line (without its terminator). Blank lines and comments give
/// no entry; an SRI line may give several.
pub fn parse_line(raw: &[u8], n: usize, opts: ParseOptions) -> anyhow::Result<Vec<Entry>> {
    let mut out = Vec::new();
    parse_line_into(raw, n, opts, &mut out)?;
    Ok(out)
}

fn parse_line_into(
    raw: &[u8],
    n: usize,
    opts: ParseOptions,
    out: &mut Vec<Entry>,
) -> anyhow::Result<()> {
    let line = if opts.zero_terminated {
        raw
    } else {
        raw.strip_suffix(b"\r").unwrap_or(raw)
    };
    let start = line
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(line.len());
    let line = line.get(start..).unwrap_or_default();
    if line.iter().all(u8::is_ascii_whitespace) || line.first() == Some(&b'#') {
        return Ok(());
    }
    // A leading backslash marks escaped names in GNU and BSD lines.
    let (escaped, body) = match line.strip_prefix(b"\\") {
        Some(rest) if !opts.zero_terminated => (true, rest),
        _ => (false, line),
    };
    if let Some(e) = parse_bsd(body, escaped, n)? {
        out.push(e);
        return Ok(());
    }
    if let Some(e) = parse_gnu(body, escaped, n, opts)? {
        out.push(e);
        return Ok(());
    }
    if escaped {
        return Err(malformed(n, diagnose(body)));
    }
    parse_fields(line, n, opts, out)
}

/// The whitespace-separated formats: Buildroot, SRI, bare hex.
fn parse_fields(
    line: &[u8],
    n: usize,
    opts: ParseOptions,
    out: &mut Vec<Entry>,
) -> anyhow::Result<()> {
    let fields: Vec<&[u8]> = line
        .split(u8::is_ascii_whitespace)
        .filter(|f| !f.is_empty())
        .collect();
    let entry = |algo, digest, name: Option<&[u8]>, format| -> anyhow::Result<Entry> {
        Ok(Entry {
            algo,
            digest,
            name: name.map(|nm| checked_name(nm.to_vec(), n)).transpose()?,
            format,
            line: n,
        })
    };
    match fields.as_slice() {
        [alg, hexd, name] if is_hex(hexd) && !is_hex(alg) => {
            let algo = algo_named(alg, n)?;
            out.push(entry(
                algo,
                decode_hex(hexd, algo, n)?,
                Some(name),
                Format::Buildroot,
            )?);
        }
        [hexd] if is_hex(hexd) => {
            let algo = algo_for_len(hexd.len() / 2, opts, n)?;
            out.push(entry(algo, decode_hex(hexd, algo, n)?, None, Format::Bare)?);
        }
        [first, ..] if sri_split(first).is_some() => {
            // Every token but a last non-SRI one is a digest; that one names the file.
            let (digests, name) = match fields.split_last() {
                Some((last, rest)) if sri_split(last).is_none() => (rest, Some(*last)),
                _ => (fields.as_slice(), None),
            };
            for token in digests {
                let (algo, digest) = parse_sri(token, n)?;
                out.push(entry(algo, digest, name, Format::Sri)?);
            }
        }
        _ => return Err(malformed(n, diagnose(line))),
    }
    Ok(())
}

fn is_hex(s: &[u8]) -> bool {
    !s.is_empty() && s.len().is_multiple_of(2) && s.iter().all(u8::is_ascii_hexdigit)
}

/// `sha256-BASE64` → (`sha256`, `BASE64`), for algorithm-looking prefixes.
fn sri_split(token: &[u8]) -> Option<(&[u8], &[u8])> {
    let dash = token.iter().position(|&b| b == b'-')?;
    let (alg, rest) = token.split_at(dash);
    let b64 = rest.get(1..).unwrap_or_default();
    let alg_l = alg.to_ascii_lowercase();
    let looks_like_alg =
        alg_l.starts_with(b"sha") || alg_l.starts_with(b"blake") || alg_l == b"md5";
    (looks_like_alg && !b64.is_empty()).then_some((alg, b64))
}

/// One SRI token; `?options` after the digest (SRI §3.1) are ignored.
fn parse_sri(token: &[u8], n: usize) -> anyhow::Result<(Algo, Vec<u8>)> {
    let (alg, b64) = sri_split(token).ok_or_else(|| malformed(n, ParseErrorKind::BadSri))?;
    let b64 = b64.split(|&b| b == b'?').next().unwrap_or_default();
    let algo = algo_named(alg, n)?;
    Ok((algo, decode_b64(b64, algo, n)?))
}

fn algo_named(name: &[u8], n: usize) -> anyhow::Result<Algo> {
    std::str::from_utf8(name)
        .ok()
        .and_then(Algo::from_name)
        .ok_or_else(|| {
            malformed(
                n,
                ParseErrorKind::UnknownAlgorithm(String::from_utf8_lossy(name).into_owned()),
            )
        })
}

fn algo_for_len(len: usize, opts: ParseOptions, n: usize) -> anyhow::Result<Algo> {
    match Algo::from_digest_len(len) {
        Some(Algo::Sha512) => Ok(opts.untagged_512.unwrap_or(Algo::Sha512)),
        Some(a) => Ok(a),
        None => Err(malformed(n, ParseErrorKind::UnknownDigestLength(2 * len))),
    }
}

fn decode_hex(s: &[u8], algo: Algo, n: usize) -> anyhow::Result<Vec<u8>> {
    let d = hex::decode(s).map_err(|_| malformed(n, not_hex(s, 1)))?;
    check_len(d, algo, n)
}

/// What is wrong with a would-be hex digest `s` starting at `column`
/// (1-based) of its line: the first byte that is not a hex digit, else its
/// length.
fn not_hex(s: &[u8], column: usize) -> ParseErrorKind {
    match s.iter().position(|b| !b.is_ascii_hexdigit()) {
        Some(i) => ParseErrorKind::NotHex {
            found: s.get(i).map_or('?', |&b| char::from(b)),
            column: column + i,
        },
        None => ParseErrorKind::UnknownDigestLength(s.len()),
    }
}

/// Why a line of no known format is not one, when it looks like it meant
/// to be: a first token (or a Buildroot line's second) that is a digest
/// but for a byte that is not hex, or for its length. Else, unknown.
fn diagnose(line: &[u8]) -> ParseErrorKind {
    let mut tokens = Vec::new();
    let mut at = 0;
    for field in line.split(|b| matches!(b, b' ' | b'\t')) {
        if !field.is_empty() {
            tokens.push((at + 1, field));
        }
        at += field.len() + 1;
    }
    let candidate = match tokens.as_slice() {
        [(_, alg), (col, d), _] if Algo::from_name(&String::from_utf8_lossy(alg)).is_some() => {
            Some((*col, *d))
        }
        [(col, d), ..] => Some((*col, *d)),
        [] => None,
    };
    match candidate {
        // Mostly hex, and long enough to be a digest: the user meant one.
        Some((col, d))
            if d.len() >= 16 && d.iter().filter(|b| !b.is_ascii_hexdigit()).count() <= 2 =>
        {
            not_hex(d, col)
        }
        _ => ParseErrorKind::UnknownFormat,
    }
}

fn decode_b64(s: &[u8], algo: Algo, n: usize) -> anyhow::Result<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    let d = STANDARD
        .decode(s)
        .or_else(|_| STANDARD_NO_PAD.decode(s))
        .map_err(|_| malformed(n, ParseErrorKind::BadBase64))?;
    check_len(d, algo, n)
}

fn check_len(d: Vec<u8>, algo: Algo, n: usize) -> anyhow::Result<Vec<u8>> {
    if d.len() != algo.digest_len() {
        return Err(malformed(
            n,
            ParseErrorKind::WrongLength { algo, got: d.len() },
        ));
    }
    Ok(d)
}

/// A name must be non-empty and free of NUL (no path can hold one).
fn checked_name(name: Vec<u8>, n: usize) -> anyhow::Result<Vec<u8>> {
    if name.is_empty() {
        return Err(malformed(n, ParseErrorKind::MissingName));
    }
    if name.contains(&0) {
        return Err(malformed(n, ParseErrorKind::NulInName));
    }
    Ok(name)
}

/// `ALG (NAME) = HEX`. The name may itself contain `) = `: the digest
/// follows the last one, as in coreutils.
fn parse_bsd(body: &[u8], escaped: bool, n: usize) -> anyhow::Result<Option<Entry>> {
    let Some(open) = body.windows(2).position(|w| w == b" (") else {
        return Ok(None);
    };
    let (alg, rest) = body.split_at(open);
    if alg.is_empty() || !alg.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-') {
        return Ok(None);
    }
    let rest = rest.get(2..).unwrap_or_default();
    let Some(close) = rest.windows(4).rposition(|w| w == b") = ") else {
        return Ok(None);
    };
    let (name, value) = rest.split_at(close);
    let value = value.get(4..).unwrap_or_default();
    let value = value.trim_ascii_end();
    let algo = algo_named(alg, n)?;
    let digest = if is_hex(value) && value.len() == 2 * algo.digest_len() {
        decode_hex(value, algo, n)?
    } else {
        decode_b64(value, algo, n)?
    };
    let name = if escaped {
        unescape(name, n)?
    } else {
        name.to_vec()
    };
    Ok(Some(Entry {
        algo,
        digest,
        name: Some(checked_name(name, n)?),
        format: Format::Bsd,
        line: n,
    }))
}

/// `HEX  NAME`, `HEX *NAME` or `HEX NAME`: the digest, one space, then a
/// space or `*` flag or the name. Every byte after that is the name,
/// trailing blanks included (coreutils).
fn parse_gnu(
    body: &[u8],
    escaped: bool,
    n: usize,
    opts: ParseOptions,
) -> anyhow::Result<Option<Entry>> {
    let Some(sp) = body.iter().position(|&b| b == b' ') else {
        return Ok(None);
    };
    let (hexd, after) = body.split_at(sp);
    if !is_hex(hexd) {
        return Ok(None);
    }
    // After the space, a space (text) or `*` (binary) flag, else the name
    // itself: `HEX NAME` with one space, as `md5 -r`/`sha256 -r` write it,
    // read as coreutils reads it (a name cannot start with a blank or `*`
    // in that form, in either tool).
    let (name, format) = match after.get(1) {
        Some(b' ' | b'*') => (after.get(2..).unwrap_or_default(), Format::Gnu),
        Some(_) => (after.get(1..).unwrap_or_default(), Format::GnuOneSpace),
        None => return Ok(None),
    };
    let algo = algo_for_len(hexd.len() / 2, opts, n)?;
    let name = if escaped {
        unescape(name, n)?
    } else {
        name.to_vec()
    };
    Ok(Some(Entry {
        digest: decode_hex(hexd, algo, n)?,
        algo,
        name: Some(checked_name(name, n)?),
        format,
        line: n,
    }))
}

/// Undo coreutils' name escaping: `\\`, `\n`, `\r`.
fn unescape(name: &[u8], n: usize) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(name.len());
    let mut it = name.iter();
    while let Some(&b) = it.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match it.next() {
            Some(b'\\') => out.push(b'\\'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            _ => return Err(malformed(n, ParseErrorKind::BadEscape)),
        }
    }
    Ok(out)
}

/// Does writing this name in a list need coreutils' escaping?
pub fn needs_escape(name: &[u8]) -> bool {
    name.iter().any(|b| matches!(b, b'\\' | b'\n' | b'\r'))
}

/// coreutils' name escaping (`\\`, `\n`, `\r`); the caller adds the
/// leading backslash that marks the line.
pub fn escape(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for &b in name {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
    out
}

/// A name as a one-line report shows it: as is, or with a leading `\` and
/// escaped when it holds a line break (coreutils' `-c` output does this for
/// `\n`; we also do it for `\r`, which would rewrite the terminal line).
pub fn display_name(name: &[u8]) -> Vec<u8> {
    if name.iter().any(|b| matches!(b, b'\n' | b'\r')) {
        let mut v = vec![b'\\'];
        v.extend(escape(name));
        v
    } else {
        name.to_vec()
    }
}

/// One line of a generated list, as `sha256sum [--tag] [-z]` writes it.
pub fn format_line(algo: Algo, digest: &[u8], name: &[u8], tag: bool, zero: bool) -> Vec<u8> {
    let esc = !zero && needs_escape(name);
    let shown = if esc { escape(name) } else { name.to_vec() };
    let mut out = Vec::with_capacity(shown.len() + 2 * digest.len() + 16);
    if esc {
        out.push(b'\\');
    }
    if tag {
        out.extend_from_slice(algo.bsd_tag().as_bytes());
        out.extend_from_slice(b" (");
        out.extend_from_slice(&shown);
        out.extend_from_slice(b") = ");
        out.extend_from_slice(hex::encode(digest).as_bytes());
    } else {
        out.extend_from_slice(hex::encode(digest).as_bytes());
        out.extend_from_slice(b"  ");
        out.extend_from_slice(&shown);
    }
    out.push(if zero { b'\0' } else { b'\n' });
    out
}

/// Write `e` in its own format, newline-terminated. Fails (exit 2) when the
/// format cannot carry the entry: a name with blanks in a Buildroot or SRI
/// line, a name in a bare one.
pub fn format_entry(e: &Entry) -> anyhow::Result<Vec<u8>> {
    let name = e.name.as_deref();
    let blank_free = |nm: &[u8]| !nm.iter().any(u8::is_ascii_whitespace);
    Ok(match (e.format, name) {
        (Format::Gnu | Format::GnuOneSpace, Some(nm)) => {
            format_line(e.algo, &e.digest, nm, false, false)
        }
        (Format::Bsd, Some(nm)) => format_line(e.algo, &e.digest, nm, true, false),
        (Format::Buildroot, Some(nm)) if blank_free(nm) => {
            let mut v = format!("{}  {}  ", e.algo.name(), hex::encode(&e.digest)).into_bytes();
            v.extend_from_slice(nm);
            v.push(b'\n');
            v
        }
        (Format::Sri, nm) if nm.is_none_or(blank_free) => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&e.digest);
            let alg = match e.algo {
                Algo::Blake2b512 => "blake2b512",
                a => a.name(),
            };
            let mut v = format!("{alg}-{b64}").into_bytes();
            if let Some(nm) = nm {
                v.push(b' ');
                v.extend_from_slice(nm);
            }
            v.push(b'\n');
            v
        }
        (Format::Bare, None) => format!("{}\n", hex::encode(&e.digest)).into_bytes(),
        (f, _) => {
            return Err(fail(
                Code::Usage,
                format!("line {}: entry cannot be written in {f:?} format", e.line),
            ))
        }
    })
}

/// The digests `list` pins for the file called `name`: entries whose name
/// is `name` or has the same last path component, or the whole list when
/// it is nameless (a bare digest, SRI). No entry is exit 3; a malformed
/// list exit 2.
pub fn expected_for(list: &[u8], name: &[u8]) -> anyhow::Result<Vec<(Algo, Vec<u8>)>> {
    expected_for_with(list, name, ParseOptions::default())
}

/// [`expected_for`] with explicit parse options (BLAKE2b lists, `-z`).
pub fn expected_for_with(
    list: &[u8],
    name: &[u8],
    opts: ParseOptions,
) -> anyhow::Result<Vec<(Algo, Vec<u8>)>> {
    let entries = parse_list(list, opts)?;
    let base = |n: &[u8]| -> Vec<u8> { n.rsplit(|&b| b == b'/').next().unwrap_or(n).to_vec() };
    let found: Vec<(Algo, Vec<u8>)> = entries
        .into_iter()
        .filter(|e| match &e.name {
            None => true,
            Some(n) => n.as_slice() == name || base(n) == base(name),
        })
        .map(|e| (e.algo, e.digest))
        .collect();
    if found.is_empty() {
        return Err(fail(
            Code::Missing,
            format!(
                "no hash entry for {}",
                String::from_utf8_lossy(&display_name(name))
            ),
        ));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn one(line: &str) -> Entry {
        let mut v = parse_line(line.as_bytes(), 1, ParseOptions::default()).unwrap();
        assert_eq!(v.len(), 1, "{line}");
        v.remove(0)
    }

    #[test]
    fn a_malformed_list_is_a_typed_usage_error() {
        use crate::exit::{code_of, typed_ref};
        let e = parse_list(b"not a list\n", ParseOptions::default()).unwrap_err();
        let p = typed_ref::<ParseError>(&e).unwrap();
        assert_eq!((p.line, &p.kind), (1, &ParseErrorKind::UnknownFormat));
        assert_eq!(code_of(&e), Code::Usage);
        assert_eq!(
            format!("{e}"),
            "line 1: not a checksum line in any known format"
        );
    }

    #[test]
    fn every_format() {
        let g = one(&format!("{H256}  a b.txt"));
        assert_eq!(
            (g.format, g.algo, g.name.as_deref()),
            (Format::Gnu, Algo::Sha256, Some(&b"a b.txt"[..]))
        );
        assert_eq!(one(&format!("{H256} *bin")).name.unwrap(), b"bin");
        assert_eq!(one(&format!("{H256}  trail ")).name.unwrap(), b"trail ");
        assert_eq!(one(&format!("  {H256}  lead")).name.unwrap(), b"lead");
        let b = one(&format!("SHA256 (x (1).tar) = {H256}"));
        assert_eq!(
            (b.format, b.name.unwrap()),
            (Format::Bsd, b"x (1).tar".to_vec())
        );
        let br = one(&format!("sha256  {H256}  foo-1.0.tar.gz"));
        assert_eq!(br.format, Format::Buildroot);
        let sri = one("sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
        assert_eq!((sri.format, sri.name), (Format::Sri, None));
        assert_eq!(hex::encode(&sri.digest), H256);
        assert_eq!(one(H256).format, Format::Bare);
        assert_eq!(one(&format!("{H256}  crlf\r")).name.unwrap(), b"crlf");
        let e = one(&format!("\\{H256}  a\\\\b\\nc"));
        assert_eq!(e.name.unwrap(), b"a\\b\nc");
        let b64 = one("SHA256 (x) = ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
        assert_eq!(hex::encode(&b64.digest), H256);
    }

    #[test]
    fn sri_with_several_digests_and_options() {
        let v = parse_line(
            b"sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=?x sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0 f",
            1,
            ParseOptions::default(),
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert!(v.iter().all(|e| e.name.as_deref() == Some(&b"f"[..])));
    }

    #[test]
    fn strictness() {
        let o = ParseOptions::default();
        for bad in [
            "garbage",
            "md4 (x) = 00",
            &format!("{H256}x  name"),
            &format!("{H256}  "),
            &format!("{H256}  a\0b"),
            &format!("\\{H256}  bad\\escape"),
            "SHA256 (x) = zz",
            "0123  x",
            "crc32  00000000  x",
            "sha256-notbase64! x",
        ] {
            assert!(parse_line(bad.as_bytes(), 1, o).is_err(), "{bad:?}");
        }
        assert!(parse_line(b"  # comment", 1, o).unwrap().is_empty());
        let two = format!("{H256}\n{H256}  x\n");
        assert!(parse_list(two.as_bytes(), o).is_err());
        let err = parse_list(format!("{H256}  x\nnope\n").as_bytes(), o).unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 2: not a checksum line in any known format"
        );
        assert_eq!(crate::exit::code_of(&err), Code::Usage);
    }

    /// [`parse_reader`] through a reader of `cap` bytes at a time, as
    /// [`parse_list`] gives it (entries, or the error's text).
    fn streamed(data: &[u8], o: ParseOptions, cap: usize, max: u64) -> Result<Vec<Entry>, String> {
        let r = std::io::BufReader::with_capacity(cap, data);
        let mut out = Vec::new();
        let n = parse_reader(r, o, max, "list", |e| {
            out.push(e);
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        assert_eq!(n, out.len());
        Ok(out)
    }

    const LINES: [&str; 10] = [
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  a b",
        "SHA256 (x) = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "\\ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  n\\nl",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0= f",
        "# comment",
        "",
        "  \r",
        "nope",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  crlf\r",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Streaming changes nothing: every list, cut into reads anywhere,
        /// gives parse_list's entries or its error.
        #[test]
        fn reader_is_parse_list(
            picks in proptest::collection::vec(0..LINES.len(), 0..12),
            zero: bool,
            last_sep: bool,
            cap in 1usize..40,
        ) {
            let sep = if zero { "\0" } else { "\n" };
            let mut data = picks.iter().map(|&i| LINES[i]).collect::<Vec<_>>().join(sep);
            if last_sep {
                data.push_str(sep);
            }
            let o = ParseOptions { zero_terminated: zero, ..ParseOptions::default() };
            let whole = parse_list(data.as_bytes(), o).map_err(|e| e.to_string());
            proptest::prop_assert_eq!(streamed(data.as_bytes(), o, cap, u64::MAX), whole);
        }
    }

    #[test]
    fn reader_bounds() {
        let o = ParseOptions::default();
        let list = format!("{H256}  a\n{H256}  b\n");
        let len = list.len() as u64;
        assert_eq!(streamed(list.as_bytes(), o, 7, len).unwrap().len(), 2);
        let err = streamed(list.as_bytes(), o, 7, len - 1).unwrap_err();
        assert_eq!(err, format!("list: larger than {} bytes", len - 1));
        // A line longer than any may be is refused as parse_list refuses it.
        let long = format!("{H256}  {}\n", "x".repeat(MAX_LINE));
        let whole = parse_list(long.as_bytes(), o).unwrap_err().to_string();
        assert_eq!(streamed(long.as_bytes(), o, 4096, u64::MAX), Err(whole));
        // Nameless among named: refused at the end, naming the first.
        let mixed = format!("{H256}  a\n{H256}\n");
        let whole = parse_list(mixed.as_bytes(), o).unwrap_err().to_string();
        assert_eq!(streamed(mixed.as_bytes(), o, 3, u64::MAX), Err(whole));
    }

    #[test]
    fn every_format_round_trips() {
        let d = hex::decode(H256).unwrap();
        let names: [&[u8]; 6] = [b"plain", b"sp ace", b"a\\b", b"n\nl", b"c\rr", b" lead"];
        for name in names {
            for format in [Format::Gnu, Format::Bsd, Format::Buildroot, Format::Sri] {
                let e = Entry {
                    algo: Algo::Sha256,
                    digest: d.clone(),
                    name: Some(name.to_vec()),
                    format,
                    line: 1,
                };
                let Ok(line) = format_entry(&e) else {
                    assert!(matches!(format, Format::Buildroot | Format::Sri));
                    assert!(name.iter().any(u8::is_ascii_whitespace));
                    continue;
                };
                assert_eq!(parse_list(&line, ParseOptions::default()).unwrap(), [e]);
            }
        }
        for algo in [Algo::Sha384, Algo::Sha512, Algo::Blake2b512] {
            let e = Entry {
                algo,
                digest: vec![7; algo.digest_len()],
                name: None,
                format: Format::Sri,
                line: 1,
            };
            let line = format_entry(&e).unwrap();
            assert_eq!(parse_list(&line, ParseOptions::default()).unwrap(), [e]);
        }
        let bare = Entry {
            algo: Algo::Sha256,
            digest: d.clone(),
            name: None,
            format: Format::Bare,
            line: 1,
        };
        let line = format_entry(&bare).unwrap();
        assert_eq!(parse_list(&line, ParseOptions::default()).unwrap(), [bare]);
        let z = format_line(Algo::Sha256, &d, b"n\nl", false, true);
        let opts = ParseOptions {
            zero_terminated: true,
            untagged_512: None,
        };
        assert_eq!(
            parse_list(&z, opts).unwrap()[0].name.as_deref(),
            Some(&b"n\nl"[..])
        );
    }

    #[test]
    fn expected_for_finds_by_name_or_bare() {
        let list = format!("{H256}  dir/foo.tar\n");
        assert_eq!(expected_for(list.as_bytes(), b"foo.tar").unwrap().len(), 1);
        let err = expected_for(list.as_bytes(), b"bar").unwrap_err();
        assert_eq!(crate::exit::code_of(&err), Code::Missing);
        assert_eq!(expected_for(H256.as_bytes(), b"anything").unwrap().len(), 1);
        let err = expected_for(b"junk\n", b"x").unwrap_err();
        assert_eq!(crate::exit::code_of(&err), Code::Usage);
        let b2 = "ab".repeat(64);
        let opts = ParseOptions {
            zero_terminated: false,
            untagged_512: Some(Algo::Blake2b512),
        };
        assert_eq!(
            expected_for_with(b2.as_bytes(), b"x", opts).unwrap()[0].0,
            Algo::Blake2b512
        );
    }
}
