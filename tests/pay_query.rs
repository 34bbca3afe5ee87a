//! `/api/pay/query` translated to `/unipay/query/payOrder`, end to end through real sockets:
//! every DaxPay version and sign type, every row of the state table (lifecycle.md §8), exact
//! amounts, Jeepay's refusals, the answer checked the way the Jeepay Java SDK checks it, and the
//! fallback to the legacy gateway for an order DaxPay does not know.

mod common;

use common::*;
use serde_json::Value;

/// One sandbox order: (orderNo, bizOrderNo, status, refund status, amount in yuan, paid at).
struct Order {
    order_no: &'static str,
    biz: &'static str,
    status: &'static str,
    refund: &'static str,
    yuan: &'static str,
    fen: i64,
    pay_time: Option<&'static str>,
    state: i64,
}

/// One row of the table below (a row has as many columns as it has).
#[allow(clippy::too_many_arguments)]
const fn order(
    order_no: &'static str,
    biz: &'static str,
    status: &'static str,
    refund: &'static str,
    yuan: &'static str,
    fen: i64,
    pay_time: Option<&'static str>,
    state: i64,
) -> Order {
    Order {
        order_no,
        biz,
        status,
        refund,
        yuan,
        fen,
        pay_time,
        state,
    }
}

/// The state table of lifecycle.md §8, with amounts 1, 10, 100, 1230 fen and the maximum.
const ORDERS: [Order; 10] = [
    order("DW", "MW", "wait", "no_refund", "0.01", 1, None, 0),
    order("DP", "MP", "progress", "no_refund", "0.10", 10, None, 1),
    order(
        "DS",
        "MS",
        "success",
        "no_refund",
        "1.00",
        100,
        Some("2025-09-01 12:00:05"),
        2,
    ),
    order(
        "DR",
        "MR",
        "success",
        "refunding",
        "12.30",
        1230,
        Some("2025-09-01 12:00:05"),
        2,
    ),
    order(
        "DA",
        "MA",
        "success",
        "partial_refund",
        "12.3",
        1230,
        Some("2025-09-01 12:00:05"),
        2,
    ),
    order(
        "DF",
        "MF",
        "success",
        "refunded",
        "99999999.99",
        9_999_999_999,
        Some("2025-09-01 12:00:05"),
        5,
    ),
    order("DX", "MX", "fail", "no_refund", "1", 100, None, 3),
    order("DC", "MC", "cancel", "no_refund", "1", 100, None, 4),
    order("DL", "ML", "close", "no_refund", "1", 100, None, 6),
    order("DT", "MT", "timeout", "no_refund", "1", 100, None, 6),
];

/// 2025-09-01 12:00:05 at +08:00, in Unix milliseconds.
const PAID_AT_MS: i64 = 1_756_699_205_000;

fn sandbox_with_orders(version: &str, sign_type: &str) -> String {
    let mut toml = sandbox_toml(version, sign_type, &[]);
    for o in &ORDERS {
        toml.push_str(&format!(
            "[[sandbox.orders]]\norder_no = \"{}\"\nbiz_order_no = \"{}\"\nstatus = \"{}\"\nrefund_status = \"{}\"\namount = \"{}\"\nchannel = \"wechat_pay\"\nmethod = \"jsapi\"\ntitle = \"商品 {}\"\ndescription = \"desc\"\nout_order_no = \"CH{}\"\nattach = \"a=1&b=2\"\n",
            o.order_no, o.biz, o.status, o.refund, o.yuan, o.order_no, o.order_no
        ));
        if let Some(t) = o.pay_time {
            toml.push_str(&format!("pay_time = \"{t}\"\n"));
        }
    }
    toml
}

fn query_body(pay_order_id: Option<&str>, mch_order_no: Option<&str>) -> Value {
    let mut fields: Vec<(&str, &str)> = vec![
        ("mchNo", JEEPAY_MCH),
        ("appId", JEEPAY_APP),
        ("version", "1.0"),
        ("signType", "MD5"),
        ("reqTime", req_time()),
    ];
    if let Some(p) = pay_order_id {
        fields.push(("payOrderId", p));
    }
    if let Some(m) = mch_order_no {
        fields.push(("mchOrderNo", m));
    }
    signed(&fields, JEEPAY_SECRET)
}

const COMBINATIONS: [(&str, &str); 8] = [
    ("3.0", "md5"),
    ("3.0", "hmac_sha256"),
    ("3.0", "sm3"),
    ("3.0-beta", "md5"),
    ("3.0-beta", "hmac_sha256"),
    ("3.0-beta", "sm3"),
    ("2.0", "md5"),
    ("2.0", "hmac_sha256"),
];

#[tokio::test]
async fn every_state_of_every_version_and_sign_type_is_answered_signed() {
    for (version, sign_type) in COMBINATIONS {
        let (sb, _sandbox) = start_sandbox(&sandbox_with_orders(version, sign_type)).await;
        let proxy = start_proxy(&proxy_toml(sb.addr, version, sign_type, "", "")).await;
        for (i, o) in ORDERS.iter().enumerate() {
            // By the gateway's number, by the merchant's, and by both.
            let body = match i % 3 {
                0 => query_body(Some(o.order_no), None),
                1 => query_body(None, Some(o.biz)),
                _ => query_body(Some(o.order_no), Some(o.biz)),
            };
            let answer = post_json(proxy.addr, "/api/pay/query", &body).await;
            let case = format!("{version}/{sign_type} {}", o.order_no);
            assert_eq!(answer.status, 200, "{case}");
            let json = answer.json();
            assert_eq!(json["code"], 0, "{case}: {}", answer.body);
            assert_eq!(json["msg"], "SUCCESS", "{case}");
            assert!(sdk_accepts(&json, JEEPAY_SECRET), "{case}: {}", answer.body);
            let data = &json["data"];
            assert_eq!(data["payOrderId"], o.order_no, "{case}");
            assert_eq!(data["mchOrderNo"], o.biz, "{case}");
            assert_eq!(data["mchNo"], JEEPAY_MCH, "{case}");
            assert_eq!(data["appId"], JEEPAY_APP, "{case}");
            assert_eq!(data["state"], o.state, "{case}");
            assert_eq!(data["amount"], o.fen, "{case}");
            assert_eq!(data["ifCode"], "wxpay", "{case}");
            assert_eq!(data["subject"], format!("商品 {}", o.order_no), "{case}");
            assert_eq!(data["body"], "desc", "{case}");
            assert_eq!(
                data["channelOrderNo"],
                format!("CH{}", o.order_no),
                "{case}"
            );
            // 2.0.8's `PayOrderResult` has no `attach` (lifecycle-2.0.md §4): a seeded order,
            // not made through paybridge, has no `extParam` there.
            if version == "2.0" {
                assert!(data.get("extParam").is_none(), "{case}");
            } else {
                assert_eq!(data["extParam"], "a=1&b=2", "{case}");
            }
            match o.pay_time {
                Some(_) => assert_eq!(data["successTime"], PAID_AT_MS, "{case}"),
                None => assert!(data.get("successTime").is_none(), "{case}"),
            }
            // Not known to DaxPay: absent until paybridge keeps its own order store.
            for absent in ["wayCode", "currency", "clientIp", "createdAt", "errCode"] {
                assert!(data.get(absent).is_none(), "{case}: {absent}");
            }
        }
    }
}

#[tokio::test]
async fn refusals_are_jeepays_own() {
    let (sb, sandbox) = start_sandbox(&sandbox_with_orders("3.0", "hmac_sha256")).await;
    let proxy = start_proxy(&proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "")).await;
    let seen = sandbox.requests_seen();
    // No order named: Jeepay's query text (no space before 不能), nothing sent.
    let a = post_json(proxy.addr, "/api/pay/query", &query_body(None, None)).await;
    assert_eq!(a.body, error(9999, "mchOrderNo 和 payOrderId不能同时为空"));
    let a = post_json(
        proxy.addr,
        "/api/pay/query",
        &query_body(Some(""), Some("")),
    )
    .await;
    assert_eq!(a.body, error(9999, "mchOrderNo 和 payOrderId不能同时为空"));
    assert_eq!(sandbox.requests_seen(), seen);
    // Unknown to DaxPay.
    let a = post_json(
        proxy.addr,
        "/api/pay/query",
        &query_body(Some("NOPE"), None),
    )
    .await;
    assert_eq!(a.body, error(9999, "订单不存在"));
    // A bad signature is refused before DaxPay.
    let mut body = query_body(Some("DW"), None);
    body["payOrderId"] = Value::from("DP");
    let before = sandbox.requests_seen();
    let a = post_json(proxy.addr, "/api/pay/query", &body).await;
    assert_eq!(a.body, error(9999, "验签失败"));
    assert_eq!(sandbox.requests_seen(), before);
    // A query changes nothing, and a re-sent one is answered afresh (not from the replay
    // store): the order moved on meanwhile.
    let body = query_body(Some("DP"), None);
    let first = post_json(proxy.addr, "/api/pay/query", &body).await.json();
    assert_eq!(first["data"]["state"], 1);
    assert!(sandbox.set_order_status("DP", paybridge_sandbox::OrderStatus::Success));
    let again = post_json(proxy.addr, "/api/pay/query", &body).await;
    assert!(again.headers.get("x-paybridge-replay").is_none());
    assert_eq!(again.json()["data"]["state"], 2);
}

#[tokio::test]
async fn form_and_query_string_requests_are_read_as_jeepay_reads_them() {
    let (sb, _sandbox) = start_sandbox(&sandbox_with_orders("3.0", "md5")).await;
    let proxy = start_proxy(&proxy_toml(sb.addr, "3.0", "md5", "", "")).await;
    let body = query_body(None, Some("MS"));
    let form: String = body
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
        .collect::<Vec<_>>()
        .join("&");
    let a = send(
        proxy.addr,
        "POST",
        "/api/pay/query",
        Some("application/x-www-form-urlencoded"),
        form.clone(),
        &[],
    )
    .await;
    assert_eq!(a.json()["data"]["payOrderId"], "DS", "{}", a.body);
    // Any method: Jeepay maps the query with a plain request mapping.
    let a = send(
        proxy.addr,
        "GET",
        &format!("/api/pay/query?{form}"),
        None,
        "",
        &[],
    )
    .await;
    assert_eq!(a.json()["data"]["state"], 2, "{}", a.body);
}

/// A legacy gateway holding one order made before the migration, `OLD1`, in `state`.
fn legacy_with_old_order(state: u8) -> String {
    format!(
        r#"
[legacy_sandbox]
listen = "127.0.0.1:0"
[[legacy_sandbox.apps]]
mch_no = "{JEEPAY_MCH}"
app_id = "{JEEPAY_APP}"
secret = "{JEEPAY_SECRET}"
[[legacy_sandbox.orders]]
pay_order_id = "OLD1"
mch_order_no = "MOLD1"
mch_no = "{JEEPAY_MCH}"
state = {state}
"#
    )
}

/// paybridge in front of `dax` and the legacy gateway at `legacy`, with `routing`.
fn with_legacy(dax: std::net::SocketAddr, legacy: std::net::SocketAddr, routing: &str) -> String {
    format!(
        "{}\n[upstreams.legacy]\nkind = \"legacy\"\nbase_url = \"http://{legacy}\"\n[routing]\ndefault = {routing}\n",
        proxy_toml(dax, "3.0", "hmac_sha256", "", ""),
    )
}

#[tokio::test]
async fn an_order_daxpay_does_not_know_is_asked_of_the_legacy_gateway_once() {
    let (sb, sandbox) = start_sandbox(&sandbox_with_orders("3.0", "hmac_sha256")).await;
    let (lg, legacy) = start_legacy(&legacy_with_old_order(2)).await;
    let toml = with_legacy(
        sb.addr,
        lg.addr,
        r#"{ action = "translate", fallback = "legacy" }"#,
    );
    let proxy = start_proxy(&toml).await;
    // Known to DaxPay: answered by DaxPay, the legacy gateway is not asked.
    let a = post_json(proxy.addr, "/api/pay/query", &query_body(Some("DS"), None)).await;
    assert_eq!(a.json()["data"]["state"], 2);
    assert_eq!(legacy.received().len(), 0);
    // Made before the migration: DaxPay verifiably does not know it, the legacy gateway does.
    let before = sandbox.requests_seen();
    let a = post_json(
        proxy.addr,
        "/api/pay/query",
        &query_body(Some("OLD1"), None),
    )
    .await;
    let json = a.json();
    assert_eq!(json["code"], 0, "{}", a.body);
    assert_eq!(json["data"]["payOrderId"], "OLD1");
    assert!(sdk_accepts(&json, JEEPAY_SECRET));
    assert_eq!(legacy.received().len(), 1);
    assert_eq!(sandbox.requests_seen(), before + 1);
    // Known to neither: the legacy gateway's answer, asked once.
    let a = post_json(
        proxy.addr,
        "/api/pay/query",
        &query_body(Some("NONE"), None),
    )
    .await;
    assert_eq!(a.body, error(9999, "订单不存在"));
    assert_eq!(legacy.received().len(), 2);
}

#[tokio::test]
async fn passthrough_routes_pass_the_query_through_and_fall_back_to_daxpay() {
    let (sb, _sandbox) = start_sandbox(&sandbox_with_orders("3.0", "hmac_sha256")).await;
    let (lg, legacy) = start_legacy(&legacy_with_old_order(6)).await;
    let toml = with_legacy(
        sb.addr,
        lg.addr,
        r#"{ action = "passthrough", upstream = "legacy", fallback = "merchant" }"#,
    );
    let proxy = start_proxy(&toml).await;
    let a = post_json(
        proxy.addr,
        "/api/pay/query",
        &query_body(Some("OLD1"), None),
    )
    .await;
    assert_eq!(a.json()["data"]["state"], 6, "{}", a.body);
    assert_eq!(legacy.received().len(), 1);
    // Not at the legacy gateway: translated once, answered from DaxPay.
    let a = post_json(proxy.addr, "/api/pay/query", &query_body(None, Some("MR"))).await;
    let json = a.json();
    assert_eq!(json["data"]["payOrderId"], "DR", "{}", a.body);
    assert!(sdk_accepts(&json, JEEPAY_SECRET));
    assert_eq!(legacy.received().len(), 2);
}
