//! Stock packages through fetch-verified (issue 13): RPMs by their own
//! signature as rpmkeys judges them, a real RPM Fusion package, and a Debian
//! repository's chain from InRelease to the .deb.

use super::*;
use common::pkg::shared_rpms as pkg_rpms;
use common::pkg::{self as pk, rpm_accepts, rpm_layout, Deb, Keys};

fn pkg_deb() -> Option<(&'static Keys, &'static Deb)> {
    pk::shared_deb(&[])
}

/// fetch-verified in `dir` (made if missing) with the test flags and a
/// clean environment.
fn fetch_in(dir: &Path, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut cmd = tool_in(dir, RUN_FLAGS);
    for a in args {
        cmd.arg(a.as_ref());
    }
    cmd.output().unwrap()
}

#[test]
fn rpms_verified_by_their_own_signature_as_rpmkeys_says() {
    let Some((k, r)) = pkg_rpms() else { return };
    let e = setup();
    let read = |p: &Path| std::fs::read(p).unwrap();
    let good = read(&r.rsa);
    let other = read(&r.other);
    let (main, payload) = rpm_layout(&good);
    let (other_main, _) = rpm_layout(&other);
    let n = good.len();
    let flip = |at: usize| {
        let mut b = good.clone();
        b[at] ^= 1;
        b
    };
    let swapped = [&good[..96], &other[96..other_main], &good[main..]].concat();
    let cases: Vec<(&str, Vec<u8>, &Path, &Path, i32)> = vec![
        ("RSA", good.clone(), &k.rsa_asc, &r.db_all, 0),
        ("EdDSA", read(&r.ed), &k.ed_asc, &r.db_all, 0),
        ("with --rpmv3", read(&r.v3), &k.rsa_asc, &r.db_all, 0),
        ("unsigned", read(&r.unsigned), &k.rsa_asc, &r.db_all, 3),
        ("wrong key", good.clone(), &k.other_asc, &r.db_other, 1),
        (
            "corrupted header",
            flip(payload - 8),
            &k.rsa_asc,
            &r.db_all,
            1,
        ),
        ("corrupted payload", flip(n - 8), &k.rsa_asc, &r.db_all, 1),
        (
            "truncated",
            good[..payload + (n - payload) / 2].to_vec(),
            &k.rsa_asc,
            &r.db_all,
            1,
        ),
        (
            "signature of another package",
            swapped,
            &k.rsa_asc,
            &r.db_all,
            1,
        ),
    ];
    let scratch = e.dir.path().join("oracle");
    std::fs::create_dir_all(&scratch).unwrap();
    for (i, (what, bytes, key, db, want)) in cases.into_iter().enumerate() {
        let f = scratch.join(format!("{i}.rpm"));
        std::fs::write(&f, &bytes).unwrap();
        let rpm_ok = rpm_accepts(db, &f);
        let url = e
            .server
            .route(&format!("/{i}/bvtest-1.0-1.noarch.rpm"), Reply::Body(bytes));
        let o = e.run(&["--keyring", key.to_str().unwrap(), &url]);
        assert_eq!(code(&o), want, "{what}: {}", stderr(&o));
        assert_eq!(want == 0, rpm_ok, "{what}: rpm says {rpm_ok}");
        if want == 0 {
            assert_eq!(listing(&e.out()), vec!["bvtest-1.0-1.noarch.rpm"], "{what}");
            assert!(
                stderr(&o).contains("bvtest-1.0-1.noarch: digests signatures OK"),
                "{what}: {}",
                stderr(&o)
            );
            std::fs::remove_file(e.out().join("bvtest-1.0-1.noarch.rpm")).unwrap();
        } else {
            assert_nothing_left(&e, &o, want);
        }
    }

    // Present and good: re-verified by its signature, not fetched again;
    // tampered: replaced by the verified download.
    let url = e
        .server
        .route("/p/bvtest-1.0-1.noarch.rpm", Reply::Body(good.clone()));
    let ring = k.rsa_asc.to_str().unwrap();
    let o = e.run(&["--keyring", ring, "--json", &url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["package"], "bvtest-1.0-1.noarch");
    assert_eq!(j["signers"][0], k.rsa_fpr.as_str());
    let o = e.run(&["--keyring", ring, "--json", &url]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["reused"], true);
    std::fs::write(e.out().join("bvtest-1.0-1.noarch.rpm"), flip(n - 8)).unwrap();
    let o = e.run(&["--keyring", ring, &url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(read(&e.out().join("bvtest-1.0-1.noarch.rpm")), good);
    assert_eq!(e.server.hits("/p/bvtest-1.0-1.noarch.rpm"), 2);
    std::fs::remove_file(e.out().join("bvtest-1.0-1.noarch.rpm")).unwrap();

    // --rpm for a URL that does not say .rpm; with a SIG it is a usage error.
    let koji = e.server.route("/getfile?id=7", Reply::Body(good.clone()));
    let o = e.run(&["--keyring", ring, "--rpm", "-o", "pkg.bin", &koji]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    std::fs::remove_file(e.out().join("pkg.bin")).unwrap();
    let o = e.run(&["--keyring", ring, "--rpm", &url, &url]);
    assert_nothing_left(&e, &o, 2);
    // A pinned hash is checked as well as the signature.
    let o = e.run(&["--keyring", ring, "--sha256", &"00".repeat(32), &url]);
    assert_nothing_left(&e, &o, 1);
}

#[test]
fn a_real_rpm_fusion_package_by_its_distributor_key() {
    let e = setup();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rpm");
    let pkg = "rpmfusion-free-release-44-1.noarch.rpm";
    e.server.serve_dir(&data);
    let url = e.server.url(&format!("/{pkg}"));
    let key = data.join("RPM-GPG-KEY-rpmfusion-free-fedora-2020");
    let o = e.run(&["--keyring", key.to_str().unwrap(), &url]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "E9A491A3DE247814E7E067EAE06F8ECDD651FF2E"
    );
    assert_eq!(listing(&e.out()), vec![pkg]);
    std::fs::remove_file(e.out().join(pkg)).unwrap();
    let fedora = data.join("RPM-GPG-KEY-fedora-39-primary");
    let o = e.run(&["--keyring", fedora.to_str().unwrap(), &url]);
    assert_nothing_left(&e, &o, 1);
    if pk::oracle("rpmkeys") {
        let db = pk::rpmdb(&e.dir.path().join("db"), &[&key]);
        assert!(rpm_accepts(&db, &data.join(pkg)));
        let db = pk::rpmdb(&e.dir.path().join("db-fedora"), &[&fedora]);
        assert!(!rpm_accepts(&db, &data.join(pkg)));
    }
}

/// A copy of the fixture repository served over HTTP, to tamper with.
struct Served {
    _tmp: tempfile::TempDir,
    repo: std::path::PathBuf,
    server: Server,
}

impl Served {
    fn new(d: &Deb) -> Served {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        pk::copy_tree(&d.repo, &repo);
        let server = Server::start();
        server.serve_dir(&repo);
        Served {
            _tmp: tmp,
            repo,
            server,
        }
    }

    fn url(&self, rel: &str) -> String {
        self.server.url(&format!("/{rel}"))
    }
}

const IN_RELEASE: &str = "dists/stable/InRelease";

const PACKAGES_XZ: &str = "dists/stable/main/binary-amd64/Packages.xz";

const HELLO_DEB: &str = "pool/main/bvhello_1.0-1_all.deb";

#[test]
fn debian_chain_through_fetch_verified() {
    let Some((k, d)) = pkg_deb() else { return };
    let e = setup();
    let s = Served::new(d);
    let ring = &k.rsa_asc;
    let good = e.dir.path().join("good");
    // InRelease as SIG pins the index by its entry (size and SHA-256); the
    // second archive key's signature is reported and ignored.
    let o = fetch_in(
        &good,
        &[&"--keyring", ring, &s.url(PACKAGES_XZ), &s.url(IN_RELEASE)],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), k.rsa_fpr);
    assert!(stderr(&o).contains("ignored"), "{}", stderr(&o));
    // The verified index pins the .deb by its Filename stanza.
    let o = fetch_in(&good, &[&"--hash-file", &"Packages.xz", &s.url(HELLO_DEB)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // --decompress stores the index by its uncompressed entry.
    let o = fetch_in(
        &good,
        &[
            &"--keyring",
            ring,
            &"--decompress",
            &s.url(PACKAGES_XZ),
            &s.url(IN_RELEASE),
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        std::fs::read(good.join("Packages")).unwrap(),
        std::fs::read(s.repo.join("dists/stable/main/binary-amd64/Packages")).unwrap()
    );
    // Sources: the index pins the .dsc; the .dsc (maintainer-signed) as
    // SIG pins the tarballs.
    let sources = "dists/stable/main/source/Sources.xz";
    let o = fetch_in(
        &good,
        &[&"--keyring", ring, &s.url(sources), &s.url(IN_RELEASE)],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let dsc = "pool/main/bvsrc_1.0-1.dsc";
    let o = fetch_in(&good, &[&"--hash-file", &"Sources.xz", &s.url(dsc)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for tarball in [
        "pool/main/bvsrc_1.0.orig.tar.gz",
        "pool/main/bvsrc_1.0-1.debian.tar.xz",
    ] {
        let o = fetch_in(
            &good,
            &[&"--keyring", &k.ed_asc, &s.url(tarball), &s.url(dsc)],
        );
        assert_eq!(code(&o), 0, "{tarball}: {}", stderr(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains(&k.ed_fpr));
    }
    // An entry the list does not have: nothing to verify with.
    let o = fetch_in(
        &e.out(),
        &[&"--keyring", ring, &s.url(HELLO_DEB), &s.url(IN_RELEASE)],
    );
    assert_nothing_left(&e, &o, 3);

    // Each link tampered: exit 1, nothing left (no final file, no
    // NAME.UNTRUSTED).
    let tampered =
        |name: &str, change: &dyn Fn(&Path), args: &dyn Fn(&Served) -> Vec<String>, what: &str| {
            let s = Served::new(d);
            change(&s.repo);
            let out = e.dir.path().join(name);
            let a = args(&s);
            let refs: Vec<&dyn AsRef<std::ffi::OsStr>> =
                a.iter().map(|x| x as &dyn AsRef<std::ffi::OsStr>).collect();
            let o = fetch_in(&out, &refs);
            assert_eq!(code(&o), 1, "{name}: {}", stderr(&o));
            assert!(stderr(&o).contains(what), "{name}: {}", stderr(&o));
            assert_eq!(listing(&out), Vec::<String>::new(), "{name}");
            s
        };
    let ring_s = ring.to_str().unwrap().to_string();
    let index_args = |s: &Served| {
        vec![
            "--keyring".to_string(),
            ring_s.clone(),
            s.url(PACKAGES_XZ),
            s.url(IN_RELEASE),
        ]
    };
    let hash_file = good.join("Packages.xz").to_str().unwrap().to_string();
    let deb_args = |s: &Served| {
        vec![
            "--hash-file".to_string(),
            hash_file.clone(),
            s.url(HELLO_DEB),
        ]
    };
    let s = tampered(
        "inrelease",
        &|repo| {
            let p = repo.join(IN_RELEASE);
            let t = std::fs::read_to_string(&p).unwrap();
            let at = t.find("SHA256:").unwrap() + 10;
            let mut b = t.into_bytes();
            b[at] = if b[at] == b'0' { b'1' } else { b'0' };
            std::fs::write(&p, b).unwrap();
        },
        &index_args,
        "BAD signature",
    );
    assert_eq!(
        s.server.hits(&format!("/{PACKAGES_XZ}")),
        0,
        "fetched on a forged InRelease"
    );
    tampered(
        "index",
        &|repo| {
            let plain = repo.join("dists/stable/main/binary-amd64/Packages");
            let t = std::fs::read_to_string(&plain)
                .unwrap()
                .replace("Version: 1.0-1", "Version: 1.0-2");
            pk::write_index(&plain, t.as_bytes());
        },
        &index_args,
        "mismatch",
    );
    tampered(
        "deb",
        &|repo| {
            let p = repo.join(HELLO_DEB);
            let mut b = std::fs::read(&p).unwrap();
            let n = b.len();
            b[n - 5] ^= 1;
            std::fs::write(&p, b).unwrap();
        },
        &deb_args,
        "sha256 mismatch",
    );
    tampered(
        "size",
        &|repo| {
            let p = repo.join(HELLO_DEB);
            let b = std::fs::read(&p).unwrap();
            std::fs::write(&p, [b.as_slice(), b"x"].concat()).unwrap();
        },
        &deb_args,
        "size mismatch",
    );
    tampered(
        "expired",
        &|repo| {
            std::fs::copy(&d.expired, repo.join(IN_RELEASE)).unwrap();
        },
        &index_args,
        "expired: Valid-Until",
    );
    tampered(
        "orig",
        &|repo| {
            let p = repo.join("pool/main/bvsrc_1.0.orig.tar.gz");
            let mut b = std::fs::read(&p).unwrap();
            b[20] ^= 1;
            std::fs::write(&p, b).unwrap();
        },
        &|s: &Served| {
            vec![
                "--keyring".into(),
                k.ed_asc.to_str().unwrap().into(),
                s.url("pool/main/bvsrc_1.0.orig.tar.gz"),
                s.url(dsc),
            ]
        },
        "mismatch",
    );
}
