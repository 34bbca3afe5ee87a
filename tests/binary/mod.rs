//! The real `paybridge serve` binary in a child process, its log lines (stdout) collected.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// `paybridge serve` on a configuration file; killed when dropped.
pub struct Served {
    child: Child,
    lines: Receiver<String>,
    /// Every log line read so far.
    pub seen: Vec<String>,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// Starts the binary on `toml` (written to a 0600 file) with `RUST_LOG=rust_log`.
    pub fn start(toml: &str, rust_log: &str) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("paybridge.toml");
        std::fs::write(&config, toml).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        Self::start_file(dir, config, rust_log)
    }

    /// Starts the binary on the configuration file `config` (inside `dir`).
    pub fn start_file(dir: tempfile::TempDir, config: PathBuf, rust_log: &str) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_paybridge"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Served {
            child,
            lines: rx,
            seen: Vec::new(),
            dir,
            config,
        }
    }

    /// Reads lines until one satisfies `found` (returned), or `None` after `timeout` or when
    /// the process has ended.
    pub fn wait_for(&mut self, timeout: Duration, found: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if found(&line) {
                        return Some(line);
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
            }
        }
        None
    }

    /// Collects the lines written within `quiet` of each other (the log after some requests).
    pub fn drain(&mut self, quiet: Duration) {
        while let Ok(line) = self.lines.recv_timeout(quiet) {
            self.seen.push(line);
        }
    }

    /// The address logged in the line with `message` (`listen=…` in text, `"listen"` in JSON).
    pub fn address(&mut self, message: &str) -> SocketAddr {
        let line = self
            .wait_for(Duration::from_secs(20), |l| l.contains(message))
            .unwrap_or_else(|| panic!("no `{message}` line: {:#?}", self.seen));
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) {
            return json["listen"].as_str().unwrap().parse().unwrap();
        }
        line.split_whitespace()
            .find_map(|f| f.strip_prefix("listen="))
            .map(|a| a.trim_matches('"').parse().unwrap())
            .unwrap_or_else(|| panic!("no listen= in {line}"))
    }

    pub fn all(&self) -> String {
        self.seen.join("\n")
    }
}

/// The `key=value` fields of a text log line, split as a reader (or a log shipper) would: at
/// blanks outside double quotes, a backslash escaping the next character inside them.
pub fn text_fields(line: &str) -> Vec<(String, String)> {
    let mut tokens = Vec::new();
    let mut token = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in line.chars() {
        if escaped {
            token.push(c);
            escaped = false;
        } else if quoted && c == '\\' {
            token.push(c);
            escaped = true;
        } else if c == '"' {
            token.push(c);
            quoted = !quoted;
        } else if c == ' ' && !quoted {
            tokens.push(std::mem::take(&mut token));
        } else {
            token.push(c);
        }
    }
    tokens.push(token);
    tokens
        .into_iter()
        .filter_map(|t| {
            let (k, v) = t.split_once('=')?;
            // A span's fields: `request{method="POST"` → `method`.
            let k = k.rsplit('{').next().unwrap_or(k);
            Some((k.to_owned(), v.trim_end_matches(['}', ':']).to_owned()))
        })
        .collect()
}
