//! `paybridge reconcile`, the real binary, against a DaxPay sandbox where rows were made to
//! differ: an order paid at DaxPay that paybridge never heard of, an amount changed at DaxPay, a
//! row DaxPay has no record of. It reports each (table and JSON), exits 1 while any remains,
//! and `--repair` settles the one that can be settled: the merchant is notified.

mod common;

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use common::merchant::Merchant;
use common::*;
use paybridge::config::StoreUrl;
use paybridge::store::{OrderStore, PayRow, RowState, SettlementKind, SettlementStatus};
use paybridge_sandbox::{Amount, OrderStatus};
use serde_json::Value;
use tokio::net::TcpListener;

fn reconcile(config: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .arg("reconcile")
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("PAYBRIDGE_CONFIG")
        .output()
        .expect("paybridge runs")
}

fn differences(output: &Output) -> Vec<(String, String, String)> {
    let report: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["number"].as_str().unwrap().to_owned(),
                d["difference"].as_str().unwrap().to_owned(),
                d["repaired"].to_string(),
            )
        })
        .collect()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_reports_each_difference_and_repairs_what_it_can() {
    let merchant = Merchant::start(&["SUCCESS"]).await;
    let (_sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orders.sqlite");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = listener.local_addr().unwrap();
    // The settlement worker is off: the differences stay for reconcile to find.
    let toml = proxy_toml(_sb.addr, "3.0", "hmac_sha256", "", "")
        .replace(
            "[server]\n",
            &format!("[server]\npublic_url = \"http://{proxy}\"\n"),
        )
        .replace("url = \"sqlite::memory:\"", &format!("url = \"sqlite://{}\"", db.display()))
        + "\n[notify]\nretry_step_ms = 50\nallow_private_targets = true\n\n[settlement]\nenabled = false\n";
    let config_path = dir.path().join("paybridge.toml");
    std::fs::write(&config_path, &toml).unwrap();
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

    let url = format!("http://{}/pay", merchant.addr);
    let mut numbers = Vec::new();
    for no in ["PAID", "AMOUNT", "OPEN"] {
        let answer = post_json(proxy, "/api/pay/unifiedOrder", &pay_body(no, &url))
            .await
            .json();
        assert_eq!(answer["code"], 0, "{answer}");
        numbers.push(answer["data"]["payOrderId"].as_str().unwrap().to_owned());
    }
    // Paid at DaxPay, never called back; an amount that is not the one paybridge asked for.
    assert!(sandbox.set_order_status(&numbers[0], OrderStatus::Success));
    assert!(sandbox.update_order(&numbers[1], |o| o.amount = Amount::from_fen(999)));
    // A row DaxPay never heard of.
    let store =
        OrderStore::open(&StoreUrl::parse(&format!("sqlite://{}", db.display())).unwrap()).unwrap();
    let ghost = PayRow {
        mch_no: JEEPAY_MCH.to_owned(),
        app_id: JEEPAY_APP.to_owned(),
        mch_order_no: "GHOST".to_owned(),
        pay_order_id: Some("P_NOT_AT_DAXPAY".to_owned()),
        way_code: "WX_NATIVE".to_owned(),
        currency: "cny".to_owned(),
        client_ip: None,
        amount_fen: 100,
        subject: "s".to_owned(),
        body: "b".to_owned(),
        ext_param: None,
        notify_url: None,
        return_url: None,
        upstream: "dax".to_owned(),
        created_at_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
        state: RowState::Created,
        token: None,
        attempt: None,
    };
    store.insert_pay(ghost).await.unwrap();

    let config_file = config_path.clone();
    let first = tokio::task::spawn_blocking(move || reconcile(&config_file, &["--json"]))
        .await
        .unwrap();
    assert_eq!(first.status.code(), Some(1), "{first:?}");
    let mut found = differences(&first);
    found.sort();
    assert_eq!(
        found,
        [
            ("AMOUNT".into(), "amount".into(), "false".into()),
            ("GHOST".into(), "missing".into(), "false".into()),
            ("PAID".into(), "state".into(), "false".into()),
        ]
    );
    let report: Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(
        report["open"], 2,
        "AMOUNT and OPEN are unpaid: not differences of state"
    );
    assert!(
        merchant.received().is_empty(),
        "nothing sent without --repair"
    );

    // The table says the same, for a person.
    let config_file = config_path.clone();
    let table = tokio::task::spawn_blocking(move || reconcile(&config_file, &[]))
        .await
        .unwrap();
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("GHOST") && text.contains("missing"), "{text}");
    assert!(
        text.contains("3 differences, 0 repaired, 3 remaining"),
        "{text}"
    );

    let config_file = config_path.clone();
    let repaired =
        tokio::task::spawn_blocking(move || reconcile(&config_file, &["--json", "--repair"]))
            .await
            .unwrap();
    assert_eq!(repaired.status.code(), Some(1), "two remain: {repaired:?}");
    assert!(differences(&repaired).contains(&("PAID".into(), "state".into(), "true".into())));
    // The payment's notification was owed: queued by the repair, delivered by the proxy.
    for _ in 0..250 {
        if !merchant.received().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let n = merchant.received();
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(n[0].params["mchOrderNo"], "PAID");
    assert_eq!(n[0].params["state"], "2");
    let entry = store
        .settlement(SettlementKind::Pay, JEEPAY_MCH, "PAID")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (entry.status, entry.dax_state.as_deref()),
        (SettlementStatus::Final, Some("success"))
    );

    let config_file = config_path.clone();
    let after = tokio::task::spawn_blocking(move || reconcile(&config_file, &["--json"]))
        .await
        .unwrap();
    let mut left = differences(&after);
    left.sort();
    assert_eq!(
        left,
        [
            ("AMOUNT".into(), "amount".into(), "false".into()),
            ("GHOST".into(), "missing".into(), "false".into()),
        ]
    );
}
