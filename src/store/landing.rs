//! What the store knows of when each attempt on a number may still land on DaxPay (issue 19,
//! the gaps): each attempt's creation time, the moment its call ended with an unknown outcome
//! (`sent_until_ms`), and whether DaxPay answered it (it landed, once). The rule that turns
//! these into "may it still land?" is `crate::replay::landing`; this module only keeps the
//! facts, and releases a pending row none of whose attempts can land any more.
//!
//! The table columns are migration 0006.

use super::rows::StoreError;
use super::settlement_rows::SettlementKind;
use super::OrderStore;

/// One attempt on a number, as far as its landing is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptWindow {
    pub attempt: String,
    pub created_at_ms: i64,
    /// Its call ended with an unknown outcome then (`None`: it may still be sending).
    pub sent_until_ms: Option<i64>,
    /// DaxPay's verified answer to its call came: it landed, and cannot land again.
    pub answered: bool,
}

/// A row's attempts (none listed for a row written before attempts existed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowAttempts {
    /// The row is still pending (DaxPay's answer not recorded).
    pub pending: bool,
    /// The row's count of attempts not given up (what a release compares).
    pub live: i64,
    /// The attempt whose fields the row carries (the accepted one once the row is created).
    pub carried: Option<String>,
    pub windows: Vec<AttemptWindow>,
}

/// What is recorded of an attempt's call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landing {
    /// The call ended at this moment without a verified answer: sent at the latest then.
    SentUntil(i64),
    /// DaxPay's verified answer came at this moment.
    Answered(i64),
}

pub(crate) mod sql {
    macro_rules! windows {
        ($orders:literal, $attempts:literal, $number:literal) => {
            concat!(
                "SELECT o.state, o.attempts, o.attempt, a.attempt, a.created_at_ms, a.sent_until_ms, \
                 a.answered_at_ms FROM ",
                $orders,
                " o LEFT JOIN ",
                $attempts,
                " a ON a.mch_no = o.mch_no AND a.",
                $number,
                " = o.",
                $number,
                " WHERE o.mch_no = $1 AND o.",
                $number,
                " = $2 ORDER BY a.created_at_ms, a.attempt"
            )
        };
    }
    pub(crate) const PAY_WINDOWS: &str = windows!("pay_orders", "pay_attempts", "mch_order_no");
    pub(crate) const REFUND_WINDOWS: &str =
        windows!("refund_orders", "refund_attempts", "mch_refund_no");
    // A later mark never undoes an answer.
    pub(crate) const PAY_SENT_UNTIL: &str = "UPDATE pay_attempts SET sent_until_ms = $4 \
         WHERE mch_no = $1 AND mch_order_no = $2 AND attempt = $3 AND answered_at_ms IS NULL";
    pub(crate) const PAY_ANSWERED: &str = "UPDATE pay_attempts SET answered_at_ms = $4 \
         WHERE mch_no = $1 AND mch_order_no = $2 AND attempt = $3";
    pub(crate) const REFUND_SENT_UNTIL: &str = "UPDATE refund_attempts SET sent_until_ms = $4 \
         WHERE mch_no = $1 AND mch_refund_no = $2 AND attempt = $3 AND answered_at_ms IS NULL";
    pub(crate) const REFUND_ANSWERED: &str = "UPDATE refund_attempts SET answered_at_ms = $4 \
         WHERE mch_no = $1 AND mch_refund_no = $2 AND attempt = $3";
    /// A pending row released: only if no attempt joined or gave up since it was read ($3).
    pub(crate) const RELEASE_PAY: &str = "DELETE FROM pay_orders WHERE mch_no = $1 \
         AND mch_order_no = $2 AND state = 'pending' AND attempts = $3";
    pub(crate) const RELEASE_REFUND: &str = "DELETE FROM refund_orders WHERE mch_no = $1 \
         AND mch_refund_no = $2 AND state = 'pending' AND attempts = $3";
}

/// The statements of one kind of row.
pub(crate) struct LandingSql {
    pub windows: &'static str,
    pub sent_until: &'static str,
    pub answered: &'static str,
    pub release: &'static str,
    pub delete_attempts: &'static str,
}

pub(crate) fn statements(kind: SettlementKind) -> &'static LandingSql {
    static PAY: LandingSql = LandingSql {
        windows: sql::PAY_WINDOWS,
        sent_until: sql::PAY_SENT_UNTIL,
        answered: sql::PAY_ANSWERED,
        release: sql::RELEASE_PAY,
        delete_attempts: super::sql::DELETE_PAY_ATTEMPTS,
    };
    static REFUND: LandingSql = LandingSql {
        windows: sql::REFUND_WINDOWS,
        sent_until: sql::REFUND_SENT_UNTIL,
        answered: sql::REFUND_ANSWERED,
        release: sql::RELEASE_REFUND,
        delete_attempts: super::sql::DELETE_REFUND_ATTEMPTS,
    };
    match kind {
        SettlementKind::Pay => &PAY,
        SettlementKind::Refund => &REFUND,
    }
}

/// One row of a windows query: the row's state and count, then the attempt's columns (all
/// `None` when the row has no attempt).
pub(crate) type WindowRow = (
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// The rows of a windows query as the row's attempts; `None`: no row.
pub(crate) fn gather(rows: Vec<WindowRow>) -> Result<Option<RowAttempts>, StoreError> {
    let Some((state, live, carried, ..)) = rows.first().cloned() else {
        return Ok(None);
    };
    let pending = super::rows::RowState::parse(&state)? == super::rows::RowState::Pending;
    let windows = rows
        .into_iter()
        .filter_map(|(_, _, _, attempt, created, sent_until, answered)| {
            Some(AttemptWindow {
                attempt: attempt?,
                created_at_ms: created?,
                sent_until_ms: sent_until,
                answered: answered.is_some(),
            })
        })
        .collect();
    Ok(Some(RowAttempts {
        pending,
        live,
        carried,
        windows,
    }))
}

impl OrderStore {
    /// The attempts on `(kind, mch_no, number)` and what is known of their landing; `None`: no
    /// row.
    pub async fn attempt_windows(
        &self,
        kind: SettlementKind,
        mch_no: &str,
        number: &str,
    ) -> Result<Option<RowAttempts>, StoreError> {
        self.ready().await?;
        let rows = on_backend!(self, b => b.window_rows(statements(kind).windows, mch_no, number))?;
        gather(rows)
    }

    /// Records what became of `attempt`'s call (an attempt that is gone changes nothing).
    pub async fn mark_landing(
        &self,
        kind: SettlementKind,
        mch_no: &str,
        number: &str,
        attempt: &str,
        landing: Landing,
    ) -> Result<(), StoreError> {
        self.ready().await?;
        let (statement, at) = match landing {
            Landing::SentUntil(at) => (statements(kind).sent_until, at),
            Landing::Answered(at) => (statements(kind).answered, at),
        };
        on_backend!(self, b => b.mark_landing(statement, mch_no, number, attempt, at))
    }

    /// Removes a pending row (and its attempts) none of whose attempts can land any more, so
    /// that the merchant may use the number again, as after any refusal: only if its count of
    /// attempts is still `live` (none joined or gave up since they were judged). Whether it
    /// was removed.
    pub async fn release(
        &self,
        kind: SettlementKind,
        mch_no: &str,
        number: &str,
        live: i64,
    ) -> Result<bool, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.release(statements(kind), mch_no, number, live))
    }
}
