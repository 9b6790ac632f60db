//! What a list pins for the download: a hash list's entries by name (GNU,
//! BSD, bare hex, ... as check-hashes reads them), or a Debian list's
//! entry by the path the URL names, with its size (InRelease, .dsc,
//! Packages, Sources). Used for a cleartext-signed SIG once its signature
//! passed, and for `--hash-file`.

use super::mirrors::default_name;
use crate::codec::Compression;
use crate::digest::Algo;
use crate::exit::{code_of, fail, Code};
use crate::lists::debian;
use crate::lists::hashlist::ParseOptions;
use std::io::Read;
use std::path::Path;

/// Largest `--hash-file`, and what a compressed one may decompress to.
pub const MAX_HASH_FILE: u64 = 256 << 20;

/// The names a signed hash list may pin the download under, in order:
/// the output's, then the URL's; with `uncompress`, the decompressed
/// files' (the check covers their content).
pub fn listed_names(url: &str, name: &str, uncompress: bool) -> Vec<String> {
    let mut names = vec![name.to_string()];
    if let Ok(n) = default_name(url) {
        names.push(n);
    }
    if uncompress {
        for n in &mut names {
            if let Some(d) = Compression::decompressed_name(n) {
                *n = d;
            }
        }
    }
    names.dedup();
    names
}

/// MD5 and SHA-1 pins are refused (exit 1, DESIGN.md §4).
pub fn refuse_weak(hashes: &[(Algo, Vec<u8>)]) -> anyhow::Result<()> {
    match hashes.iter().find(|(a, _)| a.is_weak()) {
        Some((algo, _)) => Err(fail(Code::Failed, format!("weak algorithm {algo} refused"))),
        None => Ok(()),
    }
}

/// What the download is looked up by.
#[derive(Clone, Debug)]
pub struct Target {
    /// The URL's path, percent-decoded (the decompressed name's with
    /// `uncompress`: the check covers the decompressed content).
    pub path: Vec<u8>,
    /// File names it may be listed under, in order: the output's, the
    /// URL's (decompressed names with `uncompress`).
    pub names: Vec<String>,
    /// A Release's passed Valid-Until is a note, not a failure
    /// (`--ignore-valid-until`, as apt's Check-Valid-Until=no); a Date in
    /// the future still fails.
    pub ignore_valid_until: bool,
}

impl Target {
    /// The target of a download of `url` saved as `name`.
    pub fn new(url: &str, name: &str, uncompress: bool) -> Target {
        let names = listed_names(url, name, uncompress);
        let mut path = url_path(url);
        if uncompress {
            let (dir, last) = match path.iter().rposition(|&b| b == b'/') {
                Some(i) => path.split_at(i + 1),
                None => (&path[..0], path.as_slice()),
            };
            if let Some(d) = Compression::decompressed_name(&String::from_utf8_lossy(last)) {
                path = [dir, d.as_bytes()].concat();
            }
        }
        Target {
            path,
            names,
            ignore_valid_until: false,
        }
    }

    /// The same target, a Release's passed Valid-Until accepted with a note.
    pub fn ignoring_valid_until(self, ignore: bool) -> Target {
        Target {
            ignore_valid_until: ignore,
            ..self
        }
    }
}

/// The path of `url` (after the authority; without query and fragment),
/// percent-decoded.
fn url_path(url: &str) -> Vec<u8> {
    let url = super::request_url(url);
    let url = url.split('?').next().unwrap_or(url);
    let after = url.split_once("://").map_or(url, |(_, r)| r);
    let path = after.find('/').map_or("", |i| after.get(i..).unwrap_or(""));
    percent_encoding::percent_decode(path.as_bytes()).collect()
}

/// What a list says the download must be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pinned {
    pub hashes: Vec<(Algo, Vec<u8>)>,
    /// The size it lists (Debian lists), of the same bytes as the hashes.
    pub size: Option<u64>,
    /// The entry it matched, for reports (`main/binary-amd64/Packages.xz`).
    pub entry: Option<String>,
    /// What the caller should hear (a passed Valid-Until accepted).
    pub notes: Vec<String>,
}

/// The pins of a Debian list's entries for `target`.
fn from_debian(pins: &[debian::Pin], target: &Target) -> anyhow::Result<Pinned> {
    let names: Vec<&[u8]> = target.names.iter().map(|n| n.as_bytes()).collect();
    let pin = debian::pin_for_path(pins, &target.path, &names)?;
    let hashes = pin.usable_digests();
    refuse_weak(&hashes)?;
    Ok(Pinned {
        hashes,
        size: Some(pin.size),
        entry: Some(String::from_utf8_lossy(&pin.path).into_owned()),
        notes: Vec::new(),
    })
}

/// The pins of a hash list's entries for the first of `target.names` it
/// lists.
fn from_hash_list(text: &[u8], target: &Target, opts: ParseOptions) -> anyhow::Result<Pinned> {
    let mut found = Err(fail(Code::Missing, "no file name to look up"));
    for name in &target.names {
        found = crate::lists::hashlist::expected_for_with(text, name.as_bytes(), opts);
        if !matches!(&found, Err(e) if code_of(e) == Code::Missing) {
            break;
        }
    }
    let hashes = found?;
    refuse_weak(&hashes)?;
    Ok(Pinned {
        hashes,
        ..Pinned::default()
    })
}

/// The pins of a cleartext-signed SIG for `target`, once its signature
/// passed (`verdict`): an InRelease has its dates checked, then its entry
/// pins the file like a .dsc's or a hash list's. Returns the notes to
/// add (ignored signers, an accepted expiry).
pub fn from_signed_text(
    verdict: crate::openpgp::Verdict,
    text: &[u8],
    target: &Target,
) -> anyhow::Result<(Pinned, Vec<String>)> {
    if debian::looks_like_deb822(text) {
        let (pins, notes) = debian::signed_list_pins(verdict, text, target.ignore_valid_until)?;
        return Ok((from_debian(&pins, target)?, notes));
    }
    Ok((
        from_hash_list(text, target, ParseOptions::default())?,
        verdict.notes,
    ))
}

/// The pins `--hash-file FILE` gives `target`: a bare hex file or any
/// hash list check-hashes reads, or a Debian list (Packages, Sources,
/// Release, .dsc), compressed or not (by its name), or an rpm-md list
/// (repomd.xml, primary.xml: see `rpmmd`). A regular file only,
/// at most [`MAX_HASH_FILE`] bytes once decompressed. A signed list's
/// signature is not checked here: give it as SIG to have it checked.
pub fn from_hash_file(list: &Path, target: &Target) -> anyhow::Result<Pinned> {
    let what = format!("hash file {}", list.display());
    let name = list
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // rpm-md lists (repomd.xml, primary.xml): see rpmmd.rs.
    if super::rpmmd::is_rpm_md(&name) {
        let wanted = super::rpmmd::Wanted {
            path: &target.path,
            names: &target.names,
        };
        let (hashes, size, entry) =
            super::rpmmd::pins(list, &wanted).map_err(|e| e.context(what))?;
        refuse_weak(&hashes)?;
        return Ok(Pinned {
            hashes,
            size,
            entry: Some(entry),
            notes: Vec::new(),
        });
    }
    let file = crate::fsutil::open_regular(list, "hash file")?;
    let data = match Compression::from_name(&name) {
        None => crate::fsutil::read_bounded(file, MAX_HASH_FILE, &what, Code::Usage)?,
        Some(c) => {
            let mut out = Vec::new();
            c.decoder(std::io::BufReader::new(file))
                .take(MAX_HASH_FILE + 1)
                .read_to_end(&mut out)
                .map_err(|e| fail(Code::Usage, format!("{what}: cannot decompress: {e}")))?;
            if out.len() as u64 > MAX_HASH_FILE {
                return Err(fail(
                    Code::Usage,
                    format!("{what}: decompresses to more than {MAX_HASH_FILE} bytes"),
                ));
            }
            out
        }
    };
    let text = crate::lists::signed::cleartext_text(&data).unwrap_or(data);
    let found = if debian::looks_like_deb822(&text) {
        // A Release's dates count here too, signature or not (one rule).
        debian::list_pins(&text, target.ignore_valid_until).and_then(|(pins, notes)| {
            Ok(Pinned {
                notes,
                ..from_debian(&pins, target)?
            })
        })
    } else {
        let opts = crate::lists::list_options(list, ParseOptions::default());
        from_hash_list(&text, target, opts)
    };
    found.map_err(|e| e.context(what))
}
