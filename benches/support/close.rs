//! The dialect work of one close, shared by the `dialect` and `alloc` benches.
#![allow(dead_code)]

use std::borrow::Cow;
use std::hint::black_box;

use paybridge::dialect::daxpay::answer::read_answer;
use paybridge::dialect::daxpay::envelope::{fresh_nonce, wall_clock, Caller};
use paybridge::dialect::daxpay::ops::DaxOp;
use paybridge::dialect::daxpay::{Answer, Scheme, Version};
use paybridge::dialect::jeepay::failure;
use paybridge::dialect::jeepay::sign as jeepay_sign;
use paybridge::dialect::jeepay::{Params, Reply};
use paybridge::domain::ops::Close;
use paybridge::domain::order::OrderRef;
use paybridge::domain::Failure;
use time::{OffsetDateTime, UtcOffset};

pub const JEEPAY_MCH: &str = "M1623984572";
pub const JEEPAY_APP: &str = "60cc09bce4b0f1c0b83761c9";
pub const JEEPAY_SECRET: &str = "EWEFD123RGSRETYDFNGFGFGSHDFGH";
pub const DAX_MCH: &str = "M1723635576766";
pub const DAX_APP: &str = "M8207639754663343";
pub const DAX_SECRET: &str = "dax_secret_Key123";
pub const ORDER: &str = "DAX1001";
pub const REQ_TIME: &str = "1763782200123";

/// The merchant's signed close request, as a Jeepay SDK sends it.
pub fn jeepay_request() -> Vec<u8> {
    let mut fields = [
        ("mchNo", JEEPAY_MCH),
        ("appId", JEEPAY_APP),
        ("version", "1.0"),
        ("signType", "MD5"),
        ("reqTime", REQ_TIME),
        ("payOrderId", ORDER),
    ];
    let sign = jeepay_sign::sign(&mut fields, JEEPAY_SECRET);
    format!(
        r#"{{"mchNo":"{JEEPAY_MCH}","appId":"{JEEPAY_APP}","version":"1.0","signType":"MD5","reqTime":"{REQ_TIME}","payOrderId":"{ORDER}","sign":"{sign}"}}"#
    )
    .into_bytes()
}

pub fn offset() -> UtcOffset {
    UtcOffset::from_hms(8, 0, 0).expect("a valid offset")
}

/// DaxPay's signed close success, as the sandbox (and DaxPay) writes it.
pub fn success_answer(scheme: &Scheme) -> Vec<u8> {
    let now = OffsetDateTime::now_utc();
    let trace_id = "Xk2PqA81bZ0c";
    match scheme.version {
        Version::V2_0 => {
            let res_time = now.unix_timestamp().to_string();
            let sign = scheme.sign(
                &mut [
                    ("code", Cow::Borrowed("0")),
                    ("msg", Cow::Borrowed("success")),
                    ("resTime", Cow::Borrowed(&res_time)),
                ],
                DAX_SECRET,
            );
            format!(
                r#"{{"msg":"success","code":0,"data":{{"code":0,"msg":"success","resTime":{res_time},"sign":"{sign}"}},"traceId":"{trace_id}"}}"#
            )
        }
        _ => {
            let res_time = wall_clock(now, offset());
            let sign = scheme.sign(
                &mut [
                    ("code", Cow::Borrowed("0")),
                    ("msg", Cow::Borrowed("success")),
                    ("resTime", Cow::Borrowed(&res_time)),
                    ("traceId", Cow::Borrowed(trace_id)),
                ],
                DAX_SECRET,
            );
            format!(
                r#"{{"code":0,"msg":"success","data":null,"sign":"{sign}","resTime":"{res_time}","traceId":"{trace_id}"}}"#
            )
        }
    }
    .into_bytes()
}

/// DaxPay's "no such order" (20041): signed over code and msg in 3.x, unsigned in 2.0.
pub fn not_found_answer(scheme: &Scheme) -> Vec<u8> {
    let msg = "支付订单不存在";
    match scheme.version {
        Version::V2_0 => {
            format!(r#"{{"msg":"{msg}","code":20041,"data":null,"traceId":"Xk2PqA81bZ0c"}}"#)
        }
        _ => {
            let sign = scheme.sign(
                &mut [("code", Cow::Borrowed("20041")), ("msg", Cow::Borrowed(msg))],
                DAX_SECRET,
            );
            format!(
                r#"{{"code":20041,"msg":"{msg}","data":null,"sign":"{sign}","resTime":null,"traceId":null}}"#
            )
        }
    }
    .into_bytes()
}

/// Everything paybridge's dialects do for one close, request bytes in, answer bytes out.
/// (Routing, the replay store and HTTP are not dialect work and are not here.)
/// The declared fields of Jeepay's close request.
pub const CLOSE_FIELDS: &[&str] = &["mchOrderNo", "payOrderId"];

pub fn close_once(scheme: &Scheme, request: &[u8], answer: &[u8]) -> Vec<u8> {
    let params = Params::read(CLOSE_FIELDS, true, None, request).expect("a JSON object");
    let req = params.validate().expect("required fields present");
    assert!(req.sign_type_supported());
    assert!(req.verify(JEEPAY_SECRET), "merchant signature verifies");
    let close = Close {
        order: OrderRef::new(Some(req.field("payOrderId")), Some(req.field("mchOrderNo"))),
        cancel: false,
    };
    assert!(!close.order.is_empty(), "an order is named");
    let nonce = fresh_nonce();
    let identity_3 = scheme.version == Version::V3_0;
    let caller = Caller {
        scheme: *scheme,
        secret: DAX_SECRET,
        mch_no: identity_3.then_some(DAX_MCH),
        app_id: (scheme.version != Version::V2_0).then_some(DAX_APP),
        client_ip: None,
        utc_offset: offset(),
        now: OffsetDateTime::now_utc(),
        nonce: &nonce,
    };
    let (call, fields) = close.request(scheme.version);
    black_box((call.path(), caller.encode(&fields)));
    let reply = match read_answer(scheme, DAX_SECRET, answer).expect("a believable answer") {
        Answer::Done { .. } => Reply::empty_success(0, "SUCCESS", JEEPAY_SECRET),
        Answer::Refused { code: 20041, .. } => {
            failure::reply(&Failure::OrderNotFound { verified: true })
        }
        other => panic!("unexpected answer {other:?}"),
    };
    reply.to_json()
}
