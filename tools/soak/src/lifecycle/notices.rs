//! The merchants' notifications, judged: every final paid order and every final refund DaxPay
//! holds notified at least once, to the `notifyUrl` of the request DaxPay accepted, with the
//! right fields and a valid signature; nothing notified that did not happen; duplicates
//! (at-least-once delivery) counted and explained.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use paybridge_sandbox::{OrderStatus, RefundOrderStatus};

use super::book::lock;
use super::cast::MERCHANTS;
use super::judge::Wrongs;
use super::load::Ctx;
use super::merchant::{Disposition, Endpoint, Received};
use super::truth::{accepted, Truth};

/// A notification's identity: kind, DaxPay's number, state.
type Key = (&'static str, String, String);

fn key_of(n: &Received) -> Option<Key> {
    let state = n.fields.get("state")?.clone();
    match n.fields.get("refundOrderId") {
        Some(no) => Some(("refund", no.clone(), state)),
        None => Some(("pay", n.fields.get("payOrderId")?.clone(), state)),
    }
}

/// What must have been notified: `(kind, number) → states that count`.
pub(crate) fn expected(truth: &Truth) -> HashMap<(&'static str, String), Vec<&'static str>> {
    let mut out = HashMap::new();
    for o in truth.orders.values() {
        if o.status == OrderStatus::Success {
            // A payment notified after a full refund may say 5 (refunded).
            out.insert(("pay", o.order_no.clone()), vec!["2", "5"]);
        }
    }
    for r in truth.refunds.values() {
        if truth.withheld.contains(&r.biz_refund_no) {
            continue;
        }
        let state = match r.status {
            RefundOrderStatus::Success => "2",
            RefundOrderStatus::Fail | RefundOrderStatus::Close => "3",
            RefundOrderStatus::Progress => continue,
        };
        out.insert(("refund", r.refund_no.clone()), vec![state]);
    }
    out
}

fn missing(
    expected: &HashMap<(&'static str, String), Vec<&'static str>>,
    received: &[Received],
) -> Vec<(&'static str, String)> {
    let got: HashSet<Key> = received
        .iter()
        .filter(|n| n.sign_ok)
        .filter_map(key_of)
        .collect();
    expected
        .iter()
        .filter(|((kind, no), states)| {
            !states
                .iter()
                .any(|s| got.contains(&(*kind, no.clone(), (*s).to_owned())))
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// Waits, at most `bound`, until every expected notification arrived; how long it took and
/// which are still missing then.
pub(crate) async fn settle(
    truth: &Truth,
    endpoint: &Endpoint,
    bound: Duration,
) -> (Duration, Vec<(&'static str, String)>) {
    let want = expected(truth);
    let started = Instant::now();
    loop {
        let left = missing(&want, &endpoint.snapshot());
        if left.is_empty() || started.elapsed() >= bound {
            return (started.elapsed(), left);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The `n` owed notifications that arrived last, each with how long after `since` its first
/// receipt came (for the report: what settlement was slowest to deliver).
pub(crate) fn slowest(
    truth: &Truth,
    endpoint: &Endpoint,
    since: Instant,
    n: usize,
) -> Vec<(Duration, &'static str, String)> {
    let want = expected(truth);
    let mut first: HashMap<(&'static str, String), Instant> = HashMap::new();
    for r in endpoint.snapshot().iter().filter(|r| r.sign_ok) {
        let Some((kind, no, state)) = key_of(r) else {
            continue;
        };
        let owed = want
            .get(&(kind, no.clone()))
            .is_some_and(|states| states.contains(&state.as_str()));
        if owed {
            let at = first.entry((kind, no)).or_insert(r.at);
            *at = (*at).min(r.at);
        }
    }
    let mut late: Vec<(Duration, &'static str, String)> = first
        .into_iter()
        .filter(|(_, at)| *at > since)
        .map(|((kind, no), at)| (at - since, kind, no))
        .collect();
    late.sort_by_key(|l| std::cmp::Reverse(l.0));
    late.truncate(n);
    late
}

pub(crate) struct NoticeFigures {
    pub(crate) expected: usize,
    pub(crate) received: usize,
    pub(crate) missing: usize,
    pub(crate) wrong: u64,
    /// Further receipts after one was acknowledged, by explanation.
    pub(crate) duplicates: BTreeMap<&'static str, u64>,
    /// Receipts after a refusal or a hang: retries, not duplicates.
    pub(crate) retries: u64,
}

pub(crate) fn judge(
    ctx: &Ctx,
    truth: &Truth,
    endpoint: &Endpoint,
    wrongs: &mut Wrongs,
) -> NoticeFigures {
    let received = endpoint.snapshot();
    let want = expected(truth);
    let mut wrong = 0;
    for (kind, no) in missing(&want, &received) {
        wrong += 1;
        let order = match kind {
            "pay" => truth.order_by_no(&no).map(|o| o.biz_order_no.clone()),
            _ => truth.refund_by_no(&no).map(|r| r.biz_order_no.clone()),
        };
        wrongs.about(&order.unwrap_or_default());
        wrongs.add(
            "notification missing",
            format!(
                "{kind} {no} is final at DaxPay, never notified (states {:?})",
                want[&(kind, no.clone())]
            ),
        );
    }
    // A notification retried after a 500 or a hang arrives again unchanged (same `reqTime` and
    // signature): it is judged once.
    let mut judged = HashSet::new();
    for n in &received {
        let identity = (n.path.clone(), n.fields.get("sign").cloned());
        if !judged.insert(identity) {
            continue;
        }
        if let Some(why) = check(ctx, truth, n) {
            wrong += 1;
            if let Some(order) = order_of(truth, n) {
                wrongs.about(&order);
            }
            wrongs.add(
                "notification wrong",
                format!("{why}: {} {:?}", n.path, n.fields),
            );
        }
    }
    let kills = lock(&ctx.book.kills).clone();
    let mut groups: HashMap<Key, Vec<&Received>> = HashMap::new();
    for n in &received {
        if let Some(k) = key_of(n) {
            groups.entry(k).or_default().push(n);
        }
    }
    let mut duplicates = BTreeMap::new();
    let mut retries = 0;
    for list in groups.values_mut() {
        list.sort_by_key(|n| n.at);
        let mut acked_at: Option<Instant> = None;
        for n in list.iter() {
            match acked_at {
                None if n.disposition == Disposition::Acknowledged => acked_at = Some(n.at),
                None => {}
                Some(first) => {
                    let near_kill = kills
                        .iter()
                        .any(|(k, _)| *k + Duration::from_secs(1) >= first && *k <= n.at);
                    let why = if near_kill {
                        "acknowledged, then sent again across a kill -9 (the instance died before recording the delivery)"
                    } else {
                        "acknowledged, then sent again (no kill in between)"
                    };
                    *duplicates.entry(why).or_default() += 1;
                    // 2.0 notifies a refund's success twice and a notice may precede its commit:
                    // paybridge must still tell the merchant once (issue 21).
                    if !near_kill && ctx.dax.is_2_0() {
                        wrong += 1;
                        if let Some(order) = order_of(truth, n) {
                            wrongs.about(&order);
                        }
                        wrongs.add(
                            "notification repeated without a kill",
                            format!("{} {:?}", n.path, n.fields),
                        );
                    }
                }
            }
        }
        let before_ack = list
            .iter()
            .take_while(|n| n.disposition != Disposition::Acknowledged)
            .count();
        retries += before_ack.min(list.len().saturating_sub(1)) as u64;
    }
    NoticeFigures {
        expected: want.len(),
        received: received.len(),
        missing: missing(&want, &received).len(),
        wrong,
        duplicates,
        retries,
    }
}

/// The merchant order number a notification is about, for its trail.
fn order_of(truth: &Truth, n: &Received) -> Option<String> {
    match n.fields.get("mchOrderNo") {
        Some(order) => Some(order.clone()),
        None => n
            .fields
            .get("payOrderId")
            .and_then(|p| truth.order_by_no(p))
            .map(|o| o.biz_order_no.clone()),
    }
}

/// Fields a notification must carry, with their values.
type Expected<'a> = Vec<(&'a str, Option<String>)>;

/// `Some(why)` when a notification is wrong.
fn check(ctx: &Ctx, truth: &Truth, n: &Received) -> Option<String> {
    if !n.sign_ok {
        return Some("bad signature".to_owned());
    }
    let f = |k: &str| n.fields.get(k).cloned();
    let state = f("state").unwrap_or_default();
    let (attach, merchant_no, expect): (Option<String>, Option<String>, Expected<'_>);
    if let Some(refund_no) = f("refundOrderId") {
        let Some(r) = truth.refund_by_no(&refund_no) else {
            return Some("a refund DaxPay does not hold".to_owned());
        };
        let fine = match state.as_str() {
            "2" => r.status == RefundOrderStatus::Success,
            "3" => matches!(r.status, RefundOrderStatus::Fail | RefundOrderStatus::Close),
            _ => false,
        };
        if !fine {
            return Some(format!(
                "refund notified state {state}, DaxPay's refund ends {}",
                r.status
            ));
        }
        attach = r.attach.clone();
        merchant_no = truth
            .merchant_of
            .get(&r.biz_order_no)
            .map(|m| MERCHANTS[*m].mch.to_owned());
        expect = vec![
            ("mchRefundNo", Some(r.biz_refund_no.clone())),
            ("payOrderId", Some(r.order_no.clone())),
            ("refundAmount", Some(r.amount.fen().to_string())),
            ("extParam", r.attach.clone()),
        ];
    } else {
        let no = f("payOrderId").unwrap_or_default();
        let Some(o) = truth.order_by_no(&no) else {
            return Some("a payment DaxPay does not hold".to_owned());
        };
        if o.status != OrderStatus::Success || !(state == "2" || state == "5") {
            return Some(format!(
                "payment notified state {state}, DaxPay's order ends {}",
                o.status
            ));
        }
        attach = o.attach.clone();
        merchant_no = truth
            .merchant_of
            .get(&o.biz_order_no)
            .map(|m| MERCHANTS[*m].mch.to_owned());
        let way = accepted(ctx, o.attach.as_deref()).map(|fs| fs.way.to_owned());
        expect = vec![
            ("mchOrderNo", Some(o.biz_order_no.clone())),
            ("amount", Some(o.amount.fen().to_string())),
            ("extParam", o.attach.clone()),
            ("wayCode", way),
        ];
    }
    if f("mchNo") != merchant_no {
        return Some(format!("mchNo, expected {merchant_no:?}"));
    }
    for (key, want) in expect {
        if f(key) != want {
            return Some(format!(
                "{key} {:?}, the accepted request's is {want:?}",
                f(key)
            ));
        }
    }
    let Some(fs) = accepted(ctx, attach.as_deref()) else {
        return Some("DaxPay's attach names no request of the soak".to_owned());
    };
    (n.path != fs.notify_path).then(|| {
        format!(
            "sent to {}, the accepted request's notifyUrl is {}",
            n.path, fs.notify_path
        )
    })
}
