//! Web origins as browser-based clients register them for cross-origin requests (SEC-64):
//! each one exact, in the form browsers send in the `Origin` header (RFC 6454 §6.2, the ASCII
//! serialisation: lower-case scheme and host, no default port, no path), so that a request's
//! `Origin` is compared with them byte for byte.

use super::redirect::is_loopback_host;

/// The origin `origin` registers, serialised as a browser's `Origin` header would carry it
/// (`https://App.Example:443/` registers `https://app.example`); or what is wrong with it.
/// Wildcards, `null`, paths, user information and schemes other than https (http on a
/// loopback host) are refused.
pub fn registrable_origin(origin: &str) -> Result<String, String> {
    if origin.is_empty() {
        return Err("is empty".into());
    }
    // Keycloak #51776: a `*` web origin echoed any Origin. Every origin is listed exactly.
    if origin.contains('*') {
        return Err("has a wildcard; list every origin exactly (scheme://host[:port])".into());
    }
    if origin.eq_ignore_ascii_case("null") {
        return Err(
            "is `null`, the origin of sandboxed and local documents, which anyone can send".into(),
        );
    }
    if origin.trim() != origin || origin.chars().any(|c| c.is_control() || c == ' ') {
        return Err("contains whitespace or control characters".into());
    }
    let parsed = url::Url::parse(origin)
        .map_err(|e| format!("is not an origin ({e}); write scheme://host[:port]"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("contains user information (user@host); an origin has none".into());
    }
    if parsed.path() != "/" || parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("has a path, query or fragment; an origin is only scheme://host[:port]".into());
    }
    let host = parsed.host_str().unwrap_or_default();
    match parsed.scheme() {
        "https" if !host.is_empty() => {}
        "http" if is_loopback_host(host) => {}
        "http" => {
            return Err(
                "uses plain http on a non-loopback host; use https (http is allowed only for \
                 127.0.0.1, [::1] and localhost)"
                    .into(),
            );
        }
        other => return Err(format!("uses the `{other}:` scheme; origins use https")),
    }
    Ok(parsed.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::registrable_origin;

    #[test]
    fn origins_are_kept_as_browsers_send_them() {
        for (given, kept) in [
            ("https://app.example", "https://app.example"),
            ("https://App.Example:443/", "https://app.example"),
            ("https://app.example:8443", "https://app.example:8443"),
            ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
            ("http://localhost:5173/", "http://localhost:5173"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("https://bücher.example", "https://xn--bcher-kva.example"),
        ] {
            assert_eq!(registrable_origin(given).as_deref(), Ok(kept), "{given}");
        }
    }

    #[test]
    fn wildcards_null_paths_and_plain_http_are_refused() {
        for (given, why) in [
            ("", "is empty"),
            ("*", "wildcard"),
            ("https://*.example", "wildcard"),
            ("null", "`null`"),
            ("NULL", "`null`"),
            ("https://app.example/spa", "path"),
            ("https://app.example/?q", "path, query"),
            ("https://app.example#x", "fragment"),
            ("https://user@app.example", "user information"),
            ("http://app.example", "plain http"),
            ("http://127.0.0.1.evil.example", "plain http"),
            ("ftp://app.example", "`ftp:`"),
            ("app.example", "not an origin"),
            (" https://app.example", "whitespace"),
        ] {
            let err = registrable_origin(given).expect_err(given);
            assert!(err.contains(why), "{given}: {err}");
        }
    }
}
