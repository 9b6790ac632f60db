//! Metalinks (MirrorManager's metalink 3.0, RFC 5854's 4.0): what
//! Fedora's repositories pin `repomd.xml` by instead of signing it. The
//! `<file name="repomd.xml">` entry gives its size, timestamp and hashes,
//! and MirrorManager's `<mm0:alternates>` the same for the few previous
//! versions that lagging mirrors may still serve.
//!
//! Only SHA-256 and SHA-512 hashes are kept (MD5 and SHA-1 are listed
//! beside them and never relied on); an entry without one is refused.

use super::rpmmd::{self, attr, malformed, number, Handler, Text};
use crate::digest::Algo;
use quick_xml::events::BytesStart;

/// Largest metalink read (Fedora's are ~30 KB).
pub const MAX_METALINK: u64 = 4 << 20;
/// Most alternates kept.
const MAX_ALTERNATES: usize = 64;

/// What one version of repomd.xml must be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expected {
    pub size: Option<u64>,
    pub timestamp: Option<u64>,
    /// Strong hashes only.
    pub hashes: Vec<(Algo, Vec<u8>)>,
}

/// The repomd.xml entry of a metalink.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metalink {
    pub current: Expected,
    pub alternates: Vec<Expected>,
}

/// The hash algorithm of a metalink `type` (3.0's `sha256`, 4.0's `sha-256`).
fn algo(kind: &str) -> Option<Option<Algo>> {
    match kind.to_ascii_lowercase().as_str() {
        "sha256" | "sha-256" => Some(Some(Algo::Sha256)),
        "sha512" | "sha-512" => Some(Some(Algo::Sha512)),
        "md5" | "sha1" | "sha-1" | "sha" => Some(None),
        _ => None,
    }
}

/// Parse a metalink and return its `repomd.xml` entry.
pub fn parse(bytes: &[u8]) -> anyhow::Result<Metalink> {
    parse_inner(bytes).map_err(|e| malformed("metalink", e))
}

/// Where the reader is inside the repomd.xml entry.
struct State {
    in_file: bool,
    found: bool,
    /// Inside `<mm0:alternate>`: what it expects so far.
    alternate: Option<Expected>,
    hash_type: Option<String>,
    out: Metalink,
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

fn parse_inner(bytes: &[u8]) -> Result<Metalink, String> {
    let mut st = State {
        in_file: false,
        found: false,
        alternate: None,
        hash_type: None,
        out: Metalink::default(),
    };
    rpmmd::walk(bytes, "metalink", &mut st)?;
    if !st.found {
        return Err("no <file name=\"repomd.xml\">".into());
    }
    if st.out.current.hashes.is_empty() {
        return Err("repomd.xml: no SHA-256 or SHA-512 hash".into());
    }
    Ok(st.out)
}

impl Handler for State {
    fn open(&mut self, e: &BytesStart, _depth: usize) -> Result<(), String> {
        open(e, self)
    }

    fn close(&mut self, name: &str, _depth: usize, text: &Text) -> Result<(), String> {
        close(name, self, text)
    }
}

fn open(e: &BytesStart, st: &mut State) -> Result<(), String> {
    let qname = e.name();
    let name = local(qname.as_ref());
    match name {
        "file" if !st.in_file && attr(e, "name")?.as_deref() == Some("repomd.xml") => {
            if st.found {
                return Err("two <file name=\"repomd.xml\"> entries".into());
            }
            st.found = true;
            st.in_file = true;
        }
        "alternate" if st.in_file => {
            if st.out.alternates.len() >= MAX_ALTERNATES {
                return Err(format!("more than {MAX_ALTERNATES} alternates"));
            }
            st.alternate = Some(Expected::default());
        }
        "hash" if st.in_file => st.hash_type = Some(attr(e, "type")?.unwrap_or_default()),
        _ => {}
    }
    Ok(())
}

fn close(qname: &str, st: &mut State, text: &Text) -> Result<(), String> {
    let name = local(qname);
    if !st.in_file {
        return Ok(());
    }
    let target = match st.alternate.as_mut() {
        Some(a) => a,
        None => &mut st.out.current,
    };
    match name {
        "file" => st.in_file = false,
        "alternate" => {
            if let Some(a) = st.alternate.take() {
                st.out.alternates.push(a);
            }
        }
        "size" => {
            let v = number(text.get("size")?, "size")?;
            if target.size.replace(v).is_some() {
                return Err("repomd.xml: duplicate <size>".into());
            }
        }
        "timestamp" => {
            let v = number(text.get("timestamp")?, "timestamp")?;
            if target.timestamp.replace(v).is_some() {
                return Err("repomd.xml: duplicate <timestamp>".into());
            }
        }
        "hash" => {
            let t = st.hash_type.take().unwrap_or_default();
            match algo(&t) {
                None => return Err(format!("repomd.xml: unknown hash type {t:?}")),
                Some(None) => {}
                Some(Some(a)) => {
                    let v = text.get("hash")?;
                    let d = hex::decode(v)
                        .ok()
                        .filter(|d| d.len() == a.digest_len())
                        .ok_or_else(|| format!("repomd.xml: {t} hash {v:?} is not hex"))?;
                    if target.hashes.iter().any(|(b, _)| *b == a) {
                        return Err(format!("repomd.xml: two {t} hashes"));
                    }
                    target.hashes.push((a, d));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEDORA: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/" type="dynamic" pubdate="Mon, 15 Apr 2024 12:00:00 GMT" generator="mirrormanager" xmlns:mm0="http://fedorahosted.org/mirrormanager">
 <files>
  <file name="repomd.xml">
   <mm0:timestamp>1713193444</mm0:timestamp>
   <size>6523</size>
   <verification>
    <hash type="md5">0123456789abcdef0123456789abcdef</hash>
    <hash type="sha1">0123456789abcdef0123456789abcdef01234567</hash>
    <hash type="sha256">SHA256A</hash>
   </verification>
   <mm0:alternates>
    <mm0:alternate>
     <mm0:timestamp>1713100000</mm0:timestamp>
     <size>6500</size>
     <verification>
      <hash type="sha256">SHA256B</hash>
     </verification>
    </mm0:alternate>
   </mm0:alternates>
   <resources maxconnections="1">
    <url protocol="https" type="https" location="US" preference="100">https://mirror.example/fedora/repodata/repomd.xml</url>
   </resources>
  </file>
 </files>
</metalink>
"#;

    fn fedora() -> String {
        FEDORA
            .replace("SHA256A", &"aa".repeat(32))
            .replace("SHA256B", &"bb".repeat(32))
    }

    #[test]
    fn reads_mirrormanager_metalinks() {
        let m = parse(fedora().as_bytes()).unwrap();
        assert_eq!(m.current.size, Some(6523));
        assert_eq!(m.current.timestamp, Some(1713193444));
        assert_eq!(m.current.hashes, vec![(Algo::Sha256, vec![0xaa; 32])]);
        assert_eq!(m.alternates.len(), 1);
        assert_eq!(m.alternates[0].hashes, vec![(Algo::Sha256, vec![0xbb; 32])]);
    }

    #[test]
    fn refusals() {
        let e = |s: String| format!("{:#}", parse(s.as_bytes()).unwrap_err());
        assert!(e(fedora().replace("repomd.xml\"", "other.xml\"")).contains("no <file"));
        let only_weak = fedora().replace(
            &format!("<hash type=\"sha256\">{}</hash>", "aa".repeat(32)),
            "",
        );
        assert!(e(only_weak).contains("no SHA-256"));
        assert!(e(fedora().replace("\"sha256\">aa", "\"sha256\">zz")).contains("not hex"));
        assert!(e(fedora().replace("</metalink>", "")).contains("ends before"));
        assert!(e(fedora().replace("type=\"md5\"", "type=\"crc\"")).contains("unknown hash type"));
    }
}
