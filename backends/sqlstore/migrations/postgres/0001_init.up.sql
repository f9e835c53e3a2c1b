-- +goose Up
-- authkit schema version 1 for PostgreSQL (backends/sqlstore).
--
-- Times are BIGINT microseconds since the Unix epoch (UTC); NULL means
-- "never". No token secret is stored: refresh and API tokens are kept as
-- the SHA-256 (or keyed HMAC) of the token, access tokens only by their jti
-- when revoked. The table prefix is authkit_; sqlstore.Migrate rewrites it
-- for WithTablePrefix, and a team applying these files with its own tool
-- and another prefix replaces every "authkit_" below.

-- One row per refresh-token family (a login on one device).
CREATE TABLE IF NOT EXISTS authkit_sessions (
    id              TEXT     NOT NULL,
    subject         TEXT     NOT NULL,
    client_id       TEXT     NOT NULL,
    scopes          TEXT,             -- JSON array of strings, NULL when empty
    audience        TEXT,             -- JSON array of strings, NULL when empty
    claims          BYTEA,            -- application claims, a JSON object, as given
    user_agent      TEXT     NOT NULL,
    ip              TEXT     NOT NULL,
    name            TEXT     NOT NULL,
    created_at      BIGINT   NOT NULL,
    last_used_at    BIGINT   NOT NULL,
    expires_at      BIGINT   NOT NULL, -- absolute end of the family
    idle_expires_at BIGINT   NOT NULL, -- end unless refreshed
    revoked_at      BIGINT,
    gc_at           BIGINT   NOT NULL, -- garbage from then on: min(expires_at, idle_expires_at), or the minimum BIGINT once revoked
    CONSTRAINT authkit_sessions_pkey PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS authkit_sessions_subject_idx ON authkit_sessions (subject, created_at);
CREATE INDEX IF NOT EXISTS authkit_sessions_gc_idx ON authkit_sessions (gc_at);

-- One row per refresh token, current or rotated.
CREATE TABLE IF NOT EXISTS authkit_refresh_tokens (
    hash       BYTEA  NOT NULL, -- SHA-256 of the token
    session_id TEXT   NOT NULL,
    subject    TEXT   NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,          -- set by the rotation that spent it
    successor  BYTEA,           -- the successor, sealed under a key only the presented token yields
    CONSTRAINT authkit_refresh_tokens_pkey PRIMARY KEY (hash),
    CONSTRAINT authkit_refresh_tokens_hash_len CHECK (octet_length(hash) = 32)
);
CREATE INDEX IF NOT EXISTS authkit_refresh_tokens_session_idx ON authkit_refresh_tokens (session_id);
CREATE INDEX IF NOT EXISTS authkit_refresh_tokens_expires_idx ON authkit_refresh_tokens (expires_at);

-- Revoked access-token identities, each under the subject (sub) of the
-- tokens it kills: kind 1 a jti, 2 a sid (session), 3 the subject's
-- logout-all cutoff (tokens issued at or before cutoff_at are dead; ident
-- is empty).
CREATE TABLE IF NOT EXISTS authkit_revocations (
    subject    TEXT     NOT NULL,
    kind       SMALLINT NOT NULL,
    ident      TEXT     NOT NULL,
    expires_at BIGINT   NOT NULL, -- the entry counts while expires_at > now
    cutoff_at  BIGINT,            -- kind 3 only
    CONSTRAINT authkit_revocations_pkey PRIMARY KEY (subject, kind, ident)
);
CREATE INDEX IF NOT EXISTS authkit_revocations_expires_idx ON authkit_revocations (expires_at);

-- Long-lived API tokens.
CREATE TABLE IF NOT EXISTS authkit_api_tokens (
    id           TEXT   NOT NULL,
    hash         BYTEA  NOT NULL, -- SHA-256 of the token
    subject      TEXT   NOT NULL,
    name         TEXT   NOT NULL,
    scopes       TEXT,            -- JSON array of strings, NULL when empty
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    gc_at        BIGINT,          -- expires_at, or the minimum BIGINT once revoked
    CONSTRAINT authkit_api_tokens_pkey PRIMARY KEY (id),
    CONSTRAINT authkit_api_tokens_hash_key UNIQUE (hash),
    CONSTRAINT authkit_api_tokens_hash_len CHECK (octet_length(hash) = 32)
);
CREATE INDEX IF NOT EXISTS authkit_api_tokens_subject_idx ON authkit_api_tokens (subject, created_at);
CREATE INDEX IF NOT EXISTS authkit_api_tokens_gc_idx ON authkit_api_tokens (gc_at);

-- One row per subject that created an API token under a limit: the lock
-- that makes "count, then insert" atomic.
CREATE TABLE IF NOT EXISTS authkit_api_token_subjects (
    subject TEXT NOT NULL,
    CONSTRAINT authkit_api_token_subjects_pkey PRIMARY KEY (subject)
);
