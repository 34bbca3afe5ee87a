//! `/api/refund/query`: `QueryRefundOrderRQ`, answered with `QueryRefundOrderRS` (lifecycle.md §5).

use super::refund::{fen_value, refund_state};
use super::JeepayOp;
use crate::config::Merchant;
use crate::dialect::jeepay::envelope::Data;
use crate::dialect::jeepay::params::Request;
use crate::domain::ops::{RefundQuery, RefundRecord};
use crate::domain::order::OrderRef;
use crate::domain::{Failure, OpKind};

impl JeepayOp for RefundQuery {
    const FIELDS: &'static [&'static str] = &["mchRefundNo", "refundOrderId"];

    fn read(
        request: &Request<'_, '_>,
        _kind: OpKind,
        merchant: &Merchant,
    ) -> Result<RefundQuery, Failure> {
        let given = |name| Some(request.field(name)).filter(|v| !v.is_empty());
        let (refund_no, mch_refund_no) = (given("refundOrderId"), given("mchRefundNo"));
        if refund_no.is_none() && mch_refund_no.is_none() {
            return Err(Failure::Invalid {
                kind: "no_order_id",
                words: "mchRefundNo 和 refundOrderId不能同时为空",
            });
        }
        Ok(RefundQuery {
            refund_no: refund_no.map(str::to_owned),
            mch_refund_no: mch_refund_no.map(str::to_owned),
            biz_refund_no: mch_refund_no.map(|n| merchant.daxpay.number(n)),
            order: OrderRef::default(),
            kept: None,
        })
    }

    fn sample(_kind: OpKind, _merchant: &Merchant) -> RefundQuery {
        RefundQuery {
            refund_no: None,
            mch_refund_no: None,
            biz_refund_no: None,
            order: OrderRef::default(),
            kept: None,
        }
    }

    /// `extParam` is DaxPay's `attach` as read, or (2.0.8, whose refund query has none) the
    /// store's, filled in by the refund query's record (`proxy::records::refund_query`) and the
    /// notification (`notify::jobs`).
    fn data(&self, refund: &RefundRecord, caller: &Merchant) -> Data {
        Data::new()
            .text("refundOrderId", Some(&refund.refund_no))
            .text("payOrderId", refund.order_no.as_deref())
            .text("mchNo", Some(&caller.mch_no))
            .text("appId", Some(&caller.app_id))
            .text("mchRefundNo", Some(&refund.biz_refund_no))
            .int("payAmount", refund.pay_amount.and_then(fen_value))
            .int("refundAmount", fen_value(refund.amount))
            .text("currency", refund.currency.as_deref())
            .int("state", Some(refund_state(refund.status)))
            .text("channelOrderNo", refund.out_refund_no.as_deref())
            .text("errCode", refund.error_code.as_deref())
            .text("errMsg", refund.error_msg.as_deref())
            .text("extParam", refund.attach.as_deref())
            .int("successTime", refund.finished_at_ms)
            .int("createdAt", refund.created_at_ms)
    }
}
