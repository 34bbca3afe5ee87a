//! epay's `type` + `device` (V2 `method`, `submit.php`'s browser) → way code → DaxPay's channel
//! and method, through real sockets: a merchant's own `epay_way_codes`, the `wechat` device and
//! the other app browsers, `submit.php` reading the payer's User-Agent, and V2 `jsapi` / `app`
//! (mapped on `/api/pay/create`, refused where there is no field for SDK parameters).

mod common;

use common::epay::world::{dax_order, Dax, Setup, World};
use common::epay::{browser_target, form, sign, EpayClient, PID};
use serde_json::Value;

fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// `mapi.php`'s fields for `type` and `device` (`name` finds the DaxPay order).
fn mapi(w: &World, no: &str, pay_type: &str, device: &str, name: &str) -> Vec<(String, String)> {
    owned(&[
        ("pid", PID),
        ("type", pay_type),
        ("out_trade_no", no),
        ("notify_url", &w.site.notify_url()),
        ("return_url", &w.site.return_url()),
        ("name", name),
        ("money", "1.00"),
        ("clientip", "192.168.1.100"),
        ("device", device),
    ])
}

async fn world_with_ways(ways: &str) -> World {
    let merchant = format!("epay_way_codes = {{ {ways} }}");
    Setup {
        merchant: &merchant,
        ..Setup::default()
    }
    .start()
    .await
    .0
}

/// (DaxPay channel, DaxPay method) of the order titled `name`.
fn route(w: &World, name: &str) -> (String, String) {
    let order = dax_order(&w.sandbox, name);
    (order.channel, order.method)
}

fn pair(channel: &str, method: &str) -> (String, String) {
    (channel.to_owned(), method.to_owned())
}

fn code_msg(v: &Value) -> (i64, String) {
    (
        v["code"].as_i64().unwrap_or(99),
        v["msg"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The merchant's own table wins over §16's defaults: a `type/<where>` entry over a `type`
/// entry over the default; a type without a default (`qqpay`) is served once the merchant maps
/// it, and answered with its own name; a way code answered with SDK parameters is refused on V1.
#[tokio::test]
async fn a_merchants_epay_way_codes_are_followed() {
    let w = world_with_ways(
        r#"alipay = "ALI_QR", "wxpay/mobile" = "WX_NATIVE", qqpay = "WX_NATIVE", "wxpay/wechat" = "WX_JSAPI""#,
    )
    .await;
    let client = w.client();
    for (no, pay_type, device, channel, method, field) in [
        ("W1", "alipay", "pc", "ali_pay", "qrcode", "qrcode"),
        ("W2", "alipay", "mobile", "ali_pay", "qrcode", "qrcode"),
        ("W3", "wxpay", "pc", "wechat_pay", "qrcode", "qrcode"),
        ("W4", "wxpay", "mobile", "wechat_pay", "qrcode", "qrcode"),
        ("W5", "qqpay", "pc", "wechat_pay", "qrcode", "qrcode"),
    ] {
        let a = client
            .mapi(&sign::pairs(&mapi(&w, no, pay_type, device, no)))
            .await
            .json();
        assert_eq!(a["code"], 1, "{no}: {a}");
        assert!(a.get(field).is_some(), "{no}: {a}");
        assert_eq!(
            route(&w, no),
            pair(channel, method),
            "{no} {pay_type}/{device}"
        );
    }
    let q = client.query(common::epay::Number::Out("W5")).await.json();
    assert_eq!(q["type"], "qqpay", "the merchant's type, as it asked: {q}");
    // WeChat's browser mapped to WX_JSAPI: V1 has no field for its parameters.
    let a = client
        .mapi(&sign::pairs(&mapi(&w, "W6", "wxpay", "wechat", "W6")))
        .await
        .json();
    assert_eq!(code_msg(&a), (-1, "支付方式(type)不存在".to_owned()), "{a}");
    assert!(w
        .sandbox
        .orders()
        .iter()
        .all(|o| o.title.as_deref() != Some("W6")));
    // Without an entry, §16's default still holds.
    let a = client
        .mapi(&sign::pairs(&mapi(&w, "W7", "jdpay", "pc", "W7")))
        .await
        .json();
    assert_eq!(code_msg(&a), (-1, "支付方式(type)不存在".to_owned()), "{a}");
}

/// `device`: `wechat` (WeChat's browser: WX_H5 does not work there and V1 has no openid, so
/// WeChat is the QR content; Alipay its phone page), `qq`, `alipay` and `app` (phone browsers
/// inside those apps: mobile), an unknown device (pc).
#[tokio::test]
async fn the_wechat_device_and_the_other_app_browsers() {
    let w = Setup::default().start().await.0;
    let client = w.client();
    for (i, (pay_type, device, channel, method)) in [
        ("wxpay", "wechat", "wechat_pay", "qrcode"),
        ("alipay", "wechat", "ali_pay", "wap"),
        ("wxpay", "qq", "wechat_pay", "wap"),
        ("alipay", "alipay", "ali_pay", "wap"),
        ("alipay", "app", "ali_pay", "wap"),
        ("wxpay", "tablet", "wechat_pay", "qrcode"),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("设备{i}");
        let a = client
            .mapi(&sign::pairs(&mapi(
                &w,
                &format!("D{i}"),
                pay_type,
                device,
                &name,
            )))
            .await
            .json();
        assert_eq!(a["code"], 1, "{pay_type}/{device}: {a}");
        assert_eq!(
            route(&w, &name),
            pair(channel, method),
            "{pay_type}/{device}"
        );
    }
}

const DESKTOP: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
const PHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const WECHAT: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/126.0 Mobile Safari/537.36 MicroMessenger/8.0.49.2600(0x28003133) NetType/WIFI Language/zh_CN";

/// `submit.php` as the payer's browser opens it (SDK1 `getPayLink`), with its User-Agent.
async fn submit_from(
    client: &EpayClient,
    fields: &[(String, String)],
    user_agent: &str,
) -> common::Answer {
    let query = form(&sign::pairs(&client.v1_signed(&sign::pairs(fields))));
    common::send(
        client.addr,
        "GET",
        &format!("/submit.php?{query}"),
        None,
        "",
        &[("user-agent", user_agent)],
    )
    .await
}

/// `submit.php` without `device` reads the payer's browser, as the gateway sniffs it: a desktop
/// pays on the PC page or the QR code, a phone on the phone page, WeChat's browser WeChat by the
/// QR code; a `device` the merchant signed wins over the browser.
#[tokio::test]
async fn submit_php_reads_the_payers_browser() {
    let w = Setup::default().start().await.0;
    let client = w.client();
    let page = |no: &str, pay_type: &str, name: &str| -> Vec<(String, String)> {
        let mut fields = mapi(&w, no, pay_type, "", name);
        fields.retain(|(k, _)| k != "clientip" && k != "device");
        fields
    };
    for (i, (pay_type, agent, channel, method)) in [
        ("alipay", DESKTOP, "ali_pay", "web"),
        ("alipay", PHONE, "ali_pay", "wap"),
        ("alipay", WECHAT, "ali_pay", "wap"),
        ("wxpay", DESKTOP, "wechat_pay", "qrcode"),
        ("wxpay", PHONE, "wechat_pay", "wap"),
        ("wxpay", WECHAT, "wechat_pay", "qrcode"),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("浏览器{i}");
        let answer = submit_from(&client, &page(&format!("U{i}"), pay_type, &name), agent).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(
            route(&w, &name),
            pair(channel, method),
            "{pay_type} in {agent}"
        );
        if method == "qrcode" {
            assert!(answer.body.contains("<svg"), "the QR page: {}", answer.body);
        } else {
            let target = browser_target(&answer.headers, &answer.body)
                .unwrap_or_else(|| panic!("sent on: {}", answer.body));
            assert!(target.starts_with("https://"), "{target}");
        }
    }
    // The merchant's `device=pc` wins over a phone's browser.
    let mut fields = page("U9", "alipay", "浏览器9");
    fields.push(("device".into(), "pc".into()));
    submit_from(&client, &fields, PHONE).await;
    assert_eq!(route(&w, "浏览器9"), pair("ali_pay", "web"));
}

/// `/api/pay/create`'s fields for `method` (`type`, `name`), without the jsapi payer's ids.
fn v2_fields(w: &World, no: &str, method: &str, pay_type: &str) -> Vec<(String, String)> {
    owned(&[
        ("method", method),
        ("type", pay_type),
        ("out_trade_no", no),
        ("notify_url", &w.site.notify_url()),
        ("return_url", &w.site.return_url()),
        ("name", no),
        ("money", "1.00"),
        ("clientip", "192.168.1.100"),
    ])
}

async fn v2(client: &EpayClient, method: &str, fields: &[(String, String)]) -> Value {
    client.v2(method, &sign::pairs(fields)).await.json()
}

/// V2 `method=jsapi` and `method=app` (§16's columns: ALI_JSAPI, WX_JSAPI, ALI_APP, WX_APP):
/// `pay_type` `jsapi` / `app` with DaxPay's SDK parameters as `pay_info` (a string: WeChat's JSON
/// text, Alipay's trade number or order string, as the gateway's plugins give them); the jsapi
/// payer's ids are required in the gateway's words; a page (`/api/pay/submit`) has no field for
/// SDK parameters and refuses them.
#[tokio::test]
async fn v2_jsapi_and_app_are_mapped_on_create_and_refused_on_pages() {
    let w = Setup::default().start().await.0;
    let client = w.client();
    let mut jsapi_wx = v2_fields(&w, "J1", "jsapi", "wxpay");
    let a = v2(&client, "create", &jsapi_wx).await;
    assert_eq!(
        code_msg(&a),
        (-1, "jsapi支付时参数(sub_openid)不能为空".to_owned()),
        "{a}"
    );
    jsapi_wx.push(("sub_openid".into(), "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into()));
    let a = v2(&client, "create", &jsapi_wx).await;
    assert_eq!(
        code_msg(&a),
        (-1, "jsapi支付时参数(sub_appid)不能为空".to_owned()),
        "{a}"
    );
    jsapi_wx.push(("sub_appid".into(), "wx8888888888888888".into()));
    let mut jsapi_ali = v2_fields(&w, "J2", "jsapi", "alipay");
    jsapi_ali.push(("sub_openid".into(), "2088102146225135".into()));
    for (fields, name, channel, method, pay_type) in [
        (jsapi_wx, "J1", "wechat_pay", "jsapi", "jsapi"),
        (jsapi_ali, "J2", "ali_pay", "jsapi", "jsapi"),
        (
            v2_fields(&w, "A1", "app", "alipay"),
            "A1",
            "ali_pay",
            "app",
            "app",
        ),
        (
            v2_fields(&w, "A2", "app", "wxpay"),
            "A2",
            "wechat_pay",
            "app",
            "app",
        ),
    ] {
        let a = v2(&client, "create", &fields).await;
        assert_eq!(a["code"], 0, "{name}: {a}");
        client
            .sdk2_accepts(&a)
            .unwrap_or_else(|e| panic!("{name}: {e}: {a}"));
        assert_eq!(a["pay_type"], pay_type, "{name}: {a}");
        let info = a["pay_info"]
            .as_str()
            .unwrap_or_else(|| panic!("a string: {a}"));
        assert_eq!(route(&w, name), pair(channel, method), "{name}");
        match channel {
            // WeChat's parameters: a JSON object's text.
            "wechat_pay" => assert!(
                serde_json::from_str::<Value>(info).is_ok_and(|v| v.is_object()),
                "{name}: {info}"
            ),
            _ => assert!(!info.is_empty() && !info.starts_with('{'), "{name}: {info}"),
        }
    }
    // The page endpoint: an app payment is no page; the gateway's words on its sysmsg page.
    let mut page = v2_fields(&w, "A3", "app", "alipay");
    page.retain(|(k, _)| k != "clientip");
    let answer = client.v2("submit", &sign::pairs(&page)).await;
    assert!(
        answer.body.contains("支付方式(type)不存在"),
        "{}",
        answer.body
    );
    assert!(w
        .sandbox
        .orders()
        .iter()
        .all(|o| o.title.as_deref() != Some("A3")));
}

/// On DaxPay 2.0 (2.0.8 cannot answer WX_APP or ALI_JSAPI as epay and Jeepay need: only a
/// `prepay_id`, the payer's id in another form) those are refused before anything is sent;
/// WeChat JSAPI and Alipay's app are served.
#[tokio::test]
async fn v2_app_and_jsapi_on_daxpay_2_0() {
    let w = Setup {
        dax: Dax::new("2.0", "hmac_sha256"),
        ..Setup::default()
    }
    .start()
    .await
    .0;
    let client = w.client();
    let mut jsapi_ali = v2_fields(&w, "B1", "jsapi", "alipay");
    jsapi_ali.push(("sub_openid".into(), "2088102146225135".into()));
    for fields in [jsapi_ali, v2_fields(&w, "B2", "app", "wxpay")] {
        let a = v2(&client, "create", &fields).await;
        assert_eq!(code_msg(&a), (-1, "支付方式(type)不存在".to_owned()), "{a}");
    }
    assert_eq!(w.sandbox.orders().len(), 0, "nothing sent");
    let mut jsapi_wx = v2_fields(&w, "B3", "jsapi", "wxpay");
    jsapi_wx.push(("sub_openid".into(), "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into()));
    jsapi_wx.push(("sub_appid".into(), "wx8888888888888888".into()));
    let a = v2(&client, "create", &jsapi_wx).await;
    assert_eq!(
        (a["code"].as_i64(), a["pay_type"].as_str()),
        (Some(0), Some("jsapi")),
        "{a}"
    );
    assert_eq!(route(&w, "B3"), pair("wechat_pay", "jsapi"));
}
