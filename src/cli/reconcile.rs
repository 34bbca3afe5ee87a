//! `paybridge reconcile`: compares the order store with DaxPay (`crate::settle::reconcile`) and
//! prints every difference, as a table or as JSON, with a progress bar on a terminal; `--repair`
//! settles what can be settled. Exit code 1 when differences remain, 2 on bad input.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::config::{Config, DEFAULT_PATH};
use crate::proxy::Runtime;
use crate::settle::reconcile::{reconcile, table, Scope};

#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// Configuration file (TOML), as for `serve`: its order store and DaxPay upstreams.
    #[arg(long, env = "PAYBRIDGE_CONFIG", default_value = DEFAULT_PATH)]
    pub config: PathBuf,
    /// Rows written at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00+08:00). Without
    /// --from and --to: every row whose settlement is not final.
    #[arg(long)]
    pub from: Option<String>,
    /// Rows written before this time (RFC 3339; default: now).
    #[arg(long)]
    pub to: Option<String>,
    /// Settle what can be settled: rows final at DaxPay learn it, and the merchants'
    /// notifications owed are queued.
    #[arg(long)]
    pub repair: bool,
    /// The report as JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ReconcileArgs) -> ExitCode {
    let scope = match scope(args.from.as_deref(), args.to.as_deref()) {
        Ok(scope) => scope,
        Err(e) => return fail(&e),
    };
    let config = match Config::load(&args.config) {
        Ok(config) => Arc::new(config),
        Err(e) => return fail(&format!("{}: {e}", args.config.display())),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start: {e}")),
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let report = runtime.block_on(async {
        let rt = Runtime::new(config);
        reconcile(&rt, scope, args.repair, |done, total| {
            if let Some(bar) = &bar {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
        })
        .await
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = match report {
        Ok(report) => report,
        Err(e) => return fail(&e.to_string()),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", table(&report));
    }
    if report.remaining() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints `message` (any URL's password masked) and exits with 2.
fn fail(message: &str) -> ExitCode {
    eprintln!("paybridge: {}", crate::secret::redact_userinfo(message));
    ExitCode::from(2)
}

fn scope(from: Option<&str>, to: Option<&str>) -> Result<Scope, String> {
    let at = |name: &str, text: &str| {
        OffsetDateTime::parse(text, &Rfc3339)
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
            .map_err(|e| format!("--{name} {text:?} is not an RFC 3339 time: {e}"))
    };
    Ok(match (from, to) {
        (None, None) => Scope::NotFinal,
        (from, to) => Scope::Written {
            from_ms: from.map(|t| at("from", t)).transpose()?.unwrap_or(0),
            to_ms: to
                .map(|t| at("to", t))
                .transpose()?
                .unwrap_or_else(crate::notify::now_ms),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_window_is_everything_not_final_and_a_bad_time_is_refused() {
        assert_eq!(scope(None, None), Ok(Scope::NotFinal));
        assert_eq!(
            scope(
                Some("2026-12-01T00:00:00+08:00"),
                Some("2026-12-02T00:00:00Z")
            ),
            Ok(Scope::Written {
                from_ms: 1_796_054_400_000,
                to_ms: 1_796_169_600_000
            })
        );
        let err = scope(Some("yesterday"), None).unwrap_err();
        assert!(err.contains("--from"), "{err}");
    }
}
