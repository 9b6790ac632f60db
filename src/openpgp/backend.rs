//! Start-up costs of the OpenSSL backend, which a tool run in a loop by a
//! Makefile pays every time (verify-tag runs once per component).
//!
//! - Before `main`, sequoia's constructor calls `OPENSSL_init_ssl`, which
//!   by default reads the system's `openssl.cnf` and registers every
//!   cipher and digest name in OpenSSL's default library context: about
//!   0.8 ms here. Sequoia never uses that context: it makes its own
//!   (`OSSL_LIB_CTX_new`, which reads no configuration) and fetches every
//!   algorithm from it by provider, never by the legacy name tables. So
//!   [`early_init!`] initializes the default context first, without the
//!   configuration and without the name tables; nothing sequoia does
//!   changes. (Should the constructors run in the other order, the call
//!   is a no-op.)
//! - That constructor is also the only use of libssl in the tools (TLS is
//!   rustls): loading and relocating libssl and its error strings cost
//!   another ~0.3 ms a start. [`early_init!`] therefore defines
//!   `OPENSSL_init_ssl` in the executable as [`init_ssl_without_libssl`],
//!   which does for sequoia what it asks (libcrypto's initialization with
//!   its flags); with nothing else taken from libssl, the linker's
//!   `--as-needed` drops the library. A test checks that no tool needs
//!   libssl, so a future user of it cannot get this stand-in by accident.
//!   OpenSSL's error strings are then not loaded: nothing prints them
//!   (sequoia's bindings report their own errors).

use std::ffi::{c_int, c_void};

extern "C" {
    fn OPENSSL_init_crypto(opts: u64, settings: *const c_void) -> c_int;
}

// openssl/crypto.h
const OPENSSL_INIT_NO_ADD_ALL_CIPHERS: u64 = 0x0000_0010;
const OPENSSL_INIT_NO_ADD_ALL_DIGESTS: u64 = 0x0000_0020;
const OPENSSL_INIT_NO_LOAD_CONFIG: u64 = 0x0000_0080;
const OPENSSL_INIT_NO_ATEXIT: u64 = 0x0008_0000;

/// Initialize OpenSSL's default context lean; run before `main` by
/// [`early_init!`]. `NO_ATEXIT` as sequoia asks: no cleanup handler may
/// free what another thread still uses at exit.
pub extern "C" fn early_openssl_init() {
    // SAFETY: a plain library call with constant flags and no settings;
    // OpenSSL makes initialization idempotent and thread-safe.
    unsafe {
        OPENSSL_init_crypto(
            OPENSSL_INIT_NO_LOAD_CONFIG
                | OPENSSL_INIT_NO_ADD_ALL_CIPHERS
                | OPENSSL_INIT_NO_ADD_ALL_DIGESTS
                | OPENSSL_INIT_NO_ATEXIT,
            std::ptr::null(),
        );
    }
}

/// Stands in for libssl's `OPENSSL_init_ssl` (see the module comment):
/// sequoia calls it, with `NO_ATEXIT`, only to initialize libcrypto.
/// libssl would add its own error strings and TLS names to the default
/// context, which nothing here uses.
///
/// # Safety
/// `settings` is null or a valid `OPENSSL_INIT_SETTINGS`, as
/// `OPENSSL_init_ssl` requires; it is passed on unchanged.
pub unsafe extern "C" fn init_ssl_without_libssl(opts: u64, settings: *const c_void) -> c_int {
    // SAFETY: the caller's contract above is libcrypto's.
    unsafe { OPENSSL_init_crypto(opts, settings) }
}

/// Place [`early_openssl_init`] in the executable's constructors, ahead of
/// sequoia's (a prioritized `.init_array.N` entry runs before plain
/// `.init_array` ones with both GNU ld and lld), and define
/// `OPENSSL_init_ssl` there. Used once in each binary: a constructor in the
/// library's rlib could be dropped by the linker.
#[macro_export]
macro_rules! early_init {
    () => {
        #[used]
        #[link_section = ".init_array.00100"]
        static EARLY_OPENSSL_INIT: extern "C" fn() = $crate::openpgp::backend::early_openssl_init;

        /// libssl's one symbol the tools would use (see `openpgp::backend`).
        ///
        /// # Safety
        /// As `OPENSSL_init_ssl`: `settings` is null or valid.
        #[no_mangle]
        pub unsafe extern "C" fn OPENSSL_init_ssl(
            opts: u64,
            settings: *const ::std::ffi::c_void,
        ) -> ::std::ffi::c_int {
            // SAFETY: the same contract, passed on.
            unsafe { $crate::openpgp::backend::init_ssl_without_libssl(opts, settings) }
        }
    };
}
