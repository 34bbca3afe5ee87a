//! The outbox on SQLite (`super::outbox` says what each call means). Every call holds the one
//! connection; the claim runs in an IMMEDIATE transaction, so another process on the same file
//! waits for it rather than claiming the same jobs.

use rusqlite::{params, OptionalExtension, Row};

use super::conn::{exec, query_one, Conn};
use super::{read_error, unavailable, Sqlite};
use crate::store::outbox::statements;
use crate::store::outbox_rows::{
    DueNotification, Mark, NewNotification, Notification, NotificationKind, NotificationStatus,
    NotificationWire, OutboxStats,
};
use crate::store::rows::{Inserted, StoreError};
use crate::store::sql;

impl Sqlite {
    pub(crate) async fn enqueue_notification(
        &self,
        n: &NewNotification,
        now_ms: i64,
    ) -> Result<Inserted<Notification>, StoreError> {
        let n = n.clone();
        self.call(move |conn| {
            let key = params![n.mch_no, n.kind.as_str(), n.order_id, n.state];
            let inserted = exec(
                conn,
                sql::ENQUEUE_NOTIFICATION,
                params![
                    n.mch_no,
                    n.app_id,
                    n.kind.as_str(),
                    n.order_id,
                    n.state,
                    n.url,
                    n.body,
                    n.due_at_ms,
                    now_ms,
                    n.wire.as_str(),
                ],
            )
            .map_err(unavailable)?;
            if inserted == 1 {
                return Ok(Inserted::New);
            }
            // Read under the same lock; jobs are never deleted.
            match notification(conn, sql::NOTIFICATION_BY_KEY, key)? {
                Some(existing) => Ok(Inserted::Exists(existing)),
                None => Err(StoreError::Unavailable(
                    "notification neither inserted nor found".to_owned(),
                )),
            }
        })
        .await
    }

    pub(crate) async fn claim_notifications(
        &self,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
        limit: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        let owner = owner.to_owned();
        self.call(move |conn| {
            let tx = conn.immediate().map_err(unavailable)?;
            let claimed = {
                let stmt = conn
                    .statement(sql::CLAIM_NOTIFICATIONS_SQLITE)
                    .map_err(unavailable)?;
                let rows = stmt
                    .query_map(params![owner, now_ms, until_ms, limit], read_notification)
                    .map_err(unavailable)?;
                collect(rows)?
            };
            tx.commit().map_err(unavailable)?;
            Ok(claimed)
        })
        .await
    }

    pub(crate) async fn due_notifications(
        &self,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<DueNotification>, StoreError> {
        self.call(move |conn| {
            let stmt = conn
                .statement(statements::DUE_NOTIFICATIONS)
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![now_ms, limit], |r| {
                    Ok(DueNotification {
                        id: r.get(0)?,
                        mch_no: r.get(1)?,
                        url: r.get(2)?,
                        next_attempt_at_ms: r.get(3)?,
                    })
                })
                .map_err(unavailable)?;
            rows.map(|r| r.map_err(read_error)).collect()
        })
        .await
    }

    /// One IMMEDIATE transaction: another process on the file waits rather than leasing a job
    /// between two of these runs.
    pub(crate) async fn lease_notifications(
        &self,
        owner: &str,
        ids: &[i64],
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        let (owner, ids) = (owner.to_owned(), ids.to_vec());
        self.call(move |conn| {
            let tx = conn.immediate().map_err(unavailable)?;
            let mut leased = Vec::with_capacity(ids.len());
            for id in ids {
                let stmt = conn
                    .statement(statements::LEASE_NOTIFICATION_SQLITE)
                    .map_err(unavailable)?;
                let rows = stmt
                    .query_map(params![owner, until_ms, id, now_ms], read_notification)
                    .map_err(unavailable)?;
                leased.extend(collect(rows)?);
            }
            tx.commit().map_err(unavailable)?;
            Ok(leased)
        })
        .await
    }

    pub(crate) async fn mark(
        &self,
        statement: &'static str,
        id: i64,
        owner: &str,
        mark: Mark,
    ) -> Result<bool, StoreError> {
        let owner = owner.to_owned();
        self.call(move |conn| {
            match mark {
                Mark::At(at) => exec(conn, statement, params![id, owner, at]),
                Mark::Retry(at, error) => exec(conn, statement, params![id, owner, at, error]),
                Mark::Error(error) => exec(conn, statement, params![id, owner, error]),
            }
            .map(|changed| changed == 1)
            .map_err(unavailable)
        })
        .await
    }

    pub(crate) async fn notifications(
        &self,
        status: NotificationStatus,
        limit: i64,
    ) -> Result<Vec<Notification>, StoreError> {
        self.call(move |conn| {
            let stmt = conn
                .statement(sql::NOTIFICATIONS_BY_STATUS)
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![status.as_str(), limit], read_notification)
                .map_err(unavailable)?;
            collect(rows)
        })
        .await
    }

    pub(crate) async fn notification(&self, id: i64) -> Result<Option<Notification>, StoreError> {
        self.call(move |conn| notification(conn, sql::NOTIFICATION_BY_ID, params![id]))
            .await
    }

    pub(crate) async fn resend_notification(
        &self,
        id: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.call(move |conn| {
            exec(conn, sql::RESEND_NOTIFICATION, params![id, now_ms])
                .map(|changed| changed == 1)
                .map_err(unavailable)
        })
        .await
    }

    pub(crate) async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        self.call(|conn| {
            conn.query_row(sql::OUTBOX_STATS, [], |r| {
                Ok(OutboxStats {
                    pending: r.get(0)?,
                    delivered: r.get(1)?,
                    failed: r.get(2)?,
                    oldest_pending_created_at_ms: r.get(3)?,
                })
            })
            .map_err(read_error)
        })
        .await
    }
}

fn notification(
    conn: &mut Conn<'_>,
    query: &'static str,
    params: impl rusqlite::Params,
) -> Result<Option<Notification>, StoreError> {
    query_one(conn, query, params, read_notification)
        .optional()
        .map_err(read_error)?
        .map(parse)
        .transpose()
}

fn collect(
    rows: impl Iterator<Item = rusqlite::Result<Raw>>,
) -> Result<Vec<Notification>, StoreError> {
    rows.map(|r| r.map_err(read_error).and_then(parse))
        .collect()
}

/// A notification with its kind, status and wire still as text (rusqlite's row closure cannot
/// return our error).
type Raw = (Notification, String, String, String);

fn read_notification(r: &Row<'_>) -> rusqlite::Result<Raw> {
    Ok((
        Notification {
            id: r.get(0)?,
            mch_no: r.get(1)?,
            app_id: r.get(2)?,
            kind: NotificationKind::Pay,
            order_id: r.get(4)?,
            state: r.get(5)?,
            url: r.get(6)?,
            body: r.get(7)?,
            status: NotificationStatus::Pending,
            attempts: r.get(9)?,
            next_attempt_at_ms: r.get(10)?,
            last_error: r.get(11)?,
            lease_owner: r.get(12)?,
            lease_until_ms: r.get(13)?,
            created_at_ms: r.get(14)?,
            delivered_at_ms: r.get(15)?,
            wire: NotificationWire::JeepayPost,
        },
        r.get(3)?,
        r.get(8)?,
        r.get(16)?,
    ))
}

fn parse((n, kind, status, wire): Raw) -> Result<Notification, StoreError> {
    Ok(Notification {
        kind: NotificationKind::parse(&kind)?,
        status: NotificationStatus::parse(&status)?,
        wire: NotificationWire::parse(&wire)?,
        ..n
    })
}
