//! Background settlement through real sockets: orders and refunds whose outcome paybridge never
//! heard from DaxPay (no callback, answers lost) are followed up by query until final, and the
//! merchant is notified once, as a callback would have had it notified.

mod common;

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::merchant::Merchant;
use common::*;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use paybridge::store::{OrderStore, SettlementKind, SettlementStatus};
use paybridge_sandbox::{OrderStatus, Sandbox};
use serde_json::Value;
use tokio::net::TcpListener;

/// Checks begin 50 ms after a row is written and back off to 200 ms.
const FAST: &str =
    "\n[settlement]\nfirst_check_after_ms = 50\nmax_interval_ms = 200\npoll_ms = 20\n";

/// A relay in front of the sandbox that, while `lose` is set, forwards the calls to `paths` and
/// answers 502 instead of DaxPay's answer (DaxPay acted; paybridge never hears how).
struct Relay {
    addr: SocketAddr,
    lose: Arc<AtomicBool>,
    lost: Arc<AtomicUsize>,
}

impl Relay {
    async fn start(sandbox: SocketAddr, paths: &'static [&'static str]) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (lose, lost) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (losing, counted) = (lose.clone(), lost.clone());
        let service = tower::service_fn(move |req: Request<hyper::body::Incoming>| {
            let (losing, counted) = (losing.clone(), counted.clone());
            async move {
                let (parts, body) = req.into_parts();
                let body = body.collect().await.unwrap().to_bytes();
                let client: Client<_, Full<Bytes>> =
                    Client::builder(TokioExecutor::new()).build_http();
                let forwarded = Request::builder()
                    .method("POST")
                    .uri(format!("http://{sandbox}{}", parts.uri.path()))
                    .header("content-type", "application/json")
                    .body(Full::new(body))
                    .unwrap();
                let answer = client.request(forwarded).await.unwrap();
                let status = answer.status();
                let bytes = answer.into_body().collect().await.unwrap().to_bytes();
                if losing.load(Ordering::SeqCst) && paths.contains(&parts.uri.path()) {
                    counted.fetch_add(1, Ordering::SeqCst);
                    return Ok::<_, Infallible>(
                        Response::builder()
                            .status(StatusCode::BAD_GATEWAY)
                            .body(Full::new(Bytes::new()))
                            .unwrap(),
                    );
                }
                Ok(Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Full::new(bytes))
                    .unwrap())
            }
        });
        tokio::spawn(paybridge::server::serve(
            listener,
            service,
            std::future::pending::<()>(),
            Duration::from_millis(100),
        ));
        Relay { addr, lose, lost }
    }
}

/// The sandbox, paybridge (its `public_url` its own address, settlement fast) in front of
/// `upstream` (the sandbox itself, or a relay before it), and paybridge's order store.
struct World {
    proxy: SocketAddr,
    sandbox: Sandbox,
    orders: OrderStore,
    _sandbox_server: Running,
}

async fn world(relay_paths: Option<&'static [&'static str]>) -> (World, Option<Relay>) {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let relay = match relay_paths {
        Some(paths) => Some(Relay::start(sb.addr, paths).await),
        None => None,
    };
    let upstream = relay.as_ref().map_or(sb.addr, |r| r.addr);
    let (proxy, orders) = start_relaying(upstream, "3.0", "hmac_sha256", "", "", FAST).await;
    let world = World {
        proxy,
        sandbox,
        orders,
        _sandbox_server: sb,
    };
    (world, relay)
}

fn pay_body(no: &str, notify: &str) -> Value {
    jeepay_body(&[
        ("mchOrderNo", no),
        ("wayCode", "WX_NATIVE"),
        ("amount", "1230"),
        ("currency", "cny"),
        ("subject", "s"),
        ("body", "b"),
        ("notifyUrl", notify),
    ])
}

fn refund_body(no: &str, refund_no: &str, reason: &str, notify: &str) -> Value {
    jeepay_body(&[
        ("mchOrderNo", no),
        ("mchRefundNo", refund_no),
        ("refundAmount", "230"),
        ("currency", "cny"),
        ("refundReason", reason),
        ("notifyUrl", notify),
    ])
}

/// An order `no` of 12.30 created through paybridge, notified to `merchant`: DaxPay's number.
async fn created(w: &World, no: &str, merchant: &Merchant) -> String {
    let url = format!("http://{}/pay", merchant.addr);
    let answer = post_json(w.proxy, "/api/pay/unifiedOrder", &pay_body(no, &url))
        .await
        .json();
    assert_eq!(answer["code"], 0, "{answer}");
    answer["data"]["payOrderId"].as_str().unwrap().to_owned()
}

/// Waits up to 10 s for `check` to hold.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("not within 10 s: {what}");
}

/// The ledger's entry, once it is no longer open (up to 10 s).
async fn settled(
    orders: &OrderStore,
    kind: SettlementKind,
    number: &str,
) -> (SettlementStatus, Option<String>) {
    for _ in 0..500 {
        let entry = orders
            .settlement(kind, JEEPAY_MCH, number)
            .await
            .unwrap()
            .expect("every row is enrolled");
        if entry.status != SettlementStatus::Open {
            return (entry.status, entry.dax_state);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{number} still open after 10 s");
}

#[tokio::test]
async fn a_payment_never_called_back_is_found_by_polling_and_notified_once() {
    let merchant = Merchant::start(&["SUCCESS"]).await;
    let (w, _) = world(None).await;
    let order_no = created(&w, "S1", &merchant).await;
    // Paid at DaxPay, and DaxPay never calls back (a 2.0.8 DaxPay's one attempt was lost).
    assert!(w.sandbox.set_order_status(&order_no, OrderStatus::Success));
    eventually("the payment's notification", || {
        merchant.received().len() == 1
    })
    .await;
    assert!(w.sandbox.callbacks().is_empty(), "no callback was sent");
    let n = &merchant.received()[0];
    assert!(n.verified, "{n:?}");
    assert_eq!(
        (
            n.params["state"].as_str(),
            n.params["mchOrderNo"].as_str(),
            n.params["payOrderId"].as_str()
        ),
        ("2", "S1", order_no.as_str())
    );
    assert_eq!(
        settled(&w.orders, SettlementKind::Pay, "S1").await,
        (SettlementStatus::Final, Some("success".to_owned()))
    );
    // A final entry is not checked again: nothing more is sent.
    let checks = w
        .orders
        .settlement(SettlementKind::Pay, JEEPAY_MCH, "S1")
        .await
        .unwrap()
        .unwrap()
        .checks;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = w
        .orders
        .settlement(SettlementKind::Pay, JEEPAY_MCH, "S1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.checks, checks, "{again:?}");
    assert_eq!(merchant.received().len(), 1, "notified once");
}

#[tokio::test]
async fn an_unpaid_order_is_followed_until_daxpay_closes_it() {
    let merchant = Merchant::start(&["SUCCESS"]).await;
    let (w, _) = world(None).await;
    let order_no = created(&w, "S2", &merchant).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let entry = w
        .orders
        .settlement(SettlementKind::Pay, JEEPAY_MCH, "S2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.status, SettlementStatus::Open, "{entry:?}");
    assert_eq!(entry.dax_state.as_deref(), Some("progress"));
    assert!(entry.checks >= 2, "checked again and again: {entry:?}");
    assert!(w.sandbox.set_order_status(&order_no, OrderStatus::Close));
    assert_eq!(
        settled(&w.orders, SettlementKind::Pay, "S2").await,
        (SettlementStatus::Final, Some("close".to_owned()))
    );
    // Jeepay notifies only successes unless the merchant forwards failed payments.
    assert!(merchant.received().is_empty());
}

#[tokio::test]
async fn a_refund_that_failed_unseen_is_notified_as_failed() {
    let merchant = Merchant::start(&["SUCCESS"]).await;
    let (w, relay) = world(Some(&["/unipay/refund", "/unipay/query/refundOrder"])).await;
    let relay = relay.unwrap();
    let order_no = created(&w, "S3", &merchant).await;
    w.sandbox.pay_order(&order_no).unwrap();
    eventually("the payment's notification", || {
        merchant.received().len() == 1
    })
    .await;

    // DaxPay fails the refund at once and sends no callback for it (lifecycle.md §6.2); its
    // answer and paybridge's lookup are both lost: the merchant is told the outcome is unknown.
    relay.lose.store(true, Ordering::SeqCst);
    let refunds = format!("http://{}/refunds", merchant.addr);
    let answer = post_json(
        w.proxy,
        "/api/refund/refundOrder",
        &refund_body("S3", "RS3", paybridge_sandbox::REFUND_FAIL, &refunds),
    )
    .await
    .json();
    assert_eq!(answer["code"], 10, "unknown, not failed: {answer}");
    assert!(relay.lost.load(Ordering::SeqCst) >= 1);
    relay.lose.store(false, Ordering::SeqCst);

    eventually("the refund's notification", || {
        merchant.received().len() == 2
    })
    .await;
    let n = merchant.received().pop().unwrap();
    assert_eq!(n.path, "/refunds");
    assert!(n.verified, "{n:?}");
    assert_eq!(
        (
            n.params["state"].as_str(),
            n.params["mchRefundNo"].as_str(),
            n.params["refundAmount"].as_str()
        ),
        ("3", "RS3", "230")
    );
    assert_eq!(
        settled(&w.orders, SettlementKind::Refund, "RS3").await,
        (SettlementStatus::Final, Some("fail".to_owned()))
    );
    // The row learnt DaxPay's number: the refund query answers it.
    let row = w
        .orders
        .refund_by_mch_refund_no(JEEPAY_MCH, "RS3")
        .await
        .unwrap()
        .unwrap();
    let refund_no = w.sandbox.refunds().last().unwrap().refund_no.clone();
    assert_eq!(row.refund_order_id.as_deref(), Some(refund_no.as_str()));
}

#[tokio::test]
async fn an_order_whose_answers_were_lost_is_completed_and_notified_when_paid() {
    let merchant = Merchant::start(&["SUCCESS"]).await;
    let (w, relay) = world(Some(&["/unipay/pay", "/unipay/query/payOrder"])).await;
    let relay = relay.unwrap();
    relay.lose.store(true, Ordering::SeqCst);
    let answer = post_json(
        w.proxy,
        "/api/pay/unifiedOrder",
        &pay_body("S4", &format!("http://{}/pay", merchant.addr)),
    )
    .await
    .json();
    assert_eq!(answer["code"], 10, "unknown, not failed: {answer}");
    relay.lose.store(false, Ordering::SeqCst);
    let row = w
        .orders
        .pay_by_mch_order_no(JEEPAY_MCH, "S4")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.pay_order_id, None,
        "paybridge never heard DaxPay's number"
    );

    // DaxPay made the order; the payer pays it; its callback reaches paybridge or not: the
    // settlement finds it either way, and the row learns DaxPay's number.
    let order_no = w
        .sandbox
        .order_by_biz("S4")
        .expect("DaxPay made the order")
        .order_no;
    assert!(w.sandbox.set_order_status(&order_no, OrderStatus::Success));
    eventually("the payment's notification", || {
        merchant.received().len() == 1
    })
    .await;
    assert_eq!(merchant.received()[0].params["payOrderId"], order_no);
    let row = w
        .orders
        .pay_by_mch_order_no(JEEPAY_MCH, "S4")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.pay_order_id.as_deref(), Some(order_no.as_str()));
}

#[tokio::test]
async fn many_open_rows_are_each_checked_and_none_is_notified_twice() {
    let merchant = Merchant::start(&["SUCCESS"]).await;
    let (w, _) = world(None).await;
    let url = format!("http://{}/pay", merchant.addr);
    let mut paid = Vec::new();
    for i in 0..24 {
        let answer = post_json(
            w.proxy,
            "/api/pay/unifiedOrder",
            &pay_body(&format!("M{i}"), &url),
        )
        .await
        .json();
        let order_no = answer["data"]["payOrderId"].as_str().unwrap().to_owned();
        // Half paid silently, half through the callback.
        if i % 2 == 0 {
            assert!(w.sandbox.set_order_status(&order_no, OrderStatus::Success));
        } else {
            w.sandbox.pay_order(&order_no).unwrap();
        }
        paid.push(order_no);
    }
    eventually("24 notifications", || merchant.received().len() >= 24).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = merchant.received();
    let ids: HashSet<&str> = received
        .iter()
        .map(|n| n.params["payOrderId"].as_str())
        .collect();
    assert_eq!(received.len(), 24, "one each");
    assert_eq!(ids.len(), 24);
    assert!(paid.iter().all(|no| ids.contains(no.as_str())));
}

#[tokio::test]
async fn a_pending_row_several_requests_joined_waits_for_the_accepted_ones_answer() {
    let merchant = Merchant::start(&["SUCCESS"]).await;
    let (w, relay) = world(Some(&["/unipay/pay", "/unipay/query/payOrder"])).await;
    let relay = relay.unwrap();
    relay.lose.store(true, Ordering::SeqCst);
    let url = format!("http://{}/pay", merchant.addr);
    // The first request's outcome is lost; the merchant sends the order again (a new request:
    // new reqTime, new signature) with another notifyUrl, which joins the pending row and
    // reaches DaxPay too. (Requests alike in all the merchant sees would be one request sent
    // again: the row would take the first's fields, `soak_findings.rs`.)
    let first = post_json(w.proxy, "/api/pay/unifiedOrder", &pay_body("S5", &url))
        .await
        .json();
    assert_eq!(first["code"], 10, "{first}");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let other = format!("{url}/other");
    let again = post_json(w.proxy, "/api/pay/unifiedOrder", &pay_body("S5", &other))
        .await
        .json();
    assert_eq!(again["code"], 10, "{again}");
    relay.lose.store(false, Ordering::SeqCst);
    assert_eq!(
        w.orders
            .live_attempts(SettlementKind::Pay, JEEPAY_MCH, "S5")
            .await
            .unwrap(),
        2
    );
    // DaxPay made the order for one of them; nothing the query says tells which (the amount
    // and attach are alike, the notifyUrl is not): the row is not completed with a guess, and
    // the entry stays open, saying why.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let entry = w
        .orders
        .settlement(SettlementKind::Pay, JEEPAY_MCH, "S5")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.status, SettlementStatus::Open, "{entry:?}");
    assert!(
        entry
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("several requests")),
        "{entry:?}"
    );
    let row = w
        .orders
        .pay_by_mch_order_no(JEEPAY_MCH, "S5")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.pay_order_id, None, "not completed on a guess");
    assert!(merchant.received().is_empty());
}
