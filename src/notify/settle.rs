//! Settling the order store from what DaxPay holds, and the merchant's notification that
//! follows: one place for every way paybridge learns an outcome (the request's own answer, a
//! lookup, a retry's probe, a query, a callback, and later a settlement worker).
//!
//! - The row is completed with the fields of the attempt DaxPay accepted, when known (a
//!   callback's token, the request's own answer); otherwise, for a refund, with the pending
//!   attempt whose amount and `extParam` are DaxPay's, else the live attempt's — but a pending
//!   row that several requests joined is left open for the accepted one's answer or callback
//!   (the settlement worker's rule): nothing says which of them DaxPay acted on. A joined
//!   request that provably never reached DaxPay ([`never_sent`]) does not count.
//! - A refund's failure (not a close: DaxPay never runs a closed refund again) is not recorded nor notified while another request of its
//!   number may still land on DaxPay (`replay::landing`): DaxPay 3.0 would run it again.
//! - A final refund status is never lowered (the store's rule), and the notification of a final
//!   refund is queued only when the row now holds that status, so a stale answer queues nothing.
//! - A notification is queued at most once per order and state (the outbox's unique key), so
//!   calling this again, from any instance, queues nothing more.
//! - A completion that found no row (written again from the attempt), or a row another attempt
//!   completed, is logged and counted (`paybridge_store_row_faults_total`), never dropped.

use crate::config::Merchant;
use crate::dialect::daxpay::sign::Version;
use crate::domain::ops::RefundRecord;
use crate::domain::order::{PayOrder, RefundOrderStatus};
use crate::replay::landing::{attempt_window, Window};
use crate::store::landing::{AttemptWindow, RowAttempts};
use crate::store::{
    Completion, Inserted, NewNotification, OrderStore, PayRow, RefundRow, RefundSettlement,
    RowState, SettlementKind, StoreError,
};

use super::jobs::{refund_job, refund_state};
use super::now_ms;

/// Records that DaxPay made pay order `pay_order_id` from `accepted` (the attempt whose fields
/// the row now carries); the row as it now stands.
pub async fn record_pay(
    store: &OrderStore,
    pay_order_id: &str,
    accepted: PayRow,
) -> Result<Option<PayRow>, StoreError> {
    let (mch_no, number) = (accepted.mch_no.clone(), accepted.mch_order_no.clone());
    let completion = store
        .complete_pay(&mch_no, &number, pay_order_id, accepted)
        .await?;
    Ok(faults("pay", &mch_no, completion))
}

/// [`record_pay`] from the request DaxPay has just answered (at `answered_at_ms`): the row
/// completed and the attempt's call marked answered (`replay::landing`) in one transaction.
pub async fn record_answered_pay(
    store: &OrderStore,
    pay_order_id: &str,
    accepted: PayRow,
    answered_at_ms: i64,
) -> Result<Option<PayRow>, StoreError> {
    let mch_no = accepted.mch_no.clone();
    let completion = store
        .complete_pay_answered(pay_order_id, accepted, answered_at_ms)
        .await?;
    Ok(faults("pay", &mch_no, completion))
}

/// Which request of a pay order number DaxPay's order was made from, as far as its record
/// tells ([`pay_maker`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayMaker {
    /// This attempt: the only one (or the oldest of several alike) whose amount and `extParam`
    /// are DaxPay's (boxed: a row is a dozen strings).
    Attempt(Box<PayRow>),
    /// Several attempts match DaxPay's record but differ in what the merchant is told (the
    /// notify URL, the way code, ...): nothing says which one DaxPay acted on; its callback's
    /// token will.
    Unclear,
    /// No attempt of the number matches DaxPay's record.
    NoMatch,
}

/// Which attempt of `(mch_no, mch_order_no)` DaxPay's `order` (read from `version`) was made
/// from. DaxPay 3.x keeps one order per `bizOrderNo` and never runs a pay again (lifecycle.md
/// §2.5), so its amount and `attach` are its maker's; requests alike in every field the
/// merchant sees (a merchant's retry with a new `reqTime`) are one request sent again, and the
/// oldest of them stands for them all. DaxPay 2.0 returns no `attach` and overwrites a
/// `progress` order's `notifyUrl` and `attach` with a later pay's (lifecycle-2.0.md §3.2 step
/// 6): its record names the maker only when the number had a single request.
///
/// On 2.0, a joined attempt (any but the row's first, which is sent without a probe) is sent
/// only after `proxy::records::pay::joined_on_2_0` found no order and no earlier attempt able
/// to land, and it is marked possibly sent (`sent_until_ms`) before its call. One that stands
/// with no mark and no answer never reached DaxPay (its instance died before: soak finding
/// F10): it is no candidate for the order, and is left out before the rest are judged.
pub async fn pay_maker(
    store: &OrderStore,
    (mch_no, mch_order_no): (&str, &str),
    order: &PayOrder,
    version: Version,
) -> Result<PayMaker, StoreError> {
    let mut attempts = store.pay_attempts(mch_no, mch_order_no).await?;
    if version == Version::V2_0 && attempts.len() > 1 {
        let windows = store
            .attempt_windows(SettlementKind::Pay, mch_no, mch_order_no)
            .await?;
        if let Some(windows) = windows {
            attempts.retain(|a| !never_sent(&windows, a.attempt.as_deref()));
        }
    }
    Ok(match version {
        // 2.0 pays a `progress` order again for a later request, which overwrites its
        // notifyUrl and attach, and its query has no attach: several requests leave it unclear
        // — unless they all tell the merchant the same, when whichever landed is the same
        // request (the 2.0 lifecycle soak's finding: a retry in flight across a kill -9).
        Version::V2_0 if attempts.len() > 1 && !all_alike(&attempts) => PayMaker::Unclear,
        Version::V2_0 => maker_among(attempts, order, false),
        Version::V3_0 | Version::V3_0Beta => maker_among(attempts, order, true),
    })
}

/// Whether `attempt` is a joined attempt that never reached DaxPay: neither the row's oldest nor
/// the one the row carries (its first request's while that stands: the rows' switch on a give-up
/// is the only other change), and neither marked possibly sent nor answered. Every joined pay on
/// 2.0 and every joined refund is probed, then marked before it is sent
/// (`proxy::records::mark_sending`); the first request is sent unprobed and unmarked, so it is
/// never left out: "oldest" alone would not do, as two instances' clocks (or one millisecond)
/// may order the attempts otherwise. An attempt not listed (or unnamed) is kept: nothing proves
/// it sent nothing.
fn never_sent(windows: &RowAttempts, attempt: Option<&str>) -> bool {
    let Some(attempt) = attempt else {
        return false;
    };
    windows
        .windows
        .iter()
        .any(|w| w.attempt == attempt && unsent(windows, w))
}

/// [`never_sent`] of one of the row's listed attempts.
fn unsent(row: &RowAttempts, w: &AttemptWindow) -> bool {
    let oldest = row.windows.first().map(|first| first.attempt.as_str());
    Some(w.attempt.as_str()) != oldest
        && row.carried.as_deref() != Some(w.attempt.as_str())
        && w.sent_until_ms.is_none()
        && !w.answered
}

/// How many of the row's live attempts may have made what DaxPay holds: all but the joined ones
/// that provably never reached it ([`never_sent`]). Only what is proved is taken off the count.
fn sent_candidates(row: &RowAttempts) -> i64 {
    let unsent = row.windows.iter().filter(|w| unsent(row, w)).count();
    row.live - i64::try_from(unsent).unwrap_or(0)
}

/// Whether a pending refund row's `extParam` cannot be told: requests that may have made
/// DaxPay's refund ([`sent_candidates`]) asked with different ones, and DaxPay 2.0's refund
/// query carries no `attach` to tell them apart. A refund query then answers none rather than
/// the carried request's, which may be another's (the row is settled, and its fields known,
/// once DaxPay's callback or the accepted request's answer names the attempt).
pub async fn refund_ext_param_unclear(
    store: &OrderStore,
    mch_no: &str,
    number: &str,
) -> Result<bool, StoreError> {
    let windows = store
        .attempt_windows(SettlementKind::Refund, mch_no, number)
        .await?;
    let Some(windows) = windows.filter(|w| w.pending && sent_candidates(w) > 1) else {
        return Ok(false);
    };
    let blank = |t: Option<String>| t.filter(|t| !t.is_empty());
    let mut asked = store
        .refund_attempts(mch_no, number)
        .await?
        .into_iter()
        .filter(|a| a.state == RowState::Pending && !never_sent(&windows, a.attempt.as_deref()))
        .map(|a| blank(a.ext_param));
    let Some(first) = asked.next() else {
        return Ok(false);
    };
    Ok(asked.any(|other| other != first))
}

/// Whether `attempts` are one request sent again: the same amount and `extParam`, told alike.
fn all_alike(attempts: &[PayRow]) -> bool {
    let Some(first) = attempts.first() else {
        return true;
    };
    let blank = |t: Option<&str>| t.filter(|t| !t.is_empty()).map(str::to_owned);
    attempts.iter().all(|a| {
        a.amount_fen == first.amount_fen
            && blank(a.ext_param.as_deref()) == blank(first.ext_param.as_deref())
            && told_alike(first, a)
    })
}

/// [`pay_maker`] among `attempts` (oldest first); `by_attach`: DaxPay's record has the
/// `attach` it was made with.
fn maker_among(attempts: Vec<PayRow>, order: &PayOrder, by_attach: bool) -> PayMaker {
    let blank = |t: Option<&str>| t.filter(|t| !t.is_empty()).map(str::to_owned);
    let attach = blank(order.attach.as_deref());
    let mut makers = attempts.into_iter().filter(|a| {
        u64::try_from(a.amount_fen).ok() == Some(order.amount.0)
            && (!by_attach || blank(a.ext_param.as_deref()) == attach)
    });
    let Some(first) = makers.next() else {
        return PayMaker::NoMatch;
    };
    if makers.all(|other| told_alike(&first, &other)) {
        PayMaker::Attempt(Box::new(first))
    } else {
        PayMaker::Unclear
    }
}

/// Two attempts that tell the merchant the same: the fields of the query's answer and of the
/// notification, and where it goes (the payer's IP and the moment aside: a retry may come from
/// another of the merchant's servers, later).
pub fn told_alike(a: &PayRow, b: &PayRow) -> bool {
    (
        &a.way_code,
        &a.currency,
        &a.subject,
        &a.body,
        &a.notify_url,
        &a.return_url,
        &a.upstream,
    ) == (
        &b.way_code,
        &b.currency,
        &b.subject,
        &b.body,
        &b.notify_url,
        &b.return_url,
        &b.upstream,
    )
}

/// Records what DaxPay holds of a refund; the row as it now stands.
pub async fn record_refund(
    store: &OrderStore,
    settlement: RefundSettlement,
) -> Result<Option<RefundRow>, StoreError> {
    let mch_no = settlement.mch_no.clone();
    let completion = store.settle_refund(settlement).await?;
    Ok(faults("refund", &mch_no, completion))
}

/// [`record_refund`] from the request DaxPay has just answered (at `answered_at_ms`; its
/// attempt is `settlement.attempt`): the row settled and the call marked answered in one
/// transaction.
pub async fn record_answered_refund(
    store: &OrderStore,
    settlement: RefundSettlement,
    answered_at_ms: i64,
) -> Result<Option<RefundRow>, StoreError> {
    let mch_no = settlement.mch_no.clone();
    let completion = store
        .settle_refund_answered(settlement, answered_at_ms)
        .await?;
    Ok(faults("refund", &mch_no, completion))
}

/// What [`refund_final`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The row settled (and the notification queued when owed).
    Done,
    /// Nothing recorded yet, for the reason given: the row stays open for a later look.
    LeftOpen(&'static str),
}

/// Why a refund is left open: several requests joined its pending row and nothing says which
/// one DaxPay acted on (the settlement worker's rule, `settle::check::apply`).
pub const SEVERAL_JOINED: &str =
    "several requests joined the pending row: waiting for the accepted one's answer or callback";
/// Why a failed refund is not notified yet: DaxPay 3.0 runs a failed refund again when another
/// request of its number lands, so "failed" is final only once none can.
pub const MAY_STILL_LAND: &str =
    "another request of this refund may still land on DaxPay: its failure is not final yet";

/// "Refund `mch_refund_no` (the merchant's own number) is now as `record` says": the row
/// settled (with `accepted`'s fields when the attempt is known) and, once final, the merchant's
/// notification queued exactly once. What a settlement worker calls for each refund it follows
/// up.
///
/// Without a known attempt, a pending row that several requests joined is left as it is (its
/// accepted request's answer or callback names the attempt), unless all but one of them
/// provably never reached DaxPay ([`never_sent`]: a joined refund is probed, then marked before
/// it is sent, on every version; F10's refund twin); a failure is left while another request of
/// the number may still land (`replay::landing`).
pub async fn refund_final(
    store: &OrderStore,
    merchant: &Merchant,
    mch_refund_no: &str,
    record: RefundRecord,
    accepted: Option<RefundRow>,
) -> Result<Settled, StoreError> {
    let (mch_no, number) = (merchant.mch_no.clone(), mch_refund_no.to_owned());
    let attempts = store
        .attempt_windows(SettlementKind::Refund, &mch_no, &number)
        .await?;
    // A joined attempt that never reached DaxPay is no candidate (`never_sent`), even one whose
    // instance is still probing: `record` was read before these windows, every attempt is the
    // row's first or marked before it is sent, so an attempt unmarked now had sent nothing when
    // DaxPay's record was read (and a probe that finds the refund makes it give up). Its window
    // still counts below for a failure: it may yet send and land.
    let accepted = match accepted {
        Some(attempt) => Some(attempt),
        None if attempts
            .as_ref()
            .is_some_and(|a| a.pending && sent_candidates(a) > 1) =>
        {
            return Ok(Settled::LeftOpen(SEVERAL_JOINED));
        }
        None => matching_attempt(store, (&mch_no, &number), &record, attempts.as_ref()).await?,
    };
    // Only a failed refund is run again by a later request of its number (lifecycle.md §4: any
    // other status answers 20044): a close is final at once.
    if record.status == RefundOrderStatus::Fail {
        let lander = accepted
            .as_ref()
            .and_then(|a| a.attempt.clone())
            .or_else(|| attempts.as_ref().and_then(|a| a.carried.clone()));
        let expiry = merchant.daxpay.upstream.request_expiry;
        if another_may_land(attempts.as_ref(), lander.as_deref(), expiry) {
            return Ok(Settled::LeftOpen(MAY_STILL_LAND));
        }
    }
    let settlement = RefundSettlement {
        mch_no,
        mch_refund_no: number,
        attempt: accepted,
        refund_order_id: Some(record.refund_no.clone()),
        pay_amount_fen: None,
        status: Some(record.status),
    };
    if let Some(row) = record_refund(store, settlement).await? {
        notify_refund(store, merchant, &row, record).await?;
    }
    Ok(Settled::Done)
}

/// Whether an attempt of the row other than `except` may still land on DaxPay.
pub fn another_may_land(
    attempts: Option<&RowAttempts>,
    except: Option<&str>,
    request_expiry: Option<std::time::Duration>,
) -> bool {
    let now = now_ms();
    attempts.is_some_and(|a| {
        a.windows
            .iter()
            .filter(|w| Some(w.attempt.as_str()) != except)
            .any(|w| {
                attempt_window(
                    w.created_at_ms,
                    w.sent_until_ms,
                    w.answered,
                    request_expiry,
                    now,
                ) != Window::Closed
            })
    })
}

/// The pending attempt DaxPay's refund was made from: the one whose amount and `extParam` are
/// DaxPay's (the newest of several alike), among those that may have reached DaxPay (`windows`,
/// [`never_sent`]). `None` once the row is completed (its attempt is known) or when none matches
/// (the row's own fields stay: with one candidate left, they are its, as the row carries its
/// candidate — an attempt it carries is never left out).
async fn matching_attempt(
    store: &OrderStore,
    (mch_no, number): (&str, &str),
    record: &RefundRecord,
    windows: Option<&RowAttempts>,
) -> Result<Option<RefundRow>, StoreError> {
    let attempts = store.refund_attempts(mch_no, number).await?;
    Ok(attempts
        .into_iter()
        .rev()
        .filter(|a| a.state == RowState::Pending)
        .filter(|a| !windows.is_some_and(|w| never_sent(w, a.attempt.as_deref())))
        .filter(|a| u64::try_from(a.refund_amount_fen).ok() == Some(record.amount.0))
        .find(|a| a.ext_param == record.attach))
}

/// Queues the notification of a final refund (state 2 or 3) if `row` holds `record`'s status:
/// a stale record after a higher status queues nothing. Whether a new job was written.
pub async fn notify_refund(
    store: &OrderStore,
    merchant: &Merchant,
    row: &RefundRow,
    record: RefundRecord,
) -> Result<bool, StoreError> {
    if refund_state(record.status).is_none() || !holds(row, record.status) {
        return Ok(false);
    }
    enqueue(store, refund_job(merchant, row, record, now_ms())).await
}

/// Whether the row's status is `status`, or one Jeepay says alike (fail and close are both 3).
fn holds(row: &RefundRow, status: RefundOrderStatus) -> bool {
    let state = |s: RefundOrderStatus| refund_state(s);
    row.status.is_some_and(|held| state(held) == state(status))
}

/// Writes `job` (once per order and state) and wakes the delivery workers; whether it is new.
pub async fn enqueue(store: &OrderStore, job: Option<NewNotification>) -> Result<bool, StoreError> {
    let Some(job) = job else {
        return Ok(false);
    };
    match store.enqueue_notification(&job, now_ms()).await? {
        Inserted::New => {
            tracing::info!(
                mch_no = job.mch_no.as_str(),
                order_id = job.order_id.as_str(),
                state = job.state,
                "notification queued"
            );
            super::wake();
            Ok(true)
        }
        Inserted::Exists(_) => Ok(false),
    }
}

/// The row of a completion; a repair, a conflict or a missing row logged and counted.
fn faults<R>(kind: &'static str, mch_no: &str, completion: Completion<R>) -> Option<R> {
    let fault = match &completion {
        Completion::Completed(_) => None,
        Completion::Repaired(_) => Some((
            "repaired",
            "DaxPay's outcome found no row: written again from the accepted request's fields",
        )),
        Completion::Conflict(_) => Some((
            "conflict",
            "DaxPay's outcome names a request other than the one the row was completed with: the row is kept",
        )),
        Completion::Missing => Some((
            "missing",
            "DaxPay's outcome found no row and no request's fields to write it from",
        )),
    };
    if let Some((label, words)) = fault {
        tracing::error!(kind, mch_no, fault = label, "{words}");
        metrics::counter!("paybridge_store_row_faults_total", "kind" => kind, "fault" => label)
            .increment(1);
    }
    completion.row()
}

#[cfg(test)]
#[path = "settle_tests.rs"]
mod tests;
