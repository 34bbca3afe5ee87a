//! Turns `scripts/bench`'s measurements into the report: markdown tables (per path and level,
//! ratios measured in the same run, pass/fail against the targets) on stdout, and a chart of
//! latency against concurrency for the three paths (PNG, drawn with plotters). A (path,
//! connections) measured in several rounds is reported by the median of each figure.
//!
//! ```text
//! bench_chart --csv target/bench/results.csv [--idle target/bench/idle.txt] [--png OUT.png]
//! ```
//!
//! The chart needs a TrueType font: DejaVu Sans from /usr/share/fonts (Debian's fonts-dejavu-core)
//! or the file named by `BENCH_CHART_FONT`. Without one the tables are still printed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use plotters::prelude::*;

/// Targets, from the performance issue (2 cores).
const MIN_THROUGHPUT_RATIO: f64 = 0.85;
const RATIO_LEVELS: [u32; 2] = [16, 64];
const LATENCY_LEVEL: u32 = 16;
const MAX_ADDED_P50_US: f64 = 25.0;
const MAX_ADDED_P99_US: f64 = 100.0;
const MAX_IDLE_RSS_MIB: f64 = 30.0;

const PATHS: [&str; 3] = ["direct", "passthrough", "translate"];

#[derive(Debug, Clone, Copy, Default)]
struct Run {
    rps: f64,
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
    non_2xx: u64,
    errors: u64,
    peak_rss_kib: f64,
    /// CPU time per request of paybridge and of the upstream process (µs), and how busy each
    /// core was (%): optional columns.
    proxy_cpu_us: Option<f64>,
    upstream_cpu_us: Option<f64>,
    cpu0: Option<f64>,
    cpu1: Option<f64>,
}

fn main() {
    let mut csv = None;
    let mut idle = None;
    let mut png = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--csv" => csv = Some(PathBuf::from(value)),
            "--idle" => idle = Some(PathBuf::from(value)),
            "--png" => png = Some(PathBuf::from(value)),
            other => fail(&format!("unknown argument {other}")),
        }
    }
    let csv = csv.unwrap_or_else(|| fail("--csv is required"));
    let text =
        std::fs::read_to_string(&csv).unwrap_or_else(|e| fail(&format!("{}: {e}", csv.display())));
    let runs = parse(&text);
    let idle = idle.map(|p| {
        std::fs::read_to_string(&p).unwrap_or_else(|e| fail(&format!("{}: {e}", p.display())))
    });
    print!("{}", report(&runs, idle.as_deref()));
    if let Some(png) = png {
        match chart(&runs, &png) {
            Ok(()) => println!("\nChart: `{}`.", png.display()),
            Err(e) => eprintln!("bench_chart: no chart: {e}"),
        }
    }
}

fn fail(message: &str) -> ! {
    eprintln!("bench_chart: {message}");
    std::process::exit(2);
}

/// (path, connections) → run.
fn parse(text: &str) -> BTreeMap<(String, u32), Run> {
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
fn median(runs: &[Run]) -> Run {
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

fn levels(runs: &BTreeMap<(String, u32), Run>) -> Vec<u32> {
    let mut l: Vec<u32> = runs.keys().map(|(_, c)| *c).collect();
    l.sort_unstable();
    l.dedup();
    l
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "**pass**"
    } else {
        "**FAIL**"
    }
}

fn report(runs: &BTreeMap<(String, u32), Run>, idle: Option<&str>) -> String {
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

fn load_font() -> Result<(), String> {
    let path = std::env::var_os("BENCH_CHART_FONT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"));
    let bytes = std::fs::read(&path).map_err(|e| format!("font {}: {e}", path.display()))?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| format!("font {}: not a usable TrueType font", path.display()))
}

fn chart(runs: &BTreeMap<(String, u32), Run>, png: &std::path::Path) -> Result<(), String> {
    load_font()?;
    let levels = levels(runs);
    if levels.is_empty() {
        return Err("no runs".to_owned());
    }
    let root = BitMapBackend::new(png, (1200, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (title, body) = root.split_vertically(50);
    title
        .titled(
            "paybridge on 2 cores: latency against concurrency (wrk, loopback)",
            ("sans-serif", 24),
        )
        .map_err(|e| e.to_string())?;
    let panels = body.split_evenly((1, 3));
    let colours = [
        RGBColor(110, 110, 110),
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
    ];
    let x_max = *levels.last().unwrap_or(&1) as f64 * 1.5;
    for (panel, (name, pick)) in panels.iter().zip([
        ("p50", (|r: &Run| r.p50) as fn(&Run) -> f64),
        ("p99", |r: &Run| r.p99),
        ("p99.9", |r: &Run| r.p999),
    ]) {
        let values: Vec<f64> = runs.values().map(pick).filter(|v| *v > 0.0).collect();
        let y_min = values.iter().cloned().fold(f64::MAX, f64::min).max(1.0) / 1.5;
        let y_max = values.iter().cloned().fold(1.0, f64::max) * 1.5;
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{name} latency"), ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d((0.7f64..x_max).log_scale(), (y_min..y_max).log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("connections")
            .y_desc("µs")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| e.to_string())?;
        for (path, colour) in PATHS.iter().zip(colours) {
            let points: Vec<(f64, f64)> = levels
                .iter()
                .filter_map(|c| {
                    runs.get(&(path.to_string(), *c))
                        .map(|r| (*c as f64, pick(r)))
                })
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(*path)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
                });
            chart
                .draw_series(points.iter().map(|p| Circle::new(*p, 3, colour.filled())))
                .map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}
