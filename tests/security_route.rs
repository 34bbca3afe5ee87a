//! Issue 13, findings 1 to 3, attacked through real sockets: an unreadable request must not
//! skip a migrated merchant's route, a close's signature must not cancel, and a merchant must
//! not act on another merchant's orders on a shared DaxPay identity. Each test fails if its hole
//! reopens.

mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::*;
use paybridge::config::Config;
use paybridge_sandbox::{LegacySandbox, OrderStatus, Sandbox};
use serde_json::Value;

const LEGACY_APPS: &str = r#"
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
"#;

/// A close of the default merchant, signed, with `reqTime` two days old.
fn stale_close(pay_order_id: &str) -> Value {
    let two_days_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        - 2 * 24 * 3600 * 1000;
    signed(
        &[
            ("mchNo", JEEPAY_MCH),
            ("appId", JEEPAY_APP),
            ("version", "1.0"),
            ("signType", "MD5"),
            ("reqTime", &two_days_ago.to_string()),
            ("payOrderId", pay_order_id),
        ],
        JEEPAY_SECRET,
    )
}

/// The default merchant migrated (translated by a rule on its mchNo); everything else passes
/// through to the legacy gateway by default.
async fn migrated(routes: &str) -> (Running, Sandbox, LegacySandbox, Vec<Running>) {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let (lg, legacy) = start_legacy(LEGACY_APPS).await;
    let toml = format!(
        "{}\n[upstreams.legacy]\nkind = \"legacy\"\nbase_url = \"http://{}\"\ntimeout_ms = 2000\n{routes}",
        proxy_toml(sb.addr, "3.0", "hmac_sha256", "", ""),
        lg.addr
    );
    (start_proxy(&toml).await, sandbox, legacy, vec![sb, lg])
}

const MIGRATED: &str = r#"
[[routes]]
name = "migrated merchant"
mch_no = ["M1623984572"]
action = "translate"
"#;

#[tokio::test]
async fn an_unreadable_request_never_skips_the_migrated_merchants_route() {
    let (proxy, sandbox, legacy, _servers) = migrated(MIGRATED).await;
    let stale = stale_close("L1");
    // As it was signed: refused as stale by the merchant's translate route.
    let a = post_json(proxy.addr, "/api/pay/close", &stale).await;
    let answer = a.json();
    assert_eq!(answer["code"], 9999, "{}", a.body);
    assert!(
        answer["msg"]
            .as_str()
            .unwrap()
            .starts_with("请求时间超出允许范围"),
        "{}",
        a.body
    );

    // The same bytes plus a repeated appId, which paybridge cannot read unambiguously.
    let text = stale.to_string();
    let duplicated = format!("{{\"appId\":\"{JEEPAY_APP}\",{}", &text[1..]);
    let a = send(
        proxy.addr,
        "POST",
        "/api/pay/close",
        Some("application/json"),
        duplicated,
        &[],
    )
    .await;
    assert_eq!(a.body, error(11, "参数有误[转换异常]"));
    // The same as a form and a query string with the key twice.
    let form = form_of(&stale);
    for (path, body) in [
        (
            format!("/api/pay/close?appId={JEEPAY_APP}"),
            form.clone().into_bytes(),
        ),
        (format!("/api/pay/close?{form}&appId=x"), Vec::new()),
    ] {
        let a = send(
            proxy.addr,
            "POST",
            &path,
            Some("application/x-www-form-urlencoded"),
            body,
            &[],
        )
        .await;
        assert_eq!(a.body, error(11, "参数有误[转换异常]"), "{path}");
    }
    assert!(
        legacy.received().is_empty(),
        "an unreadable request reached the legacy gateway"
    );
    assert_eq!(
        legacy.order_state("L1"),
        Some(1),
        "the legacy order is open"
    );
    assert_eq!(sandbox.requests_seen(), 0);
}

#[tokio::test]
async fn unreadable_requests_still_pass_through_where_nothing_is_translated() {
    // No rule translates /api/pay/close: the legacy gateway stays the authority for it.
    let routes = "[[routes]]\npaths = [\"/api/pay/cancel\"]\naction = \"translate\"\n";
    let (proxy, _sandbox, legacy, _servers) = migrated(routes).await;
    let text = close_body(Some("L1"), None).to_string();
    let duplicated = format!("{{\"appId\":\"{JEEPAY_APP}\",{}", &text[1..]);
    let a = send(
        proxy.addr,
        "POST",
        "/api/pay/close",
        Some("application/json"),
        duplicated,
        &[],
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(legacy.received().len(), 1, "passed through: {}", a.body);
    // On the translated path the same request is paybridge's to answer.
    let text = close_body(Some("L1"), None).to_string();
    let duplicated = format!("{{\"appId\":\"{JEEPAY_APP}\",{}", &text[1..]);
    let a = send(
        proxy.addr,
        "POST",
        "/api/pay/cancel",
        Some("application/json"),
        duplicated,
        &[],
    )
    .await;
    assert_eq!(a.body, error(11, "参数有误[转换异常]"));
    assert_eq!(legacy.received().len(), 1);
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

const CANCEL_REFUSED: &str = "商户应用未开通撤销订单，请使用关闭订单接口";

async fn translated(
    orders: &[(&str, &str, &str)],
    extra_merchant: &str,
) -> (Running, Sandbox, Running) {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", orders)).await;
    let proxy = start_proxy(&proxy_toml(
        sb.addr,
        "3.0",
        "hmac_sha256",
        "",
        extra_merchant,
    ))
    .await;
    (proxy, sandbox, sb)
}

#[tokio::test]
async fn a_captured_close_replayed_to_cancel_is_refused_without_allow_cancel() {
    let (proxy, sandbox, _sb) = translated(&[("C1", "MC1", "progress")], "").await;
    let captured = close_body(Some("C1"), None);
    let a = post_json(proxy.addr, "/api/pay/cancel", &captured).await;
    assert_eq!(a.body, error(9999, CANCEL_REFUSED));
    assert_eq!(sandbox.requests_seen(), 0, "nothing was sent to DaxPay");
    assert_eq!(sandbox.order_status("C1"), Some(OrderStatus::Progress));
    // The close itself still works.
    let a = post_json(proxy.addr, "/api/pay/close", &captured).await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(sandbox.order_status("C1"), Some(OrderStatus::Close));

    // close_uses_cancel keeps working (a close the merchant sends as a cancel), and does not
    // open /api/pay/cancel.
    let (proxy, sandbox, _sb) = translated(
        &[("C2", "MC2", "progress"), ("C3", "MC3", "progress")],
        "close_uses_cancel = true",
    )
    .await;
    let a = post_json(proxy.addr, "/api/pay/close", &close_body(Some("C2"), None)).await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(sandbox.order_status("C2"), Some(OrderStatus::Cancel));
    let a = post_json(proxy.addr, "/api/pay/cancel", &close_body(Some("C3"), None)).await;
    assert_eq!(a.body, error(9999, CANCEL_REFUSED));
    assert_eq!(sandbox.order_status("C3"), Some(OrderStatus::Progress));
}

#[tokio::test]
async fn cancel_works_for_a_merchant_that_allows_it() {
    let (proxy, sandbox, _sb) =
        translated(&[("C1", "MC1", "progress")], "allow_cancel = true").await;
    let a = post_json(proxy.addr, "/api/pay/cancel", &close_body(Some("C1"), None)).await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(sandbox.order_status("C1"), Some(OrderStatus::Cancel));
}

/// Merchants A (the default one) and B on one DaxPay app; `shared` is the TOML added to each
/// merchant's `[merchants.daxpay]` (`{P}` is replaced by the merchant's letter).
fn shared_toml(dax: SocketAddr, shared: &str) -> String {
    let merchant = |mch: &str, app: &str, secret: &str, letter: &str| {
        format!(
            "[[merchants]]\nmch_no = \"{mch}\"\napp_id = \"{app}\"\nsecret = \"{secret}\"\n\
             [merchants.daxpay]\nupstream = \"dax\"\nmch_no = \"{DAX_MCH}\"\napp_id = \"{DAX_APP}\"\n{}\n",
            shared.replace("{P}", letter)
        )
    };
    format!(
        "[upstreams.dax]\nbase_url = \"http://{dax}\"\nsign_type = \"hmac_sha256\"\nsecret = \"{DAX_SECRET}\"\ntimeout_ms = 2000\n\n{}{}",
        merchant(JEEPAY_MCH, JEEPAY_APP, JEEPAY_SECRET, "A"),
        merchant("MB", "app-of-mb", "secret-of-mb", "B"),
    )
}

fn config_error(toml: &str) -> String {
    Config::from_toml(toml)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_else(|| panic!("accepted:\n{toml}"))
}

#[test]
fn a_shared_daxpay_identity_needs_the_opt_in_and_distinct_prefixes() {
    let dax: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let err = config_error(&shared_toml(dax, ""));
    assert!(err.starts_with("merchants[0].daxpay.shared: "), "{err}");
    assert!(err.contains("merchant MB"), "{err}");
    // One side only is not an opt-in.
    let toml = shared_toml(dax, "shared = true\norder_prefix = \"{P}-\"").replacen(
        "shared = true\norder_prefix = \"B-\"",
        "",
        1,
    );
    assert!(config_error(&toml).starts_with("merchants[1].daxpay.shared: "));
    for (shared, why) in [
        (
            "shared = true",
            "merchants[0].daxpay.order_prefix: required",
        ),
        (
            "order_prefix = \"{P}-\"",
            "merchants[0].daxpay.order_prefix: only used",
        ),
        (
            "shared = true\norder_prefix = \"\"",
            "merchants[0].daxpay.order_prefix: 1 to 32",
        ),
        (
            "shared = true\norder_prefix = \"x y\"",
            "merchants[0].daxpay.order_prefix: 1 to 32",
        ),
        (
            "shared = true\norder_prefix = \"P\"",
            "merchants[1].daxpay.order_prefix: `P` and `P`",
        ),
    ] {
        let err = config_error(&shared_toml(dax, shared));
        assert!(err.starts_with(why), "{shared}: {err}");
    }
    // A prefix that begins another could name its orders (`A` + `B1` = `AB` + `1`).
    let toml = shared_toml(dax, "shared = true\norder_prefix = \"{P}\"").replacen(
        "order_prefix = \"B\"",
        "order_prefix = \"AB\"",
        1,
    );
    assert!(config_error(&toml).contains("none may begin another"));
    // The same identity under another upstream name is the same identity.
    let toml = shared_toml(dax, "").replacen("upstream = \"dax\"", "upstream = \"dax2\"", 1)
        + &format!("[upstreams.dax2]\nbase_url = \"HTTP://{dax}/\"\nsecret = \"{DAX_SECRET}\"\n");
    assert!(config_error(&toml).contains("daxpay.shared"));
    // Opted in, distinct prefixes: accepted; so are two apps of one merchant without opt-in.
    assert!(Config::from_toml(&shared_toml(dax, "shared = true\norder_prefix = \"{P}-\"")).is_ok());
    let one_merchant =
        shared_toml(dax, "").replacen("mch_no = \"MB\"", &format!("mch_no = \"{JEEPAY_MCH}\""), 1);
    assert!(Config::from_toml(&one_merchant).is_ok());

    // `paybridge check` (and so start-up and reload, which validate the same way) says so.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paybridge.toml");
    std::fs::write(&path, shared_toml(dax, "")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .arg("check")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("merchants[0].daxpay.shared"), "{stderr}");
}

fn close_as(mch: &str, app: &str, secret: &str, field: &str, number: &str) -> Value {
    signed(
        &[
            ("mchNo", mch),
            ("appId", app),
            ("version", "1.0"),
            ("signType", "MD5"),
            ("reqTime", req_time()),
            (field, number),
        ],
        secret,
    )
}

#[tokio::test]
async fn on_a_shared_identity_a_merchant_acts_only_on_its_own_orders() {
    let orders = [
        ("PA1", "A-MA1", "progress"),
        ("PA2", "A-MA2", "progress"),
        ("PB1", "B-MB1", "progress"),
    ];
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &orders)).await;
    let toml = shared_toml(sb.addr, "shared = true\norder_prefix = \"{P}-\"");
    let proxy = start_proxy(&toml).await;
    let b = |field: &str, number: &str| close_as("MB", "app-of-mb", "secret-of-mb", field, number);
    let not_found = error(9999, "订单不存在");

    // B, with its own valid signature, on A's orders: by A's mchOrderNo (with or without A's
    // prefix), and by DaxPay's number; answered exactly as an order that does not exist.
    for (field, number) in [
        ("mchOrderNo", "MA1"),
        ("mchOrderNo", "A-MA1"),
        ("payOrderId", "PA1"),
        ("payOrderId", "NOPE"),
    ] {
        let a = post_json(proxy.addr, "/api/pay/close", &b(field, number)).await;
        assert_eq!(a.body, not_found, "B closing {field}={number}");
    }
    assert_eq!(sandbox.order_status("PA1"), Some(OrderStatus::Progress));

    // B on its own order by its own number works.
    let a = post_json(proxy.addr, "/api/pay/close", &b("mchOrderNo", "MB1")).await;
    assert_eq!(a.body, jeepay_success("secret-of-mb"));
    assert_eq!(sandbox.order_status("PB1"), Some(OrderStatus::Close));

    // A closes its own orders by either number.
    let a = post_json(
        proxy.addr,
        "/api/pay/close",
        &close_as(JEEPAY_MCH, JEEPAY_APP, JEEPAY_SECRET, "payOrderId", "PA1"),
    )
    .await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(sandbox.order_status("PA1"), Some(OrderStatus::Close));
    let a = post_json(
        proxy.addr,
        "/api/pay/close",
        &close_as(JEEPAY_MCH, JEEPAY_APP, JEEPAY_SECRET, "mchOrderNo", "MA2"),
    )
    .await;
    assert_eq!(a.body, jeepay_success(JEEPAY_SECRET));
    assert_eq!(sandbox.order_status("PA2"), Some(OrderStatus::Close));
    // A closed order of A's is still, for B, an order that does not exist.
    let a = post_json(proxy.addr, "/api/pay/close", &b("payOrderId", "PA2")).await;
    assert_eq!(a.body, not_found);
}

#[tokio::test]
async fn on_a_shared_identity_a_merchant_queries_only_its_own_orders() {
    let orders = [("PA1", "A-MA1", "success"), ("PB1", "B-MB1", "progress")];
    let (sb, _sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &orders)).await;
    let toml = shared_toml(sb.addr, "shared = true\norder_prefix = \"{P}-\"");
    let proxy = start_proxy(&toml).await;
    let query_b =
        |field: &str, number: &str| close_as("MB", "app-of-mb", "secret-of-mb", field, number);
    // B on A's order, by any number: as if it did not exist.
    for (field, number) in [
        ("mchOrderNo", "MA1"),
        ("mchOrderNo", "A-MA1"),
        ("payOrderId", "PA1"),
    ] {
        let a = post_json(proxy.addr, "/api/pay/query", &query_b(field, number)).await;
        assert_eq!(
            a.body,
            error(9999, "订单不存在"),
            "B querying {field}={number}"
        );
    }
    // Each merchant reads its own, in its own terms: the prefix is not shown.
    let a = post_json(proxy.addr, "/api/pay/query", &query_b("payOrderId", "PB1")).await;
    let json = a.json();
    assert_eq!(json["data"]["mchOrderNo"], "MB1", "{}", a.body);
    assert!(sdk_accepts(&json, "secret-of-mb"));
    let a = post_json(
        proxy.addr,
        "/api/pay/query",
        &close_as(JEEPAY_MCH, JEEPAY_APP, JEEPAY_SECRET, "mchOrderNo", "MA1"),
    )
    .await;
    let json = a.json();
    assert_eq!(json["data"]["mchOrderNo"], "MA1", "{}", a.body);
    assert_eq!(json["data"]["payOrderId"], "PA1");
    assert_eq!(json["data"]["state"], 2);
    assert!(sdk_accepts(&json, JEEPAY_SECRET));
}
