//! What a merchant dialect other than Jeepay keeps with a pay order (migration 0007): epay's
//! `trade_no` (paybridge's own number for the order, unique), the order's origin (V1 or V2) and
//! its pay `type`. The rest an epay order needs (its URLs, `param`, `name`) is the pay row's.
//!
//! A row is kept once per merchant order: a request that repeats the merchant's number finds
//! the row the first one kept (epay reuses the `trade_no` of a re-submitted order).

use super::rows::StoreError;
use super::OrderStore;

/// A pay order's number and facts in its merchant's dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialectOrder {
    pub mch_no: String,
    pub mch_order_no: String,
    /// `epay`.
    pub dialect: String,
    /// paybridge's number for the order in the dialect (epay `trade_no`).
    pub trade_no: String,
    /// Where the order came in (epay: `v1` or `v2`).
    pub origin: String,
    /// The dialect's pay type (epay `type`; `""` when none was given).
    pub pay_type: String,
    /// What the payer needs (a URL, QR content, a page), as DaxPay first gave it.
    pub pay_body: Option<String>,
    pub created_at_ms: i64,
}

/// What keeping a row found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// The row kept for the merchant's order: this one, or the one an earlier request kept.
    Row(DialectOrder),
    /// The `trade_no` is another order's: a new number is needed.
    TradeNoTaken,
}

/// Nothing written when either key is taken: the row read back by the order's key then says
/// which (none: the `trade_no` is another order's).
pub(crate) const INSERT: &str = "INSERT INTO dialect_orders \
     (mch_no, mch_order_no, dialect, trade_no, origin, pay_type, created_at_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
pub(crate) const BY_ORDER: &str = "SELECT mch_no, mch_order_no, dialect, trade_no, origin, \
     pay_type, created_at_ms, pay_body FROM dialect_orders WHERE mch_no = $1 AND mch_order_no = $2";
pub(crate) const BY_TRADE_NO: &str = "SELECT mch_no, mch_order_no, dialect, trade_no, origin, \
     pay_type, created_at_ms, pay_body FROM dialect_orders WHERE mch_no = $1 AND trade_no = $2";
/// What the payer needs, kept once DaxPay gave it.
pub(crate) const KEEP_PAY_BODY: &str =
    "UPDATE dialect_orders SET pay_body = $3 WHERE mch_no = $1 AND mch_order_no = $2";

/// The refunds DaxPay accepted for a merchant's pay order, summed.
// PostgreSQL's SUM of a BIGINT is a NUMERIC, which an i64 read refuses: cast back (lifecycle
// soak finding ES1; SQLite's SUM of integers is already one).
pub(crate) const REFUNDED: &str =
    "SELECT CAST(COALESCE(SUM(refund_amount_fen), 0) AS BIGINT) FROM refund_orders \
     WHERE mch_no = $1 AND mch_order_no = $2 AND status = 'success'";

impl OrderStore {
    /// What the refunds DaxPay accepted for merchant `mch_no`'s order `mch_order_no` add up to,
    /// in fen (refunds paybridge made: their rows).
    pub async fn refunded_fen(&self, mch_no: &str, mch_order_no: &str) -> Result<i64, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.refunded_fen(mch_no, mch_order_no))
    }

    /// Keeps `row` for its merchant order, unless one is kept already (that one is answered).
    pub async fn keep_dialect_order(&self, row: &DialectOrder) -> Result<Kept, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.keep_dialect_order(row))
    }

    /// Keeps what the payer needs for the order (a repeated request is answered with it).
    pub async fn keep_pay_body(
        &self,
        mch_no: &str,
        mch_order_no: &str,
        pay_body: &str,
    ) -> Result<(), StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.keep_pay_body(mch_no, mch_order_no, pay_body))
    }

    /// The row of merchant `mch_no`'s order `mch_order_no`.
    pub async fn dialect_order(
        &self,
        mch_no: &str,
        mch_order_no: &str,
    ) -> Result<Option<DialectOrder>, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.dialect_order_by(BY_ORDER, mch_no, mch_order_no))
    }

    /// The row of merchant `mch_no`'s order with this `trade_no` (another merchant's is none).
    pub async fn dialect_order_by_trade_no(
        &self,
        mch_no: &str,
        trade_no: &str,
    ) -> Result<Option<DialectOrder>, StoreError> {
        self.ready().await?;
        on_backend!(self, b => b.dialect_order_by(BY_TRADE_NO, mch_no, trade_no))
    }
}
