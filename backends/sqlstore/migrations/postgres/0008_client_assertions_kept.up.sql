-- +goose Up
-- authkit schema version 8 for PostgreSQL: a client's assertion records
-- (authkit.ClientAssertionStore) outlive the client.
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

ALTER TABLE authkit_client_assertions ALTER COLUMN client_id DROP NOT NULL;

-- Every foreign key of the table to the clients goes, whatever its name: a
-- key added again by hand after a restore (PostgreSQL names it
-- …_client_id_fkey) would otherwise keep cascading beside the new one.
-- +goose StatementBegin
DO $$
DECLARE
    fk name;
BEGIN
    FOR fk IN SELECT conname FROM pg_constraint
               WHERE conrelid = 'authkit_client_assertions'::regclass AND contype = 'f'
                 AND confrelid = 'authkit_clients'::regclass
    LOOP
        EXECUTE format('ALTER TABLE authkit_client_assertions DROP CONSTRAINT %I', fk);
    END LOOP;
END
$$;
-- +goose StatementEnd

ALTER TABLE authkit_client_assertions ADD CONSTRAINT authkit_client_assertions_client_fk
    FOREIGN KEY (client_id) REFERENCES authkit_clients (id) ON DELETE SET NULL;
