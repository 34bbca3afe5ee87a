//! The judge: every answer paybridge gave, checked against what DaxPay (the sandbox) ends with
//! and what the driver knew when it asked; then every order and refund DaxPay holds, asked of
//! paybridge. Notifications are judged in `notices`.
//!
//! Allowed: unknown (code 10, no answer, load shed, "in progress"). A code 0 must agree with
//! DaxPay's final record (a state may be older than the final one only if nothing had yet
//! settled it when the question was asked); a refusal must have a cause in the record.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use paybridge_sandbox::{OrderStatus, RefundOrderStatus};

use super::book::{lock, Action, Answer, Op, Sent};
use super::load::{Ctx, Spec};
use super::truth::{accepted, pay_state, refund_state, Truth};

/// Wrongs found, by category, with a sample of each.
#[derive(Default)]
pub(crate) struct Wrongs {
    pub(crate) by_kind: std::collections::BTreeMap<String, u64>,
    /// The first few of each kind.
    pub(crate) samples: Vec<String>,
    /// The merchant order numbers of the first wrongs of each kind, whose trail the report
    /// prints.
    pub(crate) orders: Vec<String>,
    /// The order the next wrong is about (see [`Wrongs::about`]).
    next_order: Option<String>,
}

/// Samples and trails kept per kind of wrong.
const SAMPLES_PER_KIND: u64 = 6;
const TRAILS_PER_KIND: u64 = 2;

impl Wrongs {
    pub(crate) fn add(&mut self, kind: &str, detail: String) {
        let seen = self.by_kind.entry(kind.to_owned()).or_default();
        *seen += 1;
        let seen = *seen;
        if seen <= SAMPLES_PER_KIND {
            self.samples.push(format!("[{kind}] {detail}"));
        }
        if let Some(order) = self.next_order.take() {
            if seen <= TRAILS_PER_KIND && !self.orders.contains(&order) {
                self.orders.push(order);
            }
        }
    }

    /// Names the order the next wrong added is about (its trail may be printed).
    pub(crate) fn about(&mut self, order: &str) {
        self.next_order = Some(order.to_owned());
    }

    pub(crate) fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }
}

/// Earliest moments things became known, per number.
#[derive(Default)]
struct Known {
    pay_created: HashMap<String, Instant>,
    pay_final: HashMap<String, Instant>,
    refund_created: HashMap<String, Instant>,
    refund_final: HashMap<String, Instant>,
}

fn earliest(map: &mut HashMap<String, Instant>, key: &str, at: Instant) {
    let e = map.entry(key.to_owned()).or_insert(at);
    if at < *e {
        *e = at;
    }
}

fn before(map: &HashMap<String, Instant>, key: &str, t: Instant) -> bool {
    map.get(key).is_some_and(|at| *at < t)
}

/// `lag`: how long after the driver's own action at DaxPay its queries may still answer the
/// state before it (2.0's notices before the commit), so that it counts as known only then.
fn known(sent: &[Sent], actions: &[(Instant, Action)], lag: Duration) -> Known {
    let mut k = Known::default();
    for s in sent.iter().filter(|s| s.answer.code() == Some(0)) {
        let refund = s.refund.as_deref().unwrap_or_default();
        let state = s.answer.data(if s.op == Op::Pay {
            "orderState"
        } else {
            "state"
        });
        let state = state.as_deref().unwrap_or_default();
        match s.op {
            Op::Pay => {
                earliest(&mut k.pay_created, &s.order, s.done);
                if state == "2" || state == "3" {
                    earliest(&mut k.pay_final, &s.order, s.done);
                }
            }
            Op::PayQuery => {
                earliest(&mut k.pay_created, &s.order, s.done);
                if !matches!(state, "0" | "1") {
                    earliest(&mut k.pay_final, &s.order, s.done);
                }
            }
            Op::Close => earliest(&mut k.pay_final, &s.order, s.done),
            Op::Refund | Op::RefundQuery => {
                earliest(&mut k.refund_created, refund, s.done);
                if state == "2" || state == "3" {
                    earliest(&mut k.refund_final, refund, s.done);
                }
            }
        }
    }
    for (at, action) in actions {
        let at = *at + lag;
        match action {
            Action::Paid(no) | Action::Failed(no) => earliest(&mut k.pay_final, no, at),
            Action::RefundClosed(refund_no) | Action::RefundSucceeded(refund_no) => {
                earliest(&mut k.refund_final, refund_no, at)
            }
        }
    }
    k
}

pub(crate) fn judge_answers(
    ctx: &Ctx,
    truth: &Truth,
    wrongs: &mut Wrongs,
) -> HashMap<Op, (u64, u64)> {
    let sent = lock(&ctx.book.sent).clone();
    let actions = lock(&ctx.book.actions).clone();
    let mut k = known(&sent, &actions, ctx.dax.commit_lag());
    // A refund closed by the channel is known by its refundNo: key it by the merchant's number.
    let closed: Vec<(String, Instant)> = k
        .refund_final
        .iter()
        .filter_map(|(no, at)| truth.refund_by_no.get(no).map(|biz| (biz.clone(), *at)))
        .collect();
    for (biz, at) in closed {
        earliest(&mut k.refund_final, &biz, at);
    }
    let mut counts: HashMap<Op, (u64, u64)> = HashMap::new();
    for s in &sent {
        let entry = counts.entry(s.op).or_default();
        entry.0 += 1;
        if let Some(why) = check(ctx, truth, &k, &sent, s) {
            entry.1 += 1;
            wrongs.about(&s.order);
            let kind = match why.starts_with("fields:") {
                true => format!("answer: {}, fields", s.op.label()),
                false => format!("answer: {}", s.op.label()),
            };
            wrongs.add(
                &kind,
                format!(
                    "{} of {} {} {}: {why}; answer {}",
                    s.op.label(),
                    super::cast::MERCHANTS[s.merchant].mch,
                    s.order,
                    s.refund.as_deref().unwrap_or(""),
                    s.answer.describe()
                ),
            );
        }
    }
    counts
}

/// `Some(why)` when the answer to `s` is wrong.
fn check(ctx: &Ctx, truth: &Truth, k: &Known, all: &[Sent], s: &Sent) -> Option<String> {
    if s.answer.unknown() {
        return None;
    }
    let Answer::Got {
        http, code, msg, ..
    } = &s.answer
    else {
        return None;
    };
    if *http != 200 {
        return Some(format!("HTTP {http}"));
    }
    let order = truth.orders.get(&s.order);
    let refund_no = s.refund.as_deref().unwrap_or_default();
    let refund = truth.refunds.get(refund_no);
    let d = |key: &str| s.answer.data(key);
    let earlier = |op: Op, same: &dyn Fn(&Sent) -> bool| {
        all.iter()
            .any(|o| o.op == op && o.id != s.id && o.sent < s.done && same(o))
    };
    match (s.op, *code) {
        (Op::Pay, Some(0)) => {
            let Some(o) = order else {
                return Some("code 0 but DaxPay holds no such order".to_owned());
            };
            if d("payOrderId").as_deref() != Some(&o.order_no) {
                return Some(format!("payOrderId is not DaxPay's {}", o.order_no));
            }
            if let Some(why) = taken_from_another(ctx, s, o.attach.as_deref()) {
                return Some(why);
            }
            // 2.0.8 pays a repeated number again with its *stored* amount (§3.2 step 6).
            if let Some(own) = amount_of(ctx, s).filter(|a| *a != o.amount.fen()) {
                return Some(format!(
                    "code 0 for {own} fen, but DaxPay's order is for {}",
                    o.amount.fen()
                ));
            }
            match d("orderState").as_deref() {
                Some("0" | "1") => None,
                Some("2") if o.status == OrderStatus::Success => None,
                Some("3") if o.status == OrderStatus::Fail => None,
                other => Some(format!("orderState {other:?} but DaxPay ends {}", o.status)),
            }
        }
        (Op::Pay, Some(9999)) if *msg == format!("商户订单[{}]已存在", s.order) => {
            (!earlier(Op::Pay, &|o| o.order == s.order))
                .then(|| "refused as existing, but no other request had that number".to_owned())
        }
        (Op::Pay, Some(9999)) if msg == "支付金额超过限额" => {
            let limit = ctx.dax.pay_limit().unwrap_or(u64::MAX);
            (amount_of(ctx, s).unwrap_or(0) <= limit)
                .then(|| format!("refused as over the limit, but the amount is within {limit}"))
        }
        (Op::PayQuery, Some(0)) => {
            let Some(o) = order else {
                return Some("code 0 but DaxPay holds no such order".to_owned());
            };
            let fs = accepted(ctx, o.attach.as_deref());
            let expect = [
                ("payOrderId", Some(o.order_no.clone())),
                ("mchOrderNo", Some(o.biz_order_no.clone())),
                ("amount", Some(o.amount.fen().to_string())),
                ("extParam", o.attach.clone()),
                ("wayCode", fs.map(|f| f.way.to_owned())),
            ];
            for (key, want) in expect {
                if d(key) != want {
                    return Some(format!(
                        "fields: {key} {:?}, the request DaxPay accepted says {want:?}",
                        d(key)
                    ));
                }
            }
            let state = d("state").unwrap_or_default();
            let fin = pay_state(o);
            match state.as_str() {
                s2 if s2 == fin => None,
                "0" | "1" if before(&k.pay_final, &s.order, s.sent) => Some(format!(
                    "state {state} although the order was settled before the query ({fin} at the end)"
                )),
                "0" | "1" => None,
                "2" if fin == "5" => None,
                _ => Some(format!("state {state} but DaxPay ends {fin}")),
            }
        }
        (Op::PayQuery | Op::Close, Some(9999)) if msg == "订单不存在" => {
            before(&k.pay_created, &s.order, s.sent)
                .then(|| "not found, though the order was answered created before".to_owned())
        }
        (Op::Close, Some(0)) => {
            let Some(o) = order else {
                return Some("closed, but DaxPay holds no such order".to_owned());
            };
            (!matches!(o.status, OrderStatus::Close | OrderStatus::Cancel))
                .then(|| format!("closed, but DaxPay ends {}", o.status))
        }
        (Op::Close, Some(9999)) if msg == "当前订单不可关闭" => {
            let Some(o) = order else {
                return Some("not closable, but DaxPay holds no such order".to_owned());
            };
            match o.status {
                OrderStatus::Success | OrderStatus::Fail => None,
                OrderStatus::Close | OrderStatus::Cancel => (!earlier(Op::Close, &|c| {
                    c.order == s.order && c.body_group != s.body_group
                }))
                .then(|| "not closable, though this request's own attempt closed it".to_owned()),
                other => Some(format!("not closable, but DaxPay ends {other}")),
            }
        }
        (Op::Refund, Some(0)) => {
            let Some(r) = refund else {
                return Some("code 0 but DaxPay holds no such refund".to_owned());
            };
            if d("refundOrderId").as_deref() != Some(&r.refund_no) {
                return Some(format!("refundOrderId is not DaxPay's {}", r.refund_no));
            }
            if let Some(why) = taken_from_another(ctx, s, r.attach.as_deref()) {
                return Some(why);
            }
            if d("refundAmount") != Some(r.amount.fen().to_string()) {
                return Some(format!("refundAmount, DaxPay refunded {}", r.amount.fen()));
            }
            match d("state").as_deref() {
                Some("0" | "1") => None,
                Some("2") if r.status == RefundOrderStatus::Success => None,
                Some("3")
                    if r.status != RefundOrderStatus::Success
                        && r.status != RefundOrderStatus::Progress =>
                {
                    None
                }
                other => Some(format!(
                    "state {other:?} but DaxPay's refund ends {}",
                    r.status
                )),
            }
        }
        (Op::Refund, Some(9999)) => refund_refusal(ctx, truth, k, s, msg, &earlier),
        (Op::RefundQuery, Some(0)) => {
            let Some(r) = refund else {
                return Some("code 0 but DaxPay holds no such refund".to_owned());
            };
            let expect = [
                ("refundOrderId", Some(r.refund_no.clone())),
                ("mchRefundNo", Some(r.biz_refund_no.clone())),
                ("payOrderId", Some(r.order_no.clone())),
                ("refundAmount", Some(r.amount.fen().to_string())),
                ("extParam", r.attach.clone()),
            ];
            for (key, want) in expect {
                if d(key) != want {
                    return Some(format!("fields: {key} {:?}, DaxPay says {want:?}", d(key)));
                }
            }
            let state = d("state").unwrap_or_default();
            let fin = refund_state(r);
            match state.as_str() {
                s2 if s2 == fin => None,
                "0" | "1" if before(&k.refund_final, refund_no, s.sent) => Some(format!(
                    "state {state} although the refund was settled before the query ({fin} at the end)"
                )),
                "0" | "1" => None,
                _ => Some(format!("state {state} but DaxPay's refund ends {fin}")),
            }
        }
        (Op::RefundQuery, Some(9999)) if msg == "订单不存在" => {
            before(&k.refund_created, refund_no, s.sent)
                .then(|| "not found, though the refund was answered before".to_owned())
        }
        _ => Some("an answer the soak does not expect".to_owned()),
    }
}

/// The amount of the request's field set (pay or refund).
fn amount_of(ctx: &Ctx, s: &Sent) -> Option<u64> {
    let id = s.fieldset?;
    lock(&ctx.book.fieldsets).get(&id).map(|f| f.amount)
}

/// "Was another request like this sent before this one was answered?"
type Earlier<'a> = &'a dyn Fn(Op, &dyn Fn(&Sent) -> bool) -> bool;

/// A pay or refund request told "done" (code 0) must be the one DaxPay took: another request
/// under the same number with other fields (amount, notifyUrl) was not carried out.
fn taken_from_another(ctx: &Ctx, s: &Sent, attach: Option<&str>) -> Option<String> {
    let mine = s.fieldset?;
    let taken = accepted(ctx, attach)?;
    if taken.id == mine {
        return None;
    }
    let sets = lock(&ctx.book.fieldsets);
    let own = sets.get(&mine)?;
    Some(format!(
        "code 0 for fields fs{mine} (amount {}, {}), but DaxPay carried out fs{} (amount {}, {})",
        own.amount, own.notify_path, taken.id, taken.amount, taken.notify_path
    ))
}

fn refund_refusal(
    ctx: &Ctx,
    truth: &Truth,
    k: &Known,
    s: &Sent,
    msg: &str,
    earlier: Earlier<'_>,
) -> Option<String> {
    let number = s.refund.as_deref().unwrap_or_default();
    if msg == format!("商户退款订单号[{number}]已存在") {
        return (!earlier(Op::Refund, &|o| o.refund.as_deref() == Some(number)))
            .then(|| "refused as existing, but no other request had that number".to_owned());
    }
    let amount = s
        .fieldset
        .and_then(|id| lock(&ctx.book.fieldsets).get(&id).map(|f| f.amount))
        .unwrap_or(0);
    let order_amount = truth.orders.get(&s.order).map_or(0, |o| o.amount.fen());
    match msg {
        "支付订单具有在途退款申请，请稍后再试"
        | "订单已全额退款，本次申请失败"
        | "申请金额超出订单可退款余额，请检查退款金额"
        | "退款单已完成全部订单退款，本次申请失败" => {
            let others = earlier(Op::Refund, &|o| {
                o.order == s.order && o.refund.as_deref() != Some(number)
            });
            (!others && amount <= order_amount)
                .then(|| "refused for other refunds, but there were none".to_owned())
        }
        "退款订单不存在" => before(&k.pay_created, &s.order, s.sent)
            .then(|| "order not found, though it was answered created before".to_owned()),
        _ => Some("a refusal the soak does not expect".to_owned()),
    }
}

/// Asks paybridge about every pay order and refund DaxPay holds (retrying unknown answers):
/// each must be known, with DaxPay's amount, state and the accepted request's fields.
pub(crate) async fn judge_records(
    ctx: &Arc<Ctx>,
    truth: &Truth,
    wrongs: &mut Wrongs,
) -> (u64, u64) {
    let mut jobs: Vec<(Spec, String, String)> = Vec::new();
    for o in truth.sorted_orders() {
        let merchant = truth.merchant_of.get(&o.biz_order_no).copied().unwrap_or(0);
        let spec = Spec {
            op: Op::PayQuery,
            merchant,
            order: o.biz_order_no.clone(),
            refund: None,
            fieldset: None,
            fields: vec![("mchOrderNo", o.biz_order_no.clone())],
        };
        jobs.push((spec, pay_state(o).to_owned(), o.biz_order_no.clone()));
    }
    for r in truth.sorted_refunds() {
        let merchant = truth.merchant_of.get(&r.biz_order_no).copied().unwrap_or(0);
        let spec = Spec {
            op: Op::RefundQuery,
            merchant,
            order: r.biz_order_no.clone(),
            refund: Some(r.biz_refund_no.clone()),
            fieldset: None,
            fields: vec![("mchRefundNo", r.biz_refund_no.clone())],
        };
        jobs.push((spec, refund_state(r).to_owned(), r.biz_refund_no.clone()));
    }
    let jobs = Arc::new(std::sync::Mutex::new(jobs));
    let results = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (ctx, jobs, results) = (Arc::clone(ctx), Arc::clone(&jobs), Arc::clone(&results));
        tasks.push(tokio::spawn(async move {
            loop {
                let Some((spec, state, no)) = lock(&jobs).pop() else {
                    return;
                };
                let mut answer = Answer::Lost("not asked".to_owned());
                for _ in 0..12 {
                    answer = ctx.send(&spec, ctx.serial(), spec.body()).await;
                    if !answer.unknown() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                lock(&results).push((spec.op, no, state, answer));
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let results = lock(&results).clone();
    let mut wrong = 0;
    for (op, no, state, answer) in &results {
        let got = answer.data("state");
        let why = if answer.unknown() {
            Some("still unknown after 12 tries".to_owned())
        } else if answer.code() != Some(0) {
            Some("DaxPay holds it, paybridge does not know it".to_owned())
        } else if got.as_deref() != Some(state.as_str()) {
            Some(format!("state {got:?}, DaxPay's is {state}"))
        } else {
            None
        };
        // Amounts and fields are checked with every other query answer (judge_answers).
        if let Some(why) = why {
            wrong += 1;
            wrongs.about(no.split('R').next().unwrap_or(no));
            let kind = if *op == Op::PayQuery {
                "record: pay order"
            } else {
                "record: refund"
            };
            wrongs.add(kind, format!("{no}: {why}; answer {}", answer.describe()));
        }
    }
    (results.len() as u64, wrong)
}
