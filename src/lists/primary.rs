//! `primary.xml`: every package of an rpm-md repository with its
//! checksum, size and location, streamed (Fedora's is ~230 MB for ~70,000
//! packages) and indexed by location.
//!
//! Bytes are pushed in as they are decoded ([`Parser::feed`]); complete
//! `<package>` elements are parsed by quick-xml a run at a time, so memory
//! holds one run, not the document. The `<format>` element of a package
//! (dependencies, file lists: most of the bytes) and its `<description>`
//! do not bear on what the package file is and are skipped to their end
//! tags unread. A document
//! that holds `</package>` inside a comment or CDATA section is refused
//! as malformed (createrepo_c writes neither).

use super::rpmmd::{self, attr, check_location, malformed, number, Checksum, Policy, Stack, Text};
use crate::exit::{fail, Code};
use quick_xml::events::{BytesStart, Event};

/// Largest single `<package>` element (with its unread format).
pub const MAX_PACKAGE: usize = 64 << 20;

/// One listed package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub arch: String,
    pub epoch: String,
    pub version: String,
    pub release: String,
    pub checksum: Checksum,
    /// The package file's size (`<size package=...>`).
    pub size: u64,
    /// Relative to the repository's root.
    pub location: String,
}

impl Package {
    /// name-[epoch:]version-release.arch, as rpm prints it.
    pub fn nevra(&self) -> String {
        let epoch = match self.epoch.as_str() {
            "" | "0" => String::new(),
            e => format!("{e}:"),
        };
        format!(
            "{}-{epoch}{}-{}.{}",
            self.name, self.version, self.release, self.arch
        )
    }
}

/// A package element being read.
#[derive(Default)]
struct Partial {
    name: Option<String>,
    arch: Option<String>,
    evr: Option<(String, String, String)>,
    checksum: Option<Checksum>,
    checksum_type: Option<String>,
    size: Option<u64>,
    location: Option<String>,
}

/// The streaming parser.
pub struct Parser {
    policy: Policy,
    buf: Vec<u8>,
    stack: Stack,
    text: Text,
    cur: Option<Partial>,
    root_seen: bool,
    root_done: bool,
    /// The root's `packages` attribute.
    declared: Option<u64>,
    count: u64,
    format_end: memchr::memmem::Finder<'static>,
    description_end: memchr::memmem::Finder<'static>,
}

/// A package child skipped unread to its end tag: dependencies and file
/// lists, and the description (text only, the largest after them).
#[derive(Clone, Copy)]
enum Skip {
    Format,
    Description,
}

/// Calls for each package, in document order; an error stops the parse.
pub type Each<'a> = dyn FnMut(Package) -> anyhow::Result<()> + 'a;

impl Parser {
    pub fn new(policy: Policy) -> Parser {
        Parser {
            policy,
            buf: Vec::new(),
            stack: Stack::default(),
            text: Text::default(),
            cur: None,
            root_seen: false,
            root_done: false,
            declared: None,
            count: 0,
            format_end: memchr::memmem::Finder::new(b"</format>"),
            description_end: memchr::memmem::Finder::new(b"</description>"),
        }
    }

    /// Packages parsed so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// More of the document: every complete package in it is passed to
    /// `each`.
    pub fn feed(&mut self, data: &[u8], each: &mut Each) -> anyhow::Result<()> {
        // Look for the last boundary only in what may hold a new one.
        let from = self.buf.len().saturating_sub(b"</package>".len());
        self.buf.extend_from_slice(data);
        let tail = self.buf.get(from..).unwrap_or_default();
        let Some(end) =
            memchr::memmem::rfind(tail, b"</package>").map(|i| from + i + b"</package>".len())
        else {
            if self.buf.len() > MAX_PACKAGE {
                return Err(malformed(
                    "primary.xml",
                    format!(
                        "after package {}: no </package> within {MAX_PACKAGE} bytes",
                        self.count
                    ),
                ));
            }
            return Ok(());
        };
        let run = std::mem::take(&mut self.buf);
        let r = self.parse_run(run.get(..end).unwrap_or_default(), each);
        self.buf = run;
        self.buf.drain(..end);
        r
    }

    /// The end of the document: the rest is parsed, the root must be
    /// closed, and the count must be the root's `packages` attribute.
    pub fn finish(mut self, each: &mut Each) -> anyhow::Result<u64> {
        let run = std::mem::take(&mut self.buf);
        self.parse_run(&run, each)?;
        if !self.root_done {
            return Err(malformed(
                "primary.xml",
                "the document ends before </metadata>",
            ));
        }
        if let Some(n) = self.declared.filter(|n| *n != self.count) {
            return Err(malformed(
                "primary.xml",
                format!("<metadata packages=\"{n}\"> but {} packages", self.count),
            ));
        }
        Ok(self.count)
    }

    /// Parse complete elements (a run ends after a `</package>`, or at
    /// the end of the document), a piece ending at each `</package>` at a
    /// time: how the document was fed never changes where pieces end, so
    /// never the verdict (a `</package>` inside what quick-xml would take
    /// for an attribute value, where XML allows no `<`, ends a piece in
    /// every case).
    fn parse_run(&mut self, run: &[u8], each: &mut Each) -> anyhow::Result<()> {
        let mut rest = run;
        while !rest.is_empty() {
            let end = memchr::memmem::find(rest, b"</package>")
                .map_or(rest.len(), |i| i + b"</package>".len());
            let (piece, after) = rest.split_at(end);
            self.parse_piece(piece, each)?;
            rest = after;
        }
        Ok(())
    }

    fn parse_piece(&mut self, piece: &[u8], each: &mut Each) -> anyhow::Result<()> {
        let mut r = quick_xml::Reader::from_reader(piece);
        rpmmd::configure(&mut r);
        loop {
            let ev = r.read_event().map_err(|e| self.bad(e))?;
            match ev {
                Event::Eof => return Ok(()),
                Event::DocType(_) => return Err(self.bad("DOCTYPE refused")),
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::Start(e) => {
                    let skip = self.open(&e).map_err(|w| self.bad(w))?;
                    self.stack
                        .push(e.name().as_ref())
                        .map_err(|w| self.bad(w))?;
                    self.text.clear();
                    if let Some(skip) = skip {
                        // Leave the reader right before the end tag.
                        let end = match skip {
                            Skip::Format => &self.format_end,
                            Skip::Description => &self.description_end,
                        };
                        // Within this package: a skip never crosses a
                        // `</package>` (nor does a run of the stream).
                        let rest: &mut &[u8] = r.get_mut();
                        let bound = memchr::memmem::find(rest, b"</package>").unwrap_or(rest.len());
                        match end.find(rest.get(..bound).unwrap_or_default()) {
                            Some(i) => *rest = rest.get(i..).unwrap_or_default(),
                            None => {
                                return Err(self
                                    .bad(format!("<{}> without its end tag", e.name().as_ref())))
                            }
                        }
                    }
                }
                Event::Empty(e) => {
                    self.open(&e).map_err(|w| self.bad(w))?;
                    self.text.clear();
                    let name = e.name().as_ref().to_string();
                    self.close(&name, each)?;
                }
                Event::End(e) => {
                    let name = e.name().as_ref().to_string();
                    self.stack.pop(&name).map_err(|w| self.bad(w))?;
                    self.close(&name, each)?;
                    self.text.clear();
                }
                Event::Text(t) => {
                    let raw = t.into_inner();
                    if self.stack.depth() == 0 && !raw.trim().is_empty() {
                        return Err(self.bad("text outside the root element"));
                    }
                    // Only the text of the fields kept is gathered.
                    if self.stack.depth() == 3
                        && matches!(self.stack.top(), Some("name" | "arch" | "checksum"))
                    {
                        self.text.push_text(&raw);
                    }
                }
                Event::CData(t) => self.text.push_text(&t.into_inner()),
                Event::GeneralRef(g) => self.text.push_ref(&g).map_err(|w| self.bad(w))?,
            }
        }
    }

    /// Where the parse is, for messages: the package being read.
    fn bad(&self, why: impl std::fmt::Display) -> anyhow::Error {
        let at = match self.cur.as_ref().and_then(|p| p.name.as_ref()) {
            Some(n) => format!("package {} ({n})", self.count + 1),
            None if self.root_seen => format!("package {}", self.count + 1),
            None => "the start".into(),
        };
        malformed("primary.xml", format!("{at}: {why}"))
    }

    /// An element opens at depth `self.stack.depth()`; a package's
    /// `<format>` and `<description>` are to be skipped.
    fn open(&mut self, e: &BytesStart) -> Result<Option<Skip>, String> {
        let name = e.name();
        let name = name.as_ref();
        match self.stack.depth() {
            0 if self.root_done => Err(format!("<{name}> after the root element")),
            0 if name != "metadata" => Err(format!("the root element is <{name}>, not <metadata>")),
            0 => {
                self.root_seen = true;
                if let Some(n) = attr(e, "packages")? {
                    self.declared = Some(number(&n, "packages")?);
                }
                Ok(None)
            }
            1 if name == "package" => {
                self.cur = Some(Partial::default());
                Ok(None)
            }
            2 => {
                let Some(p) = self.cur.as_mut() else {
                    return Ok(None);
                };
                let dup = |f: &str| Err(format!("duplicate <{f}>"));
                match name {
                    "format" => return Ok(Some(Skip::Format)),
                    "description" => return Ok(Some(Skip::Description)),
                    "version" => {
                        if p.evr.is_some() {
                            return dup(name);
                        }
                        let get = |a: &str| -> Result<String, String> {
                            Ok(attr(e, a)?.unwrap_or_default())
                        };
                        p.evr = Some((get("epoch")?, get("ver")?, get("rel")?));
                    }
                    "checksum" => {
                        if p.checksum.is_some() {
                            return dup(name);
                        }
                        let t = attr(e, "type")?.ok_or("<checksum> without a type")?;
                        rpmmd::algo_of(&t, self.policy)?;
                        p.checksum_type = Some(t);
                    }
                    "size" => {
                        if p.size.is_some() {
                            return dup(name);
                        }
                        let s = attr(e, "package")?.ok_or("<size> without package=")?;
                        p.size = Some(number(&s, "size")?);
                    }
                    "location" => {
                        if p.location.is_some() {
                            return dup(name);
                        }
                        if attr(e, "xml:base")?.is_some() {
                            return Err("xml:base refused".into());
                        }
                        let href = attr(e, "href")?.ok_or("<location> without href")?;
                        check_location(&href)?;
                        p.location = Some(href);
                    }
                    _ => {}
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// An element closes; the stack no longer holds it.
    fn close(&mut self, name: &str, each: &mut Each) -> anyhow::Result<()> {
        match self.stack.depth() {
            0 => self.root_done = true,
            1 if name == "package" => {
                if let Some(p) = self.cur.take() {
                    let pkg = self.finish_package(p).map_err(|w| self.bad(w))?;
                    self.count += 1;
                    each(pkg)?;
                }
            }
            2 => {
                let value = self.text.get(name).map_err(|w| self.bad(w))?.to_string();
                let policy = self.policy;
                let Some(p) = self.cur.as_mut() else {
                    return Ok(());
                };
                let r = match name {
                    "name" | "arch" => {
                        let slot = match name {
                            "name" => &mut p.name,
                            _ => &mut p.arch,
                        };
                        match slot.replace(value) {
                            Some(_) => Err(format!("duplicate <{name}>")),
                            None => Ok(()),
                        }
                    }
                    "checksum" => {
                        let t = p.checksum_type.take().unwrap_or_default();
                        Checksum::parse(&t, &value, policy).map(|c| p.checksum = Some(c))
                    }
                    _ => Ok(()),
                };
                r.map_err(|w| self.bad(w))?;
            }
            _ => {}
        }
        Ok(())
    }

    fn finish_package(&self, p: Partial) -> Result<Package, String> {
        let missing = |f: &str| format!("no {f}");
        let (epoch, version, release) = p.evr.ok_or_else(|| missing("<version>"))?;
        Ok(Package {
            name: p.name.ok_or_else(|| missing("<name>"))?,
            arch: p.arch.ok_or_else(|| missing("<arch>"))?,
            epoch,
            version,
            release,
            checksum: p.checksum.ok_or_else(|| missing("<checksum>"))?,
            size: p.size.ok_or_else(|| missing("<size package=...>"))?,
            location: p.location.ok_or_else(|| missing("<location>"))?,
        })
    }
}

/// The packages of one primary, by location; a location or a NEVRA listed
/// twice is refused. Compact for Fedora's ~70,000 packages: the packages
/// in one vector, two tables of indices into it (no key is copied).
#[derive(Debug, Default)]
pub struct Index {
    packages: Vec<Package>,
    by_location: hashbrown::HashTable<u32>,
    by_nevra: hashbrown::HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
}

/// The fields of a NEVRA, for hashing and comparing without formatting it.
fn nevra_key(p: &Package) -> [&str; 5] {
    let epoch = match p.epoch.as_str() {
        "" => "0",
        e => e,
    };
    [&p.name, epoch, &p.version, &p.release, &p.arch]
}

impl Index {
    /// Add a package: a duplicate location or NEVRA is exit 1, naming both.
    pub fn insert(&mut self, p: Package) -> anyhow::Result<()> {
        use std::hash::BuildHasher;
        let Index {
            packages,
            by_location,
            by_nevra,
            hasher,
        } = self;
        let at = |i: &u32| packages.get(*i as usize);
        let h_loc = hasher.hash_one(&p.location);
        if by_location
            .find(h_loc, |i| at(i).is_some_and(|q| q.location == p.location))
            .is_some()
        {
            return Err(fail(
                Code::Failed,
                format!("duplicate package entries at {}", p.location),
            ));
        }
        let key = nevra_key(&p);
        let h_nevra = hasher.hash_one(key);
        if let Some(q) = by_nevra
            .find(h_nevra, |i| at(i).is_some_and(|q| nevra_key(q) == key))
            .and_then(at)
        {
            return Err(fail(
                Code::Failed,
                format!(
                    "duplicate package entries: {} at {} and at {}",
                    p.nevra(),
                    q.location,
                    p.location
                ),
            ));
        }
        let i = u32::try_from(packages.len())
            .map_err(|_| fail(Code::Failed, "more packages than an index holds"))?;
        packages.push(p);
        let hash_of = |i: &u32, f: &dyn Fn(&Package) -> u64| packages.get(*i as usize).map_or(0, f);
        by_location.insert_unique(h_loc, i, |j| hash_of(j, &|q| hasher.hash_one(&q.location)));
        by_nevra.insert_unique(h_nevra, i, |j| {
            hash_of(j, &|q| hasher.hash_one(nevra_key(q)))
        });
        Ok(())
    }

    pub fn get(&self, location: &str) -> Option<&Package> {
        use std::hash::BuildHasher;
        let h = self.hasher.hash_one(location);
        let i = self.by_location.find(h, |i| {
            self.packages
                .get(*i as usize)
                .is_some_and(|q| q.location == location)
        })?;
        self.packages.get(*i as usize)
    }

    pub fn len(&self) -> usize {
        self.packages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Package> {
        self.packages.iter()
    }
}

/// Parse a whole document held in memory (tests, fuzzing, small lists).
pub fn parse_all(bytes: &[u8], policy: Policy) -> anyhow::Result<Vec<Package>> {
    let mut out = Vec::new();
    let mut p = Parser::new(policy);
    let mut push = |pkg: Package| {
        out.push(pkg);
        Ok(())
    };
    p.feed(bytes, &mut push)?;
    p.finish(&mut push)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, loc: &str) -> String {
        format!(
            "<package type=\"rpm\">\n  <name>{name}</name>\n  <arch>noarch</arch>\n  <version epoch=\"0\" ver=\"1.0\" rel=\"1\"/>\n  <checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>\n  <summary>a &amp; b</summary>\n  <description>d</description>\n  <size package=\"6014\" installed=\"3\" archive=\"256\"/>\n  <location href=\"{loc}\"/>\n  <format>\n    <rpm:license>MIT</rpm:license>\n    <rpm:provides><rpm:entry name=\"{name}\" flags=\"EQ\"/></rpm:provides>\n    <file>/usr/share/{name}/d</file>\n  </format>\n</package>\n",
            "ab".repeat(32)
        )
    }

    fn doc(pkgs: &[String]) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{}\">\n{}</metadata>\n",
            pkgs.len(),
            pkgs.concat()
        )
    }

    fn err(s: &str) -> String {
        format!(
            "{:#}",
            parse_all(s.as_bytes(), Policy::default()).unwrap_err()
        )
    }

    #[test]
    fn streams_in_any_pieces() {
        let d = doc(&[
            pkg("foo", "foo-1.0-1.noarch.rpm"),
            pkg("bar&amp;x", "b/bar.rpm"),
        ]);
        let all = parse_all(d.as_bytes(), Policy::default()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].name, "bar&x");
        assert_eq!(all[0].size, 6014);
        assert_eq!(all[0].nevra(), "foo-1.0-1.noarch");
        for step in [1, 7, 100] {
            let mut got = Vec::new();
            let mut p = Parser::new(Policy::default());
            let mut push = |x: Package| {
                got.push(x);
                Ok(())
            };
            for c in d.as_bytes().chunks(step) {
                p.feed(c, &mut push).unwrap();
            }
            p.finish(&mut push).unwrap();
            assert_eq!(got, all, "pieces of {step}");
        }
    }

    #[test]
    fn refusals_name_the_package() {
        let good = pkg("foo", "foo.rpm");
        let e = err(&doc(&[good.replace("sha256", "sha1")]));
        assert!(e.contains("package 1 (foo)") && e.contains("SHA-1"), "{e}");
        let e = err(&doc(&[
            good.replace("href=", "xml:base=\"http://x/\" href=")
        ]));
        assert!(e.contains("xml:base refused"), "{e}");
        let e = err(&doc(&[good.replace("foo.rpm", "/tmp/foo.rpm")]));
        assert!(e.contains("absolute"), "{e}");
        let e = err(&doc(&[
            good.replace("  <size", "  <size package=\"1\"/><size")
        ]));
        assert!(e.contains("duplicate <size>"), "{e}");
        let e = err(&doc(std::slice::from_ref(&good)).replace("packages=\"1\"", "packages=\"2\""));
        assert!(e.contains("but 1 packages"), "{e}");
        let e = err(&doc(&[good.replace("<location href=\"foo.rpm\"/>", "")]));
        assert!(e.contains("no <location>"), "{e}");
        let e = err(&doc(std::slice::from_ref(&good)).replace("</metadata>", ""));
        assert!(e.contains("ends before </metadata>"), "{e}");
        let e = err(&doc(&[good.replace("</name>", "</nome>")]));
        assert!(e.contains("</nome> closes <name>"), "{e}");
        let e = err(&doc(&[good.replace("a &amp; b", "a &ent; b")]));
        assert!(e.contains("&ent;"), "{e}");
        let e = err(&doc(&[good.replace("</format>", "")]));
        assert!(e.contains("malformed primary.xml"), "{e}");
        // An unclosed description or format is not closed by the next
        // package's (a skip stays inside its package, as a run does).
        let unclosed = good.replace("</description>", "");
        let e = err(&doc(&[unclosed, pkg("bar", "bar.rpm")]));
        assert!(e.contains("<description> without its end tag"), "{e}");
    }

    #[test]
    fn the_index_refuses_duplicates() {
        let d = doc(&[pkg("foo", "a/foo.rpm"), pkg("foo", "b/foo.rpm")]);
        let mut idx = Index::default();
        let r: anyhow::Result<()> = parse_all(d.as_bytes(), Policy::default())
            .unwrap()
            .into_iter()
            .try_for_each(|p| idx.insert(p));
        let e = format!("{:#}", r.unwrap_err());
        assert!(
            e.contains("duplicate package entries: foo-1.0-1.noarch at a/foo.rpm and at b/foo.rpm"),
            "{e}"
        );
    }
}
