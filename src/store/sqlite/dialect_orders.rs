//! Dialect order rows on SQLite (`crate::store::dialect_orders` says what each call means).

use rusqlite::params;

use super::conn::{exec, query_one};
use super::{read_error, unavailable, Sqlite};
use crate::store::dialect_orders::{DialectOrder, Kept, BY_ORDER, INSERT};
use crate::store::rows::StoreError;

impl Sqlite {
    pub(crate) async fn keep_dialect_order(&self, row: &DialectOrder) -> Result<Kept, StoreError> {
        let row = row.clone();
        self.call(move |conn| {
            exec(
                conn,
                INSERT,
                params![
                    row.mch_no,
                    row.mch_order_no,
                    row.dialect,
                    row.trade_no,
                    row.origin,
                    row.pay_type,
                    row.created_at_ms
                ],
            )
            .map_err(unavailable)?;
            Ok(
                match dialect_order(conn, BY_ORDER, &row.mch_no, &row.mch_order_no)? {
                    Some(kept) => Kept::Row(kept),
                    None => Kept::TradeNoTaken,
                },
            )
        })
        .await
    }

    pub(crate) async fn dialect_order_by(
        &self,
        query: &'static str,
        mch_no: &str,
        key: &str,
    ) -> Result<Option<DialectOrder>, StoreError> {
        let (mch_no, key) = (mch_no.to_owned(), key.to_owned());
        self.call(move |conn| dialect_order(conn, query, &mch_no, &key))
            .await
    }
}

fn dialect_order(
    conn: &mut super::conn::Conn<'_>,
    query: &'static str,
    mch_no: &str,
    key: &str,
) -> Result<Option<DialectOrder>, StoreError> {
    let found = query_one(conn, query, params![mch_no, key], |r| {
        Ok(DialectOrder {
            mch_no: r.get(0)?,
            mch_order_no: r.get(1)?,
            dialect: r.get(2)?,
            trade_no: r.get(3)?,
            origin: r.get(4)?,
            pay_type: r.get(5)?,
            created_at_ms: r.get(6)?,
        })
    });
    match found {
        Ok(row) => Ok(Some(row)),
        Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(read_error(e)),
    }
}
