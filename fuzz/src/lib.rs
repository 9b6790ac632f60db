//! The fuzz targets' bodies, shared with the corpus replay test of the
//! main crate (tests/it/fuzz_replay.rs includes targets.rs).
pub mod targets;
