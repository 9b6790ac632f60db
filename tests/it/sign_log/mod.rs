//! sign-log through the real binary: receive, seal, verify, tampering,
//! crashes, caps, proofs, and sealing through a gpg-compatible program; a
//! module per subcommand or concern, the shared helpers (Env, sl) here.

use crate::common;
use common::*;
use sequoia_openpgp::parse::Parse;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod agree;
mod cli;
mod export;
mod gate;
mod interop;
mod proofs;
mod receive;
mod robust;
mod seal;
mod tamper;
mod tiles;
mod tlog_witness;
mod witness;

const BIN: &str = env!("CARGO_BIN_EXE_sign-log");

struct Env {
    tmp: tempfile::TempDir,
    log: PathBuf,
    key: PathBuf,
    public: PathBuf,
}

fn setup() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let common::signlog::LogKey { key, public, .. } = common::signlog::log_key(tmp.path());
    let log = tmp.path().join("log");
    Env {
        tmp,
        log,
        key,
        public,
    }
}

fn sl(args: &[&str], input: &[u8], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("QREXEC_REMOTE_DOMAIN");
    for (k, v) in envs {
        c.env(k, v);
    }
    // A command refusing its arguments may exit before reading its input.
    run_fed(&mut c, input)
}

/// `verify-proof PROOF --checkpoint CP... EXTRA...`.
fn verify_proof(proof: &Path, checkpoints: &[&Path], extra: &[&str]) -> Output {
    let mut args = vec!["verify-proof", proof.to_str().unwrap()];
    for cp in checkpoints {
        args.extend(["--checkpoint", cp.to_str().unwrap()]);
    }
    args.extend_from_slice(extra);
    sl(&args, b"", &[])
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

impl Env {
    fn l(&self) -> &str {
        self.log.to_str().unwrap()
    }
    fn receive(&self, input: &[u8], extra: &[&str]) -> Output {
        let mut a = vec![
            "receive",
            "--log",
            self.l(),
            "--name",
            "core-admin",
            "--source",
            "build-vm",
        ];
        a.extend(extra);
        sl(&a, input, &[])
    }
    fn seal(&self) -> Output {
        sl(
            &[
                "seal",
                "--log",
                self.l(),
                "--key",
                self.key.to_str().unwrap(),
            ],
            b"",
            &[],
        )
    }
    fn verify_in(&self, dir: &Path) -> Output {
        self.verify_with(dir, &self.public, &[])
    }
    /// `verify` of `dir` with `keyring` and `extra` options.
    fn verify_with(&self, dir: &Path, keyring: &Path, extra: &[&str]) -> Output {
        let mut args = vec![
            "verify",
            "--log",
            dir.to_str().unwrap(),
            "--keyring",
            keyring.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        sl(&args, b"", &[])
    }
    fn verify(&self) -> Output {
        self.verify_in(&self.log)
    }
    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.log.join("log.jsonl"))
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }
}

const BUILD: &[u8] = b"make[1]: Entering directory\ncc -o x x.c\nx.c:1: error: oops\n";

impl Env {
    fn seal_with(&self, key: &Path, extra: &[&str]) -> Output {
        let mut a = vec!["seal", "--log", self.l(), "--key", key.to_str().unwrap()];
        a.extend_from_slice(extra);
        sl(&a, b"", &[])
    }
    fn p(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }
}

/// Write `files` (name, bytes) and a build output that records them as
/// products (with `sign-log hash`), as a recipe would print it.
fn build_output(dir: &Path, step: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = format!("make[1]: Entering directory {step}\ncc -o x x.c\n").into_bytes();
    for (name, bytes) in files {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        let h = sl(&["hash", "--product", p.to_str().unwrap()], b"", &[]);
        assert_eq!(code(&h), 0, "{}", text(&h));
        out.extend(h.stdout);
    }
    out
}

/// `receive --log DIR --name core-admin EXTRA...` of `input`; must succeed.
fn receive_into(dir: &Path, input: &[u8], extra: &[&str]) {
    let mut a = vec![
        "receive",
        "--log",
        dir.to_str().unwrap(),
        "--name",
        "core-admin",
    ];
    a.extend_from_slice(extra);
    let o = sl(&a, input, &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

/// `seal --log DIR --key KEY`.
fn seal_dir(dir: &Path, key: &Path) -> Output {
    sl(
        &[
            "seal",
            "--log",
            dir.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
        b"",
        &[],
    )
}

/// `prove product --log DIR --file ART... --from-size N` into a file.
fn evidence(e: &Env, log: &Path, arts: &[&Path], from: u64, name: &str) -> PathBuf {
    let from = from.to_string();
    let mut a = vec![
        "prove",
        "product",
        "--log",
        log.to_str().unwrap(),
        "--from-size",
        &from,
    ];
    for art in arts {
        a.extend(["--file", art.to_str().unwrap()]);
    }
    let o = sl(&a, b"", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let p = e.p(name);
    std::fs::write(&p, &o.stdout).unwrap();
    p
}

/// `gate --keyring RING --proof EV EXTRA... ARTS...`.
fn gate_with(ring: &Path, ev: &Path, extra: &[&str], arts: &[&Path]) -> Output {
    let mut a = vec![
        "gate",
        "--keyring",
        ring.to_str().unwrap(),
        "--proof",
        ev.to_str().unwrap(),
    ];
    a.extend_from_slice(extra);
    a.extend(arts.iter().map(|p| p.to_str().unwrap()));
    sl(&a, b"", &[])
}

fn last_size(state: &Path) -> u64 {
    let o = sl(
        &["gate", "--state", state.to_str().unwrap(), "--last-size"],
        b"",
        &[],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    String::from_utf8(o.stdout).unwrap().trim().parse().unwrap()
}
