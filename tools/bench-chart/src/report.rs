//! The markdown report: tables per path and level, the ratios measured in the same run, and
//! pass/fail against the targets.

use std::collections::BTreeMap;

use crate::runs::{levels, Run};
use crate::PATHS;

/// Targets, from the performance issue (2 cores).
pub(crate) const MIN_THROUGHPUT_RATIO: f64 = 0.85;
pub(crate) const RATIO_LEVELS: [u32; 2] = [16, 64];
pub(crate) const LATENCY_LEVEL: u32 = 16;
pub(crate) const MAX_ADDED_P50_US: f64 = 25.0;
pub(crate) const MAX_ADDED_P99_US: f64 = 100.0;
pub(crate) const MAX_IDLE_RSS_MIB: f64 = 30.0;

pub(crate) fn verdict(ok: bool) -> &'static str {
    if ok {
        "**pass**"
    } else {
        "**FAIL**"
    }
}

pub(crate) fn report(runs: &BTreeMap<(String, u32), Run>, idle: Option<&str>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let levels = levels(runs);
    let get = |path: &str, c: u32| runs.get(&(path.to_owned(), c)).copied();

    let _ = writeln!(out, "### Throughput, latency and memory per path\n");
    let _ = writeln!(
        out,
        "| path | connections | requests/s | p50 µs | p99 µs | p99.9 µs | max µs | peak RSS MiB | CPU µs/request paybridge · upstream | busy CPU 0 · CPU 1 | non-2xx / socket errors |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let show = |v: Option<f64>, digits: usize| {
        v.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
    };
    for &c in &levels {
        for path in PATHS {
            if let Some(r) = get(path, c) {
                let proxy = if path == "direct" {
                    "-".to_owned()
                } else {
                    show(r.proxy_cpu_us, 1)
                };
                let _ = writeln!(
                    out,
                    "| {path} | {c} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} | {proxy} · {} | {} % · {} % | {} / {} |",
                    r.rps,
                    r.p50,
                    r.p99,
                    r.p999,
                    r.max,
                    r.peak_rss_kib / 1024.0,
                    show(r.upstream_cpu_us, 1),
                    show(r.cpu0, 0),
                    show(r.cpu1, 0),
                    r.non_2xx,
                    r.errors
                );
            }
        }
    }

    let _ = writeln!(
        out,
        "\n### Translate against passthrough (same run)\n\n| connections | translate / passthrough throughput | added p50 µs | added p99 µs | added p99.9 µs | added paybridge CPU µs/request | passthrough / direct throughput |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|");
    for &c in &levels {
        let (Some(t), Some(p)) = (get("translate", c), get("passthrough", c)) else {
            continue;
        };
        let direct = get("direct", c)
            .map(|d| format!("{:.1} %", 100.0 * p.rps / d.rps))
            .unwrap_or_else(|| "-".to_owned());
        let cpu = match (t.proxy_cpu_us, p.proxy_cpu_us) {
            (Some(t), Some(p)) => format!("{:+.1}", t - p),
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {c} | {:.1} % | {:+.0} | {:+.0} | {:+.0} | {cpu} | {direct} |",
            100.0 * t.rps / p.rps,
            t.p50 - p.p50,
            t.p99 - p.p99,
            t.p999 - p.p999
        );
    }

    let paced = |path: &str| {
        runs.iter()
            .find(|((p, _), _)| p == &format!("{path}-paced"))
            .map(|((_, c), r)| (*c, *r))
    };
    if let (Some((c, t)), Some((_, p))) = (paced("translate"), paced("passthrough")) {
        let _ = writeln!(
            out,
            "\n### Paced load: {c} connections on a schedule, well below saturation\n\n| path | requests/s | p50 µs | p99 µs | p99.9 µs | max µs | non-2xx / socket errors |\n|---|---:|---:|---:|---:|---:|---:|"
        );
        for (path, r) in [("passthrough", p), ("translate", t)] {
            let _ = writeln!(
                out,
                "| {path} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} / {} |",
                r.rps, r.p50, r.p99, r.p999, r.max, r.non_2xx, r.errors
            );
        }
        let _ = writeln!(
            out,
            "\nAdded by translation: p50 {:+.0} µs, p99 {:+.0} µs, p99.9 {:+.0} µs.",
            t.p50 - p.p50,
            t.p99 - p.p99,
            t.p999 - p.p999
        );
    }

    let _ = writeln!(
        out,
        "\n### Targets\n\n| target | measured | verdict |\n|---|---:|---|"
    );
    for c in RATIO_LEVELS {
        if let (Some(t), Some(p)) = (get("translate", c), get("passthrough", c)) {
            let ratio = t.rps / p.rps;
            let _ = writeln!(
                out,
                "| translate throughput ≥ {:.0} % of passthrough at {c} connections | {:.1} % | {} |",
                100.0 * MIN_THROUGHPUT_RATIO,
                100.0 * ratio,
                verdict(ratio >= MIN_THROUGHPUT_RATIO)
            );
        }
    }
    let latency_runs = [
        (
            "paced",
            paced("translate").filter(|(c, _)| *c == LATENCY_LEVEL),
            paced("passthrough").filter(|(c, _)| *c == LATENCY_LEVEL),
        ),
        (
            "saturated",
            get("translate", LATENCY_LEVEL).map(|r| (LATENCY_LEVEL, r)),
            get("passthrough", LATENCY_LEVEL).map(|r| (LATENCY_LEVEL, r)),
        ),
    ];
    for (load, t, p) in latency_runs {
        let (Some((_, t)), Some((_, p))) = (t, p) else {
            continue;
        };
        let _ = writeln!(
            out,
            "| added p50 ≤ {MAX_ADDED_P50_US:.0} µs at {LATENCY_LEVEL} connections, {load} | {:+.0} µs | {} |",
            t.p50 - p.p50,
            verdict(t.p50 - p.p50 <= MAX_ADDED_P50_US)
        );
        let _ = writeln!(
            out,
            "| added p99 ≤ {MAX_ADDED_P99_US:.0} µs at {LATENCY_LEVEL} connections, {load} | {:+.0} µs | {} |",
            t.p99 - p.p99,
            verdict(t.p99 - p.p99 <= MAX_ADDED_P99_US)
        );
    }
    let errors: u64 = runs.values().map(|r| r.non_2xx + r.errors).sum();
    let _ = writeln!(
        out,
        "| no non-2xx answers or socket errors | {errors} | {} |",
        verdict(errors == 0)
    );
    if let Some(idle) = idle {
        let kv: BTreeMap<&str, &str> = idle
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        let kib = |k: &str| kv.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        let rss = kib("rss_idle_kib").max(kib("rss_after_hold_kib")) / 1024.0;
        let _ = writeln!(
            out,
            "| resident memory ≤ {MAX_IDLE_RSS_MIB:.0} MiB with 1,000 idle keep-alive connections | {rss:.1} MiB | {} |",
            verdict(rss <= MAX_IDLE_RSS_MIB && kib("connections") >= 1000.0)
        );
        let _ = writeln!(
            out,
            "\nIdle connections (fresh paybridge, one translated close per connection, then idle): {} connections, RSS {:.1} MiB before, {:.1} MiB once idle, {:.1} MiB after {} s more (peak {:.1} MiB); {} still open at the end.",
            kv.get("connections").unwrap_or(&"?"),
            kib("rss_before_kib") / 1024.0,
            kib("rss_idle_kib") / 1024.0,
            kib("rss_after_hold_kib") / 1024.0,
            kv.get("hold_s").unwrap_or(&"?"),
            kib("peak_rss_kib") / 1024.0,
            kv.get("still_open").unwrap_or(&"?"),
        );
    }
    out
}
