//! Pay, refund and refund query translated to DaxPay 3.0, end to end through real sockets: each
//! way code's row, exact amounts, every refusal with its exact words, the order store's
//! uniqueness (nothing reaches DaxPay for a repeated number), and every answer checked the way
//! the Jeepay Java SDK checks it.

mod common;

use common::*;
use serde_json::Value;

async fn world() -> (Running, paybridge_sandbox::Sandbox, Running) {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    // A public URL: merchants' return and notify URLs are relayed (the notification tests).
    let toml = proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "").replace(
        "[server]\n",
        "[server]\npublic_url = \"http://127.0.0.1:9\"\n",
    );
    let proxy = start_proxy(&toml).await;
    (sb, sandbox, proxy)
}

fn pay_fields<'a>(
    mch_order_no: &'a str,
    way_code: &'a str,
    amount: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("mchOrderNo", mch_order_no),
        ("wayCode", way_code),
        ("amount", amount),
        ("currency", "cny"),
        ("subject", "商品"),
        ("body", "描述"),
    ]
}

async fn pay(addr: std::net::SocketAddr, fields: &[(&str, &str)]) -> Value {
    post_json(addr, "/api/pay/unifiedOrder", &jeepay_body(fields))
        .await
        .json()
}

/// A success the SDK accepts, its `data`.
fn accepted(answer: &Value) -> &Value {
    assert_eq!(answer["code"], 0, "{answer}");
    assert!(sdk_accepts(answer, JEEPAY_SECRET), "signature: {answer}");
    &answer["data"]
}

/// (wayCode, channelExtra, channel, method, payDataType, payData check)
type WayCodeRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    fn(&str) -> bool,
);

/// A request's fields, and the code and words of its refusal.
type RefusalCase = (Vec<(&'static str, &'static str)>, i64, &'static str);

#[tokio::test]
async fn every_way_code_row_is_paid_on_its_channel_and_answered_in_jeepay_shape() {
    let (_sb, sandbox, proxy) = world().await;
    // (wayCode, channelExtra, channel, method, payDataType, payData check)
    let rows: &[WayCodeRow] = &[
        (
            "ALI_BAR",
            r#"{"authCode":"284567890123456789"}"#,
            "ali_pay",
            "barcode",
            "none",
            |d| d.is_empty(),
        ),
        (
            "ALI_JSAPI",
            r#"{"buyerUserId":"2088102"}"#,
            "ali_pay",
            "jsapi",
            "aliapp",
            |d| d.starts_with(r#"{"alipayTradeNo":""#),
        ),
        (
            "ALI_LITE",
            r#"{"buyerUserId":"2088102"}"#,
            "ali_pay",
            "jsapi",
            "aliapp",
            |d| d.starts_with(r#"{"alipayTradeNo":""#),
        ),
        ("ALI_APP", "", "ali_pay", "app", "aliapp", |d| !d.is_empty()),
        ("ALI_WAP", "", "ali_pay", "wap", "payurl", |d| {
            d.starts_with("https://")
        }),
        ("ALI_PC", "", "ali_pay", "web", "payurl", |d| {
            d.starts_with("https://")
        }),
        ("ALI_QR", "", "ali_pay", "qrcode", "codeUrl", |d| {
            !d.is_empty()
        }),
        ("ALI_OC", "", "ali_pay", "qrcode", "codeUrl", |d| {
            !d.is_empty()
        }),
        (
            "WX_BAR",
            r#"{"authCode":"134567890123456789"}"#,
            "wechat_pay",
            "barcode",
            "none",
            |d| d.is_empty(),
        ),
        (
            "WX_JSAPI",
            r#"{"openid":"o-1"}"#,
            "wechat_pay",
            "jsapi",
            "wxapp",
            |d| d.contains("paySign"),
        ),
        (
            "WX_LITE",
            r#"{"openid":"o-1"}"#,
            "wechat_pay",
            "jsapi",
            "wxapp",
            |d| d.contains("paySign"),
        ),
        ("WX_APP", "", "wechat_pay", "app", "wxapp", |d| {
            d.contains("\"partnerId\"") && d.contains("\"packageValue\"")
        }),
        ("WX_NATIVE", "", "wechat_pay", "qrcode", "codeUrl", |d| {
            d.starts_with("weixin://")
        }),
        ("WX_H5", "", "wechat_pay", "wap", "payurl", |d| {
            d.contains("redirect_url=http%3A%2F%2F127.0.0.1%3A9%2Fjeepay%2Freturn%2F")
        }),
        (
            "AUTO_BAR",
            r#"{"authCode":"134567890123456789"}"#,
            "wechat_pay",
            "barcode",
            "none",
            |d| d.is_empty(),
        ),
    ];
    for (i, (way, extra, channel, method, data_type, check)) in rows.iter().enumerate() {
        let no = format!("W{i}");
        let mut fields = pay_fields(&no, way, "1230");
        fields.push(("returnUrl", "https://shop.example/back"));
        if !extra.is_empty() {
            fields.push(("channelExtra", extra));
        }
        let answer = pay(proxy.addr, &fields).await;
        let data = accepted(&answer);
        assert_eq!(data["mchOrderNo"], no.as_str(), "{way}");
        assert_eq!(data["payDataType"], *data_type, "{way}: {answer}");
        let pay_data = data["payData"]
            .as_str()
            .unwrap_or_else(|| panic!("{way}: {answer}"));
        assert!(check(pay_data), "{way}: {pay_data}");
        let bar = method == &"barcode";
        assert_eq!(data["orderState"], if bar { 2 } else { 1 }, "{way}");
        let order_no = data["payOrderId"].as_str().unwrap();
        let order = sandbox
            .order(order_no)
            .unwrap_or_else(|| panic!("{way}: not on DaxPay"));
        assert_eq!(
            (order.channel.as_str(), order.method.as_str()),
            (*channel, *method),
            "{way}"
        );
        // The query answers what DaxPay does not keep, from the store.
        let query = post_json(
            proxy.addr,
            "/api/pay/query",
            &jeepay_body(&[("mchOrderNo", &no)]),
        )
        .await
        .json();
        let q = accepted(&query);
        let stored_way = if *way == "AUTO_BAR" { "WX_BAR" } else { way };
        assert_eq!(q["wayCode"], stored_way, "{query}");
        assert_eq!(q["currency"], "cny");
        assert_eq!(q["clientIp"], "127.0.0.1");
        assert!(q["createdAt"].as_i64().unwrap() > 1_700_000_000_000);
        assert_eq!(q["amount"], 1230);
    }
}

#[tokio::test]
async fn amounts_are_exact_from_one_fen_to_the_maximum() {
    let (_sb, sandbox, proxy) = world().await;
    for (fen, yuan) in [
        ("1", "0.01"),
        ("10", "0.1"),
        ("100", "1"),
        ("1230", "12.3"),
        ("9999999999", "99999999.99"),
    ] {
        let no = format!("A{fen}");
        let answer = pay(proxy.addr, &pay_fields(&no, "WX_NATIVE", fen)).await;
        let data = accepted(&answer);
        let order = sandbox.order(data["payOrderId"].as_str().unwrap()).unwrap();
        assert_eq!(
            order
                .amount
                .to_string()
                .trim_end_matches('0')
                .trim_end_matches('.'),
            yuan.trim_end_matches('0').trim_end_matches('.')
        );
        let query = post_json(
            proxy.addr,
            "/api/pay/query",
            &jeepay_body(&[("mchOrderNo", &no)]),
        )
        .await
        .json();
        assert_eq!(accepted(&query)["amount"].to_string(), fen);
    }
    let seen = sandbox.requests_seen();
    let over = pay(
        proxy.addr,
        &pay_fields("A-over", "WX_NATIVE", "10000000000"),
    )
    .await;
    assert_eq!(
        over.to_string(),
        error(9999, "支付金额超出上限[最多9999999999分]")
    );
    assert_eq!(sandbox.requests_seen(), seen, "refused before DaxPay");
}

#[tokio::test]
async fn pay_refusals_carry_jeepays_words_and_reach_nothing() {
    let (_sb, sandbox, proxy) = world().await;
    let cases: Vec<RefusalCase> = vec![
        (
            vec![
                ("wayCode", "WX_NATIVE"),
                ("amount", "1"),
                ("currency", "cny"),
                ("subject", "s"),
                ("body", "b"),
            ],
            9999,
            "商户订单号不能为空",
        ),
        (
            vec![
                ("mchOrderNo", "R1"),
                ("amount", "1"),
                ("currency", "cny"),
                ("subject", "s"),
                ("body", "b"),
            ],
            9999,
            "支付方式不能为空",
        ),
        (
            vec![
                ("mchOrderNo", "R1"),
                ("wayCode", "WX_NATIVE"),
                ("currency", "cny"),
                ("subject", "s"),
                ("body", "b"),
            ],
            9999,
            "支付金额不能为空",
        ),
        (
            vec![
                ("mchOrderNo", "R1"),
                ("wayCode", "WX_NATIVE"),
                ("amount", "0"),
                ("currency", "cny"),
                ("subject", "s"),
                ("body", "b"),
            ],
            9999,
            "支付金额不能为空",
        ),
        (
            vec![
                ("mchOrderNo", "R1"),
                ("wayCode", "WX_NATIVE"),
                ("amount", "1"),
                ("subject", "s"),
                ("body", "b"),
            ],
            9999,
            "货币代码不能为空",
        ),
        (
            vec![
                ("mchOrderNo", "R1"),
                ("wayCode", "WX_NATIVE"),
                ("amount", "1"),
                ("currency", "cny"),
                ("body", "b"),
            ],
            9999,
            "商品标题不能为空",
        ),
        (
            vec![
                ("mchOrderNo", "R1"),
                ("wayCode", "WX_NATIVE"),
                ("amount", "1"),
                ("currency", "cny"),
                ("subject", "s"),
            ],
            9999,
            "商品描述信息不能为空",
        ),
    ];
    for (fields, code, words) in &cases {
        assert_eq!(
            pay(proxy.addr, fields).await.to_string(),
            error(*code, words),
            "{fields:?}"
        );
    }
    let with = |extra: Vec<(&'static str, &'static str)>| {
        let mut f = pay_fields("R2", "WX_NATIVE", "1");
        for (k, v) in extra {
            match f.iter_mut().find(|(key, _)| *key == k) {
                Some(slot) => slot.1 = v,
                None => f.push((k, v)),
            }
        }
        f
    };
    for (extra, code, words) in [
        (vec![("divisionMode", "3")], 9999, "分账模式设置值有误"),
        (vec![("wayCode", "NO_SUCH")], 9999, "不支持的支付方式"),
        (
            vec![("wayCode", "YSF_BAR")],
            9999,
            "商户应用不支持该支付方式",
        ),
        (
            vec![("wayCode", "QR_CASHIER")],
            9999,
            "商户应用不支持该支付方式",
        ),
        (vec![("wayCode", "AUTO_BAR")], 9999, "条码为空"),
        (
            vec![
                ("wayCode", "AUTO_BAR"),
                ("channelExtra", r#"{"authCode":"99"}"#),
            ],
            9999,
            "不支持的条码",
        ),
        (
            vec![("notifyUrl", "ftp://x")],
            9999,
            "异步通知地址协议仅支持http:// 或 https:// !",
        ),
        (
            vec![("returnUrl", "javascript:alert(1)")],
            9999,
            "同步通知地址协议仅支持http:// 或 https:// !",
        ),
        (
            vec![("currency", "usd")],
            9999,
            "不支持的货币代码，仅支持cny",
        ),
        (vec![("amount", "1.5")], 11, "参数有误[转换异常]"),
        (vec![("channelExtra", "not json")], 11, "参数有误[转换异常]"),
        (
            vec![("expiredTime", "99999999999")],
            11,
            "参数有误[转换异常]",
        ),
    ] {
        assert_eq!(
            pay(proxy.addr, &with(extra.clone())).await.to_string(),
            error(code, words),
            "{extra:?}"
        );
    }
    assert_eq!(sandbox.requests_seen(), 0, "no refusal reached DaxPay");
}

#[tokio::test]
async fn a_repeated_order_number_is_refused_without_reaching_daxpay() {
    let (_sb, sandbox, proxy) = world().await;
    accepted(&pay(proxy.addr, &pay_fields("D1", "WX_NATIVE", "100")).await);
    let seen = sandbox.requests_seen();
    let again = pay(proxy.addr, &pay_fields("D1", "ALI_QR", "200")).await;
    assert_eq!(again.to_string(), error(9999, "商户订单[D1]已存在"));
    assert_eq!(sandbox.requests_seen(), seen);
    // A refusal that created nothing frees the number, as after Jeepay's own refusals.
    let refused = pay(proxy.addr, &{
        let mut f = pay_fields("D2", "WX_JSAPI", "100");
        f.push(("channelExtra", "{}"));
        f
    })
    .await;
    assert_eq!(
        refused.to_string(),
        error(9999, "微信JSAPI支付必须传入openId参数")
    );
    accepted(&pay(proxy.addr, &pay_fields("D2", "WX_NATIVE", "100")).await);
}

#[tokio::test]
async fn a_channel_failure_answers_daxpays_words_and_keeps_the_number() {
    let (_sb, _sandbox, proxy) = world().await;
    let mut fields = pay_fields("F1", "WX_NATIVE", "100");
    fields[4] = ("subject", "SANDBOX_CHANNEL_FAIL");
    let answer = pay(proxy.addr, &fields).await;
    assert_eq!(answer["code"], 9999, "{answer}");
    assert!(
        answer["msg"].as_str().unwrap().starts_with("支付失败"),
        "{answer}"
    );
    let again = pay(proxy.addr, &pay_fields("F1", "WX_NATIVE", "100")).await;
    assert_eq!(again.to_string(), error(9999, "商户订单[F1]已存在"));
}

fn refund_fields<'a>(
    mch_order_no: &'a str,
    mch_refund_no: &'a str,
    amount: &'a str,
    reason: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("mchOrderNo", mch_order_no),
        ("mchRefundNo", mch_refund_no),
        ("refundAmount", amount),
        ("currency", "cny"),
        ("refundReason", reason),
    ]
}

async fn refund(addr: std::net::SocketAddr, fields: &[(&str, &str)]) -> Value {
    post_json(addr, "/api/refund/refundOrder", &jeepay_body(fields))
        .await
        .json()
}

async fn refund_query(addr: std::net::SocketAddr, fields: &[(&str, &str)]) -> Value {
    post_json(addr, "/api/refund/query", &jeepay_body(fields))
        .await
        .json()
}

/// A WX_NATIVE order of `fen`, paid in the sandbox; its DaxPay number.
async fn paid_order(
    proxy: &Running,
    sandbox: &paybridge_sandbox::Sandbox,
    no: &str,
    fen: &str,
) -> String {
    let answer = pay(proxy.addr, &pay_fields(no, "WX_NATIVE", fen)).await;
    let order_no = accepted(&answer)["payOrderId"].as_str().unwrap().to_owned();
    sandbox.pay_order(&order_no).expect("the sandbox pays it");
    order_no
}

#[tokio::test]
async fn a_paid_order_is_refunded_in_parts_and_each_refund_is_queried() {
    let (_sb, sandbox, proxy) = world().await;
    let order_no = paid_order(&proxy, &sandbox, "P1", "1230").await;
    let first = refund(proxy.addr, &refund_fields("P1", "RF1", "500", "退货")).await;
    let data = accepted(&first);
    assert_eq!(
        (
            data["state"].as_i64(),
            data["payAmount"].as_i64(),
            data["refundAmount"].as_i64()
        ),
        (Some(2), Some(1230), Some(500)),
        "{first}"
    );
    assert_eq!(data["mchRefundNo"], "RF1");
    let refund_id = data["refundOrderId"].as_str().unwrap().to_owned();

    for by in [
        ("mchRefundNo", "RF1"),
        ("refundOrderId", refund_id.as_str()),
    ] {
        let q = refund_query(proxy.addr, &[by]).await;
        let d = accepted(&q);
        assert_eq!(d["refundOrderId"], refund_id.as_str(), "{q}");
        assert_eq!(d["payOrderId"], order_no.as_str());
        assert_eq!(
            (
                d["payAmount"].as_i64(),
                d["refundAmount"].as_i64(),
                d["state"].as_i64()
            ),
            (Some(1230), Some(500), Some(2))
        );
        assert_eq!(d["currency"], "cny");
        assert_eq!(d["mchNo"], JEEPAY_MCH);
        assert!(
            d["createdAt"].as_i64().is_some() && d["successTime"].as_i64().is_some(),
            "{q}"
        );
    }

    // The same refund number again: refused here, DaxPay's refund never called.
    let refunds = sandbox.refunds().len();
    let again = refund(proxy.addr, &refund_fields("P1", "RF1", "100", "again")).await;
    assert_eq!(again.to_string(), error(9999, "商户退款订单号[RF1]已存在"));
    assert_eq!(sandbox.refunds().len(), refunds);

    let over = refund(proxy.addr, &refund_fields("P1", "RF2", "731", "too much")).await;
    assert_eq!(
        over.to_string(),
        error(9999, "申请金额超出订单可退款余额，请检查退款金额")
    );
    // The rest, by DaxPay's number: the order is then fully refunded (Jeepay state 5).
    let mut rest = refund_fields("", "RF3", "730", "rest");
    rest[0] = ("payOrderId", order_no.as_str());
    accepted(&refund(proxy.addr, &rest).await);
    let query = post_json(
        proxy.addr,
        "/api/pay/query",
        &jeepay_body(&[("mchOrderNo", "P1")]),
    )
    .await
    .json();
    assert_eq!(accepted(&query)["state"], 5);
    let more = refund(proxy.addr, &refund_fields("P1", "RF4", "1", "more")).await;
    assert_eq!(
        more.to_string(),
        error(9999, "订单已全额退款，本次申请失败")
    );
    // Numbers refused by DaxPay may be used again.
    assert_eq!(
        refund(proxy.addr, &refund_fields("P1", "RF2", "1", "x"))
            .await
            .to_string(),
        error(9999, "订单已全额退款，本次申请失败")
    );
}

#[tokio::test]
async fn refund_refusals_carry_jeepays_words() {
    let (_sb, sandbox, proxy) = world().await;
    pay(proxy.addr, &pay_fields("U1", "WX_NATIVE", "100")).await;
    for (fields, words) in [
        (
            vec![
                ("mchOrderNo", "U1"),
                ("refundAmount", "1"),
                ("currency", "cny"),
                ("refundReason", "r"),
            ],
            "商户退款单号不能为空",
        ),
        (
            vec![
                ("mchOrderNo", "U1"),
                ("mchRefundNo", "X"),
                ("currency", "cny"),
                ("refundReason", "r"),
            ],
            "退款金额不能为空",
        ),
        (
            vec![
                ("mchOrderNo", "U1"),
                ("mchRefundNo", "X"),
                ("refundAmount", "0"),
                ("currency", "cny"),
                ("refundReason", "r"),
            ],
            "退款金额请大于1分",
        ),
        (
            vec![
                ("mchOrderNo", "U1"),
                ("mchRefundNo", "X"),
                ("refundAmount", "1"),
                ("refundReason", "r"),
            ],
            "货币代码不能为空",
        ),
        (
            vec![
                ("mchOrderNo", "U1"),
                ("mchRefundNo", "X"),
                ("refundAmount", "1"),
                ("currency", "cny"),
            ],
            "退款原因不能为空",
        ),
        (
            vec![
                ("mchRefundNo", "X"),
                ("refundAmount", "1"),
                ("currency", "cny"),
                ("refundReason", "r"),
            ],
            "mchOrderNo 和 payOrderId不能同时为空",
        ),
        (
            vec![
                ("mchOrderNo", "U1"),
                ("mchRefundNo", "X"),
                ("refundAmount", "1"),
                ("currency", "cny"),
                ("refundReason", "r"),
                ("notifyUrl", "x://y"),
            ],
            "异步通知地址协议仅支持http:// 或 https:// !",
        ),
    ] {
        assert_eq!(
            refund(proxy.addr, &fields).await.to_string(),
            error(9999, words),
            "{fields:?}"
        );
    }
    // Unpaid, then unknown.
    assert_eq!(
        refund(proxy.addr, &refund_fields("U1", "X1", "1", "r"))
            .await
            .to_string(),
        error(9999, "订单状态不正确， 无法完成退款")
    );
    assert_eq!(
        refund(proxy.addr, &refund_fields("NOPE", "X2", "1", "r"))
            .await
            .to_string(),
        error(9999, "退款订单不存在")
    );
    assert!(sandbox.refunds().is_empty());
    assert_eq!(
        refund_query(proxy.addr, &[]).await.to_string(),
        error(9999, "mchRefundNo 和 refundOrderId不能同时为空")
    );
    assert_eq!(
        refund_query(proxy.addr, &[("mchRefundNo", "X1")])
            .await
            .to_string(),
        error(9999, "订单不存在")
    );
}

#[tokio::test]
async fn a_failed_refund_answers_state_3_and_blocks_the_next_as_daxpay_does() {
    let (_sb, sandbox, proxy) = world().await;
    paid_order(&proxy, &sandbox, "FR", "1000").await;
    let failed = refund(
        proxy.addr,
        &refund_fields("FR", "FX1", "100", "SANDBOX_REFUND_FAIL"),
    )
    .await;
    let data = accepted(&failed);
    assert_eq!(data["state"], 3, "{failed}");
    assert!(data["errMsg"].as_str().is_some(), "{failed}");
    // DaxPay left the order `refunding`.
    let next = refund(proxy.addr, &refund_fields("FR", "FX2", "100", "r")).await;
    assert_eq!(
        next.to_string(),
        error(9999, "支付订单具有在途退款申请，请稍后再试")
    );
    // The failed number is never sent again (DaxPay would silently run it again).
    let refunds = sandbox.refunds().len();
    let again = refund(proxy.addr, &refund_fields("FR", "FX1", "100", "r")).await;
    assert_eq!(again.to_string(), error(9999, "商户退款订单号[FX1]已存在"));
    assert_eq!(sandbox.refunds().len(), refunds);
    let q = refund_query(proxy.addr, &[("mchRefundNo", "FX1")]).await;
    assert_eq!(accepted(&q)["state"], 3);
}

#[tokio::test]
async fn another_merchants_refund_does_not_exist_for_the_caller() {
    let (_sb, sandbox, proxy) = world().await;
    paid_order(&proxy, &sandbox, "O1", "100").await;
    let data = accepted(&refund(proxy.addr, &refund_fields("O1", "MINE", "10", "r")).await).clone();
    let refund_id = data["refundOrderId"].as_str().unwrap();
    // M2 asks by DaxPay's number (DaxPay's own lookup is not scoped by app) and by the
    // merchant number: neither is its refund.
    for by in [("refundOrderId", refund_id), ("mchRefundNo", "MINE")] {
        let body = jeepay_body_for("M2", "app-of-m2", "secret-of-m2", &[by]);
        let answer = post_json(proxy.addr, "/api/refund/query", &body).await;
        assert_eq!(answer.body, error(9999, "订单不存在"), "{by:?}");
    }
}

#[tokio::test]
async fn refunds_of_orders_from_before_the_migration_go_to_the_legacy_gateway() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let legacy_toml = format!(
        r#"
[legacy_sandbox]
listen = "127.0.0.1:0"
[[legacy_sandbox.apps]]
mch_no = "{JEEPAY_MCH}"
app_id = "{JEEPAY_APP}"
secret = "{JEEPAY_SECRET}"
[[legacy_sandbox.orders]]
pay_order_id = "LEG1"
mch_order_no = "OLD1"
mch_no = "{JEEPAY_MCH}"
state = 2
amount = 800
"#
    );
    let (lg, legacy) = start_legacy(&legacy_toml).await;
    let toml = format!(
        r#"{}
[upstreams.legacy]
kind = "legacy"
base_url = "http://{}"
timeout_ms = 2000
[routing]
default = {{ action = "translate", fallback = "legacy" }}
"#,
        proxy_toml(sb.addr, "3.0", "hmac_sha256", "", ""),
        lg.addr
    );
    let proxy = start_proxy(&toml).await;
    let answer = refund(proxy.addr, &refund_fields("OLD1", "LR1", "300", "r")).await;
    let data = accepted(&answer);
    assert_eq!(
        (data["payAmount"].as_i64(), data["refundAmount"].as_i64()),
        (Some(800), Some(300)),
        "{answer}"
    );
    assert_eq!(legacy.refunds().len(), 1, "the legacy gateway refunded it");
    assert!(sandbox.refunds().is_empty());
    // The number was not kept by paybridge (the refund is the legacy gateway's): its query
    // goes there too.
    let q = refund_query(proxy.addr, &[("mchRefundNo", "LR1")]).await;
    assert_eq!(accepted(&q)["refundAmount"], 300, "{q}");
}
