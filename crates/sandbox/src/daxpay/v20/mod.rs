//! The sandbox speaking DaxPay **2.0.8** (`lifecycle-2.0.md`): every endpoint goes through
//! 2.0.8's own steps, in its order, and answers in its shapes.
//!
//! 1. binding into the endpoint's model ([`wire`]): 10005 (shape A);
//! 2. bean validation, 2.0.8's messages, all violations, each followed by a line separator:
//!    10006 `验证参数错误\n…\n` (shape A);
//! 3. the signature over the bound object (nested `extraParam` as hutool writes it): 20052
//!    `验签失败` (shape A);
//! 4. the `reqTime` window (`req_time_window_secs`, seed 10 s): more than 60 s ahead
//!    `请求时间晚于服务器接收到的时间，请检查`, older than the window `请求已过期，请重新发送！`,
//!    both 10006 with the prefix (shape A);
//! 5. the handler: close and cancel ([`close`]), the pay and refund queries ([`query`]), pay
//!    ([`pay`]), refund ([`refund`]), the channel syncs ([`sync`]). Its refusals are shape B
//!    (`data {code: 1, msg}`) or C/D; its results a signed `data` ([`answer`]).
//!
//! Callbacks (§7) are built in [`notice`]; the hooks that move orders and refunds as a payer
//! or a channel would, and the sandbox-only switches, in [`hooks`].

pub(crate) mod answer;
mod close;
mod hooks;
pub(crate) mod notice;
mod pay;
mod query;
mod refund;
mod sync;
pub(crate) mod wire;

#[cfg(test)]
mod tests;

use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use super::{Endpoint, Inner};
use crate::sign::daxpay::Scheme;
use answer::Answer;
use wire::{Bound, Declared, Violations};

pub(crate) use hooks::V20State;

/// 2.0.8's `order_timeout` seed: an order without `expiredTime` expires 30 minutes on.
const ORDER_TIMEOUT: Duration = Duration::from_secs(30 * 60);

impl Inner {
    /// Answers one 2.0 request (any endpoint).
    pub(super) async fn process_v20(
        &self,
        endpoint: Endpoint,
        body: &[u8],
    ) -> (i64, String, Response<Full<Bytes>>) {
        let Some(app) = self.apps.first() else {
            let answer = Answer::Error {
                code: 20024,
                msg: "配置错误".to_owned(),
            };
            let (code, msg) = answer.summary();
            return (code, msg.to_owned(), super::reply::unsigned(code, msg));
        };
        let scheme = Scheme::new(self.version, app.sign_type);
        let secret = app.secret.expose();
        let now = OffsetDateTime::now_utc();
        let answer = match self.before_handler(scheme, secret, endpoint, body, now) {
            Ok(bound) => match endpoint {
                Endpoint::Close => self.close_v20(&bound, false).await,
                Endpoint::Cancel => self.close_v20(&bound, true).await,
                Endpoint::Query => self.query_pay_v20(&bound),
                Endpoint::RefundQuery => self.query_refund_v20(&bound),
                Endpoint::Pay => self.pay_v20(&bound, now),
                Endpoint::Refund => self.refund_v20(&bound, now),
                Endpoint::SyncPay => self.sync_pay_v20(&bound, now),
                Endpoint::SyncRefund => self.sync_refund_v20(&bound, now),
            },
            Err(answer) => answer,
        };
        let (code, msg) = answer.summary();
        let response = answer::render(&answer, scheme, secret, OffsetDateTime::now_utc());
        (code, msg.to_owned(), response)
    }

    /// Steps 1 to 4 of the module docs.
    fn before_handler(
        &self,
        scheme: Scheme,
        secret: &str,
        endpoint: Endpoint,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Bound, Answer> {
        let own: Declared = match endpoint {
            Endpoint::Close | Endpoint::Cancel => close::DECLARED,
            Endpoint::Query => query::PAY_DECLARED,
            Endpoint::RefundQuery => query::REFUND_DECLARED,
            Endpoint::Pay => pay::DECLARED,
            Endpoint::Refund => refund::DECLARED,
            Endpoint::SyncPay => sync::PAY_DECLARED,
            Endpoint::SyncRefund => sync::REFUND_DECLARED,
        };
        let bound = Bound::parse(own, body).map_err(|msg| {
            tracing::debug!(error = %msg, "sandbox 2.0: binding failed");
            Answer::Error { code: 10005, msg }
        })?;
        let mut violations = Violations::default();
        violations.common(&bound);
        match endpoint {
            Endpoint::Close | Endpoint::Cancel => close::validate(&bound, &mut violations),
            Endpoint::Query => query::validate_pay(&bound, &mut violations),
            Endpoint::RefundQuery => query::validate_refund(&bound, &mut violations),
            Endpoint::Pay => pay::validate(&bound, &mut violations),
            Endpoint::Refund => refund::validate(&bound, &mut violations),
            Endpoint::SyncPay => sync::validate_pay(&bound, &mut violations),
            Endpoint::SyncRefund => sync::validate_refund(&bound, &mut violations),
        }
        violations
            .into_result()
            .map_err(|detail| Answer::invalid(&detail))?;
        let verified = bound
            .text("sign")
            .is_some_and(|given| scheme.verify(&bound.sign_fields(), secret, given));
        if !verified {
            return Err(Answer::Error {
                code: 20052,
                msg: "验签失败".to_owned(),
            });
        }
        self.req_time_v20(bound.epoch("reqTime"), now)?;
        Ok(bound)
    }

    /// `PaymentAssistService.reqTimeoutVerify`, when a window is configured.
    fn req_time_v20(&self, req_time: Option<i64>, now: OffsetDateTime) -> Result<(), Answer> {
        let (Some(window), Some(then)) = (self.req_time_window, req_time) else {
            return Ok(());
        };
        let now = i128::from(now.unix_timestamp());
        let then = i128::from(then);
        if then > now && then - now > 60 {
            return Err(Answer::invalid("请求时间晚于服务器接收到的时间，请检查"));
        }
        if then <= now && now - then > i128::from(window.as_secs()) {
            return Err(Answer::invalid("请求已过期，请重新发送！"));
        }
        Ok(())
    }
}

/// Epoch seconds → the sandbox's wall clock (DaxPay's `LocalDateTime` in its zone).
pub(crate) fn wall_of(epoch: i64, offset: UtcOffset) -> Option<PrimitiveDateTime> {
    let t = OffsetDateTime::from_unix_timestamp(epoch)
        .ok()?
        .to_offset(offset);
    Some(PrimitiveDateTime::new(t.date(), t.time()))
}

/// The sandbox's wall clock → epoch seconds, as 2.0.8 writes times.
pub(crate) fn epoch_of(wall: PrimitiveDateTime, offset: UtcOffset) -> u64 {
    wall.assume_offset(offset).unix_timestamp().unsigned_abs()
}
