//! epay's signatures as a merchant computes them, written from epay.md §4 and §5 (never from
//! paybridge's code): SDK1 `EpayCore::getSign` (MD5) and SDK2's RSA (SHA256WithRSA, PKCS#1
//! v1.5, base64), with the timestamp rule of SDK2 `verify()`.

use base64ct::{Base64, Encoding};
use md5::{Digest, Md5};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::sha2::Sha256;

/// SDK1's string (`$v != ''`): every parameter but `sign`, `sign_type` and empty values,
/// sorted by the bytes of the name, `k=v` joined by `&`, values raw.
pub fn md5_string(params: &[(&str, &str)]) -> String {
    joined(params, |v| v.is_empty())
}

/// SDK2's / build 3094's string: also leaves out whitespace-only values (PHP `trim`).
pub fn rsa_string(params: &[(&str, &str)]) -> String {
    joined(params, |v| {
        v.bytes()
            .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\0' | 0x0B))
    })
}

fn joined(params: &[(&str, &str)], dropped: impl Fn(&str) -> bool) -> String {
    let mut kept: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, v)| *k != "sign" && *k != "sign_type" && !dropped(v))
        .copied()
        .collect();
    kept.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    kept.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `md5(string + KEY)`, lower-case hex.
pub fn md5_sign(params: &[(&str, &str)], key: &str) -> String {
    hex::encode(Md5::digest(
        format!("{}{key}", md5_string(params)).as_bytes(),
    ))
}

/// SDK1 `verifyNotify()` / `verifyReturn()`: `getSign($_GET) === $_GET['sign']`.
pub fn md5_verify(params: &[(&str, &str)], key: &str) -> bool {
    let given = params.iter().rev().find(|(k, _)| *k == "sign").map(|p| p.1);
    given == Some(md5_sign(params, key).as_str())
}

/// SHA256WithRSA over [`rsa_string`] with a base64 PKCS#8 private key; standard base64 out.
pub fn rsa_sign(params: &[(&str, &str)], private_key_b64: &str) -> String {
    let der = Base64::decode_vec(private_key_b64).expect("base64 private key");
    let key = rsa::PrivateKey::from_pkcs8_der(&der).expect("PKCS#8 RSA key");
    let signature = key
        .pkcs1v15_sign::<Sha256>(rsa_string(params).as_bytes())
        .expect("RSA signing");
    Base64::encode_string(&signature)
}

/// `openssl_verify(…) === 1` with a base64 SPKI public key.
pub fn rsa_verify(params: &[(&str, &str)], sign_b64: &str, public_key_b64: &str) -> bool {
    let Ok(der) = Base64::decode_vec(public_key_b64) else {
        return false;
    };
    let Ok(key) = rsa::PublicKey::from_public_key_der(&der) else {
        return false;
    };
    let Ok(signature) = Base64::decode_vec(sign_b64) else {
        return false;
    };
    key.pkcs1v15_verify::<Sha256>(rsa_string(params).as_bytes(), &signature)
        .is_ok()
}

/// Unix seconds now, as V2 sends `timestamp`.
pub fn timestamp() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        .to_string()
}

/// SDK2 `verify()`: `sign` non-empty, `timestamp` non-empty and within 300 s of now, and the
/// RSA signature good under the platform key. `Err` says which check failed.
pub fn sdk2_verify(params: &[(&str, &str)], platform_public_key: &str) -> Result<(), String> {
    let get = |name: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|p| p.1)
            .unwrap_or("")
    };
    let sign = get("sign");
    if sign.is_empty() {
        return Err("no sign".into());
    }
    let ts: i64 = get("timestamp")
        .parse()
        .map_err(|_| format!("timestamp {:?}", get("timestamp")))?;
    let now: i64 = timestamp().parse().expect("digits");
    if (now - ts).abs() > 300 {
        return Err(format!("timestamp {ts} is {} s from now", now - ts));
    }
    if rsa_verify(params, sign, platform_public_key) {
        Ok(())
    } else {
        Err(format!(
            "RSA signature does not verify over {:?}",
            rsa_string(params)
        ))
    }
}

/// A JSON answer's fields as PHP's array holds them for signing: strings as they are,
/// numbers as written, null, arrays and objects left out.
pub fn json_fields(answer: &serde_json::Value) -> Vec<(String, String)> {
    answer
        .as_object()
        .map(|object| {
            object
                .iter()
                .filter_map(|(k, v)| match v {
                    serde_json::Value::String(s) => Some((k.clone(), s.clone())),
                    serde_json::Value::Number(n) => Some((k.clone(), n.to_string())),
                    serde_json::Value::Bool(b) => {
                        Some((k.clone(), if *b { "1" } else { "" }.into()))
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Borrowed view of owned pairs.
pub fn pairs(owned: &[(String, String)]) -> Vec<(&str, &str)> {
    owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}
