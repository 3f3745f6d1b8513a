//! An authorization request once checked, and where its errors go. The checks themselves are
//! the named steps of `authorize::steps`.

use serde::{Deserialize, Serialize};

use super::acr::AcrRequest;
use super::claims::ClaimsRequest;
use super::response_type::ResponseType;
use crate::protocol::OAuthError;
use crate::protocol::pkce::ChallengeMethod;

/// How the response reaches the client (OAuth 2.0 Multiple Response Types §2.1, Form Post
/// Response Mode §2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseMode {
    /// Parameters in the redirect URI's query (the default for `code`).
    #[default]
    Query,
    /// Parameters in the fragment.
    Fragment,
    /// An auto-submitting HTML form POSTed to the redirect URI.
    FormPost,
    /// JARM §2.3.1 `query.jwt`: one parameter, `response`, a JWT of the parameters, in the query.
    QueryJwt,
    /// JARM §2.3.2 `fragment.jwt`.
    FragmentJwt,
    /// JARM §2.3.3 `form_post.jwt`.
    FormPostJwt,
}

impl ResponseMode {
    /// How the parameters travel: query, fragment or form post.
    pub fn delivery(self) -> ResponseMode {
        match self {
            Self::Query | Self::QueryJwt => Self::Query,
            Self::Fragment | Self::FragmentJwt => Self::Fragment,
            Self::FormPost | Self::FormPostJwt => Self::FormPost,
        }
    }

    /// The parameters travel as one signed JWT (JARM).
    pub fn is_jwt(self) -> bool {
        self != self.delivery()
    }

    /// The JWT form of this mode (JARM §2.3.4: `jwt` is the response type's default mode,
    /// as a JWT).
    pub fn jwt(self) -> ResponseMode {
        match self.delivery() {
            Self::Query => Self::QueryJwt,
            Self::Fragment => Self::FragmentJwt,
            _ => Self::FormPostJwt,
        }
    }
}

/// OIDC Core §3.1.2.1 `prompt` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {
    /// No user interaction at all.
    None,
    /// Re-authenticate.
    Login,
    /// Ask for consent again.
    Consent,
    /// Let the user pick an account.
    SelectAccount,
}

/// A checked authorization request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// The redirect URI, verified against the registration.
    pub redirect_uri: String,
    /// Whether the request named it (or it was the only registered one).
    #[serde(default)]
    pub redirect_uri_presented: bool,
    /// Response mode.
    pub response_mode: ResponseMode,
    /// What the response carries.
    pub response_type: ResponseType,
    /// Requested scopes, each allowed for the client.
    pub scopes: Vec<String>,
    /// Echoed back unchanged.
    pub state: Option<String>,
    /// Goes into the identity token.
    pub nonce: Option<String>,
    /// PKCE challenge and its method.
    pub code_challenge: Option<(String, ChallengeMethod)>,
    /// `prompt` values.
    pub prompt: Vec<Prompt>,
    /// `max_age` in seconds.
    pub max_age: Option<u64>,
    /// `login_hint`.
    pub login_hint: Option<String>,
    /// `id_token_hint` (unverified).
    pub id_token_hint: Option<String>,
    /// `ui_locales`.
    pub ui_locales: Option<String>,
    /// `acr_values`.
    pub acr_values: Option<String>,
    /// The authentication context asked for, from `acr_values`, the `claims` parameter's
    /// `acr` and the client's `default_acr_values`.
    #[serde(default)]
    pub acr: AcrRequest,
    /// RFC 8707 resources.
    pub resources: Vec<String>,
    /// Individual claims asked for (OIDC Core §5.5).
    pub claims: ClaimsRequest,
    /// The external identity provider to sign in at (`idp_hint`, or `acr_values=idp:NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_hint: Option<String>,
    /// The thumbprint of the DPoP key the code is to be bound to (RFC 9449 §10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    /// Rich authorization requests (RFC 9396 §2), checked against their types' schemas.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_details: Vec<serde_json::Value>,
    /// For a JWT response mode (JARM), the algorithm of the client's responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_alg: Option<crate::tokens::SigningAlg>,
    /// For a JWT response mode, how the signed response is encrypted, if the client asked
    /// for that (JARM §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_encryption: Option<ResponseEncryption>,
    /// The request was pushed first (RFC 9126).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pushed: bool,
}

impl AuthorizationRequest {
    /// How its response is signed, for a JWT response mode.
    pub fn response_signing(&self) -> Option<ResponseSigning> {
        self.response_alg.map(|alg| ResponseSigning {
            client_id: self.client_id.clone(),
            alg,
            encryption: self.response_encryption.clone(),
        })
    }
}

/// Where an error goes.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthorizeError {
    /// Shown to the user on an error page: the client or redirect URI cannot be trusted.
    Page(OAuthError),
    /// Sent back to the client's verified redirect URI (OIDC Core §3.1.2.6).
    Redirect {
        /// The error.
        error: OAuthError,
        /// The verified redirect URI it goes to.
        redirect_uri: String,
        /// The response mode it goes with.
        response_mode: ResponseMode,
        /// The request's state, echoed.
        state: Option<String>,
        /// For a JWT response mode: whom the response is for and how it is signed.
        signing: Option<Box<ResponseSigning>>,
    },
}

/// A JWT authorization response's audience and algorithm (JARM §4.1: `aud` is the client).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseSigning {
    /// The client, the JWT's `aud`.
    pub client_id: String,
    /// The client's `authorization_signed_response_alg`.
    pub alg: crate::tokens::SigningAlg,
    /// The signed response is then encrypted (JARM §2.3, §3).
    pub encryption: Option<ResponseEncryption>,
}

/// How a JWT authorization response is encrypted: the client's
/// `authorization_encrypted_response_alg` / `_enc` and the key of its `jwks` chosen when the
/// request was checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseEncryption {
    /// `alg` and `enc`.
    #[serde(flatten)]
    pub encryption: crate::model::Encryption,
    /// The client's public key.
    pub key: crate::clients::jwk::ClientJwk,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorize::pushed::{RequestPolicy, Resolver};
    use crate::authorize::steps::parse_authorization_request;
    use crate::model::Client;
    use crate::model::{Source, TokenEndpointAuthMethod};
    use crate::protocol::form::Form;
    use crate::protocol::pkce::s256_challenge;
    use crate::store::ClientStore as _;
    use crate::store::MemoryStore;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    async fn store() -> MemoryStore {
        let store = MemoryStore::new();
        let client = |id: &str, uris: &[&str], method| {
            Client::builder(id)
                .grant_types(&["authorization_code"])
                .redirect_uris(uris)
                .scopes(&["openid", "profile"])
                .auth_method(method)
                .build()
        };
        store
            .upsert_client(
                &client(
                    "web",
                    &["https://app.example/cb"],
                    TokenEndpointAuthMethod::ClientSecretBasic,
                ),
                Source::Config,
            )
            .await
            .unwrap();
        store
            .upsert_client(
                &client(
                    "two",
                    &["https://a.example/cb", "https://b.example/cb"],
                    TokenEndpointAuthMethod::ClientSecretBasic,
                ),
                Source::Config,
            )
            .await
            .unwrap();
        store
    }

    async fn parse(query: &str) -> Result<(Client, AuthorizationRequest), AuthorizeError> {
        let store = store().await;
        let policy = RequestPolicy::default();
        let resolver = Resolver {
            grants: &store,
            issuer: "https://op.example",
            now: 1_000,
            remote_keys: None,
            policy: &policy,
        };
        let form = Form::parse(query.as_bytes()).unwrap();
        parse_authorization_request(&store, &resolver, &form).await
    }

    fn good(extra: &str) -> String {
        format!(
            "client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&response_type=code&scope=openid+profile&state=xyz&nonce=n&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}"
        )
    }

    #[tokio::test]
    async fn a_good_request() {
        let (_, r) = parse(&good("&prompt=login&max_age=0&response_mode=form_post"))
            .await
            .unwrap();
        assert_eq!(r.redirect_uri, "https://app.example/cb");
        assert_eq!(r.scopes, ["openid", "profile"]);
        assert_eq!(r.state.as_deref(), Some("xyz"));
        assert_eq!(
            r.code_challenge,
            Some((
                s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
                ChallengeMethod::S256
            ))
        );
        assert_eq!(
            (r.prompt, r.max_age, r.response_mode),
            (vec![Prompt::Login], Some(0), ResponseMode::FormPost)
        );
    }

    #[tokio::test]
    async fn a_repeated_state_is_an_error_without_state() {
        match parse(&good("&state=again")).await {
            Err(AuthorizeError::Redirect { error, state, .. }) => {
                assert_eq!(error.code(), "invalid_request");
                assert_eq!(state, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn untrusted_client_or_redirect_uri_never_redirects() {
        for q in [
            "redirect_uri=https%3A%2F%2Fapp.example%2Fcb&response_type=code".to_string(),
            good("").replace("client_id=web", "client_id=ghost"),
            good("").replace("app.example%2Fcb", "evil.example%2Fcb"),
            good("").replace("app.example%2Fcb", "app.example%2Fcb%2F"),
            good("&client_id=web"),
            good("&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"),
            // openid requests must name the redirect_uri; so must clients with several.
            good("").replace("redirect_uri=https%3A%2F%2Fapp.example%2Fcb&", ""),
            "client_id=two&response_type=code&scope=profile".to_string(),
            // The request's resolution comes before its redirect URI is trusted.
            good("&request=eyJ"),
            good("&request_uri=https%3A%2F%2Fx"),
            good("&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Anope"),
        ] {
            assert!(
                matches!(parse(&q).await, Err(AuthorizeError::Page(_))),
                "{q}"
            );
        }
    }

    #[tokio::test]
    async fn other_errors_go_back_with_state() {
        let cases: Vec<(String, &str)> = vec![
            (
                good("").replace("response_type=code&", ""),
                "invalid_request",
            ),
            (
                good("").replace("response_type=code", "response_type=token"),
                "unsupported_response_type",
            ),
            (
                good("").replace("scope=openid+profile", "scope=openid+admin"),
                "invalid_scope",
            ),
            (
                good("").replace("scope=openid+profile&", ""),
                "invalid_scope",
            ),
            (
                good("").replace("code_challenge_method=S256", "code_challenge_method=plain"),
                "invalid_request",
            ),
            (
                good("").replace("&code_challenge_method=S256", ""),
                "invalid_request",
            ),
            (
                good("").replace(
                    &format!("&code_challenge={CHALLENGE}&code_challenge_method=S256"),
                    "",
                ),
                "invalid_request",
            ),
            (good("&prompt=none+login"), "invalid_request"),
            (good("&max_age=-1"), "invalid_request"),
            (good("&nonce=again"), "invalid_request"),
            (good("&claims=%5B%5D"), "invalid_request"),
        ];
        for (q, code) in cases {
            match parse(&q).await {
                Err(AuthorizeError::Redirect {
                    error,
                    redirect_uri,
                    state,
                    ..
                }) => {
                    assert_eq!(error.code(), code, "{q}");
                    assert_eq!(redirect_uri, "https://app.example/cb");
                    assert_eq!(state.as_deref(), Some("xyz"), "state echoed");
                }
                other => panic!("{q}: {other:?}"),
            }
        }
    }
}
