//! Options (arguments and environment) and the loopback ports of a run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cast::RING;

pub(crate) struct Options {
    pub(crate) duration: Duration,
    pub(crate) concurrency: usize,
    pub(crate) orders: usize,
    pub(crate) replay_max_entries: usize,
    pub(crate) bin: PathBuf,
    pub(crate) dir: PathBuf,
}

pub(crate) fn usage() -> ! {
    eprintln!("usage: paybridge-soak [SECONDS (default 60)] [CONCURRENCY (default 64)]");
    std::process::exit(2)
}

pub(crate) fn env_number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("{name} must be a number, not {v:?}");
            std::process::exit(2)
        }),
        Err(_) => default,
    }
}

pub(crate) fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() > 2 || args.iter().any(|a| a.starts_with('-')) {
        usage();
    }
    let number = |i: usize, default: u64| -> u64 {
        args.get(i).map_or(default, |a| match a.parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => usage(),
        })
    };
    // The workspace root (this package is tools/soak): paybridge's target/ is there.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tools/soak sits two levels below the workspace root")
        .to_path_buf();
    Options {
        duration: Duration::from_secs(number(0, 60)),
        concurrency: number(1, 64) as usize,
        orders: env_number("SOAK_ORDERS", 20_000).max(10),
        replay_max_entries: env_number("SOAK_REPLAY_MAX_ENTRIES", 20_000).max(RING * 4),
        bin: std::env::var_os("SOAK_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/release/paybridge")),
        dir: root.join("target/soak"),
    }
}

/// A loopback port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub(crate) struct Ports {
    pub(crate) proxy: u16,
    pub(crate) admin: u16,
    pub(crate) daxpay: u16,
    pub(crate) legacy: u16,
    pub(crate) dead: u16,
    pub(crate) slow: u16,
}
