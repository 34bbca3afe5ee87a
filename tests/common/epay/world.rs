//! The world of the epay end-to-end tests: the DaxPay sandbox, paybridge serving a Jeepay
//! merchant and the epay merchant `1001` on one listener (its notifier running), optionally a
//! legacy epay gateway, and the epay merchant's own site for notifications and returns.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use paybridge_sandbox::{LegacySandbox, Sandbox};
use tokio::net::TcpListener;

use super::{keys, EpayClient, EpayMerchantSite, KEY, PID};
use crate::common::steering::Relay;
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

/// The legacy epay gateway (V1 and V2): merchant 1001 with the same keys, and `orders` seeded as
/// (`trade_no`, `out_trade_no`, money, status).
pub fn legacy_epay_toml(orders: &[(&str, &str, &str, u8)]) -> String {
    // The same platform key as paybridge's: a migrating merchant keeps the platform public key.
    let mut toml = format!(
        "[legacy_sandbox]\nepay_platform_private_key = \"{}\"\n\
         [[legacy_sandbox.epay_merchants]]\npid = {PID}\nkey = \"{KEY}\"\npublic_key = \"{}\"\n",
        keys::PLATFORM_PRIVATE_KEY,
        keys::MERCHANT_PUBLIC_KEY,
    );
    for (trade_no, out_trade_no, money, status) in orders {
        toml.push_str(&format!(
            "[[legacy_sandbox.epay_orders]]\ntrade_no = \"{trade_no}\"\nout_trade_no = \"{out_trade_no}\"\n\
             pid = {PID}\nmoney = \"{money}\"\nstatus = {status}\n"
        ));
    }
    toml
}

/// The DaxPay sandbox's section: 3.0, HMAC-SHA256, quick callback retries, and the epay
/// merchant's own app beside the Jeepay merchants'.
pub fn sandbox_config() -> String {
    sandbox_toml("3.0", "hmac_sha256", &[]).replace(
        "[sandbox]\n",
        "[sandbox]\ncallback_retry_ms = [50, 100, 200]\n",
    ) + &format!(
        "[[sandbox.apps]]\nmch_no = \"{DAX_MCH}\"\napp_id = \"{DAX_APP_EPAY}\"\n\
         sign_type = \"hmac_sha256\"\nsecret = \"{}\"\n",
        crate::common::DAX_SECRET
    )
}

/// paybridge's configuration: the Jeepay merchants of `proxy_toml`, the epay merchant, the
/// platform key, notifications retried every `retry_step_ms` to loopback sites.
pub fn proxy_config(dax: SocketAddr, proxy: SocketAddr, retry_step_ms: u64) -> String {
    proxy_toml(dax, "3.0", "hmac_sha256", "", "").replace(
        "[server]\n",
        &format!("[server]\npublic_url = \"http://{proxy}\"\n"),
    ) + &epay_merchant_toml("")
        + &format!(
            "\n[epay]\nplatform_private_key = \"{}\"\n\n[notify]\nretry_step_ms = {retry_step_ms}\nallow_private_targets = true\n",
            keys::PLATFORM_PRIVATE_KEY
        )
}

/// Starts the world. `legacy`: seeded orders of a legacy epay gateway (`None`: no gateway);
/// `routes`: TOML appended to paybridge's configuration (`[routing]`, `[[routes]]`).
pub async fn world(legacy: Option<&[(&str, &str, &str, u8)]>, routes: &str) -> World {
    world_answering(legacy, routes, &["success"]).await
}

/// [`world`] with a merchant site answering notifications with `answers` in turn.
pub async fn world_answering(
    legacy: Option<&[(&str, &str, &str, u8)]>,
    routes: &str,
    answers: &[&'static str],
) -> World {
    world_with(legacy, routes, answers, 50).await
}

/// [`world_answering`] with paybridge's `[notify] retry_step_ms`.
pub async fn world_with(
    legacy: Option<&[(&str, &str, &str, u8)]>,
    routes: &str,
    answers: &[&'static str],
    retry_step_ms: u64,
) -> World {
    world_steered(legacy, routes, answers, retry_step_ms, &[])
        .await
        .0
}

/// [`world`] with paybridge reaching DaxPay through a steering relay whose calls on `steered`
/// paths wait for the test's decision (`common::steering`).
pub async fn world_through(steered: &[&'static str]) -> (World, Option<Relay>) {
    world_steered(None, "", &["success"], 50, steered).await
}

async fn world_steered(
    legacy: Option<&[(&str, &str, &str, u8)]>,
    routes: &str,
    answers: &[&'static str],
    retry_step_ms: u64,
    steered: &[&'static str],
) -> (World, Option<Relay>) {
    let (sb, sandbox) = start_sandbox(&sandbox_config()).await;
    let relay = match steered {
        [] => None,
        paths => Some(Relay::start(sb.addr, paths).await),
    };
    let dax = relay.as_ref().map_or(sb.addr, |r| r.addr);
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
    let toml = proxy_config(dax, proxy, retry_step_ms) + &legacy_upstream + routes;
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
    let world = World {
        proxy,
        sandbox,
        legacy,
        site: EpayMerchantSite::start(answers).await,
        _servers: servers,
    };
    (world, relay)
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
