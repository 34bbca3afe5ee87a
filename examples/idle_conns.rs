//! Opens many keep-alive client connections to paybridge, sends one request on each, leaves them
//! idle, and reports paybridge's resident memory meanwhile (for `scripts/bench`).
//!
//! ```text
//! idle_conns --addr 127.0.0.1:18080 --connections 1000 --body-file BODY.json --pid PID [--hold 4]
//! ```
//!
//! Each connection sends `POST /api/pay/close` with the JSON body read from `--body-file` and
//! reads the whole answer (HTTP/1.1 keep-alive), then stays open without sending anything. Printed
//! as `key=value` lines: paybridge's VmRSS before, once every connection is idle, and at the end
//! of the hold; how many connections the server had closed by then. Loopback only: `--addr` must
//! be a 127.0.0.0/8 or ::1 address.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Args {
    addr: SocketAddr,
    connections: usize,
    body: Vec<u8>,
    pid: u32,
    hold: Duration,
}

fn args() -> Result<Args, String> {
    let mut addr = None;
    let mut connections = 1000;
    let mut body = None;
    let mut pid = None;
    let mut hold = Duration::from_secs(4);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => addr = Some(value()?.parse::<SocketAddr>().map_err(|e| e.to_string())?),
            "--connections" => connections = value()?.parse().map_err(|_| "--connections N")?,
            "--body-file" => body = Some(std::fs::read(value()?).map_err(|e| e.to_string())?),
            "--pid" => pid = Some(value()?.parse().map_err(|_| "--pid PID")?),
            "--hold" => hold = Duration::from_secs(value()?.parse().map_err(|_| "--hold S")?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let addr = addr.ok_or("--addr is required")?;
    if !addr.ip().is_loopback() {
        return Err(format!("{addr} is not a loopback address"));
    }
    Ok(Args {
        addr,
        connections,
        body: body.ok_or("--body-file is required")?,
        pid: pid.ok_or("--pid is required")?,
        hold,
    })
}

fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key) && l[key.len()..].starts_with(':'))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Sends one request and reads its answer (Content-Length framed); returns the open stream.
async fn one_request(addr: SocketAddr, request: &[u8]) -> Result<TcpStream, String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    stream.write_all(request).await.map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed before answering".to_owned());
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        if !head.starts_with("http/1.1 200") {
            return Err(format!("answered {}", head.lines().next().unwrap_or("")));
        }
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or("no content-length")?;
        if buf.len() >= end + 4 + length {
            return Ok(stream);
        }
    }
}

/// Whether the server closed the connection (a read that would block means it is still open).
fn closed(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.try_read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false, // unexpected data, but the connection is open
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("idle_conns: {e}");
            std::process::exit(2);
        }
    };
    let mut request = format!(
        "POST /api/pay/close HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        args.addr,
        args.body.len()
    )
    .into_bytes();
    request.extend_from_slice(&args.body);

    let rss_before = status_kib(args.pid, "VmRSS");
    let started = Instant::now();
    // 50 at a time: a burst of 1,000 connects would only measure the accept queue.
    let mut streams = Vec::with_capacity(args.connections);
    let mut failures = 0usize;
    let mut pending = tokio::task::JoinSet::new();
    let mut launched = 0;
    while launched < args.connections || !pending.is_empty() {
        while launched < args.connections && pending.len() < 50 {
            let request = request.clone();
            let addr = args.addr;
            pending.spawn(async move { one_request(addr, &request).await });
            launched += 1;
        }
        match pending.join_next().await {
            Some(Ok(Ok(stream))) => streams.push(stream),
            Some(Ok(Err(e))) => {
                failures += 1;
                if failures <= 3 {
                    eprintln!("idle_conns: a connection failed: {e}");
                }
            }
            Some(Err(e)) => {
                failures += 1;
                eprintln!("idle_conns: task failed: {e}");
            }
            None => break,
        }
    }
    let opened_in = started.elapsed();
    // Let the proxy finish whatever follows the answers, then measure with every connection idle.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle = status_kib(args.pid, "VmRSS");
    tokio::time::sleep(args.hold).await;
    let rss_end = status_kib(args.pid, "VmRSS");
    let hwm = status_kib(args.pid, "VmHWM");
    let still_open = streams.iter().filter(|s| !closed(s)).count();
    println!("connections={}", streams.len());
    println!("failed={failures}");
    println!("opened_in_ms={}", opened_in.as_millis());
    println!("rss_before_kib={rss_before}");
    println!("rss_idle_kib={rss_idle}");
    println!("rss_after_hold_kib={rss_end}");
    println!("hold_s={}", args.hold.as_secs());
    println!("peak_rss_kib={hwm}");
    println!("still_open={still_open}");
    if failures > 0 || streams.len() != args.connections {
        std::process::exit(1);
    }
}
