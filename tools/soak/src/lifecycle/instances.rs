//! The paybridge instances under test (child processes of the release or debug binary), their
//! configuration, and the Redis server the pair shares.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::cast::*;
use super::dax::Dax;
use super::net::{get_status, HttpClient};
use crate::cli::free_port;

/// Where the instances keep their orders and their replays.
#[derive(Clone, Debug)]
pub(crate) enum Stores {
    /// One instance: a SQLite file, replays in the order store.
    Sqlite(PathBuf),
    /// Two instances: one PostgreSQL database, replays in one Redis.
    Shared { postgres: String, redis: String },
}

pub(crate) struct Instance {
    pub(crate) name: String,
    pub(crate) addr: SocketAddr,
    pub(crate) admin: SocketAddr,
    config: PathBuf,
    log: PathBuf,
    bin: PathBuf,
    child: Option<Child>,
    pub(crate) starts: u32,
}

impl Instance {
    // Each argument is one fact of the run the configuration is written from.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        name: &str,
        dir: &Path,
        bin: &Path,
        stores: &Stores,
        dax_relay: SocketAddr,
        public: SocketAddr,
        dax: Dax,
        epay: bool,
    ) -> std::io::Result<Instance> {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let admin: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(
            &config,
            config_toml(addr, admin, stores, dax_relay, public, dax, epay),
        )?;
        let log = dir.join(format!("{name}.log"));
        std::fs::write(&log, b"")?;
        Ok(Instance {
            name: name.to_owned(),
            addr,
            admin,
            config,
            log,
            bin: bin.to_owned(),
            child: None,
            starts: 0,
        })
    }

    pub(crate) fn start(&mut self) -> std::io::Result<()> {
        let log = std::fs::OpenOptions::new().append(true).open(&self.log)?;
        let child = Command::new(&self.bin)
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        self.starts += 1;
        Ok(())
    }

    /// `kill -9`: no shutdown, no drain; whatever was in flight is lost.
    pub(crate) fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and up to `grace` for a clean exit; `Some(success)` when it exited.
    pub(crate) fn terminate(&mut self, grace: Duration) -> Option<bool> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < grace {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status.success());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Waits until `/readyz` answers 200, at most `bound`.
    pub(crate) async fn ready(&mut self, client: &HttpClient, bound: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < bound {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                return false;
            }
            if get_status(client, self.admin, "/readyz").await == Some(200) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn log_path(&self) -> &Path {
        &self.log
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn config_toml(
    addr: SocketAddr,
    admin: SocketAddr,
    stores: &Stores,
    dax_relay: SocketAddr,
    public: SocketAddr,
    dax: Dax,
    epay: bool,
) -> String {
    let (store_url, replay) = match stores {
        Stores::Sqlite(path) => (format!("sqlite://{}", path.display()), "orders".to_owned()),
        Stores::Shared { postgres, redis } => (postgres.clone(), redis.clone()),
    };
    let upstream = dax.upstream_toml();
    let mut s = format!(
        r#"# Written by paybridge-soak lifecycle: one instance under the lifecycle soak, loopback only.
[server]
listen = "{addr}"
public_url = "http://{public}"
max_in_flight = 512

[log]
level = "warn"

[admin]
listen = "{admin}"

[upstreams.dax]
base_url = "http://{dax_relay}"
{upstream}secret = "{DAX_SECRET}"
timeout_ms = {UPSTREAM_TIMEOUT_MS}
connect_timeout_ms = 500
breaker_failures = 10
breaker_cooldown_ms = 500

[store]
url = "{store_url}"

[replay]
store = "{replay}"

[notify]
max_attempts = 40
retry_step_ms = 150
timeout_ms = {NOTIFY_TIMEOUT_MS}
poll_ms = 200
per_host_concurrency = 16
allow_private_targets = true

[settlement]
first_check_after_ms = 2000
max_interval_ms = 6000
poll_ms = 250

"#
    );
    for m in MERCHANTS {
        let _ = write!(
            s,
            "[[merchants]]\nmch_no = \"{}\"\napp_id = \"{}\"\nsecret = \"{}\"\n{}\n",
            m.mch,
            m.app,
            m.secret,
            dax.merchant_toml(&m)
        );
    }
    if epay {
        s.push_str(&dax.epay_merchant_toml());
    }
    s
}

/// A Redis server of the soak's own on a free loopback port, nothing persisted; killed on drop.
pub(crate) struct Redis {
    child: Child,
    pub(crate) url: String,
}

impl Redis {
    pub(crate) fn start(dir: &Path) -> std::io::Result<Redis> {
        let port = free_port();
        let log = std::fs::File::create(dir.join("redis.log"))?;
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
            ])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        // Ready when it accepts connections.
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Redis {
            child,
            url: format!("redis://127.0.0.1:{port}/0"),
        })
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
