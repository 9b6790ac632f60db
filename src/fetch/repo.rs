//! An RPM repository at a URL, for `verify-package --repo URL`: each file
//! the chain asks for is downloaded into an anonymous temporary file (the
//! chain checks it before anything reads it further).

use super::transport::{is_not_found, Transport};
use crate::exit::{fail, Code, ResultExt};
use crate::package::rpmrepo::Source;
use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;

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
/// local directory.
pub fn repo_source(
    operand: &str,
    transport: impl FnOnce() -> anyhow::Result<Transport>,
) -> anyhow::Result<Box<dyn Source>> {
    if operand.contains("://") {
        return Ok(Box::new(UrlSource::new(transport()?, operand)));
    }
    Ok(Box::new(crate::package::rpmrepo::DirSource::new(
        Path::new(operand),
    )?))
}
