//! Git objects and refs.

use build_verify::git::{self, Format, Signature};

/// Tag and commit objects: headers, and the signature split from the end.
/// A split tag signature is the object's tail: payload + signature = raw.
pub fn git_objects(data: &[u8]) {
    let _ = git::tag_headers(data);
    if let Signature::OpenPgp { payload, signature } = git::tag_signature(data) {
        assert_eq!([payload, signature].concat(), data);
    }
    for format in [Format::Sha1, Format::Sha256] {
        if let Signature::OpenPgp { payload, signature } = git::commit_signature(data, format) {
            assert!(payload.len() < data.len() && !signature.is_empty());
        }
    }
}

/// packed-refs and a loose tag ref as a repository holds them, read
/// through gix as verify-tag reads them. The first line of the input is
/// the loose ref, the rest packed-refs.
pub fn refs(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let g = dir.path();
    let (loose, packed) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => data.split_at(i + 1),
        None => (data, &b""[..]),
    };
    let ok = std::fs::create_dir_all(g.join("refs/tags"))
        .and_then(|()| std::fs::create_dir_all(g.join("objects")))
        .and_then(|()| std::fs::write(g.join("HEAD"), "ref: refs/heads/main\n"))
        .and_then(|()| std::fs::write(g.join("packed-refs"), packed))
        .and_then(|()| std::fs::write(g.join("refs/tags/loose"), loose));
    if ok.is_err() {
        return;
    }
    if let Ok(repo) = git::Repo::open(g) {
        let _ = repo.tags();
        let _ = repo.ref_name("HEAD");
        let _ = repo.ref_name("loose");
    }
}

// ---------------------------------------------------------------------
// sign-log: records, directives, checkpoints and notes, proofs, the gate.
