//! TLS roots (the platform's, or `--ca-file` plus the system bundle) and
//! certificate failures said the way a curl user can act on them.

use crate::exit::{code_of, fail, Code};
use std::io;
use std::path::{Path, PathBuf};
use ureq::http::Uri;

/// A certificate failure said in curl's words, with what to do about it,
/// instead of rustls' debug structures; `None` for any other error.
/// `ca_file`: whether --ca-file was given. The server's identity failed
/// verification: that is no failure a retry mends.
pub(crate) fn certificate_problem(err: &anyhow::Error, uri: &Uri, ca_file: bool) -> Option<String> {
    use rustls::CertificateError as C;
    fn in_io(io: &io::Error) -> Option<&rustls::Error> {
        io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
    }
    let found = err.chain().find_map(|c| {
        c.downcast_ref::<rustls::Error>()
            .or_else(|| c.downcast_ref::<io::Error>().and_then(in_io))
            .or_else(|| match c.downcast_ref::<ureq::Error>() {
                Some(ureq::Error::Rustls(e)) => Some(e),
                Some(ureq::Error::Io(io)) => in_io(io),
                _ => None,
            })
    });
    let Some(rustls::Error::InvalidCertificate(cert)) = found else {
        return None;
    };
    let host = uri.host().unwrap_or_default();
    let when = |t: &rustls::pki_types::UnixTime| {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.as_secs());
        humantime::format_rfc3339_seconds(t).to_string()
    };
    let why = match cert {
        C::UnknownIssuer => format!(
            "self-signed certificate or unknown issuer: the certificate of {host} is not issued \
             by a CA of the system store{} (a self-signed server certificate is trusted when \
             --ca-file holds it, unless it is a CA certificate)",
            if ca_file { " or of --ca-file" } else { "" }
        ),
        C::NotValidForNameContext { presented, .. } => format!(
            "name mismatch: no alternative certificate subject name matches target host name \
             '{host}' (it names {}; a subject CN alone is not used)",
            presented_names(presented)
        ),
        C::NotValidForName => format!(
            "name mismatch: no alternative certificate subject name matches target host name \
             '{host}' (a subject CN alone is not used)"
        ),
        C::ExpiredContext { time, not_after } => format!(
            "certificate has expired: it was valid until {}, it is {} now",
            when(not_after),
            when(time)
        ),
        C::Expired => "certificate has expired".to_string(),
        C::NotValidYetContext { time, not_before } => format!(
            "certificate is not yet valid: it is valid from {}, it is {} now",
            when(not_before),
            when(time)
        ),
        C::NotValidYet => "certificate is not yet valid".to_string(),
        C::Revoked => "certificate revoked".to_string(),
        C::BadSignature => "certificate signature failure".to_string(),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "unsuitable certificate purpose (not for a TLS server)".to_string()
        }
        C::Other(o) if format!("{o:?}").contains("CaUsedAsEndEntity") => format!(
            "the certificate of {host} is a CA certificate (basicConstraints CA:TRUE, \
             as `openssl req -x509` makes by default) used as a server certificate: \
             rustls refuses that{}, where curl with OpenSSL accepts it; make the server \
             certificate with -addext basicConstraints=critical,CA:FALSE and a \
             subjectAltName for {host}, or sign it with a CA given to --ca-file",
            if ca_file {
                " even when --ca-file holds it"
            } else {
                ""
            }
        ),
        other => format!("{}", rustls::Error::InvalidCertificate(other.clone())),
    };
    Some(format!("SSL certificate problem: {why}"))
}

/// The names a certificate presents, as rustls lists them
/// (`DnsName("a.example")`, `IpAddress(127.0.0.1)`), said plainly.
fn presented_names(presented: &[String]) -> String {
    if presented.is_empty() {
        return "no name".to_string();
    }
    presented
        .iter()
        .map(|p| {
            if let Some(ip) = p
                .strip_prefix("IpAddress(")
                .and_then(|r| r.strip_suffix(')'))
            {
                format!("IP {ip}")
            } else if let Some(dns) = p.strip_prefix("DnsName(").and_then(|r| r.strip_suffix(')')) {
                dns.trim_matches('"').to_string()
            } else {
                p.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where distributions keep their CA bundle; `SSL_CERT_FILE` wins.
const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// `--ca-file` plus the system bundle: rustls takes one root store, so the
/// platform verifier cannot be combined with extra roots.
pub(crate) fn load_roots(ca: &Path) -> anyhow::Result<Vec<ureq::tls::Certificate<'static>>> {
    // A FIFO or device is refused, never read; a CA bundle is small.
    let pem = crate::fsutil::read_regular(ca, "--ca-file", 16 << 20, Code::Usage).map_err(|e| {
        match code_of(&e) {
            Code::Io => e.context(crate::exit::Failure::new(
                Code::Usage,
                format!("--ca-file {}", ca.display()),
            )),
            _ => e,
        }
    })?;
    let mut roots = pem_certificates(&pem);
    if roots.is_empty() {
        return Err(fail(
            Code::Usage,
            format!("--ca-file {}: no PEM certificate", ca.display()),
        ));
    }
    let system = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
        // Bounded, through the special-file rule (SSL_CERT_FILE may name
        // anything).
        .find_map(|p| crate::fsutil::read_regular(&p, "CA bundle", 64 << 20, Code::Usage).ok());
    if let Some(pem) = system {
        roots.extend(pem_certificates(&pem));
    }
    Ok(roots)
}

fn pem_certificates(pem: &[u8]) -> Vec<ureq::tls::Certificate<'static>> {
    ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect()
}
