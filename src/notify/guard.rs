//! Where notifications may go: never to paybridge's own network (loopback, private, link-local,
//! cloud metadata, …) unless `[notify] allow_private_targets` says so. A merchant chooses its
//! notify URL; without this guard any merchant could make paybridge POST to its admin listener or
//! to internal services. Both a literal IP in the URL and every address a host name resolves to
//! are checked, at each attempt (a name may change what it points to); a literal one is also
//! refused when the order is taken. IPv6 forms that carry an IPv4 address (NAT64, 6to4,
//! IPv4-compatible and -mapped) are judged by that address ([`crate::address`]).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;

/// Which addresses are internal lives in [`crate::address`], shared with the order-time check
/// (`config::Merchant::notify_url_internal`).
pub use crate::address::{internal, literal_internal};

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
    fn the_resolver_and_the_literal_check_judge_alike() {
        // The full tables are crate::address's tests; this pins that the guard uses them.
        for ip in [
            "127.0.0.1",
            "64:ff9b::7f00:1",
            "::a9fe:a9fe",
            "2002:a9fe:a9fe::",
            "198.18.0.1",
        ] {
            assert!(internal(ip.parse().unwrap()), "{ip}");
        }
        assert!(literal_internal("http://[64:ff9b::a00:1]/n"));
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
