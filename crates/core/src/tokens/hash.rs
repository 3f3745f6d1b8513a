//! `at_hash` and `c_hash` (OIDC Core §3.1.3.6, §3.3.2.11): the left-most half of the hash of
//! the token's ASCII octets, with the hash of the ID token's `alg`, base64url-encoded.

use super::SigningAlg;
use crate::crypto::{base64url, sha256};

/// The half-hash of `value` for an ID token signed with `alg` (ES256 and RS256 use SHA-256).
pub fn left_half_hash(alg: SigningAlg, value: &str) -> String {
    let digest = match alg {
        SigningAlg::Es256 | SigningAlg::Rs256 => sha256(value.as_bytes()),
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
    }
}
