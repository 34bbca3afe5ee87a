//! Two merchant dialects on one listener: which dialect a request is in where the path does not
//! say it alone, and epay merchants routed by `pid` (rules, rollout) while Jeepay merchants keep
//! their routes. Through real sockets, with the legacy epay gateway of the sandbox.

mod common;

use common::epay;
use common::epay::client::FORM;
use common::epay::world::world;
use common::{close_body, post_json, send};

const LEGACY_PAID: (&str, &str, &str, u8) = ("2024070112000012345", "LEGACY-PAID", "1.50", 1);

fn mapi_fields(no: &str) -> Vec<(&str, &str)> {
    vec![
        ("pid", epay::PID),
        ("type", "alipay"),
        ("out_trade_no", no),
        ("notify_url", "http://127.0.0.1:9/notify.php"),
        ("name", "route"),
        ("money", "1.00"),
        ("clientip", "192.168.1.100"),
    ]
}

/// `/api/pay/query` and `/api/pay/close` are Jeepay's and epay V2's: a request naming both a
/// `pid` and an `mchNo` (as Jeepay binds it: `mch_no` too) is refused, in Jeepay's envelope,
/// before anything is routed or sent.
#[tokio::test]
async fn a_shared_path_naming_both_pid_and_mch_no_is_refused() {
    let w = world(Some(&[LEGACY_PAID]), "").await;
    let legacy = w.legacy.clone().unwrap();
    let refused = common::error(9999, "参数有误[请求同时含有pid与mchNo，无法确定接口类型]");
    for (path, body) in [
        (
            "/api/pay/query",
            format!(
                "pid=1001&mchNo={}&out_trade_no=A&timestamp=1",
                common::JEEPAY_MCH
            ),
        ),
        (
            "/api/pay/close",
            format!(
                "pid=1001&mch_no={}&trade_no=1&timestamp=1",
                common::JEEPAY_MCH
            ),
        ),
    ] {
        let a = send(w.proxy, "POST", path, Some(FORM), body, &[]).await;
        assert_eq!(a.body, refused, "{path}");
    }
    // A pid in the query string and an mchNo in the form body: both are named.
    let a = send(
        w.proxy,
        "POST",
        "/api/pay/query?pid=1001",
        Some(FORM),
        format!("mchNo={}", common::JEEPAY_MCH),
        &[],
    )
    .await;
    assert_eq!(a.body, refused);
    assert!(legacy.received().is_empty(), "nothing routed");
    assert_eq!(w.sandbox.requests_seen(), 0, "nothing sent");
}

/// A Jeepay request on a shared path is Jeepay's as before, even with a `pid` in a JSON body
/// (epay never reads JSON).
#[tokio::test]
async fn a_jeepay_request_on_a_shared_path_stays_jeepay() {
    let w = world(Some(&[LEGACY_PAID]), "").await;
    let legacy = w.legacy.clone().unwrap();
    let mut body = close_body(None, Some("MO-X"));
    body["pid"] = serde_json::json!("1001");
    let a = post_json(w.proxy, "/api/pay/close", &body).await;
    // The default route passes it through to the legacy gateway, untouched.
    assert_eq!(legacy.received().len(), 1, "{}", a.body);
    assert_eq!(legacy.received()[0].uri, "/api/pay/close");
}

/// An epay merchant is `epay:<pid>` in the store, but no Jeepay app: a Jeepay-signed request
/// naming it (signed with the epay merchant's own key) is refused as an unknown app, nothing sent.
#[tokio::test]
async fn an_epay_merchant_is_no_jeepay_app() {
    let w = world(None, "").await;
    let body = common::jeepay_body_for(
        "epay:1001",
        "epay:1001",
        epay::KEY,
        &[("mchOrderNo", "MO-E")],
    );
    let a = post_json(w.proxy, "/api/pay/close", &body).await;
    assert_eq!(a.body, common::error(9999, "商户或商户应用不存在"));
    assert_eq!(w.sandbox.requests_seen(), 0, "nothing sent");
}

/// A `pid` rule routes the epay merchant and no Jeepay merchant; a rollout names an epay
/// merchant `epay:<pid>` in `allow`/`deny`.
#[tokio::test]
async fn epay_merchants_are_routed_by_pid() {
    let routes = "\n[routing]\ndefault = { action = \"translate\" }\n\
                  [[routes]]\nname = \"epay 1001 stays\"\npid = [\"1001\"]\naction = \"passthrough\"\nupstream = \"legacy\"\n";
    let w = world(Some(&[LEGACY_PAID]), routes).await;
    let legacy = w.legacy.clone().unwrap();
    let client = w.client();
    let a = client.mapi(&mapi_fields("R-1")).await.json();
    assert_eq!(a["code"], 1, "{a}");
    assert_eq!(legacy.received().len(), 1, "the pid rule passed it through");
    assert_eq!(legacy.received()[0].uri, "/mapi.php");
    assert_eq!(w.sandbox.requests_seen(), 0);
    // A Jeepay merchant matches no pid rule: translated (the default).
    let closed = post_json(w.proxy, "/api/pay/close", &close_body(None, Some("MO-1"))).await;
    assert_eq!(legacy.received().len(), 1, "{}", closed.body);
    assert_eq!(w.sandbox.requests_seen(), 1, "{}", closed.body);

    for (list, passes) in [("deny", true), ("allow", false)] {
        let routes = format!(
            "\n[routing]\ndefault = {{ action = \"passthrough\", upstream = \"legacy\" }}\n\
             [[routes]]\nname = \"rollout\"\naction = \"translate\"\nrollout_percent = {}\n\
             {list} = [\"epay:1001\"]\notherwise = \"legacy\"\n",
            if passes { 100 } else { 0 }
        );
        let w = world(Some(&[LEGACY_PAID]), &routes).await;
        let legacy = w.legacy.clone().unwrap();
        let _ = w.client().mapi(&mapi_fields("R-2")).await;
        assert_eq!(
            legacy.received().len(),
            usize::from(passes),
            "{list}: epay:1001 {}",
            if passes {
                "passes through"
            } else {
                "is translated"
            }
        );
    }
}

/// `paybridge route --pid`: the rule an epay merchant's request matches, and its DaxPay call.
#[test]
fn paybridge_route_explains_an_epay_merchant() {
    let toml = common::proxy_toml("127.0.0.1:9".parse().unwrap(), "3.0", "hmac_sha256", "", "")
        + &common::epay::world::epay_merchant_toml("")
        + "\n[upstreams.legacy]\nkind = \"legacy\"\nbase_url = \"http://127.0.0.1:9\"\n\
           [routing]\ndefault = { action = \"passthrough\", upstream = \"legacy\" }\n\
           [[routes]]\nname = \"epay on DaxPay\"\npid = [\"1001\"]\naction = \"translate\"\n";
    let config = paybridge::config::Config::from_toml(&toml).unwrap();
    let identity = |pid| paybridge::dialect::merchant::Identity {
        mch_no: None,
        app_id: None,
        pid: Some(pid),
    };
    let headers = http::HeaderMap::new();
    let out = paybridge::cli::explain_route_for(&config, "/mapi.php", identity("1001"), &headers);
    assert!(out.contains("request: /mapi.php pid=1001"), "{out}");
    assert!(out.contains("matches: rule 0 `epay on DaxPay`"), "{out}");
    assert!(
        out.contains("action: translate unified_order → DaxPay"),
        "{out}"
    );
    let out = paybridge::cli::explain_route_for(&config, "/mapi.php", identity("1002"), &headers);
    assert!(out.contains("matches: the default rule"), "{out}");
    assert!(out.contains("action: pass through"), "{out}");
}
