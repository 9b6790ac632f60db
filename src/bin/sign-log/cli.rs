//! sign-log's command line: the clap definitions its `--help`, man pages
//! and completions come from.

use build_verify::attest::AttestArgs;
use build_verify::log::receive;
use build_verify::openpgp::KeyArgs;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

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
pub struct Cli {
    /// No notes or warnings on stderr; errors are still reported.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(clap::Args, Debug, Clone)]
pub struct SealArgs {
    /// Sign with this secret key file (sequoia).
    #[arg(long, value_name = "FILE", conflicts_with = "gpg_program")]
    pub key: Option<PathBuf>,
    /// The passphrase of --key, on the first line of FILE.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub passphrase_file: Option<PathBuf>,
    /// Sign through a gpg-compatible program (qubes-gpg-client-wrapper keeps the key in another VM).
    #[arg(long, value_name = "PROG", requires = "local_user")]
    pub gpg_program: Option<PathBuf>,
    /// The key the program signs with.
    #[arg(long, value_name = "FPR")]
    pub local_user: Option<String>,
    /// The checkpoint origin line (default: the log's earlier checkpoints',
    /// else build-verify.sign-log/[SRC/]NAME with the log's name (--name, or
    /// the name its first session was received under) and source. A seal
    /// with another origin than the log's is refused.
    #[arg(long, value_name = "ORIGIN")]
    pub origin: Option<String>,
    /// Also sign the checkpoint as a C2SP note: an Ed25519 secret key
    /// (`PRIVATE+KEY+ORIGIN+...`, from `sign-log keygen --name ORIGIN`).
    #[arg(long, value_name = "FILE")]
    pub note_key: Option<PathBuf>,
    /// Allow sealing with another key than the one that signed the log's
    /// last checkpoint (key rotation). Without it such a seal is refused.
    #[arg(long)]
    pub rotate_key: bool,
}

/// The note signatures a checkpoint must carry.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct NoteArgs {
    /// The log's Ed25519 note verifier key (NAME+HASH+KEY, or a file
    /// holding it): the last checkpoint must carry its valid signature line.
    #[arg(long = "note-key", value_name = "VKEY")]
    pub note_key: Option<String>,
    /// A witness's cosignature verifier key (NAME+HASH+KEY, or a file
    /// holding it). Repeatable. Every line a given key claims must verify.
    #[arg(long = "witness", value_name = "VKEY")]
    pub witnesses: Vec<String>,
    /// Cosignatures by distinct given witnesses required on the last
    /// checkpoint (default: all given). Witnesses are distinct by public
    /// key: one key given twice or under two names counts once.
    #[arg(long, value_name = "K")]
    pub min_witnesses: Option<usize>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
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
        /// The step's name (default: the command line, shell-quoted, at most 120 characters).
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
    // The commands that check evidence: their help is in evidence.rs.
    VerifyProof(crate::evidence::VerifyProofArgs),
    Gate(crate::evidence::GateArgs),
    /// Compare the products of independently sealed logs and rebuilders'
    /// attestations: exit 0 only if at least N builders (distinct signing
    /// keys) report one digest for each.
    #[command(
        after_help = build_verify::exit::HELP,
        long_about = "Compare the products of independently sealed logs (--log, verified whole with \
--keyring) and of rebuilders' in-toto attestations (--attestations with --rebuilder/--rebuilders): exit 0 \
only if at least N builders report one digest for each product. Logs sealed by one key are one \
builder; a rebuilder's keys are one builder, and a rebuilder whose OpenPGP key sealed a log is that \
log's builder. Attestations that are malformed or badly signed are reported and never counted.\n\n\
--attest KEY then writes what was agreed as an in-toto link (securesystemslib's signed-metadata \
envelope, the format rebuilders publish and repro-threshold reads) to --attest-to FILE, signed with \
an Ed25519 PKCS#8 key (openssl genpkey -algorithm ed25519), or with --gpg-program PROG as the \
OpenPGP key KEY (Split-GPG: qubes-gpg-client-wrapper), in securesystemslib's OpenPGP form.\n\n\
Examples:\n  \
sign-log agree --log logs/a --log logs/b --keyring builders.asc --min 2\n  \
sign-log agree --log logs/a --keyring a.asc \\\n      \
--attestations rebuilders/ --rebuilders trusted-rebuilders --min 2 \\\n      \
--attest agree-key.pem --attest-to core-admin.link"
    )]
    Agree {
        /// A sealed log directory. Repeatable (one per builder).
        #[arg(
            long = "log",
            value_name = "DIR",
            required_unless_present = "attestations"
        )]
        logs: Vec<PathBuf>,
        #[command(flatten)]
        keys: KeyArgs,
        #[command(flatten)]
        rebuilt: AttestArgs,
        /// Write the agreed products as a signed in-toto link (needs
        /// --attest-to): KEY is an Ed25519 PKCS#8 PEM secret key file, or
        /// with --gpg-program the OpenPGP key to sign with.
        #[arg(long, value_name = "KEY", requires = "attest_to")]
        attest: Option<String>,
        /// Where --attest writes the link (replaced atomically; only on exit 0).
        #[arg(long, value_name = "FILE", requires = "attest")]
        attest_to: Option<PathBuf>,
        /// Sign the link through a gpg-compatible program (Split-GPG's
        /// qubes-gpg-client-wrapper) with the key --attest names.
        #[arg(long, value_name = "PROG", requires = "attest")]
        gpg_program: Option<PathBuf>,
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
    // The tlog-tiles and tlog-witness commands: their help is in tlog.rs.
    Publish(crate::tlog::PublishArgs),
    Monitor(crate::tlog::MonitorArgs),
    Submit(crate::tlog::SubmitArgs),
    Witness(crate::tlog::WitnessArgs),
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
pub enum ProveCmd {
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
        /// Write a c2sp.org/tlog-proof per product, NAME.tlog-proof, into DIR
        /// instead of the JSON evidence (the checkpoint needs the log's
        /// note signature; add the witnesses' first: `submit`).
        #[arg(long, value_name = "DIR", conflicts_with = "from_size")]
        tlog_proof: Option<PathBuf>,
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
