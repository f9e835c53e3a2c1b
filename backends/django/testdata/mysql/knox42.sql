CREATE TABLE `knox_authtoken` (`digest` varchar(128) NOT NULL PRIMARY KEY, `created` datetime(6) NOT NULL, `user_id` integer NOT NULL, `expiry` datetime(6) NULL, `token_key` varchar(8) NOT NULL);
ALTER TABLE `knox_authtoken` ADD CONSTRAINT `knox_authtoken_user_id_e5a5d899_fk_auth_user_id` FOREIGN KEY (`user_id`) REFERENCES `auth_user` (`id`);
CREATE INDEX `knox_authtoken_token_key_8f4f7d47` ON `knox_authtoken` (`token_key`);
