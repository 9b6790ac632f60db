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
    let public = common::signlog::log_key(tmp.path()).public;
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

#[test]
fn go_tlog_reads_our_published_tiles() {
    if !go_ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = |n: &str| tmp.path().join(n);
    let go = build_oracle(tmp.path());
    let origin = "logs.example.org/core-admin";
    common::signlog::log_key(tmp.path());
    let nk = t("note.key");
    let vkey = String::from_utf8(
        sl(
            &["keygen", "--name", origin, "--secret", nk.to_str().unwrap()],
            b"",
        )
        .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let log = t("log");
    let www = t("www");
    let (l, w) = (log.to_str().unwrap(), www.to_str().unwrap());
    // 100,000 records in three sealed sessions, published after the second
    // and the third: levels 0, 1 and 2, full and partial tiles, partial
    // tiles of every sealed size.
    for (i, (from, to)) in [(0, 30_000), (30_000, 70_000), (70_000, 99_992)]
        .into_iter()
        .enumerate()
    {
        let input: String = (from..to)
            .map(|n| format!("line {n} {}\n", "y".repeat(n % 40)))
            .collect();
        sl(
            &["receive", "--log", l, "--name", "core-admin"],
            input.as_bytes(),
        );
        sl(
            &[
                "seal",
                "--log",
                l,
                "--key",
                t("key.asc").to_str().unwrap(),
                "--origin",
                origin,
                "--note-key",
                nk.to_str().unwrap(),
            ],
            b"",
        );
        if i > 0 {
            sl(&["publish", "--log", l, "--out", w], b"");
        }
    }
    let cps = sizes(&log);
    assert_eq!(*cps.last().unwrap(), 100_000, "{cps:?}");
    let records: Vec<u64> = vec![0, 1, 255, 256, 257, 30_000, 65_535, 65_536, 70_000, 99_999];
    let manifest = serde_json::json!({
        "www": www,
        "log_vkey": vkey,
        "checkpoints": cps.iter().map(|s| log.join(format!("checkpoints/{s}"))).collect::<Vec<_>>(),
        "records": records,
        "out": t("proofs.json"),
    });
    std::fs::write(t("tiles.json"), manifest.to_string()).unwrap();
    let o = oracle(&go, &[&"tiles", &t("tiles.json")]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "Go refused our tiles: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("ok ")).count(),
        3 * 2 + 3
    );
    // Go's proofs, from our tiles, are ours.
    let leaves: Vec<Hash> = std::fs::read_to_string(log.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(|r| merkle::leaf_hash(r.as_bytes()))
        .collect();
    let proofs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(t("proofs.json")).unwrap()).unwrap();
    let hashes = |v: &serde_json::Value| nodes(v).unwrap();
    let recs = proofs["records"].as_array().unwrap();
    assert!(recs.len() > 20, "{}", recs.len());
    for r in recs {
        let (n, i) = (r["size"].as_u64().unwrap(), r["index"].as_u64().unwrap());
        assert_eq!(
            hashes(&r["proof"]),
            merkle::inclusion_proof(i, &leaves[..n as usize]),
            "record {i} in {n}"
        );
    }
    let trees = proofs["trees"].as_array().unwrap();
    assert_eq!(trees.len(), 3);
    for p in trees {
        let (m, n) = (p["size1"].as_u64().unwrap(), p["size2"].as_u64().unwrap());
        assert_eq!(
            hashes(&p["proof"]),
            merkle::consistency_proof(m, &leaves[..n as usize]),
            "{m} -> {n}"
        );
    }
    // The oracle can fail: one byte of a tile it reads.
    let tile = www.join("tile/1/000");
    let mut b = std::fs::read(&tile).unwrap();
    b[40] ^= 1;
    std::fs::write(&tile, b).unwrap();
    assert!(!oracle(&go, &[&"tiles", &t("tiles.json")]).status.success());
}

/// The witness's cosignature lines as note signatures in Go's
/// sumdb/note (with the cosignature/v1 adapter: its stock verifier knows
/// type 0x01 keys only), and a tlog-proof checked by note.Open and
/// tlog.CheckRecord.
#[test]
fn go_sumdb_verifies_witness_cosignatures_and_tlog_proofs() {
    if !go_ready() {
        return;
    }
    let p = common::signlog::Published::new("logs.example.org/interop");
    let t = |n: &str| p.tmp.path().join(n);
    let go = build_oracle(p.tmp.path());
    let (w_key, w_vkey) = common::signlog::witness_key(p.tmp.path(), "witness.example/w1");
    let art = t("out.rpm");
    std::fs::write(&art, b"a package\n").unwrap();
    let hash = sl(&["hash", art.to_str().unwrap()], b"");
    let sha = String::from_utf8_lossy(&hash.stdout)
        .split("\"sha256\":\"")
        .nth(1)
        .unwrap()[..64]
        .to_string();
    let mut input = b"building\n".to_vec();
    input.extend_from_slice(&hash.stdout);
    p.receive(&input);
    assert!(p.seal(true).status.success());
    let (log, log_vkey, origin) = (&p.log, &p.vkey, p.origin.as_str());
    let l = log.to_str().unwrap();
    let size = sizes(log)[0];
    let cp = std::fs::read(log.join(format!("checkpoints/{size}"))).unwrap();
    // The witness answers add-checkpoint from 0 (a bare body, as qrexec).
    let mut body = b"old 0\n\n".to_vec();
    body.extend_from_slice(&cp);
    let o = run_fed(
        Command::new(BIN)
            .args([
                "witness",
                "--key",
                w_key.to_str().unwrap(),
                "--log-key",
                log_vkey,
                "--state",
                t("state").to_str().unwrap(),
            ])
            .env_remove("REQUEST_METHOD"),
        &body,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let at = o.stdout.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let lines = o.stdout[at..].to_vec();
    let mut cosigned = cp.clone();
    cosigned.extend_from_slice(&lines);
    std::fs::write(t("cosigned"), &cosigned).unwrap();
    std::fs::write(t("lines"), &lines).unwrap();
    let state = t("state")
        .join(build_verify::log::tlogwitness::origin_hash(origin))
        .join("checkpoint");
    // Stored on the checkpoint, then a tlog-proof of the product.
    sl(
        &[
            "add-cosignature",
            "--log",
            l,
            "--witness",
            &w_vkey,
            t("lines").to_str().unwrap(),
        ],
        b"",
    );
    std::fs::create_dir(t("proofs")).unwrap();
    assert!(p.prove_tlog(&art, &t("proofs")).status.success());
    let manifest = serde_json::json!({
        "log_vkey": log_vkey,
        "cosigners": [w_vkey],
        "notes": [t("cosigned"), state],
        "tlog_proofs": [t("proofs/out.rpm.tlog-proof")],
        "sha256": sha,
    });
    std::fs::write(t("witness.json"), manifest.to_string()).unwrap();
    let o = oracle(&go, &[&"witness", &t("witness.json")]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("ok ")).count(),
        4,
        "{out}"
    );
    // The oracle fails a proof for another product.
    let m2 = serde_json::json!({
        "log_vkey": manifest["log_vkey"], "cosigners": manifest["cosigners"], "notes": [],
        "tlog_proofs": manifest["tlog_proofs"], "sha256": "0".repeat(64),
    });
    std::fs::write(t("w2.json"), m2.to_string()).unwrap();
    assert!(!oracle(&go, &[&"witness", &t("w2.json")]).status.success());
}
