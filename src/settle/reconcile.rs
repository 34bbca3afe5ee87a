//! `paybridge reconcile`: the store compared with DaxPay, row by row, by signed query.
//!
//! For the rows written in a time window (or every row whose settlement is not final) it reads
//! DaxPay's record and reports each difference: DaxPay has no such order or refund, its state
//! differs from what paybridge recorded, its amount differs, it cannot be read, or it is still
//! not final after `[settlement] give_up_after_secs`. A row still open at DaxPay and younger
//! than that is counted, not reported: nothing is wrong with an order not paid yet.
//!
//! With `repair`, what can be settled is settled as the worker would: a row that is final at
//! DaxPay learns DaxPay's number, the merchant's notification owed for that state is queued
//! (once per order and state), and the ledger records the state. Missing rows, amounts that
//! differ and unreadable rows are left to the operator and remain differences.

use serde::Serialize;

use super::check::{apply, observe, Observed};
use crate::notify::now_ms;
use crate::proxy::runtime::Runtime;
use crate::store::{OrderStore, SettlementKind, SettlementStatus, StoreError};

/// What a reconciliation compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The rows written in `[from_ms, to_ms)`.
    Written { from_ms: i64, to_ms: i64 },
    /// Every row whose settlement is not final.
    NotFinal,
}

/// One difference between the store and DaxPay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub kind: &'static str,
    pub mch_no: String,
    pub number: String,
    /// DaxPay's number, when DaxPay answered.
    pub dax_number: Option<String>,
    /// `missing`, `state`, `amount`, `unknown` or `abandoned`.
    pub difference: &'static str,
    /// What paybridge recorded (a state, an amount in fen, or `open`).
    pub ours: String,
    /// What DaxPay says (or why it could not be read).
    pub daxpay: String,
    pub repaired: bool,
}

/// The whole comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Rows compared.
    pub checked: usize,
    /// Rows still open at DaxPay and young enough: not differences.
    pub open: usize,
    pub differences: Vec<Difference>,
}

impl Report {
    /// Differences not repaired.
    pub fn remaining(&self) -> usize {
        self.differences.iter().filter(|d| !d.repaired).count()
    }
}

/// Compares the rows of `scope` with DaxPay; `progress(done, total)` is told after each row.
pub async fn reconcile(
    rt: &Runtime,
    scope: Scope,
    repair: bool,
    mut progress: impl FnMut(usize, usize),
) -> Result<Report, StoreError> {
    let store = rt
        .orders
        .as_ref()
        .ok_or_else(|| StoreError::Unavailable("no order store is configured".to_owned()))?;
    let window = match scope {
        Scope::Written { from_ms, to_ms } => Some((from_ms, to_ms)),
        Scope::NotFinal => None,
    };
    let keys = store.settlement_keys(window).await?;
    let mut report = Report::default();
    for (done, (kind, mch_no, number)) in keys.iter().enumerate() {
        compare(rt, store, *kind, mch_no, number, repair, &mut report).await?;
        report.checked += 1;
        progress(done + 1, keys.len());
    }
    Ok(report)
}

async fn compare(
    rt: &Runtime,
    store: &OrderStore,
    kind: SettlementKind,
    mch_no: &str,
    number: &str,
    repair: bool,
    report: &mut Report,
) -> Result<(), StoreError> {
    let entry = store.settlement(kind, mch_no, number).await?;
    let recorded = match &entry {
        Some(e) if e.status == SettlementStatus::Final => {
            e.dax_state.clone().unwrap_or_else(|| "final".to_owned())
        }
        Some(e) => e.status.as_str().to_owned(),
        None => "not followed".to_owned(),
    };
    let differ = |difference, ours: String, daxpay: String, dax_number: Option<&str>| Difference {
        kind: kind.as_str(),
        mch_no: mch_no.to_owned(),
        number: number.to_owned(),
        dax_number: dax_number.map(str::to_owned),
        difference,
        ours,
        daxpay,
        repaired: false,
    };
    let view = match observe(rt, store, kind, mch_no, number).await {
        Observed::Seen(view) => view,
        Observed::Gone => return Ok(()),
        Observed::NotAtDaxPay => {
            report.differences.push(differ(
                "missing",
                recorded,
                "no such order".to_owned(),
                None,
            ));
            return Ok(());
        }
        Observed::Unknown(why) => {
            report
                .differences
                .push(differ("unknown", recorded, why, None));
            return Ok(());
        }
    };
    let dax_number = Some(view.dax_number());
    let (ours_fen, dax_fen) = view.amounts();
    if ours_fen != dax_fen {
        report.differences.push(differ(
            "amount",
            ours_fen.to_string(),
            dax_fen.to_string(),
            dax_number,
        ));
    }
    let state = view.state();
    let recorded_final = entry
        .as_ref()
        .is_some_and(|e| e.status == SettlementStatus::Final);
    if !view.is_final() {
        if recorded_final {
            // DaxPay re-runs a failed refund given the same number again: reported, never
            // written back (a final state is not taken back here).
            report
                .differences
                .push(differ("state", recorded, state.to_owned(), dax_number));
        } else if entry
            .as_ref()
            .is_some_and(|e| e.status == SettlementStatus::Abandoned)
        {
            report
                .differences
                .push(differ("abandoned", recorded, state.to_owned(), dax_number));
        } else {
            report.open += 1;
        }
        return Ok(());
    }
    if recorded == state {
        return Ok(());
    }
    let mut found = differ("state", recorded, state.to_owned(), dax_number);
    if repair {
        match apply(store, &view).await {
            Ok(()) => {
                found.repaired = store
                    .record_final(kind, mch_no, number, state, now_ms())
                    .await?;
            }
            Err(why) => found.daxpay = format!("{state} (not repaired: {why})"),
        }
    }
    report.differences.push(found);
    Ok(())
}

/// The report as a table, one difference a line.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    if !report.differences.is_empty() {
        out.push_str("KIND    MERCHANT         NUMBER                          DAXPAY                        DIFFERENCE  OURS          DAXPAY SAYS           REPAIRED\n");
        for d in &report.differences {
            out.push_str(&format!(
                "{:<7} {:<16} {:<31} {:<29} {:<11} {:<13} {:<21} {}\n",
                d.kind,
                d.mch_no,
                d.number,
                d.dax_number.as_deref().unwrap_or("-"),
                d.difference,
                d.ours,
                d.daxpay,
                if d.repaired { "yes" } else { "no" }
            ));
        }
    }
    out.push_str(&format!(
        "{} rows compared, {} still open at DaxPay, {} differences, {} repaired, {} remaining\n",
        report.checked,
        report.open,
        report.differences.len(),
        report.differences.len() - report.remaining(),
        report.remaining()
    ));
    out
}
