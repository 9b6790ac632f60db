//! Inclusion and consistency proofs, verified against checkpoints alone and
//! their signatures.

use super::*;

#[test]
fn proofs_verify_against_checkpoints_alone() {
    let e = setup();
    e.receive(BUILD, &[]);
    e.seal();
    e.receive(b"more\nlines\n", &[]);
    e.seal();
    let sizes: Vec<u64> = {
        let mut v: Vec<u64> = std::fs::read_dir(e.log.join("checkpoints"))
            .unwrap()
            .filter_map(|f| f.unwrap().file_name().to_str().unwrap().parse().ok())
            .collect();
        v.sort();
        v
    };
    let (m, n) = (sizes[0], sizes[1]);
    let cp = |s: u64| e.log.join("checkpoints").join(s.to_string());
    let o = sl(
        &[
            "prove",
            "inclusion",
            "--log",
            e.l(),
            "2",
            "--size",
            &n.to_string(),
        ],
        b"",
        &[],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let proof = e.tmp.path().join("inc.json");
    std::fs::write(&proof, &o.stdout).unwrap();
    let ok = verify_proof(&proof, &[&cp(n)], &["--unsigned"]);
    assert_eq!(code(&ok), 0, "{}", text(&ok));
    // Wrong checkpoint, tampered leaf.
    let wrong = verify_proof(&proof, &[&cp(m)], &["--unsigned"]);
    assert_eq!(code(&wrong), 1);
    let forged = String::from_utf8(o.stdout.clone())
        .unwrap()
        .replace("cc -o", "rm -rf");
    std::fs::write(&proof, forged).unwrap();
    let bad = verify_proof(&proof, &[&cp(n)], &["--unsigned"]);
    assert_eq!(code(&bad), 1);
    let o = sl(
        &[
            "prove",
            "consistency",
            "--log",
            e.l(),
            &m.to_string(),
            &n.to_string(),
        ],
        b"",
        &[],
    );
    std::fs::write(&proof, &o.stdout).unwrap();
    let ok = verify_proof(&proof, &[&cp(m), &cp(n)], &["--unsigned"]);
    assert_eq!(code(&ok), 0, "{}", text(&ok));
    let swapped = verify_proof(&proof, &[&cp(n), &cp(m)], &["--unsigned"]);
    assert_eq!(code(&swapped), 1);
}

#[test]
fn proofs_check_checkpoint_signatures_when_given_keys() {
    let e = setup();
    e.receive(BUILD, &[]);
    e.seal();
    let o = sl(&["prove", "inclusion", "--log", e.l(), "3"], b"", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let proof = e.tmp.path().join("p.json");
    std::fs::write(&proof, &o.stdout).unwrap();
    let cp = e.log.join("checkpoints/5");
    let check = |ring: &Path| verify_proof(&proof, &[&cp], &["--keyring", ring.to_str().unwrap()]);
    let o = check(&e.public);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let other = gen_key("Someone else");
    let ring = write_keyring(&e.tmp.path().join("other.asc"), &[&other]);
    assert_eq!(code(&check(&ring)), 1);
    // Without keys there is nothing to verify the checkpoint with; only an
    // explicit --unsigned checks the proof against the bare roots.
    let bare = |extra: &[&str]| verify_proof(&proof, &[&cp], extra);
    let o = bare(&[]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("verified"));
    let o = bare(&["--unsigned"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("signatures not checked"));
    // A checkpoint without its signature: nothing to verify with.
    let lone = e.tmp.path().join("lone");
    std::fs::copy(&cp, &lone).unwrap();
    let o = verify_proof(&proof, &[&lone], &["--keyring", e.public.to_str().unwrap()]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    // Oversized inputs are refused before they are read whole.
    let huge = e.tmp.path().join("huge.json");
    std::fs::write(&huge, vec![b' '; (1 << 20) + 1]).unwrap();
    let o = verify_proof(&huge, &[&cp], &["--unsigned"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("larger than"), "{}", text(&o));
    // A checkpoint file name claiming a size past 2^63 (names are read
    // before any signature): an error, not an endless loop.
    std::fs::write(e.log.join("checkpoints/9223372036854775809"), b"x").unwrap();
    let o = sl(&["prove", "inclusion", "--log", e.l(), "3"], b"", &[]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    std::fs::remove_file(e.log.join("checkpoints/9223372036854775809")).unwrap();
    // A checkpoint body that is not a few hundred bytes fails verify.
    std::fs::write(e.log.join("checkpoints/5"), vec![b'x'; 64 * 1024 + 1]).unwrap();
    let o = e.verify();
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("larger than"), "{}", text(&o));
    // Sizes past the log are a usage error.
    let o = sl(
        &["prove", "consistency", "--log", e.l(), "2", "50"],
        b"",
        &[],
    );
    assert_eq!(code(&o), 2, "{}", text(&o));
}

#[test]
fn a_failing_proof_says_what_was_expected_and_calculated() {
    let e = setup();
    e.receive(BUILD, &[]);
    e.seal();
    let o = sl(&["prove", "inclusion", "--log", e.l(), "2"], b"", &[]);
    let forged = String::from_utf8(o.stdout)
        .unwrap()
        .replace("cc -o", "rm -rf");
    let p = e.p("p.json");
    std::fs::write(&p, forged).unwrap();
    let cp = e.log.join("checkpoints/5");
    let o = verify_proof(&p, &[&cp], &["--unsigned"]);
    assert_eq!(code(&o), 1);
    let root = std::fs::read_to_string(&cp).unwrap();
    let root = root.lines().nth(2).unwrap();
    assert!(
        text(&o).contains(&format!("expected {root}")) && text(&o).contains("calculated root"),
        "{}",
        text(&o)
    );
}
