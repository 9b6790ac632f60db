//! What the operands name: `DIR [REV]`, or several repositories.
//!
//! The rule (documented in `--help`): one operand is a repository at HEAD;
//! with two, the second is REV unless it is itself a git repository (a
//! directory holding `.git`, or a git directory), and a second operand
//! that is both a repository and a revision of the first is refused as
//! ambiguous, as git refuses an argument that is both a revision and a
//! path; three or more operands are all repositories, each at HEAD. A REV
//! that merely names an existing directory is still a revision.

use crate::exit::{fail, Code};
use crate::git::looks_like_repository as is_repository;
use std::path::{Path, PathBuf};

/// One repository to verify.
#[derive(Clone, Debug)]
pub struct Target {
    pub dir: PathBuf,
    pub rev: String,
    pub component: String,
}

/// The repositories the operands name; `component` (one repository only)
/// overrides the name derived from the directory. `is_rev(dir, rev)` tells
/// whether `rev` is a revision of `dir`; it is asked only when two operands
/// could be read either way.
pub fn targets(
    operands: &[PathBuf],
    component: Option<&str>,
    is_rev: impl Fn(&Path, &str) -> bool,
) -> anyhow::Result<Vec<Target>> {
    let (dirs, rev): (&[PathBuf], String) = match operands {
        [] => return Err(fail(Code::Usage, "no repository given")),
        [_] => (operands, "HEAD".into()),
        [dir, second] => {
            let rev = second.to_string_lossy().into_owned();
            if !is_repository(second) {
                (std::slice::from_ref(dir), rev)
            } else if is_rev(dir, &rev) {
                return Err(fail(
                    Code::Usage,
                    format!(
                        "{rev:?} is both a repository and a revision of {}: name the revision by its full ref (refs/heads/{rev}) or object id, or the repositories with a third operand",
                        dir.display()
                    ),
                ));
            } else {
                (operands, "HEAD".into())
            }
        }
        many => {
            if let Some(not) = many.iter().find(|d| !is_repository(d)) {
                return Err(fail(
                    Code::Usage,
                    format!(
                        "{} is not a git repository (with three or more operands each is a repository, verified at HEAD)",
                        not.display()
                    ),
                ));
            }
            (many, "HEAD".into())
        }
    };
    if component.is_some() && dirs.len() > 1 {
        return Err(fail(Code::Usage, "--component names one repository"));
    }
    Ok(dirs
        .iter()
        .map(|dir| Target {
            dir: dir.clone(),
            rev: rev.clone(),
            component: component
                .map(String::from)
                .unwrap_or_else(|| component_name(dir)),
        })
        .collect())
}

/// The component a directory is, as Qubes Builder names it: its base name,
/// `.` meaning the builder itself.
pub fn component_name(dir: &Path) -> String {
    if dir == Path::new(".") {
        return "builder".into();
    }
    let name = match dir.file_name() {
        // DIR/.git names DIR's component.
        Some(n) if n == ".git" => dir.parent().map(component_name),
        Some(n) => Some(n.to_string_lossy().into_owned()),
        None => dir
            .canonicalize()
            .ok()
            .and_then(|c| c.file_name().map(|n| n.to_string_lossy().into_owned())),
    };
    name.unwrap_or_else(|| "builder".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_names_follow_the_old_script() {
        assert_eq!(component_name(Path::new(".")), "builder");
        assert_eq!(
            component_name(Path::new("qubes-src/core-admin")),
            "core-admin"
        );
        assert_eq!(
            component_name(Path::new("qubes-src/core-admin/")),
            "core-admin"
        );
        assert_eq!(
            component_name(Path::new("qubes-src/core-admin/.git")),
            "core-admin"
        );
    }

    #[test]
    fn operands_are_dir_rev_or_repositories() {
        let d = tempfile::tempdir().unwrap();
        let (a, b, c, plain) = (
            d.path().join("a"),
            d.path().join("b"),
            d.path().join("c"),
            d.path().join("v1.0"),
        );
        for r in [&a, &b, &c] {
            std::fs::create_dir_all(r.join(".git")).unwrap();
        }
        std::fs::create_dir_all(&plain).unwrap();
        let never = |_: &Path, _: &str| false;
        // A plain directory as second operand is a revision.
        let t = targets(&[a.clone(), plain.clone()], None, never).unwrap();
        assert_eq!((t.len(), t[0].rev.as_str()), (1, plain.to_str().unwrap()));
        let t = targets(&[a.clone(), "v1.0".into()], None, never).unwrap();
        assert_eq!((t.len(), t[0].rev.as_str()), (1, "v1.0"));
        let t = targets(&[a.clone(), b.clone()], None, never).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!((t[1].component.as_str(), t[1].rev.as_str()), ("b", "HEAD"));
        // Both a repository and a revision: ambiguous.
        let e = targets(&[a.clone(), b.clone()], None, |_, _| true).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Usage);
        // Three operands: all repositories.
        assert_eq!(
            targets(&[a.clone(), b.clone(), c.clone()], None, never)
                .unwrap()
                .len(),
            3
        );
        let e = targets(&[a.clone(), b.clone(), "v1.0".into()], None, never).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Usage);
        let t = targets(std::slice::from_ref(&a), Some("builder"), never).unwrap();
        assert_eq!(t[0].component, "builder");
        assert!(targets(&[a, b], Some("x"), never).is_err());
        assert!(targets(&[], None, never).is_err());
    }
}
