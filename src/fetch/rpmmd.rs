//! rpm-md lists as `--hash-file` (issue 25): a verified repomd.xml pins
//! the metadata files it lists, a primary.xml the packages it lists, each
//! by its location (the URL's path ends with it), size and checksum. A
//! primary is used only beside the repomd.xml that lists it (the same
//! directory), and only once its bytes match that entry: its decoder never
//! sees unauthenticated bytes, and a stale primary is never a pin list.

use crate::codec::Compression;
use crate::digest::Algo;
use crate::exit::{fail, Code, ResultExt};
use crate::lists::primary::{Package, Parser};
use crate::lists::repomd::{self, Repomd};
use crate::lists::rpmmd::Policy;
use std::io::{Read, Seek};
use std::path::Path;

/// Is `name` an rpm-md list this module reads?
pub fn is_rpm_md(name: &str) -> bool {
    name == "repomd.xml" || name.contains("primary.xml")
}

/// What an entry pins: its checksum, its size, its location.
pub type Pin = (Vec<(Algo, Vec<u8>)>, Option<u64>, String);

/// What the download is looked up by: the URL's path (percent-decoded),
/// and the file names it may be listed under.
pub struct Wanted<'a> {
    pub path: &'a [u8],
    pub names: &'a [String],
}

/// Does the URL path (or one of the names) name `location`?
fn names(location: &str, target: &Wanted) -> bool {
    let path = target.path;
    let loc = location.as_bytes();
    let under = path.ends_with(loc)
        && (path.len() == loc.len() || path.get(path.len() - loc.len() - 1) == Some(&b'/'));
    under || {
        let base = location.rsplit('/').next().unwrap_or(location);
        target.names.iter().any(|n| n == base)
    }
}

fn read_repomd(path: &Path) -> anyhow::Result<Repomd> {
    let bytes = crate::fsutil::read_regular(path, "repomd.xml", repomd::MAX_REPOMD, Code::Usage)?;
    repomd::parse(&bytes, Policy::default())
}

/// The pins `list` (a repomd.xml or a primary.xml) gives `target`.
pub fn pins(list: &Path, target: &Wanted) -> anyhow::Result<Pin> {
    let name = list
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name == "repomd.xml" {
        let md = read_repomd(list)?;
        let found: Vec<_> = md
            .data
            .iter()
            .filter(|d| names(&d.location, target))
            .collect();
        let [d] = found.as_slice() else {
            return Err(fail(
                if found.is_empty() {
                    Code::Missing
                } else {
                    Code::Usage
                },
                format!("{} entries for {}", found.len(), target.names.join(", ")),
            ));
        };
        return Ok((
            vec![(d.checksum.algo, d.checksum.digest.clone())],
            d.size,
            d.location.clone(),
        ));
    }
    let dir = crate::fsutil::parent_dir(list);
    let md_path = dir.join("repomd.xml");
    if !md_path.exists() {
        return Err(fail(
            Code::Usage,
            format!(
                "a primary is a pin list only beside the repomd.xml that lists it: no {}",
                md_path.display()
            ),
        ));
    }
    let md = read_repomd(&md_path)?;
    let entry = md
        .data
        .iter()
        .find(|d| d.location.rsplit('/').next() == Some(name.as_str()))
        .ok_or_else(|| {
            fail(
                Code::Failed,
                format!("{} does not list {name}", md_path.display()),
            )
        })?;
    let mut file = crate::fsutil::open_regular(list, "hash file")?;
    let len = file
        .metadata()
        .with_code(Code::Io, || format!("reading {}", list.display()))?
        .len();
    let d = crate::digest::hash_reader(&mut file, &[entry.checksum.algo])
        .with_code(Code::Io, || format!("reading {}", list.display()))?;
    if entry.size.is_some_and(|s| s != len)
        || d.get(entry.checksum.algo) != Some(&entry.checksum.digest[..])
    {
        return Err(fail(
            Code::Failed,
            format!("{name} does not match its entry in {}", md_path.display()),
        ));
    }
    file.rewind()
        .with_code(Code::Io, || format!("reading {}", list.display()))?;
    let mut content: Box<dyn Read + Send + Sync> = match Compression::from_metadata_name(&name) {
        Some(c) => c.decoder(std::io::BufReader::new(file)),
        None => Box::new(file),
    };
    let mut found: Option<Package> = None;
    let mut parser = Parser::new(Policy::default());
    let mut each = |p: Package| {
        if names(p.location(), target) {
            if let Some(first) = &found {
                return Err(fail(
                    Code::Usage,
                    format!("two entries fit: {} and {}", first.location(), p.location()),
                ));
            }
            found = Some(p);
        }
        Ok(())
    };
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = content
            .read(&mut buf)
            .map_err(|e| fail(Code::Failed, format!("{name}: cannot decompress: {e}")))?;
        if n == 0 {
            break;
        }
        parser.feed(buf.get(..n).unwrap_or_default(), &mut each)?;
    }
    parser.finish(&mut each)?;
    let p = found.ok_or_else(|| {
        fail(
            Code::Missing,
            format!("no entry for {}", target.names.join(", ")),
        )
    })?;
    let location = p.location().to_string();
    Ok((
        vec![(p.checksum.algo, p.checksum.digest)],
        Some(p.size),
        location,
    ))
}
