//! `--generate`: lists written as `sha256sum` (`--tag`, `-z`) writes them,
//! hashed on all cores, in argument order.

use super::order::par_in_order;
use crate::digest::{hash_file, hash_reader, Algo};
use crate::exit::{Code, ResultExt};
use crate::lists::hashlist::{self, display_name};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `--generate`: what to write.
#[derive(Clone, Debug)]
pub struct Generate {
    pub algo: Algo,
    /// BSD `ALG (NAME) = HEX` lines instead of GNU `HEX  NAME`.
    pub tag: bool,
    /// NUL-terminated lines, names unescaped (`sha256sum -z`).
    pub zero: bool,
    /// Resolve FILES relative to this directory; names are written as given.
    pub dir: Option<PathBuf>,
    /// One JSON object per file and a summary instead of list lines.
    pub json: bool,
}

/// Write a list for `files` (`-` is standard input) as `sha256sum`
/// (`--tag`, `-z`) would, hashing on all cores, in argument order. A file
/// that cannot be read is reported on `err` and makes the result exit 4.
pub fn generate(
    files: &[PathBuf],
    g: &Generate,
    out: &mut impl Write,
    err: &mut impl Write,
) -> anyhow::Result<Code> {
    let mut code = Code::Ok;
    let hash_one = |p: &PathBuf| {
        if p.as_path() == Path::new("-") {
            hash_reader(std::io::stdin().lock(), &[g.algo])
        } else {
            match &g.dir {
                Some(d) => hash_file(&d.join(p), &[g.algo]),
                None => hash_file(p, &[g.algo]),
            }
        }
    };
    let mut written = 0usize;
    let out = std::cell::RefCell::new(out);
    par_in_order(
        files,
        hash_one,
        |p, r| {
            let mut out = out.borrow_mut();
            let name = p.as_os_str().as_bytes();
            let shown = String::from_utf8_lossy(&display_name(name)).into_owned();
            match r {
                Ok(d) => {
                    written += 1;
                    let digest = d.get(g.algo).unwrap_or_default();
                    let line = if g.json {
                        let v = serde_json::json!({"path": shown, "algo": g.algo.name(),
                        "digest": hex::encode(digest), "size": d.len});
                        format!("{v}\n").into_bytes()
                    } else {
                        hashlist::format_line(g.algo, digest, name, g.tag, g.zero)
                    };
                    out.write_all(&line).code(Code::Io, "writing the list")
                }
                Err(e) => {
                    code = code.worst(Code::Io);
                    out.flush().code(Code::Io, "writing the list")?;
                    writeln!(err, "check-hashes: {shown}: {e}").code(Code::Io, "writing to stderr")
                }
            }
        },
        || out.borrow_mut().flush().code(Code::Io, "writing the list"),
    )?;
    let out = out.into_inner();
    if g.json {
        let v = serde_json::json!({"summary": {"files": files.len(), "hashed": written,
            "unreadable": files.len() - written, "exit": code.as_u8()}});
        writeln!(out, "{v}").code(Code::Io, "writing the list")?;
    }
    out.flush().code(Code::Io, "writing the list")?;
    Ok(code)
}
