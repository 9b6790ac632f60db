//! Makes the demo keys and signatures of Makefile.example with sequoia
//! (run through tests/data/make-demo-data). Demo material only: the secret
//! key is published in the repository and protects nothing.
//!
//!   demo-keys keygen UID SECRET-OUT PUBLIC-OUT
//!   demo-keys sign SECRET FILE SIG-OUT

use anyhow::{bail, Context, Result};
use build_verify::openpgp::sign::SigningKey;
use sequoia_openpgp::cert::CertBuilder;
use sequoia_openpgp::serialize::SerializeInto;
use std::path::Path;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["keygen", uid, secret, public] => {
            let (cert, _) = CertBuilder::general_purpose(Some(*uid))
                .generate()
                .context("generating a key")?;
            std::fs::write(secret, cert.as_tsk().armored().to_vec()?)?;
            std::fs::write(public, cert.armored().to_vec()?)?;
            println!("{}", cert.fingerprint());
        }
        ["sign", secret, file, out] => {
            let mut key = SigningKey::load(Path::new(secret), None)?;
            let data = std::fs::read(file).with_context(|| format!("reading {file}"))?;
            std::fs::write(out, key.sign_detached_armored(&data)?)?;
        }
        _ => bail!("usage: demo-keys keygen UID SECRET PUBLIC | sign SECRET FILE SIG"),
    }
    Ok(())
}
