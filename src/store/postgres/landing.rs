//! Attempt windows on PostgreSQL (`crate::store::landing` says what each call means). A
//! release is one transaction: the row's delete holds its lock (and its number's unique key)
//! until its attempts are gone, so a new request of the number waits and then inserts afresh.

use tokio_postgres::types::ToSql;

use super::{bounded, get, unavailable, Postgres};
use crate::store::landing::{LandingSql, WindowRow};
use crate::store::rows::StoreError;

impl Postgres {
    pub(crate) async fn window_rows(
        &self,
        statement: &'static str,
        mch_no: &str,
        number: &str,
    ) -> Result<Vec<WindowRow>, StoreError> {
        self.query(statement, &[&mch_no, &number])
            .await?
            .iter()
            .map(|r| {
                Ok((
                    get(r, 0)?,
                    get(r, 1)?,
                    get(r, 2)?,
                    get(r, 3)?,
                    get(r, 4)?,
                    get(r, 5)?,
                    get(r, 6)?,
                ))
            })
            .collect()
    }

    pub(crate) async fn mark_landing(
        &self,
        statement: &'static str,
        mch_no: &str,
        number: &str,
        attempt: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        self.execute_with(statement, &[&mch_no, &number, &attempt, &at_ms])
            .await
            .map(drop)
    }

    pub(crate) async fn release(
        &self,
        kind: &'static LandingSql,
        mch_no: &str,
        number: &str,
        live: i64,
    ) -> Result<bool, StoreError> {
        bounded(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(unavailable)?;
            let key: [&(dyn ToSql + Sync); 2] = [&mch_no, &number];
            let released = tx
                .execute(kind.release, &[&mch_no, &number, &live])
                .await
                .map_err(unavailable)?
                == 1;
            if released {
                tx.execute(kind.delete_attempts, &key)
                    .await
                    .map_err(unavailable)?;
            }
            tx.commit().await.map_err(unavailable)?;
            Ok(released)
        })
        .await
    }
}
