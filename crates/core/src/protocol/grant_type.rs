//! The grant types Tessera serves, declared once. Discovery advertises them
//! (`grant_types_supported`, RFC 8414 §2), configuration accepts them for clients, and the token
//! endpoint dispatches on them (`grants::exchange`): a grant type added here is a variant the
//! compiler then asks for at every match.

/// A grant type (RFC 6749 §1.3, extension grants §4.5). Its token request's parameters are its
/// variant of `protocol::token::TokenRequest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantType {
    /// RFC 6749 §4.1.
    AuthorizationCode,
    /// RFC 6749 §4.2 and OIDC Core §3.2: tokens from the authorization endpoint; never at
    /// `/token`.
    Implicit,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// RFC 8628 §3.4: a device without a browser redeems the user's decision.
    DeviceCode,
    /// RFC 8693 §2: a service trades a token it was sent for one to another API.
    TokenExchange,
    /// OpenID CIBA Core §10.1: a client redeems the user's decision on a backchannel request.
    Ciba,
}

impl GrantType {
    /// Every grant type served, in the order discovery lists them.
    pub const ALL: [GrantType; 7] = [
        Self::AuthorizationCode,
        Self::Implicit,
        Self::RefreshToken,
        Self::ClientCredentials,
        Self::DeviceCode,
        Self::TokenExchange,
        Self::Ciba,
    ];

    /// Its registered name, the value of `grant_type` (RFC 6749 §4, IANA "OAuth Grant Types").
    pub const fn name(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::Implicit => "implicit",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            Self::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
            Self::Ciba => "urn:openid:params:grant-type:ciba",
        }
    }

    /// Whether a client redeems it at the token endpoint.
    pub const fn at_token_endpoint(self) -> bool {
        !matches!(self, Self::Implicit)
    }

    /// The grant type named `name`, if it is served.
    pub fn from_name(name: &str) -> Option<GrantType> {
        Self::ALL.into_iter().find(|g| g.name() == name)
    }

    /// Every served grant type's name, in declaration order.
    pub fn names() -> impl Iterator<Item = &'static str> {
        Self::ALL.into_iter().map(Self::name)
    }
}

impl std::fmt::Display for GrantType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grant_type_is_found_by_its_name() {
        for g in GrantType::ALL {
            assert_eq!(GrantType::from_name(g.name()), Some(g));
        }
        assert_eq!(GrantType::from_name("password"), None);
        assert_eq!(
            GrantType::names().collect::<Vec<_>>(),
            [
                "authorization_code",
                "implicit",
                "refresh_token",
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:device_code",
                "urn:ietf:params:oauth:grant-type:token-exchange",
                "urn:openid:params:grant-type:ciba",
            ]
        );
    }
}
