//! What the replay records of the order store are (`super::replay` says how they are used): the
//! table's statements (its migration is `migrations/0005_replay.sql`, in `sql::MIGRATIONS`), a record as stored, and the one rule by which a claim
//! decides what to do with the record it finds, shared by both backends.

pub(crate) const INSERT: &str = "INSERT INTO replay_entries \
     (replay_key, state, owner, lease_until_ms, expires_at_ms) VALUES ($1, 'P', $2, $3, $4) \
     ON CONFLICT (replay_key) DO NOTHING";
pub(crate) const SELECT: &str = "SELECT state, answer, owner, lease_until_ms, sent_until_ms, \
     expires_at_ms FROM replay_entries WHERE replay_key = $1";
pub(crate) const SELECT_FOR_UPDATE: &str = "SELECT state, answer, owner, lease_until_ms, \
     sent_until_ms, expires_at_ms FROM replay_entries WHERE replay_key = $1 FOR UPDATE";
pub(crate) const TAKE: &str = "UPDATE replay_entries SET state = 'P', answer = NULL, owner = $2, \
     lease_until_ms = $3, sent_until_ms = $4, expires_at_ms = $5 WHERE replay_key = $1";
pub(crate) const RENEW: &str = "UPDATE replay_entries SET lease_until_ms = $3 \
     WHERE replay_key = $1 AND state = 'P' AND owner = $2";
pub(crate) const COMPLETE: &str = "INSERT INTO replay_entries \
     (replay_key, state, answer, expires_at_ms) VALUES ($1, 'D', $2, $3) \
     ON CONFLICT (replay_key) DO UPDATE SET state = 'D', answer = $2, owner = NULL, \
     lease_until_ms = NULL, sent_until_ms = NULL, expires_at_ms = $3";
pub(crate) const UNKNOWN: &str = "INSERT INTO replay_entries \
     (replay_key, state, sent_until_ms, expires_at_ms) VALUES ($1, 'U', $2, $3) \
     ON CONFLICT (replay_key) DO UPDATE SET state = 'U', answer = NULL, owner = NULL, \
     lease_until_ms = NULL, sent_until_ms = $2, expires_at_ms = $3 \
     WHERE replay_entries.state <> 'D'";
pub(crate) const RELEASE: &str =
    "DELETE FROM replay_entries WHERE replay_key = $1 AND state = 'P' AND owner = $2";
pub(crate) const PRUNE: &str = "DELETE FROM replay_entries WHERE replay_key IN \
     (SELECT replay_key FROM replay_entries WHERE expires_at_ms <= $1 LIMIT $2)";

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayClaim {
    /// First sight (or the record had expired): the claim is the caller's.
    Fresh,
    /// Sent before with an unknown outcome, or held by an instance whose lease ran out: the
    /// claim is the caller's; the earlier attempt may have been sent until `sent_until_ms`.
    Retry { sent_until_ms: i64 },
    /// Answered: these bytes.
    Replay(Vec<u8>),
    /// In flight elsewhere under a live lease.
    Busy,
}

/// A claim's parameters: the key, who claims, and the clock.
#[derive(Debug, Clone)]
pub struct ClaimAt {
    /// The replay key in hex.
    pub key: String,
    pub owner: String,
    pub now_ms: i64,
    pub lease_until_ms: i64,
    pub expires_at_ms: i64,
}

/// A record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReplayRow {
    pub state: String,
    pub answer: Option<Vec<u8>>,
    pub lease_until_ms: Option<i64>,
    pub sent_until_ms: Option<i64>,
    pub expires_at_ms: i64,
}

/// What a claim does with the record it found (the same on both backends).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Take the record (`TAKE`); `sent_until`: `None` for a first sight.
    Take {
        sent_until_ms: Option<i64>,
    },
    Answer(ReplayClaim),
}

pub(crate) fn decide(found: Option<ReplayRow>, now_ms: i64) -> Decision {
    let Some(row) = found.filter(|row| row.expires_at_ms > now_ms) else {
        return Decision::Take {
            sent_until_ms: None,
        };
    };
    match row.state.as_str() {
        "D" => Decision::Answer(ReplayClaim::Replay(row.answer.unwrap_or_default())),
        "U" => Decision::Take {
            sent_until_ms: Some(row.sent_until_ms.unwrap_or(now_ms)),
        },
        // Its owner stopped renewing (it died): whatever it sent, it sent before now.
        _ if row.lease_until_ms.is_none_or(|until| until <= now_ms) => Decision::Take {
            sent_until_ms: Some(now_ms.max(row.sent_until_ms.unwrap_or(now_ms))),
        },
        _ => Decision::Answer(ReplayClaim::Busy),
    }
}

impl Decision {
    /// The claim a `Take` gives.
    pub(crate) fn taken(sent_until_ms: Option<i64>) -> ReplayClaim {
        match sent_until_ms {
            None => ReplayClaim::Fresh,
            Some(sent_until_ms) => ReplayClaim::Retry { sent_until_ms },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: &str, lease: Option<i64>, sent: Option<i64>, expires: i64) -> ReplayRow {
        ReplayRow {
            state: state.to_owned(),
            answer: (state == "D").then(|| b"A".to_vec()),
            lease_until_ms: lease,
            sent_until_ms: sent,
            expires_at_ms: expires,
        }
    }

    #[test]
    fn a_claim_takes_what_is_free_and_waits_for_a_live_lease() {
        let now = 1_000;
        let take = |sent| Decision::Take {
            sent_until_ms: sent,
        };
        assert_eq!(decide(None, now), take(None));
        // Expired, whatever it was: a first sight.
        assert_eq!(decide(Some(row("D", None, None, now)), now), take(None));
        assert_eq!(
            decide(Some(row("D", None, None, now + 1)), now),
            Decision::Answer(ReplayClaim::Replay(b"A".to_vec()))
        );
        assert_eq!(
            decide(Some(row("U", None, Some(700), now + 1)), now),
            take(Some(700))
        );
        assert_eq!(
            decide(Some(row("P", Some(now + 1), None, now + 9)), now),
            Decision::Answer(ReplayClaim::Busy)
        );
        // A lapsed lease: its owner may have sent until now.
        assert_eq!(
            decide(Some(row("P", Some(now - 1), Some(300), now + 9)), now),
            take(Some(now))
        );
    }
}
