//! The lifecycle soak's findings (issue 19, `/work/prompts/soak-findings.md` F1, F2), each
//! reproduced through real sockets: paybridge in front of a relay that steers its calls on
//! DaxPay (the sandbox) one by one, as in `money_state_rows.rs`.
//!
//! - F1: a pay query while the order's creating answer was lost answers with the store's fields
//!   (way code, currency, the payer's IP, when it was made) of the request DaxPay's order was
//!   made from, and records what it learnt.
//! - F2: a request under a number whose earlier request's outcome is unknown, with other fields,
//!   is not told it created the order the earlier request made; the row and its notification
//!   carry the fields of the request DaxPay acted on.

mod common;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::instance::{send_to, Instance};
use common::steering::Relay;
use common::*;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use paybridge::config::StoreUrl;
use paybridge::store::{OrderStore, RowState};
use paybridge_sandbox::Sandbox;
use serde_json::Value;
use tokio::net::TcpListener;

const PAY: &str = "/unipay/pay";
const PAY_QUERY: &str = "/unipay/query/payOrder";

// ---------------------------------------------------------------------------------------------
// The merchant's notify endpoint and the world
// ---------------------------------------------------------------------------------------------

/// A notification as the merchant received it: its path and its form's parameters.
type Received = (String, BTreeMap<String, String>);

/// A merchant endpoint that acknowledges everything.
#[derive(Clone, Default)]
struct Merchant {
    received: Arc<Mutex<Vec<Received>>>,
}

impl Merchant {
    async fn start() -> (Merchant, SocketAddr) {
        let merchant = Merchant::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = merchant.received.clone();
        let service = tower::service_fn(move |req: Request<hyper::body::Incoming>| {
            let seen = seen.clone();
            async move {
                let path = req.uri().path().to_owned();
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let params = form_urlencoded::parse(&body).into_owned().collect();
                seen.lock().unwrap().push((path, params));
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"SUCCESS"))))
            }
        });
        tokio::spawn(paybridge::server::serve(
            listener,
            service,
            std::future::pending::<()>(),
            Duration::from_millis(100),
        ));
        (merchant, addr)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The first notification, once one came (waiting at most 5 s).
    async fn first(&self) -> Received {
        for _ in 0..250 {
            if let Some(first) = self.received().into_iter().next() {
                return first;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no notification within 5 s");
    }
}

struct World {
    proxy: SocketAddr,
    sandbox: Sandbox,
    relay: Relay,
    /// The order store paybridge uses, opened on the same file.
    store: OrderStore,
    merchant: Merchant,
    /// paybridge's configuration, for a second instance on the same store.
    toml: String,
    /// The merchant endpoint's base URL.
    notify: String,
    _sandbox: Running,
    _dir: tempfile::TempDir,
}

impl World {
    /// paybridge (its own `public_url`, a SQLite file, notifications retried every 50 ms) in
    /// front of a relay steering `steered`, in front of the sandbox.
    async fn start(steered: &[&'static str]) -> World {
        World::start_on("3.0", steered).await
    }

    /// The same in front of a sandbox of DaxPay `version`.
    async fn start_on(version: &str, steered: &[&'static str]) -> World {
        World::start_configured(version, steered, None).await
    }

    /// The same, DaxPay's callbacks sent to `callback_url` instead of paybridge (`None`:
    /// paybridge itself).
    async fn start_configured(
        version: &str,
        steered: &[&'static str],
        callback_url: Option<String>,
    ) -> World {
        let mut sandbox_config = sandbox_toml(version, "hmac_sha256", &[]);
        if version != "2.0" {
            sandbox_config = sandbox_config.replace(
                "[sandbox]\n",
                "[sandbox]\ncallback_retry_ms = [50, 100, 200]\n",
            );
        }
        let (sb, sandbox) = start_sandbox(&sandbox_config).await;
        let relay = Relay::start(sb.addr, steered).await;
        let (merchant, merchant_addr) = Merchant::start().await;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/orders.sqlite", dir.path().display());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = listener.local_addr().unwrap();
        let toml = proxy_toml(relay.addr, version, "hmac_sha256", "", "")
            .replace(
                "[server]\n",
                &format!(
                    "[server]\npublic_url = \"{}\"\n",
                    callback_url.unwrap_or_else(|| format!("http://{proxy}"))
                ),
            )
            .replace("timeout_ms = 2000", "timeout_ms = 8000")
            .replace("url = \"sqlite::memory:\"", &format!("url = \"{url}\""))
            + "\n[notify]\nretry_step_ms = 50\nallow_private_targets = true\n";
        let config = Arc::new(paybridge::config::Config::from_toml(&toml).unwrap());
        let toml = toml.clone();
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
            notify: format!("http://{merchant_addr}"),
            toml,
            _sandbox: sb,
            _dir: dir,
        }
    }

    /// A second paybridge on the same store and relay that only runs the settlement worker,
    /// started once the requests of a test are done (its queries then come in a known order).
    fn start_settlement_worker(&self) {
        common::instance::start_settlement_worker(&self.toml);
    }

    /// Sends `body` to `path` in the background.
    fn send(&self, path: &'static str, body: Value) -> tokio::task::JoinHandle<Value> {
        let proxy = self.proxy;
        tokio::spawn(async move { post_json(proxy, path, &body).await.json() })
    }
}

/// A WeChat QR pay of `fen` under `no`, its notification to `notify`, `ext` echoed.
fn pay(no: &str, fen: &str, notify: &str, ext: &str) -> Value {
    jeepay_body(&[
        ("mchOrderNo", no),
        ("wayCode", "WX_NATIVE"),
        ("amount", fen),
        ("currency", "cny"),
        ("subject", "s"),
        ("body", "b"),
        ("notifyUrl", notify),
        ("extParam", ext),
    ])
}

fn pay_query(no: &str) -> Value {
    jeepay_body(&[("mchOrderNo", no)])
}

const SERVER_ERROR: &str = r#"{"code":500,"msg":"系统错误","data":null}"#;
const EARLIER_UNKNOWN: &str = "系统异常[上次请求结果未知，请稍后查询订单]";

/// Request `body` whose call DaxPay carries out but whose answer is lost, and whose lookup
/// fails: answered unknown (code 10), the order made on DaxPay.
async fn lost(w: &mut World, body: Value) -> Value {
    let pending = w.send("/api/pay/unifiedOrder", body);
    w.relay.next(PAY).await.forward_and_lose();
    w.relay
        .next(PAY_QUERY)
        .await
        .answer(StatusCode::INTERNAL_SERVER_ERROR, SERVER_ERROR);
    let answer = pending.await.unwrap();
    assert_eq!(answer["code"], 10, "{answer}");
    answer
}

// ---------------------------------------------------------------------------------------------
// F1. A pay query while the row has no DaxPay number yet
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn f1_a_pay_query_of_an_order_whose_answer_was_lost_has_the_stores_fields() {
    let mut w = World::start(&[PAY, PAY_QUERY]).await;
    let notify = format!("{}/a", w.notify);
    lost(&mut w, pay("Q1", "4211", &notify, "fs1")).await;
    let row = w
        .store
        .pay_by_mch_order_no(JEEPAY_MCH, "Q1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, RowState::Pending);

    let query = w.send("/api/pay/query", pay_query("Q1"));
    w.relay.next(PAY_QUERY).await.forward();
    let answer = query.await.unwrap();
    assert_eq!(answer["code"], 0, "{answer}");
    let data = &answer["data"];
    assert_eq!(data["extParam"], "fs1", "{answer}");
    assert_eq!(
        data["wayCode"], "WX_NATIVE",
        "the store's way code: {answer}"
    );
    assert_eq!(data["currency"], "cny", "{answer}");
    assert_eq!(data["clientIp"], "127.0.0.1", "{answer}");
    assert_eq!(data["createdAt"], row.created_at_ms, "{answer}");

    // What the query learnt is recorded: the row has DaxPay's number, with the request's fields.
    let row = w
        .store
        .pay_by_mch_order_no(JEEPAY_MCH, "Q1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, RowState::Created);
    assert_eq!(row.pay_order_id.as_deref(), data["payOrderId"].as_str());
    assert_eq!(row.notify_url.as_deref(), Some(notify.as_str()));
}

/// Two requests under the number, both possible makers: the query answers the fields of the
/// one whose amount and extParam DaxPay's order has, never the other's.
#[tokio::test]
async fn f1_a_pay_query_takes_the_fields_of_the_request_daxpays_order_matches() {
    let mut w = World::start(&[PAY, PAY_QUERY]).await;
    let (to_a, to_b) = (format!("{}/a", w.notify), format!("{}/b", w.notify));
    lost(&mut w, pay("Q2", "300", &to_a, "a")).await;
    // B joins; DaxPay refuses it before acting (its answer never reaches paybridge either).
    let b = w.send(
        "/api/pay/unifiedOrder",
        jeepay_body(&[
            ("mchOrderNo", "Q2"),
            ("wayCode", "ALI_QR"),
            ("amount", "500"),
            ("currency", "cny"),
            ("subject", "s"),
            ("body", "b"),
            ("notifyUrl", &to_b),
            ("extParam", "b"),
        ]),
    );
    w.relay.next(PAY).await.answer(StatusCode::BAD_GATEWAY, "");
    w.relay
        .next(PAY_QUERY)
        .await
        .answer(StatusCode::INTERNAL_SERVER_ERROR, SERVER_ERROR);
    assert_eq!(b.await.unwrap()["code"], 10);

    let query = w.send("/api/pay/query", pay_query("Q2"));
    w.relay.next(PAY_QUERY).await.forward();
    let answer = query.await.unwrap();
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(answer["data"]["extParam"], "a", "{answer}");
    assert_eq!(
        answer["data"]["wayCode"], "WX_NATIVE",
        "A's, not B's: {answer}"
    );
    let row = w
        .store
        .pay_by_mch_order_no(JEEPAY_MCH, "Q2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, RowState::Created);
    assert_eq!(row.notify_url.as_deref(), Some(to_a.as_str()));
    assert_eq!(row.amount_fen, 300);
}

// ---------------------------------------------------------------------------------------------
// F2. A request with other fields under a number whose first outcome is unknown
// ---------------------------------------------------------------------------------------------

/// The soak's trail: A made the order (answer lost), B (other notifyUrl and extParam) is sent,
/// its own answer lost too, and its lookup finds A's order. B is told the number exists; the
/// row and the notification are A's.
#[tokio::test]
async fn f2_a_request_with_other_fields_is_not_told_it_created_the_earlier_requests_order() {
    let mut w = World::start(&[PAY, PAY_QUERY]).await;
    let (to_a, to_b) = (format!("{}/a", w.notify), format!("{}/b", w.notify));
    lost(&mut w, pay("R1", "3485", &to_a, "fs1211")).await;

    let b = w.send("/api/pay/unifiedOrder", pay("R1", "3485", &to_b, "fs1526"));
    // DaxPay refuses B (20044: the order exists); paybridge never sees it and looks up.
    w.relay.next(PAY).await.forward_and_lose();
    w.relay.next(PAY_QUERY).await.forward();
    let answer = b.await.unwrap();
    assert_ne!(answer["code"], 0, "B did not create the order: {answer}");
    assert_eq!(answer["msg"], "商户订单[R1]已存在", "{answer}");

    let row = w
        .store
        .pay_by_mch_order_no(JEEPAY_MCH, "R1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, RowState::Created, "A's order recorded");
    assert_eq!(row.notify_url.as_deref(), Some(to_a.as_str()));
    assert_eq!(row.ext_param.as_deref(), Some("fs1211"));

    // The payer pays: the notification goes to A's notifyUrl, with A's fields.
    w.sandbox
        .pay_order(row.pay_order_id.as_deref().unwrap())
        .unwrap();
    // The callback's intake reads the order again.
    w.relay.next(PAY_QUERY).await.forward();
    let (path, params) = w.merchant.first().await;
    assert_eq!(path, "/a");
    assert_eq!(params["extParam"], "fs1211");
    assert_eq!(params["amount"], "3485");
    assert_eq!(params["state"], "2");
    // B's URL never hears of it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(w.merchant.received().iter().all(|(p, _)| p == "/a"));
}

/// B differs from A only where DaxPay's record cannot tell them apart (the notifyUrl): B is
/// answered unknown, not "created"; the row waits for DaxPay's callback, whose token names A.
#[tokio::test]
async fn f2_a_request_daxpays_record_cannot_tell_from_the_maker_is_answered_unknown() {
    let mut w = World::start(&[PAY, PAY_QUERY]).await;
    let (to_a, to_b) = (format!("{}/a", w.notify), format!("{}/b", w.notify));
    lost(&mut w, pay("R2", "700", &to_a, "same")).await;

    let b = w.send("/api/pay/unifiedOrder", pay("R2", "700", &to_b, "same"));
    w.relay.next(PAY).await.forward_and_lose();
    w.relay.next(PAY_QUERY).await.forward();
    let answer = b.await.unwrap();
    assert_eq!(answer["code"], 10, "{answer}");
    assert_eq!(answer["msg"], EARLIER_UNKNOWN, "{answer}");
    let row = w
        .store
        .pay_by_mch_order_no(JEEPAY_MCH, "R2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, RowState::Pending, "nothing says whose it is yet");

    // Paid: DaxPay calls A's relay URL back; the row becomes A's, the notification goes to A.
    w.sandbox.pay_order("R2").unwrap();
    w.relay.next(PAY_QUERY).await.forward();
    let (path, params) = w.merchant.first().await;
    assert_eq!(path, "/a");
    assert_eq!(params["state"], "2");
    let row = w
        .store
        .pay_by_mch_order_no(JEEPAY_MCH, "R2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, RowState::Created);
    assert_eq!(row.notify_url.as_deref(), Some(to_a.as_str()));
}

// ---------------------------------------------------------------------------------------------
// The store's list of a number's pay attempts, on both backends
// ---------------------------------------------------------------------------------------------

fn attempt_row(id: &str, created_at_ms: i64, notify: &str, ext: &str) -> paybridge::store::PayRow {
    paybridge::store::PayRow {
        mch_no: "M1".to_owned(),
        app_id: "app1".to_owned(),
        mch_order_no: "S1".to_owned(),
        pay_order_id: None,
        way_code: "WX_NATIVE".to_owned(),
        currency: "cny".to_owned(),
        client_ip: None,
        amount_fen: 100,
        subject: "s".to_owned(),
        body: "b".to_owned(),
        ext_param: Some(ext.to_owned()),
        notify_url: Some(notify.to_owned()),
        return_url: None,
        upstream: "daxpay".to_owned(),
        created_at_ms,
        state: RowState::Pending,
        token: Some(format!("tok-{id}")),
        attempt: Some(id.to_owned()),
    }
}

/// Every attempt of a number, oldest first, each with its own fields and the row's state.
async fn pay_attempts_are_listed(store: OrderStore) {
    let (a, b) = (
        attempt_row("a", 1_000, "/a", "x"),
        attempt_row("b", 2_000, "/b", "y"),
    );
    store.insert_pay(&a).await.unwrap();
    store.join_pay(&b).await.unwrap();
    let listed = store.pay_attempts("M1", "S1").await.unwrap();
    assert_eq!(listed, vec![a.clone(), b.clone()]);
    store.complete_pay("M1", "S1", "P9", &a).await.unwrap();
    let listed = store.pay_attempts("M1", "S1").await.unwrap();
    assert!(listed
        .iter()
        .all(|r| r.state == RowState::Created && r.pay_order_id.as_deref() == Some("P9")));
    assert_eq!(listed[1].notify_url.as_deref(), Some("/b"));
    assert!(store.pay_attempts("M1", "S2").await.unwrap().is_empty());
}

#[tokio::test]
async fn pay_attempts_are_listed_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/orders.sqlite", dir.path().display());
    pay_attempts_are_listed(OrderStore::open(&StoreUrl::parse(&url).unwrap()).unwrap()).await;
}

#[tokio::test]
async fn pay_attempts_are_listed_on_postgres() {
    let Some(url) = postgres_database("pay_attempts").await else {
        return;
    };
    pay_attempts_are_listed(OrderStore::open(&StoreUrl::parse(&url).unwrap()).unwrap()).await;
}

// ---------------------------------------------------------------------------------------------
// The settlement worker settles a row several requests joined when DaxPay's record names one
// ---------------------------------------------------------------------------------------------

/// A made the order, B (other fields) joined; neither learnt anything (both lookups failed).
/// The worker finds DaxPay's order, whose amount and extParam are A's: the row becomes A's at
/// once, not left open for a callback that an unpaid order never sends.
#[tokio::test]
async fn the_worker_settles_a_joined_pay_row_with_the_request_daxpays_record_names() {
    let mut w = World::start(&[PAY, PAY_QUERY]).await;
    let (to_a, to_b) = (format!("{}/a", w.notify), format!("{}/b", w.notify));
    lost(&mut w, pay("W1", "900", &to_a, "a")).await;
    lost(&mut w, pay("W1", "900", &to_b, "b")).await;
    let row = settled_by_the_worker(&mut w, "W1").await;
    assert_eq!(row.notify_url.as_deref(), Some(to_a.as_str()));
    assert_eq!(row.ext_param.as_deref(), Some("a"));
}

/// The merchant sent the same order twice (a new reqTime): one request sent again. The row
/// takes the first's fields (its createdAt), as Jeepay would report the order.
#[tokio::test]
async fn the_worker_settles_a_row_of_alike_requests_with_the_first() {
    let mut w = World::start(&[PAY, PAY_QUERY]).await;
    let to_a = format!("{}/a", w.notify);
    lost(&mut w, pay("W2", "900", &to_a, "a")).await;
    let first = w
        .store
        .pay_by_mch_order_no(JEEPAY_MCH, "W2")
        .await
        .unwrap()
        .unwrap();
    lost(&mut w, pay("W2", "900", &to_a, "a")).await;
    let row = settled_by_the_worker(&mut w, "W2").await;
    assert_eq!(row.created_at_ms, first.created_at_ms);
    assert_eq!(row.token, first.token);
}

/// Starts a settlement worker and forwards its queries until the row `no` is created.
async fn settled_by_the_worker(w: &mut World, no: &str) -> paybridge::store::PayRow {
    let row = w
        .store
        .pay_by_mch_order_no(JEEPAY_MCH, no)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state, RowState::Pending);
    w.start_settlement_worker();
    for _ in 0..20 {
        w.relay.next(PAY_QUERY).await.forward();
        let row = w
            .store
            .pay_by_mch_order_no(JEEPAY_MCH, no)
            .await
            .unwrap()
            .unwrap();
        if row.state == RowState::Created {
            return row;
        }
    }
    panic!("the worker left the row open");
}

// ---------------------------------------------------------------------------------------------
// F3. A refund retry with other fields while the first request may still land
// ---------------------------------------------------------------------------------------------

const REFUND: &str = "/unipay/refund";
const REFUND_QUERY: &str = "/unipay/query/refundOrder";

fn refund(order: &str, no: &str, notify: &str, ext: &str) -> Value {
    jeepay_body(&[
        ("mchOrderNo", order),
        ("mchRefundNo", no),
        ("refundAmount", "3947"),
        ("currency", "cny"),
        ("refundReason", "SANDBOX_REFUND_FAIL"),
        ("notifyUrl", notify),
        ("extParam", ext),
    ])
}

/// The soak's trail: refund A is held on its way and lands after paybridge gave up (DaxPay
/// fails it at the channel); B, under the same number with another notifyUrl and extParam,
/// comes meanwhile. B is never sent (A may still land: DaxPay 3.0 would run the failed refund
/// again) and is answered unknown, not "state 3"; the refund, its query and its state-3
/// notification are A's. (The soak's binary predated the rule that holds B back.)
#[tokio::test]
async fn f3_a_refund_retry_with_other_fields_is_not_told_the_earlier_requests_outcome() {
    let mut w = World::start(&[PAY, REFUND, REFUND_QUERY]).await;
    let (to_a, to_b) = (format!("{}/a", w.notify), format!("{}/b", w.notify));
    let paid = w.send("/api/pay/unifiedOrder", pay("F3", "4385", &to_a, "p"));
    w.relay.next(PAY).await.forward();
    let paid = paid.await.unwrap();
    assert_eq!(paid["code"], 0, "{paid}");
    w.sandbox.pay_order("F3").unwrap();
    let (path, _) = w.merchant.first().await;
    assert_eq!(path, "/a", "the pay notification");

    let a = w.send(
        "/api/refund/refundOrder",
        refund("F3", "F3R0", &to_a, "fs21395"),
    );
    let (release, landed) = w.relay.next(REFUND).await.land_later();
    w.relay.next(REFUND_QUERY).await.forward();
    assert_eq!(a.await.unwrap()["code"], 10);

    let b = w.send(
        "/api/refund/refundOrder",
        refund("F3", "F3R0", &to_b, "fs21586"),
    );
    w.relay.next(REFUND_QUERY).await.forward();
    let answer = b.await.unwrap();
    assert_eq!(answer["code"], 10, "B is not told A's outcome: {answer}");
    assert_eq!(answer["msg"], EARLIER_UNKNOWN, "{answer}");

    // A lands: DaxPay fails it. The refund query learns it: A's fields, A's notification.
    release.send(()).unwrap();
    landed.await.unwrap();
    let query = w.send("/api/refund/query", jeepay_body(&[("mchRefundNo", "F3R0")]));
    w.relay.next(REFUND_QUERY).await.forward();
    let answer = query.await.unwrap();
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(answer["data"]["state"], 3, "{answer}");
    assert_eq!(answer["data"]["extParam"], "fs21395", "{answer}");
    for _ in 0..250 {
        if w.merchant.received().len() > 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let received = w.merchant.received();
    let (path, params) = received.last().unwrap();
    assert_eq!(path, "/a", "{received:?}");
    assert_eq!(params["state"], "3");
    assert_eq!(params["extParam"], "fs21395");
    assert!(received.iter().all(|(p, _)| p != "/b"));
}

/// DaxPay itself refuses B (20044, the order exists): B made nothing and cannot, so it gives
/// its attempt up and the row is A's alone (the worker may then complete it with A's fields).
#[tokio::test]
async fn f2_a_joined_request_daxpay_refuses_as_existing_gives_its_attempt_up() {
    let mut w = World::start(&[PAY, PAY_QUERY]).await;
    let (to_a, to_b) = (format!("{}/a", w.notify), format!("{}/b", w.notify));
    lost(&mut w, pay("R3", "500", &to_a, "a")).await;
    let b = w.send("/api/pay/unifiedOrder", pay("R3", "500", &to_b, "b"));
    w.relay.next(PAY).await.forward();
    let answer = b.await.unwrap();
    assert_eq!(answer["msg"], "商户订单[R3]已存在", "{answer}");
    let live = w
        .store
        .live_attempts(paybridge::store::SettlementKind::Pay, JEEPAY_MCH, "R3")
        .await
        .unwrap();
    assert_eq!(live, 1, "B's attempt is given up");
    let row = w
        .store
        .pay_by_mch_order_no(JEEPAY_MCH, "R3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.notify_url.as_deref(), Some(to_a.as_str()));
}

// ---------------------------------------------------------------------------------------------
// F4. A refund's state-3 notification while the pay row has no DaxPay number yet
// ---------------------------------------------------------------------------------------------

/// The order's creating answer was lost (no callback follows: the merchant gave no URL); it is
/// paid; a refund of it by mchOrderNo fails at once. Its state-3 notification carries
/// payOrderId (learnt by a pay query, which also records the pay row).
#[tokio::test]
async fn f4_a_refund_failure_notification_carries_the_pay_order_id() {
    let mut w = World::start(&[PAY, PAY_QUERY]).await;
    let body = jeepay_body(&[
        ("mchOrderNo", "F4"),
        ("wayCode", "ALI_WAP"),
        ("amount", "4385"),
        ("currency", "cny"),
        ("subject", "s"),
        ("body", "b"),
    ]);
    lost(&mut w, body).await;
    let paid = w.sandbox.pay_order("F4").unwrap();
    let row = w
        .store
        .pay_by_mch_order_no(JEEPAY_MCH, "F4")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.pay_order_id, None,
        "the pay row has no DaxPay number yet"
    );

    let to_r = format!("{}/r", w.notify);
    let refund = w.send(
        "/api/refund/refundOrder",
        jeepay_body(&[
            ("mchOrderNo", "F4"),
            ("mchRefundNo", "F4R0"),
            ("refundAmount", "2447"),
            ("currency", "cny"),
            ("refundReason", "SANDBOX_REFUND_FAIL"),
            ("notifyUrl", &to_r),
            ("extParam", "fs1036"),
        ]),
    );
    w.relay.next(PAY_QUERY).await.forward();
    let answer = refund.await.unwrap();
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(answer["data"]["state"], 3, "{answer}");
    let (path, params) = w.merchant.first().await;
    assert_eq!(path, "/r");
    assert_eq!(params["state"], "3");
    assert_eq!(params["payOrderId"], paid.order_no, "{params:?}");
    let row = w
        .store
        .pay_by_mch_order_no(JEEPAY_MCH, "F4")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.pay_order_id.as_deref(), Some(paid.order_no.as_str()));
}

/// F4 again, seen by the soak after its fix: the pay query that learns the pay order's number
/// fails too. The failure is then not notified without `payOrderId`: the settlement worker's
/// refund query, which carries it, queues the notification.
#[tokio::test]
async fn f4_a_refund_failure_whose_pay_order_cannot_be_read_is_notified_with_it_later() {
    let mut w = World::start(&[PAY, PAY_QUERY]).await;
    let body = jeepay_body(&[
        ("mchOrderNo", "F4B"),
        ("wayCode", "ALI_WAP"),
        ("amount", "3033"),
        ("currency", "cny"),
        ("subject", "s"),
        ("body", "b"),
    ]);
    lost(&mut w, body).await;
    let paid = w.sandbox.pay_order("F4B").unwrap();
    let to_r = format!("{}/r", w.notify);
    let refund = w.send(
        "/api/refund/refundOrder",
        jeepay_body(&[
            ("mchOrderNo", "F4B"),
            ("mchRefundNo", "F4BR0"),
            ("refundAmount", "2730"),
            ("currency", "cny"),
            ("refundReason", "SANDBOX_REFUND_FAIL"),
            ("notifyUrl", &to_r),
            ("extParam", "fs709"),
        ]),
    );
    w.relay
        .next(PAY_QUERY)
        .await
        .answer(StatusCode::INTERNAL_SERVER_ERROR, "{}");
    let answer = refund.await.unwrap();
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(answer["data"]["state"], 3, "{answer}");

    w.start_settlement_worker();
    for _ in 0..100 {
        if let Some((path, params)) = w.merchant.received().into_iter().next() {
            assert_eq!(path, "/r");
            assert_eq!(params["state"], "3");
            assert_eq!(params["payOrderId"], paid.order_no, "{params:?}");
            return;
        }
        tokio::select! {
            arrival = w.relay.next(PAY_QUERY) => arrival.forward(),
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    panic!("the refund's failure was never notified");
}

// ---------------------------------------------------------------------------------------------
// F5. DaxPay 2.0 pays a repeated order number again, with the stored amount
// ---------------------------------------------------------------------------------------------

/// 2.0.8 keeps a channel-refused order `progress` and pays it again for a later request of the
/// number, with the stored amount (lifecycle-2.0.md §3.2 step 6). The repeat is refused before
/// DaxPay pays anything: the merchant who asked for 9.99 is never charged 12.30.
#[tokio::test]
async fn f5_a_repeat_of_a_channel_refused_2_0_order_is_refused_not_paid_with_the_stored_amount() {
    for sign_type in ["hmac_sha256", "md5"] {
        let (sb, _sandbox) = start_sandbox(&sandbox_toml("2.0", sign_type, &[])).await;
        let proxy = start_proxy(&proxy_toml(sb.addr, "2.0", sign_type, "", "")).await;
        let bar = |code: &str| format!(r#"{{"authCode":"{code}"}}"#);
        let order = |fen: &str, code: &str| {
            jeepay_body(&[
                ("mchOrderNo", "RV1"),
                ("wayCode", "ALI_BAR"),
                ("amount", fen),
                ("currency", "cny"),
                ("subject", "s"),
                ("body", "b"),
                ("channelExtra", &bar(code)),
            ])
        };
        let first = post_json(
            proxy.addr,
            "/api/pay/unifiedOrder",
            &order("1230", "SANDBOX_CHANNEL_FAIL"),
        )
        .await
        .json();
        assert_eq!(first["code"], 9999, "{sign_type}: {first}");
        let again = post_json(
            proxy.addr,
            "/api/pay/unifiedOrder",
            &order("999", "284567890123456789"),
        )
        .await
        .json();
        assert_eq!(again["code"], 9999, "{sign_type}: {again}");
        assert_eq!(again["msg"], "商户订单[RV1]已存在", "{sign_type}: {again}");
        let query = post_json(proxy.addr, "/api/pay/query", &pay_query("RV1"))
            .await
            .json();
        assert_eq!(query["code"], 0, "{sign_type}: {query}");
        assert_ne!(
            query["data"]["state"], 2,
            "{sign_type}: never paid: {query}"
        );
        assert_eq!(query["data"]["amount"], 1230, "{sign_type}: {query}");
    }
}

/// DaxPay 2.0, A's call held on its way (it may still land: 2.0's request age is 10 s); B, with
/// other fields, joins: DaxPay is asked first, holds nothing yet, and B is answered unknown and
/// never sent (2.0 would pay A's order again for B, with the stored amount). Once A lands, the
/// order is A's.
#[tokio::test]
async fn f5_on_2_0_a_joining_pay_is_not_sent_while_the_first_may_land() {
    let mut w = World::start_on("2.0", &[PAY, PAY_QUERY]).await;
    let (to_a, to_b) = (format!("{}/a", w.notify), format!("{}/b", w.notify));
    let a = w.send("/api/pay/unifiedOrder", pay("V1", "1230", &to_a, "a"));
    let (release, landed) = w.relay.next(PAY).await.land_later();
    w.relay
        .next(PAY_QUERY)
        .await
        .answer(StatusCode::INTERNAL_SERVER_ERROR, SERVER_ERROR);
    assert_eq!(a.await.unwrap()["code"], 10);

    let b = w.send("/api/pay/unifiedOrder", pay("V1", "999", &to_b, "b"));
    w.relay.next(PAY_QUERY).await.forward();
    let answer = b.await.unwrap();
    assert_eq!(answer["code"], 10, "{answer}");
    assert_eq!(answer["msg"], EARLIER_UNKNOWN, "{answer}");
    assert!(w.relay.arrivals.try_recv().is_err(), "B was not sent");

    release.send(()).unwrap();
    landed.await.unwrap();
    let query = w.send("/api/pay/query", pay_query("V1"));
    w.relay.next(PAY_QUERY).await.forward();
    let answer = query.await.unwrap();
    assert_eq!(answer["data"]["amount"], 1230, "{answer}");
    let row = w
        .store
        .pay_by_mch_order_no(JEEPAY_MCH, "V1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.notify_url.as_deref(), Some(to_a.as_str()));
}

// ---------------------------------------------------------------------------------------------
// F7. A refund's exact retry answered from the lookup of another request's refund
// ---------------------------------------------------------------------------------------------

/// A's refund is held on its way; B (other notifyUrl and extParam) is held back as unknown; A
/// lands and succeeds; B's exact retry finds A's refund: the number is taken (`已存在`), not
/// "state 2" for a refund B never asked for.
#[tokio::test]
async fn f7_a_retry_of_a_held_back_refund_is_not_answered_with_anothers_refund() {
    a_retry_of_a_held_back_refund_is_not_answered_with_anothers_refund("3.0").await;
}

/// The same on DaxPay 2.0 (the 2.0 lifecycle soak's finding, seed 1001: a retry with another
/// notifyUrl answered "refunding" with the refund its earlier request made). 2.0's refund query
/// has no `attach`, and both requests ask for the same amount: the store tells whose it is.
#[tokio::test]
async fn f7_on_2_0_a_retry_of_a_held_back_refund_is_not_answered_with_anothers_refund() {
    a_retry_of_a_held_back_refund_is_not_answered_with_anothers_refund("2.0").await;
}

async fn a_retry_of_a_held_back_refund_is_not_answered_with_anothers_refund(version: &str) {
    let mut w = World::start_on(version, &[REFUND, REFUND_QUERY]).await;
    let (to_a, to_b) = (format!("{}/a", w.notify), format!("{}/b", w.notify));
    let paid = w.send("/api/pay/unifiedOrder", pay("F7", "4385", &to_a, "p"));
    assert_eq!(paid.await.unwrap()["code"], 0);
    w.sandbox.pay_order("F7").unwrap();
    let body = |notify: &str, ext: &str| {
        jeepay_body(&[
            ("mchOrderNo", "F7"),
            ("mchRefundNo", "F7R0"),
            ("refundAmount", "753"),
            ("currency", "cny"),
            ("refundReason", "r"),
            ("notifyUrl", notify),
            ("extParam", ext),
        ])
    };
    let a = w.send("/api/refund/refundOrder", body(&to_a, "fs786"));
    let (release, landed) = w.relay.next(REFUND).await.land_later();
    w.relay.next(REFUND_QUERY).await.forward();
    assert_eq!(a.await.unwrap()["code"], 10);

    let b_body = body(&to_b, "fs995");
    let b = w.send("/api/refund/refundOrder", b_body.clone());
    w.relay.next(REFUND_QUERY).await.forward();
    assert_eq!(b.await.unwrap()["msg"], EARLIER_UNKNOWN);

    release.send(()).unwrap();
    landed.await.unwrap();
    // From here every steered call is a lookup (A's callback's, the retry's), let through.
    let paths = w.relay.forward_the_rest();
    let again = w.send("/api/refund/refundOrder", b_body);
    let answer = again.await.unwrap();
    assert_eq!(answer["code"], 9999, "{answer}");
    assert_eq!(answer["msg"], "商户退款订单号[F7R0]已存在", "{answer}");
    let paths = paths.lock().unwrap().clone();
    assert!(
        paths.iter().all(|p| p == REFUND_QUERY),
        "nothing else sent: {paths:?}"
    );
}

/// The pay side of F7: B (other fields) learns nothing (its answer and its lookup lost); the
/// row becomes A's (a pay query learns it); B's exact retry finds A's order by its lookup: the
/// number is taken, not A's order answered as B's.
#[tokio::test]
async fn f7_an_exact_retry_of_a_pay_is_not_answered_with_anothers_order() {
    let mut w = World::start(&[PAY, PAY_QUERY]).await;
    let (to_a, to_b) = (format!("{}/a", w.notify), format!("{}/b", w.notify));
    lost(&mut w, pay("R7", "3485", &to_a, "fs1")).await;
    let b_body = pay("R7", "3485", &to_b, "fs2");
    lost(&mut w, b_body.clone()).await;

    let query = w.send("/api/pay/query", pay_query("R7"));
    w.relay.next(PAY_QUERY).await.forward();
    assert_eq!(query.await.unwrap()["data"]["extParam"], "fs1");
    let row = w
        .store
        .pay_by_mch_order_no(JEEPAY_MCH, "R7")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.notify_url.as_deref(), Some(to_a.as_str()));

    let again = w.send("/api/pay/unifiedOrder", b_body);
    w.relay.next(PAY_QUERY).await.forward();
    let answer = again.await.unwrap();
    assert_eq!(answer["code"], 9999, "{answer}");
    assert_eq!(answer["msg"], "商户订单[R7]已存在", "{answer}");
}

/// The pay side on DaxPay 2.0 (the 2.0 lifecycle soak's finding, seed 1002): A's pay is held on
/// its way; B (the same amount, another notifyUrl and extParam) is held back as unknown (F5); A
/// lands; B's exact retry finds A's order by its lookup. 2.0's query has no `attach`: the store
/// tells it is A's, so the number is taken, not A's order answered as B's.
#[tokio::test]
async fn f7_on_2_0_an_exact_retry_of_a_held_back_pay_is_not_answered_with_anothers_order() {
    let mut w = World::start_on("2.0", &[PAY, PAY_QUERY]).await;
    let (to_a, to_b) = (format!("{}/a", w.notify), format!("{}/b", w.notify));
    let a = w.send("/api/pay/unifiedOrder", pay("V7", "1230", &to_a, "a"));
    let (release, landed) = w.relay.next(PAY).await.land_later();
    w.relay
        .next(PAY_QUERY)
        .await
        .answer(StatusCode::INTERNAL_SERVER_ERROR, SERVER_ERROR);
    assert_eq!(a.await.unwrap()["code"], 10);

    let b_body = pay("V7", "1230", &to_b, "b");
    let b = w.send("/api/pay/unifiedOrder", b_body.clone());
    w.relay.next(PAY_QUERY).await.forward();
    assert_eq!(b.await.unwrap()["msg"], EARLIER_UNKNOWN);

    release.send(()).unwrap();
    landed.await.unwrap();
    // From here every steered call is a lookup (the retry's), let through.
    let paths = w.relay.forward_the_rest();
    let again = w.send("/api/pay/unifiedOrder", b_body);
    let answer = again.await.unwrap();
    assert_eq!(answer["code"], 9999, "{answer}");
    assert_eq!(answer["msg"], "商户订单[V7]已存在", "{answer}");
    let paths = paths.lock().unwrap().clone();
    assert!(
        paths.iter().all(|p| p == PAY_QUERY),
        "nothing else sent: {paths:?}"
    );
    let query = w.send("/api/pay/query", pay_query("V7"));
    assert_eq!(query.await.unwrap()["data"]["extParam"], "a");
}

/// DaxPay 2.0, the 2.0 lifecycle soak's finding (seed 1002): A's pay answer is lost; a second
/// request with the very same fields stands beside it (its process was killed with its call in
/// flight: its attempt is never given up). Whichever of the two DaxPay's order came from, it
/// tells the merchant the same: a pay query answers with the store's fields (`extParam`,
/// `wayCode`, ...), not without them as for requests that differ.
#[tokio::test]
async fn f1_on_2_0_requests_alike_leave_no_doubt_about_the_stores_fields() {
    let mut w = World::start_on("2.0", &[PAY, PAY_QUERY]).await;
    let to_a = format!("{}/a", w.notify);
    lost(&mut w, pay("V8", "1230", &to_a, "a")).await;
    join_an_alike_attempt(&w, "V8").await;

    let query = w.send("/api/pay/query", pay_query("V8"));
    w.relay.next(PAY_QUERY).await.forward();
    let answer = query.await.unwrap();
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(answer["data"]["state"], 1, "{answer}");
    assert_eq!(answer["data"]["extParam"], "a", "{answer}");
    assert_eq!(answer["data"]["wayCode"], "WX_NATIVE", "{answer}");
}

/// A second attempt on pending number `no`, alike the first in every field: a request sent
/// again whose process was killed with its call in flight (its attempt is never given up).
async fn join_an_alike_attempt(w: &World, no: &str) {
    let first = w.store.pay_attempts(JEEPAY_MCH, no).await.unwrap();
    assert_eq!(first.len(), 1);
    let mut killed = first[0].clone();
    killed.attempt = Some("killed-mid-flight".to_owned());
    killed.token = Some("tok-killed".to_owned());
    killed.created_at_ms += 500;
    w.store.join_pay(&killed).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// F10. A paid 2.0 order whose joined request died before it was sent
// ---------------------------------------------------------------------------------------------

/// DaxPay 2.0, the 2.0 lifecycle soak's F10 (seed 2008): A's pay lands but its answer and
/// lookup are lost (its attempt stands); B (the same amount, another notifyUrl and extParam)
/// joins, and its request dies during its probe, as in a kill -9 (its attempt is never given
/// up, and it was never sent: `joined_on_2_0`). The payer pays; DaxPay's one callback is lost
/// (paybridge's public URL leads nowhere). The settlement worker must still find the order
/// A's: B, never marked as sent, is no candidate. The row completes with A's fields, A's
/// notifyUrl is told once (state 2), and the pay query carries A's extParam.
#[tokio::test]
async fn f10_on_2_0_a_paid_order_beside_a_joined_request_that_died_unsent_is_notified() {
    // A port nothing listens on: DaxPay's callback finds no one.
    let nowhere = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let callback_url = Some(format!("http://{nowhere}"));
    let mut w = World::start_configured("2.0", &[PAY, PAY_QUERY], callback_url).await;
    let (to_a, to_b) = (format!("{}/a", w.notify), format!("{}/b", w.notify));
    lost(&mut w, pay("V10", "1094", &to_a, "fs5963")).await;

    // B goes to a second instance on the same store, whose probe is held at the relay (never
    // answered while the test runs); that instance is killed (its runtime dropped, as kill -9
    // does) before anything was sent. (Aborting B's client would not do: paybridge's handler
    // would go on, its probe time out and its attempt be given up.)
    let instance = Instance::start(&w.toml);
    let b = send_to(
        instance.addr,
        "/api/pay/unifiedOrder",
        pay("V10", "1094", &to_b, "fs6264"),
    );
    let _held_probe = w.relay.next(PAY_QUERY).await;
    instance.kill();
    let _ = b.await;
    let attempts = w.store.pay_attempts(JEEPAY_MCH, "V10").await.unwrap();
    assert_eq!(attempts.len(), 2, "B's attempt stands: {attempts:?}");
    assert_eq!(w.relay.calls(PAY), 1, "B was never sent");

    w.sandbox.pay_order("V10").unwrap();
    // From here every steered call is a query (the worker's, the merchant's), let through.
    w.relay.forward_the_rest();
    w.start_settlement_worker();
    let (path, params) = w.merchant.first().await;
    assert_eq!(path, "/a");
    assert_eq!(params["state"], "2");
    assert_eq!(params["extParam"], "fs5963");
    let row = w
        .store
        .pay_by_mch_order_no(JEEPAY_MCH, "V10")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.notify_url.as_deref(), Some(to_a.as_str()));
    assert_eq!(row.ext_param.as_deref(), Some("fs5963"));

    let query = w.send("/api/pay/query", pay_query("V10"));
    let answer = query.await.unwrap();
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(answer["data"]["state"], 2, "{answer}");
    assert_eq!(answer["data"]["extParam"], "fs5963", "{answer}");
    assert_eq!(answer["data"]["wayCode"], "WX_NATIVE", "{answer}");
    let told = w.merchant.received();
    assert_eq!(told.len(), 1, "notified once: {told:?}");
}

/// The other half of F10's rule: a joined 2.0 request that got past its probe is marked as
/// possibly sent before its call, so one killed during the call stays a candidate. A's pay never
/// reached DaxPay (its outcome unknown; its window then past, written to the store as though the
/// time had passed); B (another notifyUrl and extParam) joins, its probe finds nothing, it is
/// sent and DaxPay makes the order, and B's client goes away before the answer (a kill). The
/// order is B's: a pay query must not answer it with A's fields.
#[tokio::test]
async fn f10_on_2_0_a_joined_request_killed_during_its_call_stays_a_candidate() {
    use paybridge::store::landing::Landing;
    use paybridge::store::SettlementKind;
    let mut w = World::start_on("2.0", &[PAY, PAY_QUERY]).await;
    let (to_a, to_b) = (format!("{}/a", w.notify), format!("{}/b", w.notify));
    let a = w.send("/api/pay/unifiedOrder", pay("V11", "1094", &to_a, "fs1"));
    w.relay.next(PAY).await.answer(StatusCode::BAD_GATEWAY, "");
    w.relay
        .next(PAY_QUERY)
        .await
        .answer(StatusCode::INTERNAL_SERVER_ERROR, SERVER_ERROR);
    assert_eq!(a.await.unwrap()["code"], 10);
    let first = w.store.pay_attempts(JEEPAY_MCH, "V11").await.unwrap();
    let first = first[0].attempt.clone().unwrap();
    w.store
        .mark_landing(
            SettlementKind::Pay,
            JEEPAY_MCH,
            "V11",
            &first,
            Landing::SentUntil(1),
        )
        .await
        .unwrap();

    let b = w.send("/api/pay/unifiedOrder", pay("V11", "1094", &to_b, "fs2"));
    w.relay.next(PAY_QUERY).await.forward();
    let _answer_held = w.relay.next(PAY).await.forward_held();
    b.abort();
    let _ = b.await;
    let attempts = w.store.pay_attempts(JEEPAY_MCH, "V11").await.unwrap();
    assert_eq!(attempts.len(), 2, "B's attempt stands: {attempts:?}");

    let query = w.send("/api/pay/query", pay_query("V11"));
    w.relay.next(PAY_QUERY).await.forward();
    let answer = query.await.unwrap();
    assert_eq!(answer["code"], 0, "{answer}");
    assert_ne!(answer["data"]["extParam"], "fs1", "not A's: {answer}");
}
