//! Fixtures for tests: a [`Client`] builder, so that a test names only what its client needs
//! and a new field of [`Client`] is added in one place. Built for this crate's tests and, with
//! the `testing` feature, for other crates' tests and the fuzz targets.

use crate::clients::authenticate::secret_digest;
use crate::clients::jwk::ClientJwk;
use crate::model::{AccessTokenType, Client, TokenEndpointAuthMethod};

impl Client {
    /// A builder for the client `id`, starting from [`Client::default`]: a public web client
    /// with nothing it could use until grants, redirect URIs and scopes are set.
    pub fn builder(id: &str) -> ClientBuilder {
        ClientBuilder(Client {
            client_id: id.into(),
            ..Client::default()
        })
    }
}

/// Builds a [`Client`]; see [`Client::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientBuilder(Client);

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

impl ClientBuilder {
    /// The name shown on consent pages.
    pub fn name(mut self, name: &str) -> Self {
        self.0.client_name = Some(name.into());
        self
    }

    /// Secrets the client authenticates with (stored as their digests).
    pub fn secrets(mut self, secrets: &[&str]) -> Self {
        self.0.secret_digests = secrets.iter().map(|s| secret_digest(s)).collect();
        self
    }

    /// Secret digests as stored, for tests of the stores themselves.
    pub fn secret_digests(mut self, digests: &[&str]) -> Self {
        self.0.secret_digests = strings(digests);
        self
    }

    /// The grant types the client may use.
    pub fn grant_types(mut self, grant_types: &[&str]) -> Self {
        self.0.grant_types = strings(grant_types);
        self
    }

    /// The registered redirect URIs.
    pub fn redirect_uris(mut self, uris: &[&str]) -> Self {
        self.0.redirect_uris = strings(uris);
        self
    }

    /// The scopes the client may request.
    pub fn scopes(mut self, scopes: &[&str]) -> Self {
        self.0.allowed_scopes = strings(scopes);
        self
    }

    /// Whether the user is asked for consent.
    pub fn consent(mut self, required: bool) -> Self {
        self.0.settings.require_consent = required;
        self
    }

    /// How the client authenticates at the token endpoint.
    pub fn auth_method(mut self, method: TokenEndpointAuthMethod) -> Self {
        self.0.token_endpoint_auth_method = method;
        self
    }

    /// JWT or reference access tokens.
    pub fn access_token_type(mut self, kind: AccessTokenType) -> Self {
        self.0.settings.access_token_type = kind;
        self
    }

    /// Access and identity token lifetimes, in seconds.
    pub fn lifetimes(mut self, access: u64, identity: u64) -> Self {
        self.0.settings.access_token_lifetime = access;
        self.0.settings.identity_token_lifetime = identity;
        self
    }

    /// Refresh token lifetimes, in seconds: after the last use, and since the sign-in.
    pub fn refresh_lifetimes(mut self, sliding: u64, absolute: u64) -> Self {
        self.0.settings.refresh_token_sliding_lifetime = sliding;
        self.0.settings.refresh_token_absolute_lifetime = absolute;
        self
    }

    /// Public keys for `private_key_jwt`.
    pub fn jwks(mut self, jwks: Vec<ClientJwk>) -> Self {
        self.0.jwks = jwks;
        self
    }

    /// Whether the client may get tokens.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.0.enabled = enabled;
        self
    }

    /// The client.
    pub fn build(self) -> Client {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_fields_are_the_defaults() {
        let built = Client::builder("web").build();
        let expected = Client {
            client_id: "web".into(),
            ..Client::default()
        };
        assert_eq!(built, expected);
        let secret = Client::builder("m").secrets(&["s3cret"]).build();
        assert_eq!(secret.secret_digests, [secret_digest("s3cret")]);
    }
}
