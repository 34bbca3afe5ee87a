//! What paybridge's order store adds to each operation, around its call on DaxPay: what DaxPay
//! does not keep (way code, currency, the payer's IP, when it was made, the paid amount) and
//! Jeepay's uniqueness of merchant numbers, which DaxPay scopes differently.
//!
//! A state-changing operation writes its row before DaxPay is called and completes it after; a
//! store that cannot be reached answers that it is unavailable, and nothing is called. The
//! hooks of each operation live in a file of their own; close's two checks around DaxPay's
//! answer (DaxPay 2.0; a dialect that keeps no closed state) are in `close.rs`.
//!
//! Each request is an attempt (`store::Attempt`) with its own fields and notification token: a
//! request that finds its number pending joins the row rather than sharing another's fields,
//! the row is completed with the fields of the request DaxPay accepted, and a request for
//! which nothing was created gives up only its own attempt (the row goes only if no other
//! request joined it). Completions go through `notify::settle`, which logs and counts a row
//! that had to be written again.

mod close;
mod pay;
mod pay_query;
mod refund;
mod refund_query;
mod repeats;

use std::future::Future;

use super::call::{Job, Prepared, Translated};
use crate::dialect::merchant::OrderFacts;
use crate::domain::Failure;
pub(super) use crate::notify::now_ms;
use crate::store::landing::Landing;
use crate::store::{Attempt, OrderStore, SettlementKind, StoreError};

/// An operation's use of the order store.
pub(crate) trait Recorded: Translated {
    /// Before DaxPay is called: a repeated merchant number is refused, the row is written.
    /// `Some`: the request is answered from the store (a dialect's idempotent repeat of a
    /// number already answered), nothing is sent.
    fn before(
        _job: &Job<'_>,
        _p: &mut Prepared<Self>,
    ) -> impl Future<Output = Result<Option<Self::Outcome>, Failure>> + Send {
        async { Ok(None) }
    }

    /// After: the row completed (or removed when nothing was created), the outcome given what
    /// DaxPay does not return.
    fn after(
        _job: &Job<'_>,
        _p: &Prepared<Self>,
        outcome: Result<Self::Outcome, Failure>,
    ) -> impl Future<Output = Result<Self::Outcome, Failure>> + Send {
        async { outcome }
    }
}

/// An order named by paybridge's own number for it (epay's `trade_no`) is named by the merchant
/// number it was given for; a number this merchant was never given is "order not found"
/// (verified: the legacy gateway may know it, when the route falls back).
pub(super) async fn name_by_trade_no<O: Translated>(
    job: &Job<'_>,
    p: &mut Prepared<O>,
) -> Result<(), Failure> {
    let Some(trade_no) = p.trade_no.as_deref() else {
        return Ok(());
    };
    let found = store(job)?
        .dialect_order_by_trade_no(&p.merchant.mch_no, trade_no)
        .await
        .map_err(down)?;
    let Some(found) = found else {
        return Err(Failure::OrderNotFound { verified: true });
    };
    let order = p.op.order_mut();
    order.order_no = None;
    order.biz_order_no = Some(p.merchant.daxpay.number(&found.mch_order_no));
    p.dialect_order = Some(found);
    Ok(())
}

/// What the store keeps of the order a successful request was about, in its merchant's dialect
/// ([`OrderFacts`]), for the answer: only for a merchant whose dialect keeps numbers (no store
/// read for Jeepay's), and only for orders paybridge made. The answer is DaxPay's, verified: a
/// store that cannot be read leaves the facts out (logged), it does not fail the request.
pub(super) async fn dialect_facts<O: Translated>(
    job: &Job<'_>,
    p: &Prepared<O>,
) -> Option<OrderFacts> {
    if !p.merchant.keeps_dialect_orders() {
        return None;
    }
    let store = job.rt.orders.as_ref()?;
    let mch_no = p.merchant.mch_no.as_str();
    let looked_up = async {
        let found = match (&p.dialect_order, &p.order_hint, &p.op.order().biz_order_no) {
            (Some(found), _, _) => Some(found.clone()),
            (None, Some(own), _) => store.dialect_order(mch_no, own).await?,
            (None, None, Some(sent)) => store.dialect_order(mch_no, own_number(p, sent)).await?,
            (None, None, None) => None,
        };
        let Some(found) = found else {
            return Ok(None);
        };
        let refunded = store.refunded_fen(mch_no, &found.mch_order_no).await?;
        Ok::<_, StoreError>(Some(OrderFacts {
            trade_no: found.trade_no,
            out_trade_no: found.mch_order_no,
            origin: found.origin,
            pay_type: found.pay_type,
            refunded: u64::try_from(refunded).ok().map(crate::domain::order::Fen),
        }))
    };
    match looked_up.await {
        Ok(facts) => facts,
        Err(e) => {
            not_recorded("dialect facts of the order (read)", e);
            None
        }
    }
}

/// The order store, or "unavailable" (it could not be opened).
fn store<'a>(job: &Job<'a>) -> Result<&'a OrderStore, Failure> {
    job.rt.orders.as_ref().ok_or(Failure::StoreDown)
}

/// A store error as the merchant's answer: nothing was called.
fn down(error: StoreError) -> Failure {
    tracing::error!(error = %error, "order store unavailable: the request is refused");
    metrics::counter!("paybridge_store_errors_total").increment(1);
    Failure::StoreDown
}

/// A store error after DaxPay acted: the answer stands (it is DaxPay's, verified), the row is
/// left to be completed by a later lookup.
fn not_recorded(what: &str, error: StoreError) {
    tracing::error!(error = %error, what, "order store write failed after DaxPay acted");
    metrics::counter!("paybridge_store_errors_total").increment(1);
}

/// A new attempt for this request, with the notification token it gives DaxPay (if any).
fn new_attempt(token: Option<String>) -> Result<Attempt, Failure> {
    Ok(Attempt {
        id: crate::notify::token().ok_or(Failure::Internal)?,
        token,
        created_at_ms: now_ms(),
    })
}

/// A number whose row keeps changing under this request (joined rows given up meanwhile).
fn contended() -> Failure {
    down(StoreError::Unavailable(
        "merchant number contended; try again".to_owned(),
    ))
}

/// The merchant's own order number, from the one sent to DaxPay (a shared identity's prefix
/// removed).
fn own_number<'s, O: Translated>(p: &Prepared<O>, sent: &'s str) -> &'s str {
    p.merchant
        .daxpay
        .order_prefix
        .as_deref()
        .and_then(|prefix| sent.strip_prefix(prefix))
        .unwrap_or(sent)
}

/// Nothing was created on DaxPay for this request: its attempt gives up, and the row goes if no
/// other request joined it, so that the merchant can use the number again (as after any of
/// Jeepay's own refusals).
fn nothing_created(failure: &Failure) -> bool {
    !failure.outcome_unknown()
        && !matches!(
            failure,
            Failure::OrderExists(_) | Failure::RefundExists(_) | Failure::DuplicateInProgress
        )
        // A channel failure leaves DaxPay's order behind (`progress`).
        && !matches!(failure, Failure::Refused { code: 20045 | 20080, .. })
}

/// Records what became of this attempt's call, for the requests of its number that come later
/// (`replay::landing`): ended without a verified answer (it may still land until its window
/// closes), or answered by DaxPay (it landed). Nothing is recorded for a call given up (its
/// attempt is gone). A failure to record is logged: the attempt then counts as still sending
/// until its send window is over, which only delays another request.
async fn mark_landing<T>(
    store: &OrderStore,
    kind: SettlementKind,
    (mch_no, number, attempt): (&str, &str, &str),
    outcome: &Result<T, Failure>,
) {
    let now = now_ms();
    let landing = match outcome {
        Err(failure) if failure.outcome_unknown() => Landing::SentUntil(now),
        _ => Landing::Answered(now),
    };
    if let Err(e) = store
        .mark_landing(kind, mch_no, number, attempt, landing)
        .await
    {
        not_recorded("attempt landing", e);
    }
}

/// A joined attempt that its probe let through is marked possibly sent, until its call's
/// deadline (the upstream's `timeout`, retries included), before anything is sent. So an attempt
/// that stands without a mark (neither the row's first nor the one it carries) provably never
/// reached DaxPay: its instance died before (soak finding F10), and the settlement rules leave
/// it out of the candidates for what DaxPay made (`notify::settle::never_sent`). The call's own
/// end overwrites the mark ([`mark_landing`]). A mark that cannot be written: nothing may be
/// sent (the caller gives the attempt up), answered as the store being down.
async fn mark_sending(
    store: &OrderStore,
    kind: SettlementKind,
    (mch_no, number): (&str, &str),
    attempt: Option<&Attempt>,
    timeout: std::time::Duration,
) -> Result<(), Failure> {
    let Some(attempt) = attempt else {
        return Ok(());
    };
    let timeout = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
    let until = now_ms().saturating_add(timeout);
    store
        .mark_landing(kind, mch_no, number, &attempt.id, Landing::SentUntil(until))
        .await
        .map_err(down)
}

/// Whose request DaxPay's order or refund (found by a lookup) was made from, as far as this
/// one is told.
enum Whose {
    This,
    /// Another request paybridge keeps (the row names it, or DaxPay's record does).
    Another,
    /// No request paybridge keeps matches DaxPay's record.
    Nobody,
    Unclear,
}

impl Whose {
    /// Among the requests the store holds for the number (`candidates`), those `alike` this
    /// one: none held, or all alike, it is this one's; none alike, another's; some, unclear.
    fn among<R>(candidates: &[R], alike: impl Fn(&R) -> bool) -> Whose {
        let same = candidates.iter().filter(|c| alike(c)).count();
        match (same, candidates.len()) {
            (_, 0) => Whose::This,
            (0, _) => Whose::Another,
            (same, all) if same == all => Whose::This,
            _ => Whose::Unclear,
        }
    }
}

/// This attempt made nothing on DaxPay and will send nothing: it gives up (the row goes if no
/// other request joined it).
async fn give_up(
    store: &OrderStore,
    kind: SettlementKind,
    mch_no: &str,
    number: &str,
    attempt: &str,
) {
    let given_up = match kind {
        SettlementKind::Pay => store.abandon_pay(mch_no, number, attempt).await,
        SettlementKind::Refund => store.abandon_refund(mch_no, number, attempt).await,
    };
    if let Err(e) = given_up {
        not_recorded("attempt given up", e);
    }
}

/// Whether this attempt's request ended having created nothing on DaxPay: refused before
/// DaxPay acted, never sent, or a retry answered from a lookup (`EarlierOutcomeUnknown`: it
/// sent nothing, or DaxPay refused what it sent).
fn gives_up(failure: &Failure) -> bool {
    nothing_created(failure) || matches!(failure, Failure::EarlierOutcomeUnknown)
}
