//! DaxPay 2.0.8 end to end through real sockets, for both of its sign types: pay (every way code's
//! answer shape, exact fen amounts, 2.0's limits, what 2.0.8 cannot serve), refund (in parts to
//! fully refunded, an answer that says nothing settled by the refund query, a failed refund),
//! repeats refused before DaxPay, and the pay query's and close's 2.0.8 shapes. The sandbox's 2.0
//! was written from lifecycle-2.0.md independently of paybridge's code.

mod common;

use std::net::SocketAddr;

use common::merchant::Merchant;
use common::*;
use paybridge_sandbox::Sandbox;
use serde_json::Value;

const SIGN_TYPES: [&str; 2] = ["hmac_sha256", "md5"];

/// The 2.0 sandbox and paybridge in front of it (`public_url` its own address, notifications and
/// settlement running; `settlement`: the `[settlement]` section).
struct World {
    proxy: SocketAddr,
    sandbox: Sandbox,
    _sandbox_server: Running,
}
/// No background settlement: only the request itself and DaxPay's callbacks settle anything.
const NO_SETTLEMENT: &str = "\n[settlement]\nenabled = false\n";

async fn world(sign_type: &str, extra_merchant: &str, settlement: &str) -> World {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("2.0", sign_type, &[])).await;
    let (proxy, _orders) =
        start_relaying(sb.addr, "2.0", sign_type, "", extra_merchant, settlement).await;
    World {
        proxy,
        sandbox,
        _sandbox_server: sb,
    }
}

fn pay_fields<'a>(no: &'a str, way_code: &'a str, amount: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("mchOrderNo", no),
        ("wayCode", way_code),
        ("amount", amount),
        ("currency", "cny"),
        ("subject", "商品"),
        ("body", "描述"),
    ]
}

async fn pay(addr: SocketAddr, fields: &[(&str, &str)]) -> Value {
    post_json(addr, "/api/pay/unifiedOrder", &jeepay_body(fields))
        .await
        .json()
}

async fn refund(addr: SocketAddr, fields: &[(&str, &str)]) -> Value {
    post_json(addr, "/api/refund/refundOrder", &jeepay_body(fields))
        .await
        .json()
}

fn refused(answer: &Value, msg: &str) {
    assert_eq!(answer["code"], 9999, "{answer}");
    assert_eq!(answer["msg"], msg, "{answer}");
}

/// (wayCode, channelExtra, channel, method, payDataType, payData check)
type WayCodeRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    fn(&str) -> bool,
);

#[tokio::test]
async fn every_mappable_way_code_is_paid_and_answered_in_jeepay_shape() {
    let rows: &[WayCodeRow] = &[
        (
            "ALI_BAR",
            r#"{"authCode":"284567890123456789"}"#,
            "ali_pay",
            "barcode",
            "none",
            |d| d.is_empty(),
        ),
        // §3.5: the Alipay SDK's order string as DaxPay gives it, not re-shaped.
        ("ALI_APP", "", "ali_pay", "app", "aliapp", |d| {
            d.starts_with("alipay_sdk=")
                && d.contains("&method=alipay.trade.app.pay&")
                && d.contains("biz_content=")
        }),
        ("ALI_WAP", "", "ali_pay", "wap", "payurl", |d| {
            d.starts_with("https://")
        }),
        ("ALI_PC", "", "ali_pay", "web", "payurl", |d| {
            d.starts_with("https://")
        }),
        // §3.5: the precreate `qr_code`, the QR's content.
        ("ALI_QR", "", "ali_pay", "qrcode", "codeUrl", |d| {
            d.starts_with("https://qr.alipay.com/") && !d.contains(' ')
        }),
        ("ALI_OC", "", "ali_pay", "qrcode", "codeUrl", |d| {
            d.starts_with("https://qr.alipay.com/") && !d.contains(' ')
        }),
        (
            "WX_BAR",
            r#"{"authCode":"134567890123456789"}"#,
            "wechat_pay",
            "barcode",
            "none",
            |d| d.is_empty(),
        ),
        (
            "WX_JSAPI",
            r#"{"openid":"o-1"}"#,
            "wechat_pay",
            "jsapi",
            "wxapp",
            |d| d.contains("paySign") && d.contains("prepay_id="),
        ),
        (
            "WX_LITE",
            r#"{"openid":"o-1"}"#,
            "wechat_pay",
            "jsapi",
            "wxapp",
            |d| d.contains("paySign"),
        ),
        ("WX_NATIVE", "", "wechat_pay", "qrcode", "codeUrl", |d| {
            d.starts_with("weixin://")
        }),
        ("WX_H5", "", "wechat_pay", "wap", "payurl", |d| {
            d.starts_with("https://") && d.contains("redirect_url=http%3A%2F%2F127.0.0.1")
        }),
        (
            "AUTO_BAR",
            r#"{"authCode":"134567890123456789"}"#,
            "wechat_pay",
            "barcode",
            "none",
            |d| d.is_empty(),
        ),
        // Routed by the merchant (`way_codes`): Union Pay exists in 2.0.8.
        (
            "YSF_BAR",
            r#"{"authCode":"6212345678901234567"}"#,
            "union_pay",
            "barcode",
            "none",
            |d| d.is_empty(),
        ),
        // §3.5: UnionPay's `qrCode`, the QR's content.
        ("UP_QR", "", "union_pay", "qrcode", "codeUrl", |d| {
            d.starts_with("https://qr.95516.com/") && !d.contains(' ')
        }),
    ];
    let routes =
        "[merchants.way_codes]\nYSF_BAR = \"union_pay/barcode\"\nUP_QR = \"union_pay/qrcode\"\n";
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, routes, NO_SETTLEMENT).await;
        for (i, (way, extra, channel, method, data_type, check)) in rows.iter().enumerate() {
            let no = format!("W{i}");
            let mut fields = pay_fields(&no, way, "1230");
            fields.push(("returnUrl", "https://shop.example/back"));
            if !extra.is_empty() {
                fields.push(("channelExtra", extra));
            }
            let answer = pay(w.proxy, &fields).await;
            let data = accepted(&answer);
            assert_eq!(data["mchOrderNo"], no.as_str(), "{sign_type} {way}");
            assert_eq!(
                data["payDataType"], *data_type,
                "{sign_type} {way}: {answer}"
            );
            let pay_data = data["payData"]
                .as_str()
                .unwrap_or_else(|| panic!("{way}: {answer}"));
            assert!(check(pay_data), "{sign_type} {way}: {pay_data}");
            let bar = method == &"barcode";
            assert_eq!(
                data["orderState"],
                if bar { 2 } else { 1 },
                "{way}: {answer}"
            );
            let order_no = data["payOrderId"].as_str().unwrap();
            let order = w
                .sandbox
                .order(order_no)
                .unwrap_or_else(|| panic!("{way}: not on DaxPay"));
            assert_eq!(
                (
                    order.channel.as_str(),
                    order.method.as_str(),
                    order.amount.fen()
                ),
                (*channel, *method, 1230),
                "{sign_type} {way}"
            );
        }
    }
}

#[tokio::test]
async fn what_2_0_8_cannot_serve_is_refused_in_jeepays_words_with_nothing_sent() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, "", NO_SETTLEMENT).await;
        let before = w.sandbox.requests_seen();
        for (i, (way, extra)) in [
            ("WX_APP", ""),
            ("ALI_JSAPI", r#"{"buyerUserId":"2088102"}"#),
            ("ALI_LITE", r#"{"buyerUserId":"2088102"}"#),
        ]
        .into_iter()
        .enumerate()
        {
            let no = format!("U{i}");
            let mut fields = pay_fields(&no, way, "1");
            if !extra.is_empty() {
                fields.push(("channelExtra", extra));
            }
            refused(&pay(w.proxy, &fields).await, "商户应用不支持该支付方式");
        }
        assert_eq!(w.sandbox.requests_seen(), before, "nothing reached DaxPay");
    }
}

#[tokio::test]
async fn amounts_are_exact_fen_and_2_0_limits_are_kept() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, "", NO_SETTLEMENT).await;
        for fen in ["1", "10", "1230", "19911"] {
            let no = format!("A{fen}");
            let answer = pay(w.proxy, &pay_fields(&no, "WX_NATIVE", fen)).await;
            let data = accepted(&answer);
            let order = w
                .sandbox
                .order(data["payOrderId"].as_str().unwrap())
                .unwrap();
            assert_eq!(order.amount.fen().to_string(), fen, "{sign_type}");
            let query = post_json(
                w.proxy,
                "/api/pay/query",
                &jeepay_body(&[("mchOrderNo", &no)]),
            )
            .await
            .json();
            assert_eq!(accepted(&query)["amount"].to_string(), fen, "{query}");
        }
        // DaxPay's platform limit (199.11 yuan in 2.0.8's seed): its own words.
        refused(
            &pay(w.proxy, &pay_fields("A19912", "WX_NATIVE", "19912")).await,
            "支付金额超过限额",
        );
        // Over an `Integer` of fen: refused before DaxPay.
        let before = w.sandbox.requests_seen();
        refused(
            &pay(w.proxy, &pay_fields("A-BIG", "WX_NATIVE", "2147483648")).await,
            "支付金额超出上限[最多2147483647分]",
        );
        assert_eq!(w.sandbox.requests_seen(), before, "nothing reached DaxPay");
    }
}

#[tokio::test]
async fn repeats_are_refused_without_reaching_daxpay() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, "", NO_SETTLEMENT).await;
        let bar = r#"{"authCode":"284567890123456789"}"#;
        let mut fields = pay_fields("R1", "ALI_BAR", "1230");
        fields.push(("channelExtra", bar));
        accepted(&pay(w.proxy, &fields).await);
        let seen = w.sandbox.requests_seen();
        // 2.0.8 would re-pay a `progress` order of that number with its stored amount.
        let mut again = pay_fields("R1", "ALI_BAR", "999");
        again.push(("channelExtra", bar));
        refused(&pay(w.proxy, &again).await, "商户订单[R1]已存在");
        assert_eq!(
            w.sandbox.requests_seen(),
            seen,
            "{sign_type}: the pay was not sent"
        );
        let first = refund_fields("R1", "RF1", "230", "x");
        accepted(&refund(w.proxy, &first).await);
        let seen = w.sandbox.requests_seen();
        refused(
            &refund(w.proxy, &refund_fields("R1", "RF1", "100", "y")).await,
            "商户退款订单号[RF1]已存在",
        );
        assert_eq!(
            w.sandbox.requests_seen(),
            seen,
            "{sign_type}: the refund was not sent"
        );
    }
}

fn refund_fields<'a>(
    no: &'a str,
    refund_no: &'a str,
    amount: &'a str,
    reason: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("mchOrderNo", no),
        ("mchRefundNo", refund_no),
        ("refundAmount", amount),
        ("currency", "cny"),
        ("refundReason", reason),
    ]
}

/// An Alipay bar-code order of `amount` fen, paid at once: DaxPay's number.
async fn paid_alipay(w: &World, no: &str, amount: &str) -> String {
    let mut fields = pay_fields(no, "ALI_BAR", amount);
    fields.push(("channelExtra", r#"{"authCode":"284567890123456789"}"#));
    let answer = pay(w.proxy, &fields).await;
    let data = accepted(&answer);
    assert_eq!(data["orderState"], 2, "{answer}");
    data["payOrderId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn refunds_in_parts_until_fully_refunded_each_taken_from_the_refund_query() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, "", NO_SETTLEMENT).await;
        let order_no = paid_alipay(&w, "P1", "1230").await;
        // 2.0.8's refund answer carries no status (and may carry a stale message): the state
        // comes from the refund query, `success` for an Alipay refund.
        for (refund_no, amount) in [("P1-R1", "230"), ("P1-R2", "1000")] {
            let answer = refund(w.proxy, &refund_fields("P1", refund_no, amount, "退")).await;
            let data = accepted(&answer);
            assert_eq!(data["state"], 2, "{sign_type}: {answer}");
            assert_eq!(data["mchRefundNo"], refund_no);
            assert_eq!(data["refundAmount"].to_string(), amount);
            assert_eq!(data["payAmount"], 1230, "{answer}");
            let refund_order_id = data["refundOrderId"].as_str().unwrap();
            let at_daxpay = w.sandbox.refund(refund_order_id).unwrap();
            assert_eq!(at_daxpay.amount.fen().to_string(), amount);
        }
        let query = post_json(
            w.proxy,
            "/api/pay/query",
            &jeepay_body(&[("payOrderId", &order_no)]),
        )
        .await
        .json();
        assert_eq!(accepted(&query)["state"], 5, "fully refunded: {query}");
        refused(
            &refund(w.proxy, &refund_fields("P1", "P1-R3", "1", "退")).await,
            "订单已全额退款，本次申请失败",
        );
        // The refund query: fen, the finish time in milliseconds.
        let q = post_json(
            w.proxy,
            "/api/refund/query",
            &jeepay_body(&[("mchRefundNo", "P1-R2")]),
        )
        .await
        .json();
        let d = accepted(&q);
        assert_eq!(
            (d["state"].as_i64(), d["refundAmount"].as_i64()),
            (Some(2), Some(1000))
        );
        assert!(
            d["successTime"].as_i64().unwrap() > 1_700_000_000_000,
            "{q}"
        );
        assert_eq!(
            d["successTime"].as_i64().unwrap() % 1000,
            0,
            "epoch seconds × 1000"
        );
    }
}

#[tokio::test]
async fn a_failed_refund_is_answered_and_notified_as_failed() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, "", NO_SETTLEMENT).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        let notify = format!("http://{}/refund", merchant.addr);
        paid_alipay(&w, "F1", "1230").await;
        let mut fields = refund_fields("F1", "F1-R1", "230", paybridge_sandbox::REFUND_FAIL);
        fields.push(("notifyUrl", &notify));
        let answer = refund(w.proxy, &fields).await;
        let data = accepted(&answer);
        assert_eq!(data["state"], 3, "{sign_type}: {answer}");
        assert!(
            !data["errMsg"].as_str().unwrap_or_default().is_empty(),
            "{answer}"
        );
        eventually("the failure's notification", || {
            merchant.received().len() == 1
        })
        .await;
        let n = &merchant.received()[0];
        assert!(n.verified, "{n:?}");
        assert_eq!(n.params["state"], "3");
        // 2.0.8 keeps the pay order `refunding` with the balance deducted: another number waits.
        refused(
            &refund(w.proxy, &refund_fields("F1", "F1-R2", "100", "退")).await,
            "支付订单具有在途退款申请，请稍后再试",
        );
    }
}

#[tokio::test]
async fn the_pay_query_reads_2_0_8_epoch_second_times_and_close_answers_jeepays_words() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, "allow_cancel = true\n", NO_SETTLEMENT).await;
        let order_no = paid_alipay(&w, "Q1", "1230").await;
        let answer = post_json(
            w.proxy,
            "/api/pay/query",
            &jeepay_body(&[("payOrderId", &order_no)]),
        )
        .await
        .json();
        let data = accepted(&answer);
        assert_eq!(data["state"], 2, "{sign_type}: {answer}");
        let success_time = data["successTime"].as_i64().unwrap();
        assert!(success_time > 1_700_000_000_000, "{answer}");
        assert_eq!(success_time % 1000, 0, "epoch seconds × 1000: {answer}");
        // A paid order cannot be closed or cancelled; an unknown one does not exist.
        let close = post_json(
            w.proxy,
            "/api/pay/close",
            &close_body(Some(&order_no), None),
        )
        .await
        .json();
        refused(&close, "当前订单不可关闭");
        let cancel = post_json(
            w.proxy,
            "/api/pay/cancel",
            &close_body(Some(&order_no), None),
        )
        .await
        .json();
        refused(&cancel, "当前订单不可关闭");
        let unknown = post_json(w.proxy, "/api/pay/close", &close_body(None, Some("NOPE")))
            .await
            .json();
        refused(&unknown, "订单不存在");
        let query = post_json(
            w.proxy,
            "/api/pay/query",
            &jeepay_body(&[("mchOrderNo", "NOPE")]),
        )
        .await
        .json();
        refused(&query, "订单不存在");
        // An open order closes.
        let open = pay(w.proxy, &pay_fields("Q2", "WX_NATIVE", "1")).await;
        let open_no = accepted(&open)["payOrderId"].as_str().unwrap().to_owned();
        let closed = post_json(w.proxy, "/api/pay/close", &close_body(Some(&open_no), None))
            .await
            .json();
        assert_eq!(closed["code"], 0, "{closed}");
        let again = post_json(w.proxy, "/api/pay/close", &close_body(Some(&open_no), None))
            .await
            .json();
        refused(&again, "当前订单不可关闭");
    }
}

/// 2.0.8 refuses a request older than its `req_timeout` (10 s in its seed) before its handler,
/// unsigned: paybridge says it is the clocks, not a generic upstream refusal.
#[tokio::test]
async fn a_request_daxpay_finds_expired_is_reported_as_such() {
    use bytes::Bytes;
    use http::Response;
    use http_body_util::Full;
    let expired = start_fake(|_body: Bytes| async {
        Response::new(Full::new(Bytes::from(
            "{\"msg\":\"验证参数错误\\n请求已过期，请重新发送！\\n\",\"code\":10006,\"data\":null,\"traceId\":\"t\"}",
        )))
    })
    .await;
    let proxy = start_proxy(&proxy_toml(expired.addr, "2.0", "md5", "", "")).await;
    let answer = pay(proxy.addr, &pay_fields("E1", "WX_NATIVE", "1")).await;
    assert_eq!(answer["code"], 10, "{answer}");
    assert_eq!(
        answer["msg"],
        "系统异常[上游拒绝请求，代码10006：请求时间超出上游允许范围（时钟偏差），订单未处理]"
    );
}

/// 2.0.8's Redis lock of a merchant number held by a request still running: a pay answers
/// `正在支付中，请勿重复支付` (code 0, no status) and a refund `退款处理中，请勿重复操作` (code 0, no
/// status, its `refundNo` the merchant's): Jeepay's "exists" and "refund in progress", never a
/// success. Once the lock is free the refund number can be used.
#[tokio::test]
async fn daxpays_held_locks_are_refused_in_jeepays_words() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, "", NO_SETTLEMENT).await;
        w.sandbox.hold_lock("L1");
        refused(
            &pay(w.proxy, &pay_fields("L1", "WX_NATIVE", "1")).await,
            "商户订单[L1]已存在",
        );
        paid_alipay(&w, "L2", "1230").await;
        w.sandbox.hold_lock("L2-R1");
        refused(
            &refund(w.proxy, &refund_fields("L2", "L2-R1", "230", "退")).await,
            "支付订单具有在途退款申请，请稍后再试",
        );
        w.sandbox.release_lock("L2-R1");
        let answer = refund(w.proxy, &refund_fields("L2", "L2-R1", "230", "退")).await;
        assert_eq!(accepted(&answer)["state"], 2, "{sign_type}: {answer}");
    }
}
