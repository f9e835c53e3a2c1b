-- +goose Up
-- authkit schema version 7 for SQLite: the login's own lifetimes on
-- authorization codes, and the client assertions used for private_key_jwt
-- (authkit.ClientAssertionStore) of backends/sqlstore.
--
-- Lifetimes are INTEGER microseconds, 0 for the server's (the rows of an
-- upgraded database read as 0: the server's, as before). Times are
-- INTEGER microseconds since the Unix epoch.

ALTER TABLE authkit_authorization_codes ADD COLUMN session_ttl_us INTEGER NOT NULL DEFAULT 0; -- AuthorizationCode.SessionTTL
ALTER TABLE authkit_authorization_codes ADD COLUMN access_ttl_us INTEGER NOT NULL DEFAULT 0;  -- AuthorizationCode.AccessTTL

-- One row per client assertion (RFC 7523 JWT) a client used, keyed by the
-- hash of its client and jti, until DeleteExpiredAuthorizationCodes
-- removes it (through the expires_at index) once the assertion has
-- expired. A row whose expires_at has passed counts as absent. SQLite
-- enforces the foreign key only on connections with PRAGMA foreign_keys =
-- ON, so DeleteClient deletes the client's rows itself, in its
-- transaction, and a row is inserted only while its client's row is there
-- (INSERT … SELECT, under the database's one write lock).
CREATE TABLE IF NOT EXISTS authkit_client_assertions (
    hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32), -- hash of the client and the assertion's jti
    client_id  TEXT    NOT NULL REFERENCES authkit_clients (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL -- the assertion's exp
) STRICT;
CREATE INDEX IF NOT EXISTS authkit_client_assertions_client_idx ON authkit_client_assertions (client_id);
CREATE INDEX IF NOT EXISTS authkit_client_assertions_expires_idx ON authkit_client_assertions (expires_at);
