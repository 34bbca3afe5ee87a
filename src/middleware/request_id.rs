//! Request ids: kept from the caller's `X-Request-Id` when it is short and plain, else generated.
//!
//! tower-http's `SetRequestId`/`PropagateRequestId` do the header work; this module supplies the
//! id maker (16 hex characters from a random per-process prefix and a counter, unique and cheap)
//! and [`PlainRequestIdLayer`], which runs before them and drops a caller's id that is not
//! [`plain`]: the id is logged and echoed, so it must not carry spaces, quotes, `=` or control
//! characters that could forge a log field or line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderName, HeaderValue, Request};
use tower::{Layer, Service};
use tower_http::request_id::{MakeRequestId, RequestId};

/// The longest caller request id kept.
pub const MAX_CALLER_ID: usize = 64;

/// The request id header, as a name (a `&str` name is parsed again on every lookup).
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A caller's id is kept only if it is 1 to 64 characters of `[A-Za-z0-9._-]`.
pub fn plain(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_CALLER_ID
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Removes the caller's `X-Request-Id` unless it is one [`plain`] value, so that the id layer
/// behind it generates one (which is then logged and echoed instead).
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainRequestIdLayer;

impl<S> Layer<S> for PlainRequestIdLayer {
    type Service = PlainRequestId<S>;
    fn layer(&self, inner: S) -> Self::Service {
        PlainRequestId { inner }
    }
}

#[derive(Clone, Debug)]
pub struct PlainRequestId<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for PlainRequestId<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let headers = req.headers_mut();
        let mut values = headers.get_all(&X_REQUEST_ID).iter();
        let keep = match (values.next(), values.next()) {
            (None, _) => true,
            (Some(one), None) => plain(one),
            // Two ids: which one a reader would take is ambiguous.
            (Some(_), Some(_)) => false,
        };
        if !keep {
            headers.remove(&X_REQUEST_ID);
        }
        self.inner.call(req)
    }
}

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
    fn only_short_plain_ids_are_plain() {
        for ok in ["a", "merchant-abc-1", "A.b_C-9", &"x".repeat(64)] {
            assert!(plain(&HeaderValue::from_str(ok).unwrap()), "{ok}");
        }
        for bad in [
            "",
            "abc method=POST",
            "a\"b",
            "a\tb",
            "a=b",
            "ü",
            &"x".repeat(65),
        ] {
            let value = HeaderValue::from_bytes(bad.as_bytes()).unwrap();
            assert!(!plain(&value), "{bad:?}");
        }
    }

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
