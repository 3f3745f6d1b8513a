//! The bodies of Tessera's fuzz targets. Each takes arbitrary bytes, feeds them to one of the
//! parsers that read untrusted input, and asserts what must hold for every input: no panic, and
//! a property of the result (only our own tokens verify; a parsed form encodes back to itself;
//! a redirect URI matches only itself or a loopback literal with another port).
//!
//! `fuzz/` runs them under libFuzzer (`scripts/fuzz.sh`); `tests/replay.rs` runs the committed
//! seeds and every input that once failed under `cargo test`.

// An assertion failing is how a target reports what it found.
#![allow(clippy::panic)]

pub mod fixture;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use tessera_core::authorize::claims::{MAX_CLAIMS_PARAMETER, parse_claims_parameter};
use tessera_core::clients::PresentedCredentials;
use tessera_core::clients::assertion::{AssertionAudience, check_assertion, read_assertion};
use tessera_core::clients::jwk::{ASSERTION_ALGS, ClientJwk};
use tessera_core::model::ApplicationType;
use tessera_core::protocol::form::{Form, MAX_PARAMETERS};
use tessera_core::protocol::redirect::{check_registrable_redirect_uri, redirect_uri_matches};
use tessera_core::tokens::verify::{MAX_COMPACT_JWS, parse_compact, verify_own_jws};

use fixture::{ENDPOINT, ISSUER, NOW, fixture};

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target, by the name its fuzz binary and corpus folders have.
pub const TARGETS: &[(&str, Target)] = &[
    ("jws", jws),
    ("client_assertion", client_assertion),
    ("jwk", jwk),
    ("form", form),
    ("basic_header", basic_header),
    ("redirect_uri", redirect_uri),
    ("claims_parameter", claims_parameter),
];

/// The text a target works on. Input starting with a zero byte edits a valid token instead:
/// the next byte picks one of `valid`, and each following group of three bytes is an edit
/// (two bytes of position, one byte that replaces, removes or inserts a character), so the
/// fuzzer reaches the checks behind a valid signature as well as the parser.
fn text_or_edit(data: &[u8], valid: &[String]) -> Option<String> {
    match data {
        [0, pick, edits @ ..] if !valid.is_empty() => {
            let mut text = valid[usize::from(*pick) % valid.len()].clone().into_bytes();
            for edit in edits.chunks_exact(3) {
                if text.is_empty() {
                    break;
                }
                let at = usize::from(u16::from_be_bytes([edit[0], edit[1]])) % text.len();
                match edit[2] {
                    0x7f => {
                        text.remove(at);
                    }
                    b if b.is_ascii_graphic() => text[at] = b,
                    b => text.insert(at, b"-_.=+/A0"[usize::from(b) % 8]),
                }
            }
            String::from_utf8(text).ok()
        }
        _ => std::str::from_utf8(data).ok().map(str::to_owned),
    }
}

/// Compact JWS parsing and the verification of access tokens we signed (SEC-41, CVE-28):
/// nothing but our own tokens, unchanged, verifies.
pub fn jws(data: &[u8]) {
    let f = fixture();
    let Some(text) = text_or_edit(data, &f.own_tokens) else {
        return;
    };
    if let Some(parsed) = parse_compact(&text) {
        assert!(
            text.len() <= MAX_COMPACT_JWS,
            "an oversized JWS was decoded"
        );
        assert!(text.as_bytes().starts_with(parsed.signing_input));
    }
    let ours = f.own_tokens.contains(&text);
    for typ in ["at+jwt", "logout+jwt"] {
        match verify_own_jws(&text, &f.ring, typ) {
            Some(claims) => {
                assert!(ours, "a token we did not sign verified: {text}");
                assert_eq!(typ, "at+jwt", "a token verified under another typ");
                assert_eq!(claims, f.own_claims);
            }
            None => assert!(!ours || typ != "at+jwt", "our own token was refused"),
        }
    }
}

/// Client assertions (SEC-37..40, CVE-26/27/30/32): only the valid assertions verify, each for
/// the one client whose registration holds its key.
pub fn client_assertion(data: &[u8]) {
    let f = fixture();
    let Some(text) = text_or_edit(data, &f.assertions) else {
        return;
    };
    let valid = f.assertions.contains(&text);
    let audience = AssertionAudience {
        issuer: ISSUER,
        endpoint: ENDPOINT,
        endpoints: &[],
        max_lifetime: 300,
        now: NOW,
        shared_secrets: &f.shared_secrets,
        remote_keys: None,
        certificate: None,
        algs: tessera_core::clients::jwk::ASSERTION_ALGS,
    };
    let Ok((jws, client_id)) = read_assertion(fixture::assertion_type(), &text, None) else {
        assert!(
            !valid,
            "a valid assertion was refused before its key was looked up"
        );
        return;
    };
    let mut accepted = 0;
    for client in [&f.key_client, &f.secret_client] {
        if check_assertion(client, &jws, &audience).is_ok() {
            assert!(valid, "an assertion we did not sign verified: {text}");
            assert_eq!(client.client_id, client_id, "verified for another client");
            accepted += 1;
        }
    }
    assert_eq!(accepted, usize::from(valid), "{text}");
}

/// Registered JWKs and the JWKS the validation crate reads (SEC-38, SEC-43): private members
/// refused, key type bound to algorithm, an empty signature never verifies.
pub fn jwk(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let keys = match value.get("keys") {
        Some(Value::Array(keys)) => keys.clone(),
        _ => vec![value],
    };
    for key in &keys {
        let Ok(jwk) = ClientJwk::from_json(key) else {
            continue;
        };
        let object = key.as_object();
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(
                object.is_some_and(|o| !o.contains_key(private)),
                "a key with `{private}` was accepted"
            );
        }
        for alg in [
            "RS256", "PS256", "ES256", "EdDSA", "HS256", "none", "RS384", "",
        ] {
            if jwk.fits(alg) {
                assert!(ASSERTION_ALGS.contains(&alg), "{alg} fits a client key");
            }
            assert!(
                !jwk.verify(alg, b"message", &[]),
                "an empty signature verified"
            );
        }
    }
    // The validation crate's reading of a JWKS: jsonwebtoken's set, then one key at a time.
    if let Ok(set) = serde_json::from_slice::<jsonwebtoken::jwk::JwkSet>(data) {
        for key in &set.keys {
            let _ = jsonwebtoken::DecodingKey::from_jwk(key);
        }
    }
}

/// Form bodies (RFC 6749 Appendix B, SEC-06): what parses is bounded and encodes back to the
/// same form.
pub fn form(data: &[u8]) {
    let Ok(form) = Form::parse(data) else {
        return;
    };
    let encoded = form.encode();
    assert!(encoded.split('&').filter(|p| !p.is_empty()).count() <= MAX_PARAMETERS);
    match Form::parse(encoded.as_bytes()) {
        Ok(again) => assert_eq!(again, form, "{encoded}"),
        Err(e) => panic!("a form's own encoding does not parse: {e:?}"),
    }
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The Basic Authorization header (RFC 6749 §2.3.1, RFC 7617) beside a form body: credentials
/// read from it encode back to the same credentials, and never come with a second method.
pub fn basic_header(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (header, body) = text.split_once('\n').unwrap_or((text, ""));
    let Ok(form) = Form::parse(body.as_bytes()) else {
        return;
    };
    match PresentedCredentials::extract(Some(header), &form) {
        Ok(PresentedCredentials::Basic {
            client_id,
            presented_secret,
        }) => {
            assert!(!client_id.is_empty());
            for other in ["client_secret", "client_assertion", "client_assertion_type"] {
                assert!(!form.has(other), "Basic came with `{other}`");
            }
            let again = format!(
                "Basic {}",
                STANDARD.encode(format!(
                    "{}:{}",
                    form_encode(&client_id),
                    form_encode(presented_secret.expose())
                ))
            );
            match PresentedCredentials::extract(Some(&again), &Form::default()) {
                Ok(PresentedCredentials::Basic {
                    client_id: id2,
                    presented_secret: secret2,
                }) => {
                    assert_eq!(id2, client_id);
                    assert_eq!(secret2.expose(), presented_secret.expose());
                }
                other => panic!("re-encoded credentials read as {other:?}"),
            }
        }
        Ok(other) => panic!("an Authorization header gave {other:?}"),
        Err(_) => {}
    }
}

/// The registered URI without the port of a loopback IP literal, read with the `url` crate
/// (a parser we did not write): `None` unless `uri` is such a URI with a valid port or none.
fn loopback_without_port(uri: &str) -> Option<String> {
    let mut parsed = url::Url::parse(uri).ok()?;
    let literal = matches!(parsed.host_str(), Some("127.0.0.1" | "[::1]"));
    if parsed.scheme() != "http" || !literal || !uri.starts_with("http://") {
        return None;
    }
    parsed.set_port(None).ok()?;
    Some(parsed.into())
}

/// Redirect URI matching (SEC-01, SEC-02, CVE-01..03, CVE-19): a presented URI matches a
/// registered one only if the two are the same string, or, for a native app, both are `http`
/// loopback IP literals that differ in the port alone; for a web client only the same string
/// matches. The first line is the registered URI, the rest the presented.
pub fn redirect_uri(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (registered, presented) = text.split_once('\n').unwrap_or((text, text));
    assert_eq!(
        redirect_uri_matches(registered, presented, ApplicationType::Web),
        registered == presented,
        "a web client's URI matched another string"
    );
    let registrable = check_registrable_redirect_uri(registered, ApplicationType::Native).is_ok();
    let matched = redirect_uri_matches(registered, presented, ApplicationType::Native);
    assert_eq!(
        matched,
        redirect_uri_matches(presented, registered, ApplicationType::Native),
        "not symmetric"
    );
    if !matched || registered == presented || !registrable {
        return;
    }
    let (Some(r), Some(p)) = (
        loopback_without_port(registered),
        loopback_without_port(presented),
    ) else {
        panic!("{presented:?} matched {registered:?} without being a loopback literal");
    };
    assert_eq!(r, p, "{presented:?} matched {registered:?}");
    // Beyond the port, the strings themselves are equal: nothing the url crate normalises.
    assert_eq!(
        without_port_text(registered),
        without_port_text(presented),
        "{presented:?} matched {registered:?}"
    );
}

/// `http://host:port/rest` as `http://host/rest`, cut on the text.
fn without_port_text(uri: &str) -> String {
    let Some(after) = uri.strip_prefix("http://") else {
        return uri.to_owned();
    };
    let end = after.find('/').unwrap_or(after.len());
    let authority = &after[..end];
    let host = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => &authority[..i],
        _ => authority,
    };
    format!("http://{host}{}", &after[end..])
}

/// The `claims` parameter (OIDC Core §5.5, SEC-48): what parses came from a bounded text and
/// names claims that are non-empty and bounded.
pub fn claims_parameter(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(request) = parse_claims_parameter(text) else {
        return;
    };
    assert!(text.len() <= MAX_CLAIMS_PARAMETER);
    for name in request.userinfo.iter().chain(&request.id_token) {
        assert!(!name.is_empty() && name.len() <= 128, "claim name {name:?}");
    }
}
