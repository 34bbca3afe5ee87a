//! Where notifications may go: never to paybridge's own network (loopback, private, link-local,
//! cloud metadata, …) unless `[notify] allow_private_targets` says so. A merchant chooses its
//! notify URL; without this guard any merchant could make paybridge POST to its admin listener or
//! to internal services. Both a literal IP in the URL and every address a host name resolves to
//! are checked, at each attempt (a name may change what it points to).

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;

/// Addresses of paybridge's own networks: not a merchant's public endpoint.
pub fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // Carrier-grade NAT (100.64.0.0/10) and 0.0.0.0/8.
                || (a == 100 && (64..128).contains(&b))
                || a == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // Unique local (fc00::/7) and link-local (fe80::/10).
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// The URL's host, when it is a literal IP address that notifications may not reach.
pub fn literal_internal(url: &str) -> bool {
    url.parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(|h| h.trim_matches(['[', ']']).to_owned()))
        .and_then(|h| h.parse::<IpAddr>().ok())
        .is_some_and(internal)
}

/// A resolver that keeps only addresses notifications may reach (all of them when
/// `allow_internal`).
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly {
    pub allow_internal: bool,
}

type Resolving = Pin<Box<dyn Future<Output = io::Result<std::vec::IntoIter<SocketAddr>>> + Send>>;

impl tower::Service<Name> for PublicOnly {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Resolving {
        let allow = self.allow_internal;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| allow || !internal(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(io::Error::other(format!(
                    "{} resolves to no address notifications may reach",
                    name.as_str()
                )));
            }
            Ok(found.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_known() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::",
        ] {
            assert!(internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "203.0.114.1",
            "2001:4860:4860::8888",
            "100.128.0.1",
        ] {
            assert!(!internal(ip.parse().unwrap()), "{ip}");
        }
        assert!(literal_internal("http://127.0.0.1:9100/admin/reload"));
        assert!(literal_internal("http://[::1]:80/x"));
        assert!(!literal_internal("https://shop.example.com/n"));
    }

    #[tokio::test]
    async fn names_that_resolve_inside_are_refused_unless_allowed() {
        use tower::ServiceExt;
        let name: Name = "localhost".parse().unwrap();
        let refused = PublicOnly {
            allow_internal: false,
        }
        .oneshot(name.clone())
        .await;
        assert!(refused.is_err());
        let allowed = PublicOnly {
            allow_internal: true,
        }
        .oneshot(name)
        .await
        .unwrap();
        assert!(allowed.count() > 0);
    }
}
