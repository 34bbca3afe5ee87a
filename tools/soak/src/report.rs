//! The report: the figures of a run and the verdict, printed and kept for report.txt.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cast::{IN_FLIGHT_MARGIN, RSS_TOLERANCE, RSS_TREND_TOLERANCE};
use crate::child::mib;
use crate::cli::Options;
use crate::driver::Shared;
use crate::model::DaxState;
use crate::stats::{percentile, Stats};

pub(crate) struct Report {
    pub(crate) ok: bool,
    pub(crate) lines: Vec<String>,
}

impl Report {
    pub(crate) fn line(&mut self, s: impl Into<String>) {
        let s = s.into();
        println!("{s}");
        self.lines.push(s);
    }

    pub(crate) fn fail(&mut self, s: impl Into<String>) {
        self.ok = false;
        self.line(format!("FAIL: {}", s.into()));
    }
}

/// The sample lines of the metrics whose names start with one of `names`.
pub(crate) fn pick_metrics(text: &str, names: &[&str]) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && names.iter().any(|n| l.starts_with(n)))
        .map(str::to_owned)
        .collect()
}

pub(crate) fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// What a run measured, for [`figures`].
pub(crate) struct Measured {
    pub(crate) stats: Stats,
    pub(crate) shared: Arc<Shared>,
    pub(crate) load_time: Duration,
    pub(crate) warm_up: Duration,
    /// When the replay store was first seen full (its first eviction).
    pub(crate) store_full_at: Option<Duration>,
    /// Resident memory once a second: (seconds into the load, KiB).
    pub(crate) samples: Arc<Mutex<Vec<(f64, u64)>>>,
    /// paybridge_requests_total before the load.
    pub(crate) requests_before: f64,
    pub(crate) worker_panics: u32,
    pub(crate) rss_start: u64,
    pub(crate) warm_rss: Option<u64>,
    pub(crate) rss_end: Option<u64>,
    pub(crate) fds_start: usize,
    pub(crate) warm_fds: Option<usize>,
    pub(crate) fds_end: Option<usize>,
    pub(crate) warm_threads: Option<u64>,
    pub(crate) threads_end: Option<u64>,
    /// The admin listener's /metrics at the end (empty if it did not answer).
    pub(crate) metrics_text: String,
}

/// The figures and the verdict.
pub(crate) fn figures(o: &Options, m: Measured, report: &mut Report) {
    let Measured {
        mut stats,
        shared,
        load_time,
        warm_up,
        store_full_at,
        samples,
        requests_before,
        worker_panics,
        rss_start,
        warm_rss,
        rss_end,
        fds_start,
        warm_fds,
        fds_end,
        warm_threads,
        threads_end,
        metrics_text,
    } = m;
    // ------------------------------------------------------------------ the figures
    let (sent, answered, wrong) = stats.totals();
    report.line(String::new());
    report.line(format!(
        "load: {:.1} s at {} connections, {} requests sent, {} answered, {} wrong",
        load_time.as_secs_f64(),
        o.concurrency,
        sent,
        answered,
        wrong
    ));
    report.line(format!(
        "warm-up: {:.1} s (replay store full {})",
        warm_up.as_secs_f64(),
        store_full_at.map_or("never".to_owned(), |t| format!(
            "after {:.1} s",
            t.as_secs_f64()
        ))
    ));
    report.line(format!(
        "throughput: {:.0} answers/s",
        answered as f64 / load_time.as_secs_f64()
    ));
    report.line(String::new());
    report.line(format!(
        "{:<38} {:>8} {:>8} {:>6} {:>8} {:>8} {:>8}  outcomes",
        "kind", "sent", "answered", "wrong", "p50 ms", "p99 ms", "max ms"
    ));
    for (kind, k) in &mut stats.kinds {
        k.latencies_us.sort_unstable();
        let outcomes: Vec<String> = k.outcomes.iter().map(|(l, n)| format!("{l} {n}")).collect();
        report.line(format!(
            "{:<38} {:>8} {:>8} {:>6} {:>8.2} {:>8.2} {:>8.1}  {}",
            kind,
            k.sent,
            k.answered,
            k.wrong,
            percentile(&k.latencies_us, 0.5),
            percentile(&k.latencies_us, 0.99),
            percentile(&k.latencies_us, 1.0),
            outcomes.join(", ")
        ));
    }
    let all: Vec<u32> = {
        let mut v: Vec<u32> = stats
            .kinds
            .values()
            .flat_map(|k| k.latencies_us.iter().copied())
            .collect();
        v.sort_unstable();
        v
    };
    report.line(format!(
        "{:<38} {:>8} {:>8} {:>6} {:>8.2} {:>8.2} {:>8.1}",
        "all",
        sent,
        answered,
        wrong,
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        percentile(&all, 1.0)
    ));
    report.line(String::new());
    if stats.errors.is_empty() {
        report.line("client-side errors: none (no transport error, no client timeout)");
    } else {
        let errors: Vec<String> = stats
            .errors
            .iter()
            .map(|(e, n)| format!("{e} {n}"))
            .collect();
        report.line(format!("client-side errors: {}", errors.join(", ")));
        for s in shared
            .error_samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            report.line(format!("  {s}"));
        }
    }
    let modelled_left = shared.dax_pool.lock().map(|p| p.len()).unwrap_or(0);
    let open_left = shared
        .dax_pool
        .lock()
        .map(|p| {
            p.iter()
                .filter(|o| matches!(o.state, DaxState::Open(_)))
                .count()
        })
        .unwrap_or(0);
    report.line(format!(
        "model: {modelled_left} of {} DaxPay orders still modelled, {open_left} of them still open",
        o.orders
    ));

    let samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    let after_warm: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= warm_up.as_secs_f64())
        .map(|(_, r)| *r)
        .collect();
    let (lo, hi) = (
        after_warm.iter().min().copied().unwrap_or(0),
        after_warm.iter().max().copied().unwrap_or(0),
    );
    let series: Vec<String> = samples
        .iter()
        .step_by((samples.len() / 12).max(1))
        .map(|(t, r)| format!("{t:.0}s {:.1}", *r as f64 / 1024.0))
        .collect();
    report.line(format!(
        "RSS: {} idle before load, {} after warm-up, {} at the end; after warm-up min {} max {}",
        mib(rss_start),
        warm_rss.map_or("?".to_owned(), mib),
        rss_end.map_or("?".to_owned(), mib),
        mib(lo),
        mib(hi)
    ));
    report.line(format!("RSS over time (MiB): {}", series.join(", ")));
    report.line(format!(
        "open descriptors: {} idle, {} after warm-up, {} at the end; threads {} / {}",
        fds_start,
        warm_fds.map_or("?".to_owned(), |v| v.to_string()),
        fds_end.map_or("?".to_owned(), |v| v.to_string()),
        warm_threads.map_or("?".to_owned(), |v| v.to_string()),
        threads_end.map_or("?".to_owned(), |v| v.to_string()),
    ));

    let wanted = [
        "paybridge_replays_total",
        "paybridge_replay_evictions_total",
        "paybridge_shed_total",
        "paybridge_outcome_resolutions_total",
        "paybridge_fallbacks_total",
        "paybridge_upstream_retries_total",
        "paybridge_upstream_errors_total",
        "paybridge_replay_store_errors_total",
        "paybridge_request_seconds_count",
        "paybridge_upstream_seconds_count",
    ];
    report.line("paybridge's counters:".to_owned());
    for m in pick_metrics(&metrics_text, &wanted) {
        report.line(format!("  {m}"));
    }

    // ------------------------------------------------------------------ the verdict
    if wrong > 0 {
        report.fail(format!("{wrong} wrong answers; the first ones:"));
        for s in shared
            .wrong_samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            report.line(format!("  {s}"));
        }
    }
    if answered < sent {
        report.fail(format!(
            "{} requests sent were not answered",
            sent - answered
        ));
    }
    if worker_panics > 0 {
        report.fail(format!("{worker_panics} driver workers panicked"));
    }
    if stats.shed > 0 {
        report.fail(format!(
            "{} requests shed (503) although at most {} were in flight and max_in_flight is {}: an in-flight permit leaks",
            stats.shed,
            o.concurrency + 1,
            o.concurrency + IN_FLIGHT_MARGIN
        ));
    }
    let requests_counted = metric_sum(&metrics_text, "paybridge_requests_total") - requests_before;
    if !metrics_text.is_empty() {
        let line = format!(
            "requests: {answered} answered, {requests_counted} counted by paybridge (paybridge_requests_total)"
        );
        if requests_counted as u64 == answered {
            report.line(line);
        } else {
            report.fail(line);
        }
    }
    let replays_counted = metric_sum(&metrics_text, "paybridge_replays_total");
    if metrics_text.is_empty() {
        report.fail("the admin listener's /metrics did not answer");
    } else if replays_counted as u64 != stats.replays_seen {
        report.fail(format!(
            "paybridge counted {replays_counted} replays, the driver received {}",
            stats.replays_seen
        ));
    } else {
        report.line(format!(
            "replays: {} received, {} counted by paybridge",
            stats.replays_seen, replays_counted
        ));
    }
    match (warm_rss, rss_end) {
        (Some(w), Some(e)) if w > 0 => {
            let growth = (e as f64 - w as f64) / w as f64;
            let verdict = format!(
                "RSS after warm-up {} → end {} ({:+.1} %, limit +{:.0} %)",
                mib(w),
                mib(e),
                growth * 100.0,
                RSS_TOLERANCE * 100.0
            );
            if growth > RSS_TOLERANCE {
                report.fail(verdict);
            } else {
                report.line(verdict);
            }
            // Flat, not merely under the limit: the second half of the measured period must
            // not keep growing (a leak of a few bytes per request stays under 20 % for a minute).
            let from = warm_up.as_secs_f64();
            let middle = (from + load_time.as_secs_f64()) / 2.0;
            let rss_middle = samples
                .iter()
                .filter(|(t, _)| *t >= middle)
                .map(|(_, r)| *r)
                .next();
            if let Some(m) = rss_middle {
                let trend = (e as f64 - m as f64) / w as f64;
                let verdict = format!(
                    "RSS over the second half ({middle:.0} s → end): {} → {} ({:+.1} % of the warm baseline, limit +{:.0} %)",
                    mib(m),
                    mib(e),
                    trend * 100.0,
                    RSS_TREND_TOLERANCE * 100.0
                );
                if trend > RSS_TREND_TOLERANCE {
                    report.fail(format!("{verdict}: still growing"));
                } else {
                    report.line(verdict);
                }
            }
        }
        _ => report.fail("resident memory could not be read"),
    }
}
