//! `tessera check-config`: what the configuration declares, the redirect URIs upstream
//! providers need, and the security profile report.

use tessera_core::profile::{Profile, client_violations};

use crate::config::Config;

/// Prints the report of a valid configuration.
pub fn report(config: &Config) {
    println!(
        "configuration is valid: issuer {}, {} client(s), {} user(s), database {}",
        config.issuer,
        config.clients.len(),
        config.users.len(),
        config.database_url_redacted()
    );
    // The redirect URI each upstream provider must have registered for us (a contract).
    let base = config.issuer.trim_end_matches('/');
    for p in &config.identity_providers {
        println!(
            "identity provider {}: register the redirect URI {base}/federation/{}/callback{}",
            p.name,
            p.name,
            if p.enabled { "" } else { " (disabled)" }
        );
        if let Some(key) = &p.client_key {
            let jwks = serde_json::json!({ "keys": [key.public_jwk()] });
            println!(
                "identity provider {}: register this public key for private_key_jwt: {jwks}",
                p.name
            );
        }
    }
    profile_report(config);
}

/// The declared profile: what it checks of each client and enforces on requests, and that
/// every client of the file conforms (a configuration with one that does not is invalid).
/// Without one, the clients that depart from RFC 9700 are named, so that an operator sees
/// what `profile = "rfc9700"` would refuse.
fn profile_report(config: &Config) {
    let Some(profile) = config.profile else {
        let departures: Vec<String> = config
            .clients
            .iter()
            .flat_map(|c| {
                client_violations(Profile::Rfc9700, c)
                    .into_iter()
                    .map(move |v| format!("client {}: {}: {}", c.client_id, v.field, v.message))
            })
            .collect();
        println!(
            "profile: none declared (profile = \"rfc9700\" or \"fapi2\" checks every client at start); {} departure(s) from RFC 9700",
            departures.len()
        );
        for d in departures {
            println!("  {d}");
        }
        return;
    };
    println!(
        "profile {}: all {} client(s) of the file conform; clients in the database are checked when the server starts",
        profile.name(),
        config.clients.len()
    );
    for rule in profile.client_rules() {
        println!("  client rule: {rule}");
    }
    for rule in profile.server_rules() {
        println!("  server rule: {rule}");
    }
    let r = &config.requests;
    println!(
        "  in force: pushed requests {}, signed request objects {}, request_uri lifetime {} s, request object algorithms {}",
        if r.require_pushed {
            "required"
        } else {
            "optional"
        },
        if r.require_signed {
            "required"
        } else {
            "optional"
        },
        r.request_uri_lifetime,
        r.request_object_algs.join(", ")
    );
}
