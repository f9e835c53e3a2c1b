-- +goose Up
-- authkit schema version 9 for PostgreSQL: the User-Agent and the client
-- address of the request that authorized a code (the user's browser at
-- the login page), recorded with the session the code is exchanged for
-- (AuthorizationCode.UserAgent and IP). The rows of an upgraded database
-- read as '': unknown, and the token request's are recorded, as before.

ALTER TABLE authkit_authorization_codes
    ADD COLUMN IF NOT EXISTS user_agent TEXT NOT NULL DEFAULT '', -- AuthorizationCode.UserAgent
    ADD COLUMN IF NOT EXISTS ip         TEXT NOT NULL DEFAULT ''; -- AuthorizationCode.IP
