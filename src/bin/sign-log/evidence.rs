//! sign-log's commands that check evidence on the receiving side,
//! `verify-proof` and `gate`: their flags, and how their outcomes are
//! rendered. Both take sign-log's JSON proofs and c2sp.org/tlog-proof
//! files; the checks are in `build_verify::log::{proof, gate, tlogproof}`.

use crate::cli::NoteArgs;
use crate::common::{self, Exit};
use crate::{out, outln};
use build_verify::exit::Code;
use build_verify::log::keys;
use build_verify::log::quorum::Quorum;
use build_verify::log::tlogproof::{self, ProofFile};
use build_verify::log::{gate, note, proof};
use build_verify::openpgp::KeyArgs;
use std::path::{Path, PathBuf};

/// The guarantees of each form of evidence, for both commands' help.
macro_rules! guarantees {
    () => {
        "What each form of evidence guarantees:\n  \
JSON evidence (`prove product --from-size N`), --keyring, --state: the log key's OpenPGP signature \
on the checkpoint, and consistency with every checkpoint this gate accepted before: the log cannot \
show this gate a history other than the one it showed it before (a split view is exit 1), whatever \
anyone else sees.\n  \
A tlog-proof (`prove product --tlog-proof DIR`), --note-key or --policy: the log's Ed25519 note \
signature and the witnesses' cosignatures; no OpenPGP signature and no consistency proof. Each \
witness cosigns only a tree consistent with every tree it cosigned before, so showing this checkpoint \
here and another history elsewhere needs the quorum of witnesses to cosign both: a split view is as \
hard as corrupting K witnesses. The gate takes a tlog-proof only with a quorum of at least one \
witness, and without --state."
    };
}

#[derive(clap::Args, Debug)]
#[command(
    about = "Check a proof: a JSON proof against checkpoint files and their signatures FILE.asc \
(--keyring), or a c2sp.org/tlog-proof against the log's note key and the witnesses",
    after_help = build_verify::exit::HELP,
    long_about = concat!("Check a proof offline. A JSON proof from `prove inclusion` or `prove \
consistency` is checked against checkpoint files (--checkpoint) and their detached signatures FILE.asc \
(--keyring). A c2sp.org/tlog-proof (`prove product --tlog-proof`) carries its checkpoint: the record in \
its extra line must be a product record (of --artifact's SHA-256, computed here, or --sha256's), its \
seq the proof's index; SHA-256(0x00 || record) must reach the checkpoint's root through the inclusion \
proof; the checkpoint must carry the log's Ed25519 note signature (--note-key, or a --policy log line) \
and the cosignatures the witnesses (--witness, --min-witnesses, or --policy) ask for.\n\n", guarantees!(), "\n\n\
Examples:\n  \
sign-log verify-proof --checkpoint checkpoints/17 \\\n      \
--keyring log-key.pub.asc inclusion.json\n  \
sign-log verify-proof --artifact out.rpm --note-key LOG-VKEY \\\n      \
--policy witnesses.policy out.rpm.tlog-proof")
)]
pub struct VerifyProofArgs {
    /// The proof (JSON from `prove`, or a .tlog-proof), or - for standard input.
    proof: PathBuf,
    /// Checkpoint files of a JSON proof: one for inclusion; old then new for consistency.
    #[arg(long = "checkpoint", value_name = "FILE")]
    checkpoints: Vec<PathBuf>,
    #[command(flatten)]
    keys: KeyArgs,
    /// Check a JSON proof against the checkpoints' roots alone, without
    /// their signatures: only for roots trusted by other means. Without it
    /// and without --keyring there is nothing to verify with (exit 3).
    #[arg(long, conflicts_with_all = ["keyrings", "keys_dirs"])]
    unsigned: bool,
    #[command(flatten)]
    notes: NoteArgs,
    /// A c2sp.org/tlog-policy file: the logs, witnesses and quorum a
    /// tlog-proof's checkpoint must meet.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["witnesses", "min_witnesses"])]
    policy: Option<PathBuf>,
    /// The artifact a tlog-proof must be for (hashed here).
    #[arg(long, value_name = "FILE", conflicts_with = "sha256")]
    artifact: Option<PathBuf>,
    /// The SHA-256 (hex) a tlog-proof's product must have.
    #[arg(long, value_name = "HEX")]
    sha256: Option<String>,
}

#[derive(clap::Args, Debug)]
#[command(
    about = "The signing gate: exit 0 only if every ARTIFACT is a product of a checkpoint signed by \
the log key and consistent with the last one accepted (--state), or proved by a tlog-proof \
cosigned by a witness quorum",
    after_help = build_verify::exit::HELP,
    long_about = concat!("The signing gate, run by the keys VM before it signs: exit 0 only if the \
SHA-256 of every ARTIFACT (computed here) is the digest of a `product` record proved included (RFC 9162) \
in the evidence's checkpoint, and that checkpoint passes the checks of its form of evidence.\n\n\
JSON evidence: the checkpoint is signed by the log key (--keyring) and consistent with the last \
checkpoint this gate accepted (--state, replaced atomically under a lock). A smaller checkpoint \
(rollback) or one that does not extend the accepted one (fork) is exit 1, and both signed checkpoints are \
kept next to the state (STATE.conflict-*). The evidence comes from `sign-log prove product --from-size N` \
on the log side, with N from `sign-log gate --state STATE --last-size`; it travels as one JSON object, so \
both sides work over a qrexec stream (--proof -).\n\n\
A tlog-proof (one ARTIFACT): checked as `verify-proof` does, with a witness quorum required. Nothing is \
written.\n\n", guarantees!(), "\n\n\
Examples:\n  \
sign-log gate --state /var/lib/gate/core-admin.json --last-size\n  \
sign-log gate --keyring log-key.pub.asc --state gate.json \\\n      \
--proof ev.json out.rpm\n  \
sign-log gate --note-key LOG-VKEY --policy witnesses.policy \\\n      \
--proof out.rpm.tlog-proof out.rpm")
)]
pub struct GateArgs {
    /// The evidence (JSON from `prove product`, or a .tlog-proof), or - for standard input.
    #[arg(
        long = "proof",
        value_name = "FILE",
        required_unless_present = "last_size"
    )]
    proof: Option<PathBuf>,
    #[command(flatten)]
    keys: KeyArgs,
    /// The last accepted checkpoint (created at the first success).
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Print the size of the state's checkpoint (0 without one) and exit.
    #[arg(long, requires = "state", conflicts_with = "proof")]
    last_size: bool,
    /// Require this checkpoint origin (default: the state's).
    #[arg(long, value_name = "ORIGIN")]
    origin: Option<String>,
    /// Require the product records to come from this source (the
    /// records' `src`: the qrexec domain of the build VM asking).
    #[arg(long, value_name = "SRC")]
    source: Option<String>,
    #[command(flatten)]
    notes: NoteArgs,
    /// A c2sp.org/tlog-policy file: the logs, witnesses and quorum the
    /// checkpoint must meet (instead of --witness and --min-witnesses).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["witnesses", "min_witnesses"])]
    policy: Option<PathBuf>,
    /// Print the outcome as one JSON object.
    #[arg(long)]
    json: bool,
    /// The files to be signed.
    #[arg(value_name = "ARTIFACT", required_unless_present = "last_size")]
    artifacts: Vec<PathBuf>,
}

/// The logs, witnesses and quorum the note flags or a policy file name
/// (a --note-key is a log of the policy too).
pub fn quorum(notes: &NoteArgs, policy: Option<&Path>) -> anyhow::Result<Quorum> {
    let log = notes
        .note_key
        .as_deref()
        .map(keys::verifier_arg)
        .transpose()?;
    match policy {
        Some(p) => {
            let mut q = Quorum::read(p)?;
            if let Some(k) = log.filter(|k| !q.logs.iter().any(|(l, _)| l == k)) {
                q.logs.push((k, None));
            }
            Ok(q)
        }
        None => {
            let ws = notes
                .witnesses
                .iter()
                .map(|w| keys::verifier_arg(w))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Quorum::from_keys(log, ws, notes.min_witnesses)
        }
    }
}

pub fn verify_proof(a: VerifyProofArgs) -> anyhow::Result<Exit> {
    let parsed = match tlogproof::read_any(&a.proof)? {
        ProofFile::Json(p) => {
            let load = a.keys.given().then_some(|| a.keys.load_checked());
            let notes = proof::verify_parsed_proof(&p, &a.checkpoints, load, a.unsigned)?;
            notes.iter().for_each(common::note);
            outln!("proof verified");
            return Ok(Code::Ok.into());
        }
        ProofFile::Tlog(t) => t,
    };
    let (p, note, cp) = *parsed;
    let q = quorum(&a.notes, a.policy.as_deref())?;
    let sha = match (&a.artifact, &a.sha256) {
        (Some(f), _) => Some(tlogproof::artifact_sha256(f)?.0),
        (None, Some(s)) => Some(proof::parse_sha256(s)?),
        (None, None) => None,
    };
    let expect = tlogproof::Expect {
        sha256: sha.as_deref(),
        source: None,
    };
    let checked = tlogproof::verify(&p, &note, &cp, &expect, &q)?;
    if sha.is_none() {
        common::note(
            "no --artifact or --sha256: the record is proved logged, not that a file is it",
        );
    }
    if q.rule.least() == 0 {
        common::note(
            "no witness required: the log's signature alone, which does not exclude a split view",
        );
    }
    outln!("proof verified: {}", checked.line());
    Ok(Code::Ok.into())
}

pub fn gate(a: GateArgs) -> anyhow::Result<Exit> {
    if a.last_size {
        let st = a.state.as_deref().unwrap_or(Path::new(""));
        outln!("{}", gate::last_size(st)?);
        return Ok(Code::Ok.into());
    }
    let q = quorum(&a.notes, a.policy.as_deref())?;
    let evidence = a.proof.unwrap_or_else(|| PathBuf::from("-"));
    let out = gate::gate(
        &evidence,
        || a.keys.load_checked(),
        &a.artifacts,
        &gate::Options {
            state: a.state.as_deref(),
            origin: a.origin.as_deref(),
            notes: note::Policy::default(),
            quorum: Some(&q),
            source: a.source.as_deref(),
        },
    )?;
    out.notes.iter().for_each(common::note);
    if a.json {
        common::print_json(&serde_json::to_value(&out)?);
    } else {
        out!("{}", out.text());
    }
    Ok(Code::Ok.into())
}
