//! Every list format the tools read, and the one reader of a signed list:
//!
//! - [`hashlist`]: hash lists (GNU, BSD/`--tag`, Buildroot, SRI, bare hex);
//! - [`deb822`]: Debian control files, streamed and bounded;
//! - [`debian`]: Release/InRelease, Packages, Sources, .dsc and .changes
//!   as lists of files with sizes and digests, a Release's dates judged;
//! - [`signed`]: a list's signature (cleartext, named, or beside it),
//!   checked before any of its text is used.
//!
//! RPM repository metadata (repomd.xml, primary.xml) belongs here too.
//! Lists come from anywhere (a file, standard input, the network): this
//! layer reads bytes; checking files against what a list pins is the job
//! of the layers above.

pub mod deb822;
pub mod debian;
pub mod hashlist;
pub mod signed;

use crate::digest::Algo;
use crate::exit::{fail, Code};
use hashlist::ParseOptions;
use std::path::{Path, PathBuf};

/// Longest list read (bounded input).
pub const MAX_LIST: u64 = 256 * 1024 * 1024;

/// Read a whole list, bounded; `-` is standard input.
pub fn read_list(list: &Path) -> anyhow::Result<Vec<u8>> {
    let what = format!("list {}", list.display());
    if list == Path::new("-") {
        crate::fsutil::read_bounded(std::io::stdin().lock(), MAX_LIST, &what, Code::Usage)
    } else {
        crate::fsutil::input::read_regular(list, "list", MAX_LIST, Code::Usage)
    }
}

/// Parse options for the list at `list`: one named for BLAKE2 (B2SUMS,
/// foo.b2) makes untagged 128-digit lines BLAKE2b rather than SHA-512.
pub fn list_options(list: &Path, mut parse: ParseOptions) -> ParseOptions {
    let lname = list
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let blake = lname.starts_with("b2sum") || lname.ends_with(".b2") || lname.contains("blake2");
    if parse.untagged_512.is_none() && blake {
        parse.untagged_512 = Some(Algo::Blake2b512);
    }
    parse
}

/// Does `data` read as a hash list (or a Debian list) with at least one
/// named entry? `list` is its name (for [`list_options`]).
pub fn is_list(data: &[u8], list: &Path, parse: ParseOptions) -> bool {
    if debian::looks_like_deb822(data) {
        return debian::list_entries(data).is_ok_and(|e| !e.is_empty());
    }
    // Counted, not collected: a 256 MiB list is millions of entries.
    let named = |e: hashlist::Entry| match e.name {
        Some(_) => Ok(()),
        None => Err(anyhow::anyhow!("a nameless digest")),
    };
    hashlist::parse_each(data, list_options(list, parse), named).is_ok_and(|n| n > 0)
}

/// `dir/foo.tar.gz.sha512` → (`dir/foo.tar.gz`, SHA-512): the file a
/// nameless list pins, and the algorithm its extension names (none for
/// `.sri`).
pub fn implied_file(list: &Path) -> anyhow::Result<(PathBuf, Option<Algo>)> {
    let ext = list
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let algo = Algo::from_name(ext.strip_suffix("sum").unwrap_or(&ext));
    match (algo, list.file_stem()) {
        (Some(_), Some(stem)) => Ok((list.with_file_name(stem), algo)),
        (None, Some(stem)) if ext == "sri" => Ok((list.with_file_name(stem), None)),
        _ => Err(fail(
            Code::Usage,
            format!(
                "{}: a digest without a file name needs the list to be named FILE.sha256, FILE.sha512, ...",
                list.display()
            ),
        )),
    }
}
