//! Test support shared by the integration tests: OpenPGP keys and
//! signatures made with sequoia at test time, and running the built tools.
//! Tool-specific helpers live in their own files next to this one.
#![allow(dead_code)]

pub mod git;
pub mod http;
pub mod pkg;
pub mod signlog;

use sequoia_openpgp as openpgp;

use openpgp::cert::prelude::*;
use openpgp::crypto::KeyPair;
use openpgp::packet::key::{Key4, PrimaryRole, SecretParts};
use openpgp::packet::signature::SignatureBuilder;
use openpgp::packet::{Key, UserID};
use openpgp::policy::{NullPolicy, StandardPolicy};
use openpgp::serialize::{Serialize, SerializeInto};
use openpgp::types::{Curve, HashAlgorithm, KeyFlags, ReasonForRevocation, SignatureType};
use openpgp::{armor, Cert, Packet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const DAY: Duration = Duration::from_secs(86400);

/// A point in time `days` after (or before, negative) now.
pub fn days_from_now(days: i64) -> SystemTime {
    let now = SystemTime::now();
    if days >= 0 {
        now + DAY * days as u32
    } else {
        now - DAY * (-days) as u32
    }
}

/// A time from a Unix timestamp.
pub fn at(unix: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}

/// A fresh Ed25519 key with a signing subkey, created a year ago so tests
/// can sign "in the past".
pub fn gen_key(uid: &str) -> Cert {
    gen_key_with(uid, days_from_now(-365), None)
}

/// A key created at `created`, valid for `validity` (None: forever).
pub fn gen_key_with(uid: &str, created: SystemTime, validity: Option<Duration>) -> Cert {
    CertBuilder::new()
        .add_userid(uid)
        .add_signing_subkey()
        .set_creation_time(created)
        .set_validity_period(validity)
        .generate()
        .unwrap()
        .0
}

/// An RSA key of `bits`, as many real upstream keys are.
pub fn gen_rsa_key(uid: &str, bits: usize) -> Cert {
    let suite = match bits {
        2048 => CipherSuite::RSA2k,
        3072 => CipherSuite::RSA3k,
        _ => CipherSuite::RSA4k,
    };
    CertBuilder::new()
        .set_cipher_suite(suite)
        .add_userid(uid)
        .add_signing_subkey()
        .set_creation_time(days_from_now(-365))
        .generate()
        .unwrap()
        .0
}

/// A key as made in 2014: primary key signs, and its only user ID
/// self-signature uses SHA-1.
pub fn gen_legacy_sha1_key(uid: &str, created: SystemTime) -> Cert {
    let mut key: Key4<SecretParts, PrimaryRole> = Key4::generate_ecc(true, Curve::Ed25519).unwrap();
    key.set_creation_time(created).unwrap();
    let key: Key<SecretParts, PrimaryRole> = key.into();
    let mut signer = key.clone().into_keypair().unwrap();
    let userid = UserID::from(uid);
    let binding = SignatureBuilder::new(SignatureType::PositiveCertification)
        .set_hash_algo(HashAlgorithm::SHA1)
        .set_signature_creation_time(created)
        .unwrap()
        .set_key_flags(KeyFlags::empty().set_signing().set_certification())
        .unwrap()
        .sign_userid_binding(&mut signer, key.parts_as_public(), &userid)
        .unwrap();
    Cert::from_packets(vec![Packet::from(key), userid.into(), binding.into()].into_iter()).unwrap()
}

/// A key whose primary key signs, created at `created`, with one user ID
/// bound by self-signatures made at each of `bindings` (time, and an
/// optional validity period from creation): what a keyring refreshed with
/// its older self-signatures stripped looks like when only a late binding
/// is given.
pub fn gen_primary_signing_key(
    uid: &str,
    created: SystemTime,
    bindings: &[(SystemTime, Option<Duration>)],
) -> Cert {
    let mut key: Key4<SecretParts, PrimaryRole> = Key4::generate_ecc(true, Curve::Ed25519).unwrap();
    key.set_creation_time(created).unwrap();
    let key: Key<SecretParts, PrimaryRole> = key.into();
    let mut signer = key.clone().into_keypair().unwrap();
    let userid = UserID::from(uid);
    let mut packets = vec![Packet::from(key.clone()), userid.clone().into()];
    for (time, validity) in bindings {
        let binding = SignatureBuilder::new(SignatureType::PositiveCertification)
            .set_hash_algo(HashAlgorithm::SHA256)
            .set_signature_creation_time(*time)
            .unwrap()
            .set_key_flags(KeyFlags::empty().set_signing().set_certification())
            .unwrap()
            .set_key_validity_period(*validity)
            .unwrap()
            .sign_userid_binding(&mut signer, key.parts_as_public(), &userid)
            .unwrap();
        packets.push(binding.into());
    }
    Cert::from_packets(packets.into_iter()).unwrap()
}

/// A binary detached signature by `cert`'s primary key dated `time`, made
/// whatever the certificate says about that time.
pub fn sign_by_primary_at(cert: &Cert, data: &[u8], time: SystemTime) -> Vec<u8> {
    let mut signer = primary_signer(cert);
    let sig = SignatureBuilder::new(SignatureType::Binary)
        .set_hash_algo(HashAlgorithm::SHA256)
        .set_signature_creation_time(time)
        .unwrap()
        .sign_message(&mut signer, data)
        .unwrap();
    Packet::from(sig).to_vec().unwrap()
}

/// A signing keypair of `cert` bound at `time` (aliveness is not checked,
/// so tests can sign with keys that have expired or are not yet valid).
/// The null policy lets tests make the weak signatures tools must reject.
pub fn signer_at(cert: &Cert, time: SystemTime) -> KeyPair {
    // SAFETY (policy, not memory): test-only; keys made here, never trusted.
    let null = unsafe { NullPolicy::new() };
    cert.keys()
        .with_policy(&null, time)
        .for_signing()
        .secret()
        .next()
        .expect("a signing key bound at that time")
        .key()
        .clone()
        .into_keypair()
        .unwrap()
}

/// A binary detached signature over `data` with `hash`, dated `time`.
pub fn sign_detached_with(
    cert: &Cert,
    data: &[u8],
    hash: HashAlgorithm,
    time: SystemTime,
) -> Vec<u8> {
    let mut signer = signer_at(cert, time);
    let sig = SignatureBuilder::new(SignatureType::Binary)
        .set_hash_algo(hash)
        .set_signature_creation_time(time)
        .unwrap()
        .sign_message(&mut signer, data)
        .unwrap();
    Packet::from(sig).to_vec().unwrap()
}

/// A binary SHA-256 detached signature made an hour ago.
pub fn sign_detached(cert: &Cert, data: &[u8]) -> Vec<u8> {
    sign_detached_with(
        cert,
        data,
        HashAlgorithm::SHA256,
        SystemTime::now() - Duration::from_secs(3600),
    )
}

/// A cleartext-signed message (`-----BEGIN PGP SIGNED MESSAGE-----`)
/// over `text` with `hash`, dated an hour ago.
pub fn sign_cleartext(cert: &Cert, text: &[u8], hash: HashAlgorithm) -> Vec<u8> {
    use openpgp::serialize::stream::{Message, Signer};
    let time = SystemTime::now() - Duration::from_secs(3600);
    let mut out = Vec::new();
    let mut w = Signer::new(Message::new(&mut out), signer_at(cert, time))
        .unwrap()
        .hash_algo(hash)
        .unwrap()
        .creation_time(time)
        .cleartext()
        .build()
        .unwrap();
    std::io::Write::write_all(&mut w, text).unwrap();
    w.finalize().unwrap();
    out
}

/// Concatenate detached signatures into one signature file.
pub fn concat_sigs(sigs: &[Vec<u8>]) -> Vec<u8> {
    sigs.concat()
}

/// ASCII-armor a binary signature.
pub fn armor_sig(binary: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = armor::Writer::new(&mut out, armor::Kind::Signature).unwrap();
    std::io::Write::write_all(&mut w, binary).unwrap();
    w.finalize().unwrap();
    out
}

/// The public certificate, armored.
pub fn armor_cert(cert: &Cert) -> Vec<u8> {
    cert.armored().to_vec().unwrap()
}

/// The secret key (TSK), armored.
pub fn armor_tsk(cert: &Cert) -> Vec<u8> {
    cert.as_tsk().armored().to_vec().unwrap()
}

/// Write public certificates into one keyring file (armored).
pub fn write_keyring(path: &Path, certs: &[&Cert]) -> PathBuf {
    let mut out = Vec::new();
    for c in certs {
        out.extend(armor_cert(c));
    }
    std::fs::write(path, out).unwrap();
    path.to_path_buf()
}

/// Write public certificates into one binary keyring file (gpgv format).
pub fn write_keyring_binary(path: &Path, certs: &[&Cert]) -> PathBuf {
    let mut out = Vec::new();
    for c in certs {
        c.serialize(&mut out).unwrap();
    }
    std::fs::write(path, out).unwrap();
    path.to_path_buf()
}

/// A signer for `cert`'s primary key (revocations, certifications).
pub fn primary_signer(cert: &Cert) -> KeyPair {
    cert.primary_key()
        .key()
        .clone()
        .parts_into_secret()
        .unwrap()
        .into_keypair()
        .unwrap()
}

/// Revoke `cert` with `reason` at `time`; a key-compromise reason is a hard
/// revocation, superseded/retired are soft.
pub fn revoke(cert: &Cert, reason: ReasonForRevocation, time: SystemTime) -> Cert {
    let mut signer = primary_signer(cert);
    let rev = CertRevocationBuilder::new()
        .set_reason_for_revocation(reason, b"test")
        .unwrap()
        .set_signature_creation_time(time)
        .unwrap()
        .build(&mut signer, cert, None)
        .unwrap();
    cert.clone().insert_packets(rev).unwrap().0
}

/// Does a standard policy consider the key alive now? (sanity checks)
pub fn alive_now(cert: &Cert) -> bool {
    let p = StandardPolicy::new();
    cert.with_policy(&p, None).and_then(|v| v.alive()).is_ok()
}

/// Run a built tool and collect its output.
pub fn run(bin: &str, args: &[&dyn AsRef<std::ffi::OsStr>], dir: &Path) -> Output {
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir);
    for a in args {
        cmd.arg(a.as_ref());
    }
    cmd.output().unwrap()
}

/// Is a peer program installed (used as an oracle when it is)? Under CI
/// (`CI` set), where .ci/run installs every oracle, a missing one fails the
/// test instead of letting it pass without its oracle.
pub fn have(program: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program} >/dev/null 2>&1"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !found && std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("oracle {program} is not installed, and CI must run every oracle");
    }
    found
}

/// `input` through a filter program (`xz -c`, `gzip -c`), its stdout.
pub fn pipe(prog: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "{prog} {args:?}");
    out.stdout
}

/// `cmd` started with `stdin`, its stdout and stderr captured.
fn spawn_captured(cmd: &mut Command, stdin: Stdio) -> std::process::Child {
    cmd.stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `cmd` run with `input` on its stdin, its output collected. A command that
/// exits before reading all of its input is no error here: the caller
/// asserts on its exit code.
pub fn run_fed(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = spawn_captured(cmd, Stdio::piped());
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().unwrap()
}

/// `cmd` run with no input and a deadline of `secs`: its output, or
/// `Err` with what it wrote when it had to be killed (it hung).
pub fn run_deadline(cmd: &mut Command, secs: u64) -> Result<Output, Output> {
    let mut child = spawn_captured(cmd, Stdio::null());
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            return Err(child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(child.wait_with_output().unwrap())
}

/// A port on 127.0.0.1 nothing listens on: connection refused.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A peer used as an oracle: present, or this test is skipped, except in
/// CI (CI=true), where a missing oracle fails the test instead of letting
/// it pass without checking anything.
pub fn oracle(program: &str) -> bool {
    oracle_present(program, have(program))
}

/// [`oracle`] for an oracle found some other way (a Python module):
/// `present`, or skipped, or under CI=true a failure.
pub fn oracle_present(what: &str, present: bool) -> bool {
    assert!(
        present || std::env::var("CI").as_deref() != Ok("true"),
        "{what} is needed as an oracle in CI (.ci/run installs it)"
    );
    if !present {
        eprintln!("skipped: {what} is not installed");
    }
    present
}

/// gpgv's verdict on a detached signature with a binary keyring.
pub fn gpgv_accepts(keyring: &Path, sig: &Path, data: &Path) -> bool {
    gpgv_accepts_files(keyring, &[sig, data])
}

/// gpgv's verdict on `files` (a cleartext-signed file alone, or a
/// signature and its data) with a binary keyring.
pub fn gpgv_accepts_files(keyring: &Path, files: &[&Path]) -> bool {
    Command::new("gpgv")
        .arg("--keyring")
        .arg(keyring)
        .args(files)
        .env("GNUPGHOME", keyring.parent().unwrap())
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// sqv's verdict on a detached signature.
pub fn sqv_accepts(keyring: &Path, sig: &Path, data: &Path) -> bool {
    Command::new("sqv")
        .arg("--keyring")
        .arg(keyring)
        .arg(sig)
        .arg(data)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Every name in `dir`, sorted: what a failed run must not have added to.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A run's stdout then stderr, for assertions and failure messages.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every file under `dir` (not a directory), at any depth, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The files named `*.EXT` under `dir`, at any depth, sorted.
pub fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = files_under(dir);
    out.retain(|p| p.extension().is_some_and(|x| x == ext));
    out
}

/// The sizes of a sign-log log's checkpoint files, in order.
pub fn checkpoint_sizes(log: &std::path::Path) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(log.join("checkpoints"))
        .map(|d| {
            d.filter_map(|f| f.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
