//! The SIG argument: what it holds (a detached signature, a
//! cleartext-signed hash list, or a Debian InRelease or .dsc), and, since
//! it is looked for at each mirror as well as at its URL, which copy a
//! download from a given place is verified with. A SIG is judged usable
//! before any file is fetched or a present one judged by it.

use super::mirrors::Place;
use super::pins::{Pinned, Target};
use crate::exit::{code_of, fail, Code, Failure};
use crate::lists::signed::{self, Detached, Signed};
use crate::net::{is_not_found, Transport};
use crate::openpgp::{verify::is_cleartext_signed, Verdict, Verifier};
use anyhow::Context;
use std::collections::HashMap;
use std::rc::Rc;

/// What the SIG argument holds.
#[derive(Debug)]
pub enum SigFile {
    /// A detached signature over the download (or its decompressed
    /// content), by enough trusted keys to decide
    /// ([`Verifier::check_usable`]).
    Detached(Vec<u8>),
    /// A cleartext-signed list (an upstream's `sha256sums.asc`, a Debian
    /// InRelease or .dsc), already verified: its entry for the download
    /// pins it (hashes, and a size for Debian lists). `bytes`: the list
    /// as it was verified, to keep beside the file (`--keep-sig`).
    SignedList {
        verdict: Verdict,
        pinned: Pinned,
        bytes: Vec<u8>,
    },
}

impl SigFile {
    /// Would verifying with `other` check the same thing (a mirror's copy
    /// of the upstream SIG)?
    pub fn same_as(&self, other: &SigFile) -> bool {
        match (self, other) {
            (SigFile::Detached(a), SigFile::Detached(b)) => a == b,
            (SigFile::SignedList { pinned: a, .. }, SigFile::SignedList { pinned: b, .. }) => {
                a.hashes == b.hashes && a.size == b.size
            }
            _ => false,
        }
    }

    /// The SIG's bytes as they were judged.
    pub fn bytes(&self) -> &[u8] {
        match self {
            SigFile::Detached(b) | SigFile::SignedList { bytes: b, .. } => b,
        }
    }
}

/// Fetch SIG (a URL or a local path, at most `limit` bytes) and tell what
/// it is. A SIG that is not there (404, 410, no such file) is "nothing to
/// verify with" (exit 3). A detached signature must be one that can decide
/// ([`Verifier::check_usable`]); a cleartext-signed list is verified here
/// with `verifier`, and its entry for `target` looked up in its signed
/// text (an InRelease's dates checked first); a weak algorithm there
/// fails (exit 1).
pub fn load_signature(
    transport: &Transport,
    sig: &str,
    verifier: &Verifier,
    target: &Target,
    limit: u64,
    note: &dyn Fn(&str),
) -> anyhow::Result<SigFile> {
    let bytes = transport.get_small(sig, limit, note).map_err(|e| {
        if is_not_found(&e) {
            e.context(Failure::new(
                Code::Missing,
                format!("no signature at {sig}"),
            ))
        } else {
            e.context(format!("signature {sig}"))
        }
    })?;
    if !is_cleartext_signed(&bytes) {
        verifier
            .check_usable(&bytes)
            .with_context(|| format!("signature {sig}"))?;
        return Ok(SigFile::Detached(bytes));
    }
    let Signed { verdict, text } =
        signed::verify(bytes.clone(), None, Detached::Nowhere, verifier, limit)
            .with_context(|| format!("signed list {sig}"))?;
    let (pinned, notes) = super::pins::from_signed_text(verdict.clone(), &text, target)
        .with_context(|| format!("signed list {sig}"))?;
    Ok(SigFile::SignedList {
        verdict: Verdict { notes, ..verdict },
        pinned,
        bytes,
    })
}

/// One SIG location, once looked at.
enum Slot {
    Usable(Rc<SigFile>),
    /// Not there (404, 410, no such file).
    Absent,
    /// There but unusable (a forged list, a network failure); the error
    /// is kept in [`Signatures::last_error`].
    Unusable,
}

/// The SIG copies of the places a file is fetched from, each fetched at
/// most once, when first needed.
pub struct Signatures<'a> {
    transport: &'a Transport,
    verifier: &'a Verifier<'a>,
    /// The SIG location of each place, in the order of the places.
    locations: Vec<String>,
    target: Target,
    limit: u64,
    slots: HashMap<String, Slot>,
    last_error: Option<anyhow::Error>,
}

impl<'a> Signatures<'a> {
    pub fn new(
        transport: &'a Transport,
        verifier: &'a Verifier<'a>,
        places: &[Place],
        target: Target,
        limit: u64,
    ) -> Signatures<'a> {
        Signatures {
            transport,
            verifier,
            locations: places.iter().filter_map(|p| p.sig.clone()).collect(),
            target,
            limit,
            slots: HashMap::new(),
            last_error: None,
        }
    }

    /// How many places have a SIG location.
    pub fn len(&self) -> usize {
        self.locations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.locations.is_empty()
    }

    /// The SIG at place `i`, fetched the first time it is asked for; None
    /// when it is not there or unusable.
    pub fn at(&mut self, i: usize, note: &dyn Fn(&str)) -> Option<Rc<SigFile>> {
        let loc = self.locations.get(i)?.clone();
        if !self.slots.contains_key(&loc) {
            let slot = match load_signature(
                self.transport,
                &loc,
                self.verifier,
                &self.target,
                self.limit,
                note,
            ) {
                Ok(s) => Slot::Usable(Rc::new(s)),
                Err(e) if code_of(&e) == Code::Missing && is_not_found(&e) => Slot::Absent,
                Err(e) => {
                    if self.locations.len() > 1 {
                        note(&format!("{e:#}; looking for another copy"));
                    }
                    self.last_error = Some(e);
                    Slot::Unusable
                }
            };
            self.slots.insert(loc.clone(), slot);
        }
        match self.slots.get(&loc) {
            Some(Slot::Usable(s)) => Some(s.clone()),
            _ => None,
        }
    }

    /// The SIG for a file from place `i`: that place's own copy, else the
    /// next places', else an earlier one's (a mirror holding only the SIG
    /// still serves a file from upstream). Any copy that verifies is as
    /// good as another: the keys decide, not where the SIG came from.
    pub fn for_place(&mut self, i: usize, note: &dyn Fn(&str)) -> Option<Rc<SigFile>> {
        let n = self.locations.len();
        (i..n).chain(0..i.min(n)).find_map(|j| self.at(j, note))
    }

    /// Why no SIG was usable: the last failure, or "nothing to verify
    /// with" (exit 3) when there was none anywhere.
    pub fn failure(&mut self) -> anyhow::Error {
        self.last_error.take().unwrap_or_else(|| {
            let upstream = self.locations.last().cloned().unwrap_or_default();
            let mirrors = if self.locations.len() > 1 {
                " nor at the mirrors"
            } else {
                ""
            };
            fail(
                Code::Missing,
                format!("no signature at {upstream}{mirrors}"),
            )
        })
    }

    /// The checks for a download verified with `sig`: its detached
    /// signature, or the hashes (and size) its signed list pins, next to
    /// `base`'s.
    pub fn checks_with<'c>(&self, base: &super::Checks<'c>, sig: &SigFile) -> super::Checks<'c>
    where
        'a: 'c,
    {
        let mut checks = base.clone();
        match sig {
            SigFile::Detached(bytes) => checks.signature = Some((bytes.clone(), self.verifier)),
            SigFile::SignedList { pinned, .. } => {
                checks.hashes.extend(pinned.hashes.iter().cloned());
                checks.size = checks.size.or(pinned.size);
            }
        }
        checks
    }
}

/// With a signed list, its signers vouch for the file through its hash.
pub fn credit(verified: &mut super::Verified, sig: &SigFile) {
    if let SigFile::SignedList { verdict, .. } = sig {
        verified.signers = verdict.signers.clone();
        verified.notes.extend(verdict.notes.iter().cloned());
    }
}
