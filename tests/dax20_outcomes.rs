//! How paybridge learns and keeps the outcomes of a DaxPay 2.0.8 upstream, through real sockets
//! for both sign types: a pay the channel refused stored failed at once (2.0.8 keeps it
//! `progress` and would pay it again, lifecycle-2.0.md §3.6); a refund notice that arrives
//! before DaxPay's commit (§7.1); a refund answer with a stale `msg` whose outcome still comes
//! from the refund query (§5.3); a stale query after a stored final state, which lowers
//! nothing; and a refund whose follow-up query fails, answered in progress under the number
//! DaxPay's answer gave it, and finished by the settlement worker.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::merchant::Merchant;
use common::steering::Relay;
use common::*;
use http::StatusCode;
use paybridge::domain::order::RefundOrderStatus;
use paybridge::store::{OrderStore, RowState, SettlementKind, SettlementStatus};
use paybridge_sandbox::Sandbox;
use serde_json::Value;

const SIGN_TYPES: [&str; 2] = ["hmac_sha256", "md5"];

/// No background settlement: only the request itself and DaxPay's callbacks settle anything.
const NO_SETTLEMENT: &str = "\n[settlement]\nenabled = false\n";
/// Checks begin 50 ms after a row is written and back off to 200 ms.
const FAST: &str =
    "\n[settlement]\nfirst_check_after_ms = 50\nmax_interval_ms = 200\npoll_ms = 20\n";

/// The refund query 2.0.8 answers at, the lookup of a refund's outcome.
const REFUND_QUERY: &str = "/unipay/query/refundOrder";

struct World {
    proxy: SocketAddr,
    sandbox: Sandbox,
    orders: OrderStore,
    relay: Option<Relay>,
    _sandbox_server: Running,
}

/// paybridge before the 2.0 sandbox (through a steering relay of `steered` paths, if any),
/// notifications running, no settlement worker.
async fn world(sign_type: &str, steered: &[&'static str]) -> World {
    world_settling(sign_type, steered, NO_SETTLEMENT).await
}

/// [`world`] with the `[settlement]` section `settlement`.
async fn world_settling(sign_type: &str, steered: &[&'static str], settlement: &str) -> World {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("2.0", sign_type, &[])).await;
    let relay = match steered {
        [] => None,
        paths => Some(Relay::start(sb.addr, paths).await),
    };
    let upstream = relay.as_ref().map_or(sb.addr, |r| r.addr);
    let (proxy, orders) = start_relaying(upstream, "2.0", sign_type, "", "", settlement).await;
    World {
        proxy,
        sandbox,
        orders,
        relay,
        _sandbox_server: sb,
    }
}

async fn post(w: &World, path: &str, fields: &[(&str, &str)]) -> Value {
    post_json(w.proxy, path, &jeepay_body(fields)).await.json()
}

/// An order `no` of 12.30 on `way_code`, notified to `merchant`: the answer's `data`.
async fn pay(w: &World, no: &str, way_code: &str, extra: &str, merchant: &Merchant) -> Value {
    let notify = format!("http://{}/pay", merchant.addr);
    let mut fields = vec![
        ("mchOrderNo", no),
        ("wayCode", way_code),
        ("amount", "1230"),
        ("currency", "cny"),
        ("subject", "s"),
        ("body", "b"),
        ("notifyUrl", &notify),
    ];
    if !extra.is_empty() {
        fields.push(("channelExtra", extra));
    }
    accepted(&post(w, "/api/pay/unifiedOrder", &fields).await).clone()
}

/// An Alipay bar-code order, paid at once (its refunds succeed at once too).
async fn paid_alipay(w: &World, no: &str, merchant: &Merchant) {
    let data = pay(
        w,
        no,
        "ALI_BAR",
        r#"{"authCode":"284567890123456789"}"#,
        merchant,
    )
    .await;
    assert_eq!(data["orderState"], 2, "{data}");
}

/// A refund of 230 of order `no`, notified to `merchant`: the whole answer.
async fn refund(w: &World, no: &str, refund_no: &str, merchant: &Merchant) -> Value {
    let notify = format!("http://{}/refund", merchant.addr);
    let fields = [
        ("mchOrderNo", no),
        ("mchRefundNo", refund_no),
        ("refundAmount", "230"),
        ("currency", "cny"),
        ("refundReason", "退"),
        ("notifyUrl", notify.as_str()),
    ];
    post(w, "/api/refund/refundOrder", &fields).await
}

/// The refund notifications `merchant` received: their `state`.
fn refund_notices(merchant: &Merchant) -> Vec<String> {
    merchant
        .received()
        .into_iter()
        .filter(|n| n.path == "/refund")
        .map(|n| {
            assert!(n.verified, "{n:?}");
            n.params["state"].clone()
        })
        .collect()
}

/// The channel refuses the pay; 2.0.8 answers with its message only and keeps the order
/// `progress`. paybridge answers DaxPay's words, and the order is stored failed there and then:
/// the row carries DaxPay's number, its settlement entry is final (`fail`), and a repeat of the
/// number is refused from the store without reaching DaxPay (which would pay it again).
#[tokio::test]
async fn a_pay_the_channel_refused_is_stored_failed_at_once() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, &[]).await;
        let fields = [
            ("mchOrderNo", "F1"),
            ("wayCode", "WX_NATIVE"),
            ("amount", "1230"),
            ("currency", "cny"),
            ("subject", paybridge_sandbox::CHANNEL_FAIL),
            ("body", "b"),
        ];
        let answer = post(&w, "/api/pay/unifiedOrder", &fields).await;
        assert_eq!(answer["code"], 9999, "{sign_type}: {answer}");
        assert_eq!(answer["msg"], "沙箱通道模拟失败", "{answer}");
        let dax = w
            .sandbox
            .order_by_biz("F1")
            .expect("DaxPay keeps the order");
        assert_eq!(dax.status.as_str(), "progress", "{sign_type}");
        let row = w
            .orders
            .pay_by_mch_order_no(JEEPAY_MCH, "F1")
            .await
            .unwrap()
            .expect("the row");
        assert_eq!(row.state, RowState::Created, "{sign_type}: {row:?}");
        assert_eq!(row.pay_order_id.as_deref(), Some(dax.order_no.as_str()));
        let entry = w
            .orders
            .settlement(SettlementKind::Pay, JEEPAY_MCH, "F1")
            .await
            .unwrap()
            .expect("every row is enrolled");
        assert_eq!(
            entry.status,
            SettlementStatus::Final,
            "{sign_type}: {entry:?}"
        );
        assert_eq!(entry.dax_state.as_deref(), Some("fail"), "{entry:?}");
        // The query tells it failed (Jeepay's state 3, with the channel's words), not paying.
        let query = post(&w, "/api/pay/query", &[("mchOrderNo", "F1")]).await;
        let data = accepted(&query);
        assert_eq!(data["state"], 3, "{sign_type}: {query}");
        assert_eq!(data["payOrderId"], dax.order_no.as_str(), "{query}");
        assert_eq!(data["errMsg"], "沙箱通道模拟失败", "{query}");
        // The same number again, with another amount: refused before DaxPay.
        let seen = w.sandbox.requests_seen();
        let again = [
            ("mchOrderNo", "F1"),
            ("wayCode", "WX_NATIVE"),
            ("amount", "1"),
            ("currency", "cny"),
            ("subject", "s"),
            ("body", "b"),
        ];
        let answer = post(&w, "/api/pay/unifiedOrder", &again).await;
        assert_eq!(answer["code"], 9999, "{answer}");
        assert_eq!(answer["msg"], "商户订单[F1]已存在", "{answer}");
        assert_eq!(
            w.sandbox.requests_seen(),
            seen,
            "{sign_type}: the repeat did not reach DaxPay"
        );
        let dax = w.sandbox.order_by_biz("F1").unwrap();
        assert_eq!(dax.amount.fen(), 1230, "not paid again");
    }
}

/// The channel settles a WeChat refund; 2.0.8 sends its two success notices while its query
/// still shows `progress` (the notice is registered inside the uncommitted transaction, §7.1);
/// 0.5 s later the change is committed. With no settlement worker, only the callback's own
/// confirmation (asking again, backing off) can notify the merchant: once, as a success.
#[tokio::test]
async fn a_refund_notice_before_the_commit_is_confirmed_by_asking_again() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, &[]).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        let order_no = pay(&w, "BC1", "WX_NATIVE", "", &merchant).await["payOrderId"]
            .as_str()
            .unwrap()
            .to_owned();
        w.sandbox.pay_order(&order_no).unwrap();
        let answer = refund(&w, "BC1", "BC1-R1", &merchant).await;
        let data = accepted(&answer);
        assert_eq!(
            data["state"], 1,
            "a WeChat refund waits for the channel: {answer}"
        );
        let refund_no = data["refundOrderId"].as_str().unwrap().to_owned();
        w.sandbox
            .set_callback_before_commit(Duration::from_millis(500));
        w.sandbox.succeed_refund(&refund_no).unwrap();
        let refund_callbacks = || {
            w.sandbox
                .callbacks()
                .into_iter()
                .filter(|c| c.no == refund_no)
                .collect::<Vec<_>>()
        };
        eventually("both notices answered", || {
            let sent = refund_callbacks();
            sent.len() == 2 && sent.iter().all(|c| c.answer.is_some())
        })
        .await;
        assert!(
            refund_callbacks().iter().all(|c| c.acknowledged),
            "{sign_type}: {:?}",
            refund_callbacks()
        );
        eventually("the refund's notification", || {
            refund_notices(&merchant).len() == 1
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            refund_notices(&merchant),
            ["2"],
            "{sign_type}: once, a success"
        );
        let row = w
            .orders
            .refund_by_mch_refund_no(JEEPAY_MCH, "BC1-R1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.status, Some(RefundOrderStatus::Success));
    }
}

/// 2.0.8 never clears a refund's `errorMsg`, so a refund that succeeds may answer with an old
/// failure's message (§5.3). Its outcome is the refund query's: a success, without an error.
#[tokio::test]
async fn a_refund_answer_with_a_stale_message_takes_its_outcome_from_the_query() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, &[]).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        paid_alipay(&w, "SM1", &merchant).await;
        w.sandbox.set_stale_refund_msg(Some("余额不足"));
        let answer = refund(&w, "SM1", "SM1-R1", &merchant).await;
        let data = accepted(&answer);
        assert_eq!(data["state"], 2, "{sign_type}: {answer}");
        assert!(data.get("errCode").is_none_or(Value::is_null), "{answer}");
        assert!(data.get("errMsg").is_none_or(Value::is_null), "{answer}");
        let dax = w
            .sandbox
            .refund(data["refundOrderId"].as_str().unwrap())
            .expect("on DaxPay");
        assert_eq!(
            (dax.status.as_str(), dax.error_msg.as_deref()),
            ("success", Some("余额不足")),
            "DaxPay's answer said the stale message"
        );
    }
}

/// A refund stored final (a success, notified) and then a query that is behind (`progress`)
/// while DaxPay sends the success notice again: the notice is acknowledged, the row stays a
/// success, and the merchant hears nothing more.
#[tokio::test]
async fn a_stale_query_after_a_stored_final_state_lowers_nothing() {
    for sign_type in SIGN_TYPES {
        let w = world(sign_type, &[]).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        paid_alipay(&w, "SQ1", &merchant).await;
        let answer = refund(&w, "SQ1", "SQ1-R1", &merchant).await;
        let data = accepted(&answer);
        assert_eq!(data["state"], 2, "{answer}");
        let refund_no = data["refundOrderId"].as_str().unwrap().to_owned();
        eventually("the refund's notification", || {
            refund_notices(&merchant).len() == 1
        })
        .await;
        let callbacks = || {
            w.sandbox
                .callbacks()
                .into_iter()
                .filter(|c| c.no == refund_no)
                .collect::<Vec<_>>()
        };
        eventually("DaxPay's notice answered", || {
            callbacks().first().is_some_and(|c| c.answer.is_some())
        })
        .await;
        assert!(w
            .sandbox
            .stale_refund_query(&refund_no, Duration::from_secs(30)));
        assert!(w.sandbox.send_callback_again(&refund_no));
        eventually("the notice again answered", || {
            callbacks().len() == 2 && callbacks()[1].answer.is_some()
        })
        .await;
        assert!(
            callbacks()[1].acknowledged,
            "{sign_type}: {:?}",
            callbacks()
        );
        let row = w
            .orders
            .refund_by_mch_refund_no(JEEPAY_MCH, "SQ1-R1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.status, Some(RefundOrderStatus::Success), "{row:?}");
        // The merchant's own refund query, answered from the same stale DaxPay query.
        let answer = post(&w, "/api/refund/query", &[("mchRefundNo", "SQ1-R1")]).await;
        assert_eq!(accepted(&answer)["state"], 2, "{sign_type}: {answer}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            refund_notices(&merchant),
            ["2"],
            "{sign_type}: nothing more"
        );
    }
}

/// Every 2.0 refund's outcome is its refund query's. When that query fails (here an HTTP 502
/// on the way), DaxPay's signed answer still proves the refund exists and names it: the
/// merchant is answered as Jeepay answers a refund under way (code 0, state 1, that
/// `refundOrderId`). Once the query works again, the settlement worker learns the outcome and
/// the merchant is notified once; the refund query answers it too.
#[tokio::test]
async fn a_refund_whose_query_fails_is_answered_in_progress_and_settled_later() {
    for sign_type in SIGN_TYPES {
        let mut w = world_settling(sign_type, &[REFUND_QUERY], FAST).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        paid_alipay(&w, "QF1", &merchant).await;
        // The refund query fails (an HTTP 502 on the way) until `failing` is cleared.
        let failing = Arc::new(AtomicBool::new(true));
        let mut relay = w.relay.take().unwrap();
        let steer = failing.clone();
        tokio::spawn(async move {
            loop {
                let arrival = relay.next(REFUND_QUERY).await;
                if steer.load(Ordering::SeqCst) {
                    arrival.answer(StatusCode::BAD_GATEWAY, "");
                } else {
                    arrival.forward();
                }
            }
        });
        // No callback either: only the settlement worker can learn the outcome.
        w.sandbox.mute_callbacks(true);
        let answer = refund(&w, "QF1", "QF1-R1", &merchant).await;
        let data = accepted(&answer);
        let refunds = w.sandbox.refunds();
        assert_eq!(refunds.len(), 1, "DaxPay took the refund");
        assert_eq!(
            (data["state"].as_i64(), data["refundOrderId"].as_str()),
            (Some(1), Some(refunds[0].refund_no.as_str())),
            "{sign_type}: {answer}"
        );
        assert_eq!(data["mchRefundNo"], "QF1-R1", "{answer}");
        assert_eq!(data["refundAmount"], 230, "{answer}");
        assert!(refund_notices(&merchant).is_empty(), "not final yet");
        // The query works again: the worker settles it and the merchant hears once.
        failing.store(false, Ordering::SeqCst);
        eventually("the refund's notification", || {
            refund_notices(&merchant).len() == 1
        })
        .await;
        let answer = post(&w, "/api/refund/query", &[("mchRefundNo", "QF1-R1")]).await;
        let data = accepted(&answer);
        assert_eq!(data["state"], 2, "{sign_type}: {answer}");
        assert_eq!(
            data["refundOrderId"],
            refunds[0].refund_no.as_str(),
            "{answer}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(refund_notices(&merchant), ["2"], "{sign_type}: once");
        assert!(
            w.sandbox
                .callbacks()
                .iter()
                .all(|c| c.no != refunds[0].refund_no),
            "settled by polling"
        );
    }
}
