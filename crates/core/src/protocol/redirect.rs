//! Rules for redirect URIs (SECURITY-STATUS.md SEC-01, SEC-02, SEC-04; OIDC Core §3.1.2.1;
//! OIDC Registration §2 `application_type`; RFC 8252 §7; RFC 9700 §2.1): what a client may
//! register, and whether a presented URI matches a registered one.

use crate::model::ApplicationType;

/// Hosts for which plain `http` is allowed (RFC 8252 §7.3, §8.3: loopback redirects for native
/// apps; `localhost` for development).
const LOOPBACK_HOSTS: &[&str] = &["127.0.0.1", "[::1]", "localhost"];

/// Whether `host` (as `url::Url::host_str` gives it) is a loopback host.
pub fn is_loopback_host(host: &str) -> bool {
    LOOPBACK_HOSTS.contains(&host)
}

/// Schemes that must never be registered, compared case-insensitively.
const FORBIDDEN_SCHEMES: &[&str] = &["javascript", "data", "vbscript", "file", "blob"];

/// Checks that `uri` may be registered as a redirect or post-logout redirect URI by a client
/// of `application_type`: web clients use https (or http on a loopback host, for
/// development); native apps may also use private-use schemes (RFC 8252 §7.1). Returns a
/// message that says what is wrong and how to fix it.
pub fn check_registrable_redirect_uri(
    uri: &str,
    application_type: ApplicationType,
) -> Result<(), String> {
    if uri.is_empty() {
        return Err("is empty".into());
    }
    if uri.trim() != uri || uri.chars().any(|c| c.is_control() || c == ' ') {
        return Err("contains whitespace or control characters".into());
    }
    // Responses carry the URI in a Location header: it must be ASCII (percent-encode the rest).
    if !uri.is_ascii() {
        return Err("contains non-ASCII characters; percent-encode them".into());
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
        other if application_type == ApplicationType::Web => Err(format!(
            "uses the `{other}:` scheme; web clients use https (private-use schemes are for \
             clients with application_type = \"native\", RFC 8252 §7.1)"
        )),
        other if other.contains('.') => Ok(()),
        other => Err(format!(
            "uses the `{other}:` scheme; native apps must use a reverse-domain scheme such as \
             com.example.app:/callback (RFC 8252 §7.1)"
        )),
    }
}

/// The loopback literals whose port may vary at redirect time (RFC 8252 §7.3; `localhost` is
/// not widened, RFC 8252 §8.3).
const PORT_FREE_PREFIXES: &[&str] = &["http://127.0.0.1", "http://[::1]"];

/// Splits a loopback redirect URI into (prefix, rest after the port), if it is one; the port,
/// when present, must be a number up to 65535. Works on the string, never on a parsed URL.
fn without_loopback_port(uri: &str) -> Option<(&'static str, &str)> {
    let prefix = PORT_FREE_PREFIXES.iter().find(|p| uri.starts_with(**p))?;
    let rest = &uri[prefix.len()..];
    let rest = match rest.strip_prefix(':') {
        Some(after) => {
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            // A port is a 16-bit number (RFC 3986 §3.2.3 leaves it to the scheme; RFC 6335):
            // `:65735` is no port, so the URI is not a loopback redirect with another port.
            if digits == 0 || digits > 5 || after[..digits].parse::<u16>().is_err() {
                return None;
            }
            &after[digits..]
        }
        None => rest,
    };
    // After the authority comes the path (or nothing): `http://127.0.0.1.evil/` is no loopback.
    (rest.is_empty() || rest.starts_with('/')).then_some((prefix, rest))
}

/// Whether a presented `redirect_uri` matches a registered one: an exact, case-sensitive string
/// comparison (RFC 9700 §2.1, §4.1.3; SEC-01), except that for native apps on
/// `http://127.0.0.1` and `http://[::1]` the port may differ (RFC 8252 §7.3, which is about
/// native apps only; SEC-02). The one matching function every entry point uses.
pub fn redirect_uri_matches(
    registered: &str,
    presented: &str,
    application_type: ApplicationType,
) -> bool {
    if registered == presented {
        return true;
    }
    if application_type != ApplicationType::Native {
        return false;
    }
    match (
        without_loopback_port(registered),
        without_loopback_port(presented),
    ) {
        (Some((p1, rest1)), Some((p2, rest2))) => p1 == p2 && rest1 == rest2,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use ApplicationType::{Native, Web};

    fn native(registered: &str, presented: &str) -> bool {
        redirect_uri_matches(registered, presented, Native)
    }

    #[test]
    fn exact_matching_refuses_every_variant() {
        // SEC-01.
        let registered = "https://app.example/cb";
        assert!(redirect_uri_matches(registered, registered, Web));
        for presented in [
            "https://app.example/cb/",
            "https://app.example/CB",
            "https://app.example/cb?x=1",
            "https://app.example/cb#f",
            "https://app.example/cb/..;/x",
            "https://app.example/cb/%2e%2e/x",
            "https://app.example@evil.example/cb",
            "https://app.example.evil.example/cb",
            "HTTPS://APP.EXAMPLE/cb",
            "https://app.example:443/cb",
            "",
        ] {
            assert!(
                !redirect_uri_matches(registered, presented, Web),
                "{presented}"
            );
            assert!(!native(registered, presented), "{presented}");
        }
    }

    #[test]
    fn loopback_port_may_differ_for_native_apps_and_nothing_else() {
        // SEC-02, RFC 8252 §7.3.
        let registered = "http://127.0.0.1/callback";
        assert!(native(registered, "http://127.0.0.1:51004/callback"));
        assert!(native(
            "http://127.0.0.1:9000/callback",
            "http://127.0.0.1:7/callback"
        ));
        assert!(native("http://[::1]:1/cb?x=1", "http://[::1]:65535/cb?x=1"));
        for presented in [
            "http://127.0.0.1:51004/callback/",
            "http://127.0.0.1:51004/Callback",
            "http://127.0.0.1:51004/callback?x",
            "https://127.0.0.1:51004/callback",
            "http://127.0.0.1:/callback",
            "http://127.0.0.1:123456/callback",
            "http://127.0.0.1:65536/callback",
            "http://127.0.0.1.evil.example/callback",
            "http://127.0.0.1:80@evil.example/callback",
            "http://[::1]:8080/callback",
            "http://localhost:8080/callback",
        ] {
            assert!(!native(registered, presented), "{presented}");
        }
        // localhost is not widened.
        assert!(!native("http://localhost/cb", "http://localhost:8080/cb"));
    }

    #[test]
    fn web_clients_match_the_port_too() {
        // RFC 8252 §7.3 is for native apps: a web client's loopback URI matches exactly.
        for (registered, presented) in [
            (
                "http://127.0.0.1/callback",
                "http://127.0.0.1:51004/callback",
            ),
            (
                "http://127.0.0.1:9000/callback",
                "http://127.0.0.1:9001/callback",
            ),
            ("http://[::1]:1/cb", "http://[::1]:2/cb"),
        ] {
            assert!(
                !redirect_uri_matches(registered, presented, Web),
                "{presented}"
            );
            assert!(native(registered, presented), "{presented}");
        }
        assert!(redirect_uri_matches(
            "http://127.0.0.1:9000/callback",
            "http://127.0.0.1:9000/callback",
            Web
        ));
    }

    #[test]
    fn accepted() {
        for ok in [
            "https://app.example/cb",
            "https://app.example/cb?tenant=1",
            "http://127.0.0.1:9000/callback",
            "http://[::1]/cb",
            "http://localhost:3000/cb",
        ] {
            assert_eq!(check_registrable_redirect_uri(ok, Web), Ok(()), "{ok}");
            assert_eq!(check_registrable_redirect_uri(ok, Native), Ok(()), "{ok}");
        }
        // RFC 8252 §7.1: private-use schemes are for native apps only.
        let private = "com.example.app:/oauth2redirect";
        assert_eq!(check_registrable_redirect_uri(private, Native), Ok(()));
        let refused = check_registrable_redirect_uri(private, Web).unwrap_err();
        assert!(refused.contains("native"), "{refused}");
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
            assert!(check_registrable_redirect_uri(bad, Web).is_err(), "{bad:?}");
            assert!(
                check_registrable_redirect_uri(bad, Native).is_err(),
                "{bad:?}"
            );
        }
    }
}
