//! Replays every committed fuzz corpus file and crash regression through
//! its target (fuzz/src/targets.rs, the same functions cargo fuzz runs):
//! CI checks them on every run without fuzzing. Fuzzing itself:
//! `bash fuzz/run TARGET SECONDS` (see BENCHMARKS.md, FUZZING).

#[path = "../../fuzz/src/targets.rs"]
#[allow(dead_code)]
mod targets;

use std::path::Path;

fn replay(name: &str, target: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let r = std::panic::catch_unwind(|| target(&data));
            assert!(r.is_ok(), "{} fails its target", path.display());
            n += 1;
        }
    }
    assert!(n > 0, "no corpus for {name}");
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                replay(stringify!($name), targets::$name);
            }
        )*
    };
}

replay_tests!(
    hashlist,
    git_objects,
    openpgp_keyring,
    openpgp_signature,
    cleartext,
    decompress,
    refs,
    log_record,
    log_directive,
    checkpoint,
    proof,
    rpm_header,
    rpm_package,
    deb822,
    attest,
    rpm_repomd,
    rpm_primary,
    metalink,
    tlog_tile,
    tlog_bundle,
    tlog_state,
    tlog_proof,
    tlog_policy,
    witness_request,
    witness_state,
    http_request,
);

/// The fixtures the targets' invariants compare with verify (an invariant
/// "only the real package passes" is vacuous if the real one fails too).
#[test]
fn fixtures_verify() {
    targets::fixtures_verify();
    targets::witness_fixtures_verify();
}
