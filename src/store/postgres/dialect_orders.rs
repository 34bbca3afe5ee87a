//! Dialect order rows on PostgreSQL (`crate::store::dialect_orders` says what each call means).

use super::{get, Postgres};
use crate::store::dialect_orders::{DialectOrder, Kept, BY_ORDER, INSERT};
use crate::store::rows::StoreError;

impl Postgres {
    pub(crate) async fn keep_dialect_order(&self, row: &DialectOrder) -> Result<Kept, StoreError> {
        self.execute_with(
            INSERT,
            &[
                &row.mch_no,
                &row.mch_order_no,
                &row.dialect,
                &row.trade_no,
                &row.origin,
                &row.pay_type,
                &row.created_at_ms,
            ],
        )
        .await?;
        Ok(
            match self
                .dialect_order_by(BY_ORDER, &row.mch_no, &row.mch_order_no)
                .await?
            {
                Some(kept) => Kept::Row(kept),
                None => Kept::TradeNoTaken,
            },
        )
    }

    pub(crate) async fn dialect_order_by(
        &self,
        query: &'static str,
        mch_no: &str,
        key: &str,
    ) -> Result<Option<DialectOrder>, StoreError> {
        let Some(r) = self.query_opt(query, &[&mch_no, &key]).await? else {
            return Ok(None);
        };
        Ok(Some(DialectOrder {
            mch_no: get(&r, 0)?,
            mch_order_no: get(&r, 1)?,
            dialect: get(&r, 2)?,
            trade_no: get(&r, 3)?,
            origin: get(&r, 4)?,
            pay_type: get(&r, 5)?,
            created_at_ms: get(&r, 6)?,
        }))
    }
}
