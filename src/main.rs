//! The `paybridge` binary: the library's command line, with the stand-in gateways of the
//! `paybridge-sandbox` crate plugged in as side services (`src/bin_support/`).

use std::process::ExitCode;

use clap::Parser;

mod bin_support;

fn main() -> ExitCode {
    paybridge::cli::run(paybridge::cli::Cli::parse(), &bin_support::SANDBOXES)
}
