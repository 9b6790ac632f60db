//! sign-log: receive a build log into an append-only Merkle log, seal it with
//! an OpenPGP signature, verify it later.

use build_verify::cli;
use build_verify::exit::{fail, Code};
use build_verify::log::directive::{self, Verb};
use build_verify::log::{checkpoint, export, proof, receive, seal, store, verify};
use build_verify::openpgp::sign::SigningKey;
use build_verify::openpgp::{KeyArgs, LoadedKeys};
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
    /// The checkpoint origin line (default: the log's earlier checkpoints',
    /// else build-verify.sign-log/<log dir name>).
    #[arg(long, value_name = "ORIGIN")]
    origin: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Receive standard input into the log (the log side). Prints NAME SIZE ROOT at the end.
    #[command(after_help = build_verify::exit::HELP)]
    Receive {
        /// The log directory (log.jsonl and checkpoints/).
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
        #[arg(long, value_name = "N", default_value_t = 8 << 30)]
        max_bytes: u64,
        /// End the session (exit 1) after this many line records.
        #[arg(long, value_name = "N", default_value_t = 100_000_000)]
        max_records: u64,
        /// End the session (exit 1) at a line longer than this many bytes
        /// (lines over 16 KiB are stored as continuation records).
        #[arg(long, value_name = "N", default_value_t = 16 << 20)]
        max_line: u64,
        /// Seal when the input ends (needs --key or --gpg-program).
        #[arg(long)]
        seal_on_eof: bool,
        #[command(flatten)]
        seal: SealArgs,
    },
    /// Print `##sign-log material|product` directives (size, SHA-256, SHA-512) for FILES.
    #[command(after_help = build_verify::exit::HELP)]
    Hash {
        /// The files are inputs of the build.
        #[arg(long, conflicts_with = "product", required_unless_present = "product")]
        material: bool,
        /// The files are outputs of the build.
        #[arg(long)]
        product: bool,
        /// The files to hash (SHA-256 and SHA-512, one pass each).
        #[arg(required = true, value_name = "FILES")]
        files: Vec<PathBuf>,
    },
    /// Run CMD as a logged step: step-begin, its output, step-end with its exit code (and exit with it).
    #[command(after_help = build_verify::exit::HELP)]
    Run {
        /// The step's name (default: the command).
        #[arg(long, value_name = "STEP")]
        name: Option<String>,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "CMD")]
        cmd: Vec<String>,
    },
    /// Print a C2SP tlog-checkpoint body for the current log size.
    #[command(after_help = build_verify::exit::HELP)]
    Checkpoint {
        /// The log directory (log.jsonl and checkpoints/).
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        /// The origin line (default: the log's earlier checkpoints', else
        /// build-verify.sign-log/<log dir name>).
        #[arg(long, value_name = "ORIGIN")]
        origin: Option<String>,
    },
    /// Sign a checkpoint of the current log and append a seal record (waits
    /// for a receiver writing the same log to finish).
    #[command(after_help = build_verify::exit::HELP)]
    Seal {
        /// The log directory (log.jsonl and checkpoints/).
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        #[command(flatten)]
        seal: SealArgs,
    },
    /// Verify roots, signatures and record sequence; print a summary.
    #[command(after_help = build_verify::exit::HELP)]
    Verify {
        /// The log directory (log.jsonl and checkpoints/).
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        #[command(flatten)]
        keys: KeyArgs,
        /// Require this checkpoint origin (default: every checkpoint must
        /// have the first one's).
        #[arg(long, value_name = "ORIGIN")]
        origin: Option<String>,
        /// Print the summary as one JSON object (warnings stay on stderr).
        #[arg(long)]
        json: bool,
    },
    /// Print an inclusion or consistency proof (JSON).
    #[command(after_help = build_verify::exit::HELP)]
    Prove {
        #[command(subcommand)]
        what: ProveCmd,
    },
    /// Check a proof against checkpoint files alone and their signatures
    /// FILE.asc (--keyring).
    #[command(after_help = build_verify::exit::HELP)]
    VerifyProof {
        /// The proof (JSON from `prove`).
        proof: PathBuf,
        /// Checkpoint files: one for inclusion; old then new for consistency.
        #[arg(long = "checkpoint", value_name = "FILE", required = true)]
        checkpoints: Vec<PathBuf>,
        #[command(flatten)]
        keys: KeyArgs,
        /// Check the proof against the checkpoints' roots alone, without their
        /// signatures: only for roots trusted by other means. Without it and
        /// without --keyring there is nothing to verify with (exit 3).
        #[arg(long, conflicts_with_all = ["keyrings", "keys_dirs"])]
        unsigned: bool,
    },
    /// Print the logged lines back, terminal-safe.
    #[command(after_help = build_verify::exit::HELP)]
    Cat {
        /// The log directory (log.jsonl and checkpoints/).
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        /// Only session K (1-based).
        #[arg(long, value_name = "K")]
        session: Option<usize>,
    },
    /// Export a session as an in-toto Statement v1 (link predicate).
    #[command(after_help = build_verify::exit::HELP)]
    Export {
        /// The log directory (log.jsonl and checkpoints/).
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        /// The output format.
        #[arg(long, value_parser = ["in-toto"], default_value = "in-toto")]
        format: String,
        /// The session (1-based, as `verify` numbers them); it must be sealed.
        #[arg(long, value_name = "K")]
        session: usize,
        #[command(flatten)]
        keys: KeyArgs,
    },
}

#[derive(Subcommand, Debug)]
enum ProveCmd {
    /// Record SEQ is in the tree of SIZE records (default: the whole log).
    #[command(after_help = build_verify::exit::HELP)]
    Inclusion {
        /// The log directory (log.jsonl and checkpoints/).
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        /// The record (its seq).
        seq: u64,
        /// The tree size (default: the last checkpoint's, else the log's).
        #[arg(long, value_name = "N")]
        size: Option<u64>,
    },
    /// The tree of N records extends the tree of M records.
    #[command(after_help = build_verify::exit::HELP)]
    Consistency {
        /// The log directory (log.jsonl and checkpoints/).
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        /// The old tree size.
        m: u64,
        /// The new tree size.
        n: u64,
    },
}

build_verify::early_init!();

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

fn origin(a: &Option<String>, dir: &Path) -> anyhow::Result<String> {
    match a {
        Some(o) => Ok(o.clone()),
        None => checkpoint::origin_for(dir),
    }
}

/// Run `body` with a verifier built from the key options.
fn verified(
    dir: &Path,
    keys: &KeyArgs,
    want_origin: Option<&str>,
) -> anyhow::Result<verify::Summary> {
    verify::verify(dir, &keys.load()?.verifier(), want_origin)
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
            // Load the key before reading: a bad key fails before the build runs.
            let mut sealer = if seal_on_eof {
                Some((signer(&sa)?, origin(&sa.origin, &log)?))
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
            let mut l = store::Log::open(&log)?;
            let r = receive::receive(&mut l, std::io::stdin().lock(), &opts)?;
            let (size, root) = match sealer.as_mut() {
                Some((s, o)) => {
                    let cp = seal::seal(&mut l, s, o)?;
                    (cp.size, base64_root(&cp.root))
                }
                None => (r.size, r.root),
            };
            println!("{name} {size} {root}");
            Ok(r.code)
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
                println!("{}", directive::hash_line(verb, f)?);
            }
            Ok(Code::Ok)
        }
        Cmd::Run { name, cmd } => {
            let name = name.or_else(|| cmd.first().cloned()).unwrap_or_default();
            let code = directive::run_step(&name, &cmd)?;
            std::process::exit(code);
        }
        Cmd::Checkpoint { log, origin: o } => {
            // Read-only: complete records only, no lock, no recovery.
            let tree = store::tree(&log)?;
            let cp = checkpoint::Checkpoint {
                origin: origin(&o, &log)?,
                size: tree.size(),
                root: tree.root(),
            };
            print!("{}", cp.text());
            Ok(Code::Ok)
        }
        Cmd::Seal { log, seal: sa } => {
            let mut s = signer(&sa)?;
            let o = origin(&sa.origin, &log)?;
            let mut l = store::Log::open(&log)?;
            let cp = seal::seal(&mut l, &mut s, &o)?;
            println!("sealed {} {}", cp.size, base64_root(&cp.root));
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
                print_warnings(&s);
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
            keys,
            unsigned,
        } => {
            let parsed = proof::read_proof(&p)?;
            // Zero signatures checked is no verification (DESIGN.md §1.4)
            // unless the caller says it trusts the roots by other means.
            let loaded = match (keys.given(), unsigned) {
                (true, _) => Some(keys.load()?),
                (false, true) => None,
                (false, false) => {
                    return Err(fail(
                        Code::Missing,
                        "nothing to verify the checkpoints with: give --keyring (or --unsigned to trust their roots as they are)",
                    ))
                }
            };
            let verifier = loaded.as_ref().map(LoadedKeys::verifier);
            let cps = checkpoints
                .iter()
                .map(|c| proof::read_checkpoint(c, verifier.as_ref()))
                .collect::<anyhow::Result<Vec<_>>>()?;
            proof::verify_proof(&parsed, &cps)?;
            if verifier.is_none() {
                eprintln!("sign-log: checkpoint signatures not checked (--unsigned)");
            }
            println!("proof verified");
            Ok(Code::Ok)
        }
        Cmd::Cat { log, session } => {
            let stdout = std::io::stdout();
            export::cat(&log, session, &mut std::io::BufWriter::new(stdout.lock()))?;
            Ok(Code::Ok)
        }
        Cmd::Export {
            log,
            format: _,
            session,
            keys,
        } => {
            let s = verified(&log, &keys, None)?;
            cli::print_json(&export::in_toto(&log, &s, session)?);
            Ok(Code::Ok)
        }
    }
}

fn base64_root(root: &[u8; 32]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(root)
}

fn print_warnings(s: &verify::Summary) {
    for w in s.warning_lines() {
        eprintln!("sign-log: warning: {w}");
    }
}

fn print_summary(s: &verify::Summary) {
    print!("{}", s.text());
    print_warnings(s);
}
