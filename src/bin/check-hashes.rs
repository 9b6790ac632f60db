//! check-hashes: verify files against hash lists, strictly.
//! A thin front end over `build_verify::check` and `build_verify::lists::hashlist`.

use build_verify::check::{self, Generate, Options, Reporter, Style, Targets};
mod common;
use build_verify::attest::AttestArgs;
use build_verify::digest::Algo;
use build_verify::exit::{fail, Code};
use build_verify::lists::hashlist::ParseOptions;
use build_verify::openpgp::KeyArgs;
use clap::Parser;
use common as cli;
use std::io::BufWriter;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "check-hashes",
    version,
    about = "Verify files against hash lists, strictly",
    long_about = "Verify files against hash lists in every common format, auto-detected per line: \
GNU (sha256sum) `HEX  NAME` / `HEX *NAME` / `HEX NAME` (one space, as sha256sum -c reads it; not mixed with the others in one list) with backslash-escaped names, BSD/--tag/Fedora `sources` \
`ALG (NAME) = HEX`, Buildroot `.hash` `ALG  HEX  NAME` with # comments, SRI `sha256-BASE64 [NAME]`, \
Debian lists with sizes (Release/InRelease `SHA256:` sections, Packages `Filename`/`SHA256`/`Size`, \
Sources `Directory` + `Checksums-Sha256`, .dsc/.changes `Checksums-Sha256`), \
and a bare hex digest in FILE.sha256 / FILE.sha512 / FILE.b2 pinning FILE (next to the list, or in \
DIR with -C). CRLF lists are fine. Algorithms: SHA-256, SHA-384, SHA-512, BLAKE2b-512; MD5 and SHA-1 \
fail as weak unless --allow-weak.\n\n\
Stricter than `sha256sum -c`: a malformed line or unknown algorithm (exit 2), a missing listed file \
(1, as is one whose name cannot exist: too long, through a regular file, a symlink loop), an \
unreadable file (4), a list or run that verifies nothing (3), absolute or `..` names (2) \
all fail; --require FILE without an entry is 3. With --keyring, every list must be signed and its \
signature is verified before any entry is used: cleartext-signed (InRelease, .dsc, sha256sums.asc) \
or a detached LIST.gpg / LIST.asc / LIST.sig beside it (exit 3 without one). A Release's Date in \
the future or Valid-Until passed fails (1), signed or not, as in apt and the other tools. A file listed \
with several algorithms passes only if all match. Files are hashed on all cores; output stays in \
list order.\n\n\
Examples:\n  check-hashes SHA256SUMS\n  check-hashes foo-1.0.tar.gz.sha512\n  \
check-hashes --sha256 HEX foo-1.0.tar.gz\n  check-hashes -C dl --quiet SHA512SUMS B2SUMS\n  \
check-hashes --require foo-1.0.tar.gz SHA256SUMS\n  \
check-hashes --generate --algo sha512 *.tar.gz > SHA512SUMS\n\n\
With --attestations and rebuilders (--rebuilder, --rebuilders), a file that matches its list must \
also be attested by at least --min-rebuilders distinct trusted rebuilders (in-toto links or DSSE \
Statements naming its SHA-256 as a product); otherwise it FAILED.",
    after_help = build_verify::exit::HELP
)]
struct Cli {
    /// Hash lists to check (`-` for standard input); with --generate, --sha256 or --sha512, the files.
    #[arg(value_name = "LIST")]
    paths: Vec<PathBuf>,

    /// Check FILE against this pinned SHA-256 digest (with --sha512 too: both must match).
    #[arg(long, value_name = "HEX", conflicts_with = "generate")]
    sha256: Option<String>,

    /// Check FILE against this pinned SHA-512 digest.
    #[arg(long, value_name = "HEX", conflicts_with = "generate")]
    sha512: Option<String>,

    /// Resolve file names relative to DIR (lists are still read from the current directory).
    #[arg(short = 'C', long = "directory", value_name = "DIR")]
    dir: Option<PathBuf>,

    /// Skip listed files that do not exist (at least one file must still be verified).
    #[arg(long)]
    ignore_missing: bool,

    /// Do not print OK lines.
    #[arg(short, long)]
    quiet: bool,

    /// Accepted for sha256sum compatibility (`sha256sum -c LIST`): checking
    /// lists is what check-hashes does.
    #[arg(short = 'c', long = "check", conflicts_with = "generate")]
    check: bool,

    /// Accepted for sha256sum compatibility: every list is read strictly
    /// already (a malformed line is exit 2).
    #[arg(long, conflicts_with = "generate")]
    strict: bool,

    /// Accepted for sha256sum compatibility: malformed lines are always
    /// reported, and fail.
    #[arg(short = 'w', long, conflicts_with = "generate")]
    warn: bool,

    /// Print nothing on stdout; the exit code tells.
    #[arg(long, conflicts_with_all = ["quiet", "json"])]
    status: bool,

    /// One JSON object per file, then a summary object, instead of text (also with --generate).
    #[arg(long, conflicts_with = "quiet")]
    json: bool,

    /// Lines end with NUL, not newline (input lists; --generate output, names unescaped).
    #[arg(short = 'z', long = "zero")]
    zero: bool,

    /// Fail with exit 3 unless FILE has an entry in the lists. Repeatable.
    #[arg(long, value_name = "FILE")]
    require: Vec<String>,

    /// Accept MD5 and SHA-1 entries.
    #[arg(long)]
    allow_weak: bool,

    #[command(flatten)]
    keys: KeyArgs,

    #[command(flatten)]
    attest: AttestArgs,

    /// A detached signature of the one FILE given, checked in place as
    /// `gpgv SIG FILE` does (needs --keyring): a FILE that is a hash list
    /// (or with -c) is then checked entry by entry; any other file is only
    /// verified, and its signers printed. Nothing is deleted or changed.
    #[arg(long, value_name = "SIG", conflicts_with_all = ["generate", "sha256", "sha512"])]
    signature: Option<PathBuf>,

    /// Accept absolute file names and names containing `..` in lists.
    #[arg(long)]
    allow_outside: bool,

    /// Accept a Release or InRelease whose Valid-Until has passed (with a
    /// note), as verify-package does; a Date in the future still fails.
    #[arg(long)]
    ignore_valid_until: bool,

    /// Write a list for the files given instead of checking (GNU format, as sha256sum).
    #[arg(long)]
    generate: bool,

    /// With --generate: BSD format `ALG (NAME) = HEX` (as sha256sum --tag).
    #[arg(long, requires = "generate")]
    tag: bool,

    /// Algorithm for --generate (default sha256); when checking, the algorithm of 128-digit lines
    /// without an algorithm name (default sha512; B2SUMS and *.b2 lists mean blake2b).
    #[arg(long, value_name = "ALGO", value_parser = ["sha256", "sha384", "sha512", "blake2b"])]
    algo: Option<String>,
}

build_verify::early_init!();

/// `--signature SIG FILE` of a file that is not a list: verified in place,
/// its signers printed as fetch-verified prints them.
fn signed_file(
    args: &Cli,
    file: &std::path::Path,
    sig: &std::path::Path,
    verifier: &build_verify::openpgp::Verifier,
) -> anyhow::Result<Code> {
    let result = check::verify_file_signature(file, sig, verifier);
    if args.json {
        let v = match &result {
            Ok(v) => serde_json::json!({"path": file, "signature": sig, "status": "ok",
                "exit": 0, "signers": v.signers.iter().map(|f| f.to_hex()).collect::<Vec<_>>()}),
            Err(e) => serde_json::json!({"path": file, "signature": sig, "status": "failed",
                "exit": build_verify::exit::code_of(e).as_u8(), "reason": format!("{e:#}")}),
        };
        cli::print_json(&v);
    }
    let v = result?;
    for n in &v.notes {
        cli::note(format_args!("{}: {n}", file.display()));
    }
    if !(args.json || args.status) {
        for s in &v.signers {
            outln!("{}", s.to_hex());
        }
    }
    Ok(Code::Ok)
}

/// What reading a list said (its signers, an unchecked signature): notes,
/// and nothing at all with `--status`.
fn list_notes(args: &Cli, list: &std::path::Path, notes: &[String]) {
    if !args.status {
        for n in notes {
            cli::note(format_args!("{}: {n}", list.display()));
        }
    }
}

fn main() -> std::process::ExitCode {
    let args: Cli = cli::parse();
    cli::set_quiet(args.quiet || args.json);
    cli::run_operands("check-hashes", args.json, &args.paths, || run(&args))
}

fn run(args: &Cli) -> anyhow::Result<Code> {
    let algo = args.algo.as_deref().and_then(Algo::from_name);
    let stdout = BufWriter::new(cli::Stdout);
    let stderr = std::io::stderr().lock();
    if args.generate {
        if args.paths.is_empty() {
            return Err(fail(Code::Usage, "--generate needs FILES"));
        }
        let g = Generate {
            algo: algo.unwrap_or(Algo::Sha256),
            tag: args.tag,
            zero: args.zero,
            dir: args.dir.clone(),
            json: args.json,
        };
        let (mut out, mut err) = (stdout, stderr);
        return check::generate(&args.paths, &g, &mut out, &mut err);
    }
    let opts = Options {
        dir: args.dir.clone(),
        ignore_missing: args.ignore_missing,
        allow_weak: args.allow_weak,
        allow_outside: args.allow_outside,
        ignore_valid_until: args.ignore_valid_until,
        parse: ParseOptions {
            zero_terminated: args.zero,
            untagged_512: algo.filter(|a| *a == Algo::Blake2b512),
        },
        attest: None,
    };
    let mut targets = Targets::default();
    let pins = check::pins(args.sha256.as_deref(), args.sha512.as_deref())?;
    if !pins.is_empty() {
        let [file] = args.paths.as_slice() else {
            return Err(fail(
                Code::Usage,
                "--sha256/--sha512 HEX take exactly one FILE",
            ));
        };
        targets.pin(file, pins, &opts)?;
    } else if args.paths.is_empty() {
        return Err(fail(
            Code::Usage,
            "no LIST given (use - for standard input)",
        ));
    } else if let Some(sig) = &args.signature {
        let [file] = args.paths.as_slice() else {
            return Err(fail(Code::Usage, "--signature SIG takes exactly one FILE"));
        };
        if !args.keys.given() {
            return Err(fail(
                Code::Usage,
                "--signature needs the keys to check it with (--keyring FILE or --keys-dir DIR)",
            ));
        }
        let keys = args.keys.load()?;
        let verifier = keys.verifier();
        if !args.check && !check::is_hash_list_file(file, &opts)? {
            return signed_file(args, file, sig, &verifier);
        }
        let notes = targets.add_list_signed_by(file, Some(sig), &opts, Some(&verifier))?;
        list_notes(args, file, &notes);
    } else {
        let keys = if args.keys.given() {
            Some(args.keys.load()?)
        } else {
            None
        };
        let verifier = keys.as_ref().map(|k| k.verifier());
        for list in &args.paths {
            let notes = targets.add_list_verified(list, &opts, verifier.as_ref())?;
            list_notes(args, list, &notes);
        }
    }
    for r in &args.require {
        targets.require(r)?;
    }
    let style = match (args.json, args.status, args.quiet) {
        (true, _, _) => Style::Json,
        (_, true, _) => Style::Status,
        (_, _, true) => Style::Quiet,
        _ => Style::Text,
    };
    let opts = Options {
        attest: cli::load_attestations(&args.attest, None)?.map(std::sync::Arc::new),
        ..opts
    };
    let mut reporter = Reporter::new(style, stdout, stderr);
    let code = check::check_all(&targets, &opts, &mut Noting(&mut reporter, !args.status))?;
    reporter.finish(code)?;
    Ok(code)
}

/// The warnings of the attestations a file was admitted by (a rebuilder's
/// key expired since it signed), told as notes beside the verdicts (not
/// with `--status`).
struct Noting<'a, S: check::Sink>(&'a mut S, bool);

impl<S: check::Sink> check::Sink for Noting<'_, S> {
    fn report(&mut self, o: &check::Outcome) -> anyhow::Result<()> {
        self.0.report(o)?;
        let notes = match (&o.attested, self.1) {
            (Some(d), true) => d.notes.as_slice(),
            _ => &[],
        };
        if !notes.is_empty() {
            // After its verdict on a shared terminal.
            self.0.idle()?;
        }
        for n in notes {
            cli::note(format_args!("{}: {n}", o.target.path.display()));
        }
        Ok(())
    }

    fn idle(&mut self) -> anyhow::Result<()> {
        self.0.idle()
    }
}
