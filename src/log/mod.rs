//! sign-log: append-only, Merkle-sealed, OpenPGP-signed build logs
//! (DESIGN.md §6).

pub mod directive;
pub mod export;
pub mod merkle;
pub mod proof;
pub mod receive;
pub mod record;
pub mod seal;
pub mod store;
pub mod verify;
