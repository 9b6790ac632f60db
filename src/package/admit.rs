//! A package admitted by its own verification, by rebuilders'
//! attestations (issue 26), or both: what `verify-package` reports for
//! each operand.
//!
//! With attestations, every operand must also be attested by enough
//! rebuilders ([`Attestations::decide`] says how many, and which exit code
//! when not). A .deb has no signature of its own: its authenticity comes
//! from the Debian chain, unless the attestations are asked to decide
//! alone; an RPM and a .dsc keep their own check whatever is asked.

use super::{debian, open_operand, rpm, sniff, Kind, Verified};
use crate::attest::{Attestations, Decision};
use crate::openpgp::Verifier;
use std::path::Path;

/// How rebuilders' attestations take part in verifying packages.
#[derive(Clone, Copy)]
pub struct Rebuilt<'a> {
    pub attestations: &'a Attestations,
    /// A file that is neither an RPM nor a .dsc is admitted by the
    /// attestations alone, without a Debian chain
    /// (`--attestations-decide`).
    pub alone: bool,
}

/// One operand's verdict.
#[derive(Clone, Debug)]
pub struct Admitted {
    /// By its own chain or signature; None when the attestations alone
    /// decided.
    pub own: Option<Verified>,
    /// The rebuilders' decision, when attestations were given.
    pub attested: Option<Decision>,
}

impl Admitted {
    /// The line a good one prints ([`Verified::ok_line`], or `FILE:
    /// attested OK` when the attestations alone decided).
    pub fn ok_line(&self, file: &str) -> String {
        match &self.own {
            Some(v) => v.ok_line(file),
            None => format!("{file}: attested OK"),
        }
    }

    /// Warnings, one sentence each.
    pub fn notes(&self) -> impl Iterator<Item = &String> {
        let own = self.own.iter().flat_map(|v| v.notes().iter());
        own.chain(self.attested.iter().flat_map(|d| d.notes.iter()))
    }

    /// What it was verified by, one line each (for -v).
    pub fn details(&self) -> Vec<String> {
        let mut v: Vec<String> = self.own.iter().flat_map(Verified::details).collect();
        v.extend(self.attested.iter().map(Decision::summary));
        v
    }

    /// One JSON object for `--json`.
    pub fn to_json(&self, file: &str) -> serde_json::Value {
        let mut o = match &self.own {
            Some(v) => v.to_json(file),
            None => serde_json::json!({"path": file, "status": "ok", "exit": 0}),
        };
        if let (Some(d), Some(m)) = (&self.attested, o.as_object_mut()) {
            m.insert("attested".into(), serde_json::json!(d));
        }
        o
    }
}

/// [`super::verify_file`], and the rebuilders' decision on the file.
pub fn verify_file(
    path: &Path,
    chain: &debian::Chain,
    verifier: &Verifier,
    rpm_opts: &rpm::RpmOptions,
    rebuilt: Option<Rebuilt>,
) -> anyhow::Result<Admitted> {
    let own = match rebuilt.is_some_and(|r| r.alone) && is_pinned(path)? {
        true => None,
        false => Some(super::verify_file(path, chain, verifier, rpm_opts)?),
    };
    admit(path, own, rebuilt)
}

/// A file verified on its own (a .dsc by the chain), and the rebuilders'
/// decision on it: too few attestations is the file's failure.
pub fn admit(
    path: &Path,
    own: Option<Verified>,
    rebuilt: Option<Rebuilt>,
) -> anyhow::Result<Admitted> {
    let attested = match rebuilt {
        None => None,
        Some(r) => {
            let d = r.attestations.decide_file(path)?;
            d.check()?;
            Some(d)
        }
    };
    Ok(Admitted { own, attested })
}

/// Is `path` neither an RPM nor a .dsc?
fn is_pinned(path: &Path) -> anyhow::Result<bool> {
    let (mut file, _) = open_operand(path)?;
    Ok(sniff(&mut file, path)? == Kind::Pinned)
}
