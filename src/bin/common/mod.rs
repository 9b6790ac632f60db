//! What every front end shares: running `main` under the exit-code
//! contract, notes and errors on stderr, standard output that survives a
//! closed pipe, and the documentation generated from the clap
//! definitions. Each binary includes it as a module (it is not a binary
//! itself: it has no main.rs), so the library never prints.
#![allow(dead_code)]

use build_verify::exit::{code_of, Code};
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

/// How a tool ends: a code of the contract, or (`sign-log run`) the exit
/// status of the command it ran, passed through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(Code),
    Status(u8),
}

impl From<Code> for Exit {
    fn from(c: Code) -> Exit {
        Exit::Code(c)
    }
}

/// Run a tool's body and turn its outcome into the process exit code.
///
/// The body returns the code it decided on (a checker may finish with
/// [`Code::Failed`] after reporting every item); an `Err` is printed as one
/// line, `TOOL: reason: cause: ...`, after the notes held back by
/// `--quiet` ([`Notes::Hold`]), and mapped with [`code_of`]. Every tool
/// ends here: nothing calls `process::exit` past it.
pub fn run<E: Into<Exit>>(
    tool: &'static str,
    body: impl FnOnce() -> anyhow::Result<E>,
) -> ExitCode {
    run_json(tool, None, body)
}

/// [`run`] for a tool given `--json`: a failure of the whole run (a usage
/// error, an unreadable list) is also printed on stdout as
/// [`json_failure`] of `fields`, so the consumer always gets an object.
pub fn run_json<E: Into<Exit>>(
    tool: &'static str,
    fields: Option<serde_json::Value>,
    body: impl FnOnce() -> anyhow::Result<E>,
) -> ExitCode {
    let _ = TOOL.set(tool);
    // Ctrl-C, SIGTERM, SIGHUP: the untrusted files the run holds are
    // deleted, then it dies by that signal (make sees the interruption).
    build_verify::fsutil::untrusted::remove_on_signals();
    let exit = match body() {
        Ok(exit) => exit.into(),
        Err(err) => {
            let code = code_of(&err);
            for n in take_held() {
                say(&n);
            }
            if let Some(fields) = fields {
                print_json(&json_failure(fields, &err));
            }
            // `{:#}` prints the whole context chain on one line.
            error(format_args!("{err:#}"));
            Exit::Code(code)
        }
    };
    note_write(Stdout.flush());
    match exit {
        Exit::Status(n) => ExitCode::from(n),
        Exit::Code(code) if WRITE_FAILED.load(Ordering::Relaxed) => code.worst(Code::Io).into(),
        Exit::Code(code) => code.into(),
    }
}

/// [`run_json`] for a tool whose failure object names its `operands`
/// (with `--json`; without it, [`run`]).
pub fn run_operands<T: serde::Serialize, E: Into<Exit>>(
    tool: &'static str,
    json: bool,
    operands: &T,
    body: impl FnOnce() -> anyhow::Result<E>,
) -> ExitCode {
    let fields = json.then(|| serde_json::json!({ "operands": operands }));
    run_json(tool, fields, body)
}

/// The tool's name, for the lines on stderr.
static TOOL: OnceLock<&'static str> = OnceLock::new();

/// What becomes of notes and warnings (never of errors), as `-q` and
/// `--json` decide for each tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notes {
    /// Printed as they come (the default).
    Say,
    /// Kept, and printed before the error only if the run fails
    /// (fetch-verified `--quiet`: silent on success, all told on failure).
    Hold,
    /// Not printed.
    Drop,
}

static NOTES: Mutex<(Option<Notes>, Vec<String>)> = Mutex::new((None, Vec::new()));

/// Set what becomes of notes for the rest of the run.
pub fn set_notes(mode: Notes) {
    if let Ok(mut n) = NOTES.lock() {
        n.0 = Some(mode);
    }
}

/// `-q`: notes dropped, else said.
pub fn set_quiet(quiet: bool) {
    set_notes(if quiet { Notes::Drop } else { Notes::Say });
}

fn take_held() -> Vec<String> {
    NOTES
        .lock()
        .map(|mut n| std::mem::take(&mut n.1))
        .unwrap_or_default()
}

/// A note or warning, `TOOL: message` on stderr, or held or dropped as
/// [`set_notes`] said.
pub fn note(message: impl std::fmt::Display) {
    let mode = NOTES.lock().ok().and_then(|n| n.0).unwrap_or(Notes::Say);
    match mode {
        Notes::Say => say(&message.to_string()),
        Notes::Hold => {
            if let Ok(mut n) = NOTES.lock() {
                n.1.push(message.to_string());
            }
        }
        Notes::Drop => {}
    }
}

/// An error about one item (the run goes on), `TOOL: message` on stderr,
/// whatever `-q` says.
pub fn error(message: impl std::fmt::Display) {
    say(&message.to_string());
}

/// One line on stderr in one write, so the lines of parallel runs (`make
/// -j`) never interleave inside a line; a stderr that cannot be written
/// is not a reason to fail.
fn say(message: &str) {
    let tool = TOOL.get().copied().unwrap_or("build-verify");
    let _ = io::stderr()
        .lock()
        .write_all(format!("{tool}: {message}\n").as_bytes());
}

/// Set once standard output is found closed (`tool | head`).
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Standard output for a tool's results. A reader that went away
/// (`tool | head -c1`) is not an error of the tool: the rest of its output
/// is dropped, it finishes its checks and exits with their code, never a
/// panic (Rust ignores SIGPIPE, so `println!` would panic on EPIPE).
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if STDOUT_CLOSED.load(Ordering::Relaxed) {
            return Ok(buf.len());
        }
        match io::stdout().lock().write(buf) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                STDOUT_CLOSED.store(true, Ordering::Relaxed);
                Ok(buf.len())
            }
            r => r,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if STDOUT_CLOSED.load(Ordering::Relaxed) {
            return Ok(());
        }
        match io::stdout().lock().flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                STDOUT_CLOSED.store(true, Ordering::Relaxed);
                Ok(())
            }
            r => r,
        }
    }
}

/// `print!` through [`Stdout`]; any other write error is reported once the
/// tool ends (exit 4) by [`run`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        $crate::common::note_write(write!($crate::common::Stdout, $($arg)*));
    }};
}

/// `println!` through [`Stdout`].
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        $crate::common::note_write(writeln!($crate::common::Stdout, $($arg)*));
    }};
}

/// Set when writing the results failed for a reason other than a closed
/// pipe (a full disk under `> file`): the run then ends with exit 4.
static WRITE_FAILED: AtomicBool = AtomicBool::new(false);

pub fn note_write(r: io::Result<()>) {
    if let Err(e) = r {
        if !WRITE_FAILED.swap(true, Ordering::Relaxed) {
            eprintln!("writing to stdout: {e}");
        }
    }
}

/// Print one JSON value as a line on stdout.
pub fn print_json(value: &serde_json::Value) {
    outln!("{value}");
}

/// The JSON object of a run that failed: `fields` (what names the input,
/// e.g. `path`, `url`) with `status: "failed"`, its `exit` code and the
/// `reason` also printed on stderr, so a `--json` consumer never gets an
/// empty stdout.
pub fn json_failure(mut fields: serde_json::Value, err: &anyhow::Error) -> serde_json::Value {
    if let Some(o) = fields.as_object_mut() {
        o.insert("status".into(), "failed".into());
        o.insert("exit".into(), code_of(err).as_u8().into());
        o.insert("reason".into(), format!("{err:#}").into());
    }
    fields
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
    match C::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            // A usage error under --json is an object on stdout too (the
            // consumer always gets one), then clap's own message (exit 2).
            let shown = matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
            if !shown && json_asked() {
                let reason = e.to_string();
                let reason = reason.lines().next().unwrap_or_default();
                print_json(&serde_json::json!({
                    "status": "failed",
                    "exit": Code::Usage.as_u8(),
                    "reason": reason.strip_prefix("error: ").unwrap_or(reason),
                }));
                note_write(Stdout.flush());
            }
            e.exit()
        }
    }
}

/// Was `--json` among the arguments (before a lone `--`)?
fn json_asked() -> bool {
    std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
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
    let mut built = cmd.clone().disable_help_subcommand(true);
    built.build();
    write_man_pages(&built, &man)
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

/// The marker that starts the examples of a `long_about`.
const EXAMPLES: &str = "\n\nExamples:\n";

/// One man page for `cmd` and each of its visible subcommands.
fn write_man_pages(cmd: &clap::Command, dir: &std::path::Path) -> io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_man_pages(sub, dir)?;
    }
    let name = cmd.get_display_name().unwrap_or_else(|| cmd.get_name());
    std::fs::write(dir.join(format!("{name}.1")), man_page(cmd)?)
}

/// A man page as clap_mangen renders it, except that the examples (the
/// lines after `Examples:` in the long help) and the exit-code table are
/// shown verbatim (`.nf`): filled and hyphenated, commands and URLs would
/// be joined into one paragraph and broken at hyphens.
fn man_page(cmd: &clap::Command) -> io::Result<Vec<u8>> {
    let long = cmd
        .get_long_about()
        .or(cmd.get_about())
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (prose, examples) = match long.split_once(EXAMPLES) {
        Some((p, e)) => (p.to_string(), Some(e.to_string())),
        None => (long, None),
    };
    let exit_codes = cmd
        .get_after_long_help()
        .or(cmd.get_after_help())
        .map(|a| a.to_string());
    let plain = cmd
        .clone()
        .long_about(prose)
        .after_help(None::<&str>)
        .after_long_help(None::<&str>);
    let man = clap_mangen::Man::new(plain.clone());
    let mut w = Vec::new();
    man.render_title(&mut w)?;
    man.render_name_section(&mut w)?;
    synopsis(&mut w, &plain);
    man.render_description_section(&mut w)?;
    if plain.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut w)?;
    }
    if plain.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut w)?;
    }
    if let Some(e) = examples {
        verbatim_section(&mut w, "EXAMPLES", &e);
    }
    if let Some(e) = exit_codes {
        let table = e.strip_prefix("Exit codes:\n").unwrap_or(&e);
        verbatim_section(&mut w, "EXIT STATUS", table);
    }
    if plain.get_version().is_some() {
        man.render_version_section(&mut w)?;
    }
    Ok(w)
}

/// The SYNOPSIS with each option's value, as `--help`'s usage line has
/// it (`[--keyring FILE]...`): clap_mangen's (0.3) omits them.
fn synopsis(w: &mut Vec<u8>, cmd: &clap::Command) {
    use clap::ArgAction;
    let esc = |s: &str| s.replace('\\', "\\e").replace('-', "\\-");
    let value = |a: &clap::Arg| {
        a.get_value_names()
            .map(|v| v.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap_or_else(|| vec![a.get_id().as_str().to_uppercase()])
            .iter()
            .map(|n| format!("\\fI{}\\fR", esc(n)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let many = |a: &clap::Arg| {
        matches!(a.get_action(), ArgAction::Append | ArgAction::Count)
            || a.get_num_args().is_some_and(|r| r.max_values() > 1)
    };
    let name = cmd.get_bin_name().unwrap_or_else(|| cmd.get_name());
    let mut line = format!("\\fB{}\\fR", esc(name));
    // Options first, then operands, as `--help`'s usage line.
    let args: Vec<&clap::Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_positional())
        .chain(cmd.get_positionals().filter(|a| !a.is_hide_set()))
        .collect();
    for a in args {
        let shown = if a.is_positional() {
            value(a)
        } else {
            let flag = match (a.get_short(), a.get_long()) {
                (Some(s), Some(l)) => format!("\\fB\\-{s}\\fR|\\fB\\-\\-{}\\fR", esc(l)),
                (Some(s), None) => format!("\\fB\\-{s}\\fR"),
                (None, Some(l)) => format!("\\fB\\-\\-{}\\fR", esc(l)),
                (None, None) => continue,
            };
            // `\ ` keeps an option and its value on one line.
            match a.get_num_args().is_some_and(|r| r.takes_values()) {
                true => format!("{flag}\\ {}", value(a)),
                false => flag,
            }
        };
        let (l, r) = match a.is_required_set() {
            true => ("", ""),
            false => ("[", "]"),
        };
        let dots = if many(a) && !shown.ends_with("...\\fR") {
            "..."
        } else {
            ""
        };
        line.push_str(&format!(" {l}{shown}{r}{dots}"));
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        line.push_str(" \\fICOMMAND\\fR");
    }
    // Not hyphenated: an option broken at a hyphen reads as two.
    w.extend_from_slice(format!(".SH SYNOPSIS\n.nh\n.ad l\n{line}\n.ad\n.hy\n").as_bytes());
}

/// A section of lines shown as they are: no filling, no hyphenation.
fn verbatim_section(w: &mut Vec<u8>, title: &str, text: &str) {
    w.extend_from_slice(format!(".SH {title}\n.nf\n").as_bytes());
    for line in text.trim_end().lines() {
        let escaped = line.replace('\\', "\\e").replace('-', "\\-");
        let safe = if escaped.starts_with('.') || escaped.starts_with('\'') {
            format!("\\&{escaped}")
        } else {
            escaped
        };
        w.extend_from_slice(safe.as_bytes());
        w.push(b'\n');
    }
    w.extend_from_slice(b".fi\n");
}

/// The attestations and rebuilders the options name (issue 26), with the
/// refused or uncounted documents told as notes; a URL is fetched with
/// `transport`, or the default one.
pub fn load_attestations(
    args: &build_verify::attest::AttestArgs,
    transport: Option<&build_verify::net::Transport>,
) -> anyhow::Result<Option<build_verify::attest::Attestations>> {
    let loaded = args.load(transport, &|n| note(n))?;
    loaded.iter().flat_map(|a| a.notes()).for_each(note);
    Ok(loaded)
}
