//! Merchant-by-merchant migration: passthrough to a legacy Jeepay gateway, rule order, body-based
//! matching, fallback both ways, sticky rollout, override header, shadow, and hot reload.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use paybridge::config::Config;
use paybridge::proxy::routing::rollout_bucket;
use paybridge_sandbox::{LegacySandbox, OrderStatus, Sandbox};
use serde_json::Value;

/// A legacy Jeepay gateway knowing the default merchant (same keys as on paybridge) and M2.
fn legacy_toml(orders: &[(&str, &str, &str, u8)]) -> String {
    let mut s = format!(
        r#"
[legacy_sandbox]
listen = "127.0.0.1:0"
[[legacy_sandbox.apps]]
mch_no = "{JEEPAY_MCH}"
app_id = "{JEEPAY_APP}"
secret = "{JEEPAY_SECRET}"
[[legacy_sandbox.apps]]
mch_no = "M2"
app_id = "app-of-m2"
secret = "secret-of-m2"
"#
    );
    for (pay, mch_order, mch_no, state) in orders {
        s.push_str(&format!(
            "[[legacy_sandbox.orders]]\npay_order_id = \"{pay}\"\nmch_order_no = \"{mch_order}\"\nmch_no = \"{mch_no}\"\nstate = {state}\n"
        ));
    }
    s
}

struct World {
    proxy: Running,
    sandbox: Sandbox,
    legacy: LegacySandbox,
    _servers: Vec<Running>,
}

/// DaxPay sandbox + legacy gateway + paybridge with `routes` (TOML appended to the config).
async fn world(
    dax_orders: &[(&str, &str, &str)],
    legacy_orders: &[(&str, &str, &str, u8)],
    routes: &str,
) -> World {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", dax_orders)).await;
    let (lg, legacy) = start_legacy(&legacy_toml(legacy_orders)).await;
    let toml = world_toml(sb.addr, lg.addr, routes);
    let proxy = start_proxy(&toml).await;
    World {
        proxy,
        sandbox,
        legacy,
        _servers: vec![sb, lg],
    }
}

fn world_toml(dax: std::net::SocketAddr, legacy: std::net::SocketAddr, routes: &str) -> String {
    let base = proxy_toml(dax, "3.0", "hmac_sha256", "", "");
    format!(
        r#"{base}
[upstreams.legacy]
kind = "legacy"
base_url = "http://{legacy}"
timeout_ms = 2000
{routes}
"#
    )
}

fn close_for(mch_no: &str, app_id: &str, secret: &str, pay_order_id: &str) -> Value {
    signed(
        &[
            ("mchNo", mch_no),
            ("appId", app_id),
            ("version", "1.0"),
            ("signType", "MD5"),
            ("reqTime", req_time()),
            ("payOrderId", pay_order_id),
        ],
        secret,
    )
}

#[tokio::test]
async fn passthrough_is_byte_exact_both_ways() {
    let w = world(
        &[],
        &[("L1", "LM1", JEEPAY_MCH, 1), ("L2", "LM2", JEEPAY_MCH, 1)],
        "",
    )
    .await;
    // Default with one legacy upstream and no rule: everything passes through.
    let body = format!("{} ", close_body(Some("L1"), None)); // trailing space: bytes, not JSON, are forwarded
    let a = send(
        w.proxy.addr,
        "POST",
        "/api/pay/close?trace=1&x=%E4%B8%AD",
        Some("application/json; charset=utf-8"),
        body.clone(),
        &[
            ("x-merchant-trace", "abc"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
            ("x-forwarded-for", "10.9.8.7"),
        ],
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(w.legacy.order_state("L1"), Some(6));
    assert_eq!(w.sandbox.requests_seen(), 0, "nothing reached DaxPay");

    let seen = w.legacy.received();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.uri, "/api/pay/close?trace=1&x=%E4%B8%AD");
    assert_eq!(r.body, body.as_bytes());
    assert_eq!(r.headers["x-merchant-trace"], "abc");
    assert_eq!(r.headers["content-type"], "application/json; charset=utf-8");
    assert_eq!(r.headers["x-forwarded-for"], "10.9.8.7, 127.0.0.1");
    assert!(
        r.headers.get("x-hop").is_none(),
        "headers named by Connection are hop-by-hop"
    );

    // A path paybridge does not translate is passed through too, status and body unchanged.
    let a = send(
        w.proxy.addr,
        "POST",
        "/api/transfer/transferOrder",
        Some("application/json"),
        "{}",
        &[],
    )
    .await;
    assert_eq!(a.status, 404);
    assert_eq!(w.legacy.received().len(), 2);

    // Jeepay's empty-body quirk reaches the merchant as it is.
    drop(w);
    let mut toml = legacy_toml(&[("Q1", "QM1", JEEPAY_MCH, 1)]);
    toml.push_str("empty_body = true\n");
    let (lg, _legacy) = start_legacy(&toml).await;
    let (sb, _) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let proxy = start_proxy(&world_toml(sb.addr, lg.addr, "")).await;
    let a = post_json(proxy.addr, "/api/pay/close", &close_body(Some("Q1"), None)).await;
    assert_eq!((a.status.as_u16(), a.body.as_str()), (200, ""));
}

#[tokio::test]
async fn rules_match_in_order_on_path_merchant_app_and_header() {
    let routes = r#"
[[routes]]
name = "canary header"
header = { name = "x-canary", value = "yes" }
action = "translate"

[[routes]]
name = "pilot merchant"
mch_no = ["M1623984572"]
paths = ["/api/pay/close"]
action = "translate"

[[routes]]
name = "M2 stays"
app_id = ["app-of-m2"]
action = "passthrough"
upstream = "legacy"
"#;
    let dax = [
        ("D1", "MD1", "progress"),
        ("D2", "MD2", "progress"),
        ("D3", "MD3", "progress"),
        ("D4", "MD4", "progress"),
    ];
    let legacy = [
        ("D4", "MD4", JEEPAY_MCH, 1),
        ("C1", "MC1", JEEPAY_MCH, 1),
        ("M2A", "M2A", "M2", 1),
    ];
    let w = world(&dax, &legacy, routes).await;

    // JSON, form and query bodies all match on mchNo.
    let a = post_json(
        w.proxy.addr,
        "/api/pay/close",
        &close_body(Some("D1"), None),
    )
    .await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(w.sandbox.order_status("D1"), Some(OrderStatus::Close));
    let form = form_of(&close_body(Some("D2"), None));
    let a = send(
        w.proxy.addr,
        "POST",
        "/api/pay/close",
        Some("application/x-www-form-urlencoded"),
        form.clone(),
        &[],
    )
    .await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(w.sandbox.order_status("D2"), Some(OrderStatus::Close));
    let form = form_of(&close_body(Some("D3"), None));
    let a = send(
        w.proxy.addr,
        "GET",
        &format!("/api/pay/close?{form}"),
        None,
        "",
        &[],
    )
    .await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(w.sandbox.order_status("D3"), Some(OrderStatus::Close));
    assert!(w.legacy.received().is_empty());

    // The pilot rule names only /api/pay/close: cancel falls to the default (passthrough).
    let a = post_json(
        w.proxy.addr,
        "/api/pay/cancel",
        &close_body(Some("D4"), None),
    )
    .await;
    assert_eq!(w.legacy.received().len(), 1);
    assert_eq!(w.sandbox.order_status("D4"), Some(OrderStatus::Progress));
    assert_eq!(
        a.status, 404,
        "the legacy gateway has no cancel endpoint; its answer is passed on"
    );

    // M2 passes through by appId.
    let a = post_json(
        w.proxy.addr,
        "/api/pay/close",
        &close_for("M2", "app-of-m2", "secret-of-m2", "M2A"),
    )
    .await;
    assert_eq!(a.body, jeepay_success("secret-of-m2"));
    assert_eq!(w.legacy.order_state("M2A"), Some(6));

    // The first rule wins when its header is present, even for M2.
    let before = w.sandbox.requests_seen();
    let body = close_for("M2", "app-of-m2", "secret-of-m2", "NOPE").to_string();
    let a = send(
        w.proxy.addr,
        "POST",
        "/api/pay/close",
        Some("application/json"),
        body,
        &[("x-canary", "yes")],
    )
    .await;
    assert_eq!(a.body, error(9999, "订单不存在"));
    assert_eq!(w.sandbox.requests_seen(), before + 1);
}

fn form_of(body: &Value) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            body.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap())),
        )
        .finish()
}

#[tokio::test]
async fn translate_falls_back_to_legacy_only_on_a_verified_missing_order() {
    let routes = r#"
[routing]
default = { action = "translate", fallback = "legacy" }
"#;
    let dax = [("DONE", "MDONE", "success")];
    let legacy = [("OLD1", "MOLD1", JEEPAY_MCH, 1)];
    let w = world(&dax, &legacy, routes).await;

    // DaxPay 20041 (signed) → the original request goes to the legacy gateway, once.
    let body = close_body(Some("OLD1"), None);
    let a = post_json(w.proxy.addr, "/api/pay/close", &body).await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(w.legacy.order_state("OLD1"), Some(6));
    assert_eq!(w.legacy.received().len(), 1);
    assert_eq!(w.legacy.received()[0].body, body.to_string().as_bytes());

    // Missing on both: the legacy answer comes back, no loop.
    let a = post_json(
        w.proxy.addr,
        "/api/pay/close",
        &close_body(Some("NOWHERE"), None),
    )
    .await;
    assert_eq!(a.body, error(9999, "订单不存在"));
    assert_eq!(w.legacy.received().len(), 2);

    // 20044, bad signature, unknown merchant: no fallback.
    let a = post_json(
        w.proxy.addr,
        "/api/pay/close",
        &close_body(Some("DONE"), None),
    )
    .await;
    assert_eq!(a.body, error(9999, "当前订单不可关闭"));
    let mut bad = close_body(Some("OLD1"), None);
    bad["sign"] = Value::from("00000000000000000000000000000000");
    let a = post_json(w.proxy.addr, "/api/pay/close", &bad).await;
    assert_eq!(a.body, error(9999, "验签失败"));
    assert_eq!(w.legacy.received().len(), 2, "no fallback on other answers");
}

#[tokio::test]
async fn no_fallback_on_timeout_or_unsigned_not_found() {
    let legacy_orders = [("OLD1", "MOLD1", JEEPAY_MCH, 1)];
    let (lg, legacy) = start_legacy(&legacy_toml(&legacy_orders)).await;
    let slow = start_fake(|_| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        http::Response::new(http_body_util::Full::new(bytes::Bytes::new()))
    })
    .await;
    let unsigned = start_fake(|_| async {
        http::Response::new(http_body_util::Full::new(bytes::Bytes::from(
            r#"{"code":20041,"msg":"支付订单不存在","data":null,"traceId":"t"}"#,
        )))
    })
    .await;
    for (fake, expected) in [
        (
            slow.addr,
            error(10, "系统异常[上游应答超时，结果未知，请稍后查询订单]"),
        ),
        (unsigned.addr, error(9999, "订单不存在")),
    ] {
        let toml = world_toml(
            fake,
            lg.addr,
            "[routing]\ndefault = { action = \"translate\", fallback = \"legacy\" }\n",
        )
        .replace("timeout_ms = 2000\n", "timeout_ms = 500\n");
        let proxy = start_proxy(&toml).await;
        let a = post_json(
            proxy.addr,
            "/api/pay/close",
            &close_body(Some("OLD1"), None),
        )
        .await;
        assert_eq!(a.body, expected);
    }
    assert!(
        legacy.received().is_empty(),
        "an unverified not-found or a timeout never falls back"
    );
    assert_eq!(legacy.order_state("OLD1"), Some(1));
}

#[tokio::test]
async fn passthrough_falls_back_to_daxpay_on_legacy_not_found() {
    let routes = r#"
[routing]
default = { action = "passthrough", upstream = "legacy", fallback = "merchant" }
"#;
    let w = world(
        &[("NEW1", "MNEW1", "progress")],
        &[("L1", "LM1", JEEPAY_MCH, 2)],
        routes,
    )
    .await;
    let a = post_json(
        w.proxy.addr,
        "/api/pay/close",
        &close_body(Some("NEW1"), None),
    )
    .await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(w.sandbox.order_status("NEW1"), Some(OrderStatus::Close));
    // Another legacy answer (not closable) is final.
    let a = post_json(
        w.proxy.addr,
        "/api/pay/close",
        &close_body(Some("L1"), None),
    )
    .await;
    assert_eq!(a.body, error(9999, "当前订单不可关闭"));
    assert_eq!(w.sandbox.requests_seen(), 1);
}

/// Merchants on either side of a 50% rollout, found by their stable buckets.
fn merchants_around(percent: u32) -> (String, String) {
    let inside = (0..)
        .map(|i| format!("R{i}"))
        .find(|m| rollout_bucket(m) < percent * 100)
        .unwrap();
    let outside = (0..)
        .map(|i| format!("R{i}"))
        .find(|m| rollout_bucket(m) >= percent * 100)
        .unwrap();
    (inside, outside)
}

/// Each on its own DaxPay app (one identity per merchant unless shared explicitly).
fn rollout_merchants(names: &[&str]) -> String {
    names
        .iter()
        .map(|m| {
            format!(
                "[[merchants]]\nmch_no = \"{m}\"\napp_id = \"app-{m}\"\nsecret = \"s-{m}\"\n[merchants.daxpay]\nupstream = \"dax\"\nmch_no = \"{DAX_MCH}\"\napp_id = \"dax-{m}\"\n"
            )
        })
        .collect()
}

#[tokio::test]
async fn rollout_is_sticky_and_honours_allow_and_deny() {
    let (inside, outside) = merchants_around(50);
    let (inside2, _) = merchants_around(30);
    let routes = format!(
        r#"{}
[[routes]]
name = "half"
action = "translate"
rollout_percent = 50
allow = ["{outside}"]
deny = ["{inside2}"]
otherwise = "legacy"
"#,
        rollout_merchants(&[&inside, &outside, &inside2])
    );
    let (sb, _sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let (lg, _legacy) = start_legacy(&legacy_toml(&[])).await;
    let config = Config::from_toml(&world_toml(sb.addr, lg.addr, &routes)).unwrap();
    let explain = |m: &str| {
        paybridge::cli::explain_route(
            &config,
            "/api/pay/close",
            Some(m),
            Some(&format!("app-{m}")),
            &Default::default(),
        )
    };
    if inside != inside2 {
        assert!(
            explain(&inside).contains("action: translate"),
            "{}",
            explain(&inside)
        );
    }
    assert!(
        explain(&outside).contains("action: translate"),
        "allowed: {}",
        explain(&outside)
    );
    assert!(
        explain(&inside2).contains("action: pass through"),
        "denied: {}",
        explain(&inside2)
    );
    let (_, plain_outside) = (0..)
        .map(|i| format!("Z{i}"))
        .map(|m| (rollout_bucket(&m), m))
        .find(|(b, _)| *b >= 5000)
        .unwrap();
    assert!(explain(&plain_outside).contains("action: pass through"));
    // Stable across a reload: the same configuration parsed again decides the same.
    let again = Config::from_toml(&world_toml(sb.addr, lg.addr, &routes)).unwrap();
    for m in [&inside, &outside, &inside2, &plain_outside] {
        let a = paybridge::cli::explain_route(
            &again,
            "/api/pay/close",
            Some(m),
            None,
            &Default::default(),
        );
        let b = paybridge::cli::explain_route(
            &config,
            "/api/pay/close",
            Some(m),
            None,
            &Default::default(),
        );
        assert_eq!(a, b);
    }
}

#[tokio::test]
async fn override_header_is_ignored_unless_enabled() {
    for enabled in [false, true] {
        let routes = format!("[routing]\noverride_header = {enabled}\ndefault = {{ action = \"passthrough\", upstream = \"legacy\" }}\n");
        let w = world(
            &[("D1", "MD1", "progress")],
            &[("D1", "MD1", JEEPAY_MCH, 1)],
            &routes,
        )
        .await;
        let body = close_body(Some("D1"), None).to_string();
        let a = send(
            w.proxy.addr,
            "POST",
            "/api/pay/close",
            Some("application/json"),
            body,
            &[("x-paybridge-route", "translate")],
        )
        .await;
        assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
        if enabled {
            assert_eq!(w.sandbox.order_status("D1"), Some(OrderStatus::Close));
            assert!(w.legacy.received().is_empty());
        } else {
            assert_eq!(w.sandbox.requests_seen(), 0);
            assert_eq!(w.legacy.order_state("D1"), Some(6));
        }
    }
}

#[tokio::test]
async fn shadow_sends_nothing_to_daxpay() {
    let routes = r#"
[routing]
default = { action = "passthrough", upstream = "legacy", shadow = "dax" }
"#;
    let w = world(
        &[("S1", "MS1", "progress")],
        &[("S1", "MS1", JEEPAY_MCH, 1)],
        routes,
    )
    .await;
    let a = post_json(
        w.proxy.addr,
        "/api/pay/close",
        &close_body(Some("S1"), None),
    )
    .await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(w.legacy.order_state("S1"), Some(6));
    assert_eq!(w.sandbox.requests_seen(), 0);
    assert_eq!(w.sandbox.order_status("S1"), Some(OrderStatus::Progress));
}

/// Starts paybridge through `app::run` with its configuration in a file and an admin listener.
async fn world_with_admin(toml: &str) -> (Running, std::net::SocketAddr, tempfile::NamedTempFile) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), toml).unwrap();
    let config = Arc::new(Config::load(file.path()).unwrap());
    let bound = paybridge::app::bind(&config).await.unwrap();
    let addr = bound.proxy_addr().unwrap();
    let admin = bound.admin_addr().unwrap();
    let gateway = paybridge::proxy::Gateway::new(config);
    let reloader = paybridge::reload::Reloader::new(file.path().to_owned(), gateway.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(paybridge::app::run(
        gateway,
        bound,
        Some(reloader),
        async move {
            let _ = rx.await;
        },
    ));
    (Running::new(addr, tx), admin, file)
}

#[tokio::test]
async fn reload_under_load_answers_every_request_from_one_configuration() {
    let orders: Vec<(String, String, String)> = (0..400)
        .map(|i| (format!("O{i}"), format!("MO{i}"), "progress".to_owned()))
        .collect();
    let order_refs: Vec<(&str, &str, &str)> = orders
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    let (sb, _sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &order_refs)).await;
    let toml_a = proxy_toml(
        sb.addr,
        "3.0",
        "hmac_sha256",
        "",
        "success_code = 0\nsuccess_msg = \"A\"",
    ) + "\n[admin]\nlisten = \"127.0.0.1:0\"\n";
    let toml_b = toml_a.replace(
        "success_code = 0\nsuccess_msg = \"A\"",
        "success_code = 200\nsuccess_msg = \"B\"",
    );
    let (proxy, admin, file) = world_with_admin(&toml_a).await;

    let mut tasks = Vec::new();
    for i in 0..400 {
        let addr = proxy.addr;
        tasks.push(tokio::spawn(async move {
            post_json(
                addr,
                "/api/pay/close",
                &close_body(Some(&format!("O{i}")), None),
            )
            .await
            .json()
        }));
    }
    for m in 0..10 {
        std::fs::write(file.path(), if m % 2 == 0 { &toml_b } else { &toml_a }).unwrap();
        let a = send(admin, "POST", "/admin/reload", None, "", &[]).await;
        assert_eq!(a.status, 200, "{}", a.body);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut seen = std::collections::BTreeMap::new();
    for t in tasks {
        let answer = t.await.unwrap();
        let pair = (
            answer["code"].as_i64().unwrap(),
            answer["msg"].as_str().unwrap().to_owned(),
        );
        assert!(
            pair == (0, "A".into()) || pair == (200, "B".into()),
            "mixed configuration: {pair:?}"
        );
        assert!(sdk_accepts(&answer, JEEPAY_SECRET));
        *seen.entry(pair).or_insert(0) += 1;
    }
    assert_eq!(seen.values().sum::<i32>(), 400);

    // An invalid configuration is refused and the previous one keeps serving.
    std::fs::write(
        file.path(),
        toml_a.replace("upstream = \"dax\"", "upstream = \"missing\""),
    )
    .unwrap();
    let a = send(admin, "POST", "/admin/reload", None, "", &[]).await;
    assert_eq!(a.status, 422);
    assert!(
        a.body.contains("merchants[0].daxpay.upstream"),
        "{}",
        a.body
    );
    let a = post_json(
        proxy.addr,
        "/api/pay/close",
        &close_body(Some("NOPE"), None),
    )
    .await;
    assert_eq!(a.body, error(9999, "订单不存在"));
    let shown = send(admin, "GET", "/admin/config", None, "", &[]).await;
    assert!(shown.body.contains("merchant M1623984572"));
    assert!(!shown.body.contains(JEEPAY_SECRET) && !shown.body.contains(DAX_SECRET));
}

#[tokio::test]
async fn a_changed_file_is_picked_up_without_a_signal() {
    let (sb, _sandbox) = start_sandbox(&sandbox_toml(
        "3.0",
        "hmac_sha256",
        &[("F1", "MF1", "progress")],
    ))
    .await;
    let admin = "\n[admin]\nlisten = \"127.0.0.1:0\"\n";
    let toml_a = proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "") + admin;
    let toml_b = proxy_toml(
        sb.addr,
        "3.0",
        "hmac_sha256",
        "",
        "success_msg = \"RELOADED\"",
    ) + admin;
    let (proxy, _admin, file) = world_with_admin(&toml_a).await;
    std::fs::write(file.path(), toml_b).unwrap();
    // The file is polled every 2 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut order = 0;
    loop {
        let a = post_json(
            proxy.addr,
            "/api/pay/close",
            &close_body(Some("NOPE"), None),
        )
        .await;
        assert_eq!(a.body, error(9999, "订单不存在"), "served throughout");
        tokio::time::sleep(Duration::from_millis(200)).await;
        order += 1;
        let shown = send(_admin, "GET", "/admin/config", None, "", &[]).await;
        if shown.body.contains("RELOADED") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not reloaded after {order} polls"
        );
    }
    let a = post_json(proxy.addr, "/api/pay/close", &close_body(Some("F1"), None)).await;
    assert_eq!(a.json()["msg"], "RELOADED");
}

#[tokio::test]
async fn a_fallback_that_cannot_be_translated_keeps_the_legacy_answer() {
    // M7 has an app on the legacy gateway only: paybridge holds no key for it.
    let legacy_only = "[[legacy_sandbox.apps]]\nmch_no = \"M7\"\napp_id = \"app-of-m7\"\nsecret = \"secret-of-m7\"\n";
    let (lg, legacy) = start_legacy(&(legacy_toml(&[]) + legacy_only)).await;
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let routes = "[routing]\ndefault = { action = \"passthrough\", upstream = \"legacy\", fallback = \"merchant\" }\n";
    let proxy = start_proxy(&world_toml(sb.addr, lg.addr, routes)).await;
    let body = close_for("M7", "app-of-m7", "secret-of-m7", "NOPE");
    let a = post_json(proxy.addr, "/api/pay/close", &body).await;
    assert_eq!(
        a.body,
        error(9999, "订单不存在"),
        "the legacy gateway's own answer"
    );
    assert_eq!(legacy.received().len(), 1);
    assert_eq!(sandbox.requests_seen(), 0, "nothing could be translated");
}
