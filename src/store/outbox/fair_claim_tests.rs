//! The fair claim on SQLite: candidates in merchants' turns, leases that skip what another
//! owner took. tests/notify_fairness.rs runs the same against PostgreSQL when one is given.

use crate::config::StoreUrl;
use crate::store::*;

fn store() -> OrderStore {
    OrderStore::open(&StoreUrl::parse("sqlite::memory:").unwrap()).unwrap()
}

fn job(mch_no: &str, order_id: &str, due_at_ms: i64) -> NewNotification {
    NewNotification {
        mch_no: mch_no.to_owned(),
        app_id: "app".to_owned(),
        kind: NotificationKind::Pay,
        order_id: order_id.to_owned(),
        state: 2,
        url: format!("https://{}.example/n", mch_no.to_ascii_lowercase()),
        body: format!("payOrderId={order_id}"),
        due_at_ms,
        wire: NotificationWire::JeepayPost,
    }
}

async fn enqueue(store: &OrderStore, n: &NewNotification) -> i64 {
    store.enqueue_notification(n, 0).await.unwrap();
    match store.enqueue_notification(n, 0).await.unwrap() {
        Inserted::Exists(existing) => existing.id,
        Inserted::New => panic!("enqueued twice"),
    }
}

#[tokio::test]
async fn candidates_come_in_merchants_turns_and_only_when_due_and_free() {
    let store = store();
    let mut a = Vec::new();
    for i in 0..5 {
        a.push(enqueue(&store, &job("A", &format!("a{i}"), 10 + i)).await);
    }
    let b = enqueue(&store, &job("B", "b0", 100)).await;
    let c0 = enqueue(&store, &job("C", "c0", 50)).await;
    let c1 = enqueue(&store, &job("C", "c1", 60)).await;
    let later = enqueue(&store, &job("B", "b-later", 10_000)).await;

    let due = store.due_notifications(1_000, 100).await.unwrap();
    let order: Vec<i64> = due.iter().map(|d| d.id).collect();
    // Turn 1: A's, C's, B's oldest (oldest first); turn 2: A's and C's second; then A's rest.
    assert_eq!(order, vec![a[0], c0, b, a[1], c1, a[2], a[3], a[4]]);
    assert!(!order.contains(&later), "not due yet");
    assert_eq!(due[2].mch_no, "B");
    assert_eq!(due[2].url, "https://b.example/n");
    assert_eq!(due[2].next_attempt_at_ms, 100);
    // The limit keeps each merchant's oldest when there are few merchants.
    let three: Vec<i64> = store
        .due_notifications(1_000, 3)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(three, vec![a[0], c0, b]);

    // A leased job is no candidate until its lease is over.
    let leased = store
        .lease_notifications("w1", &[b], 1_000, 500)
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].lease_owner.as_deref(), Some("w1"));
    assert_eq!(leased[0].lease_until_ms, Some(1_500));
    let ids = |d: Vec<DueNotification>| d.iter().map(|d| d.id).collect::<Vec<_>>();
    assert!(!ids(store.due_notifications(1_499, 100).await.unwrap()).contains(&b));
    assert!(ids(store.due_notifications(1_500, 100).await.unwrap()).contains(&b));
}

#[tokio::test]
async fn a_lease_takes_only_what_is_still_pending_due_and_free_in_the_callers_order() {
    let store = store();
    let x = enqueue(&store, &job("A", "x", 10)).await;
    let y = enqueue(&store, &job("A", "y", 20)).await;
    let z = enqueue(&store, &job("B", "z", 30)).await;
    let future = enqueue(&store, &job("B", "f", 5_000)).await;
    assert!(store
        .lease_notifications("w1", &[], 100, 1_000)
        .await
        .unwrap()
        .is_empty());

    // Another owner took y first; z was delivered meanwhile; `future` is not due.
    assert_eq!(
        store
            .lease_notifications("w2", &[y], 100, 1_000)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .lease_notifications("w3", &[z], 100, 1_000)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store.mark_delivered(z, "w3", 110).await.unwrap());
    let leased = store
        .lease_notifications("w1", &[z, future, y, x], 200, 1_000)
        .await
        .unwrap();
    assert_eq!(leased.iter().map(|n| n.id).collect::<Vec<_>>(), vec![x]);
    assert_eq!(leased[0].lease_owner.as_deref(), Some("w1"));
    // Only the owner marks it; y's lease, once over, may be taken (the dead-instance case).
    assert!(!store.mark_delivered(x, "w2", 300).await.unwrap());
    let taken = store
        .lease_notifications("w1", &[y, x], 1_100, 1_000)
        .await
        .unwrap();
    assert_eq!(
        taken.iter().map(|n| n.id).collect::<Vec<_>>(),
        vec![y],
        "x's lease holds"
    );
    assert!(
        !store.mark_retry(y, "w2", 5_000, "late").await.unwrap(),
        "w2 lost it"
    );
    assert!(store.mark_delivered(y, "w1", 1_200).await.unwrap());
}
