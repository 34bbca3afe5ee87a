//! Every refusal of an epay request with its exact code and text, through real sockets (issue 22:
//! "every refusal with its exact text"): the identity and signature checks of each endpoint in
//! the gateway's words (epay.md §5, §6, §7; build 3094's where the builds differ), and
//! paybridge's own refusals where the gateway has no words (operations-mapping.md "Where the
//! gateway has no words", "Refusals"). Nothing refused reaches DaxPay.

mod common;

use common::epay::world::{dax_order, world, world_on, Dax, Setup, World};
use common::epay::{keys, sign, EpayClient, Number, KEY, PID};
use serde_json::Value;

fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// PHP `json_encode($a)` without flags of `{"code":…,"msg":…}`: non-ASCII as `\uXXXX` (lower-case
/// hex, UTF-16), `/` as `\/` (api.php writes every answer so).
fn php_plain(code: i64, msg: &str) -> String {
    let mut text = String::new();
    for c in msg.chars() {
        match c {
            '"' => text.push_str("\\\""),
            '\\' => text.push_str("\\\\"),
            '/' => text.push_str("\\/"),
            c if c.is_ascii() => text.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    text.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    format!(r#"{{"code":{code},"msg":"{text}"}}"#)
}

/// `echojson` (`JSON_UNESCAPED_UNICODE`) of `{"code":…,"msg":…}`: Chinese raw.
fn php_unescaped(code: i64, msg: &str) -> String {
    format!(r#"{{"code":{code},"msg":"{}"}}"#, msg.replace('/', "\\/"))
}

/// The gateway's `sysmsg()` page carries `msg` right after its heading.
fn assert_sysmsg(answer: &common::Answer, msg: &str) {
    let ct = answer.headers["content-type"].to_str().unwrap();
    assert!(ct.starts_with("text/html"), "{ct}: {}", answer.body);
    assert!(
        answer.body.contains(&format!("<h3>站点提示信息</h3>{msg}")),
        "{msg}: {}",
        answer.body
    );
}

/// `mapi.php`'s fields for merchant `pid`.
fn mapi_fields(w: &World, pid: &str, no: &str) -> Vec<(String, String)> {
    owned(&[
        ("pid", pid),
        ("type", "alipay"),
        ("out_trade_no", no),
        ("notify_url", &w.site.notify_url()),
        ("return_url", &w.site.return_url()),
        ("name", no),
        ("money", "1.00"),
        ("clientip", "192.168.1.100"),
    ])
}

/// `submit.php`'s (a page: no `clientip`).
fn page_fields(w: &World, pid: &str, no: &str) -> Vec<(String, String)> {
    let mut fields = mapi_fields(w, pid, no);
    fields.retain(|(k, _)| k != "clientip");
    fields
}

/// `/api/pay/create`'s (the client adds `pid`, `timestamp` and the signature).
fn create_fields(w: &World, no: &str) -> Vec<(String, String)> {
    let mut fields = mapi_fields(w, PID, no);
    fields.retain(|(k, _)| k != "pid");
    fields.insert(0, ("method".into(), "web".into()));
    fields
}

fn with(fields: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> =
        fields.iter().filter(|(k, _)| k != name).cloned().collect();
    fields.push((name.to_owned(), value.to_owned()));
    fields
}

fn code_msg(v: &Value) -> (i64, String) {
    (
        v["code"].as_i64().unwrap_or(99),
        v["msg"].as_str().unwrap_or_default().to_owned(),
    )
}

/// `api.php` (query and refund): the merchant looked up by `intval(pid)` at once (none, `0` and
/// an unknown one are all `商户ID不存在`, -3), the key compared exactly (-3 `商户密钥错误`), and a
/// query signed with `trade_no` is the gateway's internal path (`verify sign failed`). Plain
/// `json_encode`: Chinese escaped.
#[tokio::test]
async fn api_php_refuses_an_unknown_merchant_a_wrong_key_and_a_signed_query() {
    let w = world(None, "").await;
    let client = w.client();
    let unknown = php_plain(-3, "商户ID不存在");
    for pid in [None, Some("abc"), Some("9999")] {
        let mut query = vec![("act", "order"), ("key", KEY), ("out_trade_no", "X1")];
        let mut refund = vec![("key", KEY), ("out_trade_no", "X1"), ("money", "1")];
        if let Some(pid) = pid {
            query.push(("pid", pid));
            refund.push(("pid", pid));
        }
        let a = client.get_query("/api.php", &owned(&query)).await;
        assert_eq!(a.body, unknown, "query, pid {pid:?}");
        assert_eq!(a.headers["content-type"], "application/json; charset=UTF-8");
        let a = client
            .post_form("/api.php?act=refund", &owned(&refund))
            .await;
        assert_eq!(a.body, unknown, "refund, pid {pid:?}");
    }
    let mut wrong = client.clone();
    wrong.key = format!("{KEY}x");
    let a = wrong.refund(Number::Out("X1"), "1").await;
    assert_eq!(a.body, php_plain(-3, "商户密钥错误"));
    // SDK1 never signs a query; a query string with `sign` and `trade_no` is the gateway's own
    // internal call (`md5(SYS_KEY.trade_no.SYS_KEY)`), which no merchant can pass.
    let signed = owned(&[
        ("act", "order"),
        ("pid", PID),
        ("key", KEY),
        ("trade_no", "2024070112000012345"),
        ("sign", "0123456789abcdef0123456789abcdef"),
    ]);
    let a = client.get_query("/api.php", &signed).await;
    assert_eq!(a.body, php_plain(-3, "verify sign failed"));
    assert_eq!(w.sandbox.requests_seen(), 0, "nothing reached DaxPay");
}

/// `submit.php` and `mapi.php` before the order: no `pid` (`submit.php`: the gateway's plain
/// text, `mapi.php`: its literal), `intval(pid)` 0 (`商户ID不能为空`), an unknown merchant
/// (`商户不存在！`), no `sign` (build 3094: -3 `缺少签名参数`).
#[tokio::test]
async fn v1_pages_and_mapi_refuse_a_missing_or_unknown_merchant_and_a_missing_sign() {
    let w = world(None, "").await;
    let client = w.client();
    // No `pid` at all.
    let a = common::send(
        w.proxy,
        "GET",
        "/submit.php?type=alipay&money=1",
        None,
        "",
        &[],
    )
    .await;
    assert_eq!(a.body, "你还未配置支付接口商户！");
    assert!(a.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let a = client
        .post_form("/mapi.php", &owned(&[("type", "alipay")]))
        .await;
    assert_eq!(a.body, r#"{"code":-4, "msg":"未传入任何参数"}"#);
    // `intval(pid)` is 0.
    let fields = mapi_fields(&w, "abc", "P1");
    let a = client.mapi(&sign::pairs(&fields)).await;
    assert_eq!(a.body, php_unescaped(-1, "商户ID不能为空"));
    assert_sysmsg(
        &client
            .submit_get(&sign::pairs(&page_fields(&w, "abc", "P1")))
            .await,
        "商户ID不能为空",
    );
    // An unknown merchant.
    let a = client
        .mapi(&sign::pairs(&mapi_fields(&w, "9999", "P2")))
        .await;
    assert_eq!(a.body, php_unescaped(-1, "商户不存在！"));
    assert_sysmsg(
        &client
            .submit_get(&sign::pairs(&page_fields(&w, "9999", "P2")))
            .await,
        "商户不存在！",
    );
    // No signature.
    let unsigned: Vec<(String, String)> = mapi_fields(&w, PID, "P3");
    let a = client.post_form("/mapi.php", &unsigned).await;
    assert_eq!(a.body, php_unescaped(-3, "缺少签名参数"));
    let page = client
        .get_query("/submit.php", &page_fields(&w, PID, "P3"))
        .await;
    assert_sysmsg(&page, "缺少签名参数");
    assert_eq!(w.sandbox.requests_seen(), 0, "nothing reached DaxPay");
}

/// Money above what epay's `decimal(10,2)` holds: refused with the gateway's maximum words,
/// where the gateway would clip it (operations-mapping.md "Fields").
#[tokio::test]
async fn money_above_the_maximum_is_refused() {
    let w = world(None, "").await;
    let client = w.client();
    let words = "最大支付金额是99999999.99元";
    for money in ["100000000", "99999999.995"] {
        let fields = with(&mapi_fields(&w, PID, "M1"), "money", money);
        assert_eq!(
            client.mapi(&sign::pairs(&fields)).await.body,
            php_unescaped(-1, words),
            "{money}"
        );
        let page = with(&page_fields(&w, PID, "M1"), "money", money);
        assert_sysmsg(&client.submit_get(&sign::pairs(&page)).await, words);
        let v2 = client
            .v2(
                "create",
                &sign::pairs(&with(&create_fields(&w, "M1"), "money", money)),
            )
            .await;
        assert_eq!(v2.body, php_unescaped(-1, words), "{money}");
    }
    assert_eq!(w.sandbox.requests_seen(), 0, "nothing reached DaxPay");
}

/// V2's wrapper (`ApiHelper::verify`) and `/api/pay/create`: no `pid` in the form body (-4),
/// `intval(pid)` 0, an unknown merchant, each unsigned (`echojson`).
#[tokio::test]
async fn v2_refuses_a_missing_empty_or_unknown_merchant() {
    let w = world(None, "").await;
    let client = w.client();
    for method in ["query", "refund", "refundquery", "close", "create"] {
        let path = format!("/api/pay/{method}");
        let a = client.post_form(&path, &owned(&[("trade_no", "1")])).await;
        if method == "query" || method == "close" {
            // Also Jeepay's paths: without `pid` the request is Jeepay's (dialect_routing.rs).
            assert!(a.body.contains("\"code\":9999"), "{method}: {}", a.body);
        } else {
            assert_eq!(a.body, php_unescaped(-4, "未传入任何参数"), "{method}");
        }
        for (pid, words) in [("abc", "商户ID不能为空"), ("9999", "商户不存在！")] {
            let mut other = client.clone();
            other.pid = pid.to_owned();
            let a = other.v2(method, &[("trade_no", "1")]).await;
            assert_eq!(a.body, php_unescaped(-1, words), "{method}, pid {pid}");
        }
    }
    assert_eq!(w.sandbox.requests_seen(), 0, "nothing reached DaxPay");
}

/// An RSA-signed request of a merchant whose public key paybridge does not hold (no
/// `epay_public_key`): the gateway's words for a bad stored key, -3, on V2 and on V1 (build 3094
/// takes `sign_type=RSA` there too, without a timestamp).
#[tokio::test]
async fn rsa_without_the_merchants_public_key() {
    let second = format!(
        "\n[[merchants]]\ndialect = \"epay\"\npid = \"1002\"\nsecret = \"{KEY}\"\n\
         [merchants.daxpay]\nupstream = \"dax\"\nmch_no = \"{}\"\napp_id = \"M8207639754663399\"\n",
        common::DAX_MCH
    );
    let w = Setup {
        routes: &second,
        ..Setup::default()
    }
    .start()
    .await
    .0;
    let mut client = w.client();
    client.pid = "1002".to_owned();
    let words = php_unescaped(-3, "签名校验失败，商户公钥错误");
    let a = client
        .v2("create", &sign::pairs(&create_fields(&w, "K1")))
        .await;
    assert_eq!(a.body, words);
    let a = client.v2("query", &[("trade_no", "1")]).await;
    assert_eq!(a.body, words);
    // V1 `mapi.php` signed with RSA (no timestamp).
    let fields = mapi_fields(&w, "1002", "K2");
    let mut rsa: Vec<(&str, &str)> = sign::pairs(&fields);
    rsa.push(("sign_type", "RSA"));
    let signature = sign::rsa_sign(&rsa, keys::MERCHANT_PRIVATE_KEY);
    rsa.push(("sign", &signature));
    let a = client.post_form("/mapi.php", &owned(&rsa)).await;
    assert_eq!(a.body, words);
    // The merchant with its key configured is served.
    let ok = w.client().v2("query", &[("trade_no", "1")]).await.json();
    assert_eq!(code_msg(&ok), (-1, "订单号不存在".to_owned()), "{ok}");
    assert_eq!(w.sandbox.requests_seen(), 0, "nothing reached DaxPay");
}

/// V2 `method=scan`: no payment code (`付款码支付时授权码(auth_code)不能为空`); no `type` and a code
/// whose prefix names no type (`未知的付款码类型`).
#[tokio::test]
async fn v2_scan_needs_a_payment_code_of_a_known_type() {
    let w = world(None, "").await;
    let client = w.client();
    let scan = with(&create_fields(&w, "S1"), "method", "scan");
    let a = client.v2("create", &sign::pairs(&scan)).await;
    assert_eq!(
        a.body,
        php_unescaped(-1, "付款码支付时授权码(auth_code)不能为空")
    );
    let unknown: Vec<(String, String)> = with(&scan, "auth_code", "991234567890123456")
        .into_iter()
        .filter(|(k, _)| k != "type")
        .collect();
    let a = client.v2("create", &sign::pairs(&unknown)).await;
    assert_eq!(a.body, php_unescaped(-1, "未知的付款码类型"));
    assert_eq!(w.sandbox.requests_seen(), 0, "nothing reached DaxPay");
}

/// A merchant with `notify_hosts`: a `notify_url` elsewhere is refused in the gateway's own
/// whitelist words, on every pay endpoint, and never posted to.
#[tokio::test]
async fn a_notify_url_outside_the_merchants_hosts_is_refused() {
    let w = Setup {
        merchant: "notify_hosts = [\"shop.example.com\"]",
        ..Setup::default()
    }
    .start()
    .await
    .0;
    let client = w.client();
    let words = "该域名不可发起支付，原因：域名没过白，请前往支付平台授权支付域名";
    let a = client.mapi(&sign::pairs(&mapi_fields(&w, PID, "H1"))).await;
    assert_eq!(a.body, php_unescaped(-1, words));
    assert_sysmsg(
        &client
            .submit_get(&sign::pairs(&page_fields(&w, PID, "H1")))
            .await,
        words,
    );
    let a = client
        .v2("create", &sign::pairs(&create_fields(&w, "H1")))
        .await;
    assert_eq!(a.body, php_unescaped(-1, words));
    assert_eq!(w.sandbox.requests_seen(), 0, "nothing reached DaxPay");
    assert!(w.site.received().is_empty());
}

/// Without `[epay] platform_private_key` nothing could sign a V2 answer: every V2 request is
/// refused before anything is done; V1 is served.
#[tokio::test]
async fn v2_without_the_platform_key_is_refused_and_v1_is_served() {
    let (sb, sandbox) = common::start_sandbox(&common::epay::world::sandbox_config()).await;
    let unused: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
    let toml = common::epay::world::proxy_config(sb.addr, unused, 50);
    let line = format!(
        "platform_private_key = \"{}\"\n",
        keys::PLATFORM_PRIVATE_KEY
    );
    assert!(toml.contains(&line));
    let proxy = common::start_proxy(&toml.replace(&line, "")).await;
    let client = common::epay::client(proxy.addr);
    let words = php_unescaped(-1, "系统异常[平台RSA密钥未配置，V2接口不可用]");
    let fields = owned(&[
        ("method", "web"),
        ("type", "alipay"),
        ("out_trade_no", "NK1"),
        ("notify_url", "http://127.0.0.1:9/n"),
        ("name", "无平台密钥"),
        ("money", "1"),
        ("clientip", "192.168.1.100"),
    ]);
    assert_eq!(client.v2("create", &sign::pairs(&fields)).await.body, words);
    assert_eq!(
        client.v2("query", &[("out_trade_no", "NK1")]).await.body,
        words
    );
    assert_eq!(sandbox.requests_seen(), 0, "nothing reached DaxPay");
    let mut v1 = with(&fields, "pid", PID);
    v1.retain(|(k, _)| k != "method");
    let a = client.mapi(&sign::pairs(&v1)).await.json();
    assert_eq!(a["code"], 1, "V1 needs no platform key: {a}");
}

/// The China time (UTC+8) of now as epay numbers begin: `YYYYMMDDhhmmss`.
fn china_now() -> String {
    let offset = time::UtcOffset::from_hms(8, 0, 0).unwrap();
    let t = time::OffsetDateTime::now_utc().to_offset(offset);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A refund number paybridge generates (V1 has none) that a refund of the merchant already holds
/// is a collision: nothing is sent, `退款未处理：退款单号冲突，请重新发起退款`, never the other
/// refund's success. Made through sockets by giving a V2 refund the very number paybridge will
/// draw next (its numbers count up within a second); when a second passes in between (or
/// another test draws one) the V1 refund is an ordinary one and the test tries again.
#[tokio::test]
async fn a_generated_refund_number_another_refund_holds_is_a_collision() {
    let w = world(None, "").await;
    let client = w.client();
    let fields = mapi_fields(&w, PID, "C1");
    let created = client
        .mapi(&sign::pairs(&with(&fields, "money", "10.00")))
        .await
        .json();
    assert_eq!(created["code"], 1, "{created}");
    w.sandbox
        .pay_order(&dax_order(&w.sandbox, "C1").order_no)
        .unwrap();
    paid(&client, "C1").await;
    for _ in 0..40 {
        let first = client.refund(Number::Out("C1"), "0.01").await.json();
        assert_eq!(first["code"], 0, "{first}");
        let drawn = first["refund_no"].as_str().unwrap();
        let suffix: u32 = drawn[14..].parse().unwrap();
        let next = format!(
            "{}{}",
            china_now(),
            if suffix == 99_999 { 11_111 } else { suffix + 1 }
        );
        let taken = client
            .v2(
                "refund",
                &[
                    ("out_trade_no", "C1"),
                    ("money", "0.01"),
                    ("out_refund_no", &next),
                ],
            )
            .await
            .json();
        assert_eq!(taken["code"], 0, "{taken}");
        let sent = w.sandbox.refunds().len();
        let second = client.refund(Number::Out("C1"), "0.01").await;
        let json = second.json();
        if json["code"] == -1 {
            assert_eq!(
                second.body,
                php_plain(-1, "退款未处理：退款单号冲突，请重新发起退款")
            );
            assert_eq!(w.sandbox.refunds().len(), sent, "nothing sent");
            return;
        }
        assert_eq!(json["code"], 0, "{json}");
        assert_ne!(
            json["refund_no"],
            next.as_str(),
            "another refund's number: {json}"
        );
    }
    panic!("paybridge never drew the number a V2 refund held (40 tries)");
}

/// A V2 `out_refund_no` whose refund DaxPay closed (2.0: a WeChat refund the channel failed
/// later): DaxPay will not take the number again, and paybridge says so without `退款失败` (the
/// merchant might refund by hand) nor "use another number": -1, signed.
#[tokio::test]
async fn v2_out_refund_no_of_a_closed_refund_is_refused_as_already_submitted() {
    let dax = Dax::new("2.0", "hmac_sha256");
    let w = world_on(dax).await;
    let client = w.client();
    let create = with(&create_fields(&w, "RC1"), "type", "wxpay");
    let made = client.v2("create", &sign::pairs(&create)).await.json();
    assert_eq!(made["code"], 0, "{made}");
    w.sandbox
        .pay_order(&dax_order(&w.sandbox, "RC1").order_no)
        .unwrap();
    let refund = [
        ("out_trade_no", "RC1"),
        ("money", "0.40"),
        ("out_refund_no", "RX-000001"),
    ];
    let mut accepted = client.v2("refund", &refund).await.json();
    for _ in 0..250 {
        if accepted["code"] == 0 {
            break;
        }
        // Not paid yet for paybridge: its query or callback settles it.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        accepted = client.v2("refund", &refund).await.json();
    }
    assert_eq!(
        code_msg(&accepted),
        (0, "退款已受理，正在处理中！退款金额¥0.40".to_owned()),
        "{accepted}"
    );
    let refund_no = w.sandbox.refunds()[0].refund_no.clone();
    w.sandbox.close_refund(&refund_no).unwrap();
    let query = [("out_refund_no", "RX-000001")];
    let mut rq = client.v2("refundquery", &query).await.json();
    for _ in 0..250 {
        if rq["status"].to_string().trim_matches('"') == "0" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        rq = client.v2("refundquery", &query).await.json();
    }
    assert_eq!(
        rq["status"].to_string().trim_matches('"'),
        "0",
        "failed: {rq}"
    );
    // The refund's row learns it (DaxPay's notice, or the settlement worker).
    for _ in 0..250 {
        let row = w
            .orders
            .refund_by_mch_refund_no("epay:1001", "RX-000001")
            .await
            .unwrap()
            .expect("the refund's row");
        if row.status == Some(paybridge::domain::order::RefundOrderStatus::Close) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Another request than the first (its own timestamp): the same one again is a retry,
    // answered with the first answer.
    let earlier: u64 = sign::timestamp().parse::<u64>().unwrap() - 2;
    let again = client.v2_at("refund", &refund, earlier).await.json();
    assert_eq!(
        code_msg(&again),
        (
            -1,
            "退款单号(RX-000001)已提交过，请通过退款查询接口确认结果".to_owned()
        ),
        "{again}"
    );
    assert!(
        signed_by_the_platform(&again),
        "signed as the handler's refusals: {again}"
    );
    assert_eq!(w.sandbox.refunds().len(), 1, "not sent again");
}

/// A V2 refund asked while another of the order is still in progress (2.0: a WeChat refund the
/// channel settles later): DaxPay starts nothing, and the gateway has no words for it (its
/// refunds run within one request, epay.md §6.5, §7.4). paybridge says so without `退款失败`,
/// which SDK2 would record as the refund's final failure: -1, signed as the handler's refusals,
/// `退款未处理：…请稍后再试`. True to its words: nothing was refunded, and once the first refund
/// is done the same `out_refund_no` asked again is refunded.
#[tokio::test]
async fn v2_a_refund_while_another_is_in_progress_is_not_processed_and_may_be_asked_again() {
    let w = world_on(Dax::new("2.0", "hmac_sha256")).await;
    let client = w.client();
    let create = with(&create_fields(&w, "RP1"), "type", "wxpay");
    let made = client.v2("create", &sign::pairs(&create)).await.json();
    assert_eq!(made["code"], 0, "{made}");
    w.sandbox
        .pay_order(&dax_order(&w.sandbox, "RP1").order_no)
        .unwrap();
    let now: u64 = sign::timestamp().parse().unwrap();
    let first = [
        ("out_trade_no", "RP1"),
        ("money", "0.40"),
        ("out_refund_no", "RP-000001"),
    ];
    let mut accepted = client.v2_at("refund", &first, now).await.json();
    for step in 1..250 {
        if accepted["code"] == 0 {
            break;
        }
        // Not paid yet for paybridge: its query or callback settles it.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        accepted = client.v2_at("refund", &first, now - step).await.json();
    }
    assert_eq!(
        code_msg(&accepted),
        (0, "退款已受理，正在处理中！退款金额¥0.40".to_owned()),
        "{accepted}"
    );
    let second = [
        ("out_trade_no", "RP1"),
        ("money", "0.10"),
        ("out_refund_no", "RP-000002"),
    ];
    // Its timestamp kept: the later request below must differ from it (a byte-identical V2
    // request is a retry, answered from the replay store).
    let meanwhile_at: u64 = sign::timestamp().parse().unwrap();
    let meanwhile = client.v2_at("refund", &second, meanwhile_at).await.json();
    assert_eq!(
        code_msg(&meanwhile),
        (
            -1,
            "退款未处理：该订单有正在处理的退款，请稍后再试".to_owned()
        ),
        "{meanwhile}"
    );
    assert!(
        signed_by_the_platform(&meanwhile),
        "signed as the handler's refusals: {meanwhile}"
    );
    assert_eq!(w.sandbox.refunds().len(), 1, "nothing more refunded");
    let refund_no = w.sandbox.refunds()[0].refund_no.clone();
    w.sandbox.succeed_refund(&refund_no).unwrap();
    let query = [("out_refund_no", "RP-000001")];
    let mut rq = client.v2("refundquery", &query).await.json();
    for _ in 0..250 {
        if rq["status"].to_string().trim_matches('"') == "1" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        rq = client.v2("refundquery", &query).await.json();
    }
    assert_eq!(rq["status"].to_string().trim_matches('"'), "1", "{rq}");
    // Another request (its own timestamp) of the same number: refunded now.
    let again = client
        .v2_at("refund", &second, meanwhile_at - 1)
        .await
        .json();
    assert_eq!(
        code_msg(&again),
        (0, "退款已受理，正在处理中！退款金额¥0.10".to_owned()),
        "{again}"
    );
    assert_eq!(w.sandbox.refunds().len(), 2, "the second refund made once");
}

/// A refusal the gateway signs (its refund handler returns it): RSA over the body as sent, with
/// the platform key and a fresh timestamp (SDK2 checks only code 0, so this is checked here).
fn signed_by_the_platform(answer: &Value) -> bool {
    let fields = sign::json_fields(answer);
    sign::sdk2_verify(&sign::pairs(&fields), keys::PLATFORM_PUBLIC_KEY).is_ok()
}

/// Waits until the V1 query of `out_trade_no` says paid.
async fn paid(client: &EpayClient, out_trade_no: &str) {
    for _ in 0..250 {
        let q = client.query(Number::Out(out_trade_no)).await.json();
        if q["status"].to_string().trim_matches('"') == "1" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{out_trade_no} never paid");
}

/// The same, where only the merchant's `refundquery` has learnt the close (DaxPay's one 2.0
/// notice lost, the settlement worker not yet round): once `refundquery` has answered 0
/// (failed), a repeat of the `out_refund_no` must not be answered code 0 `退款已受理…` (SDK2 reads
/// it as a refund made).
#[tokio::test]
async fn v2_a_close_learnt_by_refundquery_is_not_answered_accepted_again() {
    let w = Setup {
        dax: Dax::new("2.0", "hmac_sha256"),
        ..Setup::default()
    }
    .start()
    .await
    .0;
    let client = w.client();
    let create = with(&create_fields(&w, "RQ1"), "type", "wxpay");
    let made = client.v2("create", &sign::pairs(&create)).await.json();
    assert_eq!(made["code"], 0, "{made}");
    w.sandbox
        .pay_order(&dax_order(&w.sandbox, "RQ1").order_no)
        .unwrap();
    let now: u64 = sign::timestamp().parse().unwrap();
    let refund = [
        ("out_trade_no", "RQ1"),
        ("money", "0.40"),
        ("out_refund_no", "RQ-000001"),
    ];
    let mut accepted = client.v2_at("refund", &refund, now).await.json();
    for _ in 0..250 {
        if accepted["code"] == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        accepted = client.v2_at("refund", &refund, now - 1).await.json();
    }
    assert_eq!(accepted["code"], 0, "{accepted}");
    w.sandbox.mute_callbacks(true);
    let refund_no = w.sandbox.refunds()[0].refund_no.clone();
    w.sandbox.close_refund(&refund_no).unwrap();
    let rq = client
        .v2("refundquery", &[("out_refund_no", "RQ-000001")])
        .await
        .json();
    assert_eq!(
        rq["status"].to_string().trim_matches('"'),
        "0",
        "failed: {rq}"
    );
    let again = client.v2_at("refund", &refund, now - 2).await.json();
    assert_eq!(
        code_msg(&again),
        (
            -1,
            "退款单号(RQ-000001)已提交过，请通过退款查询接口确认结果".to_owned()
        ),
        "{again}"
    );
}

/// The order a request names: none given, or none of the merchant's, on each endpoint in its
/// words and code (`api.php`: -4 for none, plain `json_encode`; V2: -1, unsigned, as the
/// handlers throw them); `/api/pay/submit` without `pid` is the gateway's plain text too.
#[tokio::test]
async fn no_order_named_and_no_such_order_on_each_endpoint() {
    let w = world(None, "").await;
    let client = w.client();
    let refund = owned(&[("pid", PID), ("key", KEY), ("money", "0.10")]);
    let a = client.post_form("/api.php?act=refund", &refund).await;
    assert_eq!(a.body, php_plain(-4, "订单号不能为空"));
    let a = client
        .refund(Number::Trade("2024070112000099999"), "0.10")
        .await;
    assert_eq!(a.body, php_plain(-1, "当前订单不存在！"));
    let a = client.query(Number::Trade("2024070112000099999")).await;
    assert_eq!(a.body, php_plain(-1, "订单号不存在"));
    for (method, none, unknown) in [
        ("query", "订单号不能为空", "订单号不存在"),
        ("close", "订单号不能为空", "当前订单不存在！"),
        ("refund", "订单号不能为空", "当前订单不存在！"),
    ] {
        let money: &[(&str, &str)] = if method == "refund" {
            &[("money", "0.10")]
        } else {
            &[]
        };
        let a = client.v2(method, money).await;
        assert_eq!(a.body, php_unescaped(-1, none), "{method}");
        let mut named = money.to_vec();
        named.push(("out_trade_no", "NOPE"));
        let a = client.v2(method, &named).await;
        assert_eq!(a.body, php_unescaped(-1, unknown), "{method}");
    }
    let page = client
        .post_form("/api/pay/submit", &owned(&[("type", "alipay")]))
        .await;
    assert_eq!(page.body, "你还未配置支付接口商户！");
}
