//! DaxPay 2.0.8's refusals reach the merchant in Jeepay's words, through real sockets, for both
//! of its sign types: each one is produced by the 2.0 sandbox (written from lifecycle-2.0.md,
//! never from paybridge's code) in 2.0.8's own wording and shape, and each case checks that
//! DaxPay was asked, so the words come from DaxPay's answer and not from paybridge's store
//! (except the refund query of a number the store knows is not the caller's: nothing is asked).
//!
//! - refunds (§5.2, §5.4): `支付订单不存在` (10010, unsigned), `当前支付单订状态[支付中]…`,
//!   `当前支付单退款状态[退款中|全部退款]…`, `退款金额不能大于支付金额` and `退款单号已存在` (10006);
//! - a refund query of a number DaxPay does not know (§6);
//! - close and cancel (§2.7): `支付订单已在关闭中/撤销中` (settled by a query) and
//!   `关闭订单失败` / `撤销订单失败` (9999, DaxPay's words);
//! - the rows of §3.6's pay table the sandbox can produce: an order DaxPay already holds, a
//!   channel or method it cannot serve, allocation it is not set up for. (The rows of a missing
//!   channel configuration, `支付宝配置不存在` and friends, are not modelled by the sandbox.)

mod common;

use common::steering::Relay;
use common::*;
use paybridge_sandbox::{OrderStatus, Sandbox};
use serde_json::Value;

const SIGN_TYPES: [&str; 2] = ["hmac_sha256", "md5"];
const REFUND: &str = "/unipay/refund";

/// The 2.0 sandbox and paybridge in front of it (cancels allowed).
struct World {
    proxy: Running,
    sandbox: Sandbox,
    sandbox_server: Running,
}

/// [`world_with`] and nothing more in the sandbox's section.
async fn world(
    sign_type: &str,
    seeded: &[(&str, &str, &str, &str)],
    extra_merchant: &str,
) -> World {
    world_with(sign_type, seeded, "", extra_merchant).await
}

/// The world with `seeded` orders at DaxPay (`(orderNo, bizOrderNo, status, more TOML lines)`),
/// `sandbox_extra` in the sandbox's section and `extra_merchant` in the merchant's table.
async fn world_with(
    sign_type: &str,
    seeded: &[(&str, &str, &str, &str)],
    sandbox_extra: &str,
    extra_merchant: &str,
) -> World {
    let mut toml = sandbox_toml("2.0", sign_type, &[]);
    toml.push_str(sandbox_extra);
    for (order_no, biz, status, lines) in seeded {
        toml.push_str(&format!(
            "[[sandbox.orders]]\norder_no = \"{order_no}\"\nbiz_order_no = \"{biz}\"\nstatus = \"{status}\"\n{lines}\n"
        ));
    }
    let (sb, sandbox) = start_sandbox(&toml).await;
    let merchant = format!("allow_cancel = true\n{extra_merchant}");
    let proxy = start_proxy(&proxy_toml(sb.addr, "2.0", sign_type, "", &merchant)).await;
    World {
        proxy,
        sandbox,
        sandbox_server: sb,
    }
}

fn refused(answer: &Value, msg: &str) {
    assert_eq!(
        (answer["code"].as_i64(), answer["msg"].as_str()),
        (Some(9999), Some(msg)),
        "{answer}"
    );
}

async fn call(w: &World, path: &str, fields: &[(&str, &str)]) -> Value {
    post_json(w.proxy.addr, path, &jeepay_body(fields))
        .await
        .json()
}

/// An Alipay QR order `no` of 12.30.
fn pay_fields(no: &str) -> Vec<(&str, &str)> {
    vec![
        ("mchOrderNo", no),
        ("wayCode", "ALI_QR"),
        ("amount", "1230"),
        ("currency", "cny"),
        ("subject", "商品"),
        ("body", "描述"),
    ]
}

async fn pay(w: &World, no: &str, way_code: &str, extra: &[(&str, &str)]) -> Value {
    let mut fields = pay_fields(no);
    fields[1] = ("wayCode", way_code);
    fields.extend_from_slice(extra);
    call(w, "/api/pay/unifiedOrder", &fields).await
}

/// An order `no` of 12.30 paid at DaxPay: its `payOrderId`. Alipay refunds succeed at once in
/// 2.0.8, WeChat's stay `progress`.
async fn paid(w: &World, no: &str, way_code: &str) -> String {
    let answer = pay(w, no, way_code, &[]).await;
    let order_no = accepted(&answer)["payOrderId"].as_str().unwrap().to_owned();
    w.sandbox.pay_order(&order_no).unwrap();
    order_no
}

async fn refund(w: &World, by: (&str, &str), refund_no: &str, amount: &str) -> Value {
    let fields = [
        by,
        ("mchRefundNo", refund_no),
        ("refundAmount", amount),
        ("currency", "cny"),
        ("refundReason", "退"),
    ];
    call(w, "/api/refund/refundOrder", &fields).await
}

/// One more request to `path` reached DaxPay while `act` ran.
async fn asks_daxpay<T>(w: &World, path: &str, act: impl std::future::Future<Output = T>) -> T {
    let before = w.sandbox.requests_to(path);
    let out = act.await;
    assert_eq!(
        w.sandbox.requests_to(path),
        before + 1,
        "DaxPay asked on {path}"
    );
    out
}

#[tokio::test]
async fn refund_refusals_reach_the_merchant_in_jeepays_words() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, &[], "").await;
        // 10010 `支付订单不存在` (unsigned): an order DaxPay does not have.
        let answer = asks_daxpay(
            &w,
            REFUND,
            refund(&w, ("payOrderId", "P2501010000005600000"), "N-R1", "1"),
        )
        .await;
        refused(&answer, "退款订单不存在");
        // `当前支付单订状态[支付中]…` (2.0.8's typo): not paid.
        let open = accepted(&pay(&w, "U1", "WX_NATIVE", &[]).await)["payOrderId"]
            .as_str()
            .unwrap()
            .to_owned();
        let answer = asks_daxpay(&w, REFUND, refund(&w, ("payOrderId", &open), "U1-R1", "1")).await;
        refused(&answer, "订单状态不正确， 无法完成退款");
        // 10006 `退款金额不能大于支付金额`.
        let alipay = paid(&w, "A1", "ALI_QR").await;
        let answer = asks_daxpay(
            &w,
            REFUND,
            refund(&w, ("payOrderId", &alipay), "A1-R1", "1231"),
        )
        .await;
        refused(&answer, "申请金额超出订单可退款余额，请检查退款金额");
        // A refund that succeeds, then 10006 `退款单号已存在`: a merchant number equal to one of
        // DaxPay's own refund numbers.
        let done = accepted(&refund(&w, ("mchOrderNo", "A1"), "A1-R2", "230").await).clone();
        assert_eq!(done["state"], 2, "{sign_type}: {done}");
        let daxpays = done["refundOrderId"].as_str().unwrap().to_owned();
        let answer = asks_daxpay(&w, REFUND, refund(&w, ("mchOrderNo", "A1"), &daxpays, "1")).await;
        refused(&answer, &format!("商户退款订单号[{daxpays}]已存在"));
        // `当前支付单退款状态[全部退款]…`: the rest refunded, then one more.
        accepted(&refund(&w, ("mchOrderNo", "A1"), "A1-R3", "1000").await);
        let answer = asks_daxpay(
            &w,
            REFUND,
            refund(&w, ("payOrderId", &alipay), "A1-R4", "1"),
        )
        .await;
        refused(&answer, "订单已全额退款，本次申请失败");
        // `当前支付单退款状态[退款中]…`: a WeChat refund stays `progress` in 2.0.8.
        let wechat = paid(&w, "W1", "WX_NATIVE").await;
        let first = refund(&w, ("payOrderId", &wechat), "W1-R1", "100").await;
        assert_eq!(accepted(&first)["state"], 1, "{first}");
        let answer = asks_daxpay(
            &w,
            REFUND,
            refund(&w, ("payOrderId", &wechat), "W1-R2", "100"),
        )
        .await;
        refused(&answer, "支付订单具有在途退款申请，请稍后再试");
    }
}

/// A refund query of a number DaxPay does not know: `订单不存在`, whether the store already
/// knows it is no refund of the caller's (nothing asked), or DaxPay says `退款订单不存在` of a
/// refund paybridge recorded but DaxPay never received (its request lost on the way).
#[tokio::test]
async fn a_refund_query_of_an_unknown_number_is_no_such_order() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, &[], "").await;
        for unknown in [
            ("refundOrderId", "R2501010000005600000"),
            ("mchRefundNo", "NOPE-R1"),
        ] {
            let answer = call(&w, "/api/refund/query", &[unknown]).await;
            refused(&answer, "订单不存在");
        }
        // Through a relay that loses the refund request before DaxPay: paybridge keeps the
        // refund as unknown, and a query of it asks DaxPay, which has no such refund.
        let mut relay = Relay::start(w.sandbox_server.addr, &[REFUND]).await;
        let proxy = start_proxy(&proxy_toml(relay.addr, "2.0", sign_type, "", "")).await;
        let addr = proxy.addr;
        let made = post_json(
            addr,
            "/api/pay/unifiedOrder",
            &jeepay_body(&pay_fields("L1")),
        )
        .await;
        let order = accepted(&made.json())["payOrderId"]
            .as_str()
            .unwrap()
            .to_owned();
        w.sandbox.pay_order(&order).unwrap();
        let fields = [
            ("mchOrderNo", "L1"),
            ("mchRefundNo", "L1-R1"),
            ("refundAmount", "1"),
            ("currency", "cny"),
            ("refundReason", "r"),
        ];
        let refunding = tokio::spawn(async move {
            post_json(addr, "/api/refund/refundOrder", &jeepay_body(&fields))
                .await
                .json()
        });
        relay
            .next(REFUND)
            .await
            .answer(http::StatusCode::BAD_GATEWAY, "");
        let lost = refunding.await.unwrap();
        assert_eq!(lost["code"], 10, "{sign_type}: {lost}");
        let by_number = jeepay_body(&[("mchRefundNo", "L1-R1")]);
        let query = post_json(addr, "/api/refund/query", &by_number);
        let answer = asks_daxpay(&w, "/unipay/query/refundOrder", query)
            .await
            .json();
        refused(&answer, "订单不存在");
    }
}

#[tokio::test]
async fn close_and_cancel_refusals_reach_the_merchant_in_jeepays_words() {
    for sign_type in SIGN_TYPES {
        let w = world(
            sign_type,
            &[
                ("P2501010000005600001", "C1", "progress", ""),
                (
                    "P2501010000005600002",
                    "C2",
                    "progress",
                    "channel_fails = true",
                ),
                (
                    "P2501010000005600003",
                    "C3",
                    "progress",
                    "channel = \"wechat_pay\"\nmethod = \"qrcode\"",
                ),
            ],
            "",
        )
        .await;
        // A close running elsewhere: `支付订单已在关闭中/撤销中`, then the order asked after,
        // still open: Jeepay's "closing".
        w.sandbox.hold_close("P2501010000005600001");
        for (path, daxpays) in [
            ("/api/pay/close", "/unipay/close"),
            ("/api/pay/cancel", "/unipay/cancel"),
        ] {
            let asked = call(&w, path, &[("mchOrderNo", "C1")]);
            let queried = asks_daxpay(&w, "/unipay/query/payOrder", asked);
            let answer = asks_daxpay(&w, daxpays, queried).await;
            refused(&answer, "当前订单正在关闭中，请稍后查询");
        }
        w.sandbox.release_close("P2501010000005600001");
        // The channel fails the close (`关闭订单失败`) or cannot cancel a WeChat QR order
        // (`撤销订单失败`): 9999 with DaxPay's words, the order still open.
        let answer = asks_daxpay(
            &w,
            "/unipay/close",
            call(&w, "/api/pay/close", &[("mchOrderNo", "C2")]),
        )
        .await;
        refused(&answer, "关闭订单失败");
        let answer = asks_daxpay(
            &w,
            "/unipay/cancel",
            call(&w, "/api/pay/cancel", &[("mchOrderNo", "C2")]),
        )
        .await;
        refused(&answer, "撤销订单失败");
        let answer = asks_daxpay(
            &w,
            "/unipay/cancel",
            call(&w, "/api/pay/cancel", &[("mchOrderNo", "C3")]),
        )
        .await;
        refused(&answer, "撤销订单失败");
        for no in ["P2501010000005600002", "P2501010000005600003"] {
            assert_eq!(w.sandbox.order_status(no), Some(OrderStatus::Progress));
        }
        // The order that was only busy closes once the other close is over.
        let answer = call(&w, "/api/pay/close", &[("mchOrderNo", "C1")]).await;
        assert_eq!(answer["code"], 0, "{sign_type}: {answer}");
    }
}

/// §3.6's `商户订单[…]已存在` rows: a `bizOrderNo` DaxPay already holds (made before paybridge
/// took the merchant over, so paybridge's store has no row and DaxPay is asked).
#[tokio::test]
async fn an_order_daxpay_already_holds_is_refused_as_existing() {
    let past = "expired_time = \"2020-01-01 00:00:00\"";
    for sign_type in SIGN_TYPES {
        let w = world(
            sign_type,
            &[
                ("P2501010000005600011", "E1", "success", ""),
                ("P2501010000005600012", "E2", "close", ""),
                ("P2501010000005600013", "E3", "fail", ""),
                ("P2501010000005600014", "E4", "cancel", ""),
                ("P2501010000005600015", "E5", "progress", past),
                ("P2501010000005600016", "E6", "timeout", ""),
                (
                    "P2501010000005600017",
                    "E7",
                    "wait",
                    "refund_status = \"refunding\"",
                ),
            ],
            "",
        )
        .await;
        for no in ["E1", "E2", "E3", "E4", "E5", "E6", "E7"] {
            let answer = asks_daxpay(&w, "/unipay/pay", pay(&w, no, "WX_NATIVE", &[])).await;
            refused(&answer, &format!("商户订单[{no}]已存在"));
        }
    }
}

/// §3.6's `商户应用不支持该支付方式` and `商户应用参数未配置` rows: a channel without a strategy
/// (`不支持的能力`), a method the channel lacks (`不存在的支付方式`), a method the channel's
/// configuration has not switched on (`该支付宝支付方式不可用`), allocation UnionPay cannot do
/// (`云闪付不支持分账`), and allocation not set up (`未开启分账配置`).
#[tokio::test]
async fn ways_and_allocation_daxpay_cannot_serve_are_refused_in_jeepays_words() {
    let routed = r#"way_codes = { WX_NATIVE = "jd_pay/qrcode", WX_H5 = "wechat_pay/web" }"#;
    let ways = "[sandbox.pay_ways]\nali_pay = [\"wap\"]\n";
    for sign_type in SIGN_TYPES {
        let w = world_with(sign_type, &[], ways, routed).await;
        for (no, way_code, extra, words) in [
            ("W1", "WX_NATIVE", &[][..], "商户应用不支持该支付方式"),
            ("W2", "WX_H5", &[][..], "商户应用不支持该支付方式"),
            ("W3", "ALI_QR", &[][..], "商户应用不支持该支付方式"),
            (
                "W4",
                "UP_QR",
                &[("divisionMode", "1")][..],
                "商户应用不支持该支付方式",
            ),
            (
                "W5",
                "ALI_WAP",
                &[("divisionMode", "1")][..],
                "商户应用参数未配置",
            ),
        ] {
            let answer = asks_daxpay(&w, "/unipay/pay", pay(&w, no, way_code, extra)).await;
            refused(&answer, words);
        }
    }
}
