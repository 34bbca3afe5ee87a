//! The world of the epay end-to-end tests: the DaxPay sandbox, paybridge serving a Jeepay
//! merchant and the epay merchant `1001` on one listener (its notifier running), optionally a
//! legacy epay gateway, and the epay merchant's own site for notifications and returns.
//!
//! The DaxPay side is 3.0 with HMAC-SHA256 unless a test asks for another ([`Dax`]): 3.0-beta
//! (an app without a merchant number) or 2.0 (one identity per server, so the Jeepay and the
//! epay merchant share it, each with its `order_prefix`, as docs/configuration.md says).

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

/// The DaxPay a world runs: its version and the app's (2.0: the platform's) sign type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dax {
    pub version: &'static str,
    pub sign_type: &'static str,
}

impl Dax {
    pub const V30: Dax = Dax {
        version: "3.0",
        sign_type: "hmac_sha256",
    };

    pub fn new(version: &'static str, sign_type: &'static str) -> Dax {
        Dax { version, sign_type }
    }

    /// DaxPay 2.0 has one identity per server: merchants on it share it, with prefixes.
    pub fn shared(self) -> bool {
        self.version == "2.0"
    }
}

/// On 2.0 (one identity): the prefix of the epay merchant's DaxPay `bizOrderNo`s.
pub const EPAY_ORDER_PREFIX: &str = "EP-";
/// On 2.0: the Jeepay merchant's.
pub const JEEPAY_ORDER_PREFIX: &str = "JP-";

/// Everything one test needs, stopped when dropped.
pub struct World {
    pub proxy: SocketAddr,
    pub sandbox: Sandbox,
    pub legacy: Option<LegacySandbox>,
    pub site: EpayMerchantSite,
    pub dax: Dax,
    /// paybridge's order store.
    pub orders: paybridge::store::OrderStore,
    _servers: Vec<Running>,
}

impl World {
    pub fn client(&self) -> EpayClient {
        super::client(self.proxy)
    }

    /// DaxPay's `bizOrderNo` for the epay merchant's `out_trade_no`.
    pub fn biz_order_no(&self, out_trade_no: &str) -> String {
        match self.dax.shared() {
            true => format!("{EPAY_ORDER_PREFIX}{out_trade_no}"),
            false => out_trade_no.to_owned(),
        }
    }
}

/// The `[[merchants]]` entry of the epay merchant, as the issue fixes its keys.
pub fn epay_merchant_toml(extra: &str) -> String {
    epay_merchant_toml_on(Dax::V30, extra)
}

/// The DaxPay identity of the epay merchant on `dax`: its own app on 3.0 and 3.0-beta; on 2.0
/// the server's one identity, shared with the Jeepay merchant.
fn epay_identity(dax: Dax) -> String {
    match dax.version {
        "3.0" => format!("mch_no = \"{DAX_MCH}\"\napp_id = \"{DAX_APP_EPAY}\"\n"),
        "3.0-beta" => format!("app_id = \"{DAX_APP_EPAY}\"\n"),
        _ => format!("shared = true\norder_prefix = \"{EPAY_ORDER_PREFIX}\"\n"),
    }
}

/// [`epay_merchant_toml`] for a merchant on `dax`.
pub fn epay_merchant_toml_on(dax: Dax, extra: &str) -> String {
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
{identity}"#,
        pubkey = keys::MERCHANT_PUBLIC_KEY,
        identity = epay_identity(dax),
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
    sandbox_config_on(Dax::V30)
}

/// [`sandbox_config`] for `dax` (2.0: one identity, no app of the epay merchant's own).
pub fn sandbox_config_on(dax: Dax) -> String {
    let base = sandbox_toml(dax.version, dax.sign_type, &[]).replace(
        "[sandbox]\n",
        "[sandbox]\ncallback_retry_ms = [50, 100, 200]\n",
    );
    let identity = match dax.version {
        "3.0" => format!("mch_no = \"{DAX_MCH}\"\napp_id = \"{DAX_APP_EPAY}\"\n"),
        "3.0-beta" => format!("app_id = \"{DAX_APP_EPAY}\"\n"),
        _ => return base,
    };
    base + &format!(
        "[[sandbox.apps]]\n{identity}sign_type = \"{}\"\nsecret = \"{}\"\n",
        dax.sign_type,
        crate::common::DAX_SECRET
    )
}

/// paybridge's configuration: the Jeepay merchants of `proxy_toml`, the epay merchant, the
/// platform key, notifications retried every `retry_step_ms` to loopback sites.
pub fn proxy_config(dax: SocketAddr, proxy: SocketAddr, retry_step_ms: u64) -> String {
    proxy_config_on(Dax::V30, dax, proxy, retry_step_ms)
}

/// [`proxy_config`] for a DaxPay `on` at `dax`. On 2.0 the Jeepay merchant shares the one
/// identity too, with its own prefix.
pub fn proxy_config_on(on: Dax, dax: SocketAddr, proxy: SocketAddr, retry_step_ms: u64) -> String {
    proxy_config_with(on, dax, proxy, retry_step_ms, "")
}

/// [`proxy_config_on`] with `merchant` added to the epay merchant's entry
/// (`epay_way_codes = …`, `notify_hosts = …`).
fn proxy_config_with(
    on: Dax,
    dax: SocketAddr,
    proxy: SocketAddr,
    retry_step_ms: u64,
    merchant: &str,
) -> String {
    let mut jeepay = proxy_toml(dax, on.version, on.sign_type, "", "").replace(
        "[server]\n",
        &format!("[server]\npublic_url = \"http://{proxy}\"\n"),
    );
    if on.shared() {
        jeepay = jeepay.replacen(
            "[merchants.daxpay]\nupstream = \"dax\"\n",
            &format!(
                "[merchants.daxpay]\nupstream = \"dax\"\nshared = true\norder_prefix = \"{JEEPAY_ORDER_PREFIX}\"\n"
            ),
            1,
        );
    }
    jeepay
        + &epay_merchant_toml_on(on, merchant)
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
    Setup {
        legacy,
        routes,
        answers,
        retry_step_ms,
        ..Setup::default()
    }
    .start()
    .await
    .0
}

/// [`world`] with paybridge reaching DaxPay through a steering relay whose calls on `steered`
/// paths wait for the test's decision (`common::steering`).
pub async fn world_through(steered: &[&'static str]) -> (World, Option<Relay>) {
    Setup {
        steered,
        ..Setup::default()
    }
    .start()
    .await
}

/// [`world`] on another DaxPay, its settlement worker running (checks from 50 ms on).
pub async fn world_on(dax: Dax) -> World {
    Setup {
        dax,
        settlement: true,
        ..Setup::default()
    }
    .start()
    .await
    .0
}

/// The settlement worker checking every open row from 50 ms after it was written, backing off
/// to 200 ms.
pub const FAST_SETTLEMENT: &str =
    "\n[settlement]\nfirst_check_after_ms = 50\nmax_interval_ms = 200\npoll_ms = 20\n";

/// Everything a world can be made of (`Setup { …, ..Setup::default() }.start()`).
pub struct Setup<'a> {
    pub dax: Dax,
    /// Seeded orders of a legacy epay gateway (`None`: no gateway).
    pub legacy: Option<&'a [(&'a str, &'a str, &'a str, u8)]>,
    /// TOML appended to paybridge's configuration (`[routing]`, `[[routes]]`, …).
    pub routes: &'a str,
    /// The merchant site's answers, in turn.
    pub answers: &'a [&'static str],
    pub retry_step_ms: u64,
    /// DaxPay paths whose calls a steering relay holds for the test.
    pub steered: &'a [&'static str],
    /// Whether the settlement worker runs ([`FAST_SETTLEMENT`] unless `routes` has its own).
    pub settlement: bool,
    /// Lines added to the epay merchant's `[[merchants]]` entry.
    pub merchant: &'a str,
}

impl Default for Setup<'_> {
    fn default() -> Self {
        Setup {
            dax: Dax::V30,
            legacy: None,
            routes: "",
            answers: &["success"],
            retry_step_ms: 50,
            steered: &[],
            settlement: false,
            merchant: "",
        }
    }
}

impl Setup<'_> {
    pub async fn start(self) -> (World, Option<Relay>) {
        let (sb, sandbox) = start_sandbox(&sandbox_config_on(self.dax)).await;
        let relay = match self.steered {
            [] => None,
            paths => Some(Relay::start(sb.addr, paths).await),
        };
        let dax = relay.as_ref().map_or(sb.addr, |r| r.addr);
        let mut servers = vec![sb];
        let (legacy_upstream, legacy) = match self.legacy {
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
        let mut toml = proxy_config_with(self.dax, dax, proxy, self.retry_step_ms, self.merchant)
            + &legacy_upstream
            + self.routes;
        if self.settlement && !self.routes.contains("[settlement]") {
            toml.push_str(FAST_SETTLEMENT);
        }
        let config = Arc::new(
            paybridge::config::Config::from_toml(&toml)
                .unwrap_or_else(|e| panic!("valid configuration ({e}):\n{toml}")),
        );
        let gateway = paybridge::proxy::Gateway::new(config.clone());
        gateway.start_notifier();
        if self.settlement {
            gateway.start_settlement();
        }
        let orders = gateway.orders().expect("an order store");
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
            site: EpayMerchantSite::start(self.answers).await,
            dax: self.dax,
            orders,
            _servers: servers,
        };
        (world, relay)
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
