//! The files to check and everything the lists pin for each, kept
//! compactly: a list of millions of entries must not cost gigabytes.

use super::Options;
use crate::digest::Algo;
use crate::exit::{fail, Code};
use crate::lists::hashlist::{display_name, Entry, Format};
use crate::lists::implied_file;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// One file to check and everything the lists pin for it.
#[derive(Clone, Debug)]
pub struct Target {
    /// The name as written in the list (for output).
    pub name: Vec<u8>,
    pub path: PathBuf,
    pub expected: Vec<(Algo, Vec<u8>)>,
    /// Sizes the lists pin (Debian lists carry them); all must match.
    pub sizes: Vec<u64>,
}

/// No pin (the end of an item's chain).
const NONE: u32 = u32::MAX;

/// One file in [`Targets`]: its name (and path, when it differs) in the
/// arena, its pins as a chain.
#[derive(Clone, Copy, Debug)]
struct Item {
    at: usize,
    name_len: u32,
    /// 0: the path is the name's bytes; else its length, after the name.
    path_len: u32,
    first: u32,
    last: u32,
}

/// One pinned digest (its offset in the arena) or size.
#[derive(Clone, Copy, Debug)]
struct Pin {
    value: u64,
    next: u32,
    /// None: `value` is a size.
    algo: Option<Algo>,
    len: u16,
}

/// Every file to check, in first-seen order, with its pins merged across
/// lines and lists.
///
/// Kept compactly, because a list of millions of entries must not cost
/// gigabytes (DESIGN.md §1.6): names, paths and digests back to back in
/// one arena, a few words per file and per pin, and an index of the files
/// by name (duplicate names are grouped, so the whole list is needed
/// before anything is hashed). About 60 bytes per entry plus its name and
/// digest; [`super::check_all`] builds the [`Target`]s of a few thousand files at
/// a time.
#[derive(Debug, Default)]
pub struct Targets {
    bytes: Vec<u8>,
    items: Vec<Item>,
    pins: Vec<Pin>,
    index: hashbrown::HashTable<u32>,
    hasher: std::collections::hash_map::RandomState,
}

impl Targets {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn name_of<'a>(bytes: &'a [u8], it: &Item) -> &'a [u8] {
        bytes
            .get(it.at..it.at + it.name_len as usize)
            .unwrap_or_default()
    }

    /// The file at `i` (in first-seen order) with everything pinned for it.
    pub fn get(&self, i: usize) -> Option<Target> {
        let it = self.items.get(i)?;
        let name = Self::name_of(&self.bytes, it).to_vec();
        let path = match it.path_len {
            0 => name.clone(),
            n => {
                let start = it.at + it.name_len as usize;
                self.bytes
                    .get(start..start + n as usize)
                    .unwrap_or_default()
                    .to_vec()
            }
        };
        let mut t = Target {
            name,
            path: PathBuf::from(OsStr::from_bytes(&path)),
            expected: Vec::new(),
            sizes: Vec::new(),
        };
        for pin in self.pins_of(it) {
            match pin.algo {
                Some(algo) => {
                    let at = pin.value as usize;
                    let d = self.bytes.get(at..at + usize::from(pin.len));
                    t.expected.push((algo, d.unwrap_or_default().to_vec()));
                }
                None => t.sizes.push(pin.value),
            }
        }
        Some(t)
    }

    /// The pins of `it`, in the order they were added.
    fn pins_of<'a>(&'a self, it: &Item) -> impl Iterator<Item = &'a Pin> + 'a {
        std::iter::successors(self.pins.get(it.first as usize), |p| {
            self.pins.get(p.next as usize)
        })
    }

    /// Pin `digest` for the file `name` at `path`.
    pub fn add(
        &mut self,
        name: Vec<u8>,
        path: PathBuf,
        algo: Algo,
        digest: Vec<u8>,
    ) -> anyhow::Result<()> {
        self.add_ref(&name, &path, algo, &digest)
    }

    pub(super) fn add_ref(
        &mut self,
        name: &[u8],
        path: &Path,
        algo: Algo,
        digest: &[u8],
    ) -> anyhow::Result<()> {
        let len = u16::try_from(digest.len()).map_err(|_| too_many())?;
        let i = self.target(name, path)?;
        let value = self.bytes.len() as u64;
        self.bytes.extend_from_slice(digest);
        self.push_pin(
            i,
            Pin {
                value,
                next: NONE,
                algo: Some(algo),
                len,
            },
        )
    }

    /// Pin the size of the file `name` at `path` (Debian lists).
    pub fn add_size(&mut self, name: Vec<u8>, path: PathBuf, size: u64) -> anyhow::Result<()> {
        let i = self.target(&name, &path)?;
        let known = self.items.get(i).is_some_and(|it| {
            self.pins_of(it)
                .any(|p| p.algo.is_none() && p.value == size)
        });
        if known {
            return Ok(());
        }
        self.push_pin(
            i,
            Pin {
                value: size,
                next: NONE,
                algo: None,
                len: 0,
            },
        )
    }

    fn push_pin(&mut self, i: usize, pin: Pin) -> anyhow::Result<()> {
        let p = u32::try_from(self.pins.len())
            .ok()
            .filter(|&p| p != NONE)
            .ok_or_else(too_many)?;
        let it = self.items.get_mut(i).ok_or_else(too_many)?;
        match self.pins.get_mut(it.last as usize) {
            Some(last) => last.next = p,
            None => it.first = p,
        }
        it.last = p;
        self.pins.push(pin);
        Ok(())
    }

    /// The index of the target for `name`, created when new.
    fn target(&mut self, name: &[u8], path: &Path) -> anyhow::Result<usize> {
        use std::hash::BuildHasher;
        let h = self.hasher.hash_one(name);
        let (bytes, items) = (&self.bytes, &self.items);
        let same = |&i: &u32| {
            items
                .get(i as usize)
                .is_some_and(|it| Self::name_of(bytes, it) == name)
        };
        if let Some(&i) = self.index.find(h, same) {
            return Ok(i as usize);
        }
        let i = u32::try_from(self.items.len())
            .ok()
            .filter(|&i| i != NONE)
            .ok_or_else(too_many)?;
        let at = self.bytes.len();
        self.bytes.extend_from_slice(name);
        let path = path.as_os_str().as_bytes();
        let path_len = if path == name {
            0
        } else {
            self.bytes.extend_from_slice(path);
            u32::try_from(path.len()).map_err(|_| too_many())?
        };
        self.items.push(Item {
            at,
            name_len: u32::try_from(name.len()).map_err(|_| too_many())?,
            path_len,
            first: NONE,
            last: NONE,
        });
        let (bytes, items, hasher) = (&self.bytes, &self.items, &self.hasher);
        self.index.insert_unique(h, i, |&j| {
            let it = items.get(j as usize);
            hasher.hash_one(it.map_or(&[][..], |it| Self::name_of(bytes, it)))
        });
        Ok(i as usize)
    }

    /// `check-hashes --sha256 HEX FILE`: FILE comes from the command line,
    /// not from a list, so it is not subject to `--allow-outside`.
    /// FILE is named on the command line: missing or not a regular file is
    /// a usage error (exit 2), unlike a file a list names (exit 1).
    pub fn pin(
        &mut self,
        file: &Path,
        pins: Vec<(Algo, Vec<u8>)>,
        opts: &Options,
    ) -> anyhow::Result<()> {
        let path = opts.resolve(file);
        crate::fsutil::input::require_regular(&path, "file")?;
        for (algo, digest) in pins {
            self.add_ref(file.as_os_str().as_bytes(), &path, algo, &digest)?;
        }
        Ok(())
    }

    /// Add one list entry. `list` is its path (None for stdin): a bare
    /// digest in `foo.sha256` pins `foo` next to it (or in `-C DIR`).
    pub(super) fn add_entry(
        &mut self,
        e: Entry,
        list: Option<&Path>,
        opts: &Options,
    ) -> anyhow::Result<()> {
        match e.name {
            Some(name) => {
                let path = listed_path(&name, opts, &format!("line {}", e.line))?;
                self.add_ref(&name, &path, e.algo, &e.digest)?;
            }
            None => {
                let list = list.ok_or_else(|| {
                    fail(
                        Code::Usage,
                        "a digest without a file name needs a list file named FILE.sha256 (or .sha512, ...), not standard input",
                    )
                })?;
                let (file, ext_algo) = implied_file(list)?;
                let algo = match (e.format, ext_algo) {
                    // `foo.b2` says BLAKE2b where the length alone says SHA-512.
                    (Format::Bare, Some(a)) if a.digest_len() == e.digest.len() => a,
                    (Format::Bare, Some(a)) => {
                        return Err(fail(
                            Code::Usage,
                            format!(
                                "line {}: a {}-byte digest is not {a}",
                                e.line,
                                e.digest.len()
                            ),
                        ))
                    }
                    _ => e.algo,
                };
                let path = match &opts.dir {
                    Some(d) => d.join(file.file_name().unwrap_or_default()),
                    None => file,
                };
                self.add_ref(path.as_os_str().as_bytes(), &path, algo, &e.digest)?;
            }
        }
        Ok(())
    }

    /// Add the entries of one list (see [`Targets::add_entry`]).
    pub fn add_entries(
        &mut self,
        entries: Vec<Entry>,
        list: Option<&Path>,
        opts: &Options,
    ) -> anyhow::Result<()> {
        entries
            .into_iter()
            .try_for_each(|e| self.add_entry(e, list, opts))
    }

    /// `--require FILE`: exit 3 unless FILE has an entry (`./x` is `x`).
    pub fn require(&self, name: &str) -> anyhow::Result<()> {
        let norm = |mut n: &[u8]| -> Vec<u8> {
            while let Some(rest) = n.strip_prefix(b"./") {
                n = rest;
            }
            n.to_vec()
        };
        let want = norm(name.as_bytes());
        if self
            .items
            .iter()
            .any(|it| norm(Self::name_of(&self.bytes, it)) == want)
        {
            Ok(())
        } else {
            Err(fail(Code::Missing, format!("no hash entry for {name}")))
        }
    }
}

/// More files, pins or bytes than the compact form counts (billions):
/// far past any list this reads.
fn too_many() -> anyhow::Error {
    fail(Code::Usage, "more hash entries than can be checked at once")
}

/// Where a listed name is, refusing absolute and `..` names unless allowed.
pub(super) fn listed_path(name: &[u8], opts: &Options, at: &str) -> anyhow::Result<PathBuf> {
    let rel = Path::new(OsStr::from_bytes(name));
    if !opts.allow_outside && is_outside(rel) {
        return Err(fail(
            Code::Usage,
            format!(
                "{at}: refusing {:?}: absolute or `..` names need --allow-outside",
                String::from_utf8_lossy(&display_name(name))
            ),
        ));
    }
    Ok(opts.resolve(rel))
}

fn is_outside(p: &Path) -> bool {
    p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir))
}
