//! `paybridge check` on a `postgres://` store: one connection of its own (not the pool), then
//! in one transaction that is rolled back: the migrations `serve` would apply, and the rights the
//! role needs on every table (SELECT, INSERT, UPDATE, DELETE). Each failure is reported with the
//! server's SQLSTATE and message and what to do about it.

use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::NoTls;

use super::diagnosis::{store_tables, Diagnosis};
use crate::config::StoreUrl;
use crate::store::postgres::{schema_migrations_exists, server_error::describe};
use crate::store::sql;

/// As the store's own connect timeout: what `serve` would wait.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The rights every store table needs: rows are inserted, completed, looked up and removed.
const ROW_RIGHTS: [&str; 4] = ["SELECT", "INSERT", "UPDATE", "DELETE"];

pub(super) async fn diagnose(url: &StoreUrl) -> Diagnosis {
    let mut found = Diagnosis::default();
    let mut config = match tokio_postgres::Config::from_str(url.expose()) {
        Ok(config) => config,
        Err(_) => {
            found.problem("the PostgreSQL URL cannot be read (store.url)");
            return found;
        }
    };
    config.connect_timeout(CONNECT_TIMEOUT);
    config.application_name("paybridge check");
    let user = config.get_user().unwrap_or("(the OS user)").to_owned();
    let connected = tokio::time::timeout(CONNECT_TIMEOUT * 2, config.connect(NoTls)).await;
    let (mut client, connection) = match connected {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => {
            found.problem(format!(
                "cannot connect: {}{}",
                describe(&e),
                hint(&e, &user)
            ));
            return found;
        }
        Err(_) => {
            found.problem(format!(
                "cannot connect: no answer within {} s (a firewall dropping packets, or a \
                 server too busy to answer)",
                (CONNECT_TIMEOUT * 2).as_secs()
            ));
            return found;
        }
    };
    let connection = tokio::spawn(connection);
    if let Err(problem) = examine(&mut client, &user, &mut found).await {
        found.problem(problem);
    }
    drop(client);
    let _ = connection.await;
    found
}

/// Everything after the connect; an `Err` is a problem that stops the examination.
async fn examine(
    client: &mut tokio_postgres::Client,
    user: &str,
    found: &mut Diagnosis,
) -> Result<(), String> {
    let failed =
        |what: &str, e: &tokio_postgres::Error| format!("{what}: {}{}", describe(e), hint(e, user));
    let who = client
        .query_one(
            "SELECT current_user::text, current_database()::text, current_schema()::text, \
             current_setting('server_version')",
            &[],
        )
        .await
        .map_err(|e| failed("cannot ask who this role is", &e))?;
    let (role, database, schema, version): (String, String, Option<String>, String) =
        (who.get(0), who.get(1), who.get(2), who.get(3));
    // "15.4 (Debian 15.4-1)": the number says it.
    let version = version.split_whitespace().next().unwrap_or_default();
    let Some(schema) = schema else {
        return Err(format!(
            "no schema of role {role}'s search_path exists in database {database}: the tables \
             would have nowhere to go (CREATE SCHEMA, or ALTER ROLE {role} SET search_path)"
        ));
    };
    found.ok(format!(
        "connected as {role} to database {database} (PostgreSQL {version}), schema {schema}"
    ));

    let tx = client
        .transaction()
        .await
        .map_err(|e| failed("cannot open a transaction", &e))?;
    // Bounded: a lock held by a running instance (migrating) must not hold the check for ever.
    tx.batch_execute("SET LOCAL lock_timeout = '5s'; SET LOCAL statement_timeout = '15s'")
        .await
        .map_err(|e| failed("cannot set the timeouts", &e))?;
    let exists = schema_migrations_exists(&tx)
        .await
        .map_err(|e| e.to_string())?;
    if !exists {
        tx.batch_execute(sql::CREATE_SCHEMA_MIGRATIONS)
            .await
            .map_err(|e| failed("the migrations cannot run (schema_migrations)", &e))?;
    }
    let applied: Vec<i64> = tx
        .query(sql::APPLIED_VERSIONS, &[])
        .await
        .map_err(|e| failed("cannot read schema_migrations", &e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut pending = Vec::new();
    for (version, text) in sql::MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        let text = sql::migration_text(text, sql::Dialect::Postgres);
        tx.batch_execute(&text)
            .await
            .map_err(|e| failed(&format!("migration {version:04} cannot run"), &e))?;
        tx.execute(sql::RECORD_VERSION, &[version, &sql::now_ms()])
            .await
            .map_err(|e| failed("cannot record a migration in schema_migrations", &e))?;
        pending.push(format!("{version:04}"));
    }
    if pending.is_empty() {
        found.ok(format!("schema up to date ({} migrations)", applied.len()));
    } else {
        found.ok(format!(
            "{} migration(s) pending ({}): this role can apply them, serve does at first use",
            pending.len(),
            pending.join(", ")
        ));
    }

    // The tables a pending migration just created are this role's own: every right. The others
    // may belong to another role (created by a DBA): their grants are what counts.
    let mut lacking = Vec::new();
    for table in store_tables() {
        // schema_migrations is only read (and written by a migration, tried above).
        let rights: &[&str] = if table == "schema_migrations" {
            &ROW_RIGHTS[..1]
        } else {
            &ROW_RIGHTS
        };
        let mut missing = Vec::new();
        for &right in rights {
            let row = tx
                .query_one("SELECT has_table_privilege($1, $2)", &[&table, &right])
                .await
                .map_err(|e| failed(&format!("cannot check the rights on {table}"), &e))?;
            if !row.get::<_, bool>(0) {
                missing.push(right);
            }
        }
        if !missing.is_empty() {
            lacking.push(format!("{} on {table}", missing.join(", ")));
        }
    }
    if lacking.is_empty() {
        found.ok(format!(
            "role {role} may {} rows of every store table",
            ROW_RIGHTS.join(", ")
        ));
    } else {
        found.problem(format!(
            "role {role} lacks {}: GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \
             {schema} TO {role}",
            lacking.join("; ")
        ));
    }
    tx.rollback()
        .await
        .map_err(|e| failed("cannot roll the dry run back", &e))
}

/// What to do about a failure, by SQLSTATE (or the connect error's kind); empty when the
/// server's words say it all.
fn hint(e: &tokio_postgres::Error, user: &str) -> String {
    let Some(db) = e.as_db_error() else {
        let text = describe(e);
        return if text.contains("TLS") {
            " — paybridge speaks to PostgreSQL without TLS: remove sslmode from store.url and \
             keep the server on localhost or a private network"
                .to_owned()
        } else if text.contains("refused") {
            " — nothing listens at that host and port: is the server running, and is the \
             address in store.url right?"
                .to_owned()
        } else {
            String::new()
        };
    };
    match db.code().code() {
        "28P01" => " — the password in store.url is wrong for this user".to_owned(),
        "28000" => format!(
            " — the server refuses role {user} from this host (pg_hba.conf), or the role does not \
             exist (CREATE ROLE {user} LOGIN PASSWORD '…')"
        ),
        "3D000" => format!(
            " — create it (CREATE DATABASE <name> OWNER {user}) or correct the name in store.url"
        ),
        "42501" => format!(
            " — grant the role what it needs: GRANT CREATE ON SCHEMA public TO {user} \
             (PostgreSQL 15 and later no longer grant it to every role), or create the tables as \
             their owner (run paybridge once as that role) and GRANT SELECT, INSERT, UPDATE, \
             DELETE ON ALL TABLES IN SCHEMA public TO {user}"
        ),
        "53300" => " — the server has no connection slot left (max_connections)".to_owned(),
        "57P03" => " — the server is starting up or shutting down: try again".to_owned(),
        _ => String::new(),
    }
}
