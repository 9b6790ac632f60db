//! URLs as curl reads them: schemes in any case, `file://` paths
//! percent-decoded, Location headers resolved against the URL that sent
//! them.

use crate::exit::{fail, Code};
use ureq::http::Uri;

/// `url` with its scheme in lower case (`HTTPS://h/X` is `https://h/X`,
/// as curl reads it); anything without a scheme is left alone.
pub fn normalize_scheme(url: &str) -> std::borrow::Cow<'_, str> {
    match scheme_len(url) {
        Some(n)
            if url
                .get(..n)
                .is_some_and(|s| s.bytes().any(|b| b.is_ascii_uppercase())) =>
        {
            let (scheme, rest) = url.split_at(n);
            std::borrow::Cow::Owned(format!("{}{rest}", scheme.to_ascii_lowercase()))
        }
        _ => std::borrow::Cow::Borrowed(url),
    }
}

/// The length of `url`'s scheme (RFC 3986 §3.1: a letter, then letters,
/// digits, `+`, `-`, `.`), when it has one followed by `:`.
fn scheme_len(url: &str) -> Option<usize> {
    let end = url.find(':')?;
    let scheme = url.get(..end)?;
    let mut bytes = scheme.bytes();
    let first = bytes.next()?;
    (first.is_ascii_alphabetic()
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))
    .then_some(end)
}

/// The local path of a `file://` URL (`file:///p` or `file://localhost/p`),
/// percent-decoded as RFC 8089 says (`%20` is a space), as curl opens it;
/// a `%` not followed by two hex digits stays as it is. Another host is
/// refused, as curl does: the file would be a local one whatever it names.
/// Not a file URL: None.
pub(crate) fn file_url_path(url: &str) -> anyhow::Result<Option<std::path::PathBuf>> {
    use std::os::unix::ffi::OsStringExt;
    let Some(rest) = url.strip_prefix("file://") else {
        return Ok(None);
    };
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) || path.is_empty() {
        return Err(fail(
            Code::Usage,
            format!(
                "{url}: a file:// URL names a local path: file:///PATH or file://localhost/PATH"
            ),
        ));
    }
    let bytes: Vec<u8> = percent_encoding::percent_decode(path.as_bytes()).collect();
    Ok(Some(std::ffi::OsString::from_vec(bytes).into()))
}

/// Resolve a Location header against the URL that sent it: absolute,
/// scheme-relative, absolute-path or relative-path references.
pub fn resolve_location(base: &Uri, location: &str) -> Option<String> {
    let location = location.trim();
    // Absolute only when it starts with a scheme: `/get?u=http://x` is a
    // path, whatever it holds.
    if scheme_len(location).is_some() {
        return Some(normalize_scheme(location).into_owned());
    }
    let scheme = base.scheme_str()?;
    if let Some(rest) = location.strip_prefix("//") {
        return Some(format!("{scheme}://{rest}"));
    }
    let authority = base.authority()?.as_str();
    let (path, query) = match location.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (location, None),
    };
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{path}")
    };
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    Some(format!(
        "{scheme}://{authority}{}{query}",
        remove_dot_segments(&joined)
    ))
}

/// RFC 3986 §5.2.4: `/a/b/../c/./d` is `/a/c/d`; never above the root.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." | ".." => {
                if *seg == ".." {
                    out.pop();
                }
                // A trailing dot segment leaves a directory path.
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::code_of;

    #[test]
    fn file_urls_are_percent_decoded() {
        let p = |u| {
            file_url_path(u)
                .unwrap()
                .map(|p| p.to_string_lossy().into_owned())
        };
        assert_eq!(p("file:///srv/a%20b.tar").as_deref(), Some("/srv/a b.tar"));
        assert_eq!(p("file://localhost/x%2fy").as_deref(), Some("/x/y"));
        assert_eq!(p("file://LocalHost/x").as_deref(), Some("/x"));
        assert_eq!(p("file:///100%").as_deref(), Some("/100%"));
        assert_eq!(p("file:///a%zz%4").as_deref(), Some("/a%zz%4"));
        assert_eq!(p("https://h/a%20b"), None);
        // Another host is refused (curl: "Invalid file://hostname/"), and
        // never read as the relative path "host/p".
        for bad in [
            "file://host/p",
            "file://localhost.evil/p",
            "file://",
            "file://h",
        ] {
            let e = file_url_path(bad).unwrap_err();
            assert_eq!(code_of(&e), Code::Usage, "{bad}");
        }
    }

    #[test]
    fn schemes_in_any_case() {
        assert_eq!(normalize_scheme("HTTPS://H/X.tar"), "https://H/X.tar");
        assert_eq!(normalize_scheme("File:///x"), "file:///x");
        assert_eq!(normalize_scheme("https://h/A"), "https://h/A");
        assert_eq!(normalize_scheme("dir/X:y"), "dir/X:y");
    }

    #[test]
    fn locations_resolve_like_a_browser() {
        let base: Uri = "https://h.example:8443/a/b/file.tar?x=1".parse().unwrap();
        let r = |l| resolve_location(&base, l).unwrap();
        assert_eq!(r("http://o/x"), "http://o/x");
        assert_eq!(r("//cdn/x"), "https://cdn/x");
        assert_eq!(r("/x"), "https://h.example:8443/x");
        assert_eq!(r("y.tar"), "https://h.example:8443/a/b/y.tar");
        assert_eq!(r("../y.tar?v=2"), "https://h.example:8443/a/y.tar?v=2");
        assert_eq!(r("/x/./y/../../../z"), "https://h.example:8443/z");
        assert_eq!(r("./"), "https://h.example:8443/a/b/");
        // A relative reference holding "://" stays relative.
        assert_eq!(
            r("/get?u=http://evil/x"),
            "https://h.example:8443/get?u=http://evil/x"
        );
        assert_eq!(
            r("next.tar?from=file:///etc"),
            "https://h.example:8443/a/b/next.tar?from=file:///etc"
        );
        assert_eq!(r("FILE:///etc/passwd"), "file:///etc/passwd");
        assert_eq!(r("ftp://h/x"), "ftp://h/x");
    }
}
