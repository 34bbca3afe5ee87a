//! Request ids: kept from the caller's `X-Request-Id` when present, else generated.
//!
//! tower-http's `SetRequestId`/`PropagateRequestId` do the header work; this module supplies the
//! id maker: 16 hex characters from a random per-process prefix and a counter, unique and cheap.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http::{HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

#[derive(Clone, Debug)]
pub struct MakeId {
    prefix: u32,
    counter: Arc<AtomicU64>,
}

impl Default for MakeId {
    fn default() -> Self {
        let mut seed = [0u8; 4];
        let _ = getrandom::fill(&mut seed);
        MakeId {
            prefix: u32::from_le_bytes(seed),
            counter: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl MakeRequestId for MakeId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:08x}{:08x}", self.prefix, n as u32);
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_hex() {
        let mut make = MakeId::default();
        let req = Request::new(());
        let a = make.make_request_id(&req).unwrap();
        let b = make.make_request_id(&req).unwrap();
        assert_ne!(a.header_value(), b.header_value());
        assert_eq!(a.header_value().len(), 16);
    }
}
