//! A paced load for latency (for `scripts/bench`): N keep-alive connections, each sending
//! `POST /api/pay/close` on a fixed schedule, at a total rate well below what the server can
//! serve, so that a request's latency is its service time and not time spent queueing behind
//! the other connections' requests.
//!
//! ```text
//! paced_load --addr 127.0.0.1:18080 --body-file A.json [--body-file B.json ...]
//!            [--connections 16] [--rate 4000] [--duration 8] [--warmup 2]
//! ```
//!
//! Each connection is a thread with a blocking socket: it sends at `start + k × interval`
//! (`interval` = connections / rate, each connection at its own random phase so that they do not
//! line up), reads the whole answer, and records the time from sending to the last byte. (wrk's
//! `delay()` cannot pace like this: its timers fire on millisecond ticks, so every connection
//! sends at the same instant and the requests queue behind each other.) A connection that falls
//! behind its schedule sends at once; its latency is still counted from the moment it sent (no
//! correction for coordinated omission: at the tenth of capacity `scripts/bench` asks for, a
//! connection is rarely behind).
//!
//! With several bodies, every connection takes them in turn, request by request, and each body's
//! latencies are kept apart: the paths they take through paybridge are compared under the very
//! same conditions (a shared, noisy machine drifts between two separate runs by more than the
//! difference being measured). One line per body, in the form `scripts/bench` reads from wrk:
//! `RESULT requests duration_us p50_us p99_us p999_us max_us non_2xx errors`.
//! Loopback only: `--addr` must be a 127.0.0.0/8 or ::1 address.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

struct Args {
    addr: SocketAddr,
    bodies: Vec<Vec<u8>>,
    connections: usize,
    rate: f64,
    duration: Duration,
    warmup: Duration,
}

fn args() -> Result<Args, String> {
    let mut addr = None;
    let mut bodies = Vec::new();
    let mut connections = 16;
    let mut rate: f64 = 4000.0;
    let mut duration = Duration::from_secs(8);
    let mut warmup = Duration::from_secs(2);
    let mut it = std::env::args().skip(1);
    let secs = |v: String| v.parse().map(Duration::from_secs).map_err(|_| "seconds");
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => addr = Some(value()?.parse::<SocketAddr>().map_err(|e| e.to_string())?),
            "--body-file" => bodies.push(std::fs::read(value()?).map_err(|e| e.to_string())?),
            "--connections" => connections = value()?.parse().map_err(|_| "--connections N")?,
            "--rate" => rate = value()?.parse().map_err(|_| "--rate REQUESTS_PER_SECOND")?,
            "--duration" => duration = secs(value()?)?,
            "--warmup" => warmup = secs(value()?)?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let addr = addr.ok_or("--addr is required")?;
    if !addr.ip().is_loopback() {
        return Err(format!("{addr} is not a loopback address"));
    }
    if connections == 0 || rate.is_nan() || rate <= 0.0 {
        return Err("--connections and --rate must be positive".to_owned());
    }
    if bodies.is_empty() {
        return Err("--body-file is required".to_owned());
    }
    Ok(Args {
        addr,
        bodies,
        connections,
        rate,
        duration,
        warmup,
    })
}

/// What one connection saw after the warm-up.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    non_2xx: u64,
    errors: u64,
}

fn main() {
    let args = args().unwrap_or_else(|e| {
        eprintln!("paced_load: {e}");
        std::process::exit(2);
    });
    let requests: Vec<Vec<u8>> = args
        .bodies
        .iter()
        .map(|body| {
            let mut request = format!(
                "POST /api/pay/close HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                args.addr,
                body.len()
            )
            .into_bytes();
            request.extend_from_slice(body);
            request
        })
        .collect();
    let interval = Duration::from_secs_f64(args.connections as f64 / args.rate);
    let begin = Instant::now() + Duration::from_millis(100);
    let measure_from = begin + args.warmup;
    let end = measure_from + args.duration;
    let threads: Vec<_> = (0..args.connections)
        .map(|_| {
            let requests = requests.clone();
            let addr = args.addr;
            let mut seed = [0u8; 8];
            let _ = getrandom::fill(&mut seed);
            let phase = interval.mul_f64(u64::from_le_bytes(seed) as f64 / u64::MAX as f64);
            std::thread::spawn(move || {
                connection(addr, &requests, begin + phase, interval, measure_from, end)
            })
        })
        .collect();
    let mut all: Vec<Tally> = requests.iter().map(|_| Tally::default()).collect();
    for t in threads {
        let tallies = t.join().unwrap_or_else(|_| {
            vec![Tally {
                errors: 1,
                ..Tally::default()
            }]
        });
        for (total, tally) in all.iter_mut().zip(tallies) {
            total.latencies_us.extend(tally.latencies_us);
            total.non_2xx += tally.non_2xx;
            total.errors += tally.errors;
        }
    }
    for mut tally in all {
        tally.latencies_us.sort_unstable();
        let at = |q: f64| {
            let n = tally.latencies_us.len();
            if n == 0 {
                return 0;
            }
            tally.latencies_us[((q * n as f64).ceil() as usize).clamp(1, n) - 1]
        };
        println!(
            "RESULT {} {} {} {} {} {} {} {}",
            tally.latencies_us.len(),
            args.duration.as_micros(),
            at(0.50),
            at(0.99),
            at(0.999),
            tally.latencies_us.last().copied().unwrap_or(0),
            tally.non_2xx,
            tally.errors
        );
    }
}

/// One connection's schedule; a tally per request body.
fn connection(
    addr: SocketAddr,
    requests: &[Vec<u8>],
    first: Instant,
    interval: Duration,
    measure_from: Instant,
    end: Instant,
) -> Vec<Tally> {
    let mut tallies: Vec<Tally> = requests.iter().map(|_| Tally::default()).collect();
    let open = || {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok::<_, std::io::Error>(stream)
    };
    let Ok(mut stream) = open() else {
        tallies[0].errors += 1;
        return tallies;
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut next = first;
    for turn in 0.. {
        if next >= end {
            break;
        }
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        let which = turn % requests.len();
        let sent = Instant::now();
        let answer = stream
            .write_all(&requests[which])
            .and_then(|()| read_answer(&mut stream, &mut buf));
        let took = sent.elapsed();
        let tally = &mut tallies[which];
        if sent >= measure_from {
            match answer {
                Ok(status) => {
                    tally
                        .latencies_us
                        .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
                    if !(200..300).contains(&status) {
                        tally.non_2xx += 1;
                    }
                }
                Err(_) => tally.errors += 1,
            }
        }
        if answer.is_err() {
            match open() {
                Ok(s) => stream = s,
                Err(_) => {
                    tallies[which].errors += 1;
                    return tallies;
                }
            }
        }
        next += interval;
    }
    tallies
}

/// Reads one HTTP/1.1 answer with a `Content-Length` body; returns its status.
fn read_answer(stream: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<u16> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            return Err(bad("answer too large"));
        }
        let n = stream.read(&mut buf[filled..])?;
        if n == 0 {
            return Err(bad("connection closed"));
        }
        filled += n;
        let Some(head_end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| bad("head is not text"))?;
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no status"))?;
        let length: usize = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .ok_or_else(|| bad("no content-length"))?;
        let total = head_end + 4 + length;
        if total > buf.len() {
            return Err(bad("answer too large"));
        }
        while filled < total {
            let n = stream.read(&mut buf[filled..total])?;
            if n == 0 {
                return Err(bad("connection closed"));
            }
            filled += n;
        }
        return Ok(status);
    }
}
