//! DaxPay 2.0.8 sends a notice once and waits 5 s for `SUCCESS` (lifecycle-2.0.md §7.1): the
//! queries that confirm a notice end within paybridge's 3 s budget however slow DaxPay answers
//! them, through real sockets. The confirming query is held at a steering relay (DaxPay's
//! upstream timeout is the shipped 10 s), and DaxPay's callback is answered while it is still
//! held: `SUCCESS` when the settlement worker will confirm the notice (it then does, and the
//! merchant is notified once), the refusal when nothing would.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::merchant::Merchant;
use common::steering::Relay;
use common::*;
use tokio::net::TcpListener;

const SIGN_TYPES: [&str; 2] = ["hmac_sha256", "md5"];
const PAY_QUERY: &str = "/unipay/query/payOrder";
const REFUND_QUERY: &str = "/unipay/query/refundOrder";

/// The settlement worker runs, but checks a row of its own accord only a minute after it is
/// written: the queries the relay holds are the callback's, and the worker's only those a
/// notice brings forward (1, 3 and 8 s after it).
const WORKER: &str = "\n[settlement]\nfirst_check_after_ms = 60000\npoll_ms = 20\n";
const NO_SETTLEMENT: &str = "\n[settlement]\nenabled = false\n";

/// paybridge (notifier and settlement worker running, DaxPay's timeout the shipped 10 s) in
/// front of `dax`.
async fn paybridge(dax: SocketAddr, sign_type: &str, settlement: &str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = listener.local_addr().unwrap();
    let toml = proxy_toml(dax, "2.0", sign_type, "", "")
        .replace("timeout_ms = 2000", "timeout_ms = 10000")
        .replace(
            "[server]\n",
            &format!("[server]\npublic_url = \"http://{proxy}\"\n"),
        )
        + "\n[notify]\nretry_step_ms = 50\nallow_private_targets = true\n"
        + settlement;
    let config = Arc::new(paybridge::config::Config::from_toml(&toml).expect("valid"));
    let gateway = paybridge::proxy::Gateway::new(config.clone());
    gateway.start_notifier();
    gateway.start_settlement();
    let service = paybridge::app::proxy_service(gateway, config.server.max_in_flight);
    tokio::spawn(paybridge::server::serve(
        listener,
        service,
        std::future::pending::<()>(),
        Duration::from_secs(1),
    ));
    proxy
}

/// A WeChat QR order `no` of 12.30, notified to `merchant`: DaxPay's number.
async fn created(proxy: SocketAddr, no: &str, merchant: &Merchant) -> String {
    let notify = format!("http://{}/pay", merchant.addr);
    let body = jeepay_body(&[
        ("mchOrderNo", no),
        ("wayCode", "WX_NATIVE"),
        ("amount", "1230"),
        ("currency", "cny"),
        ("subject", "s"),
        ("body", "b"),
        ("notifyUrl", &notify),
    ]);
    let answer = post_json(proxy, "/api/pay/unifiedOrder", &body)
        .await
        .json();
    assert_eq!(answer["code"], 0, "{answer}");
    answer["data"]["payOrderId"].as_str().unwrap().to_owned()
}

/// The answer DaxPay's (only) callback got, once it has one.
async fn answered(sandbox: &paybridge_sandbox::Sandbox) -> Option<String> {
    eventually("DaxPay's callback answered", || {
        sandbox
            .callbacks()
            .first()
            .is_some_and(|c| c.answer.is_some())
    })
    .await;
    sandbox.callbacks()[0].answer.clone()
}

#[tokio::test]
async fn a_pay_notice_is_acknowledged_while_its_confirming_query_is_still_held() {
    for sign_type in SIGN_TYPES {
        let (sb, sandbox) = start_sandbox(&sandbox_toml("2.0", sign_type, &[])).await;
        let mut relay = Relay::start(sb.addr, &[PAY_QUERY]).await;
        let proxy = paybridge(relay.addr, sign_type, WORKER).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        let order_no = created(proxy, "B1", &merchant).await;
        sandbox.pay_order(&order_no).unwrap();
        // The callback's confirming query reaches the relay and is held there, undecided, while
        // DaxPay's callback is answered.
        let held = relay.next(PAY_QUERY).await;
        assert_eq!(
            answered(&sandbox).await.as_deref(),
            Some("SUCCESS"),
            "{sign_type}"
        );
        assert!(merchant.received().is_empty(), "never on the notice's word");
        // paybridge gave the query up; from now on DaxPay answers: the settlement worker
        // confirms the payment and notifies the merchant once.
        drop(held);
        relay.forward_the_rest();
        eventually("the notification", || merchant.received().len() == 1).await;
        let n = &merchant.received()[0];
        assert!(n.verified && n.params["state"] == "2", "{n:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(merchant.received().len(), 1, "once");
    }
}

/// With no settlement worker nothing would confirm the notice later: it is refused, in time.
#[tokio::test]
async fn with_nothing_to_follow_it_up_the_refusal_comes_while_the_query_is_still_held() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("2.0", "md5", &[])).await;
    let mut relay = Relay::start(sb.addr, &[PAY_QUERY]).await;
    let proxy = paybridge(relay.addr, "md5", NO_SETTLEMENT).await;
    let merchant = Merchant::start(&["SUCCESS"]).await;
    let order_no = created(proxy, "B2", &merchant).await;
    sandbox.pay_order(&order_no).unwrap();
    let held = relay.next(PAY_QUERY).await;
    assert_eq!(answered(&sandbox).await.as_deref(), Some("FAIL"));
    drop(held);
    assert!(merchant.received().is_empty());
}

/// The same for a refund's notice: its confirming refund query held, the notice acknowledged.
#[tokio::test]
async fn a_refund_notice_is_acknowledged_while_its_confirming_query_is_still_held() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("2.0", "hmac_sha256", &[])).await;
    let mut relay = Relay::start(sb.addr, &[REFUND_QUERY]).await;
    let proxy = paybridge(relay.addr, "hmac_sha256", WORKER).await;
    let merchant = Merchant::start(&["SUCCESS"]).await;
    let order_no = created(proxy, "B3", &merchant).await;
    sandbox.pay_order(&order_no).unwrap();
    eventually("the pay notification", || merchant.received().len() == 1).await;
    let notify = format!("http://{}/refund", merchant.addr);
    let body = jeepay_body(&[
        ("mchOrderNo", "B3"),
        ("mchRefundNo", "B3-R1"),
        ("refundAmount", "230"),
        ("currency", "cny"),
        ("refundReason", "r"),
        ("notifyUrl", &notify),
    ]);
    let refunding = tokio::spawn(async move {
        post_json(proxy, "/api/refund/refundOrder", &body)
            .await
            .json()
    });
    // 2.0 takes a refund's outcome from its query: let that one through.
    relay.next(REFUND_QUERY).await.forward();
    let answer = refunding.await.unwrap();
    assert_eq!(answer["code"], 0, "{answer}");
    let refund_no = answer["data"]["refundOrderId"].as_str().unwrap().to_owned();
    let before = sandbox.callbacks().len();
    sandbox.succeed_refund(&refund_no).unwrap();
    let held = relay.next(REFUND_QUERY).await;
    eventually("the refund notice answered", || {
        sandbox.callbacks().len() > before && sandbox.callbacks()[before].answer.is_some()
    })
    .await;
    assert_eq!(
        sandbox.callbacks()[before].answer.as_deref(),
        Some("SUCCESS")
    );
    drop(held);
    relay.forward_the_rest();
    eventually("the refund notification", || {
        merchant.received().iter().any(|n| n.path == "/refund")
    })
    .await;
}
