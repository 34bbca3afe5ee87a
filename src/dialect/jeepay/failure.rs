//! The Jeepay face of every [`Failure`]: its code, its HTTP status and its words. The one place
//! where a failure becomes merchant-facing text.
//!
//! Codes as Jeepay's: 9999 a business refusal, 10 a system fault (`系统异常[...]`), 11 a request
//! that cannot be bound (`参数有误[...]`). Operator faults say whether the order may have been
//! touched (`订单未处理` vs `结果未知，请稍后查询订单`), never what went wrong inside.

use std::fmt;

use bytes::Bytes;
use http::StatusCode;

use super::envelope::{error_bytes, Reply};
use crate::domain::{AnswerFault, Failure};
use crate::upstream::error::UpstreamError;

/// Jeepay's answer codes.
pub mod code {
    pub const BUSINESS: i64 = 9999;
    pub const SYSTEM: i64 = 10;
    pub const CONVERSION: i64 = 11;
}

pub fn code(failure: &Failure) -> i64 {
    match failure {
        Failure::Unreadable(_) | Failure::BodyTooLarge { .. } | Failure::BodyTimeout => {
            code::CONVERSION
        }
        Failure::Upstream(_)
        | Failure::Unverified { .. }
        | Failure::Rejected { .. }
        | Failure::Internal
        | Failure::Overloaded
        | Failure::StoreDown
        | Failure::NotifyUnconfigured
        | Failure::EarlierOutcomeUnknown
        | Failure::RefundOutcomePending { .. }
        | Failure::ReplayStoreDown => code::SYSTEM,
        _ => code::BUSINESS,
    }
}

/// HTTP status: 200 for every dialect answer, as Jeepay; routing misses use HTTP's own.
pub fn status(failure: &Failure) -> StatusCode {
    match failure {
        Failure::NotFound(_) => StatusCode::NOT_FOUND,
        Failure::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        // Shedding load: a load balancer may retry elsewhere; nothing was done.
        Failure::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    }
}

/// The merchant-facing message of `failure`.
pub struct Words<'a>(pub &'a Failure);

impl fmt::Display for Words<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Failure::Unreadable(_) => f.write_str("参数有误[转换异常]"),
            Failure::BodyTooLarge { limit } => write!(f, "参数有误[请求体超过{limit}字节]"),
            Failure::BodyTimeout => f.write_str("参数有误[请求体读取超时]"),
            Failure::Invalid { words, .. } => f.write_str(words),
            Failure::InDialect { msg, .. } => f.write_str(msg),
            // Worded as Jeepay's own validation messages are (`商户订单号不能为空`).
            Failure::TooLong { label, max } => write!(f, "{label}不能超过{max}个字符"),
            Failure::UnsupportedSignType(t) => write!(f, "不支持的签名类型[{t}]，仅支持MD5"),
            Failure::UnknownMerchant => f.write_str("商户或商户应用不存在"),
            Failure::AppOfAnotherMerchant => f.write_str("参数appId与商户号不匹配"),
            Failure::BadSignature => f.write_str("验签失败"),
            Failure::ReqTimeOutside {
                window_secs,
                server_time,
            } => write!(
                f,
                "请求时间超出允许范围[±{window_secs}秒]，服务器时间{server_time}"
            ),
            Failure::ReqTimeUnreadable(t) => {
                write!(f, "请求时间格式无法识别[{t}]，应为10、13或16位时间戳")
            }
            Failure::CancelNotAllowed => f.write_str("商户应用未开通撤销订单，请使用关闭订单接口"),
            Failure::DuplicateInProgress => f.write_str("相同请求正在处理中，请稍后重试"),
            Failure::EarlierOutcomeUnknown => {
                f.write_str("系统异常[上次请求结果未知，请稍后查询订单]")
            }
            Failure::Overloaded => f.write_str("系统繁忙，请稍后重试"),
            Failure::ReplayStoreDown => f.write_str("系统异常[防重放存储不可用，订单未处理]"),
            Failure::OrderNotFound { .. } => f.write_str("订单不存在"),
            Failure::NotClosable => f.write_str("当前订单不可关闭"),
            // Jeepay refuses every repeat of a number, whatever its parameters.
            Failure::OrderExists(no) | Failure::OrderParamsChanged(no) => {
                write!(f, "商户订单[{no}]已存在")
            }
            Failure::OrderPaid(no) => write!(f, "商户订单[{no}]已支付"),
            Failure::RefundExists(no) => write!(f, "商户退款订单号[{no}]已存在"),
            Failure::WayCodeUnknown => f.write_str("不支持的支付方式"),
            Failure::WayCodeUnsupported => f.write_str("商户应用不支持该支付方式"),
            // Sic: Jeepay's words for a refund of an order it cannot find.
            Failure::RefundOfUnknownOrder { .. } => f.write_str("退款订单不存在"),
            // The full-width comma and the space are Jeepay's.
            Failure::NotRefundable => f.write_str("订单状态不正确， 无法完成退款"),
            Failure::FullyRefunded => f.write_str("订单已全额退款，本次申请失败"),
            Failure::RefundInProgress => f.write_str("支付订单具有在途退款申请，请稍后再试"),
            Failure::RefundOverBalance => f.write_str("申请金额超出订单可退款余额，请检查退款金额"),
            Failure::RefundUnsupported => f.write_str("当前通道不支持退款！"),
            Failure::NotifyUnconfigured => f.write_str("系统异常[异步通知未配置，订单未处理]"),
            Failure::StoreDown => f.write_str("系统异常[订单存储不可用，订单未处理]"),
            Failure::CloseInProgress => f.write_str("当前订单正在关闭中，请稍后查询"),
            Failure::Refused { code, msg } if msg.trim().is_empty() => {
                write!(f, "上游处理失败[{code}]")
            }
            Failure::Refused { msg, .. } => f.write_str(msg),
            // Worded as the other unknown outcomes, saying what is known: DaxPay took it.
            Failure::RefundOutcomePending { .. } => {
                f.write_str("系统异常[退款已受理，结果待确认，请稍后查询退款订单]")
            }
            Failure::Upstream(e) => write!(f, "系统异常[{}]", Transport(e)),
            Failure::Unverified { fault, .. } => f.write_str(match fault {
                AnswerFault::Malformed(_) => "系统异常[上游应答无法解析，结果未知，请稍后查询订单]",
                AnswerFault::UnsignedSuccess => {
                    "系统异常[上游成功应答未签名，结果未知，请稍后查询订单]"
                }
                AnswerFault::BadSignature => "系统异常[上游应答验签失败，结果未知，请稍后查询订单]",
                AnswerFault::Stale(_) => "系统异常[上游应答时间无效，结果未知，请稍后查询订单]",
            }),
            // DaxPay 2.0.8's request-age window (10 s in its seed; 10006 is 2.0's validation
            // code): the clocks, not the order.
            Failure::Rejected {
                code: 10006,
                msg,
                signed: false,
                ..
            } if msg.contains("请求已过期") || msg.contains("请求时间晚于") => f.write_str(
                "系统异常[上游拒绝请求，代码10006：请求时间超出上游允许范围（时钟偏差），订单未处理]",
            ),
            Failure::Rejected { code, .. } => write!(f, "系统异常[上游拒绝请求，代码{code}]"),
            Failure::NotFound(path) => write!(f, "请求路径不存在[{path}]"),
            Failure::MethodNotAllowed(m) => write!(f, "请求方法不支持[{m}]"),
            Failure::Internal => f.write_str("系统异常[内部错误]"),
        }
    }
}

/// What a transport failure means for the order, in the merchant's words.
struct Transport<'a>(&'a UpstreamError);

impl fmt::Display for Transport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            UpstreamError::Connect { .. } => f.write_str("上游连接失败，订单未处理"),
            UpstreamError::CircuitOpen { .. } => {
                f.write_str("上游暂不可用，订单未处理，请稍后重试")
            }
            UpstreamError::Exhausted { .. } => f.write_str("上游繁忙，订单未处理，请稍后重试"),
            UpstreamError::Timeout { .. } => f.write_str("上游应答超时，结果未知，请稍后查询订单"),
            UpstreamError::Broken { .. } => f.write_str("上游连接中断，结果未知，请稍后查询订单"),
            UpstreamError::Status { status, .. } => write!(
                f,
                "上游HTTP状态{}，结果未知，请稍后查询订单",
                status.as_u16()
            ),
            UpstreamError::TooLarge { .. } => f.write_str("上游应答过大，结果未知，请稍后查询订单"),
        }
    }
}

/// The answer body for `failure`.
pub fn body(failure: &Failure) -> Bytes {
    error_bytes(code(failure), &Words(failure))
}

/// `failure` as Jeepay's answer: the JSON body, its HTTP status and its code.
pub fn answer(failure: &Failure) -> crate::dialect::merchant::Answer {
    crate::dialect::merchant::Answer {
        status: status(failure),
        content_type: super::envelope::JSON_UTF8,
        body: body(failure),
        code: Some(code(failure)),
    }
}

/// `failure` as a [`Reply`].
pub fn reply(failure: &Failure) -> Reply {
    Reply::Error {
        code: code(failure),
        msg: Words(failure).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failures() -> Vec<Failure> {
        vec![
            Failure::Unreadable("detail".to_owned()),
            Failure::BodyTooLarge { limit: 65536 },
            Failure::BodyTimeout,
            Failure::Invalid {
                kind: "required_field",
                words: "商户号不能为空",
            },
            Failure::TooLong {
                label: "商户订单号",
                max: 100,
            },
            Failure::UnsupportedSignType("RSA\"\\\n\u{1}".to_owned()),
            Failure::UnknownMerchant,
            Failure::AppOfAnotherMerchant,
            Failure::BadSignature,
            Failure::ReqTimeOutside {
                window_secs: 300,
                server_time: "2025-08-26 12:00:00".to_owned(),
            },
            Failure::ReqTimeUnreadable("x".repeat(370)),
            Failure::ReqTimeUnreadable("字".repeat(400)),
            Failure::CancelNotAllowed,
            Failure::DuplicateInProgress,
            Failure::EarlierOutcomeUnknown,
            Failure::Overloaded,
            Failure::ReplayStoreDown,
            Failure::OrderNotFound { verified: true },
            Failure::NotClosable,
            Failure::CloseInProgress,
            Failure::Refused {
                code: 20080,
                msg: "订单状态不允许关闭 <\u{7f}>".to_owned(),
            },
            Failure::Upstream(UpstreamError::CircuitOpen {
                upstream: "dax".to_owned(),
            }),
            Failure::Unverified {
                upstream: "dax".to_owned(),
                fault: AnswerFault::BadSignature,
            },
            Failure::Rejected {
                upstream: "dax".to_owned(),
                code: 20052,
                msg: "签名".to_owned(),
                signed: false,
            },
            Failure::RefundOutcomePending {
                upstream: "dax".to_owned(),
                refund_no: None,
            },
            Failure::NotFound("/x?y=\"z\"".to_owned()),
            Failure::MethodNotAllowed("PATCH".to_owned()),
            Failure::Internal,
        ]
    }

    #[test]
    fn the_body_is_the_replys_json_byte_for_byte() {
        for failure in failures() {
            assert_eq!(
                body(&failure),
                Bytes::from(reply(&failure).to_json()),
                "{failure:?}"
            );
        }
    }

    #[test]
    fn words_and_codes_are_jeepays() {
        let said = |f: Failure| (code(&f), Words(&f).to_string());
        assert_eq!(
            said(Failure::OrderNotFound { verified: true }),
            (9999, "订单不存在".to_owned())
        );
        assert_eq!(
            said(Failure::TooLong {
                label: "商户订单号",
                max: 95
            }),
            (9999, "商户订单号不能超过95个字符".to_owned())
        );
        assert_eq!(
            said(Failure::NotClosable),
            (9999, "当前订单不可关闭".to_owned())
        );
        // Both meanings of a taken number in Jeepay's one refusal of any repeat.
        for taken in [
            Failure::OrderExists("A1".to_owned()),
            Failure::OrderParamsChanged("A1".to_owned()),
        ] {
            assert_eq!(said(taken), (9999, "商户订单[A1]已存在".to_owned()));
        }
        assert_eq!(
            said(Failure::Refused {
                code: 1,
                msg: " ".to_owned()
            }),
            (9999, "上游处理失败[1]".to_owned())
        );
        assert_eq!(
            said(Failure::Upstream(UpstreamError::Exhausted {
                upstream: "d".to_owned(),
                open: 128
            })),
            (10, "系统异常[上游繁忙，订单未处理，请稍后重试]".to_owned())
        );
        assert_eq!(
            said(Failure::Unreadable("x".to_owned())),
            (11, "参数有误[转换异常]".to_owned())
        );
        assert_eq!(
            said(Failure::CancelNotAllowed),
            (
                9999,
                "商户应用未开通撤销订单，请使用关闭订单接口".to_owned()
            )
        );
        // A 2.0 refund DaxPay took whose refund query failed: a system error, and not the
        // upstream's fault (it answered as 2.0.8 always does).
        let pending = Failure::RefundOutcomePending {
            upstream: "d".to_owned(),
            refund_no: None,
        };
        assert!(pending.outcome_unknown() && !pending.is_operator_fault());
        assert_eq!(
            said(pending),
            (
                10,
                "系统异常[退款已受理，结果待确认，请稍后查询退款订单]".to_owned()
            )
        );
        assert_eq!(
            status(&Failure::Overloaded),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
