//! Arbitrary bytes through the pay query's two readers: the Jeepay request (`Params::read` with
//! the query's declared fields, `validate`, `verify`) and DaxPay's `PayOrderResult` (`pay_order`,
//! for every version), then the Jeepay answer rendered from it.
//!
//! Byte 0 chooses the mode (bit 0: the bytes are a Jeepay JSON body, else a form body; bits 1-2:
//! the DaxPay version). Oracles besides "never panics": an amount read from DaxPay is exact (its
//! fen written back as yuan parse to the same fen), a rendered answer is JSON whose `data` carries
//! the order's numbers, and Jeepay's `state` is one of its seven.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paybridge::dialect::daxpay::ops::pay_query::pay_order;
use paybridge::dialect::daxpay::ops::Upstream;
use paybridge::dialect::daxpay::Version;
use paybridge::dialect::jeepay::ops::pay_query::state;
use paybridge::dialect::jeepay::{Data, Params, Reply};
use paybridge::domain::order::Fen;

const DECLARED: &[&str] = &["mchOrderNo", "payOrderId"];

fuzz_target!(|data: &[u8]| {
    let (mode, body) = match data.split_first() {
        Some((m, r)) => (*m, r),
        None => (0, data),
    };
    if let Some(request) = Params::read(DECLARED, mode & 1 == 1, None, body)
        .ok()
        .as_ref()
        .and_then(|p| p.validate().ok())
    {
        let _ = request.verify("secret");
        let _ = (request.field("payOrderId"), request.field("mchOrderNo"));
    }
    let version = Version::ALL[usize::from((mode >> 1) & 3) % Version::ALL.len()];
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let upstream = Upstream {
        name: "fuzz",
        version,
        utc_offset: time::UtcOffset::UTC,
    };
    if let Ok(order) = pay_order(&value, &upstream) {
        assert_eq!(Fen::from_yuan(&order.amount.yuan()), Ok(order.amount));
        let jeepay_state = state(order.status, order.refund_status);
        assert!((0..=6).contains(&jeepay_state));
        let data = Data::new()
            .text("payOrderId", Some(&order.order_no))
            .text("mchOrderNo", Some(&order.biz_order_no))
            .int("amount", i64::try_from(order.amount.0).ok())
            .int("state", Some(jeepay_state));
        let json = Reply::success(0, "SUCCESS", data, "secret").to_json();
        let answer: serde_json::Value =
            serde_json::from_slice(&json).expect("a rendered answer is JSON");
        assert_eq!(answer["data"]["payOrderId"].as_str(), Some(order.order_no.as_str()));
        assert_eq!(answer["data"]["state"].as_i64(), Some(jeepay_state));
    }
});
