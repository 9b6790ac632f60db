//! sign-log: append-only, Merkle-sealed, OpenPGP-signed build logs
//! (DESIGN.md §6).
//!
//! - [`record`]: the JSON Lines record format (one record per stored line);
//! - [`merkle`]: RFC 6962/9162 tree, streaming root, proofs;
//! - [`checkpoint`]: C2SP tlog-checkpoint bodies;
//! - [`store`]: the log directory's layout: the locked log file, torn-tail
//!   recovery, streaming reads, the checkpoint files, the default origin;
//! - [`receive`]: input lines to records, caps, batched fdatasync;
//! - [`seal`]: signing checkpoints (sequoia or a gpg-compatible program);
//! - [`verify`]: signatures, sealed roots, record sequence, summary;
//! - [`proof`]: inclusion and consistency proofs;
//! - [`directive`]: `##sign-log` lines from the build side;
//! - [`export`]: `cat` and in-toto statements;
//! - [`note`]: C2SP signed notes, Ed25519 note keys and cosignatures;
//! - [`keys`]: note keys from files and command lines, keygen;
//! - [`gate`]: the signing gate and its state (rollback, fork);
//! - [`witness`]: cosigning checkpoints and storing cosignatures;
//! - [`agree`]: products agreed on by independently sealed logs;
//! - [`tiles`]: c2sp.org/tlog-tiles paths and formats, the verified tile reader;
//! - [`http`]: a tlog-tiles log over HTTP (the `net` transport);
//! - [`publish`]: the tile writer, and a sealed log published with it;
//! - [`monitor`]: reading any tlog-tiles log, its state (rollback, fork).

pub mod agree;
pub mod checkpoint;
pub mod directive;
pub mod export;
pub mod gate;
pub mod http;
pub mod keys;
pub mod merkle;
pub mod monitor;
pub mod note;
pub mod proof;
pub mod publish;
pub mod quorum;
pub mod receive;
pub mod record;
pub mod seal;
pub mod store;
pub mod submit;
pub mod tiles;
pub mod tlogproof;
pub mod tlogwitness;
pub mod verify;
pub mod witness;
