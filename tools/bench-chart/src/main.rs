//! Turns `scripts/bench`'s measurements into the report: markdown tables (per path and level,
//! ratios measured in the same run, pass/fail against the targets) on stdout, and a chart of
//! latency against concurrency for the three paths (PNG, drawn with plotters). A (path,
//! connections) measured in several rounds is reported by the median of each figure.
//!
//! ```text
//! paybridge-bench-chart --csv target/bench/results.csv [--idle target/bench/idle.txt] [--png OUT.png]
//! ```
//!
//! The chart needs a TrueType font: DejaVu Sans from /usr/share/fonts (Debian's fonts-dejavu-core)
//! or the file named by `BENCH_CHART_FONT`. Without one the tables are still printed.
//!
//! Modules: `runs` (the CSV, medians of rounds), `report` (the tables and the verdicts), `chart`
//! (the PNG).

use std::path::PathBuf;

mod chart;
mod report;
mod runs;

use chart::chart;
use report::report;
use runs::parse;

pub(crate) const PATHS: [&str; 3] = ["direct", "passthrough", "translate"];

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
            Err(e) => eprintln!("paybridge-bench-chart: no chart: {e}"),
        }
    }
}

pub(crate) fn fail(message: &str) -> ! {
    eprintln!("paybridge-bench-chart: {message}");
    std::process::exit(2);
}
