//! In-process decoders, for signatures over uncompressed content (kernel.org
//! `linux-X.tar.xz` + `linux-X.tar.sign`), compressed Debian indices and
//! RPM payloads. Memory-safe decoders only; a stream must end cleanly:
//! truncation and trailing bytes are failures, not a shorter valid input.

use std::io::{self, BufRead, Read};

/// xz decoder memory cap in KiB: 1 GiB, far above any real preset (xz -9e
/// needs 65 MiB) yet bounded against hostile headers.
const XZ_MEM_LIMIT_KIB: u32 = 1 << 20;

/// The compressions `--uncompress` knows, by file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Xz,
    Bzip2,
}

/// File name endings, and whether the decompressed file is a tar
/// (`foo.tgz` holds `foo.tar`).
const SUFFIXES: [(&str, Compression, bool); 7] = [
    (".tgz", Compression::Gzip, true),
    (".txz", Compression::Xz, true),
    (".tbz2", Compression::Bzip2, true),
    (".tbz", Compression::Bzip2, true),
    (".gz", Compression::Gzip, false),
    (".xz", Compression::Xz, false),
    (".bz2", Compression::Bzip2, false),
];

impl Compression {
    /// The ending of `name` that says how it is compressed, if any.
    fn suffix(name: &str) -> Option<(&'static str, Compression, bool)> {
        let lower = name.to_ascii_lowercase();
        SUFFIXES
            .into_iter()
            .find(|(ext, _, _)| lower.ends_with(ext))
    }

    pub fn from_name(name: &str) -> Option<Compression> {
        Compression::suffix(name).map(|(_, c, _)| c)
    }

    /// The name of the decompressed file (`foo.tar.xz` -> `foo.tar`,
    /// `foo.tgz` -> `foo.tar`), as a signed hash list of the uncompressed
    /// content names it.
    pub fn decompressed_name(name: &str) -> Option<String> {
        let (ext, _, tar) = Compression::suffix(name)?;
        let stem = name.get(..name.len() - ext.len())?;
        Some(if tar {
            format!("{stem}.tar")
        } else {
            stem.to_string()
        })
    }

    /// A decoder over `inner` for every stream of the file (multi-member
    /// gzip, concatenated xz and bzip2 streams, as their tools accept).
    pub fn decoder<'a, R: Read + Send + Sync + 'a>(
        self,
        inner: R,
    ) -> Box<dyn Read + Send + Sync + 'a> {
        match self {
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(inner)),
            Compression::Bzip2 => Box::new(StrictMultiBz::new(io::BufReader::new(inner))),
            Compression::Xz => Box::new(lzma_rust2::XzReader::new_mem_limit(
                inner,
                true,
                XZ_MEM_LIMIT_KIB,
            )),
        }
    }
}

/// Multi-stream bzip2 that, unlike bzip2's own MultiBzDecoder, refuses
/// bytes after the last stream instead of ignoring them.
struct StrictMultiBz<R: BufRead> {
    dec: Option<bzip2::bufread::BzDecoder<R>>,
}

impl<R: BufRead> StrictMultiBz<R> {
    fn new(r: R) -> Self {
        StrictMultiBz {
            dec: Some(bzip2::bufread::BzDecoder::new(r)),
        }
    }
}

impl<R: BufRead> Read for StrictMultiBz<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(dec) = self.dec.as_mut() else {
                return Ok(0);
            };
            let n = dec.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // One stream ended: another must follow, or nothing at all.
            let Some(mut inner) = self.dec.take().map(|d| d.into_inner()) else {
                return Ok(0);
            };
            let rest = inner.fill_buf()?;
            if rest.is_empty() {
                return Ok(0);
            }
            if !rest.starts_with(b"BZh") {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "data after the bzip2 stream",
                ));
            }
            self.dec = Some(bzip2::bufread::BzDecoder::new(inner));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(c: Compression, data: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        c.decoder(data).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn decompressed_names() {
        let n = Compression::decompressed_name;
        assert_eq!(n("linux-6.1.tar.xz").as_deref(), Some("linux-6.1.tar"));
        assert_eq!(n("foo.TGZ").as_deref(), Some("foo.tar"));
        assert_eq!(n("a.bz2").as_deref(), Some("a"));
        assert_eq!(n("a.zip"), None);
    }

    #[test]
    fn gzip_round_trip_truncation_and_garbage() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&[7u8; 100_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(decode(Compression::Gzip, &gz).unwrap(), vec![7u8; 100_000]);
        assert!(decode(Compression::Gzip, &gz[..gz.len() - 5]).is_err());
        let mut tail = gz.clone();
        tail.extend_from_slice(b"junk");
        assert!(decode(Compression::Gzip, &tail).is_err());
    }

    #[test]
    fn bzip2_streams_concatenate_but_garbage_fails() {
        use std::io::Write;
        let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        enc.write_all(b"hello ").unwrap();
        let one = enc.finish().unwrap();
        let two = [one.clone(), one.clone()].concat();
        assert_eq!(decode(Compression::Bzip2, &two).unwrap(), b"hello hello ");
        assert!(decode(Compression::Bzip2, &[one.clone(), b"x".to_vec()].concat()).is_err());
        assert!(decode(Compression::Bzip2, &one[..one.len() - 3]).is_err());
    }

    #[test]
    fn names() {
        assert_eq!(
            Compression::from_name("linux-6.1.tar.XZ"),
            Some(Compression::Xz)
        );
        assert_eq!(Compression::from_name("a.tgz"), Some(Compression::Gzip));
        assert_eq!(
            Compression::from_name("a.tar.bz2"),
            Some(Compression::Bzip2)
        );
        assert_eq!(Compression::from_name("a.tar.zst"), None);
    }
}
