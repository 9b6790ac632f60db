//! The one reader of a signed list, for every tool: a cleartext-signed
//! list (InRelease, .dsc, .changes, an upstream's `sha256sums.asc`) by its
//! own signature, or a list with a detached signature (named, or
//! `LIST.gpg` / `LIST.asc` / `LIST.sig` beside it). Nothing of the text is
//! handed out before its signature passed; what the text lists is read by
//! the list's own module ([`super::hashlist`], [`super::debian`]).

use crate::exit::{fail, Code};
use crate::openpgp::verify::is_cleartext_signed;
use crate::openpgp::{Verdict, Verifier, MAX_SIGNATURE};
use std::path::{Path, PathBuf};

/// Where the detached signature of a list is.
#[derive(Clone, Copy, Debug)]
pub enum Detached<'a> {
    /// Nowhere: only a cleartext-signed list can be verified.
    Nowhere,
    /// A file the user named, checked over the list's bytes as they are,
    /// even when the list is cleartext-signed (`check-hashes --signature`).
    Named(&'a Path),
    /// A file the user named for a list that may carry its own signature:
    /// used only when the list is not cleartext-signed (`verify-package
    /// --release-sig`: an InRelease is signed inside).
    Fallback(&'a Path),
    /// `LIST.EXT` beside the list, the first of these extensions that
    /// exists, when the list is not cleartext-signed.
    Beside(&'a [&'a str]),
}

/// A list whose signature passed.
#[derive(Clone, Debug)]
pub struct Signed {
    pub verdict: Verdict,
    /// What the signature covers, as text: a cleartext-signed message's
    /// text (dash-escaping undone), else the list's bytes as they are.
    pub text: Vec<u8>,
}

/// Verify the list `raw`, read from `list` (None: standard input or the
/// network, nothing beside it), with `verifier`; a cleartext-signed text
/// is at most `max` bytes. A list without a signature to check is exit 3;
/// a signature that does not verify, exit 1.
pub fn verify(
    raw: Vec<u8>,
    list: Option<&Path>,
    detached: Detached,
    verifier: &Verifier,
    max: u64,
) -> anyhow::Result<Signed> {
    let cleartext = is_cleartext_signed(&raw);
    let sig = match detached {
        Detached::Named(sig) => sig.to_path_buf(),
        _ if cleartext => {
            let (verdict, text) = verifier.verify_cleartext(&raw, max)?;
            return Ok(Signed { verdict, text });
        }
        Detached::Fallback(sig) => sig.to_path_buf(),
        Detached::Beside(exts) => match list {
            Some(list) => beside(list, exts)?,
            None => return Err(fail(Code::Missing, not_signed(list))),
        },
        Detached::Nowhere => return Err(fail(Code::Missing, not_signed(list))),
    };
    let sig_bytes = crate::fsutil::read_regular(&sig, "signature", MAX_SIGNATURE, Code::Failed)?;
    // The bytes verified are the bytes parsed: the list is not read again.
    let verdict = verifier
        .verify_detached_bytes(&sig_bytes, &raw)
        .map_err(|e| e.context(format!("signature {}", sig.display())))?;
    let text = if cleartext {
        cleartext_text(&raw)
            .ok_or_else(|| fail(Code::Usage, "malformed cleartext-signed message"))?
    } else {
        raw
    };
    Ok(Signed { verdict, text })
}

fn not_signed(list: Option<&Path>) -> String {
    match list {
        Some(l) => format!(
            "{}: not cleartext-signed: nothing to verify it with",
            l.display()
        ),
        None => "standard input is not cleartext-signed: nothing to verify it with".to_string(),
    }
}

/// The first `LIST.EXT` that exists (a special file there is refused when
/// read, never passed over), or exit 3 naming them all.
fn beside(list: &Path, exts: &[&str]) -> anyhow::Result<PathBuf> {
    let names: Vec<PathBuf> = exts
        .iter()
        .map(|ext| {
            let mut p = list.as_os_str().to_owned();
            p.push(format!(".{ext}"));
            PathBuf::from(p)
        })
        .collect();
    if let Some(found) = names.iter().find(|p| p.exists()) {
        return Ok(found.clone());
    }
    let shown: Vec<String> = names.iter().map(|p| p.display().to_string()).collect();
    let listed = match shown.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    Err(fail(
        Code::Missing,
        format!("not cleartext-signed, and no detached signature {listed} beside it"),
    ))
}

/// The text of a cleartext-signed message (RFC 9580 §7) *without*
/// checking its signature: for a list whose bytes something verified
/// already pins by hash (a .dsc an index lists), or one read without keys
/// (and said so). Dash-escaping is undone. None when `msg` is not such a
/// message.
pub fn cleartext_text(msg: &[u8]) -> Option<Vec<u8>> {
    let mut lines = msg
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    // Leading blank lines, then the header line.
    let first = lines.by_ref().find(|l| !l.trim_ascii().is_empty())?;
    if first.trim_ascii_end() != b"-----BEGIN PGP SIGNED MESSAGE-----" {
        return None;
    }
    // Armor headers (Hash: ...) up to the first empty line.
    for l in lines.by_ref() {
        if l.trim_ascii().is_empty() {
            break;
        }
    }
    let mut out = Vec::new();
    for l in lines {
        if l.trim_ascii_end() == b"-----BEGIN PGP SIGNATURE-----" {
            return Some(out);
        }
        let l = l.strip_prefix(b"- ").unwrap_or(l);
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleartext_text_undoes_dash_escapes() {
        let msg = b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nFormat: 3.0\n- -----x\n-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n";
        assert_eq!(cleartext_text(msg).unwrap(), b"Format: 3.0\n-----x\n");
        assert_eq!(cleartext_text(b"Format: 3.0\n"), None);
        assert_eq!(
            cleartext_text(b"-----BEGIN PGP SIGNED MESSAGE-----\n\nno end\n"),
            None
        );
    }

    #[test]
    fn the_signatures_looked_for_beside_a_list_are_named() {
        let d = tempfile::tempdir().unwrap();
        let list = d.path().join("SUMS");
        let e = beside(&list, &["gpg", "asc", "sig"]).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Missing);
        let l = list.display();
        assert_eq!(
            e.to_string(),
            format!("not cleartext-signed, and no detached signature {l}.gpg, {l}.asc or {l}.sig beside it")
        );
        std::fs::write(d.path().join("SUMS.asc"), b"x").unwrap();
        assert_eq!(
            beside(&list, &["gpg", "asc"]).unwrap(),
            d.path().join("SUMS.asc")
        );
    }
}
