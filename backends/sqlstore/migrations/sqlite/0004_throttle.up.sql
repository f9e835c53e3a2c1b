-- +goose Up
-- authkit schema version 4 for SQLite: the throttle counters
-- (authkit.ThrottleStore) of backends/sqlstore. (SQLite has no version 3:
-- its refresh rotation needs no stored routine.)
--
-- One row per key: the failures counted in the key's current window (n),
-- the latest failure (last_at) and the window's end (expires_at), in
-- microseconds since the Unix epoch. Keys are opaque bytes the HTTP
-- layer's throttle derives (a hash of a user, an address or both), at most
-- 128, compared byte for byte (BLOB). A row whose window has ended counts
-- as empty; DeleteExpiredThrottles removes such rows, oldest first,
-- through the expires_at index.
CREATE TABLE IF NOT EXISTS authkit_throttle (
    k          BLOB    NOT NULL PRIMARY KEY,
    n          INTEGER NOT NULL,
    last_at    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS authkit_throttle_expires_idx ON authkit_throttle (expires_at);
