//! sign-log: receive a build log into an append-only Merkle log, seal it with
//! an OpenPGP signature, verify it later.

use build_verify::cli;
use build_verify::exit::{fail, Code, ResultExt};
use build_verify::log::{directive, export, proof, receive, seal, store, verify};
use build_verify::openpgp::sign::SigningKey;
use build_verify::openpgp::{KeyArgs, Verifier};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(
    name = "sign-log",
    version,
    about = "Append-only, Merkle-sealed, OpenPGP-signed build logs",
    long_about = "The build side pipes its output into `sign-log receive` (over qrexec, ssh or a plain pipe); \
every line becomes a JSON Lines record in DIR/log.jsonl, an RFC 6962 Merkle leaf, never rewritten. \
`seal` signs a C2SP tlog-checkpoint of the tree; `verify` recomputes every sealed root, checks the \
signatures and the record sequence, and summarizes materials, products and steps. Lines starting with \
`##sign-log ` are directives, printed by `sign-log hash` and `sign-log run`.\n\n\
Examples:\n  make 2>&1 | sign-log receive --log /var/log/build/core-admin --name core-admin --source build-vm\n  \
sign-log seal --log /var/log/build/core-admin --gpg-program qubes-gpg-client-wrapper --local-user FPR\n  \
sign-log verify --log /var/log/build/core-admin --keyring log-key.asc",
    after_help = build_verify::exit::HELP
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Debug, Clone)]
struct SealArgs {
    /// Sign with this secret key file (sequoia).
    #[arg(long, value_name = "FILE", conflicts_with = "gpg_program")]
    key: Option<PathBuf>,
    /// The passphrase of --key, on the first line of FILE.
    #[arg(long, value_name = "FILE", requires = "key")]
    passphrase_file: Option<PathBuf>,
    /// Sign through a gpg-compatible program (qubes-gpg-client-wrapper keeps the key in another VM).
    #[arg(long, value_name = "PROG", requires = "local_user")]
    gpg_program: Option<PathBuf>,
    /// The key the program signs with.
    #[arg(long, value_name = "FPR")]
    local_user: Option<String>,
    /// The checkpoint origin line (default: build-verify.sign-log/<log dir name>).
    #[arg(long, value_name = "ORIGIN")]
    origin: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Receive standard input into the log (the log side). Prints NAME SIZE ROOT at the end.
    Receive {
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        /// The log's name (default: the log directory's name).
        #[arg(long)]
        name: Option<String>,
        /// Where the lines come from; QREXEC_REMOTE_DOMAIN wins when set, never the stream.
        #[arg(long, value_name = "SRC")]
        source: Option<String>,
        #[arg(long, value_enum, default_value = "batch")]
        sync: receive::SyncMode,
        /// End the session (exit 1) after this many input bytes.
        #[arg(long, default_value_t = 8 << 30)]
        max_bytes: u64,
        /// End the session (exit 1) after this many records.
        #[arg(long, default_value_t = 100_000_000)]
        max_records: u64,
        /// End the session (exit 1) at a line longer than this.
        #[arg(long, default_value_t = 16 << 20)]
        max_line: usize,
        /// Seal when the input ends (needs --key or --gpg-program).
        #[arg(long)]
        seal_on_eof: bool,
        #[command(flatten)]
        seal: SealArgs,
    },
    /// Print `##sign-log material|product` directives (size, SHA-256, SHA-512) for FILES.
    Hash {
        #[arg(long, conflicts_with = "product", required_unless_present = "product")]
        material: bool,
        #[arg(long)]
        product: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run CMD as a logged step: step-begin, its output, step-end with its exit code (and exit with it).
    Run {
        #[arg(long)]
        name: Option<String>,
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// Print a C2SP tlog-checkpoint body for the current log size.
    Checkpoint {
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        #[arg(long)]
        origin: Option<String>,
    },
    /// Sign a checkpoint of the current log and append a seal record.
    Seal {
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        #[command(flatten)]
        seal: SealArgs,
    },
    /// Verify roots, signatures and record sequence; print a summary.
    Verify {
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        #[command(flatten)]
        keys: KeyArgs,
        /// Require this checkpoint origin.
        #[arg(long)]
        origin: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print an inclusion or consistency proof (JSON).
    Prove {
        #[command(subcommand)]
        what: ProveCmd,
    },
    /// Check a proof against checkpoint files alone.
    VerifyProof {
        /// The proof (JSON from `prove`).
        proof: PathBuf,
        /// Checkpoint files: one for inclusion; old then new for consistency.
        #[arg(long = "checkpoint", required = true)]
        checkpoints: Vec<PathBuf>,
    },
    /// Print the logged lines back, terminal-safe.
    Cat {
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        /// Only session K (1-based).
        #[arg(long, value_name = "K")]
        session: Option<usize>,
    },
    /// Export a session as an in-toto Statement v1 (link predicate).
    Export {
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        #[arg(long, value_parser = ["in-toto"], default_value = "in-toto")]
        format: String,
        #[arg(long, value_name = "K")]
        session: usize,
        #[command(flatten)]
        keys: KeyArgs,
    },
}

#[derive(Subcommand, Debug)]
enum ProveCmd {
    /// Record SEQ is in the tree of SIZE records (default: the whole log).
    Inclusion {
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        seq: u64,
        #[arg(long)]
        size: Option<u64>,
    },
    /// The tree of N records extends the tree of M records.
    Consistency {
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        m: u64,
        n: u64,
    },
}

fn main() -> std::process::ExitCode {
    let args: Cli = cli::parse();
    cli::run("sign-log", || run(args.cmd))
}

fn signer(a: &SealArgs) -> anyhow::Result<seal::Signer> {
    match (&a.key, &a.gpg_program, &a.local_user) {
        (Some(k), _, _) => Ok(seal::Signer::Key(Box::new(SigningKey::load(
            k,
            a.passphrase_file.as_deref(),
        )?))),
        (None, Some(p), Some(u)) => Ok(seal::Signer::Program {
            program: p.clone(),
            local_user: u.clone(),
        }),
        _ => Err(fail(
            Code::Usage,
            "sealing needs --key FILE or --gpg-program PROG --local-user FPR",
        )),
    }
}

fn origin(a: &Option<String>, dir: &Path) -> String {
    a.clone().unwrap_or_else(|| seal::default_origin(dir))
}

fn verified(
    dir: &Path,
    keys: &KeyArgs,
    want_origin: Option<&str>,
) -> anyhow::Result<verify::Summary> {
    let (keyring, trust, policy) = keys.load()?;
    let v = Verifier {
        keyring: &keyring,
        trust: &trust,
        policy: &policy,
        min_signers: keys.min_signers(),
        time: None,
    };
    verify::verify(dir, &v, want_origin)
}

fn run(cmd: Cmd) -> anyhow::Result<Code> {
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
            let name = name.unwrap_or_else(|| {
                log.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            // The source is who the transport says is talking, never the stream.
            let source = std::env::var("QREXEC_REMOTE_DOMAIN")
                .ok()
                .filter(|s| !s.is_empty())
                .or(source);
            let mut sealer = if seal_on_eof {
                Some(signer(&sa)?)
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
                record_size: 16 * 1024,
            };
            let (r, code) = receive::receive(&log, std::io::stdin().lock(), &opts)?;
            let (size, root) = match sealer.as_mut() {
                Some(s) => seal::seal(&log, s, &origin(&sa.origin, &log))?,
                None => (r.size, r.root),
            };
            println!("{name} {size} {root}");
            Ok(code)
        }
        Cmd::Hash {
            material,
            product: _,
            files,
        } => {
            let kind = if material { "material" } else { "product" };
            for f in &files {
                println!("{}", directive::hash_line(kind, f)?);
            }
            Ok(Code::Ok)
        }
        Cmd::Run { name, cmd } => {
            let name = name.or_else(|| cmd.first().cloned()).unwrap_or_default();
            let code = directive::run_step(&name, &cmd)?;
            std::process::exit(code);
        }
        Cmd::Checkpoint { log, origin: o } => {
            let l = store::Log::open(&log)?;
            print!(
                "{}",
                seal::checkpoint_text(&origin(&o, &log), l.next_seq, &l.root_b64())
            );
            Ok(Code::Ok)
        }
        Cmd::Seal { log, seal: sa } => {
            let mut s = signer(&sa)?;
            let (size, root) = seal::seal(&log, &mut s, &origin(&sa.origin, &log))?;
            println!("sealed {size} {root}");
            Ok(Code::Ok)
        }
        Cmd::Verify {
            log,
            keys,
            origin: o,
            json,
        } => {
            let s = verified(&log, &keys, o.as_deref())?;
            if json {
                cli::print_json(&serde_json::to_value(&s)?);
            } else {
                print_summary(&s);
            }
            Ok(Code::Ok)
        }
        Cmd::Prove { what } => {
            let p = match what {
                ProveCmd::Inclusion { log, seq, size } => proof::prove_inclusion(&log, seq, size)?,
                ProveCmd::Consistency { log, m, n } => proof::prove_consistency(&log, m, n)?,
            };
            cli::print_json(&serde_json::to_value(&p)?);
            Ok(Code::Ok)
        }
        Cmd::VerifyProof {
            proof: p,
            checkpoints,
        } => {
            let text =
                std::fs::read(&p).with_code(Code::Io, || format!("reading {}", p.display()))?;
            let parsed: proof::Proof = serde_json::from_slice(&text)
                .with_code(Code::Usage, || format!("{} is not a proof", p.display()))?;
            let cps: Vec<&Path> = checkpoints.iter().map(PathBuf::as_path).collect();
            proof::verify_proof(&parsed, &cps)?;
            println!("proof verified");
            Ok(Code::Ok)
        }
        Cmd::Cat { log, session } => {
            export::cat(&log, session, &mut std::io::stdout().lock())?;
            Ok(Code::Ok)
        }
        Cmd::Export {
            log,
            format: _,
            session,
            keys,
        } => {
            let s = verified(&log, &keys, None)?;
            cli::print_json(&export::in_toto(&log, &s.sessions, session)?);
            Ok(Code::Ok)
        }
    }
}

fn print_summary(s: &verify::Summary) {
    println!(
        "log verified: {} records, {} sealed, {} unsealed; checkpoints {:?}",
        s.records, s.sealed, s.unsealed, s.checkpoints
    );
    for f in &s.signers {
        println!("checkpoint signer {f}");
    }
    for (i, sess) in s.sessions.iter().enumerate() {
        println!(
            "session {} {:?} from {}: {} lines, records {}..{}, end: {}",
            i + 1,
            sess.name,
            sess.src.as_deref().unwrap_or("-"),
            sess.lines,
            sess.first_seq,
            sess.last_seq,
            sess.end.as_deref().unwrap_or("(none)")
        );
        for m in &sess.materials {
            println!(
                "  material {} sha256={}",
                m.name,
                m.sha256.as_deref().unwrap_or("-")
            );
        }
        for p in &sess.products {
            println!(
                "  product  {} sha256={}",
                p.name,
                p.sha256.as_deref().unwrap_or("-")
            );
        }
        for st in &sess.steps {
            println!(
                "  step     {} exit={}",
                st.name,
                st.exit.map_or("-".into(), |c| c.to_string())
            );
        }
        for e in &sess.errors {
            println!("  error?   {e}");
        }
    }
    for w in &s.warnings {
        eprintln!("sign-log: warning: {w}");
    }
    if s.unsealed > 0 {
        eprintln!(
            "sign-log: warning: {} record(s) after the last seal are not covered by a signature",
            s.unsealed
        );
    }
}
