//! The statements and migrations both backends run, written once with PostgreSQL's `$N`
//! placeholders (SQLite reads them as `?N`: [`for_sqlite`]). Every value is a bound parameter.

/// The migrations, applied in order, each once, recorded in `schema_migrations`. A new one is
/// the next number with its file: never edit one that has shipped.
pub(crate) const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("migrations/0001_orders.sql"))];

pub(crate) const CREATE_SCHEMA_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
     version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)";
pub(crate) const APPLIED_VERSIONS: &str = "SELECT version FROM schema_migrations";
pub(crate) const RECORD_VERSION: &str =
    "INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)";

// The columns, in the order rows are read and inserted (a macro, for `concat!`).
macro_rules! pay_columns {
    () => {
        "mch_no, app_id, mch_order_no, pay_order_id, way_code, currency, client_ip, amount_fen, \
         subject, body, ext_param, notify_url, return_url, upstream, created_at_ms, state"
    };
}
macro_rules! refund_columns {
    () => {
        "mch_no, app_id, mch_refund_no, refund_order_id, pay_order_id, mch_order_no, \
         refund_amount_fen, pay_amount_fen, currency, ext_param, notify_url, created_at_ms, state"
    };
}

pub(crate) const INSERT_PAY: &str = concat!(
    "INSERT INTO pay_orders (",
    pay_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
);
pub(crate) const PAY_BY_MCH_ORDER_NO: &str = concat!(
    "SELECT ",
    pay_columns!(),
    " FROM pay_orders WHERE mch_no = $1 AND mch_order_no = $2"
);
// The index is not unique (DaxPay's numbers are not ours to police): the oldest row wins.
pub(crate) const PAY_BY_ORDER_ID: &str = concat!(
    "SELECT ",
    pay_columns!(),
    " FROM pay_orders WHERE mch_no = $1 AND pay_order_id = $2 \
     ORDER BY created_at_ms, mch_order_no LIMIT 1"
);
pub(crate) const COMPLETE_PAY: &str =
    "UPDATE pay_orders SET pay_order_id = $3, state = 'created', \
     way_code = $4, currency = $5, client_ip = $6, amount_fen = $7, subject = $8, body = $9, \
     ext_param = $10, notify_url = $11, return_url = $12, upstream = $13 \
     WHERE mch_no = $1 AND mch_order_no = $2";
pub(crate) const REMOVE_PENDING_PAY: &str =
    "DELETE FROM pay_orders WHERE mch_no = $1 AND mch_order_no = $2 AND state = 'pending'";

pub(crate) const INSERT_REFUND: &str = concat!(
    "INSERT INTO refund_orders (",
    refund_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
);
pub(crate) const REFUND_BY_MCH_REFUND_NO: &str = concat!(
    "SELECT ",
    refund_columns!(),
    " FROM refund_orders WHERE mch_no = $1 AND mch_refund_no = $2"
);
pub(crate) const REFUND_BY_ORDER_ID: &str = concat!(
    "SELECT ",
    refund_columns!(),
    " FROM refund_orders WHERE mch_no = $1 AND refund_order_id = $2 \
     ORDER BY created_at_ms, mch_refund_no LIMIT 1"
);
pub(crate) const COMPLETE_REFUND: &str = "UPDATE refund_orders SET refund_order_id = $3, \
     pay_amount_fen = $4, state = 'created' WHERE mch_no = $1 AND mch_refund_no = $2";
pub(crate) const REMOVE_PENDING_REFUND: &str =
    "DELETE FROM refund_orders WHERE mch_no = $1 AND mch_refund_no = $2 AND state = 'pending'";

/// `sql` with `$N` written `?N`, SQLite's numbered parameter (no statement here holds a `$`
/// otherwise).
pub(crate) fn for_sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

/// Milliseconds since the epoch, for `schema_migrations.applied_at_ms`.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
