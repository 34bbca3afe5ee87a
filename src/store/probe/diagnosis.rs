//! What `paybridge check` finds about a store, and what the store's role needs rights on.

/// What `paybridge check` found about one store: each line a fact verified or a problem.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// What works ("connected as pb to database paybridge (PostgreSQL 15.4)").
    pub verified: Vec<String>,
    /// What will stop `serve` from using the store, one line each, with what to do.
    pub problems: Vec<String>,
}

impl Diagnosis {
    pub(super) fn ok(&mut self, line: impl Into<String>) {
        self.verified.push(line.into());
    }

    pub(super) fn problem(&mut self, line: impl Into<String>) {
        // The server's words or a path may in principle quote a URL: never its password.
        self.problems
            .push(crate::secret::redact_userinfo(&line.into()));
    }
}

/// The names of the tables the migrations create (`CREATE TABLE [IF NOT EXISTS] name`), and
/// `schema_migrations`: what the store's role needs rights on.
pub(super) fn store_tables() -> Vec<String> {
    let mut tables = vec!["schema_migrations".to_owned()];
    for (_, text) in crate::store::sql::MIGRATIONS {
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let name = match words.as_slice() {
                [c, t, i, n, e, name, ..]
                    if c.eq_ignore_ascii_case("create")
                        && t.eq_ignore_ascii_case("table")
                        && i.eq_ignore_ascii_case("if")
                        && n.eq_ignore_ascii_case("not")
                        && e.eq_ignore_ascii_case("exists") =>
                {
                    *name
                }
                [c, t, name, ..]
                    if c.eq_ignore_ascii_case("create") && t.eq_ignore_ascii_case("table") =>
                {
                    *name
                }
                _ => continue,
            };
            let name = name.trim_end_matches('(').to_ascii_lowercase();
            if !tables.contains(&name) {
                tables.push(name);
            }
        }
    }
    tables
}
