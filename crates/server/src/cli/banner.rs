//! What `serve --dev` prints at start: the demo configuration and commands to try.

use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::config::{Config, DEMO_USER_PASSWORD};

/// The banner for `serve --dev`.
pub fn dev_banner(config: &Config, addr: SocketAddr) -> String {
    let issuer = &config.issuer;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nTessera is running in development mode (not for production)."
    );
    let _ = writeln!(out, "  issuer:    {issuer}");
    let _ = writeln!(out, "  listening: http://{addr}");
    let _ = writeln!(out, "  database:  {}", config.database_url_redacted());
    let _ = writeln!(out, "\nDemo configuration:");
    let _ = writeln!(
        out,
        "  machine client: client_id=machine  secret=machine-secret  grant=client_credentials  scopes=api1.read api1.write"
    );
    let _ = writeln!(
        out,
        "  web client:     client_id=web      secret=web-secret      grant=authorization_code+PKCE, refresh_token"
    );
    let _ = writeln!(
        out,
        "                  redirect_uri=http://127.0.0.1:9000/callback"
    );
    let _ = writeln!(
        out,
        "  device client:  client_id=tv       (public)               grant=device_code, refresh_token"
    );
    let _ = writeln!(
        out,
        "  API:            urn:api1 (introspection secret api1-secret)"
    );
    let _ = writeln!(out, "  user:           alice / {DEMO_USER_PASSWORD}");
    let _ = writeln!(out, "\nTry:");
    let _ = writeln!(out, "  curl -s {issuer}/.well-known/openid-configuration");
    let _ = writeln!(out, "  curl -s {issuer}/.well-known/jwks.json");
    let _ = writeln!(
        out,
        "  curl -s -u machine:machine-secret -d grant_type=client_credentials -d scope=api1.read {issuer}/token"
    );
    let _ = writeln!(
        out,
        "  curl -s -d client_id=tv -d scope=openid {issuer}/device_authorization   (then open {issuer}/device)"
    );
    out
}
