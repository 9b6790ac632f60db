//! Names and sources: the file name a URL saves to, and the order in which
//! mirrors and the upstream URL are tried.

use crate::exit::{fail, Code};

/// The file name a URL saves to: after a `#/` fragment (as in Gentoo's and
/// Qubes' `URL#/name` convention), else the last path segment.
pub fn default_name(url: &str) -> anyhow::Result<String> {
    let name = match url.split_once("#/") {
        Some((_, frag)) => frag.to_string(),
        None => {
            let path = url.split(['?', '#']).next().unwrap_or(url);
            let after_scheme = path.split_once("://").map_or(path, |(_, rest)| rest);
            // The authority alone (https://host) names no file.
            match after_scheme.split_once('/') {
                Some((_, p)) => p.rsplit('/').next().unwrap_or_default().to_string(),
                None => String::new(),
            }
        }
    };
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(fail(
            Code::Usage,
            format!("{url}: no usable file name in the URL; give -o PATH"),
        ));
    }
    // A name with a newline or an escape sequence would forge lines of
    // make's output, a log, or a terminal: refused, not shown raw.
    if name.chars().any(char::is_control) {
        return Err(fail(
            Code::Usage,
            format!(
                "{}: the file name holds control characters; give -o PATH",
                url.escape_debug()
            ),
        ));
    }
    Ok(name)
}

/// The URL without its fragment (never sent to a server).
pub fn request_url(url: &str) -> &str {
    url.split_once('#').map_or(url, |(u, _)| u)
}

/// Mirror bases from `DISTFILES_MIRROR` (space-separated).
pub fn env_mirrors() -> Vec<String> {
    std::env::var("DISTFILES_MIRROR")
        .map(|v| v.split_whitespace().map(String::from).collect())
        .unwrap_or_default()
}

/// The output name when none is given: the URL's file name, decompressed
/// with `decompress` (`linux-6.1.tar.xz` is stored as `linux-6.1.tar`).
pub fn default_output(url: &str, decompress: bool) -> anyhow::Result<String> {
    let name = default_name(url)?;
    Ok(match decompress {
        true => crate::codec::Compression::decompressed_name(&name).unwrap_or(name),
        false => name,
    })
}

/// One place to fetch from: the file, and the SIG that goes with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub file: String,
    pub sig: Option<String>,
}

/// Where to try, in order: each mirror's `BASE/NAME` (NAME: the name the
/// file is stored under on mirrors, as builds store distfiles), then the
/// URL itself unless `mirror_only` (the "mirror replaces upstream" of
/// Qubes components). A SIG URL is looked for the same way, under its own
/// file name (`BASE/NAME.sig`); a local SIG path is the same everywhere.
pub fn places(
    url: &str,
    name: &str,
    sig: Option<&str>,
    mirrors: &[String],
    mirror_only: bool,
) -> anyhow::Result<Vec<Place>> {
    let bases: Vec<&str> = mirrors
        .iter()
        .map(|m| m.trim().trim_end_matches('/'))
        .filter(|m| !m.is_empty())
        .collect();
    if mirror_only && bases.is_empty() {
        return Err(fail(
            Code::Usage,
            "--mirror-only: no mirror given (--mirror or DISTFILES_MIRROR)",
        ));
    }
    let sig_name = sig
        .filter(|s| s.contains("://"))
        .and_then(|s| default_name(s).ok());
    let mut out: Vec<Place> = bases
        .iter()
        .map(|base| Place {
            file: format!("{base}/{name}"),
            sig: sig.map(|s| match &sig_name {
                Some(n) => format!("{base}/{n}"),
                None => s.to_string(),
            }),
        })
        .collect();
    if !mirror_only {
        out.push(Place {
            file: request_url(url).to_string(),
            sig: sig.map(|s| request_url(s).to_string()),
        });
    }
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_urls() {
        let n = |u| default_name(u).ok();
        assert_eq!(
            n("https://h/p/foo-1.0.tar.gz").as_deref(),
            Some("foo-1.0.tar.gz")
        );
        assert_eq!(n("https://h/p/foo.tar?x=1#y").as_deref(), Some("foo.tar"));
        assert_eq!(
            n("https://github.com/o/r/archive/v1.tar.gz#/r-1.tar.gz").as_deref(),
            Some("r-1.tar.gz")
        );
        assert_eq!(n("https://h/dir/"), None);
        assert_eq!(n("https://h"), None);
        assert_eq!(n("https://h/x#/../etc"), None);
        assert_eq!(n("https://h/.."), None);
        assert_eq!(n("https://h/x#/a\nb.tar"), None);
        assert_eq!(n("https://h/x#/a\u{1b}[2Jb"), None);
        assert_eq!(n("https://h/a\tb"), None);
    }

    #[test]
    fn mirrors_first_then_upstream_for_the_file_and_its_sig() {
        let m = vec![
            "https://m1/d/".to_string(),
            " ".to_string(),
            "file:///srv".into(),
        ];
        let files = |p: Vec<Place>| p.into_iter().map(|p| p.file).collect::<Vec<_>>();
        let sigs = |p: Vec<Place>| p.into_iter().map(|p| p.sig).collect::<Vec<_>>();
        let url = "https://up/v1.tar.gz#/r-1.tar.gz";
        assert_eq!(
            files(places(url, "r-1.tar.gz", None, &m, false).unwrap()),
            vec![
                "https://m1/d/r-1.tar.gz",
                "file:///srv/r-1.tar.gz",
                "https://up/v1.tar.gz"
            ]
        );
        let sig = Some("https://up/sigs/r-1.tar.gz.asc");
        assert_eq!(
            sigs(places(url, "r-1.tar.gz", sig, &m, false).unwrap()),
            vec![
                Some("https://m1/d/r-1.tar.gz.asc".to_string()),
                Some("file:///srv/r-1.tar.gz.asc".into()),
                Some("https://up/sigs/r-1.tar.gz.asc".into()),
            ]
        );
        // Mirror only: upstream is never asked; a local SIG stays local.
        let only = places(url, "r-1.tar.gz", Some("keys/r.sig"), &m, true).unwrap();
        assert_eq!(files(only.clone()).len(), 2);
        assert!(sigs(only)
            .iter()
            .all(|s| s.as_deref() == Some("keys/r.sig")));
        let e = places(url, "r-1.tar.gz", None, &[], true).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::Usage);
    }

    #[test]
    fn decompressed_default_output() {
        assert_eq!(
            default_output("https://h/linux-6.1.tar.xz", true).unwrap(),
            "linux-6.1.tar"
        );
        assert_eq!(
            default_output("https://h/linux-6.1.tar.xz", false).unwrap(),
            "linux-6.1.tar.xz"
        );
    }
}
