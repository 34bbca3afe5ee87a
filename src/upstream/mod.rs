//! Calls to upstreams: pooled keep-alive HTTP/1.1 clients (HTTPS by rustls), bounded in time and
//! size, with errors that say whether the request may have reached the gateway.
//!
//! That distinction matters for money: a close that was never sent did not happen; a close that
//! was sent but not answered may have happened, and the merchant must be told the outcome is
//! unknown rather than "failed".

mod breaker;
mod daxpay;
pub mod error;
mod legacy;
mod pool;
mod shared_read;
mod transport;

use std::collections::HashMap;
use std::time::Duration;

pub use daxpay::DaxClient;
pub use error::UpstreamError;
pub use legacy::LegacyClient;
pub use shared_read::SharedReads;
pub(crate) use transport::tls_config;
pub use transport::Answered;

use crate::config::Config;
use transport::unix_ms;

pub use error::MAX_ANSWER_BYTES;

/// An upstream as readiness sees it.
#[derive(Debug, Clone)]
pub struct UpstreamHealth {
    pub name: String,
    pub base_url: String,
    /// Unix ms of its last answer (0: none yet).
    pub last_answer_ms: u64,
    /// Unix ms of its last failure to answer (0: none yet).
    pub last_failure_ms: u64,
}

impl UpstreamHealth {
    /// Answered within `recent`, or (failing that) accepts a TCP connection now.
    pub async fn reachable(&self, recent: Duration) -> bool {
        if self.last_answer_ms > 0
            && unix_ms().saturating_sub(self.last_answer_ms) <= recent.as_millis() as u64
        {
            return true;
        }
        let Ok(uri) = self.base_url.parse::<http::Uri>() else {
            return false;
        };
        let Some(host) = uri.host() else { return false };
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        let host = host.trim_start_matches('[').trim_end_matches(']');
        matches!(
            tokio::time::timeout(
                Duration::from_secs(1),
                tokio::net::TcpStream::connect((host, port))
            )
            .await,
            Ok(Ok(_))
        )
    }
}

/// The clients of all configured upstreams, by name.
#[derive(Clone, Debug, Default)]
pub struct Upstreams {
    daxpay: HashMap<String, DaxClient>,
    legacy: HashMap<String, LegacyClient>,
}

impl Upstreams {
    pub fn new(config: &Config) -> Self {
        Upstreams {
            daxpay: config
                .upstreams
                .values()
                .map(|u| (u.name.clone(), DaxClient::new(u.clone())))
                .collect(),
            legacy: config
                .legacy
                .values()
                .map(|u| (u.name.clone(), LegacyClient::new(u.clone())))
                .collect(),
        }
    }

    pub fn daxpay(&self, name: &str) -> Option<&DaxClient> {
        self.daxpay.get(name)
    }

    pub fn legacy(&self, name: &str) -> Option<&LegacyClient> {
        self.legacy.get(name)
    }

    pub fn health(&self) -> Vec<UpstreamHealth> {
        let dax = self
            .daxpay
            .values()
            .map(|c| (&c.upstream.name, &c.upstream.base_url, c.last_contact()));
        let legacy = self
            .legacy
            .values()
            .map(|c| (&c.upstream.name, &c.upstream.base_url, c.last_contact()));
        let mut all: Vec<UpstreamHealth> = dax
            .chain(legacy)
            .map(|(name, base_url, (answer, failure))| UpstreamHealth {
                name: name.clone(),
                base_url: base_url.clone(),
                last_answer_ms: answer,
                last_failure_ms: failure,
            })
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_pool_tells_the_merchant_nothing_was_done() {
        let e = UpstreamError::Exhausted {
            upstream: "daxpay".to_owned(),
            open: 128,
        };
        assert!(!e.maybe_sent());
        assert_eq!(e.kind(), "upstream_pool_exhausted");
    }
}
