-- +goose Up
-- authkit schema version 5 for PostgreSQL: the epoch marker
-- (authkit.ErrDataLoss) of backends/sqlstore.
--
-- A revocations table that loses its rows (truncated, restored from an
-- older backup, a failover to a replica that missed writes) must not
-- answer "not revoked" for a token revoked before. So the table holds one
-- more row, of kind 4, with subject and ident empty: its cutoff_at is the
-- start of the store's epoch (microseconds since the Unix epoch), and
-- every token issued at or before it is refused. Whatever removes the
-- table's rows removes this one too: the store then finds it missing on
-- its next check, starts a new epoch at that check's time, writes the
-- row again and logs the new epoch (kind 4) in authkit_revocation_log.
-- expires_at is the largest BIGINT, so no cleanup ever deletes the row.
--
-- This migration writes the row with cutoff_at 0: the data is intact when
-- it runs (or there is none yet), so an upgrade refuses no token. The
-- kind column has no CHECK constraint: it takes 4 as it is.
INSERT INTO authkit_revocations (subject, kind, ident, expires_at, cutoff_at)
    VALUES ('', 4, '', 9223372036854775807, 0)
    ON CONFLICT (subject, kind, ident) DO NOTHING;
