//! A throw-away redis-server on a free loopback port, for the tests of the Redis replay store:
//! stopped when dropped. CI installs redis-server and sets `PAYBRIDGE_REQUIRE_REDIS`, so a test
//! that needs one cannot pass silently without it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct RedisServer {
    child: Child,
    pub port: u16,
}

impl RedisServer {
    /// The replay store URL of database 0 (no password).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts one (with `password` required, when given), waiting up to 10 s for it to listen;
/// `None` when redis-server is not installed and not required.
pub fn redis_server(password: Option<&str>) -> Option<RedisServer> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let port_text = port.to_string();
    let mut args = vec![
        "--port",
        &port_text,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ];
    if let Some(password) = password {
        args.extend(["--requirepass", password]);
    }
    let child = Command::new("redis-server")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match child {
        Ok(child) => {
            let redis = RedisServer { child, port };
            for _ in 0..500 {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(redis);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            panic!("redis-server did not start within 10 s");
        }
        Err(e) => {
            assert!(
                std::env::var_os("PAYBRIDGE_REQUIRE_REDIS").is_none(),
                "redis-server is required: {e}"
            );
            eprintln!("redis-server not installed: skipping this Redis test ({e})");
            None
        }
    }
}
