//! Each operation's DaxPay wire form: the call and fields per version, the typed reading of a
//! verified answer, and DaxPay's refusal codes in canonical terms.

pub mod close;
pub mod limits;
pub mod pay;
pub mod pay_2_0;
pub mod pay_query;
pub mod refund;
pub mod refund_query;
pub mod sync;

use serde_json::Value;

use self::limits::Limit;
pub use super::answer_source::Upstream;
use super::envelope::Fields;
use super::order_query::{pay_status, query_fields};
use super::sign::Version;
use crate::dispatch::DaxCall;
use crate::domain::{Failure, Operation, Unknown};

/// An operation as paybridge calls it on DaxPay.
pub trait DaxOp: Operation {
    /// Once the upstream is chosen: [`DaxOp::fit`], then every field the call will carry
    /// checked against DaxPay's own limits ([`DaxOp::limits`]), so that a request DaxPay's
    /// validation would refuse is refused here, in the merchant's terms, with nothing sent.
    /// Not to be overridden: an operation's own binding is `fit`.
    /// A refusal the operation answers only after the order store's duplicate check is kept on
    /// it ([`DaxOp::defer`]).
    fn bind(&mut self, upstream: &Upstream<'_>) -> Result<(), Failure> {
        // A request refused while it was read is bound no further: that refusal is its answer.
        if self.deferred().is_some() {
            return Ok(());
        }
        self.bind_at_once(upstream)
            .or_else(|refusal| self.defer(refusal))
    }

    /// [`DaxOp::bind`], every refusal answered at once.
    fn bind_at_once(&mut self, upstream: &Upstream<'_>) -> Result<(), Failure> {
        self.fit(upstream)?;
        let (_, fields) = self.request(upstream.version);
        limits::check(&fields, Self::limits(upstream.version), |field| {
            self.added_units(field)
        })
    }

    /// Fixes what the request writes in the upstream's own terms (its zone, its unit), once
    /// the upstream is chosen; refuses what that version cannot do.
    fn fit(&mut self, _upstream: &Upstream<'_>) -> Result<(), Failure> {
        Ok(())
    }

    /// DaxPay's `@Size` limits on this call's text fields, for `version` (`limits.rs`).
    fn limits(version: Version) -> &'static [Limit];

    /// How many UTF-16 units of `field`'s value paybridge put before the merchant's own (a
    /// shared identity's order prefix): the merchant is told the limit less these.
    fn added_units(&self, _field: &str) -> usize {
        0
    }

    /// The payer's IP the call carries as DaxPay's `clientIp`, when the operation has one.
    fn client_ip(&self) -> Option<&str> {
        None
    }

    /// Whether the call needs a payer IP on `version` whatever `forward_client_ip` says (the
    /// caller's address stands in for a merchant that gave none).
    fn needs_payer_ip(&self, _version: Version) -> bool {
        false
    }

    /// The refusal kept by [`DaxOp::defer`], if any (what a dry run reports).
    fn deferred(&self) -> Option<Failure> {
        None
    }

    /// Keeps `refusal`, found while binding, to be answered after the order store's duplicate
    /// check (Jeepay refuses a repeated number before anything else it checks there);
    /// `Err`: it is answered at once (by default every refusal is).
    fn defer(&mut self, refusal: Failure) -> Result<(), Failure> {
        Err(refusal)
    }

    /// The call and the operation's own fields, for the upstream's version.
    fn request(&self, version: Version) -> (DaxCall, Fields<'_>);

    /// The lookup that tells whether a call whose outcome is unknown happened: by default the
    /// pay order it is about.
    fn probe(&self, version: Version) -> (DaxCall, Fields<'_>) {
        (DaxCall::PayQuery, query_fields(self.order(), version))
    }

    /// What the probe's verified answer (`None`: not found) says of the outcome.
    fn settle(
        &self,
        found: Option<&Value>,
        upstream: &Upstream<'_>,
    ) -> Result<Unknown<Self::Outcome>, Failure> {
        let status = found.map(|data| pay_status(data, upstream)).transpose()?;
        Ok(self.settle_unknown(status))
    }

    /// The outcome of a verified success, read from `data` as received.
    fn outcome(&self, data: &Value, upstream: &Upstream<'_>) -> Result<Self::Outcome, Failure>;

    /// A refusal in canonical terms. `verified`: the refusal was signed (or comes from 2.0,
    /// which never signs errors), so "no such order" may be relied on for a fallback.
    fn refusal(&self, code: i64, msg: String, verified: bool, upstream: &str) -> Failure {
        refusal(code, msg, verified, upstream)
    }

    /// Whether this failure leaves the outcome to be found out by reading the order.
    fn settled_by_query(&self, failure: &Failure) -> bool {
        failure.outcome_unknown()
    }
}

/// DaxPay's refusals common to every operation (translation.md): the merchant's business
/// errors as refusals, the operator's faults as rejections.
pub fn refusal(code: i64, msg: String, verified: bool, upstream: &str) -> Failure {
    match code {
        // Bean validation (10006 in 2.0), unsigned: the request's own values, in DaxPay's
        // words; paybridge's own fields and its clock are the operator's to fix.
        10506 | 10006 => match validation_detail(&msg) {
            Some(detail) => Failure::Refused { code, msg: detail },
            None => {
                if request_expired(&msg) {
                    // Reported as what it is: paybridge's and DaxPay's clocks disagree by more
                    // than DaxPay's window (2.0.8's seed: 10 s, lifecycle-2.0.md §2.3).
                    tracing::warn!(
                        upstream,
                        code,
                        msg = msg.as_str(),
                        "DaxPay refused the request as expired: check the clocks of paybridge and DaxPay (2.0.8 allows 10 s by default)"
                    );
                    metrics::counter!("paybridge_upstream_request_expired_total", "upstream" => upstream.to_owned())
                        .increment(1);
                }
                rejected(code, msg, upstream)
            }
        },
        20041 => Failure::OrderNotFound { verified },
        // Our signature rejected, or our DaxPay app unknown: configuration, not the merchant.
        20052 | 20023 => rejected(code, msg, upstream),
        // Channel failures and other business refusals (2.0 reports them as code 1).
        1 | 20000..=29999 => Failure::Refused { code, msg },
        _ => rejected(code, msg, upstream),
    }
}

/// DaxPay 2.0.8's `reqTime` window refusals (`请求已过期，请重新发送！`, `请求时间晚于服务器
/// 接收到的时间，请检查`; lifecycle-2.0.md §2.3).
pub fn request_expired(msg: &str) -> bool {
    msg.contains("请求已过期") || msg.contains("请求时间晚于")
}

/// Whether DaxPay signed it is the caller's to set (`proxy::call`): the code alone cannot say.
fn rejected(code: i64, msg: String, upstream: &str) -> Failure {
    Failure::Rejected {
        upstream: upstream.to_owned(),
        code,
        msg,
        signed: false,
    }
}

/// What DaxPay's fields that paybridge fills itself are called in its validation messages
/// (`PaymentCommonParam`: 商户号, 应用号, 客户端ip, 随机数, 签名, 请求时间; the route's codes and
/// paybridge's relay URLs in `PayParam`), and its `reqTime` window's words.
const OPERATORS_FIELDS: [&str; 12] = [
    "商户号",
    "应用号",
    "客户端ip",
    "IP地址",
    "随机数",
    "签名",
    "请求时间",
    "请求已过期",
    "支付通道编码",
    "支付方式",
    "通知",
    "退出地址",
];

/// The detail of a `ValidationFailedException` (`验证参数错误` + a line per violation) that is
/// about the merchant's own values, its lines joined; `None` for any other message, or one
/// that names a field of paybridge's own.
fn validation_detail(msg: &str) -> Option<String> {
    let detail = msg.strip_prefix("验证参数错误")?;
    let lines: Vec<&str> = detail
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let ours = |l: &&str| OPERATORS_FIELDS.iter().any(|w| l.contains(w));
    if lines.is_empty() || lines.iter().any(ours) {
        return None;
    }
    Some(lines.join("；"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_refusals_are_the_merchants_unless_they_name_paybridges_fields() {
        let said = |code, msg: &str| refusal(code, msg.to_owned(), false, "dax");
        assert!(matches!(
            said(10506, "验证参数错误\r\n商户订单号不可超过100位\r\n"),
            Failure::Refused { code: 10506, msg } if msg == "商户订单号不可超过100位"
        ));
        assert!(matches!(
            said(10506, "验证参数错误\n支付标题不可超过100位\n商户扩展参数不可超过500位\n"),
            Failure::Refused { msg, .. } if msg == "支付标题不可超过100位；商户扩展参数不可超过500位"
        ));
        assert!(matches!(
            said(10006, "验证参数错误\n退款原因不可超过150位"),
            Failure::Refused { code: 10006, .. }
        ));
        for operators in [
            "验证参数错误\n请求已过期，请重新发送！",
            "验证参数错误\n请求时间晚于服务器接收到的时间，请检查",
            "验证参数错误\n随机数不可超过32位",
            "验证参数错误\n签名不可超过64位",
            "验证参数错误\n应用号不可超过32位",
            "验证参数错误\n商户号不可为空",
            "验证参数错误\nIP地址不合法！",
            "验证参数错误\n支付方式编码不可超过20位",
            "验证参数错误\n异步通知地址不可超过200位",
            "验证参数错误\n商户订单号不可超过100位\n签名不可超过64位",
            "验证参数错误",
            "验证参数错误\n",
            "请求时间超时",
        ] {
            assert!(
                matches!(
                    said(10506, operators),
                    Failure::Rejected { code: 10506, .. }
                ),
                "{operators:?}"
            );
        }
    }
}
