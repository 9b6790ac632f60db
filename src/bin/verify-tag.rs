//! verify-tag: authenticate the signed git tag (or commit) a component is
//! built from, without GnuPG. A drop-in for Qubes Builder's verify-git-tag.

mod common;
use build_verify::exit::{fail, Code, ResultExt};
use build_verify::openpgp::{parse_fingerprint, Fingerprint, KeyArgs, Keyring};
use build_verify::tag::{self, Check, Config, Outcome, QubesEnv, RunOptions, TagStatus};
use clap::Parser;
use common as cli;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "verify-tag",
    version,
    about = "Authenticate the signed git tag (or commit) at a component's revision, without GnuPG",
    long_about = "Check that REV (default HEAD) of the git repository DIR is pointed at by an annotated tag \
signed by a trusted key, reading git objects in-process and verifying with sequoia (no gpg, no agent, no \
GNUPGHOME). DIR must be the repository itself (work tree or git directory): a plain directory inside \
another repository is an error, never a reason to verify the enclosing one.\n\n\
Only annotated tags whose `object` is REV and whose `type` is commit count; lightweight tags are ignored; \
the tag object's `tag` header must equal the name it is published under (a signed v1.0 republished as v3.0 \
is forged); one OpenPGP signature per tag, found from the end of the object (SSH and X.509 signatures are \
unsupported). With --state, a new REV must descend from the last verified commit of the component \
(rollback protection).\n\n\
Operands: one operand is a repository at HEAD. With two, the second is REV unless it is itself a git \
repository (a directory holding .git, or a git directory); one that is both a repository and a revision \
of the first is refused as ambiguous (exit 2: name the revision as refs/heads/NAME or an object id). \
Three or more operands are repositories, verified at HEAD in parallel. A REV that merely names an \
existing directory is still a revision.\n\n\
On success each good tag prints `---> Good tag NAME` (the old script's line until 2020-12; it has \
printed the tag's object id there since), then its signer's fingerprint; notes go to stderr (-q \
silences them).\n\n\
Keys: a tag's key must be valid now (not expired, not revoked), as with gpg + git: signature dates are \
the signer's choice, so a leaked retired key could otherwise sign backdated tags. A key whose older \
self-signatures were stripped from the keyring (Qubes' keyring of 2021-12) is judged by its current \
ones, with a note. SHA-1 tag signatures (Qubes' tags of 2014-2016) are refused unless made before \
--allow-sha1-before DATE.\n\n\
Rollback protection: with --state, the last verified commit is kept per component and per branch \
(--branch, else the branch REV names: HEAD's, FETCH_HEAD's or the ref's own), so switching branches \
is no rollback while going back on one branch is. A tag is not a branch: a REV that is a tag (or \
FETCH_HEAD of a fetched tag), an object id or a detached HEAD must descend from the record of some \
branch of the component, and is recorded as (detached), never under the tag's name. To build an older \
release on purpose, name the branch it is built as (--branch release4.1: checked against that \
branch's record) or pass --allow-rollback.\n\n\
Trust: --trust-root FPR trusts the root and every key it certified on a non-revoked user ID (one level, \
as GnuPG computes validity from an ultimately trusted key); --maintainer FPR (or --trusted-key) trusts a \
key directly; with neither, every key in the keyrings is trusted. The old script's environment: \
ALLOWED_COMPONENTS_<FPR>=\"comp1 comp2\" trusts KEYS_DIR/<FPR>.asc (default $BUILDER_DIR/keys) for those \
components only; CHECK sets --check; a non-empty NO_CHECK is refused.\n\n\
Examples:\n  \
verify-tag --keyring qubes-developers-keys.asc \\\n      \
--trust-root 427F11FD0FAA4B080123F01CDDFA1A3E36879494 \\\n      \
qubes-src/core-admin\n  \
verify-tag --keyring maint.asc --state verified.json --tag-pattern 'v*' \\\n      \
linux-kernel HEAD\n  \
verify-tag --keyring keys.asc --json qubes-src/*\n  \
verify-tag --keyring qubes-developers-keys.asc \\\n      \
--allow-sha1-before 2017-01-01 \\\n      \
--trust-root 427F11FD0FAA4B080123F01CDDFA1A3E36879494 \\\n      \
qubes-src/core-admin v3.2.12",
    after_help = build_verify::exit::HELP
)]
struct Cli {
    /// The repository, optionally followed by REV (a full object id or any ref name); or several repositories.
    #[arg(value_name = "DIR [REV] | DIR...", required = true)]
    args: Vec<PathBuf>,

    #[command(flatten)]
    keys: KeyArgs,

    /// A trust root: trusted, as is every key it certified on a non-revoked user ID. Repeatable.
    #[arg(long, value_name = "FPR")]
    trust_root: Vec<String>,

    /// A key trusted directly. Repeatable.
    #[arg(long, value_name = "FPR")]
    maintainer: Vec<String>,

    /// What authenticates a revision: signed-tag, or signed-tag-or-commit
    /// (a commit signed by a trusted key is accepted when no signed tag is
    /// at it).
    #[arg(long, env = "CHECK", default_value = "signed-tag", value_parser = check_parser())]
    check: Check,

    /// Only tags whose name matches GLOB count (e.g. 'v*').
    #[arg(long, value_name = "GLOB")]
    tag_pattern: Option<String>,

    /// Check at most N tags at the revision (in ref order); the rest are
    /// counted in a note. Bounds the work a repository can ask for.
    #[arg(long, value_name = "N", default_value_t = tag::MAX_TAGS, value_parser = clap::value_parser!(u32).range(1..))]
    max_tags: u32,

    /// Remember the last verified commit per component here; refuse rollbacks.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,

    /// Accept a revision that does not descend from the recorded one (and record it).
    #[arg(long, requires = "state")]
    allow_rollback: bool,

    /// The component name (default: the base name of DIR, `.` is "builder").
    #[arg(long, value_name = "NAME")]
    component: Option<String>,

    /// The branch being built, for the rollback record (default: the
    /// branch REV names; a tag names none). Qubes' shim passes $BRANCH.
    #[arg(long, value_name = "NAME", requires = "state")]
    branch: Option<String>,

    /// No notes or warnings on stderr; errors are still reported.
    #[arg(short, long)]
    quiet: bool,

    /// One JSON object per repository (its tags, signers, outcome; a failed
    /// check's tags and verdicts too), then a summary.
    #[arg(long)]
    json: bool,
}

build_verify::early_init!();

fn main() -> std::process::ExitCode {
    let args: Cli = cli::parse();
    cli::set_quiet(args.quiet);
    cli::run_operands("verify-tag", args.json, &args.args, || run(&args))
}

/// `--check`'s values, known to completions; the old script's escape hatch
/// is refused with its advice.
fn check_parser() -> impl clap::builder::TypedValueParser<Value = Check> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new([
        PossibleValue::new("signed-tag"),
        PossibleValue::new("signed-tag-or-commit"),
        PossibleValue::new("insecure-no-check").hide(true),
    ])
    .try_map(|s| s.parse::<Check>())
}

fn fingerprints(v: &[String]) -> anyhow::Result<Vec<Fingerprint>> {
    v.iter().map(|s| parse_fingerprint(s)).collect()
}

/// Is `rev` a revision of the repository `dir`? (Only asked when two
/// operands could be read either way.)
fn is_rev(dir: &std::path::Path, rev: &str) -> bool {
    build_verify::git::Repo::open(dir).is_ok_and(|r| r.resolve_commit(rev).is_ok())
}

fn run(args: &Cli) -> anyhow::Result<Code> {
    let env = QubesEnv::from_vars(std::env::vars())?;
    let targets = tag::targets(&args.args, args.component.as_deref(), is_rev)?;
    let tag_pattern = match &args.tag_pattern {
        Some(p) => Some(
            glob::Pattern::new(p)
                .map_err(|e| fail(Code::Usage, format!("--tag-pattern {p:?}: {e}")))?,
        ),
        None => None,
    };
    let components: Vec<String> = targets.iter().map(|t| t.component.clone()).collect();
    // Runs on its own thread while the repositories are scanned.
    let load = || -> anyhow::Result<Config> {
        let k = &args.keys;
        // The environment may supply every key (ALLOWED_COMPONENTS_<FPR>).
        let keyring = if k.keyrings.is_empty() && k.keys_dirs.is_empty() && !env.allowed.is_empty()
        {
            Keyring::default()
        } else {
            Keyring::load(&k.keyrings, &k.keys_dirs)?
        };
        let mut maintainers = fingerprints(&args.maintainer)?;
        maintainers.extend(fingerprints(&k.trusted_keys)?);
        let mut config = Config::new(
            keyring,
            &fingerprints(&args.trust_root)?,
            &maintainers,
            k.policy(),
        )?;
        config.check = args.check;
        config.min_signers = k.min_signers();
        config.load_allowed(&env, &components)?;
        Ok(config)
    };
    let opts = RunOptions {
        tag_pattern: tag_pattern.as_ref(),
        max_tags: usize::try_from(args.max_tags).unwrap_or(usize::MAX),
        state: args.state.as_deref(),
        allow_rollback: args.allow_rollback,
        branch: args.branch.as_deref(),
    };
    let outcomes = tag::verify_all(load, targets, opts)?;
    let multi = outcomes.len() > 1;
    let mut code = Code::Ok;
    let mut out = cli::Stdout;
    let mut lines = Vec::new();
    for o in &outcomes {
        code = code.worst(o.code());
        let prefix = if multi {
            format!("{}: ", o.target.dir.display())
        } else {
            String::new()
        };
        // The one-line reason on stderr, with --json too.
        if let Err(e) = &o.result {
            cli::error(format_args!("{}: {e:#}", o.target.dir.display()));
        }
        print_notes(o, &prefix);
        if args.json {
            lines.push(json(o));
        } else {
            print_result(o, &prefix, &mut out)
                .and_then(|()| out.flush())
                .code(Code::Io, "writing to stdout")?;
        }
    }
    if args.json {
        let verified = outcomes.iter().filter(|o| o.result.is_ok()).count();
        lines.push(json!({"summary": {
            "repositories": outcomes.len(),
            "verified": verified,
            "exit": code.as_u8(),
        }}));
        for l in lines {
            writeln!(out, "{l}")
                .and_then(|()| out.flush())
                .code(Code::Io, "writing to stdout")?;
        }
    }
    Ok(code)
}

/// Notes, warnings and tags not counted, on stderr.
fn print_notes(o: &Outcome, prefix: &str) {
    if let Some(w) = &o.rollback_allowed {
        cli::note(format_args!(
            "{prefix}warning: {w}; accepted (--allow-rollback)"
        ));
    }
    let Ok(report) = &o.result else {
        return;
    };
    // Which commit was authenticated, when REV did not spell it out.
    if o.target.rev != report.commit {
        cli::note(format_args!(
            "{prefix}{} resolves to {}",
            o.target.rev, report.commit
        ));
    }
    for n in &report.notes {
        cli::note(format_args!("{prefix}{n}"));
    }
    for t in report.tags.iter().filter(|t| t.status != TagStatus::Good) {
        cli::note(format_args!(
            "{prefix}tag {} ({}) not counted: {}",
            t.name,
            t.id,
            t.reason.as_deref().unwrap_or("")
        ));
    }
}

/// The old script's lines on stdout, each signer's fingerprint after them.
fn print_result(o: &Outcome, prefix: &str, out: &mut dyn Write) -> std::io::Result<()> {
    let Ok(report) = &o.result else {
        return Ok(());
    };
    for t in report.good() {
        writeln!(out, "{prefix}---> Good tag {}", t.name)?;
        for s in &t.signers {
            writeln!(out, "{prefix}{s}")?;
        }
    }
    if !report.commit_signers.is_empty() {
        let c = &report.commit;
        writeln!(out, "{prefix}---> {c} does not have a signed tag")?;
        writeln!(
            out,
            "{prefix}---> However, it is signed by a trusted key, and $CHECK is set to signed-tag-or-commit"
        )?;
        writeln!(out, "{prefix}---> Accepting it anyway")?;
        for s in &report.commit_signers {
            writeln!(out, "{prefix}{s}")?;
        }
    }
    Ok(())
}

/// One JSON object for a repository.
fn json(o: &Outcome) -> serde_json::Value {
    let t = &o.target;
    let mut v = json!({
        "path": t.dir,
        "component": t.component,
        "rev": t.rev,
        "branch": o.branch,
        "exit": o.code().as_u8(),
    });
    match &o.result {
        Ok(r) => {
            v["status"] = json!("ok");
            report_json(&mut v, r);
        }
        Err(e) => {
            v["status"] = json!("failed");
            v["reason"] = json!(format!("{e:#}"));
            // What the failed check found, when it got as far as the tags.
            if let Some(r) = &o.partial {
                report_json(&mut v, r);
            }
        }
    }
    if let Some(w) = &o.rollback_allowed {
        v["rollback_allowed"] = json!(w);
    }
    v
}

/// A report's fields in a repository's JSON object.
fn report_json(v: &mut serde_json::Value, r: &tag::Report) {
    v["commit"] = json!(r.commit);
    v["tags"] = json!(r.tags);
    v["distinct_signers"] = json!(r.distinct_signers);
    v["commit_signers"] = json!(r.commit_signers);
    v["notes"] = json!(r.notes);
}
