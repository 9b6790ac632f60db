//! Attestations loaded and verified against a [`Policy`], indexed by the
//! SHA-256 they attest.
//!
//! A signature counts for a key when it verifies under that key: each
//! configured key is tried (the key ids a document names only choose the
//! order), because securesystemslib's key id of one key changed between
//! versions. Ed25519 signatures are checked with `verify_strict`; OpenPGP
//! ones go through the crate's verifier under the release-artifact rule
//! (DESIGN.md §3): the key is judged when it signed, so one that expired
//! since still counts, with a warning; a soft revocation (superseded,
//! retired) voids only the attestations made after it, a hard one
//! (compromised, or no reason) every attestation.

use super::document::{self, Claim, Document, Format, SigValue, MAX_DOCUMENT};
use super::gpg;
use super::policy::Policy;
use crate::exit::{fail, Code};
use crate::openpgp::{KeyValidity, Trust, Verifier};
use ed25519_dalek::Signature;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Where attestations come from.
#[derive(Clone, Debug)]
pub enum Input {
    /// A file (one document, or JSON Lines of documents) or a directory
    /// (its `*.link`, `*.json`, `*.jsonl` files).
    Path(PathBuf),
    /// Bytes fetched from `source` (a URL).
    Fetched { source: String, bytes: Vec<u8> },
}

/// Largest file of attestations (a JSON Lines bundle of many documents).
pub const MAX_FILE: u64 = 256 << 20;

/// A document that verified under at least one configured key.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Attested {
    pub source: String,
    pub format: Format,
    pub name: String,
    /// Indices into [`Policy::voters`].
    pub voters: Vec<usize>,
    /// The keys whose signatures verified.
    pub keys: Vec<String>,
    pub claims: Vec<Claim>,
    /// Warnings (a key expired since it signed, a bad signature beside
    /// the good one), one sentence each.
    pub notes: Vec<String>,
    /// Signatures by keys not configured, ignored.
    pub ignored: Vec<String>,
}

/// A document refused, or one no configured key signed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Unused {
    pub source: String,
    pub reason: String,
    /// Refused (malformed, or a bad signature by a configured key), rather
    /// than merely signed by nobody configured.
    pub bad: bool,
    /// What it names, when it speaks against those files: a rebuilder's
    /// key signed it and the signature was refused, or it verified and
    /// attests nothing (a failed verification summary). Such a document is
    /// evidence about a file all the same: a file it names is not "without
    /// attestations" (exit 3) but badly attested (exit 1).
    #[serde(skip)]
    pub against: Vec<Claim>,
}

/// Every loaded attestation, verified.
#[derive(Debug, Default)]
pub struct Evidence {
    pub attested: Vec<Attested>,
    pub unused: Vec<Unused>,
    /// SHA-256 -> (voter, index into `attested`).
    by_digest: HashMap<[u8; 32], Vec<(usize, usize)>>,
    /// Product file name -> (voter, digest, index into `attested`).
    by_name: HashMap<String, Vec<(usize, [u8; 32], usize)>>,
    /// SHA-256 or product file name -> indices into `unused` of the
    /// documents against it ([`Unused::against`]).
    against: HashMap<Named, Vec<usize>>,
}

/// A file as a document names it: by digest, or by file name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Named {
    Digest([u8; 32]),
    Name(String),
}

/// The file name of a product (builders and rebuilders build in
/// different directories).
fn base_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// One document read from somewhere, not yet parsed.
struct Raw {
    source: String,
    bytes: Vec<u8>,
}

fn is_candidate(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    !name.starts_with('.')
        && [".link", ".json", ".jsonl"]
            .iter()
            .any(|x| name.ends_with(x))
}

/// The documents of one file: JSON Lines when its first line is a whole
/// JSON value and more lines follow, else one document.
fn split_file(source: &str, bytes: Vec<u8>, out: &mut Vec<Raw>) {
    let mut lines = bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace));
    let first = lines.next();
    let jsonl =
        first.is_some_and(|(_, l)| super::json::Json::parse(l).is_ok()) && lines.next().is_some();
    if !jsonl {
        out.push(Raw {
            source: source.to_owned(),
            bytes,
        });
        return;
    }
    for (i, l) in bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
    {
        out.push(Raw {
            source: format!("{source}:{}", i + 1),
            bytes: l.to_vec(),
        });
    }
}

/// A file to read, or bytes already fetched.
enum Source<'a> {
    File(PathBuf, &'static str),
    Bytes(&'a str, &'a [u8]),
}

/// What `inputs` name: the files of a directory (sorted), a file, bytes.
fn sources(inputs: &[Input]) -> anyhow::Result<Vec<Source<'_>>> {
    let mut out = Vec::new();
    for input in inputs {
        match input {
            Input::Fetched { source, bytes } => out.push(Source::Bytes(source, bytes)),
            Input::Path(p) => {
                let meta = std::fs::metadata(p).map_err(|e| {
                    let missing = e.kind() == std::io::ErrorKind::NotFound;
                    let code = match missing || crate::fsutil::cannot_exist(&e) {
                        true => Code::Usage,
                        false => Code::Io,
                    };
                    fail(code, format!("attestations {}: {e}", p.display()))
                })?;
                if meta.is_dir() {
                    let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                        .map_err(|e| fail(Code::Io, format!("reading {}: {e}", p.display())))?
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|f| is_candidate(f))
                        .collect();
                    files.sort();
                    out.extend(files.into_iter().map(|f| Source::File(f, "attestation")));
                } else {
                    out.push(Source::File(p.clone(), "attestations"));
                }
            }
        }
    }
    Ok(out)
}

/// Read (a special file is refused, never read), split and check one
/// source.
fn check_source(policy: &Policy, src: &Source) -> anyhow::Result<Vec<Checked>> {
    let mut raws = Vec::new();
    match src {
        Source::Bytes(name, bytes) => split_file(name, bytes.to_vec(), &mut raws),
        Source::File(p, what) => {
            let bytes = crate::fsutil::read_regular(p, what, MAX_FILE, Code::Failed)?;
            split_file(&p.display().to_string(), bytes, &mut raws);
        }
    }
    Ok(raws.iter().map(|r| check(policy, r)).collect())
}

/// The outcome of one document.
enum Checked {
    Attested(Attested),
    Unused(Unused),
}

impl Evidence {
    /// Read, parse and verify every attestation of `inputs`. No document
    /// at all is exit 3 (nothing to verify with); a missing input, 2.
    pub fn load(policy: &Policy, inputs: &[Input]) -> anyhow::Result<Evidence> {
        // Reading, parsing and verifying each file on all cores: thousands
        // of small links are mostly signature checks.
        let checked = sources(inputs)?
            .par_iter()
            .map(|src| check_source(policy, src))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if checked.iter().all(Vec::is_empty) {
            return Err(fail(
                Code::Missing,
                "no attestation found in the given --attestations",
            ));
        }
        let mut ev = Evidence::default();
        for c in checked.into_iter().flatten() {
            match c {
                Checked::Unused(u) => ev.add_unused(u),
                Checked::Attested(a) => ev.add(a),
            }
        }
        Ok(ev)
    }

    fn add(&mut self, a: Attested) {
        let i = self.attested.len();
        for claim in &a.claims {
            let Some(d) = claim.sha256 else { continue };
            for &v in &a.voters {
                self.by_digest.entry(d).or_default().push((v, i));
                self.by_name
                    .entry(base_name(&claim.name).to_owned())
                    .or_default()
                    .push((v, d, i));
            }
        }
        self.attested.push(a);
    }

    fn add_unused(&mut self, u: Unused) {
        let i = self.unused.len();
        for claim in &u.against {
            let mut keys = vec![Named::Name(base_name(&claim.name).to_owned())];
            keys.extend(claim.sha256.map(Named::Digest));
            for k in keys {
                let list = self.against.entry(k).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
        self.unused.push(u);
    }

    /// The documents against a file ([`Unused::against`]): those naming its
    /// `sha256`, or a product of its `name`.
    pub fn against(&self, sha256: &[u8; 32], name: Option<&str>) -> Vec<&Unused> {
        let mut found: BTreeSet<usize> = BTreeSet::new();
        let keys = std::iter::once(Named::Digest(*sha256))
            .chain(name.map(|n| Named::Name(base_name(n).to_owned())));
        for k in keys {
            found.extend(self.against.get(&k).into_iter().flatten());
        }
        found.iter().filter_map(|&i| self.unused.get(i)).collect()
    }

    /// Voter -> the documents that attest `sha256` by that voter.
    pub fn attesting(&self, sha256: &[u8; 32]) -> BTreeMap<usize, Vec<&Attested>> {
        let mut out: BTreeMap<usize, Vec<&Attested>> = BTreeMap::new();
        for &(v, i) in self
            .by_digest
            .get(sha256)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if let Some(a) = self.attested.get(i) {
                let docs = out.entry(v).or_default();
                if !docs.iter().any(|d| std::ptr::eq(*d, a)) {
                    docs.push(a);
                }
            }
        }
        out
    }

    /// Voter -> the digests attested for a product named `name`.
    pub fn digests_named(&self, name: &str) -> BTreeMap<usize, BTreeSet<[u8; 32]>> {
        let mut out: BTreeMap<usize, BTreeSet<[u8; 32]>> = BTreeMap::new();
        for &(v, d, _) in self
            .by_name
            .get(name)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            out.entry(v).or_default().insert(d);
        }
        out
    }

    /// The documents in which `voter` attests a product named `name`.
    pub fn sources_naming(&self, name: &str, voter: usize) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for &(v, _, i) in self
            .by_name
            .get(name)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if let (true, Some(a)) = (v == voter, self.attested.get(i)) {
                if !out.contains(&a.source) {
                    out.push(a.source.clone());
                }
            }
        }
        out
    }

    /// Every product name attested, sorted.
    pub fn names(&self) -> BTreeSet<&str> {
        self.by_name.keys().map(String::as_str).collect()
    }
}

fn check(policy: &Policy, raw: &Raw) -> Checked {
    let unused = |reason: String, bad: bool, against: &[Claim]| {
        Checked::Unused(Unused {
            source: raw.source.clone(),
            reason,
            bad,
            against: against.to_vec(),
        })
    };
    if raw.bytes.len() as u64 > MAX_DOCUMENT {
        return unused(format!("larger than {MAX_DOCUMENT} bytes"), true, &[]);
    }
    let doc = match document::parse(&raw.bytes) {
        Ok(d) => d,
        Err(why) => return unused(why, true, &[]),
    };
    let mut voters = BTreeSet::new();
    let mut keys = BTreeSet::new();
    let mut notes = Vec::new();
    let mut ignored = Vec::new();
    let mut bad = Vec::new();
    for (i, sig) in doc.signatures.iter().enumerate() {
        match verify_sig(policy, &doc, sig) {
            SigResult::By(v, key, mut n) => {
                voters.insert(v);
                keys.insert(key);
                notes.append(&mut n);
            }
            SigResult::Unknown(why) => ignored.push(format!("signature {} ignored: {why}", i + 1)),
            SigResult::Bad(why) => bad.push(format!("signature {}: {why}", i + 1)),
        }
    }
    if voters.is_empty() {
        if !bad.is_empty() {
            return unused(bad.join("; "), true, &doc.claims);
        }
        return unused(
            format!(
                "signed by no configured rebuilder key ({})",
                ignored.join("; ")
            ),
            false,
            &[],
        );
    }
    // A bad signature beside a good one: the good one counts, the bad one
    // is said.
    notes.extend(bad);
    if let Some(why) = &doc.attests_nothing {
        return unused(
            format!("verified, but attests nothing: {why}"),
            false,
            &doc.claims,
        );
    }
    Checked::Attested(Attested {
        source: raw.source.clone(),
        format: doc.format,
        name: doc.name,
        voters: voters.into_iter().collect(),
        keys: keys.into_iter().collect(),
        claims: doc.claims,
        notes,
        ignored,
    })
}

enum SigResult {
    /// Verified: the voter, the key, notes.
    By(usize, String, Vec<String>),
    /// Made by no configured key (or not checkable): ignored.
    Unknown(String),
    /// A configured key's signature that fails.
    Bad(String),
}

fn verify_sig(policy: &Policy, doc: &Document, sig: &document::Sig) -> SigResult {
    match &sig.value {
        SigValue::Raw(bytes) => {
            let Ok(s) = <[u8; 64]>::try_from(bytes.as_slice()) else {
                return SigResult::Unknown(format!(
                    "not an Ed25519 signature ({} bytes)",
                    bytes.len()
                ));
            };
            let s = Signature::from_bytes(&s);
            // Keys the key id names first; then every other key.
            let named = |k: &&super::policy::EdKey| k.keyids.contains(&sig.keyid);
            let order = policy
                .ed25519
                .iter()
                .filter(named)
                .chain(policy.ed25519.iter().filter(|k| !named(k)));
            for k in order {
                if k.key.verify_strict(&doc.signed, &s).is_ok() {
                    return SigResult::By(
                        k.voter,
                        super::keys::Identity::Ed25519(k.key.to_bytes()).to_string(),
                        Vec::new(),
                    );
                }
            }
            match policy.ed25519.iter().find(|k| named(k)) {
                Some(k) => SigResult::Bad(format!(
                    "BAD signature by {}'s key (key id {})",
                    policy.label(k.voter),
                    sig.keyid
                )),
                None => SigResult::Unknown(format!(
                    "key id {} verifies with no configured Ed25519 key",
                    if sig.keyid.is_empty() {
                        "(none)"
                    } else {
                        &sig.keyid
                    }
                )),
            }
        }
        SigValue::Gpg {
            other_headers,
            signature,
        } => match gpg::to_packet(&sig.keyid, other_headers, signature, &doc.signed) {
            Ok(packet) => verify_openpgp(policy, &packet, &doc.signed),
            Err(why) => SigResult::Unknown(format!("OpenPGP signature {}: {why}", sig.keyid)),
        },
        SigValue::OpenPgp(packet) => verify_openpgp(policy, packet, &doc.signed),
    }
}

fn verify_openpgp(policy: &Policy, packet: &[u8], data: &[u8]) -> SigResult {
    // Only a signature by a rebuilder's key is judged: another key's is
    // ignored, as a Debian InRelease's other archive keys are.
    let issuers = crate::openpgp::verify::issuers(packet);
    let certs = policy.keyring.lookup(&issuers);
    let Some(cert) = certs.first() else {
        let named: Vec<String> = issuers.iter().map(|h| h.to_hex()).collect();
        return SigResult::Unknown(format!(
            "OpenPGP signature by {}, not a rebuilder's key",
            if named.is_empty() {
                "an unnamed key".into()
            } else {
                named.join(", ")
            }
        ));
    };
    let fpr = cert.fingerprint();
    let trust = Trust::All;
    // The release-artifact rule, as for a signed download: the key judged
    // when it signed (an attestation admits a file as a signature does).
    let verifier = Verifier::new(&policy.keyring, &trust, &policy.openpgp_policy)
        .validity(KeyValidity::AtSigning);
    let verdict = match verifier.verify_detached_bytes(packet, data) {
        Ok(v) => v,
        Err(e) => return SigResult::Bad(format!("OpenPGP signature by {fpr}: {e:#}")),
    };
    let Some(signer) = verdict.signers.first() else {
        return SigResult::Bad(format!("OpenPGP signature by {fpr}: no good signature"));
    };
    let Some(v) = policy.voter_of_openpgp(signer) else {
        return SigResult::Bad(format!("OpenPGP signer {signer} is not a rebuilder's key"));
    };
    SigResult::By(
        v,
        super::keys::Identity::OpenPgp(signer.clone()).to_string(),
        verdict.notes,
    )
}
