//! verify-package: verify stock RPMs and Debian packages against selected
//! keys. A thin front end over `build_verify::package`.

use build_verify::check::par_in_order;
mod common;
use build_verify::attest::AttestArgs;
use build_verify::exit::{code_of, fail, Code};
use build_verify::openpgp::KeyArgs;
use build_verify::package::admit::{self, Admitted, Rebuilt};
use build_verify::package::{self, debian, reposet, rpm};
use clap::Parser;
use common as cli;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(
    name = "verify-package",
    version,
    about = "Verify stock RPMs and Debian packages against selected keys",
    long_about = "Verify stock packages against the keys given, without rpm, gpg or apt.\n\n\
RPM (v4 and v6): the lead, signature header and main header are parsed from the raw bytes; a \
header signature is required (tag 278 OpenPGP first, else 268 RSA / 267 DSA-EdDSA-ECDSA) and is \
verified over the main header's on-disk bytes; the header digests (273, 279) and the payload \
digest the signed header carries (5092 with its algorithm in 5093; v6 also 5121 SHA-512 and \
5123 SHA3-256; the uncompressed-payload digests 5097/5122/5124 only when no other is there) are \
checked while the payload streams. A good package prints `FILE: digests signatures OK`, the \
line Qubes scripts compare `rpmkeys --checksig` output against. Header+payload (v3) signatures \
(1002/1005) are only checked with --v3-signatures.\n\n\
Debian: --release InRelease (or Release with Release.gpg beside it, or --release-sig) is \
verified by its signatures (keys not in the keyrings are ignored, as archives sign with several) \
and its Valid-Until; each --index (Packages or Sources, plain or .xz/.gz/.bz2) must match its \
Release entry in size and hash (the compressed file by its own entry, or its uncompressed content \
by the uncompressed entry); then each FILE (.deb, .dsc, tarball) must match its stanza's size and \
SHA256/SHA512. A .dsc pins the files of its Checksums-Sha256; a .dsc without an index entry is \
verified by its own cleartext signature with the keyrings (the maintainer's key).\n\n\
Failures are one line on stderr naming the file, the tag or entry, and what failed. The exit \
code is the worst outcome, never a count.\n\n\
Examples:\n  verify-package --keyring RPM-GPG-KEY-fedora-40-primary *.rpm\n  \
verify-package --keyring debian-archive-keyring.gpg --release InRelease \\\n      \
--index main/binary-amd64/Packages.xz hello_2.10-3_amd64.deb\n  \
verify-package --keyring debian-archive-keyring.gpg --release InRelease \\\n      \
--index main/source/Sources.xz hello_2.10-3.dsc \\\n      \
hello_2.10.orig.tar.gz hello_2.10-3.debian.tar.xz\n  \
verify-package --keyring maintainer.asc foo_1.0-1.dsc foo_1.0.orig.tar.xz\n  \
verify-package --attestations rebuilders/ --rebuilders trusted-rebuilders \\\n      \
--min-rebuilders 2 --attestations-decide hello_2.10-3_amd64.deb\n  \
verify-package --keyring RPM-GPG-KEY-qubes --state repos.json \\\n      \
--repo qubes=https://yum.example/r4.2/dom0 \\\n      \
--repo fedora=mirror/fedora --metalink fedora=metalink.xml \\\n      \
--exact iso/Packages/\n\n\
Rebuilders (--attestations, --rebuilder, --rebuilders, --min-rebuilders): each file must also be \
attested by at least K distinct trusted rebuilders, whose in-toto links or DSSE Statements name \
its SHA-256 as a product; a rebuilder's keys vote once, and names sharing a key vote once.\n\n\
RPM repositories (--repo): each repodata/repomd.xml is verified by its repomd.xml.asc (or \
--repomd-sha256, or a --metalink), then its primary (size, checksum, and open-checksum after \
decompression: gzip, xz, bzip2, zstd), then each FILE (a .rpm, or a directory of them): listed \
in the primary of the repository it lies in (else of a repository listing its file name), at \
that location, with that size and checksum, AND signed by the keys given. --all: every listed \
package present and good; --exact: a file no repository lists fails; --state: rollback \
protection.",
    after_help = build_verify::exit::HELP
)]
struct Cli {
    /// Packages to verify: .rpm (recognized by content), .deb, .dsc, or files a .dsc or an index pins.
    /// With --repo: .rpm files or directories of them.
    #[arg(value_name = "FILE", required_unless_present = "repos")]
    files: Vec<PathBuf>,

    #[command(flatten)]
    repo: reposet::RepoArgs,

    #[command(flatten)]
    keys: KeyArgs,

    #[command(flatten)]
    attest: AttestArgs,

    /// With --attestations: a file that is neither an RPM nor a .dsc (a
    /// .deb) is admitted by the rebuilders' attestations alone, without a
    /// Debian chain (RPMs keep their signature check).
    #[arg(long, requires = "attestations")]
    attestations_decide: bool,

    /// Debian: the InRelease (cleartext-signed) or Release file of the archive.
    #[arg(long, value_name = "FILE")]
    release: Option<PathBuf>,

    /// Debian: detached signature of a Release file (default: RELEASE.gpg beside it).
    #[arg(long, value_name = "FILE", requires = "release")]
    release_sig: Option<PathBuf>,

    /// Debian: a Packages or Sources index (plain, .xz, .gz, .bz2) listed in the Release. Repeatable.
    #[arg(long, value_name = "FILE", requires = "release")]
    index: Vec<PathBuf>,

    /// Debian: accept a Release whose Valid-Until has passed (it is still reported).
    #[arg(long)]
    ignore_valid_until: bool,

    /// RPM: also verify header+payload (v3) signatures (tags 1002/1005), and
    /// accept a package signed only that way (rpm < 4.x era).
    #[arg(long)]
    v3_signatures: bool,

    /// RPM: largest main header data accepted, in bytes (rpm's own cap is 256 MiB).
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20)]
    max_header_size: u32,

    /// Debian: largest decompressed index or Release accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 30)]
    max_index_size: u64,

    /// Also print what each package was verified by: tags, digests, signer fingerprints.
    #[arg(short, long)]
    verbose: bool,

    /// No notes on stderr (failures are still printed).
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,

    /// One JSON object per file (with signer fingerprints), then a summary object.
    #[arg(long, conflicts_with = "verbose")]
    json: bool,
}

build_verify::early_init!();

fn main() -> std::process::ExitCode {
    let args: Cli = cli::parse();
    cli::set_quiet(args.quiet);
    cli::run_operands("verify-package", args.json, &args.files, || run(&args))
}

/// One operand's verdict, as printed: by its own chain or signature, by
/// rebuilders' attestations, or both.
struct Shown<'a> {
    path: std::borrow::Cow<'a, Path>,
    file: String,
    result: anyhow::Result<Admitted>,
}

fn run(args: &Cli) -> anyhow::Result<Code> {
    let attestations = cli::load_attestations(&args.attest, None)?;
    let rebuilt = attestations.as_ref().map(|a| Rebuilt {
        attestations: a,
        alone: args.attestations_decide,
    });
    // Attestations alone may decide every file: no keyring needed then.
    let keys = match args.attestations_decide && !args.keys.given() {
        true => args.keys.none(),
        false => args.keys.load()?,
    };
    let verifier = keys.verifier();
    let rpm_opts = rpm::RpmOptions {
        v3_signatures: args.v3_signatures,
        main_limits: build_verify::package::header::Limits {
            max_entries: build_verify::package::header::MAIN_LIMITS.max_entries,
            max_data: args.max_header_size,
        },
    };
    let deb_opts = debian::ChainOptions {
        release: args.release.clone(),
        release_sig: args.release_sig.clone(),
        indices: args.index.clone(),
        ignore_valid_until: args.ignore_valid_until,
        max_index_size: args.max_index_size,
    };
    let mut out = std::io::BufWriter::new(cli::Stdout);
    let io =
        |r: std::io::Result<()>| r.map_err(|e| anyhow::Error::new(e).context("writing the report"));

    // The Debian chain's signed part first: every file depends on it.
    let mut chain = debian::Chain::open(&deb_opts, &args.files, &verifier)?;
    if let Some(rel) = chain.release() {
        if args.json {
            io(writeln!(out, "{}", json!({"release": rel.to_json()})))?;
        } else if args.verbose {
            io(writeln!(out, "{}", rel.summary_line()))?;
        }
        for n in &rel.notes {
            cli::note(format_args!("{}: {n}", rel.path.display()));
        }
    }

    let mut code = Code::Ok;
    let (mut ok, mut failed) = (0usize, 0usize);
    let mut report = |s: Shown| -> anyhow::Result<()> {
        let c = match &s.result {
            Ok(_) => Code::Ok,
            Err(e) => code_of(e),
        };
        code = code.worst(c);
        if c == Code::Ok {
            ok += 1;
        } else {
            failed += 1;
        }
        if args.json {
            let v = match &s.result {
                Ok(a) => a.to_json(&s.file),
                // The same fields as a verified file's: no signer vouches
                // for a file that failed.
                Err(e) => json!({"path": s.file, "status": "failed", "exit": c.as_u8(),
                                 "kind": build_verify::package::kind_name(&s.path),
                                 "signers": [], "notes": [], "reason": format!("{e:#}")}),
            };
            return io(writeln!(out, "{v}"));
        }
        match &s.result {
            Ok(a) => {
                io(writeln!(out, "{}", a.ok_line(&s.file)))?;
                if args.verbose {
                    for line in a.details() {
                        io(writeln!(out, "    {line}"))?;
                    }
                }
                if a.notes().next().is_some() {
                    // In order with the verdicts on a shared terminal.
                    io(out.flush())?;
                }
                for n in a.notes() {
                    cli::note(format_args!("{}: {n}", s.file));
                }
            }
            Err(e) => {
                io(out.flush())?;
                cli::error(format_args!("{}: {e:#}", s.file));
            }
        }
        Ok(())
    };

    // .dsc files first: a verified .dsc pins the tarballs after it.
    let (dscs, rest) = if args.repo.given() {
        let mut sink = |ev: reposet::Event| match ev {
            reposet::Event::Repo { id, result } => report(Shown {
                path: Path::new(id).to_path_buf().into(),
                file: id.to_string(),
                result: result.map(|r| Admitted {
                    own: Some(package::Verified::Repository(r.summary())),
                    attested: None,
                }),
            }),
            reposet::Event::Package { file, result } => report(Shown {
                path: Path::new(&file).to_path_buf().into(),
                result: result.and_then(|v| admit::admit(Path::new(&file), Some(*v), rebuilt)),
                file,
            }),
        };
        reposet::check_set(&args.repo, &args.files, &verifier, rpm_opts, &mut sink)?;
        (Vec::new(), Vec::new())
    } else {
        chain.order(&args.files)
    };
    for f in &dscs {
        let result = chain
            .verify_dsc(f, &verifier)
            .and_then(|v| admit::admit(f, Some(v), rebuilt));
        report(Shown {
            path: f.into(),
            file: f.display().to_string(),
            result,
        })?;
    }
    par_in_order(
        &rest,
        |f| admit::verify_file(f, &chain, &verifier, &rpm_opts, rebuilt),
        |f, result| {
            report(Shown {
                path: f.into(),
                file: f.display().to_string(),
                result,
            })
        },
        || Ok(()),
    )?;
    if args.json {
        io(writeln!(
            out,
            "{}",
            json!({"summary": {"files": ok + failed, "ok": ok, "failed": failed, "exit": code.as_u8()}})
        ))?;
    }
    io(out.flush())?;
    if ok + failed == 0 {
        return Err(fail(Code::Missing, "no file was verified"));
    }
    Ok(code)
}
