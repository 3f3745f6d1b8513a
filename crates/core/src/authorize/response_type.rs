//! `response_type` values (OAuth 2.0 Multiple Response Types §3-5, OIDC Core §3): the code
//! flow, and for clients registered for `implicit`, the implicit and hybrid flows.

use serde::{Deserialize, Serialize};

use super::request::ResponseMode;

/// What the authorization response carries (nothing, by default: not yet read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseType {
    /// An authorization code.
    pub code: bool,
    /// An identity token.
    pub id_token: bool,
    /// An access token.
    pub token: bool,
}

impl ResponseType {
    /// The code flow.
    pub const CODE: ResponseType = ResponseType {
        code: true,
        id_token: false,
        token: false,
    };

    /// Parses a space-separated set (order does not matter, Multiple Response Types §2).
    /// Supported: `code`, `id_token`, `id_token token`, `code id_token`, `code token`,
    /// `code id_token token`. OAuth's bare `token` is not offered (RFC 9700 §2.1.2).
    pub fn parse(value: &str) -> Option<ResponseType> {
        let mut rt = ResponseType {
            code: false,
            id_token: false,
            token: false,
        };
        for part in value.split(' ') {
            let seen = match part {
                "code" => &mut rt.code,
                "id_token" => &mut rt.id_token,
                "token" => &mut rt.token,
                _ => return None,
            };
            if *seen {
                return None;
            }
            *seen = true;
        }
        (rt.code || rt.id_token).then_some(rt)
    }

    /// Whether tokens travel in the front channel (implicit or hybrid).
    pub fn is_front_channel(self) -> bool {
        self.id_token || self.token
    }

    /// The default response mode (Multiple Response Types §2.1, §3, §4, §5): query for `code`,
    /// fragment whenever a token is in the response.
    pub fn default_mode(self) -> ResponseMode {
        if self.is_front_channel() {
            ResponseMode::Fragment
        } else {
            ResponseMode::Query
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_supported_combinations_in_any_order() {
        let rt = |c, i, t| ResponseType {
            code: c,
            id_token: i,
            token: t,
        };
        assert_eq!(ResponseType::parse("code"), Some(rt(true, false, false)));
        assert_eq!(
            ResponseType::parse("id_token"),
            Some(rt(false, true, false))
        );
        assert_eq!(
            ResponseType::parse("token id_token"),
            Some(rt(false, true, true))
        );
        assert_eq!(
            ResponseType::parse("id_token code token"),
            Some(rt(true, true, true))
        );
        for bad in [
            "",
            "token",
            "code code",
            "code  token",
            "Code",
            "none",
            "code foo",
        ] {
            assert_eq!(ResponseType::parse(bad), None, "{bad}");
        }
        assert_eq!(
            ResponseType::parse("code id_token").unwrap().default_mode(),
            ResponseMode::Fragment
        );
    }
}
