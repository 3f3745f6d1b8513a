//! Rich authorization requests (RFC 9396): `authorization_details`, a JSON array of objects,
//! each of a `type` the server declares with a JSON schema and the client is registered for.
//! They are checked at the authorization, pushed authorization and token endpoints, carried
//! into access tokens and introspection, and may be narrowed at the token endpoint (§6.1).

use serde_json::Value;

use crate::model::{AuthorizationDetailsType, Client};
use crate::protocol::OAuthError;

/// At most this many objects in one request.
pub const MAX_DETAILS: usize = 16;

fn invalid(why: impl Into<String>) -> OAuthError {
    OAuthError::InvalidAuthorizationDetails(why.into().into())
}

/// The `authorization_details` parameter's form (RFC 9396 §2): a JSON array of at most
/// [`MAX_DETAILS`] objects (§5: `invalid_authorization_details` otherwise).
pub fn parse_authorization_details(text: &str) -> Result<Vec<Value>, OAuthError> {
    let Ok(Value::Array(details)) = serde_json::from_str::<Value>(text) else {
        return Err(invalid(
            "authorization_details must be a JSON array of objects",
        ));
    };
    if details.len() > MAX_DETAILS {
        return Err(invalid(format!(
            "at most {MAX_DETAILS} authorization_details objects"
        )));
    }
    Ok(details)
}

/// Each object has a string `type` the server declares and the client is registered for
/// (§10 `authorization_details_types`), and meets its type's schema.
pub fn check_authorization_details(
    details: &[Value],
    client: &Client,
    types: &[AuthorizationDetailsType],
) -> Result<(), OAuthError> {
    for (i, detail) in details.iter().enumerate() {
        check_detail(i, detail, client, types)?;
    }
    Ok(())
}

/// The parameter parsed and checked, for the token endpoint.
pub fn read_authorization_details(
    text: &str,
    client: &Client,
    types: &[AuthorizationDetailsType],
) -> Result<Vec<Value>, OAuthError> {
    let details = parse_authorization_details(text)?;
    check_authorization_details(&details, client, types)?;
    Ok(details)
}

fn check_detail(
    i: usize,
    detail: &Value,
    client: &Client,
    types: &[AuthorizationDetailsType],
) -> Result<(), OAuthError> {
    let Some(name) = detail.get("type").and_then(Value::as_str) else {
        return Err(invalid(format!(
            "authorization_details[{i}] has no string `type`"
        )));
    };
    let Some(declared) = types.iter().find(|t| t.name == name) else {
        return Err(invalid(format!(
            "authorization_details[{i}]: the type `{name}` is unknown"
        )));
    };
    if !client.authorization_details_types.iter().any(|t| t == name) {
        return Err(invalid(format!(
            "authorization_details[{i}]: the client may not ask for the type `{name}`"
        )));
    }
    let validator = jsonschema::validator_for(&declared.schema).map_err(|e| {
        OAuthError::internal("compiling an authorization_details schema", e.to_string())
    })?;
    if let Some(error) = validator.iter_errors(detail).next() {
        return Err(invalid(format!(
            "authorization_details[{i}] does not meet the `{name}` schema at `{}`: {error}",
            error.instance_path()
        )));
    }
    Ok(())
}

/// Whether a schema compiles (for the configuration's check).
pub fn check_schema(schema: &Value) -> Result<(), String> {
    jsonschema::validator_for(schema)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// RFC 9396 §6.1: the details asked for at the token endpoint must be within those granted:
/// each is of the client's types and meets its schema, and is contained in a granted one.
pub fn narrow(
    requested: Vec<Value>,
    granted: &[Value],
    (client, types): (&Client, &[AuthorizationDetailsType]),
) -> Result<Vec<Value>, OAuthError> {
    check_authorization_details(&requested, client, types)?;
    for (i, detail) in requested.iter().enumerate() {
        if !granted.iter().any(|g| contained(detail, g)) {
            return Err(invalid(format!(
                "authorization_details[{i}] asks for more than was granted"
            )));
        }
    }
    Ok(requested)
}

/// `inner` asks for nothing `outer` does not. Objects have the same members (leaving a member
/// out may mean "any" to an API: no narrowing by omission), each contained; arrays may hold
/// fewer elements, each contained in one of the other's; anything else is equal.
pub fn contained(inner: &Value, outer: &Value) -> bool {
    match (inner, outer) {
        (Value::Object(i), Value::Object(o)) => {
            i.len() == o.len()
                && i.iter()
                    .all(|(k, v)| o.get(k).is_some_and(|ov| contained(v, ov)))
        }
        (Value::Array(i), Value::Array(o)) => i.iter().all(|v| o.iter().any(|ov| contained(v, ov))),
        (i, o) => i == o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payment() -> AuthorizationDetailsType {
        AuthorizationDetailsType {
            name: "payment_initiation".into(),
            description: None,
            schema: json!({
                "type": "object",
                "required": ["type", "instructedAmount"],
                "properties": {
                    "type": {"const": "payment_initiation"},
                    "instructedAmount": {
                        "type": "object",
                        "required": ["currency", "amount"],
                        "properties": {"currency": {"type": "string"}, "amount": {"type": "string"}}
                    },
                    "actions": {"type": "array", "items": {"enum": ["initiate", "status", "cancel"]}}
                }
            }),
        }
    }

    fn client() -> Client {
        let mut c = Client::builder("bank").build();
        c.authorization_details_types = vec!["payment_initiation".into()];
        c
    }

    #[test]
    fn details_are_checked_by_type_registration_and_schema() {
        let ok = r#"[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"123.50"}}]"#;
        assert_eq!(
            read_authorization_details(ok, &client(), &[payment()])
                .unwrap()
                .len(),
            1
        );
        for bad in [
            "{}",
            "not json",
            r#"[{"no":"type"}]"#,
            r#"[{"type":"account_information"}]"#,
            r#"[{"type":"payment_initiation"}]"#,
            r#"[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":5}}]"#,
        ] {
            let e = read_authorization_details(bad, &client(), &[payment()]).unwrap_err();
            assert_eq!(e.code(), "invalid_authorization_details", "{bad}");
        }
        let mut other = client();
        other.authorization_details_types.clear();
        assert!(read_authorization_details(ok, &other, &[payment()]).is_err());
    }

    #[test]
    fn narrowing_keeps_within_what_was_granted() {
        let detail = |actions: &[&str]| {
            json!({"type": "payment_initiation", "actions": actions,
                "instructedAmount": {"currency": "EUR", "amount": "1.00"}})
        };
        let granted = vec![detail(&["initiate", "status"])];
        let (c, types) = (client(), [payment()]);
        assert!(narrow(vec![detail(&["status"])], &granted, (&c, &types)).is_ok());
        assert!(narrow(vec![detail(&["cancel"])], &granted, (&c, &types)).is_err());
        // Leaving a member out is not narrowing: it may mean "any".
        let without_amount = json!({"type": "payment_initiation", "actions": ["status"]});
        assert!(narrow(vec![without_amount], &granted, (&c, &types)).is_err());
        assert!(narrow(vec![json!({})], &granted, (&c, &types)).is_err());
        let other = vec![json!({"type": "account_information"})];
        assert!(narrow(other, &granted, (&c, &types)).is_err());
    }
}
