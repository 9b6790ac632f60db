//! Who is trusted to attest: rebuilders, each a name with its keys.
//!
//! Votes are counted per *voter*: the rebuilders that share a key are one
//! voter, and all the keys of one rebuilder are one voter. So an operator
//! signing with a key per architecture counts once, and one key listed
//! under two names counts once too (repro-threshold's rule, by key rather
//! than by URL host).

use super::keys::{read_key_file, Identity, Key};
use crate::exit::{fail, Code, ResultExt};
use crate::openpgp::{BuildPolicy, Fingerprint, Keyring, Sha1Rules};
use ed25519_dalek::VerifyingKey;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A rebuilder as configured.
#[derive(Clone, Debug)]
pub struct Rebuilder {
    pub name: String,
    pub keys: Vec<Key>,
}

/// Rebuilders that share keys: one vote.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Voter {
    pub names: Vec<String>,
    pub keys: Vec<String>,
}

impl Voter {
    /// How reports name it: its names joined with `/`.
    pub fn label(&self) -> String {
        self.names.join("/")
    }
}

/// An Ed25519 key with its voter and the key ids documents may name it by.
#[derive(Clone, Debug)]
pub(crate) struct EdKey {
    pub key: VerifyingKey,
    pub voter: usize,
    pub keyids: Vec<String>,
}

/// The loaded trust: voters and their keys.
#[derive(Debug)]
pub struct Policy {
    pub voters: Vec<Voter>,
    pub(crate) ed25519: Vec<EdKey>,
    pub(crate) keyring: Keyring,
    pub(crate) openpgp: BTreeMap<Fingerprint, usize>,
    pub(crate) openpgp_policy: BuildPolicy,
}

/// Largest rebuilders file.
const MAX_POLICY_FILE: u64 = 1 << 20;

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '=' && c != ',')
}

/// `--rebuilder NAME=KEY[,KEY...]`: the name and its key files.
pub fn parse_arg(arg: &str) -> anyhow::Result<(String, Vec<PathBuf>)> {
    let (name, keys) = arg.split_once('=').ok_or_else(|| {
        fail(
            Code::Usage,
            format!("--rebuilder {arg:?}: expected NAME=KEY[,KEY...]"),
        )
    })?;
    if !valid_name(name) {
        return Err(fail(
            Code::Usage,
            format!(
                "--rebuilder {arg:?}: {name:?} is not a rebuilder name (no spaces, '=' or ',')"
            ),
        ));
    }
    let keys: Vec<PathBuf> = keys
        .split(',')
        .filter(|k| !k.is_empty())
        .map(PathBuf::from)
        .collect();
    if keys.is_empty() {
        return Err(fail(Code::Usage, format!("--rebuilder {arg:?}: no key")));
    }
    Ok((name.to_owned(), keys))
}

/// A rebuilders file: one rebuilder a line, `NAME KEY [KEY...]`, key files
/// relative to the file's directory; `#` starts a comment. A name on
/// several lines adds keys to it.
pub fn parse_file(text: &str, base: &Path) -> Result<Vec<(String, Vec<PathBuf>)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let name = words.next().unwrap_or_default();
        if !valid_name(name) {
            return Err(format!("line {}: {name:?} is not a rebuilder name", i + 1));
        }
        let keys: Vec<PathBuf> = words.map(|k| base.join(k)).collect();
        if keys.is_empty() {
            return Err(format!("line {}: rebuilder {name} has no key", i + 1));
        }
        out.push((name.to_owned(), keys));
    }
    if out.is_empty() {
        return Err("names no rebuilder".into());
    }
    Ok(out)
}

/// Read a rebuilders file.
pub fn read_file(path: &Path) -> anyhow::Result<Vec<(String, Vec<PathBuf>)>> {
    let bytes = crate::fsutil::read_regular(path, "rebuilders file", MAX_POLICY_FILE, Code::Usage)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        fail(
            Code::Usage,
            format!("rebuilders file {}: not UTF-8", path.display()),
        )
    })?;
    parse_file(&text, crate::fsutil::parent_dir(path)).map_err(|e| {
        fail(
            Code::Usage,
            format!("rebuilders file {}: {e}", path.display()),
        )
    })
}

impl Policy {
    /// Load the key files of named rebuilders (a name given twice gets the
    /// keys of both).
    pub fn load(named: &[(String, Vec<PathBuf>)]) -> anyhow::Result<Policy> {
        let mut merged: BTreeMap<&str, Vec<Key>> = BTreeMap::new();
        for (name, files) in named {
            let keys = merged.entry(name.as_str()).or_default();
            for f in files {
                keys.extend(read_key_file(f)?);
            }
        }
        Policy::new(
            merged
                .into_iter()
                .map(|(name, keys)| Rebuilder {
                    name: name.to_owned(),
                    keys,
                })
                .collect(),
        )
    }

    /// Group rebuilders into voters by shared keys.
    pub fn new(rebuilders: Vec<Rebuilder>) -> anyhow::Result<Policy> {
        if rebuilders.is_empty() {
            return Err(fail(
                Code::Usage,
                "no rebuilder given (--rebuilder NAME=KEY or --rebuilders FILE)",
            ));
        }
        // Union-find over rebuilders; a key seen before joins its owner.
        let n = rebuilders.len();
        let mut parent: Vec<usize> = (0..n).collect();
        fn root(p: &[usize], mut i: usize) -> usize {
            while let Some(&up) = p.get(i) {
                if up == i {
                    break;
                }
                i = up;
            }
            i
        }
        let mut owner: BTreeMap<Identity, usize> = BTreeMap::new();
        for (i, r) in rebuilders.iter().enumerate() {
            if r.keys.is_empty() {
                return Err(fail(
                    Code::Usage,
                    format!("rebuilder {} has no key", r.name),
                ));
            }
            for k in &r.keys {
                match owner.get(&k.identity()) {
                    Some(&j) => {
                        let (a, b) = (root(&parent, i), root(&parent, j));
                        if let Some(slot) = parent.get_mut(a) {
                            *slot = b;
                        }
                    }
                    None => {
                        owner.insert(k.identity(), i);
                    }
                }
            }
        }
        let mut voter_of_root: BTreeMap<usize, usize> = BTreeMap::new();
        let mut voters: Vec<Voter> = Vec::new();
        let mut voter_of: Vec<usize> = vec![0; n];
        for (i, r) in rebuilders.iter().enumerate() {
            let v = *voter_of_root.entry(root(&parent, i)).or_insert_with(|| {
                voters.push(Voter {
                    names: Vec::new(),
                    keys: Vec::new(),
                });
                voters.len() - 1
            });
            if let (Some(slot), Some(voter)) = (voter_of.get_mut(i), voters.get_mut(v)) {
                *slot = v;
                voter.names.push(r.name.clone());
            }
        }
        let mut ed25519 = Vec::new();
        let mut certs = Vec::new();
        let mut openpgp = BTreeMap::new();
        let mut seen = BTreeSet::new();
        for (identity, i) in &owner {
            let v = voter_of.get(*i).copied().unwrap_or(0);
            if let Some(voter) = voters.get_mut(v) {
                voter.keys.push(identity.to_string());
            }
            let Some(key) = rebuilders
                .get(*i)
                .and_then(|r| r.keys.iter().find(|k| k.identity() == *identity))
            else {
                continue;
            };
            if !seen.insert(identity.clone()) {
                continue;
            }
            match key {
                Key::Ed25519(k) => ed25519.push(EdKey {
                    key: *k,
                    voter: v,
                    keyids: key.sslib_keyids(),
                }),
                Key::OpenPgp(c) => {
                    openpgp.insert(c.fingerprint(), v);
                    certs.push((**c).clone());
                }
            }
        }
        let keyring =
            Keyring::from_certs(certs).code(Code::Usage, "the rebuilders' OpenPGP keys")?;
        Ok(Policy {
            voters,
            ed25519,
            keyring,
            openpgp,
            openpgp_policy: BuildPolicy::new(Sha1Rules::default()),
        })
    }

    /// The voter an OpenPGP primary key belongs to.
    pub fn voter_of_openpgp(&self, fpr: &Fingerprint) -> Option<usize> {
        self.openpgp.get(fpr).copied()
    }

    /// The OpenPGP primary fingerprints (hex) of a voter's keys.
    pub fn openpgp_keys(&self, voter: usize) -> Vec<String> {
        self.openpgp
            .iter()
            .filter(|(_, &v)| v == voter)
            .map(|(f, _)| f.to_hex())
            .collect()
    }

    pub fn label(&self, voter: usize) -> String {
        self.voters.get(voter).map(Voter::label).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ed(seed: u8) -> Key {
        Key::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key())
    }

    #[test]
    fn keys_shared_make_one_voter() {
        let p = Policy::new(vec![
            Rebuilder {
                name: "a".into(),
                keys: vec![ed(1), ed(2)],
            },
            Rebuilder {
                name: "b".into(),
                keys: vec![ed(3)],
            },
            Rebuilder {
                name: "c".into(),
                keys: vec![ed(2)],
            },
            Rebuilder {
                name: "d".into(),
                keys: vec![ed(4)],
            },
        ])
        .unwrap();
        let labels: Vec<String> = p.voters.iter().map(Voter::label).collect();
        assert_eq!(labels, ["a/c", "b", "d"]);
        assert_eq!(p.ed25519.len(), 4);
    }

    #[test]
    fn file_and_args() {
        let r = parse_file(
            "# x\nrdn a.pem b.pem # two arches\n\nqubes q.asc\n",
            Path::new("/p"),
        )
        .unwrap();
        assert_eq!(
            r[0].1,
            [PathBuf::from("/p/a.pem"), PathBuf::from("/p/b.pem")]
        );
        assert_eq!(r[1].0, "qubes");
        assert!(parse_file("lonely\n", Path::new(".")).is_err());
        assert!(parse_file("# nothing\n", Path::new(".")).is_err());
        assert_eq!(parse_arg("x=k1,k2").unwrap().1.len(), 2);
        assert!(parse_arg("x").is_err());
        assert!(parse_arg("a b=k").is_err());
        assert!(parse_arg("x=").is_err());
    }
}
