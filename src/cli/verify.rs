//! `paybridge verify`: checks the signature of a request or answer read on stdin and, when it does
//! not verify, says why (see [`crate::diagnose`]).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::sign::{read_key, EpaySignType};
use crate::diagnose::{self, Dialect, EpayKey};
use crate::dialect::daxpay::{SignType, Version};
use crate::dialect::epay::sign::{Filter, RsaVerifier};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DialectArg {
    Jeepay,
    Daxpay,
    Epay,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[arg(long, value_enum, default_value = "jeepay")]
    dialect: DialectArg,
    /// DaxPay wire version: 3.0 (default), 3.0-beta or 2.0.
    #[arg(long, value_parser = |s: &str| s.parse::<Version>())]
    version: Option<Version>,
    /// DaxPay: hmac_sha256 (default), md5 or sm3. Jeepay signs with md5 only. epay: md5 or rsa
    /// (default: rsa when the input's sign_type is RSA, as epay decides; with rsa the key is the
    /// signer's public key: base64 DER as epay stores it, or PEM).
    #[arg(long)]
    sign_type: Option<String>,
    /// The secret (visible to other local users in the process list: prefer --key-env).
    #[arg(long, conflicts_with_all = ["key_env", "key_file"])]
    key: Option<String>,
    /// The name of an environment variable holding the secret.
    #[arg(long, conflicts_with = "key_file")]
    key_env: Option<String>,
    /// A file holding the secret or key (a final line break is ignored).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// epay MD5: verify by build 3065's rule (whitespace-only values signed), not build 3094's.
    #[arg(long)]
    keep_blank: bool,
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
    if args.keep_blank && !matches!(args.dialect, DialectArg::Epay) {
        return Err("--keep-blank applies to --dialect epay only".to_owned());
    }
    let sign_type = match (&args.sign_type, args.dialect) {
        (Some(text), DialectArg::Jeepay | DialectArg::Daxpay) => Some(text.parse::<SignType>()?),
        _ => None,
    };
    let dialect = match args.dialect {
        DialectArg::Epay => return verify_epay(args, input),
        DialectArg::Jeepay => {
            if args.version.is_some() {
                return Err("--version applies to --dialect daxpay only".to_owned());
            }
            if sign_type.is_some_and(|t| t != SignType::Md5) {
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
                sign_type: sign_type.unwrap_or(SignType::HmacSha256),
            }
        }
    };
    let secret = read_key(&args.key, &args.key_env, &args.key_file)?;
    let mut text = String::new();
    input
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    diagnose::diagnose(&text, &secret, dialect).map_err(|e| e.to_string())
}

/// epay: MD5 with the merchant key or RSA with the signer's public key, chosen by `--sign-type`
/// or else by the input's own `sign_type` (`RSA`: RSA; anything else: MD5, as epay decides).
fn verify_epay(args: &VerifyArgs, mut input: impl Read) -> Result<diagnose::Diagnosis, String> {
    if args.version.is_some() || args.declared_only_close {
        return Err(
            "--version and --declared-only-close do not apply to --dialect epay".to_owned(),
        );
    }
    let key = read_key(&args.key, &args.key_env, &args.key_file)?;
    let mut text = String::new();
    input
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    let sign_type = match &args.sign_type {
        Some(t) => EpaySignType::parse(t)?,
        None => {
            let params = diagnose::epay_params(&text).map_err(|e| e.to_string())?;
            let declared = params.iter().rev().find(|(k, _)| k == "sign_type");
            match declared {
                Some((_, t)) if t == "RSA" => EpaySignType::Rsa,
                _ => EpaySignType::Md5,
            }
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let filter = if args.keep_blank {
        Filter::Build3065
    } else {
        Filter::Build3094
    };
    match sign_type {
        EpaySignType::Md5 => diagnose::diagnose_epay(&text, EpayKey::Md5(&key), filter, now),
        EpaySignType::Rsa => {
            if args.keep_blank {
                return Err(
                    "--keep-blank applies to md5: epay's RSA rule leaves blank values out"
                        .to_owned(),
                );
            }
            let verifier = RsaVerifier::from_text(&key).map_err(|e| e.to_string())?;
            diagnose::diagnose_epay(&text, EpayKey::Rsa(&verifier), filter, now)
        }
    }
    .map_err(|e| e.to_string())
}
