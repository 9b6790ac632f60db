//! One request served by a program started for it: under a web server's
//! CGI (RFC 3875: the method and path in the environment, the body on
//! standard input, the answer as `Status:` and headers on standard
//! output), on a connection handed over by socket activation (inetd,
//! systemd `Accept=yes`: one HTTP/1.1 request on standard input, the
//! answer on standard output), or as a qrexec service (the body alone
//! until the end of input). What the request means is the caller's.
//!
//! Reading is bounded: a header block of 16 KiB, a body of the caller's
//! limit, given by `Content-Length` (no chunked bodies), and in time by
//! [`Deadline`]: a client that sends slowly or not at all (slowloris)
//! gets a 408 instead of holding a process, and a connection slot of the
//! socket activator's, forever.

use std::io::{BufRead, Read};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

/// The largest HTTP request line and header block read.
pub const MAX_HEAD: usize = 16 * 1024;

/// A request as the program got it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incoming {
    pub method: String,
    /// The path (after the script's own path for CGI), query removed.
    pub path: String,
    pub body: Vec<u8>,
}

/// Why a request cannot be served: a status and a reason.
pub type Refusal = (u16, String);

fn refuse<T>(status: u16, why: impl Into<String>) -> Result<T, Refusal> {
    Err((status, why.into()))
}

/// A failed read of the request: 408 when its [`Deadline`] passed.
fn read_failed<T>(e: std::io::Error) -> Result<T, Refusal> {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return refuse(408, format!("the request took too long: {e}"));
    }
    refuse(400, format!("reading the request: {e}"))
}

/// A reader of a descriptor (a socket, a pipe) that fails with `TimedOut`
/// once `limit` has passed since it was made, however the bytes trickle
/// in: each read first waits with `poll(2)` for what time is left.
pub struct Deadline<R> {
    inner: R,
    until: Instant,
}

impl<R> Deadline<R> {
    pub fn new(inner: R, limit: Duration) -> Deadline<R> {
        Deadline {
            inner,
            until: Instant::now() + limit,
        }
    }
}

impl<R: Read + AsFd> Read for Deadline<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let left = self.until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no complete request in time",
                ));
            }
            let mut p = libc::pollfd {
                fd: self.inner.as_fd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
            // SAFETY: one pollfd, valid for the call; the descriptor is
            // kept open by `inner`.
            match unsafe { libc::poll(&mut p, 1, ms) } {
                0 => continue,
                n if n < 0 => {
                    let e = std::io::Error::last_os_error();
                    if e.kind() != std::io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
                // Readable, at its end, or an error: the read says which.
                _ => return self.inner.read(buf),
            }
        }
    }
}

/// Exactly `len` bytes of body, at most `max`.
fn body(r: &mut impl Read, len: u64, max: u64) -> Result<Vec<u8>, Refusal> {
    if len > max {
        return refuse(413, format!("a body of {len} bytes; at most {max}"));
    }
    let mut buf = Vec::new();
    r.take(len).read_to_end(&mut buf).or_else(read_failed)?;
    if (buf.len() as u64) < len {
        return refuse(400, "the request ended before its body");
    }
    Ok(buf)
}

fn decimal(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn without_query(target: &str) -> String {
    target
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Read one HTTP/1.x request from a connection (socket activation).
pub fn read_http(r: &mut impl BufRead, max_body: u64) -> Result<Incoming, Refusal> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = r
            .take((MAX_HEAD + 1 - head.len().min(MAX_HEAD)) as u64)
            .read_until(b'\n', &mut line)
            .or_else(read_failed)?;
        if n == 0 || !line.ends_with(b"\n") {
            return refuse(400, "the request ended in its header");
        }
        head.extend_from_slice(&line);
        if head.len() > MAX_HEAD {
            return refuse(400, format!("a header block over {MAX_HEAD} bytes"));
        }
        if line == b"\r\n" || line == b"\n" {
            break;
        }
    }
    let head = std::str::from_utf8(&head).or_else(|_| refuse(400, "a header that is not UTF-8"))?;
    let mut lines = head.lines();
    let start = lines.next().unwrap_or_default();
    let parts: Vec<&str> = start.split(' ').collect();
    let [method, target, version] = parts.as_slice() else {
        return refuse(400, "a malformed request line");
    };
    if !matches!(*version, "HTTP/1.1" | "HTTP/1.0") || method.is_empty() {
        return refuse(400, "a malformed request line");
    }
    let mut length: Option<u64> = None;
    for h in lines.take_while(|l| !l.is_empty()) {
        let Some((name, value)) = h.split_once(':') else {
            return refuse(400, "a malformed header line");
        };
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return refuse(411, "chunked bodies are not read: send a Content-Length");
        }
        if name.eq_ignore_ascii_case("content-length") {
            let n = decimal(value).ok_or((400, "a malformed Content-Length".to_string()))?;
            if length.is_some_and(|l| l != n) {
                return refuse(400, "two different Content-Lengths");
            }
            length = Some(n);
        }
    }
    let body = match (length, *method) {
        (Some(n), _) => body(r, n, max_body)?,
        (None, "POST" | "PUT") => return refuse(411, "a body needs a Content-Length"),
        (None, _) => Vec::new(),
    };
    Ok(Incoming {
        method: method.to_string(),
        path: without_query(target),
        body,
    })
}

/// Read one request as a CGI program (`env` looks up the environment);
/// without `REQUEST_METHOD` (a qrexec service, a pipe) the input is one
/// POST body, read to its end.
pub fn read_cgi(
    env: impl Fn(&str) -> Option<String>,
    r: &mut impl Read,
    max_body: u64,
) -> Result<Incoming, Refusal> {
    let Some(method) = env("REQUEST_METHOD") else {
        let mut buf = Vec::new();
        r.take(max_body.saturating_add(1))
            .read_to_end(&mut buf)
            .or_else(read_failed)?;
        if buf.len() as u64 > max_body {
            return refuse(413, format!("a request over {max_body} bytes"));
        }
        return Ok(Incoming {
            method: "POST".into(),
            path: String::new(),
            body: buf,
        });
    };
    let len = match env("CONTENT_LENGTH").filter(|s| !s.is_empty()) {
        Some(s) => decimal(&s).ok_or((400, "a malformed CONTENT_LENGTH".to_string()))?,
        None => 0,
    };
    Ok(Incoming {
        method,
        path: env("PATH_INFO").unwrap_or_default(),
        body: body(r, len, max_body)?,
    })
}

/// An answer on a connection: status line, type, length, closed after.
pub fn http_answer(status: u16, reason: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// An answer as a CGI program writes it.
pub fn cgi_answer(status: u16, reason: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "Status: {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_requests_are_read_exactly_and_bounded() {
        let req =
            b"POST /w/add-checkpoint?x HTTP/1.1\r\nHost: a\r\ncontent-length: 5\r\n\r\nhelloEXTRA";
        let mut r = std::io::BufReader::new(&req[..]);
        let got = read_http(&mut r, 100).unwrap();
        assert_eq!(got.path, "/w/add-checkpoint");
        assert_eq!(got.body, b"hello");
        for (bad, status) in [
            (&b"POST / HTTP/1.1\r\n\r\n"[..], 411),
            (b"POST / HTTP/1.1\r\nContent-Length: 500\r\n\r\n", 413),
            (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhi", 400),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                411,
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                400,
            ),
            (b"POST /\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost", 400),
            (b"GET / SPDY/3\r\n\r\n", 400),
        ] {
            let mut r = std::io::BufReader::new(bad);
            assert_eq!(read_http(&mut r, 100).unwrap_err().0, status, "{bad:?}");
        }
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        let mut r = std::io::BufReader::new(long.as_bytes());
        assert_eq!(read_http(&mut r, 100).unwrap_err().0, 400);
    }

    #[test]
    fn cgi_and_bare_bodies() {
        let env = |k: &str| match k {
            "REQUEST_METHOD" => Some("POST".to_string()),
            "CONTENT_LENGTH" => Some("3".to_string()),
            "PATH_INFO" => Some("/add-checkpoint".to_string()),
            _ => None,
        };
        let got = read_cgi(env, &mut &b"abcdef"[..], 10).unwrap();
        assert_eq!(
            (got.path.as_str(), got.body.as_slice()),
            ("/add-checkpoint", &b"abc"[..])
        );
        let bare = read_cgi(|_| None, &mut &b"abcdef"[..], 10).unwrap();
        assert_eq!(bare.body, b"abcdef");
        assert_eq!(
            read_cgi(|_| None, &mut &b"abcdef"[..], 5).unwrap_err().0,
            413
        );
    }
}
