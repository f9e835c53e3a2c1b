package main

import (
	"context"
	"fmt"

	"github.com/authkit-go/authkit/passwords"
)

// Password hashing for users files lives in package passwords: argon2id
// (the default) in the PHC string format, or bcrypt, with the bounds a
// stored hash must keep. The command picks the algorithm by name.

// Hash algorithms "users add --algo" accepts.
const (
	algoArgon2id = "argon2id"
	algoBcrypt   = "bcrypt"
)

// Password length limits for new passwords, and the longest password a
// login may present (longer ones fail without hashing).
const (
	minPasswordLen = 8
	maxPasswordLen = passwords.MaxPasswordLen
)

// hashPassword returns a new hash of password with algo, in the form a
// users file keeps.
func hashPassword(ctx context.Context, algo string, password []byte) (string, error) {
	if h, ok := ctx.Value(hashingKey{}).(func(algo string, password []byte) (string, error)); ok {
		return h(algo, password)
	}
	switch algo {
	case algoArgon2id:
		return passwords.Hash(password)
	case algoBcrypt:
		return passwords.HashBcrypt(password)
	}
	return "", fmt.Errorf("unknown hash algorithm %s (want argon2id or bcrypt)", quote(algo))
}

// hashingKey is the context key under which this package's tests put the
// function hashPassword uses instead of package passwords: hashes of the
// least cost a users file accepts, because under -race each argon2id hash
// of the production parameters (19 MiB) costs the test binary seconds of
// page faults. Nothing outside this package can set it, and main never
// does: a command run from the shell always hashes at full cost.
type hashingKey struct{}
