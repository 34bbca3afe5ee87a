//! Attempts on SQLite (`super::super` says what each call means): each call runs in one
//! IMMEDIATE transaction on the connection's thread, so a join, a clean-up and a completion of
//! one number never interleave, here or in another process on the same file.

use rusqlite::{params, OptionalExtension};

use super::conn::{exec, query_one, Conn};
use super::settlement::enroll_on;
use super::{is_unique_violation, pay_row, refund_row, unavailable, Sqlite};
use crate::store::landing::sql::{PAY_ANSWERED, REFUND_ANSWERED};
use crate::store::rows::{
    refund_status_text, Abandoned, Completion, Inserted, Joined, PaidBy, PayRow, RefundRow,
    RefundSettlement, RowState, StoreError,
};
use crate::store::settlement_rows::SettlementKind;
use crate::store::sql::{self, AttemptSql};

impl Sqlite {
    /// The row, its attempt and its settlement entry in one transaction (one commit; the
    /// entry was a call and a commit of its own until issue 23).
    pub(crate) async fn insert_pay(&self, row: PayRow) -> Result<Inserted<PayRow>, StoreError> {
        self.call(move |conn| {
            let tx = conn.immediate().map_err(unavailable)?;
            let inserted = exec(
                conn,
                sql::INSERT_PAY,
                params![
                    row.mch_no,
                    row.app_id,
                    row.mch_order_no,
                    row.pay_order_id,
                    row.way_code,
                    row.currency,
                    row.client_ip,
                    row.amount_fen,
                    row.subject,
                    row.body,
                    row.ext_param,
                    row.notify_url,
                    row.return_url,
                    row.upstream,
                    row.created_at_ms,
                    row.state.as_str(),
                    row.token,
                    row.attempt,
                ],
            );
            let settled = settle_insert(
                conn,
                inserted,
                |conn| {
                    insert_pay_attempt(conn, &row)?;
                    let key = (row.mch_no.as_str(), row.mch_order_no.as_str());
                    enroll_on(conn, SettlementKind::Pay, key, row.created_at_ms)
                },
                |conn| {
                    pay_row(
                        conn,
                        sql::PAY_BY_MCH_ORDER_NO,
                        params![row.mch_no, row.mch_order_no],
                    )
                },
                (sql::PAY_BY_TOKEN, row.token.as_deref()),
                "pay order vanished while its number was taken; try again",
            )?;
            tx.commit().map_err(unavailable)?;
            Ok(settled)
        })
        .await
    }

    pub(crate) async fn insert_refund(
        &self,
        row: &RefundRow,
    ) -> Result<Inserted<RefundRow>, StoreError> {
        let row = row.clone();
        self.call(move |conn| insert_refund_on(conn, row)).await
    }

    /// The pay order looked up and the refund inserted in one call on the connection's thread
    /// ([`super::OrderStore::insert_refund_of`]).
    pub(crate) async fn insert_refund_of(
        &self,
        paid_by: Option<PaidBy<'_>>,
        mut row: RefundRow,
    ) -> Result<Inserted<RefundRow>, StoreError> {
        let paid_by = paid_by.map(|by| match by {
            PaidBy::OrderId(id) => (sql::PAY_BY_ORDER_ID, id.to_owned()),
            PaidBy::MchOrderNo(no) => (sql::PAY_BY_MCH_ORDER_NO, no.to_owned()),
        });
        self.call(move |conn| {
            if let Some((query, key)) = paid_by {
                let paid = pay_row(conn, query, params![row.mch_no, key])?;
                row.of_paid(paid);
            }
            insert_refund_on(conn, row)
        })
        .await
    }

    pub(crate) async fn join_pay(&self, row: PayRow) -> Result<Joined<PayRow>, StoreError> {
        self.call(move |conn| {
            let tx = conn.immediate().map_err(unavailable)?;
            let key = params![row.mch_no, row.mch_order_no];
            let joined = exec(conn, sql::JOIN_PAY, key).map_err(unavailable)? == 1;
            if joined {
                insert_pay_attempt(conn, &row)?;
            }
            let existing = pay_row(conn, sql::PAY_BY_MCH_ORDER_NO, key)?;
            tx.commit().map_err(unavailable)?;
            Ok(match (joined, existing) {
                (true, Some(existing)) => Joined::Joined(existing),
                (false, Some(existing)) => Joined::Taken(existing),
                (_, None) => Joined::Gone,
            })
        })
        .await
    }

    pub(crate) async fn join_refund(
        &self,
        row: RefundRow,
    ) -> Result<Joined<RefundRow>, StoreError> {
        self.call(move |conn| {
            let tx = conn.immediate().map_err(unavailable)?;
            let key = params![row.mch_no, row.mch_refund_no];
            let joined = exec(conn, sql::JOIN_REFUND, key).map_err(unavailable)? == 1;
            if joined {
                insert_refund_attempt(conn, &row)?;
            }
            let existing = refund_row(conn, sql::REFUND_BY_MCH_REFUND_NO, key)?;
            tx.commit().map_err(unavailable)?;
            Ok(match (joined, existing) {
                (true, Some(existing)) => Joined::Joined(existing),
                (false, Some(existing)) => Joined::Taken(existing),
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
        let (mch_no, number, attempt) = (mch_no.to_owned(), number.to_owned(), attempt.to_owned());
        self.call(move |conn| {
            let tx = conn.immediate().map_err(unavailable)?;
            let key = params![mch_no, number];
            let mine = params![mch_no, number, attempt];
            exec(conn, kind.delete_attempt, mine).map_err(unavailable)?;
            let removed = exec(conn, kind.remove_abandoned, key).map_err(unavailable)? == 1;
            if removed {
                exec(conn, kind.delete_attempts, key).map_err(unavailable)?;
            } else if exec(conn, kind.leave, key).map_err(unavailable)? == 1 {
                exec(conn, kind.switch, mine).map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)?;
            Ok(if removed {
                Abandoned::Removed
            } else {
                Abandoned::Kept
            })
        })
        .await
    }

    /// `answered_at_ms`: the attempt's call was answered then (`crate::store::landing`),
    /// recorded in the completion's transaction (one call and one commit; they were two).
    pub(crate) async fn complete_pay(
        &self,
        pay_order_id: &str,
        row: PayRow,
        answered_at_ms: Option<i64>,
    ) -> Result<Completion<PayRow>, StoreError> {
        let id = pay_order_id.to_owned();
        self.call(move |conn| {
            let Some(at) = answered_at_ms else {
                return complete_pay_on(conn, id, row, false);
            };
            let tx = conn.immediate().map_err(unavailable)?;
            let landing = (
                row.mch_no.clone(),
                row.mch_order_no.clone(),
                row.attempt.clone(),
            );
            let completion = complete_pay_on(conn, id, row, true)?;
            if let (mch_no, number, Some(attempt)) = landing {
                exec(conn, PAY_ANSWERED, params![mch_no, number, attempt, at])
                    .map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)?;
            Ok(completion)
        })
        .await
    }
}

/// The completion of a pay row; `in_transaction`: the caller's (a repair then writes in it).
fn complete_pay_on(
    conn: &mut Conn<'_>,
    id: String,
    row: PayRow,
    in_transaction: bool,
) -> Result<Completion<PayRow>, StoreError> {
    let completed = exec(
        conn,
        sql::COMPLETE_PAY,
        params![
            row.mch_no,
            row.mch_order_no,
            id,
            row.way_code,
            row.currency,
            row.client_ip,
            row.amount_fen,
            row.subject,
            row.body,
            row.ext_param,
            row.notify_url,
            row.return_url,
            row.upstream,
            row.created_at_ms,
            row.token,
            row.attempt,
        ],
    )
    .map_err(unavailable)?
        == 1;
    let done = PayRow {
        pay_order_id: Some(id),
        state: RowState::Created,
        ..row
    };
    // The usual case: one statement, and the row is what was just written.
    if completed {
        return Ok(Completion::Completed(done));
    }
    let key = params![done.mch_no, done.mch_order_no];
    match pay_row(conn, sql::PAY_BY_MCH_ORDER_NO, key)? {
        Some(now) => Ok(Completion::Conflict(now)),
        None => {
            // The row is gone: written again, complete, from the attempt's fields.
            let tx = match in_transaction {
                true => None,
                false => Some(conn.immediate().map_err(unavailable)?),
            };
            insert_pay_row(conn, &done)?;
            insert_pay_attempt(conn, &done)?;
            if let Some(tx) = tx {
                tx.commit().map_err(unavailable)?;
            }
            Ok(Completion::Repaired(done))
        }
    }
}

impl Sqlite {
    /// `answered_at_ms`: the accepted attempt's call was answered then, recorded in the same
    /// transaction (it was a call and a commit of its own).
    pub(crate) async fn settle_refund(
        &self,
        s: RefundSettlement,
        answered_at_ms: Option<i64>,
    ) -> Result<Completion<RefundRow>, StoreError> {
        self.call(move |conn| {
            let tx = conn.immediate().map_err(unavailable)?;
            let answered = s.attempt.as_ref().and_then(|a| a.attempt.clone());
            let key = params![s.mch_no, s.mch_refund_no];
            let completed = match &s.attempt {
                Some(a) => exec(
                    conn,
                    sql::COMPLETE_REFUND,
                    params![
                        s.mch_no,
                        s.mch_refund_no,
                        s.refund_order_id,
                        a.pay_order_id,
                        a.mch_order_no,
                        a.refund_amount_fen,
                        s.pay_amount_fen.or(a.pay_amount_fen),
                        a.currency,
                        a.ext_param,
                        a.notify_url,
                        a.created_at_ms,
                        a.token,
                        a.attempt,
                    ],
                ),
                None => exec(
                    conn,
                    sql::CREATE_REFUND,
                    params![
                        s.mch_no,
                        s.mch_refund_no,
                        s.refund_order_id,
                        s.pay_amount_fen
                    ],
                ),
            }
            .map_err(unavailable)?
                == 1;
            if let Some(status) = s.status {
                let status = refund_status_text(status);
                exec(
                    conn,
                    sql::REFUND_STATUS,
                    params![s.mch_no, s.mch_refund_no, status],
                )
                .map_err(unavailable)?;
            }
            let outcome = match (
                refund_row(conn, sql::REFUND_BY_MCH_REFUND_NO, key)?,
                s.attempt,
            ) {
                (Some(now), _) if completed => Completion::Completed(now),
                (Some(now), _) => Completion::Conflict(now),
                (None, Some(a)) => {
                    let repaired = RefundRow {
                        refund_order_id: s.refund_order_id,
                        pay_amount_fen: s.pay_amount_fen.or(a.pay_amount_fen),
                        state: RowState::Created,
                        status: s.status,
                        ..a
                    };
                    // The row was missing, so this is an insert (its attempt recorded too; the
                    // caller enrols it afresh).
                    insert_refund_in(conn, repaired.clone(), false)?;
                    Completion::Repaired(repaired)
                }
                (None, None) => Completion::Missing,
            };
            // After a repair too: its attempt was written again just above.
            if let (Some(at), Some(attempt)) = (answered_at_ms, answered) {
                let landed = params![s.mch_no, s.mch_refund_no, attempt, at];
                exec(conn, REFUND_ANSWERED, landed).map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)?;
            Ok(outcome)
        })
        .await
    }

    pub(crate) async fn pay_attempts(
        &self,
        mch_no: &str,
        mch_order_no: &str,
    ) -> Result<Vec<PayRow>, StoreError> {
        let (mch_no, number) = (mch_no.to_owned(), mch_order_no.to_owned());
        self.call(move |conn| {
            let stmt = conn.statement(sql::PAY_ATTEMPTS).map_err(unavailable)?;
            let rows = stmt
                .query_map(params![mch_no, number], super::read_pay)
                .map_err(unavailable)?;
            let mut out = Vec::new();
            for row in rows {
                let (row, state) = row.map_err(super::read_error)?;
                out.push(PayRow {
                    state: RowState::parse(&state)?,
                    ..row
                });
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn refund_attempts(
        &self,
        mch_no: &str,
        mch_refund_no: &str,
    ) -> Result<Vec<RefundRow>, StoreError> {
        let (mch_no, number) = (mch_no.to_owned(), mch_refund_no.to_owned());
        self.call(move |conn| {
            let stmt = conn.statement(sql::REFUND_ATTEMPTS).map_err(unavailable)?;
            let rows = stmt
                .query_map(params![mch_no, number], super::read_refund)
                .map_err(unavailable)?;
            let mut out = Vec::new();
            for row in rows {
                let (row, state, status) = row.map_err(super::read_error)?;
                out.push(RefundRow {
                    state: RowState::parse(&state)?,
                    status: crate::store::rows::parse_refund_status(status.as_deref())?,
                    ..row
                });
            }
            Ok(out)
        })
        .await
    }
}

/// Takes `(mch_no, mch_refund_no)` for `row`, or answers the row that holds it: the row, its
/// attempt and its settlement entry in one transaction.
pub(super) fn insert_refund_on(
    conn: &mut Conn<'_>,
    row: RefundRow,
) -> Result<Inserted<RefundRow>, StoreError> {
    let tx = conn.immediate().map_err(unavailable)?;
    let inserted = insert_refund_in(conn, row, true)?;
    tx.commit().map_err(unavailable)?;
    Ok(inserted)
}

/// [`insert_refund_on`] inside the caller's transaction; the entry written only if `enroll`.
fn insert_refund_in(
    conn: &mut Conn<'_>,
    row: RefundRow,
    enroll: bool,
) -> Result<Inserted<RefundRow>, StoreError> {
    let inserted = exec(
        conn,
        sql::INSERT_REFUND,
        params![
            row.mch_no,
            row.app_id,
            row.mch_refund_no,
            row.refund_order_id,
            row.pay_order_id,
            row.mch_order_no,
            row.refund_amount_fen,
            row.pay_amount_fen,
            row.currency,
            row.ext_param,
            row.notify_url,
            row.created_at_ms,
            row.state.as_str(),
            row.token,
            row.attempt,
            row.status.map(|s| s.as_str()),
        ],
    );
    settle_insert(
        conn,
        inserted,
        |conn| {
            insert_refund_attempt(conn, &row)?;
            let key = (row.mch_no.as_str(), row.mch_refund_no.as_str());
            if !enroll {
                return Ok(());
            }
            enroll_on(conn, SettlementKind::Refund, key, row.created_at_ms)
        },
        |conn| {
            refund_row(
                conn,
                sql::REFUND_BY_MCH_REFUND_NO,
                params![row.mch_no, row.mch_refund_no],
            )
        },
        (sql::REFUND_BY_TOKEN, row.token.as_deref()),
        "refund vanished while its number was taken; try again",
    )
}

/// What an order row's insert did: new (and its attempt recorded), or the number taken (the row
/// that holds it, read under the same lock: no other call of this store slips in between).
fn settle_insert<R>(
    conn: &mut Conn<'_>,
    inserted: rusqlite::Result<usize>,
    record_attempt: impl FnOnce(&mut Conn<'_>) -> Result<(), StoreError>,
    holder: impl FnOnce(&mut Conn<'_>) -> Result<Option<R>, StoreError>,
    (by_token, token): (&'static str, Option<&str>),
    vanished: &str,
) -> Result<Inserted<R>, StoreError> {
    match inserted {
        Ok(_) => {
            record_attempt(conn)?;
            Ok(Inserted::New)
        }
        Err(e) if is_unique_violation(&e) => match holder(conn)? {
            Some(existing) => Ok(Inserted::Exists(existing)),
            None => Err(taken_token_or(conn, by_token, token, vanished)),
        },
        Err(e) => Err(unavailable(e)),
    }
}

/// A key that was not the row's own number: its token is another row's (a caller's bug: tokens
/// are random), or the row went away in between.
fn taken_token_or(
    conn: &mut Conn<'_>,
    by_token: &'static str,
    token: Option<&str>,
    vanished: &str,
) -> StoreError {
    let taken = token.is_some_and(|token| {
        query_one(conn, by_token, params![token], |_| Ok(()))
            .optional()
            .is_ok_and(|found| found.is_some())
    });
    StoreError::Unavailable(if taken {
        "notification token already in use".to_owned()
    } else {
        vanished.to_owned()
    })
}

/// The pay row itself, as given (a repair).
fn insert_pay_row(conn: &mut Conn<'_>, row: &PayRow) -> Result<(), StoreError> {
    exec(
        conn,
        sql::INSERT_PAY,
        params![
            row.mch_no,
            row.app_id,
            row.mch_order_no,
            row.pay_order_id,
            row.way_code,
            row.currency,
            row.client_ip,
            row.amount_fen,
            row.subject,
            row.body,
            row.ext_param,
            row.notify_url,
            row.return_url,
            row.upstream,
            row.created_at_ms,
            row.state.as_str(),
            row.token,
            row.attempt,
        ],
    )
    .map(drop)
    .map_err(unavailable)
}

/// Records `row`'s attempt and its fields (a row that names no attempt has none).
pub(super) fn insert_pay_attempt(conn: &mut Conn<'_>, row: &PayRow) -> Result<(), StoreError> {
    let Some(attempt) = &row.attempt else {
        return Ok(());
    };
    exec(
        conn,
        sql::INSERT_PAY_ATTEMPT,
        params![
            row.mch_no,
            row.mch_order_no,
            attempt,
            row.app_id,
            row.way_code,
            row.currency,
            row.client_ip,
            row.amount_fen,
            row.subject,
            row.body,
            row.ext_param,
            row.notify_url,
            row.return_url,
            row.upstream,
            row.created_at_ms,
            row.token,
        ],
    )
    .map(drop)
    .map_err(unavailable)
}

/// Records `row`'s attempt and its fields.
pub(super) fn insert_refund_attempt(
    conn: &mut Conn<'_>,
    row: &RefundRow,
) -> Result<(), StoreError> {
    let Some(attempt) = &row.attempt else {
        return Ok(());
    };
    exec(
        conn,
        sql::INSERT_REFUND_ATTEMPT,
        params![
            row.mch_no,
            row.mch_refund_no,
            attempt,
            row.app_id,
            row.pay_order_id,
            row.mch_order_no,
            row.refund_amount_fen,
            row.pay_amount_fen,
            row.currency,
            row.ext_param,
            row.notify_url,
            row.created_at_ms,
            row.token,
        ],
    )
    .map(drop)
    .map_err(unavailable)
}
