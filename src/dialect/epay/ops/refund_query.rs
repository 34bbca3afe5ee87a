//! Refund query: V2 `/api/pay/refundquery` (§7.5). V1 has none.
//!
//! The refund is named by `refund_no` (epay's 19-digit number paybridge answered the refund
//! with, `super::super::refund_no`: the merchant refund number itself, or the one derived from a
//! long `out_refund_no`, which the order store finds by the refund's kept `attach`) or
//! `out_refund_no` (the merchant refund number); neither is `商户退款单号不能为空`, none found
//! `退款记录不存在`. `status`: 1 success, 0 failed, and 2 for a refund still being carried out
//! (epay has no value for it; `state.rs`).

use super::super::answer::{self, EpayReply, Signing};
use super::super::money;
use super::super::php::{Flags, Json};
use super::super::refund_no;
use super::super::request::EpayRequest;
use super::super::state;
use super::super::trade_no::time_text;
use super::invalid;
use crate::config::Merchant;
use crate::domain::ops::{RefundQuery, RefundRecord};
use crate::domain::order::OrderRef;
use crate::domain::Failure;

pub fn read(request: &EpayRequest, merchant: &Merchant) -> Result<RefundQuery, Failure> {
    let refund_no = request.given("refund_no");
    let out_refund_no = if refund_no.is_none() {
        request.given("out_refund_no")
    } else {
        None
    };
    if refund_no.is_none() && out_refund_no.is_none() {
        return Err(invalid("no_order_id", "商户退款单号不能为空"));
    }
    // Either number is looked up as a merchant refund number first (the order store then tries
    // epay's derived `refund_no`): never as DaxPay's refund number, which epay never shows.
    let number = refund_no.or(out_refund_no);
    Ok(RefundQuery {
        refund_no: None,
        mch_refund_no: number.map(str::to_owned),
        biz_refund_no: number.map(|n| merchant.daxpay.number(n)),
        order: OrderRef::default(),
        kept: None,
    })
}

/// The answer for a found refund. `trade_no` / `out_trade_no`: the refunded order's, from the
/// order store.
pub fn answer(
    pid: i64,
    merchant: &Merchant,
    record: &RefundRecord,
    trade_no: Option<&str>,
    out_trade_no: Option<&str>,
    signing: Option<Signing<'_>>,
) -> EpayReply {
    let Some(signing) = signing else {
        return answer::error(-1, "系统异常[平台密钥未配置]");
    };
    let amount = money::stored(record.amount);
    let out_refund_no = super::unprefixed(&record.biz_refund_no, merchant);
    let fields = vec![
        ("code", Json::Int(0)),
        ("refund_no", refund_no::of(out_refund_no).into()),
        ("out_refund_no", out_refund_no.into()),
        ("trade_no", trade_no.into()),
        ("out_trade_no", out_trade_no.into()),
        ("uid", Json::Int(pid)),
        ("money", amount.as_str().into()),
        ("reducemoney", amount.as_str().into()),
        ("status", Json::Int(state::refund_status(record.status))),
        ("addtime", record.created_at_ms.map(time_text).into()),
        ("endtime", record.finished_at_ms.map(time_text).into()),
    ];
    answer::v2_signed(fields, signing, Flags::UnescapedUnicode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::epay::request::Endpoint;
    use crate::dialect::epay::sign::RsaSigner;
    use crate::dialect::epay::test_keys::SAMPLE_PRIVATE;
    use crate::domain::order::{Fen, RefundOrderStatus};

    fn request(params: &[(&str, &str)]) -> EpayRequest {
        EpayRequest::new(
            Endpoint::V2RefundQuery,
            params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn named_by_either_number() {
        let merchant = crate::config::test_merchant();
        let by_ours = read(
            &request(&[("refund_no", "DAXR1"), ("out_refund_no", "R-1")]),
            &merchant,
        )
        .unwrap();
        assert_eq!(
            (
                by_ours.refund_no.as_deref(),
                by_ours.mch_refund_no.as_deref()
            ),
            (None, Some("DAXR1"))
        );
        let by_theirs = read(&request(&[("out_refund_no", "R-000001")]), &merchant).unwrap();
        assert_eq!(by_theirs.mch_refund_no.as_deref(), Some("R-000001"));
        let none = read(&request(&[]), &merchant).unwrap_err();
        assert_eq!(
            crate::dialect::epay::failure::render(&none, Endpoint::V2RefundQuery, None).text(),
            r#"{"code":-1,"msg":"商户退款单号不能为空"}"#
        );
        assert_eq!(
            crate::dialect::epay::failure::words(
                &Failure::OrderNotFound { verified: true },
                Endpoint::V2RefundQuery
            ),
            "退款记录不存在"
        );
    }

    #[test]
    fn the_answer_in_the_gateways_order() {
        let key = RsaSigner::from_text(SAMPLE_PRIVATE).unwrap();
        let record = RefundRecord {
            refund_no: "DAXR1".into(),
            biz_refund_no: "R-000001".into(),
            order_no: Some("DAX1".into()),
            amount: Fen(50),
            status: RefundOrderStatus::Progress,
            out_refund_no: None,
            attach: None,
            error_code: None,
            error_msg: None,
            finished_at_ms: None,
            pay_amount: None,
            currency: None,
            created_at_ms: Some(1_719_806_400_000),
        };
        let reply = answer(
            1001,
            &crate::config::test_merchant(),
            &record,
            Some("2024070112000012345"),
            Some("O1"),
            Some(Signing {
                platform_key: &key,
                now: 1_700_000_000,
            }),
        );
        let text = reply.text();
        let expected = format!(
            r#"{{"code":0,"refund_no":"{}","out_refund_no":"R-000001","#,
            refund_no::of("R-000001")
        );
        assert!(text.starts_with(&expected), "{text}");
        assert!(
            text.contains(r#""out_refund_no":"R-000001","trade_no":"2024070112000012345","out_trade_no":"O1","uid":1001,"money":"0.50","reducemoney":"0.50","status":2,"addtime":"2024-07-01 12:00:00","endtime":null,"timestamp":"1700000000","sign_type":"RSA","sign":""#),
            "{text}"
        );
    }
}
