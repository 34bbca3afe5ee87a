//! What every phase of a request shares: the configuration it started with and its upstream
//! clients, the routed request, and the answer's content type.

use std::sync::Arc;
use std::time::Duration;

use http::header::CONTENT_TYPE;

use super::context::Context;
use crate::config::Config;
use crate::dialect::merchant::Answer;
use crate::domain::order::PayOrder;
use crate::store::OrderStore;
use crate::upstream::{Answered, SharedReads, Upstreams};

/// How often DaxPay is asked about one order for payers' browsers, at most.
const RETURN_READ_INTERVAL: Duration = Duration::from_secs(1);

/// Jeepay answers with this content type.
pub use crate::dialect::jeepay::envelope::JSON_UTF8;

/// One configuration and the upstream clients built for it.
pub struct Runtime {
    pub config: Arc<Config>,
    pub(crate) upstreams: Upstreams,
    /// The order store (`None`: it could not be opened; operations that need it answer that
    /// it is unavailable and call nothing).
    pub(crate) orders: Option<OrderStore>,
    /// DaxPay's reads of an order for the payer's browser (the return relay, the QR page's
    /// poll), by the order's relay token: shared, at most one a second per order.
    pub(crate) return_reads: SharedReads<Option<PayOrder>>,
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
            return_reads: SharedReads::new(RETURN_READ_INTERVAL),
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

/// A request whose route is decided: the request and the rule that matched. Its parameters as
/// read for routing go beside it, in its dialect's type.
pub(crate) struct Routed<'a> {
    pub cx: &'a Context,
    pub rule: &'a str,
}

/// A dialect's answer as an HTTP answer.
pub(crate) fn reply_answer(answer: Answer) -> Answered {
    let mut headers = http::HeaderMap::new();
    headers.insert(CONTENT_TYPE, answer.content_type);
    Answered {
        status: answer.status,
        headers,
        body: answer.body,
    }
}
