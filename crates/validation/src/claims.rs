//! Verified claims of an access token.

use serde_json::{Map, Value};

/// What a valid access token says, as handed to handlers.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// `sub`: the user, or the client for client_credentials tokens.
    pub subject: String,
    /// `client_id`.
    pub client_id: Option<String>,
    /// `scope`, split.
    pub scopes: Vec<String>,
    /// `exp`.
    pub expires_at: i64,
    /// Every claim, for anything else (`aud`, `auth_time`, custom claims).
    pub all: Map<String, Value>,
}

impl Claims {
    /// Builds claims from a verified claim set; `None` when `sub` or `exp` is missing or of
    /// the wrong type.
    pub fn from_map(all: Map<String, Value>) -> Option<Claims> {
        Some(Claims {
            subject: all.get("sub")?.as_str()?.to_string(),
            client_id: all
                .get("client_id")
                .and_then(Value::as_str)
                .map(str::to_string),
            scopes: all
                .get("scope")
                .and_then(Value::as_str)
                .map(|s| {
                    s.split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            expires_at: all.get("exp")?.as_i64()?,
            all,
        })
    }

    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}
