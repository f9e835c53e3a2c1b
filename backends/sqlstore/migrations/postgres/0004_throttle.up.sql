-- +goose Up
-- authkit schema version 4 for PostgreSQL: the throttle counters
-- (authkit.ThrottleStore) of backends/sqlstore.
--
-- One row per key: the failures counted in the key's current window (n),
-- the latest failure (last_at) and the window's end (expires_at), in
-- microseconds since the Unix epoch. Keys are opaque bytes the HTTP
-- layer's throttle derives (a hash of a user, an address or both), at most
-- 128. A row whose window has ended counts as empty; DeleteExpiredThrottles
-- removes such rows, oldest first, through the expires_at index.
CREATE TABLE IF NOT EXISTS authkit_throttle (
    k          BYTEA  NOT NULL,
    n          BIGINT NOT NULL,
    last_at    BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    CONSTRAINT authkit_throttle_pkey PRIMARY KEY (k)
);
CREATE INDEX IF NOT EXISTS authkit_throttle_expires_idx ON authkit_throttle (expires_at);
