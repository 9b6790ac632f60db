//! Debian's lists as lists: Release/InRelease (`SHA256:` sections, `hash
//! size path`), Packages (`Filename`/`SHA256`/`Size`), Sources
//! (`Directory` + `Checksums-Sha256`), .dsc and .changes, read into
//! [`Pin`]s (a path, a size, its digests). A Release's `Date` and
//! `Valid-Until` are judged here, for every tool that reads one. The
//! archive chain that links them (verify-package) is
//! [`crate::package::debian`]; check-hashes reads them through
//! [`list_entries`], fetch-verified through [`pin_for_path`].

use super::deb822::{self, checksum_lines, Paragraph};
use super::signed::cleartext_text;
use crate::digest::Algo;
use crate::exit::{fail, Code};
use crate::openpgp::verify::is_cleartext_signed;
use crate::time;
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Signatures (and Release Dates) this far in the future still pass:
/// the clock skew sequoia tolerates.
const SKEW_SECS: i64 = 30 * 60;

/// The digest fields of Release files (multi-line) and their algorithms,
/// strongest first.
const RELEASE_SUMS: [(&str, Algo); 4] = [
    ("SHA512", Algo::Sha512),
    ("SHA256", Algo::Sha256),
    ("SHA1", Algo::Sha1),
    ("MD5Sum", Algo::Md5),
];
/// The single-line digest fields of Packages stanzas.
const PACKAGE_SUMS: [(&str, Algo); 4] = [
    ("SHA512", Algo::Sha512),
    ("SHA256", Algo::Sha256),
    ("SHA1", Algo::Sha1),
    ("MD5sum", Algo::Md5),
];
/// The checksum fields of Sources stanzas, .dsc and .changes files.
const SOURCE_SUMS: [(&str, Algo); 4] = [
    ("Checksums-Sha512", Algo::Sha512),
    ("Checksums-Sha256", Algo::Sha256),
    ("Checksums-Sha1", Algo::Sha1),
    ("Files", Algo::Md5),
];

/// What a verified list says one file must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    /// The path as listed (`pool/main/h/hello/hello_2.10-3_amd64.deb`).
    pub path: Vec<u8>,
    pub size: u64,
    /// Every digest listed, weak ones included (the checker decides).
    pub digests: Vec<(Algo, Vec<u8>)>,
    /// The verified list that pins it (an index path, a .dsc).
    pub by: String,
}

impl Pin {
    /// The one digest the chain checks: SHA-256 (SHA-NI makes it the
    /// fastest), else the strongest listed. The signed list lists them all
    /// over the same bytes; a second strong digest adds hashing time, not
    /// security. A weak one comes out only when nothing else is listed
    /// (and is then refused).
    pub fn checked_digests(&self) -> Vec<(Algo, Vec<u8>)> {
        let pick = [Algo::Sha256, Algo::Sha512, Algo::Sha384, Algo::Blake2b512]
            .into_iter()
            .find_map(|a| self.digests.iter().find(|(b, _)| *b == a));
        match pick {
            Some(d) => vec![d.clone()],
            None => self.usable_digests(),
        }
    }

    /// The strong digests, or the weak ones when there is nothing else.
    pub fn usable_digests(&self) -> Vec<(Algo, Vec<u8>)> {
        let strong: Vec<_> = self
            .digests
            .iter()
            .filter(|(a, _)| !a.is_weak())
            .cloned()
            .collect();
        if strong.is_empty() {
            self.digests.clone()
        } else {
            strong
        }
    }
}

/// Add `algo`'s digest for `path` to `pins` (keyed by path, in order).
fn add_pin(
    pins: &mut Vec<Pin>,
    index: &mut HashMap<Vec<u8>, usize>,
    path: Vec<u8>,
    size: u64,
    algo: Algo,
    digest: Vec<u8>,
    by: &str,
) -> Result<(), String> {
    match index.get(&path).and_then(|&i| pins.get_mut(i)) {
        Some(p) => {
            if p.size != size {
                return Err(format!(
                    "{} is listed with two sizes ({} and {size})",
                    String::from_utf8_lossy(&path),
                    p.size
                ));
            }
            p.digests.push((algo, digest));
        }
        None => {
            index.insert(path.clone(), pins.len());
            pins.push(Pin {
                path,
                size,
                digests: vec![(algo, digest)],
                by: by.to_string(),
            });
        }
    }
    Ok(())
}

/// The files one paragraph pins, whatever list it comes from: Release
/// (multi-line `SHA256:` sections), Packages (`Filename`, `Size`,
/// `SHA256`), Sources (`Directory` + `Checksums-Sha256`), .dsc and
/// .changes (`Checksums-Sha256`, `Files`).
pub fn paragraph_pins(p: &Paragraph, by: &str) -> Result<Vec<Pin>, String> {
    let mut pins = Vec::new();
    let mut index = HashMap::new();
    let at = |e: String| format!("paragraph at line {}: {e}", p.line);
    if let Some(filename) = p.get("Filename") {
        let size = p
            .get("Size")
            .and_then(deb822::decimal)
            .ok_or_else(|| at("Filename without a valid Size".into()))?;
        for (field, algo) in PACKAGE_SUMS {
            if let Some(v) = p.get(field) {
                let d = deb822::hex_digest(v, algo)
                    .ok_or_else(|| at(format!("{field} is not a {algo} hex digest")))?;
                add_pin(&mut pins, &mut index, filename.to_vec(), size, algo, d, by).map_err(at)?;
            }
        }
        return Ok(pins);
    }
    let dir = p.get("Directory").map(|d| {
        let mut d = d.to_vec();
        if !d.is_empty() && !d.ends_with(b"/") {
            d.push(b'/');
        }
        d
    });
    let fields: &[(&str, Algo)] = if p.get("SHA256").is_some() || p.get("MD5Sum").is_some() {
        &RELEASE_SUMS
    } else {
        &SOURCE_SUMS
    };
    for (field, algo) in fields {
        let Some(v) = p.get(field) else { continue };
        // Release's `SHA256` is multi-line; a Packages-style single value
        // without Filename is not a list of files.
        for s in checksum_lines(v, *algo).map_err(|e| at(format!("{field}: {e}")))? {
            let path = match &dir {
                Some(d) => [d.as_slice(), &s.name].concat(),
                None => s.name,
            };
            add_pin(&mut pins, &mut index, path, s.size, *algo, s.digest, by).map_err(at)?;
        }
    }
    Ok(pins)
}

/// The last path component of a listed path.
pub fn basename(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

/// Is this list a Debian control file (or a cleartext-signed one)?
/// Its first meaningful line is `Field: value`; no hash-list format has a
/// colon right after a leading word.
pub fn looks_like_deb822(data: &[u8]) -> bool {
    if is_cleartext_signed(data) {
        // A signed message: what it holds decides.
        return cleartext_text(data).is_some_and(|t| looks_like_deb822(&t));
    }
    let Some(line) = data
        .split(|&b| b == b'\n')
        .map(|l| l.trim_ascii_end())
        .find(|l| !l.is_empty() && !l.starts_with(b"#"))
    else {
        return false;
    };
    match memchr::memchr(b':', line) {
        Some(i) => {
            let name = line.get(..i).unwrap_or_default();
            !name.is_empty()
                && name
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        }
        None => false,
    }
}

/// A Debian list as check-hashes entries: every file pinned, with its
/// size. Weak digests of a file that also has a strong one are dropped.
pub fn list_entries(text: &[u8]) -> anyhow::Result<Vec<Pin>> {
    let mut out = Vec::new();
    for p in deb822::Reader::new(text, deb822::LIMITS) {
        let p = p.map_err(|e| fail(Code::Usage, format!("{e}")))?;
        let mut pins = paragraph_pins(&p, "").map_err(|e| fail(Code::Usage, e))?;
        for pin in &mut pins {
            pin.digests = pin.usable_digests();
        }
        out.extend(pins);
    }
    Ok(out)
}

/// A verified Release file.
#[derive(Clone, Debug)]
pub struct Release {
    pub path: PathBuf,
    pub signers: Vec<String>,
    pub notes: Vec<String>,
    pub suite: Option<String>,
    pub codename: Option<String>,
    pub date: Option<i64>,
    pub valid_until: Option<i64>,
    /// What it lists, by path relative to its directory.
    pub entries: Vec<Pin>,
}

impl Release {
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "path": self.path.display().to_string(),
            "suite": self.suite,
            "codename": self.codename,
            "date": self.date.map(time::format_rfc2822),
            "valid_until": self.valid_until.map(time::format_rfc2822),
            "signers": self.signers,
            "entries": self.entries.len(),
        })
    }

    /// `RELEASE: signatures OK (...)`, for -v.
    pub fn summary_line(&self) -> String {
        let until = match self.valid_until {
            Some(t) => format!(", valid until {}", time::format_rfc2822(t)),
            None => String::new(),
        };
        format!(
            "{}: signatures OK, signed by {}{until}",
            self.path.display(),
            self.signers.join(", ")
        )
    }
}

/// A Release whose signature `verdict` has passed, from its signed `text`:
/// what it lists, and its dates checked (a `Date` in the future, or a
/// `Valid-Until` past, fails unless `ignore_valid_until`). `path` names it
/// in reports (a file, or the URL it came from).
pub fn release_from_text(
    path: &Path,
    verdict: crate::openpgp::Verdict,
    text: &[u8],
    ignore_valid_until: bool,
) -> anyhow::Result<Release> {
    let shown = path.display().to_string();
    let mut paragraphs = deb822::Reader::new(text, deb822::LIMITS);
    let p = paragraphs
        .next()
        .transpose()
        .map_err(|e| fail(Code::Failed, format!("malformed Release: {e}")))?
        .ok_or_else(|| fail(Code::Failed, "malformed Release: no fields"))?;
    let pins = paragraph_pins(&p, &shown)
        .map_err(|e| fail(Code::Failed, format!("malformed Release: {e}")))?;
    let when = |field: &str| -> anyhow::Result<Option<i64>> {
        match p.text(field) {
            None => Ok(None),
            Some(s) => time::parse_rfc2822(&s).map(Some).ok_or_else(|| {
                fail(
                    Code::Failed,
                    format!("malformed Release: {field}: {s:?} is not a date"),
                )
            }),
        }
    };
    let mut notes = verdict.notes;
    let date = when("Date")?;
    let valid_until = when("Valid-Until")?;
    let now = time::now_unix();
    if let Some(d) = date {
        if d > now.saturating_add(SKEW_SECS) {
            return Err(fail(
                Code::Failed,
                format!("not valid yet: its Date is {}", time::format_rfc2822(d)),
            ));
        }
    }
    if let Some(u) = valid_until {
        if u < now {
            let msg = format!(
                "expired: Valid-Until {} has passed",
                time::format_rfc2822(u)
            );
            if !ignore_valid_until {
                return Err(fail(Code::Failed, msg));
            }
            notes.push(format!("{msg} (accepted: --ignore-valid-until)"));
        }
    }
    Ok(Release {
        path: path.to_path_buf(),
        signers: verdict.signers.iter().map(|f| f.to_hex()).collect(),
        notes,
        suite: p.text("Suite"),
        codename: p.text("Codename"),
        date,
        valid_until,
        entries: pins,
    })
}

/// The files a signed Debian list pins, once its signature `verdict`
/// passed: an InRelease (the first paragraph lists files in `SHA256:`
/// sections) through [`release_from_text`], its dates checked; anything
/// else (.dsc, .changes) by its checksum fields. Returns the pins and the
/// notes (the signature's, an accepted expiry).
pub fn signed_list_pins(
    label: &str,
    verdict: crate::openpgp::Verdict,
    text: &[u8],
    ignore_valid_until: bool,
) -> anyhow::Result<(Vec<Pin>, Vec<String>)> {
    let first = deb822::Reader::new(text, deb822::LIMITS)
        .next()
        .transpose()
        .map_err(|e| fail(Code::Failed, format!("malformed list: {e}")))?;
    let release = first.as_ref().is_some_and(|p| {
        p.get("Filename").is_none() && RELEASE_SUMS.iter().any(|(f, _)| p.get(f).is_some())
    });
    if release {
        let r = release_from_text(Path::new(label), verdict, text, ignore_valid_until)?;
        return Ok((r.entries, r.notes));
    }
    let pins = list_entries(text).map_err(|e| {
        let why = format!("{e:#}");
        fail(Code::Failed, format!("malformed list: {why}"))
    })?;
    Ok((pins, verdict.notes))
}

/// The entry of `pins` for the file at `path` (a URL's path, percent-
/// decoded): the longest listed path that `path` is or ends with at a
/// `/` (`main/binary-amd64/Packages.xz` for `.../dists/stable/main/
/// binary-amd64/Packages.xz`, `pool/main/h/hello/hello_2.10.deb` for the
/// archive's URL of it, a bare name for a .dsc's files); else the one
/// whose file name is one of `names` (the output's). Nothing listed is
/// exit 3; two different entries that fit equally well, exit 2.
pub fn pin_for_path<'p>(pins: &'p [Pin], path: &[u8], names: &[&[u8]]) -> anyhow::Result<&'p Pin> {
    let under = |p: &Pin| {
        path == p.path.as_slice()
            || (path.ends_with(&p.path)
                && path.len() > p.path.len()
                && path.get(path.len() - p.path.len() - 1) == Some(&b'/'))
    };
    let mut found: Vec<&Pin> = pins
        .iter()
        .filter(|p| !p.path.is_empty() && under(p))
        .collect();
    // Of the entries the path ends with, the longest is the one it names.
    let longest = found.iter().map(|p| p.path.len()).max().unwrap_or(0);
    found.retain(|p| p.path.len() == longest);
    if found.is_empty() {
        found = pins
            .iter()
            .filter(|p| names.contains(&basename(&p.path)))
            .collect();
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found.dedup_by(|a, b| a.path == b.path);
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(fail(
            Code::Missing,
            format!("no entry for {}", String::from_utf8_lossy(basename(path))),
        )),
        many => Err(fail(
            Code::Usage,
            format!(
                "{} entries fit {}: {}; fetch it from the URL the list names it by",
                many.len(),
                String::from_utf8_lossy(basename(path)),
                many.iter()
                    .map(|p| String::from_utf8_lossy(&p.path).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(path: &str) -> Pin {
        Pin {
            path: path.as_bytes().to_vec(),
            size: path.len() as u64,
            digests: vec![(Algo::Sha256, vec![0; 32])],
            by: "InRelease".into(),
        }
    }

    #[test]
    fn entries_are_found_by_the_path_the_url_names() {
        let pins = [
            pin("main/binary-amd64/Packages.xz"),
            pin("main/binary-i386/Packages.xz"),
            pin("main/debian-installer/binary-amd64/Packages.xz"),
            pin("contrib/binary-amd64/Packages.xz"),
            pin("hello_2.10.orig.tar.gz"),
        ];
        let find = |path: &str, names: &[&str]| {
            let names: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
            pin_for_path(&pins, path.as_bytes(), &names)
                .map(|p| String::from_utf8_lossy(&p.path).into_owned())
        };
        assert_eq!(
            find("/debian/dists/bookworm/main/binary-amd64/Packages.xz", &[]).unwrap(),
            "main/binary-amd64/Packages.xz"
        );
        assert_eq!(
            find(
                "/debian/dists/bookworm/main/debian-installer/binary-amd64/Packages.xz",
                &[]
            )
            .unwrap(),
            "main/debian-installer/binary-amd64/Packages.xz"
        );
        // A suffix at a path boundary only: "xmain/..." is not "main/...".
        assert!(find("/dists/xmain/binary-amd64/Packages.xz", &[]).is_err());
        assert_eq!(
            find("/pool/main/h/hello/hello_2.10.orig.tar.gz", &[]).unwrap(),
            "hello_2.10.orig.tar.gz"
        );
        // Not under the list's layout: by file name, refused when ambiguous.
        let e = find("/mirror/Packages.xz", &["Packages.xz"]).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Usage);
        assert!(format!("{e:#}").contains("4 entries fit"), "{e:#}");
        let e = find("/mirror/Sources.xz", &["Sources.xz"]).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Missing);
        assert_eq!(
            find("/x/download?id=3", &["hello_2.10.orig.tar.gz"]).unwrap(),
            "hello_2.10.orig.tar.gz"
        );
    }
}
