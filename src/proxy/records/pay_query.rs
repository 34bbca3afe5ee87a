//! The pay query: what DaxPay does not return (way code, currency, the payer's IP, when it was
//! made) from the order store, for orders made through paybridge.

use super::Recorded;
use crate::domain::ops::PayQuery;
use crate::domain::order::PayOrder;
use crate::domain::Failure;
use crate::proxy::call::{Job, Prepared};

impl Recorded for PayQuery {
    /// A query is read-only: when the store cannot be read, the verified answer goes out
    /// without the fields only the store knows (all optional in Jeepay's SDK), and it is logged.
    async fn after(
        job: &Job<'_>,
        p: &Prepared<Self>,
        outcome: Result<PayOrder, Failure>,
    ) -> Result<PayOrder, Failure> {
        let mut order = outcome?;
        let Some(store) = job.rt.orders.as_ref() else {
            return Ok(order);
        };
        match store
            .pay_by_order_id(&p.merchant.mch_no, &order.order_no)
            .await
        {
            Ok(Some(row)) => {
                order.kept = Some(row.kept());
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "order store unreadable: the query is answered without its fields");
                metrics::counter!("paybridge_store_errors_total").increment(1);
            }
        }
        Ok(order)
    }
}
