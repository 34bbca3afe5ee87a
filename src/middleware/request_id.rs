//! Request ids: kept from the caller's `X-Request-Id` when it is short and plain, else generated,
//! and echoed on the answer.
//!
//! One layer does the three steps ([`RequestIdLayer`]): a caller's id that is not [`plain`] is
//! dropped (the id is logged and echoed, so it must not carry spaces, quotes, `=` or control
//! characters that could forge a log field or line), a missing one is made (16 hex characters
//! from a random per-process prefix and a counter, unique and cheap, [`MakeId`]), and the id is
//! copied to the answer unless the answer has one. It was three layers (a filter of ours,
//! tower-http's `SetRequestId` and `PropagateRequestId`), which also put the id in the request's
//! and the answer's extensions, where nothing reads it: about 2,900 instructions a request
//! (callgrind, docs/benchmarks.md), a third of that the extension maps' allocations.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderName, HeaderValue, Request, Response};
use tower::{Layer, Service};

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

/// Gives every request one plain `X-Request-Id` (the caller's, or a new one) and echoes it on
/// the answer.
#[derive(Clone, Debug, Default)]
pub struct RequestIdLayer {
    make: MakeId,
}

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestId<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestId {
            inner,
            make: self.make.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RequestId<S> {
    inner: S,
    make: MakeId,
}

impl<S, B, R> Service<Request<B>> for RequestId<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Echoed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let headers = req.headers_mut();
        let mut values = headers.get_all(&X_REQUEST_ID).iter();
        let kept = match (values.next(), values.next()) {
            (Some(one), None) if plain(one) => Some(one.clone()),
            // None, one that is not plain, or two (which one a reader would take is ambiguous).
            _ => None,
        };
        let id = match kept {
            Some(id) => id,
            None => {
                let id = self.make.next();
                // `insert` drops every value the caller sent.
                headers.insert(X_REQUEST_ID.clone(), id.clone());
                id
            }
        };
        Echoed {
            inner: self.inner.call(req),
            id: Some(id),
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer, with the request's id unless it carries one of its own.
    pub struct Echoed<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
    }
}

impl<F, R, E> Future for Echoed<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        if let Some(id) = this.id.take() {
            if !response.headers().contains_key(&X_REQUEST_ID) {
                response.headers_mut().insert(X_REQUEST_ID.clone(), id);
            }
        }
        Poll::Ready(Ok(response))
    }
}

/// Makes request ids: a random per-process prefix and a counter, in hex.
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

impl MakeId {
    /// The next id: `{:08x}{:08x}` of the prefix and the counter's low 32 bits, written on the
    /// stack (no `format!`).
    pub fn next(&self) -> HeaderValue {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut id = [0u8; 16];
        let word = (u64::from(self.prefix) << 32) | (n & 0xffff_ffff);
        // 8 bytes always fit 16 hex digits.
        let _ = hex::encode_to_slice(word.to_be_bytes(), &mut id);
        // The header value is the one allocation; its clones (the answer's header, the DaxPay
        // call's) share it rather than copy it. Hex digits are always a valid value.
        HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(id))
            .unwrap_or_else(|_| HeaderValue::from_static("0"))
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
        let make = MakeId::default();
        let a = make.next();
        let b = make.next();
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn ids_are_the_prefix_then_the_counter_in_hex() {
        for (prefix, n) in [
            (0u32, 0u64),
            (0xdead_beef, 1),
            (0x0000_00a1, 0xffff_ffff),
            (u32::MAX, 0x1_2345_6789),
        ] {
            let make = MakeId {
                prefix,
                counter: Arc::new(AtomicU64::new(n)),
            };
            let id = make.next();
            assert_eq!(
                id.to_str().unwrap(),
                format!("{:08x}{:08x}", prefix, n as u32)
            );
        }
    }
}
