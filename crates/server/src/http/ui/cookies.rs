//! The browser cookies: the single sign-on session and the browser binding of interactions.
//! Under an https issuer they carry the `__Host-` prefix (RFC 6265bis §4.1.3.2: Secure, no
//! Domain, Path=/), so no other host can set them.

use axum::http::{HeaderMap, HeaderValue, header};

/// Cookie names and attributes for one issuer.
#[derive(Debug, Clone)]
pub struct CookieNames {
    /// The session cookie's name.
    pub session: &'static str,
    /// The browser-binding cookie's name.
    pub browser: &'static str,
    /// The script-readable OP browser state (Session Management 1.0 §3).
    pub browser_state: &'static str,
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
                secure,
            }
        } else {
            Self {
                session: "tessera-session",
                browser: "tessera-browser",
                browser_state: "tessera-bs",
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
