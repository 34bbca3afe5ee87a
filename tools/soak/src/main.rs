//! A bounded soak of the release `paybridge serve` binary, on 127.0.0.1 only.
//!
//! Two modes: this one (closes and cancels under load, every answer predicted exactly), and
//! `paybridge-soak lifecycle …` ([`lifecycle`]: the whole payment lifecycle under faults and
//! kill -9, judged against the DaxPay sandbox's ground truth; `scripts/soak-lifecycle`).
//!
//! ```sh
//! scripts/soak [SECONDS] [CONCURRENCY]          # builds, then runs this; default 60 s, 64
//! cargo run --release -p paybridge-soak -- [SECONDS] [CONCURRENCY]
//! target/release/paybridge-soak [SECONDS] [CONCURRENCY]
//! ```
//!
//! It writes a configuration under `target/soak/`, starts `paybridge serve` on it as a child
//! process (embedded DaxPay and legacy Jeepay sandboxes, a DaxPay upstream on a dead port, a
//! DaxPay upstream played here that answers too late), and drives it with `CONCURRENCY` workers
//! for `SECONDS`: valid closes and cancels (JSON, form and query string) of orders whose state
//! it models, closes of unknown orders, fallbacks to the legacy gateway, duplicates of earlier
//! requests (sequential and concurrent), invalid requests of every kind, passthrough requests
//! and requests that hit the faulty upstreams. Every answer is checked byte for byte against the
//! answer predicted independently of paybridge (status, body, `x-paybridge-replay`); anything
//! else is a wrong answer.
//!
//! It prints requests sent and answered, outcomes by kind, client-side errors, wrong answers,
//! the child's resident memory (VmRSS) after warm-up and at the end, open descriptors,
//! throughput, a few of paybridge's own counters, and how the child shut down on SIGTERM.
//! Exit status 1 when a request was answered wrongly or not at all, when RSS grew by more than
//! 20 % after warm-up or was still growing over the second half of the run (more than 3 % of the
//! baseline), when paybridge's own request or replay counts disagree with the driver's, when
//! paybridge panicked, shed load it should not have, or did not exit 0 on SIGTERM.
//! docs/reliability.md describes the mix and records runs.
//!
//! Environment: `SOAK_ORDERS` (DaxPay sandbox orders, default 20000), `SOAK_REPLAY_MAX_ENTRIES`
//! (replay store size, default 20000: small enough to be full, and evicting, after warm-up),
//! `SOAK_BIN` (the paybridge binary, default `target/release/paybridge`), `SOAK_SCRAPE_SECS`
//! (scrape the admin listener's `/metrics` every N s during the run, as Prometheus would;
//! default: only during warm-up and at the end).
//!
//! Modules: `cli` (options, ports), `cast` (merchants, limits, fault messages), `config` (the
//! configuration paybridge runs on), `child` (the child process), `requests` (signing, bodies),
//! `model` (orders, expectations), `driver` (client, pools, the check of an answer), `mix` (the
//! request mix and its workers), `invalid` (requests to refuse), `slow` (the slow upstream),
//! `run` (the load and the sampling), `stats` and `report` (the figures and the verdict).

use std::io::Read as _;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod cast;
mod child;
mod cli;
mod config;
mod driver;
mod invalid;
mod lifecycle;
mod mix;
mod model;
mod report;
mod requests;
mod run;
mod slow;
mod stats;

use cast::{IN_FLIGHT_MARGIN, LEGACY_ORDERS};
use child::start_child;
use cli::{env_number, free_port, options, Ports};
use config::config_toml;
use report::Report;
use run::soak;
use slow::slow_upstream;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("lifecycle") {
        return lifecycle::main(&args[1..]);
    }
    let o = options();
    if let Err(e) = std::fs::create_dir_all(&o.dir) {
        eprintln!("cannot create {}: {e}", o.dir.display());
        return ExitCode::from(2);
    }
    if !o.bin.is_file() {
        eprintln!(
            "{} is missing: run `cargo build --release --bin paybridge` (scripts/soak does)",
            o.bin.display()
        );
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tokio: {e}");
            return ExitCode::from(2);
        }
    };
    // The slow upstream is ours: bound first, so its port cannot be taken.
    let slow_listener = match runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot bind the slow upstream: {e}");
            return ExitCode::from(2);
        }
    };
    let mut picked = Vec::new();
    while picked.len() < 5 {
        let p = free_port();
        if !picked.contains(&p) {
            picked.push(p);
        }
    }
    let ports = Ports {
        proxy: picked[0],
        admin: picked[1],
        daxpay: picked[2],
        legacy: picked[3],
        dead: picked[4],
        slow: slow_listener.local_addr().map(|a| a.port()).unwrap_or(0),
    };
    let config_path = o.dir.join("paybridge.toml");
    let config = config_toml(&o, &ports);
    if let Err(e) = std::fs::write(&config_path, &config) {
        eprintln!("cannot write {}: {e}", config_path.display());
        return ExitCode::from(2);
    }
    let mut report = Report {
        ok: true,
        lines: Vec::new(),
    };
    report.line(format!(
        "paybridge soak, {}: {} s at {} connections, 127.0.0.1 only",
        time_stamp(),
        o.duration.as_secs(),
        o.concurrency
    ));
    report.line(format!(
        "machine: {} CPUs ({}), {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        kernel()
    ));
    report.line(format!(
        "configuration: {} ({:.1} MiB: {} DaxPay sandbox orders, {} legacy orders, replay store {} entries, max_in_flight {})",
        config_path.display(),
        config.len() as f64 / 1_048_576.0,
        o.orders,
        2 * LEGACY_ORDERS + 4,
        o.replay_max_entries,
        o.concurrency + IN_FLIGHT_MARGIN
    ));
    let scrape = env_number("SOAK_SCRAPE_SECS", 0);
    report.line(if scrape > 0 {
        format!("admin /metrics scraped every {scrape} s during the run (SOAK_SCRAPE_SECS)")
    } else {
        "admin /metrics read only during warm-up and at the end (SOAK_SCRAPE_SECS unset)".to_owned()
    });
    drop(config);
    let mut guard = match start_child(&o, &config_path) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("cannot start {}: {e}", o.bin.display());
            return ExitCode::from(2);
        }
    };
    let slow_seen = Arc::new(AtomicU64::new(0));
    let slow_task = runtime.spawn(slow_upstream(slow_listener, slow_seen.clone()));
    // Interrupted (Ctrl-C, or SIGTERM from `timeout`): the guard kills paybridge on the way out.
    let interrupted = runtime.block_on(async {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            () = soak(&o, &ports, &mut guard, &mut report) => false,
            _ = tokio::signal::ctrl_c() => true,
            () = terminate => true,
        }
    });
    if interrupted {
        eprintln!("interrupted: stopping paybridge");
        drop(guard);
        return ExitCode::from(130);
    }
    report.line(format!(
        "slow upstream: {} connections accepted (close and query, each timed out by paybridge)",
        slow_seen.load(Ordering::Relaxed)
    ));
    if let Some(status) = guard.exited() {
        report.fail(format!("paybridge exited during the run: {status}"));
    } else {
        match guard.terminate(Duration::from_secs(15)) {
            Some((status, took)) if status.success() => report.line(format!(
                "shutdown: SIGTERM → exited 0 in {} ms",
                took.as_millis()
            )),
            Some((status, took)) => report.fail(format!(
                "shutdown: SIGTERM → {status} after {} ms",
                took.as_millis()
            )),
            None => report.fail("shutdown: still running 15 s after SIGTERM (killed)"),
        }
    }
    slow_task.abort();
    let log_path = o.dir.join("paybridge.log");
    let mut log = String::new();
    let _ = std::fs::File::open(&log_path).and_then(|mut f| f.read_to_string(&mut log));
    let panics = log.lines().filter(|l| l.contains("panicked")).count();
    let errors = log.lines().filter(|l| l.contains("ERROR")).count();
    let warnings = log.lines().filter(|l| l.contains("WARN")).count();
    report.line(format!(
        "paybridge log ({}): {} lines, {warnings} WARN, {errors} ERROR, {panics} panics",
        log_path.display(),
        log.lines().count()
    ));
    if panics > 0 {
        report.fail("paybridge panicked (see its log)");
    }
    drop(guard);
    report.line(if report.ok {
        "verdict: PASS".to_owned()
    } else {
        "verdict: FAIL".to_owned()
    });
    let _ = std::fs::write(o.dir.join("report.txt"), report.lines.join("\n") + "\n");
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn time_stamp() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| format!("Linux {}", k.trim()))
        .unwrap_or_default()
}
