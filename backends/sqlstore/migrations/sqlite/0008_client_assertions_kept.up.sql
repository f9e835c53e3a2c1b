-- +goose Up
-- authkit schema version 8 for SQLite: a client's assertion records
-- (authkit.ClientAssertionStore) outlive the client.
--
-- Until version 7, deleting a client deleted the records of the
-- private_key_jwt assertions it had used. A client removed and registered
-- again under the same ID could then replay an assertion it had used
-- before, if the assertion's iat was ahead of the new registration (a
-- client clock up to a minute fast). Now a record stays until the
-- assertion expires: deleting the client only empties its client_id (ON
-- DELETE SET NULL, and DeleteClient does the same itself for connections
-- without PRAGMA foreign_keys = ON), and the record, keyed by the hash of
-- the client ID and the jti, still refuses the replay.
--
-- SQLite cannot change a column's constraints in place: the table is
-- built again under its name, in the migration's transaction, and its
-- rows copied. No other table refers to it.

ALTER TABLE authkit_client_assertions RENAME TO authkit_client_assertions_v7;
CREATE TABLE authkit_client_assertions (
    hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32), -- hash of the client and the assertion's jti
    client_id  TEXT    REFERENCES authkit_clients (id) ON DELETE SET NULL, -- NULL once the client is deleted
    expires_at INTEGER NOT NULL -- the assertion's exp
) STRICT;
INSERT INTO authkit_client_assertions (hash, client_id, expires_at)
    SELECT hash, client_id, expires_at FROM authkit_client_assertions_v7;
DROP TABLE authkit_client_assertions_v7;
CREATE INDEX IF NOT EXISTS authkit_client_assertions_client_idx ON authkit_client_assertions (client_id);
CREATE INDEX IF NOT EXISTS authkit_client_assertions_expires_idx ON authkit_client_assertions (expires_at);
