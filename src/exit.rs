//! The exit-code contract of DESIGN.md §2, shared by all the tools.
//!
//! Errors travel as `anyhow::Error`; a [`Failure`] anywhere in the chain
//! classifies it. The outermost classification wins, because the caller that
//! added it knows more about what the failure means than the code below it.
//!
//! This module knows no other: a module's typed error states its own code
//! where it is raised ([`typed`]), and stays reachable for callers that
//! look at what went wrong ([`typed_ref`]).

use std::fmt;

/// One of the exit codes of DESIGN.md §2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// Every requested check passed.
    Ok = 0,
    /// Verification failed: bad signature, mismatch, untrusted signer, tampering.
    Failed = 1,
    /// Usage or configuration error.
    Usage = 2,
    /// Nothing to verify with: no signature, no tag, no hash entry.
    Missing = 3,
    /// I/O or network error; retrying may help.
    Io = 4,
}

impl Code {
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The more severe of two outcomes, for tools that check many items.
    /// Verification failures outrank everything: a tampered file must not be
    /// reported as "retry later" because another file was unreadable.
    pub fn worst(self, other: Code) -> Code {
        fn rank(c: Code) -> u8 {
            match c {
                Code::Ok => 0,
                Code::Missing => 1,
                Code::Io => 2,
                Code::Usage => 3,
                Code::Failed => 4,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

impl From<Code> for std::process::ExitCode {
    fn from(c: Code) -> Self {
        std::process::ExitCode::from(c.as_u8())
    }
}

/// The exit-code table every `--help` ends with.
pub const HELP: &str = "\
Exit codes:
  0  every requested check passed
  1  verification failed: bad signature, hash mismatch, untrusted or too few
     signers, forged tag, policy-rejected algorithm, tampered log
  2  usage or configuration error: bad flags, unreadable or empty keyring,
     malformed list where strict parsing is asked
  3  nothing to verify with: no signature, no tag at the revision, no hash
     entry for a file
  4  I/O or network error (retryable): connection, timeout, disk, permission";

/// A typed error as a [`Failure`] carries it.
type Typed = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A classified failure: the message and the exit code it maps to, and
/// the typed error it stands for, if any.
#[derive(Debug)]
pub struct Failure {
    pub code: Code,
    pub message: String,
    /// Shown as this failure (its message is the error's), its causes
    /// after it: the typed error is the failure, not a layer under it.
    typed: Option<Typed>,
}

impl Failure {
    pub fn new(code: Code, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            typed: None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.typed.as_ref().and_then(|t| t.source())
    }
}

/// A new classified error.
pub fn fail(code: Code, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure::new(code, message))
}

/// A module's typed error with the exit code the module gives it. It
/// prints as itself; [`typed_ref`] finds it again.
pub fn typed<E: std::error::Error + Send + Sync + 'static>(code: Code, error: E) -> anyhow::Error {
    anyhow::Error::new(Failure {
        code,
        message: error.to_string(),
        typed: Some(Box::new(error)),
    })
}

/// The typed error of type `E` in `err`'s chain, raised as itself or
/// through [`typed`].
pub fn typed_ref<E: std::error::Error + 'static>(err: &anyhow::Error) -> Option<&E> {
    err.chain().find_map(|c| {
        c.downcast_ref::<E>().or_else(|| {
            c.downcast_ref::<Failure>()
                .and_then(|f| f.typed.as_deref())
                .and_then(|t| t.downcast_ref::<E>())
        })
    })
}

/// Shorthand for `return Err(fail(code, format!(...)))`.
#[macro_export]
macro_rules! bail_code {
    ($code:expr, $($arg:tt)*) => {
        return Err($crate::exit::fail($code, format!($($arg)*)))
    };
}

/// Classify the errors of a fallible call, adding context at the same time.
pub trait ResultExt<T> {
    /// Attach `message` as context and classify the error as `code`.
    fn code(self, code: Code, message: impl Into<String>) -> anyhow::Result<T>;
    /// Lazy variant of [`ResultExt::code`].
    fn with_code<M: Into<String>>(
        self,
        code: Code,
        message: impl FnOnce() -> M,
    ) -> anyhow::Result<T>;
}

impl<T, E> ResultExt<T> for Result<T, E>
where
    E: Into<anyhow::Error>,
{
    fn code(self, code: Code, message: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|e| e.into().context(Failure::new(code, message)))
    }

    fn with_code<M: Into<String>>(
        self,
        code: Code,
        message: impl FnOnce() -> M,
    ) -> anyhow::Result<T> {
        self.map_err(|e| e.into().context(Failure::new(code, message())))
    }
}

/// The exit code an error maps to: the outermost [`Failure`] in its chain
/// (typed errors raised through [`typed`] are Failures too); otherwise an
/// `std::io::Error` means [`Code::Io`]; anything else is a verification
/// failure, because doubt must never pass as success.
pub fn code_of(err: &anyhow::Error) -> Code {
    // anyhow's downcast looks through context layers outermost first; the
    // chain scan finds a Failure that a foreign error type wrapped.
    if let Some(f) = err.downcast_ref::<Failure>() {
        return f.code;
    }
    if let Some(f) = err.chain().find_map(|c| c.downcast_ref::<Failure>()) {
        return f.code;
    }
    if err
        .chain()
        .any(|c| c.downcast_ref::<std::io::Error>().is_some())
    {
        return Code::Io;
    }
    Code::Failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outermost_classification_wins() {
        let inner: anyhow::Result<()> = Err(fail(Code::Io, "read failed"));
        let outer = inner.code(Code::Failed, "verifying x").unwrap_err();
        assert_eq!(code_of(&outer), Code::Failed);
        assert_eq!(format!("{outer:#}"), "verifying x: read failed");
    }

    #[test]
    fn io_errors_are_retryable_and_unknown_is_failure() {
        let e = anyhow::Error::new(std::io::Error::other("disk"));
        assert_eq!(code_of(&e), Code::Io);
        assert_eq!(code_of(&anyhow::anyhow!("what")), Code::Failed);
    }

    #[test]
    fn typed_errors_keep_their_type_and_their_message() {
        #[derive(Debug, thiserror::Error)]
        #[error("line {0}: bad")]
        struct Bad(usize);
        let e = typed(Code::Usage, Bad(3)).context("list L");
        assert_eq!(code_of(&e), Code::Usage);
        assert_eq!(typed_ref::<Bad>(&e).map(|b| b.0), Some(3));
        assert_eq!(format!("{e:#}"), "list L: line 3: bad");
        // An explicit classification outside still wins.
        let e: anyhow::Result<()> = Err(typed(Code::Missing, Bad(1)));
        assert_eq!(code_of(&e.code(Code::Io, "x").unwrap_err()), Code::Io);
    }

    #[test]
    fn worst_prefers_verification_failure() {
        assert_eq!(Code::Io.worst(Code::Failed), Code::Failed);
        assert_eq!(Code::Ok.worst(Code::Missing), Code::Missing);
        assert_eq!(Code::Missing.worst(Code::Ok), Code::Missing);
    }
}
