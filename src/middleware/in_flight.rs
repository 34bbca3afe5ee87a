//! Load shedding: at most N requests are handled at once; the next one is answered "busy" at
//! once (HTTP 503, in the caller's dialect) instead of queueing without bound. Nothing is done
//! for a shed request, so the caller may safely retry.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service};

use crate::domain::Failure;

#[derive(Clone, Debug)]
pub struct InFlightLimitLayer {
    permits: Arc<Semaphore>,
}

impl InFlightLimitLayer {
    pub fn new(max_in_flight: usize) -> Self {
        InFlightLimitLayer {
            permits: Arc::new(Semaphore::new(max_in_flight)),
        }
    }
}

impl<S> Layer<S> for InFlightLimitLayer {
    type Service = InFlightLimit<S>;
    fn layer(&self, inner: S) -> Self::Service {
        InFlightLimit {
            inner,
            permits: self.permits.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct InFlightLimit<S> {
    inner: S,
    permits: Arc<Semaphore>,
}

impl<S, R> Service<R> for InFlightLimit<S>
where
    S: Service<R, Error = Failure>,
{
    type Response = S::Response;
    type Error = Failure;
    type Future = InFlightFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            metrics::counter!("paybridge_shed_total").increment(1);
            return InFlightFuture {
                inner: None,
                permit: None,
            };
        };
        InFlightFuture {
            inner: Some(self.inner.call(req)),
            permit: Some(permit),
        }
    }
}

pin_project! {
    /// The answer of [`InFlightLimit`]: the inner service's, holding its permit until then, or
    /// "busy" at once.
    pub struct InFlightFuture<F> {
        // `None` when the request was shed.
        #[pin]
        inner: Option<F>,
        permit: Option<OwnedSemaphorePermit>,
    }
}

impl<F, T> Future for InFlightFuture<F>
where
    F: Future<Output = Result<T, Failure>>,
{
    type Output = Result<T, Failure>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(future) = this.inner.as_pin_mut() else {
            return Poll::Ready(Err(Failure::Overloaded));
        };
        let result = ready!(future.poll(cx));
        // The permit comes back as soon as the answer is ready.
        drop(this.permit.take());
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tower::ServiceExt;

    #[tokio::test]
    async fn the_request_over_the_limit_is_shed_at_once() {
        let slow = tower::service_fn(|_: ()| async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok::<_, Failure>("done")
        });
        let svc = InFlightLimitLayer::new(1).layer(slow);
        let first = tokio::spawn(svc.clone().oneshot(()));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = std::time::Instant::now();
        let second = svc.clone().oneshot(()).await;
        assert!(matches!(second, Err(Failure::Overloaded)));
        assert!(started.elapsed() < Duration::from_millis(100));
        assert_eq!(first.await.unwrap().unwrap(), "done");
        assert_eq!(
            svc.oneshot(()).await.unwrap(),
            "done",
            "the permit came back"
        );
    }

    #[tokio::test]
    async fn an_abandoned_request_gives_its_permit_back() {
        let slow = tower::service_fn(|_: ()| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, Failure>("done")
        });
        let mut svc = InFlightLimitLayer::new(1).layer(slow);
        let abandoned = svc.call(());
        assert!(matches!(svc.call(()).await, Err(Failure::Overloaded)));
        drop(abandoned);
        let retried = tokio::time::timeout(Duration::from_millis(50), svc.call(())).await;
        assert!(retried.is_err(), "admitted (and still running), not shed");
    }
}
