//! RPM v4 and v6 packages verified from their raw bytes (rpm's
//! `format_v4.md`, `format_v6.md`, `signatures_digests.md`):
//!
//! 1. the lead (96 bytes, magic `ED AB EE DB`, signature type 5);
//! 2. the signature header (region 62), padded to 8 bytes;
//! 3. the main header (region 63): its on-disk bytes, never re-serialized,
//!    are what the header signature covers; the signature header's
//!    SHA-256 (tag 273) and SHA3-256 (279) header digests are checked too;
//! 4. a header signature is required: OPENPGP (278, base64, v6 and newer
//!    rpm) first, else RSA (268) and DSA/EdDSA/ECDSA (267), all verified
//!    as one detached signature under the OpenPGP policy (DESIGN.md §3);
//! 5. the payload, streamed once, against the digests the signed main
//!    header carries: PAYLOADDIGEST (5092, algorithm in 5093) and, in v6,
//!    SHA-512 (5121) and SHA3-256 (5123); the digests of the uncompressed
//!    payload (5097, 5122, 5124) only when no other is there.
//!
//! Header+payload (v3) signatures, PGP (1002) and GPG (1005), are only
//! looked at when [`RpmOptions::v3_signatures`] asks; they are then
//! verified over the header and the payload in the same single pass.
//! MD5 (1004) and SHA-1 (269) digests are never relied on.
//!
//! An unsigned package is exit 3; a bad or untrusted signature, a digest
//! mismatch or a malformed package is exit 1.

use super::header::{self, Header, HeaderError, Limits};
use crate::digest::Algo;
use crate::exit::{fail, Code, Failure};
use crate::openpgp::Verifier;
use base64::Engine as _;
use std::io::Read;

pub const LEAD_LEN: usize = 96;
pub const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
/// `signature_type` of every lead since rpm 3: "header-style signatures".
const HEADERSIG_TYPE: u16 = 5;

/// Signature header tags.
pub mod sigtag {
    pub const DSA: u32 = 267;
    pub const RSA: u32 = 268;
    pub const SHA1: u32 = 269;
    pub const SHA256: u32 = 273;
    pub const OPENPGP: u32 = 278;
    pub const SHA3_256: u32 = 279;
    pub const SIZE: u32 = 1000;
    pub const PGP: u32 = 1002;
    pub const MD5: u32 = 1004;
    pub const GPG: u32 = 1005;
}

/// Main header tags.
pub mod tag {
    pub const NAME: u32 = 1000;
    pub const VERSION: u32 = 1001;
    pub const RELEASE: u32 = 1002;
    pub const EPOCH: u32 = 1003;
    pub const ARCH: u32 = 1022;
    pub const SOURCERPM: u32 = 1044;
    pub const PAYLOADCOMPRESSOR: u32 = 1125;
    pub const PAYLOADDIGEST: u32 = 5092;
    pub const PAYLOADDIGESTALGO: u32 = 5093;
    pub const PAYLOADDIGESTALT: u32 = 5097;
    pub const RPMFORMAT: u32 = 5114;
    pub const PAYLOADSHA512: u32 = 5121;
    pub const PAYLOADSHA512ALT: u32 = 5122;
    pub const PAYLOADSHA3_256: u32 = 5123;
    pub const PAYLOADSHA3_256ALT: u32 = 5124;
}

/// What a tag is, for messages that name it.
pub fn sig_tag_name(t: u32) -> &'static str {
    match t {
        sigtag::DSA => "DSA/EdDSA/ECDSA header signature",
        sigtag::RSA => "RSA header signature",
        sigtag::OPENPGP => "OpenPGP header signature",
        sigtag::SHA256 => "header SHA256 digest",
        sigtag::SHA3_256 => "header SHA3-256 digest",
        sigtag::PGP => "RSA header+payload signature",
        sigtag::GPG => "DSA header+payload signature",
        _ => "signature header entry",
    }
}

/// What the caller allows beyond the defaults.
#[derive(Clone, Copy, Debug)]
pub struct RpmOptions {
    /// Also verify header+payload (v3) signatures (1002/1005), and accept a
    /// package that has only those.
    pub v3_signatures: bool,
    /// Caps on the main header.
    pub main_limits: Limits,
}

impl Default for RpmOptions {
    fn default() -> Self {
        RpmOptions {
            v3_signatures: false,
            main_limits: header::MAIN_LIMITS,
        }
    }
}

/// A signature check that passed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SignatureCheck {
    pub tag: u32,
    pub what: &'static str,
    /// Primary fingerprints of the trusted signers (hex).
    pub signers: Vec<String>,
}

/// A digest check that passed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DigestCheck {
    pub tag: u32,
    pub what: String,
    pub hex: String,
}

/// Everything a good package was verified by.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RpmReport {
    /// Package format: 4 or 6.
    pub format: u8,
    /// name-[epoch:]version-release.arch (`.src` for source packages).
    pub nevra: String,
    pub signatures: Vec<SignatureCheck>,
    pub digests: Vec<DigestCheck>,
    /// Ignored signatures, skipped digests, warnings.
    pub notes: Vec<String>,
}

impl RpmReport {
    /// Distinct signer fingerprints over all signature checks.
    pub fn signers(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .signatures
            .iter()
            .flat_map(|s| s.signers.iter().cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// A digest algorithm as rpm numbers them (OpenPGP hash algorithm IDs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hash {
    Ours(Algo),
    Sha3_256,
    Sha3_512,
}

impl Hash {
    fn from_pgp_id(id: u32) -> Result<Hash, String> {
        Ok(match id {
            1 => Hash::Ours(Algo::Md5),
            2 => Hash::Ours(Algo::Sha1),
            8 => Hash::Ours(Algo::Sha256),
            9 => Hash::Ours(Algo::Sha384),
            10 => Hash::Ours(Algo::Sha512),
            12 => Hash::Sha3_256,
            14 => Hash::Sha3_512,
            other => return Err(format!("unknown digest algorithm {other}")),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Hash::Ours(a) => a.bsd_tag(),
            Hash::Sha3_256 => "SHA3-256",
            Hash::Sha3_512 => "SHA3-512",
        }
    }

    fn is_weak(self) -> bool {
        matches!(self, Hash::Ours(a) if a.is_weak())
    }

    fn start(self) -> std::io::Result<Running> {
        let seq = |a: sequoia_openpgp::types::HashAlgorithm| {
            a.context()
                .map(|b| Running::Sequoia(Box::new(b.for_digest())))
                .map_err(|e| std::io::Error::other(format!("{}: {e}", self.name())))
        };
        match self {
            Hash::Ours(a) => Ok(Running::Ours(a.hasher())),
            Hash::Sha3_256 => seq(sequoia_openpgp::types::HashAlgorithm::SHA3_256),
            Hash::Sha3_512 => seq(sequoia_openpgp::types::HashAlgorithm::SHA3_512),
        }
    }
}

// Few of these live at once (one per expected digest): no need to box.
#[allow(clippy::large_enum_variant)]
enum Running {
    Ours(crate::digest::Hasher),
    Sequoia(Box<sequoia_openpgp::crypto::hash::Context>),
}

impl Running {
    fn update(&mut self, d: &[u8]) {
        match self {
            Running::Ours(h) => h.update(d),
            Running::Sequoia(h) => h.update(d),
        }
    }

    fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            Running::Ours(h) => h.finalize(),
            Running::Sequoia(h) => h
                .into_digest()
                .map_err(|e| std::io::Error::other(format!("finishing a digest: {e}"))),
        }
    }
}

fn digest_of(h: Hash, data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut r = h.start()?;
    r.update(data);
    r.finish()
}

/// A digest the signed header promises.
struct Expected {
    tag: u32,
    hash: Hash,
    hex: Vec<u8>,
    /// Over the uncompressed payload (the ALT tags).
    uncompressed: bool,
}

/// Passes the payload through, hashing it with every expected digest.
struct Tee<R> {
    inner: R,
    hashers: Vec<Running>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let got = buf.get(..n).unwrap_or_default();
        for h in &mut self.hashers {
            h.update(got);
        }
        Ok(n)
    }
}

/// A malformed package: exit 1 with what and where.
fn malformed(part: &str, e: HeaderError) -> anyhow::Error {
    match e {
        HeaderError::Read(io) => anyhow::Error::new(io).context(format!("reading the {part}")),
        e => fail(Code::Failed, format!("malformed {part}: {e}")),
    }
}

/// A failure of tag `t`: exit `code`, naming the tag.
fn tag_fail(t: u32, what: &str, code: Code, why: impl std::fmt::Display) -> anyhow::Error {
    fail(code, format!("tag {t} ({what}): {why}"))
}

/// Verify one package read from `r` (the whole file, from its first
/// byte). `buf_size` is the payload read size (the file size of a small
/// file saves a large allocation per package).
pub fn verify_rpm<R: Read + Send + Sync>(
    mut r: R,
    verifier: &Verifier,
    opts: &RpmOptions,
    buf_size: usize,
) -> anyhow::Result<RpmReport> {
    let mut lead = [0u8; LEAD_LEN];
    header::read_full(&mut r, &mut lead, "lead").map_err(|e| malformed("lead", e))?;
    if lead.get(..4) != Some(&LEAD_MAGIC[..]) {
        return Err(fail(Code::Failed, "not an RPM package (no lead magic)"));
    }
    let major = lead[4];
    let sigtype = u16::from_be_bytes([lead[78], lead[79]]);
    if !(3..=4).contains(&major) || sigtype != HEADERSIG_TYPE {
        return Err(fail(
            Code::Failed,
            format!("unsupported RPM lead (version {major}, signature type {sigtype})"),
        ));
    }

    let sig_bytes = header::read_header(&mut r, header::SIGNATURE_LIMITS)
        .map_err(|e| malformed("signature header", e))?;
    let sig_len = sig_bytes.len();
    let sigh = Header::parse(
        sig_bytes,
        header::TAG_HEADERSIGNATURES,
        header::SIGNATURE_LIMITS,
    )
    .map_err(|e| malformed("signature header", e))?;
    let mut pad = [0u8; 8];
    let pad_len = (8 - sig_len % 8) % 8;
    header::read_full(&mut r, &mut pad[..pad_len], "signature header padding")
        .map_err(|e| malformed("signature header", e))?;

    let main_bytes =
        header::read_header(&mut r, opts.main_limits).map_err(|e| malformed("header", e))?;
    let main = Header::parse(main_bytes, header::TAG_HEADERIMMUTABLE, opts.main_limits)
        .map_err(|e| malformed("header", e))?;

    let format = match main
        .int32(tag::RPMFORMAT)
        .map_err(|e| malformed("header", e))?
    {
        None | Some(4) => 4,
        Some(6) => 6,
        Some(n) => {
            return Err(fail(
                Code::Failed,
                format!(
                    "tag {} (RPMFORMAT): unknown package format {n}",
                    tag::RPMFORMAT
                ),
            ))
        }
    };
    if format == 6 {
        check_v6(&sigh, &main)?;
    }
    let mut report = RpmReport {
        format,
        nevra: nevra(&main),
        signatures: Vec::new(),
        digests: Vec::new(),
        notes: Vec::new(),
    };

    check_header_digests(&sigh, &main, &mut report)?;

    // The header signature: 278 first; 268/267 only without it.
    let (sig_tag, sigs) = header_signatures(&sigh)?;
    let v3 = if opts.v3_signatures {
        v3_signatures(&sigh)?
    } else {
        None
    };
    match (&sigs, &v3) {
        (None, None) => {
            let hint = if !opts.v3_signatures && (sigh.has(sigtag::PGP) || sigh.has(sigtag::GPG)) {
                "; it has only header+payload (v3) signatures (tags 1002/1005), which --v3-signatures checks"
            } else {
                ""
            };
            return Err(fail(
                Code::Missing,
                format!("unsigned: no header signature (tags 278, 268, 267){hint}"),
            ));
        }
        (Some(s), _) => {
            let what = sig_tag_name(sig_tag);
            let verdict = verifier
                .verify_detached_bytes(s, main.raw())
                .map_err(|e| with_tag(e, sig_tag, what))?;
            report.notes.extend(verdict.notes);
            report.signatures.push(SignatureCheck {
                tag: sig_tag,
                what,
                signers: verdict.signers.iter().map(|f| f.to_hex()).collect(),
            });
        }
        (None, Some(_)) => {}
    }
    if sig_tag == sigtag::OPENPGP && (sigh.has(sigtag::RSA) || sigh.has(sigtag::DSA)) {
        report.notes.push(
            "v4 signature tags (268/267) ignored: an OpenPGP (278) signature is present".into(),
        );
    }

    // The payload: one pass, every computable digest (and a v3 signature).
    let expected = payload_digests(&main, format)?;
    let compressed: Vec<&Expected> = expected.iter().filter(|e| !e.uncompressed).collect();
    let alt: Vec<&Expected> = expected.iter().filter(|e| e.uncompressed).collect();
    let use_alt = compressed.is_empty() && v3.is_none();
    let decoder = if use_alt && !alt.is_empty() {
        Some(payload_decoder(&main)?)
    } else {
        None
    };
    if expected.is_empty() && v3.is_none() {
        return Err(fail(
            Code::Missing,
            format!(
                "tag {} (payload digest): the signed header has no payload digest (rpm < 4.14); \
                 nothing authenticates the payload",
                tag::PAYLOADDIGEST
            ),
        ));
    }
    let hashers = compressed
        .iter()
        .map(|e| e.hash.start())
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut tee = Tee { inner: r, hashers };
    let buf_size = buf_size.clamp(4096, crate::digest::BLOCK);

    if let Some((v3_tag, v3_sig)) = &v3 {
        let what = sig_tag_name(*v3_tag);
        let data = std::io::Read::chain(main.raw(), &mut tee);
        let verdict = verifier
            .verify_detached_reader(v3_sig, data)
            .map_err(|e| with_tag(e, *v3_tag, what))?;
        report.notes.extend(verdict.notes);
        report.signatures.push(SignatureCheck {
            tag: *v3_tag,
            what,
            signers: verdict.signers.iter().map(|f| f.to_hex()).collect(),
        });
    }

    let mut alt_hashers = Vec::new();
    match decoder {
        Some(c) => {
            alt_hashers = alt
                .iter()
                .map(|e| e.hash.start())
                .collect::<std::io::Result<Vec<_>>>()?;
            let mut dec = c.decoder(&mut tee);
            let mut hashing = Tee {
                inner: &mut dec,
                hashers: std::mem::take(&mut alt_hashers),
            };
            drain(&mut hashing, buf_size).map_err(|e| payload_error(e, true))?;
            alt_hashers = hashing.hashers;
        }
        None => drain(&mut tee, buf_size).map_err(|e| payload_error(e, false))?,
    }

    let checked: Vec<(&Expected, Running)> = if use_alt {
        alt.into_iter().zip(alt_hashers).collect()
    } else {
        compressed.into_iter().zip(tee.hashers).collect()
    };
    for (e, h) in checked {
        let got = hex::encode(h.finish()?);
        let what = format!(
            "{}payload {} digest",
            if e.uncompressed { "uncompressed " } else { "" },
            e.hash.name()
        );
        let want = String::from_utf8_lossy(&e.hex).to_ascii_lowercase();
        if !crate::digest::digest_eq(got.as_bytes(), want.as_bytes()) {
            return Err(tag_fail(
                e.tag,
                &what,
                Code::Failed,
                format!("mismatch: expected {want}, got {got}"),
            ));
        }
        report.digests.push(DigestCheck {
            tag: e.tag,
            what,
            hex: got,
        });
    }
    Ok(report)
}

/// Read `r` to its end through a buffer of `size` bytes.
fn drain(r: &mut impl Read, size: usize) -> std::io::Result<()> {
    let mut buf = vec![0u8; size];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A decoder's complaint is a corrupt payload (exit 1); anything else is I/O.
fn payload_error(e: std::io::Error, decoding: bool) -> anyhow::Error {
    use std::io::ErrorKind::{InvalidData, InvalidInput, UnexpectedEof};
    if decoding && matches!(e.kind(), InvalidData | InvalidInput | UnexpectedEof) {
        fail(Code::Failed, format!("corrupt payload: {e}"))
    } else {
        anyhow::Error::new(e).context("reading the payload")
    }
}

/// Put the tag in front of a signature verdict, keeping its exit code.
fn with_tag(e: anyhow::Error, t: u32, what: &str) -> anyhow::Error {
    let code = crate::exit::code_of(&e);
    // An "empty" or "no signature" inside a present tag is a broken tag.
    let code = if code == Code::Missing {
        Code::Failed
    } else {
        code
    };
    if code == Code::Io {
        return e.context(format!("tag {t} ({what})"));
    }
    anyhow::Error::new(Failure::new(code, format!("tag {t} ({what}): {e:#}")))
}

/// The header signature tag and its OpenPGP bytes, if any.
fn header_signatures(sigh: &Header) -> anyhow::Result<(u32, Option<Vec<u8>>)> {
    let bad = |t: u32, e: HeaderError| tag_fail(t, sig_tag_name(t), Code::Failed, e);
    if let Some(items) = sigh
        .strings(sigtag::OPENPGP)
        .map_err(|e| bad(sigtag::OPENPGP, e))?
    {
        let mut all = Vec::new();
        for b64 in items {
            let trimmed = b64.trim_ascii();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(trimmed)
                .map_err(|e| bad_sig(sigtag::OPENPGP, format!("not base64: {e}")))?;
            all.extend(bytes);
        }
        if all.is_empty() {
            return Err(bad_sig(sigtag::OPENPGP, "empty"));
        }
        return Ok((sigtag::OPENPGP, Some(all)));
    }
    let mut found = None;
    let mut all = Vec::new();
    for t in [sigtag::RSA, sigtag::DSA] {
        if let Some(b) = sigh.bin(t).map_err(|e| bad(t, e))? {
            found.get_or_insert(t);
            all.extend_from_slice(b);
        }
    }
    Ok(match found {
        Some(t) => (t, Some(all)),
        None => (sigtag::RSA, None),
    })
}

fn bad_sig(t: u32, why: impl std::fmt::Display) -> anyhow::Error {
    tag_fail(t, sig_tag_name(t), Code::Failed, why)
}

/// The v3 (header+payload) signature tag and bytes, if any.
fn v3_signatures(sigh: &Header) -> anyhow::Result<Option<(u32, Vec<u8>)>> {
    let mut found = None;
    let mut all = Vec::new();
    for t in [sigtag::PGP, sigtag::GPG] {
        if let Some(b) = sigh.bin(t).map_err(|e| bad_sig(t, e))? {
            found.get_or_insert(t);
            all.extend_from_slice(b);
        }
    }
    Ok(found.map(|t| (t, all)))
}

/// The header digests of the signature header (273, 279), when present.
fn check_header_digests(
    sigh: &Header,
    main: &Header,
    report: &mut RpmReport,
) -> anyhow::Result<()> {
    for (t, h) in [
        (sigtag::SHA256, Hash::Ours(Algo::Sha256)),
        (sigtag::SHA3_256, Hash::Sha3_256),
    ] {
        let what = sig_tag_name(t);
        let Some(want) = sigh.string(t).map_err(|e| bad_sig(t, e))? else {
            continue;
        };
        let got = hex::encode(digest_of(h, main.raw())?);
        let want = String::from_utf8_lossy(want).to_ascii_lowercase();
        if got != want {
            return Err(tag_fail(
                t,
                what,
                Code::Failed,
                format!("mismatch: expected {want}, got {got}"),
            ));
        }
        report.digests.push(DigestCheck {
            tag: t,
            what: what.to_string(),
            hex: got,
        });
    }
    Ok(())
}

/// v6 rules (format_v6.md): sorted tags, no v3 tags in the signature header.
fn check_v6(sigh: &Header, main: &Header) -> anyhow::Result<()> {
    sigh.check_sorted()
        .map_err(|e| malformed("signature header", e))?;
    main.check_sorted().map_err(|e| malformed("header", e))?;
    if let Some(e) = sigh.entries().iter().find(|e| e.tag > 999) {
        return Err(fail(
            Code::Failed,
            format!(
                "malformed signature header: tag {} is illegal in a v6 package",
                e.tag
            ),
        ));
    }
    Ok(())
}

/// Every payload digest the signed header carries.
fn payload_digests(main: &Header, format: u8) -> anyhow::Result<Vec<Expected>> {
    let bad = |t: u32, e: HeaderError| tag_fail(t, "payload digest", Code::Failed, e);
    let algo_id = main
        .int32(tag::PAYLOADDIGESTALGO)
        .map_err(|e| bad(tag::PAYLOADDIGESTALGO, e))?;
    // v6: 5092 is SHA-256 by definition; v4 names its algorithm in 5093.
    let algo = match (algo_id, format) {
        (Some(id), _) => Some(Hash::from_pgp_id(id).map_err(|why| {
            tag_fail(
                tag::PAYLOADDIGESTALGO,
                "payload digest algorithm",
                Code::Failed,
                why,
            )
        })?),
        (None, 6) => Some(Hash::Ours(Algo::Sha256)),
        (None, _) => None,
    };
    let mut out = Vec::new();
    let mut add = |t: u32, hash: Option<Hash>, uncompressed: bool| -> anyhow::Result<()> {
        let Some(values) = main.strings(t).map_err(|e| bad(t, e))? else {
            return Ok(());
        };
        let Some(hash) = hash else {
            return Err(tag_fail(
                t,
                "payload digest",
                Code::Failed,
                format!("no digest algorithm (tag {})", tag::PAYLOADDIGESTALGO),
            ));
        };
        if hash.is_weak() {
            return Err(tag_fail(
                t,
                "payload digest",
                Code::Failed,
                format!("weak algorithm {} refused", hash.name()),
            ));
        }
        for v in values {
            let ok = v.len() / 2 == digest_len(hash) && v.iter().all(u8::is_ascii_hexdigit);
            if !ok {
                return Err(tag_fail(
                    t,
                    "payload digest",
                    Code::Failed,
                    "not a hex digest",
                ));
            }
            out.push(Expected {
                tag: t,
                hash,
                hex: v.to_vec(),
                uncompressed,
            });
        }
        Ok(())
    };
    add(tag::PAYLOADDIGEST, algo, false)?;
    add(tag::PAYLOADDIGESTALT, algo, true)?;
    add(tag::PAYLOADSHA512, Some(Hash::Ours(Algo::Sha512)), false)?;
    add(tag::PAYLOADSHA512ALT, Some(Hash::Ours(Algo::Sha512)), true)?;
    add(tag::PAYLOADSHA3_256, Some(Hash::Sha3_256), false)?;
    add(tag::PAYLOADSHA3_256ALT, Some(Hash::Sha3_256), true)?;
    Ok(out)
}

fn digest_len(h: Hash) -> usize {
    match h {
        Hash::Ours(a) => a.digest_len(),
        Hash::Sha3_256 => 32,
        Hash::Sha3_512 => 64,
    }
}

/// The decoder for the payload compressor, for the uncompressed digests.
fn payload_decoder(main: &Header) -> anyhow::Result<crate::codec::Compression> {
    use crate::codec::Compression;
    let name = main
        .string(tag::PAYLOADCOMPRESSOR)
        .map_err(|e| {
            tag_fail(
                tag::PAYLOADCOMPRESSOR,
                "payload compressor",
                Code::Failed,
                e,
            )
        })?
        .unwrap_or(b"gzip");
    match name {
        b"gzip" => Ok(Compression::Gzip),
        b"xz" => Ok(Compression::Xz),
        b"bzip2" => Ok(Compression::Bzip2),
        other => Err(fail(
            Code::Missing,
            format!(
                "only digests of the uncompressed payload (tag {}), and its compressor {:?} has no decoder here",
                tag::PAYLOADDIGESTALT,
                String::from_utf8_lossy(other)
            ),
        )),
    }
}

/// name-[epoch:]version-release.arch from the main header, best effort
/// (for reports only).
fn nevra(main: &Header) -> String {
    let s = |t| {
        main.string(t)
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_else(|| "?".into())
    };
    let epoch = match main.int32(tag::EPOCH) {
        Ok(Some(e)) => format!("{e}:"),
        _ => String::new(),
    };
    let arch = if main.has(tag::SOURCERPM) {
        s(tag::ARCH)
    } else {
        "src".into()
    };
    format!(
        "{}-{epoch}{}-{}.{arch}",
        s(tag::NAME),
        s(tag::VERSION),
        s(tag::RELEASE)
    )
}
