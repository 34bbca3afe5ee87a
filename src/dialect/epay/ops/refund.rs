//! Refund: V1 `api.php?act=refund` (§6.5, the key in clear) and V2 `/api/pay/refund` (§7.4).
//!
//! Checks after the identity, in the gateway's order: `money` (after `trim`, digits and one dot:
//! `金额输入错误`; paybridge also refuses `0`, which no channel refunds), then the order
//! (`trade_no` wins, else `out_trade_no`; neither: `订单号不能为空`). The merchant's refund number:
//! V2's `out_refund_no` when longer than 5 characters (the gateway ignores shorter ones), else a
//! generated 19-digit number (V1 has none), used as DaxPay's merchant refund number. Refunds are
//! cumulative, as build 3094, V2 and DaxPay count them.
//!
//! Success is **code 0** on both (`退款成功！退款金额￥…`, V2 `¥`). The answer's `refund_no` is
//! epay's 19-digit number (`super::super::refund_no`: the generated merchant refund number, or
//! one derived from a long `out_refund_no` and kept as the refund's `attach`), and
//! `out_refund_no` the merchant refund number, so that V2's `refundquery` finds the refund by
//! either. DaxPay's own refund number is never shown. A refund DaxPay is still carrying out is answered
//! code 0 too, saying so (`退款已受理`): answering a failure would invite a V1 merchant, who has
//! no refund number, to refund again. A refund the channel failed is `退款失败：…`.

use super::super::answer::{self, EpayReply, Signing};
use super::super::money::{self, MoneyError};
use super::super::php::{Flags, Json};
use super::super::refund_no;
use super::super::request::{Endpoint, EpayRequest};
use super::super::trade_no;
use super::{invalid, NamedOrder};
use crate::config::Merchant;
use crate::domain::ops::{Refund, Refunded};
use crate::domain::order::{OrderRef, RefundOrderStatus};
use crate::domain::Failure;

/// The reason DaxPay is given (epay has no field for one; the gateway's Jeepay plugin sends
/// this).
pub const REASON: &str = "申请退款";

/// What a refund's answer repeats of the request and its order.
#[derive(Debug, Clone, Copy)]
pub struct Echo<'a> {
    pub endpoint: Endpoint,
    pub pid: i64,
    /// `money` as posted, trimmed: the gateway echoes it so.
    pub money_text: &'a str,
    /// The refunded order's numbers, as far as they are known.
    pub trade_no: Option<&'a str>,
    pub out_trade_no: Option<&'a str>,
    /// The refund number is paybridge's own ([`generates_number`]): no merchant number, so a
    /// "repeat" of it can only be a collision with another refund's.
    pub number_generated: bool,
}

/// Whether the merchant gave no refund number of its own (V1 never does; V2's `out_refund_no`
/// of 5 characters or fewer is ignored), so that paybridge generates one.
pub fn generates_number(request: &EpayRequest) -> bool {
    !matches!(
        request.given("out_refund_no"),
        Some(own) if request.endpoint == Endpoint::V2Refund && own.len() > 5
    )
}

/// The refund: by `out_trade_no` the order is named here; by `trade_no` the pipeline names it
/// from the order store.
pub fn read(request: &EpayRequest, merchant: &Merchant, now: i64) -> Result<Refund, Failure> {
    let amount = money::refund_money(request.get("money")).map_err(|e| match e {
        MoneyError::TooLarge => invalid("amount", "退款金额不能超过该订单剩余可退款金额！"),
        MoneyError::Empty | MoneyError::Invalid => invalid("amount", "金额输入错误"),
    })?;
    let order = match NamedOrder::read(request)? {
        NamedOrder::OutTradeNo(no) => OrderRef::new(None, Some(&no)),
        NamedOrder::TradeNo(_) => OrderRef::default(),
    };
    let mch_refund_no = match request.given("out_refund_no") {
        Some(own) if !generates_number(request) => own.to_owned(),
        _ => trade_no::generate(now),
    };
    let ext_param = Some(refund_no::of(&mch_refund_no));
    Ok(Refund {
        order,
        biz_refund_no: merchant.daxpay.number(&mch_refund_no),
        mch_refund_no,
        amount,
        currency: "cny".to_owned(),
        reason: REASON.to_owned(),
        client_ip: None,
        notify_url: None,
        // epay has no refund extParam: the refund's `refund_no` goes there, for DaxPay to keep
        // and the order store to find it by (`refund_no.rs`).
        ext_param,
        amount_text: String::new(),
        relay_notify_url: None,
    })
}

/// The words for a generated refund number that collided (nothing was refunded).
pub const COLLISION_WORDS: &str = "退款未处理：退款单号冲突，请重新发起退款";

/// The answer to a refund DaxPay took. `signing`: required for V2.
pub fn answer(
    refund: &Refund,
    refunded: &Refunded,
    echo: &Echo<'_>,
    signing: Option<Signing<'_>>,
) -> EpayReply {
    let v2 = echo.endpoint == Endpoint::V2Refund;
    // A generated number that another refund of the merchant already holds (two instances
    // drawing the same number in the same second): that refund is not this request's, and
    // nothing was sent for this one. Never `退款成功`; asking again is safe (a fresh number).
    if refunded.repeated && echo.number_generated {
        let fields = vec![("code", Json::Int(-1)), ("msg", COLLISION_WORDS.into())];
        return match (v2, signing) {
            (true, Some(signing)) => answer::v2_signed(fields, signing, Flags::UnescapedUnicode),
            _ => answer::unsigned(&fields, refund_flags(v2)),
        };
    }
    if v2 && refunded.repeated {
        return answer_again(refund, refunded, echo, signing);
    }
    let yuan = if v2 { '¥' } else { '￥' };
    let money = echo.money_text;
    let msg = match refunded.status {
        RefundOrderStatus::Success => format!("退款成功！退款金额{yuan}{money}"),
        RefundOrderStatus::Progress => format!("退款已受理，正在处理中！退款金额{yuan}{money}"),
        RefundOrderStatus::Fail | RefundOrderStatus::Close => {
            let reason = refunded
                .error_msg
                .as_deref()
                .filter(|m| !m.trim().is_empty())
                .unwrap_or("通道退款失败");
            let fields = vec![
                ("code", Json::Int(-1)),
                ("msg", format!("退款失败：{reason}").into()),
            ];
            return match (v2, signing) {
                (true, Some(signing)) => {
                    answer::v2_signed(fields, signing, Flags::UnescapedUnicode)
                }
                _ => answer::unsigned(&fields, refund_flags(v2)),
            };
        }
    };
    let fields = vec![
        ("code", Json::Int(0)),
        ("refund_no", refund_no::of(&refund.mch_refund_no).into()),
        ("out_refund_no", refund.mch_refund_no.as_str().into()),
        ("trade_no", echo.trade_no.into()),
        ("out_trade_no", echo.out_trade_no.into()),
        ("uid", Json::Int(echo.pid)),
        ("money", money.into()),
        ("reducemoney", money::stored(refund.amount).into()),
        ("msg", msg.into()),
    ];
    match (v2, signing) {
        (true, Some(signing)) => answer::v2_signed(fields, signing, Flags::UnescapedUnicode),
        (true, None) => answer::error(-1, "系统异常[平台密钥未配置]"),
        (false, _) => answer::unsigned(&fields, Flags::Plain),
    }
}

/// A V2 `out_refund_no` used before: the earlier refund as the gateway answers it from its
/// `refundorder` row (G3094 `lib/api/Pay.php` `refund`): no `out_trade_no`, the stored `money`
/// and `reducemoney`, `已存在相同退款单号！退款金额¥…`. One DaxPay is still carrying out (the
/// gateway has no such row: its API refunds are synchronous) is answered in the same shape,
/// saying it is accepted.
fn answer_again(
    refund: &Refund,
    refunded: &Refunded,
    echo: &Echo<'_>,
    signing: Option<Signing<'_>>,
) -> EpayReply {
    let Some(signing) = signing else {
        return answer::error(-1, "系统异常[平台密钥未配置]");
    };
    let money = money::stored(refunded.refund_amount);
    let msg = match refunded.status {
        RefundOrderStatus::Success => format!("已存在相同退款单号！退款金额¥{money}"),
        _ => format!("退款已受理，正在处理中！退款金额¥{money}"),
    };
    let fields = vec![
        ("code", Json::Int(0)),
        ("refund_no", refund_no::of(&refund.mch_refund_no).into()),
        ("out_refund_no", refund.mch_refund_no.as_str().into()),
        ("trade_no", echo.trade_no.into()),
        ("uid", Json::Int(echo.pid)),
        ("money", money.as_str().into()),
        ("reducemoney", money.as_str().into()),
        ("msg", msg.into()),
    ];
    answer::v2_signed(fields, signing, Flags::UnescapedUnicode)
}

/// V1's `api.php` writes with plain `json_encode`; V2 with `echojson`.
fn refund_flags(v2: bool) -> Flags {
    if v2 {
        Flags::UnescapedUnicode
    } else {
        Flags::Plain
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::epay::sign::{RsaSigner, RsaVerifier};
    use crate::dialect::epay::test_keys::{SAMPLE_PRIVATE, SAMPLE_PUBLIC};
    use crate::domain::order::Fen;

    fn read_with(endpoint: Endpoint, params: &[(&str, &str)]) -> Result<Refund, Failure> {
        let request = EpayRequest::new(
            endpoint,
            params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        read(&request, &crate::config::test_merchant(), 1_721_206_072)
    }

    fn refunded(status: RefundOrderStatus) -> Refunded {
        Refunded {
            refund_no: "DAXR1".into(),
            biz_refund_no: String::new(),
            status,
            error_code: None,
            error_msg: None,
            pay_amount: Some(Fen(150)),
            refund_amount: Fen(100),
            channel_refund_no: None,
            repeated: false,
        }
    }

    fn echo(endpoint: Endpoint) -> Echo<'static> {
        Echo {
            endpoint,
            pid: 1001,
            money_text: "1.00",
            trade_no: Some("2024070112000012345"),
            out_trade_no: Some("OUT1"),
            number_generated: false,
        }
    }

    /// Review 2, minor finding: a V1 refund's generated number that another refund of the
    /// merchant holds (the store answered it as a repeat, nothing was sent) is no success.
    #[test]
    fn a_generated_number_met_again_is_a_collision_never_a_success() {
        let v1 = read_with(Endpoint::ApiRefund, &[("trade_no", "1"), ("money", "1.00")]).unwrap();
        let request = EpayRequest::new(Endpoint::ApiRefund, Vec::new());
        assert!(generates_number(&request));
        let repeated = Refunded {
            repeated: true,
            ..refunded(RefundOrderStatus::Success)
        };
        let collided = Echo {
            number_generated: true,
            ..echo(Endpoint::ApiRefund)
        };
        let reply = answer(&v1, &repeated, &collided, None);
        assert_eq!(
            std::str::from_utf8(&reply.body).unwrap(),
            r#"{"code":-1,"msg":"\u9000\u6b3e\u672a\u5904\u7406\uff1a\u9000\u6b3e\u5355\u53f7\u51b2\u7a81\uff0c\u8bf7\u91cd\u65b0\u53d1\u8d77\u9000\u6b3e"}"#
        );
        // A V2 merchant's own number repeated stays the repeat it is.
        let own = EpayRequest::new(
            Endpoint::V2Refund,
            vec![("out_refund_no".to_owned(), "R-000001".to_owned())],
        );
        assert!(!generates_number(&own));
    }

    fn words(result: Result<Refund, Failure>, endpoint: Endpoint) -> String {
        crate::dialect::epay::failure::words(&result.unwrap_err(), endpoint)
    }

    #[test]
    fn v1_refunds_generate_their_number_and_answer_code_0() {
        let refund = read_with(
            Endpoint::ApiRefund,
            &[("trade_no", "2024070112000012345"), ("money", " 1.00 ")],
        )
        .unwrap();
        assert_eq!(refund.amount, Fen(100));
        assert!(trade_no::looks_like(&refund.mch_refund_no));
        assert_eq!(refund.biz_refund_no, refund.mch_refund_no);
        assert_eq!(refund.reason, "申请退款");
        assert!(refund.order.is_empty());
        let mut fixed = refund.clone();
        fixed.mch_refund_no = "2024070112000054321".into();
        let reply = answer(
            &fixed,
            &refunded(RefundOrderStatus::Success),
            &echo(Endpoint::ApiRefund),
            None,
        );
        assert_eq!(
            reply.text(),
            r#"{"code":0,"refund_no":"2024070112000054321","out_refund_no":"2024070112000054321","trade_no":"2024070112000012345","out_trade_no":"OUT1","uid":1001,"money":"1.00","reducemoney":"1.00","msg":"\u9000\u6b3e\u6210\u529f\uff01\u9000\u6b3e\u91d1\u989d\uffe51.00"}"#
        );
    }

    #[test]
    fn refusals_in_the_gateways_order() {
        assert_eq!(
            words(
                read_with(Endpoint::ApiRefund, &[("trade_no", "T")]),
                Endpoint::ApiRefund
            ),
            "金额输入错误"
        );
        for bad in ["0", "-1", "1e2", "abc", "1.2.3"] {
            assert_eq!(
                words(
                    read_with(Endpoint::ApiRefund, &[("trade_no", "T"), ("money", bad)]),
                    Endpoint::ApiRefund
                ),
                "金额输入错误",
                "{bad}"
            );
        }
        // Money first, then the numbers.
        assert_eq!(
            words(
                read_with(Endpoint::ApiRefund, &[("money", "1")]),
                Endpoint::ApiRefund
            ),
            "订单号不能为空"
        );
    }

    #[test]
    fn v2_out_refund_no_is_the_key_when_longer_than_5() {
        let own = read_with(
            Endpoint::V2Refund,
            &[
                ("out_trade_no", "O1"),
                ("money", "0.5"),
                ("out_refund_no", "R-000001"),
            ],
        )
        .unwrap();
        assert_eq!(own.mch_refund_no, "R-000001");
        assert_eq!(own.order.biz_order_no.as_deref(), Some("O1"));
        let short = read_with(
            Endpoint::V2Refund,
            &[
                ("out_trade_no", "O1"),
                ("money", "0.5"),
                ("out_refund_no", "R1"),
            ],
        )
        .unwrap();
        assert!(trade_no::looks_like(&short.mch_refund_no));
        let key = RsaSigner::from_text(SAMPLE_PRIVATE).unwrap();
        let public = RsaVerifier::from_text(SAMPLE_PUBLIC).unwrap();
        let v2 = Echo {
            money_text: "0.5",
            ..echo(Endpoint::V2Refund)
        };
        let reply = answer(
            &own,
            &refunded(RefundOrderStatus::Success),
            &v2,
            Some(Signing {
                platform_key: &key,
                now: 1_700_000_000,
            }),
        );
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(object["code"], 0);
        assert_eq!(object["out_refund_no"], "R-000001");
        assert_eq!(object["msg"], "退款成功！退款金额¥0.5");
        let fields = crate::dialect::epay::params::from_json(&object).unwrap();
        assert!(crate::dialect::epay::sign::rsa_verify(
            &crate::dialect::epay::params::borrowed(&fields),
            &public
        ));
        // The same out_refund_no again: the earlier refund as the gateway's refundorder row
        // answers it (its stored money, no out_trade_no), whatever this request's money.
        let mut earlier = refunded(RefundOrderStatus::Success);
        earlier.repeated = true;
        let signing = Signing {
            platform_key: &key,
            now: 1_700_000_000,
        };
        let again = answer(&own, &earlier, &v2, Some(signing));
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&again.body).unwrap();
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "code",
                "refund_no",
                "out_refund_no",
                "trade_no",
                "uid",
                "money",
                "reducemoney",
                "msg",
                "timestamp",
                "sign_type",
                "sign"
            ]
        );
        assert_eq!(object["money"], "1.00");
        assert_eq!(object["msg"], "已存在相同退款单号！退款金额¥1.00");
        earlier.status = RefundOrderStatus::Progress;
        let again = answer(&own, &earlier, &v2, Some(signing));
        assert!(again
            .text()
            .contains("退款已受理，正在处理中！退款金额¥1.00"));
        let mut failed = refunded(RefundOrderStatus::Close);
        failed.error_msg = Some("余额不足".into());
        let reply = answer(&own, &failed, &v2, None);
        assert_eq!(reply.text(), r#"{"code":-1,"msg":"退款失败：余额不足"}"#);
    }
}
