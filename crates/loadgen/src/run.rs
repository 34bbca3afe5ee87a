//! The load: the refund mode's paid orders first, then one task per connection until the end,
//! and the figures.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::conn::{Conn, SocketError};
use crate::jeepay::{self, Merchant, NotSuccess};
use crate::options::{Mode, Options};

const PAY_PATH: &str = "/api/pay/unifiedOrder";
const REFUND_PATH: &str = "/api/refund/refundOrder";
/// The refund mode's orders: large enough for a million 1-fen refunds each.
const REFUNDABLE_FEN: u64 = 10_000_000;
/// Answers that were not a success, kept as examples per kind.
const SAMPLES: usize = 3;

/// Why the run could not be made (the load itself never fails: it counts).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("preparing the refund mode's orders: {0}")]
    Setup(String),
    #[error("no request ended within the measured time")]
    NothingMeasured,
}

/// What one connection saw in the measured time.
#[derive(Default)]
struct Seen {
    latencies_us: Vec<u32>,
    not_success: u64,
    socket_errors: u64,
    kinds: BTreeMap<String, (u64, Vec<String>)>,
}

impl Seen {
    fn note(&mut self, kind: String, sample: String) {
        let (n, samples) = self.kinds.entry(kind).or_default();
        *n += 1;
        if samples.len() < SAMPLES {
            samples.push(sample);
        }
    }
}

/// The figures of a run.
pub struct Report {
    mode: Mode,
    connections: usize,
    targets: usize,
    seconds: f64,
    requests: u64,
    p50: u32,
    p99: u32,
    p999: u32,
    max: u32,
    not_success: u64,
    socket_errors: u64,
    kinds: BTreeMap<String, (u64, Vec<String>)>,
    /// The generator's own CPU time over the measured time, in clock ticks (100 a second).
    own_cpu_ticks: Option<u64>,
}

impl Report {
    /// The line `scripts/bench-nginx` reads (its wrk scripts' format).
    pub fn result_line(&self) -> String {
        format!(
            "RESULT {} {} {} {} {} {} {} {}",
            self.requests,
            (self.seconds * 1e6) as u64,
            self.p50,
            self.p99,
            self.p999,
            self.max,
            self.not_success,
            self.socket_errors
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:?}: {} connections over {} target(s), {:.1} s: {} verified successes, {:.0} requests/s",
            self.mode,
            self.connections,
            self.targets,
            self.seconds,
            self.requests - self.not_success,
            self.requests as f64 / self.seconds
        )?;
        writeln!(
            f,
            "latency µs: p50 {} p99 {} p99.9 {} max {}; not success {}; socket errors {}",
            self.p50, self.p99, self.p999, self.max, self.not_success, self.socket_errors
        )?;
        if let Some(ticks) = self.own_cpu_ticks {
            // Linux's USER_HZ is 100 on every architecture it runs this on.
            let per_request = ticks as f64 * 1e4 / self.requests.max(1) as f64;
            writeln!(
                f,
                "the generator's own CPU: {per_request:.1} µs a request ({:.0} % of a core)",
                ticks as f64 / self.seconds
            )?;
        }
        for (kind, (n, samples)) in &self.kinds {
            writeln!(f, "  {n} × {kind}")?;
            for s in samples {
                writeln!(f, "      e.g. {s}")?;
            }
        }
        Ok(())
    }
}

/// A prefix of this run's merchant numbers, so that no two runs share one: the clock's
/// milliseconds and the process id, in hex.
fn run_prefix() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("L{:08x}{:x}", ms as u32, std::process::id() & 0xfff)
}

pub async fn run(o: &Options) -> Result<Report, RunError> {
    let prefix = run_prefix();
    let addr = |i: usize| o.targets[i % o.targets.len()];
    let orders = match (o.mode, o.sandbox) {
        (Mode::Refund, Some(sandbox)) => paid_orders(o, &prefix, sandbox).await?,
        _ => vec![Vec::new(); o.connections],
    };
    let start = Instant::now();
    let measured_from = start + o.warmup;
    let end = measured_from + o.duration;
    let local = tokio::task::LocalSet::new();
    let merchant = Rc::new(o.merchant.clone());
    let mut tasks = Vec::new();
    for (i, own) in orders.into_iter().enumerate() {
        let (merchant, prefix, mode) = (merchant.clone(), prefix.clone(), o.mode);
        let conn = Conn::new(addr(i));
        tasks.push(local.spawn_local(async move {
            let worker = Worker {
                conn,
                merchant,
                number: format!("{prefix}c{i}n"),
                own,
            };
            worker.load(mode, measured_from, end).await
        }));
    }
    // The moment the measured time starts, for a script reading the processes' CPU time; this
    // process's own then, to tell whether the generator's core was the limit.
    let cpu_from = Rc::new(std::cell::Cell::new(None));
    let mark = cpu_from.clone();
    local.spawn_local(async move {
        tokio::time::sleep_until(measured_from.into()).await;
        mark.set(own_cpu_ticks());
        eprintln!("measuring");
    });
    let seen = local
        .run_until(async move {
            let mut all = Vec::new();
            for t in tasks {
                all.push(t.await.unwrap_or_default());
            }
            all
        })
        .await;
    let own_cpu = cpu_from
        .get()
        .zip(own_cpu_ticks())
        .map(|(a, b)| b.saturating_sub(a));
    let mut report = report(o, seen, o.duration.as_secs_f64())?;
    report.own_cpu_ticks = own_cpu;
    Ok(report)
}

/// This process's user + system CPU time in clock ticks (Linux's `/proc/self/stat`; `None`
/// elsewhere).
fn own_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the command's closing parenthesis: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some(user + system)
}

fn report(o: &Options, seen: Vec<Seen>, seconds: f64) -> Result<Report, RunError> {
    let mut latencies = Vec::new();
    let (mut not_success, mut socket_errors) = (0, 0);
    let mut kinds: BTreeMap<String, (u64, Vec<String>)> = BTreeMap::new();
    for s in seen {
        latencies.extend(s.latencies_us);
        not_success += s.not_success;
        socket_errors += s.socket_errors;
        for (kind, (n, samples)) in s.kinds {
            let entry = kinds.entry(kind).or_default();
            entry.0 += n;
            for sample in samples {
                if entry.1.len() < SAMPLES {
                    entry.1.push(sample);
                }
            }
        }
    }
    if latencies.is_empty() {
        return Err(RunError::NothingMeasured);
    }
    latencies.sort_unstable();
    // Nearest rank.
    let at = |q: f64| {
        let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
        latencies[rank - 1]
    };
    Ok(Report {
        mode: o.mode,
        connections: o.connections,
        targets: o.targets.len(),
        seconds,
        requests: latencies.len() as u64,
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        max: *latencies.last().unwrap_or(&0),
        not_success,
        socket_errors,
        kinds,
        own_cpu_ticks: None,
    })
}

struct Worker {
    conn: Conn,
    merchant: Rc<Merchant>,
    /// This connection's numbers: the run's prefix, the connection, then a sequence.
    number: String,
    /// The refund mode's paid orders (pay order ids), refunded in turn.
    own: Vec<String>,
}

impl Worker {
    async fn load(mut self, mode: Mode, measured_from: Instant, end: Instant) -> Seen {
        let mut seen = Seen::default();
        let mut seq: u64 = 0;
        while Instant::now() < end {
            seq += 1;
            let number = format!("{}{seq}", self.number);
            let (path, body) = match mode {
                Mode::Pay => (PAY_PATH, jeepay::pay(&self.merchant, &number, 1)),
                Mode::Refund => {
                    let order = &self.own[seq as usize % self.own.len()];
                    (
                        REFUND_PATH,
                        jeepay::refund(&self.merchant, order, &number, 1),
                    )
                }
            };
            let sent = Instant::now();
            let answer = self.conn.post(path, body).await;
            let done = Instant::now();
            if done < measured_from || done > end {
                continue;
            }
            let micros = u32::try_from(done.duration_since(sent).as_micros()).unwrap_or(u32::MAX);
            match answer {
                Err(e) => {
                    seen.socket_errors += 1;
                    seen.note(socket_kind(&e), e.to_string());
                }
                Ok((status, body)) => {
                    seen.latencies_us.push(micros);
                    let checked =
                        jeepay::verified(status, &body, &self.merchant.secret).and_then(|data| {
                            match mode {
                                Mode::Pay => jeepay::created_pay(&data, &number).map(drop),
                                Mode::Refund => jeepay::accepted_refund(&data, &number),
                            }
                        });
                    if let Err(why) = checked {
                        seen.not_success += 1;
                        let sample: String =
                            String::from_utf8_lossy(&body).chars().take(300).collect();
                        seen.note(answer_kind(&why), sample);
                    }
                }
            }
        }
        seen
    }
}

fn socket_kind(e: &SocketError) -> String {
    match e {
        SocketError::Connect(_) => "socket error: connect".into(),
        SocketError::Http(_) => "socket error: http".into(),
        SocketError::Request(_) => "socket error: request".into(),
    }
}

fn answer_kind(why: &NotSuccess) -> String {
    match why {
        NotSuccess::Code { code, msg } => format!("code {code} {msg}"),
        NotSuccess::Unexpected(_) => "unexpected success".into(),
        other => other.to_string(),
    }
}

/// The refund mode's orders: for each connection, orders created through paybridge (by the
/// connection's own target) and paid at the sandbox's payer endpoint. Any failure stops the run:
/// refunds of orders that are not paid would measure refusals.
async fn paid_orders(
    o: &Options,
    prefix: &str,
    sandbox: SocketAddr,
) -> Result<Vec<Vec<String>>, RunError> {
    let mut payer = Conn::new(sandbox);
    let mut all = Vec::with_capacity(o.connections);
    for i in 0..o.connections {
        let mut conn = Conn::new(o.targets[i % o.targets.len()]);
        let mut own = Vec::with_capacity(o.orders_per_connection);
        for k in 0..o.orders_per_connection {
            let number = format!("{prefix}c{i}o{k}");
            let body = jeepay::pay(&o.merchant, &number, REFUNDABLE_FEN);
            let (status, answer) = conn
                .post(PAY_PATH, body)
                .await
                .map_err(|e| RunError::Setup(format!("pay {number}: {e}")))?;
            let id = jeepay::verified(status, &answer, &o.merchant.secret)
                .and_then(|data| jeepay::created_pay(&data, &number))
                .map_err(|e| {
                    RunError::Setup(format!(
                        "pay {number}: {e}: {}",
                        String::from_utf8_lossy(&answer)
                    ))
                })?;
            let (status, answer) = payer
                .post(&format!("/sandbox/orders/{id}/pay"), bytes::Bytes::new())
                .await
                .map_err(|e| RunError::Setup(format!("paying {id} at the sandbox: {e}")))?;
            if status != 200 {
                return Err(RunError::Setup(format!(
                    "paying {id} at the sandbox: HTTP {status}: {}",
                    String::from_utf8_lossy(&answer)
                )));
            }
            own.push(id);
        }
        all.push(own);
    }
    Ok(all)
}
