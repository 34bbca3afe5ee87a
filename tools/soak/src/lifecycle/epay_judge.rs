//! The epay merchant judged by epay's semantics (epay.md §6, §10, §11; docs/operations-mapping.md
//! "epay"), against DaxPay's records: every answer, every order DaxPay holds (asked of paybridge
//! with `api.php?act=order` afterwards), every refund DaxPay made, every notification.
//!
//! - `mapi.php` `code 1`: a DaxPay order of that number, that amount and that request's `param`
//!   (its `attach`); one `trade_no` per `out_trade_no`. Refusals must have their cause:
//!   `支付参数有变化` (or `该订单号(…)已存在`) another create of the number came first, `已完成支付`
//!   DaxPay's order is paid,
//!   `订单未处理` nothing of this request's at DaxPay.
//! - `act=order` `code 1`: DaxPay's amount, `param`, `type`, the create's `trade_no`, and a
//!   `status` DaxPay's record had when it was asked (0 unpaid, 1 paid, 2 refunded; epay has no
//!   failed state): an older state only while the change was not yet known to the driver.
//! - `act=refund` `code 0` (epay's refund success): a DaxPay refund of that order, that amount and
//!   the answered `refund_no`, claimed by no other answer. V1 refunds carry no merchant number, so
//!   a refund answered as failed is found by counting: every DaxPay refund of the order must be
//!   claimed by a success or matched (by amount) to a request whose answer was unknown.
//! - Notifications: judged in [`super::epay_notices`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use paybridge_sandbox::{
    OrderStatus, RefundOrderStatus, RefundStatus, SandboxOrder, SandboxRefund,
};

use super::book::{lock, FieldSet};
use super::cast::EPAY;
use super::epay::{query_fields, yuan, EAnswer, EFieldSet, EOp, ESent, NAME};
use super::judge::Wrongs;
use super::load::Ctx;

/// DaxPay's records of the epay merchant, by its own `out_trade_no`.
pub(crate) struct ETruth {
    pub(crate) orders: HashMap<String, SandboxOrder>,
    pub(crate) refunds: HashMap<String, Vec<SandboxRefund>>,
}

impl ETruth {
    pub(crate) fn read(ctx: &Ctx) -> ETruth {
        let mut orders = HashMap::new();
        let mut refunds: HashMap<String, Vec<SandboxRefund>> = HashMap::new();
        for no in lock(&ctx.epay.orders).iter() {
            if let Some(o) = ctx.epay_dax_order(no) {
                orders.insert(no.clone(), o);
                refunds.insert(no.clone(), ctx.epay_dax_refunds(no));
            }
        }
        ETruth { orders, refunds }
    }

    fn paid(&self, order: &str) -> bool {
        self.orders
            .get(order)
            .is_some_and(|o| o.status == OrderStatus::Success)
    }
}

/// epay's `status` of a DaxPay order (docs/operations-mapping.md "States").
fn status(o: &SandboxOrder) -> &'static str {
    match o.status {
        OrderStatus::Success
            if matches!(
                o.refund_status,
                RefundStatus::PartialRefund | RefundStatus::Refunded
            ) =>
        {
            "2"
        }
        OrderStatus::Success => "1",
        _ => "0",
    }
}

/// The figures of the epay part, for the report.
#[derive(Default)]
pub(crate) struct EFigures {
    pub(crate) answers: BTreeMap<&'static str, (u64, u64, u64)>,
    /// Answers by operation, code and words (numbers in them elided).
    pub(crate) kinds: BTreeMap<(&'static str, String), u64>,
    pub(crate) orders: usize,
    pub(crate) paid: usize,
    pub(crate) refunds: usize,
    pub(crate) refunded_fen: u64,
    pub(crate) records: (u64, u64),
    pub(crate) notices_received: usize,
    pub(crate) notices_missing: usize,
    pub(crate) notices_wrong: u64,
    pub(crate) duplicates_across_kill: u64,
    pub(crate) retries: u64,
}

impl EFigures {
    pub(crate) fn render(&self) -> String {
        let mut s = String::from("epay V1 merchant (pid 1001)\n");
        for (op, (n, unknown, wrong)) in &self.answers {
            s.push_str(&format!(
                "  {op:<16} {n:>6} answers, {unknown:>4} unknown, {wrong:>3} wrong\n"
            ));
        }
        s.push_str("  answers by code and words:\n");
        for ((op, kind), n) in &self.kinds {
            s.push_str(&format!("    {n:>6}  {op}: {kind}\n"));
        }
        s.push_str(&format!(
            "  DaxPay holds {} orders ({} paid), {} refunds ({} fen); records asked {}, wrong {}\n",
            self.orders, self.paid, self.refunds, self.refunded_fen, self.records.0, self.records.1
        ));
        s.push_str(&format!(
            "  notifications: {} received, {} missing, {} wrong, {} retries after a refusal or a hang, {} repeated across a kill -9\n",
            self.notices_received,
            self.notices_missing,
            self.notices_wrong,
            self.retries,
            self.duplicates_across_kill
        ));
        s
    }
}

#[derive(Default)]
pub(super) struct Known {
    created: HashMap<String, Instant>,
    paid: HashMap<String, Instant>,
    refunded: HashMap<String, Instant>,
    pub(super) trade_nos: HashMap<String, HashSet<String>>,
}

fn earliest(map: &mut HashMap<String, Instant>, key: &str, at: Instant) {
    let e = map.entry(key.to_owned()).or_insert(at);
    *e = (*e).min(at);
}

fn before(map: &HashMap<String, Instant>, key: &str, t: Instant) -> bool {
    map.get(key).is_some_and(|at| *at < t)
}

pub(super) fn known(ctx: &Ctx, truth: &ETruth, sent: &[ESent]) -> Known {
    let lag = ctx.dax.commit_lag();
    let mut k = Known::default();
    for s in sent {
        match (s.op, s.answer.code()) {
            (EOp::Create, Some(1)) | (EOp::Query, Some(1)) => {
                earliest(&mut k.created, &s.order, s.done);
                if let Some(t) = s.answer.text("trade_no") {
                    k.trade_nos.entry(s.order.clone()).or_default().insert(t);
                }
                if s.op == EOp::Query {
                    match s.answer.text("status").as_deref() {
                        Some("1") => earliest(&mut k.paid, &s.order, s.done),
                        Some("2") => {
                            earliest(&mut k.paid, &s.order, s.done);
                            earliest(&mut k.refunded, &s.order, s.done);
                        }
                        _ => {}
                    }
                }
            }
            // A channel failure or an unknown outcome still names paybridge's `trade_no`.
            (EOp::Create, Some(-2)) => {
                if let Some(t) = s.answer.text("trade_no") {
                    k.trade_nos.entry(s.order.clone()).or_default().insert(t);
                }
            }
            (EOp::Refund, Some(0)) if s.answer.msg().contains("退款成功") => {
                earliest(&mut k.refunded, &s.order, s.done)
            }
            _ => {}
        }
    }
    for (order, at) in lock(&ctx.epay.paid).iter() {
        earliest(&mut k.paid, order, *at + lag);
    }
    let settled = lock(&ctx.epay.refund_settled).clone();
    for (order, refunds) in &truth.refunds {
        for r in refunds {
            if r.status != RefundOrderStatus::Success {
                continue;
            }
            if let Some(at) = settled.get(&r.refund_no) {
                earliest(&mut k.refunded, order, *at + lag);
            }
        }
    }
    k
}

fn fieldset(ctx: &Ctx, id: Option<u64>) -> Option<EFieldSet> {
    lock(&ctx.epay.fieldsets).get(&id?).cloned()
}

/// The field set DaxPay took: the one whose `param` became the order's `attach`.
pub(super) fn accepted(ctx: &Ctx, o: &SandboxOrder) -> Option<EFieldSet> {
    fieldset(ctx, FieldSet::id_of(o.attach.as_deref()?))
}

pub(crate) fn judge_answers(ctx: &Ctx, truth: &ETruth, wrongs: &mut Wrongs, f: &mut EFigures) {
    let sent = lock(&ctx.epay.sent).clone();
    let k = known(ctx, truth, &sent);
    for (order, numbers) in &k.trade_nos {
        if numbers.len() > 1 {
            wrongs.about(order);
            wrongs.add(
                "epay: two trade_no for one out_trade_no",
                format!("{order}: {numbers:?}"),
            );
        }
    }
    let mut claimed: HashMap<String, u64> = HashMap::new();
    for s in &sent {
        *f.kinds
            .entry((s.op.label(), kind_of(&s.answer)))
            .or_default() += 1;
        let entry = f.answers.entry(s.op.label()).or_default();
        entry.0 += 1;
        if s.answer.unknown() {
            entry.1 += 1;
            continue;
        }
        if s.op == EOp::Refund && s.answer.code() == Some(0) {
            if let Some(no) = s.answer.text("refund_no") {
                *claimed.entry(no).or_default() += 1;
            }
        }
        if let Some(why) = check(ctx, truth, &k, &sent, s) {
            entry.2 += 1;
            wrongs.about(&s.order);
            wrongs.add(
                &format!("epay answer: {}", s.op.label()),
                format!(
                    "{} {}: {why}; answer {}",
                    s.op.label(),
                    s.order,
                    s.answer.describe()
                ),
            );
        }
    }
    for (no, n) in claimed.iter().filter(|(_, n)| **n > 1) {
        wrongs.add(
            "epay answer: one refund_no answered to two refunds",
            format!("refund_no {no} answered {n} times as a success"),
        );
    }
    // Refunds DaxPay made that no success claims: each must be a request whose outcome the
    // merchant was not told (unknown), of that amount.
    for (order, refunds) in &truth.refunds {
        let mut unknown: Vec<u64> = sent
            .iter()
            .filter(|s| s.op == EOp::Refund && s.order == *order && s.answer.unknown())
            .filter_map(|s| s.refund_fen)
            .collect();
        for r in refunds {
            let own = own_refund_no(ctx, &r.biz_refund_no);
            if claimed.contains_key(own) {
                continue;
            }
            match unknown.iter().position(|fen| *fen == r.amount.fen()) {
                Some(i) => {
                    unknown.swap_remove(i);
                }
                None => {
                    wrongs.about(order);
                    wrongs.add(
                        "epay refund made but answered as failed",
                        format!(
                            "{order}: DaxPay refund {} ({}, {} fen, {}) claimed by no success and no unknown answer of that amount",
                            r.refund_no,
                            r.biz_refund_no,
                            r.amount.fen(),
                            r.status
                        ),
                    );
                }
            }
        }
    }
    f.orders = truth.orders.len();
    f.paid = truth
        .orders
        .values()
        .filter(|o| o.status == OrderStatus::Success)
        .count();
    f.refunds = truth.refunds.values().map(Vec::len).sum();
    f.refunded_fen = truth
        .refunds
        .values()
        .flatten()
        .filter(|r| r.status == RefundOrderStatus::Success)
        .map(|r| r.amount.fen())
        .sum();
}

/// An answer's code and words with the numbers in them elided, to count answers by kind.
fn kind_of(answer: &EAnswer) -> String {
    match answer {
        EAnswer::Lost(why) => format!("no answer ({})", why.split(':').next().unwrap_or("")),
        EAnswer::Got { http, .. } => {
            let mut msg = String::new();
            for c in answer.msg().chars() {
                if c.is_ascii_alphanumeric() || c == '.' {
                    if !msg.ends_with('…') {
                        msg.push('…');
                    }
                } else {
                    msg.push(c);
                }
            }
            format!("HTTP {http} code {:?} {msg}", answer.code())
        }
    }
}

/// The refund number as the merchant sees it (2.0: without the order prefix).
fn own_refund_no<'a>(ctx: &Ctx, biz: &'a str) -> &'a str {
    match ctx.dax.is_2_0() {
        true => biz.strip_prefix(EPAY.prefix_2_0).unwrap_or(biz),
        false => biz,
    }
}

fn check(ctx: &Ctx, truth: &ETruth, k: &Known, all: &[ESent], s: &ESent) -> Option<String> {
    let EAnswer::Got { http, .. } = &s.answer else {
        return None;
    };
    if *http != 200 {
        return Some(format!("HTTP {http}"));
    }
    let order = truth.orders.get(&s.order);
    let msg = s.answer.msg();
    let t = |key: &str| s.answer.text(key);
    let other_create_before = || {
        all.iter()
            .any(|o| o.op == EOp::Create && o.id != s.id && o.order == s.order && o.sent < s.done)
    };
    match (s.op, s.answer.code()) {
        (EOp::Create, Some(1)) => {
            let Some(o) = order else {
                return Some("code 1 but DaxPay holds no such order".to_owned());
            };
            let mine = fieldset(ctx, s.fieldset)?;
            if o.amount.fen() != mine.amount {
                return Some(format!(
                    "code 1 for {} fen, DaxPay's order is for {}",
                    mine.amount,
                    o.amount.fen()
                ));
            }
            if o.attach.as_deref() != Some(mine.param().as_str()) {
                return Some(format!(
                    "code 1 for {}, DaxPay carried out {:?}",
                    mine.param(),
                    o.attach
                ));
            }
            if t("trade_no").is_none_or(|n| n.len() != 19) {
                return Some("no 19-digit trade_no".to_owned());
            }
            ["payurl", "qrcode", "urlscheme", "html"]
                .iter()
                .all(|key| t(key).is_none())
                .then(|| "no payurl, qrcode, urlscheme or html".to_owned())
        }
        // `该订单号(…)已存在`: the number holds an order no standing request of it asked for.
        (EOp::Create, Some(-1)) if msg.contains("支付参数有变化") || msg.contains("已存在") => {
            (!other_create_before()).then(|| {
                "parameters changed, but no other create of the number came first".to_owned()
            })
        }
        (EOp::Create, Some(-1)) if msg.contains("已完成支付") => (!truth.paid(&s.order))
            .then(|| "already paid, but DaxPay's order is not paid".to_owned()),
        (EOp::Create, Some(-1)) if msg.contains("订单未处理") => {
            let mine = fieldset(ctx, s.fieldset)?.param();
            let twins = all
                .iter()
                .filter(|o| o.op == EOp::Create && o.fieldset == s.fieldset)
                .count();
            (order.and_then(|o| o.attach.as_deref()) == Some(mine.as_str()) && twins == 1)
                .then(|| "not processed, but DaxPay holds this request's order".to_owned())
        }
        (EOp::Query, Some(1)) => {
            let Some(o) = order else {
                return Some("code 1 but DaxPay holds no such order".to_owned());
            };
            let fs = accepted(ctx, o);
            let expect = [
                ("out_trade_no", Some(s.order.clone())),
                ("money", Some(yuan(o.amount.fen()))),
                ("param", o.attach.clone()),
                ("type", fs.map(|f| f.kind.to_owned())),
                ("pid", Some(EPAY.pid.to_owned())),
                ("name", Some(NAME.to_owned())),
            ];
            for (key, want) in expect {
                if t(key) != want {
                    return Some(format!("{key} {:?}, DaxPay's order says {want:?}", t(key)));
                }
            }
            if let (Some(n), Some(set)) = (t("trade_no"), k.trade_nos.get(&s.order)) {
                if !set.contains(&n) {
                    return Some(format!("trade_no {n} is not the create's {set:?}"));
                }
            }
            let got = t("status").unwrap_or_default();
            let fin = status(o);
            match got.as_str() {
                g if g == fin => None,
                "0" if before(&k.paid, &s.order, s.sent) => Some(format!(
                    "status 0 although the payment was made before the query ({fin} at the end)"
                )),
                "0" => None,
                "1" if fin == "2" && before(&k.refunded, &s.order, s.sent) => Some(
                    "status 1 although a refund was made before the query (2 at the end)"
                        .to_owned(),
                ),
                "1" if fin == "2" => None,
                _ => Some(format!("status {got} but DaxPay's order ends {fin}")),
            }
        }
        (EOp::Query, Some(-1)) if msg == "订单号不存在" => {
            before(&k.created, &s.order, s.sent)
                .then(|| "not found, though it was answered created before".to_owned())
        }
        (EOp::Refund, Some(0)) => {
            let Some(no) = t("refund_no") else {
                return Some("code 0 without refund_no".to_owned());
            };
            let refunds = truth.refunds.get(&s.order).cloned().unwrap_or_default();
            let Some(r) = refunds
                .iter()
                .find(|r| own_refund_no(ctx, &r.biz_refund_no) == no)
            else {
                return Some(format!(
                    "code 0, but DaxPay holds no refund {no} of the order"
                ));
            };
            if Some(r.amount.fen()) != s.refund_fen {
                return Some(format!(
                    "code 0 for {:?} fen, DaxPay refunded {}",
                    s.refund_fen,
                    r.amount.fen()
                ));
            }
            if t("money") != s.refund_fen.map(yuan) {
                return Some(format!("money {:?} is not the amount asked", t("money")));
            }
            (msg.contains("退款成功") && r.status != RefundOrderStatus::Success)
                .then(|| format!("said refunded, but DaxPay's refund ends {}", r.status))
        }
        (EOp::Refund, Some(-1)) if msg.contains("剩余可退款金额") || msg.contains("已全额退款") =>
        {
            let (Some(o), Some(fen)) = (order, s.refund_fen) else {
                return Some("over the balance, but DaxPay holds no such order".to_owned());
            };
            let refunds = truth.refunds.get(&s.order).cloned().unwrap_or_default();
            let undone = refunds
                .iter()
                .any(|r| matches!(r.status, RefundOrderStatus::Fail | RefundOrderStatus::Close));
            let taken: u64 = refunds.iter().map(|r| r.amount.fen()).sum();
            (!undone && taken + fen <= o.amount.fen()).then(|| {
                format!(
                    "over the balance, but DaxPay ends with {taken} of {} fen refunded",
                    o.amount.fen()
                )
            })
        }
        (EOp::Refund, Some(-1))
            if msg.contains("该订单状态不支持退款") || msg.contains("只支持退款已支付") =>
        {
            (truth.paid(&s.order) && before(&k.paid, &s.order, s.sent))
                .then(|| "not refundable, though the order was paid before".to_owned())
        }
        // Refusals saying nothing was done: counted against DaxPay's refunds above.
        (EOp::Refund, Some(-1))
            if msg.contains("订单未处理") || msg.contains("有正在处理的退款") =>
        {
            None
        }
        _ => Some("an answer the soak does not expect".to_owned()),
    }
}

/// Asks paybridge (`act=order`, retried while unknown) about every order DaxPay holds for the
/// epay merchant: known, DaxPay's amount, its final status (2 when refunded: V1 has no refund
/// query, so a refund is known through its order's status).
pub(crate) async fn judge_records(
    ctx: &Arc<Ctx>,
    truth: &ETruth,
    wrongs: &mut Wrongs,
    f: &mut EFigures,
) {
    let mut asked = 0;
    let mut wrong = 0;
    let mut numbers: Vec<&String> = truth.orders.keys().collect();
    numbers.sort();
    let k = known(ctx, truth, &lock(&ctx.epay.sent).clone());
    for no in numbers {
        let o = &truth.orders[no];
        let fields = query_fields(("out_trade_no", no.clone()));
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &fields {
            s.append_pair(k, v);
        }
        let path = format!("/api.php?{}", s.finish());
        let mut answer = EAnswer::Lost("not asked".to_owned());
        for _ in 0..12 {
            answer =
                match super::net::get(&ctx.client, ctx.front, &path, super::cast::CLIENT_TIMEOUT)
                    .await
                {
                    Ok(got) => {
                        let json =
                            serde_json::from_slice(&got.body).unwrap_or(serde_json::Value::Null);
                        EAnswer::Got {
                            http: got.status.as_u16(),
                            json,
                            raw: String::from_utf8_lossy(&got.body)
                                .chars()
                                .take(300)
                                .collect(),
                        }
                    }
                    Err(why) => EAnswer::Lost(why),
                };
            if !answer.unknown() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        asked += 1;
        let fin = status(o);
        let why = if answer.unknown() {
            Some("still unknown after 12 tries".to_owned())
        } else if answer.code() != Some(1) {
            Some("DaxPay holds it, paybridge does not know it".to_owned())
        } else if answer.text("status").as_deref() != Some(fin) {
            Some(format!(
                "status {:?}, DaxPay's is {fin}",
                answer.text("status")
            ))
        } else if answer.text("money") != Some(yuan(o.amount.fen())) {
            Some(format!(
                "money {:?}, DaxPay's is {} fen",
                answer.text("money"),
                o.amount.fen()
            ))
        } else if let (Some(n), Some(set)) = (answer.text("trade_no"), k.trade_nos.get(no)) {
            (!set.contains(&n)).then(|| format!("trade_no {n}, the create answered {set:?}"))
        } else {
            None
        };
        if let Some(why) = why {
            wrong += 1;
            wrongs.about(no);
            wrongs.add(
                "epay record: order",
                format!("{no}: {why}; answer {}", answer.describe()),
            );
        }
    }
    f.records = (asked, wrong);
}

/// Everything the driver did and saw about one epay order, for a finding's evidence.
pub(crate) fn trail(ctx: &Ctx, truth: &ETruth, order: &str) -> Option<String> {
    let sent = lock(&ctx.epay.sent).clone();
    let t0 = sent
        .iter()
        .filter(|x| x.order == order)
        .map(|x| x.sent)
        .min()?;
    let at = |t: Instant| t.saturating_duration_since(t0).as_millis();
    let mut s = format!(
        "\ntrail of epay {order}: DaxPay {}\n",
        truth
            .orders
            .get(order)
            .map_or("holds nothing".to_owned(), |o| format!(
                "{} {} amount {} attach {:?} refund status {}",
                o.order_no,
                o.status,
                o.amount.fen(),
                o.attach,
                o.refund_status
            ))
    );
    for r in truth.refunds.get(order).into_iter().flatten() {
        s.push_str(&format!(
            "  DaxPay refund {} {} {} fen {}\n",
            r.refund_no,
            r.biz_refund_no,
            r.amount.fen(),
            r.status
        ));
    }
    if let Some(paid) = lock(&ctx.epay.paid).get(order) {
        s.push_str(&format!("  {:>6} ms payer paid\n", at(*paid)));
    }
    for x in sent.iter().filter(|x| x.order == order) {
        s.push_str(&format!(
            "  {:>6}-{:<6} ms {} fs {:?} refund {:?} group {}: {}\n",
            at(x.sent),
            at(x.done),
            x.op.label(),
            x.fieldset,
            x.refund_fen,
            x.body_group,
            x.answer.describe()
        ));
    }
    for kill in lock(&ctx.book.kills).iter() {
        s.push_str(&format!("  {:>6} ms kill -9 of {}\n", at(kill.0), kill.1));
    }
    Some(s)
}
