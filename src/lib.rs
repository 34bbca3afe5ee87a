//! paybridge: serves the Jeepay / epay-style merchant API on top of DaxPay's `/unipay` API.
//!
//! A request travels `server` → `middleware` (request id, tracing, error rendering) → `proxy`
//! (which routes it, and carries a translated one through the one pipeline: read and verify in
//! the merchant's dialect, translate, call `upstream`, answer re-signed). `dispatch` names every
//! path; `domain` holds the operations in no dialect's terms; `dialect` holds each side's wire
//! types, signing and per-operation wire forms. The stand-in gateways live in their own crate
//! (`paybridge-sandbox`); the binary runs them beside the proxy through [`side`]. See
//! docs/architecture.md.

pub mod address;
pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub mod diagnose;
pub mod dialect;
pub mod dispatch;
pub mod domain;
pub mod middleware;
pub mod notify;
pub mod proxy;
pub mod random;
pub mod reload;
pub mod replay;
pub mod secret;
pub mod server;
pub mod side;
pub mod store;
pub mod telemetry;
mod text;
pub mod upstream;
