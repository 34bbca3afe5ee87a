//! Unit tests of `notify::settle`.

use super::*;

fn row(status: Option<RefundOrderStatus>) -> RefundRow {
    RefundRow {
        mch_no: "M1".to_owned(),
        app_id: "app1".to_owned(),
        mch_refund_no: "R1".to_owned(),
        refund_order_id: Some("DR1".to_owned()),
        pay_order_id: None,
        mch_order_no: None,
        refund_amount_fen: 100,
        pay_amount_fen: None,
        currency: "cny".to_owned(),
        ext_param: None,
        notify_url: Some("https://m.example/r".to_owned()),
        created_at_ms: 0,
        state: RowState::Created,
        token: None,
        attempt: None,
        status,
    }
}

fn attempt(id: &str, fen: i64, ext: Option<&str>, notify: &str) -> PayRow {
    PayRow {
        mch_no: "M1".to_owned(),
        app_id: "app1".to_owned(),
        mch_order_no: "O1".to_owned(),
        pay_order_id: None,
        way_code: "WX_NATIVE".to_owned(),
        currency: "cny".to_owned(),
        client_ip: None,
        amount_fen: fen,
        subject: "s".to_owned(),
        body: "b".to_owned(),
        ext_param: ext.map(str::to_owned),
        notify_url: Some(notify.to_owned()),
        return_url: None,
        upstream: "dax".to_owned(),
        created_at_ms: 0,
        state: RowState::Pending,
        token: None,
        attempt: Some(id.to_owned()),
    }
}

fn order(fen: u64, attach: Option<&str>) -> PayOrder {
    PayOrder {
        order_no: "P1".to_owned(),
        biz_order_no: "O1".to_owned(),
        channel: None,
        method: None,
        amount: crate::domain::order::Fen(fen),
        status: crate::domain::order::PayStatus::Progress,
        refund_status: None,
        title: None,
        description: None,
        out_order_no: None,
        attach: attach.map(str::to_owned),
        error_code: None,
        error_msg: None,
        paid_at_ms: None,
        expires_at_ms: None,
        kept: None,
    }
}

/// DaxPay's amount and attach name the request it acted on; alike requests are one; unlike
/// ones that match alike leave it unclear; an empty extParam is none.
#[test]
fn the_pay_maker_is_the_attempt_daxpay_s_record_matches() {
    let a = attempt("a", 100, Some("x"), "/A");
    let b = attempt("b", 100, Some("y"), "/B");
    let a2 = attempt("a2", 100, Some("x"), "/A");
    let c = attempt("c", 100, Some("x"), "/C");
    let who = |attempts: &[&PayRow], o: &PayOrder| {
        maker_among(attempts.iter().map(|r| (*r).clone()).collect(), o, true)
    };
    assert_eq!(
        who(&[&a, &b], &order(100, Some("y"))),
        PayMaker::Attempt(Box::new(b.clone()))
    );
    assert_eq!(
        who(&[&a, &b], &order(100, Some("x"))),
        PayMaker::Attempt(Box::new(a.clone()))
    );
    assert_eq!(
        who(&[&a, &a2], &order(100, Some("x"))),
        PayMaker::Attempt(Box::new(a.clone()))
    );
    assert_eq!(who(&[&a, &c], &order(100, Some("x"))), PayMaker::Unclear);
    assert_eq!(who(&[&a, &b], &order(200, Some("x"))), PayMaker::NoMatch);
    let none = attempt("n", 100, Some(""), "/N");
    assert_eq!(
        who(&[&none], &order(100, None)),
        PayMaker::Attempt(Box::new(none.clone()))
    );
}

/// A joined attempt with no send mark and no answer never reached DaxPay; the row's first
/// attempt (sent without a probe), the one the row carries, a marked one and an answered
/// one may have. Only the unsent are taken off the row's count of candidates.
#[test]
fn a_joined_attempt_without_a_send_mark_sent_nothing() {
    use crate::store::landing::AttemptWindow;
    let window = |attempt: &str, sent_until_ms: Option<i64>, answered: bool| AttemptWindow {
        attempt: attempt.to_owned(),
        created_at_ms: 1,
        sent_until_ms,
        answered,
    };
    let mut row = RowAttempts {
        pending: true,
        live: 4,
        carried: Some("a".to_owned()),
        windows: vec![
            window("a", None, false),
            window("b", None, false),
            window("c", Some(5), false),
            window("d", None, true),
        ],
    };
    assert!(!never_sent(&row, Some("a")));
    assert!(never_sent(&row, Some("b")));
    assert!(!never_sent(&row, Some("c")));
    assert!(!never_sent(&row, Some("d")));
    assert!(!never_sent(&row, Some("unlisted")));
    assert!(!never_sent(&row, None));
    assert_eq!(sent_candidates(&row), 3);
    // The first request listed after a joined one (another instance's clock, or the same
    // millisecond): the attempt the row carries is kept all the same.
    row.windows.swap(0, 1);
    assert!(!never_sent(&row, Some("a")));
    assert!(!never_sent(&row, Some("b")), "oldest listed");
    assert_eq!(sent_candidates(&row), 4);
    // Only what is listed is taken off the count (a row written before attempts were).
    row.windows.clear();
    row.live = 2;
    assert_eq!(sent_candidates(&row), 2);
}

/// A record is notified only when the row holds its Jeepay state: a stale failure after a
/// success, or anything before the row was settled, queues nothing.
#[test]
fn a_record_is_notified_only_when_the_row_holds_its_state() {
    use RefundOrderStatus::*;
    for (held, learnt, notified) in [
        (Some(Fail), Fail, true),
        (Some(Fail), Close, true),
        (Some(Close), Fail, true),
        (Some(Success), Success, true),
        (Some(Success), Fail, false),
        (Some(Progress), Progress, true),
        (None, Fail, false),
    ] {
        assert_eq!(holds(&row(held), learnt), notified, "{held:?} {learnt:?}");
    }
}
