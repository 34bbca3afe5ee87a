//! The lifecycle soak's table and verdict.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use paybridge_sandbox::{OrderStatus, RefundOrderStatus};

use super::book::{lock, Op};
use super::judge::Wrongs;
use super::load::Ctx;
use super::notices::NoticeFigures;
use super::truth::Truth;
use super::{Options, Topology};

pub(crate) struct Report<'a> {
    pub(crate) options: &'a Options,
    pub(crate) took: Duration,
    pub(crate) load_took: Duration,
    pub(crate) restarts: Vec<(String, Duration, bool)>,
    pub(crate) settled_in: Duration,
    pub(crate) unsettled: Vec<(&'static str, String)>,
    /// The owed notifications delivered last after the load (2.0 only), with their delay.
    pub(crate) slowest: Vec<(Duration, &'static str, String)>,
    pub(crate) truth: &'a Truth,
    pub(crate) ctx: &'a Ctx,
    pub(crate) answers: HashMap<Op, (u64, u64)>,
    pub(crate) records: (u64, u64),
    pub(crate) notices: NoticeFigures,
    pub(crate) wrongs: &'a Wrongs,
    pub(crate) upstream: BTreeMap<String, u64>,
    pub(crate) callbacks: BTreeMap<String, u64>,
    pub(crate) forged: u64,
    pub(crate) shutdowns: Vec<(String, Option<bool>)>,
    pub(crate) logs: Vec<(String, String)>,
    pub(crate) metrics: Vec<(String, Vec<String>)>,
    /// `--dialects jeepay,epay`: the epay part's figures and its trails.
    pub(crate) epay: Option<(String, Vec<String>)>,
}

impl Report<'_> {
    /// The text, and whether the run passed.
    pub(crate) fn render(&self) -> (String, bool) {
        let o = self.options;
        let mut s = String::new();
        let topology = match o.topology {
            Topology::Single => "single: one instance, SQLite, replays in the order store",
            Topology::Pair => {
                "pair: two instances, one PostgreSQL, one Redis, round-robin balancer"
            }
        };
        let _ = writeln!(
            s,
            "paybridge lifecycle soak: {} s of load, {} workers, {topology}; seed {}",
            o.seconds, o.workers, o.seed
        );
        if o.dax.is_2_0() {
            let _ = writeln!(s, "upstream: {}", o.dax.describe());
        }
        let _ = writeln!(s, "binary: {}", o.bin.display());
        let _ = writeln!(
            s,
            "load ran {:.1} s; whole run {:.1} s",
            self.load_took.as_secs_f64(),
            self.took.as_secs_f64()
        );
        for (name, took, ready) in &self.restarts {
            let _ = writeln!(
                s,
                "kill -9 of {name}: restarted on the same store, ready again in {} ms ({})",
                took.as_millis(),
                if *ready { "ready" } else { "NOT READY" }
            );
        }
        let _ = writeln!(
            s,
            "settlement: {} of the final orders and refunds notified after {:.1} s (bound {} s); {} still missing then",
            if self.unsettled.is_empty() { "all" } else { "not all" },
            self.settled_in.as_secs_f64(),
            o.settle.as_secs(),
            self.unsettled.len()
        );
        for (kind, no) in self.unsettled.iter().take(5) {
            let _ = writeln!(s, "  still owed then: {kind} {no}");
        }
        for (after, kind, no) in &self.slowest {
            let order = match *kind {
                "pay" => self.truth.order_by_no(no).map(|o| o.biz_order_no.clone()),
                _ => self.truth.refund_by_no(no).map(|r| r.biz_refund_no.clone()),
            };
            let _ = writeln!(
                s,
                "  delivered late: {kind} {no} ({}) {:.1} s after the load",
                order.unwrap_or_default(),
                after.as_secs_f64()
            );
        }

        let _ = writeln!(s, "\nDaxPay (the sandbox) at the end:");
        let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
        for o in self.truth.orders.values() {
            let label = match o.status {
                OrderStatus::Success => format!("success/{}", o.refund_status),
                other => other.to_string(),
            };
            *by_status.entry(label).or_default() += 1;
        }
        let _ = writeln!(s, "  pay orders {}: {by_status:?}", self.truth.orders.len());
        let mut refunds: BTreeMap<&str, u64> = BTreeMap::new();
        for r in self.truth.refunds.values() {
            *refunds.entry(r.status.as_str()).or_default() += 1;
        }
        let _ = writeln!(s, "  refunds {}: {refunds:?}", self.truth.refunds.len());
        let numbers = lock(&self.ctx.book.orders).len();
        let _ = writeln!(
            s,
            "  order numbers used {numbers}; {} never reached DaxPay's books",
            numbers - self.truth.orders.len()
        );
        let actions = lock(&self.ctx.book.actions).clone();
        let _ = writeln!(
            s,
            "  driver's own actions at DaxPay (payer, channel): {}",
            actions.len()
        );

        let _ = writeln!(
            s,
            "\n{:<44} {:>8} {:>8} {:>8}",
            "checked", "count", "unknown", "wrong"
        );
        let sent = lock(&self.ctx.book.sent).clone();
        let mut total = (0, 0, 0);
        for op in [
            Op::Pay,
            Op::PayQuery,
            Op::Close,
            Op::Refund,
            Op::RefundQuery,
        ] {
            let (count, wrong) = self.answers.get(&op).copied().unwrap_or_default();
            let unknown = sent
                .iter()
                .filter(|x| x.op == op && x.answer.unknown())
                .count() as u64;
            total = (total.0 + count, total.1 + unknown, total.2 + wrong);
            let _ = writeln!(
                s,
                "{:<44} {count:>8} {unknown:>8} {wrong:>8}",
                format!("answers: {}", op.label())
            );
        }
        let _ = writeln!(
            s,
            "{:<44} {:>8} {:>8} {:>8}",
            "answers: all", total.0, total.1, total.2
        );
        let _ = writeln!(
            s,
            "{:<44} {:>8} {:>8} {:>8}",
            "DaxPay's orders and refunds asked of paybridge", self.records.0, "-", self.records.1
        );
        let n = &self.notices;
        let _ = writeln!(
            s,
            "{:<44} {:>8} {:>8} {:>8}",
            "notifications owed (final orders, refunds)", n.expected, "-", n.missing
        );
        if !self.truth.withheld.is_empty() {
            // Not owed yet: docs/reliability.md, "Retries that say the truth".
            let _ = writeln!(
                s,
                "{:<44} {:>8} {:>8} {:>8}",
                "refund failures not owed yet (2+ unknown)",
                self.truth.withheld.len(),
                "-",
                "-"
            );
        }
        let _ = writeln!(
            s,
            "{:<44} {:>8} {:>8} {:>8}",
            "notifications received (each distinct judged)",
            n.received,
            "-",
            n.wrong - n.missing as u64
        );
        let forged_acked = self
            .wrongs
            .by_kind
            .get("forged callback acknowledged")
            .copied()
            .unwrap_or(0);
        let _ = writeln!(
            s,
            "{:<44} {:>8} {:>8} {forged_acked:>8}",
            "forged callbacks sent", self.forged, "-"
        );

        let _ = writeln!(
            s,
            "\nnotifications beyond the first acknowledged one (at-least-once):"
        );
        if n.duplicates.is_empty() {
            let _ = writeln!(s, "  none");
        }
        for (why, count) in &n.duplicates {
            let _ = writeln!(s, "  {count:>6}  {why}");
        }
        let _ = writeln!(
            s,
            "  {:>6}  retries after the endpoint refused (500) or hung past paybridge's timeout (not duplicates)",
            n.retries
        );
        let finals = self
            .truth
            .refunds
            .values()
            .filter(|r| r.status != RefundOrderStatus::Progress)
            .count();
        let _ = writeln!(
            s,
            "  ({finals} final refunds and the paid orders above are what is owed)"
        );

        let _ = writeln!(s, "\nfaults played on DaxPay calls:");
        for (label, count) in &self.upstream {
            let _ = writeln!(s, "  {count:>7}  {label}");
        }
        let _ = writeln!(s, "DaxPay's callbacks:");
        for (label, count) in &self.callbacks {
            let _ = writeln!(s, "  {count:>7}  {label}");
        }
        if let Some((figures, _)) = &self.epay {
            let _ = write!(s, "\n{figures}");
        }
        let mut pass = self.wrongs.total() == 0;
        let _ = writeln!(s, "\npaybridge:");
        for ((name, log), (_, shutdown)) in self.logs.iter().zip(&self.shutdowns) {
            let panics = log.lines().filter(|l| l.contains("panicked")).count();
            let errors = log.lines().filter(|l| l.contains("ERROR")).count();
            let warns = log.lines().filter(|l| l.contains("WARN")).count();
            let _ = writeln!(
                s,
                "  {name}: log {} lines, {warns} WARN, {errors} ERROR, {panics} panics; SIGTERM at the end: {}",
                log.lines().count(),
                match shutdown {
                    Some(true) => "exited 0",
                    Some(false) => "exited non-zero",
                    None => "did not exit in 15 s",
                }
            );
            if panics > 0 {
                pass = false;
                let _ = writeln!(s, "  FAIL: {name} panicked");
            }
        }
        for (name, lines) in &self.metrics {
            let _ = writeln!(s, "  {name} /metrics at the end (since its last start):");
            for line in lines {
                let _ = writeln!(s, "    {line}");
            }
        }
        if self.wrongs.total() > 0 {
            let _ = writeln!(s, "\nwrong, by kind:");
            for (kind, count) in &self.wrongs.by_kind {
                let _ = writeln!(s, "  {count:>6}  {kind}");
            }
            let _ = writeln!(s, "samples:");
            for sample in &self.wrongs.samples {
                let _ = writeln!(s, "  {sample}");
            }
        }
        for order in &self.wrongs.orders {
            self.trail(&mut s, order);
        }
        for trail in self.epay.iter().flat_map(|(_, trails)| trails) {
            s.push_str(trail);
        }
        let _ = writeln!(
            s,
            "\nverdict: {} ({} wrong)",
            if pass { "PASS" } else { "FAIL" },
            self.wrongs.total()
        );
        (s, pass)
    }

    /// Everything the driver did and saw about one order, for a finding's evidence.
    fn trail(&self, s: &mut String, order: &str) {
        let sent = lock(&self.ctx.book.sent).clone();
        let Some(t0) = sent
            .iter()
            .filter(|x| x.order == order)
            .map(|x| x.sent)
            .min()
        else {
            return;
        };
        let at = |t: std::time::Instant| t.saturating_duration_since(t0).as_millis();
        let dax = self.truth.orders.get(order);
        let _ = writeln!(
            s,
            "\ntrail of {order}: DaxPay {}",
            dax.map_or("holds nothing".to_owned(), |o| format!(
                "{} {} amount {} attach {:?} refund status {}",
                o.order_no,
                o.status,
                o.amount.fen(),
                o.attach,
                o.refund_status
            ))
        );
        for r in self
            .truth
            .refunds
            .values()
            .filter(|r| r.biz_order_no == order)
        {
            let _ = writeln!(
                s,
                "  DaxPay refund {} {} {} amount {} attach {:?}",
                r.biz_refund_no,
                r.refund_no,
                r.status,
                r.amount.fen(),
                r.attach
            );
        }
        for x in sent.iter().filter(|x| x.order == order) {
            let fs = x
                .fieldset
                .and_then(|id| lock(&self.ctx.book.fieldsets).get(&id).cloned())
                .map(|f| format!(" fs{} ({} fen)", f.id, f.amount))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "  +{}..{} ms {} {}{fs} body#{}: {}",
                at(x.sent),
                at(x.done),
                x.op.label(),
                x.refund.as_deref().unwrap_or(""),
                x.body_group,
                x.answer.describe().chars().take(260).collect::<String>()
            );
        }
        for (when, action) in lock(&self.ctx.book.actions).iter() {
            let about = match action {
                super::book::Action::Paid(no) | super::book::Action::Failed(no) => no == order,
                super::book::Action::RefundClosed(no)
                | super::book::Action::RefundSucceeded(no) => self
                    .truth
                    .refund_by_no(no)
                    .is_some_and(|r| r.biz_order_no == order),
            };
            if about {
                let _ = writeln!(s, "  +{} ms driver: {action:?}", at(*when));
            }
        }
        for (when, name) in lock(&self.ctx.book.kills).iter().filter(|(w, _)| *w >= t0) {
            let _ = writeln!(s, "  +{} ms kill -9 of {name}", at(*when));
        }
        let needles: Vec<String> = std::iter::once(order.to_owned())
            .chain(dax.map(|o| o.order_no.clone()))
            .collect();
        for (name, log) in &self.logs {
            for line in log
                .lines()
                .filter(|l| needles.iter().any(|n| l.contains(n.as_str())))
                .take(12)
            {
                let _ = writeln!(
                    s,
                    "  {name}: {}",
                    line.chars().take(300).collect::<String>()
                );
            }
        }
    }
}
