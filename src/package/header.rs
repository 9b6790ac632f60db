//! The RPM header structure (rpm's `format_header.md`), parsed from the
//! bytes as they are on disk: a 16-byte intro (magic, index length, data
//! length), 16-byte index entries (tag, type, offset, count), then the
//! data. The signature and the main header of a package both use it.
//!
//! Nothing here trusts the input: counts and lengths are capped before
//! anything is allocated, every offset is range-checked, strings must end
//! inside the data, entries must not overlap each other or the region
//! trailer, and the immutable region (tag 62 or 63) must cover the whole
//! header, as rpm requires of package files. The bytes are kept as read:
//! a header signature covers exactly them, so they are never re-serialized.

use std::io::Read;

/// The 8 bytes every header starts with (3 magic bytes, version 1, 4 reserved).
pub const MAGIC: [u8; 8] = [0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0];
/// Magic, index length, data length.
pub const INTRO_LEN: usize = 16;
/// One index entry: tag, type, offset, count.
pub const ENTRY_LEN: usize = 16;

/// Region tags: the signature header's and the main header's.
pub const TAG_HEADERIMAGE: u32 = 61;
pub const TAG_HEADERSIGNATURES: u32 = 62;
pub const TAG_HEADERIMMUTABLE: u32 = 63;

/// Data types of index entries.
pub mod ty {
    pub const CHAR: u32 = 1;
    pub const INT8: u32 = 2;
    pub const INT16: u32 = 3;
    pub const INT32: u32 = 4;
    pub const INT64: u32 = 5;
    pub const STRING: u32 = 6;
    pub const BIN: u32 = 7;
    pub const STRING_ARRAY: u32 = 8;
    pub const I18NSTRING: u32 = 9;
}

/// Why a header was refused. Every variant is a malformed or hostile
/// package (exit 1 at the caller), except [`HeaderError::Read`].
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("bad header magic")]
    Magic,
    #[error("truncated: the file ends inside the {0}")]
    Truncated(&'static str),
    #[error("{count} index entries, more than the limit of {max}")]
    TooManyEntries { count: u32, max: u32 },
    #[error("{len} bytes of data, more than the limit of {max}")]
    TooMuchData { len: u32, max: u32 },
    #[error("entry {index} (tag {tag}): {why}")]
    Entry {
        index: usize,
        tag: u32,
        why: &'static str,
    },
    #[error("immutable region: {0}")]
    Region(&'static str),
    #[error("tag {0} appears more than once")]
    Duplicate(u32),
    #[error("tags are not in ascending order at tag {0}")]
    Unsorted(u32),
    #[error("tag {tag} has type {found}, not {want}")]
    Type {
        tag: u32,
        want: &'static str,
        found: u32,
    },
    #[error("reading the header: {0}")]
    Read(#[from] std::io::Error),
}

/// Caps on what a header may claim (bounded input, DESIGN.md §1.5).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_entries: u32,
    pub max_data: u32,
}

/// rpm's own caps for a signature header (`hdrblobRead`): 32 tags, 64 MiB.
pub const SIGNATURE_LIMITS: Limits = Limits {
    max_entries: 32,
    max_data: 64 << 20,
};

/// rpm's caps for a main header: 65535 tags, 256 MiB of data.
pub const MAIN_LIMITS: Limits = Limits {
    max_entries: 0xffff,
    max_data: 256 << 20,
};

/// One index entry, its data range checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub tag: u32,
    pub ty: u32,
    /// Offset of the data in the data section.
    pub offset: u32,
    pub count: u32,
    /// Length of the data in bytes (strings walked to their NULs).
    pub len: u32,
}

/// A parsed header: the on-disk bytes and the checked index.
#[derive(Clone, Debug)]
pub struct Header {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    data_start: usize,
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(s))
}

/// Index and data length from an intro, after the magic and the caps.
pub fn parse_intro(intro: &[u8], limits: Limits) -> Result<(u32, u32), HeaderError> {
    if intro.get(..8) != Some(&MAGIC[..]) {
        return Err(HeaderError::Magic);
    }
    let il = be32(intro, 8).ok_or(HeaderError::Truncated("header intro"))?;
    let dl = be32(intro, 12).ok_or(HeaderError::Truncated("header intro"))?;
    if il == 0 {
        return Err(HeaderError::Region("the header has no entries"));
    }
    if il > limits.max_entries {
        return Err(HeaderError::TooManyEntries {
            count: il,
            max: limits.max_entries,
        });
    }
    if dl > limits.max_data {
        return Err(HeaderError::TooMuchData {
            len: dl,
            max: limits.max_data,
        });
    }
    Ok((il, dl))
}

/// Read one header's bytes (intro to the end of its data) from `r`. Only
/// what the stream really holds is allocated, whatever the intro claims.
pub fn read_header(r: &mut impl Read, limits: Limits) -> Result<Vec<u8>, HeaderError> {
    let mut intro = [0u8; INTRO_LEN];
    read_full(r, &mut intro, "header intro")?;
    let (il, dl) = parse_intro(&intro, limits)?;
    // Both are capped: this cannot overflow (16 * 65535 + 256 MiB).
    let rest = u64::from(il) * ENTRY_LEN as u64 + u64::from(dl);
    let mut bytes = intro.to_vec();
    r.take(rest).read_to_end(&mut bytes)?;
    if bytes.len() as u64 != INTRO_LEN as u64 + rest {
        return Err(HeaderError::Truncated("header"));
    }
    Ok(bytes)
}

/// `read_exact` that reports a short read as truncation.
pub fn read_full(r: &mut impl Read, buf: &mut [u8], what: &'static str) -> Result<(), HeaderError> {
    match r.read_exact(buf) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(HeaderError::Truncated(what))
        }
        Err(e) => Err(HeaderError::Read(e)),
    }
}

/// Bytes of `count` values of fixed-size type `ty`, or None for the
/// variable-length (string) types.
fn fixed_size(ty: u32) -> Option<u32> {
    match ty {
        ty::CHAR | ty::INT8 | ty::BIN => Some(1),
        ty::INT16 => Some(2),
        ty::INT32 => Some(4),
        ty::INT64 => Some(8),
        _ => None,
    }
}

impl Header {
    /// Parse and check a whole header (as [`read_header`] returns it)
    /// whose immutable region has tag `region`.
    pub fn parse(bytes: Vec<u8>, region: u32, limits: Limits) -> Result<Header, HeaderError> {
        let (il, dl) = parse_intro(&bytes, limits)?;
        let il_us = il as usize;
        let data_start = INTRO_LEN + il_us * ENTRY_LEN;
        if bytes.len() != data_start + dl as usize {
            return Err(HeaderError::Truncated("header"));
        }
        let data = bytes.get(data_start..).unwrap_or_default();
        let mut entries = Vec::with_capacity(il_us);
        for i in 0..il_us {
            let at = INTRO_LEN + i * ENTRY_LEN;
            let field = |k: usize| be32(&bytes, at + 4 * k).ok_or(HeaderError::Truncated("index"));
            entries.push(Entry {
                tag: field(0)?,
                ty: field(1)?,
                offset: field(2)?,
                count: field(3)?,
                len: 0,
            });
        }
        let rdl = check_region(&entries, data, region, il)?;
        // Entries after the region tag: in data order, without overlap
        // (rpm's hdrblobVerifyInfo), and never into the region trailer.
        let mut end: u64 = 0;
        for (i, e) in entries.iter_mut().enumerate().skip(1) {
            let bad = |why| HeaderError::Entry {
                index: i,
                tag: e.tag,
                why,
            };
            if !(ty::CHAR..=ty::I18NSTRING).contains(&e.ty) {
                return Err(bad("unknown data type"));
            }
            if e.count == 0 || e.count > dl.max(1) {
                return Err(bad("count out of range"));
            }
            if u64::from(e.offset) < end {
                return Err(bad("data overlaps the previous entry"));
            }
            let align = match e.ty {
                ty::INT16 => 2,
                ty::INT32 => 4,
                ty::INT64 => 8,
                _ => 1,
            };
            if e.offset % align != 0 {
                return Err(bad("misaligned data"));
            }
            if e.offset >= dl {
                return Err(bad("data offset past the end"));
            }
            let len = data_len(data, e.offset, e.ty, e.count)
                .ok_or_else(|| bad("data runs past the end (or a string is not terminated)"))?;
            let stop = u64::from(e.offset) + u64::from(len);
            if stop > u64::from(dl) || len == 0 {
                return Err(bad("data runs past the end"));
            }
            if stop > u64::from(rdl) - ENTRY_LEN as u64 && e.offset < rdl {
                return Err(bad("data overlaps the region trailer"));
            }
            e.len = len;
            end = stop;
        }
        if let Some(first) = entries.first_mut() {
            first.len = ENTRY_LEN as u32;
        }
        let mut tags: Vec<u32> = entries.iter().map(|e| e.tag).collect();
        tags.sort_unstable();
        if let Some(w) = tags.windows(2).find(|w| w[0] == w[1]) {
            return Err(HeaderError::Duplicate(w[0]));
        }
        Ok(Header {
            bytes,
            entries,
            data_start,
        })
    }

    /// The header exactly as it was read, magic included: what a header
    /// signature and the header digests cover.
    pub fn raw(&self) -> &[u8] {
        &self.bytes
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// rpm v6 requires strictly ascending tags (after the region tag).
    pub fn check_sorted(&self) -> Result<(), HeaderError> {
        for w in self.entries.windows(2).skip(1) {
            if let [a, b] = w {
                if b.tag <= a.tag {
                    return Err(HeaderError::Unsorted(b.tag));
                }
            }
        }
        Ok(())
    }

    pub fn has(&self, tag: u32) -> bool {
        self.entry(tag).is_some()
    }

    fn entry(&self, tag: u32) -> Option<&Entry> {
        self.entries.iter().skip(1).find(|e| e.tag == tag)
    }

    fn data_of(&self, e: &Entry) -> &[u8] {
        let start = self.data_start + e.offset as usize;
        self.bytes
            .get(start..start + e.len as usize)
            .unwrap_or_default()
    }

    fn typed(
        &self,
        tag: u32,
        want: &'static str,
        ok: &[u32],
    ) -> Result<Option<&Entry>, HeaderError> {
        match self.entry(tag) {
            None => Ok(None),
            Some(e) if ok.contains(&e.ty) => Ok(Some(e)),
            Some(e) => Err(HeaderError::Type {
                tag,
                want,
                found: e.ty,
            }),
        }
    }

    /// A BIN entry's bytes.
    pub fn bin(&self, tag: u32) -> Result<Option<&[u8]>, HeaderError> {
        Ok(self.typed(tag, "BIN", &[ty::BIN])?.map(|e| self.data_of(e)))
    }

    /// The strings of a STRING, STRING_ARRAY or I18NSTRING entry.
    pub fn strings(&self, tag: u32) -> Result<Option<Vec<&[u8]>>, HeaderError> {
        let Some(e) = self.typed(
            tag,
            "a string type",
            &[ty::STRING, ty::STRING_ARRAY, ty::I18NSTRING],
        )?
        else {
            return Ok(None);
        };
        let d = self.data_of(e);
        // Every string ends with a NUL (checked by parse); drop the last.
        let d = d.strip_suffix(&[0]).unwrap_or(d);
        Ok(Some(d.split(|&b| b == 0).collect()))
    }

    /// The one string of an entry (the first of an array).
    pub fn string(&self, tag: u32) -> Result<Option<&[u8]>, HeaderError> {
        Ok(self.strings(tag)?.and_then(|v| v.into_iter().next()))
    }

    /// The first value of an INT32 entry.
    pub fn int32(&self, tag: u32) -> Result<Option<u32>, HeaderError> {
        Ok(self
            .typed(tag, "INT32", &[ty::INT32])?
            .and_then(|e| be32(self.data_of(e), 0)))
    }
}

/// Check the region entry and its trailer; returns the region's data
/// length, which in a package file must be the whole data (`rdl == dl`,
/// `ril == il`: no "dribbles" outside the signed region).
fn check_region(entries: &[Entry], data: &[u8], region: u32, il: u32) -> Result<u32, HeaderError> {
    let first = entries
        .first()
        .ok_or(HeaderError::Region("the header has no entries"))?;
    if first.tag != region {
        return Err(HeaderError::Region("the first tag is not the region tag"));
    }
    if first.ty != ty::BIN || first.count != ENTRY_LEN as u32 {
        return Err(HeaderError::Region("invalid region tag"));
    }
    let off = first.offset as usize;
    let trailer = off
        .checked_add(ENTRY_LEN)
        .and_then(|e| data.get(off..e))
        .ok_or(HeaderError::Region("the trailer is outside the data"))?;
    let f = |k: usize| be32(trailer, 4 * k).unwrap_or(0);
    let (mut tag, t_ty, t_off, t_count) = (f(0), f(1), f(2), f(3));
    // Old packages carry HEADERIMAGE in the signature trailer (rpm fixes it up).
    if region == TAG_HEADERSIGNATURES && tag == TAG_HEADERIMAGE {
        tag = TAG_HEADERSIGNATURES;
    }
    if tag != region || t_ty != ty::BIN || t_count != ENTRY_LEN as u32 {
        return Err(HeaderError::Region("invalid trailer"));
    }
    // The trailer's offset is minus the size of the region's index.
    let size = (t_off as i32)
        .checked_neg()
        .and_then(|s| u32::try_from(s).ok());
    let ril = match size {
        Some(s) if s % ENTRY_LEN as u32 == 0 => s / ENTRY_LEN as u32,
        _ => return Err(HeaderError::Region("invalid region size")),
    };
    let rdl = (off + ENTRY_LEN) as u32;
    if ril != il || rdl as usize != data.len() {
        return Err(HeaderError::Region(
            "the region does not cover the whole header",
        ));
    }
    Ok(rdl)
}

/// Length of an entry's data, or None when it does not fit in `data`.
fn data_len(data: &[u8], offset: u32, ty: u32, count: u32) -> Option<u32> {
    let rest = data.get(offset as usize..)?;
    if let Some(size) = fixed_size(ty) {
        let len = size.checked_mul(count)?;
        return (len as usize <= rest.len()).then_some(len);
    }
    // STRING holds exactly one string.
    if ty == ty::STRING && count != 1 {
        return None;
    }
    let mut at = 0usize;
    for _ in 0..count {
        let nul = memchr::memchr(0, rest.get(at..)?)?;
        at = at.checked_add(nul + 1)?;
    }
    u32::try_from(at).ok()
}

/// Write a header of `(tag, type, data, count)` entries in that order,
/// behind the region tag `region` and before its trailer, with rpm's data
/// alignment. For tests and tools that make packages; verification never
/// re-serializes a header it read.
pub fn encode(region: u32, items: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
    let mut data = Vec::new();
    let mut index = Vec::new();
    for (tag, t, d, count) in items {
        let align = match *t {
            ty::INT16 => 2,
            ty::INT32 => 4,
            ty::INT64 => 8,
            _ => 1,
        };
        while data.len() % align != 0 {
            data.push(0);
        }
        index.push([*tag, *t, data.len() as u32, *count]);
        data.extend_from_slice(d);
    }
    let il = index.len() as u32 + 1;
    let trailer_off = data.len() as u32;
    let size = (il as i32).wrapping_mul(ENTRY_LEN as i32).wrapping_neg() as u32;
    for v in [region, ty::BIN, size, ENTRY_LEN as u32] {
        data.extend_from_slice(&v.to_be_bytes());
    }
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&il.to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    for v in [region, ty::BIN, trailer_off, ENTRY_LEN as u32] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    for e in index {
        for v in e {
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
    out.extend_from_slice(&data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(region: u32, items: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
        encode(region, items)
    }

    fn parse(b: Vec<u8>) -> Result<Header, HeaderError> {
        Header::parse(b, TAG_HEADERIMMUTABLE, MAIN_LIMITS)
    }

    #[test]
    fn reads_what_it_was_given() {
        let b = build(
            TAG_HEADERIMMUTABLE,
            &[
                (1000, ty::STRING, b"name\0", 1),
                (1022, ty::STRING_ARRAY, b"a\0bc\0", 2),
                (5093, ty::INT32, &8u32.to_be_bytes(), 1),
                (5094, ty::BIN, b"\x01\x02", 2),
            ],
        );
        let h = parse(b.clone()).unwrap();
        assert_eq!(h.raw(), &b[..]);
        assert_eq!(h.string(1000).unwrap(), Some(&b"name"[..]));
        assert_eq!(h.strings(1022).unwrap(), Some(vec![&b"a"[..], &b"bc"[..]]));
        assert_eq!(h.int32(5093).unwrap(), Some(8));
        assert_eq!(h.bin(5094).unwrap(), Some(&b"\x01\x02"[..]));
        assert!(h.bin(1000).is_err(), "type confusion must fail");
        assert_eq!(h.string(4242).unwrap(), None);
        h.check_sorted().unwrap();
    }

    #[test]
    fn refuses_hostile_headers() {
        let good = build(TAG_HEADERIMMUTABLE, &[(1000, ty::STRING, b"n\0", 1)]);
        let set = |b: &mut Vec<u8>, at: usize, v: u32| {
            b[at..at + 4].copy_from_slice(&v.to_be_bytes());
        };
        // Huge counts in the intro, caught before any allocation.
        let mut b = good.clone();
        set(&mut b, 8, u32::MAX);
        assert!(matches!(parse(b), Err(HeaderError::TooManyEntries { .. })));
        let mut b = good.clone();
        set(&mut b, 12, u32::MAX);
        assert!(matches!(parse(b), Err(HeaderError::TooMuchData { .. })));
        // An entry offset past the end, a huge count, an unterminated string.
        let entry1 = INTRO_LEN + ENTRY_LEN;
        let mut b = good.clone();
        set(&mut b, entry1 + 8, 10_000);
        assert!(parse(b).is_err());
        let mut b = good.clone();
        set(&mut b, entry1 + 4, ty::INT64);
        set(&mut b, entry1 + 12, u32::MAX);
        assert!(parse(b).is_err());
        let mut b = good.clone();
        let nul = b.iter().rposition(|&x| x == b'n').unwrap() + 1;
        b[nul] = b'x';
        assert!(parse(b).is_err());
        // Region trailer pointing elsewhere, region not covering the index.
        let mut b = good.clone();
        set(&mut b, INTRO_LEN + 8, 0);
        assert!(matches!(parse(b), Err(HeaderError::Region(_))));
        let mut b = good.clone();
        let tr = b.len() - 16;
        set(&mut b, tr + 8, (-16i32) as u32);
        assert!(matches!(parse(b), Err(HeaderError::Region(_))));
        // Overlapping entries and duplicates.
        let b = build(
            TAG_HEADERIMMUTABLE,
            &[(1000, ty::STRING, b"n\0", 1), (1001, ty::STRING, b"v\0", 1)],
        );
        let mut o = b.clone();
        set(&mut o, INTRO_LEN + 2 * ENTRY_LEN + 8, 0);
        assert!(parse(o).is_err());
        let mut d = b.clone();
        set(&mut d, INTRO_LEN + 2 * ENTRY_LEN, 1000);
        assert!(matches!(parse(d), Err(HeaderError::Duplicate(1000))));
        // Data that reaches into the trailer.
        let mut t = good.clone();
        set(&mut t, entry1 + 4, ty::BIN);
        set(&mut t, entry1 + 12, 8);
        assert!(parse(t).is_err());
        // Truncation anywhere.
        for cut in [0, 5, 16, 40, good.len() - 1] {
            assert!(parse(good[..cut].to_vec()).is_err(), "cut at {cut}");
            let mut r = &good[..cut];
            assert!(read_header(&mut r, MAIN_LIMITS).is_err(), "cut at {cut}");
        }
        let mut r = &good[..];
        assert_eq!(read_header(&mut r, MAIN_LIMITS).unwrap(), good);
    }
}
