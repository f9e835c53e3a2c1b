-- +goose Up
-- authkit schema version 9 for MySQL 8 and MariaDB 10.5+: the User-Agent
-- and the client address of the request that authorized a code (the
-- user's browser at the login page), recorded with the session the code
-- is exchanged for (AuthorizationCode.UserAgent and IP). The rows of an
-- upgraded database read as '': unknown, and the token request's are
-- recorded, as before. The statement may be run again (MySQL commits DDL
-- as it goes, and has no ADD COLUMN IF NOT EXISTS): the two columns are
-- added by one ALTER TABLE, prepared only while neither exists.

SET @ak_migration_0009 = IF(
    (SELECT COUNT(*) FROM information_schema.columns
      WHERE table_schema = DATABASE() AND table_name = 'authkit_authorization_codes'
        AND column_name IN ('user_agent', 'ip')) = 0,
    'ALTER TABLE authkit_authorization_codes ADD COLUMN user_agent VARBINARY(1024) NOT NULL DEFAULT '''', ADD COLUMN ip VARBINARY(64) NOT NULL DEFAULT ''''',
    'DO 0');
PREPARE ak_migration_0009 FROM @ak_migration_0009;
EXECUTE ak_migration_0009;
DEALLOCATE PREPARE ak_migration_0009;
SET @ak_migration_0009 = NULL;
