//! Where a configuration exposes secrets, for `paybridge serve`'s start-up warnings: inline
//! secrets in a file that others can read, `{ file = … }` secrets that others can read, and a
//! replay store that lets requests through unprotected while it is down.
//!
//! The file is scanned as plain TOML, whatever section a value is in, so the sandboxes' sections
//! (read by their own crate) and the Redis URL's password count as well as the proxy's secrets.

use std::path::{Path, PathBuf};

use figment::value::Value;

use super::{Config, ReplayStoreKind};

/// What [`scan`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Exposure {
    /// Secrets written in the file itself: `secret`/`token`/`password` strings and URLs with a
    /// password.
    pub inline: usize,
    /// `{ file = … }` secrets that group or others may read, with the key that names each.
    pub readable_files: Vec<(String, PathBuf)>,
}

/// Keys whose value is a secret (inline, `{ env }` or `{ file }`).
fn secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["secret", "token", "password"]
        .iter()
        .any(|s| key == *s || key.ends_with(&format!("_{s}")))
}

/// A URL carrying `user:password@` (a bare user name is not a secret).
fn url_with_password(text: &str) -> bool {
    text.split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default())
        .and_then(|authority| authority.rsplit_once('@'))
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// Scans the TOML text of a configuration (`None` when it does not parse: the loader reports
/// that).
pub fn scan(toml: &str) -> Option<Exposure> {
    use figment::providers::{Format, Toml};
    let value: Value = figment::Figment::from(Toml::string(toml)).extract().ok()?;
    let mut found = Exposure::default();
    walk("", &value, &mut found);
    Some(found)
}

fn walk(key: &str, value: &Value, found: &mut Exposure) {
    match value {
        Value::String(_, s) if secret_key(key) || url_with_password(s) => found.inline += 1,
        Value::Dict(_, dict) => {
            if secret_key(key) {
                if let Some(Value::String(_, file)) = dict.get("file") {
                    let file = PathBuf::from(file);
                    if readable_by_others(&file) {
                        found.readable_files.push((key.to_owned(), file));
                    }
                }
            }
            for (k, v) in dict {
                walk(k, v, found);
            }
        }
        Value::Array(_, items) => {
            for item in items {
                walk(key, item, found);
            }
        }
        _ => {}
    }
}

/// Whether group or others may read `path` (false when it cannot be read at all).
pub fn readable_by_others(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// Logs the start-up warnings for the configuration file at `path`, as loaded into `config`.
pub fn warn_at_start(path: &Path, config: &Config) {
    let found = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| scan(&text))
        .unwrap_or_default();
    // The typed count too: an environment override may add an inline secret.
    let inline = found.inline.max(config.inline_secrets);
    if inline > 0 && readable_by_others(path) {
        tracing::warn!(
            path = crate::telemetry::text(&path.display()).as_str(),
            inline_secrets = inline,
            "the configuration file holds secrets and is readable by others: chmod 600 it, or move secrets to env/file references"
        );
    }
    for (key, file) in &found.readable_files {
        tracing::warn!(
            key = key.as_str(),
            path = crate::telemetry::text(&file.display()).as_str(),
            "a secret file is readable by others: chmod 600 it"
        );
    }
    if config.replay.fail_open && matches!(config.replay.store, ReplayStoreKind::Redis { .. }) {
        tracing::warn!(
            on_store_error = "allow",
            "REPLAY PROTECTION IS OFF WHILE THE REPLAY STORE IS DOWN: with replay.on_store_error = \"allow\" a captured request can be executed again whenever Redis cannot be reached; set it to \"reject\" to refuse requests instead"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_counts() {
        let toml = r#"
[upstreams.dax]
base_url = "http://127.0.0.1:9"
secret = "s1"
[admin]
token = "0123456789abcdef"
[replay]
store = "redis://:pw@127.0.0.1:6379"
[sandbox]
listen = "127.0.0.1:0"
[[sandbox.apps]]
secret = "s2"
[legacy_sandbox]
[[legacy_sandbox.merchants]]
secret = "s3"
[[merchants]]
secret = { env = "X" }
[merchants.daxpay]
secret = { file = "/nonexistent/paybridge-secret" }
"#;
        let found = scan(toml).unwrap();
        assert_eq!(found.inline, 5, "{found:?}");
        assert!(found.readable_files.is_empty());
    }

    #[test]
    fn urls_count_only_with_a_password() {
        assert!(url_with_password("redis://:pw@h:1"));
        assert!(url_with_password("redis://u:pw@h/0"));
        assert!(!url_with_password("redis://u@h"));
        assert!(!url_with_password("http://h/a:b@c"));
    }

    #[cfg(unix)]
    #[test]
    fn secret_files_others_can_read_are_named() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        let closed = dir.path().join("closed");
        for (file, mode) in [(&open, 0o644), (&closed, 0o600)] {
            std::fs::write(file, "s").unwrap();
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let toml = format!(
            "[upstreams.a]\nsecret = {{ file = {:?} }}\n[upstreams.b]\nsecret = {{ file = {:?} }}\n",
            open, closed
        );
        let found = scan(&toml).unwrap();
        assert_eq!(found.readable_files, vec![("secret".to_owned(), open)]);
    }
}
