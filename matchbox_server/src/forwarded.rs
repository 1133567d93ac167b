//! Who is asking: the address a request's limits are counted against.
//!
//! Behind a reverse proxy every connection comes from the proxy, so the
//! per-address limits would count the whole world as one stranger. The
//! operator names its proxies (`--trusted-proxy`); a request from one of
//! them is counted against the address the proxy recorded in
//! `X-Forwarded-For`. Anyone else's `X-Forwarded-For` is ignored: a
//! stranger could write any address there.

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, StatusCode, request::Parts},
};
use std::{
    net::{IpAddr, SocketAddr},
    str::FromStr,
    sync::Arc,
};

/// An address block, `198.51.100.0/24` or `2001:db8::/32`; a bare address
/// is a block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in the block. An IPv4-mapped IPv6 address is
    /// matched as the IPv4 address it carries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        let (address, prefix) = raw
            .split_once('/')
            .map_or((raw, None), |(a, p)| (a, Some(p)));
        let network = IpAddr::from_str(address)
            .map_err(|_| format!("{raw:?} is not an IP address or block (`10.0.0.0/8`)"))?
            .to_canonical();
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= bits)
                .ok_or_else(|| format!("{raw:?}: the prefix length must be 0 to {bits}"))?,
        };
        Ok(Self { network, prefix })
    }
}

/// The operator's reverse proxies.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrustedProxies(Arc<Vec<Cidr>>);

impl TrustedProxies {
    pub(crate) fn new(blocks: Vec<Cidr>) -> Self {
        Self(Arc::new(blocks))
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|block| block.contains(ip))
    }

    /// The address a request from `peer` is counted against: `peer`
    /// itself, or for a trusted proxy the nearest address in
    /// `X-Forwarded-For` that is not one of our proxies (each proxy
    /// appends the address it saw, so the ones before it are the
    /// client's to write).
    pub(crate) fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|hop| IpAddr::from_str(hop.trim()).ok())
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            match hop {
                Some(ip) if self.contains(ip) => {}
                Some(ip) => return ip,
                // Garbage where an address should be: stop trusting here.
                None => return peer,
            }
        }
        peer
    }
}

/// The requesting client's address (see the module docs); an extractor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientAddr(pub(crate) IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
            .ok_or(StatusCode::INTERNAL_SERVER_ERROR)?;
        let proxies = parts
            .extensions
            .get::<TrustedProxies>()
            .cloned()
            .unwrap_or_default();
        Ok(Self(proxies.client(peer.ip(), &parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().expect("an address")
    }

    #[test]
    fn blocks_parse_and_match() {
        let block: Cidr = "198.51.100.0/24".parse().expect("parses");
        assert!(block.contains(ip("198.51.100.7")));
        assert!(block.contains(ip("::ffff:198.51.100.7")));
        assert!(!block.contains(ip("198.51.101.7")));
        let one: Cidr = "127.0.0.1".parse().expect("parses");
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6: Cidr = "2001:db8::/32".parse().expect("parses");
        assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::5")));
        let everything: Cidr = "0.0.0.0/0".parse().expect("parses");
        assert!(everything.contains(ip("203.0.113.9")));
        for bad in [
            "",
            "10.0.0.0/33",
            "2001:db8::/129",
            "10.0.0.0/x",
            "example.com",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let proxies = TrustedProxies::new(vec!["127.0.0.1".parse().expect("parses")]);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.66, 198.51.100.7"),
        );
        // From the proxy: the nearest hop it recorded (the client could
        // have written the first one itself).
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &headers),
            ip("198.51.100.7")
        );
        // From anyone else: the header is the stranger's own words.
        assert_eq!(proxies.client(ip("192.0.2.1"), &headers), ip("192.0.2.1"));
        // Garbage stops the walk at the proxy itself.
        headers.insert("x-forwarded-for", HeaderValue::from_static("nonsense"));
        assert_eq!(proxies.client(ip("127.0.0.1"), &headers), ip("127.0.0.1"));
        // No header: the proxy itself.
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
    }
}
