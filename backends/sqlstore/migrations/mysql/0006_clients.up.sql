-- +goose Up
-- authkit schema version 6 for MySQL 8 and MariaDB 10.5+: OAuth 2.0 client
-- registrations and authorization codes (authkit.ClientStore) of
-- backends/sqlstore.
--
-- Times are BIGINT microseconds since the Unix epoch, lifetimes BIGINT
-- microseconds. No secret is stored: a client's secret only as its hash
-- (secret_hash, NULL when the client has none), an authorization code only
-- as its SHA-256 (or keyed HMAC). Lists (grant types, scopes, redirect
-- URIs) are JSON arrays of strings, NULL when empty, as the other tables'
-- scopes are. Strings are VARBINARY/BLOB, compared byte for byte. Each
-- table is one statement with its indexes (MySQL's DDL is not
-- transactional).

-- One row per registered client.
CREATE TABLE IF NOT EXISTS authkit_clients (
    id                VARBINARY(128) NOT NULL, -- client_id, visible ASCII
    name              BLOB           NOT NULL,
    secret_hash       BINARY(32),              -- hash of the client secret, NULL when none
    jwks              MEDIUMBLOB,              -- JWK set of private_key_jwt, NULL when none
    grant_types       MEDIUMBLOB,              -- JSON array of strings, NULL when empty
    scopes            MEDIUMBLOB,              -- JSON array of strings, NULL when empty
    redirect_uris     MEDIUMBLOB,              -- JSON array of strings, NULL when empty
    access_ttl_us     BIGINT         NOT NULL, -- 0: the server's lifetime
    refresh_ttl_us    BIGINT         NOT NULL, -- 0: the server's lifetime
    created_at        BIGINT         NOT NULL,
    secret_rotated_at BIGINT,
    PRIMARY KEY (id)
) ENGINE = InnoDB;

-- One row per authorization code, until DeleteExpiredAuthorizationCodes
-- removes it (through the expires_at index). Deleting a client deletes its
-- codes (ON DELETE CASCADE; the foreign key's check also locks the
-- client's row against a concurrent deletion).
CREATE TABLE IF NOT EXISTS authkit_authorization_codes (
    hash         BINARY(32)      NOT NULL, -- SHA-256 of the code
    client_id    VARBINARY(128)  NOT NULL,
    redirect_uri BLOB            NOT NULL,
    subject      VARBINARY(1024) NOT NULL,
    scopes       MEDIUMBLOB,               -- JSON array of strings, NULL when empty
    challenge    VARBINARY(128)  NOT NULL, -- PKCE S256 code_challenge (public)
    claims       MEDIUMBLOB,               -- application claims, a JSON object, as given
    created_at   BIGINT          NOT NULL,
    expires_at   BIGINT          NOT NULL,
    used_at      BIGINT,                   -- set by the one redemption
    session_id   VARBINARY(255)  NOT NULL, -- the session that redemption created, '' until recorded
    PRIMARY KEY (hash),
    INDEX authkit_authorization_codes_client_idx (client_id),
    INDEX authkit_authorization_codes_expires_idx (expires_at),
    CONSTRAINT authkit_authorization_codes_client_fk FOREIGN KEY (client_id)
        REFERENCES authkit_clients (id) ON DELETE CASCADE
) ENGINE = InnoDB;
