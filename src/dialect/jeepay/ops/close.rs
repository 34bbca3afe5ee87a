//! `/api/pay/close` (and paybridge's `/api/pay/cancel`): `ClosePayOrderRQ`, answered `data = {}`.

use super::{named_order, JeepayOp};
use crate::config::Merchant;
use crate::dialect::jeepay::envelope::Data;
use crate::dialect::jeepay::params::Request;
use crate::domain::ops::Close;
use crate::domain::order::OrderRef;
use crate::domain::{Failure, OpKind};

impl JeepayOp for Close {
    const FIELDS: &'static [&'static str] = &["mchOrderNo", "payOrderId"];

    /// One order number is required (`isAllEmpty`: whitespace counts as given). A cancel is
    /// asked for by the path, or by the merchant's `close_uses_cancel`.
    fn read(
        request: &Request<'_, '_>,
        kind: OpKind,
        merchant: &Merchant,
    ) -> Result<Close, Failure> {
        Ok(Close {
            order: named_order(request, "mchOrderNo 和 payOrderId 不能同时为空")?,
            ..Close::sample(kind, merchant)
        })
    }

    fn sample(kind: OpKind, merchant: &Merchant) -> Close {
        Close {
            order: OrderRef::default(),
            cancel: kind == OpKind::Cancel || merchant.close_uses_cancel,
        }
    }

    fn data(&self, _closed: &crate::domain::ops::Closed, _caller: &Merchant) -> Data {
        Data::new()
    }
}
