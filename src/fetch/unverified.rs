//! Downloads verified somewhere else. Qubes Builder v2 fetches a source in
//! a disposable executor that holds no keys, as `untrusted_NAME`, and
//! verifies it outside (its `download-file` and `verify-file` scripts;
//! `contrib/qubes-builderv2/` has ours). The download keeps every other rule
//! of [`super::fetch_verified`]: the transport's scheme policy and caps,
//! the locked `NAME.UNTRUSTED` file deleted on failure, the strict
//! decoders, fsync, then an atomic rename; only the check is missing, so
//! the name it is stored under must say so: it must start with
//! [`UNTRUSTED_PREFIX`], and no unverified byte ever gets a name that
//! looks verified (DESIGN.md §1.1).

use super::{install, request_url, verify_stream, Checks, ProgressFactory};
use crate::codec::Compression;
use crate::exit::{fail, Code, Failure, ResultExt};
use crate::fsutil::untrusted::{self, Claim};
use crate::net::{is_not_found, retrying, Transport};
use std::io::Seek;
use std::path::Path;

/// The prefix Qubes Builder v2 gives a file nobody has verified yet.
pub const UNTRUSTED_PREFIX: &str = "untrusted_";

/// What to download, and where.
pub struct Request<'a> {
    /// What to download (a `#/NAME` fragment is never sent).
    pub url: &'a str,
    /// Where: its file name must start with `untrusted_`.
    pub dest: &'a Path,
    /// Store the decompressed content (Qubes Builder v2's `uncompress`).
    pub decompress: Option<Compression>,
    /// With `decompress`: the most bytes it may decompress to.
    pub max_uncompressed: u64,
    /// Appended to `dest`'s name while it is written.
    pub untrusted_suffix: &'a str,
    /// Makes the download's progress bar, when the caller shows progress.
    pub progress: Option<&'a ProgressFactory<'a>>,
}

/// What an unverified download stored.
#[derive(Clone, Debug)]
pub struct Stored {
    /// Bytes stored (decompressed with `decompress`).
    pub size: u64,
    /// The URL the bytes came from (after redirects).
    pub source: String,
}

/// Download `req.url` to `req.dest`, decompressing it on the way when
/// asked. A file already under `dest` is replaced. On failure nothing new
/// is left; a URL with nothing there (404, 410, no such file) is exit 3.
/// `note` hears what is worth telling (retries, stale files removed).
pub fn fetch_unverified(
    transport: &Transport,
    req: &Request,
    note: &dyn Fn(&str),
) -> anyhow::Result<Stored> {
    let dest = req.dest;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.starts_with(UNTRUSTED_PREFIX) || name.len() == UNTRUSTED_PREFIX.len() {
        return Err(fail(
            Code::Usage,
            format!(
                "{}: an unverified download's name must start with {UNTRUSTED_PREFIX} \
                 (followed by the file's name)",
                dest.display()
            ),
        ));
    }
    if std::fs::symlink_metadata(dest).is_ok_and(|m| m.is_dir()) {
        return Err(fail(
            Code::Usage,
            format!("{} is a directory; -o takes a file path", dest.display()),
        ));
    }
    let checks = Checks {
        signature: None,
        hashes: Vec::new(),
        uncompress: req.decompress,
        want_sha256: false,
        max_uncompressed: req.max_uncompressed,
        store_decoded: req.decompress.is_some(),
        size: None,
        rpm: None,
    };
    let opts = transport.options();
    // Another run writing the same name: wait for it, then download anew
    // (nothing here can tell whether what it left is good).
    let mut tmp = loop {
        match untrusted::claim(dest, req.untrusted_suffix, opts.deadline, note)? {
            Claim::Owned(tmp) => break tmp,
            Claim::Waited => continue,
        }
    };
    let url = request_url(req.url);
    let (size, source) = retrying(opts.retries, note, || {
        let src = transport.open(url).map_err(|e| {
            if is_not_found(&e) {
                e.context(Failure::new(Code::Missing, format!("nothing at {url}")))
            } else {
                e
            }
        })?;
        let from = src.url.clone();
        if let Some(len) = src.len.filter(|len| *len > opts.max_size) {
            return Err(fail(
                Code::Failed,
                format!(
                    "{from}: Content-Length {len} exceeds --max-size {}",
                    opts.max_size
                ),
            ));
        }
        // Nothing of an earlier attempt stays in the file.
        let file = tmp.file_mut();
        file.set_len(0)
            .and_then(|()| file.rewind())
            .code(Code::Io, "emptying the untrusted file")?;
        let bar = req.progress.map(|make| make("fetching", src.len));
        let stored = verify_stream(
            src.reader,
            src.len,
            &checks,
            Some(tmp.file_mut()),
            opts.max_size,
            bar.as_ref(),
        )
        .map_err(|e| e.context(from.clone()));
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        Ok((stored?.size, from))
    })?;
    install(tmp, dest)?;
    Ok(Stored { size, source })
}
