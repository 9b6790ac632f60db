//! Lists read into [`Targets`]: a plain hash list parsed as it is read;
//! a signed or Debian list read whole, its signature checked first
//! ([`crate::lists::signed`]).

use super::targets::{listed_path, Targets};
use super::Options;
use crate::exit::{fail, Code, ResultExt};
use crate::lists::hashlist::{self, Entry};
use crate::lists::signed::{self, cleartext_text, Detached};
use crate::lists::{debian, list_options, MAX_LIST};
use crate::openpgp::verify::is_cleartext_signed;
use crate::openpgp::Verifier;
use std::path::Path;

impl Targets {
    /// Read, parse and add one list (`-` is standard input). A list with
    /// no entry is exit 3: it verifies nothing.
    pub fn add_list(&mut self, list: &Path, opts: &Options) -> anyhow::Result<()> {
        self.add_list_verified(list, opts, None).map(|_| ())
    }

    /// [`Targets::add_list`], Debian lists included, with the list's
    /// signature verified first when `verifier` is given: a
    /// cleartext-signed list (InRelease, .dsc, .changes, sha256sums.asc),
    /// or a detached `LIST.gpg` / `LIST.asc` / `LIST.sig` beside it; a list
    /// without one is exit 3. Returns notes for stderr (signers, ignored
    /// signatures, a signature left unchecked without keys).
    pub fn add_list_verified(
        &mut self,
        list: &Path,
        opts: &Options,
        verifier: Option<&Verifier>,
    ) -> anyhow::Result<Vec<String>> {
        self.add_list_signed_by(list, None, opts, verifier)
    }

    /// [`Targets::add_list_verified`] with the list's detached signature
    /// named (`--signature SHA256SUMS.gpg`) instead of looked for beside it.
    ///
    /// A plain hash list without keys is parsed as it is read, never held
    /// whole; a signed or Debian list is read whole (its signature covers
    /// the bytes, a Debian list is parsed by paragraphs), at most
    /// [`MAX_LIST`] bytes.
    pub fn add_list_signed_by(
        &mut self,
        list: &Path,
        signature: Option<&Path>,
        opts: &Options,
        verifier: Option<&Verifier>,
    ) -> anyhow::Result<Vec<String>> {
        let shown = list.display().to_string();
        let mut input = open_list(list)?;
        let head = read_head(&mut input, &shown)?;
        let sep = if opts.parse.zero_terminated {
            b'\0'
        } else {
            b'\n'
        };
        if verifier.is_none() && streamable(&head.bytes, head.eof, sep) {
            let reader = std::io::BufReader::with_capacity(
                1 << 20,
                std::io::Read::chain(&head.bytes[..], input),
            );
            let what = format!("list {shown}");
            let file = (list != Path::new("-")).then_some(list);
            let mut add = |e: Entry| self.add_entry(e, file, opts);
            let n = hashlist::parse_reader(
                reader,
                list_options(list, opts.parse),
                MAX_LIST,
                &what,
                &mut add,
            )
            .with_code(Code::Usage, || shown.clone())?;
            return no_entry(n, list).map(|()| Vec::new());
        }
        let mut raw = head.bytes;
        let rest = MAX_LIST.saturating_sub(raw.len() as u64);
        raw.extend(crate::fsutil::read_bounded(
            input,
            rest,
            &format!("list {shown}"),
            Code::Usage,
        )?);
        let (data, notes) =
            signed_text(raw, list, signature, verifier).map_err(|e| e.context(shown.clone()))?;
        if debian::looks_like_deb822(&data) {
            self.add_debian(&data, &shown, opts)?;
            return Ok(notes);
        }
        self.add_parsed(&data, list, opts)?;
        Ok(notes)
    }

    /// The files a Debian list pins, with their sizes.
    fn add_debian(&mut self, data: &[u8], shown: &str, opts: &Options) -> anyhow::Result<()> {
        let pins = debian::list_entries(data).with_code(Code::Usage, || shown.to_string())?;
        if pins.is_empty() {
            return Err(fail(
                Code::Missing,
                format!("{shown}: lists no file: nothing to verify"),
            ));
        }
        for pin in pins {
            let path = listed_path(&pin.path, opts, shown)?;
            self.add_size(pin.path.clone(), path.clone(), pin.size)?;
            for (algo, digest) in pin.digests {
                self.add_ref(&pin.path, &path, algo, &digest)?;
            }
        }
        Ok(())
    }

    fn add_parsed(&mut self, data: &[u8], list: &Path, opts: &Options) -> anyhow::Result<()> {
        let file = (list != Path::new("-")).then_some(list);
        let n = hashlist::parse_each(data, list_options(list, opts.parse), |e| {
            self.add_entry(e, file, opts)
        })
        .with_code(Code::Usage, || format!("{}", list.display()))?;
        no_entry(n, list)
    }
}

/// A list with no entry verifies nothing: exit 3.
fn no_entry(n: usize, list: &Path) -> anyhow::Result<()> {
    if n == 0 {
        return Err(fail(
            Code::Missing,
            format!("{}: no checksum line: nothing to verify", list.display()),
        ));
    }
    Ok(())
}

/// How much of a list is read before deciding how to read the rest.
const HEAD: usize = 1 << 20;

/// The first bytes of a list, and whether they are all of it.
struct Head {
    bytes: Vec<u8>,
    eof: bool,
}

/// A list opened for reading: a file, or standard input for `-`.
fn open_list(list: &Path) -> anyhow::Result<Box<dyn std::io::Read>> {
    if list == Path::new("-") {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    Ok(Box::new(crate::fsutil::input::open_regular(list, "list")?))
}

fn read_head(input: &mut impl std::io::Read, shown: &str) -> anyhow::Result<Head> {
    use std::io::Read;
    let mut bytes = Vec::new();
    input
        .take(HEAD as u64)
        .read_to_end(&mut bytes)
        .with_code(Code::Io, || format!("reading list {shown}"))?;
    let eof = bytes.len() < HEAD;
    Ok(Head { bytes, eof })
}

/// Can a list starting with `head` be parsed as it is read? Only a plain
/// hash list: not cleartext-signed, not a Debian list, which the first
/// meaningful line tells (so it must be in `head`, whole).
fn streamable(head: &[u8], eof: bool, sep: u8) -> bool {
    if is_cleartext_signed(head) || debian::looks_like_deb822(head) {
        return false;
    }
    for line in head.split_inclusive(|&b| b == sep || b == b'\n') {
        let l = line.trim_ascii_end();
        if !l.is_empty() && !l.starts_with(b"#") {
            // Whole when it ends here, or the head is all there is.
            return line.ends_with(&[sep]) || line.ends_with(b"\n") || eof;
        }
    }
    // Nothing but blanks and comments in the head: let the whole read decide.
    eof
}

/// The text of a list whose signature has been checked (with keys), or
/// whose cleartext signature is stripped with a note (without keys).
fn signed_text(
    raw: Vec<u8>,
    list: &Path,
    signature: Option<&Path>,
    verifier: Option<&Verifier>,
) -> anyhow::Result<(Vec<u8>, Vec<String>)> {
    let Some(v) = verifier else {
        if is_cleartext_signed(&raw) {
            let text = cleartext_text(&raw)
                .ok_or_else(|| fail(Code::Usage, "malformed cleartext-signed message"))?;
            return Ok((
                text,
                vec!["signature not checked (no --keyring given)".to_string()],
            ));
        }
        return Ok((raw, Vec::new()));
    };
    let detached = match signature {
        Some(sig) => Detached::Named(sig),
        None => Detached::Beside(&["gpg", "asc", "sig"]),
    };
    let from = (list != Path::new("-")).then_some(list);
    let s = signed::verify(raw, from, detached, v, MAX_LIST)?;
    let mut notes: Vec<String> = s
        .verdict
        .signers
        .iter()
        .map(|f| format!("signed by {f}"))
        .collect();
    notes.extend(s.verdict.notes);
    Ok((s.text, notes))
}
