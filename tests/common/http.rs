//! A real HTTP/1.1 server on 127.0.0.1 inside the test process, with the
//! misbehaviours fetch-verified must survive.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server does for one path.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with the body.
    Body(Vec<u8>),
    /// The body with one byte flipped.
    Flipped(Vec<u8>, usize),
    /// Announce the whole length, send only the first N bytes, close.
    Truncated(Vec<u8>, usize),
    /// Send N bytes, then stall for a long time.
    Stall(Vec<u8>, usize),
    /// No Content-Length, never-ending body.
    Endless,
    /// Claim this Content-Length, send the body as it is.
    Length(Vec<u8>, u64),
    /// 302 to this location.
    Redirect(String),
    /// This status for the first N requests, then the body.
    FailThen(u16, usize, Vec<u8>),
    /// A bare status.
    Status(u16),
}

pub struct Server {
    pub port: u16,
    routes: Arc<Mutex<HashMap<String, Reply>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let (r, h) = (routes.clone(), hits.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (r, h) = (r.clone(), h.clone());
                std::thread::spawn(move || serve(conn, &r, &h));
            }
        });
        Server { port, routes, hits }
    }

    pub fn route(&self, path: &str, reply: Reply) -> String {
        self.routes.lock().unwrap().insert(path.to_string(), reply);
        self.url(path)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// How many requests `path` has received.
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

fn head(conn: &mut TcpStream, status: u16, len: Option<u64>, extra: &str) -> std::io::Result<()> {
    let cl = len
        .map(|n| format!("Content-Length: {n}\r\n"))
        .unwrap_or_default();
    write!(
        conn,
        "HTTP/1.1 {status} X\r\n{cl}{extra}Connection: close\r\n\r\n"
    )
}

fn serve(
    mut conn: TcpStream,
    routes: &Mutex<HashMap<String, Reply>>,
    hits: &Mutex<HashMap<String, usize>>,
) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
    }
    let n = {
        let mut hits = hits.lock().unwrap();
        let c = hits.entry(path.clone()).or_insert(0);
        *c += 1;
        *c
    };
    let reply = routes.lock().unwrap().get(&path).cloned();
    let _ = (|| -> std::io::Result<()> {
        match reply {
            None => head(&mut conn, 404, Some(0), ""),
            Some(Reply::Body(b)) => {
                head(&mut conn, 200, Some(b.len() as u64), "")?;
                conn.write_all(&b)
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
            Some(Reply::Endless) => {
                head(&mut conn, 200, None, "")?;
                let chunk = vec![b'x'; 64 * 1024];
                loop {
                    conn.write_all(&chunk)?;
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
        }
    })();
}
