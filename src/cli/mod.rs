//! The `paybridge` command line: `serve`, `sandbox`, `check`, `sign`.

mod sign;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::{Config, DEFAULT_PATH};

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
    /// Validate a configuration and print a summary with secrets masked.
    Check(ConfigArg),
    /// Print the signature of a JSON object read on stdin.
    Sign(sign::SignArgs),
}

#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// Configuration file (TOML); PAYBRIDGE_<SECTION>__<KEY> variables override it.
    #[arg(long, env = "PAYBRIDGE_CONFIG", default_value = DEFAULT_PATH)]
    pub config: PathBuf,
}

/// Runs the command; the exit code says how it went (2: bad input or configuration).
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Sign(args) => sign::run(args),
        Command::Check(arg) => match Config::load(&arg.config) {
            Ok(config) => {
                print!("{}", config.summary());
                println!("configuration OK: {}", arg.config.display());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&format!("{}: {e}", arg.config.display())),
        },
        Command::Serve(arg) => with_config(&arg, serve),
        Command::Sandbox(arg) => with_config(&arg, sandbox),
    }
}

fn with_config(arg: &ConfigArg, then: fn(Arc<Config>) -> ExitCode) -> ExitCode {
    match Config::load(&arg.config) {
        Ok(config) => {
            init_tracing(&config.log_level);
            then(Arc::new(config))
        }
        Err(e) => fail(&format!("{}: {e}", arg.config.display())),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("paybridge: {message}");
    ExitCode::from(2)
}

fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

fn serve(config: Arc<Config>) -> ExitCode {
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            let bound = crate::app::bind(&config).await?;
            tracing::info!(listen = %bound.proxy_addr()?, merchants = config.merchants.len(), "paybridge serving");
            if let Some((listener, _)) = &bound.sandbox {
                tracing::info!(listen = %listener.local_addr()?, "embedded DaxPay sandbox serving");
            }
            crate::app::run(config, bound, crate::server::shutdown_signal()).await;
            Ok(())
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("cannot serve: {e}")),
    }
}

fn sandbox(config: Arc<Config>) -> ExitCode {
    let Some(sb) = config.sandbox.clone() else {
        return fail("the configuration has no [sandbox] section");
    };
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind(sb.listen).await?;
            tracing::info!(listen = %listener.local_addr()?, version = %sb.version, "DaxPay sandbox serving");
            crate::sandbox::run(listener, crate::sandbox::Sandbox::new(&sb), crate::server::shutdown_signal()).await;
            Ok(())
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("cannot serve the sandbox: {e}")),
    }
}
