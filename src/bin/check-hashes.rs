//! check-hashes: verify files against hash lists, strictly.

use build_verify::check::{self, Options, Outcome, Status, Target};
use build_verify::cli;
use build_verify::digest::{hash_file, Algo};
use build_verify::exit::{fail, Code, ResultExt};
use build_verify::hashlist::{self, escape, format_line, ParseOptions};
use clap::Parser;
use rayon::prelude::*;
use serde_json::json;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Longest hash list read (bounded input).
const MAX_LIST: u64 = 256 * 1024 * 1024;

#[derive(Parser, Debug)]
#[command(
    name = "check-hashes",
    version,
    about = "Verify files against hash lists, strictly",
    long_about = "Verify files against hash lists in every common format, auto-detected per line: \
GNU (sha256sum) `HEX  NAME` with backslash escaping, BSD/--tag/Fedora `sources` `ALG (NAME) = HEX`, \
Buildroot `.hash` `ALG  HEX  NAME` with # comments, SRI `sha256-BASE64`, and a bare hex digest in \
FILE.sha256/FILE.sha512 pinning FILE. Algorithms: SHA-256, SHA-384, SHA-512, BLAKE2b-512; MD5 and \
SHA-1 are rejected unless --allow-weak.\n\n\
Stricter than `sha256sum -c`: a malformed line, an unknown algorithm, a missing listed file, or a list \
that verifies nothing all fail. A file listed with several algorithms passes only if all match.\n\n\
Examples:\n  check-hashes SHA256SUMS\n  check-hashes foo-1.0.tar.gz.sha512\n  \
check-hashes --sha256 HEX foo-1.0.tar.gz\n  check-hashes --generate --algo sha512 *.tar.gz > SHA512SUMS",
    after_help = build_verify::exit::HELP
)]
struct Cli {
    /// Hash lists to check (`-` for standard input), or with --generate, --sha256 or --sha512 the files.
    #[arg(value_name = "LIST")]
    paths: Vec<PathBuf>,

    /// Check FILE against this pinned SHA-256 digest.
    #[arg(long, value_name = "HEX", conflicts_with_all = ["sha512", "generate"])]
    sha256: Option<String>,

    /// Check FILE against this pinned SHA-512 digest.
    #[arg(long, value_name = "HEX", conflicts_with = "generate")]
    sha512: Option<String>,

    /// Resolve file names relative to DIR.
    #[arg(short = 'C', long = "directory", value_name = "DIR")]
    dir: Option<PathBuf>,

    /// Skip listed files that do not exist (at least one must be verified).
    #[arg(long)]
    ignore_missing: bool,

    /// Do not print OK lines.
    #[arg(long)]
    quiet: bool,

    /// Print nothing; the exit code tells.
    #[arg(long)]
    status: bool,

    /// One JSON object per file and a summary, instead of text.
    #[arg(long)]
    json: bool,

    /// Lines end with NUL, not newline (input lists, and --generate output, unescaped).
    #[arg(short = 'z', long = "zero")]
    zero: bool,

    /// Fail (exit 3) unless FILE has an entry in the lists. Repeatable.
    #[arg(long, value_name = "FILE")]
    require: Vec<String>,

    /// Accept MD5 and SHA-1 entries.
    #[arg(long)]
    allow_weak: bool,

    /// Accept absolute file names and names containing `..`.
    #[arg(long)]
    allow_outside: bool,

    /// Write a list for FILES instead of checking (GNU format; `sha256sum -c` reads it).
    #[arg(long)]
    generate: bool,

    /// With --generate: BSD format `ALG (NAME) = HEX`.
    #[arg(long, requires = "generate")]
    tag: bool,

    /// Algorithm for --generate, and for untagged 128-digit lines when checking (sha512 or blake2b).
    #[arg(long, value_name = "ALGO", value_parser = ["sha256", "sha384", "sha512", "blake2b"])]
    algo: Option<String>,
}

fn main() -> std::process::ExitCode {
    let args: Cli = cli::parse();
    cli::run("check-hashes", || run(&args))
}

fn run(args: &Cli) -> anyhow::Result<Code> {
    let algo = args.algo.as_deref().and_then(Algo::from_name);
    if args.generate {
        return generate(args, algo.unwrap_or(Algo::Sha256));
    }
    let opts = Options {
        dir: args.dir.clone(),
        ignore_missing: args.ignore_missing,
        allow_weak: args.allow_weak,
        allow_outside: args.allow_outside,
    };
    let targets = match (&args.sha256, &args.sha512) {
        (Some(h), _) => pinned(Algo::Sha256, h, &args.paths, &opts)?,
        (_, Some(h)) => pinned(Algo::Sha512, h, &args.paths, &opts)?,
        _ => from_lists(args, algo, &opts)?,
    };
    for r in &args.require {
        if !targets.iter().any(|t| t.name == r.as_bytes()) {
            return Err(fail(Code::Missing, format!("no hash entry for {r}")));
        }
    }
    if targets.is_empty() {
        return Err(fail(
            Code::Missing,
            "the lists hold no entry: nothing to verify",
        ));
    }
    let mut out = std::io::stdout().lock();
    let mut failed = 0usize;
    let mut unread = 0usize;
    let mut ok = 0usize;
    let code = check::check_all(&targets, &opts, |o| {
        match o.status {
            Status::Ok => ok += 1,
            Status::Failed | Status::Weak => failed += 1,
            Status::Missing | Status::Unreadable => unread += 1,
            Status::Skipped => {}
        }
        report(args, &mut out, o);
    });
    if args.json {
        let summary = json!({"summary": {"files": targets.len(), "ok": ok, "failed": failed,
            "unreadable": unread, "exit": code.as_u8()}});
        writeln!(out, "{summary}").ok();
    } else if !args.status {
        if failed > 0 {
            eprintln!("check-hashes: WARNING: {failed} file(s) did NOT match");
        }
        if unread > 0 {
            eprintln!("check-hashes: WARNING: {unread} listed file(s) could not be read");
        }
    }
    if code == Code::Missing && !args.status {
        eprintln!("check-hashes: no file was verified");
    }
    Ok(code)
}

/// The targets of `--sha256 HEX FILE`.
fn pinned(
    algo: Algo,
    hexd: &str,
    files: &[PathBuf],
    opts: &Options,
) -> anyhow::Result<Vec<Target>> {
    let digest = build_verify::digest::parse_hex_option(algo, hexd)?;
    let [file] = files else {
        return Err(fail(
            Code::Usage,
            format!("--{algo} HEX takes exactly one FILE"),
        ));
    };
    let name = file.as_os_str().as_bytes().to_vec();
    let path = match &opts.dir {
        Some(d) => d.join(file),
        None => file.clone(),
    };
    Ok(vec![Target {
        name,
        path,
        expected: vec![(algo, digest)],
    }])
}

fn from_lists(args: &Cli, algo: Option<Algo>, opts: &Options) -> anyhow::Result<Vec<Target>> {
    if args.paths.is_empty() {
        return Err(fail(
            Code::Usage,
            "no LIST given (use - for standard input)",
        ));
    }
    let popts = ParseOptions {
        zero_terminated: args.zero,
        untagged_512: algo.filter(|a| *a == Algo::Blake2b512),
    };
    let mut all = Vec::new();
    for p in &args.paths {
        let (data, list) = read_list(p)?;
        // A list named for BLAKE2 (B2SUMS, *.b2) makes 128-digit lines BLAKE2b.
        let mut popts = popts;
        let lname = p.to_string_lossy().to_ascii_lowercase();
        if popts.untagged_512.is_none() && (lname.contains("b2") || lname.contains("blake2")) {
            popts.untagged_512 = Some(Algo::Blake2b512);
        }
        let entries = hashlist::parse_list(&data, popts)
            .with_code(Code::Usage, || format!("{}", p.display()))?;
        all.extend(
            check::targets(entries, list, opts)
                .with_code(Code::Usage, || format!("{}", p.display()))?,
        );
    }
    Ok(all)
}

fn read_list(p: &Path) -> anyhow::Result<(Vec<u8>, Option<&Path>)> {
    let mut data = Vec::new();
    let list = if p == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(MAX_LIST + 1)
            .read_to_end(&mut data)
            .code(Code::Io, "reading the list from standard input")?;
        None
    } else {
        let f = std::fs::File::open(p)
            .with_code(Code::Io, || format!("opening list {}", p.display()))?;
        f.take(MAX_LIST + 1)
            .read_to_end(&mut data)
            .with_code(Code::Io, || format!("reading list {}", p.display()))?;
        Some(p)
    };
    if data.len() as u64 > MAX_LIST {
        return Err(fail(
            Code::Usage,
            format!("{}: list larger than {MAX_LIST} bytes", p.display()),
        ));
    }
    Ok((data, list))
}

/// The name as coreutils shows it when checking: escaped (with a leading
/// backslash) only when it holds a line break, so output stays one line.
fn shown(name: &[u8]) -> Vec<u8> {
    if name.iter().any(|b| matches!(b, b'\n' | b'\r')) {
        let mut v = vec![b'\\'];
        v.extend(escape(name));
        v
    } else {
        name.to_vec()
    }
}

fn report(args: &Cli, out: &mut impl Write, o: &Outcome) {
    if args.json {
        let actual = o.actual.as_ref().map(|d| {
            d.values
                .iter()
                .map(|(a, v)| (a.name().to_string(), json!(hex::encode(v))))
                .collect::<serde_json::Map<_, _>>()
        });
        let expected: serde_json::Map<_, _> = o
            .target
            .expected
            .iter()
            .map(|(a, v)| (a.name().to_string(), json!(hex::encode(v))))
            .collect();
        let v = json!({"file": String::from_utf8_lossy(&o.target.name), "status": o.status,
            "expected": expected, "actual": actual, "reason": o.reason});
        writeln!(out, "{v}").ok();
        return;
    }
    if args.status {
        return;
    }
    let word: &[u8] = match o.status {
        Status::Ok if args.quiet => return,
        Status::Ok => b"OK",
        Status::Failed => b"FAILED",
        Status::Weak => b"FAILED weak algorithm",
        Status::Missing | Status::Unreadable => b"FAILED open or read",
        Status::Skipped => return,
    };
    let mut line = shown(&o.target.name);
    line.extend_from_slice(b": ");
    line.extend_from_slice(word);
    line.push(b'\n');
    out.write_all(&line).ok();
    if let Some(r) = &o.reason {
        out.flush().ok();
        eprintln!("check-hashes: {r}");
    }
}

fn generate(args: &Cli, algo: Algo) -> anyhow::Result<Code> {
    if args.paths.is_empty() {
        return Err(fail(Code::Usage, "--generate needs FILES"));
    }
    let mut out = std::io::stdout().lock();
    let mut code = Code::Ok;
    for chunk in args.paths.chunks(256) {
        let results: Vec<_> = chunk
            .par_iter()
            .map(|p| {
                let path = match &args.dir {
                    Some(d) => d.join(p),
                    None => p.clone(),
                };
                (p, hash_file(&path, &[algo]))
            })
            .collect();
        for (p, r) in results {
            match r {
                Ok(d) => {
                    let digest = d.get(algo).unwrap_or_default();
                    out.write_all(&format_line(
                        algo,
                        digest,
                        p.as_os_str().as_bytes(),
                        args.tag,
                        args.zero,
                    ))
                    .code(Code::Io, "writing the list")?;
                }
                Err(e) => {
                    eprintln!("check-hashes: {}: {e}", p.display());
                    code = code.worst(Code::Io);
                }
            }
        }
    }
    Ok(code)
}
