-- +goose Up
-- authkit schema version 6 for SQLite: OAuth 2.0 client registrations and
-- authorization codes (authkit.ClientStore) of backends/sqlstore.
--
-- Times are INTEGER microseconds since the Unix epoch, lifetimes INTEGER
-- microseconds. No secret is stored: a client's secret only as its hash
-- (secret_hash, NULL when the client has none), an authorization code only
-- as its SHA-256 (or keyed HMAC). Lists (grant types, scopes, redirect
-- URIs) are JSON arrays of strings, NULL when empty, as the other tables'
-- scopes are.

-- One row per registered client.
CREATE TABLE IF NOT EXISTS authkit_clients (
    id                TEXT    NOT NULL PRIMARY KEY, -- client_id, 1 to 128 bytes of visible ASCII
    name              TEXT    NOT NULL,
    secret_hash       BLOB    CHECK (length(secret_hash) = 32), -- hash of the client secret, NULL when none
    jwks              BLOB,             -- JWK set of private_key_jwt, NULL when none
    grant_types       TEXT,             -- JSON array of strings, NULL when empty
    scopes            TEXT,             -- JSON array of strings, NULL when empty
    redirect_uris     TEXT,             -- JSON array of strings, NULL when empty
    access_ttl_us     INTEGER NOT NULL, -- 0: the server's lifetime
    refresh_ttl_us    INTEGER NOT NULL, -- 0: the server's lifetime
    created_at        INTEGER NOT NULL,
    secret_rotated_at INTEGER
) STRICT;

-- One row per authorization code, until DeleteExpiredAuthorizationCodes
-- removes it (through the expires_at index). SQLite enforces the foreign
-- key only on connections with PRAGMA foreign_keys = ON, so DeleteClient
-- deletes the client's codes itself, in its transaction, and a code is
-- inserted only while its client's row is there (INSERT … SELECT, under
-- the database's one write lock).
CREATE TABLE IF NOT EXISTS authkit_authorization_codes (
    hash         BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32), -- SHA-256 of the code
    client_id    TEXT    NOT NULL REFERENCES authkit_clients (id) ON DELETE CASCADE,
    redirect_uri TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    scopes       TEXT,             -- JSON array of strings, NULL when empty
    challenge    TEXT    NOT NULL, -- PKCE S256 code_challenge (public)
    claims       BLOB,             -- application claims, a JSON object, as given
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,          -- set by the one redemption
    session_id   TEXT    NOT NULL  -- the session that redemption created, '' until recorded
) STRICT;
CREATE INDEX IF NOT EXISTS authkit_authorization_codes_client_idx ON authkit_authorization_codes (client_id);
CREATE INDEX IF NOT EXISTS authkit_authorization_codes_expires_idx ON authkit_authorization_codes (expires_at);
