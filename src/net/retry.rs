//! Which failures are worth retrying (curl's `--retry` list), retries
//! with backoff, and the faults a streamed transfer raises.

use crate::exit::{code_of, Code};
use std::fmt;
use std::io;
use std::time::Duration;

/// Where an I/O error in a streamed transfer came from (the download
/// pipeline raises these inside `io::Error`s): it decides the exit code
/// and whether a retry may help.
#[derive(Debug)]
pub enum Fault {
    /// The network or the source file: exit 4, worth retrying.
    Transport(io::Error),
    /// Writing the temporary file: exit 4, not worth retrying at once.
    Disk(io::Error),
    /// More bytes than allowed: exit 1.
    TooLarge(u64),
    /// Decompresses to more bytes than allowed: exit 1.
    Expands(u64),
}

impl Fault {
    pub fn is_transient(&self) -> bool {
        matches!(self, Fault::Transport(_))
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Transport(e) => write!(f, "transfer failed: {e}"),
            Fault::Disk(e) => write!(f, "writing the download failed: {e}"),
            Fault::TooLarge(max) => write!(f, "larger than the {max}-byte limit (--max-size)"),
            Fault::Expands(max) => write!(
                f,
                "decompresses to more than the {max}-byte limit (--max-uncompressed-size)"
            ),
        }
    }
}

impl std::error::Error for Fault {}

/// Is a failure worth retrying now? Timeouts, dropped or cut-off
/// connections and 408/429/500/502/503/504 are (curl's `--retry` list); a
/// 404, a TLS or certificate failure, a refused connection, a missing file,
/// a full disk, and every verification failure are not.
pub fn is_transient(err: &anyhow::Error) -> bool {
    if code_of(err) != Code::Io {
        return false;
    }
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<ureq::Error>() {
            return match e {
                ureq::Error::StatusCode(s) => matches!(s, 408 | 429 | 500 | 502 | 503 | 504),
                ureq::Error::Io(io) => io_transient(io),
                ureq::Error::Timeout(_) | ureq::Error::BodyStalled | ureq::Error::Protocol(_) => {
                    true
                }
                _ => false,
            };
        }
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return io_transient(io);
        }
    }
    false
}

/// Does the failure say the resource is not there (HTTP 404 or 410, a
/// missing local file)? For a signature that is "nothing to verify with".
pub fn is_not_found(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<ureq::Error>()
            .is_some_and(|e| matches!(e, ureq::Error::StatusCode(404 | 410)))
            || cause
                .downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::NotFound)
    })
}

fn io_transient(e: &io::Error) -> bool {
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<io::Error>()) {
        return io_transient(inner);
    }
    if let Some(f) = e.get_ref().and_then(|i| i.downcast_ref::<Fault>()) {
        return f.is_transient();
    }
    !matches!(
        e.kind(),
        io::ErrorKind::NotFound
            | io::ErrorKind::PermissionDenied
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::StorageFull
            | io::ErrorKind::ReadOnlyFilesystem
    )
}

/// Run `attempt` again after transient failures, with backoff; `note`
/// hears about each retry.
pub fn retrying<T>(
    retries: u32,
    note: &dyn Fn(&str),
    mut attempt: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut n = 0;
    loop {
        match attempt() {
            Err(e) if n < retries && is_transient(&e) => {
                n += 1;
                note(&format!("{e:#}; retrying ({n}/{retries})"));
                std::thread::sleep(Duration::from_millis(250 << n.min(6)));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::fail;

    #[test]
    fn transient_failures_are_the_retryable_ones() {
        let status = |s| anyhow::Error::new(ureq::Error::StatusCode(s)).context("GET");
        let io = |s: u16| crate::exit::ResultExt::code(Err::<(), _>(status(s)), Code::Io, "x");
        assert!(is_transient(&io(503).unwrap_err()));
        assert!(is_transient(&io(429).unwrap_err()));
        assert!(!is_transient(&io(404).unwrap_err()));
        assert!(!is_transient(&fail(Code::Failed, "bad signature")));
        let refused = anyhow::Error::new(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert!(!is_transient(&refused));
        let reset = anyhow::Error::new(io::Error::from(io::ErrorKind::ConnectionReset));
        assert!(is_transient(&reset));
    }
}
