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

/// Where to try, in order: each mirror's `BASE/NAME` (NAME is the output
/// file name: mirrors hold distfiles under the names builds store them
/// as), then the URL itself.
pub fn candidates(url: &str, name: &str, mirrors: &[String]) -> Vec<String> {
    let mut out: Vec<String> = mirrors
        .iter()
        .map(|m| m.trim())
        .filter(|m| !m.is_empty() && !name.is_empty())
        .map(|m| format!("{}/{name}", m.trim_end_matches('/')))
        .collect();
    out.push(request_url(url).to_string());
    out.dedup();
    out
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
    }

    #[test]
    fn mirrors_first_then_upstream() {
        let m = vec![
            "https://m1/d/".to_string(),
            " ".to_string(),
            "file:///srv".into(),
        ];
        assert_eq!(
            candidates("https://up/v1.tar.gz#/r-1.tar.gz", "r-1.tar.gz", &m),
            vec![
                "https://m1/d/r-1.tar.gz",
                "file:///srv/r-1.tar.gz",
                "https://up/v1.tar.gz"
            ]
        );
    }
}
