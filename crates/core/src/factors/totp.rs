//! Time-based one-time passwords (RFC 6238) over HOTP (RFC 4226): HMAC-SHA-1, 30-second steps,
//! six digits — what authenticator apps compute by default. A code is accepted in the current
//! step or one step either side (clock drift, RFC 6238 §5.2), and never twice: the caller keeps
//! the step of the last accepted code and passes it back (§5.2: "the verifier MUST NOT accept
//! the second attempt of the OTP after the successful validation").

use aws_lc_rs::hmac;
use data_encoding::BASE32_NOPAD;

use crate::clock::UnixTime;
use crate::crypto::{constant_time_eq, random_bytes};
use crate::protocol::{OAuthError, OrServerError as _};
use crate::secret::Secret;

/// Seconds per step (RFC 6238 §4.1 `X`, the default of authenticator apps).
pub const STEP_SECONDS: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Steps either side of now a code may come from.
pub const DRIFT_STEPS: i64 = 1;
/// Bytes of a new shared secret: 160 bits, as RFC 4226 §4 R6 recommends.
pub const SECRET_BYTES: usize = 20;

/// A shared TOTP secret.
#[derive(Debug, Clone)]
pub struct TotpSecret(Secret<Vec<u8>>);

impl TotpSecret {
    /// A new random secret.
    pub fn generate() -> Result<TotpSecret, OAuthError> {
        let bytes = random_bytes(SECRET_BYTES).or_server_error("drawing random bytes")?;
        Ok(TotpSecret(Secret::new(bytes)))
    }

    /// The secret from its bytes (as stored).
    pub fn from_bytes(bytes: Vec<u8>) -> TotpSecret {
        TotpSecret(Secret::new(bytes))
    }

    /// The secret from its base32 form (as stored), if it is one.
    pub fn from_base32(text: &str) -> Option<TotpSecret> {
        let bytes = BASE32_NOPAD.decode(text.as_bytes()).ok()?;
        (!bytes.is_empty()).then(|| TotpSecret(Secret::new(bytes)))
    }

    /// Its base32 form (RFC 4648 §6, unpadded), what a user types into an authenticator app.
    pub fn base32(&self) -> String {
        BASE32_NOPAD.encode(self.0.expose())
    }

    /// The `otpauth://` URI an authenticator app reads from a QR code (the Key URI Format of
    /// Google Authenticator: label `issuer:account`, `secret`, `issuer`, `algorithm`, `digits`,
    /// `period`).
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let encode = |s: &str| percent_encoding::utf8_percent_encode(s, URI_COMPONENT).to_string();
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            encode(issuer),
            encode(account),
            self.base32(),
            encode(issuer),
        )
    }

    /// The code of `step` with `digits` digits (RFC 4226 §5.3: dynamic truncation of the
    /// HMAC-SHA-1 of the big-endian step counter).
    pub fn code_at(&self, step: u64, digits: u32) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, self.0.expose());
        let mac = hmac::sign(&key, &step.to_be_bytes());
        let mac = mac.as_ref();
        let offset = usize::from(mac.last().copied().unwrap_or_default() & 0x0f);
        let word = mac
            .get(offset..offset + 4)
            .map_or(0, |b| u32::from_be_bytes([b[0] & 0x7f, b[1], b[2], b[3]]));
        let code = word % 10u32.pow(digits);
        format!("{code:0width$}", width = digits as usize)
    }

    /// The step of `presented` if it is this secret's code for now or a step either side, and
    /// later than `last_used` (a code is accepted once). `None` otherwise.
    pub fn verify(&self, presented: &str, now: UnixTime, last_used: Option<u64>) -> Option<u64> {
        let presented = presented.trim();
        if presented.len() != DIGITS as usize || !presented.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = step_of(now)?;
        (current.saturating_sub(DRIFT_STEPS as u64)..=current.saturating_add(DRIFT_STEPS as u64))
            .filter(|step| last_used.is_none_or(|used| *step > used))
            .find(|step| {
                constant_time_eq(self.code_at(*step, DIGITS).as_bytes(), presented.as_bytes())
            })
    }
}

/// The step counter at `now` (RFC 6238 §4.2: `T = floor((now - T0) / X)`, `T0` = 0); none
/// before the epoch.
pub fn step_of(now: UnixTime) -> Option<u64> {
    u64::try_from(now.div_euclid(STEP_SECONDS)).ok()
}

/// What percent-encoding leaves as it is in a URI component.
const URI_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1: the secret is the ASCII "12345678901234567890".
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        for (time, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(
                secret.code_at(step_of(time).unwrap(), 8),
                code,
                "T = {time}"
            );
        }
    }

    #[test]
    fn a_code_is_accepted_within_one_step_and_only_once() {
        let secret = TotpSecret::generate().unwrap();
        let now = 1_700_000_000;
        let step = step_of(now).unwrap();
        let code = secret.code_at(step, DIGITS);
        assert_eq!(secret.verify(&code, now, None), Some(step));
        assert_eq!(secret.verify(&code, now + STEP_SECONDS, None), Some(step));
        assert_eq!(secret.verify(&code, now - STEP_SECONDS, None), Some(step));
        assert_eq!(secret.verify(&code, now + 2 * STEP_SECONDS, None), None);
        // Used once: the same code, or an older one, is refused.
        assert_eq!(secret.verify(&code, now, Some(step)), None);
        let previous = secret.code_at(step - 1, DIGITS);
        assert_eq!(secret.verify(&previous, now, Some(step)), None);
        for bad in ["", "12345", "1234567", "12a456", " "] {
            assert_eq!(secret.verify(bad, now, None), None, "{bad:?}");
        }
    }

    #[test]
    fn the_secret_is_given_as_base32_in_an_otpauth_uri() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        assert_eq!(secret.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let again = TotpSecret::from_base32(&secret.base32()).unwrap();
        assert_eq!(again.code_at(1, DIGITS), secret.code_at(1, DIGITS));
        assert!(TotpSecret::from_base32("not base32!").is_none());
        assert_eq!(
            secret.otpauth_uri("Tessera Example", "alice@example.com"),
            "otpauth://totp/Tessera%20Example:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Tessera%20Example&algorithm=SHA1&digits=6&period=30"
        );
    }
}
