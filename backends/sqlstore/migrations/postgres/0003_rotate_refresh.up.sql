-- +goose Up
-- authkit schema version 3 for PostgreSQL: refresh-token rotation in one
-- round trip (backends/sqlstore RotateRefresh).
--
-- authkit_rotate_refresh does in one call, inside the caller's (implicit)
-- transaction, what the store otherwise does in a transaction of four
-- statements: it locks the presented token's row and its session's row
-- (one SELECT ... FOR UPDATE of the two joined, so in the same order as
-- that transaction, and as RevokeSession and RevokeSubjectSessions, which
-- lock sessions only), classifies them in the order of the RefreshStore
-- contract, and only then writes: the successor's row, the presented row
-- marked used, the session's last use and idle expiry. Each statement of
-- the body reads the rows as committed when it starts (the function is
-- VOLATILE), so a call that waited on the row lock sees the rotation that
-- held it and reports a reuse.
--
-- It returns one row (its OUT parameters): o_status (0 rotated, 1 no such token, 2 session
-- revoked, 3 token already used, 4 expired, 5 successor hash taken), the
-- presented token's used_at and sealed successor as they were before the
-- call (set when o_status is 3), and its session's columns as they were
-- before the call (all NULL when o_status is 1). Nothing is written unless o_status is 0. Times are microseconds, as
-- in every table. It resolves its tables through search_path, as the
-- store's own statements do, and runs with the caller's rights.
--
-- Without this function the store rotates with the four-statement
-- transaction, with the same result.

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION authkit_rotate_refresh(
    p_old BYTEA, p_next BYTEA, p_now BIGINT, p_next_expires BIGINT, p_successor BYTEA,
    OUT o_status          SMALLINT,
    OUT o_used_at         BIGINT,
    OUT o_successor       BYTEA,
    OUT o_id              TEXT,
    OUT o_subject         TEXT,
    OUT o_client_id       TEXT,
    OUT o_scopes          TEXT,
    OUT o_audience        TEXT,
    OUT o_claims          BYTEA,
    OUT o_user_agent      TEXT,
    OUT o_ip              TEXT,
    OUT o_name            TEXT,
    OUT o_created_at      BIGINT,
    OUT o_last_used_at    BIGINT,
    OUT o_expires_at      BIGINT,
    OUT o_idle_expires_at BIGINT,
    OUT o_revoked_at      BIGINT)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    rec_expires BIGINT;
BEGIN
    SELECT r.expires_at, r.used_at, r.successor,
           s.id, s.subject, s.client_id, s.scopes, s.audience, s.claims, s.user_agent, s.ip, s.name,
           s.created_at, s.last_used_at, s.expires_at, s.idle_expires_at, s.revoked_at
      INTO rec_expires, o_used_at, o_successor,
           o_id, o_subject, o_client_id, o_scopes, o_audience, o_claims, o_user_agent, o_ip, o_name,
           o_created_at, o_last_used_at, o_expires_at, o_idle_expires_at, o_revoked_at
      FROM authkit_refresh_tokens r JOIN authkit_sessions s ON s.id = r.session_id
     WHERE r.hash = p_old
       FOR UPDATE;
    IF NOT FOUND THEN
        o_status := 1;
        RETURN;
    END IF;
    IF o_revoked_at IS NOT NULL THEN
        o_status := 2;
    ELSIF o_used_at IS NOT NULL THEN
        o_status := 3;
    ELSIF rec_expires <= p_now OR o_expires_at <= p_now OR o_idle_expires_at <= p_now THEN
        o_status := 4;
    ELSE
        -- The successor first: a hash already taken writes nothing at all.
        INSERT INTO authkit_refresh_tokens (hash, session_id, subject, issued_at, expires_at, used_at, successor)
            VALUES (p_next, o_id, o_subject, p_now, p_next_expires, NULL, NULL)
            ON CONFLICT (hash) DO NOTHING;
        IF NOT FOUND THEN
            o_status := 5;
            RETURN;
        END IF;
        UPDATE authkit_refresh_tokens SET used_at = p_now, successor = p_successor
         WHERE hash = p_old AND used_at IS NULL;
        IF NOT FOUND THEN
            -- Unreachable under the row lock; refuse rather than fork the
            -- family (the exception undoes the insert).
            RAISE EXCEPTION 'the presented refresh token changed under its row lock';
        END IF;
        UPDATE authkit_sessions SET last_used_at = p_now, idle_expires_at = p_next_expires,
               gc_at = LEAST(o_expires_at, p_next_expires)
         WHERE id = o_id AND revoked_at IS NULL;
        o_status := 0;
    END IF;
END;
$$;
-- +goose StatementEnd
