//! paybridge: serves the Jeepay / epay-style merchant API on top of DaxPay's `/unipay` API.
//!
//! A request travels `server` → `middleware` (request id, tracing, error rendering) → `route`
//! (which reads and verifies it in the merchant's dialect, translates it, and calls `upstream`).
//! `dialect` holds each side's wire types and signing. The stand-in gateways live in their own
//! crate (`paybridge-sandbox`); the binary runs them beside the proxy through [`side`].

pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub mod diagnose;
pub mod dialect;
pub mod error;
pub mod middleware;
pub mod operation;
pub mod random;
pub mod reload;
pub mod replay;
pub mod route;
pub mod secret;
pub mod server;
pub mod side;
pub mod telemetry;
mod text;
pub mod upstream;
