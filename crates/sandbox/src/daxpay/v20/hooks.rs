//! What a 2.0.8 installation is configured with, and the switches and hooks tests use to
//! drive every case of `lifecycle-2.0.md` §5 and §7:
//!
//! - **before commit** (`callback_before_commit_ms`, [`Sandbox::set_callback_before_commit`]):
//!   a change made from outside a request (the payer paid, the channel settled a refund) sends
//!   its notice at once while the query endpoints keep answering the state *before* the change
//!   for that long — 2.0.8 registers the notice inside the transaction that is not committed yet
//!   (§7.1);
//! - **muted callbacks** ([`Sandbox::mute_callbacks`]): changes happen, notices are never sent
//!   (the one attempt lost; the retry job ships stopped, §7.4);
//! - **held locks** ([`Sandbox::hold_lock`]): a pay or refund of that merchant number is
//!   running, so another one answers 2.0.8's "in progress" result;
//! - **a close running** ([`Sandbox::hold_close`]): a close or cancel of that order is running
//!   (started elsewhere), so another one answers `支付订单已在关闭中…` / `…撤销中…` (§2.7);
//! - **held refunds** ([`Sandbox::hold_refunds`]): every refund stays `progress` until
//!   [`Sandbox::succeed_refund`] (two success notices, as the channel's callback path sends) or
//!   [`Sandbox::close_refund`] (one `close` notice, the balance given back);
//! - **a stale refund message** ([`Sandbox::set_stale_refund_msg`]): every new refund carries an
//!   old `errorMsg`, as a refund re-run after a failure does in 2.0.8 (it never clears it, §5.3),
//!   so its answer's `msg` is non-null whatever the outcome;
//! - **a stale refund query** ([`Sandbox::stale_refund_query`]): for a while the refund query
//!   answers a refund as `progress` again (a query behind a change, §7.1), whatever it is now;
//! - **the channel ahead of DaxPay** (what only a sync repairs, [`super::sync`]): a payment the
//!   channel took whose callback DaxPay did not apply ([`Sandbox::pay_at_channel_only`]: it came
//!   after `expiredTime`, §7.1), a refund the channel finished without telling DaxPay
//!   ([`Sandbox::succeed_refund_at_channel_only`]), orders made with an `expiredTime` already
//!   past ([`Sandbox::expire_new_orders`], as one made with a short expiry stands by the time it
//!   is looked at) or moved into the past ([`Sandbox::expire_order`]), and the channel's query
//!   failing ([`Sandbox::fail_channel_queries`]).
//!
//! Over HTTP, on the sandbox's listener only: `POST /sandbox/refunds/{refundNo}/success` and
//! `/close`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::Full;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::super::result::wall_clock_at;
use super::super::{lock_refunds, reply, Inner, Sandbox, SettleError};
use super::refund::refund_succeeded;
use crate::config::{SandboxConfig, SandboxOrder};
use crate::order::{OrderStatus, RefundOrderStatus, SandboxRefund};
use crate::sign::daxpay::Version;

/// The 2.0 platform configuration and the sandbox's switches.
pub(crate) struct V20State {
    /// `pay_platform_config.limit_amount`, fen.
    pub limit_fen: u64,
    /// Each channel config's `pay_ways`.
    pay_ways: HashMap<String, Vec<String>>,
    before_commit_ms: AtomicU64,
    muted: AtomicBool,
    held: AtomicBool,
    /// Merchant numbers whose Redis lock (`payment:pay:<bizOrderNo>`,
    /// `payment:refund:<bizRefundNo>`) a test holds.
    locks: Mutex<std::collections::HashSet<String>>,
    /// DaxPay order numbers a close or cancel of which a test says is running.
    closing: Mutex<std::collections::HashSet<String>>,
    /// Orders and refunds as they were before an uncommitted change, until when.
    orders_before: Mutex<HashMap<String, (Instant, SandboxOrder)>>,
    refunds_before: Mutex<HashMap<String, (Instant, SandboxRefund)>>,
    /// The `errorMsg` every new refund starts with (`None`: none).
    stale_msg: Mutex<Option<String>>,
    /// Orders the channel has a payment for that DaxPay never applied, and when it was paid.
    channel_paid: Mutex<HashMap<String, PrimitiveDateTime>>,
    /// Refunds the channel finished without telling DaxPay, and when.
    channel_refunded: Mutex<HashMap<String, PrimitiveDateTime>>,
    /// The channel's queries fail (every sync answers its error).
    queries_fail: AtomicBool,
    /// New orders expire this long before they are made (`None`: as asked).
    new_orders_expired: Mutex<Option<Duration>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl V20State {
    pub(crate) fn new(config: &SandboxConfig) -> V20State {
        V20State {
            limit_fen: config.pay_limit_fen,
            pay_ways: config.pay_ways.clone(),
            before_commit_ms: AtomicU64::new(config.callback_before_commit.as_millis() as u64),
            muted: AtomicBool::new(false),
            held: AtomicBool::new(false),
            locks: Mutex::new(std::collections::HashSet::new()),
            closing: Mutex::new(std::collections::HashSet::new()),
            orders_before: Mutex::new(HashMap::new()),
            refunds_before: Mutex::new(HashMap::new()),
            stale_msg: Mutex::new(None),
            channel_paid: Mutex::new(HashMap::new()),
            channel_refunded: Mutex::new(HashMap::new()),
            queries_fail: AtomicBool::new(false),
            new_orders_expired: Mutex::new(None),
        }
    }

    /// How long before it is made a new order expires ([`Sandbox::expire_new_orders`]).
    pub(crate) fn new_orders_expired(&self) -> Option<Duration> {
        *lock(&self.new_orders_expired)
    }

    /// When the channel took a payment for `order_no` that DaxPay did not apply.
    pub(crate) fn channel_paid(&self, order_no: &str) -> Option<PrimitiveDateTime> {
        lock(&self.channel_paid).get(order_no).copied()
    }

    /// When the channel finished refund `refund_no` without telling DaxPay.
    pub(crate) fn channel_refunded(&self, refund_no: &str) -> Option<PrimitiveDateTime> {
        lock(&self.channel_refunded).get(refund_no).copied()
    }

    pub(crate) fn channel_queries_fail(&self) -> bool {
        self.queries_fail.load(Ordering::Relaxed)
    }

    /// The `errorMsg` a new refund starts with ([`Sandbox::set_stale_refund_msg`]).
    pub(crate) fn stale_msg(&self) -> Option<String> {
        lock(&self.stale_msg).clone()
    }

    pub(crate) fn pay_way_enabled(&self, channel: &str, method: &str) -> bool {
        match self.pay_ways.get(channel) {
            Some(ways) => ways.iter().any(|w| w == method),
            None => super::pay::seed_pay_ways(channel).contains(&method),
        }
    }

    pub(crate) fn callbacks_muted(&self) -> bool {
        self.muted.load(Ordering::Relaxed)
    }

    pub(crate) fn refunds_held(&self) -> bool {
        self.held.load(Ordering::Relaxed)
    }

    /// Whether a pay or refund of merchant number `no` is running (its lock is held).
    pub(crate) fn locked(&self, no: &str) -> bool {
        lock(&self.locks).contains(no)
    }

    /// Whether a test holds a close or cancel of order `order_no` running.
    pub(crate) fn close_held(&self, order_no: &str) -> bool {
        lock(&self.closing).contains(order_no)
    }

    fn before_commit(&self) -> Option<Duration> {
        match self.before_commit_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }
}

impl Inner {
    /// Remembers `order` as the queries' answer until the change about to be made commits.
    pub(crate) fn uncommitted_change(
        &self,
        order: Option<SandboxOrder>,
        refund: Option<SandboxRefund>,
    ) {
        if self.version != Version::V2_0 {
            return;
        }
        let Some(window) = self.v20.before_commit() else {
            return;
        };
        let until = Instant::now() + window;
        if let Some(o) = order {
            lock(&self.v20.orders_before).insert(o.order_no.clone(), (until, o));
        }
        if let Some(r) = refund {
            lock(&self.v20.refunds_before).insert(r.refund_no.clone(), (until, r));
        }
    }

    /// The order as a query sees it: the state before an uncommitted change, if any.
    pub(crate) fn uncommitted_order(&self, order: SandboxOrder) -> SandboxOrder {
        let mut before = lock(&self.v20.orders_before);
        match before.get(&order.order_no) {
            Some((until, old)) if Instant::now() < *until => old.clone(),
            Some(_) => {
                before.remove(&order.order_no);
                order
            }
            None => order,
        }
    }

    /// The refund as a query sees it (see [`Inner::uncommitted_order`]).
    pub(crate) fn uncommitted_refund(&self, refund: SandboxRefund) -> SandboxRefund {
        let mut before = lock(&self.v20.refunds_before);
        match before.get(&refund.refund_no) {
            Some((until, old)) if Instant::now() < *until => old.clone(),
            Some(_) => {
                before.remove(&refund.refund_no);
                refund
            }
            None => refund,
        }
    }

    /// The channel says a `progress` refund succeeded: `success`, the pay order `refunded` /
    /// `partial_refund`, and two notices on 2.0 (one on 3.x).
    fn succeed_refund(&self, refund_no: &str) -> Option<SandboxRefund> {
        let wall = wall_clock_at(OffsetDateTime::now_utc(), self.utc_offset);
        let (done, order_before, refund_before) = {
            let mut table = self.orders.lock();
            let mut refunds = lock_refunds(&self.orders.refunds);
            let refund = refunds
                .iter_mut()
                .find(|r| r.refund_no == refund_no && r.status == RefundOrderStatus::Progress)?;
            let refund_before = refund.clone();
            let entry = table.get_mut(&refund.order_no)?;
            let order_before = entry.order.clone();
            refund_succeeded(refund, &mut entry.order, wall);
            (refund.clone(), order_before, refund_before)
        };
        self.uncommitted_change(Some(order_before), Some(refund_before));
        self.refund_changed(&done);
        if self.version == Version::V2_0 {
            self.refund_changed(&done);
        }
        Some(done)
    }

    /// `POST /sandbox/refunds/{refundNo}/success|close`; `None` for any other path.
    pub(crate) fn settle_refund_http(
        &self,
        method: &Method,
        path: &str,
    ) -> Option<Response<Full<Bytes>>> {
        let rest = path.strip_prefix("/sandbox/refunds/")?;
        let (no, action) = rest.rsplit_once('/')?;
        if no.is_empty() || no.contains('/') || !matches!(action, "success" | "close") {
            return None;
        }
        let body = |status: StatusCode, value: serde_json::Value| reply::json(status, &value);
        if method != Method::POST {
            return Some(body(
                StatusCode::METHOD_NOT_ALLOWED,
                serde_json::json!({"error": "use POST"}),
            ));
        }
        let done = match action {
            "success" => self.succeed_refund(no),
            _ => self.close_refund(no),
        };
        Some(match done {
            Some(r) => body(
                StatusCode::OK,
                serde_json::json!({"refundNo": r.refund_no, "bizRefundNo": r.biz_refund_no, "status": r.status.as_str()}),
            ),
            None => body(
                StatusCode::NOT_FOUND,
                serde_json::json!({"error": format!("no open refund {no}")}),
            ),
        })
    }
}

impl Sandbox {
    /// The channel's refund callback says a `progress` refund succeeded: it becomes `success`,
    /// the pay order `refunded` or `partial_refund`, and (2.0) **two** success notices are sent,
    /// as 2.0.8's `RefundRepairService` registers. `None`: no such refund, or not `progress`.
    pub fn succeed_refund(&self, refund_no: &str) -> Option<SandboxRefund> {
        self.inner.succeed_refund(refund_no)
    }

    /// For `delay` after a change made outside a request (pay, refund settled), the queries
    /// answer the state before it while the notice is already sent. `Duration::ZERO`: off.
    pub fn set_callback_before_commit(&self, delay: Duration) {
        self.inner
            .v20
            .before_commit_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// Commits every change still uncommitted now: the queries answer the new states at once.
    pub fn commit_pending(&self) {
        lock(&self.inner.v20.orders_before).clear();
        lock(&self.inner.v20.refunds_before).clear();
    }

    /// Holds 2.0.8's Redis lock of a merchant number, as a pay (`bizOrderNo`) or refund
    /// (`bizRefundNo`) still running would: until [`Sandbox::release_lock`], a pay of it answers
    /// `正在支付中，请勿重复支付` and a refund `退款处理中，请勿重复操作`.
    pub fn hold_lock(&self, merchant_no: &str) {
        lock(&self.inner.v20.locks).insert(merchant_no.to_owned());
    }

    /// Releases a lock taken by [`Sandbox::hold_lock`].
    pub fn release_lock(&self, merchant_no: &str) {
        lock(&self.inner.v20.locks).remove(merchant_no);
    }

    /// A close or cancel of the order with DaxPay's number `order_no` is running, started
    /// elsewhere (`PayCloseService` / `PayCancelService` hold the order's lock meanwhile):
    /// until [`Sandbox::release_close`], a close of it answers `支付订单已在关闭中，请勿重复发起`
    /// and a cancel `支付订单已在撤销中，请勿重复发起`, the order unchanged.
    pub fn hold_close(&self, order_no: &str) {
        lock(&self.inner.v20.closing).insert(order_no.to_owned());
    }

    /// Ends a close held by [`Sandbox::hold_close`] (the order as it was).
    pub fn release_close(&self, order_no: &str) {
        lock(&self.inner.v20.closing).remove(order_no);
    }

    /// `true`: no callback is sent from now on (changes still happen).
    pub fn mute_callbacks(&self, muted: bool) {
        self.inner.v20.muted.store(muted, Ordering::Relaxed);
    }

    /// Every new refund starts with `msg` as its `errorMsg` (`None`: none), as a refund re-run
    /// after a channel failure keeps its old one in 2.0.8: its answer's `msg` and its query's
    /// `errorMsg` then say it whatever the outcome (lifecycle-2.0.md §5.3).
    pub fn set_stale_refund_msg(&self, msg: Option<&str>) {
        *lock(&self.inner.v20.stale_msg) = msg.map(str::to_owned);
    }

    /// For `window` from now the refund query answers refund `refund_no` as it was while still
    /// `progress` (no finish time, no channel number), whatever it is now: a query that is
    /// behind. `false`: no such refund.
    pub fn stale_refund_query(&self, refund_no: &str, window: Duration) -> bool {
        let Some(mut stale) = lock_refunds(&self.inner.orders.refunds)
            .iter()
            .find(|r| r.refund_no == refund_no)
            .cloned()
        else {
            return false;
        };
        stale.status = RefundOrderStatus::Progress;
        stale.finish_time = None;
        stale.out_refund_no = None;
        lock(&self.inner.v20.refunds_before)
            .insert(refund_no.to_owned(), (Instant::now() + window, stale));
        true
    }

    /// `true`: every new refund stays `progress` (the channel has not answered) until
    /// [`Sandbox::succeed_refund`] or [`Sandbox::close_refund`].
    pub fn hold_refunds(&self, held: bool) {
        self.inner.v20.held.store(held, Ordering::Relaxed);
    }

    /// The payer paid at the channel, but DaxPay did not apply the channel's callback (2.0.8
    /// ignores one that arrives after `expiredTime`, §7.1): a `progress` order (by orderNo,
    /// else bizOrderNo) stays `progress`, no notice is sent, and only a sync
    /// (`/unipay/sync/pay`, or a repeated pay of the expired order) finds it paid.
    pub fn pay_at_channel_only(&self, no: &str) -> Result<SandboxOrder, SettleError> {
        let inner = &self.inner;
        let order = inner
            .orders
            .get(no)
            .or_else(|| inner.orders.by_biz(no))
            .ok_or(SettleError::NotFound)?;
        if order.status != OrderStatus::Progress {
            return Err(SettleError::NotOpen(order.status));
        }
        let wall = wall_clock_at(OffsetDateTime::now_utc(), inner.utc_offset);
        lock(&inner.v20.channel_paid).insert(order.order_no.clone(), wall);
        Ok(order)
    }

    /// The channel finished a `progress` refund, but its callback never reached DaxPay (and
    /// 2.0.8's refund sync job ships stopped, §7.4): the refund stays `progress`, no notice is
    /// sent, until `/unipay/sync/refund`. `None`: no such refund, or not `progress`.
    pub fn succeed_refund_at_channel_only(&self, refund_no: &str) -> Option<SandboxRefund> {
        let inner = &self.inner;
        let refund = lock_refunds(&inner.orders.refunds)
            .iter()
            .find(|r| r.refund_no == refund_no && r.status == RefundOrderStatus::Progress)
            .cloned()?;
        let wall = wall_clock_at(OffsetDateTime::now_utc(), inner.utc_offset);
        lock(&inner.v20.channel_refunded).insert(refund_no.to_owned(), wall);
        Some(refund)
    }

    /// From now on every new order is made with its `expiredTime` `ago` before it was made,
    /// whatever the pay asked (`None`: as asked again): an order made with a short expiry, as
    /// it stands by the time anyone looks at it. Its `expiredTime` then never changes, as in
    /// 2.0.8.
    pub fn expire_new_orders(&self, ago: Option<Duration>) {
        *lock(&self.inner.v20.new_orders_expired) = ago;
    }

    /// Sets an order's `expiredTime` `ago` in the past (now − `ago` on the sandbox's clock), as
    /// an order made with a short expiry stands by now. `false`: no such order.
    pub fn expire_order(&self, order_no: &str, ago: Duration) -> bool {
        let now = OffsetDateTime::now_utc() - ago;
        let wall = wall_clock_at(now, self.inner.utc_offset);
        self.update_order(order_no, |o| o.expired_time = Some(wall))
    }

    /// `true`: the channel's queries fail, so every sync answers shape B with the channel's
    /// words (`沙箱通道查询失败`) and changes nothing.
    pub fn fail_channel_queries(&self, fail: bool) {
        self.inner.v20.queries_fail.store(fail, Ordering::Relaxed);
    }
}
