//! Reading git refs and objects in-process (gix), and parsing the signed
//! parts of tag and commit objects ourselves: the signature must be split
//! from the exact bytes it covers.

use crate::exit::{fail, Code, ResultExt};
use gix::ObjectId;
use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use gix::ObjectId as Oid;

/// An open repository.
pub struct Repo {
    repo: gix::Repository,
}

/// A tag ref: its short name (`v1.0`), the object it points at and, when
/// packed-refs recorded it, the commit it peels to.
#[derive(Clone, Debug)]
pub struct TagRef {
    pub name: String,
    pub target: ObjectId,
    /// From packed-refs' `^` lines: only a hint to skip tags at other
    /// revisions; a tag whose hint matches is still read and checked.
    pub peeled: Option<ObjectId>,
}

/// Kinds of objects a tag may point at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Commit,
    Tag,
    Tree,
    Blob,
}

impl From<gix::object::Kind> for Kind {
    fn from(k: gix::object::Kind) -> Kind {
        match k {
            gix::object::Kind::Commit => Kind::Commit,
            gix::object::Kind::Tag => Kind::Tag,
            gix::object::Kind::Tree => Kind::Tree,
            gix::object::Kind::Blob => Kind::Blob,
        }
    }
}

/// The object format of a repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Sha1,
    Sha256,
}

impl Repo {
    /// Open the repository at `dir` (unreadable: exit 4). Only the
    /// repository's own configuration is read: a user's or the system's git
    /// configuration and `GIT_*` variables cannot change what is verified.
    pub fn open(dir: &Path) -> anyhow::Result<Repo> {
        // An operand that does not exist or is not a repository is a usage
        // error (DESIGN.md §2); only a failing read of a repository is I/O.
        match std::fs::metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(fail(Code::Usage, "no such directory"))
            }
            Ok(m) if !m.is_dir() => return Err(fail(Code::Usage, "not a directory")),
            _ => {}
        }
        let mut repo = match gix::open_opts(dir, gix::open::Options::isolated()) {
            Ok(r) => r,
            Err(_) if !looks_like_repository(dir) => {
                return Err(fail(Code::Usage, "not a git repository"))
            }
            Err(e) => return Err(fail(Code::Io, format!("opening the repository: {e}"))),
        };
        // gix reads refs from files only: in a reftable repository it would
        // see no branch and no tag, and call every revision missing (exit
        // 3). Said for what it is, with git's conversion.
        let refs = repo
            .config_snapshot()
            .string("extensions.refStorage")
            .map(|v| v.to_string());
        if let Some(storage) = refs.filter(|v| !v.eq_ignore_ascii_case("files")) {
            return Err(fail(
                Code::Usage,
                format!(
                    "its refs are stored as {storage:?}, which this tool cannot read \
                     (only the files backend): clone it again with --ref-format=files, or \
                     convert it with `git refs migrate --ref-format=files`"
                ),
            ));
        }
        // Nothing repacks while we read: a loose object is no reason to
        // rescan the pack directory (the default does, per miss).
        repo.objects.refresh_never();
        Ok(Repo { repo })
    }

    /// SHA-1 or SHA-256.
    pub fn format(&self) -> Format {
        match self.repo.object_hash() {
            gix::hash::Kind::Sha1 => Format::Sha1,
            _ => Format::Sha256,
        }
    }

    /// Resolve a revision (full object id or any ref name) to a commit id.
    pub fn resolve_commit(&self, rev: &str) -> anyhow::Result<ObjectId> {
        // gix's own words ('delegate.traverse(NthAncestor(3)) failed',
        // 'Reference "x" could not be found: NotFound') are for its
        // developers: said plainly, unless reading the repository failed.
        let id = self.repo.rev_parse_single(rev).map_err(|e| {
            let failed_read =
                std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |c| {
                    c.source()
                })
                .filter_map(|c| c.downcast_ref::<std::io::Error>())
                .any(|io| io.kind() != std::io::ErrorKind::NotFound);
            match failed_read {
                true => anyhow::Error::new(e).context(crate::exit::Failure::new(
                    Code::Io,
                    format!("reading revision {rev:?}"),
                )),
                false => fail(
                    Code::Missing,
                    format!("revision {rev:?} not found: no branch, tag or commit of that name"),
                ),
            }
        })?;
        let object = id
            .object()
            .with_code(Code::Io, || format!("reading revision {rev:?}"))?;
        let kind = object.kind;
        let commit = object.peel_to_commit().map_err(|_| {
            fail(
                Code::Missing,
                format!("{rev:?} names a {kind}, not a commit"),
            )
        })?;
        Ok(commit.id)
    }

    /// What `rev` names besides its commit: a branch (shortened: `main`,
    /// `origin/main`) as HEAD's when HEAD is symbolic, FETCH_HEAD's as
    /// `git fetch URL BRANCH` recorded it, or a ref's own name; a tag (a
    /// ref under refs/tags/, or FETCH_HEAD of `git fetch URL tag NAME`),
    /// which is no branch; or nothing (an object id, a detached HEAD).
    pub fn rev_name(&self, rev: &str) -> RevName {
        let named = |full: &str| match full.strip_prefix("refs/tags/") {
            Some(t) => RevName::Tag(t.to_string()),
            None => RevName::Branch(
                full.strip_prefix("refs/heads/")
                    .or_else(|| full.strip_prefix("refs/remotes/"))
                    .or_else(|| full.strip_prefix("refs/"))
                    .unwrap_or(full)
                    .to_string(),
            ),
        };
        let found = match rev {
            "HEAD" => self
                .repo
                .head_name()
                .ok()
                .flatten()
                .map(|n| named(&n.as_bstr().to_string())),
            "FETCH_HEAD" => {
                let path = self.repo.git_dir().join("FETCH_HEAD");
                // A FIFO planted there is refused, never read.
                let f = crate::fsutil::open_regular_io(&path).ok();
                let text = f.and_then(|f| {
                    crate::fsutil::read_bounded(f, 1 << 20, "FETCH_HEAD", Code::Usage).ok()
                });
                text.and_then(|t| fetch_head_name(&t))
            }
            _ => self
                .repo
                .try_find_reference(rev)
                .ok()
                .flatten()
                .map(|r| named(&r.name().as_bstr().to_string())),
        };
        found.unwrap_or(RevName::None)
    }

    /// Every ref under refs/tags/ with a UTF-8 name, unpeeled; returns why
    /// each other ref was skipped (a name that is not UTF-8, a ref file that
    /// does not decode) alongside.
    pub fn tags(&self) -> anyhow::Result<(Vec<TagRef>, Vec<String>)> {
        let platform = self.repo.references().code(Code::Io, "listing refs")?;
        let mut out = Vec::new();
        let mut skipped = Vec::new();
        for r in platform.tags().code(Code::Io, "listing tags")? {
            // A ref file that does not decode is untrusted content, not an
            // I/O error: skipped and named, like a tag that cannot count.
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    skipped.push(format!("{e}"));
                    continue;
                }
            };
            let full: &[u8] = r.name().as_bstr().as_ref();
            let Some(short) = full.strip_prefix(b"refs/tags/") else {
                continue;
            };
            let Ok(name) = std::str::from_utf8(short) else {
                skipped.push(format!(
                    "tag {:?} ignored: its name is not UTF-8",
                    String::from_utf8_lossy(short)
                ));
                continue;
            };
            if let Some(id) = r.target().try_id() {
                out.push(TagRef {
                    name: name.to_string(),
                    target: id.to_owned(),
                    peeled: r.inner.peeled,
                });
            }
        }
        Ok((out, skipped))
    }

    /// An object's kind and size, without inflating it.
    pub fn header(&self, id: ObjectId) -> anyhow::Result<(Kind, u64)> {
        let h = self
            .repo
            .find_header(id)
            .with_code(Code::Io, || format!("reading object {id}"))?;
        Ok((h.kind().into(), h.size()))
    }

    /// A reader of loose tag objects' `object` headers, independent of gix
    /// (so one per thread can share the scan).
    pub fn loose_peeker(&self) -> LoosePeeker {
        LoosePeeker {
            path: self.repo.common_dir().join("objects"),
            z: Box::default(),
        }
    }

    /// An object's kind and raw bytes. One larger than `max` bytes is
    /// refused (exit 1) before it is inflated: tags and commits are small,
    /// and untrusted input is bounded.
    pub fn read(&self, id: ObjectId, max: u64) -> anyhow::Result<(Kind, Vec<u8>)> {
        let (_, size) = self.header(id)?;
        if size > max {
            return Err(fail(
                Code::Failed,
                format!("object {id} is {size} bytes, more than the {max} allowed"),
            ));
        }
        let o = self
            .repo
            .find_object(id)
            .with_code(Code::Io, || format!("reading object {id}"))?;
        Ok((o.kind.into(), o.detach().data))
    }

    /// Does the object exist? (A read error is not "absent".)
    pub fn has(&self, id: ObjectId) -> anyhow::Result<bool> {
        Ok(self
            .repo
            .try_find_header(id)
            .with_code(Code::Io, || format!("looking up object {id}"))?
            .is_some())
    }

    /// Is `ancestor` reachable from `descendant` (or equal to it)? Walks the
    /// whole graph behind `descendant` when it is not: commit dates can lie,
    /// so they are no reason to stop early.
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

/// Reads the `object` header of tags stored as loose objects, inflating
/// only their first bytes. Only a hint for skipping tags at other
/// revisions: a tag that may point at the revision is then read in full
/// through gix, and every check runs on that.
pub struct LoosePeeker {
    /// `objects/`; a peek pushes and pops the object's two components.
    path: PathBuf,
    /// Reused across peeks: a fresh inflater clears ~10 KiB of tables.
    z: Box<DecompressorOxide>,
}

impl LoosePeeker {
    /// The tag's `object` id; `None` when the object is not loose, not a
    /// tag, or anything is odd.
    pub fn peek(&mut self, id: ObjectId) -> Option<ObjectId> {
        let hex = id.to_string();
        let (dir, file) = (hex.get(..2)?, hex.get(2..)?);
        self.path.push(dir);
        self.path.push(file);
        // The special-file rule: a FIFO named like an object is no hint.
        let opened = crate::fsutil::open_regular_io(&self.path);
        self.path.pop();
        self.path.pop();
        // One read: the header is in the first ~100 compressed bytes, and a
        // short read only makes the hint fail (then the tag is read fully).
        let mut compressed = [0u8; 512];
        let n = opened.ok()?.read(&mut compressed).ok()?;
        // `tag SIZE\0object HEX\n`: 4 + 20 + 1 + 7 + 64 + 1 bytes at most.
        // Inflating into a buffer this small stops as soon as it is full.
        let mut head = [0u8; 100];
        self.z.init();
        let (status, _, out) = decompress(
            &mut self.z,
            compressed.get(..n)?,
            &mut head,
            0,
            inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER
                | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF
                | inflate_flags::TINFL_FLAG_HAS_MORE_INPUT,
        );
        if !matches!(
            status,
            TINFLStatus::HasMoreOutput | TINFLStatus::NeedsMoreInput | TINFLStatus::Done
        ) {
            return None;
        }
        let head = head.get(..out)?;
        let rest = head.strip_prefix(b"tag ")?;
        let nul = rest.iter().position(|&b| b == 0)?;
        let line = rest.get(nul + 1..)?.strip_prefix(b"object ")?;
        let end = line.iter().position(|&b| b == b'\n')?;
        ObjectId::from_hex(line.get(..end)?).ok()
    }
}

/// Does `dir` look like a git repository: a work tree (holding `.git`) or
/// a git directory (`HEAD`, `objects/`, `refs/`)?
pub fn looks_like_repository(dir: &Path) -> bool {
    dir.join(".git").exists()
        || (dir.join("HEAD").is_file() && dir.join("objects").is_dir() && dir.join("refs").is_dir())
}

/// What a revision names besides its commit ([`Repo::rev_name`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevName {
    Branch(String),
    Tag(String),
    None,
}

/// What FETCH_HEAD's first line that is for merging fetched:
/// `OID<TAB><TAB>branch 'NAME' of URL`, or `tag 'NAME' of URL`.
fn fetch_head_name(text: &[u8]) -> Option<RevName> {
    let text = std::str::from_utf8(text).ok()?;
    let line = text.lines().find(|l| !l.contains("\tnot-for-merge\t"))?;
    let desc = line.split('\t').nth(2)?;
    let (rest, tag) = match desc.strip_prefix("branch '") {
        Some(r) => (r, false),
        None => (desc.strip_prefix("tag '")?, true),
    };
    let end = rest.find("' of ").or_else(|| rest.rfind('\''))?;
    let name = rest.get(..end)?.to_string();
    Some(if tag {
        RevName::Tag(name)
    } else {
        RevName::Branch(name)
    })
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
    /// Raw bytes: compared byte for byte with the ref name.
    pub tag: Vec<u8>,
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
    /// A signature block that does not run to the end of the object.
    Malformed(&'static str),
}

/// Why a tag or commit offers no OpenPGP signature to verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("not signed")]
    NotSigned,
    #[error("unsupported: {0} (only OpenPGP signatures are verified)")]
    Unsupported(&'static str),
    #[error("holds more than one signature (one signature per tag)")]
    Multiple,
    #[error("malformed: {0}")]
    Malformed(&'static str),
}

impl SignatureError {
    /// No signature is nothing to verify with (exit 3); any other is a
    /// failed verification (exit 1).
    pub fn code(&self) -> Code {
        match self {
            SignatureError::NotSigned => Code::Missing,
            _ => Code::Failed,
        }
    }
}

impl Signature {
    /// The signed payload and the armored signature, or why there is none
    /// (a [`SignatureError`] with its exit code).
    pub fn into_parts(self) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
        let e = match self {
            Signature::OpenPgp { payload, signature } => return Ok((payload, signature)),
            Signature::None => SignatureError::NotSigned,
            Signature::Unsupported(what) => SignatureError::Unsupported(what),
            Signature::Multiple => SignatureError::Multiple,
            Signature::Malformed(why) => SignatureError::Malformed(why),
        };
        Err(crate::exit::typed(e.code(), e))
    }
}

const PGP_BEGIN: &[u8] = b"-----BEGIN PGP SIGNATURE-----";
const OTHER_BEGINS: [(&[u8], &str); 2] = [
    (b"-----BEGIN SSH SIGNATURE-----", "SSH signature"),
    (b"-----BEGIN SIGNED MESSAGE-----", "X.509 signature"),
];

/// Parse a tag object's binding headers in git's strict order: `object`,
/// `type`, `tag`, then `tagger` and others; a repeated binding header is an
/// ambiguity a forger could exploit (exit 1).
pub fn tag_headers(raw: &[u8]) -> anyhow::Result<TagHeaders> {
    let head_end = find(raw, b"\n\n").unwrap_or(raw.len());
    let head = raw.get(..head_end).unwrap_or_default();
    let mut lines = head.split(|&b| b == b'\n');
    let mut field = |key: &[u8]| -> anyhow::Result<Vec<u8>> {
        lines
            .next()
            .and_then(|l| l.strip_prefix(key))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| {
                fail(
                    Code::Failed,
                    format!(
                        "malformed tag object: expected a {:?} header",
                        String::from_utf8_lossy(key).trim()
                    ),
                )
            })
    };
    let object = field(b"object ")?;
    let kind = field(b"type ")?;
    let tag = field(b"tag ")?;
    for line in lines {
        for key in [&b"object "[..], b"type ", b"tag "] {
            if line.starts_with(key) {
                return Err(fail(
                    Code::Failed,
                    "malformed tag object: a binding header is repeated",
                ));
            }
        }
    }
    Ok(TagHeaders {
        object: String::from_utf8_lossy(&object).into_owned(),
        kind: String::from_utf8_lossy(&kind).into_owned(),
        tag,
    })
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
    if !sig.starts_with(PGP_BEGIN) {
        // Some other armored text quoted at the end of the message.
        return Signature::None;
    }
    if !ends_with_armor_end(sig) {
        return Signature::Malformed("the signature block does not end the tag object");
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

/// A commit's signature header, removed from the payload it signs, as git
/// does: `gpgsig` in SHA-1 repositories, `gpgsig-sha256` in SHA-256 ones;
/// the other format's signature header is dropped from the payload too.
pub fn commit_signature(raw: &[u8], format: Format) -> Signature {
    let ours: &[u8] = match format {
        Format::Sha1 => b"gpgsig ",
        Format::Sha256 => b"gpgsig-sha256 ",
    };
    let head_end = find(raw, b"\n\n").map_or(raw.len(), |i| i + 1);
    let (head, body) = raw.split_at(head_end);
    let mut payload = Vec::with_capacity(raw.len());
    let mut sig: Option<Vec<u8>> = None;
    let mut count = 0;
    // Inside a signature header: ours (collect) or another one (drop).
    let mut in_ours = false;
    let mut in_other = false;
    for line in head.split_inclusive(|&b| b == b'\n') {
        if (in_ours || in_other) && line.first() == Some(&b' ') {
            if let (true, Some(s)) = (in_ours, sig.as_mut()) {
                s.extend_from_slice(line.get(1..).unwrap_or_default());
            }
            continue;
        }
        in_ours = false;
        in_other = false;
        if let Some(v) = line.strip_prefix(ours) {
            count += 1;
            in_ours = true;
            sig = Some(v.to_vec());
        } else if line.starts_with(b"gpgsig") {
            in_other = true;
        } else {
            payload.extend_from_slice(line);
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
            if !s.starts_with(PGP_BEGIN) {
                Signature::Unsupported("unknown signature format")
            } else if !ends_with_armor_end(&s) {
                Signature::Malformed("the signature header is not one armored block")
            } else {
                Signature::OpenPgp {
                    payload,
                    signature: s,
                }
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

    #[test]
    fn signature_errors_state_their_exit_codes() {
        use crate::exit::{code_of, typed_ref};
        let e = Signature::None.into_parts().unwrap_err();
        assert_eq!(code_of(&e), Code::Missing);
        assert_eq!(
            typed_ref::<SignatureError>(&e),
            Some(&SignatureError::NotSigned)
        );
        let e = Signature::Multiple
            .into_parts()
            .unwrap_err()
            .context("tag v1");
        assert_eq!(code_of(&e), Code::Failed);
        assert_eq!(
            format!("{e:#}"),
            "tag v1: holds more than one signature (one signature per tag)"
        );
    }

    #[test]
    fn fetch_head_names_its_branch_or_tag() {
        let t = b"0123\t\tbranch 'release4.2' of https://example.org/r\n4567\tnot-for-merge\tbranch 'main' of https://example.org/r\n";
        assert_eq!(
            fetch_head_name(t),
            Some(RevName::Branch("release4.2".into()))
        );
        // A tag fetched is no branch.
        let t = b"0123\tnot-for-merge\tbranch 'a' of x\n4567\t\ttag 'v1.0' of x\n";
        assert_eq!(fetch_head_name(t), Some(RevName::Tag("v1.0".into())));
        assert_eq!(fetch_head_name(b"0123\t\t'x' of y\n"), None);
        assert_eq!(fetch_head_name(b""), None);
    }

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
        let x509 =
            format!("{head}x\n-----BEGIN SIGNED MESSAGE-----\nAA\n-----END SIGNED MESSAGE-----\n");
        assert_eq!(
            tag_signature(x509.as_bytes()),
            Signature::Unsupported("X.509 signature")
        );
        assert_eq!(
            tag_signature(format!("{head}unsigned\n").as_bytes()),
            Signature::None
        );
        let h = tag_headers(raw.as_bytes()).unwrap();
        assert_eq!(
            (h.object.as_str(), h.kind.as_str(), h.tag.as_slice()),
            ("0123", "commit", &b"v1"[..])
        );
        let unterminated = format!("{head}x\n-----BEGIN PGP SIGNATURE-----\nAAAA\n");
        assert!(matches!(
            tag_signature(unterminated.as_bytes()),
            Signature::Malformed(_)
        ));
    }

    #[test]
    fn tag_headers_are_strict() {
        let ok = b"object 01\ntype commit\ntag v1\ntagger T <t> 1 +0000\n\nmsg\n";
        assert!(tag_headers(ok).is_ok());
        for bad in [
            &b"type commit\nobject 01\ntag v1\n\nmsg\n"[..],
            b"object 01\ntype commit\ntag v1\ntag v2\n\nmsg\n",
            b"object 01\ntype commit\n\ntag v1\n",
            b"",
        ] {
            let e = tag_headers(bad).unwrap_err();
            assert_eq!(crate::exit::code_of(&e), Code::Failed);
        }
        // A header-like line in the message is the message.
        let msg = b"object 01\ntype commit\ntag v1\n\ntag v2\n";
        assert_eq!(tag_headers(msg).unwrap().tag, b"v1");
    }

    #[test]
    fn commit_gpgsig_is_removed_from_the_payload() {
        let raw = "tree 1\nparent 2\nauthor A <a> 1 +0000\ncommitter A <a> 1 +0000\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n AAAA\n -----END PGP SIGNATURE-----\n\nmsg\n";
        match commit_signature(raw.as_bytes(), Format::Sha1) {
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
        // In a SHA-256 repository the header is gpgsig-sha256; the SHA-1
        // one is another format's signature, dropped from the payload.
        assert_eq!(
            commit_signature(raw.as_bytes(), Format::Sha256),
            Signature::None
        );
        let both = raw.replace("gpgsig ", "gpgsig-sha256 ").replace(
            "\n\nmsg",
            "\ngpgsig -----BEGIN PGP SIGNATURE-----\n BBBB\n -----END PGP SIGNATURE-----\n\nmsg",
        );
        match commit_signature(both.as_bytes(), Format::Sha256) {
            Signature::OpenPgp { payload, signature } => {
                assert_eq!(
                    payload,
                    b"tree 1\nparent 2\nauthor A <a> 1 +0000\ncommitter A <a> 1 +0000\n\nmsg\n"
                );
                assert!(signature.ends_with(b"AAAA\n-----END PGP SIGNATURE-----\n"));
            }
            other => panic!("{other:?}"),
        }
        let ssh = raw.replace("PGP SIGNATURE", "SSH SIGNATURE");
        assert_eq!(
            commit_signature(ssh.as_bytes(), Format::Sha1),
            Signature::Unsupported("SSH signature")
        );
        let twice = raw.replace(
            "\n\nmsg",
            "\ngpgsig -----BEGIN PGP SIGNATURE-----\n -----END PGP SIGNATURE-----\n\nmsg",
        );
        assert_eq!(
            commit_signature(twice.as_bytes(), Format::Sha1),
            Signature::Multiple
        );
    }
}
