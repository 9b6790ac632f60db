//! Log records, directives and checkpoints.

use super::fixtures::{sealed, sealed_note_keys};
use build_verify::log::checkpoint::{self, Checkpoint};
use build_verify::log::directive::{self, Verb};
use build_verify::log::note::{self, Note, SignatureLine, SignerKey, VerifierKey};
use build_verify::log::proof::{self};
use build_verify::log::record::{self, LineEncoder, Record};
use build_verify::time;

/// A log record line: the fast path of [`Record::parse`] must read
/// exactly what serde_json reads (or leave the line to it); a parsed
/// record written back re-parses to itself. Then the input as a build's
/// line: the receiver's encoding parses back to the same bytes, flags and
/// type, holds no byte a terminal acts on, and is what serde writes.
pub fn log_record(data: &[u8]) {
    let ours = Record::parse(data).ok();
    let serde = serde_json::from_slice::<Record>(data).ok();
    assert_eq!(
        ours, serde,
        "the fast record parser disagrees with serde_json"
    );
    if let Some(r) = &ours {
        let line = r.to_line();
        let again = Record::parse(&line)
            .unwrap_or_else(|e| panic!("{r:?} written as {line:?} does not parse: {e:#}"));
        assert_eq!(&again, r);
        if let Ok(bytes) = r.bytes() {
            let _ = record::terminal_safe_line(&bytes);
        }
        if let Some(us) = time::parse_rfc3339_micros(&r.t) {
            assert_eq!(time::format_rfc3339_micros(us), r.t);
        }
    }
    // The input as one line (or piece) a build printed.
    let (flags, line) = data.split_first().unwrap_or((&0, data));
    let (cont, noeol) = (flags & 1 == 1, flags & 2 == 2);
    let src = (flags & 4 == 4).then_some("build-vm\u{1b}\"");
    let seq = u64::from(*flags) << 40 | line.len() as u64;
    let t = time::format_rfc3339_micros(u64::from(*flags) * 1_000_003_000_001);
    let mut enc = LineEncoder::new(src);
    let mut out = Vec::new();
    enc.encode_line(&mut out, seq, &t, line, cont, noeol);
    let r = Record::parse(&out)
        .unwrap_or_else(|e| panic!("the encoding {out:?} does not parse: {e:#}"));
    assert_eq!(r.bytes().ok().as_deref(), Some(line));
    assert_eq!(
        (r.seq, r.t.as_ref(), r.src.as_deref()),
        (seq, t.as_str(), src)
    );
    assert_eq!((r.cont, r.noeol), (cont, noeol));
    let directive =
        !cont && std::str::from_utf8(line).is_ok_and(|s| s.starts_with(record::DIRECTIVE));
    let want = if directive {
        record::kind::DIRECTIVE
    } else {
        record::kind::LINE
    };
    assert_eq!(r.kind, want);
    assert!(
        !out.iter().any(|&b| b < 0x20 || b == 0x7f),
        "a control byte in the record {out:?}"
    );
    assert_eq!(
        r.to_line(),
        out,
        "the receiver's encoding is not what serde writes"
    );
    for shown in [
        record::terminal_safe(line),
        record::terminal_safe_line(line),
    ] {
        assert!(!shown.chars().any(|c| c.is_control() && c != '\t'));
    }
}

/// `##sign-log` directives: what parses is written back to the same
/// directive; a directive inside a record is the product the gate finds.
pub fn log_directive(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in [text.to_string(), format!("{}{text}", record::DIRECTIVE)] {
        let Ok((verb, d)) = directive::parse(&line) else {
            continue;
        };
        let again = directive::line(verb, &d);
        assert_eq!(directive::parse(&again).ok(), Some((verb, d.clone())));
        // As the receiver stores it, and as the gate reads it back.
        let mut rec = Vec::new();
        LineEncoder::new(Some("vm")).encode_line(
            &mut rec,
            3,
            &time::format_rfc3339_micros(0),
            line.as_bytes(),
            false,
            false,
        );
        let product = proof::product_of(&rec);
        match (verb, &d.sha256) {
            (Verb::Product, Some(sha)) => {
                let p = product.unwrap_or_else(|| panic!("no product in {rec:?}"));
                assert_eq!(p.sha256, sha.to_ascii_lowercase());
                assert_eq!(
                    (p.name.as_str(), p.src.as_deref()),
                    (d.name.as_str(), Some("vm"))
                );
            }
            _ => assert!(product.is_none(), "{rec:?} is not a product"),
        }
    }
    let _ = proof::product_of(data);
}

/// Checkpoints as C2SP signed notes, signature lines and note keys: each
/// parsed value printed re-parses to itself; no fuzzed note verifies
/// under the sealed log's keys unless its text is one they signed.
pub fn checkpoint(data: &[u8]) {
    if let Ok(note) = Note::parse(data) {
        let enc = note.encode();
        assert_eq!(Note::parse(enc.as_bytes()).as_ref(), Ok(&note), "{enc:?}");
        if let Ok(cp) = Checkpoint::parse(note.text.as_bytes()) {
            let text = cp.text();
            assert_eq!(Checkpoint::parse(text.as_bytes()).ok().as_ref(), Some(&cp));
            assert!(
                note.text.starts_with(&text),
                "the body is the note's first lines"
            );
        }
        let genuine = |cp: &str| {
            Note::parse(cp.as_bytes())
                .map(|n| n.text)
                .unwrap_or_default()
        };
        if let Ok(v) = note::verify(&note, sealed_note_keys()) {
            if !v.is_empty() {
                let signed = [sealed::CP11, sealed::CP15]
                    .iter()
                    .any(|cp| genuine(cp) == note.text);
                assert!(signed, "a fuzzed note verified: {:?}", note.text);
            }
        }
        let (log_key, witnesses) = sealed_note_keys()
            .split_first()
            .map_or((None, &[][..]), |(l, w)| (Some(l), w));
        let policy = note::Policy {
            log_key,
            witnesses,
            min_witnesses: 1,
        };
        if policy.check(&note, "checkpoint").is_ok() {
            assert_eq!(
                note.text,
                genuine(sealed::CP15),
                "a fuzzed note met the policy"
            );
        }
    }
    if let Ok((note, cp)) = checkpoint::parse_note(data) {
        assert!(note.text.starts_with(&cp.text()));
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines().take(16) {
        if let Ok(s) = SignatureLine::parse(line) {
            let enc = s.encode();
            assert_eq!(
                SignatureLine::parse(enc.trim_end_matches('\n')).as_ref(),
                Ok(&s)
            );
        }
        if let Ok(k) = VerifierKey::parse(line) {
            assert_eq!(VerifierKey::parse(&k.encode()).as_ref(), Ok(&k));
        }
        if let Ok(k) = SignerKey::parse(line) {
            let again = SignerKey::parse(&k.encode()).map(|k| k.verifier());
            assert_eq!(again.as_ref(), Ok(&k.verifier()));
        }
    }
}
