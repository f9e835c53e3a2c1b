-- +goose Up
-- authkit schema version 4 for MySQL 8 and MariaDB 10.5+: the throttle
-- counters (authkit.ThrottleStore) of backends/sqlstore.
--
-- One row per key: the failures counted in the key's current window (n),
-- the latest failure (last_at) and the window's end (expires_at), in
-- microseconds since the Unix epoch. Keys are opaque bytes the HTTP
-- layer's throttle derives (a hash of a user, an address or both), at most
-- 128, compared byte for byte (VARBINARY). A row whose window has ended
-- counts as empty; DeleteExpiredThrottles removes such rows, oldest first,
-- through the expires_at index.
CREATE TABLE IF NOT EXISTS authkit_throttle (
    k          VARBINARY(128) NOT NULL,
    n          BIGINT         NOT NULL,
    last_at    BIGINT         NOT NULL,
    expires_at BIGINT         NOT NULL,
    PRIMARY KEY (k),
    KEY authkit_throttle_expires_idx (expires_at)
) ENGINE = InnoDB;
