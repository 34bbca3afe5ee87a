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
        // `{:08x}{:08x}` of the prefix and the counter's low 32 bits, written on the stack.
        let mut id = [0u8; 16];
        let word = (u64::from(self.prefix) << 32) | (n & 0xffff_ffff);
        // 8 bytes always fit 16 hex digits.
        let _ = hex::encode_to_slice(word.to_be_bytes(), &mut id);
        // The header value is the one allocation; the clones tower-http makes of it (extension,
        // response header) share it rather than copy it.
        HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(id))
            .ok()
            .map(RequestId::new)
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

    #[test]
    fn ids_are_the_prefix_then_the_counter_in_hex() {
        for (prefix, n) in [
            (0u32, 0u64),
            (0xdead_beef, 1),
            (0x0000_00a1, 0xffff_ffff),
            (u32::MAX, 0x1_2345_6789),
        ] {
            let mut make = MakeId {
                prefix,
                counter: Arc::new(AtomicU64::new(n)),
            };
            let id = make.make_request_id(&Request::new(())).unwrap();
            assert_eq!(
                id.header_value().to_str().unwrap(),
                format!("{:08x}{:08x}", prefix, n as u32)
            );
        }
    }
}
