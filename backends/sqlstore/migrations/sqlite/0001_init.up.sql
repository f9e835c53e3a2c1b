-- +goose Up
-- authkit schema version 1 for SQLite 3.37+ (backends/sqlstore).
--
-- Times are INTEGER microseconds since the Unix epoch (UTC); NULL means
-- "never". No token secret is stored: refresh and API tokens are kept as
-- the SHA-256 (or keyed HMAC) of the token, access tokens only by their jti
-- when revoked. STRICT tables refuse a value of the wrong type. The table
-- prefix is authkit_; sqlstore.Migrate rewrites it for WithTablePrefix, and
-- a team applying these files with its own tool and another prefix
-- replaces every "authkit_" below.

-- One row per refresh-token family (a login on one device).
CREATE TABLE IF NOT EXISTS authkit_sessions (
    id              TEXT    NOT NULL PRIMARY KEY,
    subject         TEXT    NOT NULL,
    client_id       TEXT    NOT NULL,
    scopes          TEXT,             -- JSON array of strings, NULL when empty
    audience        TEXT,             -- JSON array of strings, NULL when empty
    claims          BLOB,             -- application claims, a JSON object, as given
    user_agent      TEXT    NOT NULL,
    ip              TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL, -- absolute end of the family
    idle_expires_at INTEGER NOT NULL, -- end unless refreshed
    revoked_at      INTEGER,
    gc_at           INTEGER NOT NULL  -- garbage from then on: min(expires_at, idle_expires_at), or the minimum integer once revoked
) STRICT;
CREATE INDEX IF NOT EXISTS authkit_sessions_subject_idx ON authkit_sessions (subject, created_at);
CREATE INDEX IF NOT EXISTS authkit_sessions_gc_idx ON authkit_sessions (gc_at);

-- One row per refresh token, current or rotated.
CREATE TABLE IF NOT EXISTS authkit_refresh_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32), -- SHA-256 of the token
    session_id TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,          -- set by the rotation that spent it
    successor  BLOB              -- the successor, sealed under a key only the presented token yields
) STRICT;
CREATE INDEX IF NOT EXISTS authkit_refresh_tokens_session_idx ON authkit_refresh_tokens (session_id);
CREATE INDEX IF NOT EXISTS authkit_refresh_tokens_expires_idx ON authkit_refresh_tokens (expires_at);

-- Revoked access-token identities, each under the subject (sub) of the
-- tokens it kills: kind 1 a jti, 2 a sid (session), 3 the subject's
-- logout-all cutoff (tokens issued at or before cutoff_at are dead; ident
-- is empty).
CREATE TABLE IF NOT EXISTS authkit_revocations (
    subject    TEXT    NOT NULL,
    kind       INTEGER NOT NULL,
    ident      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL, -- the entry counts while expires_at > now
    cutoff_at  INTEGER,          -- kind 3 only
    PRIMARY KEY (subject, kind, ident)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS authkit_revocations_expires_idx ON authkit_revocations (expires_at);

-- Long-lived API tokens.
CREATE TABLE IF NOT EXISTS authkit_api_tokens (
    id           TEXT    NOT NULL PRIMARY KEY,
    hash         BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32), -- SHA-256 of the token
    subject      TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    scopes       TEXT,             -- JSON array of strings, NULL when empty
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    gc_at        INTEGER           -- expires_at, or the minimum integer once revoked
) STRICT;
CREATE INDEX IF NOT EXISTS authkit_api_tokens_subject_idx ON authkit_api_tokens (subject, created_at);
CREATE INDEX IF NOT EXISTS authkit_api_tokens_gc_idx ON authkit_api_tokens (gc_at);

-- One row per subject that created an API token under a limit: the lock
-- that makes "count, then insert" atomic.
CREATE TABLE IF NOT EXISTS authkit_api_token_subjects (
    subject TEXT NOT NULL PRIMARY KEY
) STRICT, WITHOUT ROWID;
