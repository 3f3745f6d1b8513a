//! `at_hash` and `c_hash` (OIDC Core §3.1.3.6, §3.3.2.11): the left-most half of the hash of
//! the token's ASCII octets, with the hash of the ID token's `alg`, base64url-encoded.

use super::SigningAlg;
use crate::crypto::{base64url, sha256};

/// The half-hash of `value` for an ID token signed with `alg`: the hash of the algorithm
/// (SHA-256 for ES256, RS256, PS256; SHA-384 for ES384); SHA-512 for EdDSA with Ed25519, the
/// hash Ed25519 uses (OIDC Core 1.0 errata set 2, §3.1.3.6).
pub fn left_half_hash(alg: SigningAlg, value: &str) -> String {
    let digest: Vec<u8> = match alg {
        SigningAlg::Es256 | SigningAlg::Rs256 | SigningAlg::Ps256 => {
            sha256(value.as_bytes()).to_vec()
        }
        SigningAlg::Es384 => {
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, value.as_bytes())
                .as_ref()
                .to_vec()
        }
        SigningAlg::EdDsa => {
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, value.as_bytes())
                .as_ref()
                .to_vec()
        }
    };
    base64url(&digest[..digest.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_of_sha256() {
        // SHA-256("abc") = ba7816bf 8f01cfea 414140de 5dae2223 ...; its first 16 bytes.
        let expected = base64url(&[
            0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
            0x22, 0x23,
        ]);
        assert_eq!(left_half_hash(SigningAlg::Es256, "abc"), expected);
        assert_eq!(left_half_hash(SigningAlg::Rs256, "abc").len(), 22);
        assert_eq!(left_half_hash(SigningAlg::Ps256, "abc"), expected);
        // SHA-384 and SHA-512 of "abc" begin cb00753f and ddaf35a1.
        let es384 = crate::crypto::base64url_decode(&left_half_hash(SigningAlg::Es384, "abc"));
        assert_eq!(es384.as_deref().map(|d| (d.len(), d[0])), Some((24, 0xcb)));
        let eddsa = crate::crypto::base64url_decode(&left_half_hash(SigningAlg::EdDsa, "abc"));
        assert_eq!(eddsa.as_deref().map(|d| (d.len(), d[0])), Some((32, 0xdd)));
    }
}
