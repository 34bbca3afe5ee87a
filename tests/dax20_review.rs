//! The review of DaxPay 2.0's lifecycle (issue 21), each finding performed through real sockets
//! for both of 2.0.8's sign types: the merchant's `extParam` answered and notified from the
//! order store (2.0.8's queries and notices have no `attach`), an expiry not in the future and a
//! missing openid or bar code refused before the call (2.0.8 would make an order it cannot
//! finish), a failed refund's `errCode`, `clientIp` sent only as configured, and DaxPay's
//! "request time in the future" reported as the clocks'.

mod common;

use std::net::SocketAddr;

use common::merchant::{Merchant, Received};
use common::*;
use paybridge_sandbox::Sandbox;
use serde_json::Value;

const SIGN_TYPES: [&str; 2] = ["hmac_sha256", "md5"];

/// No background settlement: only the request and DaxPay's callbacks settle anything.
const NO_SETTLEMENT: &str = "\n[settlement]\nenabled = false\n";

struct World {
    proxy: SocketAddr,
    sandbox: Sandbox,
    _sandbox_server: Running,
}

/// paybridge before a sandbox of `version` (`public_url` its own address, notifications and
/// `settlement` running); `extra_upstream`/`extra_merchant` added to those sections.
async fn world_of(
    version: &str,
    sign_type: &str,
    extra_upstream: &str,
    extra_merchant: &str,
    settlement: &str,
) -> World {
    let (sb, sandbox) = start_sandbox(&sandbox_toml(version, sign_type, &[])).await;
    let (proxy, _orders) = start_relaying(
        sb.addr,
        version,
        sign_type,
        extra_upstream,
        extra_merchant,
        settlement,
    )
    .await;
    World {
        proxy,
        sandbox,
        _sandbox_server: sb,
    }
}

async fn world(sign_type: &str, settlement: &str) -> World {
    world_of("2.0", sign_type, "", "", settlement).await
}

async fn post(addr: SocketAddr, path: &str, fields: &[(&str, &str)]) -> Value {
    post_json(addr, path, &jeepay_body(fields)).await.json()
}

fn refused(answer: &Value, msg: &str) {
    assert_eq!(answer["code"], 9999, "{answer}");
    assert_eq!(answer["msg"], msg, "{answer}");
}

fn pay_fields<'a>(no: &'a str, way_code: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("mchOrderNo", no),
        ("wayCode", way_code),
        ("amount", "1230"),
        ("currency", "cny"),
        ("subject", "商品"),
        ("body", "描述"),
    ]
}

fn refund_fields<'a>(no: &'a str, refund_no: &'a str, reason: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("mchOrderNo", no),
        ("mchRefundNo", refund_no),
        ("refundAmount", "230"),
        ("currency", "cny"),
        ("refundReason", reason),
    ]
}

/// The notifications `merchant` received at `path`, each verified.
fn notices(merchant: &Merchant, path: &str) -> Vec<Received> {
    merchant
        .received()
        .into_iter()
        .filter(|n| n.path == path)
        .inspect(|n| assert!(n.verified, "{n:?}"))
        .collect()
}

/// F1: 2.0.8's pay query, refund query and notices carry no `attach`; the merchant's `extParam`
/// is answered and notified from the order store, for the pay order and for the refund.
#[tokio::test]
async fn ext_param_is_answered_and_notified_from_the_store() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, NO_SETTLEMENT).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        let (pay_url, refund_url) = (
            format!("http://{}/pay", merchant.addr),
            format!("http://{}/refund", merchant.addr),
        );
        let mut fields = pay_fields("X1", "WX_NATIVE");
        fields.extend([("extParam", "ext-v20"), ("notifyUrl", pay_url.as_str())]);
        let answer = post(w.proxy, "/api/pay/unifiedOrder", &fields).await;
        let order_no = accepted(&answer)["payOrderId"].as_str().unwrap().to_owned();
        w.sandbox.pay_order(&order_no).unwrap();
        eventually("the pay notification", || {
            notices(&merchant, "/pay").len() == 1
        })
        .await;
        let pay_notice = &notices(&merchant, "/pay")[0];
        assert_eq!(pay_notice.params["state"], "2", "{sign_type}");
        assert_eq!(
            pay_notice.params.get("extParam").map(String::as_str),
            Some("ext-v20"),
            "{sign_type}: {pay_notice:?}"
        );
        let query = post(w.proxy, "/api/pay/query", &[("payOrderId", &order_no)]).await;
        assert_eq!(
            accepted(&query)["extParam"],
            "ext-v20",
            "{sign_type}: {query}"
        );
        // A WeChat refund waits for the channel; its success comes by callback.
        let mut fields = refund_fields("X1", "X1-R1", "退");
        fields.extend([("extParam", "extr-v20"), ("notifyUrl", refund_url.as_str())]);
        let answer = post(w.proxy, "/api/refund/refundOrder", &fields).await;
        let data = accepted(&answer);
        assert_eq!(data["state"], 1, "{answer}");
        let refund_no = data["refundOrderId"].as_str().unwrap().to_owned();
        w.sandbox.succeed_refund(&refund_no).unwrap();
        eventually("the refund notification", || {
            notices(&merchant, "/refund").len() == 1
        })
        .await;
        let refund_notice = &notices(&merchant, "/refund")[0];
        assert_eq!(refund_notice.params["state"], "2", "{sign_type}");
        assert_eq!(
            refund_notice.params.get("extParam").map(String::as_str),
            Some("extr-v20"),
            "{sign_type}: {refund_notice:?}"
        );
        let query = post(w.proxy, "/api/refund/query", &[("mchRefundNo", "X1-R1")]).await;
        assert_eq!(
            accepted(&query)["extParam"],
            "extr-v20",
            "{sign_type}: {query}"
        );
    }
}

/// F2: an `expiredTime` of 0 or less would make a 2.0.8 order expired at once; it is refused
/// before the call with the words DaxPay 3.0 answers for it (through the same proxy code).
#[tokio::test]
async fn an_expiry_not_in_the_future_is_refused_as_on_3_0_with_nothing_sent() {
    const WORDS: &str = "支付超时时间设置有误, 请检查!";
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, NO_SETTLEMENT).await;
        let before = w.sandbox.requests_seen();
        for (no, secs) in [("E0", "0"), ("E1", "-5")] {
            let mut fields = pay_fields(no, "WX_NATIVE");
            fields.push(("expiredTime", secs));
            refused(
                &post(w.proxy, "/api/pay/unifiedOrder", &fields).await,
                WORDS,
            );
            assert!(w.sandbox.order_by_biz(no).is_none(), "{sign_type} {secs}");
        }
        assert_eq!(
            w.sandbox.requests_seen(),
            before,
            "{sign_type}: nothing sent"
        );
        // A positive expiry is taken.
        let mut fields = pay_fields("E2", "WX_NATIVE");
        fields.push(("expiredTime", "60"));
        accepted(&post(w.proxy, "/api/pay/unifiedOrder", &fields).await);
    }
    // DaxPay 3.0's own refusal of the same request, as paybridge answers it.
    let v3 = world_of("3.0", "md5", "", "", NO_SETTLEMENT).await;
    let mut fields = pay_fields("E3", "WX_NATIVE");
    fields.push(("expiredTime", "-5"));
    refused(
        &post(v3.proxy, "/api/pay/unifiedOrder", &fields).await,
        WORDS,
    );
}

/// F3: a refund the channel failed answers, queries and notifies DaxPay's `errorCode` as
/// Jeepay's `errCode` (state 3 only).
#[tokio::test]
async fn a_failed_refunds_error_code_is_answered_queried_and_notified() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, NO_SETTLEMENT).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        let refund_url = format!("http://{}/refund", merchant.addr);
        let mut fields = pay_fields("C1", "ALI_BAR");
        fields.push(("channelExtra", r#"{"authCode":"284567890123456789"}"#));
        assert_eq!(
            accepted(&post(w.proxy, "/api/pay/unifiedOrder", &fields).await)["orderState"],
            2
        );
        let mut fields = refund_fields("C1", "C1-R1", paybridge_sandbox::REFUND_FAIL);
        fields.push(("notifyUrl", refund_url.as_str()));
        let answer = post(w.proxy, "/api/refund/refundOrder", &fields).await;
        let data = accepted(&answer);
        assert_eq!(data["state"], 3, "{sign_type}: {answer}");
        let dax = w
            .sandbox
            .refund(data["refundOrderId"].as_str().unwrap())
            .unwrap();
        let code = dax.error_code.clone().expect("DaxPay's error code");
        assert_eq!(data["errCode"], code.as_str(), "{sign_type}: {answer}");
        assert_eq!(
            data["errMsg"],
            dax.error_msg.as_deref().unwrap(),
            "{answer}"
        );
        let query = post(w.proxy, "/api/refund/query", &[("mchRefundNo", "C1-R1")]).await;
        let q = accepted(&query);
        assert_eq!(
            (q["state"].as_i64(), q["errCode"].as_str()),
            (Some(3), Some(code.as_str())),
            "{query}"
        );
        eventually("the failure's notification", || {
            notices(&merchant, "/refund").len() == 1
        })
        .await;
        let n = &notices(&merchant, "/refund")[0];
        assert_eq!(n.params["state"], "3", "{n:?}");
        assert_eq!(n.params.get("errCode"), Some(&code), "{sign_type}: {n:?}");
    }
}

/// F4: 2.0.8 sends a WeChat JSAPI pay without an openid, or a bar-code pay without a bar code,
/// to the channel and keeps the order in progress for good. paybridge refuses them first, in
/// DaxPay 3.0's words where 3.0 has them, else Jeepay's, and nothing reaches DaxPay.
#[tokio::test]
async fn a_missing_openid_or_bar_code_is_refused_before_the_call() {
    let routes = "[merchants.way_codes]\nYSF_BAR = \"union_pay/barcode\"\n";
    for sign_type in SIGN_TYPES {
        let w = world_of("2.0", sign_type, "", routes, NO_SETTLEMENT).await;
        let before = w.sandbox.requests_seen();
        for (i, (way, extra, words)) in [
            ("WX_JSAPI", "", "微信JSAPI支付必须传入openId参数"),
            (
                "WX_LITE",
                r#"{"openid":""}"#,
                "微信JSAPI支付必须传入openId参数",
            ),
            ("WX_BAR", "", "微信付款码支付必须传入付款码参数"),
            (
                "ALI_BAR",
                r#"{"authCode":""}"#,
                "用户支付条码[authCode]不可为空",
            ),
            ("YSF_BAR", "", "用户支付条码[authCode]不可为空"),
        ]
        .into_iter()
        .enumerate()
        {
            let no = format!("M{i}");
            let mut fields = pay_fields(&no, way);
            if !extra.is_empty() {
                fields.push(("channelExtra", extra));
            }
            refused(
                &post(w.proxy, "/api/pay/unifiedOrder", &fields).await,
                words,
            );
            assert!(w.sandbox.order_by_biz(&no).is_none(), "{sign_type} {way}");
        }
        assert_eq!(
            w.sandbox.requests_seen(),
            before,
            "{sign_type}: nothing sent"
        );
    }
}

/// `clientIp` is the merchant's when it gives one; the caller's TCP address is sent only with
/// `forward_client_ip = true` (neither 2.0.8 nor 3.0 requires the field). The pay query still
/// answers the caller's address as Jeepay stores it.
#[tokio::test]
async fn the_callers_address_is_sent_as_client_ip_only_when_configured() {
    for sign_type in SIGN_TYPES {
        for forward in [false, true] {
            let upstream = format!("forward_client_ip = {forward}");
            let w = world_of("2.0", sign_type, &upstream, "", NO_SETTLEMENT).await;
            let mut fields = pay_fields("I1", "ALI_BAR");
            fields.push(("channelExtra", r#"{"authCode":"284567890123456789"}"#));
            let answer = post(w.proxy, "/api/pay/unifiedOrder", &fields).await;
            let order_no = accepted(&answer)["payOrderId"].as_str().unwrap().to_owned();
            let sent = forward.then_some("127.0.0.1");
            let order = w.sandbox.order(&order_no).unwrap();
            assert_eq!(order.client_ip.as_deref(), sent, "{sign_type} {forward}");
            let query = post(w.proxy, "/api/pay/query", &[("payOrderId", &order_no)]).await;
            assert_eq!(accepted(&query)["clientIp"], "127.0.0.1", "{query}");
            let answer = post(
                w.proxy,
                "/api/refund/refundOrder",
                &refund_fields("I1", "I1-R1", "退"),
            )
            .await;
            let refund_no = accepted(&answer)["refundOrderId"]
                .as_str()
                .unwrap()
                .to_owned();
            let refund = w.sandbox.refund(&refund_no).unwrap();
            assert_eq!(refund.client_ip.as_deref(), sent, "{sign_type} {forward}");
            // The merchant's own `clientIp` is always sent.
            let mut fields = pay_fields("I2", "WX_NATIVE");
            fields.push(("clientIp", "10.1.2.3"));
            let answer = post(w.proxy, "/api/pay/unifiedOrder", &fields).await;
            let order_no = accepted(&answer)["payOrderId"].as_str().unwrap().to_owned();
            let order = w.sandbox.order(&order_no).unwrap();
            assert_eq!(order.client_ip.as_deref(), Some("10.1.2.3"), "{sign_type}");
        }
    }
}

/// 2.0.8 refuses a request dated more than 60 s after its own clock, or older than its
/// `req_timeout`, before its handler, unsigned (lifecycle-2.0.md §2.3): paybridge says it is
/// the clocks, not a generic refusal, whichever the sign type and the operation.
#[tokio::test]
async fn daxpays_request_time_refusals_are_reported_as_the_clocks() {
    use bytes::Bytes;
    use http::Response;
    use http_body_util::Full;
    const CLOCKS: &str =
        "系统异常[上游拒绝请求，代码10006：请求时间超出上游允许范围（时钟偏差），订单未处理]";
    for text in [
        "验证参数错误\\n请求时间晚于服务器接收到的时间，请检查\\n",
        "验证参数错误\\n请求已过期，请重新发送！\\n",
    ] {
        let body = format!("{{\"msg\":\"{text}\",\"code\":10006,\"data\":null,\"traceId\":\"t\"}}");
        let refusing = start_fake(move |_body: Bytes| {
            let body = body.clone();
            async move { Response::new(Full::new(Bytes::from(body))) }
        })
        .await;
        for sign_type in SIGN_TYPES {
            let proxy = start_proxy(&proxy_toml(refusing.addr, "2.0", sign_type, "", "")).await;
            let answer = post(
                proxy.addr,
                "/api/pay/unifiedOrder",
                &pay_fields("T1", "WX_NATIVE"),
            )
            .await;
            assert_eq!(answer["code"], 10, "{sign_type}: {answer}");
            assert_eq!(answer["msg"], CLOCKS, "{sign_type} {text}: {answer}");
            let close = post_json(proxy.addr, "/api/pay/close", &close_body(Some("P1"), None))
                .await
                .json();
            assert_eq!(close["code"], 10, "{sign_type}: {close}");
            assert_eq!(close["msg"], CLOCKS, "{sign_type} {text}: {close}");
        }
    }
}
