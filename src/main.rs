use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    paybridge::cli::run(paybridge::cli::Cli::parse())
}
