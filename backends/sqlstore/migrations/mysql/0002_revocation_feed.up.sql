-- +goose Up
-- authkit schema version 2 for MySQL 8 and MariaDB 10.5+: the revocation
-- feed (authkit.RevocationFeed) of backends/sqlstore.
--
-- Every RevokeToken, RevokeSessionTokens and SetCutoff appends one row to
-- authkit_revocation_log in the transaction of its upsert. The ids come
-- from the counter in authkit_revocation_feed, taken with a row lock held
-- to the commit: ids are dense (1, 2, 3, ... with no gap) and commit in
-- their order, so a follower that reads "id > last" never skips one that
-- commits late, and a gap means the log was trimmed. Each statement may be
-- run again (MySQL commits DDL as it goes).

-- The feed's one row: the epoch, random, made when this migration runs, so
-- that a database created anew (and its log) never accepts a position of
-- the old one; and seq, the id of the newest log row (0: none yet).
CREATE TABLE IF NOT EXISTS authkit_revocation_feed (
    k     SMALLINT       NOT NULL,
    epoch VARBINARY(64)  NOT NULL,
    seq   BIGINT         NOT NULL,
    PRIMARY KEY (k)
) ENGINE = InnoDB;
INSERT IGNORE INTO authkit_revocation_feed (k, epoch, seq)
    VALUES (1, LEFT(MD5(CONCAT(UUID(), RAND(), SYSDATE(6))), 16), 0);

-- One row per revocation write, as it was made: kind 1 a jti, 2 a sid, 3 a
-- cutoff (ident empty). Trimmed after a few minutes (written_at, the
-- writer's clock), never the newest row.
CREATE TABLE IF NOT EXISTS authkit_revocation_log (
    id         BIGINT          NOT NULL,
    kind       SMALLINT        NOT NULL,
    subject    VARBINARY(1024) NOT NULL,
    ident      VARBINARY(1024) NOT NULL,
    cutoff_at  BIGINT,                   -- kind 3 only
    expires_at BIGINT          NOT NULL, -- the write's until
    written_at BIGINT          NOT NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB;
