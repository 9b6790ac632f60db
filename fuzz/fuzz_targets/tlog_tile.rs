#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| build_verify_fuzz::targets::tlog_tile(data));
