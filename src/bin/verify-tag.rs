//! verify-tag: authenticate the signed git tag (or commit) a component is
//! built from, without GnuPG. A drop-in for Qubes Builder's verify-git-tag.

use build_verify::cli;
use build_verify::exit::{fail, Code, ResultExt};
use build_verify::openpgp::{parse_fingerprint, Fingerprint, KeyArgs, Keyring};
use build_verify::tag::{self, Check, Config};
use clap::Parser;
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
`verify-tag DIR1 DIR2 ...` verifies several repositories at HEAD in parallel (a second argument that is \
an existing directory is a repository, else it is REV). On success each good tag prints \
`---> Good tag <tag object id>` and its signer's fingerprint.\n\n\
Trust: --trust-root FPR trusts the root and every key it certified on a non-revoked user ID (one level, \
as GnuPG computes validity from an ultimately trusted key); --maintainer FPR (or --trusted-key) trusts a \
key directly; with neither, every key in the keyrings is trusted. The old script's environment: \
ALLOWED_COMPONENTS_<FPR>=\"comp1 comp2\" trusts KEYS_DIR/<FPR>.asc (default $BUILDER_DIR/keys) for those \
components only; CHECK sets --check; a non-empty NO_CHECK is refused.\n\n\
Examples:\n  \
verify-tag --keyring qubes-developers-keys.asc \\\n      \
--trust-root 427F11FD0FAA4B080123F01CDDFA1A3E36879494 qubes-src/core-admin\n  \
verify-tag --keyring maint.asc --state verified.json --tag-pattern 'v*' linux-kernel HEAD\n  \
verify-tag --keyring keys.asc --json qubes-src/*",
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
    #[arg(long, env = "CHECK", default_value = "signed-tag", value_parser = clap::value_parser!(Check))]
    check: Check,

    /// Only tags whose name matches GLOB count (e.g. 'v*').
    #[arg(long, value_name = "GLOB")]
    tag_pattern: Option<String>,

    /// Remember the last verified commit per component here; refuse rollbacks.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,

    /// Accept a revision that does not descend from the recorded one (and record it).
    #[arg(long, requires = "state")]
    allow_rollback: bool,

    /// The component name (default: the base name of DIR, `.` is "builder").
    #[arg(long, value_name = "NAME")]
    component: Option<String>,

    /// One JSON object per repository (its tags, signers, outcome), then a summary.
    #[arg(long)]
    json: bool,
}

build_verify::early_init!();

fn main() -> std::process::ExitCode {
    let args: Cli = cli::parse();
    cli::run("verify-tag", || run(&args))
}

fn fingerprints(v: &[String]) -> anyhow::Result<Vec<Fingerprint>> {
    v.iter().map(|s| parse_fingerprint(s)).collect()
}

fn run(args: &Cli) -> anyhow::Result<Code> {
    tag::refuse_no_check()?;
    let targets = tag::targets(&args.args, args.component.as_deref())?;
    let allowed = tag::allowed_components(std::env::vars())?;
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
        let keyring = if k.keyrings.is_empty() && k.keys_dirs.is_empty() && !allowed.is_empty() {
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
        config.load_allowed(allowed, &components, tag::env_keys_dir().as_deref())?;
        Ok(config)
    };

    let outcomes = tag::verify_all(
        load,
        tag_pattern.as_ref(),
        targets,
        args.state.as_deref(),
        args.allow_rollback,
    )?;
    let multi = outcomes.len() > 1;
    let mut code = Code::Ok;
    let mut out = std::io::stdout().lock();
    let mut lines = Vec::new();
    for o in &outcomes {
        code = code.worst(o.code());
        if args.json {
            // The one-line reason on stderr, as without --json.
            if let Err(e) = &o.result {
                eprintln!("verify-tag: {}: {e:#}", o.target.dir.display());
            }
            lines.push(o.json());
        } else {
            let prefix = if multi {
                format!("{}: ", o.target.dir.display())
            } else {
                String::new()
            };
            o.print(&prefix, &mut out)
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
