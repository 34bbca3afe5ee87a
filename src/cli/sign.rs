//! `paybridge sign`: the signature of a JSON object, for integrators chasing a rejected signature.

use std::borrow::Cow;
use std::io::Read;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::{Map, Value};

use crate::dialect::daxpay::{self, Scheme};
use crate::dialect::jeepay;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Dialect {
    Jeepay,
    Daxpay,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    #[arg(long, value_enum)]
    dialect: Dialect,
    /// DaxPay wire version: 3.0, 3.0-beta or 2.0.
    #[arg(long, default_value = "3.0", value_parser = |s: &str| s.parse::<daxpay::Version>())]
    version: daxpay::Version,
    /// DaxPay sign type: md5, hmac_sha256 or sm3.
    #[arg(long, default_value = "hmac_sha256", value_parser = |s: &str| s.parse::<daxpay::SignType>())]
    sign_type: daxpay::SignType,
    /// The secret (visible to other local users in the process list: prefer --key-env).
    #[arg(long, conflicts_with = "key_env")]
    key: Option<String>,
    /// The name of an environment variable holding the secret.
    #[arg(long)]
    key_env: Option<String>,
    /// Print the exact string to sign (secret masked) on the line before the signature.
    #[arg(long)]
    show_string: bool,
}

pub fn run(args: SignArgs) -> ExitCode {
    match sign(&args, std::io::stdin().lock()) {
        Ok(lines) => {
            super::output::emit(&(lines.join("\n") + "\n"));
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("paybridge sign: {message}");
            ExitCode::from(2)
        }
    }
}

/// The lines to print: the masked string to sign (when asked), then the signature.
fn sign(args: &SignArgs, mut input: impl Read) -> Result<Vec<String>, String> {
    let secret = match (&args.key, &args.key_env) {
        (Some(k), _) => k.clone(),
        (None, Some(var)) => {
            std::env::var(var).map_err(|_| format!("environment variable `{var}` is not set"))?
        }
        (None, None) => return Err("missing key: give --key SECRET or --key-env VAR".to_owned()),
    };
    if secret.is_empty() {
        return Err("the key is empty".to_owned());
    }
    let mut text = String::new();
    input
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    let object: Map<String, Value> = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(o)) => o,
        Ok(_) => return Err("input is not a JSON object".to_owned()),
        Err(e) => return Err(format!("input is not valid JSON: {e}")),
    };
    let mut lines = Vec::with_capacity(2);
    match args.dialect {
        Dialect::Jeepay => {
            let rendered: Vec<(&str, Cow<'_, str>)> = object
                .iter()
                .filter_map(|(k, v)| jeepay_text(v).map(|t| (k.as_str(), t)))
                .collect();
            let mut fields: Vec<(&str, &str)> = rendered
                .iter()
                .map(|(k, v)| (*k, v.as_ref()))
                .filter(|(k, v)| jeepay::sign::signable(k, v))
                .collect();
            let mut payload = String::new();
            jeepay::sign::write_payload(&mut fields, &mut payload);
            if args.show_string {
                lines.push(format!("{payload}key=***"));
            }
            lines.push(jeepay::sign::digest(&format!("{payload}key={secret}")).to_string());
        }
        Dialect::Daxpay => {
            let scheme = Scheme::new(args.version, args.sign_type);
            let mut fields = daxpay::sign::fields_of(&object);
            if args.show_string {
                lines.push(daxpay::sign::string_to_sign_masked(
                    args.version,
                    &mut fields,
                ));
            }
            lines.push(scheme.sign(&mut fields, &secret));
        }
    }
    Ok(lines)
}

/// A JSON value as Jeepay writes it into the sign string; `None` for null.
fn jeepay_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(Cow::Borrowed(s)),
        other => Some(Cow::Owned(other.to_string())),
    }
}
