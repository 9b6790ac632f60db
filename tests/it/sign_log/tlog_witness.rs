//! Proofs users keep and witnesses over the wire: c2sp.org/tlog-proof
//! files made by `prove product --tlog-proof` and checked by
//! `verify-proof` and `gate`; the c2sp.org/tlog-witness protocol between
//! `sign-log submit` and `sign-log witness`, put together over loopback by
//! a small server that hands each connection to a witness process (as
//! socket activation does); the C2SP texts' examples as test vectors
//! (tests/data/c2sp).

use crate::common;

use build_verify::log::checkpoint::parse_note;
use build_verify::log::note::{self, Note, SignatureLine, SignerKey, VerifierKey};
use build_verify::log::tlogproof::TlogProof;
use build_verify::log::tlogwitness::{self, Request};
use common::signlog::*;
use common::*;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn c2sp(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/c2sp")
            .join(name),
    )
    .unwrap()
}

fn b64(s: &str) -> Vec<u8> {
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, s).unwrap()
}

/// Every example of tlog-proof, tlog-witness and tlog-cosignature that
/// carries concrete bytes.
#[test]
fn c2sp_examples_are_test_vectors() {
    // tlog-proof: the example's own lines parse (its signatures are
    // elided by the spec, so the file as a whole is no proof).
    let ex = c2sp("tlog-proof-example.tlog-proof");
    assert!(TlogProof::parse(&ex).is_err(), "elided signatures");
    let whole = String::from_utf8(ex.clone()).unwrap();
    let unsigned = whole.split("\n\n\u{2014}").next().unwrap().to_string() + "\n";
    let (p, note, cp) = TlogProof::parse(unsigned.as_bytes()).unwrap();
    assert_eq!(p.index, 73894);
    assert_eq!(p.nodes.len(), 5);
    assert!(p
        .extra
        .as_ref()
        .unwrap()
        .starts_with(b"age-v1.2.1-darwin-arm64.tar.gz"));
    assert_eq!(
        (cp.origin.as_str(), cp.size),
        ("example.com/fancylog", 109482)
    );
    assert!(note.signatures.is_empty());
    assert_eq!(
        p.encode(),
        unsigned.as_bytes(),
        "written back byte for byte"
    );

    // tlog-witness: the add-checkpoint request and response.
    let req = c2sp("add-checkpoint-request.txt");
    let r = Request::parse(&req).unwrap();
    assert_eq!(r.old, 20852014);
    assert_eq!(r.proof.len(), 4);
    assert_eq!(r.encode(), req);
    let (note, cp) = parse_note(&r.checkpoint).unwrap();
    assert_eq!(
        (cp.origin.as_str(), cp.size),
        ("example.com/behind-the-sofa", 20852163)
    );
    assert_eq!(note.signatures.len(), 2);
    assert!(
        note.signatures.iter().all(|s| s.sig.len() == 64),
        "Ed25519 log signatures"
    );
    let lines = tlogwitness::parse_cosignatures(&c2sp("add-checkpoint-response.txt")).unwrap();
    let names: Vec<&str> = lines.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "witness.example/w1",
            "witness.example/w1",
            "witness.example/w2"
        ]
    );
    // Each a timestamped Ed25519 cosignature: 8 bytes of time, 64 of signature.
    assert!(lines.iter().all(|l| l.sig.len() == 72));

    // tlog-cosignature: the cosigned checkpoint's witness line carries
    // the time of the spec's signed message, which is what we sign.
    let cosigned = Note::parse(&c2sp("cosigned-checkpoint.txt")).unwrap();
    assert_eq!(
        cosigned.text,
        String::from_utf8(r.checkpoint.clone())
            .unwrap()
            .split("\n\n")
            .next()
            .unwrap()
            .to_string()
            + "\n"
    );
    let w = &cosigned.signatures[1];
    assert_eq!(w.name, "witness.example.com/w1");
    assert_eq!(w.key_id, 0x8d66cf3f);
    let t = u64::from_be_bytes(w.sig[..8].try_into().unwrap());
    assert_eq!(t, 1679315147);
    assert_eq!(
        note::cosigned_message(t, &cosigned.text),
        c2sp("cosignature-v1-message.txt")
    );
    assert_eq!(
        cosigned.signatures[0].encode(),
        format!(
            "\u{2014} example.com/behind-the-sofa {}\n",
            "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8="
        ),
        "the log's line is the request's"
    );
    assert_eq!(b64("Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=").len(), 68);

    // sign-subtree is optional: this witness does not offer it (404),
    // and the request is no add-checkpoint request either.
    let sub = c2sp("sign-subtree-request.txt");
    assert!(Request::parse(&sub).is_err());
    let tmp = tempfile::tempdir().unwrap();
    let (wk, _) = witness_key(tmp.path(), "w.example");
    let log = log_key(tmp.path(), "example.com/behind-the-sofa");
    let o = cgi(
        &wk,
        &log,
        &tmp.path().join("state"),
        &[("REQUEST_METHOD", "POST"), ("PATH_INFO", "/sign-subtree")],
        &sub,
    );
    assert_eq!(status(&o), 404, "{}", text(&o));
    // The request example, to a witness that knows no such log: 404; to
    // one that has this origin under another key: 403.
    let o = cgi(
        &wk,
        &log_key(tmp.path(), "other.example"),
        &tmp.path().join("s2"),
        &[],
        &req,
    );
    assert_eq!(status(&o), 404, "{}", text(&o));
    let o = cgi(&wk, &log, &tmp.path().join("s3"), &[], &req);
    assert_eq!(status(&o), 403, "{}", text(&o));
    assert_eq!(code(&o), 1);
}

/// A log's note vkey (its secret half thrown away).
fn log_key(dir: &Path, origin: &str) -> String {
    let path = dir.join(format!("{}.lkey", origin.replace('/', "_")));
    let o = ok(
        &[
            "keygen",
            "--name",
            origin,
            "--secret",
            path.to_str().unwrap(),
        ],
        b"",
    );
    text(&o).trim().to_string()
}

/// `sign-log witness` run once as a CGI program (no `env`: a bare body,
/// as over qrexec).
fn cgi(key: &Path, log_vkey: &str, state: &Path, env: &[(&str, &str)], body: &[u8]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(["witness", "--key"])
        .arg(key)
        .args(["--log-key", log_vkey, "--state"])
        .arg(state);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env_remove("QREXEC_REMOTE_DOMAIN");
    if !env.iter().any(|(k, _)| *k == "REQUEST_METHOD") {
        cmd.env_remove("REQUEST_METHOD");
    } else {
        cmd.env("CONTENT_LENGTH", body.len().to_string());
    }
    run_fed(&mut cmd, body)
}

/// The status a CGI answer gives.
fn status(o: &Output) -> u16 {
    let out = String::from_utf8_lossy(&o.stdout);
    out.strip_prefix("Status: ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {}", text(o)))
}

/// A CGI answer's body.
fn body(o: &Output) -> Vec<u8> {
    let at = o.stdout.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    o.stdout[at + 4..].to_vec()
}

/// A witness on 127.0.0.1, its key made here.
struct Served {
    url: String,
    vkey: String,
    state: PathBuf,
}

fn serve_witness(dir: &Path, name: &str, log_vkey: &str) -> Served {
    let (key, vkey) = witness_key(dir, name);
    let state = dir.join(format!("{}-state", name.replace('/', "_")));
    let url = format!("{}/witness", serve_witness_with_key(&key, &state, log_vkey));
    Served { url, vkey, state }
}

/// A log with a product record, sealed with its note key.
fn log_with_product(p: &Published, product: &[u8]) -> PathBuf {
    let art = p.tmp.path().join("core-admin-4.3.1.rpm");
    std::fs::write(&art, product).unwrap();
    let hash = ok(&["hash", art.to_str().unwrap()], b"");
    let mut input = lines(0, 500);
    input.extend_from_slice(&hash.stdout);
    input.extend(lines(500, 700));
    p.receive(&input);
    assert_eq!(code(&p.seal(true)), 0);
    art
}

fn submit(p: &Published, ws: &[&Served], extra: &[&str]) -> Output {
    let pairs: Vec<(&str, &str)> = ws
        .iter()
        .map(|w| (w.vkey.as_str(), w.url.as_str()))
        .collect();
    submit_to(&p.log, &pairs, extra)
}

/// `submit --log LOG` to witnesses given as (vkey, URL).
fn submit_to(log: &Path, ws: &[(&str, &str)], extra: &[&str]) -> Output {
    let mut a = vec!["submit", "--log", log.to_str().unwrap(), "--allow-http"];
    for (vkey, url) in ws {
        a.extend(["--witness", vkey, url]);
    }
    a.extend_from_slice(extra);
    sl(&a, b"")
}

fn newest(p: &Published) -> (u64, Note) {
    let n = *checkpoint_sizes(&p.log).last().unwrap();
    (n, Note::parse(&p.checkpoint(n)).unwrap())
}

#[test]
fn witnesses_cosign_over_http_and_the_gate_takes_a_tlog_proof() {
    let p = Published::new("logs.example.org/core-admin");
    let art = log_with_product(&p, b"the built package\n");
    let dir = p.tmp.path();
    let w1 = serve_witness(dir, "w1.example/witness", &p.vkey);
    let w2 = serve_witness(dir, "w2.example/witness", &p.vkey);

    // Both cosign the first checkpoint (old 0, no proof).
    let o = submit(&p, &[&w1, &w2], &["--json"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["added"], 2);
    assert_eq!(v["witnesses"][0]["old"], 0);
    let (n1, note1) = newest(&p);
    assert_eq!(
        note1.signatures.len(),
        3,
        "the log's line and two cosignatures"
    );
    for w in [&w1, &w2] {
        let st = std::fs::read(
            w.state
                .join(tlogwitness::origin_hash(&p.origin))
                .join("checkpoint"),
        )
        .unwrap();
        let (_, cp) = parse_note(&st).unwrap();
        assert_eq!(cp.size, n1);
    }
    // Submitting again asks nobody: the checkpoint has both lines.
    let o = submit(&p, &[&w1, &w2], &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("already"), "{}", text(&o));

    // More records, published first: the proofs come from the tiles,
    // and the published checkpoint gets the cosignatures.
    p.receive(&lines(700, 1500));
    assert_eq!(code(&p.seal(true)), 0);
    assert_eq!(code(&p.publish()), 0);
    let o = submit(
        &p,
        &[&w1, &w2],
        &["--out", p.www.to_str().unwrap(), "--json"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["witnesses"][0]["old"], n1,
        "old is the last size it cosigned"
    );
    let (n2, note2) = newest(&p);
    assert_eq!(note2.signatures.len(), 3);
    assert_eq!(
        std::fs::read(p.www.join("checkpoint")).unwrap(),
        p.checkpoint(n2)
    );
    // The monitor reads the published log with both witnesses required.
    let o = sl(
        &[
            "monitor",
            "--url",
            &format!("file://{}", p.www.display()),
            "--note-key",
            &p.vkey,
            "--witness",
            &w1.vkey,
            "--witness",
            &w2.vkey,
        ],
        b"",
    );
    assert_eq!(code(&o), 0, "{}", text(&o));

    // The proof file, checked offline.
    let proofs = dir.join("proofs");
    std::fs::create_dir(&proofs).unwrap();
    let o = p.prove_tlog(&art, &proofs);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let file = proofs.join("core-admin-4.3.1.rpm.tlog-proof");
    assert_eq!(text(&o).trim(), file.to_str().unwrap());
    let proof = std::fs::read(&file).unwrap();
    assert!(proof.starts_with(b"c2sp.org/tlog-proof@v1\nextra "));
    let witnesses = ["--witness", w1.vkey.as_str(), "--witness", w2.vkey.as_str()];
    let mut verify = vec![
        "verify-proof",
        file.to_str().unwrap(),
        "--artifact",
        art.to_str().unwrap(),
        "--note-key",
        &p.vkey,
    ];
    verify.extend(witnesses);
    let o = sl(&verify, b"");
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains("cosigned by w1.example/witness, w2.example/witness"),
        "{}",
        text(&o)
    );

    // The gate: K cosignatures pass, and nothing is written.
    let gate_dir = dir.join("keys-vm");
    std::fs::create_dir(&gate_dir).unwrap();
    let pf = gate_dir.join("p.tlog-proof");
    let gate = |proof: &[u8], artifact: &Path, extra: &[&str]| {
        std::fs::write(&pf, proof).unwrap();
        let before = listing(&gate_dir);
        let mut a = vec![
            "gate",
            "--proof",
            pf.to_str().unwrap(),
            "--note-key",
            p.vkey.as_str(),
        ];
        a.extend_from_slice(extra);
        a.push(artifact.to_str().unwrap());
        let o = sl(&a, b"");
        assert_eq!(listing(&gate_dir), before, "the gate wrote nothing");
        o
    };
    let two = [
        "--witness",
        w1.vkey.as_str(),
        "--witness",
        w2.vkey.as_str(),
        "--min-witnesses",
        "2",
    ];
    let o = gate(&proof, &art, &two);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("gate passed"), "{}", text(&o));

    // K-1 cosignatures.
    let ptext = String::from_utf8(proof.clone()).unwrap();
    let w2_line = ptext
        .lines()
        .find(|l| l.contains("w2.example/witness"))
        .unwrap()
        .to_string();
    let fewer = ptext.replace(&format!("{w2_line}\n"), "");
    let o = gate(fewer.as_bytes(), &art, &two);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("witness quorum"), "{}", text(&o));
    // A cosignature by a key nobody gave, in w2's place.
    let (_, cp) = parse_note(&p.checkpoint(n2)).unwrap();
    let stranger = SignerKey::generate("w3.example/witness", note::COSIGNATURE).unwrap();
    let w1_line = note1_line(&ptext, "w1.example");
    let stranger_line = stranger.sign(&cp.text(), 1_700_000_000).encode();
    let unknown = fewer.replace(
        &w1_line,
        &format!("{w1_line}\n{}", stranger_line.trim_end()),
    );
    let o = gate(unknown.as_bytes(), &art, &two);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // The same witness twice: w1's line again (one witness, once).
    let twice = fewer.replace(&w1_line, &format!("{w1_line}\n{w1_line}"));
    let o = gate(twice.as_bytes(), &art, &two);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // ... and one witness's key given twice, or under a second name, is
    // one witness: asking for two is a usage error.
    let o = gate(
        &proof,
        &art,
        &[
            "--witness",
            &w1.vkey,
            "--witness",
            &w1.vkey,
            "--min-witnesses",
            "2",
        ],
    );
    assert_eq!(code(&o), 2, "{}", text(&o));
    // A proof for another product.
    let other = dir.join("other.rpm");
    std::fs::write(&other, b"another package\n").unwrap();
    let o = gate(&proof, &other, &two);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("not for this artifact"), "{}", text(&o));
    // A checkpoint not signed by the log key: its line replaced by one of
    // another key of the same name.
    let impostor = SignerKey::generate(&p.origin, note::ED25519).unwrap();
    let log_line = note1_line(&ptext, &format!("{} ", p.origin));
    let forged = ptext.replace(&log_line, impostor.sign(&cp.text(), 0).encode().trim_end());
    let o = gate(forged.as_bytes(), &art, &two);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("log key"), "{}", text(&o));
    // No quorum at all, and a state: both refused before anything is read.
    let o = gate(&proof, &art, &[]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let o = gate(
        &proof,
        &art,
        &[
            two[0],
            two[1],
            "--state",
            gate_dir.join("st").to_str().unwrap(),
        ],
    );
    assert_eq!(code(&o), 2, "{}", text(&o));
    // A policy file: 2 of the three witnesses, w3 among them.
    let policy = gate_dir.join("p.policy");
    std::fs::write(
        &policy,
        format!(
            "log {}\nwitness a {}\nwitness b {}\nwitness c {}\ngroup g 2 a b c\nquorum g\n",
            p.vkey,
            w1.vkey,
            w2.vkey,
            stranger.verifier()
        ),
    )
    .unwrap();
    let pol = ["--policy", policy.to_str().unwrap()];
    assert_eq!(code(&gate(&proof, &art, &pol)), 0);
    assert_eq!(code(&gate(unknown.as_bytes(), &art, &pol)), 0, "w1 and w3");
    assert_eq!(code(&gate(fewer.as_bytes(), &art, &pol)), 1);
}

/// The line of `proof` whose signer name starts with `name`.
fn note1_line(proof: &str, name: &str) -> String {
    proof
        .lines()
        .find(|l| l.starts_with(&format!("\u{2014} {name}")))
        .unwrap()
        .to_string()
}

/// A request without a proof.
fn bare(old: u64, checkpoint: Vec<u8>) -> Vec<u8> {
    Request {
        old,
        proof: vec![],
        checkpoint,
    }
    .encode()
}

/// Sizes and proofs straight from the log: `old` and the proof to `new`.
fn request(p: &Published, old: u64, new: u64) -> Vec<u8> {
    let proof = if old == 0 || old == new {
        Vec::new()
    } else {
        let o = ok(
            &[
                "prove",
                "consistency",
                "--log",
                p.log.to_str().unwrap(),
                &old.to_string(),
                &new.to_string(),
            ],
            b"",
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| build_verify::log::merkle::from_b64(h.as_str().unwrap()).unwrap())
            .collect()
    };
    Request {
        old,
        proof,
        checkpoint: p.checkpoint(new),
    }
    .encode()
}

/// Sessions received into `p`, each sealed with its note signature: the
/// sizes sealed.
fn seal_sessions(p: &Published, sessions: &[Vec<u8>]) -> Vec<u64> {
    sessions
        .iter()
        .map(|s| {
            p.receive(s);
            assert_eq!(code(&p.seal(true)), 0);
            *checkpoint_sizes(&p.log).last().unwrap()
        })
        .collect()
}

/// A log sealed at three sizes.
fn three_seals(origin: &str) -> (Published, [u64; 3]) {
    let p = Published::new(origin);
    let s = seal_sessions(&p, &[lines(0, 300), lines(300, 900), lines(900, 1000)]);
    (p, [s[0], s[1], s[2]])
}

/// `lines(a, b)` with its last line replaced: another history of the
/// same size.
fn forked(a: usize, b: usize) -> Vec<u8> {
    let mut v = lines(a, b - 1);
    v.extend_from_slice(b"not what the witness saw\n");
    v
}

#[test]
fn the_witness_answers_as_the_spec_says_and_keeps_its_state() {
    let (p, [n1, n2, n3]) = three_seals("logs.example.org/w");
    let dir = p.tmp.path();
    let (key, _) = witness_key(dir, "w.example");
    let state = dir.join("state");
    let st_file = state
        .join(tlogwitness::origin_hash(&p.origin))
        .join("checkpoint");
    let post = |body: &[u8]| {
        cgi(
            &key,
            &p.vkey,
            &state,
            &[("REQUEST_METHOD", "POST"), ("PATH_INFO", "/add-checkpoint")],
            body,
        )
    };

    // Malformed, and an old size above the checkpoint's: 400.
    assert_eq!(status(&post(b"old 1\n")), 400);
    let mut above = request(&p, 0, n1);
    above.splice(..5, format!("old {}", n1 + 1).into_bytes());
    assert_eq!(status(&post(&above)), 400);
    // The first checkpoint, from 0.
    let o = post(&request(&p, 0, n1));
    assert_eq!(status(&o), 200, "{}", text(&o));
    assert_eq!(code(&o), 0);
    let cosigs = tlogwitness::parse_cosignatures(&body(&o)).unwrap();
    assert_eq!(cosigs.len(), 1);
    let held = std::fs::read(&st_file).unwrap();
    // A stale client: old 0 again: 409 with the size held.
    let o = post(&request(&p, 0, n2));
    assert_eq!(status(&o), 409);
    assert_eq!(body(&o), format!("{n1}\n").into_bytes());
    assert!(String::from_utf8_lossy(&o.stdout).contains("Content-Type: text/x.tlog.size"));
    assert_eq!(std::fs::read(&st_file).unwrap(), held);
    // A fork at the same size: another root, signed by the same key.
    let fork = p.sibling("fork");
    assert_eq!(seal_sessions(&fork, &[forked(0, 300)]), [n1]);
    let o = post(&bare(n1, fork.checkpoint(n1)));
    assert_eq!(status(&o), 422, "{}", text(&o));
    assert_eq!(code(&o), 1);
    assert_eq!(
        std::fs::read(&st_file).unwrap(),
        held,
        "the witness keeps its state"
    );
    assert!(listing(st_file.parent().unwrap())
        .iter()
        .any(|n| n.starts_with("conflict-")));
    // A proof that does not verify: 422.
    let mut bad = request(&p, n1, n2);
    let at = bad.iter().position(|&b| b == b'\n').unwrap() + 3;
    bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
    assert_eq!(status(&post(&bad)), 422);
    // An unknown log: 404; no signature by the log's key: 403.
    let other = Published::new("logs.example.org/other");
    let m = seal_sessions(&other, &[lines(0, 10)])[0];
    let o = post(&bare(0, other.checkpoint(m)));
    assert_eq!(status(&o), 404, "{}", text(&o));
    let mut unsigned = Note::parse(&p.checkpoint(n2)).unwrap();
    unsigned.signatures.clear();
    let o = post(&bare(n1, unsigned.encode().into_bytes()));
    assert_eq!(status(&o), 403, "{}", text(&o));
    let mut broken = Note::parse(&p.checkpoint(n2)).unwrap();
    broken.signatures[0].sig[3] ^= 1;
    let o = post(&bare(n1, broken.encode().into_bytes()));
    assert_eq!(status(&o), 403, "{}", text(&o));
    assert_eq!(std::fs::read(&st_file).unwrap(), held);
    // The good step, then the same checkpoint again (200: same root).
    assert_eq!(status(&post(&request(&p, n1, n2))), 200);
    assert_eq!(status(&post(&request(&p, n2, n2))), 200);
    // The monitoring API serves the state: the log's line and the witness's.
    let o = cgi(
        &key,
        &p.vkey,
        &state,
        &[
            ("REQUEST_METHOD", "GET"),
            (
                "PATH_INFO",
                &format!("/{}/checkpoint", tlogwitness::origin_hash(&p.origin)),
            ),
        ],
        b"",
    );
    assert_eq!(status(&o), 200);
    let served = Note::parse(&body(&o)).unwrap();
    assert_eq!(served.signatures.len(), 2);
    assert_eq!(parse_note(&body(&o)).unwrap().1.size, n2);
    // A stale client through `submit`: it guesses the last size it saw
    // cosigned (none: 0), gets 409 with n2, and asks again from there.
    let served = serve_witness_with_key(&key, &state, &p.vkey);
    let vkey = SignerKey::parse(std::fs::read_to_string(&key).unwrap().trim())
        .unwrap()
        .verifier()
        .to_string();
    let o = submit_to(&p.log, &[(&vkey, &served)], &["--json"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["witnesses"][0]["old"], n2,
        "retried from the witness's size"
    );
    assert_eq!(
        parse_note(&std::fs::read(&st_file).unwrap())
            .unwrap()
            .1
            .size,
        n3
    );
    // A client presenting a fork through `submit`: 422, exit 1, the
    // witness's state as it was.
    let held = std::fs::read(&st_file).unwrap();
    let fork3 = p.sibling("fork3");
    let sizes = seal_sessions(&fork3, &[lines(0, 300), lines(300, 900), forked(900, 1000)]);
    assert_eq!(sizes, [n1, n2, n3]);
    let before = listing(&fork3.log.join("checkpoints"));
    let o = submit_to(&fork3.log, &[(&vkey, &served)], &[]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("422"), "{}", text(&o));
    assert_eq!(std::fs::read(&st_file).unwrap(), held);
    assert_eq!(
        listing(&fork3.log.join("checkpoints")),
        before,
        "nothing stored"
    );
    assert_eq!(
        Note::parse(&fork3.checkpoint(n3)).unwrap().signatures.len(),
        1
    );
}

/// A witness over loopback with a given key and state, its URL: each
/// connection handed to `sign-log witness --http` as its standard input
/// and output (systemd's Accept=yes).
fn serve_witness_with_key(key: &Path, state: &Path, log_vkey: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (k, st, lk) = (key.to_path_buf(), state.to_path_buf(), log_vkey.to_string());
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let fd = std::os::fd::OwnedFd::from(conn);
            if let Ok(mut c) = Command::new(BIN)
                .args(["witness", "--http", "-q", "--key"])
                .arg(&k)
                .args(["--log-key", &lk, "--state"])
                .arg(&st)
                .stdin(Stdio::from(fd.try_clone().unwrap()))
                .stdout(Stdio::from(fd))
                .stderr(Stdio::null())
                .spawn()
            {
                std::thread::spawn(move || c.wait());
            }
        }
    });
    url
}

#[test]
fn two_clients_racing_from_one_size_get_one_200_and_one_409() {
    let (p, [n1, n2, n3]) = three_seals("logs.example.org/race");
    let dir = p.tmp.path();
    let (key, _) = witness_key(dir, "w.example");
    let reqs = [request(&p, n1, n2), request(&p, n1, n3)];
    for round in 0..4 {
        let state = dir.join(format!("state-{round}"));
        let o = cgi(&key, &p.vkey, &state, &[], &request(&p, 0, n1));
        assert_eq!(status(&o), 200);
        // Both started, then fed at once: they race for the state's lock.
        let mut children: Vec<_> = (0..2)
            .map(|_| {
                Command::new(BIN)
                    .args(["witness", "--key"])
                    .arg(&key)
                    .args(["--log-key", &p.vkey, "--state"])
                    .arg(&state)
                    .env_remove("REQUEST_METHOD")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for (c, r) in children.iter_mut().zip(&reqs) {
            c.stdin.take().unwrap().write_all(r).unwrap();
        }
        let outs: Vec<Output> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let mut got: Vec<u16> = outs.iter().map(status).collect();
        got.sort();
        assert_eq!(
            got,
            [200, 409],
            "round {round}: {}",
            outs.iter().map(text).collect::<String>()
        );
        let winner = outs.iter().position(|o| status(o) == 200).unwrap();
        let held = std::fs::read(
            state
                .join(tlogwitness::origin_hash(&p.origin))
                .join("checkpoint"),
        )
        .unwrap();
        assert_eq!(parse_note(&held).unwrap().1.size, [n2, n3][winner]);
        let loser = &outs[1 - winner];
        assert_eq!(body(loser), format!("{}\n", [n2, n3][winner]).into_bytes());
    }
}

#[test]
fn a_special_file_at_the_witness_state_or_lock_is_refused() {
    let (p, [n1, ..]) = three_seals("logs.example.org/fifo");
    let dir = p.tmp.path();
    let (key, _) = witness_key(dir, "w.example");
    for which in ["checkpoint", "checkpoint.lock"] {
        let state = dir.join(format!("state-{which}"));
        let d = state.join(tlogwitness::origin_hash(&p.origin));
        std::fs::create_dir_all(&d).unwrap();
        let fifo = d.join(which);
        assert!(Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let mut cmd = Command::new(BIN);
        cmd.args(["witness", "--key"])
            .arg(&key)
            .args(["--log-key", &p.vkey, "--state"])
            .arg(&state)
            .env_remove("REQUEST_METHOD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&request(&p, 0, n1))
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("the witness hung on a FIFO at {which}");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let o = child.wait_with_output().unwrap();
        assert_ne!(code(&o), 0, "{which}: {}", text(&o));
        assert!(status(&o) >= 500, "{which}: {}", text(&o));
        let made: Vec<String> = listing(&d).into_iter().filter(|n| n != which).collect();
        assert!(
            made.iter().all(|n| n == "checkpoint.lock"),
            "nothing stored: {made:?}"
        );
    }
}

/// Cosignature lines the witness returned verify with the key they name.
#[test]
fn returned_cosignatures_verify_as_note_signatures() {
    let (p, [n1, ..]) = three_seals("logs.example.org/cosig");
    let dir = p.tmp.path();
    let (key, vkey) = witness_key(dir, "w.example");
    let o = cgi(&key, &p.vkey, &dir.join("state"), &[], &request(&p, 0, n1));
    assert_eq!(status(&o), 200);
    let lines: Vec<SignatureLine> = tlogwitness::parse_cosignatures(&body(&o)).unwrap();
    let mut n = Note::parse(&p.checkpoint(n1)).unwrap();
    for l in lines {
        n.add(l);
    }
    let v = note::verify(&n, &[VerifierKey::parse(&vkey).unwrap()]).unwrap();
    assert_eq!(v.len(), 1);
    assert!(v[0].timestamp.unwrap() > 1_700_000_000);
}

/// Without the log's note signature there is nothing a witness or a
/// tlog-proof reader can check: `prove --tlog-proof` and `submit` refuse
/// (exit 2, naming `--note-key`) and write nothing; `verify-proof` of a
/// tlog-proof without the log's key has nothing to verify with (exit 3),
/// with another key it fails (exit 1).
#[test]
fn no_note_signature_no_tlog_proof_and_no_witness() {
    let p = Published::new("logs.example.org/plain");
    let art = p.tmp.path().join("a.rpm");
    std::fs::write(&art, b"x\n").unwrap();
    let mut input = ok(&["hash", art.to_str().unwrap()], b"").stdout;
    input.extend(lines(0, 10));
    p.receive(&input);
    assert_eq!(code(&p.seal(false)), 0);
    let proofs = p.tmp.path().join("proofs");
    std::fs::create_dir(&proofs).unwrap();
    let l = p.log.to_str().unwrap();
    let o = p.prove_tlog(&art, &proofs);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("--note-key"), "{}", text(&o));
    assert!(listing(&proofs).is_empty());
    let before = p.checkpoint(checkpoint_sizes(&p.log)[0]);
    let (_, wk) = witness_key(p.tmp.path(), "w.example");
    let o = sl(
        &[
            "submit",
            "--log",
            l,
            "--witness",
            &wk,
            "http://127.0.0.1:9/",
        ],
        b"",
    );
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert_eq!(p.checkpoint(checkpoint_sizes(&p.log)[0]), before);
    // Sealed with the note key: a proof, read without and with a wrong key.
    p.receive(&lines(10, 20));
    assert_eq!(code(&p.seal(true)), 0);
    assert_eq!(code(&p.prove_tlog(&art, &proofs)), 0);
    let pf = proofs.join("a.rpm.tlog-proof");
    let verify = |key: &[&str]| {
        let mut args = vec![
            "verify-proof",
            pf.to_str().unwrap(),
            "--artifact",
            art.to_str().unwrap(),
        ];
        args.extend_from_slice(key);
        sl(&args, b"")
    };
    let o = verify(&[]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    let other = log_key(p.tmp.path(), &p.origin);
    let o = verify(&["--note-key", &other]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let o = verify(&["--note-key", &p.vkey]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("no witness required"), "{}", text(&o));
}

/// A tlog-policy whose groups name earlier groups twice over (g2 = g1 g0,
/// g3 = g2 g1, ...) describes a rule of Fibonacci size: expanded, 90 lines
/// are some 10^18 nodes. The reader must refuse it (exit 2) at once and
/// store nothing, not clone it until memory runs out (capped here, so a
/// regression aborts instead of swapping the machine).
#[test]
fn a_policy_whose_groups_explode_is_refused_not_expanded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (key, _) = witness_key(dir, "w.example");
    let (_, w1) = witness_key(dir, "w1.example");
    let log = log_key(dir, "logs.example.org/policy");
    let mut policy = format!("log {log}\nwitness g0 {w1}\ngroup g1 any g0\n");
    for i in 2..90 {
        policy.push_str(&format!("group g{i} all g{} g{}\n", i - 1, i - 2));
    }
    policy.push_str("quorum g89\n");
    let path = dir.join("evil.policy");
    std::fs::write(&path, &policy).unwrap();
    let state = dir.join("state");
    let o = run_deadline(
        Command::new("sh")
            .args(["-c", "ulimit -v 1000000; exec \"$@\"", "sh", BIN])
            .args(["witness", "--key"])
            .arg(&key)
            .arg("--policy")
            .arg(&path)
            .arg("--state")
            .arg(&state)
            .env_remove("REQUEST_METHOD"),
        60,
    )
    .unwrap_or_else(|o| panic!("hung on the policy: {}", text(&o)));
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("policy"), "{}", text(&o));
    assert!(!state.exists(), "nothing stored");
    // The same shape, small, is a policy like any other.
    let mut small = format!("log {log}\nwitness g0 {w1}\ngroup g1 any g0\n");
    for i in 2..8 {
        small.push_str(&format!("group g{i} all g{} g{}\n", i - 1, i - 2));
    }
    small.push_str("quorum g7\n");
    let q = build_verify::log::quorum::Quorum::parse(small.as_bytes()).unwrap();
    assert_eq!(q.rule.least(), 21);
}

/// `witness --http` as socket activation runs it: one TCP connection on
/// 127.0.0.1 as its standard input and output, a client at the other end
/// that sends `first`, then trickles one byte of `trickle` every 300 ms
/// without ever finishing. Returns what the client read, the witness's
/// exit code, and how long it took to answer.
fn slow_client(
    key: &Path,
    log_vkey: &str,
    state: &Path,
    first: &[u8],
    trickle: &[u8],
) -> (String, Option<i32>, std::time::Duration) {
    use std::io::Read;
    use std::net::TcpStream;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (conn, _) = listener.accept().unwrap();
    let fd = std::os::fd::OwnedFd::from(conn);
    let started = std::time::Instant::now();
    let mut child = Command::new(BIN)
        .args(["witness", "--http", "--request-timeout", "2", "--key"])
        .arg(key)
        .args(["--log-key", log_vkey, "--state"])
        .arg(state)
        .stdin(Stdio::from(fd.try_clone().unwrap()))
        .stdout(Stdio::from(fd))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    client.write_all(first).unwrap();
    client
        .set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    let mut got = Vec::new();
    let mut trickle = trickle.iter();
    let deadline = started + std::time::Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    while std::time::Instant::now() < deadline {
        match client.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {
                if let Some(b) = trickle.next() {
                    let _ = client.write_all(&[*b]);
                }
            }
        }
    }
    let took = started.elapsed();
    let _ = child.kill();
    let status = child.wait().unwrap();
    (
        String::from_utf8_lossy(&got).into_owned(),
        status.code(),
        took,
    )
}

/// A client that opens a connection and sends nothing, stops inside its
/// header, trickles its header a byte at a time, or sends less body than
/// its Content-Length gets a 408 once --request-timeout has passed (the
/// deadline is for the whole request, not per read), and the witness
/// exits 1 having stored nothing. Before, it waited for the client
/// forever, each such connection holding a process and one of the
/// socket activator's connection slots.
#[test]
fn a_slow_or_silent_client_gets_a_408_not_a_process_forever() {
    let (p, [n1, ..]) = three_seals("logs.example.org/slow");
    let dir = p.tmp.path();
    let (key, _) = witness_key(dir, "w.example");
    let req = request(&p, 0, n1);
    let head = format!(
        "POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: {}\r\n\r\n",
        req.len()
    );
    let mut partial = head.clone().into_bytes();
    partial.extend_from_slice(&req[..10]);
    let long_header = format!(
        "POST /add-checkpoint HTTP/1.1\r\nX-Slow: {}",
        "a".repeat(200)
    );
    let cases: [(&str, &[u8], &[u8]); 4] = [
        ("silent", b"", b""),
        ("mid-header", b"POST /add-checkpoint HTTP/1.1\r\nHo", b""),
        ("trickled header", b"P", long_header.as_bytes()),
        ("short body", &partial, b""),
    ];
    for (what, first, trickle) in cases {
        let state = dir.join(format!("state-{}", what.replace(' ', "-")));
        let (got, exit, took) = slow_client(&key, &p.vkey, &state, first, trickle);
        assert!(
            got.starts_with("HTTP/1.1 408 "),
            "{what}: after {took:?}: {got:?}"
        );
        assert_eq!(exit, Some(1), "{what}");
        assert!(
            took < std::time::Duration::from_secs(15),
            "{what}: {took:?}"
        );
        assert!(!state.exists(), "{what}: nothing stored");
    }
    // A whole request, sent at once, is answered as before.
    let state = dir.join("state-whole");
    let mut whole = head.into_bytes();
    whole.extend_from_slice(&req);
    let (got, exit, _) = slow_client(&key, &p.vkey, &state, &whole, b"");
    assert!(got.starts_with("HTTP/1.1 200 "), "{got:?}");
    assert_eq!(exit, Some(0));
    // A Content-Length over the cap is refused before any body is read.
    let (got, exit, took) = slow_client(
        &key,
        &p.vkey,
        &dir.join("state-big"),
        b"POST /add-checkpoint HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n",
        b"",
    );
    assert!(got.starts_with("HTTP/1.1 413 "), "{got:?}");
    assert_eq!(exit, Some(1));
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    assert!(!dir.join("state-big").exists());
}

/// A --state that is a regular file cannot hold a witness's state: the
/// witness's configuration is wrong (exit 2, answered 500), not its disk
/// (4), and the file is left as it was.
#[test]
fn a_witness_state_that_is_a_file_is_exit_2() {
    let (p, [n1, ..]) = three_seals("logs.example.org/state-file");
    let dir = p.tmp.path();
    let (key, _) = witness_key(dir, "w.example");
    let state = dir.join("state");
    std::fs::write(&state, b"a file\n").unwrap();
    let o = cgi(&key, &p.vkey, &state, &[], &request(&p, 0, n1));
    assert_eq!(status(&o), 500, "{}", text(&o));
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert_eq!(std::fs::read(&state).unwrap(), b"a file\n");
}
