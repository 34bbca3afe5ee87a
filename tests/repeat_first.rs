//! Jeepay refuses a repeated `mchOrderNo` (`商户订单[…]已存在`) before everything it checks
//! inside `unifiedOrder`'s try block (lifecycle.md §2.1 step 3): the URLs' schemes, the app's
//! ways, the channel's checks. paybridge's own checks of the same kind (control characters in
//! a URL, a currency other than yuan, an amount over its ceiling) and a way code the merchant's
//! table cannot route on the upstream's version are answered in that place too: a repeat that is
//! also wrong in one of these ways gets `已存在`, a new number gets the refusal, and nothing is
//! sent or written either way. Through sockets, on DaxPay 3.0 and 2.0.

mod common;

use std::net::SocketAddr;

use common::*;
use paybridge::store::OrderStore;
use paybridge_sandbox::Sandbox;
use serde_json::Value;

async fn post(addr: SocketAddr, path: &str, fields: &[(&str, &str)]) -> Value {
    post_json(addr, path, &jeepay_body(fields)).await.json()
}

fn pay_fields<'a>(no: &'a str, changed: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("mchOrderNo", no),
        ("wayCode", "WX_NATIVE"),
        ("amount", "1230"),
        ("currency", "cny"),
        ("subject", "商品"),
        ("body", "描述"),
    ];
    for (name, value) in changed {
        match fields.iter_mut().find(|(n, _)| n == name) {
            Some(field) => field.1 = value,
            None => fields.push((name, value)),
        }
    }
    fields
}

/// What changes a good request, and the refusal a new number gets for it.
type Case = (&'static [(&'static str, &'static str)], &'static str);

const CASES: [Case; 7] = [
    (
        &[("notifyUrl", "ftp://merchant.example/notify")],
        "异步通知地址协议仅支持http:// 或 https:// !",
    ),
    (
        &[("returnUrl", "javascript:alert(1)")],
        "同步通知地址协议仅支持http:// 或 https:// !",
    ),
    (
        &[("notifyUrl", "http://merchant.example/n\r\nX-Injected: 1")],
        "异步通知地址不能包含控制字符",
    ),
    (
        &[("returnUrl", "http://merchant.example/r\n")],
        "同步通知地址不能包含控制字符",
    ),
    (&[("currency", "usd")], "不支持的货币代码，仅支持cny"),
    (
        &[("amount", "10000000000")],
        "支付金额超出上限[最多9999999999分]",
    ),
    // Both refused: the first in Jeepay's order is answered.
    (
        &[
            ("notifyUrl", "ftp://merchant.example/notify"),
            ("currency", "usd"),
        ],
        "异步通知地址协议仅支持http:// 或 https:// !",
    ),
];

struct World {
    proxy: SocketAddr,
    sandbox: Sandbox,
    orders: OrderStore,
    _sandbox_server: Running,
}

async fn world(version: &str, sign_type: &str) -> World {
    let (sb, sandbox) = start_sandbox(&sandbox_toml(version, sign_type, &[])).await;
    let settlement = "\n[settlement]\nenabled = false\n";
    let (proxy, orders) = start_relaying(sb.addr, version, sign_type, "", "", settlement).await;
    World {
        proxy,
        sandbox,
        orders,
        _sandbox_server: sb,
    }
}

/// Each case on a repeated number (`已存在`) and on a new one (its refusal): nothing sent,
/// nothing written.
async fn repeats_are_refused_first(w: &World, label: &str, cases: &[Case]) {
    accepted(&post(w.proxy, "/api/pay/unifiedOrder", &pay_fields("R1", &[])).await);
    for (changed, words) in cases {
        let seen = w.sandbox.requests_seen();
        let answer = post(w.proxy, "/api/pay/unifiedOrder", &pay_fields("R1", changed)).await;
        assert_eq!(answer["code"], 9999, "{label} {changed:?}: {answer}");
        assert_eq!(answer["msg"], "商户订单[R1]已存在", "{label} {changed:?}");
        let answer = post(w.proxy, "/api/pay/unifiedOrder", &pay_fields("R2", changed)).await;
        assert_eq!(answer["code"], 9999, "{label} {changed:?}: {answer}");
        assert_eq!(answer["msg"], *words, "{label} {changed:?}");
        assert_eq!(
            w.sandbox.requests_seen(),
            seen,
            "{label} {changed:?}: nothing sent"
        );
        let row = w.orders.pay_by_mch_order_no(JEEPAY_MCH, "R2").await;
        assert!(
            row.unwrap().is_none(),
            "{label} {changed:?}: nothing written"
        );
    }
}

#[tokio::test]
async fn on_3_0_a_repeat_is_refused_before_the_urls_currency_amount_and_route() {
    let w = world("3.0", "hmac_sha256").await;
    // 3.0 has no Union Pay channel: UP_QR has no route there.
    let mut cases = CASES.to_vec();
    cases.push((&[("wayCode", "UP_QR")], "商户应用不支持该支付方式"));
    repeats_are_refused_first(&w, "3.0", &cases).await;
}

#[tokio::test]
async fn on_2_0_a_repeat_is_refused_before_the_urls_currency_amount_and_route() {
    for sign_type in ["hmac_sha256", "md5"] {
        let w = world("2.0", sign_type).await;
        // 2.0.8 has no route for QQ Pay.
        let mut cases = CASES.to_vec();
        cases.push((&[("wayCode", "QR_CASHIER")], "商户应用不支持该支付方式"));
        repeats_are_refused_first(&w, sign_type, &cases).await;
    }
}

/// What stays before the duplicate check, as in Jeepay: the fields' own checks and an unknown
/// way code (`不支持的支付方式`, `t_pay_way`).
#[tokio::test]
async fn the_fields_own_checks_still_come_first() {
    let w = world("3.0", "hmac_sha256").await;
    accepted(&post(w.proxy, "/api/pay/unifiedOrder", &pay_fields("R1", &[])).await);
    for (changed, words) in [
        (&[("wayCode", "NO_SUCH_WAY")][..], "不支持的支付方式"),
        (&[("subject", "")][..], "商品标题不能为空"),
    ] {
        let answer = post(w.proxy, "/api/pay/unifiedOrder", &pay_fields("R1", changed)).await;
        assert_eq!(answer["msg"], words, "{changed:?}: {answer}");
    }
}
