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

/// Place [`early_openssl_init`] in the executable's constructors, ahead of
/// sequoia's (a prioritized `.init_array.N` entry runs before plain
/// `.init_array` ones with both GNU ld and lld). Used once in each
/// binary: a constructor in the library's rlib could be dropped by the
/// linker.
#[macro_export]
macro_rules! early_init {
    () => {
        #[used]
        #[link_section = ".init_array.00100"]
        static EARLY_OPENSSL_INIT: extern "C" fn() = $crate::openpgp::backend::early_openssl_init;
    };
}
