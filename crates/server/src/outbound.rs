//! The one HTTP client for every request the server itself makes (back-channel logout today;
//! any later fetch of a client's URL goes through it too). SEC-57:
//! - https only, unless `[outbound] allow_http` (on with `--dev`);
//! - the host's addresses are resolved here and checked before connecting, and the connection
//!   goes to exactly those addresses (no second lookup for DNS rebinding to change): loopback,
//!   private (RFC 1918, ULA), link-local (169.254.0.0/16, the cloud metadata address),
//!   shared, reserved, documentation, multicast and unspecified addresses are refused unless an
//!   operator lists their network in `[outbound] allowed_networks`; a name with any refused
//!   address is refused as a whole;
//! - no redirects, no proxy from the environment, a 5 s timeout and a 256 KiB cap on what is
//!   read back;
//! - URLs come from registration only, never from request-time input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Each request may take this long, connection included.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Most bytes of a response body read.
pub const MAX_RESPONSE: usize = 256 * 1024;

/// Where outbound requests may go.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    /// Plain http is allowed (development only).
    pub allow_http: bool,
    /// Networks allowed although not public (an operator's internal clients).
    pub allowed_networks: Vec<IpNet>,
}

impl OutboundPolicy {
    /// True when a request may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        is_public(ip) || self.allowed_networks.iter().any(|n| n.contains(&ip))
    }

    /// The URL if a request to it may be made: absolute http(s), a host, no user
    /// information, https unless allowed, and an address literal the policy permits (names
    /// are checked when they are resolved).
    pub fn check_url(&self, url: &str) -> Result<url::Url, OutboundError> {
        let parsed = url::Url::parse(url).map_err(|_| OutboundError::BadUrl)?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err(OutboundError::NotHttps),
            _ => return Err(OutboundError::BadUrl),
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(OutboundError::BadUrl);
        }
        let literal = match parsed.host() {
            None => return Err(OutboundError::BadUrl),
            Some(url::Host::Domain(_)) => None,
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        };
        if let Some(ip) = literal
            && !self.permits(ip)
        {
            return Err(OutboundError::Forbidden(ip.to_string()));
        }
        Ok(parsed)
    }
}

/// True for globally routable unicast addresses.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (RFC 6598)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking (RFC 2544)
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::/96) addresses reach an IPv4 host.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        let [.., hi, lo] = s;
        let v4 = Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
        return is_public_v4(v4);
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local (RFC 4193)
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        // Tunnels to IPv4 hosts: 6to4 (2002::/16, RFC 3056) embeds an IPv4 address, as does
        // Teredo (2001::/32, RFC 4380, obfuscated); through a relay they may reach one that
        // is not public, so both are refused like the other special ranges.
        || s[0] == 0x2002
        || (s[0] == 0x2001 && s[1] == 0)
        || s[..6] == [0; 6]) // IPv4-compatible and other ::/64 oddities
}

/// Why a request was not made or failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// Not an absolute http(s) URL with a host, or with user information.
    #[error("not a usable URL")]
    BadUrl,
    /// http while only https is allowed.
    #[error("only https is allowed")]
    NotHttps,
    /// The host is, or resolves to, an address the policy refuses.
    #[error("the address of {0} is not allowed")]
    Forbidden(String),
    /// Timed out.
    #[error("timed out")]
    Timeout,
    /// Could not connect (including a refused name).
    #[error("connection failed")]
    Connect,
    /// The response was larger than [`MAX_RESPONSE`].
    #[error("response too large")]
    TooLarge,
    /// Any other failure.
    #[error("request failed")]
    Other,
}

/// A response: its status and at most [`MAX_RESPONSE`] bytes of body.
#[derive(Debug)]
pub struct Fetched {
    /// The status.
    pub status: reqwest::StatusCode,
    /// The body.
    pub body: Vec<u8>,
}

/// Resolves names for the client and refuses any name with a forbidden address.
struct CheckedResolver(Arc<OutboundPolicy>);

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.0);
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() || addrs.iter().any(|a| !policy.permits(a.ip())) {
                return Err(Box::new(OutboundError::Forbidden(host)) as _);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The hardened client.
#[derive(Clone)]
pub struct Outbound {
    http: reqwest::Client,
    policy: Arc<OutboundPolicy>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Outbound {
    /// A client under `policy`.
    pub fn new(policy: OutboundPolicy) -> anyhow::Result<Outbound> {
        let policy = Arc::new(policy);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(CheckedResolver(Arc::clone(&policy)))
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .user_agent("tessera")
            .build()?;
        Ok(Outbound { http, policy })
    }

    /// POSTs `form` to `url`.
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<Fetched, OutboundError> {
        self.post_form_as(url, form, None).await
    }

    /// POSTs `form` to `url`, with HTTP Basic credentials when given (RFC 6749 §2.3.1: both
    /// parts form-encoded first).
    pub async fn post_form_as(
        &self,
        url: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Result<Fetched, OutboundError> {
        let url = self.policy.check_url(url)?;
        let mut request = self
            .http
            .post(url)
            .header(reqwest::header::CACHE_CONTROL, "no-store")
            .header(reqwest::header::ACCEPT, "application/json")
            .form(form);
        if let Some((user, password)) = basic {
            let encode =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request = request.basic_auth(encode(user), Some(encode(password)));
        }
        read_capped(request.send().await.map_err(classify)?).await
    }

    /// POSTs `body` of `content_type` to `url`, with a bearer token when given.
    pub async fn post_body(
        &self,
        url: &str,
        (content_type, body): (&str, String),
        bearer: Option<&str>,
    ) -> Result<Fetched, OutboundError> {
        let url = self.policy.check_url(url)?;
        let mut request = self
            .http
            .post(url)
            .header(reqwest::header::CACHE_CONTROL, "no-store")
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        read_capped(request.send().await.map_err(classify)?).await
    }

    /// GETs `url` as JSON, with a bearer token when given (RFC 6750 §2.1).
    pub async fn get_json(
        &self,
        url: &str,
        bearer: Option<&str>,
    ) -> Result<Fetched, OutboundError> {
        let url = self.policy.check_url(url)?;
        let mut request = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        read_capped(request.send().await.map_err(classify)?).await
    }
}

fn classify(e: reqwest::Error) -> OutboundError {
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(s) = source {
        if let Some(OutboundError::Forbidden(host)) = s.downcast_ref::<OutboundError>() {
            return OutboundError::Forbidden(host.clone());
        }
        source = s.source();
    }
    if e.is_timeout() {
        OutboundError::Timeout
    } else if e.is_connect() {
        OutboundError::Connect
    } else {
        OutboundError::Other
    }
}

async fn read_capped(mut response: reqwest::Response) -> Result<Fetched, OutboundError> {
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > MAX_RESPONSE {
            return Err(OutboundError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn private_and_special_addresses_are_refused() {
        for s in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
            "2001:db8::1",
            // 6to4 and Teredo, around loopback, link-local and public IPv4 addresses alike.
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "2002:808:808::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001::1",
        ] {
            assert!(!is_public(ip(s)), "{s} must be refused");
        }
        for s in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip(s)), "{s} is public");
        }
    }

    #[test]
    fn allowed_networks_open_exactly_themselves() {
        let policy = OutboundPolicy {
            allow_http: false,
            allowed_networks: vec!["10.1.0.0/16".parse().unwrap_or_else(|_| unreachable!())],
        };
        assert!(policy.permits(ip("10.1.2.3")));
        assert!(!policy.permits(ip("10.2.0.1")));
        assert!(!policy.permits(ip("127.0.0.1")));
    }

    #[test]
    fn urls_are_checked_before_any_request() {
        let strict = OutboundPolicy::default();
        assert!(matches!(
            strict.check_url("http://client.example/logout"),
            Err(OutboundError::NotHttps)
        ));
        assert!(matches!(
            strict.check_url("https://127.0.0.1/logout"),
            Err(OutboundError::Forbidden(_))
        ));
        assert!(matches!(
            strict.check_url("https://[::ffff:7f00:1]/logout"),
            Err(OutboundError::Forbidden(_))
        ));
        assert!(matches!(
            strict.check_url("https://user:pw@client.example/logout"),
            Err(OutboundError::BadUrl)
        ));
        assert!(matches!(
            strict.check_url("file:///etc/passwd"),
            Err(OutboundError::BadUrl)
        ));
        assert!(strict.check_url("https://client.example/logout").is_ok());
    }
}
