//! Findings of the lifecycle soak with epay merchants (docs/reliability.md, "The lifecycle soak
//! with epay merchants"), each as a socket test that failed before its fix.

mod binary;
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::epay::world::{proxy_config_on, sandbox_config_on, world_on, Dax};
use common::epay::{client, Number, PID};
use common::{postgres_database, start_sandbox, Running};
use tokio::net::TcpListener;

/// Seed 1796636540671248804 (`SOAK_DIALECTS=jeepay,epay scripts/soak-lifecycle 40 pair`):
/// on the PostgreSQL order store, `api.php?act=order` answered orders paybridge made (e.g.
/// `L48804E00N1247`, created `trade_no` 2026120717423099762) with DaxPay's order number
/// (`P2026120717423001000203`) as `trade_no`, and the notification of the same order carried
/// the epay number: one order, two `trade_no`s. paybridge's log says why, at every query:
/// `order store row unreadable: error deserializing column 0 what="dialect facts of the order
/// (read)"`. `store::dialect_orders::REFUNDED` is `SELECT COALESCE(SUM(refund_amount_fen), 0)`;
/// on PostgreSQL `SUM(BIGINT)` is `NUMERIC`, which `get::<i64>` cannot read, so
/// `proxy::records::dialect_facts` drops the order's facts (its `trade_no`, `type`, refunds so
/// far) and the answer falls back to DaxPay's. SQLite's `SUM` is an integer, so the single
/// topology passes. The fix belongs in the query (`CAST(… AS BIGINT)`, valid on both).
#[tokio::test]
async fn act_order_on_postgres_answers_the_trade_no_the_create_gave() {
    let Some(url) = postgres_database("epay_soak_trade_no").await else {
        return;
    };
    let (sb, sandbox) = start_sandbox(&sandbox_config_on(Dax::V30)).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = listener.local_addr().unwrap();
    let toml = proxy_config_on(Dax::V30, sb.addr, proxy, 50)
        .replace("url = \"sqlite::memory:\"", &format!("url = \"{url}\""));
    assert!(
        toml.contains(&url),
        "the order store is PostgreSQL:\n{toml}"
    );
    let config = Arc::new(paybridge::config::Config::from_toml(&toml).expect("valid"));
    let gateway = paybridge::proxy::Gateway::new(config.clone());
    let service = paybridge::app::proxy_service(gateway, config.server.max_in_flight);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(paybridge::server::serve(
        listener,
        service,
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(1),
    ));
    let _running = (sb, Running::new(proxy, stop));

    let client = client(proxy);
    let created = client
        .mapi(&[
            ("pid", PID),
            ("type", "alipay"),
            ("out_trade_no", "SOAKPG1"),
            ("notify_url", "http://127.0.0.1:9/notify"),
            ("name", "soak finding"),
            ("money", "1.00"),
            ("clientip", "127.0.0.1"),
            ("device", "pc"),
        ])
        .await
        .json();
    assert_eq!(created["code"], 1, "{created}");
    let trade_no = created["trade_no"].as_str().expect("trade_no").to_owned();
    assert_eq!(sandbox.orders().len(), 1, "one DaxPay order");

    let answer = client.query(Number::Out("SOAKPG1")).await.json();
    assert_eq!(answer["code"], 1, "{answer}");
    assert_eq!(
        answer["trade_no"].as_str(),
        Some(trade_no.as_str()),
        "the query answers the trade_no the create gave, not DaxPay's order number: {answer}"
    );
    assert_eq!(answer["type"], "alipay", "{answer}");
}

/// Seed 1796636711733996023 (`SOAK_DIALECTS=jeepay,epay scripts/soak-lifecycle 40 single 2.0`):
/// on DaxPay 2.0 every `api.php?act=order` answer said `"param":null` for orders created with a
/// `param` (e.g. `L96023E03N47`, created with `param=fs48`; 94 answers), where the gateway gives
/// the stored `param` back (epay.md §6.3) and paybridge does on 3.0. 2.0.8's pay query carries no
/// `attach` (lifecycle-2.0.md, the pay parameters: "echoed in notices (not in the pay query
/// answer)"), and the epay query answer takes `param` only from DaxPay's `attach`
/// (`dialect::epay::ops`, `param: order.attach`) or facts that never hold it. The fix belongs
/// there: the `param` paybridge keeps (the pay row's `ext_param`), as the Jeepay dialect's
/// `extParam` on 2.0.
#[tokio::test]
async fn act_order_on_dax20_gives_the_param_back() {
    let w = world_on(Dax::new("2.0", "md5")).await;
    let client = w.client();
    let notify_url = w.site.notify_url();
    let created = client
        .mapi(&[
            ("pid", PID),
            ("type", "alipay"),
            ("out_trade_no", "SOAK20P1"),
            ("notify_url", notify_url.as_str()),
            ("name", "soak finding param"),
            ("money", "1.00"),
            ("clientip", "127.0.0.1"),
            ("device", "pc"),
            ("param", "fs48"),
        ])
        .await
        .json();
    assert_eq!(created["code"], 1, "{created}");
    let answer = client.query(Number::Out("SOAK20P1")).await.json();
    assert_eq!(answer["code"], 1, "{answer}");
    assert_eq!(
        answer["param"], "fs48",
        "act=order gives the order's param back: {answer}"
    );
}
