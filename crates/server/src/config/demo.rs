//! The `--dev` demo: a machine client, an interactive client, a device, an API and a user, added to
//! whatever the configuration declares (entries the file already has win).

use tessera_core::Secret;

use super::{RawApiResource, RawApiScope, RawClient, RawConfig, RawUser};

/// The demo user's password (the demo is for a developer's loopback server only).
pub const DEMO_USER_PASSWORD: &str = "alice";

fn client(
    client_id: &str,
    name: &str,
    secret: &str,
    grant_types: &[&str],
    scopes: &[&str],
) -> RawClient {
    RawClient {
        client_id: client_id.into(),
        client_name: Some(name.into()),
        secrets: vec![Secret::new(secret.into())],
        grant_types: grant_types.iter().map(|g| g.to_string()).collect(),
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        allowed_scopes: scopes.iter().map(|s| s.to_string()).collect(),
        require_pkce: true,
        require_consent: true,
        access_token_type: Default::default(),
        access_token_lifetime: 3_600,
        identity_token_lifetime: 300,
        refresh_token_sliding_lifetime: None,
        refresh_token_absolute_lifetime: None,
        token_endpoint_auth_method: None,
        application_type: Default::default(),
        id_token_signed_response_alg: None,
        userinfo_signed_response_alg: None,
        authorization_signed_response_alg: None,
        id_token_encrypted_response_alg: None,
        id_token_encrypted_response_enc: None,
        userinfo_encrypted_response_alg: None,
        userinfo_encrypted_response_enc: None,
        authorization_encrypted_response_alg: None,
        authorization_encrypted_response_enc: None,
        default_acr_values: vec![],
        require_mfa: false,
        minimum_acr: None,
        require_dpop: false,
        require_pushed_authorization_requests: false,
        require_signed_request_object: false,
        refresh_token_rotation: None,
        jwks: None,
        jwks_uri: None,
        authorization_details_types: vec![],
        backchannel_token_delivery_mode: None,
        backchannel_client_notification_endpoint: None,
        tls_client_auth_subject_dn: None,
        tls_client_auth_san_dns: None,
        tls_client_auth_san_uri: None,
        tls_client_auth_san_ip: None,
        tls_client_auth_san_email: None,
        tls_client_certificate_bound_access_tokens: false,
        enabled: true,
        allow_plain_pkce: false,
        always_include_user_claims_in_id_token: false,
        frontchannel_logout_uri: None,
        frontchannel_logout_session_required: true,
        backchannel_logout_uri: None,
        backchannel_logout_session_required: true,
        allowed_cors_origins: vec![],
        token_exchange: Default::default(),
    }
}

/// Adds the demo entities to `raw`.
pub fn apply_demo(mut raw: RawConfig) -> RawConfig {
    for (name, display) in [("api1.read", "Read API 1"), ("api1.write", "Write API 1")] {
        if !raw.api_scopes.iter().any(|s| s.name == name) {
            raw.api_scopes.push(RawApiScope {
                name: name.into(),
                display_name: Some(display.into()),
                show_in_discovery: true,
            });
        }
    }
    if !raw.api_resources.iter().any(|r| r.name == "urn:api1") {
        raw.api_resources.push(RawApiResource {
            name: "urn:api1".into(),
            scopes: vec!["api1.read".into(), "api1.write".into()],
            secrets: vec![Secret::new("api1-secret".into())],
            signing_alg: None,
        });
    }
    if !raw.clients.iter().any(|c| c.client_id == "machine") {
        raw.clients.push(client(
            "machine",
            "Demo machine client",
            "machine-secret",
            &["client_credentials"],
            &["api1.read", "api1.write"],
        ));
    }
    if !raw.clients.iter().any(|c| c.client_id == "web") {
        let mut web = client(
            "web",
            "Demo web app",
            "web-secret",
            &["authorization_code", "refresh_token"],
            &["openid", "profile", "email", "offline_access", "api1.read"],
        );
        web.redirect_uris = vec!["http://127.0.0.1:9000/callback".into()];
        web.post_logout_redirect_uris = vec!["http://127.0.0.1:9000/".into()];
        raw.clients.push(web);
    }
    if !raw.clients.iter().any(|c| c.client_id == "tv") {
        // A device without a browser (RFC 8628): public, like an app on a TV.
        let device = tessera_core::protocol::grant_type::GrantType::DeviceCode.name();
        let mut tv = client(
            "tv",
            "Demo TV",
            "",
            &[device, "refresh_token"],
            &["openid", "profile", "offline_access"],
        );
        tv.secrets = vec![];
        raw.clients.push(tv);
    }
    if !raw.users.iter().any(|u| u.username == "alice") {
        let mut claims = serde_json::Map::new();
        claims.insert("name".into(), "Alice Smith".into());
        claims.insert("email".into(), "alice@example.com".into());
        claims.insert("email_verified".into(), true.into());
        raw.users.push(RawUser {
            username: "alice".into(),
            password: Some(Secret::new(DEMO_USER_PASSWORD.into())),
            password_hash: None,
            claims,
            disabled: false,
        });
    }
    raw
}
