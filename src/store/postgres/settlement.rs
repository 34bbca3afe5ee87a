//! The settlement ledger on PostgreSQL (`crate::store::settlement` says what each call means).
//! The claim's inner `SELECT ... FOR UPDATE SKIP LOCKED` makes concurrent claims, from any
//! instance, take disjoint entries.

use tokio_postgres::Row;

use super::{get, Postgres};
use crate::store::rows::StoreError;
use crate::store::settlement::sql;
use crate::store::settlement_rows::{
    CheckResult, Settlement, SettlementKind, SettlementStats, SettlementStatus,
};

impl Postgres {
    pub(crate) async fn enroll(
        &self,
        kind: SettlementKind,
        mch_no: &str,
        number: &str,
        first_check_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.execute_with(
            sql::ENROLL,
            &[
                &kind.as_str(),
                &mch_no,
                &number,
                &first_check_at_ms,
                &now_ms,
            ],
        )
        .await
        .map(drop)
    }

    pub(crate) async fn enroll_missing(&self, due_at_ms: i64) -> Result<u64, StoreError> {
        let pay = self
            .execute_with(sql::ENROLL_MISSING_PAY, &[&due_at_ms])
            .await?;
        let refund = self
            .execute_with(sql::ENROLL_MISSING_REFUND, &[&due_at_ms])
            .await?;
        let reopened = self.execute_with(sql::REOPEN_GONE, &[&due_at_ms]).await?;
        Ok(pay + refund + reopened)
    }

    pub(crate) async fn claim_settlements(
        &self,
        owner: &str,
        now_ms: i64,
        written_by_ms: i64,
        until_ms: i64,
        limit: i64,
    ) -> Result<Vec<Settlement>, StoreError> {
        self.query(
            sql::CLAIM_POSTGRES,
            &[&owner, &now_ms, &until_ms, &limit, &written_by_ms],
        )
        .await?
        .iter()
        .map(read_settlement)
        .collect()
    }

    pub(crate) async fn record_check(
        &self,
        id: i64,
        owner: &str,
        r: &CheckResult,
    ) -> Result<bool, StoreError> {
        let changed = self
            .execute_with(
                sql::RECORD_CHECK,
                &[
                    &id,
                    &owner,
                    &r.status.as_str(),
                    &r.dax_state,
                    &r.next_check_at_ms,
                    &r.error,
                    &r.settled_at_ms,
                ],
            )
            .await?;
        Ok(changed == 1)
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
        self.execute_with(statement, &[&kind.as_str(), &mch_no, &number, &at_ms])
            .await
            .map(|changed| changed == 1)
    }

    pub(crate) async fn settlement(
        &self,
        kind: SettlementKind,
        mch_no: &str,
        number: &str,
    ) -> Result<Option<Settlement>, StoreError> {
        self.query_opt(sql::BY_KEY, &[&kind.as_str(), &mch_no, &number])
            .await?
            .as_ref()
            .map(read_settlement)
            .transpose()
    }

    pub(crate) async fn settlements(
        &self,
        status: SettlementStatus,
        limit: i64,
    ) -> Result<Vec<Settlement>, StoreError> {
        self.query(sql::BY_STATUS, &[&status.as_str(), &limit])
            .await?
            .iter()
            .map(read_settlement)
            .collect()
    }

    pub(crate) async fn settlement_keys(
        &self,
        statement: &'static str,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Vec<(SettlementKind, String, String)>, StoreError> {
        let rows = match (from, to) {
            (Some(from), Some(to)) => self.query(statement, &[&from, &to]).await?,
            _ => self.query(statement, &[]).await?,
        };
        rows.iter()
            .map(|r| {
                let kind: String = get(r, 0)?;
                Ok((SettlementKind::parse(&kind)?, get(r, 1)?, get(r, 2)?))
            })
            .collect()
    }

    pub(crate) async fn record_final(
        &self,
        kind: SettlementKind,
        mch_no: &str,
        number: &str,
        dax_state: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let changed = self
            .execute_with(
                sql::RECORD_FINAL,
                &[&kind.as_str(), &mch_no, &number, &dax_state, &now_ms],
            )
            .await?;
        Ok(changed == 1)
    }

    pub(crate) async fn live_attempts(
        &self,
        statement: &'static str,
        mch_no: &str,
        number: &str,
    ) -> Result<i64, StoreError> {
        match self.query_opt(statement, &[&mch_no, &number]).await? {
            Some(row) => get(&row, 0),
            None => Ok(0),
        }
    }

    pub(crate) async fn settlement_stats(&self) -> Result<SettlementStats, StoreError> {
        let row = self.query(sql::STATS, &[]).await?;
        let row = row
            .first()
            .ok_or_else(|| StoreError::Unavailable("no settlement statistics".to_owned()))?;
        Ok(SettlementStats {
            open: get(row, 0)?,
            abandoned: get(row, 1)?,
            oldest_open_created_at_ms: get(row, 2)?,
        })
    }
}

fn read_settlement(r: &Row) -> Result<Settlement, StoreError> {
    Ok(Settlement {
        id: get(r, 0)?,
        kind: SettlementKind::parse(&get::<String>(r, 1)?)?,
        mch_no: get(r, 2)?,
        number: get(r, 3)?,
        status: SettlementStatus::parse(&get::<String>(r, 4)?)?,
        dax_state: get(r, 5)?,
        checks: get(r, 6)?,
        next_check_at_ms: get(r, 7)?,
        last_error: get(r, 8)?,
        lease_owner: get(r, 9)?,
        lease_until_ms: get(r, 10)?,
        created_at_ms: get(r, 11)?,
        settled_at_ms: get(r, 12)?,
    })
}
