//! RFC 8705 §4: a public client's refresh token is bound to the certificate it was issued
//! over; another certificate, or none, cannot use it (and cannot end it).

use crate::browser::Browser;
use crate::mtls::{setup, tls_client, token};
use crate::signin::{CHALLENGE, VERIFIER, jwt_claims};

#[tokio::test]
async fn a_public_clients_refresh_token_is_bound_to_its_certificate() {
    let s = setup().await;
    let cb = "https://pki-spa.example/cb";
    let redirect: String = url::form_urlencoded::byte_serialize(cb.as_bytes()).collect();
    let url = s.server.url(&format!(
        "/authorize?client_id=pki-spa&redirect_uri={redirect}&response_type=code\
         &scope=openid+offline_access&code_challenge={CHALLENGE}&code_challenge_method=S256"
    ));
    let browser = Browser::new(&s.server.base);
    let code = browser
        .authorize(&url, "alice", "alice-password")
        .await
        .param("code")
        .unwrap();
    let mtls = tls_client(&s, Some(&s.pki));
    let (status, tokens) = token(
        &mtls,
        &s.tls_base,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "pki-spa"),
            ("code", &code),
            ("redirect_uri", cb),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert!(jwt_claims(tokens["access_token"].as_str().unwrap())["cnf"]["x5t#S256"].is_string());
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", "pki-spa"),
        ("refresh_token", refresh.as_str()),
    ];
    // Another certificate: refused, and the token is not burned.
    let (status, body) = token(&tls_client(&s, Some(&s.selfie)), &s.tls_base, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // Its own certificate: refreshed.
    let (status, body) = token(&mtls, &s.tls_base, &form).await;
    assert_eq!(status, 200, "{body}");
}
