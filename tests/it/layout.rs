//! The tests' own layout: one integration-test binary (tests/it), and every
//! file under it compiled. Cargo makes a binary of each tests/NAME.rs and
//! tests/NAME/main.rs, each linking the whole crate again; and a module
//! file no `mod` line names is silently never built, its tests never run.

use crate::common::files_with_extension;
use std::path::{Path, PathBuf};

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

#[test]
fn the_integration_tests_are_one_binary() {
    let tests = tests_dir();
    let mut binaries = Vec::new();
    for e in std::fs::read_dir(&tests).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "rs") || p.join("main.rs").is_file() {
            binaries.push(p.strip_prefix(&tests).unwrap().display().to_string());
        }
    }
    binaries.sort();
    assert_eq!(
        binaries,
        ["it"],
        "every test binary but tests/it links the whole crate once more: make \
         tests/NAME.rs a module, tests/it/NAME.rs with `mod NAME;` in tests/it/main.rs"
    );
}

#[test]
fn every_file_under_tests_it_is_a_declared_module() {
    let it = tests_dir().join("it");
    let files = files_with_extension(&it, "rs");
    assert!(files.len() > 10, "{files:?}");
    for f in files {
        let stem = f.file_stem().unwrap().to_str().unwrap();
        if f == it.join("main.rs") {
            continue;
        }
        // NAME/mod.rs is declared as NAME by its parent directory's module.
        let (name, dir) = if stem == "mod" {
            let d = f.parent().unwrap();
            (
                d.file_name().unwrap().to_str().unwrap(),
                d.parent().unwrap(),
            )
        } else {
            (stem, f.parent().unwrap())
        };
        // The module of directory `dir`: tests/it/main.rs, DIR/mod.rs, or
        // DIR.rs beside it.
        let parent = if dir == it {
            it.join("main.rs")
        } else if dir.join("mod.rs").is_file() {
            dir.join("mod.rs")
        } else {
            dir.with_extension("rs")
        };
        let text = std::fs::read_to_string(&parent).unwrap_or_else(|e| {
            panic!(
                "{}: no parent module {}: {e}",
                f.display(),
                parent.display()
            )
        });
        let declared = text.lines().any(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            l == format!("mod {name};")
        });
        assert!(
            declared,
            "{} is never compiled: add `mod {name};` to {}",
            f.display(),
            parent.display()
        );
    }
}
