//! securesystemslib's OpenPGP signature form, `{"keyid": FPR,
//! "other_headers": HEX, "signature": HEX}` (in-toto-run --gpg, and Qubes'
//! package rebuilder): the v4 signature packet split into its hashed part
//! (version, type, algorithms, hashed subpackets) and its signature values
//! (RSA: the integer; EdDSA: R || S, 32 bytes each). The unhashed
//! subpackets and the two-byte hash prefix are dropped, as securesystemslib
//! does.
//!
//! [`to_packet`] rebuilds an OpenPGP signature packet from it, so that the
//! crate's OpenPGP verifier (keyrings, policy, key validity at signing
//! time) judges it like any detached signature; [`from_packet`] splits a
//! signature gpg made (`sign-log agree --attest --gpg-program`).

use sha2::Digest;

/// Public-key algorithms securesystemslib's form carries (RFC 4880 §9.1).
const RSA: u8 = 1;
const RSA_SIGN: u8 = 3;
const EDDSA_LEGACY: u8 = 22;

/// The split form of one signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// The issuer fingerprint, lowercase hex.
    pub keyid: String,
    pub other_headers: Vec<u8>,
    pub signature: Vec<u8>,
}

/// An OpenPGP MPI: bit count, then the big-endian value without leading
/// zeros.
fn mpi(out: &mut Vec<u8>, value: &[u8]) {
    let start = value.iter().position(|&b| b != 0).unwrap_or(value.len());
    let v = value.get(start..).unwrap_or_default();
    let bits = match v.first() {
        Some(&top) => (v.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
        None => 0,
    };
    out.extend_from_slice(&(bits.min(0xffff) as u16).to_be_bytes());
    out.extend_from_slice(v);
}

/// The left 16 bits of the signed hash (an early-rejection hint in the
/// packet; computed so the rebuilt packet is what the signer emitted).
fn hash_prefix(hash_algo: u8, data: &[u8], hashed: &[u8]) -> [u8; 2] {
    fn run<D: Digest>(data: &[u8], hashed: &[u8]) -> [u8; 2] {
        let mut h = D::new();
        h.update(data);
        h.update(hashed);
        h.update([4, 0xff]);
        h.update((hashed.len() as u32).to_be_bytes());
        let d = h.finalize();
        [
            d.first().copied().unwrap_or(0),
            d.get(1).copied().unwrap_or(0),
        ]
    }
    match hash_algo {
        8 => run::<sha2::Sha256>(data, hashed),
        9 => run::<sha2::Sha384>(data, hashed),
        10 => run::<sha2::Sha512>(data, hashed),
        11 => run::<sha2::Sha224>(data, hashed),
        // Other hashes are refused by the policy anyway.
        _ => [0, 0],
    }
}

/// An OpenPGP v4 signature packet over `data` from the split form.
pub fn to_packet(
    keyid: &str,
    other_headers: &[u8],
    signature: &[u8],
    data: &[u8],
) -> Result<Vec<u8>, String> {
    let (Some(&4), Some(&pk_algo), Some(&hash_algo)) = (
        other_headers.first(),
        other_headers.get(2),
        other_headers.get(3),
    ) else {
        return Err("other_headers is not the start of a v4 signature packet".into());
    };
    let hashed_len = other_headers
        .get(4..6)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .ok_or("other_headers is truncated")?;
    if other_headers.len() != 6 + hashed_len {
        return Err("other_headers is not a signature's hashed part".into());
    }
    let mut body = other_headers.to_vec();
    // Unhashed: the issuer the document names, so the key can be found
    // when the hashed area has no issuer fingerprint (gpg < 2.1).
    let mut unhashed = Vec::new();
    if let Ok(fpr) = hex::decode(keyid) {
        if fpr.len() == 20 {
            unhashed.extend_from_slice(&[22, 33, 4]);
            unhashed.extend_from_slice(&fpr);
            unhashed.extend_from_slice(&[9, 16]);
            unhashed.extend_from_slice(fpr.get(12..).unwrap_or_default());
        }
    }
    body.extend_from_slice(&(unhashed.len() as u16).to_be_bytes());
    body.extend_from_slice(&unhashed);
    body.extend_from_slice(&hash_prefix(hash_algo, data, other_headers));
    match pk_algo {
        RSA | RSA_SIGN => mpi(&mut body, signature),
        EDDSA_LEGACY => {
            if signature.len() != 64 {
                return Err(format!("an EdDSA signature of {} bytes", signature.len()));
            }
            let (r, s) = signature.split_at(32);
            mpi(&mut body, r);
            mpi(&mut body, s);
        }
        other => return Err(format!("public-key algorithm {other} is not supported")),
    }
    let mut packet = vec![0xc2];
    let n = body.len();
    if n < 192 {
        packet.push(n as u8);
    } else if n < 8384 {
        let m = n - 192;
        packet.push(((m >> 8) + 192) as u8);
        packet.push((m & 0xff) as u8);
    } else {
        packet.push(0xff);
        packet.extend_from_slice(&(n as u32).to_be_bytes());
    }
    packet.extend_from_slice(&body);
    Ok(packet)
}

/// Read an MPI at `*at`, advancing.
fn read_mpi<'a>(body: &'a [u8], at: &mut usize) -> Result<&'a [u8], String> {
    let bits = body
        .get(*at..*at + 2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .ok_or("truncated MPI")?;
    let len = bits.div_ceil(8);
    let v = body.get(*at + 2..*at + 2 + len).ok_or("truncated MPI")?;
    *at += 2 + len;
    Ok(v)
}

/// Split one binary v4 signature packet (as `gpg --detach-sign` writes it)
/// into securesystemslib's form. The issuer fingerprint must be in the
/// hashed area (gpg 2.1 and later put it there).
pub fn from_packet(packet: &[u8]) -> Result<Split, String> {
    let tag = *packet.first().ok_or("an empty signature")?;
    let (body_start, len) = match tag {
        0xc2 => match packet.get(1).copied() {
            Some(l) if l < 192 => (2, usize::from(l)),
            Some(l) if l < 224 => {
                let l2 = usize::from(*packet.get(2).ok_or("truncated")?);
                (3, ((usize::from(l) - 192) << 8) + l2 + 192)
            }
            Some(255) => {
                let b = packet.get(2..6).ok_or("truncated")?;
                (6, u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            }
            _ => return Err("partial body lengths in a signature".into()),
        },
        0x88 => (2, usize::from(*packet.get(1).ok_or("truncated")?)),
        0x89 => {
            let b = packet.get(1..3).ok_or("truncated")?;
            (3, usize::from(u16::from_be_bytes([b[0], b[1]])))
        }
        _ => return Err("not one OpenPGP signature packet".into()),
    };
    let body = packet
        .get(body_start..body_start + len)
        .ok_or("truncated signature packet")?;
    if packet.len() != body_start + len {
        return Err("more than one packet: sign with one key".into());
    }
    if body.first() != Some(&4) {
        return Err("not a v4 signature".into());
    }
    let hashed_len = body
        .get(4..6)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .ok_or("truncated")?;
    let other_headers = body.get(..6 + hashed_len).ok_or("truncated")?.to_vec();
    let hashed = other_headers.get(6..).unwrap_or_default();
    let keyid =
        issuer_fingerprint(hashed).ok_or("no issuer fingerprint in the hashed subpackets")?;
    let mut at = 6 + hashed_len;
    let unhashed_len = body
        .get(at..at + 2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .ok_or("truncated")?;
    at += 2 + unhashed_len + 2;
    let signature = match body.get(2).copied() {
        Some(RSA | RSA_SIGN) => read_mpi(body, &mut at)?.to_vec(),
        Some(EDDSA_LEGACY) => {
            let mut out = Vec::with_capacity(64);
            for _ in 0..2 {
                let v = read_mpi(body, &mut at)?;
                if v.len() > 32 {
                    return Err("an EdDSA value longer than 32 bytes".into());
                }
                out.extend(std::iter::repeat_n(0, 32 - v.len()));
                out.extend_from_slice(v);
            }
            out
        }
        Some(other) => return Err(format!("public-key algorithm {other} is not supported")),
        None => return Err("truncated".into()),
    };
    Ok(Split {
        keyid,
        other_headers,
        signature,
    })
}

/// The v4 issuer fingerprint (subpacket 33) of a subpacket area.
fn issuer_fingerprint(mut area: &[u8]) -> Option<String> {
    let mut found = None;
    while let Some(&first) = area.first() {
        let (len, skip) = match first {
            0..=191 => (usize::from(first), 1),
            192..=254 => (
                ((usize::from(first) - 192) << 8) + usize::from(*area.get(1)?) + 192,
                2,
            ),
            255 => {
                let b = area.get(1..5)?;
                (u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize, 5)
            }
        };
        let sub = area.get(skip..skip + len)?;
        // The type, with the critical bit cleared.
        if sub.first().map(|t| t & 0x7f) == Some(33) && sub.get(1) == Some(&4) {
            found = sub.get(2..22).map(hex::encode);
        }
        area = area.get(skip + len..)?;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpis_drop_leading_zeros() {
        let mut v = Vec::new();
        mpi(&mut v, &[0, 0, 1, 0xff]);
        assert_eq!(v, [0, 9, 1, 0xff]);
        let mut v = Vec::new();
        mpi(&mut v, &[0]);
        assert_eq!(v, [0, 0]);
    }

    #[test]
    fn refuses_what_it_cannot_rebuild() {
        assert!(to_packet("", &[3, 0, 1, 8, 0, 0], &[1], b"").is_err());
        assert!(to_packet("", &[4, 0, 17, 8, 0, 0], &[1], b"").is_err());
        assert!(to_packet("", &[4, 0, 1, 8, 0, 5], &[1], b"").is_err());
        assert!(from_packet(&[0xc2, 5, 4, 0]).is_err());
    }
}
