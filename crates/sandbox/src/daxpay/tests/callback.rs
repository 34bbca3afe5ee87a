//! Callbacks to `notifyUrl`, received by a small HTTP server on 127.0.0.1 (the test's
//! merchant), with the retry schedule `[50 ms, 100 ms]` of the test configuration.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use hyper_util::rt::TokioIo;

use super::query::{data_members, signed_data_of, Ordered};
use super::*;
use crate::order::RefundOrderStatus;

#[derive(Debug, Clone)]
struct Hit {
    path: String,
    content_type: String,
    body: String,
    at: Instant,
}

/// The merchant's server: records every request, answers `answers[n]` to the n-th (the last
/// one from then on).
struct Receiver {
    base: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Receiver {
    async fn start(answers: &[&'static str]) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let hits = Arc::new(Mutex::new(Vec::new()));
        let (recorded, answers) = (Arc::clone(&hits), answers.to_vec());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (recorded, answers) = (Arc::clone(&recorded), answers.clone());
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (recorded, answers) = (Arc::clone(&recorded), answers.clone());
                        async move {
                            let path = req.uri().to_string();
                            let content_type = req
                                .headers()
                                .get("content-type")
                                .map_or(String::new(), |v| {
                                    v.to_str().unwrap_or_default().to_owned()
                                });
                            let body = req.into_body().collect().await.expect("body").to_bytes();
                            let body = String::from_utf8(body.to_vec()).expect("UTF-8");
                            let n = {
                                let mut hits = recorded.lock().expect("hits");
                                hits.push(Hit {
                                    path,
                                    content_type,
                                    body,
                                    at: Instant::now(),
                                });
                                hits.len() - 1
                            };
                            let answer = answers[n.min(answers.len() - 1)];
                            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(answer))))
                        }
                    });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver { base, hits }
    }

    fn url(&self) -> String {
        format!("{}/notify?route=7", self.base)
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("hits").clone()
    }

    /// Waits (at most 3 s) until `n` requests arrived, then returns them all.
    async fn wait_for(&self, n: usize) -> Vec<Hit> {
        let deadline = Instant::now() + Duration::from_secs(3);
        while self.hits().len() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let hits = self.hits();
        assert!(hits.len() >= n, "{} of {n} callbacks arrived", hits.len());
        hits
    }
}

/// Longer than the whole test schedule (150 ms) plus slack: nothing more should come.
async fn quiet() {
    tokio::time::sleep(Duration::from_millis(400)).await;
}

/// Waits until the sandbox recorded `n` attempts.
async fn recorded(sb: &Sandbox, n: usize) -> Vec<SentCallback> {
    let deadline = Instant::now() + Duration::from_secs(3);
    while sb.callbacks().len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sb.callbacks()
}

fn keys(members: &[(String, Value)]) -> Vec<&str> {
    members.iter().map(|(k, _)| k.as_str()).collect()
}

/// Verifies a 3.x callback from the received JSON with the crate's signer: every top-level
/// member but `sign`, `data` rebuilt from its members in wire order, or sorted
/// case-insensitively.
fn verifies_callback(scheme: Scheme, body: &str, sorted: bool) -> bool {
    let top: Ordered = serde_json::from_str(body).expect("an object");
    let mut data = data_members(body.as_bytes());
    if sorted {
        data.sort_by_key(|(k, _)| k.to_ascii_lowercase());
    }
    let data = signed_data_of(&data);
    let mut sign = String::new();
    let mut fields: Vec<(&str, Cow<'_, str>)> = Vec::new();
    for (k, v) in &top.0 {
        match (k.as_str(), v) {
            ("sign", v) => sign = v.as_str().expect("sign").to_owned(),
            ("data", _) => fields.push(("data", Cow::Borrowed(data.as_str()))),
            (k, Value::String(s)) => fields.push((k, Cow::Borrowed(s.as_str()))),
            (k, other) => fields.push((k, Cow::Owned(other.to_string()))),
        }
    }
    scheme.verify(&fields, SECRET, &sign)
}

fn with_notify(o: &mut SandboxOrder, url: &str) {
    o.notify_url = Some(url.to_owned());
}

#[tokio::test]
async fn a_paid_order_is_called_back_once_signed_with_data_sorted() {
    let merchant = Receiver::start(&["success"]).await;
    let mut o = order("O1", "B1", OrderStatus::Progress);
    with_notify(&mut o, &merchant.url());
    o.attach = Some("a=1&b=2".to_owned());
    let sb = sandbox(Version::V3_0, vec![o]);
    sb.pay_order("B1").expect("paid");
    let hits = merchant.wait_for(1).await;
    quiet().await;
    assert_eq!(
        merchant.hits().len(),
        1,
        "acknowledged (any case): no retry"
    );
    let hit = &hits[0];
    assert_eq!(hit.path, "/notify?route=7");
    assert!(
        hit.content_type.starts_with("application/json"),
        "{}",
        hit.content_type
    );
    let top: Ordered = serde_json::from_str(&hit.body).expect("JSON");
    assert_eq!(
        keys(&top.0),
        ["mchNo", "appId", "code", "msg", "data", "sign", "resTime", "traceId"]
    );
    let data = data_members(hit.body.as_bytes());
    assert_eq!(
        keys(&data),
        [
            "bizOrderNo",
            "orderNo",
            "outOrderNo",
            "allocation",
            "autoAllocation",
            "channel",
            "method",
            "amount",
            "realAmount",
            "refundableBalance",
            "status",
            "refundStatus",
            "payTime",
            "attach",
        ],
        "declared order, nulls omitted"
    );
    for piece in [
        r#"{"mchNo":"M1","appId":"A1","code":0,"msg":"success","data":{"bizOrderNo":"B1","orderNo":"O1","#,
        r#""amount":0.01,"realAmount":0.01,"refundableBalance":0.01,"status":"success""#,
        r#""attach":"a=1&b=2"}"#,
    ] {
        assert!(hit.body.contains(piece), "{piece} in {}", hit.body);
    }
    let scheme = scheme(Version::V3_0);
    assert!(verifies_callback(scheme, &hit.body, true), "{}", hit.body);
    assert!(!verifies_callback(scheme, &hit.body, false));
    let sent = sb.callbacks();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].no.as_str(), sent[0].attempt, sent[0].acknowledged),
        ("O1", 1, true)
    );
    assert_eq!(
        (sent[0].url.as_str(), sent[0].body.as_str()),
        (merchant.url().as_str(), hit.body.as_str())
    );
    assert_eq!(sent[0].answer.as_deref(), Some("success"));
}

#[tokio::test]
async fn a_barcode_paid_at_once_calls_back_signed_in_declared_order_when_configured() {
    let merchant = Receiver::start(&["SUCCESS"]).await;
    let mut cfg = config(Version::V3_0, vec![]);
    cfg.apps[0].callback_sign_order = CallbackSignOrder::Declared;
    let sb = Sandbox::new(&cfg);
    let mut body = obj(json!({
        "mchNo": "M1", "appId": "A1", "reqTime": wall_clock(0), "bizOrderNo": "B9",
        "title": "T", "channel": "ali_pay", "method": "barcode", "amount": 12.3,
        "authCode": "28763443825664394", "notifyUrl": merchant.url(),
        "returnUrl": "http://shop.example/back",
    }));
    body.insert("nonceStr".to_owned(), json!("n"));
    let answer = post(&sb, "/unipay/pay", signed(scheme(Version::V3_0), body)).await;
    assert_eq!(answer["data"]["status"], "success", "{answer}");
    let order_no = answer["data"]["orderNo"].as_str().expect("orderNo");
    let order = sb.order(order_no).expect("stored");
    assert_eq!(order.notify_url.as_deref(), Some(merchant.url().as_str()));
    assert_eq!(
        order.return_url.as_deref(),
        Some("http://shop.example/back")
    );
    let hits = merchant.wait_for(1).await;
    assert!(
        hits[0].body.contains(r#""amount":12.3,"#),
        "{}",
        hits[0].body
    );
    assert!(verifies_callback(
        scheme(Version::V3_0),
        &hits[0].body,
        false
    ));
    assert!(!verifies_callback(
        scheme(Version::V3_0),
        &hits[0].body,
        true
    ));
}

#[tokio::test]
async fn an_unacknowledged_callback_is_retried_on_the_schedule() {
    let merchant = Receiver::start(&["fail", "fail", "success"]).await;
    let mut o = order("O1", "B1", OrderStatus::Progress);
    with_notify(&mut o, &merchant.url());
    let sb = sandbox(Version::V3_0, vec![o]);
    sb.pay_order("O1").expect("paid");
    let hits = merchant.wait_for(3).await;
    quiet().await;
    assert_eq!(
        merchant.hits().len(),
        3,
        "acknowledged on the third attempt"
    );
    assert!(hits[1].at - hits[0].at >= Duration::from_millis(50));
    assert!(hits[2].at - hits[1].at >= Duration::from_millis(100));
    assert!(
        hits.iter().all(|h| h.body == hits[0].body),
        "the same body every time"
    );
    let sent = sb.callbacks();
    let attempts: Vec<(u32, bool)> = sent.iter().map(|s| (s.attempt, s.acknowledged)).collect();
    assert_eq!(attempts, [(1, false), (2, false), (3, true)]);
}

#[tokio::test]
async fn success_with_a_newline_is_not_an_acknowledgement() {
    let merchant = Receiver::start(&["SUCCESS\n"]).await;
    let mut o = order("O1", "B1", OrderStatus::Progress);
    with_notify(&mut o, &merchant.url());
    let sb = sandbox(Version::V3_0, vec![o]);
    sb.fail_order("O1").expect("failed");
    merchant.wait_for(3).await;
    quiet().await;
    assert_eq!(
        merchant.hits().len(),
        3,
        "one attempt, then one per delay, then none"
    );
    let sent = sb.callbacks();
    assert!(sent.iter().all(|s| !s.acknowledged), "{sent:?}");
    let data = data_members(sent[0].body.as_bytes());
    assert!(
        data.contains(&("status".to_owned(), json!("fail"))),
        "{data:?}"
    );
}

fn refund_30(order_no: &str, biz_refund: &str, reason: &str, notify: &str) -> Map<String, Value> {
    obj(json!({
        "mchNo": "M1", "appId": "A1", "reqTime": wall_clock(0), "orderNo": order_no,
        "bizRefundNo": biz_refund, "amount": 0.01, "reason": reason, "notifyUrl": notify,
    }))
}

#[tokio::test]
async fn a_refund_that_succeeds_is_called_back_and_a_failed_one_is_not() {
    let merchant = Receiver::start(&["success"]).await;
    let sb = sandbox(
        Version::V3_0,
        vec![
            order("O1", "B1", OrderStatus::Success),
            order("O2", "B2", OrderStatus::Success),
        ],
    );
    let refund = |no: &str, biz: &str, reason: &str| {
        signed(
            scheme(Version::V3_0),
            refund_30(no, biz, reason, &merchant.url()),
        )
    };
    let answer = post(&sb, "/unipay/refund", refund("O2", "RF2", REFUND_FAIL)).await;
    assert_eq!(answer["data"]["status"], "fail", "{answer}");
    let answer = post(&sb, "/unipay/refund", refund("O1", "RF1", "ok")).await;
    assert_eq!(answer["data"]["status"], "success", "{answer}");
    let refund_no = answer["data"]["refundNo"].as_str().expect("refundNo");
    assert_eq!(
        sb.refund(refund_no).and_then(|r| r.notify_url),
        Some(merchant.url())
    );
    let hits = merchant.wait_for(1).await;
    quiet().await;
    assert_eq!(
        merchant.hits().len(),
        1,
        "no callback for a synchronous fail"
    );
    let body = &hits[0].body;
    let data = data_members(body.as_bytes());
    assert_eq!(data[0].0, "orderId");
    assert!(data[0].1.is_string(), "orderId is a string: {body}");
    for (k, v) in [
        ("refundNo", json!(refund_no)),
        ("bizRefundNo", json!("RF1")),
        ("status", json!("success")),
        ("orderAmount", json!(0)),
    ] {
        assert!(
            data.contains(&(k.to_owned(), v.clone())),
            "{k}={v} in {body}"
        );
    }
    assert!(body.contains(r#""amount":0.01,"#), "{body}");
    assert!(
        verifies_callback(scheme(Version::V3_0), body, true),
        "{body}"
    );
    // The failed refund re-run without the magic reason succeeds: its callback follows.
    let answer = post(&sb, "/unipay/refund", refund("O2", "RF2", "ok")).await;
    assert_eq!(answer["data"]["status"], "success", "{answer}");
    let hits = merchant.wait_for(2).await;
    assert!(
        hits[1].body.contains(r#""bizRefundNo":"RF2""#),
        "{}",
        hits[1].body
    );
    assert!(sb
        .refunds()
        .iter()
        .all(|r| r.status == RefundOrderStatus::Success));
}

#[tokio::test]
async fn no_callback_without_a_usable_notify_url() {
    let merchant = Receiver::start(&["success"]).await;
    let mut blank = order("O2", "B2", OrderStatus::Progress);
    blank.notify_url = Some("  ".to_owned());
    let mut https = order("O3", "B3", OrderStatus::Progress);
    https.notify_url = Some(merchant.url().replace("http://", "https://"));
    let sb = sandbox(
        Version::V3_0,
        vec![order("O1", "B1", OrderStatus::Progress), blank, https],
    );
    for no in ["O1", "O2", "O3"] {
        sb.pay_order(no).expect("paid");
    }
    quiet().await;
    assert!(merchant.hits().is_empty());
    assert!(sb.callbacks().is_empty());
    assert!(!sb.send_callback_again("O1"));
}

#[tokio::test]
async fn callbacks_are_sent_again_on_request() {
    let merchant = Receiver::start(&["success"]).await;
    let mut o = order("O1", "B1", OrderStatus::Progress);
    with_notify(&mut o, &merchant.url());
    let sb = sandbox(Version::V3_0, vec![o]);
    let closed = post(
        &sb,
        "/unipay/close",
        signed(scheme(Version::V3_0), close_30("O1", false)),
    )
    .await;
    assert_eq!(closed["code"], 0, "{closed}");
    let first = merchant.wait_for(1).await;
    assert!(
        first[0].body.contains(r#""status":"close""#),
        "{}",
        first[0].body
    );
    assert!(sb.send_callback_again("O1"));
    let hits = merchant.wait_for(2).await;
    assert_eq!(hits[1].body, hits[0].body, "a duplicate, unchanged");
    assert!(sb.send_callback_again("B1"), "by bizOrderNo too");
    merchant.wait_for(3).await;
    let (status, answer) = send(&sb, Method::POST, "/sandbox/orders/O1/callback", vec![]).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!({"no": "O1", "resent": true}));
    merchant.wait_for(4).await;
    let (status, _) = send(&sb, Method::POST, "/sandbox/orders/NOPE/callback", vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    quiet().await;
    assert_eq!(merchant.hits().len(), 4);
    let attempts: Vec<u32> = recorded(&sb, 4).await.iter().map(|s| s.attempt).collect();
    assert_eq!(attempts, [1, 2, 3, 4]);
}

#[tokio::test]
async fn the_settle_endpoint_calls_back_and_other_versions_have_their_shapes() {
    // 3.0-beta: {code, msg, data, sign}, signed without upper-casing.
    let merchant = Receiver::start(&["success"]).await;
    let mut o = order("O1", "B1", OrderStatus::Progress);
    with_notify(&mut o, &merchant.url());
    let sb = sandbox(Version::V3_0Beta, vec![o.clone()]);
    let (status, _) = send(&sb, Method::POST, "/sandbox/orders/O1/pay", vec![]).await;
    assert_eq!(status, StatusCode::OK);
    let hits = merchant.wait_for(1).await;
    let top: Ordered = serde_json::from_str(&hits[0].body).expect("JSON");
    assert_eq!(keys(&top.0), ["code", "msg", "data", "sign"]);
    assert!(verifies_callback(
        scheme(Version::V3_0Beta),
        &hits[0].body,
        true
    ));

    // 2.0: the flat result in fen, signed over its fields; only exactly `SUCCESS` acknowledges.
    let merchant = Receiver::start(&["success", "SUCCESS"]).await;
    with_notify(&mut o, &merchant.url());
    let sb = sandbox(Version::V2_0, vec![o]);
    sb.pay_order("O1").expect("paid");
    let hits = merchant.wait_for(2).await;
    quiet().await;
    assert_eq!(merchant.hits().len(), 2);
    let flat: Value = serde_json::from_str(&hits[0].body).expect("JSON");
    assert_eq!(flat["amount"], 1, "{flat}");
    assert_eq!(flat["code"], 0);
    assert!(flat["resTime"].is_number());
    assert!(verifies(scheme(Version::V2_0), &flat), "{flat}");
    let acks: Vec<bool> = sb.callbacks().iter().map(|s| s.acknowledged).collect();
    assert_eq!(acks, [false, true]);
}
