//! The old script's environment (Qubes Builder v1), read once: per-component
//! maintainer keys (`ALLOWED_COMPONENTS_<FPR>`, keys in `KEYS_DIR` or
//! `$BUILDER_DIR/keys`) and the refusal of `NO_CHECK`. `CHECK` is read by
//! the command line parser (`--check`).

use crate::exit::{fail, Code, ResultExt};
use crate::openpgp::{parse_fingerprint, Fingerprint};
use std::path::PathBuf;

/// One key the environment trusts for some components only:
/// `ALLOWED_COMPONENTS_<FPR>="comp1 comp2"`, key in `KEYS_DIR/<FPR>.asc`.
#[derive(Clone, Debug)]
pub struct Allowed {
    pub fpr: Fingerprint,
    pub components: Vec<String>,
}

/// What verify-tag takes from its environment.
#[derive(Clone, Debug, Default)]
pub struct QubesEnv {
    pub allowed: Vec<Allowed>,
    /// Where `ALLOWED_COMPONENTS_<FPR>` keys live.
    pub keys_dir: Option<PathBuf>,
}

/// The old script's advice when `NO_CHECK` is set (as it gives it today:
/// `CHECK=insecure-no-check` is refused too, by it and by verify-tag).
pub const NO_CHECK_ADVICE: &str = "Sorry, NO_CHECK is no longer supported. If you really want to \
turn off signature checking, list the component in INSECURE_SKIP_CHECKING in builder.conf (the \
builder then does not call verify-git-tag at all), or in LESS_SECURE_SIGNED_COMMITS_SUFFICIENT to \
accept a signed commit without a signed tag";

impl QubesEnv {
    /// Read from `vars` (the process environment, in the binary). A
    /// non-empty `NO_CHECK` is refused as the old script refuses it, and an
    /// `ALLOWED_COMPONENTS_` suffix that is not a full fingerprint is a
    /// usage error: a typo must not pass unnoticed (exit 2 both).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<QubesEnv> {
        let mut env = QubesEnv::default();
        let (mut keys_dir, mut builder_dir) = (None, None);
        for (k, v) in vars {
            match k.as_str() {
                "NO_CHECK" if !v.is_empty() => return Err(fail(Code::Usage, NO_CHECK_ADVICE)),
                "KEYS_DIR" if !v.is_empty() => keys_dir = Some(PathBuf::from(v)),
                "BUILDER_DIR" => builder_dir = Some(PathBuf::from(v).join("keys")),
                _ => {
                    if let Some(fpr) = k.strip_prefix("ALLOWED_COMPONENTS_") {
                        let fpr =
                            parse_fingerprint(fpr).with_code(Code::Usage, || format!("${k}"))?;
                        env.allowed.push(Allowed {
                            fpr,
                            components: v.split_whitespace().map(String::from).collect(),
                        });
                    }
                }
            }
        }
        env.keys_dir = keys_dir.or(builder_dir);
        Ok(env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn allowed_components_parse_and_refuse_typos() {
        let fpr = "427F11FD0FAA4B080123F01CDDFA1A3E36879494";
        let name = format!("ALLOWED_COMPONENTS_{fpr}");
        let e = QubesEnv::from_vars(vars(&[
            (&name, "core-admin  linux-utils"),
            ("PATH", "/bin"),
            ("BUILDER_DIR", "/b"),
        ]))
        .unwrap();
        assert_eq!(e.allowed.len(), 1);
        assert_eq!(e.allowed[0].components, ["core-admin", "linux-utils"]);
        assert_eq!(e.keys_dir, Some(PathBuf::from("/b/keys")));
        let e = QubesEnv::from_vars(vars(&[("KEYS_DIR", "/k"), ("BUILDER_DIR", "/b")])).unwrap();
        assert_eq!(e.keys_dir, Some(PathBuf::from("/k")), "KEYS_DIR wins");
        let e = QubesEnv::from_vars(vars(&[("ALLOWED_COMPONENTS_1234", "x")])).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Usage);
    }

    #[test]
    fn no_check_is_refused_when_set() {
        assert!(QubesEnv::from_vars(vars(&[("NO_CHECK", "")])).is_ok());
        let e = QubesEnv::from_vars(vars(&[("NO_CHECK", "1")])).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Usage);
        assert!(format!("{e}").contains("no longer supported"));
    }
}
