//! `paybridge-loadgen`: a signing load generator for paybridge's pay and refund paths, where
//! every request must carry a merchant number never sent before (wrk sends one body again and
//! again, and its Lua has no MD5).
//!
//! ```sh
//! paybridge-loadgen pay    --target 127.0.0.1:18080[,127.0.0.1:18083] [--connections 64]
//!                          [--duration 5] [--warmup 2] [--mch-no M --app-id A --secret S]
//! paybridge-loadgen refund --target … --sandbox 127.0.0.1:19591 [--orders-per-connection 4] …
//! ```
//!
//! - `pay`: each request a Jeepay `/api/pay/unifiedOrder` with a new `mchOrderNo` (1 fen,
//!   WeChat native): every one is a pay order paybridge records and DaxPay creates. Success:
//!   code 0, `data` signed with the merchant's secret, its own number back, state 0–2.
//! - `refund`: first, for each connection, `--orders-per-connection` orders are created through
//!   paybridge and paid at the DaxPay sandbox's payer endpoint (`POST
//!   /sandbox/orders/{payOrderId}/pay`); then each request refunds 1 fen of one of its
//!   connection's orders (in turn) with a new `mchRefundNo`: every one is a refund DaxPay
//!   accepts, and no two requests refund the same order at once. Success: code 0, signed, its
//!   own number back, state 1 or 2.
//!
//! Connections are spread over the targets in turn (two paybridge instances on one store).
//! Requests are counted and their latency recorded when they end after the warm-up and before
//! its end; a connection never has two requests in flight (HTTP/1.1 keep-alive, as wrk).
//!
//! Output: one line on stdout as `scripts/bench-nginx`'s wrk scripts print it,
//! `RESULT <requests> <microseconds> <p50> <p99> <p999> <max> <not success> <socket errors>`
//! (latencies in µs; "not success" is every answer but a verified success: a non-2xx status,
//! a refusal, an unsigned or badly signed answer, an unexpected state), and a summary on stderr
//! (requests/s, the latencies, the first few answers that were not a success, by kind), after a
//! line `measuring` on stderr when the measured time starts (the script reads the processes' CPU
//! time then).

mod conn;
mod jeepay;
mod options;
mod run;
mod sign;

use std::process::ExitCode;

fn main() -> ExitCode {
    let options = match options::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("paybridge-loadgen: {e}\n\n{}", options::USAGE);
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("paybridge-loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run::run(&options)) {
        Ok(report) => {
            println!("{}", report.result_line());
            eprintln!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("paybridge-loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
