//! Builders agreeing (issue 16): products match only when enough independent
//! logs show the same bytes.

use super::*;

/// A builder: its own log and signing key.
fn builder(e: &Env, n: usize, files: &[(&str, &[u8])]) -> (PathBuf, PathBuf, PathBuf) {
    let k = gen_key(&format!("Builder {n} <b{n}@example.org>"));
    let key = e.p(&format!("b{n}.key"));
    std::fs::write(&key, armor_tsk(&k)).unwrap();
    let public = write_keyring(&e.p(&format!("b{n}.pub")), &[&k]);
    let dir = e.p(&format!("b{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    let log = e.p(&format!("log{n}"));
    let out = build_output(&dir, "build", files);
    receive_into(&log, &out, &["--source", &format!("builder{n}")]);
    assert_eq!(code(&seal_dir(&log, &key)), 0);
    (log, key, public)
}

fn agree(logs: &[&Path], rings: &[&Path], extra: &[&str]) -> Output {
    let mut a = vec!["agree"];
    for l in logs {
        a.extend(["--log", l.to_str().unwrap()]);
    }
    for r in rings {
        a.extend(["--keyring", r.to_str().unwrap()]);
    }
    a.extend_from_slice(extra);
    sl(&a, b"", &[])
}

#[test]
fn builders_agree_only_when_enough_independent_logs_match() {
    let e = setup();
    let rpm: &[u8] = b"reproducible rpm";
    let (l1, k1, p1) = builder(
        &e,
        1,
        &[("core-admin-4.2.rpm", rpm), ("core-admin-doc.rpm", b"doc")],
    );
    let (l2, _, p2) = builder(
        &e,
        2,
        &[("core-admin-4.2.rpm", rpm), ("core-admin-doc.rpm", b"doc")],
    );
    let (l3, _, p3) = builder(
        &e,
        3,
        &[("core-admin-4.2.rpm", rpm), ("core-admin-doc.rpm", b"DOC")],
    );
    let logs = [l1.as_path(), &l2, &l3];
    let rings = [p1.as_path(), &p2, &p3];
    // All three by default: the doc package differs on builder 3.
    let o = agree(&logs, &rings, &[]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("core-admin-doc.rpm"), "{t}");
    assert!(
        t.lines()
            .any(|l| l.starts_with("core-admin-4.2.rpm")
                && l.contains("agreed (3 agree; 3 required)")),
        "{t}"
    );
    assert!(
        t.lines().any(|l| l.starts_with("core-admin-doc.rpm")
            && l.contains("NOT AGREED (2 agree, 1 disagrees; 3 required)")),
        "{t}"
    );
    assert!(t.contains("builder 3: "), "{t}");
    assert_eq!(code(&agree(&logs, &rings, &["--min", "2"])), 0);
    assert_eq!(
        code(&agree(&logs, &rings, &["--product", "core-admin-4.2.rpm"])),
        0
    );
    let o = agree(&logs, &rings, &["--json", "--min", "3"]);
    assert_eq!(code(&o), 1);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["ok"], false);
    assert_eq!(j["builders"].as_array().unwrap().len(), 3);
    let doc = j["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "core-admin-doc.rpm")
        .unwrap();
    assert_eq!(doc["agreeing"], 2);
    assert_eq!(doc["digests"][0], doc["digests"][1]);
    assert_ne!(doc["digests"][0], doc["digests"][2]);
    // Two logs sealed by one key are one builder, not two votes.
    let again = e.p("log1-again");
    let out = build_output(&e.p("b1"), "again", &[("core-admin-doc.rpm", b"DOC")]);
    sl(
        &[
            "receive",
            "--log",
            again.to_str().unwrap(),
            "--name",
            "core-admin",
        ],
        &out,
        &[],
    );
    assert_eq!(code(&seal_dir(&again, &k1)), 0);
    let o = agree(
        &[&again, &l3],
        &[&p1, &p3],
        &["--min", "2", "--product", "core-admin-doc.rpm"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = agree(
        &[&again, &l1, &l3],
        &[&p1, &p3],
        &["--min", "2", "--product", "core-admin-doc.rpm"],
    );
    assert_eq!(code(&o), 1, "one key, two logs, two digests: {}", text(&o));
    // Only sealed records count.
    let late = build_output(&e.p("b2"), "late", &[("late.rpm", b"late")]);
    sl(
        &[
            "receive",
            "--log",
            l2.to_str().unwrap(),
            "--name",
            "core-admin",
        ],
        &late,
        &[],
    );
    let o = agree(&[&l2], &[&p2], &["--product", "late.rpm"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    // A tampered log fails the whole comparison.
    let mut lines: Vec<String> = std::fs::read_to_string(l3.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines[2] = lines[2].replace("cc -o", "cc -O");
    std::fs::write(l3.join("log.jsonl"), lines.join("\n") + "\n").unwrap();
    let o = agree(&logs, &rings, &["--min", "2"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        text(&o).contains(&format!("log {}", l3.display())),
        "{}",
        text(&o)
    );
}
