//! verify-package against the real tools: RPMs built by rpmbuild and signed
//! by rpmsign (RSA and EdDSA keys, v4 and --rpmv3), judged by `rpmkeys -K`
//! with an explicit --dbpath; a Debian repository made by dpkg-deb,
//! dpkg-source and apt-ftparchive and signed by gpg, judged by apt-get
//! against a `file:` source; real RPM Fusion packages; synthetic v6
//! packages signed by sequoia; and hostile input.

use crate::common;

use common::pkg::shared_rpms as rpms;
use common::pkg::{self, oracle, rpm_accepts, rpm_layout, write_index, Apt, Deb, Keys, Rpms};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_verify-package");

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    common::run(BIN, args, Path::new("."))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// A failure: exit `want`, no OK line for `file` on stdout, one line on
/// stderr that names the file and `what`.
fn assert_fails(o: &Output, want: i32, file: &Path, what: &str) {
    assert_eq!(
        code(o),
        want,
        "stdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
    let ok = format!("{}: digests signatures OK", file.display());
    assert!(!stdout(o).lines().any(|l| l == ok), "{}", stdout(o));
    let err = stderr(o);
    let line = err
        .lines()
        .find(|l| l.contains(&file.display().to_string()))
        .unwrap_or_else(|| panic!("no line naming {}: {err}", file.display()));
    assert!(line.contains(what), "{line:?} does not say {what:?}");
}

/// Our verdict and rpm's on one file with the keys both trust.
fn both(k: &Keys, r: &Rpms, f: &Path) -> (Output, bool) {
    let o = run(&[&"--keyring", &k.rsa_asc, &"--keyring", &k.ed_asc, &f]);
    (o, rpm_accepts(&r.db_all, f))
}

#[test]
fn good_rpms_print_the_line_qubes_compares() {
    let Some((k, r)) = rpms() else { return };
    for (f, fpr) in [
        (&r.rsa, &k.rsa_fpr),
        (&r.ed, &k.ed_fpr),
        (&r.v3, &k.rsa_fpr),
    ] {
        let (o, rpm_ok) = both(k, r, f);
        assert!(rpm_ok, "rpm rejects {}", f.display());
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        // Byte for byte what `rpmkeys --checksig` prints for a good package.
        assert_eq!(
            stdout(&o),
            format!("{}: digests signatures OK\n", f.display())
        );
        let v = run(&[&"--keyring", &k.rsa_asc, &"--keyring", &k.ed_asc, &"-v", f]);
        assert!(
            stdout(&v).contains(&format!("signer {fpr}")),
            "{}",
            stdout(&v)
        );
        assert!(stdout(&v).contains("tag 5092 (payload SHA256 digest): OK"));
        let j = run(&[
            &"--keyring",
            &k.rsa_asc,
            &"--keyring",
            &k.ed_asc,
            &"--json",
            f,
        ]);
        let first: serde_json::Value =
            serde_json::from_str(stdout(&j).lines().next().unwrap()).unwrap();
        assert_eq!(first["signers"][0], fpr.as_str());
        assert_eq!(first["status"], "ok");
    }
    // The EdDSA signature sits in the DSA tag (267), RSA in 268.
    let v = run(&[&"--keyring", &k.ed_asc, &"-v", &r.ed]);
    assert!(stdout(&v).contains("tag 267 ("), "{}", stdout(&v));
    // v3 signatures are checked only when asked.
    let v = run(&[&"--keyring", &k.rsa_asc, &"--v3-signatures", &"-v", &r.v3]);
    assert_eq!(code(&v), 0, "{}", stderr(&v));
    assert!(stdout(&v).contains("tag 1002 (RSA header+payload signature): OK"));
}

#[test]
fn unsigned_and_wrong_key_fail_as_rpm_says() {
    let Some((k, r)) = rpms() else { return };
    let (o, rpm_ok) = both(k, r, &r.unsigned);
    assert!(
        !rpm_ok,
        "rpm 4.18 prints `digests OK` for it: never `signatures OK`"
    );
    assert_fails(&o, 3, &r.unsigned, "unsigned");
    let o = run(&[&"--keyring", &k.other_asc, &r.rsa]);
    assert!(!rpm_accepts(&r.db_other, &r.rsa));
    assert_fails(&o, 1, &r.rsa, "tag 268");
    // A trusted key that did not sign, and --trusted-key narrowing.
    let o = run(&[
        &"--keyring",
        &k.rsa_asc,
        &"--keyring",
        &k.ed_asc,
        &"--trusted-key",
        &k.ed_fpr,
        &r.rsa,
    ]);
    assert_fails(&o, 1, &r.rsa, "no good signature by a trusted key");
}

#[test]
fn tampered_rpms_fail_as_rpm_says() {
    let Some((k, r)) = rpms() else { return };
    let good = std::fs::read(&r.rsa).unwrap();
    let (main, payload) = rpm_layout(&good);
    let dir = tempfile::tempdir_in(&r.dir).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let flip = |at: usize| {
        let mut b = good.clone();
        b[at] ^= 0x40;
        b
    };
    let mut cases: Vec<(PathBuf, i32, &str)> = vec![
        // A byte of the main header's data (what the signature covers).
        (write("header.rpm", &flip(main + (payload - main) * 2 / 3)), 1, "tag 273"),
        (write("payload.rpm", &flip(good.len() - 3)), 1, "tag 5092"),
        (write("trunc-lead.rpm", &good[..50]), 1, "truncated"),
        (write("trunc-sig.rpm", &good[..110]), 1, "truncated"),
        (write("trunc-main.rpm", &good[..main + 40]), 1, "truncated"),
        (write("trunc-payload.rpm", &good[..good.len() - 10]), 1, "tag 5092"),
        (write("appended.rpm", &[good.as_slice(), b"x"].concat()), 1, "tag 5092"),
        (write("not-rpm.rpm", b"hello world, not a package at all........................................................................."), 1, "not an RPM"),
    ];
    // The signature header of another package in front of this one: its
    // header digest no longer matches; with that digest patched to fit,
    // the signature itself must fail.
    let other = std::fs::read(&r.other).unwrap();
    let (omain, _) = rpm_layout(&other);
    let swapped = [&other[..omain], &good[main..]].concat();
    cases.push((write("swapped.rpm", &swapped), 1, "tag 273"));
    let want = hex(&sha256(&good[main..payload]));
    let their = hex(&sha256(&other[omain..rpm_layout(&other).1]));
    let mut patched = swapped.clone();
    let at = find(&patched[..omain], their.as_bytes()).expect("tag 273 value");
    patched[at..at + 64].copy_from_slice(want.as_bytes());
    cases.push((write("swapped-patched.rpm", &patched), 1, "tag 268"));
    for (f, want_code, what) in &cases {
        let (o, rpm_ok) = both(k, r, f);
        assert!(!rpm_ok, "rpm accepts {}", f.display());
        assert_fails(&o, *want_code, f, what);
    }
    // The exit code is never a count: many bad packages are still 1, an
    // unsigned one among good ones 3, a bad one among unsigned ones 1.
    let many: Vec<PathBuf> = (0..5)
        .map(|i| write(&format!("bad{i}.rpm"), &flip(good.len() - 3)))
        .collect();
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"--keyring", &k.rsa_asc];
    args.extend(many.iter().map(|p| p as &dyn AsRef<std::ffi::OsStr>));
    assert_eq!(code(&run(&args)), 1);
    assert_eq!(
        code(&run(&[&"--keyring", &k.rsa_asc, &r.rsa, &r.unsigned])),
        3
    );
    let o = run(&[&"--keyring", &k.rsa_asc, &r.unsigned, &many[0], &r.rsa]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        stdout(&o),
        format!("{}: digests signatures OK\n", r.rsa.display())
    );
}

#[test]
fn operands_that_are_not_files_are_usage_errors() {
    let Some((k, _)) = rpms() else { return };
    let o = run(&[&"--keyring", &k.rsa_asc, &"/nonexistent.rpm"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = run(&[&"--keyring", &k.rsa_asc, &"/dev/null"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = run(&[&"--keyring", &"/nonexistent.asc", &"x.rpm"]);
    assert_eq!(code(&o), 2);
    assert_eq!(code(&run(&[&"x.rpm"])), 2, "no keyring");
}

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rpm");

#[test]
fn real_rpm_fusion_packages() {
    let key = Path::new(DATA).join("RPM-GPG-KEY-rpmfusion-free-fedora-2020");
    let fedora = Path::new(DATA).join("RPM-GPG-KEY-fedora-39-primary");
    let pkgs = [
        Path::new(DATA).join("rpmfusion-free-release-40-1.noarch.rpm"),
        Path::new(DATA).join("rpmfusion-free-release-44-1.noarch.rpm"),
    ];
    for p in &pkgs {
        let o = run(&[&"--keyring", &key, &"-v", p]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(stdout(&o).contains("signer E9A491A3DE247814E7E067EAE06F8ECDD651FF2E"));
        let o = run(&[&"--keyring", &key, &"--v3-signatures", p]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert_fails(&run(&[&"--keyring", &fedora, p]), 1, p, "tag 268");
    }
    if super_oracle_rpmkeys() {
        let dir = tempfile::tempdir().unwrap();
        let db = pkg::rpmdb(dir.path(), &[&key]);
        assert!(pkgs.iter().all(|p| rpm_accepts(&db, p)));
    }
}

fn super_oracle_rpmkeys() -> bool {
    oracle("rpmkeys")
}

fn sha256(b: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(b).to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Synthetic packages (v6 layouts rpm 4.18 cannot write), signed by a
/// sequoia key made here.
mod synthetic {
    use super::*;
    use build_verify::package::header::{encode, ty, TAG_HEADERIMMUTABLE, TAG_HEADERSIGNATURES};
    use build_verify::package::rpm::{sigtag, tag};

    /// Header entries: tag, type, data, count.
    pub type Items = Vec<(u32, u32, Vec<u8>, u32)>;

    pub struct Parts<'a> {
        pub main: Items,
        pub sig: &'a dyn Fn(&[u8]) -> Items,
        pub payload: Vec<u8>,
    }

    pub fn string(s: &str) -> Vec<u8> {
        [s.as_bytes(), b"\0"].concat()
    }

    pub fn lead() -> Vec<u8> {
        let mut l = vec![0u8; 96];
        l[..4].copy_from_slice(&[0xed, 0xab, 0xee, 0xdb]);
        l[4] = 3;
        l[79] = 5;
        l
    }

    pub fn package(p: &Parts) -> Vec<u8> {
        let items: Vec<(u32, u32, &[u8], u32)> = p
            .main
            .iter()
            .map(|(a, b, c, d)| (*a, *b, c.as_slice(), *d))
            .collect();
        let main = encode(TAG_HEADERIMMUTABLE, &items);
        let sig_items = (p.sig)(&main);
        let items: Vec<(u32, u32, &[u8], u32)> = sig_items
            .iter()
            .map(|(a, b, c, d)| (*a, *b, c.as_slice(), *d))
            .collect();
        let mut sig = encode(TAG_HEADERSIGNATURES, &items);
        while !sig.len().is_multiple_of(8) {
            sig.push(0);
        }
        [lead(), sig, main, p.payload.clone()].concat()
    }

    pub fn hexdigest(algo: sequoia_openpgp::types::HashAlgorithm, data: &[u8]) -> String {
        let mut c = algo.context().unwrap().for_digest();
        c.update(data);
        super::hex(&c.into_digest().unwrap())
    }

    /// A v6 main header over `payload`, its tags sorted.
    pub fn v6_main(payload: &[u8]) -> Vec<(u32, u32, Vec<u8>, u32)> {
        use sequoia_openpgp::types::HashAlgorithm as H;
        vec![
            (tag::NAME, ty::STRING, string("v6pkg"), 1),
            (tag::VERSION, ty::STRING, string("1.0"), 1),
            (tag::RELEASE, ty::STRING, string("1"), 1),
            (tag::ARCH, ty::STRING, string("noarch"), 1),
            (tag::SOURCERPM, ty::STRING, string("v6pkg-1.0-1.src.rpm"), 1),
            (tag::PAYLOADCOMPRESSOR, ty::STRING, string("gzip"), 1),
            (
                tag::PAYLOADDIGEST,
                ty::STRING_ARRAY,
                string(&hexdigest(H::SHA256, payload)),
                1,
            ),
            (tag::RPMFORMAT, ty::INT32, 6u32.to_be_bytes().to_vec(), 1),
            (
                tag::PAYLOADSHA512,
                ty::STRING,
                string(&hexdigest(H::SHA512, payload)),
                1,
            ),
            (
                tag::PAYLOADSHA3_256,
                ty::STRING,
                string(&hexdigest(H::SHA3_256, payload)),
                1,
            ),
        ]
    }

    /// A v6 signature header: digests and an OPENPGP (278) signature by `cert`.
    pub fn v6_sig(cert: &sequoia_openpgp::Cert, main: &[u8]) -> Vec<(u32, u32, Vec<u8>, u32)> {
        use base64::Engine as _;
        use sequoia_openpgp::types::HashAlgorithm as H;
        let sig = common::sign_detached(cert, main);
        vec![
            (
                sigtag::SHA256,
                ty::STRING,
                string(&hexdigest(H::SHA256, main)),
                1,
            ),
            (
                sigtag::OPENPGP,
                ty::STRING_ARRAY,
                string(&base64::engine::general_purpose::STANDARD.encode(sig)),
                1,
            ),
            (
                sigtag::SHA3_256,
                ty::STRING,
                string(&hexdigest(H::SHA3_256, main)),
                1,
            ),
            (999, ty::BIN, vec![0u8; 64], 64),
        ]
    }
}

#[test]
fn v6_packages_and_openpgp_signatures() {
    use build_verify::package::header::ty;
    use build_verify::package::rpm::{sigtag, tag};
    use synthetic::*;
    let cert = common::gen_key("v6 <v6@example.org>");
    let stranger = common::gen_key("stranger <s@example.org>");
    let dir = tempfile::tempdir().unwrap();
    let ring = common::write_keyring(&dir.path().join("k.asc"), &[&cert]);
    let payload = b"\x1f\x8b not really gzip, the digests do not care".to_vec();
    let write = |name: &str, b: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, b).unwrap();
        p
    };
    let sig = |m: &[u8]| v6_sig(&cert, m);
    // A v6 package of `main` signed by `sig` over `payload`, written as `name`.
    let v6 = |name: &str, main: Items, sig: &dyn Fn(&[u8]) -> Items| {
        write(
            name,
            &package(&Parts {
                main,
                sig,
                payload: payload.clone(),
            }),
        )
    };
    let good = package(&Parts {
        main: v6_main(&payload),
        sig: &sig,
        payload: payload.clone(),
    });
    let f = write("good.rpm", &good);
    let o = run(&[&"--keyring", &ring, &"-v", &f]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    for t in [
        "RPM v6", "tag 278", "tag 273", "tag 279", "tag 5092", "tag 5121", "tag 5123",
    ] {
        assert!(out.contains(t), "{t}: {out}");
    }
    assert!(out.contains(&format!("signer {}", cert.fingerprint().to_hex())));

    // 278 wins: a broken RSA tag beside it is ignored (as rpm 6 does).
    let with_rsa = |m: &[u8]| {
        let mut v = v6_sig(&cert, m);
        v.insert(0, (sigtag::RSA, ty::BIN, vec![0x88, 0x01, 0x00], 3));
        v
    };
    let f = v6("rsa-too.rpm", v6_main(&payload), &with_rsa);
    assert_eq!(code(&run(&[&"--keyring", &ring, &f])), 0);

    // Each digest is checked: a wrong SHA3-256 alone fails, naming it.
    let mut main = v6_main(&payload);
    let i = main
        .iter()
        .position(|e| e.0 == tag::PAYLOADSHA3_256)
        .unwrap();
    main[i].2 = string(&"0".repeat(64));
    let f = v6("sha3.rpm", main, &sig);
    assert_fails(&run(&[&"--keyring", &ring, &f]), 1, &f, "tag 5123");
    // A payload the header does not describe.
    let f = write(
        "payload.rpm",
        &package(&Parts {
            main: v6_main(&payload),
            sig: &sig,
            payload: b"other".to_vec(),
        }),
    );
    assert_fails(&run(&[&"--keyring", &ring, &f]), 1, &f, "tag 5092");
    // A signature by someone else over the same header.
    let theirs = |m: &[u8]| v6_sig(&stranger, m);
    let f = v6("stranger.rpm", v6_main(&payload), &theirs);
    assert_fails(&run(&[&"--keyring", &ring, &f]), 1, &f, "tag 278");
    // v6 rules: sorted tags, no v3 tags in the signature header.
    let mut unsorted = v6_main(&payload);
    unsorted.swap(1, 2);
    let f = v6("unsorted.rpm", unsorted, &sig);
    assert_fails(&run(&[&"--keyring", &ring, &f]), 1, &f, "ascending");
    let with_md5 = |m: &[u8]| {
        let mut v = v6_sig(&cert, m);
        v.push((sigtag::MD5, ty::BIN, vec![0; 16], 16));
        v
    };
    let f = v6("md5.rpm", v6_main(&payload), &with_md5);
    assert_fails(&run(&[&"--keyring", &ring, &f]), 1, &f, "illegal in a v6");
    // No signature at all: exit 3.
    let none = |m: &[u8]| {
        v6_sig(&cert, m)
            .into_iter()
            .filter(|e| e.0 != sigtag::OPENPGP)
            .collect()
    };
    let f = v6("unsigned.rpm", v6_main(&payload), &none);
    assert_fails(&run(&[&"--keyring", &ring, &f]), 3, &f, "unsigned");
}

#[test]
fn uncompressed_payload_digest_when_alone() {
    use build_verify::package::header::ty;
    use build_verify::package::rpm::tag;
    use sequoia_openpgp::types::HashAlgorithm as H;
    use synthetic::*;
    let cert = common::gen_key("alt <alt@example.org>");
    let dir = tempfile::tempdir().unwrap();
    let ring = common::write_keyring(&dir.path().join("k.asc"), &[&cert]);
    let content = b"the cpio archive, uncompressed".repeat(100);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &content).unwrap();
    let payload = gz.finish().unwrap();
    let main = |compressor: &str, digest: &str| {
        vec![
            (tag::NAME, ty::STRING, string("alt"), 1),
            (tag::PAYLOADCOMPRESSOR, ty::STRING, string(compressor), 1),
            (
                tag::PAYLOADDIGESTALGO,
                ty::INT32,
                8u32.to_be_bytes().to_vec(),
                1,
            ),
            (tag::PAYLOADDIGESTALT, ty::STRING_ARRAY, string(digest), 1),
        ]
    };
    let sig = |m: &[u8]| {
        v6_sig(&cert, m)
            .into_iter()
            .filter(|e| e.0 != 999)
            .collect::<Vec<_>>()
    };
    let good_digest = hexdigest(H::SHA256, &content);
    let write = |name: &str, b: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, b).unwrap();
        p
    };
    let f = write(
        "alt.rpm",
        &package(&Parts {
            main: main("gzip", &good_digest),
            sig: &sig,
            payload: payload.clone(),
        }),
    );
    let o = run(&[&"--keyring", &ring, &"-v", &f]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("tag 5097 (uncompressed payload SHA256 digest): OK"));
    let mut bad = payload.clone();
    let n = bad.len();
    bad[n / 2] ^= 1;
    let f = write(
        "alt-bad.rpm",
        &package(&Parts {
            main: main("gzip", &good_digest),
            sig: &sig,
            payload: bad,
        }),
    );
    assert_eq!(code(&run(&[&"--keyring", &ring, &f])), 1);
    let f = write(
        "zstd.rpm",
        &package(&Parts {
            main: main("zstd", &good_digest),
            sig: &sig,
            payload,
        }),
    );
    assert_fails(&run(&[&"--keyring", &ring, &f]), 3, &f, "zstd");
}

mod parsers_never_panic {
    use build_verify::lists::{deb822, debian, signed};
    use build_verify::package::{header, rpm};
    use proptest::prelude::*;

    fn real() -> Vec<u8> {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/rpm/rpmfusion-free-release-44-1.noarch.rpm"
        ))
        .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn rpm_mutations(edits in prop::collection::vec((0usize..12000, any::<u8>()), 1..8), cut in 0usize..12000) {
            let mut b = real();
            for (at, v) in edits {
                let n = b.len();
                b[at % n] = v;
            }
            b.truncate(cut.max(1));
            let ring = build_verify::openpgp::Keyring::from_certs([super::common::gen_key("p <p@example.org>")]).unwrap();
            let trust = build_verify::openpgp::Trust::All;
            let policy = build_verify::openpgp::BuildPolicy::default();
            let v = build_verify::openpgp::Verifier::new(&ring, &trust, &policy);
            let _ = rpm::verify_rpm(b.as_slice(), &v, &rpm::RpmOptions::default(), 4096);
        }

        #[test]
        fn header_bytes(b in prop::collection::vec(any::<u8>(), 0..512), il in 0u32..40, dl in 0u32..600) {
            let mut h = header::MAGIC.to_vec();
            h.extend_from_slice(&il.to_be_bytes());
            h.extend_from_slice(&dl.to_be_bytes());
            h.extend_from_slice(&b);
            let _ = header::Header::parse(h.clone(), header::TAG_HEADERIMMUTABLE, header::MAIN_LIMITS);
            let _ = header::read_header(&mut h.as_slice(), header::SIGNATURE_LIMITS);
        }

        #[test]
        fn control_files(s in "[A-Za-z0-9 :#\\-\t\r\n.]{0,400}") {
            let small = deb822::Limits { max_line: 64, max_field: 128, max_fields: 8 };
            let _ = deb822::parse_all(s.as_bytes(), small);
            let _ = debian::list_entries(s.as_bytes());
            let _ = signed::cleartext_text(s.as_bytes());
            let _ = debian::looks_like_deb822(s.as_bytes());
            let _ = build_verify::time::parse_rfc2822(&s);
        }
    }
}

fn deb() -> Option<(&'static Keys, &'static Deb)> {
    pkg::shared_deb(&["apt-get"])
}

/// A copy of the repository to tamper with, and apt set up on it.
struct Copy {
    _tmp: tempfile::TempDir,
    repo: PathBuf,
    apt: Apt,
}

impl Copy {
    fn new(k: &Keys, d: &Deb) -> Copy {
        let pkg::DebCopy { tmp, repo, apt } = d.copy(k);
        Copy {
            _tmp: tmp,
            repo,
            apt,
        }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.repo.join(rel)
    }

    /// verify-package on this copy: InRelease, the binary index, `files`.
    fn verify(&self, k: &Keys, index: &str, extra: &[&str], files: &[&str]) -> Output {
        let mut args: Vec<std::ffi::OsString> = vec!["--keyring".into(), k.rsa_asc.clone().into()];
        args.push("--release".into());
        args.push(self.p("dists/stable/InRelease").into());
        args.push("--index".into());
        args.push(self.p(index).into());
        args.extend(extra.iter().map(|s| s.into()));
        args.extend(files.iter().map(|f| self.p(f).into()));
        let refs: Vec<&dyn AsRef<std::ffi::OsStr>> = args
            .iter()
            .map(|a| a as &dyn AsRef<std::ffi::OsStr>)
            .collect();
        run(&refs)
    }
}

const DEB: &str = "pool/main/bvhello_1.0-1_all.deb";
const PKGS_XZ: &str = "dists/stable/main/binary-amd64/Packages.xz";

#[test]
fn debian_chain_accepted_as_apt_accepts_it() {
    let Some((k, d)) = deb() else { return };
    let c = Copy::new(k, d);
    assert!(c.apt.update_ok(), "apt rejects the fixture repository");
    assert!(c.apt.download_ok("bvhello", false));
    assert!(c.apt.download_ok("bvsrc", true));
    // Every index form: compressed by its own entry, plain by its entry.
    for index in [
        PKGS_XZ,
        "dists/stable/main/binary-amd64/Packages.gz",
        "dists/stable/main/binary-amd64/Packages",
    ] {
        let o = c.verify(k, index, &[], &[DEB]);
        assert_eq!(code(&o), 0, "{index}: {}", stderr(&o));
        assert_eq!(
            stdout(&o),
            format!("{}: digests signatures OK\n", c.p(DEB).display())
        );
    }
    // -v and --json name the chain and the archive key; the second
    // signature (a key not given) is reported and ignored.
    let o = c.verify(k, PKGS_XZ, &["-v"], &[DEB]);
    let out = stdout(&o);
    assert!(out.contains("InRelease: signatures OK"), "{out}");
    assert!(
        out.contains("pinned by main/binary-amd64/Packages.xz"),
        "{out}"
    );
    assert!(out.contains(&format!("signer {}", k.rsa_fpr)), "{out}");
    assert!(stderr(&o).contains("ignored"), "{}", stderr(&o));
    let o = c.verify(k, PKGS_XZ, &["--json"], &[DEB]);
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["release"]["signers"][0], k.rsa_fpr.as_str());
    assert!(lines[0]["release"]["valid_until"].is_string());
    assert_eq!(lines[1]["pinned_by"], "main/binary-amd64/Packages.xz");
    // Release + Release.gpg (detached), as apt uses them without InRelease.
    std::fs::remove_file(c.p("dists/stable/InRelease")).unwrap();
    assert!(c.apt.update_ok(), "apt rejects Release + Release.gpg");
    let o = run(&[
        &"--keyring",
        &k.rsa_asc,
        &"--release",
        &c.p("dists/stable/Release"),
        &"--index",
        &c.p(PKGS_XZ),
        &c.p(DEB),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn debian_sources_chain() {
    let Some((k, d)) = deb() else { return };
    let c = Copy::new(k, d);
    let files = [
        "pool/main/bvsrc_1.0-1.dsc",
        "pool/main/bvsrc_1.0.orig.tar.gz",
        "pool/main/bvsrc_1.0-1.debian.tar.xz",
    ];
    let o = c.verify(k, "dists/stable/main/source/Sources.xz", &["-v"], &files);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o).matches("digests signatures OK").count(), 3);
    // The tarballs are pinned by the verified .dsc.
    assert!(
        stdout(&o).contains("pinned by bvsrc_1.0-1.dsc"),
        "{}",
        stdout(&o)
    );
    // A .dsc on its own, by its maintainer's signature.
    let o = run(&[
        &"--keyring",
        &k.ed_asc,
        &"-v",
        &d.dsc,
        &d.orig,
        &d.debian_tar,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains(&format!("signer {}", k.ed_fpr)));
    assert_fails(
        &run(&[&"--keyring", &k.rsa_asc, &d.dsc]),
        1,
        &d.dsc,
        "no good signature",
    );
    // A tampered orig tarball: apt and we refuse it.
    let mut b = std::fs::read(c.p(files[1])).unwrap();
    let n = b.len();
    b[n / 2] ^= 1;
    std::fs::write(c.p(files[1]), &b).unwrap();
    assert!(c.apt.update_ok());
    assert!(
        !c.apt.download_ok("bvsrc", true),
        "apt accepts a tampered orig tarball"
    );
    let o = c.verify(k, "dists/stable/main/source/Sources.xz", &[], &files);
    assert_fails(&o, 1, &c.p(files[1]), "sha");
}

#[test]
fn every_tampered_link_fails_as_apt_says() {
    let Some((k, d)) = deb() else { return };
    // InRelease: one digit of the signed text changed.
    let c = Copy::new(k, d);
    let p = c.p("dists/stable/InRelease");
    let t = std::fs::read_to_string(&p).unwrap();
    let at = t.find("SHA256:").unwrap() + 10;
    let mut b = t.into_bytes();
    b[at] = if b[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&p, b).unwrap();
    assert!(!c.apt.update_ok(), "apt accepts a tampered InRelease");
    assert_fails(&c.verify(k, PKGS_XZ, &[], &[DEB]), 1, &p, "BAD signature");

    // The index: a stanza changed, recompressed, the Release left alone.
    let c = Copy::new(k, d);
    let plain = c.p("dists/stable/main/binary-amd64/Packages");
    let t = std::fs::read_to_string(&plain)
        .unwrap()
        .replace("Version: 1.0-1", "Version: 1.0-2");
    write_index(&plain, t.as_bytes());
    assert!(!c.apt.update_ok(), "apt accepts a tampered index");
    for index in [PKGS_XZ, "dists/stable/main/binary-amd64/Packages"] {
        assert_fails(&c.verify(k, index, &[], &[DEB]), 1, &c.p(index), "mismatch");
    }

    // The .deb: one byte flipped (same size), then one byte appended.
    let c = Copy::new(k, d);
    assert!(c.apt.update_ok());
    let deb = c.p(DEB);
    let good = std::fs::read(&deb).unwrap();
    let mut b = good.clone();
    b[good.len() - 5] ^= 1;
    std::fs::write(&deb, &b).unwrap();
    assert!(
        !c.apt.download_ok("bvhello", false),
        "apt accepts a tampered .deb"
    );
    assert_fails(
        &c.verify(k, PKGS_XZ, &[], &[DEB]),
        1,
        &deb,
        "sha256 mismatch",
    );
    std::fs::write(&deb, [good.as_slice(), b"x"].concat()).unwrap();
    assert!(
        !c.apt.download_ok("bvhello", false),
        "apt accepts a longer .deb"
    );
    assert_fails(&c.verify(k, PKGS_XZ, &[], &[DEB]), 1, &deb, "size mismatch");

    // Valid-Until in the past, signed by the archive key.
    let c = Copy::new(k, d);
    std::fs::copy(&d.expired, c.p("dists/stable/InRelease")).unwrap();
    assert!(!c.apt.update_ok(), "apt accepts an expired InRelease");
    let p = c.p("dists/stable/InRelease");
    // The index no longer matches this older Release, so only the date is asked about.
    let o = run(&[&"--keyring", &k.rsa_asc, &"--release", &p, &c.p(DEB)]);
    assert_fails(&o, 1, &p, "expired: Valid-Until");
    let o = run(&[
        &"--keyring",
        &k.rsa_asc,
        &"--release",
        &p,
        &"--ignore-valid-until",
        &c.p(DEB),
    ]);
    assert_eq!(
        code(&o),
        3,
        "accepted release, but no index pins the .deb: {}",
        stderr(&o)
    );

    // Nothing to verify with: a file no index lists, a Release without a signature.
    let c = Copy::new(k, d);
    let stray = c.p("pool/main/bvsrc_1.0.orig.tar.gz");
    assert_fails(
        &c.verify(k, PKGS_XZ, &[], &["pool/main/bvsrc_1.0.orig.tar.gz"]),
        3,
        &stray,
        "no entry",
    );
    std::fs::remove_file(c.p("dists/stable/Release.gpg")).unwrap();
    let rel = c.p("dists/stable/Release");
    let o = run(&[
        &"--keyring",
        &k.rsa_asc,
        &"--release",
        &rel,
        &"--index",
        &c.p(PKGS_XZ),
        &c.p(DEB),
    ]);
    assert_fails(&o, 3, &rel, "no detached signature");
    // An index the Release does not list.
    let stray_index = c.p("dists/stable/main/Contents-amd64");
    std::fs::write(&stray_index, b"").unwrap();
    let o = c.verify(k, "dists/stable/main/Contents-amd64", &[], &[DEB]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
}

#[test]
fn help_is_complete_and_ends_with_exit_codes() {
    let o = run(&[&"--help"]);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    assert!(
        out.trim_end()
            .ends_with(build_verify::exit::HELP.lines().last().unwrap()),
        "{out}"
    );
    for flag in [
        "--keyring",
        "--release",
        "--release-sig",
        "--index",
        "--v3-signatures",
        "--json",
        "--ignore-valid-until",
    ] {
        assert!(out.contains(flag), "{flag}");
    }
    assert_eq!(code(&run(&[&"--bogus"])), 2);
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(BIN)
        .env("BUILD_VERIFY_GEN_DOCS", dir.path())
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(dir.path().join("man1/verify-package.1").is_file());
}
