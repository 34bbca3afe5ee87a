//! `paybridge check` on a `sqlite://PATH` store: the file (or, when it does not exist yet, the
//! directory it will be created in) is writable, is a SQLite database, and its migrations can
//! run (dry-run in a transaction that is rolled back). Nothing is created or changed.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::diagnosis::Diagnosis;
use crate::store::sql;

/// How long to wait for a write lock held by a running instance.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) fn diagnose(path: &Path) -> Diagnosis {
    let mut found = Diagnosis::default();
    let shown = path.display();
    if !path.exists() {
        match creatable(path) {
            Ok(dir) => found.ok(format!(
                "{shown} does not exist yet: it will be created at first use (in {})",
                dir.display()
            )),
            Err(why) => found.problem(format!("{shown} cannot be created: {why}")),
        }
        return found;
    }
    if !path.is_file() {
        found.problem(format!("{shown} is not a file"));
        return found;
    }
    // The journal (WAL) lives beside the file: its directory must be writable too.
    let dir = parent(path);
    if let Err(e) = writable(dir) {
        found.problem(format!(
            "{shown}: its directory {} is not writable ({e}): the WAL journal is kept there",
            dir.display()
        ));
        return found;
    }
    match dry_run(path) {
        Ok(pending) if pending.is_empty() => {
            found.ok(format!("{shown}: writable, schema up to date"));
        }
        Ok(pending) => found.ok(format!(
            "{shown}: writable, {} migration(s) pending ({}): applied at first use",
            pending.len(),
            pending
                .iter()
                .map(|v| format!("{v:04}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Err(why) => found.problem(format!("{shown}: {why}")),
    }
    found
}

/// The migrations that would be applied, found by applying them in a transaction that is then
/// rolled back.
fn dry_run(path: &Path) -> Result<Vec<i64>, String> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open: {e}"))?;
    if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true) {
        return Err("read-only for this user: paybridge writes every order to it".to_owned());
    }
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| e.to_string())?;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| format!("cannot take the write lock: {e}"))?;
    tx.execute_batch(sql::CREATE_SCHEMA_MIGRATIONS)
        .map_err(|e| format!("cannot keep the schema version: {e}"))?;
    let applied: Vec<i64> = tx
        .prepare(sql::APPLIED_VERSIONS)
        .and_then(|mut stmt| {
            stmt.query_map([], |r| r.get::<_, i64>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|e| format!("cannot read the schema version: {e}"))?;
    let mut pending = Vec::new();
    for (version, text) in sql::MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        tx.execute_batch(&sql::migration_text(text, sql::Dialect::Sqlite))
            .map_err(|e| format!("migration {version:04} cannot run: {e}"))?;
        pending.push(*version);
    }
    tx.rollback().map_err(|e| e.to_string())?;
    Ok(pending)
}

/// The directory a file that does not exist will be created in: its nearest existing
/// ancestor, which must be a writable directory (the ones missing between are created).
fn creatable(path: &Path) -> Result<&Path, String> {
    let mut dir = parent(path);
    while !dir.exists() {
        dir = parent(dir);
    }
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    writable(dir).map_err(|e| format!("{} is not writable ({e})", dir.display()))?;
    Ok(dir)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates and removes a file in `dir`: the only sure test of the right to write there.
fn writable(dir: &Path) -> std::io::Result<()> {
    let mut name = [0u8; 8];
    crate::random::fill(&mut name);
    let hex: String = name.iter().map(|b| format!("{b:02x}")).collect();
    let probe = dir.join(format!(".paybridge-check-{hex}"));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}
