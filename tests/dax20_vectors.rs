//! DaxPay 2.0.8's derived vectors (`vectors/derived/daxpay-2.0-lifecycle.json`, written from
//! lifecycle-2.0.md §11): requests signed as the server signs the deserialised `PayParam` /
//! `RefundParam` / query params (a map `extraParam` sorted case-insensitively at the top only),
//! answers and notices verified by the rule of §2.5, through the library's own readers. The
//! number of entries and signatures checked is asserted, so a truncated copy fails.

use std::borrow::Cow;
use std::path::PathBuf;

use paybridge::dialect::daxpay::answer::{read_answer, Answer};
use paybridge::dialect::daxpay::callback::read_callback;
use paybridge::dialect::daxpay::envelope::{Caller, Fields};
use paybridge::dialect::daxpay::render::{fields_of, render, sorted_map};
use paybridge::dialect::daxpay::sign::string_to_sign;
use paybridge::dialect::daxpay::{Scheme, SignType, Version};
use serde_json::{Map, Value};
use time::{OffsetDateTime, UtcOffset};

const ENTRIES: usize = 18;
const SIGNATURES: usize = 29;

fn load() -> (String, Vec<Map<String, Value>>) {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/derived/daxpay-2.0-lifecycle.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).expect("a JSON document");
    assert_eq!(doc["version"], "2.0");
    let secret = doc["secret"].as_str().unwrap().to_owned();
    let entries = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_object().unwrap().clone())
        .collect();
    (secret, entries)
}

fn scheme(sign_type: &str) -> Scheme {
    Scheme::new(Version::V2_0, sign_type.parse::<SignType>().unwrap())
}

/// A request as 2.0.8's server signs it: every non-null declared field but `sign`, a map
/// `extraParam` rendered as `PaySignUtil` renders a `Map` (the library's `sorted_map`).
fn request_fields(wire: &Map<String, Value>) -> Vec<(&str, Cow<'_, str>)> {
    wire.iter()
        .filter(|(k, v)| k.as_str() != "sign" && !v.is_null())
        .map(|(k, v)| match (k.as_str(), v) {
            ("extraParam", Value::Object(map)) => (k.as_str(), Cow::Owned(sorted_map(map))),
            _ => (k.as_str(), render(v).unwrap()),
        })
        .collect()
}

#[test]
fn daxpay_2_0_derived_vectors() {
    let (secret, entries) = load();
    let (mut checked, mut signatures) = (0, 0);
    for entry in &entries {
        let name = entry["name"].as_str().unwrap();
        let kind = entry["kind"].as_str().unwrap();
        let wire_text = entry["wire"].as_str().unwrap();
        let expected = entry["string_to_sign"].as_str().unwrap();
        let wire: Value = serde_json::from_str(wire_text).unwrap();
        let signs = entry["signs"].as_object().unwrap();
        // The object the signature is over: the envelope's `data` for a whole answer.
        let signed_object = match kind {
            "answer" => wire["data"].as_object().unwrap().clone(),
            _ => wire.as_object().unwrap().clone(),
        };
        let mut fields = match kind {
            "request" => request_fields(&signed_object),
            _ => fields_of(&signed_object),
        };
        assert_eq!(
            string_to_sign(Version::V2_0, &mut fields, &secret),
            expected,
            "{name}: string to sign"
        );
        for (sign_type, sign) in signs {
            let sign = sign.as_str().unwrap();
            assert_eq!(
                scheme(sign_type).sign(&mut fields, &secret),
                sign,
                "{name}: {sign_type}"
            );
            signatures += 1;
        }
        // Through the library's readers, as paybridge receives them.
        let hmac = scheme("hmac_sha256");
        match kind {
            "answer" => {
                let answer = read_answer(&hmac, &secret, wire_text.as_bytes()).unwrap();
                assert!(matches!(answer, Answer::Done { .. }), "{name}");
            }
            "answer-data" => {
                let body =
                    format!(r#"{{"msg":"success","code":0,"data":{wire_text},"traceId":"t"}}"#);
                let answer = read_answer(&hmac, &secret, body.as_bytes()).unwrap();
                let code = signed_object["code"].as_i64().unwrap();
                match answer {
                    Answer::Done { .. } => assert_eq!(code, 0, "{name}"),
                    // Shape B: code 1, its code given back from its message.
                    Answer::Refused {
                        code: c, signed, ..
                    } => {
                        assert_eq!(code, 1, "{name}");
                        assert!(signed && c == 20060, "{name}: {c}");
                    }
                }
                let tampered = body.replace("\"resTime\":17", "\"resTime\":27");
                assert!(
                    read_answer(&hmac, &secret, tampered.as_bytes()).is_err(),
                    "{name}"
                );
            }
            "notice" => {
                let callback = read_callback(&hmac, &secret, wire_text.as_bytes()).unwrap();
                assert_eq!(callback.data, signed_object, "{name}");
                let tampered = wire_text.replace("\"amount\":", "\"amount\":9");
                assert!(
                    read_callback(&hmac, &secret, tampered.as_bytes()).is_err(),
                    "{name}"
                );
            }
            _ => assert_eq!(kind, "request", "{name}: unknown kind"),
        }
        checked += 1;
    }
    assert_eq!(checked, ENTRIES, "entries checked");
    assert_eq!(signatures, SIGNATURES, "signatures checked");
}

/// paybridge's own 2.0 request envelope signs vector 1 as the server does: the same fields
/// through `Caller::encode` (common fields, a number `reqTime`, a JSON-object `extraParam`).
#[test]
fn the_envelope_signs_the_pay_request_vector() {
    let (secret, entries) = load();
    let entry = &entries[0];
    let wire: Value = serde_json::from_str(entry["wire"].as_str().unwrap()).unwrap();
    let extra = sorted_map(wire["extraParam"].as_object().unwrap());
    let fields = Fields::default()
        .text("bizOrderNo", Some("M20240701001"))
        .text("title", Some("测试商品"))
        .text("description", Some("desc"))
        .number("expiredTime", "1719822600")
        .text("channel", Some("wechat_pay"))
        .text("method", Some("jsapi"))
        .number("amount", "1")
        .json("extraParam", Some(&extra))
        .text("attach", Some("a=1&b=2"))
        .text("returnUrl", Some("https://pb.example/jeepay/return/t1"))
        .text("notifyUrl", Some("https://pb.example/daxpay/callback/r1"));
    for sign_type in ["md5", "hmac_sha256"] {
        let body = Caller {
            scheme: scheme(sign_type),
            secret: &secret,
            mch_no: None,
            app_id: None,
            client_ip: Some("127.0.0.1"),
            utc_offset: UtcOffset::from_hms(8, 0, 0).unwrap(),
            now: OffsetDateTime::from_unix_timestamp(1_719_815_400).unwrap(),
            nonce: "0123456789abcdef",
        }
        .encode(&fields);
        let sent: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(sent["reqTime"], 1_719_815_400);
        assert_eq!(sent["extraParam"], wire["extraParam"]);
        assert_eq!(sent["sign"], entry["signs"][sign_type], "{sign_type}");
    }
}
