//! Who a peer is, for the HTTP rate limit and the connection caps (HTTP clients, guest links): its
//! IPv4 address or its IPv6 /64 (a host is usually given a whole /64, so one address per bucket
//! would let it take as many buckets as it likes), or — behind a configured reverse proxy only —
//! the address that proxy appended to `X-Forwarded-For`. From anyone else the header is ignored:
//! a client could write any address there.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use axum::http::HeaderValue;

/// The bucket of `ip`: IPv4 (also IPv4-mapped IPv6) as is, IPv6 its /64.
pub fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

/// The client a request comes from (its [`bucket`]): `peer`, unless `peer` is a trusted reverse
/// proxy, in which case the right-most address of `X-Forwarded-For` that is not itself a trusted
/// proxy (the left part of the header is whatever the client wrote).
pub fn client(peer: IpAddr, forwarded_for: Option<&HeaderValue>, trusted: &[IpAddr]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|t| canonical(*t) == canonical(*ip));
    if !is_trusted(&peer) {
        return bucket(peer);
    }
    let named = forwarded_for
        .and_then(|h| h.to_str().ok())
        .into_iter()
        .flat_map(|h| h.rsplit(','))
        .map(str::trim)
        .map(|a| a.parse::<IpAddr>().ok())
        .find(|a| a.is_none_or(|a| !is_trusted(&a)))
        .flatten();
    bucket(named.unwrap_or(peer))
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Open connections per peer bucket, bounded.
#[derive(Debug)]
pub struct Connections {
    open: Mutex<HashMap<IpAddr, usize>>,
    max_per_client: usize,
}

/// One open connection; dropping it closes its slot.
#[derive(Debug)]
pub struct Slot {
    table: Arc<Connections>,
    client: IpAddr,
}

impl Connections {
    /// A table allowing `max_per_client` connections per bucket.
    pub fn new(max_per_client: usize) -> Arc<Self> {
        Arc::new(Self { open: Mutex::new(HashMap::new()), max_per_client })
    }

    /// A slot for a connection from `peer`, or `None` if its bucket is full.
    pub fn open(self: &Arc<Self>, peer: IpAddr) -> Option<Slot> {
        let client = bucket(peer);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(client).or_insert(0);
        if *n >= self.max_per_client {
            return None;
        }
        *n += 1;
        Some(Slot { table: self.clone(), client })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_ipv6_host_is_its_slash_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(bucket(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(bucket(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")), bucket(ip("2001:db8:1:2::7")));
        assert_ne!(bucket(ip("2001:db8:1:3::1")), bucket(ip("2001:db8:1:2::1")));
        assert_eq!(bucket(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(bucket(ip("192.0.2.7")), ip("192.0.2.7"));
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let h = HeaderValue::from_static("203.0.113.9, 198.51.100.4");
        // Not trusted: the header is the client's word.
        assert_eq!(client(ip("192.0.2.1"), Some(&h), &[]), ip("192.0.2.1"));
        assert_eq!(client(ip("192.0.2.1"), Some(&h), &[ip("192.0.2.2")]), ip("192.0.2.1"));
        // Trusted: the right-most address the proxy appended.
        assert_eq!(client(ip("192.0.2.2"), Some(&h), &[ip("192.0.2.2")]), ip("198.51.100.4"));
        // A chain of trusted proxies is skipped; what the client wrote on the left is not used.
        let chained = HeaderValue::from_static("1.2.3.4, 203.0.113.9, 192.0.2.3");
        assert_eq!(client(ip("192.0.2.2"), Some(&chained), &[ip("192.0.2.2"), ip("192.0.2.3")]), ip("203.0.113.9"));
        // Garbage where the proxy's entry should be, or no header: the peer itself.
        let garbage = HeaderValue::from_static("1.2.3.4, not-an-address");
        assert_eq!(client(ip("192.0.2.2"), Some(&garbage), &[ip("192.0.2.2")]), ip("192.0.2.2"));
        assert_eq!(client(ip("192.0.2.2"), None, &[ip("192.0.2.2")]), ip("192.0.2.2"));
        // An IPv6 client behind the proxy is its /64.
        let v6 = HeaderValue::from_static("2001:db8:5:6::99");
        assert_eq!(client(ip("::ffff:192.0.2.2"), Some(&v6), &[ip("192.0.2.2")]), ip("2001:db8:5:6::"));
    }

    #[test]
    fn connections_are_bounded_per_client_and_freed_on_drop() {
        let table = Connections::new(2);
        let a = table.open(ip("2001:db8::1")).unwrap();
        let _b = table.open(ip("2001:db8::2")).unwrap();
        assert!(table.open(ip("2001:db8::3")).is_none(), "the same /64");
        let _other = table.open(ip("2001:db8:0:1::1")).unwrap();
        drop(a);
        assert!(table.open(ip("2001:db8::3")).is_some());
    }
}
