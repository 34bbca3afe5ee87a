//! The pre-handler steps shared by every endpoint (app lookup, `reqTime` window), the trade
//! endpoints' pipeline (pay, refund, refund query), and settling orders the way a payer would:
//! the test hooks on [`Sandbox`] and their HTTP face, `POST /sandbox/orders/{orderNo}/pay`,
//! `/fail` and `/callback` (re-send the latest callback), served only by the sandbox itself.

use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::Full;
use time::OffsetDateTime;

use super::model::{validate_common, Common, ReqTime};
use super::params::{common, Params};
use super::reply::{self, Signer};
use super::result::wall_clock_at;
use super::state::{Orders, Refunds, Refusal};
use super::{pay, refund, Done, Endpoint, Handled, Inner, Rejection, Sandbox};
use crate::config::{SandboxApp, SandboxOrder};
use crate::order::{Amount, OrderStatus, RefundOrderStatus, RefundStatus, SandboxRefund};
use crate::sign::daxpay::{Scheme, Version};

/// A panic elsewhere cannot leave the refunds inconsistent (every update is one assignment or
/// one push), so a poisoned lock is simply taken over.
pub(super) fn lock_refunds(m: &Mutex<Refunds>) -> MutexGuard<'_, Refunds> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why an order could not be settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SettleError {
    #[error("no such order")]
    NotFound,
    /// Only `wait` and `progress` orders can be paid or failed.
    #[error("order is {0}")]
    NotOpen(OrderStatus),
}

impl Sandbox {
    /// The payer paid: a `wait` or `progress` order (by orderNo, else bizOrderNo in any app)
    /// becomes `success` with `payTime` now and `realAmount` = amount. Returns the order.
    /// Sends the order's callback when it has a notifyUrl.
    pub fn pay_order(&self, biz_or_order_no: &str) -> Result<SandboxOrder, SettleError> {
        self.inner.payer_settles(biz_or_order_no, false)
    }

    /// The payment failed: a `wait` or `progress` order becomes `fail` with an `errorMsg` and
    /// `closeTime` (DaxPay's `PayAssistService.fail`). Returns the order.
    /// Sends the order's callback when it has a notifyUrl.
    pub fn fail_order(&self, biz_or_order_no: &str) -> Result<SandboxOrder, SettleError> {
        self.inner.payer_settles(biz_or_order_no, true)
    }
}

impl Inner {
    /// The payer paid (or the payment failed): the order settled, the state before it kept for
    /// the queries while uncommitted (2.0), its callback sent.
    fn payer_settles(&self, no: &str, fail: bool) -> Result<SandboxOrder, SettleError> {
        let before = self.orders.by_order_or_biz(no);
        let order = self.orders.settle(no, fail)?;
        self.uncommitted_change(before, None);
        self.order_changed(&order);
        Ok(order)
    }
}

impl Orders {
    /// A snapshot of the order named by orderNo, else bizOrderNo (any app).
    fn by_order_or_biz(&self, no: &str) -> Option<SandboxOrder> {
        self.get(no).or_else(|| self.by_biz(no))
    }

    /// Pays (or fails) a `wait` / `progress` order named by orderNo, else bizOrderNo.
    fn settle(&self, no: &str, fail: bool) -> Result<SandboxOrder, SettleError> {
        let wall = wall_clock_at(OffsetDateTime::now_utc(), self.utc_offset);
        let mut table = self.lock();
        let entry = match table.contains_key(no) {
            true => table.get_mut(no),
            // Any app: the hook and the endpoint are the payer's side, not an app's.
            false => table.first_by_biz_mut(no),
        }
        .ok_or(SettleError::NotFound)?;
        if !matches!(
            entry.order.status,
            OrderStatus::Wait | OrderStatus::Progress
        ) {
            return Err(SettleError::NotOpen(entry.order.status));
        }
        if fail {
            let order = &mut entry.order;
            order.status = OrderStatus::Fail;
            order.error_msg = Some("沙箱模拟支付失败".to_owned());
            order.close_time = Some(wall);
        } else {
            pay::settle_paid(&mut entry.order, wall);
        }
        Ok(entry.order.clone())
    }
}

impl Sandbox {
    /// A refund order by its DaxPay refundNo.
    pub fn refund(&self, refund_no: &str) -> Option<SandboxRefund> {
        let refunds = lock_refunds(&self.inner.orders.refunds);
        let at = refunds.position_by_no(refund_no)?;
        Some(refunds[at].clone())
    }

    /// The channel says a refund failed after all (DaxPay's refund sync or callback, or an
    /// operator's close of a failed refund): a `progress` or `fail` refund becomes `close`, its
    /// amount goes back to the order's refundable balance, and its callback is sent. `None`:
    /// no such refund, or it is not open.
    pub fn close_refund(&self, refund_no: &str) -> Option<SandboxRefund> {
        self.inner.close_refund(refund_no)
    }

    /// Every refund order, oldest first.
    pub fn refunds(&self) -> Vec<SandboxRefund> {
        lock_refunds(&self.inner.orders.refunds).to_vec()
    }
}

impl Inner {
    /// The channel says a refund failed after all: see [`Sandbox::close_refund`].
    pub(super) fn close_refund(&self, refund_no: &str) -> Option<SandboxRefund> {
        let closed = {
            let mut table = self.orders.lock();
            let mut refunds = lock_refunds(&self.orders.refunds);
            let refund = refunds.iter_mut().find(|r| {
                r.refund_no == refund_no
                    && matches!(
                        r.status,
                        RefundOrderStatus::Progress | RefundOrderStatus::Fail
                    )
            })?;
            let refund_before = refund.clone();
            let order_before = table.get(&refund.order_no).map(|e| e.order.clone());
            refund.status = RefundOrderStatus::Close;
            refund.error_msg = Some("沙箱通道退款关闭".to_owned());
            if let Some(entry) = table.get_mut(&refund.order_no) {
                let order = &mut entry.order;
                let back = order.refundable_balance().fen() + refund.amount.fen();
                order.refundable = Some(Amount::from_fen(back));
                order.refund_status = if back >= order.amount.fen() {
                    RefundStatus::NoRefund
                } else {
                    RefundStatus::PartialRefund
                };
            }
            (refund.clone(), order_before, refund_before)
        };
        let (closed, order_before, refund_before) = closed;
        self.uncommitted_change(order_before, Some(refund_before));
        self.refund_changed(&closed);
        Some(closed)
    }

    /// `POST /sandbox/orders/{no}/pay|fail|callback`; `None` for any other path.
    pub(super) fn settle(&self, method: &Method, path: &str) -> Option<Response<Full<Bytes>>> {
        let rest = path.strip_prefix("/sandbox/orders/")?;
        let (no, action) = rest.rsplit_once('/')?;
        if no.is_empty() || no.contains('/') || !matches!(action, "pay" | "fail" | "callback") {
            return None;
        }
        let body = |status: StatusCode, value: serde_json::Value| reply::json(status, &value);
        if method != Method::POST {
            return Some(body(
                StatusCode::METHOD_NOT_ALLOWED,
                serde_json::json!({"error": "use POST"}),
            ));
        }
        if action == "callback" {
            return Some(match self.callbacks.resend(no) {
                true => body(
                    StatusCode::OK,
                    serde_json::json!({"no": no, "resent": true}),
                ),
                false => body(
                    StatusCode::NOT_FOUND,
                    serde_json::json!({"error": format!("no callback for {no}")}),
                ),
            });
        }
        let outcome = self.payer_settles(no, action == "fail");
        Some(match outcome {
            Ok(order) => body(
                StatusCode::OK,
                serde_json::json!({
                    "orderNo": order.order_no,
                    "bizOrderNo": order.biz_order_no,
                    "status": order.status.as_str(),
                }),
            ),
            Err(err @ SettleError::NotFound) => body(
                StatusCode::NOT_FOUND,
                serde_json::json!({"error": err.to_string()}),
            ),
            Err(err @ SettleError::NotOpen(_)) => body(
                StatusCode::CONFLICT,
                serde_json::json!({"error": err.to_string()}),
            ),
        })
    }

    /// Steps 1 to 5 of the module docs for the trade endpoints, then their handler.
    pub(super) fn process_trade(
        &self,
        endpoint: Endpoint,
        body: &[u8],
    ) -> Result<Handled<'_>, Rejection> {
        let version = self.version;
        let own = match endpoint {
            Endpoint::Pay => pay::declared(version),
            Endpoint::Refund => refund::declared(version),
            _ => refund::QUERY_DECLARED,
        };
        let p = Params::parse(common(version), own, body).map_err(|err| {
            tracing::debug!(error = %err, "sandbox: parse error");
            Rejection::Parse
        })?;
        validate_common(
            version,
            &Common {
                mch_no: p.text("mchNo"),
                app_id: p.text("appId"),
                client_ip: p.text("clientIp"),
                nonce_str: p.text("nonceStr"),
                sign: p.text("sign"),
                has_req_time: p.req_time().is_some(),
            },
        )
        .and_then(|()| match endpoint {
            Endpoint::Pay => pay::validate(&p, version),
            Endpoint::Refund => refund::validate(&p),
            _ => refund::validate_query(&p),
        })
        .map_err(Rejection::Invalid)?;
        let app = self
            .find_app(p.text("mchNo"), p.text("appId"))
            .ok_or(Rejection::UnknownApp)?;
        let signer = Signer {
            scheme: Scheme {
                version,
                sign_type: app.sign_type,
                sm3_is_md5: self.sm3_is_md5 && version == Version::V3_0,
            },
            secret: app.secret.expose(),
        };
        let given = p.text("sign").ok_or(Rejection::BadSignature)?;
        if !signer.scheme.verify(&p.sign_fields(), signer.secret, given) {
            return Err(Rejection::BadSignature);
        }
        let now = OffsetDateTime::now_utc();
        self.check_req_time(p.req_time(), now)?;
        let app_id = app.app_id.as_deref();
        let result: Result<Done, Refusal> = match endpoint {
            Endpoint::Pay => self.orders.pay(&p, app_id, version, now).map(Done::Data),
            Endpoint::Refund => self.orders.refund(&p, app_id, version, now).map(Done::Data),
            _ => self
                .orders
                .find_refund(&p, app_id, version)
                .map(|r| Done::Data(refund::refund_order_result(&r, version))),
        };
        tracing::debug!(?endpoint, ok = result.is_ok(), "sandbox: trade handled");
        if let Ok(done) = &result {
            self.after_trade(endpoint, done);
        }
        Ok((signer, result))
    }
}

impl Inner {
    pub(super) fn find_app(
        &self,
        mch_no: Option<&str>,
        app_id: Option<&str>,
    ) -> Option<&SandboxApp> {
        match self.version {
            Version::V3_0 => self
                .apps
                .iter()
                .find(|a| a.mch_no.as_deref() == mch_no && a.app_id.as_deref() == app_id),
            Version::V3_0Beta => self.apps.iter().find(|a| a.app_id.as_deref() == app_id),
            // 2.0 has one platform-wide secret.
            Version::V2_0 => self.apps.first(),
        }
    }

    pub(super) fn check_req_time(
        &self,
        req_time: Option<ReqTime>,
        now: OffsetDateTime,
    ) -> Result<(), Rejection> {
        let Some(window) = self.req_time_window else {
            return Ok(());
        };
        let window = i128::from(window.as_secs());
        let now = i128::from(now.unix_timestamp());
        let fresh = match req_time {
            Some(ReqTime::WallClock(t)) => {
                // The wall clock is read in the server's zone: shift by the configured offset.
                let then = i128::from(t.assume_utc().unix_timestamp())
                    - i128::from(self.utc_offset.whole_seconds());
                (now - then).abs() <= window
            }
            None => false,
        };
        if fresh {
            Ok(())
        } else {
            Err(Rejection::Expired)
        }
    }
}
