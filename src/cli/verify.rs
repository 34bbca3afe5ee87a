//! `paybridge verify`: checks the signature of a request or answer read on stdin and, when it does
//! not verify, says why (see [`crate::diagnose`]).

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::diagnose::{self, Dialect};
use crate::dialect::daxpay::{SignType, Version};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DialectArg {
    Jeepay,
    Daxpay,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[arg(long, value_enum)]
    dialect: DialectArg,
    /// DaxPay wire version: 3.0 (default), 3.0-beta or 2.0.
    #[arg(long, value_parser = |s: &str| s.parse::<Version>())]
    version: Option<Version>,
    /// DaxPay sign type: hmac_sha256 (default), md5 or sm3. Jeepay signs with md5 only.
    #[arg(long, value_parser = |s: &str| s.parse::<SignType>())]
    sign_type: Option<SignType>,
    /// The secret (visible to other local users in the process list: prefer --key-env).
    #[arg(long, conflicts_with = "key_env")]
    key: Option<String>,
    /// The name of an environment variable holding the secret.
    #[arg(long)]
    key_env: Option<String>,
    /// Jeepay: verify over the close request's declared fields only, as paybridge does, even when
    /// the body does not look like a close request (mchNo, appId and signType present).
    #[arg(long)]
    declared_only_close: bool,
}

/// Exit 0: valid; 1: does not verify; 2: bad input.
pub fn run(args: VerifyArgs) -> ExitCode {
    match verify(&args, std::io::stdin().lock()) {
        Ok(diagnosis) => {
            let mut out = std::io::stdout().lock();
            for line in diagnosis.lines() {
                let _ = writeln!(out, "{line}");
            }
            let _ = out.flush();
            if diagnosis.valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(message) => {
            eprintln!("paybridge verify: {message}");
            ExitCode::from(2)
        }
    }
}

fn verify(args: &VerifyArgs, mut input: impl Read) -> Result<diagnose::Diagnosis, String> {
    let dialect = match args.dialect {
        DialectArg::Jeepay => {
            if args.version.is_some() {
                return Err("--version applies to --dialect daxpay only".to_owned());
            }
            if args.sign_type.is_some_and(|t| t != SignType::Md5) {
                return Err("Jeepay signs with md5 only".to_owned());
            }
            Dialect::Jeepay {
                declared_only_close: args.declared_only_close,
            }
        }
        DialectArg::Daxpay => {
            if args.declared_only_close {
                return Err("--declared-only-close applies to --dialect jeepay only".to_owned());
            }
            Dialect::Daxpay {
                version: args.version.unwrap_or(Version::V3_0),
                sign_type: args.sign_type.unwrap_or(SignType::HmacSha256),
            }
        }
    };
    let secret = match (&args.key, &args.key_env) {
        (Some(k), _) => k.clone(),
        (None, Some(var)) => {
            std::env::var(var).map_err(|_| format!("environment variable `{var}` is not set"))?
        }
        (None, None) => return Err("missing key: give --key SECRET or --key-env VAR".to_owned()),
    };
    let mut text = String::new();
    input
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    diagnose::diagnose(&text, &secret, dialect).map_err(|e| e.to_string())
}
