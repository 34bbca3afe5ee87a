//! epay requests paybridge does not translate, and fallbacks whose answer is not epay's: an epay
//! merchant gets epay's answer, never Jeepay's or a web server's bytes (review of issue 22,
//! finding 3).
//!
//! - `api.php` with an `act` other than `order`/`refund` (or none), and V2 methods other than
//!   paybridge's, are routed by `pid`: passed through when the route says so, otherwise
//!   answered as the gateway answers an act or method it lacks (`No Act!`, `接口方法不存在`).
//! - A fallback to a legacy gateway that does not speak the endpoint's epay (a Jeepay gateway,
//!   an epay build without V2) answers the local "does not exist" in epay's words.
//! - The built-in configuration does all of it (its legacy stand-in now serves V2).

mod common;

use common::epay::world::world;
use common::epay::{self, keys, Number};
use common::{send, start_legacy, start_sandbox, JEEPAY_APP, JEEPAY_MCH, JEEPAY_SECRET};

const NO_ACT: &str = r#"{"code":-5,"msg":"No Act!"}"#;
const NO_METHOD: &str = r#"{"code":-5,"msg":"接口方法不存在"}"#;
const TRANSLATE: &str =
    "\n[routing]\ndefault = { action = \"translate\", fallback = \"legacy\" }\n";
const PASSTHROUGH: &str =
    "\n[routing]\ndefault = { action = \"passthrough\", upstream = \"legacy\" }\n";

/// `api.php` GETs paybridge does not serve: merchant info, settlements, the order list, an
/// unknown act, none.
fn unserved_acts() -> Vec<String> {
    let auth = format!("pid={}&key={}", epay::PID, epay::KEY);
    vec![
        format!("/api.php?act=query&{auth}"),
        format!("/api.php?act=settle&{auth}&limit=10"),
        format!("/api.php?act=orders&{auth}&offset=0"),
        format!("/api.php?act=nothing&{auth}"),
        format!("/api.php?{auth}"),
        "/api.php".to_owned(),
    ]
}

#[tokio::test]
async fn acts_paybridge_does_not_serve_get_no_act_on_a_translated_route() {
    let w = world(Some(&[]), TRANSLATE).await;
    let legacy = w.legacy.clone().unwrap();
    for uri in unserved_acts() {
        let a = send(w.proxy, "GET", &uri, None, "", &[]).await;
        assert_eq!((a.status.as_u16(), a.body.as_str()), (200, NO_ACT), "{uri}");
        assert_eq!(a.headers["content-type"], "application/json; charset=UTF-8");
    }
    // `act` is read from the query string only: in the body it names nothing.
    let body = format!(
        "act=order&pid={}&key={}&out_trade_no=X",
        epay::PID,
        epay::KEY
    );
    let a = send(
        w.proxy,
        "POST",
        "/api.php",
        Some(epay::client::FORM),
        body,
        &[],
    )
    .await;
    assert_eq!(a.body, NO_ACT);
    assert!(legacy.received().is_empty(), "the legacy gateway not asked");
    assert_eq!(w.sandbox.requests_seen(), 0, "nothing reached DaxPay");
}

#[tokio::test]
async fn acts_paybridge_does_not_serve_pass_through_on_a_passthrough_route() {
    let w = world(Some(&[]), PASSTHROUGH).await;
    let legacy = w.legacy.clone().unwrap();
    let uris = unserved_acts();
    for uri in &uris {
        let a = send(w.proxy, "GET", uri, None, "", &[]).await;
        // The legacy gateway's own answer (it serves none of these either).
        assert_eq!(a.body, NO_ACT, "{uri}");
    }
    let seen: Vec<String> = legacy.received().into_iter().map(|r| r.uri).collect();
    assert_eq!(seen, uris, "each forwarded as it came");
}

#[tokio::test]
async fn v2_methods_paybridge_does_not_serve_get_epays_answer() {
    let w = world(Some(&[]), TRANSLATE).await;
    let legacy = w.legacy.clone().unwrap();
    let client = w.client();
    for path in [
        "/api/pay/nothing",
        "/api/merchant/info",
        "/api/transfer/query",
    ] {
        let a = client.post_form(path, &client.v2_signed(&[])).await;
        assert_eq!(
            (a.status.as_u16(), a.body.as_str()),
            (200, NO_METHOD),
            "{path}"
        );
    }
    assert!(legacy.received().is_empty(), "answered by paybridge");
    // On a passthrough route the legacy gateway answers (and would serve what it has).
    let w = world(Some(&[]), PASSTHROUGH).await;
    let legacy = w.legacy.clone().unwrap();
    let a = w
        .client()
        .post_form("/api/merchant/info", &client.v2_signed(&[]))
        .await;
    assert_eq!(a.body, NO_METHOD);
    assert_eq!(legacy.received()[0].uri, "/api/merchant/info");
}

#[tokio::test]
async fn a_jeepay_request_to_an_unknown_path_is_still_jeepays() {
    let w = world(Some(&[]), PASSTHROUGH).await;
    let legacy = w.legacy.clone().unwrap();
    let body = common::jeepay_body(&[("payOrderId", "P1")]);
    let a = common::post_json(w.proxy, "/api/pay/nothing", &body).await;
    // Passed through to the legacy gateway, whose Jeepay side has no such path.
    assert_eq!(a.status.as_u16(), 404, "{}", a.body);
    assert!(a.body.contains("\"status\":404"), "{}", a.body);
    assert_eq!(legacy.received().len(), 1);
    // A form with both `pid` and `mchNo` is Jeepay's too: on a translated route paybridge
    // answers it in Jeepay's words, not epay's.
    let w = world(Some(&[]), TRANSLATE).await;
    let form = format!("pid=1001&mchNo={JEEPAY_MCH}&appId={JEEPAY_APP}");
    let a = send(
        w.proxy,
        "POST",
        "/api/pay/nothing",
        Some(epay::client::FORM),
        form,
        &[],
    )
    .await;
    assert_eq!(
        a.body,
        r#"{"code":9999,"msg":"请求路径不存在[/api/pay/nothing]"}"#
    );
}

/// A legacy epay gateway without V2 (no platform key): its host answers V2 paths as Jeepay
/// (the legacy sandbox's Jeepay side).
async fn v1_only_legacy() -> (common::Running, paybridge_sandbox::LegacySandbox, String) {
    let toml = format!(
        "[legacy_sandbox]\n[[legacy_sandbox.epay_merchants]]\npid = {}\nkey = \"{}\"\n\
         [[legacy_sandbox.epay_orders]]\ntrade_no = \"2024070112000012345\"\n\
         out_trade_no = \"LEGACY-PAID\"\npid = {}\nmoney = \"1.50\"\nstatus = 1\n",
        epay::PID,
        epay::KEY,
        epay::PID
    );
    let (running, legacy) = start_legacy(&toml).await;
    let upstream = format!(
        "\n[upstreams.legacy]\nkind = \"legacy\"\nbase_url = \"http://{}\"\ntimeout_ms = 2000\n",
        running.addr
    );
    (running, legacy, upstream)
}

#[tokio::test]
async fn a_fallback_answer_that_is_not_epays_is_not_relayed() {
    let (_running, legacy, upstream) = v1_only_legacy().await;
    let w = world(None, &(upstream + TRANSLATE)).await;
    let client = w.client();
    // V2 query of an order neither side has: the legacy host answers Jeepay's 9999.
    let q = client.v2("query", &[("out_trade_no", "NOWHERE")]).await;
    assert_eq!(q.body, r#"{"code":-1,"msg":"订单号不存在"}"#);
    // V2 refund query: the legacy host answers Spring's 404.
    let r = client
        .v2("refundquery", &[("out_refund_no", "NOWHERE-RF")])
        .await;
    assert_eq!(r.body, r#"{"code":-1,"msg":"退款记录不存在"}"#);
    let asked: Vec<String> = legacy.received().into_iter().map(|r| r.uri).collect();
    assert_eq!(
        asked,
        ["/api/pay/query", "/api/pay/refundquery"],
        "the legacy gateway was asked, its bytes not relayed"
    );
    // V1, which it speaks: its answers are relayed as they are (its old order, and its own
    // "does not exist").
    let old = client.query(Number::Out("LEGACY-PAID")).await.json();
    assert_eq!(
        (old["code"].as_i64(), old["status"].as_i64()),
        (Some(1), Some(1)),
        "{old}"
    );
    let none = client.query(Number::Out("NOWHERE")).await;
    assert_eq!(
        none.body,
        r#"{"code":-1,"msg":"\u8ba2\u5355\u53f7\u4e0d\u5b58\u5728"}"#
    );
    assert_eq!(legacy.received().len(), 4);
}

#[tokio::test]
async fn a_jeepay_fallback_still_relays_what_its_gateway_says() {
    let (_running, _legacy, upstream) = v1_only_legacy().await;
    let w = world(None, &(upstream + TRANSLATE)).await;
    let body = common::jeepay_body(&[("mchOrderNo", "NOWHERE")]);
    let a = common::post_json(w.proxy, "/api/pay/query", &body).await;
    // The legacy host's Jeepay side, as it answers (it has no Jeepay app): relayed as before.
    assert_eq!(a.body, r#"{"code":9999,"msg":"商户或商户应用不存在"}"#);
}

/// The shipped configuration, its upstreams moved to sandboxes started from its own sections,
/// its store in a temporary directory.
async fn built_in() -> (
    std::net::SocketAddr,
    paybridge_sandbox::LegacySandbox,
    Vec<common::Running>,
    tempfile::TempDir,
) {
    let shipped = std::fs::read_to_string("config/paybridge.toml").unwrap();
    let section = |from: &str, to: Option<&str>| {
        let start = &shipped[shipped.find(from).unwrap()..];
        to.map_or(start, |to| &start[..start.find(to).unwrap()])
            .to_owned()
    };
    let (dax, _sandbox) = start_sandbox(&section("[sandbox]", Some("[legacy_sandbox]"))).await;
    let (lg, legacy) = start_legacy(&section("[legacy_sandbox]", None)).await;
    let store = tempfile::tempdir().unwrap();
    let toml = shipped
        .replace("http://127.0.0.1:9090", &format!("http://{}", dax.addr))
        .replace("http://127.0.0.1:9191", &format!("http://{}", lg.addr))
        .replace(
            "sqlite://data/paybridge.sqlite",
            &format!("sqlite://{}/paybridge.sqlite", store.path().display()),
        );
    let proxy = common::start_proxy(&toml).await;
    (proxy.addr, legacy, vec![dax, lg, proxy], store)
}

#[tokio::test]
async fn the_built_in_configuration_answers_epay_merchants_in_epays_words() {
    let (addr, legacy, _servers, _store) = built_in().await;
    // What the README says the built-in configuration answers.
    let readme = std::fs::read_to_string("README.md").unwrap();
    for said in [
        NO_ACT,
        NO_METHOD,
        r#"{"code":-1,"msg":"订单号不存在"}"#,
        "EPAY-OLD-1",
    ] {
        assert!(readme.contains(said), "README: {said}");
    }
    let mut client = epay::client(addr);
    client.platform_public_key = keys::PLATFORM_PUBLIC_KEY.to_owned();
    for uri in unserved_acts() {
        let a = send(addr, "GET", &uri, None, "", &[]).await;
        assert_eq!(a.body, NO_ACT, "{uri}");
    }
    let a = client
        .post_form("/api/pay/nothing", &client.v2_signed(&[]))
        .await;
    assert_eq!(a.body, NO_METHOD);
    // Unknown on both sides: the legacy epay gateway's V2 answers, relayed.
    let q = client.v2("query", &[("out_trade_no", "NOWHERE")]).await;
    assert_eq!(q.body, r#"{"code":-1,"msg":"订单号不存在"}"#);
    let r = client
        .v2("refundquery", &[("out_refund_no", "NOWHERE-RF")])
        .await;
    assert_eq!(r.body, r#"{"code":-1,"msg":"退款记录不存在"}"#);
    let v1 = client.query(Number::Out("NOWHERE")).await.json();
    assert_eq!(
        (v1["code"].as_i64(), v1["msg"].as_str()),
        (Some(-1), Some("订单号不存在"))
    );
    let old = client.query(Number::Out("EPAY-OLD-1")).await.json();
    assert_eq!(
        (old["code"].as_i64(), old["status"].as_i64()),
        (Some(1), Some(1)),
        "{old}"
    );
    assert!(
        legacy
            .received()
            .iter()
            .any(|r| r.uri == "/api/pay/refundquery"),
        "asked through the fallback"
    );
    // Its old order, through the fallback, signed as the merchant verifies it.
    let old = client
        .v2("query", &[("out_trade_no", "EPAY-OLD-1")])
        .await
        .json();
    assert_eq!(
        (old["code"].as_i64(), old["status"].as_i64()),
        (Some(0), Some(1)),
        "{old}"
    );
    client
        .sdk2_accepts(&old)
        .unwrap_or_else(|e| panic!("{e}: {old}"));
    // The Jeepay merchant of the same configuration: its gateway's words, as before.
    let body = common::jeepay_body_for(
        JEEPAY_MCH,
        JEEPAY_APP,
        JEEPAY_SECRET,
        &[("mchOrderNo", "NOWHERE")],
    );
    let a = common::post_json(addr, "/api/pay/query", &body).await;
    assert_eq!(a.body, r#"{"code":9999,"msg":"订单不存在"}"#);
}
