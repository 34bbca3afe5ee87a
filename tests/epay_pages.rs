//! The payer's QR page (`submit.php`, `/api/pay/submit` with WeChat on a PC) once the order is
//! paid (review of issue 22, finding 2): the gateway's page polls the order and sends the payer
//! on to `return_url`; paybridge's does it through its return relay. Through sockets, the page
//! is read as a browser reads it: the relay it names answers "waiting" (the mark the page's
//! script looks for) while unpaid, then the signed 302 to the merchant's `return_url` the
//! script navigates to. A jump answer (`device=jump`, V2 `method=jump`) for WeChat names that
//! relay as the gateway's page for the order: the QR code until paid. Anyone holding the
//! relay's URL can ask it as often as they like; DaxPay is asked at most once a second.

mod common;

use common::epay::world::{dax_order, world, world_through, World};
use common::epay::{self, keys, query_pairs};
use common::{send, Answer};

fn fields<'a>(w: &World, no: &'a str, name: &'a str) -> Vec<(&'a str, String)> {
    vec![
        ("type", "wxpay".to_owned()),
        ("out_trade_no", no.to_owned()),
        ("notify_url", w.site.notify_url()),
        ("return_url", w.site.return_url()),
        ("name", name.to_owned()),
        ("money", "0.01".to_owned()),
        ("device", "pc".to_owned()),
    ]
}

fn view<'a>(fields: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The relay the page links for a browser without JavaScript, and polls with its script.
fn relay_of(w: &World, page: &Answer) -> String {
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("请使用微信扫码支付"), "{}", page.body);
    let link = page
        .body
        .split("<a id=\"back\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no link back to the merchant: {}", page.body))
        .replace("&amp;", "&");
    let polled = page
        .body
        .split("var u='")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no poll: {}", page.body));
    assert_eq!(link, polled, "the script polls the page's link");
    assert!(page.body.contains("redirect:'manual'"), "{}", page.body);
    // Nothing loaded from elsewhere: the code is an inline SVG, the script inline.
    for external in [" src=", "<link", "<img", "<iframe", "@import"] {
        assert!(!page.body.contains(external), "{external}: {}", page.body);
    }
    let relay = link
        .strip_prefix(&format!("http://{}", w.proxy))
        .unwrap_or_else(|| panic!("paybridge's own URL: {link}"));
    assert!(relay.starts_with("/jeepay/return/"), "{relay}");
    relay.to_owned()
}

/// What the page's script sees of the relay (a redirect is not followed).
async fn poll(w: &World, relay: &str) -> Answer {
    send(w.proxy, "GET", relay, None, "", &[]).await
}

/// Polls, pays, polls: the relay says waiting (marked), then redirects to `return_url` with
/// the notification's parameters; `verified` checks their signature as the merchant does.
async fn goes_back_once_paid(w: &World, relay: &str, name: &str, verified: impl Fn(&str) -> bool) {
    let waiting = poll(w, relay).await;
    assert_eq!(waiting.status, 200, "{}", waiting.body);
    assert!(
        waiting
            .body
            .contains("<meta name=\"epay-return\" content=\"waiting\">"),
        "the mark the page's script waits on: {}",
        waiting.body
    );
    let order = dax_order(&w.sandbox, name);
    w.sandbox.pay_order(&order.order_no).unwrap();
    let paid = poll(w, relay).await;
    assert_eq!(paid.status, 302, "{}", paid.body);
    let target = paid.headers["location"].to_str().unwrap().to_owned();
    assert!(target.starts_with(&w.site.return_url()), "{target}");
    assert!(
        verified(&target),
        "the merchant verifies the return: {target}"
    );
    let get = |k: &str| {
        query_pairs(&target)
            .into_iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v)
    };
    assert_eq!(get("trade_status").as_deref(), Some("TRADE_SUCCESS"));
}

#[tokio::test]
async fn the_v1_qr_page_sends_the_payer_back_once_paid() {
    let w = world(None, "").await;
    let client = w.client();
    let mut all = vec![("pid", epay::PID.to_owned())];
    all.extend(fields(&w, "QR1", "扫码回跳"));
    let page = client.submit_get(&view(&all)).await;
    let relay = relay_of(&w, &page);
    goes_back_once_paid(&w, &relay, "扫码回跳", |target| {
        epay::sign::md5_verify(&epay::sign::pairs(&query_pairs(target)), epay::KEY)
    })
    .await;
}

#[tokio::test]
async fn the_v2_qr_page_sends_the_payer_back_once_paid() {
    let w = world(None, "").await;
    let client = w.client();
    let all = fields(&w, "QR2", "V2扫码回跳");
    let page = client.v2("submit", &view(&all)).await;
    let relay = relay_of(&w, &page);
    goes_back_once_paid(&w, &relay, "V2扫码回跳", |target| {
        let pairs = query_pairs(target);
        epay::sign::sdk2_verify(&epay::sign::pairs(&pairs), keys::PLATFORM_PUBLIC_KEY).is_ok()
    })
    .await;
}

/// What a jump answer's URL shows the payer while the order is unpaid: the QR code (inline,
/// with the content linked), marked as waiting and polling its own URL.
async fn jump_page(w: &World, url: &str) -> String {
    let relay = url
        .strip_prefix(&format!("http://{}", w.proxy))
        .unwrap_or_else(|| panic!("paybridge's own page: {url}"))
        .to_owned();
    assert!(relay.starts_with("/jeepay/return/"), "{relay}");
    let page = poll(w, &relay).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("请使用微信扫码支付"), "{}", page.body);
    assert!(page.body.contains("<svg"), "the code drawn: {}", page.body);
    assert!(page.body.contains("weixin://"), "{}", page.body);
    assert!(
        page.body
            .contains("<meta name=\"epay-return\" content=\"waiting\">"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&format!("var u='{url}'")),
        "it polls itself: {}",
        page.body
    );
    relay
}

/// epay.md §6.2: `device=jump` always answers `payurl`, the gateway's page for the order. For
/// WeChat that page is paybridge's: the QR code while unpaid (on a desktop as on a phone), the
/// gateway's "done" page once paid when the merchant gave no `return_url`.
#[tokio::test]
async fn a_v1_jump_for_wxpay_is_a_page_of_the_code_until_paid() {
    let w = world(None, "").await;
    let mut all = vec![("pid", epay::PID.to_owned())];
    all.extend(
        fields(&w, "JP1", "跳转扫码")
            .into_iter()
            .filter(|(k, _)| *k != "return_url" && *k != "device"),
    );
    all.push(("device", "jump".to_owned()));
    all.push(("clientip", "203.0.113.7".to_owned()));
    let json = w.client().mapi(&view(&all)).await.json();
    assert_eq!(json["code"], 1, "{json}");
    let url = json["payurl"]
        .as_str()
        .unwrap_or_else(|| panic!("payurl: {json}"))
        .to_owned();
    let relay = jump_page(&w, &url).await;
    let order = dax_order(&w.sandbox, "跳转扫码");
    assert_eq!(order.method, "qrcode", "WX_NATIVE");
    w.sandbox.pay_order(&order.order_no).unwrap();
    let done = poll(&w, &relay).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("支付成功"), "{}", done.body);
}

/// V2 `method=jump`: `pay_type:"jump"` with the page's URL; once paid, the page sends the payer
/// on to `return_url` with the RSA-signed parameters.
#[tokio::test]
async fn a_v2_jump_for_wxpay_is_a_page_of_the_code_then_the_merchant() {
    let w = world(None, "").await;
    let client = w.client();
    let mut all: Vec<(&str, String)> = fields(&w, "JP2", "V2跳转扫码")
        .into_iter()
        .filter(|(k, _)| *k != "device")
        .collect();
    all.push(("method", "jump".to_owned()));
    all.push(("clientip", "203.0.113.7".to_owned()));
    let json = client.v2("create", &view(&all)).await.json();
    assert_eq!(
        (json["code"].as_i64(), json["pay_type"].as_str()),
        (Some(0), Some("jump")),
        "{json}"
    );
    let url = json["pay_info"].as_str().unwrap().to_owned();
    let relay = jump_page(&w, &url).await;
    goes_back_once_paid(&w, &relay, "V2跳转扫码", |target| {
        let pairs = query_pairs(target);
        epay::sign::sdk2_verify(&epay::sign::pairs(&pairs), keys::PLATFORM_PUBLIC_KEY).is_ok()
    })
    .await;
}

const PAY_QUERY: &str = "/unipay/query/payOrder";
const WAITING: &str = "<meta name=\"epay-return\" content=\"waiting\">";

/// The attack: a script holding a QR page's relay URL asks it flat out, to make paybridge query
/// DaxPay with the merchant's identity as often. One request's read is held at DaxPay's door
/// while 30 more come: they wait together for the next read, which starts no sooner than a
/// second after the first (31 requests, two reads). An answer is never from a read made before
/// its request arrived: once the payer has paid, the next request is sent back.
#[tokio::test]
async fn hammering_a_relay_asks_daxpay_at_most_once_a_second() {
    use std::time::{Duration, Instant};
    let (w, relay) = world_through(&[PAY_QUERY]).await;
    let mut daxpay = relay.unwrap();
    let client = w.client();
    let mut all = vec![("pid", epay::PID.to_owned())];
    all.extend(fields(&w, "QR3", "扫码轰炸"));
    let page = client.submit_get(&view(&all)).await;
    let url = relay_of(&w, &page);
    assert_eq!(daxpay.calls(PAY_QUERY), 0);
    let ask = || {
        let (proxy, url) = (w.proxy, url.clone());
        tokio::spawn(async move { send(proxy, "GET", &url, None, "", &[]).await })
    };
    let waits = |answer: &Answer| {
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(answer.body.contains(WAITING), "{}", answer.body);
    };
    let before = Instant::now();
    let first = ask();
    let read = daxpay.next(PAY_QUERY).await;
    let burst: Vec<_> = (0..30).map(|_| ask()).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        daxpay.calls(PAY_QUERY),
        1,
        "the burst waits: nothing more reaches DaxPay"
    );
    read.forward();
    waits(&first.await.unwrap());
    let read = daxpay.next(PAY_QUERY).await;
    let spaced = before.elapsed();
    assert!(
        spaced >= Duration::from_secs(1),
        "the second read came after {spaced:?}"
    );
    read.forward();
    for waiting in burst {
        waits(&waiting.await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(daxpay.calls(PAY_QUERY), 2, "31 requests, two DaxPay reads");

    // The payer pays (DaxPay's callback is confirmed by a query of its own): the next request,
    // within a second of the last read, waits for a new one and is sent back.
    let order = dax_order(&w.sandbox, "扫码轰炸");
    w.sandbox.pay_order(&order.order_no).unwrap();
    daxpay.forward_the_rest();
    let paid = ask().await.unwrap();
    assert_eq!(paid.status, 302, "{}", paid.body);
    let target = paid.headers["location"].to_str().unwrap().to_owned();
    assert!(target.starts_with(&w.site.return_url()), "{target}");
}
