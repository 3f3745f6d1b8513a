//! Rules for registered redirect URIs (SECURITY.md SEC-04; OIDC Core §3.1.2.1; RFC 8252 §7;
//! RFC 9700 §2.1). Matching at the authorization endpoint is an exact string comparison done
//! elsewhere; this module decides what may be registered at all.

/// Hosts for which plain `http` is allowed (RFC 8252 §7.3, §8.3: loopback redirects for native
/// apps; `localhost` for development).
const LOOPBACK_HOSTS: &[&str] = &["127.0.0.1", "[::1]", "localhost"];

/// Whether `host` (as `url::Url::host_str` gives it) is a loopback host.
pub fn is_loopback_host(host: &str) -> bool {
    LOOPBACK_HOSTS.contains(&host)
}

/// Schemes that must never be registered, compared case-insensitively.
const FORBIDDEN_SCHEMES: &[&str] = &["javascript", "data", "vbscript", "file", "blob"];

/// Checks that `uri` may be registered as a redirect or post-logout redirect URI.
/// Returns a message that says what is wrong and how to fix it.
pub fn check_registrable_redirect_uri(uri: &str) -> Result<(), String> {
    if uri.is_empty() {
        return Err("is empty".into());
    }
    if uri.trim() != uri || uri.chars().any(|c| c.is_control() || c == ' ') {
        return Err("contains whitespace or control characters".into());
    }
    // RFC 6749 §3.1.2: the endpoint URI MUST NOT include a fragment component.
    if uri.contains('#') {
        return Err("has a fragment (#...); RFC 6749 §3.1.2 forbids it".into());
    }
    let parsed = url::Url::parse(uri)
        .map_err(|e| format!("is not an absolute URI ({e}); RFC 6749 §3.1.2 requires one"))?;
    let scheme = parsed.scheme().to_ascii_lowercase();
    if FORBIDDEN_SCHEMES.contains(&scheme.as_str()) {
        return Err(format!(
            "uses the `{scheme}:` scheme, which is never allowed"
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("contains user information (user@host), a classic open-redirect trick".into());
    }
    match scheme.as_str() {
        "https" => {
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err("has no host".into());
            }
            Ok(())
        }
        "http" => {
            let host = parsed.host_str().unwrap_or_default();
            if is_loopback_host(host) {
                Ok(())
            } else {
                Err(
                    "uses plain http on a non-loopback host; use https (http is allowed only \
                     for 127.0.0.1, [::1] and localhost)"
                        .into(),
                )
            }
        }
        // RFC 8252 §7.1: private-use schemes for native apps, in reverse domain name form.
        other if other.contains('.') => Ok(()),
        other => Err(format!(
            "uses the `{other}:` scheme; native apps must use a reverse-domain scheme such as \
             com.example.app:/callback (RFC 8252 §7.1)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted() {
        for ok in [
            "https://app.example/cb",
            "https://app.example/cb?tenant=1",
            "http://127.0.0.1:9000/callback",
            "http://[::1]/cb",
            "http://localhost:3000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert_eq!(check_registrable_redirect_uri(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refused() {
        for bad in [
            "",
            "/relative/cb",
            "app.example/cb",
            "https://app.example/cb#frag",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,hi",
            "VBSCRIPT:x",
            "file:///etc/passwd",
            "http://app.example/cb",
            "http://127.0.0.1.evil.example/cb",
            "https://app.example@evil.example/cb",
            "https://user:pw@app.example/cb",
            " https://app.example/cb",
            "https://app.example/c b",
            "myapp://cb",
        ] {
            assert!(check_registrable_redirect_uri(bad).is_err(), "{bad:?}");
        }
    }
}
