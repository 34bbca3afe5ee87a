use http::Method;

use super::*;
use crate::dialect::epay::sign::{md5_sign, string_to_sign};
use crate::dialect::epay::test_keys::{SAMPLE_PRIVATE, SAMPLE_PUBLIC};

const KEY: &str = "89unJUB8HZ54Hj7x4nUj56HN4nUzUJ8i";

fn config(platform_key: bool) -> Config {
    let mut toml = format!(
        r#"
[upstreams.daxpay]
base_url = "http://127.0.0.1:9"
version = "3.0"
secret = "dax"
[[merchants]]
mch_no = "M1"
app_id = "A1"
secret = "s"
daxpay = {{ upstream = "daxpay", mch_no = "DM", app_id = "DA" }}
[[merchants]]
dialect = "epay"
pid = "1001"
secret = "{KEY}"
epay_public_key = "{SAMPLE_PUBLIC}"
daxpay = {{ upstream = "daxpay", mch_no = "DM", app_id = "DA2" }}
"#
    );
    if platform_key {
        toml.push_str(&format!(
            "[epay]\nplatform_private_key = \"{SAMPLE_PRIVATE}\"\n"
        ));
    }
    Config::from_toml(&toml).expect("an epay configuration")
}

fn inbound<'a>(method: &'a Method, query: Option<&'a str>, body: &'a [u8]) -> Inbound<'a> {
    Inbound {
        method,
        content_type: "application/x-www-form-urlencoded",
        query,
        body,
        user_agent: Some("Mozilla/5.0 (iPhone) MicroMessenger/8.0"),
        peer: Some("203.0.113.9".parse().unwrap()),
    }
}

fn md5_form(params: &[(&str, &str)]) -> String {
    let sign = md5_sign(&string_to_sign(params, Filter::Build3094), KEY).to_string();
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        form.append_pair(k, v);
    }
    form.append_pair("sign", &sign);
    form.append_pair("sign_type", "MD5");
    form.finish()
}

fn read(endpoint: Endpoint, method: &Method, query: Option<&str>, body: &str) -> EpayRequest {
    Epay::read_params(
        &inbound(method, query, body.as_bytes()),
        Some(AnyEndpoint::Epay(endpoint)),
        &[],
    )
    .unwrap()
}

#[test]
fn parameters_come_from_the_map_the_gateway_reads() {
    let post = Method::POST;
    let get = Method::GET;
    // submit.php: the query string when it has `pid`, else the body.
    let r = read(Endpoint::Submit, &post, Some("pid=1&a=1"), "pid=2&b=2");
    assert_eq!(r.get("pid"), Some("1"));
    assert_eq!(r.get("b"), None);
    let r = read(Endpoint::Submit, &post, Some("a=1"), "pid=2&b=2");
    assert_eq!(r.get("pid"), Some("2"));
    assert_eq!(r.get("a"), None);
    // api.php?act=order: the query string; act=refund: the body.
    let r = read(Endpoint::ApiOrder, &get, Some("act=order&pid=1&key=k"), "");
    assert_eq!(r.get("key"), Some("k"));
    let r = read(
        Endpoint::ApiRefund,
        &post,
        Some("act=refund"),
        "pid=1&money=1",
    );
    assert_eq!((r.get("act"), r.get("money")), (None, Some("1")));
    // mapi.php (build 3094) reads the body only: a GET has no parameters.
    let r = read(Endpoint::Mapi, &get, Some("pid=1"), "");
    assert!(r.params.is_empty());
    // Routing goes by the pid verification looks up (`intval`).
    let loose = read(Endpoint::V2Create, &post, None, "pid=1001abc");
    assert_eq!(Epay::identity(&loose).pid, Some("1001"));
    assert_eq!(
        Epay::identity(&read(Endpoint::V2Create, &post, None, "pid=x")).pid,
        None
    );
    // The browser and the payer's address, for submit.php.
    let page = read(Endpoint::Submit, &get, Some("pid=1001"), "");
    assert_eq!(page.peer, Some("203.0.113.9".parse().unwrap()));
    assert!(page
        .user_agent
        .as_deref()
        .unwrap()
        .contains("MicroMessenger"));
}

#[test]
fn the_legacy_gateways_no_such_order_in_either_spelling() {
    let ok = http::StatusCode::OK;
    for body in [
        r#"{"code":-1,"msg":"\u8ba2\u5355\u53f7\u4e0d\u5b58\u5728"}"#,
        r#"{"code":-1,"msg":"订单号不存在"}"#,
        r#"{"code":-1,"msg":"当前订单不存在！"}"#,
        r#"{"code":"-1","msg":"订单号不存在"}"#,
    ] {
        assert!(Epay::says_no_such_order(ok, body.as_bytes()), "{body}");
    }
    for body in [
        r#"{"code":-3,"msg":"订单号不存在"}"#,
        r#"{"code":-1,"msg":"订单号不能为空"}"#,
        r#"{"code":1,"msg":"succ"}"#,
        "",
        "<html>",
    ] {
        assert!(!Epay::says_no_such_order(ok, body.as_bytes()), "{body}");
    }
    assert!(!Epay::says_no_such_order(
        http::StatusCode::BAD_GATEWAY,
        r#"{"code":-1,"msg":"订单号不存在"}"#.as_bytes()
    ));
}

fn verify_words(config: &Config, request: &EpayRequest) -> String {
    match Epay::verify(request, AnyEndpoint::Epay(request.endpoint), config) {
        Ok(_) => "verified".to_owned(),
        Err(f) => crate::dialect::epay::failure::words(&f, request.endpoint),
    }
}

#[test]
fn verification_in_the_gateways_order() {
    let config = config(true);
    let post = Method::POST;
    let body = md5_form(&[("pid", "1001"), ("money", "1.00")]);
    let good = read(Endpoint::Mapi, &post, None, &body);
    let checked = Epay::verify(&good, AnyEndpoint::Epay(Endpoint::Mapi), &config).unwrap();
    assert_eq!(checked.merchant.mch_no, "epay:1001");
    assert_eq!(checked.request.pid, 1001);
    // V1 has no timestamp: identical re-submits are the gateway's to answer, not the cache's.
    assert!(checked.replay_id.is_none());
    assert!(checked.fresh_until.is_none());
    assert_eq!(
        verify_words(&config, &read(Endpoint::Mapi, &post, None, "")),
        "未传入任何参数"
    );
    assert_eq!(
        verify_words(&config, &read(Endpoint::Mapi, &post, None, "pid=x")),
        "商户ID不能为空"
    );
    assert_eq!(
        verify_words(&config, &read(Endpoint::Mapi, &post, None, "pid=1002")),
        "商户不存在！"
    );
    let tampered = body.replace("money=1.00", "money=2.00");
    assert_eq!(
        verify_words(&config, &read(Endpoint::Mapi, &post, None, &tampered)),
        "MD5签名校验失败"
    );
    // api.php: the key in clear; never claimed for replay.
    let query = format!("act=order&pid=1001&key={KEY}&out_trade_no=O1");
    let order = read(Endpoint::ApiOrder, &Method::GET, Some(&query), "");
    let checked = Epay::verify(&order, AnyEndpoint::Epay(Endpoint::ApiOrder), &config).unwrap();
    assert!(checked.replay_id.is_none());
    let wrong = read(
        Endpoint::ApiOrder,
        &Method::GET,
        Some("act=order&pid=1001&key=x"),
        "",
    );
    assert_eq!(verify_words(&config, &wrong), "商户密钥错误");
    let nobody = read(
        Endpoint::ApiOrder,
        &Method::GET,
        Some("act=order&pid=1002&key=x"),
        "",
    );
    assert_eq!(verify_words(&config, &nobody), "商户ID不存在");
}

#[test]
fn v2_needs_a_fresh_timestamp_and_the_platform_key() {
    let post = Method::POST;
    let now = now_secs().to_string();
    let body = md5_form(&[("pid", "1001"), ("out_trade_no", "O1"), ("timestamp", &now)]);
    let request = read(Endpoint::V2Query, &post, None, &body);
    let checked = Epay::verify(
        &request,
        AnyEndpoint::Epay(Endpoint::V2Query),
        &config(true),
    )
    .unwrap();
    assert!(checked.fresh_until.is_some());
    assert_eq!(checked.replay_id.as_deref().map(str::len), Some(32));
    assert!(checked.answering.platform_key.is_some());
    assert_eq!(
        verify_words(&config(false), &request),
        "系统异常[平台RSA密钥未配置，V2接口不可用]"
    );
    let stale = md5_form(&[("pid", "1001"), ("timestamp", "1000000000")]);
    assert_eq!(
        verify_words(&config(true), &read(Endpoint::V2Query, &post, None, &stale)),
        "时间戳字段不正确，请检查服务器时间"
    );
}

#[test]
fn a_jeepay_merchant_is_no_epay_merchant() {
    // The Jeepay merchant has no pid: 1001 is the epay one; an unknown pid is unknown.
    let config = config(true);
    assert!(config.merchants.by_pid("1001").is_some());
    assert!(config.merchants.by_pid("M1").is_none());
}

#[test]
fn answers_go_out_with_their_code() {
    let config = config(true);
    let merchant = config.merchants.by_pid("1001").unwrap().clone();
    let answering = Answering {
        endpoint: Endpoint::V2Close,
        platform_key: config.epay.platform_key.clone(),
        pid: 1001,
        trade_no: None,
        money_text: String::new(),
        facts: None,
        jump: false,
        refund_number_generated: false,
    };
    let close = Close {
        order: OrderRef::new(None, Some("O1")),
        cancel: false,
    };
    let answer = <Close as MerchantOp<Epay>>::answer(&close, &Closed, &answering, &merchant);
    assert_eq!(answer.code, Some(0));
    assert_eq!(answer.content_type, "application/json; charset=UTF-8");
    let failure =
        crate::dialect::epay::failure::answer(&Failure::UnknownMerchant, Endpoint::ApiOrder, None);
    assert_eq!(failure.code, Some(-3));
}

fn paid_order() -> PayOrder {
    PayOrder {
        order_no: "P2026".into(),
        biz_order_no: "Q1".into(),
        channel: Some("wechat_pay".into()),
        method: Some("qrcode".into()),
        amount: crate::domain::order::Fen(100),
        status: crate::domain::order::PayStatus::Success,
        refund_status: Some(crate::domain::order::RefundStatus::PartialRefund),
        title: Some("查询".into()),
        description: None,
        out_order_no: None,
        attach: None,
        error_code: None,
        error_msg: None,
        paid_at_ms: Some(1_719_806_460_000),
        expires_at_ms: None,
        kept: None,
    }
}

#[test]
fn what_the_store_keeps_reaches_the_answers() {
    let config = config(true);
    let merchant = config.merchants.by_pid("1001").unwrap().clone();
    let mut answering = Answering {
        endpoint: Endpoint::V2Query,
        platform_key: config.epay.platform_key.clone(),
        pid: 1001,
        trade_no: None,
        money_text: String::new(),
        facts: None,
        jump: false,
        refund_number_generated: false,
    };
    let query = PayQuery {
        order: OrderRef::new(None, Some("Q1")),
    };
    // Without the store's row: DaxPay's number, the type from the channel, no refundmoney.
    let before =
        <PayQuery as MerchantOp<Epay>>::answer(&query, &paid_order(), &answering, &merchant);
    let before: serde_json::Value = serde_json::from_slice(&before.body).unwrap();
    assert_eq!(
        (before["trade_no"].as_str(), before["type"].as_str()),
        (Some("P2026"), Some("wxpay"))
    );
    assert!(before.get("refundmoney").is_none());
    Epay::learnt(
        &mut answering,
        OrderFacts {
            trade_no: "2024070112000012345".into(),
            out_trade_no: "Q1".into(),
            origin: "v2".into(),
            pay_type: "wxpay".into(),
            refunded: Some(crate::domain::order::Fen(40)),
        },
    );
    let after =
        <PayQuery as MerchantOp<Epay>>::answer(&query, &paid_order(), &answering, &merchant);
    let after: serde_json::Value = serde_json::from_slice(&after.body).unwrap();
    assert_eq!(after["trade_no"], "2024070112000012345");
    assert_eq!(after["status"], 2);
    assert_eq!(after["refundmoney"], "0.40");
    let record = RefundRecord {
        refund_no: "R1".into(),
        biz_refund_no: "RF-000001".into(),
        order_no: Some("P2026".into()),
        amount: crate::domain::order::Fen(40),
        status: crate::domain::order::RefundOrderStatus::Success,
        out_refund_no: None,
        attach: None,
        error_code: None,
        error_msg: None,
        finished_at_ms: None,
        pay_amount: None,
        currency: None,
        created_at_ms: None,
    };
    answering.endpoint = Endpoint::V2RefundQuery;
    let rq = RefundQuery {
        refund_no: None,
        mch_refund_no: Some("RF-000001".into()),
        biz_refund_no: Some("RF-000001".into()),
        order: OrderRef::default(),
        kept: None,
    };
    let answer = <RefundQuery as MerchantOp<Epay>>::answer(&rq, &record, &answering, &merchant);
    let answer: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(
        (
            answer["trade_no"].as_str(),
            answer["out_trade_no"].as_str(),
            answer["status"].as_i64()
        ),
        (Some("2024070112000012345"), Some("Q1"), Some(1))
    );
}
