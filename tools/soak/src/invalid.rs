//! Requests paybridge must refuse, each with Jeepay's own words.

use bytes::Bytes;
use http::Method;

use crate::cast::{Merchant, DEAD, STALE_PREFIX, T1};
use crate::driver::{without, Shared};
use crate::model::{Alt, Expect};
use crate::requests::{
    close_fields, error_body, jeepay_sign, md5_upper, now, unique_micros, Encoding, Req, Rng,
};

/// One invalid request to a translated merchant, and Jeepay's answer to it.
pub(crate) fn invalid(rng: &mut Rng, shared: &Shared) -> (&'static str, Req, Expect) {
    let id = format!("IX{}", shared.serial());
    let fresh = || close_fields(T1, unique_micros().to_string(), Some(&id), None);
    let json =
        |fields: &[(&'static str, String)]| Req::build("/api/pay/close", Encoding::Json, fields);
    let refusal = |label: &'static str, msg: &str| Expect::one(label, 200, error_body(9999, msg));
    let missing = [
        ("version", "版本号不能为空"),
        ("signType", "签名类型不能为空"),
        ("sign", "签名值不能为空"),
        ("reqTime", "时间戳不能为空"),
        ("mchNo", "商户号不能为空"),
        ("appId", "商户应用ID不能为空"),
    ];
    match rng.below(15) {
        0 | 1 => {
            let mut fields = fresh();
            if let Some((_, sign)) = fields.iter_mut().find(|(k, _)| *k == "sign") {
                // A signature made with another key.
                *sign = md5_upper(&format!("{sign}wrong-key"));
            }
            (
                "invalid: bad signature",
                json(&fields),
                refusal("验签失败", "验签失败"),
            )
        }
        2 | 3 => {
            let (field, msg) = missing[rng.below(missing.len())];
            (
                "invalid: missing field",
                json(&without(&fresh(), field)),
                refusal("field required", msg),
            )
        }
        4 => {
            let fields = fresh();
            let body = json(&fields).body;
            let cut = body.len() / 2;
            (
                "invalid: malformed JSON",
                Req::raw(
                    Method::POST,
                    "/api/pay/close",
                    Some("application/json"),
                    body.slice(..cut),
                ),
                Expect::one("code 11", 200, error_body(11, "参数有误[转换异常]")),
            )
        }
        5 => {
            let body = if rng.chance(500) {
                "[1,2,3]"
            } else {
                "\"close\""
            };
            (
                "invalid: JSON not an object",
                Req::raw(
                    Method::POST,
                    "/api/pay/close",
                    Some("application/json"),
                    body,
                ),
                Expect::one("code 11", 200, error_body(11, "参数有误[转换异常]")),
            )
        }
        6 => {
            let nobody = Merchant {
                mch: "M_SOAK_NOBODY",
                app: "app-soak-nobody",
                secret: "x",
            };
            let fields = close_fields(nobody, unique_micros().to_string(), Some(&id), None);
            (
                "invalid: unknown merchant",
                json(&fields),
                refusal("unknown merchant", "商户或商户应用不存在"),
            )
        }
        7 => {
            let mixed = Merchant {
                app: DEAD.app,
                ..T1
            };
            let fields = close_fields(mixed, unique_micros().to_string(), Some(&id), None);
            (
                "invalid: app of another merchant",
                json(&fields),
                refusal("app mismatch", "参数appId与商户号不匹配"),
            )
        }
        8 => {
            let fields = close_fields(T1, unique_micros().to_string(), None, None);
            (
                "invalid: no order named",
                json(&fields),
                refusal("no order", "mchOrderNo 和 payOrderId 不能同时为空"),
            )
        }
        9 => {
            let mut fields = without(&fresh(), "sign");
            if let Some((_, t)) = fields.iter_mut().find(|(k, _)| *k == "signType") {
                *t = "SHA256".to_owned();
            }
            let sign = jeepay_sign(&fields, T1.secret);
            fields.push(("sign", sign));
            (
                "invalid: sign type",
                json(&fields),
                refusal("sign type", "不支持的签名类型[SHA256]，仅支持MD5"),
            )
        }
        10 | 11 => {
            let stale = now().as_millis() - 400_000;
            let fields = close_fields(T1, stale.to_string(), Some(&id), None);
            (
                "invalid: stale reqTime",
                json(&fields),
                Expect {
                    alts: vec![Alt {
                        label: "outside the window",
                        status: 200,
                        body: format!(r#"{{"code":9999,"msg":"{STALE_PREFIX}"#).into_bytes(),
                        prefix: true,
                    }],
                    replay: false,
                },
            )
        }
        12 => {
            let fields = close_fields(T1, "20190723141000".to_owned(), Some(&id), None);
            (
                "invalid: reqTime format",
                json(&fields),
                refusal(
                    "unreadable",
                    "请求时间格式无法识别[20190723141000]，应为10、13或16位时间戳",
                ),
            )
        }
        13 if rng.chance(300) => {
            let padding = "P".repeat(70_000);
            let fields = close_fields(T1, unique_micros().to_string(), Some(&padding), None);
            (
                "invalid: body over 64 KiB",
                json(&fields),
                Expect::one(
                    "code 11",
                    200,
                    error_body(11, "参数有误[请求体超过65536字节]"),
                ),
            )
        }
        _ => {
            // A form body whose parameter is repeated cannot be bound.
            let fields = fresh();
            let mut req = Req::build("/api/pay/close", Encoding::Form, &fields);
            req.body = Bytes::from(format!(
                "{}&payOrderId=other",
                String::from_utf8_lossy(&req.body)
            ));
            (
                "invalid: repeated form parameter",
                req,
                Expect::one("code 11", 200, error_body(11, "参数有误[转换异常]")),
            )
        }
    }
}
