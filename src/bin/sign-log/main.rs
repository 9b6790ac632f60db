//! sign-log: receive a build log into an append-only Merkle log, seal it with
//! an OpenPGP signature, verify it later; gate signing on it, compare
//! builders, and let witnesses cosign its checkpoints. A thin front end
//! over `build_verify::log`: the flags are in `cli.rs` (and, with their
//! rendering, `evidence.rs` for verify-proof and gate, `tlog.rs` for the
//! tlog-tiles and tlog-witness commands), the policy in the library; this
//! file dispatches and renders.

mod cli;
#[path = "../common/mod.rs"]
mod common;
mod evidence;
mod tlog;

use build_verify::attest::write::AttestSigner;
use build_verify::exit::{fail, Code};
use build_verify::log::directive::{self, Verb};
use build_verify::log::keys::{self, NoteKeys};
use build_verify::log::note;
use build_verify::log::{
    agree, checkpoint, export, gate, merkle, proof, receive, seal, store, tlogproof, verify,
    witness,
};
use cli::{Cmd, NoteArgs, ProveCmd, SealArgs};
use common::{Exit, Stdout};
use std::io::Write;

build_verify::early_init!();

fn main() -> std::process::ExitCode {
    let args: cli::Cli = common::parse();
    common::set_quiet(args.quiet);
    common::run("sign-log", || run(args.cmd))
}

fn signer(a: &SealArgs) -> anyhow::Result<seal::Signer> {
    seal::Signer::choose(
        a.key.as_deref(),
        a.passphrase_file.as_deref(),
        a.gpg_program.as_deref(),
        a.local_user.as_deref(),
    )
}

fn note_keys(a: &NoteArgs) -> anyhow::Result<NoteKeys> {
    NoteKeys::load(a.note_key.as_deref(), &a.witnesses, a.min_witnesses)
}

/// Seal the open log and tell the seal's notes.
fn seal_now(
    l: &mut store::Log,
    s: &mut seal::Signer,
    sa: &SealArgs,
    origin: &str,
    note_key: Option<&note::SignerKey>,
) -> anyhow::Result<checkpoint::Checkpoint> {
    let sealed = seal::seal(
        l,
        s,
        &seal::SealOptions {
            origin,
            note_key,
            rotate_key: sa.rotate_key,
        },
    )?;
    sealed.notes.iter().for_each(common::note);
    Ok(sealed.checkpoint)
}

fn run(cmd: Cmd) -> anyhow::Result<Exit> {
    match cmd {
        Cmd::Receive {
            log,
            name,
            source,
            sync,
            max_bytes,
            max_records,
            max_line,
            seal_on_eof,
            seal: sa,
        } => {
            let name = receive::log_name(name, &log);
            let source = receive::source(source);
            // Load the keys before reading: a bad key fails before the build runs.
            let mut sealer = if seal_on_eof {
                let note_key = sa.note_key.as_deref().map(keys::read_signer).transpose()?;
                let session = Some((name.as_str(), source.as_deref()));
                Some((
                    signer(&sa)?,
                    store::origin(sa.origin.as_deref(), &log, session)?,
                    note_key,
                ))
            } else {
                None
            };
            let opts = receive::Options {
                name: name.clone(),
                source,
                sync,
                max_bytes,
                max_records,
                max_line,
                record_size: receive::RECORD_SIZE,
            };
            let mut l = store::Log::open(&log)?;
            let r = receive::receive(&mut l, std::io::stdin().lock(), &opts)?;
            r.notes.iter().for_each(common::note);
            let (size, root) = match sealer.as_mut() {
                Some((s, o, k)) => {
                    let cp = seal_now(&mut l, s, &sa, o, k.as_ref())?;
                    (cp.size, merkle::to_b64(&cp.root))
                }
                None => (r.size, r.root),
            };
            outln!("{name} {size} {root}");
            Ok(r.code.into())
        }
        Cmd::Hash {
            material,
            product: _,
            files,
        } => {
            let verb = if material {
                Verb::Material
            } else {
                Verb::Product
            };
            for f in &files {
                outln!("{}", directive::hash_line(verb, f)?);
            }
            Ok(Code::Ok.into())
        }
        Cmd::Run { name, cmd } => {
            let name = name.unwrap_or_else(|| command_line(&cmd));
            let mut step = directive::Step::new(&name, &cmd);
            let mut out = Stdout;
            let say = |out: &mut Stdout, line: String| {
                writeln!(out, "{line}")
                    .and_then(|()| out.flush())
                    .map_err(|e| fail(Code::Io, format!("writing to stdout: {e}")))
            };
            say(&mut out, step.begin_line())?;
            let (code, why) = directive::run_command(&cmd)?;
            if let Some(w) = why {
                common::note(w);
            }
            say(&mut out, step.end_line(code))?;
            // The step's own exit status, as the shell would report it.
            Ok(Exit::Status((code & 0xff) as u8))
        }
        Cmd::Checkpoint { log, origin } => {
            // Read-only: complete records only, no lock, no recovery.
            let tree = store::tree(&log)?;
            let cp = checkpoint::Checkpoint {
                origin: store::origin(origin.as_deref(), &log, None)?,
                size: tree.size(),
                root: tree.root(),
            };
            out!("{}", cp.text());
            Ok(Code::Ok.into())
        }
        Cmd::Seal { log, seal: sa } => {
            let mut s = signer(&sa)?;
            let note_key = sa.note_key.as_deref().map(keys::read_signer).transpose()?;
            let mut l = store::Log::open_existing(&log)?;
            let o = store::origin(sa.origin.as_deref(), &log, None)?;
            let cp = seal_now(&mut l, &mut s, &sa, &o, note_key.as_ref())?;
            outln!("sealed {} {}", cp.size, merkle::to_b64(&cp.root));
            Ok(Code::Ok.into())
        }
        Cmd::Verify {
            log,
            keys,
            origin,
            require_sealed,
            pinned,
            expect_size,
            notes,
            json,
        } => {
            let loaded = keys.load_checked()?;
            let verifier = loaded.verifier();
            let pinned = pinned
                .as_deref()
                .map(|p| proof::read_checkpoint(p, Some(&verifier)))
                .transpose()?;
            let nk = note_keys(&notes)?;
            let verified = verify::verify(
                &log,
                &verifier,
                &verify::Options {
                    origin: origin.as_deref(),
                    pinned: pinned.as_ref(),
                    expect_size,
                    require_sealed,
                    notes: nk.policy(),
                },
            );
            let s = match verified {
                Ok(s) => s,
                Err(e) => {
                    // JSON on failure too; the reason also goes to stderr.
                    if json {
                        common::print_json(&common::json_failure(
                            serde_json::json!({"path": log}),
                            &e,
                        ));
                    }
                    return Err(e);
                }
            };
            if json {
                let mut v = serde_json::to_value(&s)?;
                if let Some(o) = v.as_object_mut() {
                    o.insert("path".into(), serde_json::json!(log));
                    o.insert("status".into(), serde_json::json!("ok"));
                    o.insert("exit".into(), serde_json::json!(0));
                }
                common::print_json(&v);
            } else {
                out!("{}", s.text());
            }
            for w in s.warning_lines() {
                common::note(format_args!("warning: {w}"));
            }
            Ok(Code::Ok.into())
        }
        Cmd::Prove { what } => {
            let value = match what {
                ProveCmd::Inclusion { log, seq, size } => {
                    serde_json::to_value(proof::prove_inclusion(&log, seq, size)?)?
                }
                ProveCmd::Consistency { log, m, n } => {
                    serde_json::to_value(proof::prove_consistency(&log, m, n)?)?
                }
                ProveCmd::Product {
                    log,
                    sha256s,
                    files,
                    from_size,
                    tlog_proof,
                } => {
                    let mut want = sha256s
                        .iter()
                        .map(|s| proof::parse_sha256(s))
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    for f in &files {
                        let line = directive::hash_line(Verb::Product, f)?;
                        let (_, d) = directive::parse(&line)?;
                        want.extend(d.sha256);
                    }
                    if let Some(dir) = tlog_proof {
                        let made = tlogproof::prove(&log, &want)?;
                        for p in tlogproof::write(&dir, &made)? {
                            outln!("{}", p.display());
                        }
                        return Ok(Code::Ok.into());
                    }
                    serde_json::to_value(proof::prove_products(&log, &want, from_size)?)?
                }
                ProveCmd::Checkpoint { log, from_size } => {
                    serde_json::to_value(proof::prove_products(&log, &[], from_size)?)?
                }
            };
            common::print_json(&value);
            Ok(Code::Ok.into())
        }
        Cmd::VerifyProof(a) => evidence::verify_proof(a),
        Cmd::Gate(a) => evidence::gate(a),
        Cmd::Agree {
            logs,
            keys,
            rebuilt,
            attest,
            attest_to,
            gpg_program,
            products,
            min,
            json,
        } => {
            agree::refuse_rebuilder_threshold(&rebuilt)?;
            // The signer first: a bad key is a usage error before any work.
            let signer = attest
                .map(|k| AttestSigner::choose(&k, gpg_program))
                .transpose()?;
            let loaded = match logs.is_empty() {
                true => None,
                false => Some(keys.load_checked()?),
            };
            let verifier = loaded.as_ref().map(|k| k.verifier());
            let attestations = common::load_attestations(&rebuilt, None)?;
            let a = agree::agree(
                &logs,
                verifier.as_ref(),
                &products,
                min,
                attestations.as_ref(),
            )?;
            if json {
                common::print_json(&serde_json::to_value(&a)?);
            } else {
                out!("{}", a.table());
            }
            match a.shortfall() {
                None => {
                    if let (Some(signer), Some(to)) = (&signer, &attest_to) {
                        agree::write_attestation(&a, signer, to)?;
                        common::note(format_args!("attestation written to {}", to.display()));
                    }
                    Ok(Code::Ok.into())
                }
                Some(why) => {
                    common::error(why);
                    Ok(Code::Failed.into())
                }
            }
        }
        Cmd::Keygen {
            name,
            witness,
            secret,
        } => {
            outln!("{}", keys::keygen(&name, witness, &secret)?);
            Ok(Code::Ok.into())
        }
        Cmd::Cosign {
            key,
            proof: p,
            keys,
            state,
            origin,
        } => {
            let k = keys::read_signer(&key)?;
            let ev = proof::read_evidence(&p)?;
            let loaded = keys.load_checked()?;
            let (line, accepted) = witness::cosign(
                &ev,
                &loaded.verifier(),
                &k,
                &gate::Options {
                    state: state.as_deref(),
                    origin: origin.as_deref(),
                    notes: note::Policy::default(),
                    quorum: None,
                    source: None,
                },
            )?;
            accepted.notes.iter().for_each(common::note);
            accepted.commit()?;
            out!("{}", line.encode());
            Ok(Code::Ok.into())
        }
        Cmd::AddCosignature {
            log,
            size,
            witnesses,
            lines,
        } => {
            let vkeys = witnesses
                .iter()
                .map(|w| keys::verifier_arg(w))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let parsed = keys::read_cosignature_lines(&lines)?;
            let added = witness::add_cosignatures(&log, size, &parsed, &vkeys)?;
            outln!("{}", added.summary_line());
            Ok(Code::Ok.into())
        }
        Cmd::Publish(a) => tlog::publish(a),
        Cmd::Monitor(a) => tlog::monitor(a),
        Cmd::Submit(a) => tlog::submit(a),
        Cmd::Witness(a) => tlog::witness(a),
        Cmd::Cat { log, session } => {
            export::cat(&log, session, &mut std::io::BufWriter::new(Stdout))?;
            Ok(Code::Ok.into())
        }
        Cmd::Export {
            log,
            format: _,
            session,
            keys,
        } => {
            let loaded = keys.load_checked()?;
            let s = verify::verify(&log, &loaded.verifier(), &verify::Options::default())?;
            common::print_json(&export::in_toto(&log, &s, session)?);
            Ok(Code::Ok.into())
        }
    }
}

/// A step's default name: its command line as a shell would show it
/// (words with blanks or quotes single-quoted), at most 120 characters, so
/// that the steps of one recipe are told apart.
fn command_line(argv: &[String]) -> String {
    const MAX: usize = 120;
    let quoted: Vec<String> = argv
        .iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
            match plain {
                true => a.clone(),
                false => format!("'{}'", a.replace('\'', "'\\''")),
            }
        })
        .collect();
    let line = quoted.join(" ");
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line,
    }
}
