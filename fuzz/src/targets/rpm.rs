//! RPM headers and packages.

use super::fixtures::{policy, rpm_keyring, RPMS};
use build_verify::openpgp::{Trust, Verifier};
use build_verify::package::header::{self, ty, Header};
use build_verify::package::rpm;

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// What every header the parser accepts must satisfy: the bytes are the
/// input, the region tag first, and every entry's data inside the data
/// section (strings ending in their NUL); no accessor panics.
fn check_header(h: &Header, bytes: &[u8], region: u32) {
    assert_eq!(h.raw(), bytes);
    let (il, dl) = (
        be32(bytes, 8).unwrap_or(0) as usize,
        be32(bytes, 12).unwrap_or(0) as u64,
    );
    let data_start = header::INTRO_LEN + il * header::ENTRY_LEN;
    assert_eq!(bytes.len() as u64, data_start as u64 + dl);
    assert_eq!(h.entries().len(), il);
    assert_eq!(h.entries().first().map(|e| e.tag), Some(region));
    for e in h.entries().iter().skip(1) {
        let end = u64::from(e.offset) + u64::from(e.len);
        assert!(
            e.len > 0 && end <= dl,
            "entry {e:?} runs past {dl} bytes of data"
        );
        if matches!(e.ty, ty::STRING | ty::STRING_ARRAY | ty::I18NSTRING) {
            assert_eq!(bytes.get(data_start + end as usize - 1), Some(&0), "{e:?}");
        }
        let _ = (
            h.bin(e.tag),
            h.strings(e.tag),
            h.string(e.tag),
            h.int32(e.tag),
        );
    }
    let _ = h.check_sorted();
}

/// Parse `bytes` as a header both ways; check what is accepted.
fn parse_header(bytes: &[u8]) {
    for (region, limits) in [
        (header::TAG_HEADERSIGNATURES, header::SIGNATURE_LIMITS),
        (header::TAG_HEADERIMMUTABLE, header::MAIN_LIMITS),
    ] {
        if let Ok(h) = Header::parse(bytes.to_vec(), region, limits) {
            check_header(&h, bytes, region);
        }
        let mut r = bytes;
        if let Ok(read) = header::read_header(&mut r, limits) {
            assert!(bytes.starts_with(&read));
        }
    }
}

/// Bytes taken from the front of the input.
struct Source<'a>(&'a [u8]);

impl Source<'_> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        *b
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
}

/// RPM headers: the input as a header (signature or main), then a header
/// written from entries the input describes, which must parse and read
/// back, then that header with a few of its bytes or words overwritten,
/// which must be refused or satisfy every invariant (never panic).
pub fn rpm_header(data: &[u8]) {
    parse_header(data);
    let mut src = Source(data);
    let n = usize::from(src.byte() % 8) + 1;
    let mut items: Vec<(u32, u32, Vec<u8>, u32)> = Vec::new();
    for i in 0..n {
        let t = u32::from(src.byte() % 9) + 1;
        let count = u32::from(src.byte() % 4) + 1;
        let (payload, count) = match t {
            ty::STRING | ty::STRING_ARRAY | ty::I18NSTRING => {
                let count = if t == ty::STRING { 1 } else { count };
                let mut v = Vec::new();
                for _ in 0..count {
                    let len = usize::from(src.byte() % 6);
                    v.extend(src.bytes(len).into_iter().map(|b| b.max(1)));
                    v.push(0);
                }
                (v, count)
            }
            _ => {
                let size = match t {
                    ty::INT16 => 2,
                    ty::INT32 => 4,
                    ty::INT64 => 8,
                    _ => 1,
                };
                (src.bytes(size * count as usize), count)
            }
        };
        items.push((1000 + 7 * i as u32, t, payload, count));
    }
    let refs: Vec<(u32, u32, &[u8], u32)> = items
        .iter()
        .map(|(a, b, c, d)| (*a, *b, c.as_slice(), *d))
        .collect();
    let good = header::encode(header::TAG_HEADERIMMUTABLE, &refs);
    let h = Header::parse(
        good.clone(),
        header::TAG_HEADERIMMUTABLE,
        header::MAIN_LIMITS,
    )
    .unwrap_or_else(|e| panic!("a header written from {items:?} does not parse: {e}"));
    check_header(&h, &good, header::TAG_HEADERIMMUTABLE);
    assert!(h.check_sorted().is_ok());
    for (tag, t, payload, _) in &items {
        match *t {
            ty::BIN => assert_eq!(h.bin(*tag).ok().flatten(), Some(payload.as_slice())),
            ty::INT32 => assert_eq!(h.int32(*tag).ok().flatten(), be32(payload, 0)),
            ty::STRING | ty::STRING_ARRAY | ty::I18NSTRING => {
                let want: Vec<&[u8]> = payload
                    .strip_suffix(&[0])
                    .unwrap_or(payload)
                    .split(|&b| b == 0)
                    .collect();
                assert_eq!(h.strings(*tag).ok().flatten(), Some(want));
            }
            _ => {}
        }
    }
    let mut bad = good;
    for _ in 0..=src.byte() % 3 {
        let at = usize::from(u16::from_be_bytes([src.byte(), src.byte()])) % bad.len();
        if src.byte() & 1 == 0 {
            bad[at] = src.byte();
        } else {
            let at = at & !3;
            let word = u32::from_be_bytes([src.byte(), src.byte(), src.byte(), src.byte()]);
            if let Some(w) = bad.get_mut(at..at + 4) {
                w.copy_from_slice(&word.to_be_bytes());
            }
        }
    }
    parse_header(&bad);
    // And cut short anywhere.
    let cut = usize::from(src.byte()) % bad.len();
    parse_header(&bad[..cut]);
}

/// Where the main header starts: lead, signature header, its padding.
fn main_header_offset(b: &[u8]) -> Option<usize> {
    let sig = rpm::LEAD_LEN;
    let len = 16 + 16 * be32(b, sig + 8)? as usize + be32(b, sig + 12)? as usize;
    Some(sig + len.div_ceil(8) * 8)
}

/// Whole RPM packages, verified under the policy with the RPM Fusion key.
pub fn rpm_package(data: &[u8]) {
    let trust = Trust::All;
    let v = Verifier::new(rpm_keyring(), &trust, policy());
    for v3 in [false, true] {
        let opts = rpm::RpmOptions {
            v3_signatures: v3,
            main_limits: header::MAIN_LIMITS,
        };
        let Ok(report) = rpm::verify_rpm(data, &v, &opts, data.len()) else {
            continue;
        };
        assert!(!report.signers().is_empty());
        let signed = main_header_offset(data).and_then(|m| data.get(m..));
        let genuine = RPMS
            .iter()
            .any(|g| main_header_offset(g).and_then(|m| g.get(m..)) == signed);
        assert!(
            genuine,
            "a package verified whose header or payload was changed: {report:?}"
        );
    }
}
