//! Close: V2 `/api/pay/close` (build 3095, §7.6). V1 has none.
//!
//! The order by `trade_no` or `out_trade_no` (`订单号不能为空`); closed at DaxPay (the gateway
//! asks its channel and leaves its own status at 0, which is also what an epay merchant reads
//! for a closed order here). Success `{"code":0,"msg":"订单关闭成功"}`, signed; an order that
//! cannot be closed `该订单状态不支持关闭！`, signed too (the handler returns it).

use super::super::answer::{self, EpayReply, Signing};
use super::super::php::{Flags, Json};
use super::super::request::EpayRequest;
use super::NamedOrder;
use crate::domain::ops::Close;
use crate::domain::order::OrderRef;
use crate::domain::Failure;

/// The close: by `out_trade_no` the order is named here; by `trade_no` the pipeline names it
/// from the order store.
pub fn read(request: &EpayRequest) -> Result<Close, Failure> {
    let order = match NamedOrder::read(request)? {
        NamedOrder::OutTradeNo(no) => OrderRef::new(None, Some(&no)),
        NamedOrder::TradeNo(_) => OrderRef::default(),
    };
    Ok(Close {
        order,
        cancel: false,
    })
}

pub fn answer(signing: Option<Signing<'_>>) -> EpayReply {
    let fields = vec![("code", Json::Int(0)), ("msg", "订单关闭成功".into())];
    match signing {
        Some(signing) => answer::v2_signed(fields, signing, Flags::UnescapedUnicode),
        None => answer::error(-1, "系统异常[平台密钥未配置]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::epay::request::Endpoint;
    use crate::dialect::epay::sign::RsaSigner;
    use crate::dialect::epay::test_keys::SAMPLE_PRIVATE;

    #[test]
    fn reads_and_answers() {
        let request = EpayRequest::new(
            Endpoint::V2Close,
            vec![("out_trade_no".into(), "O1".into())],
        );
        let close = read(&request).unwrap();
        assert_eq!(close.order.biz_order_no.as_deref(), Some("O1"));
        assert!(!close.cancel);
        let key = RsaSigner::from_text(SAMPLE_PRIVATE).unwrap();
        let reply = answer(Some(Signing {
            platform_key: &key,
            now: 1_700_000_000,
        }));
        assert!(reply.text().starts_with(
            r#"{"code":0,"msg":"订单关闭成功","timestamp":"1700000000","sign_type":"RSA","sign":""#
        ));
    }
}
