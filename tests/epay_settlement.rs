//! epay orders and refunds whose outcome paybridge did not hear from DaxPay, through real
//! sockets: a pay whose callback never comes (the settlement worker finds it paid, and the
//! merchant gets epay's GET notification once), a pay and a refund whose DaxPay answer is lost
//! (answered as epay should: never a success that was not, never a failure that may not be; then
//! settled), and an epay notification job that outlives the paybridge process that queued it.

mod binary;
mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use binary::Served;
use bytes::Bytes;
use common::epay::world::{dax_order, proxy_config, sandbox_config, Dax, Setup, World};
use common::epay::{keys, sign, EpayClient, Number, KEY, PID};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::Value;
use tokio::net::TcpListener;

const PAY: &str = "/unipay/pay";
const PAY_QUERY: &str = "/unipay/query/payOrder";
const REFUND: &str = "/unipay/refund";
const REFUND_QUERY: &str = "/unipay/query/refundOrder";

fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn mapi(w: &World, no: &str, pay_type: &str, money: &str) -> Vec<(String, String)> {
    owned(&[
        ("pid", PID),
        ("type", pay_type),
        ("out_trade_no", no),
        ("notify_url", &w.site.notify_url()),
        ("return_url", &w.site.return_url()),
        ("name", no),
        ("money", money),
        ("clientip", "192.168.1.100"),
    ])
}

fn status(v: &Value) -> String {
    v["status"].to_string().trim_matches('"').to_owned()
}

fn code_msg(v: &Value) -> (i64, String) {
    (
        v["code"].as_i64().unwrap_or(99),
        v["msg"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Asks the V1 query of `no` until `done` holds (at most 5 s); its last answer.
async fn query_until(client: &EpayClient, no: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut q = client.query(Number::Out(no)).await.json();
    for _ in 0..250 {
        if done(&q) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        q = client.query(Number::Out(no)).await.json();
    }
    q
}

/// A pay DaxPay never calls back for (its callbacks muted: the one 2.0 attempt lost, 3.0's
/// retries exhausted): the settlement worker asks DaxPay, finds it paid, and the merchant gets
/// epay's notification (V1: MD5; V2: RSA with the platform key) once.
#[tokio::test]
async fn a_pay_whose_callback_never_comes_is_settled_and_notified_once() {
    for (dax, v2) in [
        (Dax::V30, false),
        (Dax::new("3.0-beta", "md5"), true),
        (Dax::new("2.0", "hmac_sha256"), false),
        (Dax::new("2.0", "md5"), true),
    ] {
        let w = Setup {
            dax,
            settlement: true,
            ..Setup::default()
        }
        .start()
        .await
        .0;
        let client = w.client();
        w.sandbox.mute_callbacks(true);
        let fields = mapi(&w, "CB1", "alipay", "1.50");
        let trade_no = if v2 {
            let mut create = fields.clone();
            create.retain(|(k, _)| k != "pid");
            create.push(("method".into(), "web".into()));
            let a = client.v2("create", &sign::pairs(&create)).await.json();
            assert_eq!(a["code"], 0, "{dax:?}: {a}");
            a["trade_no"].as_str().unwrap().to_owned()
        } else {
            let a = client.mapi(&sign::pairs(&fields)).await.json();
            assert_eq!(a["code"], 1, "{dax:?}: {a}");
            a["trade_no"].as_str().unwrap().to_owned()
        };
        w.sandbox
            .pay_order(&dax_order(&w.sandbox, "CB1").order_no)
            .unwrap();
        let seen = w.site.wait_for(1, Duration::from_secs(5)).await;
        assert_eq!(seen.len(), 1, "{dax:?}: notified by the settlement worker");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let seen = w.site.received();
        assert_eq!(seen.len(), 1, "{dax:?}: once: {seen:?}");
        assert!(
            w.sandbox.callbacks().is_empty(),
            "{dax:?}: no callback was sent"
        );
        let n = &seen[0];
        if v2 {
            n.rsa_verified(keys::PLATFORM_PUBLIC_KEY)
                .unwrap_or_else(|e| panic!("{dax:?}: SDK2 verify: {e}: {n:?}"));
        } else {
            assert!(n.md5_verified(KEY), "{dax:?}: SDK1 verifyNotify: {n:?}");
        }
        n.business_checks("CB1", 150).unwrap();
        assert_eq!(n.get("trade_no"), Some(trade_no.as_str()), "{dax:?}");
        let q = query_until(&client, "CB1", |q| status(q) == "1").await;
        assert_eq!(status(&q), "1", "{dax:?}: {q}");
    }
}

/// The DaxPay order of `name` was paid: the merchant is notified once (SDK1's check), and the
/// V1 query says paid, with the order's first `trade_no`.
async fn notified_once(w: &World, no: &str, fen: u64, trade_no: &str) {
    let seen = w.site.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(seen.len(), 1, "{no}: {seen:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = w.site.received();
    assert_eq!(seen.len(), 1, "{no}: once: {seen:?}");
    assert!(seen[0].md5_verified(KEY), "{:?}", seen[0]);
    seen[0].business_checks(no, fen).unwrap();
    assert_eq!(seen[0].get("trade_no"), Some(trade_no), "{no}");
    let q = query_until(&w.client(), no, |q| status(q) == "1").await;
    assert_eq!(
        (status(&q).as_str(), q["trade_no"].as_str()),
        ("1", Some(trade_no)),
        "{no}: {q}"
    );
}

/// A `mapi.php` pay whose DaxPay answer is lost (DaxPay made the order), paybridge's lookup
/// finding it: what the payer needs (the QR content) came only in the lost answer, so it is no
/// success (code 1 needs a pay field) and no failure either: epay's channel-side code with the
/// order's `trade_no` and words saying the result is not known. Paid later: the merchant is
/// notified once, under that `trade_no`.
#[tokio::test]
async fn a_pay_whose_answer_is_lost_is_answered_unknown_and_settled() {
    let (w, relay) = Setup {
        steered: &[PAY, PAY_QUERY],
        settlement: true,
        ..Setup::default()
    }
    .start()
    .await;
    let mut relay = relay.unwrap();
    let client = w.client();
    let fields = mapi(&w, "LP1", "wxpay", "2.00");
    let pending = {
        let (client, fields) = (client.clone(), fields.clone());
        tokio::spawn(async move { client.mapi(&sign::pairs(&fields)).await })
    };
    relay.next(PAY).await.forward_and_lose();
    relay.next(PAY_QUERY).await.forward();
    let answer = pending.await.unwrap().json();
    let trade_no = answer["trade_no"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        code_msg(&answer),
        (-2, "支付结果未知，请稍后查询订单".to_owned()),
        "{answer}"
    );
    assert_eq!(trade_no.len(), 19, "the order's trade_no: {answer}");
    relay.forward_the_rest();
    // Asked again meanwhile (same parameters): the same order, still without the QR content.
    let again = client.mapi(&sign::pairs(&fields)).await.json();
    assert_eq!(
        (code_msg(&again), again["trade_no"].as_str()),
        (
            (-2, "支付结果未知，请稍后查询订单".to_owned()),
            Some(trade_no.as_str())
        ),
        "{again}"
    );
    assert_eq!(w.sandbox.orders().len(), 1, "DaxPay made one order");
    w.sandbox
        .pay_order(&dax_order(&w.sandbox, "LP1").order_no)
        .unwrap();
    notified_once(&w, "LP1", 200, &trade_no).await;
}

/// The same with the lookup lost too: paybridge cannot tell, and says so (-1, `结果未知`); the
/// settlement worker finds the order, and once paid the merchant is notified once.
#[tokio::test]
async fn a_pay_whose_answer_and_lookup_are_lost_is_answered_unknown_and_settled() {
    let (w, relay) = Setup {
        steered: &[PAY, PAY_QUERY],
        settlement: true,
        ..Setup::default()
    }
    .start()
    .await;
    let mut relay = relay.unwrap();
    let client = w.client();
    let fields = mapi(&w, "LP2", "alipay", "2.00");
    let pending = {
        let (client, fields) = (client.clone(), fields.clone());
        tokio::spawn(async move { client.mapi(&sign::pairs(&fields)).await })
    };
    relay.next(PAY).await.forward_and_lose();
    relay
        .next(PAY_QUERY)
        .await
        .answer(StatusCode::INTERNAL_SERVER_ERROR, "");
    let answer = pending.await.unwrap();
    assert_eq!(
        answer.body,
        r#"{"code":-1,"msg":"系统异常[上游HTTP状态502，结果未知，请稍后查询订单]"}"#
    );
    relay.forward_the_rest();
    // The settlement worker learns the order: the query knows it before anyone pays.
    let q = query_until(&client, "LP2", |q| q["code"] == 1).await;
    assert_eq!(
        (q["code"].as_i64(), status(&q).as_str()),
        (Some(1), "0"),
        "{q}"
    );
    let trade_no = q["trade_no"].as_str().unwrap().to_owned();
    w.sandbox
        .pay_order(&dax_order(&w.sandbox, "LP2").order_no)
        .unwrap();
    notified_once(&w, "LP2", 200, &trade_no).await;
    assert_eq!(w.sandbox.orders().len(), 1, "DaxPay made one order");
}

/// The merchant sends the very same pay again while the first one's outcome is unknown
/// (its plugin retrying a timeout): the gateway answers a repeated `out_trade_no` with the same
/// parameters as the same order (epay.md §6.1 step 16), so `支付参数有变化` is false here; the
/// outcome is unknown, and the answer must say so. With another amount meanwhile, the
/// parameters did change: the gateway's `支付参数有变化`. On DaxPay 3.0 (the retry is sent and
/// refused as existing, 20044) and 2.0 (its probe finds the order first); one order either way.
#[tokio::test]
async fn the_same_pay_again_while_the_first_is_unknown_is_not_told_its_parameters_changed() {
    for dax in [Dax::V30, Dax::new("2.0", "hmac_sha256")] {
        let (w, relay) = Setup {
            dax,
            steered: &[PAY, PAY_QUERY],
            ..Setup::default()
        }
        .start()
        .await;
        let mut relay = relay.unwrap();
        let client = w.client();
        let fields = mapi(&w, "LP3", "alipay", "2.00");
        let pending = {
            let (client, fields) = (client.clone(), fields.clone());
            tokio::spawn(async move { client.mapi(&sign::pairs(&fields)).await })
        };
        relay.next(PAY).await.forward_and_lose();
        relay
            .next(PAY_QUERY)
            .await
            .answer(StatusCode::INTERNAL_SERVER_ERROR, "");
        assert_eq!(pending.await.unwrap().json()["code"], -1, "{dax:?}");
        relay.forward_the_rest();
        // The words epay merchants get for any retry of an unknown outcome.
        let again = client.mapi(&sign::pairs(&fields)).await.json();
        assert_eq!(
            code_msg(&again),
            (-1, "系统异常[上次请求结果未知，请稍后查询订单]".to_owned()),
            "{dax:?}: the same parameters, an unknown outcome: {again}"
        );
        let changed = mapi(&w, "LP3", "alipay", "3.00");
        let changed = client.mapi(&sign::pairs(&changed)).await.json();
        assert_eq!(
            code_msg(&changed),
            (
                -1,
                "该订单(LP3)支付参数有变化，请更换订单号重新发起支付".to_owned()
            ),
            "{dax:?}: {changed}"
        );
        assert_eq!(
            w.sandbox.orders().len(),
            1,
            "{dax:?}: DaxPay made one order"
        );
    }
}

/// Two identical `mapi.php` requests at once (the lifecycle soak's epay workers send some so):
/// the first is answered while the second is at DaxPay, whose 20044 then meets a row the first
/// has settled: the second is told "result unknown, query the order" (which finds the order),
/// never that the number is taken nor that its parameters changed.
#[tokio::test]
async fn two_identical_pays_at_once_never_tell_the_second_its_number_is_taken() {
    let (w, relay) = Setup {
        steered: &[PAY],
        ..Setup::default()
    }
    .start()
    .await;
    let mut relay = relay.unwrap();
    let client = w.client();
    let fields = mapi(&w, "LP4", "alipay", "2.00");
    let send = || {
        let (client, fields) = (client.clone(), fields.clone());
        tokio::spawn(async move { client.mapi(&sign::pairs(&fields)).await })
    };
    let first = send();
    let first_held = relay.next(PAY).await.forward_held();
    let second = send();
    let second_held = relay.next(PAY).await.forward_held();
    let _ = first_held.send(());
    let first = first.await.unwrap().json();
    assert_eq!(first["code"], 1, "{first}");
    let _ = second_held.send(());
    let second = second.await.unwrap().json();
    assert_eq!(
        code_msg(&second),
        (-1, "系统异常[上次请求结果未知，请稍后查询订单]".to_owned()),
        "{second}"
    );
    assert_eq!(w.sandbox.orders().len(), 1, "DaxPay made one order");
    // Asked again, it is the first's order (the gateway's answer to a repeat).
    let again = client.mapi(&sign::pairs(&fields)).await.json();
    assert_eq!(again["code"], 1, "{again}");
    assert_eq!(again["trade_no"], first["trade_no"], "{again}");
}

/// V1 refunds whose DaxPay answer is lost (DaxPay refunded): found by the lookup, the true
/// success (code 0); the lookup lost too, `结果未知` (-1: neither a success nor `退款失败`), and
/// the settlement worker records it. Both count, once each: the order is refunded (2), the
/// rest refunds exactly, and one fen more is refused as fully refunded.
#[tokio::test]
async fn v1_refunds_whose_answers_are_lost_are_answered_truly_and_settled() {
    let (w, relay) = Setup {
        steered: &[REFUND, REFUND_QUERY],
        settlement: true,
        ..Setup::default()
    }
    .start()
    .await;
    let mut relay = relay.unwrap();
    let client = w.client();
    let a = client
        .mapi(&sign::pairs(&mapi(&w, "LR1", "alipay", "1.00")))
        .await
        .json();
    assert_eq!(a["code"], 1, "{a}");
    w.sandbox
        .pay_order(&dax_order(&w.sandbox, "LR1").order_no)
        .unwrap();
    query_until(&client, "LR1", |q| status(q) == "1").await;
    let refund = |money: &'static str| {
        let client = client.clone();
        tokio::spawn(async move { client.refund(Number::Out("LR1"), money).await.json() })
    };
    // Found by the lookup.
    let pending = refund("0.30");
    relay.next(REFUND).await.forward_and_lose();
    relay.next(REFUND_QUERY).await.forward();
    let found = pending.await.unwrap();
    assert_eq!(
        code_msg(&found),
        (0, "退款成功！退款金额￥0.30".to_owned()),
        "{found}"
    );
    // Not found: the lookup lost too.
    let pending = refund("0.30");
    relay.next(REFUND).await.forward_and_lose();
    relay
        .next(REFUND_QUERY)
        .await
        .answer(StatusCode::INTERNAL_SERVER_ERROR, "");
    let unknown = pending.await.unwrap();
    assert_eq!(
        code_msg(&unknown),
        (
            -1,
            "系统异常[上游HTTP状态502，结果未知，请稍后查询订单]".to_owned()
        ),
        "{unknown}"
    );
    relay.forward_the_rest();
    let q = query_until(&client, "LR1", |q| status(q) == "2").await;
    assert_eq!(status(&q), "2", "{q}");
    // The worker records the second refund: the rest is exactly 0.40.
    let settled = || {
        let refunds = w.sandbox.refunds();
        refunds.len() == 2
    };
    common::epay::world::eventually("both refunds at DaxPay", settled).await;
    let mut over = client.refund(Number::Out("LR1"), "0.41").await.json();
    for _ in 0..250 {
        if over["msg"] == "退款金额不能超过该订单剩余可退款金额！" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        over = client.refund(Number::Out("LR1"), "0.41").await.json();
    }
    assert_eq!(
        code_msg(&over),
        (-1, "退款金额不能超过该订单剩余可退款金额！".to_owned()),
        "{over}"
    );
    let rest = client.refund(Number::Out("LR1"), "0.40").await.json();
    assert_eq!(code_msg(&rest), (0, "退款成功！退款金额￥0.40".to_owned()));
    let more = client.refund(Number::Out("LR1"), "0.01").await.json();
    assert_eq!(code_msg(&more), (-1, "该订单已全额退款！".to_owned()));
    let fen: Vec<u64> = w.sandbox.refunds().iter().map(|r| r.amount.fen()).collect();
    assert_eq!(fen, [30, 30, 40], "each refunded once");
}

/// A V2 refund whose answer and lookup are lost: `结果未知` (never `退款失败`: SDK2 records any
/// other code as failed, which invites a second refund by hand); asked again with the same
/// `out_refund_no` it is never sent again, and once settled it is answered as the refund it is.
#[tokio::test]
async fn a_v2_refund_whose_answer_is_lost_is_never_made_twice() {
    let (w, relay) = Setup {
        steered: &[REFUND, REFUND_QUERY],
        settlement: true,
        ..Setup::default()
    }
    .start()
    .await;
    let mut relay = relay.unwrap();
    let client = w.client();
    let a = client
        .mapi(&sign::pairs(&mapi(&w, "LR2", "alipay", "1.00")))
        .await
        .json();
    assert_eq!(a["code"], 1, "{a}");
    w.sandbox
        .pay_order(&dax_order(&w.sandbox, "LR2").order_no)
        .unwrap();
    query_until(&client, "LR2", |q| status(q) == "1").await;
    let fields = [
        ("out_trade_no", "LR2"),
        ("money", "0.25"),
        ("out_refund_no", "LOST-000001"),
    ];
    let now: u64 = sign::timestamp().parse().unwrap();
    let pending = {
        let client = client.clone();
        tokio::spawn(async move { client.v2_at("refund", &fields, now).await.json() })
    };
    relay.next(REFUND).await.forward_and_lose();
    relay
        .next(REFUND_QUERY)
        .await
        .answer(StatusCode::INTERNAL_SERVER_ERROR, "");
    let unknown = pending.await.unwrap();
    assert_eq!(unknown["code"], -1, "{unknown}");
    let words = unknown["msg"].as_str().unwrap_or_default();
    assert!(
        words.contains("结果未知") && !words.contains("失败"),
        "{unknown}"
    );
    relay.forward_the_rest();
    // Settled by the worker: the same out_refund_no (another request) is the refund made.
    let mut again = client.v2_at("refund", &fields, now - 1).await.json();
    for i in 2..250 {
        if again["code"] == 0 {
            break;
        }
        let words = again["msg"].as_str().unwrap_or_default();
        assert!(!words.contains("退款失败"), "never a failure: {again}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        again = client.v2_at("refund", &fields, now - i).await.json();
    }
    assert_eq!(
        code_msg(&again),
        (0, "已存在相同退款单号！退款金额¥0.25".to_owned()),
        "{again}"
    );
    client.sdk2_accepts(&again).unwrap();
    let rq = client
        .v2("refundquery", &[("out_refund_no", "LOST-000001")])
        .await
        .json();
    assert_eq!(
        (status(&rq).as_str(), rq["money"].as_str()),
        ("1", Some("0.25")),
        "{rq}"
    );
    assert_eq!(w.sandbox.refunds().len(), 1, "refunded once");
}

/// The merchant's `notify_url` for the restart: answers `busy` slowly (the sender still waiting,
/// its lease held, when the test kills it) until `up`, then `success`; records each GET's
/// decoded query.
async fn slow_site(up: Arc<AtomicBool>) -> (SocketAddr, Arc<Mutex<Vec<Vec<(String, String)>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    let service = tower::service_fn(move |req: Request<hyper::body::Incoming>| {
        let (seen, up) = (seen.clone(), up.clone());
        async move {
            assert_eq!(req.method(), http::Method::GET);
            let query = req.uri().query().unwrap_or_default().to_owned();
            seen.lock()
                .unwrap()
                .push(common::epay::query_pairs(&format!("?{query}")));
            let answer = if up.load(Ordering::SeqCst) {
                "success"
            } else {
                tokio::time::sleep(Duration::from_millis(500)).await;
                "busy"
            };
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                answer.as_bytes(),
            ))))
        }
    });
    tokio::spawn(paybridge::server::serve(
        listener,
        service,
        std::future::pending::<()>(),
        Duration::from_millis(100),
    ));
    (addr, got)
}

async fn until(what: &str, secs: u64, check: impl Fn() -> bool) {
    for _ in 0..secs * 50 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("not within {secs} s: {what}");
}

/// epay notifications are jobs of the durable outbox like Jeepay's (`notifications_durable.rs`):
/// the real binary is killed (SIGKILL) after DaxPay's callbacks were acknowledged but before
/// the merchant acknowledged either notification; a new process on the same order store
/// delivers both, each once: the V1 one the same GET as before (MD5), the V2 one signed afresh
/// (RSA, a timestamp SDK2 accepts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epay_notifications_survive_kill_9() {
    let (sb, sandbox) = common::start_sandbox(&sandbox_config()).await;
    let up = Arc::new(AtomicBool::new(false));
    let (shop, got) = slow_site(up.clone()).await;
    let store_dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let toml = proxy_config(sb.addr, proxy, 300)
        .replace(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        )
        .replace(
            "url = \"sqlite::memory:\"",
            &format!(
                "url = \"sqlite://{}/orders.sqlite\"",
                store_dir.path().display()
            ),
        )
        .replace(
            "[notify]\n",
            "[notify]\nmax_attempts = 50\ntimeout_ms = 1000\n",
        );
    let mut first = Served::start(&toml, "info");
    first.address("paybridge serving");
    let client = common::epay::client(proxy);
    let notify = format!("http://{shop}/notify.php");
    let base = |no: &'static str| {
        owned(&[
            ("type", "alipay"),
            ("out_trade_no", no),
            ("notify_url", &notify),
            ("name", no),
            ("money", "1.50"),
            ("clientip", "192.168.1.100"),
        ])
    };
    let mut v1 = base("K9V1");
    v1.insert(0, ("pid".into(), PID.into()));
    let v1 = client.mapi(&sign::pairs(&v1)).await.json();
    assert_eq!(v1["code"], 1, "{v1}");
    let mut v2 = base("K9V2");
    v2.insert(0, ("method".into(), "web".into()));
    let v2 = client.v2("create", &sign::pairs(&v2)).await.json();
    assert_eq!(v2["code"], 0, "{v2}");
    for no in ["K9V1", "K9V2"] {
        let order = dax_order(&sandbox, no);
        sandbox.pay_order(&order.order_no).unwrap();
    }
    until("DaxPay's callbacks acknowledged", 10, || {
        sandbox
            .callbacks()
            .iter()
            .filter(|c| c.acknowledged)
            .count()
            == 2
    })
    .await;
    let tried = |no: &str| {
        got.lock()
            .unwrap()
            .iter()
            .filter(|q| q.iter().any(|(k, v)| k == "out_trade_no" && v == no))
            .count()
    };

    until("a first, refused, attempt of each", 10, || {
        tried("K9V1") > 0 && tried("K9V2") > 0
    })
    .await;
    // kill -9: both acknowledged to DaxPay, neither to the merchant.
    drop(first);
    let before = got.lock().unwrap().len();
    let is = |params: &[(String, String)], no: &str| {
        params.iter().any(|(k, v)| k == "out_trade_no" && v == no)
    };
    let first_v1 = got
        .lock()
        .unwrap()
        .iter()
        .find(|q| is(q, "K9V1"))
        .cloned()
        .unwrap();
    up.store(true, Ordering::SeqCst);

    let mut second = Served::start(&toml, "info");
    second.address("paybridge serving");
    // Killed while attempts were leased (the site answers slowly): delivered once the leases
    // (2 × the 1 s timeout + 1 s) are over.
    let delivered = |no: &str| {
        got.lock().unwrap()[before..]
            .iter()
            .filter(|q| q.iter().any(|(k, v)| k == "out_trade_no" && v == no))
            .count()
    };
    until("both delivered after the restart", 20, || {
        delivered("K9V1") > 0 && delivered("K9V2") > 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        (delivered("K9V1"), delivered("K9V2")),
        (1, 1),
        "acknowledged: not sent again"
    );
    let after: Vec<Vec<(String, String)>> = got.lock().unwrap()[before..].to_vec();
    for params in &after {
        let pairs = sign::pairs(params);
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        match get("out_trade_no") {
            Some("K9V1") => {
                assert!(sign::md5_verify(&pairs, KEY), "{params:?}");
                assert_eq!(get("trade_no"), v1["trade_no"].as_str());
                assert_eq!(params, &first_v1, "a V1 notification is the same GET");
            }
            _ => {
                sign::sdk2_verify(&pairs, keys::PLATFORM_PUBLIC_KEY)
                    .unwrap_or_else(|e| panic!("{e}: {params:?}"));
                assert_eq!(get("trade_no"), v2["trade_no"].as_str());
            }
        }
        assert_eq!(get("money"), Some("1.5"));
        assert_eq!(get("trade_status"), Some("TRADE_SUCCESS"));
    }
}
