//! `paybridge check` on a Redis replay store: reachable, the URL's credentials accepted (AUTH
//! and SELECT are sent on connect), and a key can be written and removed (a read-only replica or
//! an ACL without SET refuses it), as the claims of every state-changing request will need.
//! What Redis said is quoted; the URL's password never is.

use std::time::Duration;

use redis::AsyncConnectionConfig;

/// Per step: connecting, and each command.
const TIMEOUT: Duration = Duration::from_secs(2);

/// What was verified, or the problem in one line.
pub async fn diagnose(url: &str) -> Result<String, String> {
    let words = |what: &str, e: redis::RedisError| {
        crate::secret::redact_userinfo(&format!("{what}: {e}{}", hint(&e)))
    };
    let client = redis::Client::open(url).map_err(|e| words("bad Redis URL", e))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(TIMEOUT))
        .set_response_timeout(Some(TIMEOUT));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| words("cannot connect", e))?;
    let mut suffix = [0u8; 8];
    crate::random::fill(&mut suffix);
    let key = format!(
        "paybridge:check:{}",
        suffix
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    // PX: the key goes away on its own even if the DEL never arrives.
    redis::cmd("SET")
        .arg(&key)
        .arg("1")
        .arg("NX")
        .arg("PX")
        .arg(10_000)
        .query_async::<Option<String>>(&mut conn)
        .await
        .map_err(|e| words("cannot write a key (SET)", e))?;
    redis::cmd("DEL")
        .arg(&key)
        .query_async::<i64>(&mut conn)
        .await
        .map_err(|e| words("cannot remove a key (DEL)", e))?;
    Ok("reachable, credentials accepted, a key written and removed".to_owned())
}

/// What to do, for the refusals an operator meets.
fn hint(e: &redis::RedisError) -> &'static str {
    match e.code() {
        Some("WRONGPASS") => " — the user or password in replay.store is wrong",
        Some("NOAUTH") => " — Redis wants a password: redis://:PASSWORD@host:port/0",
        Some("NOPERM") => " — the Redis user's ACL does not allow SET/DEL on paybridge:*",
        Some("READONLY") => " — this is a read-only replica: point replay.store at the primary",
        // The client turns a refused AUTH on connect into this kind (the server's WRONGPASS).
        _ if e.kind() == redis::ErrorKind::AuthenticationFailed => {
            " — the user or password in replay.store is wrong"
        }
        _ if e.is_connection_refusal() => {
            " — nothing listens at that host and port: is Redis running?"
        }
        _ if e.is_timeout() => " — no answer in time",
        _ => "",
    }
}
