//! A paybridge that a test can kill as kill -9 does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;

use super::post_json;

/// A second paybridge on the world's store, on a runtime of its own so that it can be killed:
/// dropping that runtime drops every request it is serving, mid-way, as a kill -9 does. (A
/// client that goes away does not stop paybridge's handler, which would then end its call, or
/// fail its probe, and give its attempt up: not a kill.)
pub struct Instance {
    pub addr: SocketAddr,
    kill: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Instance {
    pub fn start(toml: &str) -> Instance {
        let toml = toml.to_owned();
        let (kill, killed) = tokio::sync::oneshot::channel::<()>();
        let (started, addr) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let config = Arc::new(paybridge::config::Config::from_toml(&toml).unwrap());
                let gateway = paybridge::proxy::Gateway::new(config.clone());
                let service = paybridge::app::proxy_service(gateway, config.server.max_in_flight);
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                started.send(listener.local_addr().unwrap()).unwrap();
                tokio::spawn(paybridge::server::serve(
                    listener,
                    service,
                    std::future::pending::<()>(),
                    Duration::from_secs(1),
                ));
                let _ = killed.await;
            });
            // Every task of the instance dropped where it stands.
            drop(rt);
        });
        Instance {
            addr: addr.recv().unwrap(),
            kill,
            thread,
        }
    }

    /// kill -9: returns once every request the instance was serving is gone.
    pub fn kill(self) {
        let _ = self.kill.send(());
        self.thread.join().unwrap();
    }
}

/// Sends `body` to `path` on `addr` in the background (a killed instance's client fails).
pub fn send_to(
    addr: SocketAddr,
    path: &'static str,
    body: Value,
) -> tokio::task::JoinHandle<Value> {
    tokio::spawn(async move { post_json(addr, path, &body).await.json() })
}

/// A second paybridge on the store and upstream of `toml` that only runs the settlement worker,
/// checking every row at once and every 50 ms after.
pub fn start_settlement_worker(toml: &str) {
    let toml = format!(
        "{toml}\n[settlement]\nfirst_check_after_ms = 10\nmax_interval_ms = 50\npoll_ms = 10\n"
    );
    let config = Arc::new(paybridge::config::Config::from_toml(&toml).unwrap());
    paybridge::proxy::Gateway::new(config).start_settlement();
}
