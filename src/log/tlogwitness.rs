//! The c2sp.org/tlog-witness protocol: the `add-checkpoint` request and
//! its answers, and the witness's side of it.
//!
//! A request is `old N`, the consistency proof from N (one base64 hash a
//! line, at most 63), a blank line and the checkpoint note. The witness
//! knows logs by their Ed25519 note keys (named by their origins) and
//! keeps, per origin, the last checkpoint it cosigned: size and root, with
//! the log's signature and its own cosignatures, in
//! `STATE/<hex SHA-256 of the origin>/checkpoint` (what the spec's
//! monitoring API serves at `<prefix>/<origin hash>/checkpoint`). The
//! check of `old` against it and its replacement happen under one lock
//! (`checkpoint.lock`), so two requests cannot both extend one size (the
//! race the spec describes): one gets 200, the other 409.
//!
//! Answers, as the spec orders the checks: 400 for a malformed request or
//! an old size above the checkpoint's, 404 for an unknown origin, 403 for
//! no valid signature by the log's key (or a bad one), 409 with the size
//! it holds when `old` is not it, 422 when the checkpoint is not proved
//! consistent with what it holds (a fork at the same size too), and 200
//! with its cosignature lines once the new state is on disk. A checkpoint
//! refused with 422 whose signature verified is kept beside the state
//! (`conflict-<time>`): a log that signed two histories proved it.

use super::checkpoint::{parse_note, Checkpoint};
use super::merkle::{self, Hash};
use super::note::{self, Note, SignatureLine, SignerKey, VerifierKey};
use super::tlogproof::{parse_decimal, parse_nodes, split_line};
use crate::exit::{fail, Code};
use crate::net::serve::Incoming;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A request is a checkpoint note (64 KiB at most) and 63 hashes.
pub const MAX_REQUEST: u64 = 72 * 1024;
/// The content type of a 409's body (the witness's size).
pub const SIZE_TYPE: &str = "text/x.tlog.size";
/// What the other answers carry.
pub const TEXT_TYPE: &str = "text/plain; charset=utf-8";
/// A state file is a checkpoint note.
const MAX_STATE: u64 = 64 * 1024;

/// An `add-checkpoint` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub old: u64,
    pub proof: Vec<Hash>,
    /// The checkpoint note, verbatim.
    pub checkpoint: Vec<u8>,
}

impl Request {
    /// Parse a request strictly; the reason for a 400 otherwise.
    pub fn parse(body: &[u8]) -> Result<Request, String> {
        let (first, rest) = split_line(body).ok_or("a line without its newline")?;
        let old = first
            .strip_prefix(b"old ")
            .and_then(parse_decimal)
            .ok_or("the first line is not `old N`")?;
        let (proof, rest) = parse_nodes(rest)?;
        if rest.is_empty() {
            return Err("no checkpoint".into());
        }
        Ok(Request {
            old,
            proof,
            checkpoint: rest.to_vec(),
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("old {}\n", self.old).into_bytes();
        for h in &self.proof {
            out.extend_from_slice(merkle::to_b64(h).as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.checkpoint);
        out
    }
}

/// A 409's body: the witness's size and a newline.
pub fn parse_size_body(body: &[u8]) -> Option<u64> {
    parse_decimal(body.strip_suffix(b"\n")?)
}

/// The signature lines of a 200 (each `— NAME SIG`), at most
/// [`note::MAX_SIGNATURES`].
pub fn parse_cosignatures(body: &[u8]) -> Result<Vec<SignatureLine>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the answer is not UTF-8")?;
    let text = text
        .strip_suffix('\n')
        .ok_or("the answer does not end in a newline")?;
    let mut out = Vec::new();
    for l in text.split('\n') {
        if out.len() == note::MAX_SIGNATURES {
            return Err("too many signature lines".into());
        }
        out.push(SignatureLine::parse(l).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// An answer: HTTP status, content type and body; `log` says what
/// happened, for the operator's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub log: String,
}

impl Response {
    /// An answer whose body is `why` (a refusal, or 200's lines).
    pub fn text(status: u16, why: impl Into<String>) -> Response {
        let why = why.into();
        let mut body = why.clone().into_bytes();
        body.push(b'\n');
        Response {
            status,
            content_type: TEXT_TYPE,
            body,
            log: why,
        }
    }

    /// The status's reason phrase.
    pub fn reason(&self) -> &'static str {
        reason(self.status)
    }
}

/// The reason phrase of the statuses a witness answers with.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        422 => "Unprocessable Entity",
        _ => "Internal Server Error",
    }
}

/// The hex SHA-256 of an origin: its name under the witness's state (and
/// in the monitoring API's path).
pub fn origin_hash(origin: &str) -> String {
    hex::encode(Sha256::digest(origin.as_bytes()))
}

/// The state file of `origin` under `dir`.
pub fn state_path(dir: &Path, origin: &str) -> PathBuf {
    dir.join(origin_hash(origin)).join("checkpoint")
}

/// Parse a witness's state for `origin`: the last checkpoint it cosigned,
/// a note.
pub fn parse_state(bytes: &[u8], origin: &str) -> anyhow::Result<(Note, Checkpoint)> {
    let (note, cp) = parse_note(bytes)?;
    if cp.origin != origin {
        return Err(fail(
            Code::Failed,
            format!(
                "the state holds a checkpoint of \"{}\"",
                super::record::terminal_safe(cp.origin.as_bytes())
            ),
        ));
    }
    Ok((note, cp))
}

/// The state of `origin`, none yet being `None` (the special-file rule:
/// a FIFO or device there is refused, never read).
fn read_state(path: &Path, origin: &str) -> anyhow::Result<Option<(Note, Checkpoint)>> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    let bytes = crate::fsutil::input::read_regular(path, "witness state", MAX_STATE, Code::Failed)?;
    parse_state(&bytes, origin)
        .map(Some)
        .map_err(|e| e.context(format!("witness state {}", path.display())))
}

/// A witness: its cosignature keys, the logs it knows, its state.
pub struct Witness {
    pub keys: Vec<SignerKey>,
    pub logs: Vec<VerifierKey>,
    pub state: PathBuf,
}

impl Witness {
    /// Check the keys: cosignature keys to sign with, Ed25519 note keys
    /// of logs.
    pub fn new(
        keys: Vec<SignerKey>,
        logs: Vec<VerifierKey>,
        state: PathBuf,
    ) -> anyhow::Result<Self> {
        if keys.is_empty() {
            return Err(fail(Code::Usage, "a witness needs a cosignature key"));
        }
        if let Some(k) = keys.iter().find(|k| k.kind != note::COSIGNATURE) {
            return Err(fail(
                Code::Usage,
                format!(
                    "{} is a {} key; a witness cosigns with a cosignature (type 4) key",
                    k.name,
                    k.kind_name()
                ),
            ));
        }
        if let Some(k) = logs.iter().find(|k| k.kind != note::ED25519) {
            return Err(fail(
                Code::Usage,
                format!("{}: a log's key is an Ed25519 note (type 1) key", k.name),
            ));
        }
        if logs.is_empty() {
            return Err(fail(
                Code::Usage,
                "a witness needs the keys of the logs it witnesses",
            ));
        }
        Ok(Witness { keys, logs, state })
    }

    /// Answer one `add-checkpoint` request at time `now` (seconds since
    /// the epoch). An error is the witness's own failure (its state, its
    /// disk): a 500, nothing cosigned.
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> anyhow::Result<Response> {
        let req = match Request::parse(body) {
            Ok(r) => r,
            Err(why) => return Ok(Response::text(400, why)),
        };
        let (note, cp) = match parse_note(&req.checkpoint) {
            Ok(x) => x,
            Err(e) => return Ok(Response::text(400, format!("{e:#}"))),
        };
        let origin = super::record::terminal_safe(cp.origin.as_bytes());
        let trusted: Vec<VerifierKey> = self
            .logs
            .iter()
            .filter(|k| k.name == cp.origin)
            .cloned()
            .collect();
        if trusted.is_empty() {
            return Ok(Response::text(404, format!("unknown log \"{origin}\"")));
        }
        match note::verify(&note, &trusted) {
            Err(e) => {
                return Ok(Response::text(
                    403,
                    format!("checkpoint of \"{origin}\": {e}"),
                ))
            }
            Ok(v) if v.is_empty() => {
                return Ok(Response::text(
                    403,
                    format!("checkpoint of \"{origin}\": no signature by a key of the log"),
                ))
            }
            Ok(_) => {}
        }
        if req.old > cp.size {
            return Ok(Response::text(
                400,
                format!("old size {} above the checkpoint's {}", req.old, cp.size),
            ));
        }
        if now == 0 {
            return Err(fail(
                Code::Io,
                "the clock says 1970: no timestamp to cosign with",
            ));
        }
        let path = state_path(&self.state, &cp.origin);
        let dir = crate::fsutil::parent_dir(&path);
        crate::fsutil::create_dir_all(dir, "witness state directory")?;
        // A FIFO or device planted at the lock is refused (the special-file rule).
        let _lock = crate::fsutil::lock_beside(&path)?;
        let held = read_state(&path, &cp.origin)?;
        let (size, root) = held
            .as_ref()
            .map_or((0, merkle::empty_root()), |(_, c)| (c.size, c.root));
        if req.old != size {
            return Ok(Response {
                status: 409,
                content_type: SIZE_TYPE,
                body: format!("{size}\n").into_bytes(),
                log: format!(
                    "\"{origin}\": old size {}, the witness holds {size}",
                    req.old
                ),
            });
        }
        if let Some(why) = inconsistent(&req, &cp, size, &root) {
            let kept = self.keep_conflict(&path, body, now);
            return Ok(Response::text(
                422,
                format!("checkpoint {} of \"{origin}\": {why}{kept}", cp.size),
            ));
        }
        // The state: the checkpoint with the log's verified signature
        // lines and the witness's own, as the monitoring API serves it.
        let lines: Vec<SignatureLine> = self.keys.iter().map(|k| k.sign(&note.text, now)).collect();
        let mut state = Note {
            text: note.text.clone(),
            signatures: note
                .signatures
                .iter()
                .filter(|l| trusted.iter().any(|k| k.claims(l)))
                .cloned()
                .collect(),
        };
        for l in &lines {
            state.add(l.clone());
        }
        crate::fsutil::write_atomic_public(&path, state.encode().as_bytes())?;
        let body: String = lines.iter().map(SignatureLine::encode).collect();
        Ok(Response {
            status: 200,
            content_type: TEXT_TYPE,
            body: body.into_bytes(),
            log: format!("\"{origin}\": cosigned {} (was {size})", cp.size),
        })
    }

    /// Answer a request: `POST .../add-checkpoint` (a bare body, from a
    /// qrexec service, is one), or the monitoring API's `GET
    /// .../<origin hash>/checkpoint`.
    pub fn serve(&self, req: &Incoming, now: u64) -> anyhow::Result<Response> {
        let path = req.path.trim_end_matches('/');
        if path.is_empty() || path == "/add-checkpoint" || path.ends_with("/add-checkpoint") {
            if req.method != "POST" {
                return Ok(Response::text(405, "add-checkpoint takes a POST"));
            }
            return self.add_checkpoint(&req.body, now);
        }
        let hash = path
            .strip_suffix("/checkpoint")
            .and_then(|p| p.rsplit('/').next())
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        match hash {
            Some(h) if req.method == "GET" => self.checkpoint(h),
            Some(_) => Ok(Response::text(405, "a checkpoint is read with GET")),
            None => Ok(Response::text(404, "no such resource")),
        }
    }

    /// Keep a refused request beside the state: best effort, said in the
    /// answer.
    fn keep_conflict(&self, state: &Path, body: &[u8], now: u64) -> String {
        let path = crate::fsutil::parent_dir(state).join(format!(
            "conflict-{now}-{}",
            crate::time::now_micros() % 1_000_000
        ));
        match crate::fsutil::write_atomic(&path, body) {
            Ok(()) => "; request kept".into(),
            Err(_) => String::new(),
        }
    }

    /// The monitoring API: the last checkpoint cosigned for the origin
    /// whose hash is `hash` (404 when none).
    pub fn checkpoint(&self, hash: &str) -> anyhow::Result<Response> {
        let Some(origin) = self
            .logs
            .iter()
            .map(|k| &k.name)
            .find(|o| origin_hash(o) == hash)
        else {
            return Ok(Response::text(404, "unknown log"));
        };
        let path = state_path(&self.state, origin);
        match read_state(&path, origin)? {
            None => Ok(Response::text(404, "no checkpoint cosigned yet")),
            Some((note, cp)) => Ok(Response {
                status: 200,
                content_type: TEXT_TYPE,
                body: note.encode().into_bytes(),
                log: format!("served checkpoint {}", cp.size),
            }),
        }
    }
}

/// Why `req` does not extend the tree of `size` with `root` (its old
/// size), if it does not: a reason for a 422.
fn inconsistent(req: &Request, cp: &Checkpoint, size: u64, root: &Hash) -> Option<String> {
    if cp.size == 0 && cp.root != merkle::empty_root() {
        return Some("a tree of size 0 must have the empty tree's root".into());
    }
    if req.old == 0 {
        return (!req.proof.is_empty()).then(|| "a proof from size 0 must be empty".into());
    }
    if req.old == cp.size {
        return (cp.root != *root || !req.proof.is_empty()).then(|| {
            "another root than the checkpoint of the same size the witness cosigned (a fork)".into()
        });
    }
    merkle::verify_consistency(req.old, cp.size, &req.proof, root, &cp.root)
        .err()
        .map(|e| format!("not proved consistent with the tree of {size} the witness cosigned: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_strictly_and_round_trip() {
        let cp = b"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n".to_vec();
        let r = Request {
            old: 7,
            proof: vec![[3; 32]; 3],
            checkpoint: cp.clone(),
        };
        assert_eq!(Request::parse(&r.encode()).unwrap(), r);
        let empty = Request {
            old: 0,
            proof: vec![],
            checkpoint: cp.clone(),
        };
        assert_eq!(Request::parse(&empty.encode()).unwrap(), empty);
        for bad in [
            &b"old 01\n\no\n"[..],
            b"old -1\n\n",
            b"old 1",
            b"old 1\nAAAA\n\n",
            b"new 1\n\n",
            b"old 1\n",
        ] {
            assert!(Request::parse(bad).is_err(), "{bad:?}");
        }
        let mut many = b"old 5\n".to_vec();
        for _ in 0..64 {
            many.extend_from_slice(merkle::to_b64(&[1; 32]).as_bytes());
            many.push(b'\n');
        }
        many.push(b'\n');
        assert!(Request::parse(&many).is_err());
        assert_eq!(parse_size_body(b"12\n"), Some(12));
        for bad in [&b"12"[..], b"012\n", b"12\n\n", b" 12\n"] {
            assert_eq!(parse_size_body(bad), None);
        }
    }

    /// The checks that need a log key of the test's own: a tree of size 0
    /// with another root, a proof from 0, a fork at the same size.
    #[test]
    fn empty_trees_proofs_from_zero_and_forks_are_422() {
        use crate::log::checkpoint::Checkpoint;
        let dir = tempfile::tempdir().unwrap();
        let log = SignerKey::generate("example.com/log", note::ED25519).unwrap();
        let w = Witness::new(
            vec![SignerKey::generate("w.example", note::COSIGNATURE).unwrap()],
            vec![log.verifier()],
            dir.path().join("state"),
        )
        .unwrap();
        let req = |old: u64, proof: Vec<Hash>, size: u64, root: Hash| {
            let text = Checkpoint {
                origin: "example.com/log".into(),
                size,
                root,
            }
            .text();
            let note = Note {
                signatures: vec![log.sign(&text, 0)],
                text,
            };
            Request {
                old,
                proof,
                checkpoint: note.encode().into_bytes(),
            }
            .encode()
        };
        let status = |body: Vec<u8>| w.add_checkpoint(&body, 1_700_000_000).unwrap().status;
        assert_eq!(status(req(0, vec![], 0, [1; 32])), 422);
        assert_eq!(status(req(0, vec![[2; 32]], 5, [1; 32])), 422);
        assert_eq!(status(req(0, vec![], 0, merkle::empty_root())), 200);
        assert_eq!(status(req(0, vec![], 5, [1; 32])), 200);
        assert_eq!(
            status(req(5, vec![], 5, [1; 32])),
            200,
            "the same tree again"
        );
        assert_eq!(status(req(5, vec![], 5, [2; 32])), 422, "a fork");
        assert_eq!(
            status(req(5, vec![[3; 32]], 5, [1; 32])),
            422,
            "a proof between equal trees"
        );
        assert_eq!(status(req(4, vec![], 5, [1; 32])), 409);
        assert_eq!(
            status(req(5, vec![[3; 32]], 6, [4; 32])),
            422,
            "no such proof"
        );
        let held = std::fs::read(state_path(&w.state, "example.com/log")).unwrap();
        assert_eq!(
            parse_state(&held, "example.com/log").unwrap().1.root,
            [1; 32]
        );
        assert!(parse_state(&held, "example.com/other").is_err());
    }
}
