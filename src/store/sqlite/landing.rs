//! Attempt windows on SQLite (`crate::store::landing` says what each call means).

use rusqlite::params;

use super::conn::exec;
use super::{read_error, unavailable, Sqlite};
use crate::store::landing::{LandingSql, WindowRow};
use crate::store::rows::StoreError;

impl Sqlite {
    pub(crate) async fn window_rows(
        &self,
        statement: &'static str,
        mch_no: &str,
        number: &str,
    ) -> Result<Vec<WindowRow>, StoreError> {
        let (mch_no, number) = (mch_no.to_owned(), number.to_owned());
        self.call(move |conn| {
            let stmt = conn.statement(statement).map_err(unavailable)?;
            let rows = stmt
                .query_map(params![mch_no, number], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })
                .map_err(unavailable)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(read_error)
        })
        .await
    }

    pub(crate) async fn mark_landing(
        &self,
        statement: &'static str,
        mch_no: &str,
        number: &str,
        attempt: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let (mch_no, number, attempt) = (mch_no.to_owned(), number.to_owned(), attempt.to_owned());
        self.call(move |conn| {
            exec(conn, statement, params![mch_no, number, attempt, at_ms])
                .map(drop)
                .map_err(unavailable)
        })
        .await
    }

    pub(crate) async fn release(
        &self,
        kind: &'static LandingSql,
        mch_no: &str,
        number: &str,
        live: i64,
    ) -> Result<bool, StoreError> {
        let (mch_no, number) = (mch_no.to_owned(), number.to_owned());
        self.call(move |conn| {
            let tx = conn.immediate().map_err(unavailable)?;
            let released =
                exec(conn, kind.release, params![mch_no, number, live]).map_err(unavailable)? == 1;
            if released {
                exec(conn, kind.delete_attempts, params![mch_no, number]).map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)?;
            Ok(released)
        })
        .await
    }
}
