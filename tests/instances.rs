//! Issue 19, item 8: an instance whose stores cannot be used fails loudly. `paybridge check`
//! connects to the order store and the Redis replay store and says what is wrong in the server's
//! own words (exit 1); `serve` on such a store is not ready (`/readyz` 503 with the reason) and
//! logs the server's message; no password reaches any of them.
//!
//! The PostgreSQL faults need the test server (`export PAYBRIDGE_TEST_POSTGRES_URL=$(scripts/
//! test-postgres)`): without it those tests print a notice and pass, unless
//! `PAYBRIDGE_REQUIRE_POSTGRES` is set. The tests on a stand-in PostgreSQL (a socket that answers
//! every connect with a server error, as a real one does for a wrong password) always run. The
//! Redis test needs `redis-server` (required under `PAYBRIDGE_REQUIRE_REDIS`).

mod binary;
mod common;

use std::process::Command;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use binary::Served;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// In every URL; must appear in no output.
const PASSWORD: &str = "hunter2-instances-secret";

/// A configuration for `check` (the upstream is never called); the store comes from
/// `PAYBRIDGE_STORE__URL`.
fn config_file(extra: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paybridge.toml");
    let toml = proxy_toml("127.0.0.1:9".parse().unwrap(), "3.0", "hmac_sha256", "", "") + extra;
    std::fs::write(&path, toml).unwrap();
    (dir, path)
}

/// `paybridge check` with the order store at `store_url`: (exit code, stdout, stderr).
fn check(store_url: &str, extra: &str) -> (i32, String, String) {
    let (_dir, path) = config_file(extra);
    let out = Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .arg("check")
        .arg("--config")
        .arg(&path)
        .env("PAYBRIDGE_STORE__URL", store_url)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(
        !stdout.contains(PASSWORD) && !stderr.contains(PASSWORD),
        "a password was shown:\n{stdout}\n{stderr}"
    );
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---- a stand-in PostgreSQL server ------------------------------------------------------------

/// Answers every connection's startup message with a FATAL `28P01` error, as PostgreSQL does for
/// a wrong password, and counts the connections.
async fn refusing_postgres() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connects = Arc::new(AtomicUsize::new(0));
    let counted = connects.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                // The startup message: its length (itself included), then the rest.
                let mut len = [0u8; 4];
                if socket.read_exact(&mut len).await.is_err() {
                    return;
                }
                let mut rest = vec![0u8; (u32::from_be_bytes(len) as usize).saturating_sub(4)];
                if socket.read_exact(&mut rest).await.is_err() {
                    return;
                }
                let _ = socket.write_all(&error_response()).await;
            });
        }
    });
    (addr, connects)
}

/// An ErrorResponse ('E'): severity, SQLSTATE and message fields, each NUL-terminated.
fn error_response() -> Vec<u8> {
    let mut fields = Vec::new();
    for (tag, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "28P01"),
        (b'M', "password authentication failed for user \"pb\""),
    ] {
        fields.push(tag);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut message = vec![b'E'];
    message.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
    message.extend_from_slice(&fields);
    message
}

#[tokio::test]
async fn check_quotes_the_servers_refusal_and_exits_non_zero() {
    let (pg, _) = refusing_postgres().await;
    let url = format!("postgres://pb:{PASSWORD}@{pg}/paybridge");
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || check(&url, ""))
        .await
        .unwrap();
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("configuration OK"), "{stdout}");
    assert!(
        stderr.contains("28P01 password authentication failed for user \"pb\""),
        "{stderr}"
    );
    assert!(stderr.contains("order store postgres://"), "{stderr}");
    assert!(!stdout.contains("stores OK"), "{stdout}");
    // `--offline`: the configuration only, as before.
    let (_dir, path) = config_file("");
    let out = Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .args(["check", "--offline", "--config"])
        .arg(&path)
        .env(
            "PAYBRIDGE_STORE__URL",
            format!("postgres://pb:{PASSWORD}@{pg}/paybridge"),
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[tokio::test]
async fn check_says_when_nothing_listens() {
    let url = format!(
        "postgres://pb:{PASSWORD}@127.0.0.1:{}/paybridge",
        dead_port()
    );
    let (code, _, stderr) = tokio::task::spawn_blocking(move || check(&url, ""))
        .await
        .unwrap();
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert!(stderr.contains("nothing listens"), "{stderr}");
}

#[test]
fn tls_asked_for_is_refused_before_anything_starts() {
    let url = format!("postgres://pb:{PASSWORD}@127.0.0.1:5432/paybridge?sslmode=require");
    let (code, _, stderr) = check(&url, "");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("store.url") && stderr.contains("sslmode=require"),
        "{stderr}"
    );
    assert!(stderr.contains("does not speak"), "{stderr}");
    // And `serve` refuses to start on it, instead of refusing every payment.
    let (_dir, path) = config_file("");
    let out = Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("PAYBRIDGE_STORE__URL", &url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("sslmode=require") && !stderr.contains(PASSWORD),
        "{stderr}"
    );
}

#[tokio::test]
async fn serve_on_an_unusable_store_is_not_ready_and_logs_the_servers_words() {
    let (pg, connects) = refusing_postgres().await;
    let (_sb, _sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let toml = proxy_toml(_sb.addr, "3.0", "hmac_sha256", "", "").replace(
        "url = \"sqlite::memory:\"",
        &format!("url = \"postgres://pb:{PASSWORD}@{pg}/paybridge\""),
    ) + "\n[admin]\nlisten = \"127.0.0.1:0\"\n"
        // The background workers that poll the store (settlement, pruning) would connect too:
        // off, so that the connects counted are the readiness probes'.
        + "\n[settlement]\nenabled = false\n\n[retention]\nkeep_days = 0\n";
    let mut served = tokio::task::spawn_blocking(move || {
        let mut served = Served::start(&toml, "info");
        let admin = served.address("admin listener serving");
        let proxy = served.address("paybridge serving");
        (served, admin, proxy)
    })
    .await
    .unwrap();
    let (admin, proxy) = (served.1, served.2);

    let ready = send(admin, "GET", "/readyz", None, "", &[]).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    let body = ready.json();
    assert_eq!(body["upstreams"]["dax"], "reachable", "{body}");
    let reason = body["order_store"].as_str().unwrap();
    assert!(
        reason.contains("28P01 password authentication failed for user \"pb\""),
        "{reason}"
    );
    assert!(!ready.body.contains(PASSWORD), "{}", ready.body);

    // Readiness checks in a burst cost the database one probe, not one each.
    let before = connects.load(Ordering::SeqCst);
    for _ in 0..10 {
        assert_eq!(
            send(admin, "GET", "/readyz", None, "", &[]).await.status,
            503
        );
    }
    let probes = connects.load(Ordering::SeqCst) - before;
    assert!(probes <= 2, "{probes} connects for 10 readiness checks");

    // A payment is refused (nothing was sent), and the log says why in the server's words.
    let pay = jeepay_body(&[
        ("mchOrderNo", "INST-1"),
        ("wayCode", "WX_NATIVE"),
        ("amount", "100"),
        ("currency", "cny"),
        ("subject", "s"),
        ("body", "b"),
    ]);
    let answer = post_json(proxy, "/api/pay/unifiedOrder", &pay).await;
    assert!(answer.body.contains("订单存储不可用"), "{}", answer.body);
    let served = tokio::task::spawn_blocking(move || {
        served.0.drain(Duration::from_millis(500));
        served.0
    })
    .await
    .unwrap();
    let log = served.all();
    assert!(
        log.contains("the order store cannot be used"),
        "no start-up line: {log}"
    );
    let refused = log
        .lines()
        .find(|l| l.contains("order store unavailable: the request is refused"))
        .unwrap_or_else(|| panic!("no refusal line: {log}"));
    assert!(refused.contains("28P01"), "{refused}");
    assert!(
        refused.contains("password authentication failed"),
        "{refused}"
    );
    assert!(!log.contains("creating a new object"), "{log}");
    assert!(!log.contains(PASSWORD), "{log}");
}

#[tokio::test]
async fn a_sqlite_file_that_cannot_be_created_is_reported_and_not_ready() {
    // Its directory is a regular file: the store can never be opened.
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-directory");
    std::fs::write(&blocker, b"x").unwrap();
    let url = format!("sqlite://{}/orders.sqlite", blocker.display());
    let checked = url.clone();
    let (code, _, stderr) = tokio::task::spawn_blocking(move || check(&checked, ""))
        .await
        .unwrap();
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("cannot be created") && stderr.contains("is not a directory"),
        "{stderr}"
    );

    let (sb, _sandbox) = start_sandbox(&sandbox_toml("3.0", "hmac_sha256", &[])).await;
    let toml = proxy_toml(sb.addr, "3.0", "hmac_sha256", "", "")
        .replace("url = \"sqlite::memory:\"", &format!("url = \"{url}\""))
        + "\n[admin]\nlisten = \"127.0.0.1:0\"\n";
    let (_served, admin) = tokio::task::spawn_blocking(move || {
        let mut served = Served::start(&toml, "info");
        let admin = served.address("admin listener serving");
        (served, admin)
    })
    .await
    .unwrap();
    let ready = send(admin, "GET", "/readyz", None, "", &[]).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(
        ready.json()["upstreams"]["dax"],
        "reachable",
        "{}",
        ready.body
    );
    assert!(
        ready.json()["order_store"]
            .as_str()
            .unwrap()
            .contains("could not be opened"),
        "{}",
        ready.body
    );
}

// ---- the real PostgreSQL server ---------------------------------------------------------------

/// A database of its own on the test server and the roles a test made, dropped afterwards.
struct Pg {
    admin_url: String,
    host: String,
    port: u16,
    db: String,
    roles: Vec<String>,
}

impl Pg {
    async fn create(tag: &str) -> Option<Pg> {
        let Ok(admin_url) = std::env::var("PAYBRIDGE_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var_os("PAYBRIDGE_REQUIRE_POSTGRES").is_none(),
                "PAYBRIDGE_TEST_POSTGRES_URL is not set but PAYBRIDGE_REQUIRE_POSTGRES is: \
                 run `export PAYBRIDGE_TEST_POSTGRES_URL=$(scripts/test-postgres)` first"
            );
            eprintln!(
                "PAYBRIDGE_TEST_POSTGRES_URL not set: skipping a PostgreSQL store check test \
                 (export PAYBRIDGE_TEST_POSTGRES_URL=$(scripts/test-postgres) to run it)"
            );
            return None;
        };
        let config = tokio_postgres::Config::from_str(&admin_url).unwrap();
        let host = match &config.get_hosts()[0] {
            tokio_postgres::config::Host::Tcp(host) => host.clone(),
            #[allow(unreachable_patterns)]
            other => panic!("a TCP host, not {other:?}"),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let db = format!("pb_inst_{tag}_{}", std::process::id());
        let pg = Pg {
            admin_url,
            host,
            port,
            db,
            roles: Vec::new(),
        };
        pg.sql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", pg.db),
        )
        .await;
        pg.sql("postgres", &format!("CREATE DATABASE {}", pg.db))
            .await;
        Some(pg)
    }

    /// The URL of `user` with the test password on database `db`.
    fn url(&self, user: &str, db: &str) -> String {
        format!(
            "postgres://{user}:{PASSWORD}@{}:{}/{db}",
            self.host, self.port
        )
    }

    /// Runs `sql` as the superuser in database `db`.
    async fn sql(&self, db: &str, sql: &str) {
        let url = format!(
            "postgres://{}@{}:{}/{db}",
            tokio_postgres::Config::from_str(&self.admin_url)
                .unwrap()
                .get_user()
                .unwrap(),
            self.host,
            self.port
        );
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("the test PostgreSQL server");
        tokio::spawn(connection);
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }

    async fn scalar_bool(&self, sql: &str) -> bool {
        let (client, connection) =
            tokio_postgres::connect(&self.url("paybridge", &self.db), tokio_postgres::NoTls)
                .await
                .unwrap();
        tokio::spawn(connection);
        client.query_one(sql, &[]).await.unwrap().get(0)
    }

    /// A login role of this test's own, with no rights beyond PUBLIC's.
    async fn role(&mut self, tag: &str) -> String {
        let role = format!("pb_inst_{tag}_{}", std::process::id());
        self.sql(
            "postgres",
            &format!("DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'"),
        )
        .await;
        self.roles.push(role.clone());
        role
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let statements: Vec<String> =
            std::iter::once(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db))
                .chain(
                    self.roles
                        .iter()
                        .map(|r| format!("DROP ROLE IF EXISTS {r}")),
                )
                .collect();
        let url = self.admin_url.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(connection);
                for statement in statements {
                    let _ = client.batch_execute(&statement).await;
                }
            });
        })
        .join();
    }
}

async fn check_async(url: String) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || check(&url, ""))
        .await
        .unwrap()
}

#[tokio::test]
async fn check_reports_each_postgres_fault_in_the_servers_words() {
    let Some(mut pg) = Pg::create("faults").await else {
        return;
    };
    let db = pg.db.clone();

    // A missing database.
    let missing = format!("{db}_missing");
    let (code, _, stderr) = check_async(pg.url("paybridge", &missing)).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("3D000 database \"{missing}\" does not exist")),
        "{stderr}"
    );

    // A wrong password (scripts/test-postgres makes `paybridge_password` give one).
    let rule = pg
        .scalar_bool(
            "SELECT EXISTS (SELECT FROM pg_hba_file_rules \
             WHERE 'paybridge_password' = ANY(user_name) AND auth_method <> 'trust')",
        )
        .await;
    assert!(
        rule,
        "the test server has no password rule for paybridge_password: run scripts/test-postgres again"
    );
    pg.sql(
        "postgres",
        "DO $$ BEGIN CREATE ROLE paybridge_password LOGIN PASSWORD 'the-right-one'; \
         EXCEPTION WHEN duplicate_object THEN NULL; END $$",
    )
    .await;
    let (code, _, stderr) = check_async(pg.url("paybridge_password", &db)).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("28P01 password authentication failed for user \"paybridge_password\""),
        "{stderr}"
    );

    // A role without CREATE on `public` (PostgreSQL 15 grants it to no one by default).
    let role = pg.role("nocreate").await;
    pg.sql(
        &db,
        &format!("REVOKE CREATE ON SCHEMA public FROM PUBLIC, {role}"),
    )
    .await;
    let (code, _, stderr) = check_async(pg.url(&role, &db)).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("42501 permission denied for schema public"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("GRANT CREATE ON SCHEMA public TO {role}")),
        "{stderr}"
    );

    // The owner: fine, and the check changed nothing (its migrations were rolled back).
    let (code, stdout, stderr) = check_async(pg.url("paybridge", &db)).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("pending"), "{stdout}");
    assert!(stdout.contains("stores OK"), "{stdout}");
    assert!(
        !pg.scalar_bool("SELECT to_regclass('pay_orders') IS NOT NULL")
            .await,
        "the check left a table behind"
    );
}

#[tokio::test]
async fn a_role_with_the_rows_rights_on_existing_tables_is_enough() {
    let Some(mut pg) = Pg::create("rights").await else {
        return;
    };
    let db = pg.db.clone();
    // The tables created by their owner, as a DBA would.
    let owner = paybridge::config::StoreUrl::parse(&pg.url("paybridge", &db)).unwrap();
    paybridge::store::OrderStore::open(&owner)
        .unwrap()
        .ready()
        .await
        .unwrap();

    let writer = pg.role("writer").await;
    let reader = pg.role("reader").await;
    pg.sql(
        &db,
        &format!(
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC, {writer}, {reader}; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {writer}; \
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader}"
        ),
    )
    .await;

    // Rows' rights without CREATE: the check passes, and the store really works with them
    // (the migration step no longer asks for CREATE when its table exists).
    let (code, stdout, stderr) = check_async(pg.url(&writer, &db)).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("schema up to date"), "{stdout}");
    let as_writer = paybridge::config::StoreUrl::parse(&pg.url(&writer, &db)).unwrap();
    let store = paybridge::store::OrderStore::open(&as_writer).unwrap();
    store.probe().await.expect("usable with the rows' rights");

    // Read-only: told which rights lack, and the GRANT that gives them.
    let (code, _, stderr) = check_async(pg.url(&reader, &db)).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("lacks INSERT, UPDATE, DELETE on pay_orders"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {reader}"
        )),
        "{stderr}"
    );
}

// ---- Redis -----------------------------------------------------------------------------------

#[test]
fn check_tries_the_redis_replay_store() {
    let Some(redis) = common::redis::redis_server(Some(PASSWORD)) else {
        return;
    };
    let with = |url: &str| {
        check(
            "sqlite::memory:",
            &format!("\n[replay]\nstore = \"{url}\"\nttl_secs = 60\n"),
        )
    };
    let port = redis.port;

    let (code, stdout, stderr) = with(&format!("redis://:{PASSWORD}@127.0.0.1:{port}/0"));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("replay store") && stdout.contains("a key written and removed"),
        "{stdout}"
    );

    let (code, _, stderr) = with(&format!("redis://:{PASSWORD}x@127.0.0.1:{port}/0"));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("Password authentication failed")
            && stderr.contains("password in replay.store is wrong"),
        "{stderr}"
    );

    let (code, _, stderr) = with(&format!("redis://127.0.0.1:{port}/0"));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("NOAUTH"), "{stderr}");

    let (code, _, stderr) = with(&format!("redis://:{PASSWORD}@127.0.0.1:{}/0", dead_port()));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("nothing listens"), "{stderr}");
}
