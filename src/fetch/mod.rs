//! fetch-verified: download into an untrusted temporary file, verify while
//! streaming, and only then rename to the final name (DESIGN.md §1.1).
//!
//! - [`transport`]: https/http/file access, proxies, TLS roots, retries.
//! - [`mirrors`]: output names and the order of sources.
//! - [`decompress`]: strict decoders for `--uncompress`.
//! - [`pipeline`]: the one-pass tee → decode → hash → verify stream.
//! - [`unverified`]: downloads verified elsewhere, only as `untrusted_NAME`.
//!
//! This module ties them together: re-verify what is present, try each
//! source into a fresh `.NAME.UNTRUSTED-XXXX`, fsync, rename, fsync the
//! directory; on any failure the temporary file is deleted.

pub mod decompress;
pub mod mirrors;
pub mod pipeline;
pub mod transport;
pub mod unverified;

pub use decompress::Compression;
pub use mirrors::{candidates, default_name, env_mirrors, request_url};
pub use pipeline::{store_stream, verify_stream, Checks, StoredBytes, Verified};
pub use transport::{is_not_found, retrying, EnvProxies, Source, Transport, TransportOptions};

use crate::digest::Algo;
use crate::exit::{code_of, fail, Code, Failure, ResultExt};
use crate::fsutil;
use crate::openpgp::{verify::is_cleartext_signed, Verdict, Verifier};
use anyhow::Context;
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

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

/// What the SIG argument holds.
#[derive(Debug)]
pub enum SigFile {
    /// A detached signature over the download (or its decompressed content).
    Detached(Vec<u8>),
    /// A cleartext-signed hash list (an upstream's `sha256sums.asc`),
    /// already verified: its entries for the download pin it.
    SignedList {
        verdict: Verdict,
        hashes: Vec<(Algo, Vec<u8>)>,
    },
}

/// The names a signed hash list may pin the download under, in order:
/// the output's, then the URL's; with `uncompress`, the decompressed
/// files' (the check covers their content).
pub fn listed_names(url: &str, name: &str, uncompress: bool) -> Vec<String> {
    let mut names = vec![name.to_string()];
    if let Ok(n) = default_name(url) {
        if n != name {
            names.push(n);
        }
    }
    if uncompress {
        for n in &mut names {
            if let Some(d) = Compression::decompressed_name(n) {
                *n = d;
            }
        }
    }
    names
}

/// Fetch SIG (a URL or a local path, at most `limit` bytes) and tell what
/// it is. A SIG that is not there (404, 410, no such file) is "nothing to
/// verify with" (exit 3). A cleartext-signed list is verified here with
/// `verifier`, and the first of `names` it has an entry for (the output
/// name, then the URL's; their decompressed names with --uncompress) looked
/// up in its signed text.
pub fn load_signature(
    transport: &Transport,
    sig: &str,
    verifier: &Verifier,
    names: &[String],
    limit: u64,
) -> anyhow::Result<SigFile> {
    let bytes = transport.get_small(sig, limit).map_err(|e| {
        if is_not_found(&e) {
            e.context(Failure {
                code: Code::Missing,
                message: format!("no signature at {sig}"),
            })
        } else {
            e.context(format!("signature {sig}"))
        }
    })?;
    if !is_cleartext_signed(&bytes) {
        return Ok(SigFile::Detached(bytes));
    }
    let (verdict, text) = verifier
        .verify_cleartext(&bytes, limit)
        .with_context(|| format!("signed hash list {sig}"))?;
    let mut found = Err(fail(Code::Missing, "no file name to look up"));
    for name in names {
        found = crate::hashlist::expected_for(&text, name.as_bytes());
        if !matches!(&found, Err(e) if code_of(e) == Code::Missing) {
            break;
        }
    }
    let hashes = found.with_context(|| format!("signed hash list {sig}"))?;
    Ok(SigFile::SignedList { verdict, hashes })
}

/// The whole job: re-verify a present `dest`, or download it from the
/// mirrors then `url` into an untrusted temporary name, verify, fsync,
/// rename. On failure nothing unverified remains under `dest`.
pub fn fetch_verified(
    transport: &Transport,
    url: &str,
    mirrors: &[String],
    dest: &Path,
    checks: &Checks,
    progress: bool,
) -> anyhow::Result<Outcome> {
    if checks.is_empty() {
        return Err(fail(
            Code::Missing,
            "nothing to verify with: no signature and no pinned hash",
        ));
    }
    for stale in fsutil::remove_stale_untrusted(dest)? {
        eprintln!("fetch-verified: removed stale {}", stale.display());
    }
    if let Some(verified) = reverify_present(transport, dest, checks)? {
        return Ok(Outcome {
            verified,
            source: None,
            reused: true,
        });
    }
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sources = candidates(url, &name, mirrors);
    let mut last = None;
    for (i, src) in sources.iter().enumerate() {
        let is_last = i + 1 == sources.len();
        let r = retrying(transport.options().retries, || {
            download_once(transport, src, dest, checks, progress)
        });
        match r {
            Ok((verified, from)) => {
                return Ok(Outcome {
                    verified,
                    source: Some(from),
                    reused: false,
                })
            }
            Err(e) if !is_last => {
                eprintln!("fetch-verified: mirror {src}: {e:#}; trying the next source");
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| fail(Code::Usage, "nothing to fetch")))
}

/// A file already under `dest` is verified like a download; if it fails it
/// is deleted (and then fetched again), never trusted because it exists.
fn reverify_present(
    transport: &Transport,
    dest: &Path,
    checks: &Checks,
) -> anyhow::Result<Option<Verified>> {
    let meta = match std::fs::symlink_metadata(dest) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_code(Code::Io, || format!("examining {}", dest.display())),
    };
    if meta.is_dir() {
        return Err(fail(
            Code::Usage,
            format!("{} is a directory; -o takes a file path", dest.display()),
        ));
    }
    let f = File::open(dest).with_code(Code::Io, || format!("opening {}", dest.display()))?;
    let max = transport.options().max_size;
    match verify_stream(f, None, checks, None, max, None) {
        Ok(verified) => Ok(Some(verified)),
        Err(e) if code_of(&e) == Code::Failed => {
            eprintln!(
                "fetch-verified: {} is present but fails verification ({e:#}); deleting it and fetching again",
                dest.display()
            );
            std::fs::remove_file(dest)
                .with_code(Code::Io, || format!("removing {}", dest.display()))?;
            fsutil::sync_dir(fsutil::parent_dir(dest))?;
            Ok(None)
        }
        Err(e) => Err(e.context(format!("re-verifying {}", dest.display()))),
    }
}

/// One attempt from one source: temp file, verify while streaming, fsync,
/// rename. The temporary file is deleted on drop, so every early return
/// removes it.
fn download_once(
    transport: &Transport,
    url: &str,
    dest: &Path,
    checks: &Checks,
    progress: bool,
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
    let mut tmp = fsutil::untrusted_temp(dest).code(Code::Io, "starting the download")?;
    let bar = progress.then(|| progress_bar(src.len));
    let verified = verify_stream(
        src.reader,
        src.len,
        checks,
        Some(tmp.as_file_mut()),
        max,
        bar.as_ref(),
    )
    .map_err(|e| e.context(from.clone()));
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let verified = verified?;
    let file = tmp.as_file();
    // Verified: now it may have the mode any new file would (0600 until
    // here, so nobody else could read unverified bytes).
    file.set_permissions(std::fs::Permissions::from_mode(fsutil::new_file_mode()))
        .and_then(|()| file.sync_all())
        .with_code(Code::Io, || format!("syncing {}", tmp.path().display()))?;
    tmp.persist(dest)
        .map_err(|e| e.error)
        .with_code(Code::Io, || format!("renaming into {}", dest.display()))?;
    fsutil::sync_dir(fsutil::parent_dir(dest)).code(Code::Io, "after the rename")?;
    Ok((verified, from))
}

/// A progress bar for a download of `len` bytes (a spinner when unknown).
pub fn progress_bar(len: Option<u64>) -> indicatif::ProgressBar {
    let bar = match len {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    let template = if len.is_some() {
        "{bytes}/{total_bytes} {wide_bar} {bytes_per_sec} {eta}"
    } else {
        "{spinner} {bytes} {bytes_per_sec}"
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}
