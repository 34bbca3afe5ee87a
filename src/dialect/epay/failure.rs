//! The epay face of every [`Failure`]: its code and words for the endpoint at hand, as JSON
//! (V1 unsigned; V2 unsigned for what the gateway throws, RSA-signed for the business refusals
//! its refund and close handlers return) or as the `sysmsg()` page for the payer's browser.
//!
//! Codes as the gateway's (epay.md §6, §7): -4 nothing sent / no order number on `api.php`,
//! -3 identity and signature (`api.php`: unknown `pid` too), -5 an unknown `act` or method, -1
//! everything else. paybridge's own faults (DaxPay unreachable, an answer that cannot be
//! believed, the order store down) are -1 in the words Jeepay merchants get, which say whether
//! the order may have been touched (`订单未处理` vs `结果未知，请稍后查询订单`); never a success.

use http::StatusCode;

use super::answer::{self, EpayReply, Signing};
use super::auth::kind;
use super::cashier;
use super::php::{Flags, Json};
use super::request::{Endpoint, EndpointExt};
use super::sign::RsaSigner;
use crate::dialect::jeepay::failure::Words as SystemWords;
use crate::dialect::merchant::Answer;
use crate::domain::Failure;

/// Failure kinds the operations give whose code is not -1.
pub mod op_kind {
    /// `api.php` without `trade_no` and `out_trade_no` (-4 there, -1 on V2).
    pub const NO_ORDER_ID: &str = "no_order_id";
}

/// The gateway's code for `failure` on `endpoint`.
pub fn code(failure: &Failure, endpoint: Endpoint) -> i64 {
    match failure {
        Failure::Invalid { kind, .. } => match *kind {
            kind::NO_PARAMS => -4,
            op_kind::NO_ORDER_ID if endpoint.is_api_php() => -4,
            kind::RSA_ONLY
            | kind::TIMESTAMP
            | kind::SIGN_MISSING
            | kind::PUBLIC_KEY
            | kind::BAD_SIGNATURE
            | kind::KEY_WRONG
            | kind::INTERNAL_SIGN => -3,
            _ => -1,
        },
        Failure::InDialect { code, .. } => *code,
        Failure::UnknownMerchant | Failure::AppOfAnotherMerchant if endpoint.is_api_php() => -3,
        Failure::BadSignature | Failure::ReqTimeOutside { .. } | Failure::ReqTimeUnreadable(_) => {
            -3
        }
        _ => -1,
    }
}

/// epay's name for a value Jeepay's words call by its Jeepay label (`Failure::TooLong`).
fn field_label(label: &str) -> &str {
    match label {
        "商户订单号" => "订单号(out_trade_no)",
        "商品标题" | "商品描述信息" => "商品名称(name)",
        "商户扩展参数" => "业务扩展参数(param)",
        "异步通知地址" => "通知地址(notify_url)",
        "跳转通知地址" => "回调地址(return_url)",
        "商户退款单号" => "商户退款单号(out_refund_no)",
        "openid" => "参数(sub_openid)",
        "支付条码" => "授权码(auth_code)",
        other => other,
    }
}

/// The merchant-facing message of `failure` on `endpoint`.
pub fn words(failure: &Failure, endpoint: Endpoint) -> String {
    let refund = matches!(endpoint, Endpoint::ApiRefund | Endpoint::V2Refund);
    match failure {
        Failure::Invalid { words, .. } => (*words).to_owned(),
        Failure::InDialect { msg, .. } => msg.clone(),
        Failure::Unreadable(_) => "参数格式错误".to_owned(),
        Failure::BodyTooLarge { limit } => format!("请求参数过长[超过{limit}字节]"),
        Failure::BodyTimeout => "请求参数读取超时".to_owned(),
        Failure::TooLong { label, max } => format!("{}不能超过{max}个字符", field_label(label)),
        Failure::UnsupportedSignType(_) => "签名类型不支持".to_owned(),
        Failure::UnknownMerchant | Failure::AppOfAnotherMerchant if endpoint.is_api_php() => {
            "商户ID不存在".to_owned()
        }
        Failure::UnknownMerchant | Failure::AppOfAnotherMerchant => "商户不存在！".to_owned(),
        Failure::BadSignature => "签名校验失败".to_owned(),
        Failure::ReqTimeOutside { .. } | Failure::ReqTimeUnreadable(_) => {
            "时间戳字段不正确，请检查服务器时间".to_owned()
        }
        Failure::CancelNotAllowed => "该订单状态不支持关闭！".to_owned(),
        Failure::OrderNotFound { .. } if endpoint == Endpoint::ApiOrder => {
            "订单号不存在".to_owned()
        }
        Failure::OrderNotFound { .. } if endpoint == Endpoint::V2Query => "订单号不存在".to_owned(),
        Failure::OrderNotFound { .. } if endpoint == Endpoint::V2RefundQuery => {
            "退款记录不存在".to_owned()
        }
        Failure::OrderNotFound { .. } | Failure::RefundOfUnknownOrder { .. } => {
            "当前订单不存在！".to_owned()
        }
        Failure::NotClosable => "该订单状态不支持关闭！".to_owned(),
        Failure::CloseInProgress => "该订单正在关闭中，请稍后查询".to_owned(),
        Failure::OrderParamsChanged(no) => changed_order_words(no),
        // An order of the number that this request did not make (another request's, or one
        // paybridge never saw made). The gateway has no words for it: its one PHP request makes
        // the order or finds it. Said as it is, never `支付参数有变化`, which claims a
        // comparison with the order that was not made (an identical retry is answered
        // otherwise, `records::pay`).
        Failure::OrderExists(no) => format!("该订单号({no})已存在，请更换订单号重新发起支付"),
        Failure::OrderPaid(no) => format!("该订单({no})已完成支付，请勿重复发起支付"),
        // V2's `out_refund_no` already taken by a refund that failed or was closed (DaxPay
        // will not take the number again), or one DaxPay holds that is not recorded yet. The
        // gateway has no words (its refunds are synchronous, one PHP request each): these say
        // what is safe, never "change the number", which could refund twice, and never
        // `退款失败` about a refund that may have been made (a request meeting one in flight
        // waits for it and is answered as its repeat, `records::refund`).
        Failure::RefundExists(no) => {
            format!("退款单号({no})已提交过，请通过退款查询接口确认结果")
        }
        // A refund of the number still in flight after the wait: its outcome is not known yet.
        Failure::DuplicateInProgress if refund => {
            "该退款单号的退款正在处理中，请稍后通过退款查询接口确认结果".to_owned()
        }
        Failure::WayCodeUnknown | Failure::WayCodeUnsupported => "支付方式(type)不存在".to_owned(),
        Failure::NotRefundable => "该订单状态不支持退款！".to_owned(),
        Failure::FullyRefunded => "该订单已全额退款！".to_owned(),
        Failure::RefundOverBalance => "退款金额不能超过该订单剩余可退款金额！".to_owned(),
        // DaxPay will not start a refund while another of the order is in progress: nothing
        // was refunded, and the refund number stays free (the attempt gives up). The gateway
        // has no words for it, as it never meets one: each refund runs within its one request
        // (epay.md §6.5: "`Order::refund`: … channel failure → `-1 退款失败：{reason}`"; §7.4:
        // "Business failure: `{"code":-1,"msg":…}` + signature"; §17: "the code inserts refund
        // rows only after success"). So code -1, signed on V2, as its business refusals; but
        // not `退款失败`, which a merchant may record as its refund's final failure (SDK2 reads
        // any code but 0 so): `退款未处理`, as the number collision, and when to ask again.
        Failure::RefundInProgress => "退款未处理：该订单有正在处理的退款，请稍后再试".to_owned(),
        Failure::RefundUnsupported => "退款失败：当前支付插件不支持API退款".to_owned(),
        Failure::Refused { code, msg } if msg.trim().is_empty() => {
            format!(
                "{}上游处理失败[{code}]",
                if refund { "退款失败：" } else { "" }
            )
        }
        Failure::Refused { msg, .. } if refund => format!("退款失败：{msg}"),
        Failure::Refused { msg, .. } => msg.clone(),
        Failure::NotFound(_) if endpoint.is_api_php() => "No Act!".to_owned(),
        Failure::NotFound(_) => "接口方法不存在".to_owned(),
        // paybridge's own faults: the words Jeepay merchants get (system faults say whether the
        // order may have been touched).
        other => SystemWords(other).to_string(),
    }
}

/// epay's refusal of a repeated `out_trade_no` whose parameters differ (epay.md §6.1 step 16):
/// [`Failure::OrderParamsChanged`] only.
pub fn changed_order_words(out_trade_no: &str) -> String {
    format!("该订单({out_trade_no})支付参数有变化，请更换订单号重新发起支付")
}

/// epay's refusal of a repeated `out_trade_no` already paid (epay.md §6.1 step 16).
pub fn paid_order(out_trade_no: &str) -> Failure {
    Failure::OrderPaid(out_trade_no.to_owned())
}

/// The refusals a V2 refund or close handler returns (signed), not throws (unsigned).
fn returned_by_handler(failure: &Failure, endpoint: Endpoint) -> bool {
    matches!(endpoint, Endpoint::V2Refund | Endpoint::V2Close)
        && matches!(
            failure,
            Failure::NotClosable
                | Failure::RefundExists(_)
                | Failure::CloseInProgress
                | Failure::Refused { .. }
                | Failure::NotRefundable
                | Failure::FullyRefunded
                | Failure::RefundOverBalance
                | Failure::RefundInProgress
                | Failure::RefundUnsupported
        )
}

/// HTTP status: 200 as the gateway, but load shedding keeps 503 for load balancers.
fn status(failure: &Failure) -> StatusCode {
    match failure {
        Failure::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    }
}

/// `failure` as the answer `endpoint` gives. `signing`: the platform key and the time, for the
/// V2 refusals the gateway signs (without it they go unsigned).
pub fn render(failure: &Failure, endpoint: Endpoint, signing: Option<Signing<'_>>) -> EpayReply {
    let no_params = matches!(failure, Failure::Invalid { kind, .. } if *kind == kind::NO_PARAMS);
    let mut reply = match endpoint {
        // `submit.php` without `pid`: the gateway's plain text.
        Endpoint::Submit | Endpoint::V2Submit if no_params => {
            EpayReply::html("你还未配置支付接口商户！".to_owned())
        }
        // paybridge's cashier (a page without `type`) is the page itself.
        Endpoint::Submit | Endpoint::V2Submit => match cashier::is_page(failure) {
            Some(page) => EpayReply::html(page.to_owned()),
            None => answer::sysmsg(&words(failure, endpoint)),
        },
        // `mapi.php`'s literal, space included.
        Endpoint::Mapi if no_params => {
            EpayReply::json("{\"code\":-4, \"msg\":\"未传入任何参数\"}".to_owned())
        }
        _ => {
            let fields = [
                ("code", Json::Int(code(failure, endpoint))),
                ("msg", Json::Text(words(failure, endpoint))),
            ];
            // `api.php` writes every answer with plain `json_encode`; the others `echojson`.
            let flags = match endpoint.is_api_php() {
                true => Flags::Plain,
                false => Flags::UnescapedUnicode,
            };
            match signing {
                Some(signing) if returned_by_handler(failure, endpoint) => {
                    answer::v2_signed(fields.to_vec(), signing, flags)
                }
                _ => answer::unsigned(&fields, flags),
            }
        }
    };
    reply.status = status(failure);
    reply
}

/// Every `Failure` of an epay request in epay's words, for the failure layer
/// (`dialect::failures`): V2 refusals the handlers return are signed with `platform_key`.
pub fn answer(failure: &Failure, endpoint: Endpoint, platform_key: Option<&RsaSigner>) -> Answer {
    let signing = platform_key.map(|platform_key| Signing {
        platform_key,
        now: super::trade_no::now_secs(),
    });
    render(failure, endpoint, signing).into()
}

/// `api.php` with an `act` paybridge does not serve (`orders`, `query`, `settle`, …).
pub fn no_act() -> EpayReply {
    answer::unsigned(
        &[("code", Json::Int(-5)), ("msg", "No Act!".into())],
        Flags::Plain,
    )
}

/// A V2 path paybridge does not serve (`/api/merchant/*`, `/api/transfer/*`, …).
pub fn no_method() -> EpayReply {
    answer::error(-5, "接口方法不存在")
}

/// An `/api/…` path that is no route of the gateway's (`ApiHelper::load_api`'s pattern,
/// epay.md §7).
pub fn url_error() -> EpayReply {
    answer::error(-5, "URL Error!")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::epay::sign::{RsaSigner, RsaVerifier};
    use crate::dialect::epay::test_keys::{SAMPLE_PRIVATE, SAMPLE_PUBLIC};
    use crate::upstream::error::UpstreamError;

    fn invalid(kind: &'static str, words: &'static str) -> Failure {
        Failure::Invalid { kind, words }
    }

    #[test]
    fn codes_and_texts_per_endpoint() {
        let said = |f: &Failure, e| render(f, e, None).text().to_owned();
        assert_eq!(
            said(&invalid(kind::NO_PARAMS, "未传入任何参数"), Endpoint::Mapi),
            r#"{"code":-4, "msg":"未传入任何参数"}"#
        );
        assert_eq!(
            said(
                &invalid(kind::NO_PARAMS, "未传入任何参数"),
                Endpoint::V2Create
            ),
            r#"{"code":-4,"msg":"未传入任何参数"}"#
        );
        assert_eq!(
            said(
                &invalid(kind::NO_PARAMS, "未传入任何参数"),
                Endpoint::Submit
            ),
            "你还未配置支付接口商户！"
        );
        assert_eq!(
            said(
                &invalid(kind::BAD_SIGNATURE, "MD5签名校验失败"),
                Endpoint::Mapi
            ),
            r#"{"code":-3,"msg":"MD5签名校验失败"}"#
        );
        assert_eq!(
            said(&Failure::UnknownMerchant, Endpoint::ApiOrder),
            r#"{"code":-3,"msg":"\u5546\u6237ID\u4e0d\u5b58\u5728"}"#
        );
        assert_eq!(
            said(&Failure::UnknownMerchant, Endpoint::Mapi),
            r#"{"code":-1,"msg":"商户不存在！"}"#
        );
        assert_eq!(
            said(
                &invalid(op_kind::NO_ORDER_ID, "订单号不能为空"),
                Endpoint::ApiOrder
            ),
            r#"{"code":-4,"msg":"\u8ba2\u5355\u53f7\u4e0d\u80fd\u4e3a\u7a7a"}"#
        );
        assert_eq!(
            said(
                &invalid(op_kind::NO_ORDER_ID, "订单号不能为空"),
                Endpoint::V2Query
            ),
            r#"{"code":-1,"msg":"订单号不能为空"}"#
        );
        assert_eq!(
            said(
                &Failure::OrderNotFound { verified: true },
                Endpoint::ApiOrder
            ),
            r#"{"code":-1,"msg":"\u8ba2\u5355\u53f7\u4e0d\u5b58\u5728"}"#
        );
        assert_eq!(
            said(
                &Failure::RefundOfUnknownOrder { verified: true },
                Endpoint::ApiRefund
            ),
            r#"{"code":-1,"msg":"\u5f53\u524d\u8ba2\u5355\u4e0d\u5b58\u5728\uff01"}"#
        );
        assert_eq!(
            said(&Failure::WayCodeUnsupported, Endpoint::Mapi),
            r#"{"code":-1,"msg":"支付方式(type)不存在"}"#
        );
        assert_eq!(
            said(
                &Failure::Refused {
                    code: 1,
                    msg: "余额不足".into()
                },
                Endpoint::V2Refund
            ),
            r#"{"code":-1,"msg":"退款失败：余额不足"}"#
        );
        assert!(said(&Failure::WayCodeUnknown, Endpoint::Submit)
            .contains("<h3>站点提示信息</h3>支付方式(type)不存在"));
        assert_eq!(
            words(&Failure::OrderParamsChanged("A1".into()), Endpoint::Mapi),
            "该订单(A1)支付参数有变化，请更换订单号重新发起支付"
        );
        assert_eq!(
            words(&Failure::OrderExists("A1".into()), Endpoint::Mapi),
            "该订单号(A1)已存在，请更换订单号重新发起支付"
        );
        assert_eq!(
            words(&paid_order("A1"), Endpoint::Mapi),
            "该订单(A1)已完成支付，请勿重复发起支付"
        );
        assert_eq!(
            words(
                &Failure::TooLong {
                    label: "商户订单号",
                    max: 95
                },
                Endpoint::Mapi
            ),
            "订单号(out_trade_no)不能超过95个字符"
        );
        assert_eq!(no_act().text(), r#"{"code":-5,"msg":"No Act!"}"#);
    }

    #[test]
    fn system_faults_say_what_became_of_the_order_and_never_succeed() {
        let reply = render(
            &Failure::Upstream(UpstreamError::CircuitOpen {
                upstream: "dax".into(),
            }),
            Endpoint::Mapi,
            None,
        );
        assert_eq!(
            reply.text(),
            r#"{"code":-1,"msg":"系统异常[上游暂不可用，订单未处理，请稍后重试]"}"#
        );
        assert_eq!(
            render(&Failure::Overloaded, Endpoint::V2Query, None).status,
            503
        );
        assert!(render(&Failure::StoreDown, Endpoint::Submit, None)
            .text()
            .contains("订单存储不可用"));
    }

    #[test]
    fn v2_handler_refusals_are_signed_thrown_ones_are_not() {
        let key = RsaSigner::from_text(SAMPLE_PRIVATE).unwrap();
        let public = RsaVerifier::from_text(SAMPLE_PUBLIC).unwrap();
        let signing = Signing {
            platform_key: &key,
            now: 1_700_000_000,
        };
        let signed = render(&Failure::NotClosable, Endpoint::V2Close, Some(signing));
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&signed.body).unwrap();
        assert_eq!(object["code"], -1);
        assert_eq!(object["msg"], "该订单状态不支持关闭！");
        let params = crate::dialect::epay::params::from_json(&object).unwrap();
        assert!(crate::dialect::epay::sign::rsa_verify(
            &crate::dialect::epay::params::borrowed(&params),
            &public
        ));
        let thrown = render(
            &Failure::OrderNotFound { verified: true },
            Endpoint::V2Close,
            Some(signing),
        );
        assert_eq!(thrown.text(), r#"{"code":-1,"msg":"当前订单不存在！"}"#);
        // A taken out_refund_no: the refund handler's refusal, signed, saying what is safe.
        let taken = render(
            &Failure::RefundExists("RF-000001".into()),
            Endpoint::V2Refund,
            Some(signing),
        );
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&taken.body).unwrap();
        assert_eq!(
            object["msg"],
            "退款单号(RF-000001)已提交过，请通过退款查询接口确认结果"
        );
        assert!(object.contains_key("sign"));
    }
}
