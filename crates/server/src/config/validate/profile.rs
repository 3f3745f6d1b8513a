//! `profile` and `[authorize]`: the declared security profile and the authorization request
//! policy (pushed and signed requests) it tightens.

use serde::Deserialize;
use tessera_core::authorize::pushed::RequestPolicy;
use tessera_core::authorize::request_object::REQUEST_OBJECT_ALGS;
use tessera_core::profile::{FAPI2_ALG_NAMES, FAPI2_REQUEST_URI_LIFETIME, Profile};

use super::Problems;
use crate::config::RawConfig;

/// `[authorize]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAuthorize {
    /// Every client must push its authorization requests (RFC 9126 §5); unset: each client's
    /// own `require_pushed_authorization_requests` (and on under `profile = "fapi2"`).
    pub require_pushed_authorization_requests: Option<bool>,
    /// Every authorization request must be a signed request object (RFC 9101 §10.5).
    pub require_signed_request_object: bool,
    /// Seconds a pushed request's `request_uri` lives (RFC 9126 §2.2; default 60).
    pub request_uri_lifetime: Option<u64>,
    /// The longest lifetime of a request object (`exp` after now), in seconds (default 3600).
    pub request_object_max_lifetime: Option<i64>,
}

/// `[[authorization_details_types]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuthorizationDetailsType {
    /// The `type` value (RFC 9396 §2).
    pub name: String,
    /// What the consent page says it is.
    pub description: Option<String>,
    /// The JSON schema its objects meet, inline.
    pub schema: Option<serde_json::Value>,
    /// Or in a JSON file.
    pub schema_file: Option<std::path::PathBuf>,
}

/// `[[authorization_details_types]]`: unique names, and a schema that compiles.
pub(super) fn check_detail_types(
    raw: &RawConfig,
    p: &mut Problems,
) -> Vec<tessera_core::model::AuthorizationDetailsType> {
    let mut types = Vec::new();
    for (i, t) in raw.authorization_details_types.iter().enumerate() {
        let key = format!("authorization_details_types[{i}]");
        if t.name.is_empty()
            || types
                .iter()
                .any(|o: &tessera_core::model::AuthorizationDetailsType| o.name == t.name)
        {
            p.add(format!("{key}.name"), "must be a name of its own");
        }
        let schema = match (&t.schema, &t.schema_file) {
            (Some(schema), None) => Some(schema.clone()),
            (None, Some(path)) => std::fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
                .map_err(|e| {
                    p.add(
                        format!("{key}.schema_file"),
                        format!("cannot read {}: {e}", path.display()),
                    )
                })
                .ok(),
            _ => {
                p.add(&key, "give schema or schema_file (one of them)");
                None
            }
        };
        let Some(schema) = schema else { continue };
        if let Err(e) = tessera_core::authorize::details::check_schema(&schema) {
            p.add(
                format!("{key}.schema"),
                format!("is not a JSON schema: {e}"),
            );
            continue;
        }
        types.push(tessera_core::model::AuthorizationDetailsType {
            name: t.name.clone(),
            description: t.description.clone(),
            schema,
        });
    }
    types
}

/// `profile`: a name this version knows.
pub(super) fn check_profile(raw: &RawConfig, p: &mut Problems) -> Option<Profile> {
    let name = raw.profile.as_deref()?;
    let profile = Profile::parse(name);
    if profile.is_none() {
        p.add(
            "profile",
            format!("`{name}` is not a profile; use \"rfc9700\" or \"fapi2\""),
        );
    }
    profile
}

/// `[authorize]`, and what the profile asks of the server's own settings.
pub(super) fn check_authorize(
    raw: &RawConfig,
    profile: Option<Profile>,
    p: &mut Problems,
) -> RequestPolicy {
    let a = &raw.authorize;
    let defaults = RequestPolicy::default();
    let fapi2 = profile == Some(Profile::Fapi2);
    let lifetime = a
        .request_uri_lifetime
        .unwrap_or(defaults.request_uri_lifetime);
    // RFC 9126 §2.2: "relatively short (e.g., between 5 and 600 seconds)"; FAPI 2.0 SP
    // §5.3.2.2 makes 600 the limit.
    if !FAPI2_REQUEST_URI_LIFETIME.contains(&lifetime) {
        p.add(
            "authorize.request_uri_lifetime",
            "must be between 5 and 600 seconds",
        );
    }
    let max_lifetime = a
        .request_object_max_lifetime
        .unwrap_or(defaults.max_request_object_lifetime);
    if !(60..=3_600).contains(&max_lifetime) {
        // FAPI 2.0 Message Signing §5.3.1: at most 60 minutes.
        p.add(
            "authorize.request_object_max_lifetime",
            "must be between 60 and 3600 seconds",
        );
    }
    if fapi2 && a.require_pushed_authorization_requests == Some(false) {
        p.add(
            "authorize.require_pushed_authorization_requests",
            "cannot be false under profile = \"fapi2\" (FAPI 2.0 SP §5.3.2.2 requires pushed requests)",
        );
    }
    if fapi2 {
        check_fapi2_server(raw, p);
    }
    let request_object_algs = match fapi2 {
        true => REQUEST_OBJECT_ALGS
            .iter()
            .copied()
            .filter(|a| FAPI2_ALG_NAMES.contains(a))
            .collect(),
        false => defaults.request_object_algs,
    };
    RequestPolicy {
        require_pushed: a.require_pushed_authorization_requests.unwrap_or(fapi2),
        require_signed: a.require_signed_request_object,
        request_uri_lifetime: lifetime,
        request_object_algs,
        max_request_object_lifetime: max_lifetime,
        require_nbf: fapi2,
        require_pushed_redirect_uri: fapi2,
    }
}

/// FAPI 2.0 SP §5.4.1: what the server signs with by default, and each API's access tokens,
/// use the profile's algorithms.
fn check_fapi2_server(raw: &RawConfig, p: &mut Problems) {
    let fapi = |alg: &str| FAPI2_ALG_NAMES.contains(&alg);
    if let Some(first) = raw.keys.algorithms.first().filter(|a| !fapi(a)) {
        p.add(
            "keys.algorithms[0]",
            format!(
                "is {first}; under profile = \"fapi2\" the default algorithm is one of {}",
                FAPI2_ALG_NAMES.join(", ")
            ),
        );
    }
    for (i, api) in raw.api_resources.iter().enumerate() {
        if let Some(alg) = api.signing_alg.as_deref().filter(|a| !fapi(a)) {
            p.add(
                format!("api_resources[{i}].signing_alg"),
                format!(
                    "is {alg}; under profile = \"fapi2\" use one of {}",
                    FAPI2_ALG_NAMES.join(", ")
                ),
            );
        }
    }
}
