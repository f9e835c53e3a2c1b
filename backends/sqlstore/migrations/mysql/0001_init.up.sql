-- +goose Up
-- authkit schema version 1 for MySQL 8 and MariaDB 10.5+ (backends/sqlstore).
--
-- Times are BIGINT microseconds since the Unix epoch (UTC); NULL means
-- "never". No token secret is stored: refresh and API tokens are kept as
-- the SHA-256 (or keyed HMAC) of the token, access tokens only by their jti
-- when revoked. Strings are VARBINARY/BLOB (UTF-8 bytes), so that subjects
-- and IDs compare byte for byte: no case folding, no trailing-space
-- padding. The indexes are declared inside CREATE TABLE, so each table
-- appears whole (MySQL's DDL is not transactional). The table prefix is
-- authkit_; sqlstore.Migrate rewrites it for WithTablePrefix, and a team
-- applying these files with its own tool and another prefix replaces every
-- "authkit_" below.

-- One row per refresh-token family (a login on one device).
CREATE TABLE IF NOT EXISTS authkit_sessions (
    id              VARBINARY(255)  NOT NULL,
    subject         VARBINARY(1024) NOT NULL,
    client_id       BLOB            NOT NULL,
    scopes          BLOB,             -- JSON array of strings, NULL when empty
    audience        BLOB,             -- JSON array of strings, NULL when empty
    claims          MEDIUMBLOB,       -- application claims, a JSON object, as given
    user_agent      BLOB            NOT NULL,
    ip              BLOB            NOT NULL,
    name            BLOB            NOT NULL,
    created_at      BIGINT          NOT NULL,
    last_used_at    BIGINT          NOT NULL,
    expires_at      BIGINT          NOT NULL, -- absolute end of the family
    idle_expires_at BIGINT          NOT NULL, -- end unless refreshed
    revoked_at      BIGINT,
    gc_at           BIGINT          NOT NULL, -- garbage from then on: min(expires_at, idle_expires_at), or the minimum BIGINT once revoked
    PRIMARY KEY (id),
    INDEX authkit_sessions_subject_idx (subject, created_at),
    INDEX authkit_sessions_gc_idx (gc_at)
) ENGINE = InnoDB;

-- One row per refresh token, current or rotated.
CREATE TABLE IF NOT EXISTS authkit_refresh_tokens (
    hash       BINARY(32)      NOT NULL, -- SHA-256 of the token
    session_id VARBINARY(255)  NOT NULL,
    subject    VARBINARY(1024) NOT NULL,
    issued_at  BIGINT          NOT NULL,
    expires_at BIGINT          NOT NULL,
    used_at    BIGINT,                   -- set by the rotation that spent it
    successor  BLOB,                     -- the successor, sealed under a key only the presented token yields
    PRIMARY KEY (hash),
    INDEX authkit_refresh_tokens_session_idx (session_id),
    INDEX authkit_refresh_tokens_expires_idx (expires_at)
) ENGINE = InnoDB;

-- Revoked access-token identities, each under the subject (sub) of the
-- tokens it kills: kind 1 a jti, 2 a sid (session), 3 the subject's
-- logout-all cutoff (tokens issued at or before cutoff_at are dead; ident
-- is empty).
CREATE TABLE IF NOT EXISTS authkit_revocations (
    subject    VARBINARY(1024) NOT NULL,
    kind       SMALLINT        NOT NULL,
    ident      VARBINARY(1024) NOT NULL,
    expires_at BIGINT          NOT NULL, -- the entry counts while expires_at > now
    cutoff_at  BIGINT,                   -- kind 3 only
    PRIMARY KEY (subject, kind, ident),
    INDEX authkit_revocations_expires_idx (expires_at)
) ENGINE = InnoDB;

-- Long-lived API tokens.
CREATE TABLE IF NOT EXISTS authkit_api_tokens (
    id           VARBINARY(255)  NOT NULL,
    hash         BINARY(32)      NOT NULL, -- SHA-256 of the token
    subject      VARBINARY(1024) NOT NULL,
    name         BLOB            NOT NULL,
    scopes       BLOB,                     -- JSON array of strings, NULL when empty
    created_at   BIGINT          NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    gc_at        BIGINT,                   -- expires_at, or the minimum BIGINT once revoked
    PRIMARY KEY (id),
    UNIQUE INDEX authkit_api_tokens_hash_key (hash),
    INDEX authkit_api_tokens_subject_idx (subject, created_at),
    INDEX authkit_api_tokens_gc_idx (gc_at)
) ENGINE = InnoDB;

-- One row per subject that created an API token under a limit: the lock
-- that makes "count, then insert" atomic.
CREATE TABLE IF NOT EXISTS authkit_api_token_subjects (
    subject VARBINARY(1024) NOT NULL,
    PRIMARY KEY (subject)
) ENGINE = InnoDB;
