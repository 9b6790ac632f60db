//! A c2sp.org/tlog-tiles log over HTTP(S) (or file://), for the log's
//! reader ([`Source`]): the transport's policy,
//! timeouts and retries; a 404 is a resource the log does not serve.

use super::tiles::Source;
use crate::exit::Code;
use crate::net::{is_not_found, retrying, Transport};

/// The resources under one URL prefix.
pub struct HttpSource {
    transport: Transport,
    prefix: String,
}

impl HttpSource {
    /// `prefix` is the log's URL prefix (a `/` is added when missing).
    pub fn new(transport: Transport, prefix: &str) -> HttpSource {
        let mut prefix = prefix.to_string();
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        HttpSource { transport, prefix }
    }
}

impl Source for HttpSource {
    fn get(&self, path: &str, limit: u64) -> anyhow::Result<Option<Vec<u8>>> {
        let url = self.locate(path);
        retrying(self.transport.options().retries, &|_| {}, || {
            match self.transport.open(&url) {
                Ok(src) => {
                    crate::fsutil::read_bounded(src.reader, limit, &url, Code::Failed).map(Some)
                }
                Err(e) if is_not_found(&e) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn locate(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }
}
