//! The client's address behind reverse proxies the operator trusts (`[http] trusted_proxies`).
//!
//! Behind a load balancer every connection comes from the balancer, so per-address limits
//! (sign-in throttling, user-code guesses, parked requests) would give all users one budget.
//! When the connection comes from a trusted proxy, the address it reports is used instead: the
//! `Forwarded` header (RFC 7239 §5.2 `for=`) or, without one, `X-Forwarded-For`. The chain is
//! read from the nearest hop backwards and stops at the first address that is not a trusted
//! proxy: that is the client. Anyone else's forwarding headers are ignored, so a client cannot
//! choose its own address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use super::AppState;
use crate::audit::Origin;
use crate::connections::PeerAddr;

/// Hops read at most: a longer chain is read from its nearest end.
const MAX_HOPS: usize = 32;

/// Replaces the request's peer address by the client's when the peer is a trusted proxy, names
/// the client's address in the request's log span (the access log line), and handles the
/// request with its origin known to the audit log.
pub async fn client_address(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Some(PeerAddr(peer)) = request.extensions().get::<PeerAddr>().copied() else {
        let origin = Origin {
            address: None,
            request_id,
        };
        return crate::audit::within(origin, next.run(request)).await;
    };
    let trusted = &state.config.http.trusted_proxies;
    let client = resolve(peer.ip(), request.headers(), trusted).unwrap_or(peer.ip());
    if client != peer.ip() {
        request
            .extensions_mut()
            .insert(PeerAddr(SocketAddr::new(client, 0)));
    }
    tracing::Span::current().record("address", tracing::field::display(client));
    let origin = Origin {
        address: Some(client),
        request_id,
    };
    crate::audit::within(origin, next.run(request)).await
}

/// The client's address when `peer` is a trusted proxy: walking the reported chain from its
/// nearest hop, the first address that is not a trusted proxy. A hop that cannot be read
/// (`unknown`, an obfuscated name, garbage) ends the walk at the proxy that reported it.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return None;
    }
    let hops = reported_hops(headers);
    let mut current = peer;
    for hop in hops.iter().rev().take(MAX_HOPS) {
        if !is_trusted(&current) {
            break;
        }
        match hop {
            Some(ip) => current = *ip,
            None => break,
        }
    }
    Some(current)
}

/// The addresses the proxies reported, the client's first: `Forwarded` when present, else
/// `X-Forwarded-For`; every line of the header in order.
fn reported_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let lines = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("\u{0}").to_string())
            .collect()
    };
    let forwarded = lines("forwarded");
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|line| line.split(','))
            .map(forwarded_for)
            .collect();
    }
    lines("x-forwarded-for")
        .iter()
        .flat_map(|line| line.split(','))
        .map(|hop| node_address(hop.trim()))
        .collect()
}

/// RFC 7239 §4: the `for` parameter of one forwarded element, if it names an address.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| node_address(value.trim().trim_matches('"')))
            .flatten()
    })
}

/// RFC 7239 §6 node: an IPv4 address or a bracketed IPv6 one, with an optional port; bare IPv6
/// as `X-Forwarded-For` writes it.
fn node_address(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    node.parse::<SocketAddr>().ok().map(|s| s.ip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_chain_is_read_back_to_the_first_untrusted_hop() {
        let trusted: Vec<IpNet> = vec![
            "10.0.0.0/8".parse().unwrap(),
            "192.0.2.1/32".parse().unwrap(),
        ];
        let xff = |v: &str| headers(&[("x-forwarded-for", v)]);
        let lb = ip("10.1.2.3");
        // Client, then a trusted inner proxy.
        assert_eq!(
            resolve(lb, &xff("203.0.113.7, 10.9.9.9"), &trusted),
            Some(ip("203.0.113.7"))
        );
        // A forged entry before the client's is not reached.
        assert_eq!(
            resolve(lb, &xff("1.2.3.4, 203.0.113.7"), &trusted),
            Some(ip("203.0.113.7"))
        );
        // Two header lines are one list.
        let two = headers(&[
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-for", "10.0.0.5"),
        ]);
        assert_eq!(resolve(lb, &two, &trusted), Some(ip("198.51.100.1")));
        // Garbage or `unknown` stops at the proxy that reported it.
        assert_eq!(
            resolve(lb, &xff("203.0.113.7, unknown"), &trusted),
            Some(lb)
        );
        // No header: the proxy itself.
        assert_eq!(resolve(lb, &HeaderMap::new(), &trusted), Some(lb));
        // An untrusted peer's headers are ignored.
        assert_eq!(resolve(ip("203.0.113.9"), &xff("10.0.0.1"), &trusted), None);
    }

    #[test]
    fn forwarded_wins_and_its_nodes_are_read_as_rfc_7239_writes_them() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        let peer = ip("127.0.0.1");
        let both = headers(&[
            (
                "forwarded",
                r#"for="[2001:db8:cafe::17]:4711";proto=https, for=127.0.0.1"#,
            ),
            ("x-forwarded-for", "203.0.113.1"),
        ]);
        assert_eq!(
            resolve(peer, &both, &trusted),
            Some(ip("2001:db8:cafe::17"))
        );
        let v4 = headers(&[("forwarded", "For=\"192.0.2.60:8080\";by=203.0.113.43")]);
        assert_eq!(resolve(peer, &v4, &trusted), Some(ip("192.0.2.60")));
        let hidden = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(resolve(peer, &hidden, &trusted), Some(peer));
    }
}
