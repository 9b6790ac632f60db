//! Build directives (steps, materials, products) and the in-toto export of a
//! sealed session.

use super::*;

#[test]
fn directives_steps_and_in_toto_export() {
    let e = setup();
    let src = e.tmp.path().join("input.tar");
    std::fs::write(&src, b"source").unwrap();
    let out = e.tmp.path().join("out.bin");
    let mat = sl(&["hash", "--material", src.to_str().unwrap()], b"", &[]);
    let step = sl(
        &[
            "run",
            "--name",
            "build",
            "--",
            "sh",
            "-c",
            &format!("echo built > {}; exit 3", out.display()),
        ],
        b"",
        &[],
    );
    assert_eq!(code(&step), 3, "run exits with the command's code");
    let prod = sl(&["hash", "--product", out.to_str().unwrap()], b"", &[]);
    let input = [mat.stdout, step.stdout, prod.stdout].concat();
    assert!(String::from_utf8_lossy(&input).contains("##sign-log step-end {\"name\":\"build\""));
    e.receive(&input, &[]);
    e.seal();
    let o = e.verify();
    assert!(text(&o).contains("step     build exit=3"), "{}", text(&o));
    let x = sl(
        &[
            "export",
            "--log",
            e.l(),
            "--session",
            "1",
            "--keyring",
            e.public.to_str().unwrap(),
        ],
        b"",
        &[],
    );
    assert_eq!(code(&x), 0, "{}", text(&x));
    let j: serde_json::Value = serde_json::from_slice(&x.stdout).unwrap();
    assert_eq!(j["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(j["subject"][0]["name"], out.display().to_string());
    assert_eq!(j["predicate"]["byproducts"]["return-value"], 3);
    assert_eq!(
        j["predicate"]["materials"][0]["digest"]["sha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
}

#[test]
fn export_needs_a_sealed_session_with_products() {
    let e = setup();
    let out = e.tmp.path().join("out.bin");
    std::fs::write(&out, b"built").unwrap();
    let prod = sl(&["hash", "--product", out.to_str().unwrap()], b"", &[]);
    e.receive(&prod.stdout, &[]);
    e.seal();
    e.receive(&prod.stdout, &[]);
    let export = |k: &str| {
        sl(
            &[
                "export",
                "--log",
                e.l(),
                "--format",
                "in-toto",
                "--session",
                k,
                "--keyring",
                e.public.to_str().unwrap(),
            ],
            b"",
            &[],
        )
    };
    let o = export("1");
    assert_eq!(code(&o), 0, "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["predicate"]["byproducts"]["checkpoint"]["size"], 3);
    // Session 2 is past the last seal: nothing signed to attest.
    let o = export("2");
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(o.stdout.is_empty());
    assert!(text(&o).contains("not sealed"), "{}", text(&o));
    assert_eq!(code(&export("3")), 2);
    // A session without products has no subject.
    let f = setup();
    f.receive(b"no products\n", &[]);
    f.seal();
    let o = sl(
        &[
            "export",
            "--log",
            f.l(),
            "--session",
            "1",
            "--keyring",
            f.public.to_str().unwrap(),
        ],
        b"",
        &[],
    );
    assert_eq!(code(&o), 3, "{}", text(&o));
}
