//! The one-pass verification pipeline.
//!
//! Bytes flow: source → [`Tee`] (size cap, copy into the untrusted file,
//! SHA-256 of the stored bytes when asked, progress) → decoder (with
//! `--uncompress`) → [`StoreDecoded`] (with `--decompress`: the decoded
//! content is what is stored) → pinned-hash digests → signature verifier.
//! Nothing is read twice. Receiving and storing run on one thread, decoding and
//! hashing on another, with a few blocks in flight between them: the time
//! is that of the slower of the two, not their sum. Errors are classified by where they arose: the network
//! (exit 4, retryable), the disk (exit 4), the size cap or a decoder
//! refusing the stream (exit 1), the verifier (its own classification).

use crate::codec::Compression;
use crate::digest::{Algo, Hasher, HashingReader};
use crate::exit::{code_of, fail, Code, Failure};
use crate::fsutil::BackgroundSync;
use crate::net::Fault;
use crate::openpgp::{Fingerprint, Verdict, Verifier};
use crate::package::rpm::{verify_rpm, RpmOptions};
use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};

/// What a download must satisfy: a signature, pinned hashes, or both.
#[derive(Clone)]
pub struct Checks<'a> {
    /// Detached signature bytes and who may have made it.
    pub signature: Option<(Vec<u8>, &'a Verifier<'a>)>,
    /// Pinned digests.
    pub hashes: Vec<(Algo, Vec<u8>)>,
    /// The signature and hashes cover the decompressed content.
    pub uncompress: Option<Compression>,
    /// Also report the SHA-256 of the stored bytes (`--json`).
    pub want_sha256: bool,
    /// With `uncompress`: the most bytes the content may decompress to (a
    /// small bomb under --max-size must not hash terabytes).
    pub max_uncompressed: u64,
    /// With `uncompress`: store the decompressed content (what the
    /// signature covers) instead of the bytes received.
    pub store_decoded: bool,
    /// The size of the bytes the hashes cover (a Debian list's entry).
    pub size: Option<u64>,
    /// An RPM verified by its own header signature and payload digest
    /// (`fetch-verified --keyring K URL.rpm` without SIG).
    pub rpm: Option<RpmCheck<'a>>,
    /// Rebuilders that must attest the stored bytes' SHA-256, on top of
    /// the checks above (issue 26).
    pub attest: Option<AttestCheck<'a>>,
}

/// The attestations a download's SHA-256 is judged by, and the name the
/// rebuilders' products are looked up under (the final name).
#[derive(Clone, Copy)]
pub struct AttestCheck<'a> {
    pub attestations: &'a crate::attest::Attestations,
    pub name: &'a str,
}

/// The keys and options an RPM's embedded signature is verified with.
#[derive(Clone, Copy)]
pub struct RpmCheck<'a> {
    pub verifier: &'a Verifier<'a>,
    pub options: RpmOptions,
}

impl Checks<'_> {
    pub fn is_empty(&self) -> bool {
        self.signature.is_none() && self.hashes.is_empty() && self.rpm.is_none()
    }
}

/// What was verified.
#[derive(Clone, Debug, Default)]
pub struct Verified {
    /// Bytes stored (the compressed size with `uncompress`, the
    /// decompressed one with `store_decoded`).
    pub size: u64,
    /// SHA-256 of the stored bytes, when asked for.
    pub sha256: Option<String>,
    pub signers: Vec<Fingerprint>,
    pub notes: Vec<String>,
    /// An RPM's name-[epoch:]version-release.arch, when it was verified by
    /// its own signature.
    pub package: Option<String>,
    /// The rebuilders that attest it, when asked.
    pub attested: Option<Box<crate::attest::Decision>>,
}

fn fault(f: Fault) -> io::Error {
    io::Error::other(f)
}

/// Map an error from the streaming pipeline to the exit-code contract.
fn classify(err: anyhow::Error) -> anyhow::Error {
    if code_of(&err) != Code::Io || err.chain().any(|c| c.is::<Failure>()) {
        return err;
    }
    let ours = err.chain().find_map(|c| {
        c.downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|e| e.downcast_ref::<Fault>())
    });
    match ours {
        Some(Fault::TooLarge(_) | Fault::Expands(_)) => {
            err.context(Failure::new(Code::Failed, "size limit exceeded"))
        }
        Some(_) => err,
        // An I/O error we did not raise came from a decoder: a corrupt or
        // truncated compressed stream is a verification failure, not "retry".
        None => err.context(Failure::new(
            Code::Failed,
            "the compressed stream is corrupt or truncated",
        )),
    }
}

/// A reader that keeps its first error: later reads fail too, and the
/// original error, whose [`Fault`] decides the exit code (a cut-off
/// download is 4, an oversized one 1), is taken back afterwards whatever
/// the verifier or a decoder made of the copy they were handed.
struct Sticky<R> {
    inner: R,
    failed: bool,
    error: Option<io::Error>,
}

impl<R: Read> Sticky<R> {
    fn new(inner: R) -> Self {
        Sticky {
            inner,
            failed: false,
            error: None,
        }
    }

    fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }
}

impl<R: Read> Read for Sticky<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other("an earlier read failed"));
        }
        self.inner.read(buf).map_err(|e| {
            // Keep the original (it carries the Fault); hand out a copy.
            self.failed = true;
            let copy = io::Error::new(e.kind(), e.to_string());
            self.error = Some(e);
            copy
        })
    }
}

/// The stored bytes: cap, copy into the temporary file, count, hash.
struct Tee<'a, R> {
    inner: R,
    /// The announced length: a body that ends short of it was cut off.
    expected: Option<u64>,
    out: Option<&'a mut File>,
    /// Write-behind for `out`, so the fsync before the rename is short.
    sync: Option<&'a BackgroundSync>,
    hasher: Option<Hasher>,
    seen: u64,
    max: u64,
    progress: Option<&'a indicatif::ProgressBar>,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self
            .inner
            .read(buf)
            .map_err(|e| fault(Fault::Transport(e)))?;
        if n == 0 && !buf.is_empty() {
            if let Some(len) = self.expected.filter(|len| self.seen < *len) {
                let cut = io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("connection closed after {} of {len} bytes", self.seen),
                );
                return Err(fault(Fault::Transport(cut)));
            }
        }
        let chunk = buf.get(..n).unwrap_or_default();
        self.seen += n as u64;
        if self.seen > self.max {
            return Err(fault(Fault::TooLarge(self.max)));
        }
        if let Some(out) = self.out.as_deref_mut() {
            store(out, self.sync, chunk)?;
        }
        if let Some(h) = &mut self.hasher {
            h.update(chunk);
        }
        if let Some(p) = self.progress {
            p.inc(n as u64);
        }
        Ok(n)
    }
}

/// Write `chunk` to the untrusted file and tell the write-behind syncer.
fn store(out: &mut File, sync: Option<&BackgroundSync>, chunk: &[u8]) -> io::Result<()> {
    out.write_all(chunk).map_err(|e| fault(Fault::Disk(e)))?;
    if let Some(sync) = sync {
        sync.written(chunk.len() as u64)
            .map_err(|e| fault(Fault::Disk(e)))?;
    }
    Ok(())
}

/// With `store_decoded`: the decoded content, written to the untrusted file
/// as it goes on to be hashed and verified, so what is stored is exactly
/// what was verified.
struct StoreDecoded<'a, R> {
    inner: R,
    out: &'a mut File,
    sync: Option<&'a BackgroundSync>,
    written: &'a mut u64,
}

impl<R: Read> Read for StoreDecoded<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        store(self.out, self.sync, buf.get(..n).unwrap_or_default())?;
        *self.written += n as u64;
        Ok(n)
    }
}

/// Buffers in flight between the receiving thread and the verifying one:
/// memory stays flat (a few MiB at most) whatever the file size.
const DEPTH: usize = 4;
const BLOCK: usize = 256 * 1024;
/// Bytes written between background fdatasyncs (and at most this long).
const WRITE_BEHIND: u64 = 32 << 20;
const WRITE_BEHIND_TIME: std::time::Duration = std::time::Duration::from_secs(1);

impl<R: Read> Tee<'_, R> {
    /// The receiving side: fill blocks from the source (storing and
    /// counting them on the way) and hand them to the verifying thread, so
    /// that receiving and writing overlap with hashing. Returns whether the
    /// source was read to its end; an error is passed on in the stream.
    fn pump(&mut self, tx: &SyncSender<io::Result<Vec<u8>>>, free: &Receiver<Vec<u8>>) -> bool {
        loop {
            let mut buf = free.try_recv().unwrap_or_default();
            buf.resize(BLOCK, 0);
            let mut filled = 0;
            let mut eof = false;
            while filled < BLOCK {
                match self.read(buf.get_mut(filled..).unwrap_or_default()) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return false;
                    }
                }
            }
            buf.truncate(filled);
            if filled > 0 && tx.send(Ok(buf)).is_err() {
                return false; // the verifier stopped reading: it failed
            }
            if eof {
                return true;
            }
        }
    }
}

/// The verifying side of [`Tee::pump`]: a Read over the blocks received.
struct Blocks {
    /// In a Mutex only because sequoia wants a Sync reader; never contended.
    rx: std::sync::Mutex<Receiver<io::Result<Vec<u8>>>>,
    free: Sender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for Blocks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.cur.len() {
            let spent = std::mem::take(&mut self.cur);
            let _ = self.free.send(spent);
            self.pos = 0;
            let rx = self
                .rx
                .get_mut()
                .map_err(|_| io::Error::other("poisoned receiver"))?;
            match rx.recv() {
                Ok(Ok(block)) => self.cur = block,
                Ok(Err(e)) => return Err(e),
                // The receiving side is done; whether it reached the end
                // cleanly is checked when it is joined.
                Err(_) => return Ok(0),
            }
        }
        let avail = self.cur.get(self.pos..).unwrap_or_default();
        let n = avail.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), avail.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.pos += n;
        Ok(n)
    }
}

/// Verify everything `reader` yields against `checks`, copying the stored
/// bytes (the decoded content with `checks.store_decoded`) into `out` when
/// given. One pass; memory stays flat.
pub fn verify_stream(
    reader: impl Read + Send + Sync,
    expected_len: Option<u64>,
    checks: &Checks,
    out: Option<&mut File>,
    max: u64,
    progress: Option<&indicatif::ProgressBar>,
) -> anyhow::Result<Verified> {
    // Hash only what is needed: the stored bytes' SHA-256 comes for free
    // from a pinned SHA-256 when both cover the same bytes. The received
    // bytes are hashed on the receiving side, decoded ones with the pins.
    let pinned_sha256 = checks.hashes.iter().any(|(a, _)| *a == Algo::Sha256);
    let store_decoded = checks.store_decoded && checks.uncompress.is_some();
    let want_sha256 = checks.want_sha256 || checks.attest.is_some();
    let tee_sha256 = want_sha256
        && match checks.uncompress {
            Some(_) => !store_decoded,
            None => !pinned_sha256,
        };
    let (out, decoded_out) = match store_decoded {
        true => (None, out),
        false => (out, None),
    };
    // Start writing the stored bytes to the disk while they arrive: the
    // fsync before the rename (DESIGN.md §1.1) then waits for the last
    // batch, not for the whole file.
    let sync_fd = match out.as_ref().or(decoded_out.as_ref()) {
        Some(f) => Some(f.try_clone().map_err(|e| {
            fail(
                Code::Io,
                format!("duplicating the download's descriptor: {e}"),
            )
        })?),
        None => None,
    };
    let syncer = BackgroundSync::new(WRITE_BEHIND, WRITE_BEHIND_TIME);
    let mut tee = Tee {
        inner: reader,
        expected: expected_len,
        sync: sync_fd.as_ref().filter(|_| out.is_some()).map(|_| &syncer),
        out,
        hasher: tee_sha256.then(|| Algo::Sha256.hasher()),
        seen: 0,
        max,
        progress,
    };
    let (result, complete, tee) = std::thread::scope(|s| {
        if let Some(fd) = &sync_fd {
            s.spawn(|| syncer.run(fd));
        }
        let (tx, rx) = sync_channel(DEPTH);
        let (free_tx, free_rx) = channel();
        let receiving = s.spawn(move || {
            let complete = tee.pump(&tx, &free_rx);
            (complete, tee)
        });
        let mut blocks = Blocks {
            rx: std::sync::Mutex::new(rx),
            free: free_tx,
            cur: Vec::new(),
            pos: 0,
        };
        let decoded = decoded_out.map(|out| (out, sync_fd.as_ref().map(|_| &syncer)));
        let result = check_content(&mut blocks, checks, decoded);
        // Stop the receiving side if verification ended early.
        drop(blocks);
        let joined = receiving.join();
        syncer.stop();
        match joined {
            Ok((complete, tee)) => Ok((result, complete, tee)),
            Err(_) => Err(fail(Code::Io, "the receiving thread failed")),
        }
    })?;
    let (digests, verdict, decoded_size, package) = result?;
    if !complete {
        return Err(fail(Code::Io, "the transfer ended before its end"));
    }
    let sha256 = match tee.hasher {
        Some(h) => Some(hex::encode(
            h.finalize().map_err(|e| fail(Code::Io, e.to_string()))?,
        )),
        None if want_sha256 => digests.hex(Algo::Sha256),
        None => None,
    };
    let attested = match (checks.attest, &sha256) {
        (Some(a), Some(hexed)) => {
            let d: [u8; 32] = hex::decode(hexed)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| fail(Code::Io, "no SHA-256 of the download"))?;
            let decision = a.attestations.decide(&d, Some(a.name));
            decision.check()?;
            Some(Box::new(decision))
        }
        _ => None,
    };
    let Verdict { signers, mut notes } = verdict.unwrap_or_default();
    notes.extend(attested.iter().flat_map(|d| d.notes.iter().cloned()));
    Ok(Verified {
        size: decoded_size.unwrap_or(tee.seen),
        sha256: sha256.filter(|_| checks.want_sha256),
        signers,
        notes,
        package,
        attested,
    })
}

/// A detached signature that failed over the bytes of `file` (a `.gz`,
/// `.xz` or `.bz2` by its name `name`, judged as received): does it verify
/// over what they decompress to? Then the user wants `--decompress`, and
/// the failure says so. Only asked after a failure; bounded like a
/// download verified with `--uncompress`.
pub fn explain_compressed(
    err: anyhow::Error,
    file: &File,
    checks: &Checks,
    name: &str,
) -> anyhow::Error {
    use std::io::Seek;
    let (Some(compression), None, Some(_), Code::Failed) = (
        Compression::from_name(name),
        checks.uncompress,
        &checks.signature,
        code_of(&err),
    ) else {
        return err;
    };
    let probe = Checks {
        signature: checks.signature.clone(),
        hashes: Vec::new(),
        uncompress: Some(compression),
        want_sha256: false,
        max_uncompressed: checks.max_uncompressed,
        store_decoded: false,
        size: None,
        rpm: None,
        attest: None,
    };
    let mut f = file;
    if f.rewind().is_err() || verify_stream(f, None, &probe, None, u64::MAX, None).is_err() {
        return err;
    }
    let stored = Compression::decompressed_name(name).unwrap_or_else(|| name.to_string());
    err.context(Failure::new(
        Code::Failed,
        format!(
            "{name}: the signature verifies over its decompressed content, not over the \
             compressed bytes: use --decompress to store the verified {stored} \
             (build-verify.mk: fetch-decompressed-rule)"
        ),
    ))
}

/// The decoded content, at most `left` more bytes.
struct Capped<R> {
    inner: R,
    left: u64,
    max: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        match self.left.checked_sub(n as u64) {
            Some(left) => {
                self.left = left;
                Ok(n)
            }
            None => Err(fault(Fault::Expands(self.max))),
        }
    }
}

/// Where [`check_content`] stores the decoded content, and its syncer.
type DecodedOut<'a> = (&'a mut File, Option<&'a BackgroundSync>);

/// What [`check_content`] found: the digests, the signature's verdict,
/// the decoded size when it was stored, an RPM's name.
type Content = (
    crate::digest::Digests,
    Option<Verdict>,
    Option<u64>,
    Option<String>,
);

/// Decode, hash and verify the received bytes as they arrive; with
/// `decoded`, store the decoded content on the way and return its size.
fn check_content(
    received: &mut (impl Read + Send + Sync),
    checks: &Checks,
    decoded: Option<DecodedOut<'_>>,
) -> anyhow::Result<Content> {
    let mut algos: Vec<Algo> = checks.hashes.iter().map(|(a, _)| *a).collect();
    if checks.want_sha256 && decoded.is_some() && !algos.contains(&Algo::Sha256) {
        algos.push(Algo::Sha256);
    }
    let stored_decoded = decoded.is_some();
    let mut written = 0u64;
    let mut package = None;
    let (digests, verdict) = {
        let content: Box<dyn Read + Send + Sync + '_> = match checks.uncompress {
            None => Box::new(&mut *received),
            Some(c) => Box::new(Capped {
                inner: c.decoder(&mut *received),
                left: checks.max_uncompressed,
                max: checks.max_uncompressed,
            }),
        };
        let content: Box<dyn Read + Send + Sync + '_> = match decoded {
            None => content,
            Some((out, sync)) => Box::new(StoreDecoded {
                inner: content,
                out,
                sync,
                written: &mut written,
            }),
        };
        let mut hashing = Sticky::new(HashingReader::new(content, &algos));
        let verdict = match (&checks.signature, &checks.rpm) {
            (Some((sig, verifier)), _) => {
                let r = verifier.verify_detached_reader(sig, &mut hashing);
                if let Some(e) = hashing.take_error() {
                    return Err(classify(e.into()));
                }
                Some(r.map_err(classify)?)
            }
            (None, Some(rpm)) => {
                let r = verify_rpm(&mut hashing, rpm.verifier, &rpm.options, BLOCK);
                if let Some(e) = hashing.take_error() {
                    return Err(classify(e.into()));
                }
                let report = r.map_err(classify)?;
                package = Some(report.nevra.clone());
                Some(rpm_verdict(&report))
            }
            (None, None) => {
                if let Err(e) = io::copy(&mut hashing, &mut io::sink()) {
                    return Err(classify(hashing.take_error().unwrap_or(e).into()));
                }
                None
            }
        };
        // The content must end here: nothing unverified after it.
        let mut probe = [0u8; 1];
        match hashing.read(&mut probe) {
            Ok(0) => {}
            Ok(_) => return Err(fail(Code::Failed, "data beyond what was verified")),
            Err(e) => return Err(classify(hashing.take_error().unwrap_or(e).into())),
        }
        let digests = hashing
            .inner
            .finalize()
            .map_err(|e| fail(Code::Io, e.to_string()))?;
        (digests, verdict)
    };
    // Whatever follows the end of a compressed stream is not covered by the
    // signature: refuse it rather than store it.
    if checks.uncompress.is_some() {
        let mut probe = [0u8; 1];
        if received.read(&mut probe).map_err(|e| classify(e.into()))? > 0 {
            return Err(fail(
                Code::Failed,
                "data after the end of the compressed stream",
            ));
        }
    }
    if let Some(want) = checks.size.filter(|n| *n != digests.len) {
        return Err(fail(
            Code::Failed,
            format!(
                "size mismatch: the list says {want} bytes, got {}",
                digests.len
            ),
        ));
    }
    // Every pinned digest must match; each that does not is named.
    let bad = crate::digest::mismatches(&checks.hashes, &digests);
    if !bad.is_empty() {
        return Err(fail(Code::Failed, bad.join("; ")));
    }
    Ok((digests, verdict, stored_decoded.then_some(written), package))
}

/// An RPM's signature checks as a verdict: the signers, and its notes.
fn rpm_verdict(report: &crate::package::rpm::RpmReport) -> Verdict {
    let signers = report
        .signatures
        .iter()
        .flat_map(|s| s.signers.iter())
        .filter_map(|hex| Fingerprint::from_hex(hex).ok())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    Verdict {
        signers,
        notes: report.notes.clone(),
    }
}
