//! The chart of latency against concurrency for the three paths (PNG, drawn with plotters).

use std::collections::BTreeMap;
use std::path::PathBuf;

use plotters::prelude::*;

use crate::runs::{levels, Run};
use crate::PATHS;

pub(crate) fn load_font() -> Result<(), String> {
    let path = std::env::var_os("BENCH_CHART_FONT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"));
    let bytes = std::fs::read(&path).map_err(|e| format!("font {}: {e}", path.display()))?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| format!("font {}: not a usable TrueType font", path.display()))
}

pub(crate) fn chart(
    runs: &BTreeMap<(String, u32), Run>,
    png: &std::path::Path,
) -> Result<(), String> {
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
