//! F10's refund twin (docs/reliability.md, "F10, fixed"), through real sockets: paybridge in
//! front of a relay that steers its calls on DaxPay (the sandbox) one by one, DaxPay's
//! callbacks sent where nobody listens (2.0.8 makes one attempt; here 3.0's retries fail too).
//!
//! A refund whose answer was lost is joined by a second request of its number (another
//! notifyUrl and extParam). A joined refund is probed on every DaxPay version, and marked
//! possibly sent before its call: one whose instance died during its probe stands unmarked, is
//! no candidate for DaxPay's refund, and the row is settled with the first request's fields and
//! notified to it; one killed during its call is marked, stays a candidate, and the row is not
//! settled as the first's.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::instance::{send_to, Instance};
use common::merchant::Merchant;
use common::steering::Relay;
use common::*;
use http::StatusCode;
use paybridge::config::StoreUrl;
use paybridge::store::landing::Landing;
use paybridge::store::{OrderStore, RowState, SettlementKind};
use paybridge_sandbox::Sandbox;
use serde_json::Value;
use tokio::net::TcpListener;

const REFUND: &str = "/unipay/refund";
const REFUND_QUERY: &str = "/unipay/query/refundOrder";
const SERVER_ERROR: &str = r#"{"code":500,"msg":"系统错误","data":null}"#;

struct World {
    proxy: SocketAddr,
    sandbox: Sandbox,
    relay: Relay,
    /// The order store paybridge uses, opened on the same file.
    store: OrderStore,
    merchant: Merchant,
    /// paybridge's configuration, for the settlement worker's instance on the same store.
    toml: String,
    _sandbox: Running,
    _dir: tempfile::TempDir,
}

impl World {
    /// paybridge (a SQLite file, notifications retried every 50 ms, its `public_url` a port
    /// nobody listens on: DaxPay's callbacks are lost) in front of a relay steering `steered`,
    /// in front of a sandbox of DaxPay `version`.
    async fn start(version: &str, steered: &[&'static str]) -> World {
        let nowhere = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let mut sandbox_config = sandbox_toml(version, "hmac_sha256", &[]);
        if version != "2.0" {
            sandbox_config = sandbox_config.replace(
                "[sandbox]\n",
                "[sandbox]\ncallback_retry_ms = [50, 100, 200]\n",
            );
        }
        let (sb, sandbox) = start_sandbox(&sandbox_config).await;
        let relay = Relay::start(sb.addr, steered).await;
        let merchant = Merchant::start(&["SUCCESS"]).await;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/orders.sqlite", dir.path().display());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = listener.local_addr().unwrap();
        let toml = proxy_toml(relay.addr, version, "hmac_sha256", "", "")
            .replace(
                "[server]\n",
                &format!("[server]\npublic_url = \"http://{nowhere}\"\n"),
            )
            .replace("timeout_ms = 2000", "timeout_ms = 8000")
            .replace("url = \"sqlite::memory:\"", &format!("url = \"{url}\""))
            + "\n[notify]\nretry_step_ms = 50\nallow_private_targets = true\n";
        let config = Arc::new(paybridge::config::Config::from_toml(&toml).unwrap());
        let gateway = paybridge::proxy::Gateway::new(config.clone());
        gateway.start_notifier();
        let service = paybridge::app::proxy_service(gateway, config.server.max_in_flight);
        tokio::spawn(paybridge::server::serve(
            listener,
            service,
            std::future::pending::<()>(),
            Duration::from_secs(1),
        ));
        World {
            proxy,
            sandbox,
            relay,
            store: OrderStore::open(&StoreUrl::parse(&url).unwrap()).unwrap(),
            merchant,
            toml,
            _sandbox: sb,
            _dir: dir,
        }
    }

    /// A second paybridge on the same store and relay that only runs the settlement worker.
    fn start_settlement_worker(&self) {
        common::instance::start_settlement_worker(&self.toml);
    }

    /// Sends `body` to `path` in the background.
    fn send(&self, path: &'static str, body: Value) -> tokio::task::JoinHandle<Value> {
        let proxy = self.proxy;
        tokio::spawn(async move { post_json(proxy, path, &body).await.json() })
    }

    /// The merchant's URL `path`, for notifications.
    fn notify(&self, path: &str) -> String {
        format!("http://{}{path}", self.merchant.addr)
    }

    /// A paid order `no` (no notifyUrl of its own: only refunds are notified here).
    async fn paid(&self, no: &str) {
        let body = jeepay_body(&[
            ("mchOrderNo", no),
            ("wayCode", "WX_NATIVE"),
            ("amount", "4385"),
            ("currency", "cny"),
            ("subject", "s"),
            ("body", "b"),
        ]);
        let answer = self.send("/api/pay/unifiedOrder", body).await.unwrap();
        assert_eq!(answer["code"], 0, "{answer}");
        self.sandbox.pay_order(no).unwrap();
    }

    async fn refund_row(&self, no: &str) -> paybridge::store::RefundRow {
        self.store
            .refund_by_mch_refund_no(JEEPAY_MCH, no)
            .await
            .unwrap()
            .unwrap()
    }
}

/// A refund of 7.53 of `order` under `no`, notified to `notify`, `ext` echoed.
fn refund(order: &str, no: &str, notify: &str, ext: &str) -> Value {
    jeepay_body(&[
        ("mchOrderNo", order),
        ("mchRefundNo", no),
        ("refundAmount", "753"),
        ("currency", "cny"),
        ("refundReason", "r"),
        ("notifyUrl", notify),
        ("extParam", ext),
    ])
}

/// A's refund is held on its way (its answer lost, its lookup finding nothing yet: answered
/// unknown). B, the same number and amount with another notifyUrl and extParam, joins on
/// another instance; its probe is held at the relay and that instance is killed, before
/// anything was sent (B's attempt is never given up). A then lands: DaxPay refunds (2.0: the
/// channel settles it later), and its callbacks find nobody. Before the fix the row stayed
/// pending with two live attempts for good (`SEVERAL_JOINED`); now the settlement worker
/// settles it as A's, A's notifyUrl is told once (state 2, A's extParam), and the refund query
/// answers A's fields.
async fn a_refund_beside_a_joined_request_that_died_unsent_is_settled(version: &str) {
    let mut w = World::start(version, &[REFUND, REFUND_QUERY]).await;
    let (to_a, to_b) = (w.notify("/a"), w.notify("/b"));
    w.paid("J1").await;
    let a = w.send(
        "/api/refund/refundOrder",
        refund("J1", "J1R", &to_a, "fs5963"),
    );
    let (release, landed) = w.relay.next(REFUND).await.land_later();
    w.relay.next(REFUND_QUERY).await.forward();
    let answer = a.await.unwrap();
    assert_eq!(answer["code"], 10, "{answer}");

    let instance = Instance::start(&w.toml);
    let b = send_to(
        instance.addr,
        "/api/refund/refundOrder",
        refund("J1", "J1R", &to_b, "fs6264"),
    );
    let _held_probe = w.relay.next(REFUND_QUERY).await;
    instance.kill();
    let _ = b.await;
    let attempts = w.store.refund_attempts(JEEPAY_MCH, "J1R").await.unwrap();
    assert_eq!(attempts.len(), 2, "B's attempt stands: {attempts:?}");
    assert_eq!(w.relay.calls(REFUND), 1, "B was never sent");

    release.send(()).unwrap();
    landed.await.unwrap();
    if version == "2.0" {
        // 2.0.8's WeChat refund is asynchronous: the channel settles it now (its notices lost).
        let refunds = w.sandbox.refunds();
        w.sandbox.succeed_refund(&refunds[0].refund_no).unwrap();
    }
    // From here every steered call is a query (the worker's, the merchant's), let through.
    w.relay.forward_the_rest();
    w.start_settlement_worker();
    eventually("the refund notified", || !w.merchant.received().is_empty()).await;
    let told = &w.merchant.received()[0];
    assert_eq!(told.path, "/a", "{told:?}");
    assert_eq!(told.params["state"], "2", "{told:?}");
    assert_eq!(told.params["extParam"], "fs5963", "{told:?}");
    assert_eq!(told.params["mchRefundNo"], "J1R", "{told:?}");
    assert!(told.verified, "{told:?}");
    let row = w.refund_row("J1R").await;
    assert_ne!(row.state, RowState::Pending);
    assert_eq!(row.notify_url.as_deref(), Some(to_a.as_str()));
    assert_eq!(row.ext_param.as_deref(), Some("fs5963"));

    let query = w.send("/api/refund/query", jeepay_body(&[("mchRefundNo", "J1R")]));
    let answer = query.await.unwrap();
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(answer["data"]["state"], 2, "{answer}");
    assert_eq!(answer["data"]["extParam"], "fs5963", "{answer}");
    assert_eq!(answer["data"]["refundAmount"], 753, "{answer}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let told = w.merchant.received();
    assert_eq!(told.len(), 1, "notified once: {told:?}");
}

#[tokio::test]
async fn on_2_0_a_refund_beside_a_joined_request_that_died_unsent_is_settled_and_notified() {
    a_refund_beside_a_joined_request_that_died_unsent_is_settled("2.0").await;
}

#[tokio::test]
async fn on_3_0_a_refund_beside_a_joined_request_that_died_unsent_is_settled_and_notified() {
    a_refund_beside_a_joined_request_that_died_unsent_is_settled("3.0").await;
}

/// The other half of the rule: a joined refund that got past its probe is marked as possibly
/// sent before its call, so one killed during the call stays a candidate. A's refund never
/// reached DaxPay (its outcome unknown; its window then past, written to the store as though
/// the time had passed); B (another notifyUrl and extParam) joins, its probe finds nothing, it
/// is sent and DaxPay refunds, and B's instance is killed before the answer. DaxPay's
/// refund is B's: neither the merchant's refund query nor the settlement worker may settle the
/// row with A's fields, nor notify A.
#[tokio::test]
async fn on_2_0_a_joined_refund_killed_during_its_call_stays_a_candidate() {
    let mut w = World::start("2.0", &[REFUND, REFUND_QUERY]).await;
    let (to_a, to_b) = (w.notify("/a"), w.notify("/b"));
    w.paid("J2").await;
    let a = w.send("/api/refund/refundOrder", refund("J2", "J2R", &to_a, "fs1"));
    w.relay
        .next(REFUND)
        .await
        .answer(StatusCode::BAD_GATEWAY, "");
    w.relay
        .next(REFUND_QUERY)
        .await
        .answer(StatusCode::INTERNAL_SERVER_ERROR, SERVER_ERROR);
    let answer = a.await.unwrap();
    assert_eq!(answer["code"], 10, "{answer}");
    let first = w.store.refund_attempts(JEEPAY_MCH, "J2R").await.unwrap();
    let first = first[0].attempt.clone().unwrap();
    w.store
        .mark_landing(
            SettlementKind::Refund,
            JEEPAY_MCH,
            "J2R",
            &first,
            Landing::SentUntil(1),
        )
        .await
        .unwrap();

    let instance = Instance::start(&w.toml);
    let b = send_to(
        instance.addr,
        "/api/refund/refundOrder",
        refund("J2", "J2R", &to_b, "fs2"),
    );
    w.relay.next(REFUND_QUERY).await.forward();
    let _answer_held = w.relay.next(REFUND).await.forward_held();
    // DaxPay has B's request before B's instance dies.
    let sandbox = w.sandbox.clone();
    eventually("DaxPay refunded", move || sandbox.refunds().len() == 1).await;
    instance.kill();
    let _ = b.await;
    let windows = w
        .store
        .attempt_windows(SettlementKind::Refund, JEEPAY_MCH, "J2R")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(windows.live, 2, "B's attempt stands: {windows:?}");
    // The channel settles B's refund (its notices lost).
    let refunds = w.sandbox.refunds();
    w.sandbox.succeed_refund(&refunds[0].refund_no).unwrap();

    w.relay.forward_the_rest();
    let query = w.send("/api/refund/query", jeepay_body(&[("mchRefundNo", "J2R")]));
    let answer = query.await.unwrap();
    assert_eq!(answer["code"], 0, "{answer}");
    // 2.0's refund query has no attach, and A and B asked with different ones: nobody's is
    // answered (A's would be another request's).
    assert!(answer["data"]["extParam"].is_null(), "{answer}");
    w.start_settlement_worker();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let row = w.refund_row("J2R").await;
    assert!(
        row.state == RowState::Pending || row.ext_param.as_deref() != Some("fs1"),
        "not settled as A's: {row:?}"
    );
    let told = w.merchant.received();
    assert!(told.iter().all(|t| t.path != "/a"), "A not told: {told:?}");
    // What keeps it a candidate: its mark, written before its call.
    let b_window = windows.windows.iter().find(|x| x.attempt != first).unwrap();
    assert!(b_window.sent_until_ms.is_some(), "B marked: {windows:?}");
}
