//! Files named as inputs (log, checkpoints, proofs, state, keyrings,
//! artifacts): regular files only, opened without blocking, read bounded.
//!
//! A FIFO or device given where a file is expected must be refused, never
//! read: opening a FIFO for reading blocks until a writer comes, and a
//! device can yield bytes forever (DESIGN.md §2). The file is opened with
//! `O_NONBLOCK` (which regular files ignore) and checked with `fstat` on
//! the open descriptor, so no swap between a check and the open can slip a
//! FIFO in.

use crate::exit::{fail, Code, ResultExt};
use anyhow::Result;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Open `path` for reading if it is a regular file (symlinks followed).
/// Missing or of the wrong kind is a usage error (2), naming `what`; any
/// other failure to open is I/O (4).
pub fn open_regular(path: &Path, what: &str) -> Result<File> {
    match open_regular_io(path) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(fail(
            Code::Usage,
            format!("{what} {}: no such file", path.display()),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Err(fail(
            Code::Usage,
            format!("{what} {}: {e}: refused", path.display()),
        )),
        Err(e) => Err(e).with_code(Code::Io, || format!("opening {what} {}", path.display())),
    }
}

/// [`open_regular`] with plain I/O errors, for callers that judge them
/// (check-hashes: a listed file that is missing fails the check): not
/// found is `NotFound`, the wrong kind of file `InvalidInput`.
pub fn open_regular_io(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("not a regular file ({})", kind_of(&meta)),
        ));
    }
    Ok(file)
}

/// Check that `path` names a regular file, without reading it (for files a
/// library outside this module opens: keyrings).
pub fn require_regular(path: &Path, what: &str) -> Result<()> {
    open_regular(path, what).map(drop)
}

/// The kind of a non-regular file, for messages.
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

/// Read a regular file whole, at most `max` bytes (more: exit `over`).
pub fn read_regular(path: &Path, what: &str, max: u64, over: Code) -> Result<Vec<u8>> {
    let f = open_regular(path, what)?;
    crate::fsutil::read_bounded(f, max, &format!("{what} {}", path.display()), over)
}

/// `path` or `-` (standard input), read whole and bounded.
pub fn read_arg(path: &Path, what: &str, max: u64, over: Code) -> Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let what = format!("{what} on standard input");
        return crate::fsutil::read_bounded(std::io::stdin().lock(), max, &what, over);
    }
    read_regular(path, what, max, over)
}

/// A JSON document from `path` or `-`, bounded; unreadable as `T` is
/// exit `over` too, saying it is not a `what`.
pub fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
    max: u64,
    over: Code,
) -> Result<T> {
    let text = read_arg(path, what, max, over)?;
    serde_json::from_slice(&text)
        .map_err(|e| fail(over, format!("{} is not a {what}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo has no other inputs.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = open_regular(&fifo, "log").unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Usage);
        assert!(format!("{e:#}").contains("a FIFO"), "{e:#}");
        let e = open_regular(Path::new("/dev/zero"), "keyring").unwrap_err();
        assert!(format!("{e:#}").contains("a device"), "{e:#}");
        let e = open_regular(dir.path(), "proof").unwrap_err();
        assert!(format!("{e:#}").contains("a directory"), "{e:#}");
        let e = open_regular(&dir.path().join("none"), "proof").unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Usage);
        let f = dir.path().join("f");
        std::fs::write(&f, b"12345").unwrap();
        assert_eq!(read_regular(&f, "x", 5, Code::Failed).unwrap(), b"12345");
        let e = read_regular(&f, "x", 4, Code::Failed).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Failed);
    }
}
