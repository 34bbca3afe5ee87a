//! What every phase of a request shares: the configuration it started with and its upstream
//! clients, the routed request, and the answer's content type.

use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::HeaderValue;

use super::context::Context;
use crate::config::Config;
use crate::dialect::jeepay::Params;
use crate::store::OrderStore;
use crate::upstream::{Answered, Upstreams};

/// Jeepay answers with this content type.
pub const JSON_UTF8: HeaderValue = HeaderValue::from_static("application/json;charset=UTF-8");

/// One configuration and the upstream clients built for it.
pub struct Runtime {
    pub config: Arc<Config>,
    pub(crate) upstreams: Upstreams,
    /// The order store (`None`: it could not be opened; operations that need it answer that
    /// it is unavailable and call nothing).
    pub(crate) orders: Option<OrderStore>,
}

impl Runtime {
    pub fn new(config: Arc<Config>) -> Self {
        let orders = open_orders(&config);
        Self::with_orders(config, orders)
    }

    /// A runtime for `config` on an order store already open (kept across reloads: its URL is
    /// read at start only).
    pub fn with_orders(config: Arc<Config>, orders: Option<OrderStore>) -> Self {
        let upstreams = Upstreams::new(&config);
        Runtime {
            config,
            upstreams,
            orders,
        }
    }
}

fn open_orders(config: &Config) -> Option<OrderStore> {
    match OrderStore::open(&config.store.url) {
        Ok(store) => Some(store),
        Err(error) => {
            tracing::error!(
                store = %config.store.url,
                error = %error,
                "the order store cannot be opened: pay and refund requests will be refused"
            );
            None
        }
    }
}

/// A request whose route is decided: the request, its parameters as read for routing (`None`:
/// unreadable), and the rule that matched.
pub(crate) struct Routed<'a> {
    pub cx: &'a Context,
    pub params: Option<&'a Params<'a>>,
    pub rule: &'a str,
}

/// A Jeepay answer as an HTTP answer.
pub(crate) fn reply_answer(body: Bytes) -> Answered {
    let mut headers = http::HeaderMap::new();
    headers.insert(CONTENT_TYPE, JSON_UTF8);
    Answered {
        status: http::StatusCode::OK,
        headers,
        body,
    }
}
