//! The outbox on PostgreSQL (`super::outbox` says what each call means). The claim is one
//! statement whose inner `SELECT ... FOR UPDATE SKIP LOCKED` makes concurrent claims, from any
//! instance, take disjoint jobs.

use tokio_postgres::Row;

use super::{get, Postgres};
use crate::store::outbox::statements;
use crate::store::outbox_rows::{
    DueNotification, Mark, NewNotification, Notification, NotificationKind, NotificationStatus,
    NotificationWire, OutboxStats,
};
use crate::store::rows::{Inserted, StoreError};
use crate::store::sql;

impl Postgres {
    pub(crate) async fn enqueue_notification(
        &self,
        n: &NewNotification,
        now_ms: i64,
    ) -> Result<Inserted<Notification>, StoreError> {
        let (kind, wire) = (n.kind.as_str(), n.wire.as_str());
        let inserted = self
            .execute_with(
                sql::ENQUEUE_NOTIFICATION,
                &[
                    &n.mch_no,
                    &n.app_id,
                    &kind,
                    &n.order_id,
                    &n.state,
                    &n.url,
                    &n.body,
                    &n.due_at_ms,
                    &now_ms,
                    &wire,
                ],
            )
            .await?;
        if inserted == 1 {
            return Ok(Inserted::New);
        }
        // Jobs are never deleted: the conflicting one is there to read.
        let key = [&n.mch_no as _, &kind as _, &n.order_id as _, &n.state as _];
        match self.query_opt(sql::NOTIFICATION_BY_KEY, &key).await? {
            Some(existing) => Ok(Inserted::Exists(read_notification(&existing)?)),
            None => Err(StoreError::Unavailable(
                "notification neither inserted nor found".to_owned(),
            )),
        }
    }

    pub(crate) async fn claim_notifications(
        &self,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
        limit: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        self.query(
            sql::CLAIM_NOTIFICATIONS_POSTGRES,
            &[&owner, &now_ms, &until_ms, &limit],
        )
        .await?
        .iter()
        .map(read_notification)
        .collect()
    }

    pub(crate) async fn due_notifications(
        &self,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<DueNotification>, StoreError> {
        self.query(statements::DUE_NOTIFICATIONS, &[&now_ms, &limit])
            .await?
            .iter()
            .map(|r| {
                Ok(DueNotification {
                    id: get(r, 0)?,
                    mch_no: get(r, 1)?,
                    url: get(r, 2)?,
                    next_attempt_at_ms: get(r, 3)?,
                })
            })
            .collect()
    }

    pub(crate) async fn lease_notifications(
        &self,
        owner: &str,
        ids: &[i64],
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        let ids = ids.to_vec();
        self.query(
            statements::LEASE_NOTIFICATIONS_POSTGRES,
            &[&owner, &until_ms, &ids, &now_ms],
        )
        .await?
        .iter()
        .map(read_notification)
        .collect()
    }

    pub(crate) async fn mark(
        &self,
        statement: &'static str,
        id: i64,
        owner: &str,
        mark: Mark,
    ) -> Result<bool, StoreError> {
        let changed = match &mark {
            Mark::At(at) => self.execute_with(statement, &[&id, &owner, at]).await?,
            Mark::Retry(at, error) => {
                self.execute_with(statement, &[&id, &owner, at, error])
                    .await?
            }
            Mark::Error(error) => self.execute_with(statement, &[&id, &owner, error]).await?,
        };
        Ok(changed == 1)
    }

    pub(crate) async fn notifications(
        &self,
        status: NotificationStatus,
        limit: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        self.query(sql::NOTIFICATIONS_BY_STATUS, &[&status.as_str(), &limit])
            .await?
            .iter()
            .map(read_notification)
            .collect()
    }

    pub(crate) async fn notification(&self, id: i64) -> Result<Option<Notification>, StoreError> {
        self.query_opt(sql::NOTIFICATION_BY_ID, &[&id])
            .await?
            .map(|r| read_notification(&r))
            .transpose()
    }

    pub(crate) async fn resend_notification(
        &self,
        id: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let changed = self
            .execute_with(sql::RESEND_NOTIFICATION, &[&id, &now_ms])
            .await?;
        Ok(changed == 1)
    }

    pub(crate) async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let rows = self.query(sql::OUTBOX_STATS, &[]).await?;
        let r = rows
            .first()
            .ok_or_else(|| StoreError::Unavailable("outbox statistics: no row".to_owned()))?;
        Ok(OutboxStats {
            pending: get(r, 0)?,
            delivered: get(r, 1)?,
            failed: get(r, 2)?,
            oldest_pending_created_at_ms: get(r, 3)?,
        })
    }
}

fn read_notification(r: &Row) -> Result<Notification, StoreError> {
    Ok(Notification {
        id: get(r, 0)?,
        mch_no: get(r, 1)?,
        app_id: get(r, 2)?,
        kind: NotificationKind::parse(get(r, 3)?)?,
        order_id: get(r, 4)?,
        state: get(r, 5)?,
        url: get(r, 6)?,
        body: get(r, 7)?,
        status: NotificationStatus::parse(get(r, 8)?)?,
        attempts: get(r, 9)?,
        next_attempt_at_ms: get(r, 10)?,
        last_error: get(r, 11)?,
        lease_owner: get(r, 12)?,
        lease_until_ms: get(r, 13)?,
        created_at_ms: get(r, 14)?,
        delivered_at_ms: get(r, 15)?,
        wire: NotificationWire::parse(get(r, 16)?)?,
    })
}
