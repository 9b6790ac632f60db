//! sign-log against implementations nobody here wrote: the
//! transparency-dev/merkle published test vectors (tests/data), and Go's
//! golang.org/x/mod/sumdb/note and sumdb/tlog (interop.go beside this file), which
//! verify our checkpoint signature lines, cosignatures, tree hashes and
//! proofs. Go is an oracle: under CI=true a missing Go fails the test.

use crate::common;

use base64::Engine as _;
use build_verify::log::merkle::{self, Hash};
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_sign-log");

fn b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// A 32-byte value for a root: roots in some probes are not hashes ("don't
/// care"); they are only compared, so any value that keeps equality, and
/// cannot equal a real hash, will do.
fn as_root(s: &str) -> Hash {
    let raw = b64(s).unwrap_or_else(|| s.as_bytes().to_vec());
    Hash::try_from(raw.as_slice()).unwrap_or_else(|_| {
        use sha2::Digest;
        sha2::Sha256::digest([b"not a hash: ".as_slice(), &raw].concat()).into()
    })
}

/// A leaf hash, or `None` when it is not a SHA-256 (refused, as by Go).
fn as_leaf(s: &str) -> Option<Hash> {
    Hash::try_from(b64(s)?.as_slice()).ok()
}

/// Proof nodes, or `None` when one is not a SHA-256 (garbage probes):
/// sign-log's proof format refuses such a proof before verifying it.
fn nodes(v: &serde_json::Value) -> Option<Vec<Hash>> {
    match v.as_array() {
        None => Some(Vec::new()),
        Some(a) => a
            .iter()
            .map(|n| Hash::try_from(b64(n.as_str()?)?.as_slice()).ok())
            .collect(),
    }
}

fn probes(kind: &str) -> Vec<(PathBuf, serde_json::Value)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/transparency-dev-merkle");
    files_with_extension(&root.join(kind), "json")
        .into_iter()
        .map(|p| {
            let v = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            (p, v)
        })
        .collect()
}

#[test]
fn transparency_dev_merkle_vectors() {
    let inc = probes("inclusion");
    assert!(inc.len() > 80, "{} inclusion probes", inc.len());
    let mut passed = 0;
    for (p, v) in &inc {
        let want_err = v["wantErr"].as_bool().unwrap();
        let leaf = as_leaf(v["leafHash"].as_str().unwrap());
        let got = match (nodes(&v["proof"]), leaf) {
            (None, _) | (_, None) => Err("not a proof".to_string()),
            (Some(proof), Some(leaf)) => merkle::verify_inclusion(
                v["leafIdx"].as_u64().unwrap(),
                v["treeSize"].as_u64().unwrap(),
                &leaf,
                &proof,
                &as_root(v["root"].as_str().unwrap()),
            )
            .map_err(|e| e.to_string()),
        };
        assert_eq!(got.is_err(), want_err, "{}: {got:?}", p.display());
        passed += usize::from(!want_err);
    }
    assert!(passed >= 5, "happy paths: {passed}");
    let cons = probes("consistency");
    assert!(cons.len() > 80, "{} consistency probes", cons.len());
    for (p, v) in &cons {
        let want_err = v["wantErr"].as_bool().unwrap();
        let got = match nodes(&v["proof"]) {
            None => Err("not a proof".to_string()),
            Some(proof) => merkle::verify_consistency(
                v["size1"].as_u64().unwrap(),
                v["size2"].as_u64().unwrap(),
                &proof,
                &as_root(v["root1"].as_str().unwrap()),
                &as_root(v["root2"].as_str().unwrap()),
            )
            .map_err(|e| e.to_string()),
        };
        assert_eq!(got.is_err(), want_err, "{}: {got:?}", p.display());
    }
}

fn sl(args: &[&str], input: &[u8]) -> Output {
    let o = run_fed(
        Command::new(BIN)
            .args(args)
            .env_remove("QREXEC_REMOTE_DOMAIN"),
        input,
    );
    assert!(
        o.status.success(),
        "sign-log {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Go and x/mod's sumdb packages, or a reason to skip (a failure under CI).
fn go_ready() -> bool {
    let xmod = Path::new("/usr/share/gocode/src/golang.org/x/mod/sumdb/note");
    if have("go") && xmod.is_dir() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "go or golang.org/x/mod is missing under CI=true (.ci/run installs golang-go golang-golang-x-mod-dev)"
    );
    eprintln!("skipped: go or /usr/share/gocode x/mod is not installed");
    false
}

/// Build the Go oracle in GOPATH mode: Debian's x/mod, nothing downloaded.
fn build_oracle(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/sign_log/interop.go");
    let out = dir.join("interop");
    let o = Command::new("go")
        .arg("build")
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .env("GO111MODULE", "off")
        .env(
            "GOPATH",
            format!("/usr/share/gocode:{}", dir.join("gopath").display()),
        )
        .env("GOCACHE", dir.join("gocache"))
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "go build: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

fn oracle(bin: &Path, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut c = Command::new(bin);
    for a in args {
        c.arg(a.as_ref());
    }
    c.output().unwrap()
}

fn sizes(log: &Path) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(log.join("checkpoints"))
        .unwrap()
        .filter_map(|f| f.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    v.sort();
    v
}

#[test]
fn go_sumdb_verifies_our_notes_trees_and_proofs() {
    if !go_ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = |n: &str| tmp.path().join(n);
    let go = build_oracle(tmp.path());
    let origin = "build-verify.sign-log/core-admin";
    // The log's note key made by Go: sign-log must read Go's skey format.
    let o = oracle(&go, &[&"genkey", &origin]);
    assert!(o.status.success());
    let keys = String::from_utf8(o.stdout).unwrap();
    let (skey, vkey) = keys.trim().split_once('\n').unwrap();
    std::fs::write(t("log.skey"), format!("{skey}\n")).unwrap();
    // OpenPGP key for the seals; witnesses' keys made by sign-log.
    let k = gen_key("Log VM <log@example.org>");
    std::fs::write(t("key.asc"), armor_tsk(&k)).unwrap();
    let public = write_keyring(&t("pub.asc"), &[&k]);
    let keygen = |name: &str, file: &str, witness: bool| {
        let f = t(file);
        let mut a = vec!["keygen", "--name", name, "--secret", f.to_str().unwrap()];
        if witness {
            a.push("--witness");
        }
        String::from_utf8(sl(&a, b"").stdout)
            .unwrap()
            .trim()
            .to_string()
    };
    let w1 = keygen("witness.example/w1", "w1.skey", true);
    let w2 = keygen("witness.example/w2", "w2.skey", true);
    let ours = keygen("interop.example/ours", "ours.skey", false);
    let ours_skey = std::fs::read_to_string(t("ours.skey"))
        .unwrap()
        .trim()
        .to_string();
    // A log of a few sessions, sealed after each with both signatures.
    let log = t("log");
    let l = log.to_str().unwrap();
    let art = t("out.rpm");
    std::fs::write(&art, b"an rpm").unwrap();
    let product = sl(&["hash", art.to_str().unwrap()], b"").stdout;
    let mut builds: Vec<Vec<u8>> = vec![
        (0..1000)
            .map(|i| format!("line {i} of a long build\n"))
            .collect::<String>()
            .into_bytes(),
        [b"cc -o x x.c\n".to_vec(), product].concat(),
        b"\xff not utf-8 \\ \"quoted\" \x1b[31m\n".to_vec(),
    ];
    builds.push("é".repeat(9000).into_bytes());
    for b in &builds {
        sl(&["receive", "--log", l, "--name", "core-admin"], b);
        sl(
            &[
                "seal",
                "--log",
                l,
                "--key",
                t("key.asc").to_str().unwrap(),
                "--note-key",
                t("log.skey").to_str().unwrap(),
            ],
            b"",
        );
    }
    let cps = sizes(&log);
    let newest = *cps.last().unwrap();
    // Witnesses cosign the newest checkpoint; the log stores their lines.
    let ev = t("ev.json");
    std::fs::write(&ev, sl(&["prove", "checkpoint", "--log", l], b"").stdout).unwrap();
    let mut lines = Vec::new();
    for w in ["w1", "w2"] {
        lines.extend(
            sl(
                &[
                    "cosign",
                    "--key",
                    t(&format!("{w}.skey")).to_str().unwrap(),
                    "--keyring",
                    public.to_str().unwrap(),
                    "--proof",
                    ev.to_str().unwrap(),
                ],
                b"",
            )
            .stdout,
        );
    }
    std::fs::write(t("cosigs"), &lines).unwrap();
    sl(
        &[
            "add-cosignature",
            "--log",
            l,
            "--witness",
            &w1,
            "--witness",
            &w2,
            t("cosigs").to_str().unwrap(),
        ],
        b"",
    );
    // Our own verify agrees first.
    sl(
        &[
            "verify",
            "--log",
            l,
            "--keyring",
            public.to_str().unwrap(),
            "--note-key",
            vkey,
            "--witness",
            &w1,
            "--witness",
            &w2,
        ],
        b"",
    );
    // Proofs: inclusion of first, middle and last record at every sealed
    // size and at the whole log, consistency between every pair of sizes.
    let records = std::fs::read_to_string(log.join("log.jsonl"))
        .unwrap()
        .lines()
        .count() as u64;
    let mut tree_sizes = cps.clone();
    tree_sizes.push(records);
    let mut inclusion = Vec::new();
    let mut consistency = Vec::new();
    for &n in &tree_sizes {
        for seq in [0, n / 2, n - 1] {
            let p = t(&format!("inc-{seq}-{n}.json"));
            let o = sl(
                &[
                    "prove",
                    "inclusion",
                    "--log",
                    l,
                    &seq.to_string(),
                    "--size",
                    &n.to_string(),
                ],
                b"",
            );
            std::fs::write(&p, o.stdout).unwrap();
            inclusion.push(p);
        }
        for &m in tree_sizes.iter().filter(|&&m| m < n) {
            let p = t(&format!("cons-{m}-{n}.json"));
            let o = sl(
                &[
                    "prove",
                    "consistency",
                    "--log",
                    l,
                    &m.to_string(),
                    &n.to_string(),
                ],
                b"",
            );
            std::fs::write(&p, o.stdout).unwrap();
            consistency.push(p);
        }
    }
    // The gate's evidence proofs too.
    let gate_ev: serde_json::Value = serde_json::from_slice(
        &sl(
            &[
                "prove",
                "product",
                "--log",
                l,
                "--file",
                art.to_str().unwrap(),
                "--from-size",
                &cps[0].to_string(),
            ],
            b"",
        )
        .stdout,
    )
    .unwrap();
    for (name, v) in [
        ("gate-inc.json", &gate_ev["products"][0]),
        ("gate-cons.json", &gate_ev["consistency"]),
    ] {
        std::fs::write(t(name), v.to_string()).unwrap();
    }
    inclusion.push(t("gate-inc.json"));
    consistency.push(t("gate-cons.json"));
    let cp_paths: Vec<PathBuf> = cps
        .iter()
        .map(|s| log.join(format!("checkpoints/{s}")))
        .collect();
    let manifest = |cps: &[PathBuf], cosigners: &[&str]| {
        serde_json::json!({
            "log": log.join("log.jsonl"),
            "log_vkey": vkey,
            "cosigners": cosigners,
            "checkpoints": cps,
            "inclusion": inclusion,
            "consistency": consistency,
            "keys": [[ours_skey, ours]],
        })
    };
    // Older checkpoints carry the log's line; the newest the witnesses' too.
    let (older, last) = cp_paths.split_at(cp_paths.len() - 1);
    let m1 = t("manifest-older.json");
    std::fs::write(&m1, manifest(older, &[]).to_string()).unwrap();
    let m2 = t("manifest-newest.json");
    std::fs::write(&m2, manifest(last, &[&w1, &w2]).to_string()).unwrap();
    let mut oks = 0;
    for m in [&m1, &m2] {
        let o = oracle(&go, &[&"check", m]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "Go refused {}: {out}{}",
            m.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        oks += out.lines().filter(|l| l.starts_with("ok ")).count();
    }
    let want = 2 * (inclusion.len() + consistency.len() + 1) + cp_paths.len();
    assert_eq!(oks, want, "every check ran");
    assert!(newest > 1000 && consistency.len() >= 10);
    // The oracle can fail: a cosignature it cannot verify, a tampered tree.
    let mut broken = std::fs::read_to_string(&last[0]).unwrap();
    let at = broken.rfind('=').unwrap() - 3;
    let c = if &broken[at..at + 1] == "A" { "B" } else { "A" };
    broken.replace_range(at..at + 1, c);
    let bad_cp = t("broken-checkpoint");
    std::fs::write(&bad_cp, broken).unwrap();
    let m3 = t("manifest-broken.json");
    std::fs::write(&m3, manifest(&[bad_cp], &[&w1, &w2]).to_string()).unwrap();
    assert!(!oracle(&go, &[&"check", &m3]).status.success());
    let mut lines: Vec<String> = std::fs::read_to_string(log.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines[500] = lines[500].replace("line 499", "line 4999");
    std::fs::write(log.join("log.jsonl"), lines.join("\n") + "\n").unwrap();
    assert!(!oracle(&go, &[&"check", &m1]).status.success());
}
