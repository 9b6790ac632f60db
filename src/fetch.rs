//! Download into an untrusted temporary file, verify while streaming, and
//! only then rename to the final name (DESIGN.md §1.1).
//!
//! The bytes pass once through: transport → size cap → tee into the
//! temporary file → (decompressor) → digests / signature verifier. Errors are
//! classified by where they arose: the network or the disk (exit 4), a
//! decoder refusing the stream or a size cap (exit 1), the verifier (its own).

use crate::digest::{digest_eq, Algo, Hasher, HashingReader};
use crate::exit::{fail, Code, ResultExt};
use crate::fsutil;
use crate::openpgp::{Fingerprint, Verdict, Verifier};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Transport settings.
#[derive(Clone, Debug)]
pub struct TransportOptions {
    pub allow_http: bool,
    /// Explicit proxy; otherwise ALL_PROXY/HTTPS_PROXY/HTTP_PROXY/NO_PROXY.
    pub proxy: Option<String>,
    /// Extra trusted CA certificates (PEM), added to the system store.
    pub ca_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// Longest wait for any single read (a stalled server).
    pub read_timeout: Duration,
    /// Longest a whole transfer may take.
    pub deadline: Duration,
    /// Further attempts after a transient (network) failure.
    pub retries: u32,
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

/// Where an I/O error came from: it decides the exit code.
#[derive(Debug)]
enum Fault {
    /// The network or the source file: retryable, exit 4.
    Transport(io::Error),
    /// Writing the temporary file: exit 4.
    Disk(io::Error),
    /// More bytes than allowed: exit 1.
    TooLarge(u64),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Transport(e) => write!(f, "transfer failed: {e}"),
            Fault::Disk(e) => write!(f, "writing the download failed: {e}"),
            Fault::TooLarge(max) => write!(f, "larger than the {max}-byte limit (--max-size)"),
        }
    }
}

impl std::error::Error for Fault {}

fn fault(f: Fault) -> io::Error {
    io::Error::other(f)
}

/// Map an error from the streaming pipeline to the exit-code contract.
fn classify(err: anyhow::Error) -> anyhow::Error {
    if crate::exit::code_of(&err) != Code::Io
        || err
            .chain()
            .any(|c| c.downcast_ref::<crate::exit::Failure>().is_some())
    {
        return err;
    }
    for cause in err.chain() {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            match io.get_ref().and_then(|e| e.downcast_ref::<Fault>()) {
                Some(Fault::TooLarge(_)) => {
                    return err.context(crate::exit::Failure {
                        code: Code::Failed,
                        message: "size limit exceeded".into(),
                    })
                }
                Some(_) => return err,
                None => {}
            }
        }
    }
    // An I/O error we did not raise came from a decoder: a corrupt or
    // truncated compressed stream is a verification failure, not "retry".
    err.context(crate::exit::Failure {
        code: Code::Failed,
        message: "the compressed stream is corrupt or truncated".into(),
    })
}

/// An open byte source and what it announced about its size.
pub struct Source {
    pub reader: Box<dyn Read + Send + Sync>,
    pub len: Option<u64>,
}

/// HTTP(S) and file:// access with the configured policy.
pub struct Transport {
    agent: ureq::Agent,
    opts: TransportOptions,
}

impl Transport {
    pub fn new(opts: TransportOptions) -> anyhow::Result<Transport> {
        use ureq::tls::{RootCerts, TlsConfig};
        let proxy = match &opts.proxy {
            Some(p) => Some(
                ureq::Proxy::new(p).map_err(|e| fail(Code::Usage, format!("--proxy {p}: {e}")))?,
            ),
            None => ureq::Proxy::try_from_env(),
        };
        let roots = match &opts.ca_file {
            None => RootCerts::PlatformVerifier,
            Some(ca) => RootCerts::Specific(std::sync::Arc::new(load_roots(ca)?)),
        };
        let config = ureq::Agent::config_builder()
            .https_only(!opts.allow_http)
            .http_status_as_error(true)
            .max_redirects(10)
            .proxy(proxy)
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .timeout_connect(Some(opts.connect_timeout))
            .timeout_per_read(Some(opts.read_timeout))
            .timeout_global(Some(opts.deadline))
            .user_agent(concat!("build-verify/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Transport {
            agent: config.into(),
            opts,
        })
    }

    pub fn options(&self) -> &TransportOptions {
        &self.opts
    }

    /// Open `url` (https, http when allowed, or file://).
    pub fn open(&self, url: &str) -> anyhow::Result<Source> {
        if let Some(path) = url.strip_prefix("file://") {
            let f = File::open(path).with_code(Code::Io, || format!("opening {url}"))?;
            let len = f.metadata().ok().map(|m| m.len());
            return Ok(Source {
                reader: Box::new(f),
                len,
            });
        }
        let scheme_ok =
            url.starts_with("https://") || (self.opts.allow_http && url.starts_with("http://"));
        if !scheme_ok {
            let why = if url.starts_with("http://") {
                "plain http is refused without --allow-http"
            } else {
                "only https://, http:// (with --allow-http) and file:// URLs are supported"
            };
            return Err(fail(Code::Usage, format!("{url}: {why}")));
        }
        let resp = self.agent.get(url).call().map_err(|e| {
            // A redirect from https to plain http is a downgrade attack, not
            // a network hiccup.
            let code = match e {
                ureq::Error::RequireHttpsOnly(_) => Code::Failed,
                _ => Code::Io,
            };
            fail(code, format!("{url}: {e}"))
        })?;
        let len = resp.body().content_length();
        let reader = resp.into_body().into_with_config().reader();
        Ok(Source {
            reader: Box::new(SyncReader(std::sync::Mutex::new(reader))),
            len,
        })
    }

    /// A small resource (a signature or hash list) as bytes: a URL or a
    /// local path.
    pub fn get_small(&self, what: &str, limit: u64) -> anyhow::Result<Vec<u8>> {
        let mut data = Vec::new();
        if what.contains("://") {
            let src = self.open_retrying(what)?;
            src.reader
                .take(limit + 1)
                .read_to_end(&mut data)
                .with_code(Code::Io, || format!("reading {what}"))?;
        } else {
            File::open(what)
                .and_then(|f| f.take(limit + 1).read_to_end(&mut data))
                .with_code(Code::Io, || format!("reading {what}"))?;
        }
        if data.len() as u64 > limit {
            return Err(fail(
                Code::Failed,
                format!("{what}: larger than {limit} bytes"),
            ));
        }
        Ok(data)
    }

    /// [`Transport::open`] with retries on transient failures.
    pub fn open_retrying(&self, url: &str) -> anyhow::Result<Source> {
        retrying(self.opts.retries, || self.open(url))
    }
}

/// Run `attempt` again after transient (exit-4) failures, with backoff.
pub fn retrying<T>(
    retries: u32,
    mut attempt: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut n = 0;
    loop {
        match attempt() {
            Err(e) if crate::exit::code_of(&e) == Code::Io && n < retries => {
                n += 1;
                eprintln!("fetch-verified: {e:#}; retrying ({n}/{retries})");
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

fn load_roots(ca: &Path) -> anyhow::Result<Vec<ureq::tls::Certificate<'static>>> {
    let mut roots = Vec::new();
    let system = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/ssl/certs/ca-certificates.crt"));
    let mut sources = vec![(ca.to_path_buf(), true)];
    sources.push((system, false));
    for (path, required) in sources {
        let pem = match std::fs::read(&path) {
            Ok(p) => p,
            Err(_) if !required => continue,
            Err(e) => {
                return Err(fail(
                    Code::Usage,
                    format!("--ca-file {}: {e}", path.display()),
                ))
            }
        };
        for item in ureq::tls::parse_pem(&pem) {
            if let Ok(ureq::tls::PemItem::Certificate(c)) = item {
                roots.push(c);
            }
        }
    }
    if roots.is_empty() {
        return Err(fail(
            Code::Usage,
            format!("--ca-file {}: no certificate", ca.display()),
        ));
    }
    Ok(roots)
}

/// The compressions `--uncompress` knows, by file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Xz,
    Bzip2,
}

impl Compression {
    pub fn from_name(name: &str) -> Option<Compression> {
        let n = name.to_ascii_lowercase();
        if n.ends_with(".gz") || n.ends_with(".tgz") {
            Some(Compression::Gzip)
        } else if n.ends_with(".xz") || n.ends_with(".txz") {
            Some(Compression::Xz)
        } else if n.ends_with(".bz2") || n.ends_with(".tbz2") {
            Some(Compression::Bzip2)
        } else {
            None
        }
    }
}

/// What a download must satisfy. At least one of signature or hashes.
pub struct Checks<'a> {
    /// Detached signature bytes and who may have made it.
    pub signature: Option<(Vec<u8>, &'a Verifier<'a>)>,
    /// Pinned digests.
    pub hashes: Vec<(Algo, Vec<u8>)>,
    /// The signature and hashes cover the decompressed content.
    pub uncompress: Option<Compression>,
    /// Also compute the SHA-256 of the stored bytes (for reports).
    pub want_sha256: bool,
}

/// What was verified.
#[derive(Clone, Debug, Default)]
pub struct Verified {
    pub size: u64,
    pub sha256: Option<String>,
    pub signers: Vec<Fingerprint>,
    pub notes: Vec<String>,
}

/// A reader that keeps its first error: later reads fail too, and the
/// original error (with its fault classification) can be taken back.
struct Sticky<R> {
    inner: R,
    failed: bool,
    error: Option<io::Error>,
}

impl<R: Read> Sticky<R> {
    fn new(inner: R) -> Self {
        Sticky {
            inner,
            failed: false,
            error: None,
        }
    }

    fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }

    fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for Sticky<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other("an earlier read failed"));
        }
        match self.inner.read(buf) {
            Ok(n) => Ok(n),
            Err(e) => {
                // Keep the original (it carries the Fault); hand out a copy.
                self.failed = true;
                let copy = io::Error::new(e.kind(), e.to_string());
                self.error = Some(e);
                Err(copy)
            }
        }
    }
}

/// Multi-stream bzip2 that, unlike bzip2's own MultiBzDecoder, refuses
/// bytes after the last stream instead of ignoring them.
struct StrictMultiBz<R: io::BufRead> {
    dec: Option<bzip2::bufread::BzDecoder<R>>,
}

impl<R: io::BufRead> StrictMultiBz<R> {
    fn new(r: R) -> Self {
        StrictMultiBz {
            dec: Some(bzip2::bufread::BzDecoder::new(r)),
        }
    }
}

impl<R: io::BufRead> Read for StrictMultiBz<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(dec) = self.dec.as_mut() else {
                return Ok(0);
            };
            let n = dec.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // One stream ended: another must follow, or nothing at all.
            let Some(mut inner) = self.dec.take().map(|d| d.into_inner()) else {
                return Ok(0);
            };
            let rest = inner.fill_buf()?;
            if rest.is_empty() {
                return Ok(0);
            }
            if !rest.starts_with(b"BZh") {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "data after the bzip2 stream",
                ));
            }
            self.dec = Some(bzip2::bufread::BzDecoder::new(inner));
        }
    }
}

/// Stored bytes: cap, copy into the temporary file, count, optional hash.
struct Tee<'a, R> {
    inner: R,
    /// The announced length: a body that ends short of it was cut off.
    expected: Option<u64>,
    out: Option<&'a mut File>,
    hasher: Option<Hasher>,
    seen: u64,
    max: u64,
    progress: Option<&'a indicatif::ProgressBar>,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self
            .inner
            .read(buf)
            .map_err(|e| fault(Fault::Transport(e)))?;
        if n == 0 && !buf.is_empty() {
            if let Some(len) = self.expected.filter(|len| self.seen < *len) {
                let cut = io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("connection closed after {} of {len} bytes", self.seen),
                );
                return Err(fault(Fault::Transport(cut)));
            }
        }
        let chunk = buf.get(..n).unwrap_or_default();
        self.seen += n as u64;
        if self.seen > self.max {
            return Err(fault(Fault::TooLarge(self.max)));
        }
        if let Some(out) = self.out.as_deref_mut() {
            out.write_all(chunk).map_err(|e| fault(Fault::Disk(e)))?;
        }
        if let Some(h) = &mut self.hasher {
            h.update(chunk);
        }
        if let Some(p) = self.progress {
            p.inc(n as u64);
        }
        Ok(n)
    }
}

/// Verify everything `reader` yields against `checks`, copying the stored
/// bytes into `out` when given. One pass; memory stays flat.
pub fn verify_stream(
    reader: impl Read + Send + Sync,
    expected_len: Option<u64>,
    checks: &Checks,
    out: Option<&mut File>,
    max: u64,
    progress: Option<&indicatif::ProgressBar>,
) -> anyhow::Result<Verified> {
    let mut tee = Tee {
        inner: reader,
        expected: expected_len,
        out,
        hasher: checks.want_sha256.then(|| Algo::Sha256.hasher()),
        seen: 0,
        max,
        progress,
    };
    let algos: Vec<Algo> = checks.hashes.iter().map(|(a, _)| *a).collect();
    let (digests, verdict) = {
        let content: Box<dyn Read + Send + Sync + '_> = match checks.uncompress {
            None => Box::new(&mut tee),
            Some(Compression::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(&mut tee)),
            Some(Compression::Bzip2) => Box::new(StrictMultiBz::new(io::BufReader::new(&mut tee))),
            // 1 GiB of decoder memory at most: bounded, far above real use.
            Some(Compression::Xz) => {
                Box::new(lzma_rust2::XzReader::new_mem_limit(&mut tee, true, 1 << 20))
            }
        };
        // Sequoia's verifier swallows an error from the data reader and
        // judges the prefix it got; remember the first error and let it win.
        let mut hashing = Sticky::new(HashingReader::new(content, &algos));
        let verdict = match &checks.signature {
            Some((sig, verifier)) => {
                let r = verifier.verify_detached_reader(sig, &mut hashing);
                if let Some(e) = hashing.take_error() {
                    return Err(classify(e.into()));
                }
                Some(r.map_err(classify)?)
            }
            None => {
                io::copy(&mut hashing, &mut io::sink()).map_err(|e| classify(e.into()))?;
                None
            }
        };
        // The content must end cleanly here: nothing unverified after it.
        let mut probe = [0u8; 1];
        match hashing.read(&mut probe) {
            Ok(0) => {}
            Ok(_) => return Err(fail(Code::Failed, "data beyond what was verified")),
            Err(e) => return Err(classify(hashing.take_error().unwrap_or(e).into())),
        }
        let hashing = hashing.into_inner();
        (hashing.finalize(), verdict)
    };
    // Whatever follows the end of a compressed stream is not covered by the
    // signature: refuse it rather than store it.
    if checks.uncompress.is_some() {
        let mut probe = [0u8; 1];
        let n = tee.read(&mut probe).map_err(|e| classify(e.into()))?;
        if n > 0 {
            return Err(fail(
                Code::Failed,
                "data after the end of the compressed stream",
            ));
        }
    }
    for (algo, want) in &checks.hashes {
        let got = digests.get(*algo).unwrap_or_default();
        if !digest_eq(got, want) {
            return Err(fail(
                Code::Failed,
                format!(
                    "{algo} mismatch: expected {}, got {}",
                    hex::encode(want),
                    hex::encode(got)
                ),
            ));
        }
    }
    let Verdict { signers, notes } = verdict.unwrap_or_default();
    Ok(Verified {
        size: tee.seen,
        sha256: tee.hasher.map(|h| hex::encode(h.finalize())),
        signers,
        notes,
    })
}

/// The file name a URL saves to: after a `#/` fragment, else the last path
/// segment.
pub fn default_name(url: &str) -> anyhow::Result<String> {
    let name = match url.split_once("#/") {
        Some((_, frag)) => frag.to_string(),
        None => {
            let path = url.split(['?', '#']).next().unwrap_or(url);
            path.rsplit('/').next().unwrap_or_default().to_string()
        }
    };
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(fail(
            Code::Usage,
            format!("{url}: no file name in the URL; give -o PATH"),
        ));
    }
    Ok(name)
}

/// The URL without a `#/name` fragment.
pub fn request_url(url: &str) -> &str {
    url.split_once('#').map_or(url, |(u, _)| u)
}

/// Where to try, in order: each mirror's BASE/NAME, then the URL itself.
pub fn candidates(url: &str, mirrors: &[String]) -> Vec<String> {
    let real = request_url(url);
    let name = real.rsplit('/').next().unwrap_or_default();
    let mut out: Vec<String> = mirrors
        .iter()
        .filter(|m| !m.is_empty() && !name.is_empty())
        .map(|m| format!("{}/{name}", m.trim_end_matches('/')))
        .collect();
    out.push(real.to_string());
    out
}

/// How the file under its final name came to be.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub verified: Verified,
    /// The URL the bytes came from; None when the present file was re-verified.
    pub source: Option<String>,
    /// A present file was re-verified and kept.
    pub reused: bool,
}

/// The whole job: re-verify a present `dest`, or download it from the
/// candidates into an untrusted temporary name, verify, fsync, rename.
/// On failure nothing unverified remains under `dest`.
pub fn fetch_verified(
    transport: &Transport,
    url: &str,
    mirrors: &[String],
    dest: &Path,
    checks: &Checks,
    progress: bool,
) -> anyhow::Result<Outcome> {
    for stale in fsutil::remove_stale_untrusted(dest)? {
        eprintln!("fetch-verified: removed stale {}", stale.display());
    }
    let max = transport.options().max_size;
    if dest.exists() {
        let f = File::open(dest).with_code(Code::Io, || format!("opening {}", dest.display()))?;
        match verify_stream(f, None, checks, None, max, None) {
            Ok(verified) => {
                return Ok(Outcome {
                    verified,
                    source: None,
                    reused: true,
                });
            }
            Err(e) if crate::exit::code_of(&e) == Code::Failed => {
                eprintln!(
                    "fetch-verified: {} is present but fails verification ({e:#}); deleting and fetching again",
                    dest.display()
                );
                std::fs::remove_file(dest)
                    .with_code(Code::Io, || format!("removing {}", dest.display()))?;
            }
            Err(e) => return Err(e.context(format!("re-verifying {}", dest.display()))),
        }
    }
    let sources = candidates(url, mirrors);
    let mut last = None;
    for (i, src) in sources.iter().enumerate() {
        let is_last = i + 1 == sources.len();
        let r = retrying(transport.options().retries, || {
            download_once(transport, src, dest, checks, progress)
        });
        match r {
            Ok(verified) => {
                return Ok(Outcome {
                    verified,
                    source: Some(src.clone()),
                    reused: false,
                })
            }
            Err(e) if !is_last => {
                eprintln!("fetch-verified: mirror {src}: {e:#}; trying the next source");
                last = Some(e);
            }
            Err(e) => return Err(e.context(format!("fetching {src}"))),
        }
    }
    Err(last.unwrap_or_else(|| fail(Code::Usage, "nothing to fetch")))
}

fn download_once(
    transport: &Transport,
    url: &str,
    dest: &Path,
    checks: &Checks,
    progress: bool,
) -> anyhow::Result<Verified> {
    let max = transport.options().max_size;
    let src = transport.open(url)?;
    if let Some(len) = src.len {
        if len > max {
            return Err(fail(
                Code::Failed,
                format!("{url}: Content-Length {len} exceeds --max-size {max}"),
            ));
        }
    }
    // Deleted on drop: every early return below removes it.
    let mut tmp = fsutil::untrusted_temp(dest)?;
    let bar = progress.then(|| progress_bar(src.len));
    let verified = verify_stream(
        src.reader,
        src.len,
        checks,
        Some(tmp.as_file_mut()),
        max,
        bar.as_ref(),
    )
    .with_context_url(url)?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if let Some(len) = src.len {
        if verified.size != len {
            return Err(fail(
                Code::Io,
                format!(
                    "{url}: got {} bytes, Content-Length said {len}",
                    verified.size
                ),
            ));
        }
    }
    tmp.as_file()
        .sync_all()
        .with_code(Code::Io, || format!("syncing {}", tmp.path().display()))?;
    tmp.persist(dest)
        .map_err(|e| e.error)
        .with_code(Code::Io, || format!("renaming into {}", dest.display()))?;
    fsutil::sync_dir(fsutil::parent_dir(dest))?;
    Ok(verified)
}

trait UrlContext<T> {
    fn with_context_url(self, url: &str) -> anyhow::Result<T>;
}

impl<T> UrlContext<T> for anyhow::Result<T> {
    fn with_context_url(self, url: &str) -> anyhow::Result<T> {
        self.map_err(|e| e.context(url.to_string()))
    }
}

fn progress_bar(len: Option<u64>) -> indicatif::ProgressBar {
    let bar = match len {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bytes}/{total_bytes} {bar:40} {bytes_per_sec} {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}
