//! Files named as inputs (log, checkpoints, proofs, state, keyrings,
//! artifacts): regular files only, opened without blocking, read bounded.
//!
//! A FIFO or device given where a file is expected must be refused, never
//! read: opening a FIFO for reading blocks until a writer comes, and a
//! device can yield bytes forever (DESIGN.md §2). The file is opened with
//! `O_NONBLOCK` (which regular files ignore) and checked with `fstat` on
//! the open descriptor, so no swap between a check and the open can slip a
//! FIFO in ([`crate::fsutil::open_regular`]).

use crate::exit::{fail, Code};
use anyhow::Result;
use std::path::Path;

// The checks live in fsutil, shared with the other tools' inputs.
pub use crate::fsutil::{open_regular, open_regular_io, read_regular, require_regular};

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
