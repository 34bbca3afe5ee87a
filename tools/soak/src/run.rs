//! The run: waits for paybridge, drives it with the workers for the duration while sampling its
//! memory, then hands what it measured to the report.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::cast::{CLIENT_TIMEOUT, LEGACY_ORDERS, RING};
use crate::child::{open_fds, rss_kib, threads, ChildGuard};
use crate::cli::{env_number, Options, Ports};
use crate::config::{dax_order, legacy_state};
use crate::driver::{HttpClient, Shared};
use crate::mix::worker;
use crate::model::{DaxOrder, LegacyOrder};
use crate::report::{figures, metric_sum, Measured, Report};
use crate::requests::now;
use crate::stats::Stats;

pub(crate) async fn get(client: &HttpClient, url: &str) -> Option<(StatusCode, String)> {
    let request = Request::get(url).body(Full::new(Bytes::new())).ok()?;
    let response = tokio::time::timeout(Duration::from_secs(5), client.request(request))
        .await
        .ok()?
        .ok()?;
    let status = response.status();
    let body = response.into_body().collect().await.ok()?.to_bytes();
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Waits until paybridge and both sandboxes answer (the configuration holds many orders).
pub(crate) async fn wait_ready(
    client: &HttpClient,
    ports: &Ports,
    guard: &mut ChildGuard,
) -> Result<Duration, String> {
    let started = Instant::now();
    let proxy_url = format!("http://127.0.0.1:{}/api/pay/nope", ports.proxy);
    loop {
        if let Some(status) = guard.exited() {
            return Err(format!("paybridge exited during start-up: {status}"));
        }
        let proxy_up = get(client, &proxy_url).await.is_some();
        let sandboxes_up = [ports.daxpay, ports.legacy]
            .iter()
            .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok());
        if proxy_up && sandboxes_up {
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(120) {
            return Err("paybridge did not start within 120 s".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn soak(o: &Options, ports: &Ports, guard: &mut ChildGuard, report: &mut Report) {
    let pid = guard.pid();
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(o.concurrency * 2)
        .build(connector);

    match wait_ready(&client, ports, guard).await {
        Ok(took) => report.line(format!(
            "paybridge (pid {pid}) ready in {:.1} s",
            took.as_secs_f64()
        )),
        Err(e) => {
            report.fail(e);
            return;
        }
    }
    let metrics_url = format!("http://127.0.0.1:{}/metrics", ports.admin);
    let requests_before = get(&client, &metrics_url)
        .await
        .map_or(0.0, |(_, t)| metric_sum(&t, "paybridge_requests_total"));
    let rss_start = rss_kib(pid).unwrap_or(0);
    let fds_start = open_fds(pid).unwrap_or(0);

    let mut dax_pool = Vec::with_capacity(o.orders);
    for index in 0..o.orders {
        dax_pool.push(DaxOrder {
            index,
            state: dax_order(index).1,
        });
    }
    let legacy_pool = |prefix: &str| -> Vec<LegacyOrder> {
        (0..LEGACY_ORDERS)
            .map(|i| LegacyOrder {
                id: format!("{prefix}{i:05}"),
                open: legacy_state(i) < 2,
            })
            .collect()
    };
    let load_started = Instant::now();
    let deadline = load_started + o.duration;
    let shared = Arc::new(Shared {
        client: client.clone(),
        proxy: SocketAddr::from(([127, 0, 0, 1], ports.proxy)),
        deadline,
        stop: AtomicBool::new(false),
        dax_pool: Mutex::new(dax_pool),
        legacy_pool: Mutex::new(legacy_pool("LP")),
        fallback_pool: Mutex::new(legacy_pool("FB")),
        ring: Mutex::new(VecDeque::with_capacity(RING)),
        serial: AtomicU64::new(0),
        wrong_samples: Mutex::new(Vec::new()),
        error_samples: Mutex::new(Vec::new()),
    });

    // Resident memory once a second. The baseline is taken at the end of the warm-up: at least
    // a sixth of the run (2 to 10 s), and not before the replay store is full (its first
    // eviction) and has run full for a second; at most half the run.
    let min_warm_up = (o.duration / 6).clamp(Duration::from_secs(2), Duration::from_secs(10));
    let max_warm_up = (o.duration / 2).max(min_warm_up);
    let samples: Arc<Mutex<Vec<(f64, u64)>>> = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let samples = samples.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if let Some(rss) = rss_kib(pid) {
                    samples
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((load_started.elapsed().as_secs_f64(), rss));
                }
            }
        })
    };
    let warm_sample = {
        let client = client.clone();
        let url = format!("http://127.0.0.1:{}/metrics", ports.admin);
        tokio::spawn(async move {
            let mut full_since: Option<Duration> = None;
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let elapsed = load_started.elapsed();
                if full_since.is_none() {
                    let evicted = get(&client, &url).await.is_some_and(|(_, text)| {
                        metric_sum(&text, "paybridge_replay_evictions_total") > 0.0
                    });
                    if evicted {
                        full_since = Some(elapsed);
                    }
                }
                let settled = full_since.is_some_and(|t| elapsed >= t + Duration::from_secs(1));
                if (elapsed >= min_warm_up && settled) || elapsed >= max_warm_up {
                    return (
                        elapsed,
                        full_since,
                        rss_kib(pid),
                        open_fds(pid),
                        threads(pid),
                    );
                }
            }
        })
    };

    // Optionally, a Prometheus-like scraper of the admin listener's /metrics.
    let scrape_every = env_number("SOAK_SCRAPE_SECS", 0);
    let scraper = (scrape_every > 0).then(|| {
        let client = client.clone();
        let url = format!("http://127.0.0.1:{}/metrics", ports.admin);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(scrape_every as u64));
            loop {
                tick.tick().await;
                let _ = get(&client, &url).await;
            }
        })
    });
    let seed = now().as_nanos() as u64;
    let mut workers = tokio::task::JoinSet::new();
    for i in 0..o.concurrency {
        workers.spawn(worker(
            shared.clone(),
            seed ^ (i as u64).wrapping_mul(0x9E37_79B9),
        ));
    }
    let mut stats = Stats::default();
    let mut worker_panics = 0;
    let hard_stop = deadline + CLIENT_TIMEOUT + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(hard_stop.into(), workers.join_next()).await {
            Ok(Some(Ok(s))) => stats.merge(s),
            Ok(Some(Err(e))) => {
                worker_panics += 1;
                eprintln!("worker failed: {e}");
            }
            Ok(None) => break,
            Err(_) => {
                shared.stop.store(true, Ordering::Relaxed);
                report.fail(format!(
                    "{} workers still busy {:?} after the deadline: aborted",
                    workers.len(),
                    hard_stop - deadline
                ));
                workers.abort_all();
                break;
            }
        }
        if guard.exited().is_some() {
            shared.stop.store(true, Ordering::Relaxed);
        }
    }
    let load_time = load_started.elapsed();
    let (warm_up, store_full_at, warm_rss, warm_fds, warm_threads) =
        warm_sample
            .await
            .unwrap_or((max_warm_up, None, None, None, None));
    let rss_end = rss_kib(pid);
    let fds_end = open_fds(pid);
    let threads_end = threads(pid);
    sampler.abort();
    if let Some(scraper) = scraper {
        scraper.abort();
    }
    let metrics_text = get(
        &client,
        &format!("http://127.0.0.1:{}/metrics", ports.admin),
    )
    .await
    .map(|(_, t)| t)
    .unwrap_or_default();

    figures(
        o,
        Measured {
            stats,
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
        },
        report,
    );
}
