-- +goose Up
-- authkit schema version 8 for MySQL 8 and MariaDB 10.5+: a client's
-- assertion records (authkit.ClientAssertionStore) outlive the client.
--
-- Until version 7, deleting a client deleted the records of the
-- private_key_jwt assertions it had used (ON DELETE CASCADE). A client
-- removed and registered again under the same ID could then replay an
-- assertion it had used before, if the assertion's iat was ahead of the
-- new registration (a client clock up to a minute fast). Now a record
-- stays until the assertion expires: deleting the client only empties its
-- client_id (ON DELETE SET NULL), and the record, keyed by the hash of
-- the client ID and the jti, still refuses the replay. The foreign key
-- still refuses a record for a client that is not there.
--
-- One ALTER TABLE (which applies whole or not at all) drops the old key,
-- lets client_id be NULL and adds the new key under another name; it is
-- prepared only while the table has no key that sets NULL, so the file
-- may be run again (MySQL commits DDL as it goes).

SET @ak_migration_0008 = IF(
    (SELECT COUNT(*) FROM information_schema.referential_constraints
      WHERE constraint_schema = DATABASE() AND table_name = 'authkit_client_assertions'
        AND delete_rule = 'SET NULL') = 0,
    'ALTER TABLE authkit_client_assertions DROP FOREIGN KEY authkit_client_assertions_client_fk, MODIFY client_id VARBINARY(128) NULL, ADD CONSTRAINT authkit_client_assertions_client_null_fk FOREIGN KEY (client_id) REFERENCES authkit_clients (id) ON DELETE SET NULL',
    'DO 0');
PREPARE ak_migration_0008 FROM @ak_migration_0008;
EXECUTE ak_migration_0008;
DEALLOCATE PREPARE ak_migration_0008;
SET @ak_migration_0008 = NULL;
