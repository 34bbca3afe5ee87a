//! The settlement ledger on SQLite (`crate::store::settlement` says what each call means). The
//! claim runs in an IMMEDIATE transaction, so another process on the same file waits for it.

use rusqlite::{params, OptionalExtension, Row};

use super::conn::{exec, query_one, Conn};
use super::{read_error, unavailable, Sqlite};
use crate::store::rows::StoreError;
use crate::store::settlement::sql;
use crate::store::settlement_rows::{
    CheckResult, Settlement, SettlementKind, SettlementStats, SettlementStatus,
};

/// Enrols the row `(mch_no, number)` just written at `at_ms` (due then), on a call that writes
/// it: the row and its entry are committed together.
pub(super) fn enroll_on(
    conn: &mut Conn<'_>,
    kind: SettlementKind,
    (mch_no, number): (&str, &str),
    at_ms: i64,
) -> Result<(), StoreError> {
    exec(
        conn,
        sql::ENROLL,
        params![kind.as_str(), mch_no, number, at_ms, at_ms],
    )
    .map(drop)
    .map_err(unavailable)
}

/// Rows of the orders tables looked at per statement of the sweep.
const SWEEP_BATCH: i64 = 1_000;

impl Sqlite {
    pub(crate) async fn enroll(
        &self,
        kind: SettlementKind,
        mch_no: &str,
        number: &str,
        first_check_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (mch_no, number) = (mch_no.to_owned(), number.to_owned());
        self.call(move |conn| {
            exec(
                conn,
                sql::ENROLL,
                params![kind.as_str(), mch_no, number, first_check_at_ms, now_ms],
            )
            .map(drop)
            .map_err(unavailable)
        })
        .await
    }

    /// A batch of rows at a time, each its own short statement (the write lock is held for one
    /// batch, through the primary key's range and the ledger's unique index, and released
    /// between batches so requests go on).
    pub(crate) async fn enroll_missing(&self, due_at_ms: i64) -> Result<u64, StoreError> {
        let mut enrolled = 0usize;
        for (last, batch) in [
            (sql::LAST_PAY_ROWID, sql::ENROLL_MISSING_PAY_BATCH),
            (sql::LAST_REFUND_ROWID, sql::ENROLL_MISSING_REFUND_BATCH),
        ] {
            let last: i64 = self
                .call(move |conn| {
                    query_one(conn, last, [], |r| r.get::<_, Option<i64>>(0))
                        .map(Option::unwrap_or_default)
                        .map_err(read_error)
                })
                .await?;
            let mut from = 0i64;
            while from < last {
                let to = from.saturating_add(SWEEP_BATCH);
                enrolled += self
                    .call(move |conn| {
                        exec(conn, batch, params![due_at_ms, from, to]).map_err(unavailable)
                    })
                    .await?;
                from = to;
            }
        }
        enrolled += self
            .call(move |conn| exec(conn, sql::REOPEN_GONE, params![due_at_ms]).map_err(unavailable))
            .await?;
        Ok(u64::try_from(enrolled).unwrap_or(u64::MAX))
    }

    pub(crate) async fn claim_settlements(
        &self,
        owner: &str,
        now_ms: i64,
        written_by_ms: i64,
        until_ms: i64,
        limit: i64,
    ) -> Result<Vec<Settlement>, StoreError> {
        let owner = owner.to_owned();
        self.call(move |conn| {
            let tx = conn.immediate().map_err(unavailable)?;
            let claimed = {
                let stmt = conn.statement(sql::CLAIM_SQLITE).map_err(unavailable)?;
                let rows = stmt
                    .query_map(
                        params![owner, now_ms, until_ms, limit, written_by_ms],
                        read_settlement,
                    )
                    .map_err(unavailable)?;
                collect(rows)?
            };
            tx.commit().map_err(unavailable)?;
            Ok(claimed)
        })
        .await
    }

    pub(crate) async fn record_check(
        &self,
        id: i64,
        owner: &str,
        result: &CheckResult,
    ) -> Result<bool, StoreError> {
        let (owner, r) = (owner.to_owned(), result.clone());
        self.call(move |conn| {
            exec(
                conn,
                sql::RECORD_CHECK,
                params![
                    id,
                    owner,
                    r.status.as_str(),
                    r.dax_state,
                    r.next_check_at_ms,
                    r.error,
                    r.settled_at_ms
                ],
            )
            .map(|changed| changed == 1)
            .map_err(unavailable)
        })
        .await
    }

    /// Runs `statement` (`sql::CHECK_SOON`, `sql::AHEAD_OF_COMMIT`) on an open entry: moves
    /// its next check to `at_ms`; whether an open entry was there.
    pub(crate) async fn reschedule(
        &self,
        statement: &'static str,
        kind: SettlementKind,
        mch_no: &str,
        number: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let (mch_no, number) = (mch_no.to_owned(), number.to_owned());
        self.call(move |conn| {
            exec(
                conn,
                statement,
                params![kind.as_str(), mch_no, number, at_ms],
            )
            .map(|changed| changed == 1)
            .map_err(unavailable)
        })
        .await
    }

    pub(crate) async fn settlement(
        &self,
        kind: SettlementKind,
        mch_no: &str,
        number: &str,
    ) -> Result<Option<Settlement>, StoreError> {
        let (mch_no, number) = (mch_no.to_owned(), number.to_owned());
        self.call(move |conn| {
            query_one(
                conn,
                sql::BY_KEY,
                params![kind.as_str(), mch_no, number],
                read_settlement,
            )
            .optional()
            .map_err(read_error)?
            .map(parse)
            .transpose()
        })
        .await
    }

    pub(crate) async fn settlements(
        &self,
        status: SettlementStatus,
        limit: i64,
    ) -> Result<Vec<Settlement>, StoreError> {
        self.call(move |conn| {
            let stmt = conn.statement(sql::BY_STATUS).map_err(unavailable)?;
            let rows = stmt
                .query_map(params![status.as_str(), limit], read_settlement)
                .map_err(unavailable)?;
            collect(rows)
        })
        .await
    }

    pub(crate) async fn settlement_keys(
        &self,
        statement: &'static str,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Vec<(SettlementKind, String, String)>, StoreError> {
        self.call(move |conn| {
            let stmt = conn.statement(statement).map_err(unavailable)?;
            let read = |r: &Row<'_>| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?));
            let rows = match (from, to) {
                (Some(from), Some(to)) => stmt.query_map(params![from, to], read),
                _ => stmt.query_map([], read),
            }
            .map_err(unavailable)?;
            rows.map(|r| {
                let (kind, mch_no, number) = r.map_err(read_error)?;
                Ok((SettlementKind::parse(&kind)?, mch_no, number))
            })
            .collect()
        })
        .await
    }

    pub(crate) async fn record_final(
        &self,
        kind: SettlementKind,
        mch_no: &str,
        number: &str,
        dax_state: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let (mch_no, number, dax_state) =
            (mch_no.to_owned(), number.to_owned(), dax_state.to_owned());
        self.call(move |conn| {
            exec(
                conn,
                sql::RECORD_FINAL,
                params![kind.as_str(), mch_no, number, dax_state, now_ms],
            )
            .map(|changed| changed == 1)
            .map_err(unavailable)
        })
        .await
    }

    pub(crate) async fn live_attempts(
        &self,
        statement: &'static str,
        mch_no: &str,
        number: &str,
    ) -> Result<i64, StoreError> {
        let (mch_no, number) = (mch_no.to_owned(), number.to_owned());
        self.call(move |conn| {
            query_one(conn, statement, params![mch_no, number], |r| r.get(0))
                .optional()
                .map(Option::unwrap_or_default)
                .map_err(read_error)
        })
        .await
    }

    pub(crate) async fn settlement_stats(&self) -> Result<SettlementStats, StoreError> {
        self.call(|conn| {
            conn.query_row(sql::STATS, [], |r| {
                Ok(SettlementStats {
                    open: r.get(0)?,
                    abandoned: r.get(1)?,
                    oldest_open_created_at_ms: r.get(2)?,
                })
            })
            .map_err(read_error)
        })
        .await
    }
}

fn collect(
    rows: impl Iterator<Item = rusqlite::Result<Raw>>,
) -> Result<Vec<Settlement>, StoreError> {
    rows.map(|r| r.map_err(read_error).and_then(parse))
        .collect()
}

/// An entry with its kind and status still as text (rusqlite's row closure cannot return our
/// error).
type Raw = (Settlement, String, String);

fn read_settlement(r: &Row<'_>) -> rusqlite::Result<Raw> {
    Ok((
        Settlement {
            id: r.get(0)?,
            kind: SettlementKind::Pay,
            mch_no: r.get(2)?,
            number: r.get(3)?,
            status: SettlementStatus::Open,
            dax_state: r.get(5)?,
            checks: r.get(6)?,
            next_check_at_ms: r.get(7)?,
            last_error: r.get(8)?,
            lease_owner: r.get(9)?,
            lease_until_ms: r.get(10)?,
            created_at_ms: r.get(11)?,
            settled_at_ms: r.get(12)?,
        },
        r.get(1)?,
        r.get(4)?,
    ))
}

fn parse((s, kind, status): Raw) -> Result<Settlement, StoreError> {
    Ok(Settlement {
        kind: SettlementKind::parse(&kind)?,
        status: SettlementStatus::parse(&status)?,
        ..s
    })
}
