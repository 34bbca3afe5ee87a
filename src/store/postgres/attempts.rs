//! Attempts on PostgreSQL (`super::super` says what each call means). Each call is one
//! transaction: the join's `UPDATE … attempts + 1` holds the row's lock until its attempt is
//! recorded, so a concurrent clean-up (from any instance) waits and then sees the join.

use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;

use super::{bounded, read_pay, read_refund, unavailable, Postgres};
use crate::store::landing::sql::{PAY_ANSWERED, REFUND_ANSWERED};
use crate::store::rows::{
    refund_status_text, Abandoned, Completion, Inserted, Joined, PayRow, RefundRow,
    RefundSettlement, RowState, StoreError,
};
use crate::store::settlement::sql as settlement_sql;
use crate::store::settlement_rows::SettlementKind;
use crate::store::sql::{self, AttemptSql};

/// An attempt's own row to insert beside its order row.
pub(super) struct AttemptInsert<'a> {
    statement: &'static str,
    params: Vec<&'a (dyn ToSql + Sync)>,
}

/// `row`'s attempt, if it names one.
pub(super) fn pay_attempt(row: &PayRow) -> Option<AttemptInsert<'_>> {
    let attempt = row.attempt.as_ref()?;
    Some(AttemptInsert {
        statement: sql::INSERT_PAY_ATTEMPT,
        params: vec![
            &row.mch_no,
            &row.mch_order_no,
            attempt,
            &row.app_id,
            &row.way_code,
            &row.currency,
            &row.client_ip,
            &row.amount_fen,
            &row.subject,
            &row.body,
            &row.ext_param,
            &row.notify_url,
            &row.return_url,
            &row.upstream,
            &row.created_at_ms,
            &row.token,
        ],
    })
}

/// `row`'s attempt, if it names one.
pub(super) fn refund_attempt(row: &RefundRow) -> Option<AttemptInsert<'_>> {
    let attempt = row.attempt.as_ref()?;
    Some(AttemptInsert {
        statement: sql::INSERT_REFUND_ATTEMPT,
        params: vec![
            &row.mch_no,
            &row.mch_refund_no,
            attempt,
            &row.app_id,
            &row.pay_order_id,
            &row.mch_order_no,
            &row.refund_amount_fen,
            &row.pay_amount_fen,
            &row.currency,
            &row.ext_param,
            &row.notify_url,
            &row.created_at_ms,
            &row.token,
        ],
    })
}

/// Runs `statement` in `tx`; the number of rows it changed.
async fn run(
    tx: &Transaction<'_>,
    statement: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    let prepared = tx.prepare_cached(statement).await.map_err(unavailable)?;
    tx.execute(&prepared, params).await.map_err(unavailable)
}

async fn one(
    tx: &Transaction<'_>,
    query: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<tokio_postgres::Row>, StoreError> {
    let prepared = tx.prepare_cached(query).await.map_err(unavailable)?;
    tx.query_opt(&prepared, params).await.map_err(unavailable)
}

impl Postgres {
    pub(crate) async fn insert_pay(&self, row: &PayRow) -> Result<Inserted<PayRow>, StoreError> {
        let insert = format!(
            "{} ON CONFLICT (mch_no, mch_order_no) DO NOTHING",
            sql::INSERT_PAY
        );
        let state = row.state.as_str();
        let params: [&(dyn ToSql + Sync); 18] = [
            &row.mch_no,
            &row.app_id,
            &row.mch_order_no,
            &row.pay_order_id,
            &row.way_code,
            &row.currency,
            &row.client_ip,
            &row.amount_fen,
            &row.subject,
            &row.body,
            &row.ext_param,
            &row.notify_url,
            &row.return_url,
            &row.upstream,
            &row.created_at_ms,
            &state,
            &row.token,
            &row.attempt,
        ];
        // A taken key whose row is removed before it is read (a pending row given up on) is
        // free again: try once more.
        for _ in 0..3 {
            if self
                .insert_with_attempt(
                    &insert,
                    &params,
                    pay_attempt(row),
                    (SettlementKind::Pay, &row.mch_order_no, row.created_at_ms),
                )
                .await?
            {
                return Ok(Inserted::New);
            }
            let existing = self
                .pay_by(sql::PAY_BY_MCH_ORDER_NO, &row.mch_no, &row.mch_order_no)
                .await?;
            if let Some(existing) = existing {
                return Ok(Inserted::Exists(existing));
            }
        }
        Err(StoreError::Unavailable(
            "pay order number contended; try again".to_owned(),
        ))
    }

    pub(crate) async fn insert_refund(
        &self,
        row: &RefundRow,
    ) -> Result<Inserted<RefundRow>, StoreError> {
        let insert = format!(
            "{} ON CONFLICT (mch_no, mch_refund_no) DO NOTHING",
            sql::INSERT_REFUND
        );
        let state = row.state.as_str();
        let status = row.status.map(|s| s.as_str());
        let params: [&(dyn ToSql + Sync); 16] = [
            &row.mch_no,
            &row.app_id,
            &row.mch_refund_no,
            &row.refund_order_id,
            &row.pay_order_id,
            &row.mch_order_no,
            &row.refund_amount_fen,
            &row.pay_amount_fen,
            &row.currency,
            &row.ext_param,
            &row.notify_url,
            &row.created_at_ms,
            &state,
            &row.token,
            &row.attempt,
            &status,
        ];
        for _ in 0..3 {
            if self
                .insert_with_attempt(
                    &insert,
                    &params,
                    refund_attempt(row),
                    (
                        SettlementKind::Refund,
                        &row.mch_refund_no,
                        row.created_at_ms,
                    ),
                )
                .await?
            {
                return Ok(Inserted::New);
            }
            let existing = self
                .refund_by(
                    sql::REFUND_BY_MCH_REFUND_NO,
                    &row.mch_no,
                    &row.mch_refund_no,
                )
                .await?;
            if let Some(existing) = existing {
                return Ok(Inserted::Exists(existing));
            }
        }
        Err(StoreError::Unavailable(
            "refund number contended; try again".to_owned(),
        ))
    }

    /// `insert` (an `ON CONFLICT DO NOTHING`; its `$1` is the merchant number), and if it
    /// inserted, the attempt's own row and the row's settlement entry (`kind`, `number`, due at
    /// `at_ms`), in one transaction; whether it inserted. The entry was a statement, a pooled
    /// connection and a commit of its own until issue 23.
    pub(super) async fn insert_with_attempt(
        &self,
        insert: &str,
        params: &[&(dyn ToSql + Sync)],
        attempt: Option<AttemptInsert<'_>>,
        (kind, number, at_ms): (SettlementKind, &str, i64),
    ) -> Result<bool, StoreError> {
        bounded(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(unavailable)?;
            let inserted = run(&tx, insert, params).await? == 1;
            if let (true, Some(a)) = (inserted, &attempt) {
                run(&tx, a.statement, &a.params).await?;
            }
            if inserted {
                let mch_no = params[0];
                let kind = kind.as_str();
                let entry: [&(dyn ToSql + Sync); 5] = [&kind, mch_no, &number, &at_ms, &at_ms];
                run(&tx, settlement_sql::ENROLL, &entry).await?;
            }
            tx.commit().await.map_err(unavailable)?;
            Ok(inserted)
        })
        .await
    }

    pub(crate) async fn join_pay(&self, row: &PayRow) -> Result<Joined<PayRow>, StoreError> {
        bounded(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(unavailable)?;
            let key: [&(dyn ToSql + Sync); 2] = [&row.mch_no, &row.mch_order_no];
            let joined = run(&tx, sql::JOIN_PAY, &key).await? == 1;
            if let (true, Some(a)) = (joined, pay_attempt(row)) {
                run(&tx, a.statement, &a.params).await?;
            }
            let existing = one(&tx, sql::PAY_BY_MCH_ORDER_NO, &key).await?;
            tx.commit().await.map_err(unavailable)?;
            Ok(match (joined, existing) {
                (true, Some(r)) => Joined::Joined(read_pay(&r)?),
                (false, Some(r)) => Joined::Taken(read_pay(&r)?),
                (_, None) => Joined::Gone,
            })
        })
        .await
    }

    pub(crate) async fn join_refund(
        &self,
        row: &RefundRow,
    ) -> Result<Joined<RefundRow>, StoreError> {
        bounded(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(unavailable)?;
            let key: [&(dyn ToSql + Sync); 2] = [&row.mch_no, &row.mch_refund_no];
            let joined = run(&tx, sql::JOIN_REFUND, &key).await? == 1;
            if let (true, Some(a)) = (joined, refund_attempt(row)) {
                run(&tx, a.statement, &a.params).await?;
            }
            let existing = one(&tx, sql::REFUND_BY_MCH_REFUND_NO, &key).await?;
            tx.commit().await.map_err(unavailable)?;
            Ok(match (joined, existing) {
                (true, Some(r)) => Joined::Joined(read_refund(&r)?),
                (false, Some(r)) => Joined::Taken(read_refund(&r)?),
                (_, None) => Joined::Gone,
            })
        })
        .await
    }

    pub(crate) async fn abandon(
        &self,
        kind: &'static AttemptSql,
        mch_no: &str,
        number: &str,
        attempt: &str,
    ) -> Result<Abandoned, StoreError> {
        bounded(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(unavailable)?;
            let key: [&(dyn ToSql + Sync); 2] = [&mch_no, &number];
            let mine: [&(dyn ToSql + Sync); 3] = [&mch_no, &number, &attempt];
            run(&tx, kind.delete_attempt, &mine).await?;
            let removed = run(&tx, kind.remove_abandoned, &key).await? == 1;
            if removed {
                run(&tx, kind.delete_attempts, &key).await?;
            } else if run(&tx, kind.leave, &key).await? == 1 {
                run(&tx, kind.switch, &mine).await?;
            }
            tx.commit().await.map_err(unavailable)?;
            Ok(if removed {
                Abandoned::Removed
            } else {
                Abandoned::Kept
            })
        })
        .await
    }

    /// `answered_at_ms`: the attempt's call answered then, marked by the same statement.
    pub(crate) async fn complete_pay(
        &self,
        pay_order_id: &str,
        row: &PayRow,
        answered_at_ms: Option<i64>,
    ) -> Result<Completion<PayRow>, StoreError> {
        let complete: [&(dyn ToSql + Sync); 16] = [
            &row.mch_no,
            &row.mch_order_no,
            &pay_order_id,
            &row.way_code,
            &row.currency,
            &row.client_ip,
            &row.amount_fen,
            &row.subject,
            &row.body,
            &row.ext_param,
            &row.notify_url,
            &row.return_url,
            &row.upstream,
            &row.created_at_ms,
            &row.token,
            &row.attempt,
        ];
        let completed = match &answered_at_ms {
            None => self.execute_with(sql::COMPLETE_PAY, &complete).await?,
            Some(at) => {
                self.execute_with(sql::COMPLETE_PAY_ANSWERED, &[&complete[..], &[at]].concat())
                    .await?
            }
        } == 1;
        let done = PayRow {
            pay_order_id: Some(pay_order_id.to_owned()),
            state: RowState::Created,
            ..row.clone()
        };
        // The usual case: one statement, and the row is what was just written.
        if completed {
            return Ok(Completion::Completed(done));
        }
        bounded(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(unavailable)?;
            let key: [&(dyn ToSql + Sync); 2] = [&done.mch_no, &done.mch_order_no];
            let outcome = match one(&tx, sql::PAY_BY_MCH_ORDER_NO, &key).await? {
                Some(now) => Completion::Conflict(read_pay(&now)?),
                None => {
                    // The row is gone: written again, complete, from the attempt's fields. An
                    // insert of the number by another transaction meanwhile (a new request, or
                    // another instance's repair) is waited for, not a unique violation: the
                    // completion is then applied to that row, as to any other.
                    let state = done.state.as_str();
                    let repaired = run(
                        &tx,
                        sql::REPAIR_PAY,
                        &[
                            &done.mch_no,
                            &done.app_id,
                            &done.mch_order_no,
                            &done.pay_order_id,
                            &done.way_code,
                            &done.currency,
                            &done.client_ip,
                            &done.amount_fen,
                            &done.subject,
                            &done.body,
                            &done.ext_param,
                            &done.notify_url,
                            &done.return_url,
                            &done.upstream,
                            &done.created_at_ms,
                            &state,
                            &done.token,
                            &done.attempt,
                        ],
                    )
                    .await?
                        == 1;
                    let outcome =
                        if repaired {
                            Completion::Repaired(done.clone())
                        } else if run(&tx, sql::COMPLETE_PAY, &complete).await? == 1 {
                            Completion::Completed(done.clone())
                        } else {
                            match one(&tx, sql::PAY_BY_MCH_ORDER_NO, &key).await? {
                                Some(now) => Completion::Conflict(read_pay(&now)?),
                                None => return Err(StoreError::Unavailable(
                                    "pay order written and removed during its repair; try again"
                                        .to_owned(),
                                )),
                            }
                        };
                    if !matches!(outcome, Completion::Conflict(_)) {
                        if let Some(a) = pay_attempt(&done) {
                            run(&tx, a.statement, &a.params).await?;
                        }
                        if let (Some(at), Some(a)) = (&answered_at_ms, &done.attempt) {
                            let (m, n) = (&done.mch_no, &done.mch_order_no);
                            run(&tx, PAY_ANSWERED, &[m, n, a, at]).await?;
                        }
                    }
                    outcome
                }
            };
            tx.commit().await.map_err(unavailable)?;
            Ok(outcome)
        })
        .await
    }

    /// `answered_at_ms`: the accepted attempt's call answered then, marked in the transaction.
    pub(crate) async fn settle_refund(
        &self,
        s: &RefundSettlement,
        answered_at_ms: Option<i64>,
    ) -> Result<Completion<RefundRow>, StoreError> {
        self.settle_refund_with(s, true, answered_at_ms).await
    }

    /// `repair`: a missing row is written again from the attempt (else: `Missing`).
    async fn settle_refund_with(
        &self,
        s: &RefundSettlement,
        repair: bool,
        answered_at_ms: Option<i64>,
    ) -> Result<Completion<RefundRow>, StoreError> {
        bounded(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(unavailable)?;
            let key: [&(dyn ToSql + Sync); 2] = [&s.mch_no, &s.mch_refund_no];
            let completed = match &s.attempt {
                Some(a) => {
                    let pay_amount = s.pay_amount_fen.or(a.pay_amount_fen);
                    run(
                        &tx,
                        sql::COMPLETE_REFUND,
                        &[
                            &s.mch_no,
                            &s.mch_refund_no,
                            &s.refund_order_id,
                            &a.pay_order_id,
                            &a.mch_order_no,
                            &a.refund_amount_fen,
                            &pay_amount,
                            &a.currency,
                            &a.ext_param,
                            &a.notify_url,
                            &a.created_at_ms,
                            &a.token,
                            &a.attempt,
                        ],
                    )
                    .await?
                }
                None => {
                    run(
                        &tx,
                        sql::CREATE_REFUND,
                        &[
                            &s.mch_no,
                            &s.mch_refund_no,
                            &s.refund_order_id,
                            &s.pay_amount_fen,
                        ],
                    )
                    .await?
                }
            } == 1;
            if let Some(status) = s.status {
                let status = refund_status_text(status);
                run(
                    &tx,
                    sql::REFUND_STATUS,
                    &[&s.mch_no, &s.mch_refund_no, &status],
                )
                .await?;
            }
            let outcome = match (
                one(&tx, sql::REFUND_BY_MCH_REFUND_NO, &key).await?,
                &s.attempt,
            ) {
                (Some(now), _) if completed => Completion::Completed(read_refund(&now)?),
                (Some(now), _) => Completion::Conflict(read_refund(&now)?),
                (None, Some(_)) if !repair => Completion::Missing,
                (None, Some(a)) => {
                    let repaired = RefundRow {
                        refund_order_id: s.refund_order_id.clone(),
                        pay_amount_fen: s.pay_amount_fen.or(a.pay_amount_fen),
                        state: RowState::Created,
                        status: s.status,
                        ..a.clone()
                    };
                    let (state, status) = (
                        repaired.state.as_str(),
                        repaired.status.map(refund_status_text),
                    );
                    // As for a pay order: a row of the number inserted meanwhile by another
                    // transaction is waited for and left as it is (the next look settles it),
                    // never a unique violation that loses DaxPay's outcome.
                    let inserted = run(
                        &tx,
                        sql::REPAIR_REFUND,
                        &[
                            &repaired.mch_no,
                            &repaired.app_id,
                            &repaired.mch_refund_no,
                            &repaired.refund_order_id,
                            &repaired.pay_order_id,
                            &repaired.mch_order_no,
                            &repaired.refund_amount_fen,
                            &repaired.pay_amount_fen,
                            &repaired.currency,
                            &repaired.ext_param,
                            &repaired.notify_url,
                            &repaired.created_at_ms,
                            &state,
                            &repaired.token,
                            &repaired.attempt,
                            &status,
                        ],
                    )
                    .await?
                        == 1;
                    if !inserted {
                        tx.commit().await.map_err(unavailable)?;
                        return self.settle_refund_again(s, answered_at_ms).await;
                    }
                    if let Some(a) = refund_attempt(&repaired) {
                        run(&tx, a.statement, &a.params).await?;
                    }
                    Completion::Repaired(repaired)
                }
                (None, None) => Completion::Missing,
            };
            // After a repair too: its attempt was written again just above.
            let answered = s.attempt.as_ref().and_then(|a| a.attempt.as_ref());
            if let (Some(at), Some(a)) = (&answered_at_ms, answered) {
                run(&tx, REFUND_ANSWERED, &[&s.mch_no, &s.mch_refund_no, a, at]).await?;
            }
            tx.commit().await.map_err(unavailable)?;
            Ok(outcome)
        })
        .await
    }

    /// A refund repair found its number written meanwhile: settled once more, now against that
    /// row (completed, or a conflict); a row gone yet again is reported, not retried for ever.
    async fn settle_refund_again(
        &self,
        s: &RefundSettlement,
        answered_at_ms: Option<i64>,
    ) -> Result<Completion<RefundRow>, StoreError> {
        match Box::pin(self.settle_refund_with(s, false, answered_at_ms)).await? {
            Completion::Missing => Err(StoreError::Unavailable(
                "refund written and removed during its repair; try again".to_owned(),
            )),
            completion => {
                // Completed with the accepted attempt's fields: its token must name it.
                if let (Completion::Completed(_), Some(a)) =
                    (&completion, s.attempt.as_ref().and_then(refund_attempt))
                {
                    self.execute_with(a.statement, &a.params).await?;
                }
                Ok(completion)
            }
        }
    }

    pub(crate) async fn pay_attempts(
        &self,
        mch_no: &str,
        mch_order_no: &str,
    ) -> Result<Vec<PayRow>, StoreError> {
        self.query(sql::PAY_ATTEMPTS, &[&mch_no, &mch_order_no])
            .await?
            .iter()
            .map(read_pay)
            .collect()
    }

    pub(crate) async fn refund_attempts(
        &self,
        mch_no: &str,
        mch_refund_no: &str,
    ) -> Result<Vec<RefundRow>, StoreError> {
        self.query(sql::REFUND_ATTEMPTS, &[&mch_no, &mch_refund_no])
            .await?
            .iter()
            .map(read_refund)
            .collect()
    }
}
