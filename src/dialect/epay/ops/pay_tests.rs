use super::*;
use crate::dialect::epay::sign::{RsaSigner, RsaVerifier};
use crate::dialect::epay::test_keys::{SAMPLE_PRIVATE, SAMPLE_PUBLIC};
use crate::domain::order::Fen;

const NOW: i64 = 1_721_206_072;

fn request(endpoint: Endpoint, params: &[(&str, &str)]) -> EpayRequest {
    EpayRequest::new(
        endpoint,
        params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

const MAPI: [(&str, &str); 8] = [
    ("pid", "1001"),
    ("type", "wxpay"),
    ("out_trade_no", "ORDER-2024_0001"),
    ("notify_url", "https://shop.example.com/notify"),
    ("name", "VIP会员"),
    ("money", "0.01"),
    ("clientip", "192.168.1.100"),
    ("device", "pc"),
];

fn without(name: &str) -> Vec<(&'static str, &'static str)> {
    MAPI.iter().copied().filter(|(k, _)| *k != name).collect()
}

fn with(name: &'static str, value: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut params = without(name);
    params.push((name, value));
    params
}

fn read_mapi(params: &[(&str, &str)]) -> Result<Pay, Failure> {
    read(
        &request(Endpoint::Mapi, params),
        &crate::config::test_merchant(),
        &EpayWays::default(),
        NOW,
    )
}

fn dialect(pay: &Pay) -> &InDialect {
    pay.in_dialect.as_ref().unwrap()
}

fn refusal(result: Result<Pay, Failure>) -> String {
    match result {
        Err(failure) => crate::dialect::epay::failure::words(&failure, Endpoint::Mapi),
        Ok(pay) => panic!("accepted: {pay:?}"),
    }
}

#[test]
fn a_mapi_request_becomes_the_canonical_pay() {
    let pay = read_mapi(&MAPI).unwrap();
    assert_eq!(pay.mch_order_no, "ORDER-2024_0001");
    assert_eq!(pay.way_code, "WX_NATIVE");
    assert_eq!(pay.amount, Fen(1));
    assert_eq!(pay.subject, "VIP会员");
    assert_eq!(pay.body, "VIP会员");
    assert_eq!(pay.client_ip.as_deref(), Some("192.168.1.100"));
    assert_eq!(dialect(&pay).pay_type, "wxpay");
    assert!(trade_no::looks_like(&dialect(&pay).trade_no));
    assert_eq!(dialect(&pay).origin, "v1");
    assert_eq!(dialect(&pay).dialect, "epay");
    let mobile = read_mapi(&with("device", "mobile")).unwrap();
    assert_eq!(mobile.way_code, "WX_H5");
    let param = read_mapi(&with("param", "uid=7&from=app")).unwrap();
    assert_eq!(param.ext_param.as_deref(), Some("uid=7&from=app"));
}

#[test]
fn mapi_refusals_in_the_gateways_order_and_words() {
    for (params, words) in [
        (without("out_trade_no"), "订单号(out_trade_no)不能为空"),
        (with("out_trade_no", "0"), "订单号(out_trade_no)不能为空"),
        (without("notify_url"), "通知地址(notify_url)不能为空"),
        (without("name"), "商品名称(name)不能为空"),
        (without("money"), "金额(money)不能为空"),
        (with("money", "0"), "金额(money)不能为空"),
        (without("type"), "支付方式(type)不能为空"),
        (without("clientip"), "用户IP地址(clientip)不能为空"),
        (with("money", "1e2"), "金额不合法"),
        (with("money", "-1"), "金额不合法"),
        (with("money", "0.00"), "金额不合法"),
        (with("money", "100000000"), "最大支付金额是99999999.99元"),
        (
            with("out_trade_no", "A B"),
            "订单号(out_trade_no)格式不正确",
        ),
        (
            with("out_trade_no", "订单1"),
            "订单号(out_trade_no)格式不正确",
        ),
        (with("type", "qqpay"), "支付方式(type)不存在"),
        (with("type", "jdpay"), "支付方式(type)不存在"),
        (with("type", "paypal"), "支付方式(type)不存在"),
        (with("type", "bank"), "支付方式(type)不存在"),
        (with("type", "nosuch"), "支付方式(type)不存在"),
        (
            with("notify_url", "ftp://shop.example.com/n"),
            "通知地址(notify_url)仅支持http://或https://",
        ),
        (
            with("notify_url", "http://127.0.0.1/n"),
            "通知地址(notify_url)不能是内部网络地址",
        ),
    ] {
        assert_eq!(refusal(read_mapi(&params)), words, "{params:?}");
    }
    // Two faults: the first in the gateway's order is the one answered.
    let mut both = without("name");
    both.retain(|(k, _)| *k != "money");
    assert_eq!(refusal(read_mapi(&both)), "商品名称(name)不能为空");
}

#[test]
fn names_and_params_are_cut_as_the_gateway_stores_them() {
    let long: &'static str = Box::leak("会".repeat(80).into_boxed_str());
    let pay = read_mapi(&with("name", long)).unwrap();
    // 127 bytes hold 42 three-byte characters.
    assert_eq!(pay.subject.chars().count(), 42);
    let ascii: &'static str = Box::leak("n".repeat(100).into_boxed_str());
    assert_eq!(read_mapi(&with("name", ascii)).unwrap().subject.len(), 64);
}

#[test]
fn submit_needs_return_url_and_takes_the_browser() {
    let mut params = without("clientip");
    params.retain(|(k, _)| *k != "device");
    let mut r = request(Endpoint::Submit, &params);
    r.user_agent = Some("Mozilla/5.0 (Linux; Android 14) Mobile".into());
    r.peer = Some("203.0.113.9".parse().unwrap());
    let merchant = crate::config::test_merchant();
    let ways = EpayWays::default();
    let refused = read(&r, &merchant, &ways, NOW).unwrap_err();
    assert_eq!(
        crate::dialect::epay::failure::words(&refused, Endpoint::Submit),
        "回调地址(return_url)不能为空"
    );
    r.params
        .push(("return_url".into(), "https://shop.example.com/r".into()));
    let pay = read(&r, &merchant, &ways, NOW).unwrap();
    assert_eq!(pay.way_code, "WX_H5");
    assert_eq!(pay.client_ip.as_deref(), Some("203.0.113.9"));
    // No type: the cashier, offering what this merchant can take in this browser.
    r.params.retain(|(k, _)| k != "type");
    let cashier = read(&r, &merchant, &ways, NOW).unwrap_err();
    let page = crate::dialect::epay::cashier::is_page(&cashier).expect("the cashier");
    assert!(
        page.contains(r#"value="alipay">支付宝"#) && page.contains(r#"value="wxpay">微信支付"#)
    );
    assert!(!page.contains(r#"value="qqpay""#));
    // The payer's pick, where the merchant signed none...
    r.payer_type = Some("alipay".into());
    assert_eq!(read(&r, &merchant, &ways, NOW).unwrap().way_code, "ALI_WAP");
    // ...never over a type the merchant signed.
    r.params.push(("type".into(), "wxpay".into()));
    assert_eq!(read(&r, &merchant, &ways, NOW).unwrap().way_code, "WX_H5");
}

#[test]
fn v2_methods_and_their_checks() {
    let merchant = crate::config::test_merchant();
    let ways = EpayWays::default();
    let v2 = |extra: &[(&'static str, &'static str)]| {
        let mut params = MAPI.to_vec();
        params.extend_from_slice(extra);
        read(&request(Endpoint::V2Create, &params), &merchant, &ways, NOW)
    };
    let words = |r: Result<Pay, Failure>| {
        crate::dialect::epay::failure::words(&r.unwrap_err(), Endpoint::V2Create)
    };
    assert_eq!(
        words(v2(&[("method", "jsapi")])),
        "jsapi支付时参数(sub_openid)不能为空"
    );
    assert_eq!(
        words(v2(&[("method", "jsapi"), ("sub_openid", "o1")])),
        "jsapi支付时参数(sub_appid)不能为空"
    );
    let jsapi = v2(&[
        ("method", "jsapi"),
        ("sub_openid", "o1"),
        ("sub_appid", "wx1"),
    ])
    .unwrap();
    assert_eq!(
        (jsapi.way_code.as_str(), jsapi.open_id.as_deref()),
        ("WX_JSAPI", Some("o1"))
    );
    assert_eq!(
        words(v2(&[("method", "scan")])),
        "付款码支付时授权码(auth_code)不能为空"
    );
    let mut untyped: Vec<_> = without("type");
    untyped.extend([("method", "scan"), ("auth_code", "99456789012345678")]);
    let unknown = read(
        &request(Endpoint::V2Create, &untyped),
        &merchant,
        &ways,
        NOW,
    );
    assert_eq!(words(unknown), "未知的付款码类型");
    untyped.retain(|(k, _)| *k != "auth_code");
    untyped.push(("auth_code", "284567890123456789"));
    let scan = read(
        &request(Endpoint::V2Create, &untyped),
        &merchant,
        &ways,
        NOW,
    )
    .unwrap();
    assert_eq!(
        (
            scan.in_dialect.as_ref().unwrap().pay_type.as_str(),
            scan.way_code.as_str()
        ),
        ("alipay", "ALI_BAR")
    );
    assert_eq!(scan.auth_code.as_deref(), Some("284567890123456789"));
    // SDK parameters have no V1 field: refused there, answered on V2.
    let own = [("wxpay/pc".to_owned(), "WX_APP".to_owned())]
        .into_iter()
        .collect();
    let app_ways = EpayWays::new(&own);
    let v1 = read(&request(Endpoint::Mapi, &MAPI), &merchant, &app_ways, NOW);
    assert!(matches!(v1, Err(Failure::WayCodeUnsupported)));
}

fn paid(status: PayStatus, body: Option<&str>) -> Paid {
    Paid {
        order_no: "DAX1".into(),
        biz_order_no: "ORDER-2024_0001".into(),
        status,
        pay_body: body.map(str::to_owned),
        error_msg: None,
    }
}

fn fixed(mut pay: Pay) -> Pay {
    pay.in_dialect.as_mut().unwrap().trade_no = "2024070112000012345".into();
    pay
}

#[test]
fn v1_answers_byte_for_byte() {
    let pay = fixed(read_mapi(&MAPI).unwrap());
    let reply = answer(
        &pay,
        &paid(PayStatus::Wait, Some("weixin://wxpay/bizpayurl?pr=04IPMKM")),
        Endpoint::Mapi,
        false,
        None,
    );
    assert_eq!(
        reply.text(),
        r#"{"code":1,"trade_no":"2024070112000012345","qrcode":"weixin:\/\/wxpay\/bizpayurl?pr=04IPMKM"}"#
    );
    let ali = fixed(read_mapi(&with("type", "alipay")).unwrap());
    assert_eq!(
        answer(
            &ali,
            &paid(PayStatus::Wait, Some("https://openapi.alipay.com/x?a=1")),
            Endpoint::Mapi,
            false,
            None
        )
        .text(),
        r#"{"code":1,"trade_no":"2024070112000012345","payurl":"https:\/\/openapi.alipay.com\/x?a=1"}"#
    );
    let mut failed = paid(PayStatus::Fail, None);
    failed.error_msg = Some("余额不足".into());
    assert_eq!(
        answer(&pay, &failed, Endpoint::Mapi, false, None).text(),
        r#"{"code":-2,"trade_no":"2024070112000012345","msg":"\u4f59\u989d\u4e0d\u8db3"}"#
    );
    // Settled by query: no pay data, never a success.
    assert!(answer(
        &pay,
        &paid(PayStatus::Wait, None),
        Endpoint::Mapi,
        false,
        None
    )
    .text()
    .starts_with(r#"{"code":-2"#));
}

#[test]
fn v2_create_answers_verify_with_the_platform_key() {
    let key = RsaSigner::from_text(SAMPLE_PRIVATE).unwrap();
    let public = RsaVerifier::from_text(SAMPLE_PUBLIC).unwrap();
    let mut params = MAPI.to_vec();
    params.push(("method", "web"));
    let merchant = crate::config::test_merchant();
    let pay = read(
        &request(Endpoint::V2Create, &params),
        &merchant,
        &EpayWays::default(),
        NOW,
    )
    .unwrap();
    let pay = fixed(pay);
    let reply = answer(
        &pay,
        &paid(PayStatus::Wait, Some("weixin://x")),
        Endpoint::V2Create,
        false,
        Some(Signing {
            platform_key: &key,
            now: NOW,
        }),
    );
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(object["code"], 0);
    assert_eq!(object["pay_type"], "qrcode");
    assert_eq!(object["pay_info"], "weixin://x");
    assert_eq!(object["timestamp"], NOW.to_string());
    let fields = crate::dialect::epay::params::from_json(&object).unwrap();
    assert!(crate::dialect::epay::sign::rsa_verify(
        &crate::dialect::epay::params::borrowed(&fields),
        &public
    ));
}

#[test]
fn pages_jump_show_or_explain() {
    let mut params = MAPI.to_vec();
    params.push(("return_url", "https://shop.example.com/r"));
    let merchant = crate::config::test_merchant();
    let read_page = |t: &'static str| {
        let mut p = params.clone();
        p.retain(|(k, _)| *k != "type");
        p.push(("type", t));
        fixed(
            read(
                &request(Endpoint::Submit, &p),
                &merchant,
                &EpayWays::default(),
                NOW,
            )
            .unwrap(),
        )
    };
    let ali = read_page("alipay");
    let jump = answer(
        &ali,
        &paid(PayStatus::Wait, Some("https://openapi.alipay.com/p")),
        Endpoint::Submit,
        false,
        None,
    );
    assert!(jump
        .text()
        .starts_with("<script>window.location.replace('https://openapi.alipay.com/p');"));
    let wx = read_page("wxpay");
    let qr = answer(
        &wx,
        &paid(PayStatus::Wait, Some("weixin://x")),
        Endpoint::Submit,
        false,
        None,
    );
    assert!(qr.text().contains("weixin://x") && qr.text().contains("微信"));
    let failed = answer(
        &wx,
        &paid(PayStatus::Fail, None),
        Endpoint::Submit,
        false,
        None,
    );
    assert!(failed.text().contains("<h3>站点提示信息</h3>"));
}

#[test]
fn jump_asks_for_a_url_whatever_the_way_gives() {
    // `device=jump` on mapi.php: wxpay takes the PC way (WX_NATIVE), whose QR content is shown
    // on paybridge's page for the order (its return URL)...
    let jump_params = with("device", "jump");
    let request_jump = request(Endpoint::Mapi, &jump_params);
    assert!(asks_for_jump(&request_jump));
    let mut wx = fixed(read_mapi(&jump_params).unwrap());
    assert_eq!(wx.way_code, "WX_NATIVE");
    assert!(
        wx.relay.pay_page,
        "the page is made even without return_url"
    );
    wx.relay.return_url = Some("https://pb.example/jeepay/return/T1".into());
    let reply = answer(
        &wx,
        &paid(PayStatus::Wait, Some("weixin://wxpay/bizpayurl?pr=1")),
        Endpoint::Mapi,
        true,
        None,
    );
    assert_eq!(
        reply.text(),
        r#"{"code":1,"trade_no":"2024070112000012345","payurl":"https:\/\/pb.example\/jeepay\/return\/T1"}"#
    );
    // ...and without that page (no relay), QR content is still a payurl, the content itself.
    let pay = fixed(read_mapi(&MAPI).unwrap());
    assert!(!pay.relay.pay_page);
    let reply = answer(
        &pay,
        &paid(PayStatus::Wait, Some("https://qr.alipay.com/bax1")),
        Endpoint::Mapi,
        true,
        None,
    );
    assert_eq!(
        reply.text(),
        r#"{"code":1,"trade_no":"2024070112000012345","payurl":"https:\/\/qr.alipay.com\/bax1"}"#
    );
    // A page's device=jump is no jump: the browser decides.
    let mut page = jump_params.clone();
    page.push(("return_url", "https://shop.example.com/r"));
    assert!(!asks_for_jump(&request(Endpoint::Submit, &page)));
}
