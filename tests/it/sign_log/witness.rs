//! Checkpoints as C2SP signed notes, and witnesses cosigning them (issue 16).

use super::*;

/// `keygen` into FILE; returns the vkey.
fn keygen(e: &Env, name: &str, file: &str, witness: bool) -> String {
    let f = e.p(file);
    let mut a = vec!["keygen", "--name", name, "--secret", f.to_str().unwrap()];
    if witness {
        a.push("--witness");
    }
    let o = sl(&a, b"", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
        0o600
    );
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

#[test]
fn checkpoints_are_signed_notes_that_witnesses_cosign() {
    let e = setup();
    // The default origin: the log's source and name (Env::receive).
    let origin = "build-verify.sign-log/build-vm/core-admin";
    let log_vkey = keygen(&e, origin, "log.skey", false);
    let w1 = keygen(&e, "witness.example/w1", "w1.skey", true);
    let w2 = keygen(&e, "witness.example/w2", "w2.skey", true);
    let w3 = keygen(&e, "witness.example/w3", "w3.skey", true);
    // keygen never overwrites a secret key.
    let o = sl(
        &[
            "keygen",
            "--name",
            origin,
            "--secret",
            e.p("log.skey").to_str().unwrap(),
        ],
        b"",
        &[],
    );
    assert_eq!(code(&o), 2, "{}", text(&o));
    let art = e.p("a.rpm");
    e.receive(
        &build_output(e.tmp.path(), "one", &[("a.rpm", b"rpm a")]),
        &[],
    );
    let skey = e.p("log.skey");
    let o = e.seal_with(&e.key, &["--note-key", skey.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let n = *checkpoint_sizes(&e.log).last().unwrap();
    let cp_path = e.log.join(format!("checkpoints/{n}"));
    let note = std::fs::read_to_string(&cp_path).unwrap();
    assert!(note.contains(&format!("\n\n\u{2014} {origin} ")), "{note}");
    assert_eq!(
        code(&e.verify_with(&e.log, &e.public, &["--note-key", &log_vkey])),
        0
    );
    // Another key of the same name: its line is not the log's.
    let stranger = keygen(&e, origin, "stranger.skey", false);
    let o = e.verify_with(&e.log, &e.public, &["--note-key", &stranger]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // A note key not named as the origin is refused at seal time.
    e.receive(b"more\n", &[]);
    let o = e.seal_with(&e.key, &["--note-key", e.p("w1.skey").to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert_eq!(
        code(&e.seal_with(&e.key, &["--note-key", skey.to_str().unwrap()])),
        0
    );
    let n = *checkpoint_sizes(&e.log).last().unwrap();
    let cp_path = e.log.join(format!("checkpoints/{n}"));
    // Two witnesses check the checkpoint as the gate does, and cosign it.
    let ev = e.p("ev.json");
    let o = sl(&["prove", "checkpoint", "--log", e.l()], b"", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    std::fs::write(&ev, &o.stdout).unwrap();
    let cosign = |skey: &str, state: &str, ev: &Path| {
        sl(
            &[
                "cosign",
                "--key",
                e.p(skey).to_str().unwrap(),
                "--keyring",
                e.public.to_str().unwrap(),
                "--state",
                e.p(state).to_str().unwrap(),
                "--proof",
                ev.to_str().unwrap(),
            ],
            b"",
            &[],
        )
    };
    let c1 = cosign("w1.skey", "w1.json", &ev);
    assert_eq!(code(&c1), 0, "{}", text(&c1));
    assert!(String::from_utf8_lossy(&c1.stdout).starts_with("\u{2014} witness.example/w1 "));
    let c2 = cosign("w2.skey", "w2.json", &ev);
    assert_eq!(code(&c2), 0, "{}", text(&c2));
    // A log note key is no cosignature key.
    assert_eq!(code(&cosign("log.skey", "x.json", &ev)), 2);
    let lines = e.p("cosignatures");
    std::fs::write(&lines, [c1.stdout.clone(), c2.stdout.clone()].concat()).unwrap();
    // Added only when they verify with the given witness keys.
    let add = |extra: &[&str], file: &Path| {
        let mut a = vec!["add-cosignature", "--log", e.l()];
        a.extend_from_slice(extra);
        a.push(file.to_str().unwrap());
        sl(&a, b"", &[])
    };
    let before = std::fs::read(&cp_path).unwrap();
    let o = add(&["--witness", &w1], &lines);
    assert_eq!(
        code(&o),
        1,
        "w2's line is by none of the given keys: {}",
        text(&o)
    );
    let forged = e.p("forged");
    let mut bad = String::from_utf8(c1.stdout.clone()).unwrap();
    let at = bad.len() - 10;
    let c = if &bad[at..at + 1] == "A" { "B" } else { "A" };
    bad.replace_range(at..at + 1, c);
    std::fs::write(&forged, bad).unwrap();
    let o = add(&["--witness", &w1], &forged);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert_eq!(
        std::fs::read(&cp_path).unwrap(),
        before,
        "nothing unverified stored"
    );
    let o = add(&["--witness", &w1, "--witness", &w2], &lines);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("added 2"), "{}", text(&o));
    // The OpenPGP signature still holds; the witnesses are counted.
    let v = |extra: &[&str]| e.verify_with(&e.log, &e.public, extra);
    assert_eq!(code(&v(&[])), 0);
    let o = v(&["--note-key", &log_vkey, "--witness", &w1, "--witness", &w2]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains("note signature witness.example/w2"),
        "{}",
        text(&o)
    );
    let o = v(&["--witness", &w1, "--witness", &w2, "--witness", &w3]);
    assert_eq!(code(&o), 1, "w3 never cosigned: {}", text(&o));
    let o = v(&[
        "--witness",
        &w1,
        "--witness",
        &w2,
        "--witness",
        &w3,
        "--min-witnesses",
        "2",
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = v(&["--witness", &w1, "--min-witnesses", "2"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    // The gate can require them too (its evidence is the stored note).
    let ev = evidence(&e, &e.log, &[&art], 0, "ev-gate.json");
    let o = gate_with(
        &e.public,
        &ev,
        &["--witness", &w1, "--witness", &w3, "--min-witnesses", "1"],
        &[&art],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = gate_with(&e.public, &ev, &["--witness", &w3], &[&art]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // A cosignature line broken in the stored file voids the checkpoint
    // for a verifier that knows the witness.
    let stored = std::fs::read_to_string(&cp_path).unwrap();
    let w1_line = stored
        .lines()
        .find(|l| l.contains("witness.example/w1"))
        .unwrap()
        .to_string();
    let mut broken = w1_line.clone();
    let at = broken.len() - 10;
    let c = if &broken[at..at + 1] == "A" { "B" } else { "A" };
    broken.replace_range(at..at + 1, c);
    std::fs::write(&cp_path, stored.replace(&w1_line, &broken)).unwrap();
    assert_eq!(code(&v(&[])), 0, "unknown to this verifier: ignored");
    let o = v(&["--witness", &w1, "--min-witnesses", "0"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("does not verify"), "{}", text(&o));
    std::fs::write(&cp_path, &stored).unwrap();
    // A witness keeps its own state: a later checkpoint needs a
    // consistency proof from what it saw; an older one is a rollback.
    e.receive(b"later\n", &[]);
    assert_eq!(code(&e.seal()), 0);
    let from = last_size(&e.p("w1.json")).to_string();
    let o = sl(
        &["prove", "checkpoint", "--log", e.l(), "--from-size", &from],
        b"",
        &[],
    );
    let ev2 = e.p("ev2.json");
    std::fs::write(&ev2, &o.stdout).unwrap();
    assert_eq!(code(&cosign("w1.skey", "w1.json", &ev2)), 0);
    let o = cosign("w1.skey", "w1.json", &e.p("ev.json"));
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("rollback"), "{}", text(&o));
}
