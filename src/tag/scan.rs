//! The key-independent phase of a check: the commit a revision names, the
//! tags that may point at it and their objects. It needs no keys, so it
//! runs while they load.

use super::TAG_MAX;
use crate::exit::{fail, Code};
use crate::git::{self, Kind, Oid, Repo};

/// The key-independent part of a check: the commit a revision names, the
/// tags that may point at it and their objects. Needs no keys, so it runs
/// while they load.
#[derive(Debug)]
pub struct Candidates {
    pub commit: Oid,
    /// Tags not excluded by the pattern or by a hint that they lead
    /// elsewhere, in ref order, each with its object read; each is still
    /// checked in full.
    pub tags: Vec<Candidate>,
    /// Why tag refs were skipped (names not UTF-8, undecodable refs).
    pub skipped: Vec<String>,
    /// Tags that may point at the revision beyond the cap, not checked.
    pub over_cap: usize,
}

/// A tag ref that may point at the revision, and what its ref leads to.
#[derive(Debug)]
pub struct Candidate {
    pub tag: git::TagRef,
    pub object: TagObject,
}

/// What a candidate tag ref points at, as read before any key is needed.
#[derive(Debug)]
pub enum TagObject {
    /// The commit itself: a lightweight tag.
    Lightweight,
    /// An object that is not a tag (a tree, a blob, another commit).
    NotTag,
    /// A tag object that cannot count (unreadable, dangling, too large):
    /// why, for the notes.
    Ignored(String),
    /// A tag object's bytes, at most [`TAG_MAX`].
    Tag(Vec<u8>),
}

impl TagObject {
    /// Read what `t` points at. An unreadable tag (dangling ref, corrupt
    /// object) is ignored like the old script skips a tag `git verify-tag`
    /// fails on: it cannot make anything verify, and other tags at REV
    /// still count.
    fn read(repo: &Repo, t: &git::TagRef, commit: Oid) -> TagObject {
        if t.target == commit {
            return TagObject::Lightweight;
        }
        match repo.header(t.target) {
            Err(e) => TagObject::Ignored(format!("{e:#}")),
            Ok((kind, _)) if kind != Kind::Tag => TagObject::NotTag,
            Ok((_, size)) if size > TAG_MAX => {
                TagObject::Ignored(format!("its object is {size} bytes, more than {TAG_MAX}"))
            }
            Ok(_) => match repo.read(t.target, TAG_MAX) {
                Ok((_, raw)) => TagObject::Tag(raw),
                Err(e) => TagObject::Ignored(format!("{e:#}")),
            },
        }
    }
}

/// Fewer loose tags than this are peeked at on one thread: starting a
/// second one costs more than it saves.
const SPLIT_MIN: usize = 64;

/// Resolve `rev` and list the tags that may point at it (the pattern
/// applied, tags at other revisions skipped by packed-refs' peeled entries
/// or by a peek at their loose object), at most `max` of them in ref order
/// (untrusted input is bounded: a repository may carry 100,000 tags at
/// HEAD). With `split`, the peeks run on two threads.
pub fn candidates(
    repo: &Repo,
    rev: &str,
    tag_pattern: Option<&glob::Pattern>,
    max: usize,
    split: bool,
) -> anyhow::Result<Candidates> {
    let commit = repo.resolve_commit(rev)?;
    let (tags, skipped) = repo.tags()?;
    let tags: Vec<git::TagRef> = tags
        .into_iter()
        .filter(|t| tag_pattern.is_none_or(|p| p.matches(&t.name)))
        // packed-refs says where an annotated tag leads: skip the others
        // without reading them (a stale hint can only hide a tag).
        .filter(|t| t.peeled.is_none_or(|p| p == commit))
        .collect();
    // A loose tag object's `object` header: only a hint, as above.
    let keep = |peeker: &mut git::LoosePeeker, t: &git::TagRef| {
        t.peeled.is_some()
            || t.target == commit
            || peeker.peek(t.target).is_none_or(|o| o == commit)
    };
    let to_peek = tags.iter().filter(|t| t.peeled.is_none()).count();
    let kept: Vec<bool> = if split && to_peek >= SPLIT_MIN {
        let (a, b) = tags.split_at(tags.len() / 2);
        let (mut pa, mut pb) = (repo.loose_peeker(), repo.loose_peeker());
        std::thread::scope(|s| {
            let other = s.spawn(move || b.iter().map(|t| keep(&mut pb, t)).collect::<Vec<_>>());
            let mut kept: Vec<bool> = a.iter().map(|t| keep(&mut pa, t)).collect();
            match other.join() {
                Ok(v) => {
                    kept.extend(v);
                    Ok(kept)
                }
                Err(_) => Err(fail(Code::Io, "scanning tag objects: a thread failed")),
            }
        })?
    } else {
        let mut p = repo.loose_peeker();
        tags.iter().map(|t| keep(&mut p, t)).collect()
    };
    let mut kept = tags.into_iter().zip(kept).filter(|(_, k)| *k);
    let tags = kept
        .by_ref()
        .take(max)
        .map(|(tag, _)| Candidate {
            object: TagObject::read(repo, &tag, commit),
            tag,
        })
        .collect();
    Ok(Candidates {
        commit,
        tags,
        skipped,
        over_cap: kept.count(),
    })
}
