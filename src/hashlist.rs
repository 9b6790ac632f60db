//! Hash lists: parse every common format (DESIGN.md §4), auto-detected per
//! line, and write the GNU and BSD formats byte for byte as coreutils does.
//!
//! Formats, per line (CRLF tolerated; blank lines and `#` comments skipped):
//! - GNU `HEX  NAME` / `HEX *NAME`; a leading `\` marks a name escaped with
//!   `\\`, `\n`, `\r` (coreutils);
//! - BSD / `--tag` / Fedora `sources`: `ALG (NAME) = HEX`, optional leading `\`;
//! - Buildroot `.hash`: `ALG  HEX  NAME`;
//! - SRI: `sha256-BASE64 [NAME]`;
//! - a bare hex digest alone (the `NAME.sha256` convention): no name.
//!
//! API for other tools: [`parse_list`] gives [`Entry`]s; [`expected_for`]
//! answers "which digests does this list pin for file N" (fetch-verified's
//! `--hash-file`).

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
    /// Algorithm of untagged 128-hex-digit GNU lines (SHA-512 or BLAKE2b).
    pub untagged_512: Option<Algo>,
}

/// A line that is not in any known format: exit 2, naming the line.
fn malformed(line: usize, why: &str) -> anyhow::Error {
    fail(Code::Usage, format!("line {line}: {why}"))
}

/// Parse a whole list. Errors (exit 2) name the first bad line.
pub fn parse_list(data: &[u8], opts: ParseOptions) -> anyhow::Result<Vec<Entry>> {
    let sep = if opts.zero_terminated { b'\0' } else { b'\n' };
    let mut out = Vec::new();
    for (i, raw) in data.split(|&b| b == sep).enumerate() {
        let n = i + 1;
        if raw.len() > MAX_LINE {
            return Err(malformed(n, "line too long"));
        }
        if let Some(e) = parse_line(raw, n, opts)? {
            out.push(e);
        }
    }
    if out.iter().any(|e| e.name.is_none()) && out.len() > 1 {
        return Err(malformed(
            out.iter().find(|e| e.name.is_none()).map_or(1, |e| e.line),
            "a digest without a file name is only valid alone",
        ));
    }
    Ok(out)
}

/// Parse one line; `Ok(None)` for blank lines and comments.
pub fn parse_line(raw: &[u8], n: usize, opts: ParseOptions) -> anyhow::Result<Option<Entry>> {
    let line = raw.strip_suffix(b"\r").unwrap_or(raw);
    if line.iter().all(u8::is_ascii_whitespace) || line.first() == Some(&b'#') {
        return Ok(None);
    }
    // A leading backslash marks escaped names in GNU and BSD lines.
    let (escaped, body) = match line.strip_prefix(b"\\") {
        Some(rest) if !opts.zero_terminated => (true, rest),
        _ => (false, line),
    };
    if let Some(e) = parse_bsd(body, escaped, n)? {
        return Ok(Some(e));
    }
    if let Some(e) = parse_gnu(body, escaped, n, opts)? {
        return Ok(Some(e));
    }
    if escaped {
        return Err(malformed(n, "not a checksum line"));
    }
    let text = std::str::from_utf8(line).map_err(|_| malformed(n, "not a checksum line"))?;
    let fields: Vec<&str> = text.split_ascii_whitespace().collect();
    match fields.as_slice() {
        [alg, hexd, name] if is_hex(hexd) => {
            let algo = algo_named(alg, n)?;
            Ok(Some(Entry {
                digest: decode_hex(hexd, algo, n)?,
                algo,
                name: Some(name.as_bytes().to_vec()),
                format: Format::Buildroot,
                line: n,
            }))
        }
        [token] | [token, _] if sri_split(token).is_some() => {
            let (alg, b64) = sri_split(token).unwrap_or_default();
            let algo = algo_named(alg, n)?;
            let digest = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| malformed(n, "bad base64 in SRI digest"))?;
            if digest.len() != algo.digest_len() {
                return Err(malformed(n, "SRI digest has the wrong length"));
            }
            Ok(Some(Entry {
                algo,
                digest,
                name: fields.get(1).map(|s| s.as_bytes().to_vec()),
                format: Format::Sri,
                line: n,
            }))
        }
        [hexd] if is_hex(hexd) => {
            let algo = algo_for_len(hexd.len() / 2, opts, n)?;
            Ok(Some(Entry {
                digest: decode_hex(hexd, algo, n)?,
                algo,
                name: None,
                format: Format::Bare,
                line: n,
            }))
        }
        _ => Err(malformed(n, "not a checksum line in any known format")),
    }
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `sha256-BASE64` → ("sha256", "BASE64"), for algorithm-looking prefixes.
fn sri_split(token: &str) -> Option<(&str, &str)> {
    let (alg, b64) = token.split_once('-')?;
    let looks_like_alg = alg.starts_with("sha") || alg.starts_with("blake") || alg == "md5";
    (looks_like_alg && !b64.is_empty()).then_some((alg, b64))
}

fn algo_named(name: &str, n: usize) -> anyhow::Result<Algo> {
    Algo::from_name(name).ok_or_else(|| malformed(n, &format!("unknown algorithm {name:?}")))
}

fn algo_for_len(len: usize, opts: ParseOptions, n: usize) -> anyhow::Result<Algo> {
    match Algo::from_digest_len(len) {
        Some(Algo::Sha512) => Ok(opts.untagged_512.unwrap_or(Algo::Sha512)),
        Some(a) => Ok(a),
        None => Err(malformed(
            n,
            &format!("no known algorithm has {len}-byte digests"),
        )),
    }
}

fn decode_hex(s: &str, algo: Algo, n: usize) -> anyhow::Result<Vec<u8>> {
    let d = hex::decode(s).map_err(|_| malformed(n, "bad hex digest"))?;
    if d.len() != algo.digest_len() {
        return Err(malformed(n, &format!("{algo} digest has the wrong length")));
    }
    Ok(d)
}

/// `ALG (NAME) = HEX`. The name may contain `) = `: the digest is after the
/// last one.
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
    let value = std::str::from_utf8(value.get(4..).unwrap_or_default())
        .map_err(|_| malformed(n, "bad digest"))?
        .trim_end();
    let alg = std::str::from_utf8(alg).map_err(|_| malformed(n, "bad algorithm"))?;
    let algo = algo_named(alg, n)?;
    let digest = if is_hex(value) {
        decode_hex(value, algo, n)?
    } else {
        // coreutils 9.2+ `--base64`.
        let d = base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|_| malformed(n, "bad digest"))?;
        if d.len() != algo.digest_len() {
            return Err(malformed(n, &format!("{algo} digest has the wrong length")));
        }
        d
    };
    Ok(Some(Entry {
        algo,
        digest,
        name: Some(if escaped {
            unescape(name, n)?
        } else {
            name.to_vec()
        }),
        format: Format::Bsd,
        line: n,
    }))
}

/// `HEX  NAME` or `HEX *NAME` (exactly one space, then space or `*`).
fn parse_gnu(
    body: &[u8],
    escaped: bool,
    n: usize,
    opts: ParseOptions,
) -> anyhow::Result<Option<Entry>> {
    let Some(sp) = body.iter().position(|&b| b == b' ') else {
        return Ok(None);
    };
    let (hexd, _) = body.split_at(sp);
    if hexd.is_empty() || !hexd.len().is_multiple_of(2) || !hexd.iter().all(u8::is_ascii_hexdigit) {
        return Ok(None);
    }
    let name = match body.get(sp + 1) {
        Some(b' ') | Some(b'*') => body.get(sp + 2..).unwrap_or_default(),
        _ => return Ok(None),
    };
    if name.is_empty() {
        return Err(malformed(n, "missing file name"));
    }
    let hexd = std::str::from_utf8(hexd).map_err(|_| malformed(n, "bad hex digest"))?;
    let algo = algo_for_len(hexd.len() / 2, opts, n)?;
    Ok(Some(Entry {
        digest: decode_hex(hexd, algo, n)?,
        algo,
        name: Some(if escaped {
            unescape(name, n)?
        } else {
            name.to_vec()
        }),
        format: Format::Gnu,
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
            _ => return Err(malformed(n, "bad escape in file name")),
        }
    }
    Ok(out)
}

/// Does writing this name need coreutils' escaping?
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

/// The digests `list` pins for the file called `name` (its file name, or
/// the whole list when it is a bare digest or a lone SRI). No entry is
/// exit 3; a malformed list exit 2.
pub fn expected_for(list: &[u8], name: &[u8]) -> anyhow::Result<Vec<(Algo, Vec<u8>)>> {
    let entries = parse_list(list, ParseOptions::default())?;
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
            format!("no hash entry for {}", String::from_utf8_lossy(name)),
        ));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn one(line: &str) -> Entry {
        parse_line(line.as_bytes(), 1, ParseOptions::default())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn every_format() {
        let g = one(&format!("{H256}  a b.txt"));
        assert_eq!(
            (g.format, g.algo, g.name.as_deref()),
            (Format::Gnu, Algo::Sha256, Some(&b"a b.txt"[..]))
        );
        assert_eq!(one(&format!("{H256} *bin")).name.unwrap(), b"bin");
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
    }

    #[test]
    fn strictness() {
        let o = ParseOptions::default();
        for bad in [
            "garbage",
            "md4 (x) = 00",
            &format!("{H256}x  name"),
            "SHA256 (x) = zz",
            "0123  x",
        ] {
            assert!(parse_line(bad.as_bytes(), 1, o).is_err(), "{bad}");
        }
        assert!(parse_line(b"# comment", 1, o).unwrap().is_none());
        let two = format!("{H256}\n{H256}  x\n");
        assert!(parse_list(two.as_bytes(), o).is_err());
    }

    #[test]
    fn generate_round_trips() {
        let d = hex::decode(H256).unwrap();
        for name in [&b"plain"[..], b"sp ace", b"a\\b", b"n\nl", b"c\rr"] {
            for tag in [false, true] {
                let line = format_line(Algo::Sha256, &d, name, tag, false);
                let e = parse_list(&line, ParseOptions::default()).unwrap();
                assert_eq!(e[0].name.as_deref(), Some(name));
                assert_eq!(e[0].digest, d);
            }
        }
    }

    #[test]
    fn expected_for_finds_by_name_or_bare() {
        let list = format!("{H256}  dir/foo.tar\n");
        assert_eq!(expected_for(list.as_bytes(), b"foo.tar").unwrap().len(), 1);
        let err = expected_for(list.as_bytes(), b"bar").unwrap_err();
        assert_eq!(crate::exit::code_of(&err), Code::Missing);
        assert_eq!(expected_for(H256.as_bytes(), b"anything").unwrap().len(), 1);
    }
}
