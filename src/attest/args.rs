//! The attestation options verify-package, check-hashes, fetch-verified
//! and sign-log agree share, and the decision for one file.

use super::evidence::{Evidence, Input};
use super::policy::{self, Policy};
use crate::exit::{fail, Code};
use crate::net::{Transport, TransportOptions};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Clone, Debug, Default)]
pub struct AttestArgs {
    /// In-toto attestations of rebuilders: a file (one link or DSSE
    /// envelope, or JSON Lines of them), a directory (its *.link, *.json,
    /// *.jsonl files) or a URL of such a file. Repeatable.
    #[arg(long = "attestations", value_name = "DIR_OR_URL")]
    pub attestations: Vec<String>,

    /// A trusted rebuilder and its public keys: key files holding PEM
    /// PUBLIC KEYs (Ed25519), a securesystemslib key object, or OpenPGP
    /// certificates. Repeatable; the keys of one name vote once, and so do
    /// names that share a key.
    #[arg(long = "rebuilder", value_name = "NAME=KEY[,KEY...]")]
    pub rebuilders: Vec<String>,

    /// A file of trusted rebuilders, one a line: NAME KEY [KEY...] (key
    /// files relative to it; # comments). Repeatable.
    #[arg(long = "rebuilders", value_name = "FILE")]
    pub rebuilder_files: Vec<PathBuf>,

    /// Distinct trusted rebuilders that must attest a file's SHA-256 as a
    /// product (default: all of them).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u16).range(1..))]
    pub min_rebuilders: Option<u16>,
}

/// The loaded policy and evidence, and K.
#[derive(Debug)]
pub struct Attestations {
    pub policy: Policy,
    pub evidence: Evidence,
    pub min: usize,
}

/// Whether enough rebuilders attest one digest, and what exit code it is
/// when not (DESIGN.md §2).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Decision {
    pub sha256: String,
    /// Rebuilders (voters) that attest it.
    pub rebuilders: Vec<String>,
    /// The documents they attest it in.
    pub documents: Vec<String>,
    /// Rebuilders that attest another digest under the file's name.
    pub disagreeing: Vec<String>,
    /// Documents naming the file that do not count for it: a rebuilder's
    /// signature refused, or a verification that failed.
    pub refused: Vec<String>,
    pub min: usize,
    pub ok: bool,
    /// 0 when admitted; 3 when no attestation speaks of the file at all
    /// (nothing to verify with); 1 when some do but fewer than `min`
    /// rebuilders attest this digest (too few, a disagreement, a refused
    /// or failed attestation). In JSON, `exit` and its number.
    #[serde(rename = "exit", serialize_with = "exit_number")]
    pub code: Code,
    /// Warnings of the documents counted (an expired OpenPGP key).
    pub notes: Vec<String>,
}

fn exit_number<S: serde::Serializer>(code: &Code, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u8(code.as_u8())
}

impl Decision {
    /// The failure, with the code [`Attestations::decide`] chose.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.ok {
            return Ok(());
        }
        let mut msg = format!(
            "{} of {} required rebuilders attest sha256 {}",
            self.rebuilders.len(),
            self.min,
            self.sha256
        );
        if !self.rebuilders.is_empty() {
            msg.push_str(&format!(" ({})", self.rebuilders.join(", ")));
        }
        for d in self.disagreeing.iter().chain(&self.refused) {
            msg.push_str(&format!("; {d}"));
        }
        Err(fail(self.code, msg))
    }

    /// One line for reports.
    pub fn summary(&self) -> String {
        format!(
            "attested by {} of {} required rebuilders: {}",
            self.rebuilders.len(),
            self.min,
            self.rebuilders.join(", ")
        )
    }
}

impl AttestArgs {
    /// Were any attestation options given?
    pub fn given(&self) -> bool {
        !self.attestations.is_empty()
            || !self.rebuilders.is_empty()
            || !self.rebuilder_files.is_empty()
            || self.min_rebuilders.is_some()
    }

    /// The rebuilders and their key files.
    pub fn named(&self) -> anyhow::Result<Vec<(String, Vec<PathBuf>)>> {
        let mut named = Vec::new();
        for f in &self.rebuilder_files {
            named.extend(policy::read_file(f)?);
        }
        for r in &self.rebuilders {
            named.push(policy::parse_arg(r)?);
        }
        Ok(named)
    }

    /// Load the policy and the attestations. A URL is fetched through
    /// `transport` (fetch-verified's, with its proxy and TLS options), or
    /// the default one (HTTPS only, retries); `note` hears about retries.
    /// None when no option was given. Attestations without rebuilders (or
    /// the reverse), or K above the number of distinct rebuilders, are
    /// usage errors.
    pub fn load(
        &self,
        transport: Option<&Transport>,
        note: &dyn Fn(&str),
    ) -> anyhow::Result<Option<Attestations>> {
        if !self.given() {
            return Ok(None);
        }
        if self.attestations.is_empty() {
            return Err(fail(
                Code::Usage,
                "rebuilders given without --attestations: nothing to count",
            ));
        }
        let policy = Policy::load(&self.named()?)?;
        let min = self
            .min_rebuilders
            .map(usize::from)
            .unwrap_or(policy.voters.len());
        if min > policy.voters.len() {
            return Err(fail(
                Code::Usage,
                format!(
                    "--min-rebuilders {min} but only {} distinct rebuilders (keys shared by names count once)",
                    policy.voters.len()
                ),
            ));
        }
        let is_url = |a: &String| a.contains("://");
        let own = match transport {
            None if self.attestations.iter().any(is_url) => {
                Some(Transport::new(TransportOptions::default())?)
            }
            _ => None,
        };
        let mut inputs = Vec::new();
        for a in &self.attestations {
            let Some(t) = transport.or(own.as_ref()).filter(|_| is_url(a)) else {
                inputs.push(Input::Path(PathBuf::from(a)));
                continue;
            };
            inputs.push(Input::Fetched {
                source: a.clone(),
                bytes: t.get_small(a, super::evidence::MAX_FILE, note)?,
            });
        }
        let evidence = Evidence::load(&policy, &inputs)?;
        Ok(Some(Attestations {
            policy,
            evidence,
            min,
        }))
    }
}

impl Attestations {
    /// How many rebuilders attest `sha256`; `name` (the file's name) finds
    /// rebuilders that attest another digest under it.
    pub fn decide(&self, sha256: &[u8; 32], name: Option<&str>) -> Decision {
        let attesting = self.evidence.attesting(sha256);
        let mut documents = Vec::new();
        let mut notes = Vec::new();
        for docs in attesting.values() {
            for d in docs {
                documents.push(d.source.clone());
                notes.extend(d.notes.iter().map(|n| format!("{}: {n}", d.source)));
            }
        }
        let mut disagreeing = Vec::new();
        if let Some(name) = name {
            for (v, digests) in self.evidence.digests_named(name) {
                if attesting.contains_key(&v) {
                    continue;
                }
                for d in digests {
                    disagreeing.push(format!(
                        "{} attests {name} as sha256 {}",
                        self.policy.label(v),
                        hex::encode(d)
                    ));
                }
            }
        }
        let refused: Vec<String> = self
            .evidence
            .against(sha256, name)
            .iter()
            .map(|u| format!("attestation {} does not count: {}", u.source, u.reason))
            .collect();
        let ok = attesting.len() >= self.min;
        // DESIGN.md §2: a file no attestation speaks of has nothing to be
        // verified with (3); one spoken of, but not by enough rebuilders
        // for this digest, failed verification (1).
        let code = match ok {
            true => Code::Ok,
            false if attesting.is_empty() && disagreeing.is_empty() && refused.is_empty() => {
                Code::Missing
            }
            false => Code::Failed,
        };
        Decision {
            sha256: hex::encode(sha256),
            rebuilders: attesting.keys().map(|&v| self.policy.label(v)).collect(),
            documents,
            disagreeing,
            refused,
            min: self.min,
            ok,
            code,
            notes,
        }
    }

    /// [`Attestations::decide`] for a file on disk, hashed here (a regular
    /// file only, as every input).
    pub fn decide_file(&self, path: &Path) -> anyhow::Result<Decision> {
        let f = crate::fsutil::open_regular(path, "file")?;
        let d = crate::digest::hash_open_file(f, &[crate::digest::Algo::Sha256])
            .map_err(|e| fail(Code::Io, format!("reading {}: {e}", path.display())))?;
        let sha: [u8; 32] = d
            .get(crate::digest::Algo::Sha256)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| fail(Code::Io, format!("hashing {}", path.display())))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        Ok(self.decide(&sha, name.as_deref()))
    }

    /// Attestations refused or not counted, one sentence each, for stderr.
    pub fn notes(&self) -> Vec<String> {
        self.evidence
            .unused
            .iter()
            .map(|u| {
                format!(
                    "attestation {} {}: {}",
                    u.source,
                    if u.bad { "refused" } else { "not counted" },
                    u.reason
                )
            })
            .collect()
    }
}
