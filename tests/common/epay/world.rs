//! The world of the epay end-to-end tests: the DaxPay sandbox, paybridge serving a Jeepay
//! merchant and the epay merchant `1001` on one listener (its notifier running), optionally a
//! legacy epay gateway, and the epay merchant's own site for notifications and returns.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use paybridge_sandbox::{LegacySandbox, Sandbox};
use tokio::net::TcpListener;

use super::{keys, EpayClient, EpayMerchantSite, KEY, PID};
use crate::common::{proxy_toml, sandbox_toml, start_legacy, start_sandbox, Running, DAX_MCH};

/// The epay merchant's own DaxPay app (a third identity beside the Jeepay merchants').
pub const DAX_APP_EPAY: &str = "M8207639754663345";

/// Everything one test needs, stopped when dropped.
pub struct World {
    pub proxy: SocketAddr,
    pub sandbox: Sandbox,
    pub legacy: Option<LegacySandbox>,
    pub site: EpayMerchantSite,
    _servers: Vec<Running>,
}

impl World {
    pub fn client(&self) -> EpayClient {
        super::client(self.proxy)
    }
}

/// The `[[merchants]]` entry of the epay merchant, as the issue fixes its keys.
pub fn epay_merchant_toml(extra: &str) -> String {
    format!(
        r#"
[[merchants]]
dialect = "epay"
pid = "{PID}"
secret = "{KEY}"
epay_public_key = "{pubkey}"
{extra}
[merchants.daxpay]
upstream = "dax"
mch_no = "{DAX_MCH}"
app_id = "{DAX_APP_EPAY}"
"#,
        pubkey = keys::MERCHANT_PUBLIC_KEY,
    )
}

/// The legacy epay gateway: merchant 1001 with the same key, and `orders` seeded as
/// (`trade_no`, `out_trade_no`, money, status).
pub fn legacy_epay_toml(orders: &[(&str, &str, &str, u8)]) -> String {
    let mut toml = format!(
        "[legacy_sandbox]\n[[legacy_sandbox.epay_merchants]]\npid = {PID}\nkey = \"{KEY}\"\n"
    );
    for (trade_no, out_trade_no, money, status) in orders {
        toml.push_str(&format!(
            "[[legacy_sandbox.epay_orders]]\ntrade_no = \"{trade_no}\"\nout_trade_no = \"{out_trade_no}\"\n\
             pid = {PID}\nmoney = \"{money}\"\nstatus = {status}\n"
        ));
    }
    toml
}

/// Starts the world. `legacy`: seeded orders of a legacy epay gateway (`None`: no gateway);
/// `routes`: TOML appended to paybridge's configuration (`[routing]`, `[[routes]]`).
pub async fn world(legacy: Option<&[(&str, &str, &str, u8)]>, routes: &str) -> World {
    let sandbox_config = sandbox_toml("3.0", "hmac_sha256", &[]).replace(
        "[sandbox]\n",
        "[sandbox]\ncallback_retry_ms = [50, 100, 200]\n",
    ) + &format!(
        "[[sandbox.apps]]\nmch_no = \"{DAX_MCH}\"\napp_id = \"{DAX_APP_EPAY}\"\n\
         sign_type = \"hmac_sha256\"\nsecret = \"{}\"\n",
        crate::common::DAX_SECRET
    );
    let (sb, sandbox) = start_sandbox(&sandbox_config).await;
    let mut servers = vec![sb];
    let (legacy_upstream, legacy) = match legacy {
        Some(orders) => {
            let (lg, legacy) = start_legacy(&legacy_epay_toml(orders)).await;
            let upstream = format!(
                "\n[upstreams.legacy]\nkind = \"legacy\"\nbase_url = \"http://{}\"\ntimeout_ms = 2000\n",
                lg.addr
            );
            servers.push(lg);
            (upstream, Some(legacy))
        }
        None => (String::new(), None),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = listener.local_addr().unwrap();
    let toml = proxy_toml(servers[0].addr, "3.0", "hmac_sha256", "", "").replace(
        "[server]\n",
        &format!("[server]\npublic_url = \"http://{proxy}\"\n"),
    ) + &epay_merchant_toml("")
        + &format!(
            "\n[epay]\nplatform_private_key = \"{}\"\n\n[notify]\nretry_step_ms = 50\nallow_private_targets = true\n",
            keys::PLATFORM_PRIVATE_KEY
        )
        + &legacy_upstream
        + routes;
    let config = Arc::new(
        paybridge::config::Config::from_toml(&toml)
            .unwrap_or_else(|e| panic!("valid configuration ({e}):\n{toml}")),
    );
    let gateway = paybridge::proxy::Gateway::new(config.clone());
    gateway.start_notifier();
    let service = paybridge::app::proxy_service(gateway, config.server.max_in_flight);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(paybridge::server::serve(
        listener,
        service,
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(1),
    ));
    servers.push(Running::new(proxy, stop));
    World {
        proxy,
        sandbox,
        legacy,
        site: EpayMerchantSite::start(&["success"]).await,
        _servers: servers,
    }
}

/// The DaxPay order paybridge made for an epay order: the one whose title is `name` (each
/// test gives its orders distinct names).
pub fn dax_order(sandbox: &Sandbox, name: &str) -> paybridge_sandbox::SandboxOrder {
    let mut found: Vec<_> = sandbox
        .orders()
        .into_iter()
        .filter(|o| o.title.as_deref() == Some(name))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one DaxPay order titled {name:?}: {found:?}"
    );
    found.remove(0)
}

/// Waits up to 5 s for `check` to hold.
pub async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..250 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("not within 5 s: {what}");
}
