//! Where a repository's files are read from: a local directory, or a URL
//! through [`crate::net`] (each file the chain asks for is downloaded into
//! an anonymous temporary file, which the chain checks before anything
//! reads it further).

use crate::exit::{fail, Code, ResultExt};
use crate::net::{is_not_found, Transport, TransportOptions};
use std::fs::File;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

/// Where a repository's files are read from.
pub trait Source: Send + Sync {
    /// The file at `rel` (relative to the repository's root) as a file
    /// positioned at its start (a download is kept in an anonymous
    /// temporary file); None when it is not there.
    fn get(&self, rel: &str, max: u64) -> anyhow::Result<Option<File>>;
    /// The repository's root on this machine, when it is a directory.
    fn local_root(&self) -> Option<&Path>;
    /// How to name `rel` in messages.
    fn name(&self, rel: &str) -> String;
}

/// A repository in a local directory.
pub struct DirSource {
    root: PathBuf,
}

impl DirSource {
    /// The repository at `root`: a directory (exit 2 otherwise).
    pub fn new(root: &Path) -> anyhow::Result<DirSource> {
        let meta = std::fs::metadata(root)
            .with_code(Code::Usage, || format!("repository {}", root.display()))?;
        if !meta.is_dir() {
            return Err(fail(
                Code::Usage,
                format!("repository {}: not a directory", root.display()),
            ));
        }
        Ok(DirSource {
            root: root.to_path_buf(),
        })
    }
}

impl Source for DirSource {
    fn get(&self, rel: &str, _max: u64) -> anyhow::Result<Option<File>> {
        let path = self.root.join(rel);
        match crate::fsutil::open_regular_io(&path) {
            Ok(f) => Ok(Some(f)),
            // A component that is a file (`repodata` not a directory)
            // names nothing, as a missing one.
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound || crate::fsutil::cannot_exist(&e) =>
            {
                Ok(None)
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
                Err(fail(Code::Failed, format!("{}: {e}", path.display())))
            }
            Err(e) => Err(e).with_code(Code::Io, || format!("reading {}", path.display())),
        }
    }

    fn local_root(&self) -> Option<&Path> {
        Some(&self.root)
    }

    fn name(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }
}

/// A repository whose root is `base` (https://, http:// when allowed, file://).
pub struct UrlSource {
    transport: Transport,
    base: String,
}

impl UrlSource {
    pub fn new(transport: Transport, base: &str) -> UrlSource {
        UrlSource {
            transport,
            base: base.trim_end_matches('/').to_string(),
        }
    }
}

impl Source for UrlSource {
    fn get(&self, rel: &str, max: u64) -> anyhow::Result<Option<File>> {
        let url = self.name(rel);
        let src = match self.transport.open(&url) {
            Ok(s) => s,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        if src.len.is_some_and(|n| n > max) {
            return Err(fail(
                Code::Failed,
                format!("{url}: larger than {max} bytes"),
            ));
        }
        let mut tmp = tempfile::tempfile().code(Code::Io, "creating a temporary file")?;
        let copied = std::io::copy(&mut src.reader.take(max + 1), &mut tmp)
            .with_code(Code::Io, || format!("downloading {url}"))?;
        if copied > max {
            return Err(fail(
                Code::Failed,
                format!("{url}: larger than {max} bytes"),
            ));
        }
        if src.len.is_some_and(|n| n != copied) {
            return Err(fail(
                Code::Io,
                format!("{url}: the transfer ended after {copied} bytes"),
            ));
        }
        tmp.rewind()
            .with_code(Code::Io, || format!("reading {url}"))?;
        Ok(Some(tmp))
    }

    fn local_root(&self) -> Option<&Path> {
        None
    }

    /// The URL of `rel`: a listed location is a path, so a `#`, `?`, `%`
    /// or space in it is escaped rather than read as URL syntax.
    fn name(&self, rel: &str) -> String {
        use percent_encoding::{utf8_percent_encode, CONTROLS};
        const PATH: &percent_encoding::AsciiSet = &CONTROLS
            .add(b' ')
            .add(b'"')
            .add(b'#')
            .add(b'%')
            .add(b'<')
            .add(b'>')
            .add(b'?')
            .add(b'`')
            .add(b'{')
            .add(b'}');
        format!("{}/{}", self.base, utf8_percent_encode(rel, PATH))
    }
}

/// The source a `--repo` operand names: a URL (with a scheme) or a
/// local directory. `allow_http` admits http:// URLs.
pub fn open(operand: &str, allow_http: bool) -> anyhow::Result<Box<dyn Source>> {
    if operand.contains("://") {
        let transport = Transport::new(TransportOptions {
            allow_http,
            ..Default::default()
        })?;
        return Ok(Box::new(UrlSource::new(transport, operand)));
    }
    Ok(Box::new(DirSource::new(Path::new(operand))?))
}
