//! Reading git refs and objects in-process (gix), and parsing the signed
//! parts of tag and commit objects ourselves: the signature must be split
//! from the exact bytes it covers.

use crate::exit::{fail, Code, ResultExt};
use gix::ObjectId;
use std::path::Path;

pub use gix::ObjectId as Oid;

/// An open repository.
pub struct Repo {
    repo: gix::Repository,
}

/// A tag ref: its short name (`v1.0`) and the object it points at.
#[derive(Clone, Debug)]
pub struct TagRef {
    pub name: String,
    pub target: ObjectId,
}

/// Kinds of objects a tag may point at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Commit,
    Tag,
    Tree,
    Blob,
}

impl Repo {
    /// Open the repository at `dir` (unreadable: exit 4).
    pub fn open(dir: &Path) -> anyhow::Result<Repo> {
        let repo = gix::open(dir).with_code(Code::Io, || {
            format!("opening git repository {}", dir.display())
        })?;
        Ok(Repo { repo })
    }

    /// Resolve a revision (full object id or any ref name) to a commit id.
    pub fn resolve_commit(&self, rev: &str) -> anyhow::Result<ObjectId> {
        let id = self
            .repo
            .rev_parse_single(rev)
            .with_code(Code::Missing, || format!("revision {rev:?} not found"))?;
        let commit = id
            .object()
            .map_err(anyhow::Error::from)
            .and_then(|o| o.peel_to_commit().map_err(anyhow::Error::from))
            .with_code(Code::Missing, || format!("{rev:?} does not name a commit"))?;
        Ok(commit.id)
    }

    /// Every ref under refs/tags/, unpeeled.
    pub fn tags(&self) -> anyhow::Result<Vec<TagRef>> {
        let platform = self.repo.references().code(Code::Io, "listing refs")?;
        let mut out = Vec::new();
        for r in platform.tags().code(Code::Io, "listing tags")? {
            let r = r.map_err(|e| fail(Code::Io, format!("reading a tag ref: {e}")))?;
            let full = r.name().as_bstr().to_string();
            let Some(name) = full.strip_prefix("refs/tags/") else {
                continue;
            };
            if let Some(id) = r.target().try_id() {
                out.push(TagRef {
                    name: name.to_string(),
                    target: id.to_owned(),
                });
            }
        }
        Ok(out)
    }

    /// An object's kind and raw bytes.
    pub fn read(&self, id: ObjectId) -> anyhow::Result<(Kind, Vec<u8>)> {
        let o = self
            .repo
            .find_object(id)
            .with_code(Code::Io, || format!("reading object {id}"))?;
        let kind = match o.kind {
            gix::object::Kind::Commit => Kind::Commit,
            gix::object::Kind::Tag => Kind::Tag,
            gix::object::Kind::Tree => Kind::Tree,
            gix::object::Kind::Blob => Kind::Blob,
        };
        Ok((kind, o.data.clone()))
    }

    /// Is `ancestor` reachable from `descendant` (or equal to it)?
    pub fn is_ancestor(&self, ancestor: ObjectId, descendant: ObjectId) -> anyhow::Result<bool> {
        if ancestor == descendant {
            return Ok(true);
        }
        let walk = self
            .repo
            .rev_walk([descendant])
            .all()
            .code(Code::Io, "walking the commit graph")?;
        for info in walk {
            let info =
                info.map_err(|e| fail(Code::Io, format!("walking the commit graph: {e}")))?;
            if info.id == ancestor {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Parse a hex object id of either hash kind.
pub fn parse_oid(s: &str) -> Option<ObjectId> {
    ObjectId::from_hex(s.as_bytes()).ok()
}

/// The headers of a tag object that bind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagHeaders {
    pub object: String,
    pub kind: String,
    pub tag: String,
}

/// How a tag or commit is signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signature {
    None,
    /// An armored OpenPGP signature over `payload`.
    OpenPgp {
        payload: Vec<u8>,
        signature: Vec<u8>,
    },
    /// SSH or X.509: not something we verify.
    Unsupported(&'static str),
    /// More than one signature block.
    Multiple,
}

const PGP_BEGIN: &[u8] = b"-----BEGIN PGP SIGNATURE-----";
const OTHER_BEGINS: [(&[u8], &str); 2] = [
    (b"-----BEGIN SSH SIGNATURE-----", "SSH signature"),
    (b"-----BEGIN SIGNED MESSAGE-----", "X.509 signature"),
];

/// Parse a tag object's binding headers (exit 1 when malformed: forged).
pub fn tag_headers(raw: &[u8]) -> anyhow::Result<TagHeaders> {
    let head_end = find(raw, b"\n\n").unwrap_or(raw.len());
    let head = raw.get(..head_end).unwrap_or_default();
    let mut object = None;
    let mut kind = None;
    let mut tag = None;
    for line in head.split(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(line);
        if let Some(v) = text.strip_prefix("object ") {
            object.get_or_insert(v.to_string());
        } else if let Some(v) = text.strip_prefix("type ") {
            kind.get_or_insert(v.to_string());
        } else if let Some(v) = text.strip_prefix("tag ") {
            tag.get_or_insert(v.to_string());
        }
    }
    match (object, kind, tag) {
        (Some(object), Some(kind), Some(tag)) => Ok(TagHeaders { object, kind, tag }),
        _ => Err(fail(
            Code::Failed,
            "malformed tag object: missing object, type or tag header",
        )),
    }
}

/// Split a tag object into payload and signature, from its end: the last
/// signature block must run to the end of the object, so a
/// `-----BEGIN PGP SIGNATURE-----` inside the message cannot split it.
pub fn tag_signature(raw: &[u8]) -> Signature {
    let body_start = find(raw, b"\n\n").map_or(raw.len(), |i| i + 2);
    let Some(start) = last_line_starting(raw, body_start, b"-----BEGIN ") else {
        return Signature::None;
    };
    let (payload, sig) = raw.split_at(start);
    for (marker, what) in OTHER_BEGINS {
        if sig.starts_with(marker) {
            return Signature::Unsupported(what);
        }
    }
    if !sig.starts_with(PGP_BEGIN) || !ends_with_armor_end(sig) {
        return Signature::None;
    }
    // Another signature block right before this one: two signatures.
    if ends_with_armor_end(payload) && last_line_starting(payload, body_start, PGP_BEGIN).is_some()
    {
        return Signature::Multiple;
    }
    Signature::OpenPgp {
        payload: payload.to_vec(),
        signature: sig.to_vec(),
    }
}

/// A commit's `gpgsig` (or `gpgsig-sha256`) header, removed from the
/// payload it signs.
pub fn commit_signature(raw: &[u8]) -> Signature {
    let head_end = find(raw, b"\n\n").map_or(raw.len(), |i| i + 1);
    let (head, body) = raw.split_at(head_end);
    let mut payload = Vec::with_capacity(raw.len());
    let mut sig: Option<Vec<u8>> = None;
    let mut count = 0;
    let mut in_sig = false;
    for line in head.split_inclusive(|&b| b == b'\n') {
        if in_sig && line.first() == Some(&b' ') {
            if let Some(s) = sig.as_mut() {
                s.extend_from_slice(line.get(1..).unwrap_or_default());
            }
            continue;
        }
        in_sig = false;
        let value = line
            .strip_prefix(b"gpgsig ")
            .or_else(|| line.strip_prefix(b"gpgsig-sha256 "));
        match value {
            Some(v) => {
                count += 1;
                in_sig = true;
                sig = Some(v.to_vec());
            }
            None => payload.extend_from_slice(line),
        }
    }
    payload.extend_from_slice(body);
    match (count, sig) {
        (0, _) | (_, None) => Signature::None,
        (1, Some(s)) => {
            for (marker, what) in OTHER_BEGINS {
                if s.starts_with(marker) {
                    return Signature::Unsupported(what);
                }
            }
            if s.starts_with(PGP_BEGIN) {
                Signature::OpenPgp {
                    payload,
                    signature: s,
                }
            } else {
                Signature::Unsupported("unknown signature format")
            }
        }
        _ => Signature::Multiple,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The offset of the last line at or after `from` that starts with `prefix`.
fn last_line_starting(raw: &[u8], from: usize, prefix: &[u8]) -> Option<usize> {
    let mut found = None;
    let mut pos = from;
    while pos < raw.len() {
        let rest = raw.get(pos..).unwrap_or_default();
        if rest.starts_with(prefix) {
            found = Some(pos);
        }
        match rest.iter().position(|&b| b == b'\n') {
            Some(nl) => pos += nl + 1,
            None => break,
        }
    }
    found
}

fn ends_with_armor_end(b: &[u8]) -> bool {
    let trimmed = b.strip_suffix(b"\n").unwrap_or(b);
    trimmed
        .rsplit(|&c| c == b'\n')
        .next()
        .is_some_and(|last| last.starts_with(b"-----END ") && last.ends_with(b"-----"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n";

    #[test]
    fn signature_is_split_from_the_end() {
        let head = "object 0123\ntype commit\ntag v1\ntagger T <t@e> 1 +0000\n\n";
        let msg = format!("release\n{SIG}more text\n");
        let raw = format!("{head}{msg}{SIG}");
        match tag_signature(raw.as_bytes()) {
            Signature::OpenPgp { payload, signature } => {
                assert_eq!(payload, format!("{head}{msg}").into_bytes());
                assert_eq!(signature, SIG.as_bytes());
            }
            other => panic!("{other:?}"),
        }
        let two = format!("{head}release\n{SIG}{SIG}");
        assert_eq!(tag_signature(two.as_bytes()), Signature::Multiple);
        let ssh =
            format!("{head}x\n-----BEGIN SSH SIGNATURE-----\nAA\n-----END SSH SIGNATURE-----\n");
        assert!(matches!(
            tag_signature(ssh.as_bytes()),
            Signature::Unsupported(_)
        ));
        assert_eq!(
            tag_signature(format!("{head}unsigned\n").as_bytes()),
            Signature::None
        );
        let h = tag_headers(raw.as_bytes()).unwrap();
        assert_eq!(
            (h.object.as_str(), h.kind.as_str(), h.tag.as_str()),
            ("0123", "commit", "v1")
        );
    }

    #[test]
    fn commit_gpgsig_is_removed_from_the_payload() {
        let raw = "tree 1\nparent 2\nauthor A <a> 1 +0000\ncommitter A <a> 1 +0000\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n AAAA\n -----END PGP SIGNATURE-----\n\nmsg\n";
        match commit_signature(raw.as_bytes()) {
            Signature::OpenPgp { payload, signature } => {
                assert_eq!(
                    payload,
                    b"tree 1\nparent 2\nauthor A <a> 1 +0000\ncommitter A <a> 1 +0000\n\nmsg\n"
                );
                assert_eq!(
                    signature,
                    b"-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
