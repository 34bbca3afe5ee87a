//! What the settlement ledger holds (`super::settlement` says how it is used).

use super::rows::StoreError;

/// What an entry follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettlementKind {
    Pay,
    Refund,
}

impl SettlementKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SettlementKind::Pay => "pay",
            SettlementKind::Refund => "refund",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<SettlementKind, StoreError> {
        match text {
            "pay" => Ok(SettlementKind::Pay),
            "refund" => Ok(SettlementKind::Refund),
            other => Err(StoreError::Corrupt(format!(
                "unknown settlement kind `{other}`"
            ))),
        }
    }
}

/// Where an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettlementStatus {
    /// Not final yet: checked again at `next_check_at_ms`.
    Open,
    /// DaxPay said a final state (`dax_state`); the merchant's notification, if owed, is queued.
    Final,
    /// The row is no longer in the store: its call certainly failed and it was removed.
    Gone,
    /// Still not final after the configured age: left to the operator (`paybridge reconcile`).
    Abandoned,
}

impl SettlementStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SettlementStatus::Open => "open",
            SettlementStatus::Final => "final",
            SettlementStatus::Gone => "gone",
            SettlementStatus::Abandoned => "abandoned",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<SettlementStatus, StoreError> {
        match text {
            "open" => Ok(SettlementStatus::Open),
            "final" => Ok(SettlementStatus::Final),
            "gone" => Ok(SettlementStatus::Gone),
            "abandoned" => Ok(SettlementStatus::Abandoned),
            other => Err(StoreError::Corrupt(format!(
                "unknown settlement status `{other}`"
            ))),
        }
    }
}

/// One entry of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    pub id: i64,
    pub kind: SettlementKind,
    pub mch_no: String,
    /// The merchant's `mchOrderNo` (pay) or `mchRefundNo` (refund).
    pub number: String,
    pub status: SettlementStatus,
    /// DaxPay's last state seen (`success`, `progress`, …), if a check read one.
    pub dax_state: Option<String>,
    /// Checks recorded so far.
    pub checks: i64,
    pub next_check_at_ms: i64,
    pub last_error: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until_ms: Option<i64>,
    pub created_at_ms: i64,
    pub settled_at_ms: Option<i64>,
}

/// What one check found, recorded by its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub status: SettlementStatus,
    pub dax_state: Option<String>,
    /// For an entry still open: when to check again.
    pub next_check_at_ms: i64,
    pub error: Option<String>,
    /// When it became final, gone or abandoned.
    pub settled_at_ms: Option<i64>,
}

/// The ledger at a glance, for metrics and `paybridge reconcile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SettlementStats {
    pub open: i64,
    pub abandoned: i64,
    /// When the oldest open entry was written (none open: `None`).
    pub oldest_open_created_at_ms: Option<i64>,
}
