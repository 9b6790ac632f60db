//! The build side's directives, lines `##sign-log VERB {json}` in the log:
//! `material`/`product` (name, size, SHA-256, SHA-512) and
//! `step-begin`/`step-end` (name, argv, exit code).

use super::record::DIRECTIVE;
use crate::digest::{hash_reader, Algo};
use crate::exit::{fail, Code, ResultExt};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A directive's payload.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Directive {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha512: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Material,
    Product,
    StepBegin,
    StepEnd,
}

impl Verb {
    pub fn name(self) -> &'static str {
        match self {
            Verb::Material => "material",
            Verb::Product => "product",
            Verb::StepBegin => "step-begin",
            Verb::StepEnd => "step-end",
        }
    }

    fn from_name(s: &str) -> Option<Verb> {
        [
            Verb::Material,
            Verb::Product,
            Verb::StepBegin,
            Verb::StepEnd,
        ]
        .into_iter()
        .find(|v| v.name() == s)
    }
}

/// Parse a directive line; an error says what is wrong with it.
pub fn parse(line: &str) -> anyhow::Result<(Verb, Directive)> {
    let rest = line
        .strip_prefix(DIRECTIVE)
        .ok_or_else(|| fail(Code::Failed, "not a directive"))?;
    let (verb, json) = rest.split_once(' ').unwrap_or((rest, ""));
    let verb = Verb::from_name(verb)
        .ok_or_else(|| fail(Code::Failed, format!("unknown directive {verb:?}")))?;
    let d: Directive = serde_json::from_str(json).map_err(|e| {
        fail(
            Code::Failed,
            format!("malformed {} directive: {e}", verb.name()),
        )
    })?;
    let hex_ok = |h: &Option<String>, len: usize| {
        h.as_ref()
            .is_none_or(|h| h.len() == len && h.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    if !hex_ok(&d.sha256, 64) || !hex_ok(&d.sha512, 128) {
        return Err(fail(
            Code::Failed,
            format!("{} directive with a malformed digest", verb.name()),
        ));
    }
    Ok((verb, d))
}

pub fn line(verb: Verb, d: &Directive) -> String {
    format!(
        "{DIRECTIVE}{} {}",
        verb.name(),
        serde_json::to_string(d).unwrap_or_default()
    )
}

/// `##sign-log material|product {...}` for a file (size, SHA-256, SHA-512).
pub fn hash_line(verb: Verb, path: &Path) -> anyhow::Result<String> {
    let f = crate::fsutil::input::open_regular(path, "file")?;
    let d = hash_reader(f, &[Algo::Sha256, Algo::Sha512])
        .with_code(Code::Io, || format!("hashing {}", path.display()))?;
    Ok(line(
        verb,
        &Directive {
            name: path.display().to_string(),
            size: Some(d.len),
            sha256: d.hex(Algo::Sha256),
            sha512: d.hex(Algo::Sha512),
            ..Directive::default()
        },
    ))
}

/// A step about to run: its `step-begin` line, and the `step-end` line
/// once the exit code is known. The front end prints both around
/// [`run_command`], so the command's own output falls between them.
pub struct Step {
    d: Directive,
}

impl Step {
    pub fn new(name: &str, argv: &[String]) -> Step {
        Step {
            d: Directive {
                name: name.into(),
                argv: Some(argv.to_vec()),
                ..Directive::default()
            },
        }
    }

    pub fn begin_line(&self) -> String {
        line(Verb::StepBegin, &self.d)
    }

    pub fn end_line(&mut self, exit: i32) -> String {
        self.d.exit = Some(exit);
        line(Verb::StepEnd, &self.d)
    }
}

/// Run `argv` with the inherited stdout and stderr; its exit code, 128 +
/// signal when killed and 127 (with why, for the front end to print) when
/// it cannot be started, as shells report them, so the log records the
/// failure either way.
pub fn run_command(argv: &[String]) -> anyhow::Result<(i32, Option<String>)> {
    use std::os::unix::process::ExitStatusExt;
    let Some((prog, args)) = argv.split_first() else {
        return Err(fail(Code::Usage, "run needs a command"));
    };
    Ok(match std::process::Command::new(prog).args(args).status() {
        Ok(status) => (
            status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
            None,
        ),
        Err(e) => (127, Some(format!("running {prog}: {e}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_round_trip_and_bad_ones_say_why() {
        let d = Directive {
            name: "out.rpm".into(),
            size: Some(3),
            sha256: Some("a".repeat(64)),
            ..Directive::default()
        };
        let l = line(Verb::Product, &d);
        assert_eq!(parse(&l).unwrap(), (Verb::Product, d));
        for bad in [
            "##sign-log frob {\"name\":\"x\"}",
            "##sign-log material",
            "##sign-log material {\"name\":\"x\",\"sha256\":\"zz\"}",
            "##sign-log material {\"name\":\"x\",\"extra\":1}",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
