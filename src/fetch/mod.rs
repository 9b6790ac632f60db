//! fetch-verified: download into an untrusted temporary file, verify while
//! streaming, and only then rename to the final name (DESIGN.md §1.1).
//!
//! - [`mirrors`]: output names and the places to fetch from, in order.
//! - [`signature`]: the SIG argument, and which copy goes with which place.
//! - [`pins`]: what a signed list or `--hash-file` pins for the download.
//! - [`pipeline`]: the one-pass tee → decode → hash → verify stream.
//! - [`rpmmd`]: repomd.xml and primary.xml as `--hash-file` pin lists.
//! - [`unverified`]: downloads verified elsewhere, only as `untrusted_NAME`.
//!
//! This module ties them together: re-verify what is present, claim
//! `NAME.UNTRUSTED` ([`crate::fsutil::untrusted`]), try each place into it,
//! fsync, rename, fsync the directory; on any failure it is deleted.

pub mod mirrors;
pub mod pins;
pub mod pipeline;
pub mod rpmmd;
pub mod signature;
pub mod unverified;

pub use mirrors::{default_name, default_output, env_mirrors, places, request_url, Place};
pub use pins::{listed_names, Pinned, Target};
pub use pipeline::{verify_stream, AttestCheck, Checks, RpmCheck, Verified};
pub use signature::{load_signature, SigFile};

use crate::exit::{code_of, fail, Code, ResultExt};
use crate::fsutil;
use crate::fsutil::untrusted::{self, Claim, Untrusted};
use crate::net::{retrying, Transport};
use crate::openpgp::Verifier;
use signature::{credit, Signatures};
use std::fs::File;
use std::io::Seek;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// What to fetch, from where, and what it must satisfy.
pub struct Request<'a> {
    /// What to download (a `#/NAME` fragment is never sent).
    pub url: &'a str,
    /// SIG: a URL (looked for at the mirrors too) or a local path.
    pub sig: Option<&'a str>,
    /// The keys SIG is verified with; needed when there is a SIG.
    pub verifier: Option<&'a Verifier<'a>>,
    /// The final name.
    pub dest: &'a Path,
    /// Mirror bases, tried before the URLs (instead of them with
    /// `mirror_only`).
    pub mirrors: &'a [String],
    pub mirror_only: bool,
    /// Pinned hashes and how the content is read and stored; the signature
    /// is added for each place from its SIG.
    pub checks: Checks<'a>,
    /// Appended to the final name for the untrusted file (`.UNTRUSTED`).
    pub untrusted_suffix: &'a str,
    /// Largest SIG accepted.
    pub sig_limit: u64,
    /// Create the missing directories of `dest` (curl's `--create-dirs`);
    /// otherwise a missing directory is a usage error.
    pub create_dirs: bool,
    /// Keep the SIG that verified the file here (written atomically after
    /// the file verified), so that [`verify_present`] can re-verify it
    /// later without the network.
    pub keep_sig: Option<&'a Path>,
    /// A signed Release's passed Valid-Until is a note, not a failure.
    pub ignore_valid_until: bool,
    /// Makes the progress bar of a download (`"fetching"`) or of the
    /// re-verification of a present file (`"re-verifying"`) of the given
    /// length, when the caller shows progress. The bar is cleared when done.
    pub progress: Option<&'a ProgressFactory<'a>>,
}

/// See [`Request::progress`].
pub type ProgressFactory<'a> = dyn Fn(&str, Option<u64>) -> indicatif::ProgressBar + 'a;

/// How the file under its final name came to be.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub verified: Verified,
    /// The URL the bytes came from (after redirects); None when the present
    /// file was re-verified.
    pub source: Option<String>,
    /// A present file was re-verified and kept.
    pub reused: bool,
}

/// Rounds of "look at the final name, claim the untrusted one" before
/// giving up on a destination other runs keep changing.
const MAX_ROUNDS: usize = 16;

/// The whole job: re-verify a present `dest`, or download it from the
/// places (mirrors, then upstream) into its untrusted name, verify, fsync,
/// rename. On failure nothing unverified remains under `dest`. `note`
/// hears what is worth telling while it runs (stale files removed, a
/// mirror skipped, a retry, a wait for another run).
pub fn fetch_verified(
    transport: &Transport,
    req: &Request,
    note: &dyn Fn(&str),
) -> anyhow::Result<Outcome> {
    let (places, mut sigs) = judged_with(transport, req, req.mirrors, req.mirror_only)?;
    ensure_dir(fsutil::parent_dir(req.dest), req.create_dirs)?;
    usable_output(req.dest, req.untrusted_suffix)?;
    for _ in 0..MAX_ROUNDS {
        let seen = match reverify_present(transport, req, sigs.as_mut(), note)? {
            Present::Good(verified, sig) => {
                keep_sig(req, sig.as_deref())?;
                match untrusted::remove_if_stale(req.dest, req.untrusted_suffix) {
                    Ok(Some(p)) => note(&format!("removed stale {}", p.display())),
                    Ok(None) => {}
                    Err(e) => note(&format!("{e:#}")),
                }
                return Ok(Outcome {
                    verified,
                    source: None,
                    reused: true,
                });
            }
            Present::Absent => None,
            Present::Failed(id, why) => {
                if let Some(e) = why {
                    note(&format!(
                        "{} is present but fails verification ({e:#}); deleting it and fetching again",
                        req.dest.display()
                    ));
                }
                Some(id)
            }
        };
        let wait = transport.options().deadline;
        let tmp = match untrusted::claim(req.dest, req.untrusted_suffix, wait, note)? {
            // Another run was at it: look at what it left.
            Claim::Waited => continue,
            Claim::Owned(tmp) => tmp,
        };
        // Under the lock now; if another run changed the final name since
        // it was looked at, look again.
        if identity(req.dest)? != seen {
            continue;
        }
        if seen.is_some() {
            std::fs::remove_file(req.dest)
                .with_code(Code::Io, || format!("removing {}", req.dest.display()))?;
            fsutil::sync_dir(fsutil::parent_dir(req.dest)).code(Code::Io, "after removing")?;
        }
        return download(transport, req, &places, sigs.as_mut(), tmp, note);
    }
    Err(fail(
        Code::Io,
        format!(
            "{}: other runs keep changing it; giving up",
            req.dest.display()
        ),
    ))
}

/// What `req` is checked with, refused before anything is read when it
/// cannot decide (nothing to verify with, a weak pin, a bad name): the
/// places to fetch from (`mirrors` first) and the SIG copies to come.
fn judged_with<'t>(
    transport: &'t Transport,
    req: &'t Request,
    mirrors: &[String],
    mirror_only: bool,
) -> anyhow::Result<(Vec<Place>, Option<Signatures<'t>>)> {
    let base = &req.checks;
    if req.sig.is_none() && base.hashes.is_empty() && base.rpm.is_none() {
        return Err(fail(
            Code::Missing,
            "nothing to verify with: no signature and no pinned hash",
        ));
    }
    if base.store_decoded && base.uncompress.is_none() {
        return Err(fail(
            Code::Usage,
            "storing the decompressed content needs a compressed download",
        ));
    }
    pins::refuse_weak(&base.hashes)?;
    let name = default_name_of(req.dest)?;
    untrusted::untrusted_path(req.dest, req.untrusted_suffix)?;
    // Mirrors hold distfiles as fetched: the compressed name with --decompress.
    let stored_as = match base.store_decoded {
        true => default_name(req.url)?,
        false => name.clone(),
    };
    let places = places(req.url, &stored_as, req.sig, mirrors, mirror_only)?;
    let sigs = match (req.sig, req.verifier) {
        (None, _) => None,
        (Some(_), Some(v)) => Some(Signatures::new(
            transport,
            v,
            &places,
            Target::new(req.url, &name, base.uncompress.is_some())
                .ignoring_valid_until(req.ignore_valid_until),
            req.sig_limit,
        )),
        (Some(_), None) => return Err(fail(Code::Usage, "a signature needs keys (--keyring)")),
    };
    Ok((places, sigs))
}

/// The directory a download goes to must exist (exit 2 otherwise, before
/// any request), unless asked to create it: nothing is made that was not
/// asked for. One that cannot exist (a name too long, a component that is
/// a regular file, a symlink loop) is exit 2 too: no retry would help.
fn ensure_dir(dir: &Path, create: bool) -> anyhow::Result<()> {
    let unusable = |e: std::io::Error| fail(Code::Usage, format!("{}: {e}", dir.display()));
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(fail(
            Code::Usage,
            format!("{}: not a directory", dir.display()),
        )),
        Err(e) if fsutil::cannot_exist(&e) => Err(unusable(e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            match std::fs::create_dir_all(dir) {
                Err(e) if fsutil::cannot_exist(&e) => Err(unusable(e)),
                r => r.with_code(Code::Io, || format!("creating directory {}", dir.display())),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(fail(
            Code::Usage,
            format!(
                "directory {} does not exist (--create-dirs creates it)",
                dir.display()
            ),
        )),
        Err(e) => Err(e).with_code(Code::Io, || format!("examining {}", dir.display())),
    }
}

/// The output name and its untrusted name must be usable before anything
/// is fetched: a name longer than the file system allows (`NAME.UNTRUSTED`
/// is 10 bytes longer than `NAME`) is a usage error (2), not an I/O error
/// to retry for ever. Only the names are looked at (lstat).
pub(crate) fn usable_output(dest: &Path, suffix: &str) -> anyhow::Result<()> {
    let tmp = untrusted::untrusted_path(dest, suffix)?;
    for p in [dest, tmp.as_path()] {
        match std::fs::symlink_metadata(p) {
            Err(e) if fsutil::cannot_exist(&e) => {
                return Err(fail(
                    Code::Usage,
                    format!("{}: {e}: not usable as an output name", p.display()),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// A file's identity (device, inode), to notice it was replaced.
type Identity = (u64, u64);

fn identity(path: &Path) -> anyhow::Result<Option<Identity>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(Some((m.dev(), m.ino()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_code(Code::Io, || format!("examining {}", path.display())),
    }
}

enum Present {
    Absent,
    /// It verified, with this SIG (if there is one).
    Good(Verified, Option<std::rc::Rc<SigFile>>),
    /// It fails against a usable signature or hash (why, if a check said
    /// so): to be replaced.
    Failed(Identity, Option<anyhow::Error>),
}

/// `--offline`: judge the file under `req.dest` as [`fetch_verified`]
/// would (`req.sig` a local path, no mirror), and download nothing. A
/// file that is not there fails (exit 1); one that fails against a usable
/// SIG or hash is deleted (under the untrusted name's lock, as a
/// download replaces it) and fails; an unusable SIG leaves it as it is.
pub fn verify_present(
    transport: &Transport,
    req: &Request,
    note: &dyn Fn(&str),
) -> anyhow::Result<Outcome> {
    if let Some(sig) = req.sig.filter(|s| s.contains("://")) {
        return Err(fail(
            Code::Usage,
            format!("--offline: SIG {sig} is a URL; give the signature kept beside the file (--keep-sig)"),
        ));
    }
    let (_, mut sigs) = judged_with(transport, req, &[], false)?;
    match reverify_present(transport, req, sigs.as_mut(), note)? {
        Present::Good(verified, _) => Ok(Outcome {
            verified,
            source: None,
            reused: true,
        }),
        Present::Absent => Err(fail(
            Code::Failed,
            "not there (--offline downloads nothing)",
        )),
        Present::Failed(id, why) => {
            let wait = transport.options().deadline;
            // Under the untrusted name's lock, as a download would replace
            // it; another run may have replaced it since it was judged.
            if let Claim::Owned(_lock) =
                untrusted::claim(req.dest, req.untrusted_suffix, wait, note)?
            {
                if identity(req.dest)? == Some(id) {
                    std::fs::remove_file(req.dest)
                        .with_code(Code::Io, || format!("removing {}", req.dest.display()))?;
                    fsutil::sync_dir(fsutil::parent_dir(req.dest))
                        .code(Code::Io, "after removing")?;
                }
            }
            let why = why.unwrap_or_else(|| fail(Code::Failed, "verification failed"));
            Err(why.context(crate::exit::Failure::new(
                Code::Failed,
                "deleted (a run without --offline fetches it again)",
            )))
        }
    }
}

/// The file name of `dest`, or a usage error.
fn default_name_of(dest: &Path) -> anyhow::Result<String> {
    dest.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| fail(Code::Usage, format!("{}: not a file path", dest.display())))
}

/// `--keep-sig`: the SIG that verified the file, kept where asked
/// (atomically; nothing when it already is that file).
fn keep_sig(req: &Request, sig: Option<&SigFile>) -> anyhow::Result<()> {
    let (Some(path), Some(sig)) = (req.keep_sig, sig) else {
        return Ok(());
    };
    if let Some(local) = req.sig.filter(|s| !s.contains("://")) {
        let same = |a: &Path, b: &Path| match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        };
        if same(Path::new(local), path) {
            return Ok(());
        }
    }
    if path == req.dest {
        return Err(fail(
            Code::Usage,
            format!("--keep-sig {}: that is the output itself", path.display()),
        ));
    }
    fsutil::write_atomic_mode(path, sig.bytes(), fsutil::new_file_mode()).code(
        Code::Io,
        format!("keeping the signature as {}", path.display()),
    )
}

/// A file already under `dest` is verified like a download (with
/// `--decompress`, the stored decompressed content itself), with each
/// distinct SIG copy in turn until one passes; never trusted because it
/// exists.
fn reverify_present(
    transport: &Transport,
    req: &Request,
    sigs: Option<&mut Signatures>,
    note: &dyn Fn(&str),
) -> anyhow::Result<Present> {
    let dest = req.dest;
    let Some(id) = identity(dest)? else {
        return Ok(Present::Absent);
    };
    // The special-file rule: a FIFO under the name must not hang the open.
    let f = match fsutil::open_regular_io(dest) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            return Err(fail(
                Code::Usage,
                format!("{}: {e}: refused (-o takes a file path)", dest.display()),
            ))
        }
        // A symlink to nothing (or a loop) under the final name: a name
        // this run cannot use, whatever the retries.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || fsutil::cannot_exist(&e) => {
            if std::fs::symlink_metadata(dest).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(fail(
                    Code::Usage,
                    format!(
                        "{} is a symlink to nothing usable ({e}): refused (-o takes a file path)",
                        dest.display()
                    ),
                ));
            }
            if e.kind() == std::io::ErrorKind::NotFound {
                // Gone since it was looked at: another run's doing.
                return Ok(Present::Absent);
            }
            return Err(fail(Code::Usage, format!("{}: {e}", dest.display())));
        }
        Err(e) => return Err(e).with_code(Code::Io, || format!("opening {}", dest.display())),
    };
    let meta = f
        .metadata()
        .with_code(Code::Io, || format!("examining {}", dest.display()))?;
    let name_of_dest = default_name_of(dest)?;
    let mut checks = req.checks.clone();
    let max = match checks.store_decoded {
        true => checks.max_uncompressed,
        false => transport.options().max_size,
    };
    if checks.store_decoded {
        checks.uncompress = None;
        checks.store_decoded = false;
    }
    let verify = |checks: &Checks| {
        (&f).rewind()
            .with_code(Code::Io, || format!("reading {}", dest.display()))?;
        let bar = req
            .progress
            .map(|make| make("re-verifying", Some(meta.len())));
        let r = verify_stream(&f, None, checks, None, max, bar.as_ref());
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        r.map_err(|e| pipeline::explain_compressed(e, &f, checks, &name_of_dest))
    };
    let mut failure = None;
    match sigs {
        None => match verify(&checks) {
            Ok(v) => return Ok(Present::Good(v, None)),
            Err(e) if code_of(&e) == Code::Failed => failure = Some(e),
            Err(e) => return Err(e.context(format!("re-verifying {}", dest.display()))),
        },
        Some(sigs) => {
            let mut tried: Vec<std::rc::Rc<SigFile>> = Vec::new();
            for i in 0..sigs.len() {
                let Some(sig) = sigs.at(i, note) else {
                    continue;
                };
                if tried.iter().any(|t| t.same_as(&sig)) {
                    continue;
                }
                match verify(&sigs.checks_with(&checks, &sig)) {
                    Ok(mut v) => {
                        credit(&mut v, &sig);
                        return Ok(Present::Good(v, Some(sig)));
                    }
                    Err(e) if code_of(&e) == Code::Failed => failure = Some(e),
                    Err(e) => return Err(e.context(format!("re-verifying {}", dest.display()))),
                }
                tried.push(sig);
            }
            if tried.is_empty() {
                return Err(sigs
                    .failure()
                    .context(format!("re-verifying {}", dest.display())));
            }
        }
    }
    Ok(Present::Failed(id, failure))
}

/// Try each place in turn into `tmp` (emptied before each attempt); the
/// first that verifies is renamed to its final name.
fn download(
    transport: &Transport,
    req: &Request,
    places: &[Place],
    mut sigs: Option<&mut Signatures>,
    mut tmp: Untrusted,
    note: &dyn Fn(&str),
) -> anyhow::Result<Outcome> {
    let mut last = None;
    for (i, place) in places.iter().enumerate() {
        let (checks, sig) = match sigs.as_deref_mut() {
            None => (req.checks.clone(), None),
            Some(s) => match s.for_place(i, note) {
                Some(sig) => (s.checks_with(&req.checks, &sig), Some(sig)),
                // No copy anywhere: no place can be verified.
                None => return Err(s.failure()),
            },
        };
        let r = retrying(transport.options().retries, note, || {
            download_once(transport, &place.file, &mut tmp, &checks, req.progress)
        });
        match r {
            Ok((mut verified, from)) => {
                if let Some(sig) = &sig {
                    credit(&mut verified, sig);
                }
                install(tmp, req.dest)?;
                keep_sig(req, sig.as_deref())?;
                return Ok(Outcome {
                    verified,
                    source: Some(from),
                    reused: false,
                });
            }
            Err(e) if i + 1 < places.len() => {
                note(&format!(
                    "mirror {}: {e:#}; trying the next source",
                    place.file
                ));
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| fail(Code::Usage, "nothing to fetch")))
}

/// One attempt from one place: verify while streaming into `tmp`.
fn download_once(
    transport: &Transport,
    url: &str,
    tmp: &mut Untrusted,
    checks: &Checks,
    progress: Option<&ProgressFactory>,
) -> anyhow::Result<(Verified, String)> {
    let max = transport.options().max_size;
    let src = transport.open(url)?;
    let from = src.url.clone();
    if let Some(len) = src.len.filter(|len| *len > max) {
        return Err(fail(
            Code::Failed,
            format!("{from}: Content-Length {len} exceeds --max-size {max}"),
        ));
    }
    // A listed size of the bytes received is known before any is read.
    if let (Some(want), Some(len), None) = (checks.size, src.len, checks.uncompress) {
        if want != len {
            return Err(fail(
                Code::Failed,
                format!(
                    "{from}: size mismatch: the list says {want} bytes, Content-Length is {len}"
                ),
            ));
        }
    }
    // Nothing of an earlier attempt stays in the file.
    let file = tmp.file_mut();
    file.set_len(0)
        .and_then(|()| file.rewind())
        .with_code(Code::Io, || "emptying the untrusted file".to_string())?;
    let bar = progress.map(|make| make("fetching", src.len));
    let verified = verify_stream(
        src.reader,
        src.len,
        checks,
        Some(tmp.file_mut()),
        max,
        bar.as_ref(),
    )
    .map_err(|e| {
        let e = e.context(from.clone());
        // The untrusted file is write-only: read it back by its name.
        match fsutil::open_regular(tmp.path(), "the download") {
            Ok(f) => {
                let name = default_name(url).unwrap_or_default();
                pipeline::explain_compressed(e, &f, checks, &name)
            }
            Err(_) => e,
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    Ok((verified?, from))
}

/// Verified: give the file the mode any new file would get (0600 until
/// here, so nobody else could read unverified bytes), fsync, rename.
pub(crate) fn install(tmp: Untrusted, dest: &Path) -> anyhow::Result<()> {
    let file: &File = tmp.file();
    file.set_permissions(std::fs::Permissions::from_mode(fsutil::new_file_mode()))
        .and_then(|()| file.sync_all())
        .with_code(Code::Io, || format!("syncing {}", tmp.path().display()))?;
    tmp.persist(dest)
}
