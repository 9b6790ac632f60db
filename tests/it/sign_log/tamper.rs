//! verify against a sealed log that was changed afterwards: edited, removed or
//! reordered records, and a newest seal removed (caught by what was pinned).

use super::*;

fn tampered(e: &Env, name: &str, edit: impl Fn(&mut Vec<String>)) -> Output {
    let dir = e.tmp.path().join(name);
    std::fs::create_dir_all(dir.join("checkpoints")).unwrap();
    for f in std::fs::read_dir(e.log.join("checkpoints")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dir.join("checkpoints").join(f.file_name())).unwrap();
    }
    let mut lines = e.lines();
    edit(&mut lines);
    std::fs::write(dir.join("log.jsonl"), lines.join("\n") + "\n").unwrap();
    e.verify_in(&dir)
}

#[test]
fn tampering_after_a_seal_is_detected() {
    type Edit = Box<dyn Fn(&mut Vec<String>)>;
    let e = setup();
    e.receive(BUILD, &[]);
    assert_eq!(code(&e.seal()), 0);
    e.receive(b"second session\n", &[]);
    assert_eq!(code(&e.seal()), 0);
    assert_eq!(code(&e.verify()), 0);
    // Every record the last checkpoint covers (0..9; record 9 is the seal
    // record, checked against the checkpoint it names): changed, removed,
    // duplicated, swapped with the next, or the file cut before it.
    let sealed = 9;
    assert!(e.lines()[9].contains("\"type\":\"seal\""));
    for i in 0..sealed {
        let flip = move |l: &mut Vec<String>| {
            // Another last digit of the time: still a valid record.
            let t = l[i].find("Z\"").unwrap() - 1;
            let d = l[i].as_bytes()[t];
            let nd = if d == b'9' { '8' } else { (d + 1) as char };
            l[i].replace_range(t..t + 1, &nd.to_string());
        };
        let edits: Vec<(&str, Edit)> = vec![
            ("flip", Box::new(flip)),
            (
                "delete",
                Box::new(move |l: &mut Vec<String>| drop(l.remove(i))),
            ),
            (
                "insert",
                Box::new(move |l: &mut Vec<String>| l.insert(i, l[i].clone())),
            ),
            (
                "swap",
                Box::new(move |l: &mut Vec<String>| l.swap(i, i + 1)),
            ),
            (
                "truncate",
                Box::new(move |l: &mut Vec<String>| l.truncate(i)),
            ),
        ];
        for (what, edit) in edits {
            let o = tampered(&e, &format!("{what}-{i}"), edit);
            assert_eq!(code(&o), 1, "{what} record {i}: {}", text(&o));
            assert!(text(&o).contains("record"), "{what} {i}: {}", text(&o));
        }
    }
    // The seal record itself must name its checkpoint exactly.
    let o = tampered(&e, "seal-root", |l: &mut Vec<String>| {
        let at = l[9].find("\"root\":\"").unwrap() + 8;
        let c = if &l[9][at..at + 1] == "A" { "B" } else { "A" };
        l[9].replace_range(at..at + 1, c);
    });
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        text(&o).contains("record 9: seal record does not match"),
        "{}",
        text(&o)
    );
    let cases: Vec<(&str, Edit)> = vec![
        (
            "flip",
            Box::new(|l: &mut Vec<String>| l[2] = l[2].replace("cc -o", "cc -O")),
        ),
        (
            "delete",
            Box::new(|l: &mut Vec<String>| {
                l.remove(2);
            }),
        ),
        (
            "insert",
            Box::new(|l: &mut Vec<String>| l.insert(2, l[2].clone())),
        ),
        ("reorder", Box::new(|l: &mut Vec<String>| l.swap(2, 3))),
        ("truncate", Box::new(|l: &mut Vec<String>| l.truncate(4))),
        (
            "truncate-tail",
            Box::new(|l: &mut Vec<String>| {
                l.pop();
                l.pop();
            }),
        ),
    ];
    for (name, edit) in cases {
        let o = tampered(&e, name, edit);
        assert_eq!(code(&o), 1, "{name}: {}", text(&o));
        assert!(
            text(&o).contains("record") || text(&o).contains("truncated"),
            "{name}: {}",
            text(&o)
        );
    }
    // Untrusted key, other origin.
    let other = gen_key("Not the log key");
    let ring = write_keyring(&e.tmp.path().join("other.asc"), &[&other]);
    let o = e.verify_with(&e.log, &ring, &[]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let o = e.verify_with(&e.log, &e.public, &["--origin", "elsewhere"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // The whole file removed after a seal.
    let gone = e.tmp.path().join("gone");
    std::fs::create_dir_all(gone.join("checkpoints")).unwrap();
    for f in ["5", "5.asc"] {
        std::fs::copy(
            e.log.join("checkpoints").join(f),
            gone.join("checkpoints").join(f),
        )
        .unwrap();
    }
    let o = e.verify_in(&gone);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // Never sealed: nothing to verify with.
    let fresh = setup();
    fresh.receive(BUILD, &[]);
    assert_eq!(code(&fresh.verify()), 3);
}

#[test]
fn removing_the_newest_seal_is_caught_by_what_was_pinned() {
    let e = setup();
    e.receive(BUILD, &[]);
    assert_eq!(code(&e.seal()), 0);
    e.receive(b"second session\n", &[]);
    assert_eq!(code(&e.seal()), 0);
    let sizes = checkpoint_sizes(&e.log);
    let newest = *sizes.last().unwrap();
    // The gate or an auditor kept the newest checkpoint elsewhere.
    let kept = e.p("kept-checkpoint");
    std::fs::copy(e.log.join(format!("checkpoints/{newest}")), &kept).unwrap();
    std::fs::copy(
        e.log.join(format!("checkpoints/{newest}.asc")),
        e.p("kept-checkpoint.asc"),
    )
    .unwrap();
    let k = kept.to_str().unwrap();
    let pinned = |dir: &Path, extra: &[&str]| e.verify_with(dir, &e.public, extra);
    assert_eq!(code(&pinned(&e.log, &["--checkpoint", k])), 0);
    let n = newest.to_string();
    assert_eq!(code(&pinned(&e.log, &["--expect-size", &n])), 0);
    assert_eq!(code(&pinned(&e.log, &["--require-sealed"])), 0);
    // The attack: delete the newest checkpoint and its seal record, then
    // edit what is now an "unsealed tail".
    let dir = e.p("rolled-back");
    std::fs::create_dir_all(dir.join("checkpoints")).unwrap();
    for s in &sizes[..sizes.len() - 1] {
        for ext in ["", ".asc"] {
            let f = format!("checkpoints/{s}{ext}");
            std::fs::copy(e.log.join(&f), dir.join(&f)).unwrap();
        }
    }
    let mut lines = e.lines();
    assert!(lines.pop().unwrap().contains("\"type\":\"seal\""));
    let edited = lines.len() - 2;
    lines[edited] = lines[edited].replace("second session", "rewritten session");
    std::fs::write(dir.join("log.jsonl"), lines.join("\n") + "\n").unwrap();
    // Plain verify has no way to know: exit 0, but the session is marked.
    let o = pinned(&dir, &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("[UNSEALED"), "{}", text(&o));
    let o = pinned(&dir, &["--json"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["sessions"][0]["sealed"], true);
    assert_eq!(j["sessions"][1]["sealed"], false);
    // Each pin refuses it.
    for extra in [
        vec!["--checkpoint", k],
        vec!["--expect-size", &n],
        vec!["--require-sealed"],
    ] {
        let o = pinned(&dir, &extra);
        assert_eq!(code(&o), 1, "{extra:?}: {}", text(&o));
        assert!(o.stdout.is_empty(), "{extra:?}: no summary printed");
    }
    // Without the edit, the kept checkpoint still proves the records: the
    // tree at its size is recomputed, not only its presence checked.
    let mut lines = e.lines();
    lines[edited] = lines[edited].replace("second session", "rewritten session");
    let edited_dir = e.p("edited");
    std::fs::create_dir_all(edited_dir.join("checkpoints")).unwrap();
    for s in &sizes[..sizes.len() - 1] {
        for ext in ["", ".asc"] {
            let f = format!("checkpoints/{s}{ext}");
            std::fs::copy(e.log.join(&f), edited_dir.join(&f)).unwrap();
        }
    }
    let f = format!("checkpoints/{newest}");
    std::fs::copy(e.log.join(&f), edited_dir.join(&f)).unwrap();
    std::fs::copy(
        e.log.join(format!("{f}.asc")),
        edited_dir.join(format!("{f}.asc")),
    )
    .unwrap();
    std::fs::write(edited_dir.join("log.jsonl"), lines.join("\n") + "\n").unwrap();
    assert_eq!(code(&pinned(&edited_dir, &["--checkpoint", k])), 1);
    // A pinned checkpoint of another log (another origin) is refused.
    let f2 = setup();
    f2.receive(BUILD, &[]);
    let o = f2.seal_with(&e.key, &["--origin", "elsewhere.example/log"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let foreign = f2.log.join("checkpoints/5");
    let o = pinned(&e.log, &["--checkpoint", foreign.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // Unsealed sessions are marked in a live log too.
    e.receive(b"third\n", &[]);
    let o = e.verify();
    assert!(
        text(&o).contains("session 3 \"core-admin\""),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("[UNSEALED"), "{}", text(&o));
    assert_eq!(code(&pinned(&e.log, &["--require-sealed"])), 1);
}
