//! The legacy epay gateway driven as a tower service through the legacy sandbox: requests
//! signed with the sandbox's own epay MD5 (pinned by §15's vectors in `sign::epay`).

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use tower::ServiceExt;

use crate::config::Sandboxes;
use crate::legacy::LegacySandbox;
use crate::sign::epay as sign;

const KEY: &str = "89unJUB8HZ54Hj7x4nUj56HN4nUzUJ8i";

fn gateway() -> LegacySandbox {
    let toml = format!(
        "[legacy_sandbox]\n[[legacy_sandbox.epay_merchants]]\npid = 1001\nkey = \"{KEY}\"\n\
         [[legacy_sandbox.epay_merchants]]\npid = \"1002\"\nkey = \"other\"\n\
         [[legacy_sandbox.epay_orders]]\ntrade_no = \"2024070112000012345\"\n\
         out_trade_no = \"OLD-1\"\npid = 1001\nmoney = \"1.50\"\nstatus = 1\nname = \"VIP\"\n"
    );
    let config = Sandboxes::from_toml(&toml).expect("valid");
    LegacySandbox::new(config.legacy_sandbox.as_ref().expect("section"))
}

fn signed(fields: &[(&str, &str)]) -> String {
    let sign = sign::sign(fields, KEY, sign::Filter::Blank);
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        s.append_pair(k, v);
    }
    s.append_pair("sign", &sign).append_pair("sign_type", "MD5");
    s.finish()
}

fn pay_fields(out_trade_no: &str) -> Vec<(&str, &str)> {
    vec![
        ("pid", "1001"),
        ("type", "alipay"),
        ("out_trade_no", out_trade_no),
        ("notify_url", "http://127.0.0.1/notify"),
        ("name", "VIP会员"),
        ("money", "1.00"),
        ("clientip", "192.168.1.100"),
    ]
}

async fn call(gw: &LegacySandbox, method: Method, uri: &str, form: Option<String>) -> String {
    let mut req = Request::builder().method(method).uri(uri);
    if form.is_some() {
        req = req.header("content-type", "application/x-www-form-urlencoded");
    }
    let req = req
        .body(Full::new(Bytes::from(form.unwrap_or_default())))
        .expect("request");
    let response = gw.clone().oneshot(req).await.expect("infallible");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8(body.to_vec()).expect("UTF-8")
}

async fn mapi(gw: &LegacySandbox, form: String) -> serde_json::Value {
    let body = call(gw, Method::POST, "/mapi.php", Some(form)).await;
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn msg(v: &serde_json::Value) -> (i64, &str) {
    (
        v["code"].as_i64().expect("code"),
        v["msg"].as_str().unwrap_or(""),
    )
}

#[tokio::test]
async fn mapi_creates_and_the_query_finds_it() {
    let gw = gateway();
    let answer = mapi(&gw, signed(&pay_fields("A1"))).await;
    assert_eq!(answer["code"], 1, "{answer}");
    let trade_no = answer["trade_no"].as_str().expect("trade_no").to_owned();
    assert_eq!(trade_no.len(), 19);
    assert!(answer["qrcode"]
        .as_str()
        .unwrap()
        .starts_with("https://qr.alipay.com/"));
    // The identical re-submit reuses the order; a changed one is refused.
    assert_eq!(
        mapi(&gw, signed(&pay_fields("A1"))).await["trade_no"],
        trade_no.as_str()
    );
    let mut changed = pay_fields("A1");
    changed[5] = ("money", "2.00");
    assert_eq!(
        msg(&mapi(&gw, signed(&changed)).await),
        (-1, "该订单(A1)支付参数有变化，请更换订单号重新发起支付")
    );

    let query = format!("/api.php?act=order&pid=1001&key={KEY}&out_trade_no=A1");
    let body = call(&gw, Method::GET, &query, None).await;
    assert!(body.starts_with(&format!(
        r#"{{"code":1,"msg":"succ","trade_no":"{trade_no}","out_trade_no":"A1","api_trade_no":null,"bill_trade_no":null,"type":"alipay","pid":1001,"addtime":""#
    )), "{body}");
    assert!(body.ends_with(r#","endtime":null,"name":"VIP\u4f1a\u5458","money":"1.00","param":null,"buyer":null,"status":0,"payurl":null}"#), "{body}");
    assert!(gw.epay_mark_paid(&trade_no));
    let paid: serde_json::Value =
        serde_json::from_str(&call(&gw, Method::GET, &query, None).await).expect("JSON");
    assert_eq!(paid["status"], 1);
    assert!(paid["endtime"].is_string());
    assert_eq!(
        msg(&mapi(&gw, signed(&pay_fields("A1"))).await),
        (-1, "该订单(A1)已完成支付，请勿重复发起支付")
    );
}

#[tokio::test]
async fn mapi_refusals_in_the_gateway_order() {
    let gw = gateway();
    let raw = call(&gw, Method::POST, "/mapi.php", Some(String::new())).await;
    assert_eq!(raw, r#"{"code":-4, "msg":"未传入任何参数"}"#);
    // A GET is not read by build 3094's mapi.php; neither is a JSON body.
    let get = call(
        &gw,
        Method::GET,
        &format!("/mapi.php?{}", signed(&pay_fields("G"))),
        None,
    )
    .await;
    assert_eq!(get, raw);
    let cases: Vec<(String, (i64, &str))> = vec![
        ("pid=abc&sign=x".into(), (-1, "商户ID不能为空")),
        ("pid=9&sign=x".into(), (-1, "商户不存在！")),
        ("pid=1001".into(), (-3, "缺少签名参数")),
        (
            signed(&pay_fields("B")).replace("money=1.00", "money=1.01"),
            (-3, "MD5签名校验失败"),
        ),
        (
            signed(&pay_fields("B"))
                .replace("sign_type=MD5", "sign_type=md5")
                .replace("money=1.00", "money=1.01"),
            (-3, "md5签名校验失败"),
        ),
        (
            "pid=1001&sign=x&sign_type=RSA".into(),
            (-3, "签名校验失败，商户公钥错误"),
        ),
        (
            signed(&[("pid", "1001")]),
            (-1, "订单号(out_trade_no)不能为空"),
        ),
        (
            signed(&[("pid", "1001"), ("out_trade_no", "B")]),
            (-1, "通知地址(notify_url)不能为空"),
        ),
        (
            signed(&[
                ("pid", "1001"),
                ("out_trade_no", "B"),
                ("notify_url", "n"),
                ("name", "n"),
                ("money", "0"),
            ]),
            (-1, "金额(money)不能为空"),
        ),
        (
            signed(&[
                ("pid", "1001"),
                ("out_trade_no", "B"),
                ("notify_url", "n"),
                ("name", "n"),
                ("money", "1"),
            ]),
            (-1, "支付方式(type)不能为空"),
        ),
        (
            signed(&[
                ("pid", "1001"),
                ("out_trade_no", "B"),
                ("notify_url", "n"),
                ("name", "n"),
                ("money", "1"),
                ("type", "alipay"),
            ]),
            (-1, "用户IP地址(clientip)不能为空"),
        ),
    ];
    for (form, expected) in cases {
        assert_eq!(msg(&mapi(&gw, form.clone()).await), expected, "{form}");
    }
    let mut bad = pay_fields("B");
    bad[5] = ("money", "1e2");
    assert_eq!(msg(&mapi(&gw, signed(&bad)).await), (-1, "金额不合法"));
    let mut bad = pay_fields("B C");
    bad[5] = ("money", "1");
    assert_eq!(
        msg(&mapi(&gw, signed(&bad)).await),
        (-1, "订单号(out_trade_no)格式不正确")
    );
    let mut bad = pay_fields("B");
    bad[1] = ("type", "paypal");
    let page = call(&gw, Method::POST, "/mapi.php", Some(signed(&bad))).await;
    assert!(page.contains("<h3>站点提示信息</h3>") && page.contains("支付方式(type)不存在"));
    // The error body keeps Chinese raw (JSON_UNESCAPED_UNICODE).
    let body = call(&gw, Method::POST, "/mapi.php", Some("pid=9&sign=x".into())).await;
    assert_eq!(body, r#"{"code":-1,"msg":"商户不存在！"}"#);
}

#[tokio::test]
async fn submit_reads_get_or_post_and_answers_pages() {
    let gw = gateway();
    let mut fields = pay_fields("S1");
    fields.pop();
    fields.push(("return_url", "http://127.0.0.1/return"));
    let page = call(
        &gw,
        Method::GET,
        &format!("/submit.php?{}", signed(&fields)),
        None,
    )
    .await;
    assert!(
        page.contains("window.location.replace('https://qr.alipay.com/"),
        "{page}"
    );
    let page = call(&gw, Method::POST, "/submit.php", Some(signed(&fields))).await;
    assert!(page.contains("https://qr.alipay.com/"), "{page}");
    assert_eq!(gw.epay_orders().len(), 2, "one seeded, one created once");
    let none = call(&gw, Method::GET, "/submit.php", None).await;
    assert_eq!(none, "你还未配置支付接口商户！");
    fields.pop();
    let page = call(&gw, Method::POST, "/submit.php", Some(signed(&fields))).await;
    assert!(page.contains("回调地址(return_url)不能为空"), "{page}");
}

#[tokio::test]
async fn order_query_refusals() {
    let gw = gateway();
    for (query, expected) in [
        (
            "pid=9&key=x&trade_no=1",
            r#"{"code":-3,"msg":"\u5546\u6237ID\u4e0d\u5b58\u5728"}"#,
        ),
        (
            "pid=1001&key=wrong&trade_no=1",
            r#"{"code":-3,"msg":"\u5546\u6237\u5bc6\u94a5\u9519\u8bef"}"#,
        ),
        (
            "pid=1001&key=KEY",
            r#"{"code":-4,"msg":"\u8ba2\u5355\u53f7\u4e0d\u80fd\u4e3a\u7a7a"}"#,
        ),
        (
            "pid=1001&key=KEY&trade_no=404",
            r#"{"code":-1,"msg":"\u8ba2\u5355\u53f7\u4e0d\u5b58\u5728"}"#,
        ),
        (
            "pid=1002&key=other&trade_no=2024070112000012345",
            r#"{"code":-1,"msg":"\u8ba2\u5355\u53f7\u4e0d\u5b58\u5728"}"#,
        ),
        (
            "pid=1001&key=KEY&trade_no=1&sign=x",
            r#"{"code":-3,"msg":"verify sign failed"}"#,
        ),
    ] {
        let uri = format!("/api.php?act=order&{}", query.replace("KEY", KEY));
        assert_eq!(
            call(&gw, Method::GET, &uri, None).await,
            expected,
            "{query}"
        );
    }
    let other = call(&gw, Method::GET, "/api.php?act=settle2", None).await;
    assert_eq!(other, r#"{"code":-5,"msg":"No Act!"}"#);
}

#[tokio::test]
async fn refunds_are_cumulative_and_bounded() {
    let gw = gateway();
    let refund = |money: &str, number: &str| format!("pid=1001&key={KEY}&{number}&money={money}");
    let post = |form: String| {
        let gw = gw.clone();
        async move {
            let body = call(&gw, Method::POST, "/api.php?act=refund", Some(form)).await;
            serde_json::from_str::<serde_json::Value>(&body).expect("JSON")
        }
    };
    let first = post(refund("0.50", "trade_no=2024070112000012345")).await;
    assert_eq!(first["code"], 0, "{first}");
    assert_eq!(first["msg"], "退款成功！退款金额￥0.50");
    assert_eq!(first["uid"], 1001);
    assert_eq!(
        msg(&post(refund("1.01", "out_trade_no=OLD-1")).await),
        (-1, "退款金额不能超过该订单剩余可退款金额！")
    );
    assert_eq!(post(refund("1", "out_trade_no=OLD-1")).await["code"], 0);
    assert_eq!(
        msg(&post(refund("0.01", "out_trade_no=OLD-1")).await),
        (-1, "该订单已全额退款！")
    );
    assert_eq!(
        msg(&post(refund("x", "out_trade_no=OLD-1")).await),
        (-1, "金额输入错误")
    );
    assert_eq!(
        msg(&post(refund("1", "out_trade_no=NOPE")).await),
        (-1, "当前订单不存在！")
    );
    assert_eq!(
        msg(&post(refund("1", "trade_no=")).await),
        (-4, "订单号不能为空")
    );
    assert_eq!(
        msg(&post("pid=1001&key=x&trade_no=1&money=1".to_owned()).await),
        (-3, "商户密钥错误")
    );
    let order = gw.epay_order("2024070112000012345").expect("order");
    assert_eq!((order.status, order.refund_fen), (2, 150));
    assert_eq!(gw.epay_refunds().len(), 2);
}

mod v2 {
    use super::*;
    use crate::sign::epay::{
        rsa_sign, rsa_verify, RsaSigner, RsaVerifier, SDK2_PRIVATE, SDK2_PUBLIC,
    };

    /// Merchant 1001 with SDK2's sample key pair, which also stands in for the platform's.
    fn gateway() -> LegacySandbox {
        let toml = format!(
            "[legacy_sandbox]\nepay_platform_private_key = \"{SDK2_PRIVATE}\"\n\
             [[legacy_sandbox.epay_merchants]]\npid = 1001\nkey = \"{KEY}\"\npublic_key = \"{SDK2_PUBLIC}\"\n\
             [[legacy_sandbox.epay_orders]]\ntrade_no = \"2024070112000012345\"\n\
             out_trade_no = \"OLD-1\"\npid = 1001\nmoney = \"1.50\"\nstatus = 1\n"
        );
        let config = Sandboxes::from_toml(&toml).expect("valid");
        LegacySandbox::new(config.legacy_sandbox.as_ref().expect("section"))
    }

    fn now() -> String {
        time::OffsetDateTime::now_utc().unix_timestamp().to_string()
    }

    /// `fields` + `pid`, `timestamp` (unless given), `sign_type=RSA` and the RSA `sign`.
    fn rsa_form(fields: &[(&str, &str)]) -> String {
        let ts = now();
        let mut all = vec![("pid", "1001")];
        all.extend_from_slice(fields);
        if !fields.iter().any(|(k, _)| *k == "timestamp") {
            all.push(("timestamp", &ts));
        }
        let key = RsaSigner::from_base64(SDK2_PRIVATE).expect("key");
        let sig = rsa_sign(&all, &key);
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &all {
            s.append_pair(k, v);
        }
        s.append_pair("sign_type", "RSA").append_pair("sign", &sig);
        s.finish()
    }

    async fn post(gw: &LegacySandbox, method: &str, form: String) -> serde_json::Value {
        let body = call(gw, Method::POST, &format!("/api/pay/{method}"), Some(form)).await;
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    /// SDK2's check of an answer: RSA over every scalar but `sign`/`sign_type`.
    fn verified(answer: &serde_json::Value) -> bool {
        let fields: Vec<(String, String)> = answer
            .as_object()
            .expect("object")
            .iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(s) => Some((k.clone(), s.clone())),
                serde_json::Value::Number(n) => Some((k.clone(), n.to_string())),
                _ => None,
            })
            .collect();
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let key = RsaVerifier::from_base64(SDK2_PUBLIC).expect("key");
        rsa_verify(&pairs, answer["sign"].as_str().unwrap_or(""), &key)
    }

    fn create_fields(no: &str) -> Vec<(&str, &str)> {
        vec![
            ("method", "web"),
            ("type", "wxpay"),
            ("out_trade_no", no),
            ("notify_url", "http://127.0.0.1/n"),
            ("name", "VIP会员"),
            ("money", "2.00"),
            ("clientip", "192.168.1.100"),
        ]
    }

    #[tokio::test]
    async fn a_method_the_gateway_lacks_is_refused_in_its_words() {
        let gw = gateway();
        for path in [
            "/api/pay/nothing",
            "/api/merchant/info",
            "/api/pay/unified_order",
        ] {
            let body = call(&gw, Method::POST, path, Some(rsa_form(&[]))).await;
            assert_eq!(body, r#"{"code":-5,"msg":"接口方法不存在"}"#, "{path}");
        }
        // Without `pid` the path is left to the Jeepay side: Spring's 404.
        let jeepay = call(&gw, Method::POST, "/api/pay/nothing", Some("a=1".into())).await;
        assert!(jeepay.contains("\"status\":404"), "{jeepay}");
        assert_eq!(
            crate::legacy::epay::v2::api_route("/api/pay/xy"),
            Some(("pay", "xy"))
        );
        // One character is no route (the pattern wants two): the gateway says `URL Error!`.
        assert_eq!(crate::legacy::epay::v2::api_route("/api/pay/x"), None);
        assert_eq!(crate::legacy::epay::v2::api_route("/api/pay/a-b"), None);
        assert_eq!(crate::legacy::epay::v2::api_route("/api/pay"), None);
    }

    #[tokio::test]
    async fn create_query_refund_close_signed() {
        let gw = gateway();
        let created = post(&gw, "create", rsa_form(&create_fields("V2-1"))).await;
        assert_eq!(created["code"], 0, "{created}");
        assert!(verified(&created), "{created}");
        assert_eq!(created["pay_type"], "qrcode");
        let trade_no = created["trade_no"].as_str().unwrap().to_owned();
        let q = post(&gw, "query", rsa_form(&[("out_trade_no", "V2-1")])).await;
        assert!(verified(&q), "{q}");
        assert_eq!(
            (q["status"].as_i64(), q["money"].as_str()),
            (Some(0), Some("2.00"))
        );
        assert!(
            q.get("endtime").is_none() && q.get("param").is_none(),
            "{q}"
        );
        let closed = post(&gw, "close", rsa_form(&[("trade_no", &trade_no)])).await;
        assert_eq!(
            (closed["code"].as_i64(), closed["msg"].as_str()),
            (Some(0), Some("订单关闭成功"))
        );
        assert!(verified(&closed));
        assert!(gw.epay_mark_paid(&trade_no));
        let refund = |money: &'static str, no: &'static str| {
            rsa_form(&[
                ("trade_no", "2024070112000012345"),
                ("money", money),
                ("out_refund_no", no),
            ])
        };
        let r = post(&gw, "refund", refund("0.50", "RF-0001")).await;
        assert_eq!(r["code"], 0, "{r}");
        assert!(verified(&r));
        assert_eq!(r["msg"], "退款成功！退款金额¥0.50");
        let again = post(&gw, "refund", refund("0.50", "RF-0001")).await;
        assert_eq!(again["msg"], "已存在相同退款单号！退款金额¥0.50");
        assert_eq!(gw.epay_refunds().len(), 1);
        let over = post(&gw, "refund", refund("1.01", "RF-0002")).await;
        assert_eq!(over["msg"], "退款金额不能超过该订单剩余可退款金额！");
        assert!(verified(&over), "business failures are signed: {over}");
        let q = post(
            &gw,
            "query",
            rsa_form(&[("trade_no", "2024070112000012345")]),
        )
        .await;
        assert_eq!(
            (q["status"].as_i64(), q["refundmoney"].as_str()),
            (Some(2), Some("0.50"))
        );
        let rq = post(
            &gw,
            "refundquery",
            rsa_form(&[("out_refund_no", "RF-0001")]),
        )
        .await;
        assert!(verified(&rq));
        assert_eq!(
            (rq["trade_no"].as_str(), rq["status"].as_i64()),
            (Some("2024070112000012345"), Some(1))
        );
        let paid_close = post(
            &gw,
            "close",
            rsa_form(&[("trade_no", "2024070112000012345")]),
        )
        .await;
        assert_eq!(paid_close["msg"], "该订单状态不支持关闭！");
    }

    #[tokio::test]
    async fn refusals_in_apihelpers_order() {
        let gw = gateway();
        let msg = |v: &serde_json::Value| {
            (
                v["code"].as_i64().unwrap_or(99),
                v["msg"].as_str().unwrap_or("").to_owned(),
            )
        };
        assert_eq!(
            msg(&post(&gw, "refund", "a=1".into()).await),
            (-4, "未传入任何参数".into())
        );
        assert_eq!(
            msg(&post(&gw, "query", "pid=x".into()).await),
            (-1, "商户ID不能为空".into())
        );
        assert_eq!(
            msg(&post(&gw, "query", "pid=9".into()).await),
            (-1, "商户不存在！".into())
        );
        assert_eq!(
            msg(&post(&gw, "query", "pid=1001".into()).await),
            (-3, "时间戳(timestamp)字段不能为空".into())
        );
        let stale = (time::OffsetDateTime::now_utc().unix_timestamp() - 301).to_string();
        assert_eq!(
            msg(&post(
                &gw,
                "query",
                rsa_form(&[("trade_no", "1"), ("timestamp", &stale)])
            )
            .await),
            (-3, "时间戳字段不正确，请检查服务器时间".into())
        );
        assert_eq!(
            msg(&post(&gw, "query", format!("pid=1001&timestamp={}", now())).await),
            (-3, "缺少签名参数".into())
        );
        let tampered = rsa_form(&[("trade_no", "1")]).replace("trade_no=1", "trade_no=2");
        assert_eq!(
            msg(&post(&gw, "query", tampered).await),
            (-3, "RSA签名校验失败".into())
        );
        assert_eq!(
            msg(&post(&gw, "query", rsa_form(&[])).await),
            (-1, "订单号不能为空".into())
        );
        assert_eq!(
            msg(&post(&gw, "query", rsa_form(&[("out_trade_no", "NOPE")])).await),
            (-1, "订单号不存在".into())
        );
        let body = call(
            &gw,
            Method::POST,
            "/api/pay/query",
            Some(rsa_form(&[("out_trade_no", "NOPE")])),
        )
        .await;
        assert_eq!(
            body, r#"{"code":-1,"msg":"订单号不存在"}"#,
            "echojson: Chinese raw, unsigned"
        );
        // Without `pid`, `/api/pay/query` is still Jeepay's.
        let jeepay = call(&gw, Method::POST, "/api/pay/query", Some("mchNo=M1".into())).await;
        assert!(
            jeepay.contains("9999") || jeepay.contains("\"code\":11"),
            "{jeepay}"
        );
    }
}
