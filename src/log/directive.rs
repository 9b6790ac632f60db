//! The build side's directives: hashes of inputs and outputs, and steps.

use super::record::DIRECTIVE;
use super::verify::Directive;
use crate::digest::{hash_file, Algo};
use crate::exit::{Code, ResultExt};
use std::path::Path;

/// `##sign-log material|product {...}` for a file (SHA-256 and SHA-512).
pub fn hash_line(kind: &str, path: &Path) -> anyhow::Result<String> {
    let d = hash_file(path, &[Algo::Sha256, Algo::Sha512])
        .with_code(Code::Io, || format!("hashing {}", path.display()))?;
    let payload = Directive {
        name: path.display().to_string(),
        size: Some(d.len),
        sha256: d.hex(Algo::Sha256),
        sha512: d.hex(Algo::Sha512),
        ..Directive::default()
    };
    Ok(format!(
        "{DIRECTIVE}{kind} {}",
        serde_json::to_string(&payload)?
    ))
}

/// `##sign-log step-begin {...}`.
pub fn step_begin(name: &str, argv: &[String]) -> anyhow::Result<String> {
    let payload = Directive {
        name: name.into(),
        argv: Some(argv.to_vec()),
        ..Directive::default()
    };
    Ok(format!(
        "{DIRECTIVE}step-begin {}",
        serde_json::to_string(&payload)?
    ))
}

/// `##sign-log step-end {...}` with the exit code.
pub fn step_end(name: &str, argv: &[String], exit: i32) -> anyhow::Result<String> {
    let payload = Directive {
        name: name.into(),
        argv: Some(argv.to_vec()),
        exit: Some(exit),
        ..Directive::default()
    };
    Ok(format!(
        "{DIRECTIVE}step-end {}",
        serde_json::to_string(&payload)?
    ))
}

/// Run a command as a logged step; its output passes through. Returns its
/// exit code (128 + signal when killed, as shells report it).
pub fn run_step(name: &str, argv: &[String]) -> anyhow::Result<i32> {
    use std::io::Write;
    use std::os::unix::process::ExitStatusExt;
    let Some((prog, args)) = argv.split_first() else {
        return Err(crate::exit::fail(Code::Usage, "run needs a command"));
    };
    println!("{}", step_begin(name, argv)?);
    std::io::stdout().flush().ok();
    let status = std::process::Command::new(prog)
        .args(args)
        .status()
        .with_code(Code::Io, || format!("running {prog}"))?;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    println!("{}", step_end(name, argv, code)?);
    Ok(code)
}
