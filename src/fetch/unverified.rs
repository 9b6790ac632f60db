//! Downloads verified somewhere else. Qubes Builder v2 fetches a source in
//! a disposable executor that holds no keys, as `untrusted_NAME`, and
//! verifies it outside (its `download-file` and `verify-file` scripts;
//! `contrib/qubes-builderv2/` has ours). The download keeps every other rule
//! of [`super::fetch_verified`]: the transport's scheme policy and caps,
//! an `O_EXCL` temporary name deleted on failure, fsync, then an atomic
//! rename; only the check is missing, so the name it is stored under must
//! say so: it must start with [`UNTRUSTED_PREFIX`], and no unverified byte
//! ever gets a name that looks verified (DESIGN.md §1.1).

use super::pipeline::{store_stream, StoredBytes};
use super::{Compression, Transport};
use crate::exit::{fail, Code, Failure, ResultExt};
use crate::fsutil;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The prefix Qubes Builder v2 gives a file nobody has verified yet.
pub const UNTRUSTED_PREFIX: &str = "untrusted_";

/// What an unverified download stored.
#[derive(Clone, Debug)]
pub struct Stored {
    pub bytes: StoredBytes,
    /// The URL the bytes came from (after redirects).
    pub source: String,
    /// Leftover temporaries of a killed run that were removed first.
    pub removed_stale: Vec<PathBuf>,
}

/// Download `url` to `dest` (whose file name must start with
/// `untrusted_`), decompressing it on the way when asked (Qubes Builder
/// v2's `uncompress`: the signature covers the decompressed file). A file
/// already under `dest` is replaced. On failure nothing new is left; a
/// URL with nothing there (404, 410, no such file) is exit 3.
pub fn fetch_unverified(
    transport: &Transport,
    url: &str,
    dest: &Path,
    decompress: Option<Compression>,
    max_uncompressed: u64,
    progress: Option<&indicatif::ProgressBar>,
) -> anyhow::Result<Stored> {
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
    let removed_stale = fsutil::remove_stale_untrusted(dest)?;
    let opts = transport.options();
    let (bytes, source) = super::retrying(opts.retries, || {
        let src = transport.open(super::request_url(url)).map_err(|e| {
            if super::is_not_found(&e) {
                e.context(Failure {
                    code: Code::Missing,
                    message: format!("nothing at {url}"),
                })
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
        let mut tmp = fsutil::untrusted_temp(dest).code(Code::Io, "starting the download")?;
        if let Some(p) = progress {
            p.reset();
            if let Some(len) = src.len {
                p.set_length(len);
            }
        }
        let bytes = store_stream(
            src.reader,
            src.len,
            decompress,
            tmp.as_file_mut(),
            opts.max_size,
            max_uncompressed,
            progress,
        )
        .map_err(|e| e.context(from.clone()))?;
        let file = tmp.as_file();
        file.set_permissions(std::fs::Permissions::from_mode(fsutil::new_file_mode()))
            .and_then(|()| file.sync_all())
            .with_code(Code::Io, || format!("syncing {}", tmp.path().display()))?;
        tmp.persist(dest)
            .map_err(|e| e.error)
            .with_code(Code::Io, || format!("renaming into {}", dest.display()))?;
        fsutil::sync_dir(fsutil::parent_dir(dest)).code(Code::Io, "after the rename")?;
        Ok((bytes, from))
    })?;
    Ok(Stored {
        bytes,
        source,
        removed_stale,
    })
}
