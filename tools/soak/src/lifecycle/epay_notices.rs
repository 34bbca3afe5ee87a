//! The epay merchant's notifications, judged (epay.md §11): GETs with a valid MD5, every paid
//! order notified at least once, none for an order that is not paid, the fields of the create
//! DaxPay took, to its `notify_url`; after an acknowledged one, another only across a kill -9.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use paybridge_sandbox::OrderStatus;

use super::book::lock;
use super::cast::EPAY;
use super::epay::{php_float, NAME};
use super::epay_judge::{accepted, known, EFigures, ETruth, Known};
use super::judge::Wrongs;
use super::load::Ctx;
use super::merchant::{Disposition, Endpoint, Received};

/// Paid orders not yet notified with a valid signature.
pub(crate) fn missing(truth: &ETruth, received: &[Received]) -> Vec<String> {
    let got: HashSet<&str> = received
        .iter()
        .filter(|n| n.sign_ok)
        .filter_map(|n| n.fields.get("out_trade_no").map(String::as_str))
        .collect();
    let mut out: Vec<String> = truth
        .orders
        .iter()
        .filter(|(no, o)| o.status == OrderStatus::Success && !got.contains(no.as_str()))
        .map(|(no, _)| no.clone())
        .collect();
    out.sort();
    out
}

/// Waits, at most `bound`, until every paid order was notified.
pub(crate) async fn settle(truth: &ETruth, endpoint: &Endpoint, bound: Duration) -> usize {
    let started = Instant::now();
    loop {
        let left = missing(truth, &endpoint.snapshot_epay()).len();
        if left == 0 || started.elapsed() >= bound {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub(crate) fn judge_notices(
    ctx: &Ctx,
    truth: &ETruth,
    endpoint: &Endpoint,
    wrongs: &mut Wrongs,
    f: &mut EFigures,
) {
    let received = endpoint.snapshot_epay();
    let k = known(ctx, truth, &lock(&ctx.epay.sent).clone());
    f.notices_received = received.len();
    let left = missing(truth, &received);
    f.notices_missing = left.len();
    for no in left {
        f.notices_wrong += 1;
        wrongs.about(&no);
        wrongs.add(
            "epay notification missing",
            format!("{no} is paid at DaxPay, never notified"),
        );
    }
    let mut judged = HashSet::new();
    for n in &received {
        if !judged.insert((n.path.clone(), n.fields.get("sign").cloned())) {
            continue;
        }
        if let Some(why) = check_notice(ctx, truth, &k, n) {
            f.notices_wrong += 1;
            if let Some(no) = n.fields.get("out_trade_no") {
                wrongs.about(no);
            }
            wrongs.add(
                "epay notification wrong",
                format!("{why}: {} {:?}", n.path, n.fields),
            );
        }
    }
    let kills = lock(&ctx.book.kills).clone();
    let mut groups: HashMap<String, Vec<&Received>> = HashMap::new();
    for n in &received {
        if let Some(no) = n.fields.get("out_trade_no") {
            groups.entry(no.clone()).or_default().push(n);
        }
    }
    for (no, list) in groups.iter_mut() {
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
                    if near_kill {
                        f.duplicates_across_kill += 1;
                    } else {
                        f.notices_wrong += 1;
                        wrongs.about(no);
                        wrongs.add(
                            "epay notification repeated without a kill",
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
        f.retries += before_ack.min(list.len().saturating_sub(1)) as u64;
    }
}

fn check_notice(ctx: &Ctx, truth: &ETruth, k: &Known, n: &Received) -> Option<String> {
    if !n.get {
        return Some("not a GET".to_owned());
    }
    if !n.sign_ok {
        return Some("bad signature".to_owned());
    }
    let field = |key: &str| n.fields.get(key).cloned();
    let no = field("out_trade_no").unwrap_or_default();
    let Some(o) = truth.orders.get(&no) else {
        return Some("an order DaxPay does not hold".to_owned());
    };
    if o.status != OrderStatus::Success {
        return Some(format!("notified, but DaxPay's order ends {}", o.status));
    }
    let Some(fs) = accepted(ctx, o) else {
        return Some("DaxPay's attach names no request of the soak".to_owned());
    };
    let expect = [
        ("pid", Some(EPAY.pid.to_owned())),
        ("type", Some(fs.kind.to_owned())),
        ("name", Some(NAME.to_owned())),
        ("money", Some(php_float(o.amount.fen()))),
        ("trade_status", Some("TRADE_SUCCESS".to_owned())),
        ("param", o.attach.clone()),
        ("sign_type", Some("MD5".to_owned())),
    ];
    for (key, want) in expect {
        if field(key) != want {
            return Some(format!(
                "{key} {:?}, DaxPay's order says {want:?}",
                field(key)
            ));
        }
    }
    if let (Some(t), Some(set)) = (field("trade_no"), k.trade_nos.get(&no)) {
        if !set.contains(&t) {
            return Some(format!("trade_no {t} is not the create's {set:?}"));
        }
    }
    (n.path != fs.notify_path).then(|| {
        format!(
            "sent to {}, the accepted request's notify_url is {}",
            n.path, fs.notify_path
        )
    })
}
