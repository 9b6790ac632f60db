//! Stock packages verified against selected keys, without rpm, gpg or apt
//! (DESIGN.md §4, issue 13): the engine behind `verify-package`.
//!
//! - [`admit`]: the verdict with rebuilders' attestations (issue 26).
//! - [`header`]: the RPM header structure, bounded and checked.
//! - [`rpm`]: RPM v4/v6 lead, signature header, main header, header
//!   signatures and the payload digest, verified in one pass.
//! - [`debian`]: the chain InRelease (or Release + Release.gpg) ->
//!   Packages/Sources -> .deb/.dsc -> source tarballs (the lists
//!   themselves are [`crate::lists`]).
//! - [`rpmrepo`]: the chain repomd.xml (+ .asc, a pinned digest or a
//!   metalink) -> primary.xml -> .rpm, for package sets from several
//!   repositories (the metadata formats are [`crate::lists`]);
//!   [`reposource`]: a repository's directory or URL; [`repostate`]: its
//!   rollback and freeze protection; [`reposet`]: its options and the run
//!   over a package set.

pub mod admit;
pub mod debian;
pub mod header;
pub mod reposet;
pub mod reposource;
pub mod repostate;
pub mod rpm;
pub mod rpmrepo;

use crate::exit::{Code, ResultExt};
use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;

/// What an operand is, by its first bytes and its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Starts with the RPM lead magic.
    Rpm,
    /// A Debian source control file (`.dsc`).
    Dsc,
    /// Anything else: a .deb or a source tarball, pinned by an index or a .dsc.
    Pinned,
}

/// Open an operand named on the command line. One that does not exist or
/// is not a regular file (a FIFO, a device, a directory) is a usage error
/// (exit 2, DESIGN.md §2), never read. Returns the file and its size.
pub fn open_operand(path: &Path) -> anyhow::Result<(File, u64)> {
    let f = crate::fsutil::input::open_regular(path, "package")?;
    let len = f
        .metadata()
        .with_code(Code::Io, || format!("reading {}", path.display()))?
        .len();
    Ok((f, len))
}

/// The kind of an opened operand (the RPM magic, or the name ending in
/// `.rpm` or `.dsc`); the file is left at its start.
/// The `kind` a report gives `path` (`rpm` or `debian`), read as
/// [`sniff`] reads it; `None` when it cannot be read. A failed file's
/// report names it too.
pub fn kind_name(path: &Path) -> Option<&'static str> {
    let (mut file, _) = open_operand(path).ok()?;
    Some(match sniff(&mut file, path).ok()? {
        Kind::Rpm => "rpm",
        Kind::Dsc | Kind::Pinned => "debian",
    })
}

pub fn sniff(file: &mut File, path: &Path) -> anyhow::Result<Kind> {
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < magic.len() {
        match file.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).with_code(Code::Io, || format!("reading {}", path.display())),
        }
    }
    file.rewind()
        .with_code(Code::Io, || format!("reading {}", path.display()))?;
    let ext = |x: &str| path.extension().is_some_and(|e| e.eq_ignore_ascii_case(x));
    // A `.rpm` without the magic is a broken RPM (exit 1), not an unknown file.
    if (got == magic.len() && magic == rpm::LEAD_MAGIC) || ext("rpm") {
        return Ok(Kind::Rpm);
    }
    Ok(if ext("dsc") { Kind::Dsc } else { Kind::Pinned })
}

/// How one operand was verified.
#[derive(Clone, Debug)]
pub enum Verified {
    Rpm(rpm::RpmReport),
    Debian(debian::FileReport),
    /// An RPM listed in a verified repository's primary.
    Repo(rpmrepo::PackageReport),
    /// A verified repository (its repomd.xml and metadata).
    Repository(rpmrepo::RepoSummary),
}

impl Verified {
    /// The line a good one prints: `FILE: digests signatures OK`, the line
    /// Qubes scripts compare `rpmkeys --checksig` output against; for a
    /// repository, how its repomd.xml was authenticated.
    pub fn ok_line(&self, file: &str) -> String {
        match self {
            Verified::Repository(r) => format!("{file}: repomd.xml OK ({})", r.anchor),
            _ => format!("{file}: digests signatures OK"),
        }
    }

    /// Warnings and ignored signatures, one sentence each.
    pub fn notes(&self) -> &[String] {
        match self {
            Verified::Rpm(r) => &r.notes,
            Verified::Debian(d) => &d.notes,
            Verified::Repo(r) => &r.notes,
            Verified::Repository(r) => &r.notes,
        }
    }

    /// Primary fingerprints of the signers that vouch for it.
    pub fn signers(&self) -> Vec<String> {
        match self {
            Verified::Rpm(r) => r.signers(),
            Verified::Debian(d) => d.signers.clone(),
            Verified::Repo(r) => r.signers.clone(),
            Verified::Repository(r) => r.signers.clone(),
        }
    }

    /// What it was verified by, one line each (for -v).
    pub fn details(&self) -> Vec<String> {
        match self {
            Verified::Repository(r) => vec![r.line.clone()],
            Verified::Repo(p) => {
                let mut v = vec![format!(
                    "{} listed by {} at {} ({})",
                    p.nevra, p.repo, p.location, p.checksum
                )];
                if let Some(r) = &p.rpm {
                    v.extend(Verified::Rpm(r.clone()).details().into_iter().skip(1));
                }
                v
            }
            Verified::Rpm(r) => {
                let mut v = vec![format!("{} (RPM v{})", r.nevra, r.format)];
                for s in &r.signatures {
                    v.push(format!("tag {} ({}): OK", s.tag, s.what));
                    v.extend(s.signers.iter().map(|f| format!("signer {f}")));
                }
                for d in &r.digests {
                    v.push(format!("tag {} ({}): OK {}", d.tag, d.what, d.hex));
                }
                v
            }
            Verified::Debian(d) => {
                let mut v = vec![format!(
                    "{} ({} bytes) pinned by {}",
                    String::from_utf8_lossy(&d.pin.path),
                    d.pin.size,
                    d.pin.by
                )];
                v.extend(d.digests.iter().map(|(a, h)| format!("{a}: OK {h}")));
                v.extend(d.signers.iter().map(|f| format!("signer {f}")));
                v
            }
        }
    }

    /// One JSON object for `--json`.
    pub fn to_json(&self, file: &str) -> serde_json::Value {
        match self {
            Verified::Repository(r) => {
                let mut v = r.json.clone();
                if let Some(o) = v.as_object_mut() {
                    o.insert("path".into(), file.into());
                    o.insert("status".into(), "ok".into());
                    o.insert("exit".into(), 0.into());
                    o.insert("kind".into(), "rpm-repository-metadata".into());
                }
                v
            }
            Verified::Repo(p) => serde_json::json!({
                "path": file, "status": "ok", "exit": 0, "kind": "rpm-repository",
                "repository": p.repo, "location": p.location, "nevra": p.nevra,
                "checksum": p.checksum, "signers": p.signers, "notes": p.notes,
                "signed": p.rpm.is_some(),
            }),
            Verified::Rpm(r) => serde_json::json!({
                "path": file, "status": "ok", "exit": 0, "kind": "rpm",
                "nevra": r.nevra, "format": r.format, "signers": r.signers(),
                "signatures": r.signatures, "digests": r.digests, "notes": r.notes,
            }),
            Verified::Debian(d) => serde_json::json!({
                "path": file, "status": "ok", "exit": 0, "kind": "debian",
                "pinned_path": String::from_utf8_lossy(&d.pin.path), "size": d.pin.size,
                "pinned_by": d.pin.by, "signers": d.signers,
                "digests": d.digests.iter().map(|(a, h)| (a.name().to_string(), serde_json::Value::from(h.as_str()))).collect::<serde_json::Map<_, _>>(),
                "notes": d.notes,
            }),
        }
    }
}

/// Verify one operand that is not a .dsc: an RPM (by its first bytes) by
/// its own signature, anything else by what the chain pins for its name.
pub fn verify_file(
    path: &Path,
    chain: &debian::Chain,
    verifier: &crate::openpgp::Verifier,
    rpm_opts: &rpm::RpmOptions,
) -> anyhow::Result<Verified> {
    let (mut file, len) = open_operand(path)?;
    match sniff(&mut file, path)? {
        Kind::Rpm => {
            let buf = usize::try_from(len.saturating_add(1)).unwrap_or(usize::MAX);
            rpm::verify_rpm(file, verifier, rpm_opts, buf).map(Verified::Rpm)
        }
        Kind::Dsc | Kind::Pinned => chain.verify_pinned(path, file, len).map(Verified::Debian),
    }
}
