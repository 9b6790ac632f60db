//! HTTP(S) and `file://` access under the download policy: https only unless
//! `--allow-http`, never a redirect from https down to http, proxies from
//! `--proxy` or the environment (curl's variables, SOCKS5h for Tor), the
//! system CA store plus `--ca-file`, timeouts and retries for transient
//! failures only.
//!
//! The transport of every tool that speaks HTTP (fetch-verified's
//! downloads; a log's tiles, witnesses and a package repository read
//! through the same policy): plain GET of a stream or of a small bounded
//! body. What is done with the bytes (verifying them as they stream,
//! storing them under an untrusted name) is the caller's.
//!
//! - [`url`]: schemes, `file://` paths, Location headers;
//! - [`proxy`]: curl's proxy variables;
//! - [`tls`]: roots and certificate failures explained;
//! - [`retry`]: transient failures, backoff, a transfer's faults;
//! - [`serve`]: one request read by a program started for it (CGI,
//!   socket activation, qrexec), and its answer.

pub mod proxy;
pub mod retry;
pub mod serve;
pub mod tls;
pub mod url;

pub use proxy::EnvProxies;
pub use retry::{is_not_found, is_transient, retrying, Fault};

use crate::exit::{fail, Code, ResultExt};
use proxy::redact_userinfo;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tls::{certificate_problem, load_roots};
use ureq::http::Uri;
use url::{file_url_path, normalize_scheme, resolve_location};

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

/// What a server answered to a POST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
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

    /// A request that got no answer: a server whose identity failed
    /// verification is 1, said in curl's words and never retried (a retry
    /// gets the same certificate); anything else is 4.
    fn request_error(
        &self,
        e: ureq::Error,
        method: &str,
        url: &str,
        uri: &Uri,
        proxy: Option<&str>,
    ) -> anyhow::Error {
        let e = anyhow::Error::new(e);
        let via = proxy.map(|p| format!(" through {p}")).unwrap_or_default();
        if let Some(why) = certificate_problem(&e, uri, self.opts.ca_file.is_some()) {
            return fail(Code::Failed, format!("{method} {url}{via}: {why}"));
        }
        e.context(crate::exit::Failure::new(
            Code::Io,
            format!("{method} {url}{via}"),
        ))
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
            let resp = agent
                .get(&current)
                .call()
                .map_err(|e| self.request_error(e, "GET", &current, &uri, proxy))?;
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

    /// POST `body` to `url` (https, or http when allowed; never a file)
    /// and read the answer, at most `limit` bytes, whatever its status:
    /// protocols that answer with status codes (tlog-witness's 409, 422)
    /// judge them. Redirects are not followed (a 3xx comes back as it is),
    /// and nothing is retried: the caller knows whether a request may be
    /// sent twice.
    pub fn post(
        &self,
        url: &str,
        content_type: &str,
        body: &[u8],
        limit: u64,
    ) -> anyhow::Result<Answer> {
        let url = &*normalize_scheme(url);
        if !(url.starts_with("https://") || self.opts.allow_http && url.starts_with("http://")) {
            let why = if url.starts_with("http://") {
                "plain http is refused without --allow-http"
            } else {
                "only https:// and http:// (with --allow-http) URLs take a POST"
            };
            return Err(fail(Code::Usage, format!("{url}: {why}")));
        }
        let uri: Uri = url
            .parse()
            .with_code(Code::Usage, || format!("{url}: not a valid URL"))?;
        let (agent, proxy) = self.agent_for(&uri);
        let resp = agent
            .post(url)
            .config()
            .http_status_as_error(false)
            .build()
            .header("Content-Type", content_type)
            .send(body)
            .map_err(|e| self.request_error(e, "POST", url, &uri, proxy))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let reader = resp.into_body().into_with_config().reader();
        let body = crate::fsutil::read_bounded(reader, limit, url, Code::Failed)?;
        Ok(Answer {
            status,
            content_type,
            body,
        })
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

/// Open the file of a file:// URL: not there is I/O (a mirror may lack
/// it: [`is_not_found`]); a FIFO or device is refused, never read (opened
/// without blocking, checked on the descriptor).
fn open_local(path: &Path, url: &str) -> anyhow::Result<(File, u64)> {
    let f = match crate::fsutil::open_regular_io(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
            return Err(fail(Code::Usage, format!("{url}: {e}: refused")))
        }
        Err(e) => return Err(e).with_code(Code::Io, || format!("opening {url}")),
    };
    let len = f
        .metadata()
        .with_code(Code::Io, || format!("examining {url}"))?
        .len();
    Ok((f, len))
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
