//! The durable order store: every pay order and refund paybridge asks DaxPay to create, keyed by
//! the merchant's own numbers (`mchOrderNo`, `mchRefundNo`, unique per `mchNo` as Jeepay keeps
//! them), with what the Jeepay answers, queries and notifications need later and DaxPay does not
//! keep (the merchant's app, `notifyUrl`, `extParam`, …).
//!
//! A row is written `Pending` before DaxPay is called (the number is taken, so a concurrent or
//! repeated request finds it) and becomes `Created` with DaxPay's number once its answer is
//! verified.
//!
//! **Attempts** (issue 19): every request that may reach DaxPay for a number is an attempt, with
//! its own id, fields and notification token (`pay_attempts`, `refund_attempts`). A request that
//! finds the number pending *joins* the row ([`OrderStore::join_pay`]); the row carries the
//! fields of one attempt (`attempt`), and is completed with the fields of the attempt DaxPay
//! accepted, whichever it is ([`OrderStore::complete_pay`], [`OrderStore::settle_refund`]); a
//! callback's token names its attempt. An attempt for which nothing was created gives up
//! ([`OrderStore::abandon_pay`]): the row is removed only when no other attempt joined it. A
//! completion that finds no row writes it again from the attempt's fields and says so.
//!
//! Two backends behind one handle: SQLite (`sqlite.rs`, one file, the default) and PostgreSQL
//! (`postgres.rs`, shared by several instances). Both run the same statements and migrations
//! (`sql.rs`, `migrations/`); the schema is brought up to date once per store, on first use.
//!
//! The same store keeps the notification outbox (`outbox.rs`): the Jeepay notifications owed to
//! merchants, claimed under a lease and delivered at least once.

mod outbox_rows;
mod postgres;
pub mod probe;
mod replay_rows;
mod retention_rows;
mod rows;
mod settlement_rows;
mod sql;
mod sqlite;

pub use outbox_rows::{
    DueNotification, NewNotification, Notification, NotificationKind, NotificationStatus,
    NotificationWire, OutboxStats,
};
pub use replay_rows::{ClaimAt, ReplayClaim};
pub use retention_rows::{Cutoff, Pruned};
pub use rows::{
    Abandoned, Attempt, Completion, Inserted, Joined, PaidBy, PayRow, RefundRow, RefundSettlement,
    RowState, StoreError,
};
pub use settlement_rows::{
    CheckResult, Settlement, SettlementKind, SettlementStats, SettlementStatus,
};

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::config::{StoreTarget, StoreUrl};
use postgres::Postgres;
use sql::now_ms;
use sqlite::Sqlite;

/// A handle on the order store; clones share it.
#[derive(Clone)]
pub struct OrderStore {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    /// Set once the migrations went through; left empty by a failure, so the next call retries.
    migrated: OnceCell<()>,
}

enum Backend {
    Sqlite(Sqlite),
    Postgres(Postgres),
}

/// Calls the same method on whichever backend this is.
macro_rules! on_backend {
    ($self:ident, $b:ident => $call:expr) => {
        match &$self.inner.backend {
            $crate::store::Backend::Sqlite($b) => $call.await,
            $crate::store::Backend::Postgres($b) => $call.await,
        }
    };
}

// After the macro: they use it.
pub mod dialect_orders;
pub mod landing;
mod outbox;
mod replay;
mod retention;
mod settlement;

impl OrderStore {
    /// `url`: `sqlite://PATH` (file created on first use, parent directories too, WAL journal,
    /// busy timeout), `sqlite::memory:` (tests), or `postgres://user:pass@host:port/db`. Never
    /// blocks on the network: PostgreSQL connects lazily.
    pub fn open(url: &StoreUrl) -> Result<OrderStore, StoreError> {
        let backend = match url.target() {
            StoreTarget::SqliteFile(path) => Backend::Sqlite(Sqlite::open(Some(path))?),
            StoreTarget::SqliteMemory => Backend::Sqlite(Sqlite::open(None)?),
            StoreTarget::Postgres => Backend::Postgres(Postgres::open(url)?),
        };
        Ok(OrderStore {
            inner: Arc::new(Inner {
                backend,
                migrated: OnceCell::new(),
            }),
        })
    }

    /// Applies the migrations once (memoised; a failure is retried on the next call). Every
    /// other method calls it first.
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.inner
            .migrated
            .get_or_try_init(|| async { on_backend!(self, b => b.migrate()) })
            .await
            .map(drop)
    }

    /// Takes `(mch_no, mch_order_no)` for `row`, or answers the row that holds it. A row given
    /// by value is moved to the store's thread, not copied. A new row is enrolled in the
    /// settlement ledger in the same transaction (due at once, like [`OrderStore::follow`]'s).
    pub async fn insert_pay(&self, row: impl Into<PayRow>) -> Result<Inserted<PayRow>, StoreError> {
        self.ready().await?;
        let row = row.into();
        match &self.inner.backend {
            Backend::Sqlite(b) => b.insert_pay(row).await,
            Backend::Postgres(b) => b.insert_pay(&row).await,
        }
    }

    /// Enrols a row written again (a repair) in the settlement ledger. A failure is logged, not
    /// returned: the row stands, and the worker's sweep ([`OrderStore::enroll_missing`]) enrols
    /// it later. (A new row's entry is written in the row's own transaction.)
    async fn follow(&self, kind: SettlementKind, mch_no: &str, number: &str, created_at_ms: i64) {
        // Due at once; the worker leaves an entry alone until it is old enough (its
        // `first_check_after`), time for DaxPay's own answer and callback.
        if let Err(e) = self
            .enroll(kind, mch_no, number, created_at_ms, created_at_ms)
            .await
        {
            tracing::error!(error = %e, kind = kind.as_str(), "a row could not be enrolled for settlement: the sweep will");
        }
    }

    /// Records DaxPay's `pay_order_id` for the attempt `row` names, marks the row `Created`, and
    /// gives it `row`'s fields (way code, currency, client IP, amount, subject, body, ext param,
    /// notify and return URLs, upstream, creation time, token): those of the request DaxPay
    /// accepted. Only a pending row, or one already this attempt's, is changed
    /// ([`Completion::Conflict`] otherwise); no row at all is written again from `row`
    /// ([`Completion::Repaired`]).
    pub async fn complete_pay(
        &self,
        mch_no: &str,
        mch_order_no: &str,
        pay_order_id: &str,
        row: impl Into<PayRow>,
    ) -> Result<Completion<PayRow>, StoreError> {
        let mut row = row.into();
        (row.mch_no, row.mch_order_no) = (mch_no.to_owned(), mch_order_no.to_owned());
        self.complete_pay_with(pay_order_id, row, None).await
    }

    /// [`OrderStore::complete_pay`] for the attempt whose call DaxPay has just answered (at
    /// `answered_at_ms`): that is recorded too ([`landing`]), in the same transaction: both are
    /// written or neither (one call to the store and one commit; they were two).
    pub async fn complete_pay_answered(
        &self,
        pay_order_id: &str,
        row: PayRow,
        answered_at_ms: i64,
    ) -> Result<Completion<PayRow>, StoreError> {
        self.complete_pay_with(pay_order_id, row, Some(answered_at_ms))
            .await
    }

    async fn complete_pay_with(
        &self,
        pay_order_id: &str,
        row: PayRow,
        answered_at_ms: Option<i64>,
    ) -> Result<Completion<PayRow>, StoreError> {
        self.ready().await?;
        let completion = match &self.inner.backend {
            Backend::Sqlite(b) => b.complete_pay(pay_order_id, row, answered_at_ms).await,
            Backend::Postgres(b) => b.complete_pay(pay_order_id, &row, answered_at_ms).await,
        }?;
        // A row written again is followed at once, like any new row (its entry may be `gone`
        // since the row went away): not only by the sweep, minutes later.
        if let Completion::Repaired(row) = &completion {
            self.follow(
                SettlementKind::Pay,
                &row.mch_no,
                &row.mch_order_no,
                now_ms(),
            )
            .await;
        }
        Ok(completion)
    }

    /// Joins `row`'s attempt (its own fields and token) to the pending row of its number, so
    /// that no other attempt's clean-up removes the row while this one may be accepted.
    pub async fn join_pay(&self, row: &PayRow) -> Result<Joined<PayRow>, StoreError> {
        self.ready().await?;
        match &self.inner.backend {
            Backend::Sqlite(b) => b.join_pay(row.clone()).await,
            Backend::Postgres(b) => b.join_pay(row).await,
        }
    }

    /// Gives up `attempt` (nothing was created on DaxPay for it): its fields are forgotten; the
    /// row is removed if it is pending and no other attempt joined it, else it stays (and takes
    /// the newest remaining attempt's fields if it carried this one's).
    pub async fn abandon_pay(
        &self,
        mch_no: &str,
        mch_order_no: &str,
        attempt: &str,
    ) -> Result<Abandoned, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.abandon(&sql::PAY_ATTEMPT_SQL, mch_no, mch_order_no, attempt))
    }

    /// Every attempt on a pay order number (each with its own fields and the row's state),
    /// oldest first.
    pub async fn pay_attempts(
        &self,
        mch_no: &str,
        mch_order_no: &str,
    ) -> Result<Vec<PayRow>, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.pay_attempts(mch_no, mch_order_no))
    }

    pub async fn pay_by_mch_order_no(
        &self,
        mch_no: &str,
        mch_order_no: &str,
    ) -> Result<Option<PayRow>, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.pay_by(sql::PAY_BY_MCH_ORDER_NO, mch_no, mch_order_no))
    }

    /// By DaxPay's number, within the merchant's orders.
    pub async fn pay_by_order_id(
        &self,
        mch_no: &str,
        pay_order_id: &str,
    ) -> Result<Option<PayRow>, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.pay_by(sql::PAY_BY_ORDER_ID, mch_no, pay_order_id))
    }

    /// The merchant's pay order `by` names.
    pub async fn pay_by(&self, mch_no: &str, by: PaidBy<'_>) -> Result<Option<PayRow>, StoreError> {
        match by {
            PaidBy::OrderId(id) => self.pay_by_order_id(mch_no, id).await,
            PaidBy::MchOrderNo(no) => self.pay_by_mch_order_no(mch_no, no).await,
        }
    }

    /// By a notification token (unique across merchants): the order as the attempt that was
    /// given the token made it (its fields; the order's number and state).
    pub async fn pay_by_token(&self, token: &str) -> Result<Option<PayRow>, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.pay_by_token(token))
    }

    /// Takes `(mch_no, mch_refund_no)` for `row`, or answers the row that holds it (a new row
    /// enrolled for settlement in the same transaction).
    pub async fn insert_refund(&self, row: &RefundRow) -> Result<Inserted<RefundRow>, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.insert_refund(row))
    }

    /// [`OrderStore::insert_refund`] after reading the merchant's pay order that `paid_by` names
    /// (none: no lookup): the row takes what the store keeps of it ([`RefundRow::of_paid`]).
    /// On SQLite one call on the store's thread where the lookup and the insert were two (a
    /// round trip fewer per refund); on PostgreSQL the same two statements as before.
    pub async fn insert_refund_of(
        &self,
        paid_by: Option<PaidBy<'_>>,
        mut row: RefundRow,
    ) -> Result<Inserted<RefundRow>, StoreError> {
        self.ready().await?;
        match &self.inner.backend {
            Backend::Sqlite(b) => b.insert_refund_of(paid_by, row).await,
            Backend::Postgres(b) => {
                if let Some(by) = paid_by {
                    let paid = self.pay_by(&row.mch_no, by).await?;
                    row.of_paid(paid);
                }
                b.insert_refund(&row).await
            }
        }
    }

    /// Records what DaxPay holds of a refund, in one step: DaxPay's number, the paid amount when
    /// learnt, the row `Created` with the accepted attempt's fields (when known; only a pending
    /// row or one already that attempt's), and DaxPay's status, never lowered. No row: written
    /// again from the attempt's fields ([`Completion::Repaired`]), or [`Completion::Missing`].
    /// The row as it then stands is what the merchant's notification is built from.
    pub async fn settle_refund(
        &self,
        settlement: RefundSettlement,
    ) -> Result<Completion<RefundRow>, StoreError> {
        self.settle_refund_with(settlement, None).await
    }

    /// [`OrderStore::settle_refund`] with the accepted attempt's call (`settlement.attempt`)
    /// answered at `answered_at_ms`, recorded in the same transaction ([`landing`]): both are
    /// written or neither.
    pub async fn settle_refund_answered(
        &self,
        settlement: RefundSettlement,
        answered_at_ms: i64,
    ) -> Result<Completion<RefundRow>, StoreError> {
        self.settle_refund_with(settlement, Some(answered_at_ms))
            .await
    }

    async fn settle_refund_with(
        &self,
        settlement: RefundSettlement,
        answered_at_ms: Option<i64>,
    ) -> Result<Completion<RefundRow>, StoreError> {
        self.ready().await?;
        let completion = match &self.inner.backend {
            Backend::Sqlite(b) => b.settle_refund(settlement, answered_at_ms).await,
            Backend::Postgres(b) => b.settle_refund(&settlement, answered_at_ms).await,
        }?;
        if let Completion::Repaired(row) = &completion {
            self.follow(
                SettlementKind::Refund,
                &row.mch_no,
                &row.mch_refund_no,
                now_ms(),
            )
            .await;
        }
        Ok(completion)
    }

    /// The same as [`OrderStore::join_pay`] for a refund.
    pub async fn join_refund(&self, row: &RefundRow) -> Result<Joined<RefundRow>, StoreError> {
        self.ready().await?;
        match &self.inner.backend {
            Backend::Sqlite(b) => b.join_refund(row.clone()).await,
            Backend::Postgres(b) => b.join_refund(row).await,
        }
    }

    /// The same as [`OrderStore::abandon_pay`] for a refund.
    pub async fn abandon_refund(
        &self,
        mch_no: &str,
        mch_refund_no: &str,
        attempt: &str,
    ) -> Result<Abandoned, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.abandon(&sql::REFUND_ATTEMPT_SQL, mch_no, mch_refund_no, attempt))
    }

    /// Every attempt on a refund number (each with its own fields), oldest first.
    pub async fn refund_attempts(
        &self,
        mch_no: &str,
        mch_refund_no: &str,
    ) -> Result<Vec<RefundRow>, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.refund_attempts(mch_no, mch_refund_no))
    }

    pub async fn refund_by_mch_refund_no(
        &self,
        mch_no: &str,
        mch_refund_no: &str,
    ) -> Result<Option<RefundRow>, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.refund_by(sql::REFUND_BY_MCH_REFUND_NO, mch_no, mch_refund_no))
    }

    /// By the refund number a merchant dialect answered with (epay's `refund_no`, kept in the
    /// row's `ext_param`), within the merchant's refunds.
    pub async fn refund_by_dialect_no(
        &self,
        mch_no: &str,
        number: &str,
    ) -> Result<Option<RefundRow>, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.refund_by(sql::REFUND_BY_DIALECT_NO, mch_no, number))
    }

    /// By DaxPay's number, within the merchant's refunds.
    pub async fn refund_by_order_id(
        &self,
        mch_no: &str,
        refund_order_id: &str,
    ) -> Result<Option<RefundRow>, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.refund_by(sql::REFUND_BY_ORDER_ID, mch_no, refund_order_id))
    }

    /// By a notification token (unique across merchants): the refund as the attempt that was
    /// given the token asked for it (its fields; the refund's number, state and status).
    pub async fn refund_by_token(&self, token: &str) -> Result<Option<RefundRow>, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.refund_by_token(token))
    }

    /// `"sqlite"` or `"postgres"`, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self.inner.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

#[cfg(test)]
mod tests;
