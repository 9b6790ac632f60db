//! verify-tag: authenticate the signed git tag (or commit) a component is
//! built from, without GnuPG. A drop-in for Qubes Builder's verify-git-tag.

use build_verify::cli;
use build_verify::exit::{code_of, fail, Code};
use build_verify::git::Repo;
use build_verify::openpgp::{parse_fingerprint, BuildPolicy, Fingerprint, KeyArgs, Keyring, Trust};
use build_verify::tag::{self, Check, Context, Report, State};
use clap::Parser;
use rayon::prelude::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "verify-tag",
    version,
    about = "Authenticate the signed git tag (or commit) at a component's revision, without GnuPG",
    long_about = "Check that REV (default HEAD) of the git repository DIR is pointed at by an annotated tag \
signed by a trusted key, reading git objects in-process and verifying with sequoia (no gpg, no agent, no \
GNUPGHOME). Only annotated tags whose `object` is REV and whose `type` is commit count; the tag object's \
`tag` header must equal the name it is published under (a signed v1.0 republished as v3.0 is forged); one \
signature per tag. With --state, a new REV must descend from the last verified commit of the component \
(rollback protection). Several DIRs (with REV HEAD) are verified in parallel.\n\n\
Trust: --trust-root FPR trusts the root and every key it certified (one level, as GnuPG does from an \
ultimately trusted key); --maintainer FPR trusts a key directly; with neither, every key in the keyrings \
is trusted. Environment of the old script: ALLOWED_COMPONENTS_<FPR>=\"comp1 comp2\" trusts \
KEYS_DIR/<FPR>.asc (KEYS_DIR defaults to $BUILDER_DIR/keys) for those components only; CHECK sets --check; \
NO_CHECK is refused.\n\n\
Examples:\n  verify-tag --keyring qubes-developers-keys.asc --trust-root 427F11FD0FAA4B080123F01CDDFA1A3E36879494 qubes-src/core-admin\n  \
verify-tag --keyring maint.asc --state verified.json --tag-pattern 'v*' src/linux-kernel HEAD",
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

    /// What authenticates a revision.
    #[arg(long, value_enum, env = "CHECK", default_value = "signed-tag")]
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

    /// One JSON object per repository and a summary.
    #[arg(long)]
    json: bool,
}

fn main() -> std::process::ExitCode {
    let args: Cli = cli::parse();
    cli::run("verify-tag", || run(&args))
}

/// `ALLOWED_COMPONENTS_<FPR>` variables: (key, components).
fn allowed_components() -> anyhow::Result<Vec<(Fingerprint, Vec<String>)>> {
    let mut out = Vec::new();
    for (k, v) in std::env::vars() {
        if let Some(fpr) = k.strip_prefix("ALLOWED_COMPONENTS_") {
            let fpr = parse_fingerprint(fpr)?;
            out.push((fpr, v.split_whitespace().map(String::from).collect()));
        }
    }
    Ok(out)
}

fn run(args: &Cli) -> anyhow::Result<Code> {
    if std::env::var_os("NO_CHECK").is_some_and(|v| !v.is_empty()) {
        return Err(fail(
            Code::Usage,
            "Sorry, NO_CHECK is no longer supported; signature checking cannot be turned off",
        ));
    }
    // Which positionals are repositories, and at which revision.
    let (dirs, rev): (Vec<PathBuf>, String) = match args.args.as_slice() {
        [dir] => (vec![dir.clone()], "HEAD".into()),
        [dir, rev] if !rev.is_dir() => (vec![dir.clone()], rev.to_string_lossy().into_owned()),
        many => (many.to_vec(), "HEAD".into()),
    };
    if args.component.is_some() && dirs.len() > 1 {
        return Err(fail(Code::Usage, "--component names one repository"));
    }

    let allowed = allowed_components()?;
    let keys_dir = std::env::var_os("KEYS_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("BUILDER_DIR").map(|b| PathBuf::from(b).join("keys")));
    let mut files = args.keys.keyrings.clone();
    for (fpr, _) in &allowed {
        let dir = keys_dir.as_ref().ok_or_else(|| {
            fail(
                Code::Usage,
                "ALLOWED_COMPONENTS_* is set but neither KEYS_DIR nor BUILDER_DIR is",
            )
        })?;
        files.push(dir.join(format!("{}.asc", fpr.to_hex())));
    }
    let keyring = Keyring::load(&files, &args.keys.keys_dirs)?;
    let policy = BuildPolicy::new(!args.keys.reject_sha1_certifications);
    let fprs = |v: &[String]| {
        v.iter()
            .map(|s| parse_fingerprint(s))
            .collect::<anyhow::Result<Vec<_>>>()
    };
    let roots = fprs(&args.trust_root)?;
    let mut maintainers = fprs(&args.maintainer)?;
    maintainers.extend(fprs(&args.keys.trusted_keys)?);
    let base: BTreeSet<Fingerprint> = if roots.is_empty() && maintainers.is_empty() {
        // Every certificate given on the command line (not the per-component ones).
        Keyring::load(&args.keys.keyrings, &args.keys.keys_dirs)
            .map(|k| k.certs().map(|c| c.fingerprint()).collect())
            .unwrap_or_default()
    } else {
        match Trust::from_roots(&keyring, &roots, &maintainers, &policy)? {
            Trust::Only(set) => set,
            Trust::All => BTreeSet::new(),
        }
    };
    let pattern = match &args.tag_pattern {
        Some(p) => Some(
            glob::Pattern::new(p)
                .map_err(|e| fail(Code::Usage, format!("--tag-pattern {p:?}: {e}")))?,
        ),
        None => None,
    };

    let results: Vec<(PathBuf, String, anyhow::Result<Report>)> = dirs
        .par_iter()
        .map(|dir| {
            let component = args
                .component
                .clone()
                .unwrap_or_else(|| tag::component_name(dir));
            let mut trusted = base.clone();
            for (fpr, comps) in &allowed {
                if comps.contains(&component) {
                    trusted.insert(fpr.clone());
                }
            }
            let ctx = Context {
                keyring: &keyring,
                trust: Trust::Only(trusted),
                policy: &policy,
                check: args.check,
                min_signers: args.keys.min_signers(),
                tag_pattern: pattern.clone(),
            };
            let r = Repo::open(dir).and_then(|repo| {
                let report = tag::verify_rev(&repo, &rev, &ctx)?;
                if let Some(state) = &args.state {
                    let st = State::load(state)?;
                    if let Err(e) = st.check(&repo, &component, &report.commit) {
                        if !args.allow_rollback {
                            return Err(e);
                        }
                        eprintln!("verify-tag: warning: {e:#}; accepted (--allow-rollback)");
                    }
                }
                Ok(report)
            });
            (dir.clone(), component, r)
        })
        .collect();

    let mut code = Code::Ok;
    let multi = dirs.len() > 1;
    let mut state = match &args.state {
        Some(p) => Some(State::load(p)?),
        None => None,
    };
    for (dir, component, r) in &results {
        let prefix = if multi {
            format!("{}: ", dir.display())
        } else {
            String::new()
        };
        match r {
            Ok(report) => {
                if let Some(st) = state.as_mut() {
                    st.components
                        .insert(component.clone(), report.commit.clone());
                }
                for n in &report.notes {
                    eprintln!("verify-tag: {prefix}{n}");
                }
                if args.json {
                    cli::print_json(
                        &json!({"dir": dir, "component": component, "rev": rev, "status": "ok",
                        "commit": report.commit, "tags": report.good, "commit_signers": report.commit_signers,
                        "rejected": report.rejected}),
                    );
                    continue;
                }
                for t in &report.good {
                    println!("{prefix}---> Good tag {}", t.id);
                    for s in &t.signers {
                        println!("{prefix}{s}");
                    }
                }
                if !report.commit_signers.is_empty() {
                    println!("{prefix}---> {} does not have a signed tag; it is signed by a trusted key and CHECK is signed-tag-or-commit", report.commit);
                    for s in &report.commit_signers {
                        println!("{prefix}{s}");
                    }
                }
            }
            Err(e) => {
                let c = code_of(e);
                code = code.worst(c);
                eprintln!("verify-tag: {}: {e:#}", dir.display());
                if args.json {
                    cli::print_json(
                        &json!({"dir": dir, "component": component, "rev": rev, "status": "failed",
                        "exit": c.as_u8(), "error": format!("{e:#}")}),
                    );
                }
            }
        }
    }
    if let (Some(path), Some(st)) = (&args.state, &state) {
        if results.iter().any(|(_, _, r)| r.is_ok()) {
            st.save(path)?;
        }
    }
    if args.json && multi {
        cli::print_json(&json!({"summary": {"repositories": results.len(), "exit": code.as_u8()}}));
    }
    Ok(code)
}
