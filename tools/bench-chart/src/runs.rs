//! The measurements: `scripts/bench`'s results.csv read into one [`Run`] per (path,
//! connections), the median of its rounds.

use std::collections::BTreeMap;

use crate::fail;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Run {
    pub(crate) rps: f64,
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) p999: f64,
    pub(crate) max: f64,
    pub(crate) non_2xx: u64,
    pub(crate) errors: u64,
    pub(crate) peak_rss_kib: f64,
    /// CPU time per request of paybridge and of the upstream process (µs), and how busy each
    /// core was (%): optional columns.
    pub(crate) proxy_cpu_us: Option<f64>,
    pub(crate) upstream_cpu_us: Option<f64>,
    pub(crate) cpu0: Option<f64>,
    pub(crate) cpu1: Option<f64>,
}

/// (path, connections) → run.
pub(crate) fn parse(text: &str) -> BTreeMap<(String, u32), Run> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| fail(&format!("no column {name}")))
    };
    let (path, conns) = (col("path"), col("connections"));
    let cols = [
        col("rps"),
        col("p50_us"),
        col("p99_us"),
        col("p999_us"),
        col("max_us"),
        col("non_2xx"),
        col("socket_errors"),
        col("peak_rss_kib"),
    ];
    let optional = |name: &str| header.iter().position(|h| *h == name);
    let extra = [
        optional("proxy_cpu_us_per_req"),
        optional("upstream_cpu_us_per_req"),
        optional("cpu0_busy_pct"),
        optional("cpu1_busy_pct"),
    ];
    let mut rounds: BTreeMap<(String, u32), Vec<Run>> = BTreeMap::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        let opt = |i: Option<usize>| i.and_then(|i| f.get(i)).and_then(|v| v.parse::<f64>().ok());
        let run = Run {
            rps: num(cols[0]),
            p50: num(cols[1]),
            p99: num(cols[2]),
            p999: num(cols[3]),
            max: num(cols[4]),
            non_2xx: num(cols[5]) as u64,
            errors: num(cols[6]) as u64,
            peak_rss_kib: num(cols[7]),
            proxy_cpu_us: opt(extra[0]),
            upstream_cpu_us: opt(extra[1]),
            cpu0: opt(extra[2]),
            cpu1: opt(extra[3]),
        };
        let c = f.get(conns).and_then(|v| v.parse().ok()).unwrap_or(0);
        rounds.entry((f[path].to_owned(), c)).or_default().push(run);
    }
    rounds
        .into_iter()
        .map(|(key, runs)| (key, median(&runs)))
        .collect()
}

/// Several rounds of one (path, connections) summarised: each figure's median (errors summed,
/// the highest peak memory), so that one disturbed round does not decide a comparison.
pub(crate) fn median(runs: &[Run]) -> Run {
    let middle = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => None,
            n if n % 2 == 1 => Some(v[n / 2]),
            n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
        }
    };
    let mid = |pick: fn(&Run) -> f64| middle(runs.iter().map(pick).collect()).unwrap_or(0.0);
    let mid_opt = |pick: fn(&Run) -> Option<f64>| middle(runs.iter().filter_map(pick).collect());
    Run {
        rps: mid(|r| r.rps),
        p50: mid(|r| r.p50),
        p99: mid(|r| r.p99),
        p999: mid(|r| r.p999),
        max: runs.iter().map(|r| r.max).fold(0.0, f64::max),
        non_2xx: runs.iter().map(|r| r.non_2xx).sum(),
        errors: runs.iter().map(|r| r.errors).sum(),
        peak_rss_kib: runs.iter().map(|r| r.peak_rss_kib).fold(0.0, f64::max),
        proxy_cpu_us: mid_opt(|r| r.proxy_cpu_us),
        upstream_cpu_us: mid_opt(|r| r.upstream_cpu_us),
        cpu0: mid_opt(|r| r.cpu0),
        cpu1: mid_opt(|r| r.cpu1),
    }
}

pub(crate) fn levels(runs: &BTreeMap<(String, u32), Run>) -> Vec<u32> {
    let mut l: Vec<u32> = runs.keys().map(|(_, c)| *c).collect();
    l.sort_unstable();
    l.dedup();
    l
}
