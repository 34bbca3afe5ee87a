//! The PostgreSQL backend: a deadpool pool of `tokio-postgres` connections, made lazily (opening
//! the store never touches the network) and without TLS: a remote server belongs on a private
//! network or localhost (docs/configuration.md). Every wait is bounded, so an unreachable server
//! answers `Unavailable` within seconds instead of holding a merchant's request.

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::rows::{parse_refund_status, PayRow, RefundRow, RowState, StoreError};
use super::sql;
use crate::config::StoreUrl;

mod attempts;
mod dialect_orders;
mod landing;
mod outbox;
mod replay;
mod retention;
pub(crate) mod server_error;
mod settlement;

/// Connecting, and waiting for a free connection: an unreachable store fails fast.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A whole call (a connection, its statements): bounds a server that accepts and then hangs.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CONNECTIONS: usize = 16;
/// Taken (per transaction) while migrating, so instances starting together migrate in turn.
/// Any fixed number: "paybridge" in ASCII.
const MIGRATION_LOCK: i64 = 0x7061_7962_7269_6467;

pub(crate) struct Postgres {
    pool: Pool,
}

impl Postgres {
    pub(crate) fn open(url: &StoreUrl) -> Result<Postgres, StoreError> {
        // The URL was checked by the configuration; its text is never quoted (a password).
        let mut config = tokio_postgres::Config::from_str(url.expose())
            .map_err(|_| StoreError::Unavailable(format!("bad PostgreSQL URL {url}")))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        if config.get_application_name().is_none() {
            config.application_name("paybridge");
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(MAX_CONNECTIONS)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Unavailable(format!("PostgreSQL pool: {e}")))?;
        Ok(Postgres { pool })
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool.get().await.map_err(server_error::from_pool)
    }

    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        bounded(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(unavailable)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await
                .map_err(unavailable)?;
            // `CREATE TABLE IF NOT EXISTS` needs CREATE on the schema even when the table
            // exists: a role granted only the rows' rights must not be stopped by it.
            if !schema_migrations_exists(&tx).await? {
                tx.batch_execute(sql::CREATE_SCHEMA_MIGRATIONS)
                    .await
                    .map_err(unavailable)?;
            }
            let applied: Vec<i64> = tx
                .query(sql::APPLIED_VERSIONS, &[])
                .await
                .map_err(unavailable)?
                .iter()
                .map(|r| r.try_get(0).map_err(corrupt))
                .collect::<Result<_, _>>()?;
            for (version, text) in sql::MIGRATIONS {
                if applied.contains(version) {
                    continue;
                }
                let text = sql::migration_text(text, sql::Dialect::Postgres);
                tx.batch_execute(&text).await.map_err(|e| {
                    StoreError::Unavailable(format!(
                        "migration {version:04} failed: {}",
                        server_error::describe(&e)
                    ))
                })?;
                tx.execute(sql::RECORD_VERSION, &[version, &sql::now_ms()])
                    .await
                    .map_err(unavailable)?;
            }
            tx.commit().await.map_err(unavailable)
        })
        .await
    }

    pub(crate) async fn pay_by(
        &self,
        query: &str,
        mch_no: &str,
        key: &str,
    ) -> Result<Option<PayRow>, StoreError> {
        self.query_opt(query, &[&mch_no, &key])
            .await?
            .map(|r| read_pay(&r))
            .transpose()
    }

    pub(crate) async fn pay_by_token(&self, token: &str) -> Result<Option<PayRow>, StoreError> {
        // An attempt's token first; a row written before attempts existed keeps its own.
        let row = match self.query_opt(sql::PAY_ATTEMPT_BY_TOKEN, &[&token]).await? {
            Some(row) => Some(row),
            None => self.query_opt(sql::PAY_BY_TOKEN, &[&token]).await?,
        };
        row.map(|r| read_pay(&r)).transpose()
    }

    pub(crate) async fn refund_by(
        &self,
        query: &str,
        mch_no: &str,
        key: &str,
    ) -> Result<Option<RefundRow>, StoreError> {
        self.query_opt(query, &[&mch_no, &key])
            .await?
            .map(|r| read_refund(&r))
            .transpose()
    }

    pub(crate) async fn refund_by_token(
        &self,
        token: &str,
    ) -> Result<Option<RefundRow>, StoreError> {
        let row = match self
            .query_opt(sql::REFUND_ATTEMPT_BY_TOKEN, &[&token])
            .await?
        {
            Some(row) => Some(row),
            None => self.query_opt(sql::REFUND_BY_TOKEN, &[&token]).await?,
        };
        row.map(|r| read_refund(&r)).transpose()
    }

    /// The number of rows `statement` changed.
    async fn execute_with(
        &self,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        bounded(async {
            let client = self.client().await?;
            let prepared = client
                .prepare_cached(statement)
                .await
                .map_err(unavailable)?;
            client.execute(&prepared, params).await.map_err(unavailable)
        })
        .await
    }

    async fn query_opt(
        &self,
        query: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        bounded(async {
            let client = self.client().await?;
            let prepared = client.prepare_cached(query).await.map_err(unavailable)?;
            client
                .query_opt(&prepared, params)
                .await
                .map_err(unavailable)
        })
        .await
    }

    async fn query(
        &self,
        query: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        bounded(async {
            let client = self.client().await?;
            let prepared = client.prepare_cached(query).await.map_err(unavailable)?;
            client.query(&prepared, params).await.map_err(unavailable)
        })
        .await
    }
}

/// Whether `schema_migrations` is visible on the role's search path.
pub(crate) async fn schema_migrations_exists(
    tx: &tokio_postgres::Transaction<'_>,
) -> Result<bool, StoreError> {
    let row = tx
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await
        .map_err(unavailable)?;
    row.try_get(0).map_err(corrupt)
}

async fn bounded<T>(
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(format!(
                "PostgreSQL did not answer within {} s",
                CALL_TIMEOUT.as_secs()
            )))
        })
}

fn read_pay(r: &Row) -> Result<PayRow, StoreError> {
    Ok(PayRow {
        mch_no: get(r, 0)?,
        app_id: get(r, 1)?,
        mch_order_no: get(r, 2)?,
        pay_order_id: get(r, 3)?,
        way_code: get(r, 4)?,
        currency: get(r, 5)?,
        client_ip: get(r, 6)?,
        amount_fen: get(r, 7)?,
        subject: get(r, 8)?,
        body: get(r, 9)?,
        ext_param: get(r, 10)?,
        notify_url: get(r, 11)?,
        return_url: get(r, 12)?,
        upstream: get(r, 13)?,
        created_at_ms: get(r, 14)?,
        state: RowState::parse(&get::<String>(r, 15)?)?,
        token: get(r, 16)?,
        attempt: get(r, 17)?,
    })
}

fn read_refund(r: &Row) -> Result<RefundRow, StoreError> {
    Ok(RefundRow {
        mch_no: get(r, 0)?,
        app_id: get(r, 1)?,
        mch_refund_no: get(r, 2)?,
        refund_order_id: get(r, 3)?,
        pay_order_id: get(r, 4)?,
        mch_order_no: get(r, 5)?,
        refund_amount_fen: get(r, 6)?,
        pay_amount_fen: get(r, 7)?,
        currency: get(r, 8)?,
        ext_param: get(r, 9)?,
        notify_url: get(r, 10)?,
        created_at_ms: get(r, 11)?,
        state: RowState::parse(&get::<String>(r, 12)?)?,
        token: get(r, 13)?,
        attempt: get(r, 14)?,
        status: parse_refund_status(get::<Option<String>>(r, 15)?.as_deref())?,
    })
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    r: &'a Row,
    index: usize,
) -> Result<T, StoreError> {
    r.try_get(index).map_err(corrupt)
}

fn corrupt(e: tokio_postgres::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn unavailable(e: tokio_postgres::Error) -> StoreError {
    // `Display` of a server error is only "db error": its SQLSTATE and message say what failed.
    server_error::unavailable(&e)
}
