//! `repodata/repomd.xml`, the root of an rpm-md repository: its
//! `<revision>` and, per `<data type=...>`, the metadata file's location,
//! checksum and size, and the checksum and size of its decompressed
//! content (`open-checksum`, `open-size`).
//!
//! Strict: a duplicate data type or field, a missing checksum or
//! location, an unknown checksum type, `xml:base`, a location outside the
//! repository, and a DOCTYPE are refused, each naming the entry.

use super::rpmmd::{
    self, attr, check_location, malformed, number, Checksum, Handler, Policy, Text,
};
use quick_xml::events::BytesStart;

/// Largest repomd.xml read (Fedora's is ~10 KB).
pub const MAX_REPOMD: u64 = 16 << 20;
/// Most data entries accepted.
const MAX_DATA: usize = 4096;

/// One metadata file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Data {
    /// `primary`, `filelists`, `other`, `group`, `updateinfo`, ...
    pub kind: String,
    /// Relative to the repository's root (`repodata/...-primary.xml.zst`).
    pub location: String,
    pub checksum: Checksum,
    pub size: Option<u64>,
    pub open_checksum: Option<Checksum>,
    pub open_size: Option<u64>,
    pub timestamp: Option<u64>,
}

/// A parsed repomd.xml.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Repomd {
    pub revision: Option<String>,
    pub data: Vec<Data>,
}

impl Repomd {
    /// The entry of type `kind`.
    pub fn get(&self, kind: &str) -> Option<&Data> {
        self.data.iter().find(|d| d.kind == kind)
    }

    /// The entry at `location`.
    pub fn by_location(&self, location: &str) -> Option<&Data> {
        self.data.iter().find(|d| d.location == location)
    }

    /// The newest data timestamp: what "older metadata" is judged by.
    pub fn newest(&self) -> Option<u64> {
        self.data.iter().filter_map(|d| d.timestamp).max()
    }

    /// The revision as a number, when it is one (createrepo_c's default
    /// is the creation time).
    pub fn revision_number(&self) -> Option<u64> {
        self.revision.as_deref().and_then(|r| r.trim().parse().ok())
    }
}

/// A data entry being read.
#[derive(Default)]
struct Partial {
    kind: String,
    location: Option<String>,
    checksum: Option<Checksum>,
    size: Option<u64>,
    open_checksum: Option<Checksum>,
    open_size: Option<u64>,
    timestamp: Option<u64>,
    /// The `type` attribute of the checksum element being read.
    checksum_type: Option<String>,
}

impl Partial {
    fn finish(self) -> Result<Data, String> {
        let kind = self.kind;
        let missing = |f: &str| format!("data {kind:?}: no {f}");
        Ok(Data {
            location: self.location.ok_or_else(|| missing("<location>"))?,
            checksum: self.checksum.ok_or_else(|| missing("<checksum>"))?,
            size: self.size,
            open_checksum: self.open_checksum,
            open_size: self.open_size,
            timestamp: self.timestamp,
            kind,
        })
    }
}

/// Parse repomd.xml.
pub fn parse(bytes: &[u8], policy: Policy) -> anyhow::Result<Repomd> {
    parse_inner(bytes, policy).map_err(|e| malformed("repomd.xml", e))
}

struct Reader {
    policy: Policy,
    out: Repomd,
    cur: Option<Partial>,
}

fn parse_inner(bytes: &[u8], policy: Policy) -> Result<Repomd, String> {
    let mut r = Reader {
        policy,
        out: Repomd::default(),
        cur: None,
    };
    rpmmd::walk(bytes, "repomd", &mut r)?;
    Ok(r.out)
}

impl Handler for Reader {
    fn open(&mut self, e: &BytesStart, depth: usize) -> Result<(), String> {
        let name = e.name();
        let name = name.as_ref();
        match depth {
            1 if name == "data" => {
                let kind = attr(e, "type")?.ok_or("<data> without a type")?;
                if self.out.data.iter().any(|d| d.kind == kind) {
                    return Err(format!("duplicate data entry {kind:?}"));
                }
                if self.out.data.len() >= MAX_DATA {
                    return Err(format!("more than {MAX_DATA} data entries"));
                }
                self.cur = Some(Partial {
                    kind,
                    ..Partial::default()
                });
            }
            2 => {
                let Some(p) = self.cur.as_mut() else {
                    return Ok(());
                };
                let dup = |f: &str| Err(format!("data {:?}: duplicate <{f}>", p.kind));
                match name {
                    "location" => {
                        if p.location.is_some() {
                            return dup(name);
                        }
                        if attr(e, "xml:base")?.is_some() {
                            return Err(format!("data {:?}: xml:base refused", p.kind));
                        }
                        let href = attr(e, "href")?
                            .ok_or_else(|| format!("data {:?}: <location> without href", p.kind))?;
                        check_location(&href).map_err(|w| format!("data {:?}: {w}", p.kind))?;
                        p.location = Some(href);
                    }
                    "checksum" | "open-checksum" => {
                        let taken = match name {
                            "checksum" => p.checksum.is_some(),
                            _ => p.open_checksum.is_some(),
                        };
                        if taken {
                            return dup(name);
                        }
                        let t = attr(e, "type")?
                            .ok_or_else(|| format!("data {:?}: <{name}> without a type", p.kind))?;
                        // Refuse an unusable type now, naming the entry.
                        rpmmd::algo_of(&t, self.policy)
                            .map_err(|w| format!("data {:?}: <{name}>: {w}", p.kind))?;
                        p.checksum_type = Some(t);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn close(&mut self, name: &str, depth: usize, text: &Text) -> Result<(), String> {
        match depth {
            1 if name == "revision" => {
                if self.out.revision.is_some() {
                    return Err("duplicate <revision>".into());
                }
                self.out.revision = Some(text.get("revision")?.to_string());
            }
            1 if name == "data" => {
                if let Some(p) = self.cur.take() {
                    self.out.data.push(p.finish()?);
                }
            }
            2 => {
                let policy = self.policy;
                let Some(p) = self.cur.as_mut() else {
                    return Ok(());
                };
                let kind = p.kind.clone();
                let at = |w: String| format!("data {kind:?}: {w}");
                let value = || text.get(name).map_err(at);
                let set_num = |slot: &mut Option<u64>| -> Result<(), String> {
                    if slot.is_some() {
                        return Err(at(format!("duplicate <{name}>")));
                    }
                    *slot = Some(number(value()?, name).map_err(at)?);
                    Ok(())
                };
                match name {
                    "size" => set_num(&mut p.size)?,
                    "open-size" => set_num(&mut p.open_size)?,
                    "timestamp" => set_num(&mut p.timestamp)?,
                    "checksum" | "open-checksum" => {
                        let t = p.checksum_type.take().unwrap_or_default();
                        let c = Checksum::parse(&t, value()?, policy)
                            .map_err(|w| at(format!("<{name}>: {w}")))?;
                        match name {
                            "checksum" => p.checksum = Some(c),
                            _ => p.open_checksum = Some(c),
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Algo;

    fn doc(data: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\">\n<revision>1700000000</revision>\n{data}</repomd>\n"
        )
    }

    fn entry(kind: &str, extra: &str) -> String {
        format!(
            "<data type=\"{kind}\"><checksum type=\"sha256\">{}</checksum><open-checksum type=\"sha256\">{}</open-checksum><location href=\"repodata/{kind}.xml.gz\"/><timestamp>1700000001</timestamp><size>10</size><open-size>20</open-size>{extra}</data>\n",
            "ab".repeat(32),
            "cd".repeat(32)
        )
    }

    fn err(s: &str) -> String {
        format!("{:#}", parse(s.as_bytes(), Policy::default()).unwrap_err())
    }

    #[test]
    fn reads_createrepo_layout() {
        let r = parse(
            doc(&(entry("primary", "") + &entry("filelists", ""))).as_bytes(),
            Policy::default(),
        )
        .unwrap();
        assert_eq!(r.revision.as_deref(), Some("1700000000"));
        assert_eq!(r.revision_number(), Some(1700000000));
        let p = r.get("primary").unwrap();
        assert_eq!(p.location, "repodata/primary.xml.gz");
        assert_eq!(p.checksum.algo, Algo::Sha256);
        assert_eq!(p.size, Some(10));
        assert_eq!(p.open_size, Some(20));
        assert_eq!(p.open_checksum.as_ref().unwrap().digest, vec![0xcd; 32]);
        assert_eq!(r.newest(), Some(1700000001));
    }

    #[test]
    fn refusals_name_the_entry() {
        let e = err(&doc(&(entry("primary", "") + &entry("primary", ""))));
        assert!(e.contains("duplicate data entry \"primary\""), "{e}");
        let e = err(&doc(&entry("primary", "").replace("sha256", "sha1")));
        assert!(e.contains("data \"primary\"") && e.contains("SHA-1"), "{e}");
        let e = err(&doc(&entry("primary", "").replace("sha256", "crc")));
        assert!(e.contains("unknown checksum type"), "{e}");
        let e = err(&doc(
            &entry("primary", "").replace("href=", "xml:base=\"http://x/\" href=")
        ));
        assert!(e.contains("xml:base refused"), "{e}");
        let e = err(&doc(
            &entry("primary", "").replace("repodata/primary", "../primary")
        ));
        assert!(e.contains("`..`"), "{e}");
        let e = err(&doc(&entry("primary", "<size>3</size>")));
        assert!(e.contains("duplicate <size>"), "{e}");
        let e = err(&doc(&entry("primary", "")).replace("</repomd>", ""));
        assert!(e.contains("malformed repomd.xml"), "{e}");
        let e = err(&doc(&entry("primary", "")).replace("</data>", "</dota>"));
        assert!(e.contains("</dota> closes <data>"), "{e}");
        let e = err("<!DOCTYPE x [<!ENTITY a \"b\">]><repomd/>");
        assert!(e.contains("DOCTYPE"), "{e}");
        let e = err(&doc(&entry("primary", "")).replace("<size>10", "<size>1x"));
        assert!(e.contains("not a number"), "{e}");
    }
}
