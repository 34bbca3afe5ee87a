//! Query: V1 `api.php?act=order` (§6.3, the key in clear) and V2 `/api/pay/query` (§7.3).
//!
//! The order is named by `trade_no` (paybridge's epay-style number, which the order store turns
//! into the merchant's) or `out_trade_no`; neither is `订单号不能为空` (-4 on `api.php`, -1 on V2).
//! The answer's fields as the gateway's, in its order: V1 every key always present (`null` when
//! unknown), plain `json_encode`; V2 the empty ones removed, then signed. `name` and `param` are
//! given back in the gateway's echo form (`htmlspecialchars(addslashes(…))`, epay.md §9), as it
//! stores them, so that the query, the notification and the return say the same.

use super::super::answer::{self, EpayReply, Signing};
use super::super::money;
use super::super::php::{self, Flags, Json};
use super::super::request::{Endpoint, EpayRequest};
use super::super::state;
use super::super::trade_no::time_text;
use super::{EpayOrderFacts, NamedOrder};
use crate::domain::ops::PayQuery;
use crate::domain::order::{OrderRef, PayOrder};
use crate::domain::Failure;

/// The query: by `out_trade_no` the order is named here; by `trade_no` the pipeline names it
/// from the order store (`MerchantOp::trade_no`).
pub fn read(request: &EpayRequest) -> Result<PayQuery, Failure> {
    let order = match NamedOrder::read(request)? {
        NamedOrder::OutTradeNo(no) => OrderRef::new(None, Some(&no)),
        NamedOrder::TradeNo(_) => OrderRef::default(),
    };
    Ok(PayQuery { order })
}

/// The fields of the answer, in the gateway's order (V1's `code`/`msg` and V2's `code` first).
fn fields(
    order: &PayOrder,
    facts: &EpayOrderFacts,
    endpoint: Endpoint,
    pid: i64,
) -> Vec<(&'static str, Json)> {
    let v2 = endpoint == Endpoint::V2Query;
    // An order paybridge has no epay number for (made elsewhere): DaxPay's.
    let trade_no = facts
        .trade_no
        .clone()
        .unwrap_or_else(|| order.order_no.clone());
    let pay_type = facts.pay_type.clone().or_else(|| {
        order
            .channel
            .as_deref()
            .and_then(state::type_of_channel)
            .map(str::to_owned)
    });
    let name = facts
        .name
        .as_deref()
        .or(order.title.as_deref())
        .map(php::echo_form);
    let param = facts
        .param
        .as_deref()
        .or(order.attach.as_deref())
        .map(php::echo_form);
    let status = state::pay_status(order.status, order.refund_status);
    let mut fields: Vec<(&'static str, Json)> = if v2 {
        vec![("code", Json::Int(0))]
    } else {
        vec![("code", Json::Int(1)), ("msg", "succ".into())]
    };
    fields.extend([
        ("trade_no", Json::from(trade_no)),
        ("out_trade_no", order.biz_order_no.as_str().into()),
        ("api_trade_no", order.out_order_no.clone().into()),
        ("bill_trade_no", Json::Null),
        ("type", pay_type.into()),
        ("pid", Json::Int(pid)),
        ("addtime", facts.created_at_ms.map(time_text).into()),
        ("endtime", order.paid_at_ms.map(time_text).into()),
        ("name", name.into()),
        ("money", money::stored(order.amount).into()),
        ("param", param.into()),
        ("buyer", Json::Null),
    ]);
    if v2 {
        fields.push(("clientip", facts.client_ip.clone().into()));
        fields.push(("status", Json::Int(status)));
        let refunded = facts.refunded.filter(|r| r.0 > 0).map(money::stored);
        fields.push(("refundmoney", refunded.into()));
        // `array_filter(isEmpty)`: null and blank values removed.
        fields.retain(|(_, v)| match v {
            Json::Null => false,
            Json::Text(t) => !t.trim().is_empty(),
            Json::Int(_) => true,
        });
    } else {
        fields.push(("status", Json::Int(status)));
        fields.push(("payurl", Json::Null));
    }
    fields
}

/// The answer to a found order. `signing`: required for V2.
pub fn answer(
    order: &PayOrder,
    facts: &EpayOrderFacts,
    endpoint: Endpoint,
    pid: i64,
    signing: Option<Signing<'_>>,
) -> EpayReply {
    let fields = fields(order, facts, endpoint, pid);
    match (endpoint, signing) {
        (Endpoint::V2Query, Some(signing)) => {
            answer::v2_signed(fields, signing, Flags::UnescapedUnicode)
        }
        (Endpoint::V2Query, None) => answer::error(-1, "系统异常[平台密钥未配置]"),
        _ => answer::unsigned(&fields, Flags::Plain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::epay::sign::{RsaSigner, RsaVerifier};
    use crate::dialect::epay::test_keys::{SAMPLE_PRIVATE, SAMPLE_PUBLIC};
    use crate::domain::order::{Fen, PayStatus, RefundStatus};

    fn order(status: PayStatus) -> PayOrder {
        PayOrder {
            order_no: "DAX1".into(),
            biz_order_no: "20160806151343349".into(),
            channel: Some("ali_pay".into()),
            method: Some("web".into()),
            amount: Fen(150),
            status,
            refund_status: None,
            title: Some("VIP会员".into()),
            description: None,
            out_order_no: None,
            attach: None,
            error_code: None,
            error_msg: None,
            paid_at_ms: None,
            expires_at_ms: None,
            kept: None,
        }
    }

    fn facts() -> EpayOrderFacts {
        EpayOrderFacts {
            trade_no: Some("2024070112000012345".into()),
            pay_type: Some("alipay".into()),
            name: Some("VIP会员 A&B".into()),
            param: None,
            client_ip: Some("192.168.1.100".into()),
            created_at_ms: Some(1_719_806_400_000),
            version: None,
            refunded: None,
        }
    }

    fn query(endpoint: Endpoint, params: &[(&str, &str)]) -> PayQuery {
        let request = EpayRequest::new(
            endpoint,
            params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        read(&request).unwrap()
    }

    #[test]
    fn v1_answer_has_every_key_in_the_gateways_order() {
        let q = query(Endpoint::ApiOrder, &[("trade_no", "2024070112000012345")]);
        assert!(q.order.is_empty());
        let reply = answer(
            &order(PayStatus::Wait),
            &facts(),
            Endpoint::ApiOrder,
            1001,
            None,
        );
        assert_eq!(
            reply.text(),
            r#"{"code":1,"msg":"succ","trade_no":"2024070112000012345","out_trade_no":"20160806151343349","api_trade_no":null,"bill_trade_no":null,"type":"alipay","pid":1001,"addtime":"2024-07-01 12:00:00","endtime":null,"name":"VIP\u4f1a\u5458 A&amp;B","money":"1.50","param":null,"buyer":null,"status":0,"payurl":null}"#
        );
        let mut paid = order(PayStatus::Success);
        paid.paid_at_ms = Some(1_719_806_460_000);
        paid.out_order_no = Some("2024070122001".into());
        let text = answer(&paid, &facts(), Endpoint::ApiOrder, 1001, None)
            .text()
            .to_owned();
        assert!(text.contains(r#""api_trade_no":"2024070122001""#), "{text}");
        assert!(
            text.contains(r#""endtime":"2024-07-01 12:01:00""#),
            "{text}"
        );
        assert!(text.contains(r#""status":1,"#), "{text}");
    }

    #[test]
    fn v2_answer_drops_empty_fields_and_is_signed() {
        let key = RsaSigner::from_text(SAMPLE_PRIVATE).unwrap();
        let public = RsaVerifier::from_text(SAMPLE_PUBLIC).unwrap();
        let q = query(Endpoint::V2Query, &[("out_trade_no", "20160806151343349")]);
        assert_eq!(q.order.biz_order_no.as_deref(), Some("20160806151343349"));
        let mut refunded = order(PayStatus::Success);
        refunded.refund_status = Some(RefundStatus::PartialRefund);
        let facts = EpayOrderFacts {
            refunded: Some(Fen(50)),
            ..facts()
        };
        let reply = answer(
            &refunded,
            &facts,
            Endpoint::V2Query,
            1001,
            Some(Signing {
                platform_key: &key,
                now: 1_700_000_000,
            }),
        );
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&reply.body).unwrap();
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "code",
                "trade_no",
                "out_trade_no",
                "type",
                "pid",
                "addtime",
                "name",
                "money",
                "clientip",
                "status",
                "refundmoney",
                "timestamp",
                "sign_type",
                "sign"
            ]
        );
        assert_eq!(object["status"], 2);
        assert_eq!(object["refundmoney"], "0.50");
        assert!(reply.text().contains("VIP会员 A&amp;B"), "{}", reply.text());
        let fields = crate::dialect::epay::params::from_json(&object).unwrap();
        assert!(crate::dialect::epay::sign::rsa_verify(
            &crate::dialect::epay::params::borrowed(&fields),
            &public
        ));
    }

    #[test]
    fn no_number_is_refused() {
        let request = EpayRequest::new(Endpoint::ApiOrder, vec![("pid".into(), "1001".into())]);
        let failure = read(&request).unwrap_err();
        assert_eq!(
            crate::dialect::epay::failure::render(&failure, Endpoint::ApiOrder, None).text(),
            r#"{"code":-4,"msg":"\u8ba2\u5355\u53f7\u4e0d\u80fd\u4e3a\u7a7a"}"#
        );
    }
}
