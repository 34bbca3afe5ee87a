//! What every phase of a request shares: the configuration it started with and its upstream
//! clients, the routed request, and the answer's content type.

use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::HeaderValue;

use super::context::Context;
use crate::config::Config;
use crate::dialect::jeepay::Params;
use crate::upstream::{Answered, Upstreams};

/// Jeepay answers with this content type.
pub const JSON_UTF8: HeaderValue = HeaderValue::from_static("application/json;charset=UTF-8");

/// One configuration and the upstream clients built for it.
pub struct Runtime {
    pub config: Arc<Config>,
    pub(crate) upstreams: Upstreams,
}

impl Runtime {
    pub fn new(config: Arc<Config>) -> Self {
        let upstreams = Upstreams::new(&config);
        Runtime { config, upstreams }
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
