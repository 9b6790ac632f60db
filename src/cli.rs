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
