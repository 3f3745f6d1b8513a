//! The browser cookies: the single sign-on session and the browser binding of interactions.
//! Under an https issuer they carry the `__Host-` prefix (RFC 6265bis §4.1.3.2: Secure, no
//! Domain, Path=/), so no other host can set them.

use axum::http::{HeaderMap, HeaderValue, header};
use tessera_core::crypto::{base64url, constant_time_eq, random_handle};
use tessera_core::protocol::OAuthError;
use tessera_core::protocol::OrServerError as _;

/// Authenticates the values of the server's own cookies (the browser binding, the device
/// cookie) with an HMAC key shared by every instance: a value the server did not issue is
/// never accepted, whoever managed to set it in the browser.
pub struct CookieMac {
    key: aws_lc_rs::hmac::Key,
}

/// What the browser-binding cookie is issued for.
pub const BROWSER_PURPOSE: &str = "browser";

/// Length of the random part and of the tag of a MAC-ed cookie value (base64url of 32 bytes).
const PART: usize = 43;

impl CookieMac {
    /// A MAC with the server secret `secret`.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret),
        }
    }

    fn tag(&self, purpose: &str, random: &str) -> String {
        let mut ctx = aws_lc_rs::hmac::Context::with_key(&self.key);
        ctx.update(purpose.as_bytes());
        ctx.update(&[0]);
        ctx.update(random.as_bytes());
        base64url(ctx.sign().as_ref())
    }

    /// A new value for `purpose`: 256 random bits and their tag.
    pub fn issue(&self, purpose: &str) -> Result<String, OAuthError> {
        let random = random_handle().or_server_error("drawing random bytes")?;
        let tag = self.tag(purpose, &random);
        Ok(format!("{random}{tag}"))
    }

    /// A tag binding `value` to `purpose` (a form's CSRF token for a session, a value a form
    /// carries back unchanged).
    pub fn sign(&self, purpose: &str, value: &str) -> String {
        self.tag(purpose, value)
    }

    /// Whether `tag` is [`CookieMac::sign`]'s for `purpose` and `value` (constant time).
    pub fn check(&self, purpose: &str, value: &str, tag: &str) -> bool {
        constant_time_eq(self.tag(purpose, value).as_bytes(), tag.as_bytes())
    }

    /// Whether `value` was issued for `purpose` (compared in constant time).
    pub fn verify(&self, purpose: &str, value: &str) -> bool {
        if value.len() != 2 * PART || !value.is_ascii() {
            return false;
        }
        let (random, tag) = value.split_at(PART);
        constant_time_eq(self.tag(purpose, random).as_bytes(), tag.as_bytes())
    }
}

/// Cookie names and attributes for one issuer.
#[derive(Debug, Clone)]
pub struct CookieNames {
    /// The session cookie's name.
    pub session: &'static str,
    /// The browser-binding cookie's name.
    pub browser: &'static str,
    /// The script-readable OP browser state (Session Management 1.0 §3).
    pub browser_state: &'static str,
    /// A browser where a user signed in before (OWASP device cookies): its sign-ins are not
    /// slowed down by others' failures.
    pub device: &'static str,
    secure: bool,
}

impl CookieNames {
    /// Names for an issuer; `https` gives `__Host-` names and `Secure`.
    pub fn for_issuer(issuer: &str) -> Self {
        let secure = issuer.starts_with("https://");
        if secure {
            Self {
                session: "__Host-tessera-session",
                browser: "__Host-tessera-browser",
                browser_state: "__Host-tessera-bs",
                device: "__Host-tessera-device",
                secure,
            }
        } else {
            Self {
                session: "tessera-session",
                browser: "tessera-browser",
                browser_state: "tessera-bs",
                device: "tessera-device",
                secure,
            }
        }
    }

    /// The OP browser state cookie: readable by the check-session iframe's script, so not
    /// HttpOnly; it holds no secret. Under https it is SameSite=None so that the iframe, in
    /// the client's site, can read it.
    /// It lasts as long as the session can (`max_age` seconds).
    pub fn set_browser_state(&self, value: &str, max_age: i64) -> Option<HeaderValue> {
        let attributes = if self.secure {
            "; SameSite=None; Secure"
        } else {
            "; SameSite=Lax"
        };
        HeaderValue::from_str(&format!(
            "{}={value}; Path=/; Max-Age={}{attributes}",
            self.browser_state,
            max_age.max(0)
        ))
        .ok()
    }

    /// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure under https. A session
    /// cookie (no Max-Age): the server-side record decides how long the session lasts.
    pub fn set(&self, name: &str, value: &str) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}"
        ))
        .ok()
    }

    /// A lasting `Set-Cookie` value (HttpOnly, SameSite=Lax) that the browser keeps for
    /// `max_age` seconds.
    pub fn set_lasting(&self, name: &str, value: &str, max_age: u64) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
        ))
        .ok()
    }

    /// A `Set-Cookie` value that removes the cookie.
    pub fn clear(&self, name: &str) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"
        ))
        .ok()
    }
}

/// The value of cookie `name` in the request, if sent once with a plausible value.
pub fn read_cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let mut found = None;
    for header in headers.get_all(header::COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=')
                && k == name
            {
                if found.is_some() {
                    // Two cookies of one name: trust neither.
                    return None;
                }
                found = Some(v);
            }
        }
    }
    found.filter(|v| {
        !v.is_empty()
            && v.len() <= 256
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_issued_values_verify() {
        let mac = CookieMac::new(b"0123456789abcdef0123456789abcdef");
        let value = mac.issue("browser").unwrap();
        assert_eq!(value.len(), 86);
        assert!(mac.verify("browser", &value));
        assert!(!mac.verify("device\0alice", &value), "bound to its purpose");
        let other = CookieMac::new(b"another key, another key, another");
        assert!(!other.verify("browser", &value), "bound to the server key");
        let mut forged = value.clone();
        forged.replace_range(0..1, if value.starts_with('A') { "B" } else { "A" });
        assert!(!mac.verify("browser", &forged));
        for bad in ["", "short", &value[..85], &format!("{value}x")] {
            assert!(!mac.verify("browser", bad), "{bad}");
        }
    }

    #[test]
    fn reads_and_writes() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; tessera-session=abc_-9"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(read_cookie(&h, "tessera-session"), Some("abc_-9"));
        assert_eq!(read_cookie(&h, "b"), Some("2"));
        assert_eq!(read_cookie(&h, "c"), None);
        h.append(header::COOKIE, HeaderValue::from_static("b=3"));
        assert_eq!(read_cookie(&h, "b"), None, "duplicates are refused");
        let mut bad = HeaderMap::new();
        bad.append(header::COOKIE, HeaderValue::from_static("x=a%20b"));
        assert_eq!(read_cookie(&bad, "x"), None);
        let https = CookieNames::for_issuer("https://id.example");
        let set = https.set(https.session, "v").unwrap();
        assert_eq!(
            set,
            "__Host-tessera-session=v; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
        let http = CookieNames::for_issuer("http://127.0.0.1:8080");
        assert_eq!(
            http.set(http.session, "v").unwrap(),
            "tessera-session=v; Path=/; HttpOnly; SameSite=Lax"
        );
    }
}
