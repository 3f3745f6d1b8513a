//! The metadata of the protocols beyond a client's basics: encrypted responses (OIDC
//! Registration §2) and backchannel authentication (OpenID CIBA Core §4).

use super::{ClientMetadata, Problems};
use crate::model::TokenEndpointAuthMethod;
use crate::protocol::grant_type::GrantType;

/// OIDC Registration §2 `{what}_encrypted_response_alg` and `_enc`: a supported pair, and a
/// key of the client's (by value) to encrypt to. `_enc` defaults to A128CBC-HS256 there, which
/// is not offered: it must be named.
pub(super) fn check_encryption(
    m: &ClientMetadata,
    (alg, enc): &(Option<String>, Option<String>),
    what: &str,
    jwks: &[crate::clients::jwk::ClientJwk],
    p: &mut Problems,
) -> Option<crate::model::Encryption> {
    use crate::tokens::jwe::{JWE_ALGS, JWE_ENCS, encrypts_with};
    let alg_key = format!("{what}_encrypted_response_alg");
    let enc_key = format!("{what}_encrypted_response_enc");
    let (alg, enc) = match (alg, enc) {
        (None, None) => return None,
        (None, Some(_)) => {
            p.add(enc_key, format!("is only used with {alg_key}"));
            return None;
        }
        (Some(alg), enc) => (alg, enc.as_deref()),
    };
    let mut fine = true;
    if !JWE_ALGS.contains(&alg.as_str()) {
        p.add(
            &alg_key,
            format!("`{alg}` is not supported; use {}", JWE_ALGS.join(" or ")),
        );
        fine = false;
    }
    match enc {
        Some(enc) if JWE_ENCS.contains(&enc) => {}
        Some(enc) => {
            p.add(&enc_key, format!("`{enc}` is not supported; use A256GCM"));
            fine = false;
        }
        None => {
            p.add(
                &enc_key,
                "is required: its default, A128CBC-HS256, is not offered; use A256GCM",
            );
            fine = false;
        }
    }
    if fine && m.jwks_uri.is_some() {
        p.add(
            &alg_key,
            "needs the encryption key by value (jwks), not jwks_uri",
        );
        fine = false;
    }
    if fine && !jwks.iter().any(|k| encrypts_with(k, alg)) {
        p.add(
            &alg_key,
            format!("needs a key in jwks to encrypt to with {alg} (use \"enc\")"),
        );
        fine = false;
    }
    fine.then(|| crate::model::Encryption {
        alg: alg.clone(),
        enc: enc.unwrap_or_default().to_string(),
    })
}

/// CIBA Core §4: a confidential client of the grant, in poll or ping mode; ping needs an
/// https notification endpoint (http on a loopback host, as redirect URIs may).
pub(super) fn check_ciba(
    m: &ClientMetadata,
    method: TokenEndpointAuthMethod,
    p: &mut Problems,
) -> Option<crate::ciba::DeliveryMode> {
    use crate::ciba::DeliveryMode;
    let uses = m.grant_types.iter().any(|g| g == GrantType::Ciba.name());
    let field = "backchannel_token_delivery_mode";
    let mode = match m.backchannel_token_delivery_mode.as_deref() {
        None | Some("poll") => DeliveryMode::Poll,
        Some("ping") => DeliveryMode::Ping,
        Some(other) => {
            p.add(field, format!("`{other}` is not offered; use poll or ping"));
            return None;
        }
    };
    if !uses {
        if m.backchannel_token_delivery_mode.is_some() {
            p.add(
                field,
                format!(
                    "is only used with the grant type {}",
                    GrantType::Ciba.name()
                ),
            );
        }
        return None;
    }
    if method == TokenEndpointAuthMethod::None {
        p.add(
            "grant_types",
            "CIBA is for confidential clients: register a way to authenticate",
        );
    }
    let endpoint = m.backchannel_client_notification_endpoint.as_deref();
    match (mode, endpoint) {
        (DeliveryMode::Ping, None) => p.add(
            "backchannel_client_notification_endpoint",
            "is required in ping mode",
        ),
        (DeliveryMode::Ping, Some(uri)) => {
            let fine = url::Url::parse(uri).ok().is_some_and(|u| {
                u.fragment().is_none()
                    && (u.scheme() == "https"
                        || (u.scheme() == "http"
                            && u.host_str()
                                .is_some_and(crate::protocol::redirect::is_loopback_host)))
            });
            if !fine {
                p.add(
                    "backchannel_client_notification_endpoint",
                    "must be an https URL without a fragment",
                );
            }
        }
        (DeliveryMode::Poll, Some(_)) => p.add(
            "backchannel_client_notification_endpoint",
            "is only used in ping mode",
        ),
        (DeliveryMode::Poll, None) => {}
    }
    Some(mode)
}
