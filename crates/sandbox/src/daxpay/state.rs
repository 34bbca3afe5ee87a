//! Orders held by the sandbox, DaxPay's close/cancel rules over them, and the order lookup of
//! the query endpoint.
//!
//! The rules mirror DaxPay's `PayCloseService`: look the order up (20041), check its status
//! (20044), take the per-order close lock (20043), let the channel act (20080), then record the
//! new status. A failed channel call leaves the status unchanged.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use time::{OffsetDateTime, UtcOffset};

use super::result::wall_clock_at;
use crate::config::SandboxOrder;
use crate::order::{OrderStatus, SandboxRefund};
use crate::sign::daxpay::Version;

/// How a close or query request names its order. DaxPay looks the order up by the first
/// *non-null* of `orderNo`, `bizOrderNo`, so `orderNo: ""` is a lookup of `""`, not a
/// fall-through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // DaxPay's own field names.
pub(super) enum OrderKey<'a> {
    OrderNo(&'a str),
    BizOrderNo(&'a str),
    /// The channel's number (refunds only).
    OutOrderNo(&'a str),
}

/// Where DaxPay-like database ids start (snowflake-sized, so that they travel as strings).
pub(super) const FIRST_ID: u64 = 1_900_000_000_000_000_000;

/// Why a handler refused; the message is DaxPay's own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum Refusal {
    #[error("支付订单不存在")]
    NotFound,
    #[error("订单正在关闭中，请勿重复操作")]
    AlreadyClosing,
    #[error("订单不是支付中, 无法进行关闭订单")]
    NotClosable,
    #[error("微信非付款码支付订单不支持撤销")]
    CancelUnsupported,
    #[error("通道关闭订单失败")]
    ChannelFailed,
    /// Pay, refund and refund query refusals: DaxPay's code and message.
    #[error("{msg}")]
    Trade { code: i64, msg: String },
}

impl Refusal {
    /// DaxPay's error code (the same in every version).
    pub(super) fn code(&self) -> i64 {
        match self {
            Refusal::Trade { code, .. } => *code,
            Refusal::NotFound => 20041,
            Refusal::AlreadyClosing => 20043,
            Refusal::NotClosable => 20044,
            Refusal::CancelUnsupported | Refusal::ChannelFailed => 20080,
        }
    }
}

/// Which statuses a close or cancel accepts: 3.0.0 added `wait`; earlier lines take `progress` only.
fn closable(version: Version, status: OrderStatus) -> bool {
    match version {
        Version::V3_0 => matches!(status, OrderStatus::Wait | OrderStatus::Progress),
        Version::V3_0Beta | Version::V2_0 => status == OrderStatus::Progress,
    }
}

pub(super) struct Entry {
    /// The order; a close changes its `status` and `close_time`, pay and refund their fields,
    /// tests anything.
    pub order: SandboxOrder,
    /// Stands in for DaxPay's per-order close lock.
    closing: bool,
    /// DaxPay's database id (`orderId` of a refund order).
    pub id: u64,
}

impl Entry {
    /// A close or cancel of the order is running (DaxPay's per-order lock is taken).
    pub(super) fn is_closing(&self) -> bool {
        self.closing
    }

    pub(super) fn new(order: SandboxOrder, id: u64) -> Entry {
        Entry {
            order,
            closing: false,
            id,
        }
    }
}

/// The orders by `orderNo` (globally unique), with an index by `bizOrderNo` as DaxPay's table
/// has one: found by a scan, the sandbox's cost per pay grew with every order it held (150 to
/// 600 µs over three 7-second benchmark runs) until it, not paybridge, bounded a benchmark.
/// An order's `bizOrderNo` never changes once inserted, except through [`Orders::update`],
/// which indexes it again.
#[derive(Default)]
pub(super) struct Table {
    by_no: HashMap<String, Entry>,
    by_biz: HashMap<String, Vec<String>>,
}

impl Table {
    pub(super) fn get(&self, order_no: &str) -> Option<&Entry> {
        self.by_no.get(order_no)
    }

    pub(super) fn get_mut(&mut self, order_no: &str) -> Option<&mut Entry> {
        self.by_no.get_mut(order_no)
    }

    pub(super) fn contains_key(&self, order_no: &str) -> bool {
        self.by_no.contains_key(order_no)
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Entry> {
        self.by_no.values()
    }

    pub(super) fn insert(&mut self, order_no: String, entry: Entry) {
        self.index(&entry.order.biz_order_no, &order_no);
        if let Some(old) = self.by_no.insert(order_no.clone(), entry) {
            self.unindex(&old.order.biz_order_no, &order_no);
            let biz = self.by_no[&order_no].order.biz_order_no.clone();
            self.index(&biz, &order_no);
        }
    }

    /// The `orderNo`s of the orders with the merchant's number `biz_order_no` (any app).
    fn with_biz(&self, biz_order_no: &str) -> &[String] {
        self.by_biz.get(biz_order_no).map_or(&[], Vec::as_slice)
    }

    /// The first order (by insertion) with the merchant's number `biz_order_no`, in any app.
    pub(super) fn first_by_biz_mut(&mut self, biz_order_no: &str) -> Option<&mut Entry> {
        let order_no = self.with_biz(biz_order_no).first()?.clone();
        self.by_no.get_mut(&order_no)
    }

    fn index(&mut self, biz_order_no: &str, order_no: &str) {
        let numbers = self.by_biz.entry(biz_order_no.to_owned()).or_default();
        if !numbers.iter().any(|n| n == order_no) {
            numbers.push(order_no.to_owned());
        }
    }

    fn unindex(&mut self, biz_order_no: &str, order_no: &str) {
        if let Some(numbers) = self.by_biz.get_mut(biz_order_no) {
            numbers.retain(|n| n != order_no);
            if numbers.is_empty() {
                self.by_biz.remove(biz_order_no);
            }
        }
    }
}

/// The refund orders, oldest first, indexed by `refundNo` and by `bizRefundNo` (scanned, they
/// cost the sandbox 250 µs a refund once a benchmark had made some ten thousand). A refund's two
/// numbers never change once pushed: the slice it derefs to lets its other fields change.
#[derive(Default)]
pub(super) struct Refunds {
    list: Vec<SandboxRefund>,
    by_no: HashMap<String, usize>,
    by_biz: HashMap<String, Vec<usize>>,
}

impl Refunds {
    pub(super) fn push(&mut self, refund: SandboxRefund) {
        let at = self.list.len();
        self.by_no.insert(refund.refund_no.clone(), at);
        self.by_biz
            .entry(refund.biz_refund_no.clone())
            .or_default()
            .push(at);
        self.list.push(refund);
    }

    /// Where the refund numbered `refund_no` by DaxPay is.
    pub(super) fn position_by_no(&self, refund_no: &str) -> Option<usize> {
        self.by_no.get(refund_no).copied()
    }

    /// Where the merchant's refund `biz_refund_no` of `app_id` is (the first, as a scan finds).
    pub(super) fn position_by_biz(
        &self,
        biz_refund_no: &str,
        app_id: Option<&str>,
    ) -> Option<usize> {
        self.by_biz
            .get(biz_refund_no)?
            .iter()
            .copied()
            .find(|&at| self.list[at].app_id.as_deref() == app_id)
    }

    pub(super) fn to_vec(&self) -> Vec<SandboxRefund> {
        self.list.clone()
    }
}

impl std::ops::Deref for Refunds {
    type Target = [SandboxRefund];

    fn deref(&self) -> &[SandboxRefund] {
        &self.list
    }
}

impl std::ops::DerefMut for Refunds {
    fn deref_mut(&mut self) -> &mut [SandboxRefund] {
        &mut self.list
    }
}

/// The sandbox's orders ([`Table`]). Every critical section is short and synchronous: the lock
/// is never held across an `.await`.
pub(super) struct Orders {
    table: Mutex<Table>,
    /// Refund orders; when both are needed, `table` is locked first.
    pub(super) refunds: Mutex<Refunds>,
    /// The wall clock `close_time` (and every other time) is written in.
    pub(super) utc_offset: UtcOffset,
    /// Source of order and refund ids and of the sequence part of their numbers.
    pub(super) sequence: AtomicU64,
}

impl Orders {
    pub(super) fn new(seed: &[SandboxOrder], utc_offset: UtcOffset) -> Orders {
        let mut table = Table::default();
        for (i, o) in seed.iter().enumerate() {
            let entry = Entry {
                order: o.clone(),
                closing: false,
                id: FIRST_ID + i as u64,
            };
            table.insert(o.order_no.clone(), entry);
        }
        Orders {
            table: Mutex::new(table),
            refunds: Mutex::new(Refunds::default()),
            utc_offset,
            sequence: AtomicU64::new(seed.len() as u64 + 1),
        }
    }

    pub(super) fn status(&self, order_no: &str) -> Option<OrderStatus> {
        self.lock().get(order_no).map(|e| e.order.status)
    }

    /// A snapshot of the order with the merchant's number `biz_order_no`, in any app.
    pub(super) fn by_biz(&self, biz_order_no: &str) -> Option<SandboxOrder> {
        self.lock()
            .first_by_biz_mut(biz_order_no)
            .map(|e| e.order.clone())
    }

    /// A snapshot of every order (no particular order).
    pub(super) fn all(&self) -> Vec<SandboxOrder> {
        self.lock().values().map(|e| e.order.clone()).collect()
    }

    /// A snapshot of an order by its `orderNo`.
    pub(super) fn get(&self, order_no: &str) -> Option<SandboxOrder> {
        self.lock().get(order_no).map(|e| e.order.clone())
    }

    /// Changes an order in place (tests set up states the seed does not have). `false` when
    /// there is no such order. The order number is kept whatever `change` does to it. A close
    /// in progress is not interrupted: its outcome is applied when it finishes.
    pub(super) fn update(&self, order_no: &str, change: impl FnOnce(&mut SandboxOrder)) -> bool {
        let mut table = self.lock();
        let Some(entry) = table.get_mut(order_no) else {
            return false;
        };
        let biz_before = entry.order.biz_order_no.clone();
        change(&mut entry.order);
        entry.order.order_no = order_no.to_owned();
        let biz_after = entry.order.biz_order_no.clone();
        if biz_after != biz_before {
            table.unindex(&biz_before, order_no);
            table.index(&biz_after, order_no);
        }
        true
    }

    /// A snapshot of the order named by `key`, as the query endpoint reports it. An order being
    /// closed shows its current (pre-close) status: DaxPay records the outcome only once the
    /// channel has answered.
    pub(super) fn find(&self, key: OrderKey<'_>, app_id: Option<&str>) -> Option<SandboxOrder> {
        let mut table = self.lock();
        lookup(&mut table, key, app_id).map(|e| e.order.clone())
    }

    /// A panic elsewhere cannot leave the table inconsistent (every update is one assignment),
    /// so a poisoned lock is simply taken over.
    pub(super) fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs DaxPay's checks in its order (exists, closable status, not already closing, channel
    /// allows a cancel) and marks the order as closing. The returned [`Closing`] finishes the job.
    /// Visibility by app as in [`lookup`].
    pub(super) fn begin_close(
        &self,
        key: OrderKey<'_>,
        app_id: Option<&str>,
        version: Version,
        cancel: bool,
    ) -> Result<Closing<'_>, Refusal> {
        let mut table = self.lock();
        let entry = lookup(&mut table, key, app_id).ok_or(Refusal::NotFound)?;
        let status = entry.order.status;
        if !closable(version, status) {
            return Err(Refusal::NotClosable);
        }
        if entry.closing {
            return Err(Refusal::AlreadyClosing);
        }
        let outcome = match status {
            OrderStatus::Progress if cancel => {
                if entry.order.channel == "wechat_pay" && entry.order.method != "barcode" {
                    return Err(Refusal::CancelUnsupported);
                }
                OrderStatus::Cancel
            }
            _ => OrderStatus::Close,
        };
        entry.closing = true;
        Ok(Closing {
            orders: self,
            order_no: entry.order.order_no.clone(),
            delay: entry.order.close_delay,
            channel_fails: entry.order.channel_fails,
            outcome,
            armed: true,
        })
    }
}

/// The order named by `key`, if the caller's app may see it.
///
/// `app_id` is the caller's app (`None` for the 2.0 platform): an order seeded without an app is
/// visible to every app, one with an app only to that app.
pub(super) fn lookup<'t>(
    table: &'t mut Table,
    key: OrderKey<'_>,
    app_id: Option<&str>,
) -> Option<&'t mut Entry> {
    let visible = |o: &SandboxOrder| o.app_id.is_none() || o.app_id.as_deref() == app_id;
    match key {
        OrderKey::OrderNo(no) => table.get_mut(no).filter(|e| visible(&e.order)),
        // A bizOrderNo is unique per app scope; prefer the caller's own app over a shared order.
        OrderKey::BizOrderNo(biz) => {
            let chosen = table
                .with_biz(biz)
                .iter()
                .filter_map(|no| table.by_no.get(no))
                .filter(|e| visible(&e.order))
                .max_by_key(|e| e.order.app_id.is_some())?
                .order
                .order_no
                .clone();
            table.get_mut(&chosen)
        }
        // Rare (a refund by the channel's number): a scan.
        OrderKey::OutOrderNo(out) => table
            .by_no
            .values_mut()
            .filter(|e| e.order.out_order_no.as_deref() == Some(out) && visible(&e.order))
            .max_by_key(|e| e.order.app_id.is_some()),
    }
}

/// A close in progress: the order is flagged as closing until [`Closing::finish`] completes or
/// this value is dropped (a client that disconnects mid-close must not leave the flag set).
pub(super) struct Closing<'a> {
    orders: &'a Orders,
    order_no: String,
    delay: Duration,
    channel_fails: bool,
    outcome: OrderStatus,
    armed: bool,
}

impl Closing<'_> {
    /// Waits out the order's simulated channel latency, then applies the outcome.
    pub(super) async fn finish(mut self) -> Result<OrderStatus, Refusal> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let orders = self.orders;
        {
            let mut table = orders.lock();
            if let Some(entry) = table.get_mut(&self.order_no) {
                entry.closing = false;
                if !self.channel_fails {
                    entry.order.status = self.outcome;
                    entry.order.close_time =
                        Some(wall_clock_at(OffsetDateTime::now_utc(), orders.utc_offset));
                }
            }
        }
        self.armed = false;
        if self.channel_fails {
            Err(Refusal::ChannelFailed)
        } else {
            Ok(self.outcome)
        }
    }
}

impl Drop for Closing<'_> {
    fn drop(&mut self) {
        if self.armed {
            if let Some(entry) = self.orders.lock().get_mut(&self.order_no) {
                entry.closing = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(no: &str, biz: &str, app: Option<&str>) -> SandboxOrder {
        let mut o = SandboxOrder::new(no, biz, OrderStatus::Progress);
        o.app_id = app.map(str::to_owned);
        o
    }

    #[test]
    fn the_biz_index_follows_inserts_and_updates() {
        let orders = Orders::new(
            &[order("P1", "B1", None), order("P2", "B1", Some("app-a"))],
            UtcOffset::UTC,
        );
        let found = |biz, app| {
            orders
                .find(OrderKey::BizOrderNo(biz), app)
                .map(|o| o.order_no)
        };
        // The caller's own app wins over a shared order of the number; another app sees the shared one.
        assert_eq!(found("B1", Some("app-a")).as_deref(), Some("P2"));
        assert_eq!(found("B1", Some("app-b")).as_deref(), Some("P1"));
        assert!(orders.update("P2", |o| o.biz_order_no = "B2".to_owned()));
        assert_eq!(found("B1", Some("app-a")).as_deref(), Some("P1"));
        assert_eq!(found("B2", Some("app-a")).as_deref(), Some("P2"));
        assert_eq!(found("B2", Some("app-b")), None);
        assert_eq!(
            orders.by_biz("B2").map(|o| o.order_no).as_deref(),
            Some("P2")
        );
        // A number inserted again under the same orderNo is indexed by its new bizOrderNo only.
        orders
            .lock()
            .insert("P1".to_owned(), Entry::new(order("P1", "B3", None), 7));
        assert_eq!(orders.by_biz("B1"), None);
        assert_eq!(found("B3", None).as_deref(), Some("P1"));
    }
}

#[cfg(test)]
mod refund_index_tests {
    use super::*;
    use crate::order::RefundOrderStatus;

    fn refund(no: &str, biz: &str, app: Option<&str>) -> SandboxRefund {
        SandboxRefund {
            app_id: app.map(str::to_owned),
            order_id: 1,
            order_no: "P1".to_owned(),
            out_order_no: None,
            biz_order_no: "B1".to_owned(),
            title: None,
            refund_no: no.to_owned(),
            biz_refund_no: biz.to_owned(),
            out_refund_no: None,
            channel: "ali_pay".to_owned(),
            order_amount: crate::order::Amount::from_fen(100),
            amount: crate::order::Amount::from_fen(1),
            reason: None,
            finish_time: None,
            status: RefundOrderStatus::Progress,
            attach: None,
            client_ip: None,
            error_code: None,
            error_msg: None,
            notify_url: None,
        }
    }

    #[test]
    fn refunds_are_found_by_either_number_as_a_scan_finds_them() {
        let mut refunds = Refunds::default();
        refunds.push(refund("R1", "BR1", Some("app-a")));
        refunds.push(refund("R2", "BR1", Some("app-b")));
        refunds.push(refund("R3", "BR2", None));
        assert_eq!(refunds.position_by_no("R2"), Some(1));
        assert_eq!(refunds.position_by_no("BR1"), None);
        assert_eq!(refunds.position_by_biz("BR1", Some("app-b")), Some(1));
        assert_eq!(refunds.position_by_biz("BR1", Some("app-a")), Some(0));
        assert_eq!(refunds.position_by_biz("BR1", None), None);
        assert_eq!(refunds.position_by_biz("BR2", None), Some(2));
        // The other fields change through the slice; the index stays right.
        refunds[2].status = RefundOrderStatus::Success;
        assert_eq!(refunds.position_by_no("R3"), Some(2));
        assert_eq!(refunds.to_vec().len(), 3);
    }
}
