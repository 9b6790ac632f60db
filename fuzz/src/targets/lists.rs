//! Hash lists and Debian control files.

use build_verify::digest::Algo;
use build_verify::lists::hashlist::{self, ParseOptions};
use build_verify::lists::{deb822, debian, signed};
use build_verify::time;

/// Hash lists in every format: whatever parses re-parses, once written in
/// its own format, to the same entries; parsing as it is read
/// (check-hashes' plain lists) gives what parsing it whole gives.
pub fn hashlist(data: &[u8]) {
    for zero in [false, true] {
        let opts = ParseOptions {
            zero_terminated: zero,
            untagged_512: None,
        };
        let whole = hashlist::parse_list(data, opts);
        // Streamed through reads of a size the input picks, the list
        // parses to the same entries or fails on the same line.
        let cap = 1 + usize::from(data.first().copied().unwrap_or(0) % 64);
        let mut streamed = Vec::new();
        let r = hashlist::parse_reader(
            std::io::BufReader::with_capacity(cap, data),
            opts,
            u64::MAX,
            "list",
            |e| {
                streamed.push(e);
                Ok(())
            },
        );
        match (&whole, r) {
            (Ok(w), Ok(n)) => assert!(*w == streamed && n == w.len(), "streamed {streamed:?}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!("parse_list {a:?}, parse_reader {b:?}"),
        }
        let Ok(entries) = whole else {
            continue;
        };
        if zero {
            continue;
        }
        for e in &entries {
            let Ok(line) = hashlist::format_entry(e) else {
                continue;
            };
            let again = hashlist::parse_list(&line, opts)
                .unwrap_or_else(|err| panic!("{e:?} written as {line:?} does not parse: {err:#}"));
            let same: Vec<_> = again.iter().map(|x| (x.algo, &x.digest, &x.name)).collect();
            assert!(
                same.contains(&(e.algo, &e.digest, &e.name)),
                "{e:?} written as {line:?} reads back as {again:?}"
            );
        }
    }
    let _ = hashlist::expected_for(data, b"hello-1.0.tar.gz");
}

/// Debian control files: the streaming reader gives what the whole-buffer
/// parse gives whatever the read size; a paragraph written back as
/// `Name: value` lines re-parses to itself; checksum fields, pins, list
/// entries and Release dates do not panic, and dates round-trip.
pub fn deb822(data: &[u8]) {
    let whole = deb822::parse_all(data, deb822::LIMITS);
    let chunk = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let streamed: Result<Vec<_>, _> = deb822::Reader::new(
        std::io::BufReader::with_capacity(chunk, data),
        deb822::LIMITS,
    )
    .collect();
    assert_eq!(
        whole.as_ref().ok(),
        streamed.as_ref().ok(),
        "the reader depends on its read size ({chunk})"
    );
    assert_eq!(whole.is_ok(), streamed.is_ok());
    let small = deb822::Limits {
        max_line: 64,
        max_field: 128,
        max_fields: 4,
    };
    let _ = deb822::parse_all(data, small);
    for p in whole.iter().flatten() {
        let mut text = Vec::new();
        let mut printable = true;
        for (name, value) in &p.fields {
            let mut lines = value.split(|&b| b == b'\n');
            text.extend_from_slice(name.as_bytes());
            text.extend_from_slice(b": ");
            text.extend_from_slice(lines.next().unwrap_or_default());
            text.push(b'\n');
            for l in lines {
                // A continuation that is only blanks ends a paragraph: not
                // something a parsed value can hold, except through
                // characters that trim as blanks but do not end one.
                printable &= !l.is_empty();
                text.push(b' ');
                text.extend_from_slice(l);
                text.push(b'\n');
            }
        }
        if printable {
            let again = deb822::parse_all(&text, deb822::LIMITS).ok();
            let fields = again.as_ref().and_then(|v| v.first()).map(|q| &q.fields);
            assert_eq!(
                fields,
                Some(&p.fields),
                "{:?} printed as {:?}",
                p,
                String::from_utf8_lossy(&text)
            );
        }
        let _ = debian::paragraph_pins(p, "fuzz");
        for (_, value) in &p.fields {
            for algo in [Algo::Sha256, Algo::Md5] {
                if let Ok(sums) = deb822::checksum_lines(value, algo) {
                    assert!(sums.iter().all(|s| s.digest.len() == algo.digest_len()));
                }
            }
            if let Ok(s) = std::str::from_utf8(value) {
                if let Some(t) = time::parse_rfc2822(s) {
                    assert_eq!(
                        time::parse_rfc2822(&time::format_rfc2822(t)),
                        Some(t),
                        "{s:?}"
                    );
                }
            }
        }
    }
    if debian::looks_like_deb822(data) {
        let _ = debian::list_entries(data);
    }
    if let Some(text) = signed::cleartext_text(data) {
        assert!(text.len() <= data.len());
        let _ = deb822::parse_all(&text, deb822::LIMITS);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Some(t) = time::parse_rfc2822(s) {
            assert_eq!(
                time::parse_rfc2822(&time::format_rfc2822(t)),
                Some(t),
                "{s:?}"
            );
        }
    }
}
