-- +goose Up
-- authkit schema version 7 for MySQL 8 and MariaDB 10.5+: the login's own
-- lifetimes on authorization codes, and the client assertions used for
-- private_key_jwt (authkit.ClientAssertionStore) of backends/sqlstore.
--
-- Lifetimes are BIGINT microseconds, 0 for the server's (the rows of an
-- upgraded database read as 0: the server's, as before). Times are BIGINT
-- microseconds since the Unix epoch. Each statement may be run again
-- (MySQL commits DDL as it goes): MySQL 8 has no ADD COLUMN IF NOT
-- EXISTS, so the two columns are added by one ALTER TABLE (which applies
-- whole or not at all) prepared only while neither column exists.

SET @ak_migration_0007 = IF(
    (SELECT COUNT(*) FROM information_schema.columns
      WHERE table_schema = DATABASE() AND table_name = 'authkit_authorization_codes'
        AND column_name IN ('session_ttl_us', 'access_ttl_us')) = 0,
    'ALTER TABLE authkit_authorization_codes ADD COLUMN session_ttl_us BIGINT NOT NULL DEFAULT 0, ADD COLUMN access_ttl_us BIGINT NOT NULL DEFAULT 0',
    'DO 0');
PREPARE ak_migration_0007 FROM @ak_migration_0007;
EXECUTE ak_migration_0007;
DEALLOCATE PREPARE ak_migration_0007;
SET @ak_migration_0007 = NULL;

-- One row per client assertion (RFC 7523 JWT) a client used, keyed by the
-- hash of its client and jti, until DeleteExpiredAuthorizationCodes
-- removes it (through the expires_at index) once the assertion has
-- expired. A row whose expires_at has passed counts as absent. Deleting a
-- client deletes its rows (ON DELETE CASCADE); the foreign key refuses a
-- row for a client that is not there.
CREATE TABLE IF NOT EXISTS authkit_client_assertions (
    hash       BINARY(32)     NOT NULL, -- hash of the client and the assertion's jti
    client_id  VARBINARY(128) NOT NULL,
    expires_at BIGINT         NOT NULL, -- the assertion's exp
    PRIMARY KEY (hash),
    INDEX authkit_client_assertions_client_idx (client_id),
    INDEX authkit_client_assertions_expires_idx (expires_at),
    CONSTRAINT authkit_client_assertions_client_fk FOREIGN KEY (client_id)
        REFERENCES authkit_clients (id) ON DELETE CASCADE
) ENGINE = InnoDB;
