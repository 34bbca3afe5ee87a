//! `paybridge sign`: the signature of a JSON object (Jeepay, DaxPay) or of a set of epay
//! parameters (a form body, query string, URL or JSON object), for integrators chasing a rejected
//! signature.

use std::borrow::Cow;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::{Map, Value};

use crate::dialect::daxpay::{self, Scheme};
use crate::dialect::epay::sign::{self as epay_sign, Filter, RsaSigner};
use crate::dialect::jeepay;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Dialect {
    Jeepay,
    Daxpay,
    Epay,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    #[arg(long, value_enum, default_value = "jeepay")]
    dialect: Dialect,
    /// DaxPay wire version: 3.0, 3.0-beta or 2.0.
    #[arg(long, default_value = "3.0", value_parser = |s: &str| s.parse::<daxpay::Version>())]
    version: daxpay::Version,
    /// DaxPay: md5, hmac_sha256 (default) or sm3. epay: md5 (default) or rsa (the key is then
    /// the RSA private key: base64 PKCS#8 DER as epay stores it, or PEM).
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
    /// epay MD5: sign whitespace-only values, as build 3065 and SDK1 do (build 3094 leaves them
    /// out).
    #[arg(long)]
    keep_blank: bool,
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
/// The secret from `--key`, `--key-env` or `--key-file` (its final line break dropped).
pub(super) fn read_key(
    key: &Option<String>,
    key_env: &Option<String>,
    key_file: &Option<PathBuf>,
) -> Result<String, String> {
    match (key, key_env, key_file) {
        (Some(k), _, _) => Ok(k.clone()),
        (None, Some(var), _) => {
            std::env::var(var).map_err(|_| format!("environment variable `{var}` is not set"))
        }
        (None, None, Some(path)) => std::fs::read_to_string(path)
            .map(|text| text.trim_end_matches(['\r', '\n']).to_owned())
            // The error names the file, never its content.
            .map_err(|e| format!("cannot read the key file {}: {e}", path.display())),
        (None, None, None) => {
            Err("missing key: give --key SECRET, --key-env VAR or --key-file PATH".to_owned())
        }
    }
}

/// epay's sign types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EpaySignType {
    Md5,
    Rsa,
}

impl EpaySignType {
    pub(super) fn parse(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "md5" => Ok(EpaySignType::Md5),
            "rsa" => Ok(EpaySignType::Rsa),
            _ => Err(format!("epay sign type `{text}`: give md5 or rsa")),
        }
    }
}

fn sign(args: &SignArgs, mut input: impl Read) -> Result<Vec<String>, String> {
    let secret = read_key(&args.key, &args.key_env, &args.key_file)?;
    if secret.is_empty() {
        return Err("the key is empty".to_owned());
    }
    if args.keep_blank && !matches!(args.dialect, Dialect::Epay) {
        return Err("--keep-blank applies to --dialect epay only".to_owned());
    }
    let mut text = String::new();
    input
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    if let Dialect::Epay = args.dialect {
        return sign_epay(args, &secret, &text);
    }
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
            let sign_type = match &args.sign_type {
                Some(text) => text.parse::<daxpay::SignType>()?,
                None => daxpay::SignType::HmacSha256,
            };
            let scheme = Scheme::new(args.version, sign_type);
            let mut fields = daxpay::sign::fields_of(&object);
            if args.show_string {
                lines.push(daxpay::sign::string_to_sign_masked(
                    args.version,
                    &mut fields,
                ));
            }
            lines.push(scheme.sign(&mut fields, &secret));
        }
        Dialect::Epay => unreachable!("signed above"),
    }
    Ok(lines)
}

/// epay: MD5 with the merchant key, or RSA with a private key; `sign` and `sign_type` in the input
/// are ignored, as epay leaves them out.
fn sign_epay(args: &SignArgs, secret: &str, text: &str) -> Result<Vec<String>, String> {
    let sign_type = match &args.sign_type {
        Some(t) => EpaySignType::parse(t)?,
        None => EpaySignType::Md5,
    };
    let params = crate::diagnose::epay_params(text).map_err(|e| e.to_string())?;
    let pairs = crate::dialect::epay::params::borrowed(&params);
    let mut lines = Vec::with_capacity(2);
    match sign_type {
        EpaySignType::Md5 => {
            let filter = if args.keep_blank {
                Filter::Build3065
            } else {
                Filter::Build3094
            };
            let string = epay_sign::string_to_sign(&pairs, filter);
            if args.show_string {
                // The key may sit in a value too (a test order, a careless plugin): masked there.
                lines.push(format!("{}***", string.replace(secret, "***")));
            }
            lines.push(epay_sign::md5_sign(&string, secret).to_string());
        }
        EpaySignType::Rsa => {
            if args.keep_blank {
                return Err(
                    "--keep-blank applies to md5: epay's RSA rule leaves blank values out"
                        .to_owned(),
                );
            }
            let signer = RsaSigner::from_text(secret).map_err(|e| e.to_string())?;
            let string = epay_sign::string_to_sign(&pairs, Filter::Build3094);
            if args.show_string {
                lines.push(string.clone());
            }
            lines.push(signer.sign(&string));
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
