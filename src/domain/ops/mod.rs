//! One file per operation: its canonical request and outcome, and its pipeline hooks.

pub mod close;

pub use close::{Close, Closed};
