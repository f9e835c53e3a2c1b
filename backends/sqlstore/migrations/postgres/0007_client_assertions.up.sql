-- +goose Up
-- authkit schema version 7 for PostgreSQL: the login's own lifetimes on
-- authorization codes, and the client assertions used for private_key_jwt
-- (authkit.ClientAssertionStore) of backends/sqlstore.
--
-- Lifetimes are BIGINT microseconds, 0 for the server's (the rows of an
-- upgraded database read as 0: the server's, as before). Times are BIGINT
-- microseconds since the Unix epoch.

ALTER TABLE authkit_authorization_codes
    ADD COLUMN IF NOT EXISTS session_ttl_us BIGINT NOT NULL DEFAULT 0, -- AuthorizationCode.SessionTTL
    ADD COLUMN IF NOT EXISTS access_ttl_us  BIGINT NOT NULL DEFAULT 0; -- AuthorizationCode.AccessTTL

-- One row per client assertion (RFC 7523 JWT) a client used, keyed by the
-- hash of its client and jti, until DeleteExpiredAuthorizationCodes
-- removes it (through the expires_at index) once the assertion has
-- expired. A row whose expires_at has passed counts as absent. Deleting a
-- client deletes its rows (ON DELETE CASCADE, through the client_id
-- index); the foreign key refuses a row for a client that is not there.
CREATE TABLE IF NOT EXISTS authkit_client_assertions (
    hash       BYTEA  NOT NULL, -- hash of the client and the assertion's jti
    client_id  TEXT   NOT NULL,
    expires_at BIGINT NOT NULL, -- the assertion's exp
    CONSTRAINT authkit_client_assertions_pkey PRIMARY KEY (hash),
    CONSTRAINT authkit_client_assertions_hash_len CHECK (octet_length(hash) = 32),
    CONSTRAINT authkit_client_assertions_client_fk FOREIGN KEY (client_id)
        REFERENCES authkit_clients (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS authkit_client_assertions_client_idx ON authkit_client_assertions (client_id);
CREATE INDEX IF NOT EXISTS authkit_client_assertions_expires_idx ON authkit_client_assertions (expires_at);
