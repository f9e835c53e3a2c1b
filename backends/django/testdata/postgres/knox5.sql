CREATE TABLE "knox_authtoken" ("digest" varchar(128) NOT NULL PRIMARY KEY, "created" timestamp with time zone NOT NULL, "user_id" integer NOT NULL, "expiry" timestamp with time zone NULL, "token_key" varchar(25) NOT NULL);
ALTER TABLE "knox_authtoken" ADD CONSTRAINT "knox_authtoken_user_id_e5a5d899_fk_auth_user_id" FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "knox_authtoken_digest_188c7e77_like" ON "knox_authtoken" ("digest" varchar_pattern_ops);
CREATE INDEX "knox_authtoken_user_id_e5a5d899" ON "knox_authtoken" ("user_id");
CREATE INDEX "knox_authtoken_token_key_8f4f7d47" ON "knox_authtoken" ("token_key");
CREATE INDEX "knox_authtoken_token_key_8f4f7d47_like" ON "knox_authtoken" ("token_key" varchar_pattern_ops);
