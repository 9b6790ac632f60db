//! fetch-verified: download a third-party source and verify it before it can
//! ever be used.

use anyhow::Context;
use build_verify::check;
#[path = "../common/mod.rs"]
mod common;
mod progress;
use build_verify::attest::AttestArgs;
use build_verify::codec::Compression;
use build_verify::exit::{fail, Code};
use build_verify::fetch::{self, Checks, RpmCheck, Target};
use build_verify::net::{Transport, TransportOptions};
use build_verify::openpgp::{KeyArgs, LoadedKeys};
use build_verify::package::rpm::RpmOptions;
use build_verify::units::parse_size;
use clap::Parser;
use common as cli;
use serde_json::json;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

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
deleted and fetched again; a SIG is judged first, so a garbage or unreachable SIG never costs a \
present file. An RPM given without SIG is verified by its own header signature and payload digest \
while it streams (what `rpmkeys --checksig` checks). Verified signers' primary fingerprints are \
printed on stdout, one per line. With --attestations and rebuilders (--rebuilder, --rebuilders), \
the download must also be attested by at least --min-rebuilders distinct trusted rebuilders (in-toto \
links or DSSE Statements naming its SHA-256 as a product) before it gets its name.\n\n\
Examples:\n  \
fetch-verified --keyring upstream.asc \\\n      \
https://example.org/foo-1.0.tar.gz https://example.org/foo-1.0.tar.gz.asc\n  \
fetch-verified --keyring kernel.asc --decompress \\\n      \
https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.1.tar.xz \\\n      \
https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.1.tar.sign\n  \
fetch-verified --sha256 HEX -o dl/bar.tar.gz https://example.org/bar.tar.gz\n  \
fetch-verified --keyring RPM-GPG-KEY-fedora-40-primary \\\n      \
https://rpm.example/fedora/40/foo-1.0-1.fc40.src.rpm\n  \
fetch-verified --keyring debian-archive-bookworm-automatic.asc \\\n      \
https://deb.example/dists/bookworm/main/binary-amd64/Packages.xz \\\n      \
https://deb.example/dists/bookworm/InRelease\n  \
fetch-verified --hash-file Packages.xz \\\n      \
https://deb.example/pool/main/h/hello/hello_2.10-3_amd64.deb",
    after_help = build_verify::exit::HELP,
    // A flag given again later wins (a Makefile's flags, then the user's
    // FETCH_VERIFIED_FLAGS), instead of "cannot be used multiple times".
    args_override_self = true
)]
struct Cli {
    /// What to download: https://, http:// (with --allow-http) or file://. A `#/NAME` fragment names the output.
    url: String,

    /// Detached signature (.sig, .asc, .sign), or a cleartext-signed list whose
    /// entry for the file pins it: a hash list (sha256sums.asc), a Debian InRelease
    /// (its entry for the path the URL names, with its size; Valid-Until checked) or
    /// .dsc (its source files): a URL or a local path. A SIG that is not there
    /// (404, no such file) is exit 3. Without SIG, a .rpm is verified by its own
    /// signature with --keyring.
    sig: Option<String>,

    /// Output path (default: the URL's file name in the current directory;
    /// with --decompress, that name without its compression suffix). Its
    /// directory must exist (exit 2) unless --create-dirs.
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    output: Option<PathBuf>,

    /// Create the missing directories of the output path (as curl --create-dirs).
    #[arg(long)]
    create_dirs: bool,

    /// Pinned SHA-256 of the file (of its decompressed content with --uncompress).
    #[arg(long, value_name = "HEX")]
    sha256: Option<String>,

    /// Pinned SHA-512 of the file (of its decompressed content with --uncompress).
    #[arg(long, value_name = "HEX")]
    sha512: Option<String>,

    /// A file pinning the hash: bare hex, any list check-hashes reads (the entry for the output's
    /// name), or a Debian Packages/Sources list (the entry for the path the URL names, with its
    /// size), .xz/.gz/.bz2 compressed or not. Its signature is not checked: a file verified
    /// before (a Packages.xz fetched with its InRelease as SIG).
    #[arg(long, value_name = "FILE")]
    hash_file: Option<PathBuf>,

    /// Verify the download as an RPM by its own header signature and payload digest with
    /// --keyring (the default for a .rpm name without SIG): unsigned is exit 3.
    #[arg(long)]
    rpm: bool,

    /// With --rpm: also check header+payload (v3) signatures (tags 1002/1005), and accept a
    /// package that has only those.
    #[arg(long)]
    v3_signatures: bool,

    #[command(flatten)]
    keys: KeyArgs,

    #[command(flatten)]
    attest: AttestArgs,

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

    /// Keep the SIG that verified the file at PATH (written atomically once the file verified;
    /// nothing is written when SIG is that local file), so that `--offline` can re-verify the
    /// file later without the network. The Make fragment keeps it beside the file under the SIG
    /// URL's name (linux-6.1.tar.sign), which Qubes components' .gitignore already covers.
    #[arg(long, value_name = "PATH")]
    keep_sig: Option<PathBuf>,

    /// Accept a Release or InRelease (as SIG or --hash-file) whose Valid-Until has passed, with
    /// a note, as verify-package and check-hashes do (apt's Check-Valid-Until=no: a snapshot
    /// archive's); a Date in the future still fails.
    #[arg(long)]
    ignore_valid_until: bool,

    /// Download nothing: re-verify the file under the output name against SIG (a local path,
    /// such as the one --keep-sig kept) or the pins. Not there is exit 1; a file that fails is
    /// deleted (exit 1), as a download would replace it; mirrors are not used.
    #[arg(long, conflicts_with = "unverified")]
    offline: bool,

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

    /// Largest download accepted, in bytes (K, M, G, T: multiples of 1024).
    #[arg(long, value_name = "SIZE", default_value = "8G", value_parser = parse_size)]
    max_size: u64,

    /// With --uncompress: the most bytes the content may decompress to (a
    /// small compressed bomb must not be hashed for hours). Larger: exit 1.
    #[arg(long, value_name = "SIZE", default_value = "64G", value_parser = parse_size)]
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

    /// Nothing on stderr on success: no progress bar, no notes. On failure the
    /// notes of the run (mirrors skipped, retries) come before the error.
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
    // With --quiet the notes wait: said only if the run fails.
    cli::set_notes(if args.quiet {
        cli::Notes::Hold
    } else {
        cli::Notes::Say
    });
    // With --json a failed run still prints an object naming the download.
    let fields = args.json.then(|| {
        let path = match &args.output {
            Some(p) => Some(p.display().to_string()),
            None => fetch::default_output(&args.url, args.decompress).ok(),
        };
        json!({"url": args.url, "path": path})
    });
    cli::run_json("fetch-verified", fields, || {
        fetch_one(&args, &|n| cli::note(n))
    })
}

/// Progress bars: on a terminal only, and never under `make -j`.
fn show_progress(args: &Cli) -> bool {
    !args.quiet && !args.json && std::io::stderr().is_terminal() && !progress::parallel_make()
}

/// Is this a download to verify as an RPM by its own signature?
fn rpm_mode(args: &Cli, name: &str) -> bool {
    let rpm = |n: &str| n.to_ascii_lowercase().ends_with(".rpm");
    args.rpm
        || (args.sig.is_none()
            && args.keys.given()
            && (rpm(name) || fetch::default_name(&args.url).is_ok_and(|n| rpm(&n))))
}

fn fetch_one(args: &Cli, note: &dyn Fn(&str)) -> anyhow::Result<Code> {
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
        return unverified(args, &transport, &dest, compression, note);
    }

    let mut hashes = check::pins(args.sha256.as_deref(), args.sha512.as_deref())?;
    let mut size = None;
    if let Some(f) = &args.hash_file {
        let target =
            Target::new(&args.url, &name, uncompress).ignoring_valid_until(args.ignore_valid_until);
        let pinned = fetch::pins::from_hash_file(f, &target)?;
        for n in &pinned.notes {
            note(&format!("{}: {n}", f.display()));
        }
        hashes.extend(pinned.hashes);
        size = pinned.size;
    }
    let rpm = rpm_mode(args, &name);
    if rpm && args.sig.is_some() {
        return Err(fail(
            Code::Usage,
            "--rpm verifies the package by its own signature: give no SIG",
        ));
    }
    if rpm && uncompress {
        return Err(fail(
            Code::Usage,
            "--rpm and --uncompress/--decompress: an RPM is verified as it is",
        ));
    }
    if args.sig.is_none() && hashes.is_empty() && !rpm {
        return Err(fail(
            Code::Missing,
            "nothing to verify with: give a signature (SIG), a pinned hash (--sha256, --sha512, --hash-file), or --keyring for a .rpm",
        ));
    }

    let keys = match args.sig.is_some() || rpm {
        true => Some(args.keys.load()?),
        false => None,
    };
    let verifier = keys.as_ref().map(LoadedKeys::verifier);
    // Offline, nothing is fetched: an attestation URL is refused too.
    let attestations = cli::load_attestations(&args.attest, (!args.offline).then_some(&transport))?;
    let mut mirrors = args.mirror.clone();
    if !args.offline {
        mirrors.extend(fetch::env_mirrors());
    }
    let show_progress = show_progress(args);
    let make_bar = |what: &str, len: Option<u64>| progress::bar(&name, what, len);
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
            size,
            rpm: match (rpm, verifier.as_ref()) {
                (true, Some(v)) => Some(RpmCheck {
                    verifier: v,
                    options: RpmOptions {
                        v3_signatures: args.v3_signatures,
                        ..RpmOptions::default()
                    },
                }),
                _ => None,
            },
            attest: attestations.as_ref().map(|a| fetch::AttestCheck {
                attestations: a,
                name: &name,
            }),
        },
        untrusted_suffix: &args.untrusted_suffix,
        sig_limit: build_verify::openpgp::MAX_SIGNATURE,
        create_dirs: args.create_dirs,
        keep_sig: args.keep_sig.as_deref(),
        ignore_valid_until: args.ignore_valid_until,
        progress: show_progress.then_some(&make_bar as &fetch::ProgressFactory),
    };
    let fetch::Outcome {
        verified: v,
        source,
        reused,
    } = match args.offline {
        true => fetch::verify_present(&transport, &request, note)
            .with_context(|| format!("{} not verified", dest.display()))?,
        false => fetch::fetch_verified(&transport, &request, note)
            .with_context(|| format!("{} not fetched", dest.display()))?,
    };

    for n in &v.notes {
        note(n);
    }
    if args.json {
        let obj = json!({
            "url": args.url,
            "source": source,
            "path": dest.display().to_string(),
            "size": v.size,
            "sha256": v.sha256,
            "signers": v.signers.iter().map(|f| f.to_hex()).collect::<Vec<_>>(),
            "package": v.package,
            "attested": v.attested,
            "reused": reused,
            "status": "ok",
        });
        cli::print_json(&obj);
    } else {
        for s in &v.signers {
            outln!("{}", s.to_hex());
        }
        let how = if reused {
            "present, re-verified"
        } else {
            "fetched and verified"
        };
        match &v.package {
            Some(p) => note(&format!(
                "{}: {how} ({p}: digests signatures OK)",
                dest.display()
            )),
            None => note(&format!("{}: {how}", dest.display())),
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
    note: &dyn Fn(&str),
) -> anyhow::Result<Code> {
    let k = &args.keys;
    if !(k.keyrings.is_empty() && k.keys_dirs.is_empty() && k.trusted_keys.is_empty()) {
        return Err(fail(
            Code::Usage,
            "--unverified checks nothing: --keyring, --keys-dir and --trusted-key do not apply",
        ));
    }
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let make_bar = |what: &str, len: Option<u64>| progress::bar(&name, what, len);
    let request = fetch::unverified::Request {
        url: &args.url,
        dest,
        decompress: compression,
        max_uncompressed: args.max_uncompressed_size,
        untrusted_suffix: &args.untrusted_suffix,
        progress: show_progress(args).then_some(&make_bar as &fetch::ProgressFactory),
    };
    let stored = fetch::unverified::fetch_unverified(transport, &request, note)
        .with_context(|| format!("{} not fetched", dest.display()))?;
    if args.json {
        cli::print_json(&json!({
            "url": args.url,
            "source": stored.source,
            "path": dest.display().to_string(),
            "size": stored.size,
            "verified": false,
            "status": "ok",
        }));
    } else {
        note(&format!(
            "{}: fetched, NOT verified (--unverified)",
            dest.display()
        ));
    }
    Ok(Code::Ok)
}
