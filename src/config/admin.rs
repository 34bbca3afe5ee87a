//! `[admin]`: the admin listener and its bearer token.

use std::net::SocketAddr;

use super::error::ConfigError;
use super::parse::{invalid, parse_addr, resolve_secret};
use super::raw::RawAdmin;
use crate::secret::Secret;

/// The shortest admin token accepted: it guards reloads and the configuration view.
pub const MIN_TOKEN_CHARS: usize = 16;

pub(super) fn validate(raw: RawAdmin) -> Result<(Option<SocketAddr>, Option<Secret>), ConfigError> {
    let listen = raw
        .listen
        .as_deref()
        .map(|a| parse_addr("admin.listen", Some(a), ""))
        .transpose()?;
    let token = raw
        .token
        .map(|t| resolve_secret("admin.token", t))
        .transpose()?;
    if let Some(token) = &token {
        // Counted in characters; the token itself is never quoted.
        if token.expose().trim().chars().count() < MIN_TOKEN_CHARS {
            return Err(invalid(
                "admin.token",
                format!("must be at least {MIN_TOKEN_CHARS} characters"),
            ));
        }
    }
    if let Some(addr) = listen {
        if token.is_none() && !addr.ip().is_loopback() {
            return Err(invalid(
                "admin.token",
                format!(
                    "required: admin.listen {addr} is not a loopback address, and the admin \
                     routes reload and show the configuration"
                ),
            ));
        }
    }
    Ok((listen, token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::RawSecret;

    fn admin(listen: &str, token: Option<&str>) -> Result<Option<Secret>, String> {
        validate(RawAdmin {
            listen: Some(listen.to_owned()),
            token: token.map(|t| RawSecret::Inline(t.to_owned())),
        })
        .map(|(_, token)| token)
        .map_err(|e| e.to_string())
    }

    #[test]
    fn a_public_listener_needs_a_token() {
        let err = admin("0.0.0.0:9100", None).unwrap_err();
        assert!(err.starts_with("admin.token: required"), "{err}");
        assert!(admin("[::]:9100", None).is_err());
        assert!(admin("127.0.0.1:9100", None).unwrap().is_none());
        assert!(admin("[::1]:9100", None).unwrap().is_none());
        let token = admin("0.0.0.0:9100", Some("0123456789abcdef")).unwrap();
        assert_eq!(token.unwrap().expose(), "0123456789abcdef");
    }

    #[test]
    fn a_short_token_is_refused_without_being_quoted() {
        let err = admin("127.0.0.1:9100", Some("hunter2")).unwrap_err();
        assert!(err.contains("at least 16"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
