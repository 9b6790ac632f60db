//! HTTP(S) and `file://` access under the download policy: https only unless
//! `--allow-http`, never a redirect from https down to http, proxies from
//! `--proxy` or the environment (curl's variables, SOCKS5h for Tor), the
//! system CA store plus `--ca-file`, timeouts and retries for transient
//! failures only.

use crate::exit::{code_of, fail, Code, ResultExt};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use ureq::http::Uri;

/// Redirects followed before giving up (curl's default is 50, browsers 20).
pub const MAX_REDIRECTS: usize = 10;

/// Transport settings.
#[derive(Clone, Debug)]
pub struct TransportOptions {
    pub allow_http: bool,
    /// Explicit proxy for every request; otherwise curl's environment
    /// variables (see [`EnvProxies`]).
    pub proxy: Option<String>,
    /// Extra trusted CA certificates (PEM), added to the system store.
    pub ca_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// Longest wait for any single read (a stalled server).
    pub read_timeout: Duration,
    /// Longest a whole transfer may take.
    pub deadline: Duration,
    /// Further attempts after a transient failure.
    pub retries: u32,
    /// Largest body accepted, announced or streamed.
    pub max_size: u64,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            allow_http: false,
            proxy: None,
            ca_file: None,
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            deadline: Duration::from_secs(6 * 3600),
            retries: 2,
            max_size: 8 << 30,
        }
    }
}

/// An open byte source and what it announced about its size.
pub struct Source {
    pub reader: Box<dyn Read + Send + Sync>,
    pub len: Option<u64>,
    /// Where the bytes come from after redirects.
    pub url: String,
}

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

/// HTTP(S) and file:// access with the configured policy.
pub struct Transport {
    opts: TransportOptions,
    direct: ureq::Agent,
    /// Agents through the proxy for https and for http requests, with the
    /// proxy as errors name it (credentials removed).
    via_https: Option<(ureq::Agent, String)>,
    via_http: Option<(ureq::Agent, String)>,
    /// Hosts that bypass environment proxies (never an explicit --proxy).
    no_proxy: EnvProxies,
}

impl Transport {
    pub fn new(opts: TransportOptions) -> anyhow::Result<Transport> {
        Self::with_env(opts, EnvProxies::from_env())
    }

    /// A transport whose proxies come from `env` unless `opts.proxy` is set.
    pub fn with_env(opts: TransportOptions, env: EnvProxies) -> anyhow::Result<Transport> {
        use ureq::tls::{RootCerts, TlsConfig};
        let roots = match &opts.ca_file {
            None => RootCerts::PlatformVerifier,
            Some(ca) => RootCerts::Specific(Arc::new(load_roots(ca)?)),
        };
        let tls = TlsConfig::builder().root_certs(roots).build();
        let agent = |proxy: Option<&str>, what: &str| -> anyhow::Result<ureq::Agent> {
            let proxy = proxy
                .map(|p| {
                    ureq::Proxy::new(p).map_err(|e| {
                        fail(Code::Usage, format!("{what} {}: {e}", redact_userinfo(p)))
                    })
                })
                .transpose()?;
            let config = ureq::Agent::config_builder()
                // Scheme policy and redirects are ours (see `Transport::open`).
                .https_only(false)
                .max_redirects(0)
                .max_redirects_will_error(false)
                .http_status_as_error(true)
                .proxy(proxy)
                .tls_config(tls.clone())
                .timeout_connect(Some(opts.connect_timeout))
                .timeout_per_read(Some(opts.read_timeout))
                .timeout_global(Some(opts.deadline))
                .user_agent(concat!("build-verify/", env!("CARGO_PKG_VERSION")))
                .build();
            Ok(config.into())
        };
        let named = |p: &str, what: &str| -> anyhow::Result<(ureq::Agent, String)> {
            Ok((
                agent(Some(p), what)?,
                format!("proxy {}", redact_userinfo(p)),
            ))
        };
        let (via_https, via_http, no_proxy) = match &opts.proxy {
            Some(p) => {
                let a = named(p, "--proxy")?;
                (Some(a.clone()), Some(a), EnvProxies::default())
            }
            None => (
                env.https
                    .as_deref()
                    .map(|p| named(p, "https_proxy"))
                    .transpose()?,
                env.http
                    .as_deref()
                    .map(|p| named(p, "http_proxy"))
                    .transpose()?,
                env,
            ),
        };
        Ok(Transport {
            direct: agent(None, "")?,
            via_https,
            via_http,
            no_proxy,
            opts,
        })
    }

    pub fn options(&self) -> &TransportOptions {
        &self.opts
    }

    /// The agent for `uri`, and the proxy it goes through, if any.
    fn agent_for(&self, uri: &Uri) -> (&ureq::Agent, Option<&str>) {
        let via = match uri.scheme_str() {
            Some("https") => self.via_https.as_ref(),
            _ => self.via_http.as_ref(),
        };
        match via {
            Some((a, name)) if !self.no_proxy.bypass(uri.host().unwrap_or_default()) => {
                (a, Some(name))
            }
            _ => (&self.direct, None),
        }
    }

    /// Open `url`: https, http when allowed, or file:// (schemes in any
    /// case, as curl). Redirects are followed here so that every hop
    /// passes the scheme policy: a hop from https to http is a downgrade
    /// and fails verification (exit 1) even with --allow-http, and a hop to
    /// any other scheme (file://, ftp://) fails too.
    pub fn open(&self, url: &str) -> anyhow::Result<Source> {
        let url = &*normalize_scheme(url);
        if let Some(path) = file_url_path(url)? {
            let (f, len) = open_local(&path, url)?;
            return Ok(Source {
                reader: Box::new(f),
                len: Some(len),
                url: url.to_string(),
            });
        }
        if !(url.starts_with("https://") || self.opts.allow_http && url.starts_with("http://")) {
            let why = if url.starts_with("http://") {
                "plain http is refused without --allow-http"
            } else {
                "only https://, http:// (with --allow-http) and file:// URLs are supported"
            };
            return Err(fail(Code::Usage, format!("{url}: {why}")));
        }
        let mut current = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let uri: Uri = current
                .parse()
                .with_code(Code::Usage, || format!("{current}: not a valid URL"))?;
            let (agent, proxy) = self.agent_for(&uri);
            let resp = agent.get(&current).call().map_err(|e| {
                let e = explain_tls(anyhow::Error::new(e), &uri, self.opts.ca_file.is_some());
                let via = proxy.map(|p| format!(" through {p}")).unwrap_or_default();
                e.context(crate::exit::Failure::new(
                    Code::Io,
                    format!("GET {current}{via}"),
                ))
            })?;
            if !resp.status().is_redirection() {
                let len = resp.body().content_length();
                let reader = resp.into_body().into_with_config().reader();
                return Ok(Source {
                    reader: Box::new(SyncReader(std::sync::Mutex::new(reader))),
                    len,
                    url: current,
                });
            }
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    fail(
                        Code::Io,
                        format!("{current}: {} without a Location", resp.status()),
                    )
                })?;
            let next = resolve_location(&uri, location).ok_or_else(|| {
                fail(
                    Code::Io,
                    format!("{current}: unusable redirect to {location:?}"),
                )
            })?;
            if !(next.starts_with("https://") || next.starts_with("http://")) {
                return Err(fail(
                    Code::Failed,
                    format!("{current}: redirect to {next} refused: only http(s) redirects are followed"),
                ));
            }
            if uri.scheme_str() == Some("https") && !next.starts_with("https://") {
                return Err(fail(
                    Code::Failed,
                    format!("{current}: redirect to {next} refused: only https may follow https"),
                ));
            }
            current = next;
        }
        Err(fail(
            Code::Io,
            format!("{url}: more than {MAX_REDIRECTS} redirects"),
        ))
    }

    /// A small resource (a signature or hash list) as bytes: a URL or a
    /// local path; more than `limit` bytes fails verification. `note`
    /// hears about retries.
    pub fn get_small(
        &self,
        what: &str,
        limit: u64,
        note: &dyn Fn(&str),
    ) -> anyhow::Result<Vec<u8>> {
        if what.contains("://") {
            retrying(self.opts.retries, note, || {
                let src = self.open(what)?;
                crate::fsutil::read_bounded(src.reader, limit, what, Code::Failed)
            })
        } else {
            // Not there is "no signature" (exit 3, as a 404); a FIFO or a
            // device given as SIG is refused, never read.
            let path = Path::new(what);
            if let Err(e) = std::fs::metadata(path) {
                return Err(e).with_code(Code::Io, || format!("opening {what}"));
            }
            crate::fsutil::read_regular(path, "signature", limit, Code::Failed)
        }
    }
}

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
fn file_url_path(url: &str) -> anyhow::Result<Option<std::path::PathBuf>> {
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

/// Open the file of a file:// URL: not there is I/O (a mirror may lack
/// it: [`is_not_found`]); a FIFO or device is refused, never read (opened
/// without blocking, checked on the descriptor).
fn open_local(path: &Path, url: &str) -> anyhow::Result<(File, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .with_code(Code::Io, || format!("opening {url}"))?;
    let meta = f
        .metadata()
        .with_code(Code::Io, || format!("examining {url}"))?;
    if !meta.is_file() {
        return Err(fail(
            Code::Usage,
            format!(
                "{url}: not a regular file ({}): refused",
                crate::fsutil::kind_of(&meta)
            ),
        ));
    }
    Ok((f, meta.len()))
}

/// `proxy` without the user name and password it may carry.
fn redact_userinfo(proxy: &str) -> String {
    let (scheme, rest) = proxy.split_once("://").unwrap_or(("", proxy));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match scheme {
        "" => format!("{host}{tail}"),
        s => format!("{s}://{host}{tail}"),
    }
}

/// A certificate failure said the way a curl user can act on it: what
/// rustls refused, and what to do about it. `ca_file`: whether --ca-file
/// was given.
fn explain_tls(err: anyhow::Error, uri: &Uri, ca_file: bool) -> anyhow::Error {
    use rustls::CertificateError as C;
    fn in_io(io: &io::Error) -> Option<&rustls::Error> {
        io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
    }
    let found = err.chain().find_map(|c| {
        c.downcast_ref::<rustls::Error>()
            .or_else(|| c.downcast_ref::<io::Error>().and_then(in_io))
            .or_else(|| match c.downcast_ref::<ureq::Error>() {
                Some(ureq::Error::Rustls(e)) => Some(e),
                Some(ureq::Error::Io(io)) => in_io(io),
                _ => None,
            })
    });
    let Some(rustls::Error::InvalidCertificate(cert)) = found else {
        return err;
    };
    let host = uri.host().unwrap_or_default();
    let why = match cert {
        C::UnknownIssuer => format!(
            "the certificate of {host} is not issued by a CA of the system store{} \
             (a self-signed server certificate is trusted when --ca-file holds it, \
             unless it is a CA certificate)",
            if ca_file { " or of --ca-file" } else { "" }
        ),
        C::NotValidForName | C::NotValidForNameContext { .. } => format!(
            "the certificate does not name {host} in its subjectAltName \
             (a subject CN alone is not used)"
        ),
        C::Expired | C::ExpiredContext { .. } => "the certificate has expired".to_string(),
        C::NotValidYet | C::NotValidYetContext { .. } => {
            "the certificate is not valid yet".to_string()
        }
        C::Other(o) if format!("{o:?}").contains("CaUsedAsEndEntity") => format!(
            "the certificate of {host} is a CA certificate (basicConstraints CA:TRUE, \
             as `openssl req -x509` makes by default) used as a server certificate: \
             rustls refuses that{}, where curl with OpenSSL accepts it; make the server \
             certificate with -addext basicConstraints=critical,CA:FALSE and a \
             subjectAltName for {host}, or sign it with a CA given to --ca-file",
            if ca_file {
                " even when --ca-file holds it"
            } else {
                ""
            }
        ),
        other => format!("certificate refused: {other:?}"),
    };
    err.context(why)
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

/// Is a failure worth retrying now? Timeouts, dropped or cut-off
/// connections and 408/429/500/502/503/504 are (curl's `--retry` list); a
/// 404, a TLS or certificate failure, a refused connection, a missing file,
/// a full disk, and every verification failure are not.
pub fn is_transient(err: &anyhow::Error) -> bool {
    if code_of(err) != Code::Io {
        return false;
    }
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<ureq::Error>() {
            return match e {
                ureq::Error::StatusCode(s) => matches!(s, 408 | 429 | 500 | 502 | 503 | 504),
                ureq::Error::Io(io) => io_transient(io),
                ureq::Error::Timeout(_) | ureq::Error::BodyStalled | ureq::Error::Protocol(_) => {
                    true
                }
                _ => false,
            };
        }
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return io_transient(io);
        }
    }
    false
}

/// Does the failure say the resource is not there (HTTP 404 or 410, a
/// missing local file)? For a signature that is "nothing to verify with".
pub fn is_not_found(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<ureq::Error>()
            .is_some_and(|e| matches!(e, ureq::Error::StatusCode(404 | 410)))
            || cause
                .downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::NotFound)
    })
}

fn io_transient(e: &io::Error) -> bool {
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<io::Error>()) {
        return io_transient(inner);
    }
    if let Some(f) = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<super::pipeline::Fault>())
    {
        return f.is_transient();
    }
    !matches!(
        e.kind(),
        io::ErrorKind::NotFound
            | io::ErrorKind::PermissionDenied
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::StorageFull
            | io::ErrorKind::ReadOnlyFilesystem
    )
}

/// Run `attempt` again after transient failures, with backoff; `note`
/// hears about each retry.
pub fn retrying<T>(
    retries: u32,
    note: &dyn Fn(&str),
    mut attempt: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut n = 0;
    loop {
        match attempt() {
            Err(e) if n < retries && is_transient(&e) => {
                n += 1;
                note(&format!("{e:#}; retrying ({n}/{retries})"));
                std::thread::sleep(Duration::from_millis(250 << n.min(6)));
            }
            other => return other,
        }
    }
}

/// ureq's body reader is Send but not Sync; sequoia's verifier wants both.
struct SyncReader<R>(std::sync::Mutex<R>);

impl<R: Read> Read for SyncReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.get_mut() {
            Ok(r) => r.read(buf),
            Err(_) => Err(io::Error::other("poisoned reader")),
        }
    }
}

/// Where distributions keep their CA bundle; `SSL_CERT_FILE` wins.
const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// `--ca-file` plus the system bundle: rustls takes one root store, so the
/// platform verifier cannot be combined with extra roots.
fn load_roots(ca: &Path) -> anyhow::Result<Vec<ureq::tls::Certificate<'static>>> {
    // A FIFO or device is refused, never read; a CA bundle is small.
    let pem = crate::fsutil::read_regular(ca, "--ca-file", 16 << 20, Code::Usage).map_err(|e| {
        match code_of(&e) {
            Code::Io => e.context(crate::exit::Failure::new(
                Code::Usage,
                format!("--ca-file {}", ca.display()),
            )),
            _ => e,
        }
    })?;
    let mut roots = pem_certificates(&pem);
    if roots.is_empty() {
        return Err(fail(
            Code::Usage,
            format!("--ca-file {}: no PEM certificate", ca.display()),
        ));
    }
    let system = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
        .find_map(|p| std::fs::read(p).ok());
    if let Some(pem) = system {
        roots.extend(pem_certificates(&pem));
    }
    Ok(roots)
}

fn pem_certificates(pem: &[u8]) -> Vec<ureq::tls::Certificate<'static>> {
    ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn schemes_in_any_case_and_redacted_proxies() {
        assert_eq!(normalize_scheme("HTTPS://H/X.tar"), "https://H/X.tar");
        assert_eq!(normalize_scheme("File:///x"), "file:///x");
        assert_eq!(normalize_scheme("https://h/A"), "https://h/A");
        assert_eq!(normalize_scheme("dir/X:y"), "dir/X:y");
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

    #[test]
    fn transient_failures_are_the_retryable_ones() {
        let status = |s| anyhow::Error::new(ureq::Error::StatusCode(s)).context("GET");
        let io = |s: u16| crate::exit::ResultExt::code(Err::<(), _>(status(s)), Code::Io, "x");
        assert!(is_transient(&io(503).unwrap_err()));
        assert!(is_transient(&io(429).unwrap_err()));
        assert!(!is_transient(&io(404).unwrap_err()));
        assert!(!is_transient(&fail(Code::Failed, "bad signature")));
        let refused = anyhow::Error::new(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert!(!is_transient(&refused));
        let reset = anyhow::Error::new(io::Error::from(io::ErrorKind::ConnectionReset));
        assert!(is_transient(&reset));
    }
}
