//! The vectors of lifecycle.md §10, derived by running copies of DaxPay 3.0.0's `PaySignUtil`
//! with hutool (not golden vectors from a live server): answers whose `data` is a typed result
//! are signed over `data` in its declaration order, nulls dropped, decimals stripped, strings
//! escaped the hutool way. paybridge verifies them from the JSON as received.

use std::borrow::Cow;

use paybridge::dialect::daxpay::answer::{read_answer, Answer};
use paybridge::dialect::daxpay::sign::{self, string_to_sign};
use paybridge::dialect::daxpay::{Scheme, SignType, Version};
use serde_json::Value;

const SECRET: &str = "SecretKey123";

/// The `data` of the §10 query answer as DaxPay 3.0.0 writes it (Jackson: declaration order,
/// nulls included, 4-decimal amounts).
const QUERY_DATA: &str = r#"{"bizOrderNo":"M20250901001","orderNo":"P2025090112000001000001","outOrderNo":"4200001","title":"test","description":null,"allocation":false,"autoAllocation":false,"channel":"wechat_pay","method":"jsapi","otherMethod":null,"limitPay":null,"amount":12.3000,"realAmount":12.3000,"refundableBalance":12.3000,"status":"success","refundStatus":"no_refund","allocStatus":null,"settleStatus":null,"payTime":"2025-09-01 12:00:05","closeTime":null,"expiredTime":"2025-09-01 14:00:00","attach":"a=1&b=2","errorMsg":null}"#;

const QUERY_STRING: &str = "CODE=0&DATA={BIZORDERNO:M20250901001,ORDERNO:P2025090112000001000001,OUTORDERNO:4200001,TITLE:TEST,ALLOCATION:FALSE,AUTOALLOCATION:FALSE,CHANNEL:WECHAT_PAY,METHOD:JSAPI,AMOUNT:12.3,REALAMOUNT:12.3,REFUNDABLEBALANCE:12.3,STATUS:SUCCESS,REFUNDSTATUS:NO_REFUND,PAYTIME:2025-09-01 12:00:05,EXPIREDTIME:2025-09-01 14:00:00,ATTACH:A=1&B=2}&MSG=SUCCESS&RESTIME=2025-09-01 12:00:06&TRACEID=T2&KEY=SECRETKEY123";

/// The §10 pay answer: `payBody` is a string holding JSON (WeChat jsapi).
const PAY_DATA: &str = r#"{"bizOrderNo":"M20250901001","orderNo":"P2025090112000001000001","status":"progress","payBody":"{\"appId\":\"wx123\",\"timeStamp\":\"1756699200\",\"package\":\"prepay_id=wx01\",\"paySign\":\"abc/+=\"}"}"#;

const PAY_STRING: &str = "CODE=0&DATA={BIZORDERNO:M20250901001,ORDERNO:P2025090112000001000001,STATUS:PROGRESS,PAYBODY:{APPID:WX123,TIMESTAMP:1756699200,PACKAGE:PREPAY_ID=WX01,PAYSIGN:ABC/+=}}&MSG=SUCCESS&RESTIME=2025-09-01 12:00:00&TRACEID=T1&KEY=SECRETKEY123";

struct Vector {
    data: &'static str,
    res_time: &'static str,
    trace_id: &'static str,
    string_to_sign: &'static str,
    md5: &'static str,
    hmac_sha256: &'static str,
}

const VECTORS: [Vector; 2] = [
    Vector {
        data: QUERY_DATA,
        res_time: "2025-09-01 12:00:06",
        trace_id: "T2",
        string_to_sign: QUERY_STRING,
        md5: "fe8db0853df8cd1545b4e417c0f7db01",
        hmac_sha256: "53a66791e0a08961b35691e5eb4efa8baa373c25620de2a2163fdc9bb98093a5",
    },
    Vector {
        data: PAY_DATA,
        res_time: "2025-09-01 12:00:00",
        trace_id: "T1",
        string_to_sign: PAY_STRING,
        md5: "c5f1c9b9f0170022ebe93019fd1dc0a1",
        hmac_sha256: "2e53572e76b5627c1420accf56ec47bbbdb3a6ae6fa0225e727736e340de5b1e",
    },
];

fn body(v: &Vector, sign: &str) -> Vec<u8> {
    format!(
        r#"{{"code":0,"msg":"success","data":{},"sign":"{sign}","resTime":"{}","traceId":"{}"}}"#,
        v.data, v.res_time, v.trace_id
    )
    .into_bytes()
}

#[test]
fn typed_results_sign_in_declaration_order_with_hutool_rendering() {
    for v in &VECTORS {
        let data: Value = serde_json::from_str(v.data).unwrap();
        let rendered = sign::render(&data).unwrap();
        let mut fields = vec![
            ("code", Cow::Borrowed("0")),
            ("msg", Cow::Borrowed("success")),
            ("data", rendered),
            ("resTime", Cow::Borrowed(v.res_time)),
            ("traceId", Cow::Borrowed(v.trace_id)),
        ];
        assert_eq!(
            string_to_sign(Version::V3_0, &mut fields, SECRET),
            v.string_to_sign
        );
        for (sign_type, expected) in [
            (SignType::Md5, v.md5),
            (SignType::HmacSha256, v.hmac_sha256),
        ] {
            let scheme = Scheme::new(Version::V3_0, sign_type);
            assert_eq!(scheme.sign(&mut fields, SECRET), expected, "{sign_type:?}");
        }
    }
}

#[test]
fn answers_carrying_the_vectors_are_believed_and_tampered_ones_are_not() {
    for v in &VECTORS {
        for (sign_type, sign) in [
            (SignType::Md5, v.md5),
            (SignType::HmacSha256, v.hmac_sha256),
        ] {
            let scheme = Scheme::new(Version::V3_0, sign_type);
            let answer = read_answer(&scheme, SECRET, &body(v, sign));
            assert!(
                matches!(&answer, Ok(Answer::Done { trace_id: Some(t), .. }) if t == v.trace_id),
                "{sign_type:?}: {answer:?}"
            );
            // The same data with its keys sorted is another string: not DaxPay's signature.
            let data: Value = serde_json::from_str(v.data).unwrap();
            let mut sorted: Vec<(&String, &Value)> = data.as_object().unwrap().iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            let resorted: serde_json::Map<String, Value> = sorted
                .into_iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let tampered = Vector {
                data: Box::leak(Value::Object(resorted).to_string().into_boxed_str()),
                ..*v
            };
            assert!(read_answer(&scheme, SECRET, &body(&tampered, sign)).is_err());
        }
    }
}

#[test]
fn escaping_rules_of_the_vectors() {
    // A newline inside a data string signs as the letter N, 100.00 as 100, U+00A0 as U00A0.
    let data: Value = serde_json::from_str(r#"{"s":"a\nb","n":100.00,"nb":"x\u00a0y"}"#).unwrap();
    let mut fields = vec![("data", sign::render(&data).unwrap())];
    assert_eq!(
        string_to_sign(Version::V3_0, &mut fields, "k"),
        "DATA={S:ANB,N:100,NB:XU00A0Y}&KEY=K"
    );
}
