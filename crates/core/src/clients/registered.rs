//! What a registration is kept and answered with: the records of registration and initial
//! access tokens (RFC 7592 §3, RFC 7591 §3), and the registered metadata in RFC 7591's names.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::registration::response_types_of;
use crate::model::Client;
use crate::store::GrantPayload;

/// What the registration access token's grant keeps (RFC 7592 §3).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationRecord {
    /// When the client was registered (`client_id_issued_at`).
    pub issued_at: i64,
}

impl GrantPayload for RegistrationRecord {
    const KIND: crate::model::GrantKind = crate::model::GrantKind::RegistrationAccessToken;
}

/// What an initial access token's grant keeps (RFC 7591 §3).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InitialAccess {
    /// Who made it (the admin API caller).
    pub created_by: String,
}

impl GrantPayload for InitialAccess {
    const KIND: crate::model::GrantKind = crate::model::GrantKind::InitialAccessToken;
}

/// The registered metadata of `client`, in the names of RFC 7591 §2 and OIDC Registration §2
/// (RFC 7591 §3.2.1, RFC 7592 §3).
pub fn registered_metadata(client: &Client, issued_at: i64) -> Map<String, Value> {
    let mut v = json!({
        "client_id": client.client_id,
        "client_id_issued_at": issued_at,
        "redirect_uris": client.redirect_uris,
        "token_endpoint_auth_method": client.token_endpoint_auth_method.as_str(),
        "grant_types": client.grant_types,
        "response_types": response_types_of(&client.grant_types),
        "scope": client.allowed_scopes.join(" "),
        "application_type": client.application_type,
        "id_token_signed_response_alg": client.id_token_signed_response_alg.name(),
        "subject_type": "public",
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "default_acr_values": client.default_acr_values,
        "client_name": client.client_name,
        "frontchannel_logout_uri": client.logout.frontchannel_logout_uri,
        "frontchannel_logout_session_required": client.logout.frontchannel_logout_session_required,
        "backchannel_logout_uri": client.logout.backchannel_logout_uri,
        "backchannel_logout_session_required": client.logout.backchannel_logout_session_required,
    });
    if !client.jwks.is_empty() {
        v["jwks"] = json!({ "keys": client.jwks });
    }
    if let Some(uri) = &client.jwks_uri {
        v["jwks_uri"] = json!(uri);
    }
    if let Some(alg) = client.userinfo_signed_response_alg {
        v["userinfo_signed_response_alg"] = json!(alg.name());
    }
    for (what, e) in [
        ("id_token", &client.id_token_encryption),
        ("userinfo", &client.userinfo_encryption),
        ("authorization", &client.authorization_encryption),
    ] {
        if let Some(e) = e {
            v[format!("{what}_encrypted_response_alg")] = json!(e.alg);
            v[format!("{what}_encrypted_response_enc")] = json!(e.enc);
        }
    }
    if !client.authorization_details_types.is_empty() {
        v["authorization_details_types"] = json!(client.authorization_details_types);
    }
    if let Some(m) = &client.tls_client_auth {
        v[m.metadata_name()] = json!(m.value());
    }
    if let Some(alg) = client.authorization_signed_response_alg {
        v["authorization_signed_response_alg"] = json!(alg.name());
    }
    let s = &client.settings;
    for (name, set) in [
        (
            "require_pushed_authorization_requests",
            s.require_pushed_authorization_requests,
        ),
        (
            "require_signed_request_object",
            s.require_signed_request_object,
        ),
        ("dpop_bound_access_tokens", s.require_dpop),
        (
            "tls_client_certificate_bound_access_tokens",
            s.tls_client_certificate_bound_access_tokens,
        ),
    ] {
        if set {
            v[name] = json!(true);
        }
    }
    if !client.secret_digests.is_empty() {
        // RFC 7591 §3.2.1: 0, the secret does not expire.
        v["client_secret_expires_at"] = json!(0);
    }
    let Value::Object(mut map) = v else {
        return Map::new();
    };
    map.retain(|_, value| !value.is_null());
    if map
        .get("default_acr_values")
        .is_some_and(|v| v == &json!([]))
    {
        map.remove("default_acr_values");
    }
    map
}
