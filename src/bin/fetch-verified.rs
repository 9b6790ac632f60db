//! fetch-verified: download a third-party source and verify it before it can
//! ever be used.

use anyhow::Context;
use build_verify::check;
mod common;
use build_verify::exit::{fail, Code};
use build_verify::fetch::{self, Checks, Compression, Transport, TransportOptions};
use build_verify::openpgp::{KeyArgs, LoadedKeys};
use clap::Parser;
use common as cli;
use serde_json::json;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

/// Largest signature or hash list accepted.
const MAX_SMALL: u64 = 1 << 20;

#[derive(Parser, Debug)]
#[command(
    name = "fetch-verified",
    version,
    about = "Download a file and verify it before it gets its final name",
    long_about = "Download URL into an untrusted name next to the destination (NAME.UNTRUSTED, \
Qubes' convention: created O_EXCL|O_NOFOLLOW, mode 0600, and held under an exclusive lock while it is \
written), verify it while it streams (a detached OpenPGP signature SIG, or a cleartext-signed hash \
list SIG such as sha256sums.asc whose entry for the file pins it, and/or a pinned hash), fsync it, \
and only then rename it to its final name. On any failure the untrusted file is deleted: no \
unverified byte is ever under the final name. A leftover of a killed run is removed, never \
reused; a run finding another one writing the same file waits for it, then re-verifies what it \
left. A file already present is re-verified, never trusted because it exists; if it fails it is \
deleted and fetched again. Verified signers' primary fingerprints are printed on stdout, one per \
line.\n\n\
Examples:\n  \
fetch-verified --keyring upstream.asc \\\n      \
https://example.org/foo-1.0.tar.gz https://example.org/foo-1.0.tar.gz.asc\n  \
fetch-verified --keyring kernel.asc --decompress \\\n      \
https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.1.tar.xz \\\n      \
https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.1.tar.sign\n  \
fetch-verified --sha256 HEX -o dl/bar.tar.gz https://example.org/bar.tar.gz",
    after_help = build_verify::exit::HELP,
    // A flag given again later wins (a Makefile's flags, then the user's
    // FETCH_VERIFIED_FLAGS), instead of "cannot be used multiple times".
    args_override_self = true
)]
struct Cli {
    /// What to download: https://, http:// (with --allow-http) or file://. A `#/NAME` fragment names the output.
    url: String,

    /// Detached signature (.sig, .asc, .sign), or a cleartext-signed hash list
    /// (sha256sums.asc) whose entry for the file pins it: a URL or a local path.
    /// A SIG that is not there (404, no such file) is exit 3.
    sig: Option<String>,

    /// Output path (default: the URL's file name in the current directory;
    /// with --decompress, that name without its compression suffix).
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    output: Option<PathBuf>,

    /// Pinned SHA-256 of the file (of its decompressed content with --uncompress).
    #[arg(long, value_name = "HEX")]
    sha256: Option<String>,

    /// Pinned SHA-512 of the file (of its decompressed content with --uncompress).
    #[arg(long, value_name = "HEX")]
    sha512: Option<String>,

    /// A file pinning the hash: bare hex, or any list check-hashes reads (the entry for the output's name).
    #[arg(long, value_name = "FILE")]
    hash_file: Option<PathBuf>,

    #[command(flatten)]
    keys: KeyArgs,

    /// The signature/hash covers the decompressed content of a .gz/.xz/.bz2 (kernel.org
    /// .tar.sign), decoded in-process; the compressed file is stored as received. Its own bytes
    /// (gzip header fields such as the name and time, the compression chosen, padding) are NOT
    /// covered by a signature over the decompressed content: only what it decompresses to is
    /// verified. Use --decompress to store exactly what was verified.
    #[arg(long)]
    uncompress: bool,

    /// Like --uncompress, but store the decompressed, verified content under the output name
    /// (linux-6.1.tar.xz with linux-6.1.tar.sign is stored as linux-6.1.tar), verified in the
    /// same pass; the compressed bytes are not kept. A present output is re-verified as it is,
    /// without decompression. The compression is that of the URL's file name.
    #[arg(long)]
    decompress: bool,

    /// Try BASE/NAME before the URL, and BASE/SIGNAME before a SIG URL (NAME: the output file
    /// name, the URL's with --decompress; SIGNAME: the SIG URL's; BASE: https://, http:// with
    /// --allow-http, or file://). Repeatable; DISTFILES_MIRROR (space-separated) adds more. A
    /// mirror serving bad content is reported and the next source tried; a file from a place
    /// without a SIG is verified with another place's copy.
    #[arg(long, value_name = "BASE")]
    mirror: Vec<String>,

    /// Mirrors replace the upstream URLs instead of being tried first (the original Qubes
    /// components' DISTFILES_MIRROR): neither URL nor a SIG URL is ever requested. A local SIG
    /// path is still read. Without a mirror: exit 2.
    #[arg(long)]
    mirror_only: bool,

    /// Suffix of the untrusted name the download is written to before it is verified.
    #[arg(long, value_name = "SUFFIX", default_value = build_verify::fsutil::untrusted::DEFAULT_SUFFIX)]
    untrusted_suffix: String,

    /// Allow plain http:// URLs and http-to-http redirects (the signature or hash still decides).
    /// A redirect from https to http is refused even so.
    #[arg(long)]
    allow_http: bool,

    /// Proxy for every request (http://, socks5://, socks5h:// to let the proxy resolve names,
    /// as Tor needs). Default: https_proxy/HTTPS_PROXY for https, http_proxy for http, then
    /// all_proxy/ALL_PROXY, except hosts in no_proxy/NO_PROXY (curl's rules). Unlike curl, an
    /// explicit --proxy ignores no_proxy/NO_PROXY: no variable can route a download around Tor.
    #[arg(long, value_name = "URL")]
    proxy: Option<String>,

    /// Extra CA certificates (PEM) trusted besides the system store.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,

    /// Largest download accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 8 << 30)]
    max_size: u64,

    /// With --uncompress: the most bytes the content may decompress to (a
    /// small compressed bomb must not be hashed for hours). Larger: exit 1.
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 30)]
    max_uncompressed_size: u64,

    /// Seconds to wait for a connection.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    connect_timeout: u64,

    /// Seconds a single read may stall.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    read_timeout: u64,

    /// Seconds the whole transfer may take.
    #[arg(long, value_name = "SECS", default_value_t = 6 * 3600)]
    deadline: u64,

    /// Further attempts after transient network failures.
    #[arg(long, value_name = "N", default_value_t = 2)]
    retries: u32,

    /// No progress bar and no notes on stderr (errors are still printed).
    #[arg(short, long)]
    quiet: bool,

    /// Print one JSON object (url, path, size, sha256, signers) instead of fingerprints.
    #[arg(long)]
    json: bool,

    /// Download WITHOUT verifying, for a setup that verifies the file
    /// elsewhere: Qubes Builder v2 downloads in a disposable executor that
    /// holds no keys and verifies outside it (contrib/qubes-builderv2/). The
    /// -o name must start with `untrusted_`, so unverified bytes never get a
    /// name that looks verified. No SIG, pins, keys or mirrors; with
    /// --decompress, the decompressed content is stored.
    #[arg(long, requires = "output", conflicts_with_all = ["sig", "sha256", "sha512", "hash_file", "uncompress", "mirror", "mirror_only"])]
    unverified: bool,
}

build_verify::early_init!();

fn main() -> std::process::ExitCode {
    let args: Cli = cli::parse();
    cli::run("fetch-verified", || run(&args))
}

fn run(args: &Cli) -> anyhow::Result<Code> {
    let uncompress = args.uncompress || args.decompress;
    let dest = match &args.output {
        Some(p) => p.clone(),
        None => PathBuf::from(fetch::default_output(&args.url, args.decompress)?),
    };
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| fail(Code::Usage, format!("{}: not a file path", dest.display())))?;
    let transport = Transport::new(TransportOptions {
        allow_http: args.allow_http,
        proxy: args.proxy.clone(),
        ca_file: args.ca_file.clone(),
        connect_timeout: Duration::from_secs(args.connect_timeout),
        read_timeout: Duration::from_secs(args.read_timeout),
        deadline: Duration::from_secs(args.deadline),
        retries: args.retries,
        max_size: args.max_size,
    })?;
    // The compression is the download's: the output name with --uncompress
    // (the compressed file is stored), the URL's with --decompress.
    let compressed_name = match args.decompress {
        true => fetch::default_name(&args.url)?,
        false => name.clone(),
    };
    let compression = match uncompress {
        true => Some(Compression::from_name(&compressed_name).ok_or_else(|| {
            fail(
                Code::Usage,
                format!("--uncompress/--decompress: {compressed_name} is not .gz, .xz or .bz2"),
            )
        })?),
        false => None,
    };
    if args.unverified {
        return unverified(args, &transport, &dest, compression);
    }

    let mut hashes = check::pins(args.sha256.as_deref(), args.sha512.as_deref())?;
    if let Some(f) = &args.hash_file {
        hashes.extend(check::pinned_in_list(f, name.as_bytes())?);
    }
    if args.sig.is_none() && hashes.is_empty() {
        return Err(fail(
            Code::Missing,
            "nothing to verify with: give a signature (SIG) or a pinned hash (--sha256, --sha512, --hash-file)",
        ));
    }

    let keys = match &args.sig {
        Some(_) => Some(args.keys.load()?),
        None => None,
    };
    let verifier = keys.as_ref().map(LoadedKeys::verifier);
    let mut mirrors = args.mirror.clone();
    mirrors.extend(fetch::env_mirrors());
    let request = fetch::Request {
        url: &args.url,
        sig: args.sig.as_deref(),
        verifier: verifier.as_ref(),
        dest: &dest,
        mirrors: &mirrors,
        mirror_only: args.mirror_only,
        checks: Checks {
            signature: None,
            hashes,
            uncompress: compression,
            want_sha256: args.json,
            max_uncompressed: args.max_uncompressed_size,
            store_decoded: args.decompress,
        },
        untrusted_suffix: &args.untrusted_suffix,
        sig_limit: MAX_SMALL,
        progress: !args.quiet && !args.json && std::io::stderr().is_terminal(),
    };
    // Skipped mirrors, retries, stale files and waits are said even with
    // --quiet, as errors are: they explain a slow or surprising run.
    let note = |n: &str| eprintln!("fetch-verified: {n}");
    let fetch::Outcome {
        verified: v,
        source,
        reused,
    } = fetch::fetch_verified(&transport, &request, &note)
        .with_context(|| format!("{} not fetched", dest.display()))?;

    if !args.quiet {
        for n in &v.notes {
            eprintln!("fetch-verified: {n}");
        }
    }
    if args.json {
        let obj = json!({
            "url": args.url,
            "source": source,
            "path": dest.display().to_string(),
            "size": v.size,
            "sha256": v.sha256,
            "signers": v.signers.iter().map(|f| f.to_hex()).collect::<Vec<_>>(),
            "reused": reused,
        });
        cli::print_json(&obj);
    } else {
        for s in &v.signers {
            outln!("{}", s.to_hex());
        }
        if !args.quiet {
            let how = if reused {
                "present, re-verified"
            } else {
                "fetched and verified"
            };
            eprintln!("fetch-verified: {}: {how}", dest.display());
        }
    }
    Ok(Code::Ok)
}

/// --unverified: store the download as `untrusted_NAME`, unchecked.
fn unverified(
    args: &Cli,
    transport: &Transport,
    dest: &std::path::Path,
    compression: Option<Compression>,
) -> anyhow::Result<Code> {
    let k = &args.keys;
    if !(k.keyrings.is_empty() && k.keys_dirs.is_empty() && k.trusted_keys.is_empty()) {
        return Err(fail(
            Code::Usage,
            "--unverified checks nothing: --keyring, --keys-dir and --trusted-key do not apply",
        ));
    }
    let note = |n: &str| eprintln!("fetch-verified: {n}");
    let request = fetch::unverified::Request {
        url: &args.url,
        dest,
        decompress: compression,
        max_uncompressed: args.max_uncompressed_size,
        untrusted_suffix: &args.untrusted_suffix,
        progress: !args.quiet && !args.json && std::io::stderr().is_terminal(),
    };
    let stored = fetch::unverified::fetch_unverified(transport, &request, &note)
        .with_context(|| format!("{} not fetched", dest.display()))?;
    if args.json {
        cli::print_json(&json!({
            "url": args.url,
            "source": stored.source,
            "path": dest.display().to_string(),
            "size": stored.size,
            "verified": false,
        }));
    } else if !args.quiet {
        eprintln!(
            "fetch-verified: {}: fetched, NOT verified (--unverified)",
            dest.display()
        );
    }
    Ok(Code::Ok)
}
