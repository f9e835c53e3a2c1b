-- +goose Up
-- authkit schema version 6 for PostgreSQL: OAuth 2.0 client registrations
-- and authorization codes (authkit.ClientStore) of backends/sqlstore.
--
-- Times are BIGINT microseconds since the Unix epoch, lifetimes BIGINT
-- microseconds. No secret is stored: a client's secret only as its hash
-- (secret_hash, NULL when the client has none), an authorization code only
-- as its SHA-256 (or keyed HMAC). Lists (grant types, scopes, redirect
-- URIs) are JSON arrays of strings, NULL when empty, as the other tables'
-- scopes are: exact for any string, spaces and newlines included.

-- One row per registered client.
CREATE TABLE IF NOT EXISTS authkit_clients (
    id                TEXT   NOT NULL, -- client_id, 1 to 128 bytes of visible ASCII
    name              TEXT   NOT NULL,
    secret_hash       BYTEA,           -- hash of the client secret, NULL when none
    jwks              BYTEA,           -- JWK set of private_key_jwt, NULL when none
    grant_types       TEXT,            -- JSON array of strings, NULL when empty
    scopes            TEXT,            -- JSON array of strings, NULL when empty
    redirect_uris     TEXT,            -- JSON array of strings, NULL when empty
    access_ttl_us     BIGINT NOT NULL, -- 0: the server's lifetime
    refresh_ttl_us    BIGINT NOT NULL, -- 0: the server's lifetime
    created_at        BIGINT NOT NULL,
    secret_rotated_at BIGINT,
    CONSTRAINT authkit_clients_pkey PRIMARY KEY (id),
    CONSTRAINT authkit_clients_secret_len CHECK (octet_length(secret_hash) = 32)
);

-- One row per authorization code, until DeleteExpiredAuthorizationCodes
-- removes it (through the expires_at index). Deleting a client deletes its
-- codes (ON DELETE CASCADE; the foreign key also makes an insert for a
-- client being deleted wait for, then fail against, the deletion).
CREATE TABLE IF NOT EXISTS authkit_authorization_codes (
    hash         BYTEA  NOT NULL, -- SHA-256 of the code
    client_id    TEXT   NOT NULL,
    redirect_uri TEXT   NOT NULL,
    subject      TEXT   NOT NULL,
    scopes       TEXT,            -- JSON array of strings, NULL when empty
    challenge    TEXT   NOT NULL, -- PKCE S256 code_challenge (public)
    claims       BYTEA,           -- application claims, a JSON object, as given
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT,          -- set by the one redemption
    session_id   TEXT   NOT NULL, -- the session that redemption created, '' until recorded
    CONSTRAINT authkit_authorization_codes_pkey PRIMARY KEY (hash),
    CONSTRAINT authkit_authorization_codes_hash_len CHECK (octet_length(hash) = 32),
    CONSTRAINT authkit_authorization_codes_client_fk FOREIGN KEY (client_id)
        REFERENCES authkit_clients (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS authkit_authorization_codes_client_idx ON authkit_authorization_codes (client_id);
CREATE INDEX IF NOT EXISTS authkit_authorization_codes_expires_idx ON authkit_authorization_codes (expires_at);
