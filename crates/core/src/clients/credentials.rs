//! The credentials a request presents, read from the Authorization header and the form body
//! before anything is checked.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::percent_decode_str;

use crate::protocol::OAuthError;
use crate::protocol::form::Form;
use crate::secret::Secret;

/// What a request presented to identify and authenticate its caller. Unverified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresentedCredentials {
    /// `client_secret_basic` (RFC 6749 §2.3.1).
    Basic {
        /// The client id from the header.
        client_id: String,
        /// The presented secret.
        presented_secret: Secret<String>,
    },
    /// `client_secret_post` (RFC 6749 §2.3.1).
    Post {
        /// The `client_id` parameter.
        client_id: String,
        /// The `client_secret` parameter.
        presented_secret: Secret<String>,
    },
    /// A client assertion (RFC 7523 §2.2; `client_secret_jwt`, `private_key_jwt`).
    Assertion {
        /// The `client_id` parameter, if sent.
        client_id: Option<String>,
        /// The `client_assertion_type` parameter.
        assertion_type: String,
        /// The unverified assertion.
        assertion: Secret<String>,
    },
    /// Only a `client_id`: a public client (`none`).
    PublicClient {
        /// The `client_id` parameter.
        client_id: String,
    },
    /// Nothing at all.
    Nothing,
}

impl PresentedCredentials {
    /// The client id the request names (unverified), for logs.
    pub fn claimed_client_id(&self) -> Option<&str> {
        match self {
            Self::Basic { client_id, .. }
            | Self::Post { client_id, .. }
            | Self::PublicClient { client_id } => Some(client_id),
            Self::Assertion { client_id, .. } => client_id.as_deref(),
            Self::Nothing => None,
        }
    }

    /// Whether the caller used the Authorization header (decides 401 + `WWW-Authenticate`).
    pub fn used_authorization_header(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }

    /// Reads credentials from `authorization` (the header value, if any) and the form.
    /// RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request.
    pub fn extract(authorization: Option<&str>, form: &Form) -> Result<Self, OAuthError> {
        let basic = authorization.map(parse_basic).transpose()?;
        let form_id = form.one("client_id")?;
        let form_secret = form.one("client_secret")?;
        let assertion = form.one("client_assertion")?;
        let assertion_type = form.one("client_assertion_type")?;
        let methods = usize::from(basic.is_some())
            + usize::from(form_secret.is_some())
            + usize::from(assertion.is_some() || assertion_type.is_some());
        if methods > 1 {
            return Err(OAuthError::InvalidRequest(
                "more than one client authentication method in one request".into(),
            ));
        }
        if let Some((client_id, presented_secret)) = basic {
            if form_id.is_some_and(|id| id != client_id) {
                return Err(OAuthError::InvalidRequest(
                    "client_id differs from the Authorization header".into(),
                ));
            }
            return Ok(Self::Basic {
                client_id,
                presented_secret,
            });
        }
        if let Some(secret) = form_secret {
            let client_id = form_id.ok_or_else(|| {
                OAuthError::InvalidRequest("client_secret without client_id".into())
            })?;
            return Ok(Self::Post {
                client_id: client_id.to_string(),
                presented_secret: Secret::new(secret.to_string()),
            });
        }
        if assertion.is_some() || assertion_type.is_some() {
            let (Some(assertion), Some(assertion_type)) = (assertion, assertion_type) else {
                return Err(OAuthError::InvalidRequest(
                    "client_assertion and client_assertion_type go together".into(),
                ));
            };
            return Ok(Self::Assertion {
                client_id: form_id.map(str::to_string),
                assertion_type: assertion_type.to_string(),
                assertion: Secret::new(assertion.to_string()),
            });
        }
        Ok(match form_id {
            Some(client_id) => Self::PublicClient {
                client_id: client_id.to_string(),
            },
            None => Self::Nothing,
        })
    }
}

fn bad_header(why: &'static str) -> OAuthError {
    OAuthError::InvalidClient {
        description: why.into(),
        used_authorization_header: true,
    }
}

/// RFC 7617 Basic credentials; RFC 6749 §2.3.1: client id and secret are form-url-encoded
/// before they are joined, so they are decoded after splitting.
fn parse_basic(header: &str) -> Result<(String, Secret<String>), OAuthError> {
    let (scheme, encoded) = header
        .split_once(' ')
        .ok_or_else(|| bad_header("the Authorization header is malformed"))?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad_header(
            "use HTTP Basic authentication for client credentials",
        ));
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad_header("the Basic credentials are not base64"))?;
    let text = String::from_utf8(decoded)
        .map_err(|_| bad_header("the Basic credentials are not UTF-8"))?;
    let (id, secret) = text
        .split_once(':')
        .ok_or_else(|| bad_header("the Basic credentials lack a `:`"))?;
    let form_decode = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| bad_header("the Basic credentials are not UTF-8"))
    };
    let id = form_decode(id)?;
    if id.is_empty() {
        return Err(bad_header("the Basic credentials have no client id"));
    }
    Ok((id, Secret::new(form_decode(secret)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn basic_is_form_decoded() {
        // RFC 6749 §2.3.1: "a%2Bb" → "a+b", "%3A" → ":".
        let c =
            PresentedCredentials::extract(Some(&basic("my%20app", "p%3Aw%2Bd")), &Form::default())
                .unwrap();
        assert_eq!(
            c,
            PresentedCredentials::Basic {
                client_id: "my app".into(),
                presented_secret: Secret::new("p:w+d".into())
            }
        );
        assert!(c.used_authorization_header());
    }

    #[test]
    fn two_methods_are_refused() {
        let form = Form::parse(b"client_id=a&client_secret=s").unwrap();
        assert!(matches!(
            PresentedCredentials::extract(Some(&basic("a", "s")), &form),
            Err(OAuthError::InvalidRequest(_))
        ));
        let form =
            Form::parse(b"client_id=a&client_secret=s&client_assertion=x&client_assertion_type=y")
                .unwrap();
        assert!(PresentedCredentials::extract(None, &form).is_err());
    }

    #[test]
    fn malformed_headers_are_invalid_client() {
        for h in [
            "Basic",
            "Basic !!!",
            "Bearer abc",
            "Basic Zm9v",
            "Basic OnNlY3JldA==",
        ] {
            assert!(
                matches!(
                    PresentedCredentials::extract(Some(h), &Form::default()),
                    Err(OAuthError::InvalidClient {
                        used_authorization_header: true,
                        ..
                    })
                ),
                "{h}"
            );
        }
    }

    #[test]
    fn post_public_and_nothing() {
        let post = Form::parse(b"client_id=a&client_secret=s").unwrap();
        assert!(matches!(
            PresentedCredentials::extract(None, &post).unwrap(),
            PresentedCredentials::Post { .. }
        ));
        let public = Form::parse(b"client_id=a").unwrap();
        assert!(matches!(
            PresentedCredentials::extract(None, &public).unwrap(),
            PresentedCredentials::PublicClient { .. }
        ));
        assert_eq!(
            PresentedCredentials::extract(None, &Form::default()).unwrap(),
            PresentedCredentials::Nothing
        );
        let secret_only = Form::parse(b"client_secret=s").unwrap();
        assert!(PresentedCredentials::extract(None, &secret_only).is_err());
    }
}
