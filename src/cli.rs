//! What every front end shares: running `main` under the exit-code contract.

use crate::exit::{code_of, Code};
use std::process::ExitCode;

/// Run a tool's body and turn its outcome into the process exit code.
///
/// The body returns the code it decided on (a checker may finish with
/// [`Code::Failed`] after reporting every item); an `Err` is printed as one
/// line, `TOOL: reason: cause: ...`, and mapped with [`code_of`].
pub fn run(tool: &str, body: impl FnOnce() -> anyhow::Result<Code>) -> ExitCode {
    match body() {
        Ok(code) => code.into(),
        Err(err) => {
            let code = code_of(&err);
            // `{:#}` prints the whole context chain on one line.
            eprintln!("{tool}: {err:#}");
            code.into()
        }
    }
}

/// Print one JSON value as a line on stdout.
pub fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

/// Environment variable that makes a tool write its man page and shell
/// completions into a directory and exit (used by `make install`), so the
/// documentation is generated from the same definitions as `--help`.
pub const GEN_DOCS_ENV: &str = "BUILD_VERIFY_GEN_DOCS";

/// Parse the command line of tool `C`, first serving [`GEN_DOCS_ENV`].
/// clap's own usage errors exit 2, as DESIGN.md §2 asks.
pub fn parse<C: clap::Parser>() -> C {
    // With RUST_BACKTRACE set, anyhow captures a backtrace for every error,
    // even those handled internally (retries, skipped tags); we never print
    // them, and they can cost more than the verification. Called first in
    // main, before any thread starts.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    if let Some(dir) = std::env::var_os(GEN_DOCS_ENV) {
        let code = match write_docs(&mut C::command(), std::path::Path::new(&dir)) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("writing documentation: {e:#}");
                4
            }
        };
        std::process::exit(code);
    }
    C::parse()
}

/// clap_complete (4.6.12 and before) names the bash states of a binary
/// with a hyphen one way in the loop that walks the words (`sign__log__subcmd__seal`)
/// and another in the arms that complete them (`sign__subcmd__log__subcmd__seal`),
/// so no subcommand of `sign-log` ever completes (clap-rs/clap#6421).
/// Spell the arms as the loop does.
fn fix_bash_states(script: &[u8], name: &str) -> String {
    let text = String::from_utf8_lossy(script).into_owned();
    if !name.contains('-') {
        return text;
    }
    let wrong = format!("{}__subcmd__", name.replace('-', "__subcmd__"));
    let right = format!("{}__subcmd__", name.replace('-', "__"));
    text.replace(&wrong, &right)
}

/// Write `man1/NAME.1` (and `NAME-SUB.1` for each subcommand) and
/// completions for bash, zsh and fish under `dir`.
pub fn write_docs(cmd: &mut clap::Command, dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    use clap_complete::Shell;
    let name = cmd.get_name().to_string();
    let man = dir.join("man1");
    std::fs::create_dir_all(&man).with_context(|| format!("creating {}", man.display()))?;
    // A page per subcommand too (NAME-SUB.1), as the top page lists them.
    clap_mangen::generate_to(cmd.clone(), &man)
        .with_context(|| format!("writing man pages into {}", man.display()))?;
    for (shell, sub, file) in [
        (Shell::Bash, "bash-completion/completions", name.clone()),
        (Shell::Zsh, "zsh/site-functions", format!("_{name}")),
        (
            Shell::Fish,
            "fish/vendor_completions.d",
            format!("{name}.fish"),
        ),
    ] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        let mut out = Vec::new();
        clap_complete::generate(shell, cmd, &name, &mut out);
        if shell == Shell::Bash {
            out = fix_bash_states(&out, &name).into_bytes();
        }
        std::fs::write(d.join(file), out)?;
    }
    Ok(())
}
