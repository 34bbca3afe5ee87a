//! The second review of DaxPay 2.0's lifecycle (issue 21), each finding performed through real
//! sockets: WeChat H5 on 3.0 sends the caller's address as the payer's IP whatever
//! `forward_client_ip` says (WeChat needs one); on 2.0 a repeated `mchOrderNo` is refused as
//! Jeepay refuses it before the refusals DaxPay's wire form would make; a notice ahead of
//! DaxPay's commit reaches the merchant within seconds, not at the settlement worker's first
//! check 30 s later; on 2.0 a pay stored failed is `当前订单不可关闭`, as Jeepay answers it.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::merchant::Merchant;
use common::*;
use paybridge::store::{OrderStore, SettlementKind};
use paybridge_sandbox::Sandbox;
use serde_json::Value;

const SIGN_TYPES: [&str; 2] = ["hmac_sha256", "md5"];

struct World {
    proxy: SocketAddr,
    sandbox: Sandbox,
    orders: OrderStore,
    _sandbox_server: Running,
}

/// paybridge before a sandbox of `version`, `public_url` its own address, the notifier and the
/// settlement worker running with `settlement` added to their configuration.
async fn world(version: &str, sign_type: &str, settlement: &str) -> World {
    let (sb, sandbox) = start_sandbox(&sandbox_toml(version, sign_type, &[])).await;
    let (proxy, orders) = start_relaying(sb.addr, version, sign_type, "", "", settlement).await;
    World {
        proxy,
        sandbox,
        orders,
        _sandbox_server: sb,
    }
}

async fn post(addr: SocketAddr, path: &str, fields: &[(&str, &str)]) -> Value {
    post_json(addr, path, &jeepay_body(fields)).await.json()
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

/// N1: WeChat H5 on DaxPay 3.0 hands WeChat the order's `clientIp` as the payer's, which WeChat
/// requires (lifecycle.md §2.7); the sandbox's channel refuses one without. With the shipped
/// `forward_client_ip = false`, a merchant that sends none still gets its H5 URL: the caller's
/// address goes as the payer's. Other ways keep the setting's rule (nothing sent).
#[tokio::test]
async fn wechat_h5_on_3_0_sends_the_callers_address_as_the_payers() {
    for sign_type in SIGN_TYPES {
        let w = world("3.0", sign_type, "").await;
        let answer = post(w.proxy, "/api/pay/unifiedOrder", &pay_fields("H1", "WX_H5")).await;
        let data = accepted(&answer);
        assert_eq!(data["payDataType"], "payurl", "{sign_type}: {answer}");
        let order = w.sandbox.order_by_biz("H1").expect("the order");
        assert_eq!(order.client_ip.as_deref(), Some("127.0.0.1"), "{sign_type}");
        // The merchant's own address wins.
        let mut fields = pay_fields("H2", "WX_H5");
        fields.push(("clientIp", "10.1.2.3"));
        accepted(&post(w.proxy, "/api/pay/unifiedOrder", &fields).await);
        let order = w.sandbox.order_by_biz("H2").expect("the order");
        assert_eq!(order.client_ip.as_deref(), Some("10.1.2.3"), "{sign_type}");
        // Any other way: the caller's address only with `forward_client_ip`.
        accepted(
            &post(
                w.proxy,
                "/api/pay/unifiedOrder",
                &pay_fields("H3", "WX_NATIVE"),
            )
            .await,
        );
        let order = w.sandbox.order_by_biz("H3").expect("the order");
        assert_eq!(order.client_ip, None, "{sign_type}");
    }
}

/// A way code, the fields that replace the ordinary ones, and the refusal they get.
type Refusal = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

/// N2: on 2.0, a repeated `mchOrderNo` is `商户订单[…]已存在` before what DaxPay's wire form
/// refuses (an expiry not in the future, a missing openid, a way 2.0.8 cannot serve, an amount
/// over its `Integer`), as on 3.0 and in Jeepay (lifecycle.md §2.1 step 3); nothing is sent. A
/// new number still gets the refusal.
#[tokio::test]
async fn on_2_0_a_repeated_number_is_refused_before_the_wire_forms_refusals() {
    for sign_type in SIGN_TYPES {
        let w = world("2.0", sign_type, "\n[settlement]\nenabled = false\n").await;
        accepted(
            &post(
                w.proxy,
                "/api/pay/unifiedOrder",
                &pay_fields("D1", "WX_NATIVE"),
            )
            .await,
        );
        let refusals: [Refusal; 4] = [
            (
                "WX_NATIVE",
                &[("expiredTime", "0")],
                "支付超时时间设置有误, 请检查!",
            ),
            ("WX_JSAPI", &[], "微信JSAPI支付必须传入openId参数"),
            ("WX_APP", &[], "商户应用不支持该支付方式"),
            (
                "WX_NATIVE",
                &[("amount", "2147483648")],
                "支付金额超出上限[最多2147483647分]",
            ),
        ];
        for (way, extra, words) in refusals {
            let seen = w.sandbox.requests_seen();
            let mut fields: Vec<(&str, &str)> = pay_fields("D1", way)
                .into_iter()
                .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
                .collect();
            fields.extend_from_slice(extra);
            let answer = post(w.proxy, "/api/pay/unifiedOrder", &fields).await;
            assert_eq!(answer["code"], 9999, "{sign_type} {way}: {answer}");
            assert_eq!(answer["msg"], "商户订单[D1]已存在", "{sign_type} {words}");
            // A number not used yet: the refusal itself.
            let mut fresh: Vec<(&str, &str)> = pay_fields("D2", way)
                .into_iter()
                .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
                .collect();
            fresh.extend_from_slice(extra);
            let answer = post(w.proxy, "/api/pay/unifiedOrder", &fresh).await;
            assert_eq!(answer["code"], 9999, "{sign_type} {way}: {answer}");
            assert_eq!(answer["msg"], words, "{sign_type}");
            assert_eq!(
                w.sandbox.requests_seen(),
                seen,
                "{sign_type} {way}: nothing sent"
            );
            assert!(w
                .orders
                .pay_by_mch_order_no(JEEPAY_MCH, "D2")
                .await
                .unwrap()
                .is_none());
        }
    }
}

/// Waits up to `limit` for `check` to hold.
async fn within(limit: Duration, what: &str, check: impl Fn() -> bool) {
    let started = tokio::time::Instant::now();
    while started.elapsed() < limit {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("not within {limit:?}: {what}");
}

/// A 2.0.8 notice 3 s ahead of DaxPay's commit, with the settlement worker's first check at its
/// default 30 s: the entry is marked for short checks 1, 3 and 8 s after the notice, so the
/// merchant is notified within seconds (here: well within 15 s, where the first regular check
/// would come after 30 s), once.
#[tokio::test]
async fn a_notice_ahead_of_the_commit_reaches_the_merchant_within_seconds() {
    for sign_type in SIGN_TYPES {
        let w = world("2.0", sign_type, "\n[settlement]\npoll_ms = 20\n").await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        let notify = format!("http://{}/pay", merchant.addr);
        let mut fields = pay_fields("S1", "WX_NATIVE");
        fields.push(("notifyUrl", &notify));
        let answer = post(w.proxy, "/api/pay/unifiedOrder", &fields).await;
        let order_no = accepted(&answer)["payOrderId"].as_str().unwrap().to_owned();
        w.sandbox.set_callback_before_commit(Duration::from_secs(3));
        w.sandbox.pay_order(&order_no).unwrap();
        within(Duration::from_secs(5), "the notice acknowledged", || {
            w.sandbox
                .callbacks()
                .first()
                .is_some_and(|c| c.acknowledged)
        })
        .await;
        // The schedule: due a second after the notice, long before the first regular check.
        let entry = w
            .orders
            .settlement(SettlementKind::Pay, JEEPAY_MCH, "S1")
            .await
            .unwrap()
            .expect("every row is enrolled");
        if entry.status == paybridge::store::SettlementStatus::Open {
            assert!(
                entry.next_check_at_ms < entry.created_at_ms + 15_000,
                "{sign_type}: {entry:?}"
            );
            assert!(
                entry
                    .last_error
                    .as_deref()
                    .is_some_and(|e| e.starts_with("notice ahead of commit")),
                "{sign_type}: {entry:?}"
            );
        }
        let paid = || {
            merchant
                .received()
                .iter()
                .filter(|n| n.path == "/pay" && n.params["state"] == "2")
                .count()
        };
        within(Duration::from_secs(15), "the notification", || paid() == 1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(paid(), 1, "{sign_type}: notified once");
    }
}

/// N3: a pay the channel refused on 2.0 is stored failed (Jeepay's state 3) while DaxPay keeps it
/// `progress`. Jeepay closes only states 0 and 1, so its close, by the merchant's number or by
/// DaxPay's, is `当前订单不可关闭` from the store, nothing is sent, and the query still answers 3.
/// An ordinary order on the same upstream still closes.
#[tokio::test]
async fn on_2_0_a_pay_stored_failed_is_not_closable() {
    for sign_type in SIGN_TYPES {
        let w = world("2.0", sign_type, "\n[settlement]\nenabled = false\n").await;
        let mut fields = pay_fields("C1", "WX_NATIVE");
        fields.retain(|(k, _)| *k != "subject");
        fields.push(("subject", paybridge_sandbox::CHANNEL_FAIL));
        let answer = post(w.proxy, "/api/pay/unifiedOrder", &fields).await;
        assert_eq!(answer["code"], 9999, "{sign_type}: {answer}");
        let dax = w
            .sandbox
            .order_by_biz("C1")
            .expect("DaxPay keeps the order");
        let seen = w.sandbox.requests_seen();
        for (pay_order_id, mch_order_no) in
            [(None, Some("C1")), (Some(dax.order_no.as_str()), None)]
        {
            let close = post_json(
                w.proxy,
                "/api/pay/close",
                &close_body(pay_order_id, mch_order_no),
            )
            .await
            .json();
            assert_eq!(close["code"], 9999, "{sign_type}: {close}");
            assert_eq!(close["msg"], "当前订单不可关闭", "{sign_type}: {close}");
        }
        assert_eq!(w.sandbox.requests_seen(), seen, "{sign_type}: nothing sent");
        let query = post(w.proxy, "/api/pay/query", &[("mchOrderNo", "C1")]).await;
        assert_eq!(accepted(&query)["state"], 3, "{sign_type}: {query}");
        // An order that can be closed still is.
        accepted(
            &post(
                w.proxy,
                "/api/pay/unifiedOrder",
                &pay_fields("C2", "WX_NATIVE"),
            )
            .await,
        );
        let close = post_json(w.proxy, "/api/pay/close", &close_body(None, Some("C2")))
            .await
            .json();
        assert_eq!(close["code"], 0, "{sign_type}: {close}");
    }
}
