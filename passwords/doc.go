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
// Passwords are hashed and compared as the exact bytes given: no Unicode
// normalisation (a composed "é" and "e" with a combining accent are
// different passwords) and no trimming. Clients normally send NFC.
//
// # Hashes
//
// [Hash] makes argon2id hashes in the PHC string format,
// "$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH" (19 MiB, 2 passes, 1 lane, a
// 16-byte random salt and a 32-byte hash: OWASP's recommended minimum), and
// [HashBcrypt] bcrypt hashes of cost 12. [Verify] and [Users] accept both
// kinds, including hashes made by other tools ($2a$, $2b$ and $2y$ for
// bcrypt), within bounds that keep one verification affordable:
//
//   - argon2id version 19 with at most 256 MiB of memory (m ≤ 262144 KiB),
//     16 passes (t) and 64 lanes (p), memory × passes at most 256 MiB
//     (m·t ≤ 262144: the work of one pass over the most memory), an 8-64
//     byte salt and a 16-128 byte hash;
//   - bcrypt up to cost 14.
//
// These admit RFC 9106's second recommended profile (64 MiB, 3 passes, 4
// lanes) and every OWASP argon2id profile (at most 46 MiB·passes), and
// about 6.7 times the work of the hashes Hash makes; bcrypt's cost 14 is 4
// times the work of cost 12. RFC 9106's first recommended profile (2 GiB,
// 1 pass) is refused on purpose: it needs 2 GiB for each verification, and
// Users runs several at once. A hash outside the bounds, or one that does
// not parse, is an error naming the parameter and the bound, given by
// [ValidateHash], [NewUsers], [ParseUsers] and [LoadUsers] when the users
// are loaded, never a slow "false" at login.
//
// Measured with BenchmarkVerifyWorst (go test -bench VerifyWorst
// -benchtime=3x -benchmem -count=2) on a shared 2-core Intel Xeon (Go
// 1.26), one verification of the costliest hashes accepted takes: argon2id
// m=262144, t=1, p=1 0.20-0.31 s and 256 MiB (0.12-0.24 s with p=4, its
// lanes on both cores: the same work); m=131072, t=2 0.18-0.21 s and 128
// MiB; m=16384, t=16 0.13 s and 16 MiB; bcrypt cost 14 0.87-1.1 s and 5
// KiB (cost 16, the bound before, 4 times that). For comparison, the
// hashes Hash makes take 0.02-0.03 s and 19 MiB, RFC 9106's second profile
// 0.06-0.14 s and 64 MiB.
//
// # Users
//
// A [Users] table maps user names to hashes. It is made from code
// ([NewUsers]) or from a users file ([ParseUsers], [LoadUsers]), the format
// that the authkit command's "users add" writes and "serve --users" reads:
// one "NAME:HASH" line per user; blank lines and lines whose first
// non-blank character is '#' are ignored. Names are 1 to 256 bytes of UTF-8
// without ':', white space, control characters, bidirectional controls or
// line separators and do not start with '#'.
//
// [Users.Check] spends the same work on an unknown user as on a wrong
// password of a user whose hash has the kind and cost most users' have (it
// verifies against a dummy hash of that kind and cost), so that the time a
// failed login takes does not tell which names exist. A table that mixes
// kinds or costs (bcrypt users kept from an htpasswd file beside argon2id
// ones) lets the users of the rarer kind be told apart by timing: rehash
// them (users add with their next password) to close it; [Users.Unlike]
// names them.
// It bounds how many hashes are computed at once ([WithMaxConcurrent]), so
// that a flood of logins queues instead of exhausting memory and CPU, and
// how many checks queue ([WithMaxWaiting], by default 4 per slot), of one
// user name at most half of the places running or waiting
// ([WithMaxPerUser], so that one account cannot fill them for everyone):
// past that, a check fails
// at once with [ErrBusy], which the password grant of
// httpauth answers with 503 temporarily_unavailable ("try later") without
// counting it against the user's throttle. Neither this package nor its
// errors ever keep, log or quote a password or a hash.
package passwords
