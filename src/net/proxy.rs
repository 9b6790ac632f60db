//! Proxies as curl picks them: `--proxy`, else the environment
//! (`https_proxy`, `http_proxy`, `all_proxy`, `no_proxy`).

/// The proxies curl would use, read once from the environment.
/// `https_proxy`/`HTTPS_PROXY` for https, `http_proxy` (lower case only, as
/// curl: the upper-case name is settable by CGI clients) for http, then
/// `all_proxy`/`ALL_PROXY`; hosts matching `no_proxy`/`NO_PROXY` go direct.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvProxies {
    pub https: Option<String>,
    pub http: Option<String>,
    pub no_proxy: Vec<String>,
}

impl EnvProxies {
    pub fn from_env() -> EnvProxies {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> EnvProxies {
        let first = |names: &[&str]| names.iter().find_map(|n| get(n));
        EnvProxies {
            https: first(&["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]),
            http: first(&["http_proxy", "all_proxy", "ALL_PROXY"]),
            no_proxy: first(&["no_proxy", "NO_PROXY"])
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_ascii_lowercase())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Does `host` bypass the proxy? curl's rules: `*` matches everything,
    /// an entry matches the host itself and its subdomains (a leading dot
    /// is optional), IP addresses match exactly.
    pub fn bypass(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.no_proxy.iter().any(|entry| {
            let e = entry.trim_start_matches('.');
            entry == "*" || host == e || host.ends_with(&format!(".{e}"))
        })
    }
}

/// `proxy` without the user name and password it may carry.
pub(crate) fn redact_userinfo(proxy: &str) -> String {
    let (scheme, rest) = proxy.split_once("://").unwrap_or(("", proxy));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match scheme {
        "" => format!("{host}{tail}"),
        s => format!("{s}://{host}{tail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_proxies() {
        assert_eq!(
            redact_userinfo("http://user:secret@proxy:3128"),
            "http://proxy:3128"
        );
        assert_eq!(
            redact_userinfo("socks5h://127.0.0.1:9050"),
            "socks5h://127.0.0.1:9050"
        );
    }

    #[test]
    fn proxies_follow_curl_precedence_and_no_proxy() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            EnvProxies::from_lookup(move |k| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            })
        };
        let e = env(&[
            ("ALL_PROXY", "socks5h://127.0.0.1:9050"),
            ("HTTP_PROXY", "http://evil:1"),
            ("https_proxy", "http://p:3128"),
            ("NO_PROXY", "localhost, .internal.example,10.0.0.1"),
        ]);
        assert_eq!(e.https.as_deref(), Some("http://p:3128"));
        // Upper-case HTTP_PROXY is ignored, as curl does.
        assert_eq!(e.http.as_deref(), Some("socks5h://127.0.0.1:9050"));
        assert!(e.bypass("localhost"));
        assert!(e.bypass("a.internal.example"));
        assert!(e.bypass("internal.example"));
        assert!(e.bypass("10.0.0.1"));
        assert!(!e.bypass("notinternal.example"));
        assert!(!e.bypass("example.org"));
        assert!(env(&[("no_proxy", "*")]).bypass("anything"));
    }
}
