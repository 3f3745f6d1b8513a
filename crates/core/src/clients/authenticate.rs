//! Checking presented credentials against the registered client (or API resource).

use super::PresentedCredentials;
use super::assertion::{AssertionAudience, verify_client_assertion};
use crate::crypto::{constant_time_eq, handle_digest};
use crate::model::{ApiResource, Client, TokenEndpointAuthMethod};
use crate::protocol::OAuthError;
use crate::store::{ClientStore, GrantStore};

/// The digest under which a client or API secret is stored. Client secrets are high-entropy,
/// so SHA-256 suffices (a password hash would cost the token endpoint most of its throughput).
pub fn secret_digest(secret: &str) -> String {
    handle_digest(secret)
}

/// Compares the presented secret with every stored digest in constant time, without stopping
/// at the first match, so the timing says nothing about which secret (if any) matched.
fn secret_matches(presented: &str, digests: &[String]) -> bool {
    let presented = secret_digest(presented);
    digests.iter().fold(false, |matched, stored| {
        matched | constant_time_eq(presented.as_bytes(), stored.as_bytes())
    })
}

/// A refusal the caller may read: it names what was wrong with the request (the method, an
/// unknown client, a secret that does not match), which a caller could learn anyway by trying;
/// never a secret or what a registered secret or key looks like.
/// RFC 8705 §2: whether `certificate` authenticates `client`. A `self_signed_tls_client_auth`
/// client's keys may be given by reference (§2.2, RFC 7591 `jwks_uri`): the kept set first,
/// then, if the certificate's key is not in it, the set read again once (the client may have
/// rotated; the reader bounds how often).
async fn certificate_authenticates(
    certificate: &dyn super::mtls::PresentedCertificate,
    client: &Client,
    audience: &AssertionAudience<'_>,
) -> Result<(), String> {
    let by_reference = client.token_endpoint_auth_method
        == TokenEndpointAuthMethod::SelfSignedTlsClientAuth
        && client.jwks.is_empty();
    let (Some(uri), Some(remote), true) = (&client.jwks_uri, audience.remote_keys, by_reference)
    else {
        return certificate.authenticates(client);
    };
    let mut with_keys = client.clone();
    let mut verdict = Err(String::new());
    for fresh in [false, true] {
        with_keys.jwks = remote
            .keys(uri, fresh)
            .await
            .map_err(|why| format!("the client's jwks_uri could not be read: {why}"))?;
        verdict = certificate.authenticates(&with_keys);
        if verdict.is_ok() {
            break;
        }
    }
    verdict
}

fn refused(presented: &PresentedCredentials, why: impl Into<String>) -> OAuthError {
    OAuthError::InvalidClient {
        description: why.into().into(),
        used_authorization_header: presented.used_authorization_header(),
    }
}

/// Authenticates the client a request presents (RFC 6749 §2.3): it must exist, be enabled,
/// use a method it is registered for, and prove its secret or key where the method needs one.
/// `audience` says where the request arrived, for client assertions. A refusal says why, in
/// terms of what the request did (the caller's error response logs it).
pub async fn authenticate_client(
    clients: &dyn ClientStore,
    grants: &dyn GrantStore,
    presented: &PresentedCredentials,
    audience: &AssertionAudience<'_>,
) -> Result<Client, OAuthError> {
    let (client_id, method, secret) = match presented {
        PresentedCredentials::Basic {
            client_id,
            presented_secret,
        } => (
            client_id,
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some(presented_secret),
        ),
        PresentedCredentials::Post {
            client_id,
            presented_secret,
        } => (
            client_id,
            TokenEndpointAuthMethod::ClientSecretPost,
            Some(presented_secret),
        ),
        PresentedCredentials::PublicClient { client_id } => {
            (client_id, TokenEndpointAuthMethod::None, None)
        }
        PresentedCredentials::Assertion {
            client_id,
            assertion_type,
            assertion,
        } => {
            return verify_client_assertion(
                clients,
                grants,
                assertion_type,
                assertion.expose(),
                client_id.as_deref(),
                audience,
            )
            .await;
        }
        PresentedCredentials::Nothing => {
            return Err(OAuthError::InvalidClient {
                description: "client authentication is required".into(),
                used_authorization_header: false,
            });
        }
    };
    let client = clients.find_client(client_id).await?;
    // Hash the secret even for an unknown client so both paths cost the same.
    let digests = client.as_ref().map_or(&[][..], |c| &c.secret_digests[..]);
    let secret_ok = secret.is_none_or(|s| secret_matches(s.expose(), digests));
    let client = match client {
        Some(c) if c.enabled => c,
        _ => return Err(refused(presented, "unknown or disabled client")),
    };
    // RFC 8705 §2: an mTLS client sends its client_id alone; its certificate authenticates it.
    let registered = client.token_endpoint_auth_method;
    if registered.is_mtls() && method == TokenEndpointAuthMethod::None {
        return match audience.certificate {
            None => Err(refused(
                presented,
                format!(
                    "the client authenticates with mutual TLS ({}): send the request over a TLS \
                     connection with its certificate",
                    registered.as_str()
                ),
            )),
            Some(certificate) => {
                match certificate_authenticates(certificate, &client, audience).await {
                    Ok(()) => Ok(client),
                    Err(why) => Err(refused(
                        presented,
                        format!("the client certificate does not authenticate the client: {why}"),
                    )),
                }
            }
        };
    }
    if !client.accepts_auth_method(method) {
        let registered = client.token_endpoint_auth_method;
        return Err(refused(
            presented,
            if registered == TokenEndpointAuthMethod::None {
                format!(
                    "the client is public (registered for `none`); this request used {}",
                    method.as_str()
                )
            } else {
                format!(
                    "the client is registered for {}; this request used {}",
                    registered.as_str(),
                    method.as_str()
                )
            },
        ));
    }
    if !secret_ok {
        return Err(refused(presented, "the client secret does not match"));
    }
    Ok(client)
}

/// Authenticates an API resource by its name and one of its secrets (Basic or form post), as
/// introspection callers do. `None` when the presented id names no API resource with secrets.
pub fn authenticate_api<'r>(
    api_resources: &'r [ApiResource],
    presented: &PresentedCredentials,
) -> Option<Result<&'r ApiResource, OAuthError>> {
    let (name, secret) = match presented {
        PresentedCredentials::Basic {
            client_id,
            presented_secret,
        }
        | PresentedCredentials::Post {
            client_id,
            presented_secret,
        } => (client_id, presented_secret),
        _ => return None,
    };
    let api = api_resources
        .iter()
        .find(|a| &a.name == name && !a.secret_digests.is_empty())?;
    Some(if secret_matches(secret.expose(), &api.secret_digests) {
        Ok(api)
    } else {
        Err(refused(presented, "the API secret does not match"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Source;
    use crate::secret::Secret;
    use crate::store::MemoryStore;

    fn here(secrets: &crate::clients::assertion::SharedSecrets) -> AssertionAudience<'_> {
        AssertionAudience {
            issuer: "https://id",
            endpoint: "https://id/token",
            endpoints: &[],
            max_lifetime: 300,
            now: 0,
            shared_secrets: secrets,
            remote_keys: None,
            certificate: None,
            algs: crate::clients::jwk::ASSERTION_ALGS,
        }
    }

    fn client(id: &str, method: TokenEndpointAuthMethod, secrets: &[&str]) -> Client {
        Client::builder(id)
            .secrets(secrets)
            .grant_types(&["client_credentials"])
            .consent(false)
            .auth_method(method)
            .build()
    }

    fn basic(id: &str, secret: &str) -> PresentedCredentials {
        PresentedCredentials::Basic {
            client_id: id.into(),
            presented_secret: Secret::new(secret.into()),
        }
    }

    #[tokio::test]
    async fn secrets_methods_and_disabled_clients() {
        let store = MemoryStore::new();
        use crate::store::ClientStore as _;
        store
            .upsert_client(
                &client(
                    "m",
                    TokenEndpointAuthMethod::ClientSecretBasic,
                    &["old", "new"],
                ),
                Source::Config,
            )
            .await
            .unwrap();
        let mut off = client("off", TokenEndpointAuthMethod::ClientSecretBasic, &["s"]);
        off.enabled = false;
        store.upsert_client(&off, Source::Config).await.unwrap();

        assert!(
            authenticate_client(
                &store,
                &store,
                &basic("m", "old"),
                &here(&Default::default())
            )
            .await
            .is_ok()
        );
        assert!(
            authenticate_client(
                &store,
                &store,
                &basic("m", "new"),
                &here(&Default::default())
            )
            .await
            .is_ok()
        );
        for (wrong, why) in [
            (basic("m", "nope"), "the client secret does not match"),
            (basic("m", ""), "the client secret does not match"),
            (basic("ghost", "old"), "unknown or disabled client"),
            (basic("off", "s"), "unknown or disabled client"),
        ] {
            let e = authenticate_client(&store, &store, &wrong, &here(&Default::default()))
                .await
                .unwrap_err();
            assert_eq!(
                e,
                OAuthError::InvalidClient {
                    description: why.into(),
                    used_authorization_header: true
                }
            );
        }
        // Registered for basic without choosing it: the same secret in the body is accepted
        // (client_secret_post is many libraries' default).
        let post = PresentedCredentials::Post {
            client_id: "m".into(),
            presented_secret: Secret::new("old".into()),
        };
        assert!(
            authenticate_client(&store, &store, &post, &here(&Default::default()))
                .await
                .is_ok()
        );
        // A method chosen explicitly pins it, and the refusal says so.
        let mut pinned = client("pinned", TokenEndpointAuthMethod::ClientSecretBasic, &["s"]);
        pinned.auth_method_pinned = true;
        store.upsert_client(&pinned, Source::Config).await.unwrap();
        let post = PresentedCredentials::Post {
            client_id: "pinned".into(),
            presented_secret: Secret::new("s".into()),
        };
        let e = authenticate_client(&store, &store, &post, &here(&Default::default()))
            .await
            .unwrap_err();
        assert_eq!(
            e.description(),
            "the client is registered for client_secret_basic; this request used client_secret_post"
        );
        // A confidential client cannot pretend to be public.
        let public = PresentedCredentials::PublicClient {
            client_id: "m".into(),
        };
        let e = authenticate_client(&store, &store, &public, &here(&Default::default()))
            .await
            .unwrap_err();
        assert_eq!(
            e.description(),
            "the client is registered for client_secret_basic; this request used none"
        );
    }
}
