//! Real git repositories in temp dirs, with tags and commits signed by keys
//! made with sequoia at test time (objects written with `git hash-object`).
#![allow(dead_code)]

use sequoia_openpgp::Cert;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

pub fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

pub fn git_stdin(dir: &Path, args: &[&str], input: &[u8]) -> String {
    let mut child = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// A repository with one commit; `sha256` picks the object format.
pub fn init(dir: &Path, sha256: bool) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let mut args = vec!["init", "-q", "-b", "main"];
    if sha256 {
        args.push("--object-format=sha256");
    }
    git(dir, &args);
    git(dir, &["config", "user.name", "Dev"]);
    git(dir, &["config", "user.email", "dev@example.org"]);
    commit(dir, "initial")
}

/// A new commit on the current branch; returns its id.
pub fn commit(dir: &Path, msg: &str) -> String {
    std::fs::write(dir.join("file"), msg).unwrap();
    git(dir, &["add", "file"]);
    git(dir, &["commit", "-q", "-m", msg]);
    git(dir, &["rev-parse", "HEAD"])
}

/// The text of an annotated tag object (unsigned).
pub fn tag_text(object: &str, name: &str, message: &str) -> String {
    format!("object {object}\ntype commit\ntag {name}\ntagger Dev <dev@example.org> 1700000000 +0000\n\n{message}\n")
}

/// Write a tag object from `text`, signed by `signers` (each appends an
/// armored signature), publish it as refs/tags/`ref_name`; returns its id.
pub fn write_tag(dir: &Path, text: &str, signers: &[&Cert], ref_name: &str) -> String {
    let mut raw = text.as_bytes().to_vec();
    for c in signers {
        let sig = super::sign_detached(c, text.as_bytes());
        raw.extend(super::armor_sig(&sig));
    }
    let id = git_stdin(dir, &["hash-object", "-t", "tag", "-w", "--stdin"], &raw);
    git(dir, &["update-ref", &format!("refs/tags/{ref_name}"), &id]);
    id
}

/// A signed tag named `name` at `commit`.
pub fn signed_tag(dir: &Path, commit: &str, name: &str, signer: &Cert) -> String {
    write_tag(
        dir,
        &tag_text(commit, name, &format!("release {name}")),
        &[signer],
        name,
    )
}

/// Write raw bytes as a tag object (no fsck: forged objects too) and
/// publish it as refs/tags/`name`; returns its id.
pub fn write_raw_tag(dir: &Path, raw: &[u8], name: &str) -> String {
    let id = git_stdin(
        dir,
        &["hash-object", "-t", "tag", "-w", "--literally", "--stdin"],
        raw,
    );
    git(dir, &["update-ref", &format!("refs/tags/{name}"), &id]);
    id
}

/// A tag object text followed by one armored signature over it by `signer`.
pub fn signed_tag_bytes(text: &str, signer: &Cert) -> Vec<u8> {
    let mut raw = text.as_bytes().to_vec();
    raw.extend(super::armor_sig(&super::sign_detached(
        signer,
        text.as_bytes(),
    )));
    raw
}

/// The header git signs commits under in this repository's object format.
pub fn commit_sig_header(dir: &Path) -> &'static str {
    if git(dir, &["rev-parse", "--show-object-format"]) == "sha256" {
        "gpgsig-sha256"
    } else {
        "gpgsig"
    }
}

/// Replace HEAD by a copy of it carrying a signature header by `signer`.
pub fn sign_head_commit(dir: &Path, signer: &Cert) -> String {
    let raw = git(dir, &["cat-file", "commit", "HEAD"]) + "\n";
    let sig = super::armor_sig(&super::sign_detached(signer, raw.as_bytes()));
    let sig = String::from_utf8(sig).unwrap();
    let (head, body) = raw.split_once("\n\n").unwrap();
    let folded = sig.trim_end().replace('\n', "\n ");
    let header = commit_sig_header(dir);
    let signed = format!("{head}\n{header} {folded}\n\n{body}");
    let id = git_stdin(
        dir,
        &["hash-object", "-t", "commit", "-w", "--stdin"],
        signed.as_bytes(),
    );
    git(dir, &["update-ref", "HEAD", &id]);
    id
}

/// Many unsigned annotated tags at `commit`, written as one pack (indexed
/// by `git index-pack`) and a peeled packed-refs file, as a clone has them:
/// fast-import would write a loose ref per tag, which takes minutes for
/// 100,000 tags. SHA-1 repositories only.
pub fn packed_tags(dir: &Path, commit: &str, names: &[String]) {
    use sha1::{Digest, Sha1};
    use std::fmt::Write as _;
    let mut pack = Vec::new();
    pack.extend_from_slice(b"PACK");
    pack.extend_from_slice(&2u32.to_be_bytes());
    pack.extend_from_slice(&(names.len() as u32).to_be_bytes());
    let mut refs = String::from("# pack-refs with: peeled fully-peeled sorted \n");
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort();
    let mut ids = std::collections::HashMap::new();
    for name in &sorted {
        let body = tag_text(commit, name, "msg");
        let mut h = Sha1::new();
        h.update(format!("tag {}\0", body.len()).as_bytes());
        h.update(body.as_bytes());
        ids.insert(name.to_string(), hex_of(&h.finalize()));
        // Object header: type 4 (tag) and the size, as a varint.
        let mut size = body.len();
        let mut byte = (4u8 << 4) | (size & 0x0f) as u8;
        size >>= 4;
        while size > 0 {
            pack.push(byte | 0x80);
            byte = (size & 0x7f) as u8;
            size >>= 7;
        }
        pack.push(byte);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(body.as_bytes()).unwrap();
        pack.extend(z.finish().unwrap());
    }
    let trailer = Sha1::digest(&pack);
    pack.extend_from_slice(&trailer);
    for name in &sorted {
        writeln!(refs, "{} refs/tags/{name}\n^{commit}", ids[name.as_str()]).unwrap();
    }
    let pack_path = dir.join(".git/objects/pack/pack-tags.pack");
    std::fs::write(&pack_path, pack).unwrap();
    git(dir, &["index-pack", pack_path.to_str().unwrap()]);
    std::fs::write(dir.join(".git/packed-refs"), refs).unwrap();
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
