//! `[server]`: the proxy's listener, its limits and its success answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::error::ConfigError;
use super::parse::{invalid, millis, parse_addr, positive, window};
use super::raw::RawServer;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub success: SuccessReply,
    /// How far a translated request's `reqTime` may be from now; `None`: not checked.
    pub req_time_window: Option<Duration>,
    /// Open connections at most; further ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// Requests being handled at most; further ones are answered "busy" at once.
    pub max_in_flight: usize,
    /// How long a client may take to send its request head (slow-loris protection).
    pub header_read_timeout: Duration,
    /// How long a client may take to send its request body.
    pub body_read_timeout: Duration,
    /// The base URL at which DaxPay and payers' browsers reach paybridge (`http(s)://host[:port][/prefix]`,
    /// no trailing slash): the start of the notify and return URLs paybridge gives DaxPay.
    pub public_url: Option<String>,
}

/// Room left in DaxPay's 200-character `notifyUrl`/`returnUrl` for paybridge's own path.
pub const MAX_PUBLIC_URL_CHARS: usize = 120;

/// What a successful answer says: Jeepay's `0`/`SUCCESS`, or epay123's `200`/`成功`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuccessReply {
    pub code: i64,
    /// Shared with every answer that says it.
    pub msg: Arc<str>,
}

pub(super) fn validate(raw: RawServer) -> Result<ServerConfig, ConfigError> {
    Ok(ServerConfig {
        listen: parse_addr("server.listen", raw.listen.as_deref(), "127.0.0.1:8080")?,
        max_body_bytes: match raw.max_body_bytes {
            None => 64 * 1024,
            Some(0) => return Err(invalid("server.max_body_bytes", "must be at least 1")),
            Some(n) => {
                usize::try_from(n).map_err(|_| invalid("server.max_body_bytes", "too large"))?
            }
        },
        success: SuccessReply {
            code: raw.success_code.unwrap_or(0),
            msg: raw.success_msg.as_deref().unwrap_or("SUCCESS").into(),
        },
        req_time_window: window(raw.req_time_window_secs.unwrap_or(300)),
        max_connections: positive("server.max_connections", raw.max_connections, 10_000)?,
        max_in_flight: positive("server.max_in_flight", raw.max_in_flight, 1_024)?,
        header_read_timeout: millis(
            "server.header_read_timeout_ms",
            raw.header_read_timeout_ms,
            10_000,
        )?,
        body_read_timeout: millis(
            "server.body_read_timeout_ms",
            raw.body_read_timeout_ms,
            10_000,
        )?,
        public_url: match raw.public_url.as_deref() {
            None => None,
            Some(text) => {
                let url = super::upstreams::parse_base_url("server.public_url", text)?;
                if url.chars().count() > MAX_PUBLIC_URL_CHARS {
                    return Err(invalid(
                        "server.public_url",
                        format!(
                            "longer than {MAX_PUBLIC_URL_CHARS} characters: DaxPay takes notify URLs of at most 200"
                        ),
                    ));
                }
                Some(url)
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public_url(text: &str) -> Result<Option<String>, ConfigError> {
        validate(RawServer {
            public_url: Some(text.to_owned()),
            ..RawServer::default()
        })
        .map(|s| s.public_url)
    }

    #[test]
    fn the_public_url_is_a_plain_http_base() {
        assert_eq!(
            public_url("https://pay.example.com/bridge/")
                .unwrap()
                .as_deref(),
            Some("https://pay.example.com/bridge")
        );
        for bad in [
            "pay.example.com",
            "ftp://pay.example.com",
            "https://pay.example.com/?a=1",
            "https://user:pw@pay.example.com",
            "https://",
        ] {
            let err = public_url(bad).unwrap_err().to_string();
            assert!(err.contains("server.public_url"), "{bad}: {err}");
            assert!(!err.contains("pw@"), "{err}");
        }
        let long = format!("https://pay.example.com/{}", "a".repeat(120));
        assert!(public_url(&long).is_err());
        assert_eq!(validate(RawServer::default()).unwrap().public_url, None);
    }
}
