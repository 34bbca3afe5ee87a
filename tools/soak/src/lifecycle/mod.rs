//! `paybridge-soak lifecycle`: the whole Jeepay payment lifecycle on DaxPay 3.0 (or 2.0.8,
//! `--version 2.0`, issue 21) under faults, judged against the sandbox's ground truth (issue 19).
//!
//! ```sh
//! scripts/soak-lifecycle [SECONDS] [single|pair] [3.0|2.0]   # builds, then runs this
//! paybridge-soak lifecycle --seconds 600 --topology single [--workers 12] [--settle 120]
//!     [--version 3.0|2.0] [--sign md5|hmac_sha256] [--dialects jeepay|jeepay,epay]
//! ```
//!
//! `--dialects jeepay,epay` adds an epay (彩虹易支付) V1 merchant beside the Jeepay ones: its own
//! workers ([`epay`]), its GET notifications at the same flaky endpoint, and a judge by epay's
//! semantics ([`epay_judge`]). Without it (the default, CI's run) nothing of epay is configured.
//!
//! What differs on 2.0 is in [`dax`]. The driver hosts the DaxPay sandbox in-process (its orders and refunds are the ground
//! truth) and starts paybridge as child process(es): `single`, one instance on a SQLite file;
//! `pair`, two instances sharing PostgreSQL (`SOAK_POSTGRES_URL`, a database of its own) and a
//! Redis server the driver starts, behind a round-robin balancer played by the driver. Between
//! them, all played here: the fault relay before DaxPay and the callback relay after it
//! ([`relay`]), and the merchants' flaky notify endpoint ([`merchant`]). Workers play order
//! lives ([`load`]); paybridge is killed with SIGKILL twice midway and restarted on the same
//! store (`pair`: one instance each time). Then the driver waits for settlement (every final
//! order and refund notified, or a bound), asks paybridge about every order and refund DaxPay
//! holds ([`judge`]), judges every answer it was given and every notification ([`notices`]),
//! prints a table and exits 1 on any wrong.
//!
//! Environment: `SOAK_BIN` (the paybridge binary, default `target/release/paybridge`),
//! `SOAK_POSTGRES_URL` (pair), `SOAK_SEED` (the randomness; default from the clock),
//! `SOAK_LIFECYCLE_DIR` (where each topology's files go, default `target/soak-lifecycle`; wiped
//! at the start of a run).

mod book;
mod cast;
mod dax;
mod epay;
mod epay_judge;
mod epay_notices;
mod instances;
mod jeepay;
mod judge;
mod load;
mod merchant;
mod net;
mod notices;
mod relay;
mod report;
mod truth;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use paybridge_sandbox::{Sandbox, Sandboxes};
use tokio::net::TcpListener;

use book::lock;
use dax::Dax;
use instances::{Instance, Redis, Stores};
use load::Ctx;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Topology {
    Single,
    Pair,
}

pub(crate) struct Options {
    pub(crate) seconds: u64,
    pub(crate) topology: Topology,
    pub(crate) workers: usize,
    pub(crate) settle: Duration,
    pub(crate) bin: PathBuf,
    pub(crate) dir: PathBuf,
    pub(crate) seed: u64,
    pub(crate) postgres: Option<String>,
    pub(crate) dax: Dax,
    /// `--dialects jeepay,epay`: an epay merchant too.
    pub(crate) epay: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: paybridge-soak lifecycle [--seconds N (60)] [--topology single|pair] [--workers N (12)] [--settle SECONDS (120)] [--version 3.0|2.0] [--sign md5|hmac_sha256 (2.0; default by seed)] [--dialects jeepay|jeepay,epay]"
    );
    std::process::exit(2)
}

fn options(args: &[String]) -> Options {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tools/soak sits two levels below the workspace root")
        .to_path_buf();
    let mut o = Options {
        seconds: 60,
        topology: Topology::Single,
        workers: 12,
        settle: Duration::from_secs(120),
        bin: std::env::var_os("SOAK_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/release/paybridge")),
        dir: std::env::var_os("SOAK_LIFECYCLE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/soak-lifecycle")),
        seed: std::env::var("SOAK_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| crate::requests::now().as_nanos() as u64),
        postgres: std::env::var("SOAK_POSTGRES_URL")
            .ok()
            .filter(|s| !s.is_empty()),
        dax: Dax::V3_0,
        epay: false,
    };
    let mut version_2_0 = false;
    let mut sign = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        let number = || {
            value
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .unwrap_or_else(|| usage())
        };
        match flag.as_str() {
            "--seconds" => o.seconds = number(),
            "--workers" => o.workers = number() as usize,
            "--settle" => o.settle = Duration::from_secs(number()),
            "--version" => {
                version_2_0 = match value.as_str() {
                    "3.0" => false,
                    "2.0" => true,
                    _ => usage(),
                }
            }
            "--sign" => {
                sign = Some(match value.as_str() {
                    "md5" => "md5",
                    "hmac_sha256" => "hmac_sha256",
                    _ => usage(),
                })
            }
            "--dialects" => {
                o.epay = match value.as_str() {
                    "jeepay" => false,
                    "jeepay,epay" | "epay,jeepay" => true,
                    _ => usage(),
                }
            }
            "--topology" => {
                o.topology = match value.as_str() {
                    "single" => Topology::Single,
                    "pair" => Topology::Pair,
                    _ => usage(),
                }
            }
            _ => usage(),
        }
    }
    if sign.is_some() && !version_2_0 {
        usage();
    }
    if version_2_0 {
        o.dax = Dax::v2_0(sign, o.seed);
    }
    // 2.0's files go beside 3.0's, not over them.
    o.dir = o.dir.join(match (o.topology, o.dax.is_2_0()) {
        (Topology::Single, false) => "single",
        (Topology::Pair, false) => "pair",
        (Topology::Single, true) => "single-2.0",
        (Topology::Pair, true) => "pair-2.0",
    });
    if o.epay {
        let mut name = o.dir.file_name().unwrap_or_default().to_owned();
        name.push("-epay");
        o.dir.set_file_name(name);
    }
    o
}

pub(crate) fn main(args: &[String]) -> ExitCode {
    let o = options(args);
    if !o.bin.is_file() {
        eprintln!(
            "{} is missing: build it first (scripts/soak-lifecycle does)",
            o.bin.display()
        );
        return ExitCode::from(2);
    }
    if o.topology == Topology::Pair && o.postgres.is_none() {
        eprintln!("the pair topology needs SOAK_POSTGRES_URL (a PostgreSQL database of its own)");
        return ExitCode::from(2);
    }
    let _ = std::fs::remove_dir_all(&o.dir);
    if let Err(e) = std::fs::create_dir_all(&o.dir) {
        eprintln!("cannot create {}: {e}", o.dir.display());
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
    // Interrupted (Ctrl-C, or SIGTERM from `timeout`): dropping the run kills the instances.
    let outcome = runtime.block_on(async {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            r = run(&o) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
            () = terminate => None,
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    match outcome {
        Some(Ok(true)) => ExitCode::SUCCESS,
        Some(Ok(false)) => ExitCode::from(1),
        Some(Err(e)) => {
            eprintln!("lifecycle soak: {e}");
            ExitCode::from(2)
        }
        None => {
            eprintln!("interrupted");
            ExitCode::from(130)
        }
    }
}

/// The metrics of paybridge's the report shows.
const WATCHED_METRICS: [&str; 8] = [
    "paybridge_settlement_open",
    "paybridge_settlement_abandoned",
    "paybridge_notifications_pending",
    "paybridge_notifications_failed",
    "paybridge_store_row_faults_total",
    "paybridge_callbacks_total",
    "paybridge_retries_resent_total",
    "paybridge_retries_unknown_total",
];

/// A progress line on stderr (the report goes to stdout at the end).
fn progress(started: Instant, what: &str) {
    eprintln!("[{:>6.1} s] {what}", started.elapsed().as_secs_f64());
}

async fn bind() -> std::io::Result<TcpListener> {
    TcpListener::bind("127.0.0.1:0").await
}

/// The whole run; `Ok(pass)`.
async fn run(o: &Options) -> Result<bool, String> {
    let started = Instant::now();
    let io = |what: &str| {
        let what = what.to_owned();
        move |e: std::io::Error| format!("{what}: {e}")
    };
    // The sandbox, in-process.
    let mut sandbox_toml = o.dax.sandbox_toml();
    if o.epay {
        sandbox_toml.push_str(&o.dax.epay_sandbox_toml());
    }
    let config = Sandboxes::from_toml(&sandbox_toml).map_err(|e| e.to_string())?;
    let sandbox = Sandbox::new(config.sandbox.as_ref().ok_or("no [sandbox]")?);
    let sandbox_listener = bind().await.map_err(io("sandbox"))?;
    let sandbox_addr = sandbox_listener.local_addr().map_err(io("sandbox"))?;
    tokio::spawn(paybridge_sandbox::run(
        sandbox_listener,
        sandbox.clone(),
        std::future::pending::<()>(),
    ));
    let client = net::client();
    // The balancer's and the relays' listeners first: their addresses go into the configs.
    let front_listener = bind().await.map_err(io("balancer"))?;
    let front = front_listener.local_addr().map_err(io("balancer"))?;
    let dax_listener = bind().await.map_err(io("fault relay"))?;
    let dax_relay_addr = dax_listener.local_addr().map_err(io("fault relay"))?;
    let callback_listener = bind().await.map_err(io("callback relay"))?;
    let callback_addr = callback_listener
        .local_addr()
        .map_err(io("callback relay"))?;
    let merchant_listener = bind().await.map_err(io("merchant"))?;
    let merchant_port = merchant_listener
        .local_addr()
        .map_err(io("merchant"))?
        .port();

    let dax_relay = relay::FaultRelay::new(client.clone(), sandbox_addr, o.seed ^ 0xD0);
    tokio::spawn(net::serve(dax_listener, dax_relay.handler()));
    let callbacks = relay::CallbackRelay::new(client.clone(), front, o.seed ^ 0xCB, o.dax);
    tokio::spawn(net::serve(callback_listener, callbacks.handler()));
    let endpoint = merchant::Endpoint::new(o.seed ^ 0x3E);
    tokio::spawn(net::serve(merchant_listener, endpoint.handler()));

    let mut _redis = None;
    let stores = match o.topology {
        Topology::Single => Stores::Sqlite(o.dir.join("orders.sqlite")),
        Topology::Pair => {
            let redis = Redis::start(&o.dir).map_err(io("redis-server"))?;
            let stores = Stores::Shared {
                postgres: o.postgres.clone().unwrap_or_default(),
                redis: redis.url.clone(),
            };
            _redis = Some(redis);
            stores
        }
    };
    let count = if o.topology == Topology::Pair { 2 } else { 1 };
    let mut instances = Vec::new();
    for i in 0..count {
        let mut instance = Instance::new(
            &format!("paybridge-{i}"),
            &o.dir,
            &o.bin,
            &stores,
            dax_relay_addr,
            callback_addr,
            o.dax,
            o.epay,
        )
        .map_err(io("instance"))?;
        instance.start().map_err(io("paybridge"))?;
        instances.push(instance);
    }
    for instance in &mut instances {
        if !instance.ready(&client, Duration::from_secs(60)).await {
            return Err(format!(
                "{} did not become ready (see {})",
                instance.name,
                instance.log_path().display()
            ));
        }
    }
    tokio::spawn(relay::balance(
        front_listener,
        instances.iter().map(|i| i.addr).collect(),
    ));

    progress(started, "instances ready; load starts");
    let load_started = Instant::now();
    let deadline = load_started + Duration::from_secs(o.seconds);
    let tag = format!("L{:05}", o.seed % 100_000);
    let ctx = Arc::new(Ctx::new(
        client.clone(),
        front,
        merchant_port,
        sandbox.clone(),
        deadline,
        tag,
        o.dax,
    ));
    let mut workers = Vec::new();
    for w in 0..o.workers {
        let ctx = Arc::clone(&ctx);
        let seed = o.seed.wrapping_add(0x9E37 * (w as u64 + 1));
        workers.push(tokio::spawn(load::worker(ctx, w, seed)));
    }
    if o.epay {
        for w in 0..(o.workers / 3).max(2) {
            let ctx = Arc::clone(&ctx);
            let seed = o.seed.wrapping_add(0xE9A7 * (w as u64 + 1));
            workers.push(tokio::spawn(epay::worker(ctx, w, seed)));
        }
    }
    // Two kill -9s, at a third and two thirds of the load.
    let mut restarts = Vec::new();
    for (n, at) in [1u32, 2]
        .into_iter()
        .map(|n| (n, o.seconds * u64::from(n) / 3))
    {
        tokio::time::sleep_until((load_started + Duration::from_secs(at)).into()).await;
        let victim = (n as usize - 1) % instances.len();
        let instance = &mut instances[victim];
        instance.kill9();
        lock(&ctx.book.kills).push((Instant::now(), instance.name.clone()));
        tokio::time::sleep(Duration::from_millis(500)).await;
        instance.start().map_err(io("paybridge restart"))?;
        let back = Instant::now();
        let ready = instance.ready(&client, Duration::from_secs(60)).await;
        restarts.push((instance.name.clone(), back.elapsed(), ready));
        if !ready {
            return Err(format!("{} did not come back after kill -9", instance.name));
        }
        progress(started, &format!("kill -9 of {}; back", instance.name));
    }
    for w in workers {
        let _ = w.await;
    }
    let load_took = load_started.elapsed();

    // Calls the relay holds land up to `HOLD` after their request ended: only then are DaxPay's
    // books final (nothing but queries reaches it afterwards).
    tokio::time::sleep(cast::HOLD + Duration::from_secs(2)).await;
    // Settlement: the relays keep failing, DaxPay keeps calling back, paybridge keeps looking.
    let truth = truth::Truth::read(&ctx);
    progress(started, "load over; waiting for settlement");
    let settle_started = Instant::now();
    let etruth = epay_judge::ETruth::read(&ctx);
    let (settled_in, left) = notices::settle(&truth, &endpoint, o.settle).await;
    let epay_left = match o.epay {
        true => {
            let rest = o.settle.saturating_sub(settle_started.elapsed());
            epay_notices::settle(&etruth, &endpoint, rest).await
        }
        false => 0,
    };
    let settled_in = match o.epay {
        true => settle_started.elapsed().max(settled_in),
        false => settled_in,
    };
    // 2.0: which owed notifications settlement delivered last (the report's evidence).
    let slowest = match o.dax.is_2_0() {
        true => notices::slowest(&truth, &endpoint, settle_started, 5),
        false => Vec::new(),
    };
    // The records are asked on a quiet line: what paybridge knows, not how it copes.
    dax_relay.faults_on.store(false, Ordering::Relaxed);
    progress(
        started,
        "asking paybridge about every order and refund DaxPay holds",
    );
    let mut wrongs = judge::Wrongs::default();
    let (records, record_wrongs) = judge::judge_records(&ctx, &truth, &mut wrongs).await;
    let mut efigures = epay_judge::EFigures::default();
    if o.epay {
        epay_judge::judge_records(&ctx, &etruth, &mut wrongs, &mut efigures).await;
    }
    // A last look for what the final queries may have queued, then the quiet judgement.
    tokio::time::sleep(Duration::from_secs(3)).await;
    progress(started, "judging every answer and notification");
    let answers = judge::judge_answers(&ctx, &truth, &mut wrongs);
    let notices = notices::judge(&ctx, &truth, &endpoint, &mut wrongs);
    if o.epay {
        epay_judge::judge_answers(&ctx, &etruth, &mut wrongs, &mut efigures);
        epay_notices::judge_notices(&ctx, &etruth, &endpoint, &mut wrongs, &mut efigures);
    }
    for forged in lock(&callbacks.forged_acked).iter() {
        wrongs.add("forged callback acknowledged", forged.clone());
    }
    dax_relay.faults_on.store(false, Ordering::Relaxed);
    callbacks.faults_on.store(false, Ordering::Relaxed);
    endpoint.flaky.store(false, Ordering::Relaxed);

    // paybridge's own view at the end (counters count since each instance's last start).
    let mut metrics = Vec::new();
    for instance in &instances {
        let text = net::get_text(&client, instance.admin, "/metrics")
            .await
            .unwrap_or_default();
        let lines: Vec<String> = text
            .lines()
            .filter(|l| WATCHED_METRICS.iter().any(|m| l.starts_with(m)))
            .map(str::to_owned)
            .collect();
        metrics.push((instance.name.clone(), lines));
    }
    let mut shutdowns = Vec::new();
    for instance in &mut instances {
        shutdowns.push((
            instance.name.clone(),
            instance.terminate(Duration::from_secs(15)),
        ));
    }
    let logs: Vec<(String, String)> = instances
        .iter()
        .map(|i| (i.name.clone(), i.log_text()))
        .collect();
    let epay = o.epay.then(|| {
        let mut figures = efigures.render();
        if epay_left > 0 {
            figures.push_str(&format!(
                "  {epay_left} paid orders still not notified when settlement's bound ran out\n"
            ));
        }
        let trails = wrongs
            .orders
            .iter()
            .filter_map(|order| epay_judge::trail(&ctx, &etruth, order))
            .collect();
        (figures, trails)
    });
    let r = report::Report {
        options: o,
        took: started.elapsed(),
        load_took,
        restarts,
        settled_in,
        unsettled: left,
        slowest,
        truth: &truth,
        ctx: &ctx,
        answers,
        records: (records, record_wrongs),
        notices,
        wrongs: &wrongs,
        upstream: dax_relay.tally.snapshot(),
        callbacks: callbacks.tally.snapshot(),
        forged: callbacks.forged_sent.load(Ordering::Relaxed),
        shutdowns,
        logs,
        metrics,
        epay,
    };
    let (text, pass) = r.render();
    println!("{text}");
    let _ = std::fs::write(o.dir.join("report.txt"), &text);
    Ok(pass)
}
