//! Issue 20, item 3, attacked through real sockets: aliases of translated paths
//! (`/api/pay/%63lose`, `/api/pay/close;jsessionid=1`, `/api/refund/%72efundOrder`, `//`, a
//! trailing `/`, …) are the operation Jeepay's Spring MVC maps them to, and never reach the
//! legacy gateway raw; look-alikes Jeepay would not map (`/./`, `x/../`, `/API/…`) are refused;
//! every other path still passes through byte for byte. Each test fails if the hole reopens.

mod common;

use common::*;
use paybridge_sandbox::{LegacySandbox, OrderStatus, Sandbox};
use serde_json::Value;

const LEGACY: &str = r#"
[legacy_sandbox]
listen = "127.0.0.1:0"
[[legacy_sandbox.apps]]
mch_no = "M1623984572"
app_id = "60cc09bce4b0f1c0b83761c9"
secret = "EWEFD123RGSRETYDFNGFGFGSHDFGH"
[[legacy_sandbox.orders]]
pay_order_id = "L1"
mch_order_no = "LM1"
mch_no = "M1623984572"
state = 1
[[legacy_sandbox.orders]]
pay_order_id = "L2"
mch_order_no = "LM2"
mch_no = "M1623984572"
state = 2
amount = 800
"#;

const OPEN_ORDERS: &[(&str, &str, &str)] = &[
    ("DAX1", "MO1", "progress"),
    ("DAX2", "MO2", "progress"),
    ("DAX3", "MO3", "progress"),
    ("DAX4", "MO4", "progress"),
    ("DAX5", "MO5", "progress"),
    ("DAX6", "MO6", "progress"),
];

/// The default merchant's request is passed through to the legacy gateway by default; `routes`
/// may migrate it.
struct World {
    proxy: Running,
    sandbox: Sandbox,
    legacy: LegacySandbox,
    _servers: Vec<Running>,
}

async fn world(routes: &str) -> World {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", OPEN_ORDERS)).await;
    let (lg, legacy) = start_legacy(LEGACY).await;
    let toml = format!(
        "{}\n[upstreams.legacy]\nkind = \"legacy\"\nbase_url = \"http://{}\"\ntimeout_ms = 2000\n{routes}",
        proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "").replace(
            "[server]\n",
            "[server]\npublic_url = \"http://127.0.0.1:9\"\n",
        ),
        lg.addr
    );
    World {
        proxy: start_proxy(&toml).await,
        sandbox,
        legacy,
        _servers: vec![sb, lg],
    }
}

const MIGRATED: &str = r#"
[[routes]]
name = "migrated merchant"
mch_no = ["M1623984572"]
action = "translate"
"#;

fn refund_body(mch_order_no: &str, mch_refund_no: &str) -> Value {
    jeepay_body(&[
        ("mchOrderNo", mch_order_no),
        ("mchRefundNo", mch_refund_no),
        ("refundAmount", "100"),
        ("currency", "cny"),
        ("refundReason", "r"),
    ])
}

/// A WX_NATIVE order paid through paybridge and the sandbox.
async fn paid_order(w: &World, mch_order_no: &str) {
    let body = jeepay_body(&[
        ("mchOrderNo", mch_order_no),
        ("wayCode", "WX_NATIVE"),
        ("amount", "500"),
        ("currency", "cny"),
        ("subject", "商品"),
        ("body", "描述"),
    ]);
    let answer = post_json(w.proxy.addr, "/api/pay/unifiedOrder", &body)
        .await
        .json();
    assert_eq!(answer["code"], 0, "{answer}");
    let order_no = answer["data"]["payOrderId"].as_str().unwrap();
    w.sandbox.pay_order(order_no).expect("the sandbox pays it");
}

fn assert_not_found(a: &Answer, path: &str) {
    assert_eq!(a.status, 404, "{path}: {}", a.body);
    let answer = a.json();
    assert_eq!(answer["code"], 9999, "{path}: {}", a.body);
    assert_eq!(
        answer["msg"],
        format!("请求路径不存在[{path}]"),
        "{path}: {}",
        a.body
    );
}

#[tokio::test]
async fn aliases_of_translated_paths_are_translated_for_a_migrated_merchant() {
    let w = world(MIGRATED).await;
    // Spring MVC maps each of these to CloseOrderController (decoded segments, `;` parameters
    // set aside; `//` and a trailing `/` by Jeepay 1.x/2.x's Spring 5.3).
    let closes = [
        ("/api/pay/%63lose", "DAX1"),
        ("/api/pay/close;jsessionid=1", "DAX2"),
        ("/api//pay/close", "DAX3"),
        ("/api/pay/close/", "DAX4"),
        ("/api;v=1/pay/c%6Cose;x=1?from=alias", "DAX5"),
    ];
    for (path, order) in closes {
        let a = post_json(w.proxy.addr, path, &close_body(Some(order), None)).await;
        assert_eq!(a.body, jeepay_success(JEEPAY_SECRET), "{path}");
        assert_eq!(
            w.sandbox.order_status(order),
            Some(OrderStatus::Close),
            "{path}"
        );
    }
    for (i, path) in ["/api/refund/%72efundOrder", "/api/refund/refundOrder;x=1"]
        .into_iter()
        .enumerate()
    {
        let order = format!("PAID{i}");
        paid_order(&w, &order).await;
        let a = post_json(w.proxy.addr, path, &refund_body(&order, &format!("RF{i}"))).await;
        assert_eq!(a.json()["code"], 0, "{path}: {}", a.body);
        assert!(sdk_accepts(&a.json(), JEEPAY_SECRET), "{path}");
        assert_eq!(w.sandbox.refunds().len(), i + 1, "{path}");
    }
    // The alias of the pay query too: answered by paybridge from DaxPay.
    let query = jeepay_body(&[("payOrderId", "DAX1")]);
    let a = post_json(w.proxy.addr, "/api/pay/qu%65ry/", &query).await;
    assert_eq!(a.json()["data"]["state"], 6, "{}", a.body);
    assert!(
        w.legacy.received().is_empty(),
        "an alias reached the legacy gateway: {:?}",
        w.legacy.received()
    );
}

#[tokio::test]
async fn look_alikes_jeepay_would_not_map_are_refused_and_reach_nothing() {
    let w = world(MIGRATED).await;
    // Spring reads the raw URI (Tomcat's normalised copy only chooses the servlet): dot
    // segments stay, matching is case-sensitive, no suffix pattern, no encoded `/` (Tomcat 400).
    for path in [
        "/api/pay/./close",
        "/api/pay/x/../close",
        "/API/pay/close",
        "/api/pay/Close",
        "/api/pay/close.json",
        "/api/pay%2Fclose",
        "/api/pay/%2563lose",
        "/api/refund/REFUNDORDER",
        "/api/refund/./refundOrder",
    ] {
        let a = post_json(w.proxy.addr, path, &close_body(Some("DAX6"), None)).await;
        assert_not_found(&a, path);
    }
    assert!(w.legacy.received().is_empty(), "{:?}", w.legacy.received());
    assert_eq!(w.sandbox.requests_seen(), 0);
    assert_eq!(w.sandbox.order_status("DAX6"), Some(OrderStatus::Progress));
}

#[tokio::test]
async fn the_relay_is_reached_by_its_exact_path_only() {
    let w = world("").await;
    for (method, path) in [
        ("POST", "/DAXPAY/notify/00000000000000000000000000000000"),
        ("POST", "/daxpay//notify/00000000000000000000000000000000"),
        ("POST", "/daxpay/notify/%30000"),
        ("POST", "/daxpay/notify/0000;x=1"),
        ("POST", "/daxpay/notify/0000/"),
        ("POST", "/daxpay/notify/"),
        ("GET", "/jeepay/return/0000/x"),
        ("GET", "/Jeepay/Return/0000"),
        ("GET", "/jeepay/./return/0000"),
    ] {
        let a = send(
            w.proxy.addr,
            method,
            path,
            Some("application/json"),
            "{}",
            &[],
        )
        .await;
        assert_not_found(&a, path);
    }
    assert!(w.legacy.received().is_empty(), "{:?}", w.legacy.received());
    // The exact path is still the relay (an unknown token: paybridge's own answer).
    let a = send(w.proxy.addr, "GET", "/jeepay/return/0000", None, "", &[]).await;
    assert!(!a.body.contains("请求路径不存在"), "{}", a.body);
    assert!(w.legacy.received().is_empty());
}

/// The URIs the legacy gateway received, in order.
fn received(legacy: &LegacySandbox) -> Vec<String> {
    legacy.received().into_iter().map(|r| r.uri).collect()
}

#[tokio::test]
async fn for_a_passthrough_merchant_an_alias_reaches_legacy_as_the_canonical_path() {
    let w = world("").await;
    let a = post_json(
        w.proxy.addr,
        "/api/pay/%63lose;jsessionid=1?x=%2F1",
        &close_body(Some("L1"), None),
    )
    .await;
    assert_eq!(a.json()["code"], 0, "{}", a.body);
    assert_eq!(
        w.legacy.order_state("L1"),
        Some(6),
        "the legacy order closed"
    );
    let a = post_json(
        w.proxy.addr,
        "/api/refund/refundOrder/",
        &refund_body("LM2", "LR1"),
    )
    .await;
    assert_eq!(a.json()["code"], 0, "{}", a.body);
    assert_eq!(w.legacy.refunds().len(), 1);
    // A look-alike is refused here too, not forwarded.
    let a = post_json(
        w.proxy.addr,
        "/API/pay/close",
        &close_body(Some("L1"), None),
    )
    .await;
    assert_not_found(&a, "/API/pay/close");
    assert_eq!(
        received(&w.legacy),
        ["/api/pay/close?x=%2F1", "/api/refund/refundOrder"]
    );
    assert_eq!(w.sandbox.requests_seen(), 0);
}

#[tokio::test]
async fn every_other_path_passes_through_byte_for_byte() {
    let w = world("").await;
    let paths = [
        "/api/pay/aliBarOrder;v=1?a=%2F&b=c+d",
        "/api/transfer%4Frder//x/./y/../z?q=%E4%BD%A0",
        "/api/pay/close/x",
        "/api/pay/closed/",
        "/API/divisionReceiver",
    ];
    for path in paths {
        // The legacy gateway's own answer (it maps none of these).
        let a = send(
            w.proxy.addr,
            "POST",
            path,
            Some("application/json"),
            "{}",
            &[],
        )
        .await;
        assert!(!a.body.contains("请求路径不存在"), "{path}: {}", a.body);
    }
    assert_eq!(received(&w.legacy), paths);
}

#[tokio::test]
async fn routing_rules_and_unreadable_requests_see_the_canonical_path() {
    // Only /api/pay/close is translated, by a rule on the path.
    let routes = "[[routes]]\npaths = [\"/api/pay/close\"]\naction = \"translate\"\n";
    let w = world(routes).await;
    let a = post_json(
        w.proxy.addr,
        "/api/pay/%63lose",
        &close_body(Some("DAX1"), None),
    )
    .await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(w.sandbox.order_status("DAX1"), Some(OrderStatus::Close));
    // An unreadable request (appId twice) on an alias of a translated path is answered by
    // paybridge, as on the path itself.
    let text = close_body(Some("L1"), None).to_string();
    let duplicated = format!("{{\"appId\":\"{JEEPAY_APP}\",{}", &text[1..]);
    let a = send(
        w.proxy.addr,
        "POST",
        "/api/pay/close;x=1",
        Some("application/json"),
        duplicated,
        &[],
    )
    .await;
    assert_eq!(a.body, error(11, "参数有误[转换异常]"));
    assert!(w.legacy.received().is_empty(), "{:?}", received(&w.legacy));
    assert_eq!(w.legacy.order_state("L1"), Some(1));
}
