//! A pay DaxPay created and a refund it accepted, end to end through real sockets: each row is
//! completed and the request's attempt marked answered (`replay::landing`), the two written in
//! one transaction since issue 23 (tests/settlement_store.rs shows "both or neither"); read back
//! from the store's file, as another instance would.

mod common;

use common::*;
use paybridge::config::StoreUrl;
use paybridge::store::{OrderStore, SettlementKind};

#[tokio::test]
async fn a_created_pay_and_an_accepted_refund_are_completed_and_marked_answered() {
    let (sb, sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/orders.sqlite", dir.path().display());
    let toml = proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "")
        .replace("url = \"sqlite::memory:\"", &format!("url = \"{url}\""));
    let proxy = start_proxy(&toml).await;

    let pay = jeepay_body(&[
        ("mchOrderNo", "P1"),
        ("wayCode", "WX_NATIVE"),
        ("amount", "1230"),
        ("currency", "cny"),
        ("subject", "s"),
        ("body", "b"),
    ]);
    let answer = post_json(proxy.addr, "/api/pay/unifiedOrder", &pay)
        .await
        .json();
    assert_eq!(answer["code"], 0, "{answer}");
    assert!(sdk_accepts(&answer, JEEPAY_SECRET), "{answer}");
    let order_no = answer["data"]["payOrderId"].as_str().unwrap().to_owned();
    sandbox.pay_order(&order_no).expect("the sandbox pays it");

    let refund = jeepay_body(&[
        ("mchOrderNo", "P1"),
        ("mchRefundNo", "R1"),
        ("refundAmount", "500"),
        ("currency", "cny"),
        ("refundReason", "r"),
    ]);
    let answer = post_json(proxy.addr, "/api/refund/refundOrder", &refund)
        .await
        .json();
    assert_eq!(answer["code"], 0, "{answer}");
    assert!(sdk_accepts(&answer, JEEPAY_SECRET), "{answer}");

    let store = OrderStore::open(&StoreUrl::parse(&url).unwrap()).unwrap();
    for (kind, number) in [(SettlementKind::Pay, "P1"), (SettlementKind::Refund, "R1")] {
        let rows = store
            .attempt_windows(kind, JEEPAY_MCH, number)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{number}: no row"));
        assert!(!rows.pending, "{number}: the row is completed");
        assert_eq!(rows.windows.len(), 1, "{number}: {rows:?}");
        assert!(
            rows.windows[0].answered,
            "{number}: its call is marked answered"
        );
    }
}
