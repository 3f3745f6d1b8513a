//! The `claims` request parameter (OIDC Core §5.5): individual claims asked for, for the
//! userinfo response and for the identity token.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::protocol::OAuthError;

/// Larger `claims` parameters are refused before parsing.
pub const MAX_CLAIMS_PARAMETER: usize = 4 * 1024;

/// Claim names may not be longer than this.
const MAX_CLAIM_NAME: usize = 128;

/// The claim names asked for, by where they should be returned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    /// Claims for the userinfo response (§5.5 `userinfo`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo: Vec<String>,
    /// Claims for the identity token (§5.5 `id_token`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token: Vec<String>,
    /// The `acr` claim's request (§5.5.1.1), from either member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<RequestedAcr>,
}

/// How the `acr` claim was asked for (OIDC Core §5.5.1, §5.5.1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedAcr {
    /// `essential: true`.
    #[serde(default)]
    pub essential: bool,
    /// `value`, or `values` in order of preference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl ClaimsRequest {
    /// Whether nothing was asked for.
    pub fn is_empty(&self) -> bool {
        self.userinfo.is_empty() && self.id_token.is_empty()
    }
}

/// Most `acr` values considered in one request.
const MAX_ACR_VALUES: usize = 16;

/// Reads the request of the `acr` claim: `essential`, and `value` or `values` (strings).
fn requested_acr(request: &Value) -> Result<RequestedAcr, OAuthError> {
    let Value::Object(o) = request else {
        return Ok(RequestedAcr::default());
    };
    let text = |v: &Value| {
        v.as_str()
            .filter(|s| !s.is_empty() && s.len() <= MAX_CLAIM_NAME * 2)
            .map(str::to_string)
            .ok_or_else(|| invalid("acr values must be non-empty strings"))
    };
    let mut values = Vec::new();
    if let Some(v) = o.get("value") {
        values.push(text(v)?);
    }
    if let Some(Value::Array(items)) = o.get("values") {
        if items.len() > MAX_ACR_VALUES {
            return Err(invalid("too many acr values"));
        }
        for v in items {
            values.push(text(v)?);
        }
    }
    Ok(RequestedAcr {
        essential: o.get("essential") == Some(&Value::Bool(true)),
        values,
    })
}

fn invalid(why: &'static str) -> OAuthError {
    OAuthError::InvalidRequest(why.into())
}

/// Reads the names of one member (§5.5: each claim maps to `null` or an object with
/// `essential`, `value` or `values`).
fn member(value: Option<&Value>) -> Result<Vec<String>, OAuthError> {
    let Some(value) = value else {
        return Ok(vec![]);
    };
    let Value::Object(claims) = value else {
        return Err(invalid("claims members must be JSON objects"));
    };
    let mut names = Vec::with_capacity(claims.len());
    for (name, request) in claims {
        if name.is_empty() || name.len() > MAX_CLAIM_NAME {
            return Err(invalid("a claim name in the claims parameter is invalid"));
        }
        match request {
            Value::Null => {}
            Value::Object(o) => {
                if o.get("essential").is_some_and(|e| !e.is_boolean()) {
                    return Err(invalid("`essential` must be a boolean"));
                }
                if o.get("values").is_some_and(|v| !v.is_array()) {
                    return Err(invalid("`values` must be an array"));
                }
            }
            _ => return Err(invalid("each requested claim must be null or an object")),
        }
        names.push(name.clone());
    }
    Ok(names)
}

/// Parses the `claims` parameter. Members other than `userinfo` and `id_token` are ignored
/// (§5.5: "other members ... MUST be ignored" when not understood).
pub fn parse_claims_parameter(text: &str) -> Result<ClaimsRequest, OAuthError> {
    if text.len() > MAX_CLAIMS_PARAMETER {
        return Err(invalid("the claims parameter is too large"));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|_| invalid("the claims parameter is not JSON"))?;
    let Value::Object(top) = value else {
        return Err(invalid("the claims parameter must be a JSON object"));
    };
    let mut acr: Option<RequestedAcr> = None;
    for name in ["id_token", "userinfo"] {
        if let Some(request) = top.get(name).and_then(|m| m.get("acr")) {
            let this = requested_acr(request)?;
            // Asked for in both members: essential if either says so, values from both.
            let merged = acr.get_or_insert_with(RequestedAcr::default);
            merged.essential |= this.essential;
            merged.values.extend(this.values);
        }
    }
    Ok(ClaimsRequest {
        userinfo: member(top.get("userinfo"))?,
        id_token: member(top.get("id_token"))?,
        acr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_members() {
        let r = parse_claims_parameter(
            r#"{"userinfo":{"email":null,"name":{"essential":true}},
                "id_token":{"auth_time":{"essential":true},"acr":{"values":["x"]}},
                "other":1}"#,
        )
        .unwrap();
        assert_eq!(r.userinfo, ["email", "name"]);
        assert_eq!(r.id_token, ["acr", "auth_time"]);
        assert_eq!(
            r.acr,
            Some(RequestedAcr {
                essential: false,
                values: vec!["x".into()]
            })
        );
        let r = parse_claims_parameter(r#"{"id_token":{"acr":{"essential":true,"value":"1"}}}"#)
            .unwrap();
        assert_eq!(
            r.acr,
            Some(RequestedAcr {
                essential: true,
                values: vec!["1".into()]
            })
        );
        assert!(
            parse_claims_parameter(r#"{"id_token":{"email":null}}"#)
                .unwrap()
                .acr
                .is_none()
        );
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "",
            "[]",
            "{",
            r#"{"userinfo":[]}"#,
            r#"{"userinfo":{"email":1}}"#,
            r#"{"userinfo":{"email":{"essential":"yes"}}}"#,
            r#"{"id_token":{"acr":{"values":"x"}}}"#,
            r#"{"id_token":{"acr":{"values":[1]}}}"#,
            r#"{"id_token":{"acr":{"value":""}}}"#,
            r#"{"userinfo":{"":null}}"#,
        ] {
            assert!(parse_claims_parameter(bad).is_err(), "{bad}");
        }
        let huge = format!(r#"{{"userinfo":{{"a":"{}"}}}}"#, "x".repeat(5000));
        assert!(parse_claims_parameter(&huge).is_err());
    }
}
