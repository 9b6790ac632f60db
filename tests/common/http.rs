//! Real servers on 127.0.0.1 inside the test process, with the
//! misbehaviours a downloader must survive: an HTTP/1.1 server (plain or
//! TLS with a certificate made at test time), which also answers proxy
//! requests, and a SOCKS5 proxy that records the names it is asked for.
//! Reusable by any integration test: `Server::start()`, `route`, `url`,
//! `serve_dir` for a whole directory (the Makefile tests' distfiles).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server does for one path.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with the body.
    Body(Vec<u8>),
    /// 200 with a file's content, streamed from disk (large files).
    File(PathBuf),
    /// The body with one byte flipped.
    Flipped(Vec<u8>, usize),
    /// Announce the whole length, send only the first N bytes, close.
    Truncated(Vec<u8>, usize),
    /// Send N bytes, then stall for a long time.
    Stall(Vec<u8>, usize),
    /// The whole body in ten pieces, this long apart (a slow mirror).
    Slow(Vec<u8>, Duration),
    /// No Content-Length, never-ending body.
    Endless,
    /// One byte every interval, never stalling long enough for a read
    /// timeout: only a total deadline stops it.
    Drip(Duration),
    /// Claim this Content-Length, send the body as it is.
    Length(Vec<u8>, u64),
    /// 302 to this location (absolute or relative).
    Redirect(String),
    /// This status for the first N requests, then the body.
    FailThen(u16, usize, Vec<u8>),
    /// A bare status.
    Status(u16),
    /// These bytes as the whole response (status line, headers, body),
    /// then close: broken framing, chunked-encoding faults, odd headers.
    Raw(Vec<u8>),
}

/// A certificate authority and a server certificate for 127.0.0.1,
/// localhost and `distfiles.invalid` (a name only a proxy can "resolve"),
/// made with the openssl command.
pub struct TestCa {
    pub dir: tempfile::TempDir,
    pub ca_pem: PathBuf,
    cert_pem: PathBuf,
    key_pem: PathBuf,
}

impl TestCa {
    pub fn new() -> TestCa {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        let d = dir.path();
        openssl_req(
            d,
            true,
            "ca.key",
            "ca.pem",
            &["-days", "2", "-subj", "/CN=build-verify test CA"],
        );
        openssl_req(d, false, "srv.key", "srv.csr", &["-subj", "/CN=127.0.0.1"]);
        std::fs::write(
            p("ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:distfiles.invalid\n\
             basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "srv.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "ext",
                "-out",
                "srv.pem",
            ],
        );
        TestCa {
            ca_pem: p("ca.pem"),
            cert_pem: p("srv.pem"),
            key_pem: p("srv.key"),
            dir,
        }
    }

    /// A self-signed server certificate for 127.0.0.1 (its own CA file),
    /// as `openssl req -x509` makes it: a CA certificate unless `leaf`,
    /// which makes it an end-entity one (basicConstraints CA:FALSE).
    pub fn self_signed(leaf: bool) -> TestCa {
        let dir = tempfile::tempdir().unwrap();
        let mut rest = vec![
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ];
        if leaf {
            rest.extend(["-addext", "basicConstraints=critical,CA:FALSE"]);
        }
        openssl_req(dir.path(), true, "srv.key", "srv.pem", &rest);
        let p = |n: &str| dir.path().join(n);
        TestCa {
            ca_pem: p("srv.pem"),
            cert_pem: p("srv.pem"),
            key_pem: p("srv.key"),
            dir,
        }
    }

    /// A self-signed end-entity certificate for 127.0.0.1 valid only from
    /// `start` to `end` (`YYYYMMDDHHMMSSZ`), its own CA file: an expired
    /// (or not yet valid) server. `openssl ca` is what sets both dates.
    pub fn self_signed_dated(start: &str, end: &str) -> TestCa {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl_req(d, false, "srv.key", "srv.csr", &["-subj", "/CN=127.0.0.1"]);
        std::fs::write(d.join("index.txt"), "").unwrap();
        std::fs::write(d.join("serial"), "01\n").unwrap();
        std::fs::write(
            d.join("ca.cnf"),
            "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nserial = serial\n\
             new_certs_dir = .\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n",
        )
        .unwrap();
        std::fs::write(
            d.join("ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "ca",
                "-batch",
                "-config",
                "ca.cnf",
                "-selfsign",
                "-keyfile",
                "srv.key",
                "-in",
                "srv.csr",
                "-startdate",
                start,
                "-enddate",
                end,
                "-extfile",
                "ext",
                "-notext",
                "-out",
                "srv.pem",
            ],
        );
        let p = |n: &str| d.join(n);
        TestCa {
            ca_pem: p("srv.pem"),
            cert_pem: p("srv.pem"),
            key_pem: p("srv.key"),
            dir,
        }
    }

    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_file_iter(&self.cert_pem)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(&self.key_pem).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap(),
        )
    }
}

/// `openssl ARGS` in `dir`; it must succeed.
fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "openssl {args:?}: {o:?}");
}

/// `openssl req [-x509] -newkey ec (P-256) -nodes -keyout KEY -out OUT
/// REST...`: a new key with a self-signed certificate (`x509`) or a request.
fn openssl_req(dir: &Path, x509: bool, key: &str, out: &str, rest: &[&str]) {
    let mut args = vec!["req"];
    if x509 {
        args.push("-x509");
    }
    args.extend([
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key,
        "-out",
        out,
    ]);
    args.extend_from_slice(rest);
    openssl(dir, &args);
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Reply>,
    hits: HashMap<String, usize>,
    /// Hosts named in CONNECT or absolute-form requests (we were a proxy).
    proxied: Vec<String>,
    root: Option<PathBuf>,
}

pub struct Server {
    pub port: u16,
    scheme: &'static str,
    state: Arc<Mutex<State>>,
    stopped: Arc<std::sync::atomic::AtomicBool>,
}

impl Server {
    /// A plain HTTP server.
    pub fn start() -> Server {
        Self::spawn(None)
    }

    /// An HTTPS server with `ca`'s server certificate.
    pub fn start_tls(ca: &TestCa) -> Server {
        Self::spawn(Some(ca.server_config()))
    }

    fn spawn(tls: Option<Arc<rustls::ServerConfig>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state: Arc<Mutex<State>> = Arc::default();
        let st = state.clone();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let stopped: Arc<std::sync::atomic::AtomicBool> = Arc::default();
        let stop = stopped.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let (st, tls) = (st.clone(), tls.clone());
                std::thread::spawn(move || match tls {
                    None => serve(conn, &st),
                    Some(cfg) => {
                        if let Ok(sc) = rustls::ServerConnection::new(cfg) {
                            serve(rustls::StreamOwned::new(sc, conn), &st)
                        }
                    }
                });
            }
        });
        Server {
            port,
            scheme,
            state,
            stopped,
        }
    }

    /// Stop listening: from now on the port refuses connections (the
    /// network is gone).
    pub fn stop(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let addr = ("127.0.0.1", self.port);
        // Wake the accept loop, then wait until the port refuses.
        for _ in 0..500 {
            if TcpStream::connect(addr).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the server on port {} did not stop", self.port);
    }

    pub fn route(&self, path: &str, reply: Reply) -> String {
        self.state
            .lock()
            .unwrap()
            .routes
            .insert(path.to_string(), reply);
        self.url(path)
    }

    /// Serve NAME and NAME.asc, a detached signature of it by `key`
    /// (armored); returns NAME's URL.
    pub fn publish_signed(&self, key: &sequoia_openpgp::Cert, name: &str, data: &[u8]) -> String {
        self.route(
            &format!("/{name}.asc"),
            Reply::Body(super::armor_sig(&super::sign_detached(key, data))),
        );
        self.route(&format!("/{name}"), Reply::Body(data.to_vec()))
    }

    /// Serve the files of `dir` for paths without a route.
    pub fn serve_dir(&self, dir: &Path) {
        self.state.lock().unwrap().root = Some(dir.to_path_buf());
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.scheme, self.port)
    }

    /// How many requests `path` has received.
    pub fn hits(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// How many requests the server has received, all paths together.
    pub fn total_hits(&self) -> usize {
        self.state.lock().unwrap().hits.values().sum()
    }

    /// The hosts of the proxy requests received.
    pub fn proxied(&self) -> Vec<String> {
        self.state.lock().unwrap().proxied.clone()
    }
}

fn head(conn: &mut impl Write, status: u16, len: Option<u64>, extra: &str) -> std::io::Result<()> {
    let cl = len
        .map(|n| format!("Content-Length: {n}\r\n"))
        .unwrap_or_default();
    write!(
        conn,
        "HTTP/1.1 {status} X\r\n{cl}{extra}Connection: close\r\n\r\n"
    )
}

fn serve<S: Read + Write>(mut conn: S, state: &Mutex<State>) {
    let (method, target) = {
        let mut reader = BufReader::new(&mut conn);
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            return;
        }
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                break;
            }
        }
        let mut words = line.split_whitespace();
        let method = words.next().unwrap_or("").to_string();
        (method, words.next().unwrap_or("/").to_string())
    };
    // CONNECT: act as a tunnelling proxy to ourselves.
    if method == "CONNECT" {
        let host = target.rsplit_once(':').map_or(&*target, |(h, _)| h);
        state.lock().unwrap().proxied.push(host.to_string());
        if conn
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .and_then(|()| conn.flush())
            .is_ok()
        {
            serve(conn, state);
        }
        return;
    }
    // Absolute form: we are being used as an HTTP proxy.
    let absolute = (!target.starts_with('/'))
        .then(|| target.split_once("://"))
        .flatten();
    let path = match absolute {
        Some((_, rest)) => {
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            state.lock().unwrap().proxied.push(host.to_string());
            format!("/{path}")
        }
        None => target,
    };
    let (n, reply, root) = {
        let mut st = state.lock().unwrap();
        let c = st.hits.entry(path.clone()).or_insert(0);
        *c += 1;
        let n = *c;
        (n, st.routes.get(&path).cloned(), st.root.clone())
    };
    let reply = reply.or_else(|| {
        let f = root?.join(path.trim_start_matches('/'));
        f.is_file().then_some(Reply::File(f))
    });
    let _ = (|| -> std::io::Result<()> {
        match reply {
            None => head(&mut conn, 404, Some(0), ""),
            Some(Reply::Body(b)) => {
                head(&mut conn, 200, Some(b.len() as u64), "")?;
                conn.write_all(&b)
            }
            Some(Reply::File(p)) => {
                let mut f = std::fs::File::open(p)?;
                head(&mut conn, 200, Some(f.metadata()?.len()), "")?;
                std::io::copy(&mut f, &mut conn).map(|_| ())
            }
            Some(Reply::Flipped(mut b, i)) => {
                b[i] ^= 0x01;
                head(&mut conn, 200, Some(b.len() as u64), "")?;
                conn.write_all(&b)
            }
            Some(Reply::Truncated(b, n)) => {
                head(&mut conn, 200, Some(b.len() as u64), "")?;
                conn.write_all(&b[..n])
            }
            Some(Reply::Stall(b, n)) => {
                head(&mut conn, 200, Some(b.len() as u64), "")?;
                conn.write_all(&b[..n])?;
                conn.flush()?;
                std::thread::sleep(Duration::from_secs(30));
                Ok(())
            }
            Some(Reply::Slow(b, every)) => {
                head(&mut conn, 200, Some(b.len() as u64), "")?;
                for piece in b.chunks(b.len().div_ceil(10).max(1)) {
                    conn.write_all(piece)?;
                    conn.flush()?;
                    std::thread::sleep(every);
                }
                Ok(())
            }
            Some(Reply::Endless) => {
                head(&mut conn, 200, None, "")?;
                let chunk = vec![b'x'; 64 * 1024];
                loop {
                    conn.write_all(&chunk)?;
                }
            }
            Some(Reply::Drip(every)) => {
                head(&mut conn, 200, Some(1 << 20), "")?;
                loop {
                    conn.write_all(b"x")?;
                    conn.flush()?;
                    std::thread::sleep(every);
                }
            }
            Some(Reply::Length(b, claimed)) => {
                head(&mut conn, 200, Some(claimed), "")?;
                conn.write_all(&b)
            }
            Some(Reply::Redirect(to)) => {
                head(&mut conn, 302, Some(0), &format!("Location: {to}\r\n"))
            }
            Some(Reply::FailThen(status, fails, b)) => {
                if n <= fails {
                    head(&mut conn, status, Some(0), "")
                } else {
                    head(&mut conn, 200, Some(b.len() as u64), "")?;
                    conn.write_all(&b)
                }
            }
            Some(Reply::Status(s)) => head(&mut conn, s, Some(0), ""),
            Some(Reply::Raw(b)) => conn.write_all(&b),
        }?;
        conn.flush()
    })();
}

/// A SOCKS5 proxy (no authentication, CONNECT only) that connects every
/// request to 127.0.0.1 on the requested port and records the requested
/// destination: a name for socks5h (the proxy resolves: Tor), an address
/// for socks5.
pub struct Socks5 {
    pub port: u16,
    targets: Arc<Mutex<Vec<String>>>,
}

impl Socks5 {
    pub fn start() -> Socks5 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let targets: Arc<Mutex<Vec<String>>> = Arc::default();
        let t = targets.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let t = t.clone();
                std::thread::spawn(move || {
                    let _ = socks_session(conn, &t);
                });
            }
        });
        Socks5 { port, targets }
    }

    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// `host:port` of every CONNECT received.
    pub fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }
}

fn socks_session(mut c: TcpStream, targets: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut hdr = [0u8; 2];
    c.read_exact(&mut hdr)?;
    let mut methods = vec![0u8; hdr[1] as usize];
    c.read_exact(&mut methods)?;
    c.write_all(&[5, 0])?;
    let mut req = [0u8; 4];
    c.read_exact(&mut req)?;
    let host = match req[3] {
        1 => {
            let mut a = [0u8; 4];
            c.read_exact(&mut a)?;
            std::net::Ipv4Addr::from(a).to_string()
        }
        3 => {
            let mut len = [0u8; 1];
            c.read_exact(&mut len)?;
            let mut name = vec![0u8; len[0] as usize];
            c.read_exact(&mut name)?;
            String::from_utf8_lossy(&name).into_owned()
        }
        _ => return Ok(()),
    };
    let mut port = [0u8; 2];
    c.read_exact(&mut port)?;
    let port = u16::from_be_bytes(port);
    targets.lock().unwrap().push(format!("{host}:{port}"));
    let up = TcpStream::connect(("127.0.0.1", port))?;
    c.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0])?;
    let (mut c2, mut up2) = (c.try_clone()?, up.try_clone()?);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut up2, &mut c2);
        let _ = c2.shutdown(std::net::Shutdown::Write);
    });
    let mut up = up;
    std::io::copy(&mut c, &mut up)?;
    let _ = up.shutdown(std::net::Shutdown::Write);
    Ok(())
}
