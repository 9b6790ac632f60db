//! seal: signing checkpoints with a key file or a gpg-compatible program, key
//! rotation, and checkpoint signatures of several armored blocks.

use super::*;

#[test]
fn sealing_through_a_gpg_program() {
    if !oracle("gpg") {
        return;
    }
    let e = setup();
    // A stand-in for qubes-gpg-client-wrapper: real gpg with its own home.
    let home = e.tmp.path().join("gnupg");
    std::fs::create_dir(&home).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let st = Command::new("gpg")
        .args(["--batch", "--quiet", "--import"])
        .arg(&e.key)
        .env("GNUPGHOME", &home)
        .status()
        .unwrap();
    assert!(st.success());
    let k = sequoia_openpgp::Cert::from_bytes(&std::fs::read(&e.public).unwrap()).unwrap();
    let wrapper = e.tmp.path().join("gpg-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec gpg --batch --homedir {} \"$@\"\n",
            home.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    e.receive(BUILD, &[]);
    let fpr = k.fingerprint().to_hex();
    let o = sl(
        &[
            "seal",
            "--log",
            e.l(),
            "--gpg-program",
            wrapper.to_str().unwrap(),
            "--local-user",
            &fpr,
        ],
        b"",
        &[],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = e.verify();
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains(&format!("checkpoint signer {fpr}")),
        "{}",
        text(&o)
    );
}

#[test]
fn a_seal_with_another_key_needs_an_explicit_rotation() {
    let e = setup();
    e.receive(BUILD, &[]);
    assert_eq!(code(&e.seal()), 0);
    e.receive(b"more\n", &[]);
    let other = gen_key("Another Log Key <other@example.org>");
    let other_key = e.p("other.key");
    std::fs::write(&other_key, armor_tsk(&other)).unwrap();
    let before = (e.lines(), checkpoint_sizes(&e.log));
    let o = e.seal_with(&other_key, &[]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("--rotate-key"), "{}", text(&o));
    assert_eq!(
        (e.lines(), checkpoint_sizes(&e.log)),
        before,
        "nothing written"
    );
    // The log still verifies with its own key alone.
    assert_eq!(code(&e.verify()), 0);
    // Asked for: sealed, said so, and verify needs both keys.
    let o = e.seal_with(&other_key, &["--rotate-key"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("key rotated"), "{}", text(&o));
    assert_eq!(
        code(&e.verify()),
        1,
        "the new checkpoint's key is not trusted"
    );
    let both = write_keyring(
        &e.p("both.asc"),
        &[
            &sequoia_openpgp::Cert::from_bytes(&std::fs::read(&e.public).unwrap()).unwrap(),
            &other,
        ],
    );
    let o = e.verify_with(&e.log, &both, &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // The same key again needs nothing.
    e.receive(b"again\n", &[]);
    assert_eq!(code(&e.seal_with(&other_key, &[])), 0);
}

#[test]
fn checkpoint_signatures_of_several_armored_blocks_are_read_whole() {
    // Waits for the OpenPGP layer to read every armored block of a SIG (the
    // lead's change): an unknown signer's block first, the log key's after.
    let e = setup();
    e.receive(BUILD, &[]);
    assert_eq!(code(&e.seal()), 0);
    let body = std::fs::read(e.log.join("checkpoints/5")).unwrap();
    let stranger = gen_key("Stranger <s@example.org>");
    let theirs = armor_sig(&sign_detached(&stranger, &body));
    let ours = std::fs::read(e.log.join("checkpoints/5.asc")).unwrap();
    std::fs::write(
        e.log.join("checkpoints/5.asc"),
        [theirs.clone(), ours.clone()].concat(),
    )
    .unwrap();
    let o = e.verify();
    assert_eq!(code(&o), 0, "{}", text(&o));
    // And the other order.
    std::fs::write(e.log.join("checkpoints/5.asc"), [ours, theirs].concat()).unwrap();
    let o = e.verify();
    assert_eq!(code(&o), 0, "{}", text(&o));
}
