//! The durable order store: every pay order and refund paybridge asks DaxPay to create, keyed by
//! the merchant's own numbers (`mchOrderNo`, `mchRefundNo`, unique per `mchNo` as Jeepay keeps
//! them), with what the Jeepay answers, queries and notifications need later and DaxPay does not
//! keep (the merchant's app, `notifyUrl`, `extParam`, …).
//!
//! A row is written `Pending` before DaxPay is called (the number is taken, so a concurrent or
//! repeated request finds it) and becomes `Created` with DaxPay's number once its answer is
//! verified; a pending row whose call certainly failed is removed.
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
mod rows;
mod sql;
mod sqlite;

pub use outbox_rows::{
    DueNotification, NewNotification, Notification, NotificationKind, NotificationStatus,
    OutboxStats,
};
pub use replay_rows::{ClaimAt, ReplayClaim};
pub use rows::{Inserted, PaidBy, PayRow, RefundRow, RowState, StoreError};

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::config::{StoreTarget, StoreUrl};
use postgres::Postgres;
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

// After the macro: it is used there.
mod outbox;
mod replay;

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
    /// by value is moved to the store's thread, not copied.
    pub async fn insert_pay(&self, row: impl Into<PayRow>) -> Result<Inserted<PayRow>, StoreError> {
        self.ready().await?;
        let row = row.into();
        match &self.inner.backend {
            Backend::Sqlite(b) => b.insert_pay(row).await,
            Backend::Postgres(b) => b.insert_pay(&row).await,
        }
    }

    /// Records DaxPay's `pay_order_id`, marks the row `Created`, and overwrites its descriptive
    /// fields (way code, currency, client IP, amount, subject, body, ext param, notify and
    /// return URLs, upstream) with `row`'s. No row: nothing happens.
    pub async fn complete_pay(
        &self,
        mch_no: &str,
        mch_order_no: &str,
        pay_order_id: &str,
        row: impl Into<PayRow>,
    ) -> Result<(), StoreError> {
        self.ready().await?;
        let (row, key) = (row.into(), (mch_no, mch_order_no));
        match &self.inner.backend {
            Backend::Sqlite(b) => b.complete_pay(pay_order_id, row, key).await,
            Backend::Postgres(b) => b.complete_pay(pay_order_id, &row, key).await,
        }
    }

    /// Gives a pending pay row written without a token `token` (a request that joined it is
    /// relaying URLs DaxPay will call back on); a row with a token keeps it.
    pub async fn adopt_pay_token(
        &self,
        mch_no: &str,
        mch_order_no: &str,
        token: &str,
    ) -> Result<(), StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.execute3(sql::ADOPT_PAY_TOKEN, mch_no, mch_order_no, token))
    }

    /// The same for a refund row.
    pub async fn adopt_refund_token(
        &self,
        mch_no: &str,
        mch_refund_no: &str,
        token: &str,
    ) -> Result<(), StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.execute3(sql::ADOPT_REFUND_TOKEN, mch_no, mch_refund_no, token))
    }

    /// Frees the number of a `Pending` row; a `Created` row stays.
    pub async fn remove_pending_pay(
        &self,
        mch_no: &str,
        mch_order_no: &str,
    ) -> Result<(), StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.execute(sql::REMOVE_PENDING_PAY, mch_no, mch_order_no))
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

    /// By the order's notification token (unique across merchants).
    pub async fn pay_by_token(&self, token: &str) -> Result<Option<PayRow>, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.pay_by_token(token))
    }

    /// Takes `(mch_no, mch_refund_no)` for `row`, or answers the row that holds it.
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

    /// Records DaxPay's `refund_order_id` (and the pay order's amount, when learnt) and marks
    /// the row `Created`.
    pub async fn complete_refund(
        &self,
        mch_no: &str,
        mch_refund_no: &str,
        refund_order_id: &str,
        pay_amount_fen: Option<i64>,
    ) -> Result<(), StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.complete_refund(mch_no, mch_refund_no, refund_order_id, pay_amount_fen))
    }

    /// Frees the number of a `Pending` refund; a `Created` one stays.
    pub async fn remove_pending_refund(
        &self,
        mch_no: &str,
        mch_refund_no: &str,
    ) -> Result<(), StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.execute(sql::REMOVE_PENDING_REFUND, mch_no, mch_refund_no))
    }

    pub async fn refund_by_mch_refund_no(
        &self,
        mch_no: &str,
        mch_refund_no: &str,
    ) -> Result<Option<RefundRow>, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.refund_by(sql::REFUND_BY_MCH_REFUND_NO, mch_no, mch_refund_no))
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

    /// By the refund's notification token (unique across merchants).
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
