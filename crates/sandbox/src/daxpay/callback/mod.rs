//! DaxPay's callbacks (`protocols/lifecycle.md` §6.2): when an order is paid, fails, is closed
//! or cancelled, or a refund ends `success` or `close`, and it has a non-blank `notifyUrl`, the
//! sandbox POSTs the signed result there ([`body`]) from a background task: at once, then
//! after each configured delay (`callback_retry_ms`) until the receiver acknowledges. Every
//! attempt is recorded ([`Sandbox::callbacks`]); [`Sandbox::send_callback_again`] and
//! `POST /sandbox/orders/{no}/callback` repeat the latest one, as DaxPay's duplicates.

mod body;
mod http;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use time::OffsetDateTime;

use super::result::{pay_order_result, Member};
use super::{refund, v20, Done, Endpoint, Inner, Sandbox};
use crate::config::{SandboxApp, SandboxOrder};
use crate::order::{OrderStatus, RefundOrderStatus, SandboxRefund};
use crate::sign::daxpay::{Scheme, Version};

/// One attempt to deliver a callback, as [`Sandbox::callbacks`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentCallback {
    /// The order's `orderNo`, or the refund's `refundNo`.
    pub no: String,
    pub url: String,
    /// The JSON body sent (the same bytes on every attempt of one callback).
    pub body: String,
    /// 1 for the first attempt; retries and re-sends count on.
    pub attempt: u32,
    /// The receiver answered `SUCCESS` (any case in 3.x, exactly in 2.0; never trimmed).
    pub acknowledged: bool,
    /// The receiver's answer body; `None` when there was none (refused, timed out, not HTTP).
    pub answer: Option<String>,
}

/// A callback as registered: built once, sent as is on every attempt (DaxPay stores the
/// content when it registers the task).
struct Registered {
    no: String,
    /// `bizOrderNo` / `bizRefundNo`, also accepted by the re-send hook.
    biz_no: String,
    url: String,
    body: String,
    exact_ack: bool,
    content_type: &'static str,
    attempts: AtomicU32,
}

/// The callbacks of one sandbox: the delays between attempts, the latest callback of each
/// order or refund, and every attempt made.
pub(super) struct Callbacks {
    retry: Vec<Duration>,
    latest: Mutex<HashMap<String, Arc<Registered>>>,
    sent: Mutex<Vec<SentCallback>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Callbacks {
    pub(super) fn new(retry: Vec<Duration>) -> Arc<Callbacks> {
        Arc::new(Callbacks {
            retry,
            latest: Mutex::new(HashMap::new()),
            sent: Mutex::new(Vec::new()),
        })
    }

    /// The delays between attempts.
    #[cfg(test)]
    pub(super) fn retry_schedule(&self) -> &[Duration] {
        &self.retry
    }

    /// No callback was ever registered.
    #[cfg(test)]
    pub(super) fn nothing_registered(&self) -> bool {
        lock(&self.latest).is_empty()
    }

    /// Records `callback` as the latest of its order/refund and starts delivering it.
    fn register(self: &Arc<Self>, callback: Registered) {
        let callback = Arc::new(callback);
        lock(&self.latest).insert(callback.no.clone(), Arc::clone(&callback));
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(no = %callback.no, "sandbox: no tokio runtime, callback not sent");
            return;
        };
        // Weak: dropping the sandbox stops the retries.
        let callbacks = Arc::downgrade(self);
        runtime.spawn(deliver(callbacks, callback));
    }

    /// One attempt: POST, record, `true` if acknowledged.
    async fn attempt(&self, callback: &Registered) -> bool {
        let attempt = callback.attempts.fetch_add(1, Ordering::Relaxed) + 1;
        let outcome = http::post_json(&callback.url, &callback.body, callback.content_type).await;
        let acknowledged = match &outcome {
            Ok(answer) if callback.exact_ack => answer == "SUCCESS",
            Ok(answer) => answer.eq_ignore_ascii_case("SUCCESS"),
            Err(_) => false,
        };
        match &outcome {
            Ok(answer) => {
                tracing::debug!(no = %callback.no, attempt, acknowledged, answer, "sandbox: callback sent")
            }
            Err(why) => {
                tracing::debug!(no = %callback.no, attempt, why, "sandbox: callback not delivered")
            }
        }
        lock(&self.sent).push(SentCallback {
            no: callback.no.clone(),
            url: callback.url.clone(),
            body: callback.body.clone(),
            attempt,
            acknowledged,
            answer: outcome.ok(),
        });
        acknowledged
    }

    /// Sends the latest callback of `no` (orderNo, refundNo, or their merchant numbers) once
    /// more, in the background. `false` when there is none.
    pub(super) fn resend(self: &Arc<Self>, no: &str) -> bool {
        let found = {
            let latest = lock(&self.latest);
            latest.get(no).cloned().or_else(|| {
                latest
                    .values()
                    .filter(|c| c.biz_no == no)
                    .max_by_key(|c| c.attempts.load(Ordering::Relaxed))
                    .cloned()
            })
        };
        let Some(callback) = found else {
            return false;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(no, "sandbox: no tokio runtime, callback not re-sent");
            return false;
        };
        let callbacks = Arc::clone(self);
        runtime.spawn(async move {
            callbacks.attempt(&callback).await;
        });
        true
    }
}

/// The first attempt at once, then one after each delay, until one is acknowledged.
async fn deliver(callbacks: Weak<Callbacks>, callback: Arc<Registered>) {
    let mut attempt = 0;
    loop {
        let Some(strong) = callbacks.upgrade() else {
            return;
        };
        if strong.attempt(&callback).await {
            return;
        }
        let Some(delay) = strong.retry.get(attempt).copied() else {
            tracing::info!(no = %callback.no, "sandbox: callback never acknowledged; giving up");
            return;
        };
        drop(strong);
        attempt += 1;
        tokio::time::sleep(delay).await;
    }
}

impl Sandbox {
    /// Every callback attempt so far (first attempts, retries, re-sends), oldest first.
    pub fn callbacks(&self) -> Vec<SentCallback> {
        lock(&self.inner.callbacks.sent).clone()
    }

    /// Sends the latest callback of an order or refund (by orderNo / refundNo, else bizOrderNo
    /// / bizRefundNo) once more, unchanged, in the background, as DaxPay's duplicate calls.
    /// `false` when it has had no callback.
    pub fn send_callback_again(&self, order_or_refund_no: &str) -> bool {
        self.inner.callbacks.resend(order_or_refund_no)
    }
}

impl Inner {
    /// Sends the order's callback if its status is one DaxPay calls back for and it has a
    /// notifyUrl (2.0.8 never notifies `fail`).
    pub(super) fn order_changed(&self, order: &SandboxOrder) {
        let v2 = self.version == Version::V2_0;
        let calls_back = match order.status {
            OrderStatus::Success | OrderStatus::Close | OrderStatus::Cancel => true,
            OrderStatus::Fail => !v2,
            _ => false,
        };
        if calls_back {
            let data = match self.version {
                Version::V2_0 => v20::notice::pay_notice(order, self.utc_offset),
                _ => pay_order_result(order, self.version),
            };
            let target = (&order.order_no, &order.biz_order_no, &order.notify_url);
            self.call_back(target, order.app_id.as_deref(), &data);
        }
    }

    /// Sends the refund's callback if it ended `success` or `close` and has a notifyUrl (a
    /// synchronous `fail` has none, as in DaxPay).
    pub(super) fn refund_changed(&self, r: &SandboxRefund) {
        if matches!(
            r.status,
            RefundOrderStatus::Success | RefundOrderStatus::Close
        ) {
            let data = match self.version {
                Version::V2_0 => v20::notice::refund_notice(r, self.utc_offset),
                _ => refund::refund_order_result(r, self.version),
            };
            let target = (&r.refund_no, &r.biz_refund_no, &r.notify_url);
            self.call_back(target, r.app_id.as_deref(), &data);
        }
    }

    fn call_back(
        &self,
        (no, biz_no, url): (&String, &String, &Option<String>),
        app_id: Option<&str>,
        data: &[(&'static str, Member)],
    ) {
        // `StrUtil.isNotBlank`.
        let Some(url) = url.as_deref().filter(|u| !u.trim().is_empty()) else {
            return;
        };
        if let Err(why) = http::sendable(url) {
            tracing::warn!(no, url, why, "sandbox: callback skipped");
            return;
        }
        if self.v20.callbacks_muted() {
            tracing::info!(no, url, "sandbox: callbacks muted, this one is never sent");
            return;
        }
        let Some(app) = self.callback_app(app_id) else {
            return;
        };
        let scheme = Scheme {
            version: self.version,
            sign_type: app.sign_type,
            sm3_is_md5: self.sm3_is_md5 && self.version == Version::V3_0,
        };
        let now = OffsetDateTime::now_utc();
        let built = body::build(scheme, app, data, now, self.utc_offset);
        let content_type = match self.version {
            Version::V2_0 => "application/json",
            _ => "application/json;charset=UTF-8",
        };
        self.callbacks.register(Registered {
            no: no.clone(),
            biz_no: biz_no.clone(),
            url: url.to_owned(),
            body: built.body,
            exact_ack: built.exact_ack,
            content_type,
            attempts: AtomicU32::new(0),
        });
    }

    /// The app whose identity and secret sign a callback: the order's own, else (an order
    /// seeded without an app, or 2.0) the first.
    fn callback_app(&self, app_id: Option<&str>) -> Option<&SandboxApp> {
        app_id
            .and_then(|id| self.apps.iter().find(|a| a.app_id.as_deref() == Some(id)))
            .or_else(|| self.apps.first())
    }

    /// After a pay or refund request: a barcode paid at once, a refund that succeeded.
    pub(super) fn after_trade(&self, endpoint: Endpoint, done: &Done) {
        let Done::Data(data) = done else {
            return;
        };
        let text = |key: &str| {
            data.iter().find_map(|(k, v)| match v {
                Member::Text(t) if *k == key => Some(t.clone()),
                _ => None,
            })
        };
        match endpoint {
            // Only a barcode is paid within the request.
            Endpoint::Pay if text("status").as_deref() == Some("success") => {
                if let Some(order) = text("orderNo").and_then(|no| self.orders.get(&no)) {
                    self.order_changed(&order);
                }
            }
            Endpoint::Refund => {
                let refund = text("refundNo").and_then(|no| {
                    super::lock_refunds(&self.orders.refunds)
                        .iter()
                        .find(|r| r.refund_no == no)
                        .cloned()
                });
                if let Some(refund) = refund {
                    self.refund_changed(&refund);
                }
            }
            _ => {}
        }
    }
}
