//! The `paybridge` command line: `serve`, `sandbox`, `check`, `sign`, `route`, `verify`,
//! `reconcile`. `check` (`check.rs`) also connects to the stores unless `--offline`.
//!
//! The sandboxes are not part of this library: [`run`] takes them as [`Sides`], which the
//! binary implements with the `paybridge-sandbox` crate.

mod check;
mod output;
mod reconcile;
mod route;
mod sign;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::{Config, DEFAULT_PATH};
use crate::side::{SideService, Sides};

pub use route::{explain as explain_route, explain_identity as explain_route_for};

#[derive(Debug, Parser)]
#[command(
    name = "paybridge",
    version,
    about = "Serves the Jeepay/epay merchant API on top of DaxPay"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy (and the embedded DaxPay sandbox when the configuration has one).
    Serve(ConfigArg),
    /// Run only the DaxPay sandbox described in the configuration's [sandbox] section.
    Sandbox(ConfigArg),
    /// Validate a configuration, print a summary with secrets masked, and (unless --offline)
    /// connect to the order store and the Redis replay store to say what stops them working.
    Check(CheckArgs),
    /// Print the signature of a JSON object read on stdin.
    Sign(sign::SignArgs),
    /// Say which route rule a request matches, why, and what would be sent where.
    Route(route::RouteArgs),
    /// Check the signature of a request or answer read on stdin; say why it does not verify.
    Verify(verify::VerifyArgs),
    /// Compare the order store with DaxPay and report every difference (--repair: settle them).
    Reconcile(reconcile::ReconcileArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Only validate the configuration: connect to no store (for a build machine, or a
    /// start-up that must not wait for the database).
    #[arg(long)]
    pub offline: bool,
}

#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// Configuration file (TOML); PAYBRIDGE_<SECTION>__<KEY> variables override it.
    #[arg(long, env = "PAYBRIDGE_CONFIG", default_value = DEFAULT_PATH)]
    pub config: PathBuf,
}

/// Runs the command; the exit code says how it went (2: bad input or configuration). `sides`
/// are the services configured in the same file that `serve` runs beside the proxy and
/// `sandbox` runs alone.
pub fn run(cli: Cli, sides: &'static dyn Sides) -> ExitCode {
    match cli.command {
        Command::Sign(args) => sign::run(args),
        Command::Route(args) => route::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Reconcile(args) => reconcile::run(args),
        Command::Check(args) => run_check(args, sides),
        Command::Serve(arg) => match load(&arg.config, sides) {
            Ok((config, _)) => {
                init_tracing(&config.log_level, config.log_json);
                serve(Arc::new(config), arg.config.clone(), sides)
            }
            Err(e) => fail(&e),
        },
        Command::Sandbox(arg) => match load(&arg.config, sides) {
            Ok((config, _)) => {
                init_tracing(&config.log_level, config.log_json);
                standalone(&arg.config, sides)
            }
            Err(e) => fail(&e),
        },
    }
}

/// `paybridge check`: the configuration validated and summarised (exit 2 when it is not), then,
/// unless `--offline`, its stores tried (`check.rs`; exit 1, one line per problem on stderr).
fn run_check(args: CheckArgs, sides: &dyn Sides) -> ExitCode {
    let path = &args.config.config;
    let (config, side_summary) = match load(path, sides) {
        Ok(loaded) => loaded,
        Err(e) => return fail(&e),
    };
    output::emit(&format!(
        "{}{side_summary}configuration OK: {}\n",
        config.summary(),
        path.display()
    ));
    if args.offline {
        return ExitCode::SUCCESS;
    }
    let problems = match runtime() {
        Ok(rt) => rt.block_on(check::stores(&config)),
        Err(e) => return fail(&format!("cannot start the store checks: {e}")),
    };
    if problems.is_empty() {
        output::emit("stores OK\n");
        return ExitCode::SUCCESS;
    }
    for problem in &problems {
        eprintln!("paybridge: {}", crate::secret::redact_userinfo(problem));
    }
    eprintln!(
        "paybridge: {} store problem(s): serve would start but refuse every pay and refund \
         (and /readyz would say not ready)",
        problems.len()
    );
    ExitCode::from(1)
}

/// The proxy's configuration and the side services' summary, or the error naming the file.
fn load(path: &std::path::Path, sides: &dyn Sides) -> Result<(Config, String), String> {
    let config = Config::load(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let side_summary = sides
        .check(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((config, side_summary))
}

/// Prints `message` (any URL's user and password masked: a sandbox's or an I/O error may quote
/// one) and exits with 2.
fn fail(message: &str) -> ExitCode {
    eprintln!("paybridge: {}", crate::secret::redact_userinfo(message));
    ExitCode::from(2)
}

fn init_tracing(level: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colour codes only for a terminal: in a log file they cost time and bytes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        // The access line's own formatter: the same text, written for a fraction of the cost.
        builder
            .event_format(crate::telemetry::line::TextFormat::default())
            .try_init()
    };
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

fn serve(config: Arc<Config>, path: PathBuf, sides: &'static dyn Sides) -> ExitCode {
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            let mut bound = crate::app::bind(&config).await?;
            bound.side = sides.embedded(&path)?;
            if let Some(admin) = bound.admin_addr() {
                tracing::info!(listen = %admin, "admin listener serving");
            }
            tracing::info!(listen = %bound.proxy_addr()?, merchants = config.merchants.len(), "paybridge serving");
            crate::config::exposure::warn_at_start(&path, &config);
            let gateway = crate::proxy::Gateway::build(config.clone())
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            tokio::spawn(say_if_the_order_store_is_unusable(gateway.orders(), config.clone()));
            let reloader = crate::reload::Reloader::with_sides(path, gateway.clone(), sides);
            crate::app::run(gateway, bound, Some(reloader), crate::server::shutdown_signal()).await;
            Ok(())
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("cannot serve: {e}")),
    }
}

/// At start-up, the order store tried once (a PostgreSQL store connects lazily: a wrong
/// password would otherwise show only as refused payments) and its failure logged in the
/// server's own words. Serving goes on: the store may come back, and `/readyz` says not ready
/// meanwhile.
async fn say_if_the_order_store_is_unusable(
    orders: Option<crate::store::OrderStore>,
    config: Arc<Config>,
) {
    let Some(orders) = orders else { return };
    if let Err(error) = orders.probe().await {
        tracing::error!(
            store = %config.store.url,
            error = %crate::secret::redact_userinfo(&error.to_string()),
            "the order store cannot be used: pay and refund requests will be refused until it can \
             (paybridge check says why)"
        );
    }
}

/// `paybridge sandbox`: only the side services, until SIGINT or SIGTERM.
fn standalone(path: &std::path::Path, sides: &dyn Sides) -> ExitCode {
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            let services: Vec<SideService> = match sides.standalone(path) {
                Ok(services) => services,
                Err(e) => return Ok(Err(e)),
            };
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            let tasks: Vec<_> = services
                .into_iter()
                .map(|service| {
                    let mut rx = stop_rx.clone();
                    tokio::spawn(service(Box::pin(async move {
                        let _ = rx.wait_for(|stop| *stop).await;
                    })))
                })
                .collect();
            crate::server::shutdown_signal().await;
            let _ = stop_tx.send(true);
            for task in tasks {
                let _ = task.await;
            }
            Ok::<_, std::io::Error>(Ok(()))
        })
    });
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => fail(&e),
        Err(e) => fail(&format!("cannot serve the sandbox: {e}")),
    }
}
