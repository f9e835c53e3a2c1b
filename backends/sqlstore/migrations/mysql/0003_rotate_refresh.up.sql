-- +goose Up
-- authkit schema version 3 for MySQL 8 and MariaDB 10.5+: refresh-token
-- rotation in one round trip (backends/sqlstore RotateRefresh).
--
-- CALL authkit_rotate_refresh does in one call what the store otherwise
-- does in a transaction of four statements, in a transaction of its own
-- at READ COMMITTED (as the store's): it locks the presented token's row
-- and its session's row (one SELECT ... FOR UPDATE of the two joined, so
-- in the same order as that transaction), classifies them in the order of
-- the RefreshStore contract, and only then writes: the successor's row,
-- the presented row marked used, the session's last use and idle expiry.
-- Any error rolls the whole call back before it reaches the client.
--
-- Its one result set is one row: status (0 rotated, 1 no such token, 2
-- session revoked, 3 token already used, 4 expired, 5 successor hash
-- taken), the presented token's used_at and sealed successor as they were
-- before the call (set when status is 3), and its session's columns as
-- they were before the call (all NULL when status is 1). Nothing is
-- written unless status is 0. It runs with the caller's rights. Applying
-- this file needs the CREATE ROUTINE privilege, and calling the procedure
-- EXECUTE on it (the owner of the schema has both).
--
-- Without this procedure the store rotates with the four-statement
-- transaction, with the same result. Each statement may be run again
-- (MySQL commits DDL as it goes).

DROP PROCEDURE IF EXISTS authkit_rotate_refresh;

-- +goose StatementBegin
CREATE PROCEDURE authkit_rotate_refresh(
    IN p_old BINARY(32), IN p_next BINARY(32), IN p_now BIGINT, IN p_next_expires BIGINT, IN p_successor BLOB)
    MODIFIES SQL DATA
    SQL SECURITY INVOKER
BEGIN
    DECLARE v_status SMALLINT DEFAULT 0;
    DECLARE v_found, v_dup TINYINT DEFAULT 0;
    DECLARE v_rec_expires, v_used BIGINT;
    DECLARE v_successor BLOB;
    DECLARE v_id VARBINARY(255);
    DECLARE v_subject VARBINARY(1024);
    DECLARE v_client_id, v_scopes, v_audience, v_user_agent, v_ip, v_name BLOB;
    DECLARE v_claims MEDIUMBLOB;
    DECLARE v_created, v_last_used, v_expires, v_idle, v_revoked BIGINT;
    DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = 0;
    DECLARE CONTINUE HANDLER FOR 1062 SET v_dup = 1;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;

    SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
    START TRANSACTION;
    SELECT 1, r.expires_at, r.used_at, r.successor,
           s.id, s.subject, s.client_id, s.scopes, s.audience, s.claims, s.user_agent, s.ip, s.name,
           s.created_at, s.last_used_at, s.expires_at, s.idle_expires_at, s.revoked_at
      INTO v_found, v_rec_expires, v_used, v_successor,
           v_id, v_subject, v_client_id, v_scopes, v_audience, v_claims, v_user_agent, v_ip, v_name,
           v_created, v_last_used, v_expires, v_idle, v_revoked
      FROM authkit_refresh_tokens r JOIN authkit_sessions s ON s.id = r.session_id
     WHERE r.hash = p_old
       FOR UPDATE;
    IF v_found = 0 THEN
        SET v_status = 1;
    ELSEIF v_revoked IS NOT NULL THEN
        SET v_status = 2;
    ELSEIF v_used IS NOT NULL THEN
        SET v_status = 3;
    ELSEIF v_rec_expires <= p_now OR v_expires <= p_now OR v_idle <= p_now THEN
        SET v_status = 4;
    ELSE
        -- The successor first: a hash already taken writes nothing at all.
        INSERT INTO authkit_refresh_tokens (hash, session_id, subject, issued_at, expires_at, used_at, successor)
            VALUES (p_next, v_id, v_subject, p_now, p_next_expires, NULL, NULL);
        IF v_dup = 1 THEN
            SET v_status = 5;
        ELSE
            UPDATE authkit_refresh_tokens SET used_at = p_now, successor = p_successor
             WHERE hash = p_old AND used_at IS NULL;
            IF ROW_COUNT() <> 1 THEN
                -- Unreachable under the row lock; refuse rather than fork
                -- the family (the handler rolls the insert back).
                SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'the presented refresh token changed under its row lock';
            END IF;
            UPDATE authkit_sessions SET last_used_at = p_now, idle_expires_at = p_next_expires,
                   gc_at = LEAST(v_expires, p_next_expires)
             WHERE id = v_id AND revoked_at IS NULL;
        END IF;
    END IF;
    IF v_status = 0 THEN
        COMMIT;
    ELSE
        ROLLBACK;
    END IF;
    SELECT v_status, v_used, v_successor, v_id, v_subject, v_client_id, v_scopes, v_audience,
           v_claims, v_user_agent, v_ip, v_name, v_created, v_last_used, v_expires, v_idle, v_revoked;
END;
-- +goose StatementEnd
