//! The client metadata rules, one registration at a time.

use super::*;
use crate::model::IdentityResource;

fn offer_with<'a>(resources: &'a Resources, levels: &'a AcrLevels) -> ServerOffer<'a> {
    ServerOffer {
        resources,
        acr_levels: levels,
        signing_algs: &[SigningAlg::Rs256],
        profile: None,
    }
}

fn resources() -> Resources {
    Resources {
        identity_resources: IdentityResource::builtin(),
        ..Resources::default()
    }
}

fn web_app() -> ClientMetadata {
    ClientMetadata {
        client_id: "app".into(),
        secrets: vec![Secret::new("0123456789abcdef0123456789abcdef".into())],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        redirect_uris: vec!["https://app.example/cb".into()],
        allowed_scopes: vec!["openid".into(), "offline_access".into()],
        ..ClientMetadata::default()
    }
}

fn problems(m: &ClientMetadata) -> Vec<String> {
    let (resources, levels) = (resources(), AcrLevels::default());
    match validate_client_metadata(m, &offer_with(&resources, &levels)) {
        Ok(_) => vec![],
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_valid_registration_becomes_its_client() {
    let (resources, levels) = (resources(), AcrLevels::default());
    let client =
        validate_client_metadata(&web_app(), &offer_with(&resources, &levels)).expect("valid");
    assert_eq!(client.client_id, "app");
    // Secrets with no chosen method: basic, not pinned (either secret method accepted).
    assert_eq!(
        client.token_endpoint_auth_method,
        TokenEndpointAuthMethod::ClientSecretBasic
    );
    assert!(!client.auth_method_pinned);
    assert_eq!(
        client.secret_digests,
        [handle_digest("0123456789abcdef0123456789abcdef")]
    );
    assert_eq!(client.id_token_signed_response_alg, SigningAlg::Rs256);
    assert_eq!(
        client.settings.refresh_token_absolute_lifetime,
        crate::model::DEFAULT_REFRESH_ABSOLUTE
    );
    assert!(client.logout.backchannel_logout_session_required);
}

#[test]
fn a_registration_without_secrets_is_a_public_client() {
    let m = ClientMetadata {
        secrets: vec![],
        ..web_app()
    };
    let (resources, levels) = (resources(), AcrLevels::default());
    let client = validate_client_metadata(&m, &offer_with(&resources, &levels)).unwrap();
    assert!(client.is_public());
}

#[test]
fn each_problem_names_its_field_relative_to_the_registration() {
    let m = ClientMetadata {
        grant_types: vec![
            "authorization_code".into(),
            "device_code".into(),
            "token_exchange".into(),
        ],
        allowed_scopes: vec!["openid".into(), "payroll".into()],
        jwks: Some(vec![]),
        ..web_app()
    };
    assert_eq!(
        problems(&m),
        [
            "grant_types[1]: the device grant is named \
             `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4)",
            "grant_types[2]: the token exchange grant is named \
             `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693 §2.1)",
            "allowed_scopes[1]: unknown scope `payroll`; declare it under api_scopes or \
             identity_resources",
        ]
    );
}

#[test]
fn grant_type_names_come_from_the_served_grants() {
    // Token exchange needs its policy besides (see its own test).
    for g in GrantType::ALL
        .into_iter()
        .filter(|g| *g != GrantType::TokenExchange)
    {
        let m = ClientMetadata {
            grant_types: vec![g.name().into()],
            ..web_app()
        };
        assert!(problems(&m).is_empty(), "{g}: {:?}", problems(&m));
    }
    let password = ClientMetadata {
        grant_types: vec!["password".into()],
        ..web_app()
    };
    assert_eq!(
        problems(&password),
        ["grant_types[0]: the resource owner password grant is not offered (RFC 9700 §2.4)"]
    );
}

#[test]
fn a_native_app_is_public_and_uses_pkce() {
    let m = ClientMetadata {
        application_type: ApplicationType::Native,
        settings: ClientSettings {
            require_pkce: false,
            ..ClientSettings::default()
        },
        redirect_uris: vec!["com.example.app:/cb".into()],
        ..web_app()
    };
    assert_eq!(
        problems(&m),
        [
            "secrets: a native app cannot keep a secret (RFC 8252 §8.4); register it as a \
             public client",
            "require_pkce: native apps always use PKCE (RFC 8252 §8.1)",
        ]
    );
}

#[test]
fn private_key_jwt_needs_public_keys_and_no_secrets() {
    let m = ClientMetadata {
        token_endpoint_auth_method: Some(TokenEndpointAuthMethod::PrivateKeyJwt),
        jwks: Some(vec![serde_json::json!({"kty": "oct", "k": "c2VjcmV0"})]),
        ..web_app()
    };
    let found = problems(&m);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with("token_endpoint_auth_method: is `private_key_jwt`"));
    assert!(found[1].starts_with("jwks.keys[0]: "), "{found:?}");
}

#[test]
fn the_id_token_algorithm_must_be_one_the_server_signs_with() {
    let m = ClientMetadata {
        id_token_signed_response_alg: Some("ES256".into()),
        ..web_app()
    };
    assert_eq!(
        problems(&m),
        [
            "id_token_signed_response_alg: `ES256` is not in keys.algorithms; add it there to \
          sign with it"
        ]
    );
}

#[test]
fn token_exchange_needs_a_confidential_client_the_grant_and_known_audiences() {
    let exchange = crate::protocol::grant_type::GrantType::TokenExchange.name();
    let policy = crate::model::TokenExchangePolicy {
        audiences: vec![],
        subject_audiences: vec!["urn:nowhere".into()],
        impersonate: false,
    };
    let public = ClientMetadata {
        secrets: vec![],
        grant_types: vec![exchange.into()],
        redirect_uris: vec![],
        allowed_scopes: vec![],
        token_exchange: policy.clone(),
        ..web_app()
    };
    assert_eq!(
        problems(&public),
        [
            "grant_types: a public client (no secrets) cannot exchange tokens",
            "token_exchange.audiences: is empty; list the APIs (api_resources names) the client \
             may get tokens for",
            "token_exchange.subject_audiences[0]: unknown API `urn:nowhere`; declare it under \
             api_resources",
        ]
    );
    let unlisted = ClientMetadata {
        token_exchange: policy,
        ..web_app()
    };
    assert_eq!(
        problems(&unlisted),
        [format!(
            "token_exchange: is set, but grant_types does not list `{exchange}`"
        )]
    );
}

/// Refresh rotation: on unless a client turns it off, off by default under `fapi2` (FAPI 2.0
/// SP §5.3.2.1), and never off for a public client whose tokens are not sender-constrained
/// (RFC 9700 §4.14.2).
#[test]
fn refresh_rotation_follows_the_registration_the_profile_and_rfc_9700() {
    use TokenEndpointAuthMethod::{ClientSecretBasic, None as Public};
    let rotates = |m: &ClientMetadata, method, profile| {
        let mut p = Problems(vec![]);
        let rotate = refresh_rotation(m, method, profile, &mut p);
        if p.0.is_empty() {
            Ok(rotate)
        } else {
            Err(p.0[0].field.clone())
        }
    };
    let fapi = Some(crate::profile::Profile::Fapi2);
    let with = |rotation| ClientMetadata {
        refresh_token_rotation: rotation,
        ..web_app()
    };
    assert_eq!(rotates(&with(None), ClientSecretBasic, None), Ok(true));
    assert_eq!(rotates(&with(None), ClientSecretBasic, fapi), Ok(false));
    assert_eq!(
        rotates(&with(Some(true)), ClientSecretBasic, fapi),
        Ok(true)
    );
    assert_eq!(
        rotates(&with(Some(false)), ClientSecretBasic, None),
        Ok(false)
    );
    // A public client: rotated, unless its tokens are bound to a DPoP key or a certificate.
    assert_eq!(
        rotates(&with(Some(false)), Public, None),
        Err("refresh_token_rotation".into())
    );
    assert_eq!(rotates(&with(None), Public, fapi), Ok(true));
    let bound = ClientMetadata {
        settings: ClientSettings {
            require_dpop: true,
            ..ClientSettings::default()
        },
        ..with(Some(false))
    };
    assert_eq!(rotates(&bound, Public, None), Ok(false));
    // Through the whole check: the client gets what was decided.
    let (resources, levels) = (resources(), AcrLevels::default());
    let client =
        validate_client_metadata(&with(Some(false)), &offer_with(&resources, &levels)).unwrap();
    assert!(!client.settings.refresh_token_rotation);
}

/// RFC 7517 §4.2: keys that are all for encryption cannot authenticate a client that signs
/// (`private_key_jwt`) or proves its certificate's key (`self_signed_tls_client_auth`).
#[test]
fn encryption_keys_alone_do_not_authenticate() {
    let enc = serde_json::json!({"kty": "EC", "crv": "P-256", "use": "enc",
        "x": "weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ",
        "y": "e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck"});
    for method in [
        TokenEndpointAuthMethod::PrivateKeyJwt,
        TokenEndpointAuthMethod::SelfSignedTlsClientAuth,
    ] {
        let m = ClientMetadata {
            secrets: vec![],
            token_endpoint_auth_method: Some(method),
            jwks: Some(vec![enc.clone()]),
            ..web_app()
        };
        let found = problems(&m);
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("jwks: ") && p.contains("needs a signing key")),
            "{method:?}: {found:?}"
        );
        let mut sig = enc.clone();
        sig["use"] = serde_json::json!("sig");
        let both = ClientMetadata {
            jwks: Some(vec![sig, enc.clone()]),
            ..m
        };
        assert!(
            !problems(&both).iter().any(|p| p.starts_with("jwks")),
            "{method:?}: {:?}",
            problems(&both)
        );
    }
}
