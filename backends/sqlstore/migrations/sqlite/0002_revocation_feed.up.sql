-- +goose Up
-- authkit schema version 2 for SQLite: the revocation feed
-- (authkit.RevocationFeed) of backends/sqlstore.
--
-- Every RevokeToken, RevokeSessionTokens and SetCutoff appends one row to
-- authkit_revocation_log in the transaction of its upsert (SQLite runs one
-- write transaction at a time). The ids come from the counter in
-- authkit_revocation_feed: they are dense (1, 2, 3, ... with no gap) and
-- commit in their order, so a gap means the log was trimmed.

-- The feed's one row: the epoch, random, made when this migration runs, so
-- that a database created anew (and its log) never accepts a position of
-- the old one; and seq, the id of the newest log row (0: none yet).
CREATE TABLE IF NOT EXISTS authkit_revocation_feed (
    k     INTEGER NOT NULL PRIMARY KEY CHECK (k = 1),
    epoch TEXT    NOT NULL,
    seq   INTEGER NOT NULL
) STRICT;
INSERT OR IGNORE INTO authkit_revocation_feed (k, epoch, seq)
    VALUES (1, lower(hex(randomblob(8))), 0);

-- One row per revocation write, as it was made: kind 1 a jti, 2 a sid, 3 a
-- cutoff (ident empty). Trimmed after a few minutes (written_at, the
-- writer's clock), never the newest row. id is the rowid: the feed's
-- polling query is a SEARCH USING INTEGER PRIMARY KEY.
CREATE TABLE IF NOT EXISTS authkit_revocation_log (
    id         INTEGER NOT NULL PRIMARY KEY,
    kind       INTEGER NOT NULL,
    subject    TEXT    NOT NULL,
    ident      TEXT    NOT NULL,
    cutoff_at  INTEGER,          -- kind 3 only
    expires_at INTEGER NOT NULL, -- the write's until
    written_at INTEGER NOT NULL
) STRICT;
