//! `POST /unipay/query/payOrder`.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::*;
use crate::daxpay::result::{hutool_escape, pay_order_result, signed_json, wire_json, Member};
use crate::order::{Amount, RefundStatus};
use crate::sign::daxpay::strip_decimal;

/// The members of an object in the order they came on the wire.
pub(super) struct Ordered(pub(super) Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Ordered, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    members.push(entry);
                }
                Ok(Ordered(members))
            }
        }
        d.deserialize_map(Members)
    }
}

#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(borrow)]
    data: &'a RawValue,
}

/// The `data` members of an answer body, in wire order.
pub(super) fn data_members(body: &[u8]) -> Vec<(String, Value)> {
    let envelope: RawEnvelope<'_> = serde_json::from_slice(body).expect("an envelope");
    let ordered: Ordered = serde_json::from_str(envelope.data.get()).expect("an object");
    ordered.0
}

/// `data` as a verifier rebuilds it from the received JSON: wire order, nulls dropped,
/// decimals stripped, strings escaped the hutool way.
pub(super) fn signed_data_of(members: &[(String, Value)]) -> String {
    let rendered: Vec<String> = members
        .iter()
        .filter_map(|(k, v)| {
            let v = match v {
                Value::Null => return None,
                Value::String(s) => format!("\"{}\"", hutool_escape(s)),
                Value::Number(n) => strip_decimal(&n.to_string()),
                other => other.to_string(),
            };
            Some(format!("\"{k}\":{v}"))
        })
        .collect();
    format!("{{{}}}", rendered.join(","))
}

/// Posts `body` and returns the answer's bytes.
async fn post_bytes(sandbox: &Sandbox, path: &str, body: Vec<u8>) -> Vec<u8> {
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    let response = sandbox.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    bytes.to_vec()
}

/// Checks a 3.x query answer's signature the way a client must: `data` in received order.
fn verifies_ordered(scheme: Scheme, body: &[u8]) -> bool {
    let answer: Value = serde_json::from_slice(body).expect("JSON");
    let map = answer.as_object().expect("object");
    let text = |k: &str| Cow::Owned(map[k].as_str().expect("text").to_owned());
    let data = signed_data_of(&data_members(body));
    let fields = [
        ("code", Cow::Owned(map["code"].to_string())),
        ("msg", text("msg")),
        ("data", Cow::Owned(data)),
        ("resTime", text("resTime")),
        ("traceId", text("traceId")),
    ];
    scheme.verify(&fields, SECRET, map["sign"].as_str().expect("sign"))
}

const QUERY: &str = "/unipay/query/payOrder";

/// A 3.0 query for `orderNo`.
fn query_30(order_no: &str) -> Map<String, Value> {
    obj(json!({
        "mchNo": "M1",
        "appId": "A1",
        "nonceStr": "0cc175b9c0f1b6a8",
        "reqTime": wall_clock(0),
        "orderNo": order_no,
    }))
}

#[tokio::test]
async fn v30_query_reports_the_order_in_a_signed_envelope() {
    let sb = sandbox(
        Version::V3_0,
        vec![order("O1", "B1", OrderStatus::Progress)],
    );
    let answer = post(&sb, QUERY, signed(scheme(Version::V3_0), query_30("O1"))).await;
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(answer["msg"], "success");
    let data = &answer["data"];
    assert_eq!(data["orderNo"], "O1");
    assert_eq!(data["bizOrderNo"], "B1");
    assert_eq!(data["status"], "progress");
    assert_eq!(data["channel"], "ali_pay");
    assert_eq!(data["method"], "barcode");
    assert!(data.get("errorMsg").is_some_and(Value::is_null), "{answer}");
    let body = post_bytes(&sb, QUERY, signed(scheme(Version::V3_0), query_30("O1"))).await;
    assert!(verifies_ordered(scheme(Version::V3_0), &body));

    // The same signature, with `data` written out by hand: declaration order, nulls dropped,
    // decimals stripped, compact.
    let answer: Value = serde_json::from_slice(&body).expect("JSON");
    let map = answer.as_object().expect("object");
    let text = |k: &str| Cow::Owned(map[k].as_str().expect("text").to_owned());
    let fields = vec![
        ("code", Cow::Borrowed("0")),
        ("msg", Cow::Borrowed("success")),
        (
            "data",
            Cow::Borrowed(concat!(
                r#"{"bizOrderNo":"B1","orderNo":"O1","allocation":false,"autoAllocation":false,"#,
                r#""channel":"ali_pay","method":"barcode","amount":0.01,"refundableBalance":0.01,"#,
                r#""status":"progress","refundStatus":"no_refund"}"#
            )),
        ),
        ("resTime", text("resTime")),
        ("traceId", text("traceId")),
    ];
    assert!(scheme(Version::V3_0).verify(&fields, SECRET, map["sign"].as_str().expect("sign")));
    // A query changes nothing.
    assert_eq!(sb.order_status("O1"), Some(OrderStatus::Progress));
}

#[tokio::test]
async fn query_finds_by_biz_order_no_and_sees_a_finished_close() {
    let sb = sandbox(
        Version::V3_0Beta,
        vec![order("O1", "B1", OrderStatus::Progress)],
    );
    let strip = |mut body: Map<String, Value>| {
        body.remove("mchNo");
        body
    };
    let answer = post(
        &sb,
        "/unipay/close",
        signed(scheme(Version::V3_0Beta), strip(close_30("O1", false))),
    )
    .await;
    assert_eq!(answer["code"], 0, "{answer}");
    // 3.0-beta's query model spells bizOrderNo `bizOrderNoeNo`.
    let mut body = strip(query_30("O1"));
    body.remove("orderNo");
    body.insert("bizOrderNoeNo".to_owned(), json!("B1"));
    let bytes = post_bytes(&sb, QUERY, signed(scheme(Version::V3_0Beta), body)).await;
    let answer: Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(answer["data"]["orderNo"], "O1");
    assert_eq!(answer["data"]["status"], "close");
    assert!(
        verifies_ordered(scheme(Version::V3_0Beta), &bytes),
        "{answer}"
    );
}

#[tokio::test]
async fn query_of_an_unknown_order_is_a_20041() {
    let mut other_app = order("O2", "B2", OrderStatus::Progress);
    other_app.app_id = Some("A2".to_owned());
    let mut cfg = config(Version::V3_0, vec![other_app]);
    cfg.apps.push(SandboxApp {
        mch_no: Some("M1".to_owned()),
        app_id: Some("A2".to_owned()),
        sign_type: SignType::Md5,
        secret: Secret::new("another"),
        callback_sign_order: CallbackSignOrder::Sorted,
    });
    let sb = Sandbox::new(&cfg);
    for order_no in ["NOPE", "O2"] {
        let answer = post(
            &sb,
            QUERY,
            signed(scheme(Version::V3_0), query_30(order_no)),
        )
        .await;
        assert_signed_refusal(Version::V3_0, &answer, 20041, "支付订单不存在");
    }
}

#[tokio::test]
async fn query_runs_the_pre_handler_pipeline() {
    let sb = sandbox(
        Version::V3_0,
        vec![order("O1", "B1", OrderStatus::Progress)],
    );
    let mut body = query_30("");
    let answer = post(&sb, QUERY, signed(scheme(Version::V3_0), body.clone())).await;
    assert_unsigned(&answer, 10506, "验证参数错误\n支付订单号不能都为空");
    body.remove("orderNo");
    let answer = post(&sb, QUERY, signed(scheme(Version::V3_0), body)).await;
    assert_unsigned(&answer, 10506, "验证参数错误\n支付订单号不能都为空");

    // The query model has no useCancel: a client that signs one fails, one that sends it
    // unsigned passes (the field is dropped).
    let mut body = query_30("O1");
    body.insert("useCancel".to_owned(), json!(false));
    let answer = post(&sb, QUERY, signed(scheme(Version::V3_0), body)).await;
    assert_unsigned(&answer, 20052, "签名校验失败");
    let mut body = query_30("O1");
    let sign = scheme(Version::V3_0).sign(&fields_of(&body), SECRET);
    body.insert("useCancel".to_owned(), json!(false));
    body.insert("sign".to_owned(), json!(sign));
    let answer = post(&sb, QUERY, serde_json::to_vec(&body).expect("json")).await;
    assert_eq!(answer["code"], 0, "{answer}");

    let mut body = query_30("O1");
    body.insert("mchNo".to_owned(), json!("M2"));
    let answer = post(&sb, QUERY, signed(scheme(Version::V3_0), body)).await;
    assert_unsigned(&answer, 20023, "未找到指定的应用配置");
    let mut body = query_30("O1");
    body.insert("reqTime".to_owned(), json!(wall_clock(-301)));
    let answer = post(&sb, QUERY, signed(scheme(Version::V3_0), body)).await;
    assert_unsigned(&answer, 10506, "验证参数错误\n请求已过期，请重新发送！");
    let answer = post(&sb, QUERY, b"[]".to_vec()).await;
    assert_unsigned(&answer, 10505, "参数解析错误");

    let (status, _) = send(&sb, Method::GET, QUERY, vec![]).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn query_during_a_slow_close_reports_the_status_before_it() {
    let mut slow = order("O1", "B1", OrderStatus::Progress);
    slow.close_delay = Duration::from_millis(200);
    let sb = sandbox(Version::V3_0, vec![slow]);
    let closing = post(
        &sb,
        "/unipay/close",
        signed(scheme(Version::V3_0), close_30("O1", false)),
    );
    let during = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        post(&sb, QUERY, signed(scheme(Version::V3_0), query_30("O1"))).await
    };
    let (closed, during) = tokio::join!(closing, during);
    assert_eq!(closed["code"], 0, "{closed}");
    assert_eq!(during["code"], 0, "{during}");
    assert_eq!(during["data"]["status"], "progress");
    let after = post(&sb, QUERY, signed(scheme(Version::V3_0), query_30("O1"))).await;
    assert_eq!(after["data"]["status"], "close");
}

#[tokio::test]
async fn set_order_status_moves_an_order() {
    let sb = sandbox(
        Version::V3_0,
        vec![order("O1", "B1", OrderStatus::Progress)],
    );
    assert!(sb.set_order_status("O1", OrderStatus::Success));
    assert!(!sb.set_order_status("NOPE", OrderStatus::Success));
    assert_eq!(sb.order_status("O1"), Some(OrderStatus::Success));
    let answer = post(&sb, QUERY, signed(scheme(Version::V3_0), query_30("O1"))).await;
    assert_eq!(answer["data"]["status"], "success");
    let answer = post(
        &sb,
        "/unipay/close",
        signed(scheme(Version::V3_0), close_30("O1", false)),
    )
    .await;
    assert_signed_refusal(
        Version::V3_0,
        &answer,
        20044,
        "订单不是支付中, 无法进行关闭订单",
    );
}

const V30_ORDER: [&str; 23] = [
    "bizOrderNo",
    "orderNo",
    "outOrderNo",
    "title",
    "description",
    "allocation",
    "autoAllocation",
    "channel",
    "method",
    "otherMethod",
    "limitPay",
    "amount",
    "realAmount",
    "refundableBalance",
    "status",
    "refundStatus",
    "allocStatus",
    "settleStatus",
    "payTime",
    "closeTime",
    "expiredTime",
    "attach",
    "errorMsg",
];

/// A paid order with every optional field set.
fn paid_order() -> SandboxOrder {
    let mut o = order("O1", "B1", OrderStatus::Success);
    o.amount = "12.30".parse().expect("amount");
    o.title = Some("Test".to_owned());
    o.description = Some("line\nbreak".to_owned());
    o.out_order_no = Some("4200001".to_owned());
    o.attach = Some("a=1&b=2".to_owned());
    o.channel = "wechat_pay".to_owned();
    o.method = "jsapi".to_owned();
    o.pay_time = model::parse_wall_clock("2025-09-01 12:00:05");
    o
}

#[tokio::test]
async fn v30_query_answers_the_full_result_in_declaration_order() {
    let sb = sandbox(Version::V3_0, vec![paid_order()]);
    let body = post_bytes(&sb, QUERY, signed(scheme(Version::V3_0), query_30("O1"))).await;
    let members = data_members(&body);
    let keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, V30_ORDER);
    let text = String::from_utf8(body.clone()).expect("UTF-8");
    for piece in [
        r#""amount":12.3000"#,
        r#""realAmount":12.3000"#,
        r#""refundableBalance":12.3000"#,
        r#""otherMethod":null"#,
        r#""closeTime":null"#,
        r#""payTime":"2025-09-01 12:00:05""#,
        r#""refundStatus":"no_refund""#,
        r#""description":"line\nbreak""#,
    ] {
        assert!(text.contains(piece), "{piece} in {text}");
    }
    assert!(verifies_ordered(scheme(Version::V3_0), &body), "{text}");
    // Sorted keys (the generic JSON rendering) do not verify.
    let answer: Value = serde_json::from_slice(&body).expect("JSON");
    assert!(!verifies(scheme(Version::V3_0), &answer));

    // Refunded: nothing left to refund; a close sets closeTime.
    assert!(sb.set_refund_status("O1", RefundStatus::Refunded));
    let body = post_bytes(&sb, QUERY, signed(scheme(Version::V3_0), query_30("O1"))).await;
    let text = String::from_utf8(body.clone()).expect("UTF-8");
    assert!(text.contains(r#""refundableBalance":0.0000"#), "{text}");
    assert!(text.contains(r#""refundStatus":"refunded""#), "{text}");
    assert!(verifies_ordered(scheme(Version::V3_0), &body), "{text}");

    assert!(sb.update_order("O1", |o| {
        o.status = OrderStatus::Progress;
        o.refund_status = RefundStatus::NoRefund;
        o.order_no = "ignored".to_owned();
    }));
    let closed = post(
        &sb,
        "/unipay/close",
        signed(scheme(Version::V3_0), close_30("O1", false)),
    )
    .await;
    assert_eq!(closed["code"], 0, "{closed}");
    let order = sb.order("O1").expect("still O1");
    assert_eq!(order.status, OrderStatus::Close);
    assert!(order.close_time.is_some());
    let answer = post(&sb, QUERY, signed(scheme(Version::V3_0), query_30("O1"))).await;
    assert!(answer["data"]["closeTime"].is_string(), "{answer}");
    assert!(answer["data"]["realAmount"].is_null(), "{answer}");
}

#[tokio::test]
async fn beta_and_v20_queries_read_biz_order_no_under_its_typo() {
    let beta = sandbox(
        Version::V3_0Beta,
        vec![order("O1", "B1", OrderStatus::Progress)],
    );
    let mut body = query_30("O1");
    body.remove("mchNo");
    body.remove("orderNo");
    let mut typo = body.clone();
    typo.insert("bizOrderNoeNo".to_owned(), json!("B1"));
    let answer = post(&beta, QUERY, signed(scheme(Version::V3_0Beta), typo)).await;
    assert_eq!(answer["data"]["orderNo"], "O1", "{answer}");
    // The correct spelling is not in the model: dropped, so no order number at all.
    body.insert("bizOrderNo".to_owned(), json!("B1"));
    let answer = post(&beta, QUERY, signed(scheme(Version::V3_0Beta), body)).await;
    assert_unsigned(&answer, 10506, "验证参数错误\n支付订单号不能都为空");
    // orderNo is at most 32 characters there.
    let mut long = query_30(&"X".repeat(33));
    long.remove("mchNo");
    let answer = post(&beta, QUERY, signed(scheme(Version::V3_0Beta), long)).await;
    assert_unsigned(&answer, 10506, "验证参数错误\n订单号长度不能超过32");
    // 2.0: `v20::tests`.
}

/// lifecycle.md §10, "Query answer": the `PayOrderResult` signed in declaration order.
#[test]
fn the_query_answer_vector() {
    let mut o = paid_order();
    o.title = Some("test".to_owned());
    o.description = None;
    o.pay_time = model::parse_wall_clock("2025-09-01 12:00:05");
    o.expired_time = model::parse_wall_clock("2025-09-01 14:00:00");
    o.order_no = "P2025090112000001000001".to_owned();
    o.biz_order_no = "M20250901001".to_owned();
    let result = pay_order_result(&o, Version::V3_0);
    let fields = [
        ("code", Cow::Borrowed("0")),
        ("msg", Cow::Borrowed("success")),
        ("data", Cow::Owned(signed_json(&result))),
        ("resTime", Cow::Borrowed("2025-09-01 12:00:06")),
        ("traceId", Cow::Borrowed("T2")),
    ];
    let md5 = Scheme::new(Version::V3_0, SignType::Md5);
    assert_eq!(
        md5.string_to_sign(&fields, "SecretKey123"),
        "CODE=0&DATA={BIZORDERNO:M20250901001,ORDERNO:P2025090112000001000001,OUTORDERNO:4200001,TITLE:TEST,ALLOCATION:FALSE,AUTOALLOCATION:FALSE,CHANNEL:WECHAT_PAY,METHOD:JSAPI,AMOUNT:12.3,REALAMOUNT:12.3,REFUNDABLEBALANCE:12.3,STATUS:SUCCESS,REFUNDSTATUS:NO_REFUND,PAYTIME:2025-09-01 12:00:05,EXPIREDTIME:2025-09-01 14:00:00,ATTACH:A=1&B=2}&MSG=SUCCESS&RESTIME=2025-09-01 12:00:06&TRACEID=T2&KEY=SECRETKEY123"
    );
    assert_eq!(
        md5.sign(&fields, "SecretKey123"),
        "fe8db0853df8cd1545b4e417c0f7db01"
    );
    let hmac = Scheme::new(Version::V3_0, SignType::HmacSha256);
    assert_eq!(
        hmac.sign(&fields, "SecretKey123"),
        "53a66791e0a08961b35691e5eb4efa8baa373c25620de2a2163fdc9bb98093a5"
    );
    // On the wire: the stored scale and the nulls.
    let wire = wire_json(&result);
    assert!(
        wire.contains(r#""amount":12.3000,"realAmount":12.3000"#),
        "{wire}"
    );
    assert!(wire.contains(r#""description":null"#), "{wire}");
}

/// lifecycle.md §10, "Pay answer" (`PayResult`, whose `payBody` is JSON text) and the
/// escaping examples.
#[test]
fn the_pay_answer_vector_and_hutool_escaping() {
    let result = vec![
        ("bizOrderNo", Member::Text("M20250901001".to_owned())),
        ("orderNo", Member::Text("P2025090112000001000001".to_owned())),
        ("status", Member::Text("progress".to_owned())),
        (
            "payBody",
            Member::Text(
                r#"{"appId":"wx123","timeStamp":"1756699200","package":"prepay_id=wx01","paySign":"abc/+="}"#
                    .to_owned(),
            ),
        ),
    ];
    let fields = [
        ("code", Cow::Borrowed("0")),
        ("msg", Cow::Borrowed("success")),
        ("data", Cow::Owned(signed_json(&result))),
        ("resTime", Cow::Borrowed("2025-09-01 12:00:00")),
        ("traceId", Cow::Borrowed("T1")),
    ];
    let md5 = Scheme::new(Version::V3_0, SignType::Md5);
    assert_eq!(
        md5.string_to_sign(&fields, "SecretKey123"),
        "CODE=0&DATA={BIZORDERNO:M20250901001,ORDERNO:P2025090112000001000001,STATUS:PROGRESS,PAYBODY:{APPID:WX123,TIMESTAMP:1756699200,PACKAGE:PREPAY_ID=WX01,PAYSIGN:ABC/+=}}&MSG=SUCCESS&RESTIME=2025-09-01 12:00:00&TRACEID=T1&KEY=SECRETKEY123"
    );
    assert_eq!(
        md5.sign(&fields, "SecretKey123"),
        "c5f1c9b9f0170022ebe93019fd1dc0a1"
    );
    let hmac = Scheme::new(Version::V3_0, SignType::HmacSha256);
    assert_eq!(
        hmac.sign(&fields, "SecretKey123"),
        "2e53572e76b5627c1420accf56ec47bbbdb3a6ae6fa0225e727736e340de5b1e"
    );

    let escaped = |s: &str| {
        let data = signed_json(&[("s", Member::Text(s.to_owned()))]);
        md5.string_to_sign(&[("data", Cow::Owned(data))], "k")
    };
    assert_eq!(escaped("a\nb"), "DATA={S:ANB}&KEY=K");
    assert_eq!(escaped("\u{a0}"), "DATA={S:U00A0}&KEY=K");
    let hundred = signed_json(&[("a", Member::Decimal(Amount::from_fen(10000).yuan_4()))]);
    assert_eq!(hundred, r#"{"a":100}"#);
}
