-- Replay records (src/store/replay.rs): the answer to each signed state-changing request, kept so
-- that an exact retry gets it again, across restarts and across instances on one database.
-- `@BYTES@` is BLOB on SQLite and BYTEA on PostgreSQL (sql::migration_text).
--
-- replay_key: the replay key (hex SHA-256). state: 'P' in flight (held by `owner` until lease_until_ms,
-- renewed while the request runs), 'U' sent but the outcome unknown (sent_until_ms: the latest
-- moment the request may have been sent), 'D' answered (`answer`). A row is dead from
-- expires_at_ms on and pruned in small batches.
CREATE TABLE replay_entries (
    replay_key     TEXT    PRIMARY KEY,
    state          TEXT    NOT NULL,
    answer         @BYTES@,
    owner          TEXT,
    lease_until_ms BIGINT,
    sent_until_ms  BIGINT,
    expires_at_ms  BIGINT  NOT NULL
);

CREATE INDEX replay_entries_expiry ON replay_entries (expires_at_ms);
