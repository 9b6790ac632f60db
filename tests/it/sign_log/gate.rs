//! The signing gate (issue 16): only products a sealed log shows are signed;
//! forks and rollbacks refused with their evidence kept; the qrexec service.

use super::*;

fn gate(ring: &Path, state: &Path, ev: &Path, arts: &[&Path]) -> Output {
    gate_with(ring, ev, &["--state", state.to_str().unwrap()], arts)
}

/// `prove product --log LOG --file ART`.
fn prove_product(log: &str, art: &Path) -> Output {
    sl(
        &[
            "prove",
            "product",
            "--log",
            log,
            "--file",
            art.to_str().unwrap(),
        ],
        b"",
        &[],
    )
}

/// Conflict files kept next to `state`.
fn conflicts(state: &Path) -> Vec<serde_json::Value> {
    let dir = state.parent().unwrap();
    let name = state.file_name().unwrap().to_str().unwrap().to_string();
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|f| {
            let f = f.ok()?;
            let n = f.file_name().into_string().ok()?;
            n.starts_with(&format!("{name}.conflict-"))
                .then(|| f.path())
        })
        .collect();
    v.sort();
    v.iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect()
}

/// A GnuPG home holding the secret key `key` (as the keys VM's gpg would).
fn gpg_home(e: &Env, key: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let home = e.p("gnupg");
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let st = Command::new("gpg")
        .args(["--batch", "--quiet", "--import"])
        .arg(key)
        .env("GNUPGHOME", &home)
        .status()
        .unwrap();
    assert!(st.success());
    home
}

#[test]
fn the_gate_passes_sealed_products_and_gpg_signs_them() {
    let e = setup();
    let a = e.p("core-admin-4.2.rpm");
    e.receive(
        &build_output(e.tmp.path(), "one", &[("core-admin-4.2.rpm", b"rpm one")]),
        &[],
    );
    assert_eq!(code(&e.seal()), 0);
    let state = e.p("gate.json");
    assert_eq!(last_size(&state), 0);
    let ev = evidence(&e, &e.log, &[&a], 0, "ev1.json");
    let o = gate(&e.public, &state, &ev, &[&a]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("gate passed"), "{}", text(&o));
    assert!(
        text(&o).contains("first checkpoint accepted"),
        "{}",
        text(&o)
    );
    let first = last_size(&state);
    assert_eq!(first, *checkpoint_sizes(&e.log).last().unwrap());
    // Then "signed" by gpg, as the keys VM does after the gate, and the
    // signature checked by gpgv.
    if oracle("gpg") && oracle("gpgv") {
        let home = gpg_home(&e, &e.key);
        let sig = e.p("core-admin-4.2.rpm.asc");
        let st = Command::new("gpg")
            .args(["--batch", "--armor", "--detach-sign", "--output"])
            .arg(&sig)
            .arg(&a)
            .env("GNUPGHOME", &home)
            .status()
            .unwrap();
        assert!(st.success());
        let cert = sequoia_openpgp::Cert::from_bytes(&std::fs::read(&e.public).unwrap()).unwrap();
        std::fs::create_dir_all(e.p("gpgv")).unwrap();
        let ring = write_keyring_binary(&e.p("gpgv/ring.gpg"), &[&cert]);
        assert!(gpgv_accepts(&ring, &sig, &a));
    }
    // A second build, sealed: the gate moves on with a consistency proof.
    let b = e.p("core-admin-4.3.rpm");
    e.receive(
        &build_output(e.tmp.path(), "two", &[("core-admin-4.3.rpm", b"rpm two")]),
        &[],
    );
    assert_eq!(code(&e.seal()), 0);
    let ev2 = evidence(&e, &e.log, &[&b, &a], first, "ev2.json");
    let o = gate(&e.public, &state, &ev2, &[&b, &a]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(last_size(&state) > first);
    // JSON too, and the same checkpoint again is fine.
    let mut args = vec![
        "gate",
        "--json",
        "--keyring",
        e.public.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--proof",
        "-",
        b.to_str().unwrap(),
    ];
    let o = sl(&args, &std::fs::read(&ev2).unwrap(), &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["artifacts"][0]["product"], b.display().to_string());
    assert_eq!(j["previous"], last_size(&state));
    // Another key's checkpoint: refused.
    let other = gen_key("Not the log key");
    let ring = write_keyring(&e.p("other.asc"), &[&other]);
    args[3] = ring.to_str().unwrap();
    let before = std::fs::read(&state).unwrap();
    let o = sl(&args, &std::fs::read(&ev2).unwrap(), &[]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(o.stdout.is_empty());
    assert_eq!(std::fs::read(&state).unwrap(), before, "state unchanged");
}

/// A sealed log with product a.rpm, and a gate that accepted it: (env,
/// artifact, state, evidence, sealed size).
fn gated_log() -> (Env, PathBuf, PathBuf, PathBuf, u64) {
    let e = setup();
    let a = e.p("a.rpm");
    e.receive(
        &build_output(e.tmp.path(), "one", &[("a.rpm", b"rpm a")]),
        &[],
    );
    assert_eq!(code(&e.seal()), 0);
    let n = *checkpoint_sizes(&e.log).last().unwrap();
    let state = e.p("gate.json");
    let ev = evidence(&e, &e.log, &[&a], 0, "ev.json");
    assert_eq!(code(&gate(&e.public, &state, &ev, &[&a])), 0);
    (e, a, state, ev, n)
}

#[test]
fn the_gate_refuses_what_the_sealed_log_does_not_show() {
    let (e, _, state, ev, sealed) = gated_log();
    let before = std::fs::read(&state).unwrap();
    let unchanged = || assert_eq!(std::fs::read(&state).unwrap(), before, "state changed");

    // An artifact that is not in the log: the log has nothing to prove and
    // the gate finds no product record for it.
    let stranger = e.p("not-logged.rpm");
    std::fs::write(&stranger, b"never built here").unwrap();
    let o = prove_product(e.l(), &stranger);
    assert_eq!(code(&o), 3, "{}", text(&o));
    let o = gate(&e.public, &state, &ev, &[&stranger]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(text(&o).contains("no product record"), "{}", text(&o));
    // A product record from another sender than the one asking.
    let a = e.p("a.rpm");
    let with_source = |src: &str| gate_with(&e.public, &ev, &["--source", src], &[&a]);
    assert_eq!(code(&with_source("build-vm")), 0);
    let o = with_source("build-vm-2");
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(text(&o).contains("from \"build-vm-2\""), "{}", text(&o));
    // Nor does a logged artifact with one byte changed.
    std::fs::write(&stranger, b"rpm A").unwrap();
    assert_eq!(code(&gate(&e.public, &state, &ev, &[&stranger])), 3);
    unchanged();

    // An artifact only in the unsealed tail.
    let t = e.p("tail.rpm");
    e.receive(
        &build_output(e.tmp.path(), "tail", &[("tail.rpm", b"rpm tail")]),
        &[],
    );
    let o = prove_product(e.l(), &t);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(text(&o).contains("after the last seal"), "{}", text(&o));
    // Forged evidence: an inclusion proof of the tail record in the whole
    // (unsigned) tree, next to the signed checkpoint...
    let lines = e.lines();
    let seq = lines
        .iter()
        .position(|l| l.contains("##sign-log product") && l.contains("tail.rpm"))
        .unwrap();
    let records = lines.len().to_string();
    let inc = sl(
        &[
            "prove",
            "inclusion",
            "--log",
            e.l(),
            &seq.to_string(),
            "--size",
            &records,
        ],
        b"",
        &[],
    );
    assert_eq!(code(&inc), 0, "{}", text(&inc));
    let mut forged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ev).unwrap()).unwrap();
    forged["products"] =
        serde_json::json!([serde_json::from_slice::<serde_json::Value>(&inc.stdout).unwrap()]);
    let f1 = e.p("forged1.json");
    std::fs::write(&f1, forged.to_string()).unwrap();
    let o = gate(&e.public, &state, &f1, &[&t]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // ...or with the whole tree's checkpoint body under the old signature.
    let body = sl(&["checkpoint", "--log", e.l()], b"", &[]);
    forged["checkpoint"] = serde_json::Value::String(String::from_utf8(body.stdout).unwrap());
    let f2 = e.p("forged2.json");
    std::fs::write(&f2, forged.to_string()).unwrap();
    let o = gate(&e.public, &state, &f2, &[&t]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("signature"), "{}", text(&o));
    unchanged();
    assert_eq!(last_size(&state), sealed);
    assert!(conflicts(&state).is_empty(), "none of these is a conflict");

    // Missing consistency proof once the log has grown: nothing to verify
    // the new checkpoint's history with.
    assert_eq!(code(&e.seal()), 0);
    let ev0 = evidence(&e, &e.log, &[&t], 0, "ev-from-0.json");
    let o = gate(&e.public, &state, &ev0, &[&t]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(text(&o).contains("no consistency proof"), "{}", text(&o));
    unchanged();
}

#[test]
fn the_gate_refuses_forks_and_rollbacks_and_keeps_the_evidence() {
    let (e, a, state, ev_old, n) = gated_log();

    // A fork: another log, same key and origin, as many records, another
    // root (the log VM, or whoever holds its key, signed two histories).
    let fork = e.p("fork");
    let fa = e.p("fork-a.rpm");
    let out = build_output(e.tmp.path(), "ONE", &[("fork-a.rpm", b"rpm A")]);
    receive_into(&fork, &out, &["--source", "build-vm"]);
    assert_eq!(code(&seal_dir(&fork, &e.key)), 0);
    assert_eq!(checkpoint_sizes(&fork), vec![n], "same size");
    let before = std::fs::read(&state).unwrap();
    let ev_fork = evidence(&e, &fork, &[&fa], n, "ev-fork.json");
    let o = gate(&e.public, &state, &ev_fork, &[&fa]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("fork"), "{}", text(&o));
    assert_eq!(std::fs::read(&state).unwrap(), before);
    let c = conflicts(&state);
    assert_eq!(c.len(), 1);
    // Both signed checkpoints are kept, and they do verify: evidence.
    let kept_old = c[0]["accepted"]["checkpoint"].as_str().unwrap();
    let kept_new = c[0]["presented"]["checkpoint"].as_str().unwrap();
    assert_eq!(
        kept_old,
        std::fs::read_to_string(e.log.join(format!("checkpoints/{n}"))).unwrap()
    );
    assert_eq!(
        kept_new,
        std::fs::read_to_string(fork.join(format!("checkpoints/{n}"))).unwrap()
    );
    for (cp, sig) in [
        (kept_old, c[0]["accepted"]["signature"].as_str().unwrap()),
        (kept_new, c[0]["presented"]["signature"].as_str().unwrap()),
    ] {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("cp"), cp).unwrap();
        std::fs::write(d.path().join("cp.asc"), sig).unwrap();
        // Each verifies on its own (its signature, against the log key).
        let p = e.p("any-proof.json");
        std::fs::write(
            &p,
            format!("{{\"type\":\"consistency\",\"size1\":{n},\"size2\":{n},\"proof\":[]}}"),
        )
        .unwrap();
        let cpp = d.path().join("cp");
        let o = verify_proof(
            &p,
            &[&cpp, &cpp],
            &["--keyring", e.public.to_str().unwrap()],
        );
        assert_eq!(code(&o), 0, "{}", text(&o));
    }
    // The fork grows: its consistency proof from n cannot reach the
    // accepted root.
    let fb = e.p("fork-b.rpm");
    let out = build_output(e.tmp.path(), "TWO", &[("fork-b.rpm", b"rpm B")]);
    receive_into(&fork, &out, &["--source", "build-vm"]);
    assert_eq!(code(&seal_dir(&fork, &e.key)), 0);
    let ev_fork2 = evidence(&e, &fork, &[&fb], n, "ev-fork2.json");
    let o = gate(&e.public, &state, &ev_fork2, &[&fb]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("not proved to extend"), "{}", text(&o));
    assert_eq!(conflicts(&state).len(), 2);
    assert_eq!(std::fs::read(&state).unwrap(), before);

    // A rollback: the gate moves on, then is shown the older checkpoint.
    let b = e.p("b.rpm");
    e.receive(
        &build_output(e.tmp.path(), "two", &[("b.rpm", b"rpm b")]),
        &[],
    );
    assert_eq!(code(&e.seal()), 0);
    let ev_new = evidence(&e, &e.log, &[&b], n, "ev-new.json");
    assert_eq!(code(&gate(&e.public, &state, &ev_new, &[&b])), 0);
    let moved = std::fs::read(&state).unwrap();
    let o = gate(&e.public, &state, &ev_old, &[&a]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("rollback"), "{}", text(&o));
    assert_eq!(std::fs::read(&state).unwrap(), moved);
    let c = conflicts(&state);
    assert_eq!(c.len(), 3);
    assert!(c
        .iter()
        .any(|c| c["reason"].as_str().unwrap().starts_with("rollback")));
}

#[test]
fn qrexec_gate_service_signs_only_logged_products() {
    if !oracle("gpg") || !oracle("gpgv") {
        return;
    }
    let e = setup();
    let contrib = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/qubes");
    let bin_dir = Path::new(BIN).parent().unwrap();
    // qrexec-client-vm TARGET SERVICE+ARG, as qrexec runs it: the target's
    // service with the caller in QREXEC_REMOTE_DOMAIN, over the same pipes.
    let stub = e.p("stub");
    std::fs::create_dir(&stub).unwrap();
    std::fs::write(
        stub.join("qrexec-client-vm"),
        format!(
            "#!/bin/sh\ncall=$2\nQREXEC_REMOTE_DOMAIN=$STUB_CALLER exec sh {}/\"${{call%%+*}}\" \"${{call#*+}}\"\n",
            contrib.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        stub.join("qrexec-client-vm"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let path = format!(
        "{}:{}:{}",
        stub.display(),
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let logs = e.p("logs");
    let home = gpg_home(&e, &e.key);
    let service = |name: &str, caller: &str, input: &[u8], envs: &[(&str, String)]| {
        let mut c = Command::new("sh");
        c.arg(contrib.join(name))
            .arg("core-admin")
            .env("PATH", &path)
            .env("QREXEC_REMOTE_DOMAIN", caller)
            .env("BUILD_LOG_DIR", &logs);
        for (k, v) in envs {
            c.env(k, v);
        }
        run_fed(&mut c, input)
    };
    // The build VM's build, through qubes.AppendLog, sealed at its end.
    let art = e.p("core-admin-4.2.rpm");
    let out = build_output(e.tmp.path(), "one", &[("core-admin-4.2.rpm", b"the rpm")]);
    let o = service(
        "qubes.AppendLog",
        "build-vm-1",
        &out,
        &[(
            "SIGN_LOG_OPTS",
            format!("--seal-on-eof --key {}", e.key.display()),
        )],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    // The build VM asks the keys VM to sign; it fetches the evidence from
    // the log VM itself.
    let gate_env = [
        ("GATE_STATE_DIR", e.p("gate-states").display().to_string()),
        ("GATE_LOG_KEY", e.public.display().to_string()),
        ("GATE_GPG", format!("gpg --homedir {}", home.display())),
        ("STUB_CALLER", "keys-vm".to_string()),
    ];
    let o = service(
        "qubes.GateSign",
        "build-vm-1",
        &std::fs::read(&art).unwrap(),
        &gate_env,
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        o.stdout.starts_with(b"-----BEGIN PGP SIGNATURE-----"),
        "{}",
        text(&o)
    );
    let sig = e.p("core-admin-4.2.rpm.asc");
    std::fs::write(&sig, &o.stdout).unwrap();
    let cert = sequoia_openpgp::Cert::from_bytes(&std::fs::read(&e.public).unwrap()).unwrap();
    std::fs::create_dir_all(e.p("gpgv")).unwrap();
    let ring = write_keyring_binary(&e.p("gpgv/ring.gpg"), &[&cert]);
    assert!(gpgv_accepts(&ring, &sig, &art));
    assert!(e.p("gate-states/build-vm-1/core-admin.json").exists());
    // Bytes the log never recorded get no signature.
    let o = service("qubes.GateSign", "build-vm-1", b"not the rpm", &gate_env);
    assert_ne!(code(&o), 0, "{}", text(&o));
    assert!(o.stdout.is_empty(), "{}", text(&o));
    // Nor does another build VM's request for this log (its own log is empty).
    let o = service(
        "qubes.GateSign",
        "build-vm-2",
        &std::fs::read(&art).unwrap(),
        &gate_env,
    );
    assert_ne!(code(&o), 0, "{}", text(&o));
    assert!(o.stdout.is_empty());
}
