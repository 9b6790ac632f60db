//! A sign-log log as the tlog tests make one: sealed with an OpenPGP key
//! and an Ed25519 note key made at test time, published as tiles; the
//! tool run on it.

use super::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_sign-log");

/// The log VM's OpenPGP key, made at test time.
pub struct LogKey {
    pub cert: sequoia_openpgp::Cert,
    /// The secret key, armored (what `seal --key` reads): DIR/key.asc.
    pub key: PathBuf,
    /// The certificate, armored (a keyring for `verify`): DIR/pub.asc.
    pub public: PathBuf,
}

/// A new [`LogKey`] in `dir`.
pub fn log_key(dir: &Path) -> LogKey {
    let cert = gen_key("Log VM <log@example.org>");
    let key = dir.join("key.asc");
    std::fs::write(&key, armor_tsk(&cert)).unwrap();
    let public = write_keyring(&dir.join("pub.asc"), &[&cert]);
    LogKey { cert, key, public }
}

pub fn sl(args: &[&str], input: &[u8]) -> Output {
    run_fed(
        Command::new(BIN)
            .args(args)
            .env_remove("QREXEC_REMOTE_DOMAIN"),
        input,
    )
}

pub fn ok(args: &[&str], input: &[u8]) -> Output {
    let o = sl(args, input);
    assert!(o.status.success(), "sign-log {args:?}: {}", text(&o));
    o
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

/// Every file under `dir` by relative path, with its bytes.
pub fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for p in files_under(dir) {
        let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
        out.insert(rel, std::fs::read(&p).unwrap());
    }
    out
}

/// A sealed, published sign-log log and its keys.
pub struct Published {
    pub tmp: tempfile::TempDir,
    pub log: PathBuf,
    pub www: PathBuf,
    pub key: PathBuf,
    pub note_key: PathBuf,
    pub vkey: String,
    pub origin: String,
}

impl Published {
    pub fn new(origin: &str) -> Published {
        let tmp = tempfile::tempdir().unwrap();
        let t = |n: &str| tmp.path().join(n);
        let key = log_key(tmp.path()).key;
        let nk = t("note.key");
        let vkey = text(&ok(
            &["keygen", "--name", origin, "--secret", nk.to_str().unwrap()],
            b"",
        ))
        .trim()
        .to_string();
        Published {
            log: t("log"),
            www: t("www"),
            key,
            note_key: nk,
            vkey,
            origin: origin.to_string(),
            tmp,
        }
    }

    /// The same keys, another log and output.
    pub fn sibling(&self, name: &str) -> Published {
        Published {
            tmp: tempfile::tempdir().unwrap(),
            log: self.tmp.path().join(format!("{name}-log")),
            www: self.tmp.path().join(format!("{name}-www")),
            key: self.key.clone(),
            note_key: self.note_key.clone(),
            vkey: self.vkey.clone(),
            origin: self.origin.clone(),
        }
    }

    pub fn receive(&self, input: &[u8]) {
        ok(
            &[
                "receive",
                "--log",
                self.log.to_str().unwrap(),
                "--name",
                "core-admin",
                "--source",
                "build-vm",
            ],
            input,
        );
    }

    pub fn seal(&self, note: bool) -> Output {
        let mut a = vec![
            "seal",
            "--log",
            self.log.to_str().unwrap(),
            "--key",
            self.key.to_str().unwrap(),
            "--origin",
            &self.origin,
        ];
        if note {
            a.extend(["--note-key", self.note_key.to_str().unwrap()]);
        }
        sl(&a, b"")
    }

    pub fn publish(&self) -> Output {
        sl(
            &[
                "publish",
                "--log",
                self.log.to_str().unwrap(),
                "--out",
                self.www.to_str().unwrap(),
            ],
            b"",
        )
    }

    /// `prove product --file ART --tlog-proof DIR`.
    pub fn prove_tlog(&self, art: &Path, dir: &Path) -> Output {
        sl(
            &[
                "prove",
                "product",
                "--log",
                self.log.to_str().unwrap(),
                "--file",
                art.to_str().unwrap(),
                "--tlog-proof",
                dir.to_str().unwrap(),
            ],
            b"",
        )
    }

    pub fn checkpoint(&self, size: u64) -> Vec<u8> {
        std::fs::read(self.log.join(format!("checkpoints/{size}"))).unwrap()
    }
}

pub fn lines(from: usize, to: usize) -> Vec<u8> {
    (from..to)
        .map(|i| format!("line {i} of a long build {}\n", "x".repeat(i % 50)))
        .collect::<String>()
        .into_bytes()
}

/// cp -r
pub fn copy_dir(from: &Path, to: &Path) {
    let o = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert!(o.status.success());
}

/// A witness's secret key file (made in `dir`) and its vkey.
pub fn witness_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(format!("{}.key", name.replace('/', "_")));
    let o = ok(
        &[
            "keygen",
            "--witness",
            "--name",
            name,
            "--secret",
            path.to_str().unwrap(),
        ],
        b"",
    );
    (path, text(&o).trim().to_string())
}
