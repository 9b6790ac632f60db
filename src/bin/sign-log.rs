//! sign-log: receive a build log into an append-only Merkle log, seal it with
//! an OpenPGP signature, verify it later; gate signing on it, compare
//! builders, and let witnesses cosign its checkpoints.

mod common;
use build_verify::exit::{fail, Code};
use build_verify::fsutil::input;
use build_verify::log::directive::{self, Verb};
use build_verify::log::note::{self, SignatureLine, SignerKey, VerifierKey};
use build_verify::log::{
    agree, checkpoint, export, gate, proof, receive, seal, store, verify, witness,
};
use build_verify::openpgp::sign::SigningKey;
use build_verify::openpgp::{KeyArgs, LoadedKeys};
use clap::{Parser, Subcommand};
use common as cli;
use std::io::Write;
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
Enforcement: `gate` lets a keys VM sign an artifact only if its SHA-256 is a product of a sealed \
checkpoint consistent with the last one it accepted (`prove product` makes the evidence on the log \
side); `agree` compares the products of logs sealed by independent builders; checkpoints are C2SP \
signed notes that witnesses cosign (`keygen`, `cosign`, `add-cosignature`, `verify --witness`).\n\n\
Examples:\n  \
make 2>&1 | sign-log receive --log /var/lib/build-logs/core-admin \\\n      \
--source build-vm\n  \
sign-log seal --log /var/lib/build-logs/core-admin --key log-key.asc\n  \
sign-log verify --log /var/lib/build-logs/core-admin \\\n      \
--keyring log-key.pub.asc\n  \
sign-log prove product --log DIR --file out.rpm --from-size 17 > ev.json\n  \
sign-log gate --keyring log-key.pub.asc --proof ev.json \\\n      \
--state gate.json out.rpm",
    after_help = build_verify::exit::HELP
)]
struct Cli {
    /// No notes or warnings on stderr; errors are still reported.
    #[arg(short, long, global = true)]
    quiet: bool,

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
    /// else build-verify.sign-log/[SRC/]NAME with the log's name (--name, or
    /// the name its first session was received under) and source. A seal
    /// with another origin than the log's is refused.
    #[arg(long, value_name = "ORIGIN")]
    origin: Option<String>,
    /// Also sign the checkpoint as a C2SP note: an Ed25519 secret key
    /// (`PRIVATE+KEY+ORIGIN+...`, from `sign-log keygen --name ORIGIN`).
    #[arg(long, value_name = "FILE")]
    note_key: Option<PathBuf>,
    /// Allow sealing with another key than the one that signed the log's
    /// last checkpoint (key rotation). Without it such a seal is refused.
    #[arg(long)]
    rotate_key: bool,
}

/// The note signatures a checkpoint must carry.
#[derive(clap::Args, Debug, Clone, Default)]
struct NoteArgs {
    /// The log's Ed25519 note verifier key (NAME+HASH+KEY, or a file
    /// holding it): the last checkpoint must carry its valid signature line.
    #[arg(long = "note-key", value_name = "VKEY")]
    note_key: Option<String>,
    /// A witness's cosignature verifier key (NAME+HASH+KEY, or a file
    /// holding it). Repeatable. Every line a given key claims must verify.
    #[arg(long = "witness", value_name = "VKEY")]
    witnesses: Vec<String>,
    /// Cosignatures by distinct given witnesses required on the last
    /// checkpoint (default: all given).
    #[arg(long, value_name = "K")]
    min_witnesses: Option<usize>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Receive standard input into the log (the log side). Prints NAME SIZE ROOT at the end.
    #[command(after_help = build_verify::exit::HELP)]
    Receive {
        /// The log directory (log.jsonl and checkpoints/), created if needed.
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
    /// Print `##sign-log product` (default) or `material` directives (size, SHA-256, SHA-512) for FILES.
    #[command(after_help = build_verify::exit::HELP)]
    Hash {
        /// The files are inputs of the build.
        #[arg(long, conflicts_with = "product")]
        material: bool,
        /// The files are outputs of the build (the default).
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
        /// The origin line (default: as `seal` picks it).
        #[arg(long, value_name = "ORIGIN")]
        origin: Option<String>,
    },
    /// Sign a checkpoint of the current log and append a seal record (waits
    /// for a receiver writing the same log to finish). Never creates a log.
    #[command(after_help = build_verify::exit::HELP)]
    Seal {
        /// The log directory (log.jsonl and checkpoints/); it must hold a log.
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
        /// Fail (exit 1) on any record after the last seal.
        #[arg(long)]
        require_sealed: bool,
        /// A checkpoint kept elsewhere (its signature FILE.asc is checked
        /// too): the log must hold that tree, and seals at least as large.
        /// Removing the newest checkpoint and its seal record then fails.
        #[arg(long = "checkpoint", value_name = "FILE")]
        pinned: Option<PathBuf>,
        /// The log's last seal must cover at least N records.
        #[arg(long, value_name = "N")]
        expect_size: Option<u64>,
        #[command(flatten)]
        notes: NoteArgs,
        /// Print the summary as one JSON object (warnings stay on stderr).
        #[arg(long)]
        json: bool,
    },
    /// Print proofs (JSON): inclusion, consistency, or the gate's evidence.
    #[command(after_help = build_verify::exit::HELP)]
    Prove {
        #[command(subcommand)]
        what: ProveCmd,
    },
    /// Check a proof against checkpoint files alone and their signatures
    /// FILE.asc (--keyring).
    #[command(after_help = build_verify::exit::HELP)]
    VerifyProof {
        /// The proof (JSON from `prove`), or - for standard input.
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
    /// The signing gate: exit 0 only if every ARTIFACT is a product of a
    /// checkpoint signed by the log key and consistent with the last one
    /// accepted (--state).
    #[command(
        after_help = build_verify::exit::HELP,
        long_about = "The signing gate, run by the keys VM before it signs: exit 0 only if the SHA-256 of every \
ARTIFACT (computed here) is the digest of a `product` record proved included (RFC 9162) in the evidence's \
checkpoint, that checkpoint is signed by the log key (--keyring), and it is consistent with the last \
checkpoint this gate accepted (--state, replaced atomically under a lock). A smaller checkpoint \
(rollback) or one that does not extend the accepted one (fork) is exit 1, and both signed checkpoints are \
kept next to the state (STATE.conflict-*). The evidence comes from `sign-log prove product --from-size N` \
on the log side, with N from `sign-log gate --state STATE --last-size`; it travels as one JSON object, so \
both sides work over a qrexec stream (--proof -).\n\n\
Examples:\n  \
sign-log gate --state /var/lib/gate/core-admin.json --last-size\n  \
sign-log gate --keyring log-key.pub.asc --state gate.json \\\n      \
--proof ev.json out.rpm"
    )]
    Gate {
        /// The evidence (JSON from `prove product`), or - for standard input.
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
        /// Print the outcome as one JSON object.
        #[arg(long)]
        json: bool,
        /// The files to be signed.
        #[arg(value_name = "ARTIFACT", required_unless_present = "last_size")]
        artifacts: Vec<PathBuf>,
    },
    /// Compare the products of independently sealed logs: exit 0 only if at
    /// least N builders (distinct signing keys) report one digest for each.
    #[command(after_help = build_verify::exit::HELP)]
    Agree {
        /// A sealed log directory. Repeatable (one per builder).
        #[arg(long = "log", value_name = "DIR", required = true)]
        logs: Vec<PathBuf>,
        #[command(flatten)]
        keys: KeyArgs,
        /// Only these products (file names). Repeatable. Default: every
        /// product any log recorded.
        #[arg(long = "product", value_name = "NAME")]
        products: Vec<String>,
        /// Builders that must agree on each product (default: all).
        #[arg(long, value_name = "N")]
        min: Option<usize>,
        /// Print the comparison as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Make an Ed25519 note key: the secret key goes to FILE (mode 0600),
    /// the verifier key (vkey) to standard output.
    #[command(after_help = build_verify::exit::HELP)]
    Keygen {
        /// The key name: the log's origin, or the witness's name.
        #[arg(long)]
        name: String,
        /// A witness cosignature key (c2sp.org/tlog-cosignature, type 4)
        /// instead of a log's note signature key (type 1).
        #[arg(long)]
        witness: bool,
        /// Where to write the secret key (never overwritten).
        #[arg(long, value_name = "FILE")]
        secret: PathBuf,
    },
    /// As a witness: accept the evidence's checkpoint as `gate` does, then
    /// print a cosignature line for it.
    #[command(after_help = build_verify::exit::HELP)]
    Cosign {
        /// The witness's secret cosignature key (from `keygen --witness`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The evidence (JSON from `prove checkpoint`), or - for standard input.
        #[arg(long = "proof", value_name = "FILE")]
        proof: PathBuf,
        #[command(flatten)]
        keys: KeyArgs,
        /// The witness's last accepted checkpoint of this log.
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        /// Require this checkpoint origin (default: the state's).
        #[arg(long, value_name = "ORIGIN")]
        origin: Option<String>,
    },
    /// Add witness cosignature lines to a stored checkpoint (each must
    /// verify with a given --witness key).
    #[command(after_help = build_verify::exit::HELP)]
    AddCosignature {
        /// The log directory (log.jsonl and checkpoints/).
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        /// The checkpoint (default: the newest).
        #[arg(long, value_name = "N")]
        size: Option<u64>,
        /// The witnesses' verifier keys. Repeatable.
        #[arg(long = "witness", value_name = "VKEY", required = true)]
        witnesses: Vec<String>,
        /// Files of cosignature lines (`cosign`'s output), or - for standard input.
        #[arg(value_name = "FILE", required = true)]
        lines: Vec<PathBuf>,
    },
    /// Publish the log as static c2sp.org/tlog-tiles up to its newest
    /// checkpoint, which must carry an Ed25519 note signature (`seal --note-key`).
    #[command(
        after_help = build_verify::exit::HELP,
        long_about = "Publish the log as static c2sp.org/tlog-tiles in WWW, up to its newest checkpoint: the \
records as entries (tile/entries/N), the hash tiles (tile/L/N), partial tiles for every sealed size, and \
the checkpoint as sealed (its note, never re-signed) as WWW/checkpoint, written last. The checkpoint must \
carry an Ed25519 note signature (`seal --note-key`); any web server or object store then serves WWW as \
the log, and any tlog-tiles client reads it (`sign-log monitor`). Only what is new is written; a WWW \
holding another log, or tiles that do not hash to its checkpoint, is refused. Files are renamed into \
place; one syncfs makes them durable before the checkpoint is replaced.\n\n\
Examples:\n  \
sign-log publish --log /var/lib/build-logs/core-admin \\\n      \
--out /var/lib/build-logs-www/core-admin"
    )]
    Publish {
        /// The log directory (log.jsonl and checkpoints/).
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        /// The directory served at the log's URL prefix (created if needed).
        #[arg(long, value_name = "WWW")]
        out: PathBuf,
        /// Check the checkpoint's note signature with this verifier key
        /// (NAME+HASH+KEY, or a file holding it) first.
        #[arg(long = "note-key", value_name = "VKEY")]
        note_key: Option<String>,
        /// Print the outcome as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Read any c2sp.org/tlog-tiles log: verify its checkpoint's signatures,
    /// its tiles, consistency with the last accepted checkpoint (--state),
    /// and with --entries every entry.
    #[command(
        after_help = build_verify::exit::HELP,
        mut_arg("note_key", |a| a.required(true)),
        long_about = "Read a c2sp.org/tlog-tiles log served at URL (ours, Tessera's, any): fetch its checkpoint, \
verify the log's Ed25519 note signature (--note-key) and witness cosignatures (--witness, \
--min-witnesses; a witness counts once per public key), fetch the right edge of its tree and check that \
it hashes to the checkpoint's root. With --state, the checkpoint must extend the one accepted last \
(fetching at most two tiles per level): a smaller one (rollback) or one that does not extend it (fork) is \
exit 1 with both checkpoints kept as STATE.conflict-*; on success the state is replaced. With --entries \
every entry bundle and tile is fetched and the tree re-derived from the entries.\n\n\
Examples:\n  \
sign-log monitor --url https://logs.example.org/core-admin/ \\\n      \
--note-key LOG-VKEY --state core-admin.state --entries"
    )]
    Monitor {
        /// The log's URL prefix (https://, http:// with --allow-http, or file://).
        #[arg(long, value_name = "URL")]
        url: String,
        #[command(flatten)]
        notes: NoteArgs,
        /// Require this checkpoint origin (default: the note key's name).
        #[arg(long, value_name = "ORIGIN")]
        origin: Option<String>,
        /// The last accepted checkpoint (created at the first success).
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        /// Fetch every entry bundle and tile, and re-derive the tree.
        #[arg(long)]
        entries: bool,
        /// Resources fetched at a time with --entries.
        #[arg(long, value_name = "N", default_value_t = 8)]
        parallel: usize,
        /// Allow plain http:// (what is read is verified either way).
        #[arg(long)]
        allow_http: bool,
        /// Extra trusted CA certificates (PEM) for https.
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
        /// Proxy for every request (http://, socks5://, socks5h://).
        #[arg(long, value_name = "URL")]
        proxy: Option<String>,
        /// Print the outcome as one JSON object.
        #[arg(long)]
        json: bool,
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
    /// The gate's evidence: the newest checkpoint with its signatures,
    /// inclusion proofs of the product records with these digests, and a
    /// consistency proof from --from-size.
    #[command(after_help = build_verify::exit::HELP)]
    Product {
        /// The log directory (log.jsonl and checkpoints/).
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        /// A product's SHA-256 (hex). Repeatable.
        #[arg(long = "sha256", value_name = "HEX", required_unless_present = "files")]
        sha256s: Vec<String>,
        /// A product file, hashed here. Repeatable.
        #[arg(long = "file", value_name = "FILE")]
        files: Vec<PathBuf>,
        /// The size of the checkpoint the receiver accepted last (`gate --last-size`).
        #[arg(long, value_name = "N")]
        from_size: Option<u64>,
    },
    /// A witness's evidence: the newest checkpoint with its signatures and
    /// a consistency proof from --from-size.
    #[command(after_help = build_verify::exit::HELP)]
    Checkpoint {
        /// The log directory (log.jsonl and checkpoints/).
        #[arg(long, value_name = "DIR")]
        log: PathBuf,
        /// The size of the checkpoint the witness accepted last.
        #[arg(long, value_name = "N")]
        from_size: Option<u64>,
    },
}

build_verify::early_init!();

fn main() -> std::process::ExitCode {
    let args: Cli = cli::parse();
    cli::set_quiet(args.quiet);
    cli::run("sign-log", || run(args.cmd))
}

fn signer(a: &SealArgs) -> anyhow::Result<seal::Signer> {
    match (&a.key, &a.gpg_program, &a.local_user) {
        (Some(k), _, _) => {
            input::require_regular(k, "secret key")?;
            if let Some(p) = &a.passphrase_file {
                input::require_regular(p, "passphrase file")?;
            }
            Ok(seal::Signer::Key(Box::new(SigningKey::load(
                k,
                a.passphrase_file.as_deref(),
            )?)))
        }
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

/// A secret note key file is one line.
const MAX_KEY_FILE: u64 = 4096;

fn note_signer(path: &Path) -> anyhow::Result<SignerKey> {
    let text = input::read_regular(path, "note key", MAX_KEY_FILE, Code::Usage)?;
    let text = zeroize::Zeroizing::new(String::from_utf8_lossy(&text).into_owned());
    SignerKey::parse(text.trim()).map_err(|e| fail(Code::Usage, format!("{}: {e}", path.display())))
}

/// A vkey given as itself, or as a file holding it.
fn vkey(arg: &str) -> anyhow::Result<VerifierKey> {
    match VerifierKey::parse(arg) {
        Ok(k) => Ok(k),
        Err(e) if !Path::new(arg).exists() => Err(fail(Code::Usage, format!("{arg}: {e}"))),
        Err(_) => {
            let text =
                input::read_regular(Path::new(arg), "verifier key", MAX_KEY_FILE, Code::Usage)?;
            let text = String::from_utf8_lossy(&text);
            VerifierKey::parse(text.trim()).map_err(|e| fail(Code::Usage, format!("{arg}: {e}")))
        }
    }
}

/// The note keys of `a`, parsed.
struct NoteKeys {
    log_key: Option<VerifierKey>,
    witnesses: Vec<VerifierKey>,
    min: usize,
}

impl NoteKeys {
    fn load(a: &NoteArgs) -> anyhow::Result<NoteKeys> {
        let log_key = a.note_key.as_deref().map(vkey).transpose()?;
        let witnesses = a
            .witnesses
            .iter()
            .map(|w| vkey(w))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if let Some(k) = log_key.as_ref().filter(|k| k.kind != note::ED25519) {
            return Err(fail(
                Code::Usage,
                format!("--note-key {}: not an Ed25519 note (type 1) key", k.name),
            ));
        }
        if let Some(k) = witnesses.iter().find(|k| k.kind != note::COSIGNATURE) {
            return Err(fail(
                Code::Usage,
                format!("--witness {}: not a cosignature (type 4) key", k.name),
            ));
        }
        let min = a.min_witnesses.unwrap_or(witnesses.len());
        if min > witnesses.len() {
            return Err(fail(
                Code::Usage,
                format!(
                    "--min-witnesses {min} but only {} --witness keys given",
                    witnesses.len()
                ),
            ));
        }
        Ok(NoteKeys {
            log_key,
            witnesses,
            min,
        })
    }

    fn policy(&self) -> note::Policy<'_> {
        note::Policy {
            log_key: self.log_key.as_ref(),
            witnesses: &self.witnesses,
            min_witnesses: self.min,
        }
    }
}

/// Load the keyrings, refusing special files first (a FIFO as keyring
/// must not block the tool).
fn load_keys(keys: &KeyArgs) -> anyhow::Result<LoadedKeys> {
    for k in &keys.keyrings {
        input::require_regular(k, "keyring")?;
    }
    for d in &keys.keys_dirs {
        if let Ok(entries) = std::fs::read_dir(d) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "asc") {
                    input::require_regular(&p, "keyring")?;
                }
            }
        }
    }
    keys.load()
}

fn origin(
    a: &Option<String>,
    dir: &Path,
    session: Option<(&str, Option<&str>)>,
) -> anyhow::Result<String> {
    match a {
        Some(o) => Ok(o.clone()),
        None => checkpoint::origin_for(dir, session),
    }
}

fn seal_now(
    l: &mut store::Log,
    s: &mut seal::Signer,
    sa: &SealArgs,
    origin: &str,
    note_key: Option<&SignerKey>,
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
    for n in &sealed.notes {
        cli::note("sign-log", n);
    }
    Ok(sealed.checkpoint)
}

fn sha256_arg(s: &str) -> anyhow::Result<String> {
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(fail(
            Code::Usage,
            format!("{s:?} is not a SHA-256 (64 hex digits)"),
        ))
    }
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
            // Load the keys before reading: a bad key fails before the build runs.
            let mut sealer = if seal_on_eof {
                let note_key = sa.note_key.as_deref().map(note_signer).transpose()?;
                Some((
                    signer(&sa)?,
                    origin(&sa.origin, &log, Some((&name, source.as_deref())))?,
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
                record_size: 16 * 1024,
            };
            let mut l = store::Log::open(&log)?;
            let r = receive::receive(&mut l, std::io::stdin().lock(), &opts)?;
            for n in &r.notes {
                cli::note("sign-log", n);
            }
            let (size, root) = match sealer.as_mut() {
                Some((s, o, k)) => {
                    let cp = seal_now(&mut l, s, &sa, o, k.as_ref())?;
                    (cp.size, base64_root(&cp.root))
                }
                None => (r.size, r.root),
            };
            outln!("{name} {size} {root}");
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
                outln!("{}", directive::hash_line(verb, f)?);
            }
            Ok(Code::Ok)
        }
        Cmd::Run { name, cmd } => {
            let name = name.or_else(|| cmd.first().cloned()).unwrap_or_default();
            let mut step = directive::Step::new(&name, &cmd);
            let mut out = cli::Stdout;
            let say = |out: &mut cli::Stdout, line: String| {
                writeln!(out, "{line}")
                    .and_then(|()| out.flush())
                    .map_err(|e| fail(Code::Io, format!("writing to stdout: {e}")))
            };
            say(&mut out, step.begin_line())?;
            let (code, why) = directive::run_command(&cmd)?;
            if let Some(w) = why {
                cli::note("sign-log", w);
            }
            say(&mut out, step.end_line(code))?;
            std::process::exit(code);
        }
        Cmd::Checkpoint { log, origin: o } => {
            // Read-only: complete records only, no lock, no recovery.
            let tree = store::tree(&log)?;
            let cp = checkpoint::Checkpoint {
                origin: origin(&o, &log, None)?,
                size: tree.size(),
                root: tree.root(),
            };
            out!("{}", cp.text());
            Ok(Code::Ok)
        }
        Cmd::Seal { log, seal: sa } => {
            let mut s = signer(&sa)?;
            let note_key = sa.note_key.as_deref().map(note_signer).transpose()?;
            let mut l = store::Log::open_existing(&log)?;
            let o = origin(&sa.origin, &log, None)?;
            let cp = seal_now(&mut l, &mut s, &sa, &o, note_key.as_ref())?;
            outln!("sealed {} {}", cp.size, base64_root(&cp.root));
            Ok(Code::Ok)
        }
        Cmd::Verify {
            log,
            keys,
            origin: o,
            require_sealed,
            pinned,
            expect_size,
            notes,
            json,
        } => {
            let loaded = load_keys(&keys)?;
            let verifier = loaded.verifier();
            let pinned = pinned
                .as_deref()
                .map(|p| proof::read_checkpoint(p, Some(&verifier)))
                .transpose()?;
            let nk = NoteKeys::load(&notes)?;
            let verified = verify::verify(
                &log,
                &verifier,
                &verify::Options {
                    origin: o.as_deref(),
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
                        cli::print_json(&cli::json_failure(serde_json::json!({"path": log}), &e));
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
                cli::print_json(&v);
                print_warnings(&s);
            } else {
                print_summary(&s);
            }
            Ok(Code::Ok)
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
                } => {
                    let mut want = sha256s
                        .iter()
                        .map(|s| sha256_arg(s))
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    for f in &files {
                        let line = directive::hash_line(Verb::Product, f)?;
                        let (_, d) = directive::parse(&line)?;
                        want.extend(d.sha256);
                    }
                    serde_json::to_value(proof::prove_products(&log, &want, from_size)?)?
                }
                ProveCmd::Checkpoint { log, from_size } => {
                    serde_json::to_value(proof::prove_products(&log, &[], from_size)?)?
                }
            };
            cli::print_json(&value);
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
                (true, _) => Some(load_keys(&keys)?),
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
                cli::note("sign-log", "checkpoint signatures not checked (--unsigned)");
            }
            outln!("proof verified");
            Ok(Code::Ok)
        }
        Cmd::Gate {
            proof: p,
            keys,
            state,
            last_size,
            origin: o,
            source,
            notes,
            json,
            artifacts,
        } => {
            if last_size {
                let st = state.as_deref().unwrap_or(Path::new(""));
                outln!("{}", gate::last_size(st)?);
                return Ok(Code::Ok);
            }
            let nk = NoteKeys::load(&notes)?;
            let evidence = p.unwrap_or_else(|| PathBuf::from("-"));
            let out = gate::gate(
                &evidence,
                || load_keys(&keys),
                &artifacts,
                &gate::Options {
                    state: state.as_deref(),
                    origin: o.as_deref(),
                    notes: nk.policy(),
                    source: source.as_deref(),
                },
            )?;
            for n in &out.notes {
                cli::note("sign-log", n);
            }
            if json {
                cli::print_json(&serde_json::to_value(&out)?);
            } else {
                use build_verify::log::record::terminal_safe;
                for a in &out.artifacts {
                    // Product names and origins come from the log: shown terminal-safe.
                    outln!(
                        "gate passed {} sha256={} product \"{}\" record {} in checkpoint {} of {}",
                        a.path.display(),
                        a.sha256,
                        terminal_safe(a.product.as_bytes()),
                        a.seq,
                        out.size,
                        terminal_safe(out.origin.as_bytes())
                    );
                }
                for s in &out.signers {
                    outln!("checkpoint signer {s}");
                }
            }
            Ok(Code::Ok)
        }
        Cmd::Agree {
            logs,
            keys,
            products,
            min,
            json,
        } => {
            let loaded = load_keys(&keys)?;
            let a = agree::agree(&logs, &loaded.verifier(), &products, min)?;
            if json {
                cli::print_json(&serde_json::to_value(&a)?);
            } else {
                out!("{}", agree_table(&a));
            }
            if a.ok {
                Ok(Code::Ok)
            } else {
                let bad: Vec<&str> = a
                    .products
                    .iter()
                    .filter(|r| !r.ok)
                    .map(|r| r.name.as_str())
                    .collect();
                eprintln!(
                    "sign-log: fewer than {} builders agree on: {}",
                    a.min,
                    bad.join(", ")
                );
                Ok(Code::Failed)
            }
        }
        Cmd::Keygen {
            name,
            witness,
            secret,
        } => {
            let kind = if witness {
                note::COSIGNATURE
            } else {
                note::ED25519
            };
            let k = SignerKey::generate(&name, kind)
                .map_err(|e| e.context(format!("--name {name:?}")))?;
            let mut f = build_verify::fsutil::create_new_private(&secret)
                .map_err(|e| fail(Code::Usage, format!("{e:#}")))?;
            let text = k.encode();
            f.write_all(text.as_bytes())
                .and_then(|()| f.write_all(b"\n"))
                .and_then(|()| f.sync_all())
                .map_err(|e| fail(Code::Io, format!("writing {}: {e}", secret.display())))?;
            outln!("{}", k.verifier());
            Ok(Code::Ok)
        }
        Cmd::Cosign {
            key,
            proof: p,
            keys,
            state,
            origin: o,
        } => {
            let k = note_signer(&key)?;
            let ev = proof::read_evidence(&p)?;
            let loaded = load_keys(&keys)?;
            let (line, accepted) = witness::cosign(
                &ev,
                &loaded.verifier(),
                &k,
                &gate::Options {
                    state: state.as_deref(),
                    origin: o.as_deref(),
                    notes: note::Policy::default(),
                    source: None,
                },
            )?;
            for n in &accepted.notes {
                cli::note("sign-log", n);
            }
            accepted.commit()?;
            out!("{}", line.encode());
            Ok(Code::Ok)
        }
        Cmd::AddCosignature {
            log,
            size,
            witnesses,
            lines,
        } => {
            let keys = witnesses
                .iter()
                .map(|w| vkey(w))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut parsed = Vec::new();
            for f in &lines {
                let text =
                    input::read_arg(f, "cosignature lines", checkpoint::MAX_FILE, Code::Usage)?;
                let text = String::from_utf8(text)
                    .map_err(|_| fail(Code::Usage, format!("{}: not UTF-8", f.display())))?;
                for l in text.lines().filter(|l| !l.trim().is_empty()) {
                    parsed.push(
                        SignatureLine::parse(l)
                            .map_err(|e| fail(Code::Usage, format!("{}: {e}", f.display())))?,
                    );
                }
            }
            let added = witness::add_cosignatures(&log, size, &parsed, &keys)?;
            outln!(
                "checkpoint {}: added {} cosignature(s){}",
                added.size,
                added.added.len(),
                if added.already.is_empty() {
                    String::new()
                } else {
                    format!(", {} already there", added.already.len())
                }
            );
            Ok(Code::Ok)
        }
        Cmd::Publish {
            log,
            out,
            note_key,
            json,
        } => tlog_tiles::publish(&log, &out, note_key.as_deref(), json),
        Cmd::Monitor {
            url,
            notes,
            origin,
            state,
            entries,
            parallel,
            allow_http,
            ca_file,
            proxy,
            json,
        } => {
            let nk = NoteKeys::load(&notes)?;
            let transport =
                build_verify::fetch::Transport::new(build_verify::fetch::TransportOptions {
                    allow_http,
                    ca_file,
                    proxy,
                    ..Default::default()
                })?;
            let opts = build_verify::log::monitor::Options {
                notes: nk.policy(),
                origin: origin.as_deref(),
                state: state.as_deref(),
                entries,
                parallel,
            };
            tlog_tiles::monitor(transport, &url, &opts, json)
        }
        Cmd::Cat { log, session } => {
            export::cat(&log, session, &mut std::io::BufWriter::new(cli::Stdout))?;
            Ok(Code::Ok)
        }
        Cmd::Export {
            log,
            format: _,
            session,
            keys,
        } => {
            let loaded = load_keys(&keys)?;
            let s = verify::verify(&log, &loaded.verifier(), &verify::Options::default())?;
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
        cli::note("sign-log", format_args!("warning: {w}"));
    }
}

fn print_summary(s: &verify::Summary) {
    out!("{}", s.text());
    print_warnings(s);
}

/// Products x builders, digests shortened to 16 hex digits.
fn agree_table(a: &agree::Agreement) -> String {
    use build_verify::log::record::terminal_safe;
    use std::fmt::Write as _;
    let mut o = String::new();
    for (i, b) in a.builders.iter().enumerate() {
        let logs: Vec<String> = b.logs.iter().map(|l| l.display().to_string()).collect();
        let _ = writeln!(
            o,
            "builder {}: {} (signed by {})",
            i + 1,
            terminal_safe(logs.join(", ").as_bytes()),
            b.signers.join(", ")
        );
    }
    let width = a
        .products
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(7);
    let _ = write!(o, "{:width$}", "product");
    for i in 0..a.builders.len() {
        let _ = write!(o, "  {:16}", format!("builder {}", i + 1));
    }
    let _ = writeln!(o, "  verdict");
    for r in &a.products {
        let _ = write!(o, "{:width$}", terminal_safe(r.name.as_bytes()));
        for d in &r.digests {
            let cell = match d.as_slice() {
                [] => "-".to_string(),
                [one] => one.chars().take(16).collect(),
                _ => "(disagrees)".to_string(),
            };
            let _ = write!(o, "  {cell:16}");
        }
        let _ = writeln!(
            o,
            "  {} ({} of {} builders, {} required)",
            if r.ok { "agreed" } else { "NOT AGREED" },
            r.agreeing,
            a.builders.len(),
            a.min
        );
    }
    o
}

/// `publish` and `monitor`: c2sp.org/tlog-tiles.
mod tlog_tiles {
    use super::{cli, vkey};
    use crate::outln;
    use build_verify::exit::Code;
    use build_verify::fetch::tlog::HttpSource;
    use build_verify::fetch::Transport;
    use build_verify::log::record::terminal_safe;
    use build_verify::log::{monitor as mon, publish as publ};
    use std::path::Path;

    pub fn publish(log: &Path, out: &Path, key: Option<&str>, json: bool) -> anyhow::Result<Code> {
        let key = key.map(vkey).transpose()?;
        let p = match publ::publish(log, out, key.as_ref()) {
            Ok(p) => p,
            Err(e) => return Err(json_failure(json, serde_json::json!({"path": log}), e)),
        };
        if json {
            cli::print_json(&ok_json(serde_json::to_value(&p)?));
        } else if p.size == p.previous {
            outln!(
                "published {} {}: up to date{}",
                terminal_safe(p.origin.as_bytes()),
                p.size,
                if p.checkpoint {
                    " (checkpoint replaced: new signatures)"
                } else {
                    ""
                }
            );
        } else {
            outln!(
                "published {} {}: {} new records, {} files",
                terminal_safe(p.origin.as_bytes()),
                p.size,
                p.size - p.previous,
                p.files
            );
        }
        Ok(Code::Ok)
    }

    /// A success object as every tool prints it: `status` and `exit`.
    fn ok_json(mut v: serde_json::Value) -> serde_json::Value {
        if let Some(o) = v.as_object_mut() {
            o.insert("status".into(), "ok".into());
            o.insert("exit".into(), 0.into());
        }
        v
    }

    /// With --json, the failure as an object too (the reason also goes
    /// to stderr).
    fn json_failure(json: bool, fields: serde_json::Value, e: anyhow::Error) -> anyhow::Error {
        if json {
            cli::print_json(&cli::json_failure(fields, &e));
        }
        e
    }

    pub fn monitor(
        transport: Transport,
        url: &str,
        opts: &mon::Options,
        json: bool,
    ) -> anyhow::Result<Code> {
        let src = HttpSource::new(transport, url);
        let o = match mon::monitor(&src, opts) {
            Ok(o) => o,
            Err(e) => return Err(json_failure(json, serde_json::json!({"url": url}), e)),
        };
        for n in &o.notes {
            cli::note("sign-log", n);
        }
        if json {
            cli::print_json(&ok_json(serde_json::to_value(&o)?));
            return Ok(Code::Ok);
        }
        outln!(
            "checkpoint {}: {} size {} root {}",
            o.checkpoint,
            terminal_safe(o.origin.as_bytes()),
            o.size,
            o.root
        );
        for v in &o.note_signatures {
            match v.timestamp {
                Some(t) => outln!("cosigned by {} ({}) at {t}", v.name, v.key_id),
                None => outln!("signed by {} ({})", v.name, v.key_id),
            }
        }
        match o.previous {
            Some(p) => outln!("consistent with the accepted tree of {p}"),
            None => outln!("tree verified"),
        }
        if let Some(n) = o.entries {
            outln!("entries: {n} fetched, the tree re-derived");
        }
        outln!("fetched {} resources", o.fetched.len());
        Ok(Code::Ok)
    }
}
