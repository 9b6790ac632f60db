//! The real history of two Qubes components against the keyring Qubes
//! Builder ships today (2021-12, older self-signatures stripped), with Qubes'
//! own `scripts/verify-git-tag` as the oracle: its exit code for every
//! tagged commit is recorded in tests/data/qubes/verdicts.tsv (see the
//! README there). Every commit must get the old script's verdict, except
//! SHA-1 data signatures, which need `--allow-sha1-before`.

use crate::common;

use common::git::git;
use common::text;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_verify-tag");
const ROOT: &str = "427F11FD0FAA4B080123F01CDDFA1A3E36879494";
const MAREK: &str = "0064428F455451B3EBE78A7F063938BA42CFA724";

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/qubes")
        .join(name)
}

/// A bare repository holding the component's tags and tagged commits, its
/// tags packed and peeled as in a clone. Made once per test run.
fn repo(component: &str) -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        for c in ["linux-utils", "app-linux-split-gpg"] {
            let r = d.path().join(c);
            std::fs::create_dir_all(&r).unwrap();
            git(&r, &["init", "-q", "--bare"]);
            let pack = r.join("objects/pack/pack-qubes.pack");
            std::fs::copy(data(&format!("{c}.pack")), &pack).unwrap();
            git(&r, &["index-pack", pack.to_str().unwrap()]);
            std::fs::copy(data(&format!("{c}.refs")), r.join("packed-refs")).unwrap();
        }
        d
    });
    Box::leak(dir.path().join(component).into_boxed_path())
}

struct Row {
    component: String,
    commit: String,
    old_exit: i32,
    cause: String,
}

fn verdicts() -> Vec<Row> {
    let text = std::fs::read_to_string(data("verdicts.tsv")).unwrap();
    let rows: Vec<Row> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Row {
                component: f[0].into(),
                commit: f[1].into(),
                old_exit: f[2].parse().unwrap(),
                cause: f.get(3).unwrap_or(&"").to_string(),
            }
        })
        .collect();
    assert_eq!(rows.len(), 543, "verdicts.tsv is complete");
    rows
}

fn verify(row: &Row, extra: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--keyring")
        .arg(data("qubes-developers-keys.asc"))
        .args(["--trust-root", ROOT])
        .args(extra)
        .arg(repo(&row.component))
        .arg(&row.commit)
        .output()
        .unwrap()
}

/// Run verify-tag on every row (two threads), returning each row's output.
fn run_all(rows: &[Row], extra: &[&str]) -> Vec<Output> {
    let half = rows.len() / 2;
    let (a, b) = rows.split_at(half);
    std::thread::scope(|s| {
        let other = s.spawn(|| b.iter().map(|r| verify(r, extra)).collect::<Vec<_>>());
        let mut out: Vec<Output> = a.iter().map(|r| verify(r, extra)).collect();
        out.extend(other.join().unwrap());
        out
    })
}

/// A row and its run, for a failed assertion's message.
fn what(row: &Row, o: &Output) -> String {
    format!(
        "{} {} ({}): {}",
        row.component,
        row.commit,
        row.cause,
        text(o)
    )
}

fn is_sha1(cause: &str) -> bool {
    cause == "sha1" || cause == "binding-before-2014-04-30"
}

#[test]
fn real_history_gets_the_old_scripts_verdicts() {
    let rows = verdicts();
    let outs = run_all(&rows, &[]);
    let mut counts = [0usize; 4];
    for (row, o) in rows.iter().zip(&outs) {
        let code = o.status.code();
        let what = what(row, o);
        match (row.old_exit, row.cause.as_str()) {
            (0, "") => {
                assert_eq!(code, Some(0), "{what}");
                counts[0] += 1;
            }
            // Signed before the keyring's refresh: the stripped-binding rule.
            (0, "ok-with-2014-key") => {
                assert_eq!(code, Some(0), "{what}");
                assert!(text(o).contains("probably stripped"), "{what}");
                assert!(text(o).contains(MAREK), "{what}");
                counts[1] += 1;
            }
            // SHA-1 data signatures are refused by default.
            (0, c) if is_sha1(c) => {
                assert_eq!(code, Some(1), "{what}");
                assert!(
                    text(o)
                        .contains(" refused: SHA-256 or stronger is required (--allow-sha1-before"),
                    "{what}"
                );
                counts[2] += 1;
            }
            (1, "") => {
                assert_eq!(code, Some(1), "{what}");
                assert!(!text(o).contains("Good tag"), "{what}");
                counts[3] += 1;
            }
            other => panic!("unexpected row {other:?}"),
        }
    }
    // Each category is present, so none of the arms above is vacuous.
    assert_eq!(counts, [140, 268, 79, 56]);
}

#[test]
fn sha1_tags_verify_with_allow_sha1_before() {
    let rows = verdicts();
    let outs = run_all(&rows, &["--allow-sha1-before", "2017-01-01"]);
    let mut sha1 = 0;
    for (row, o) in rows.iter().zip(&outs) {
        let what = what(row, o);
        assert_eq!(o.status.code(), Some(row.old_exit), "{what}");
        if is_sha1(&row.cause) {
            assert!(text(o).contains("warning: SHA-1 signature by"), "{what}");
            sha1 += 1;
        }
    }
    assert_eq!(sha1, 79);
}

#[test]
fn the_sha1_date_is_a_cutoff() {
    // The SHA-1 tags of the history were made in 2014-2016: a cutoff in
    // 2014 keeps the later ones refused.
    let rows = verdicts();
    let sha1: Vec<&Row> = rows.iter().filter(|r| is_sha1(&r.cause)).collect();
    let (mut passed, mut refused) = (0, 0);
    for row in sha1 {
        let o = verify(row, &["--allow-sha1-before", "2014-07-01"]);
        match o.status.code() {
            Some(0) => passed += 1,
            Some(1) => {
                assert!(
                    text(&o)
                        .contains("refused: it is not older than --allow-sha1-before 2014-07-01"),
                    "{}",
                    text(&o)
                );
                refused += 1
            }
            other => panic!("{other:?}: {}", text(&o)),
        }
    }
    assert!(
        passed > 0 && refused > 0,
        "{passed} passed, {refused} refused"
    );
}

#[test]
fn the_drop_in_shim_on_real_history() {
    // contrib/qubes/verify-git-tag in a builder layout with today's keyring:
    // the shim's flags reach verify-tag (VERIFY_TAG_FLAGS).
    let builder = tempfile::tempdir().unwrap();
    std::fs::copy(
        data("qubes-developers-keys.asc"),
        builder.path().join("qubes-developers-keys.asc"),
    )
    .unwrap();
    let rows = verdicts();
    let shim = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/qubes/verify-git-tag");
    let run = |row: &Row, flags: &str| {
        Command::new("bash")
            .arg(&shim)
            .arg(repo(&row.component))
            .arg(&row.commit)
            .env("BUILDER_DIR", builder.path())
            .env("VERIFY_TAG", BIN)
            .env("VERIFY_TAG_FLAGS", flags)
            .env_remove("KEYS_DIR")
            .env_remove("CHECK")
            .env_remove("NO_CHECK")
            .output()
            .unwrap()
    };
    let stripped = rows.iter().find(|r| r.cause == "ok-with-2014-key").unwrap();
    let o = run(stripped, "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("---> Good tag "),
        "{}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(MAREK),
        "{}",
        text(&o)
    );
    let sha1 = rows.iter().find(|r| r.cause == "sha1").unwrap();
    assert_eq!(run(sha1, "").status.code(), Some(1));
    let o = run(sha1, "--allow-sha1-before 2017-01-01 -q");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "",
        "-q reached verify-tag"
    );
    let refused = rows.iter().find(|r| r.old_exit == 1).unwrap();
    assert_eq!(
        run(refused, "--allow-sha1-before 2017-01-01").status.code(),
        Some(1)
    );
}
