// Package passwords checks user passwords for authkit's password logins:
// it hashes and verifies passwords, and keeps a table of users whose
// Check method is the credential checker that
// httpauth.WithPasswordGrant takes:
//
//	users, err := passwords.LoadUsers("users.txt")
//	if err != nil {
//		return err
//	}
//	endpoints, err := httpauth.NewHandler(iss, auth, httpauth.WithPasswordGrant(users.Check))
//
// # Hashes
//
// [Hash] makes argon2id hashes in the PHC string format,
// "$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH" (19 MiB, 2 passes, 1 lane, a
// 16-byte random salt and a 32-byte hash: OWASP's recommended minimum), and
// [HashBcrypt] bcrypt hashes of cost 12. [Verify] and [Users] accept both
// kinds, including hashes made by other tools ($2a$, $2b$ and $2y$ for
// bcrypt), within bounds that keep one verification affordable: argon2id
// version 19 with at most 1 GiB of memory, 64 passes and 64 lanes, an 8-64
// byte salt and a 16-128 byte hash; bcrypt up to cost 16. A hash outside
// them, or one that does not parse, is an error, never a slow "false".
//
// # Users
//
// A [Users] table maps user names to hashes. It is made from code
// ([NewUsers]) or from a users file ([ParseUsers], [LoadUsers]), the format
// that the authkit command's "users add" writes and "serve --users" reads:
// one "NAME:HASH" line per user; blank lines and lines whose first
// non-blank character is '#' are ignored. Names are 1 to 256 bytes of UTF-8
// without ':', white space or control characters and do not start with
// '#'.
//
// [Users.Check] spends the same work on an unknown user as on a wrong
// password (it verifies against a dummy hash of the same kind and cost),
// so that the time a failed login takes does not tell which names exist,
// and it bounds how many hashes are computed at once, so that a flood of
// logins queues instead of exhausting memory and CPU. Neither this package
// nor its errors ever keep, log or quote a password or a hash.
package passwords
