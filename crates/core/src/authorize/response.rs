//! The authorization response (RFC 6749 §4.1.2, §4.1.2.1): its parameters and where they go.

use url::form_urlencoded;

use super::request::{ResponseMode, ResponseSigning};
use crate::protocol::OAuthError;

/// An authorization response on its way to the client's redirect URI.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationResponse {
    /// The verified redirect URI.
    pub redirect_uri: String,
    /// How the parameters travel.
    pub response_mode: ResponseMode,
    /// The parameters, in order.
    pub params: Vec<(&'static str, String)>,
    /// For a JWT response mode (JARM): whom the JWT is for and how it is signed.
    pub signing: Option<ResponseSigning>,
}

impl std::fmt::Debug for AuthorizationResponse {
    // The parameters hold codes; only their names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.params.iter().map(|(k, _)| *k).collect();
        f.debug_struct("AuthorizationResponse")
            .field("redirect_uri", &self.redirect_uri)
            .field("response_mode", &self.response_mode)
            .field("params", &names)
            .finish()
    }
}

impl AuthorizationResponse {
    /// A successful response with a code (RFC 6749 §4.1.2) and the issuer (RFC 9207 §2).
    pub fn code(
        redirect_uri: String,
        response_mode: ResponseMode,
        code: String,
        state: Option<String>,
        issuer: &str,
    ) -> Self {
        Self::success(
            redirect_uri,
            response_mode,
            vec![("code", code)],
            state,
            issuer,
        )
    }

    /// A successful response with `params` (a code and front-channel tokens), `state` and the
    /// issuer (RFC 9207 §2).
    pub fn success(
        redirect_uri: String,
        response_mode: ResponseMode,
        mut params: Vec<(&'static str, String)>,
        state: Option<String>,
        issuer: &str,
    ) -> Self {
        params.extend(state.map(|s| ("state", s)));
        params.push(("iss", issuer.to_string()));
        Self {
            redirect_uri,
            response_mode,
            params,
            signing: None,
        }
    }

    /// An error response (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6) with the issuer (RFC 9207).
    pub fn error(
        redirect_uri: String,
        response_mode: ResponseMode,
        error: &OAuthError,
        state: Option<String>,
        issuer: &str,
    ) -> Self {
        let mut params = vec![
            ("error", error.code().to_string()),
            ("error_description", error.description().to_string()),
        ];
        params.extend(state.map(|s| ("state", s)));
        params.push(("iss", issuer.to_string()));
        Self {
            redirect_uri,
            response_mode,
            params,
            signing: None,
        }
    }
}

impl AuthorizationResponse {
    /// The response signed for `signing` when its mode is a JWT mode (JARM).
    pub fn signed_with(mut self, signing: Option<ResponseSigning>) -> Self {
        self.signing = signing.filter(|_| self.response_mode.is_jwt());
        self
    }
}

/// The `Location` for query and fragment modes. RFC 6749 §3.1.2: a query the redirect URI
/// already has is kept, the parameters are added to it.
pub fn response_location(response: &AuthorizationResponse) -> String {
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(response.params.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    let uri = &response.redirect_uri;
    match response.response_mode.delivery() {
        ResponseMode::Fragment => format!("{uri}#{encoded}"),
        _ => {
            let separator = match uri.split_once('?') {
                None => '?',
                Some((_, "")) => '\0',
                Some(_) => '&',
            };
            if separator == '\0' {
                format!("{uri}{encoded}")
            } else {
                format!("{uri}{separator}{encoded}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let r = |uri: &str, mode| {
            response_location(&AuthorizationResponse::code(
                uri.into(),
                mode,
                "c0de".into(),
                Some("a b&c".into()),
                "https://id.example",
            ))
        };
        assert_eq!(
            r("https://app.example/cb", ResponseMode::Query),
            "https://app.example/cb?code=c0de&state=a+b%26c&iss=https%3A%2F%2Fid.example"
        );
        assert_eq!(
            r("https://app.example/cb?x=1", ResponseMode::Query),
            "https://app.example/cb?x=1&code=c0de&state=a+b%26c&iss=https%3A%2F%2Fid.example"
        );
        assert_eq!(
            r("https://app.example/cb?", ResponseMode::Query),
            "https://app.example/cb?code=c0de&state=a+b%26c&iss=https%3A%2F%2Fid.example"
        );
        assert_eq!(
            r("https://app.example/cb", ResponseMode::Fragment),
            "https://app.example/cb#code=c0de&state=a+b%26c&iss=https%3A%2F%2Fid.example"
        );
        let e = AuthorizationResponse::error(
            "https://app.example/cb".into(),
            ResponseMode::Query,
            &OAuthError::LoginRequired("not signed in".into()),
            None,
            "https://id.example",
        );
        assert_eq!(
            response_location(&e),
            "https://app.example/cb?error=login_required&error_description=not+signed+in&iss=https%3A%2F%2Fid.example"
        );
    }
}
