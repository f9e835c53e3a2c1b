package main

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Password hashing for users files: argon2id (the default) in the PHC
// string format, or bcrypt.

// Hash algorithms "users add --algo" accepts.
const (
	algoArgon2id = "argon2id"
	algoBcrypt   = "bcrypt"
)

// argon2id parameters for new hashes: OWASP's recommended minimum
// (19 MiB, 2 passes, 1 lane), a 16-byte salt and a 32-byte key. A server
// verifies a bounded number of passwords at once (see userDB), so memory
// stays bounded under load.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonSaltLen   = 16
	argonKeyLen    = 32
)

// Bounds on argon2id parameters read from a users file. A hash outside them
// is refused when the file is loaded, so a hand-edited hash cannot make each
// login cost gigabytes or minutes.
const (
	argonMaxMemoryKiB = 1 << 20 // 1 GiB
	argonMaxTime      = 64
	argonMaxThreads   = 64
	argonMinSaltLen   = 8
	argonMaxSaltLen   = 64
	argonMinKeyLen    = 16
	argonMaxKeyLen    = 128
)

// bcrypt: cost 12 for new hashes; costs above 16 are refused when loading
// (each step doubles the work).
const (
	bcryptCost    = 12
	bcryptMaxCost = 16
	bcryptMaxPass = 72 // bcrypt ignores every byte after the 72nd
)

// Password length limits for new passwords, and the longest password a
// login may present (longer ones fail without hashing).
const (
	minPasswordLen = 8
	maxPasswordLen = 1024
)

var errBadHash = errors.New("not an argon2id (PHC) or bcrypt hash")

// passwordHash is a parsed, validated hash from a users file.
type passwordHash interface {
	// verify reports whether password matches, in time that depends on the
	// hash's parameters, not on how much of the password matches.
	verify(password []byte) bool
	// class names the algorithm and its cost parameters: hashes of one class
	// take the same time to verify.
	class() string
}

type argon2Hash struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

func (h *argon2Hash) verify(password []byte) bool {
	got := argon2.IDKey(password, h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1
}

func (h *argon2Hash) class() string {
	return fmt.Sprintf("argon2id m=%d,t=%d,p=%d,l=%d", h.memory, h.time, h.threads, len(h.key))
}

func (h *argon2Hash) String() string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.memory, h.time, h.threads, b64.EncodeToString(h.salt), b64.EncodeToString(h.key))
}

type bcryptHash struct {
	encoded []byte
	cost    int
}

func (h *bcryptHash) verify(password []byte) bool {
	ok := bcrypt.CompareHashAndPassword(h.encoded, password) == nil
	// bcrypt ignores bytes after the 72nd: a longer password would match any
	// password sharing its first 72 bytes. The comparison still ran, so the
	// time taken does not tell the two cases apart.
	return ok && len(password) <= bcryptMaxPass
}

func (h *bcryptHash) class() string { return "bcrypt cost=" + strconv.Itoa(h.cost) }

// hashPassword returns a new hash of password with algo, in the form a
// users file keeps.
func hashPassword(algo string, password []byte) (string, error) {
	switch algo {
	case algoArgon2id:
		salt := make([]byte, argonSaltLen)
		if _, err := rand.Read(salt); err != nil {
			return "", err
		}
		h := &argon2Hash{memory: argonMemoryKiB, time: argonTime, threads: argonThreads, salt: salt}
		h.key = argon2.IDKey(password, salt, h.time, h.memory, h.threads, argonKeyLen)
		return h.String(), nil
	case algoBcrypt:
		if len(password) > bcryptMaxPass {
			return "", fmt.Errorf("bcrypt uses at most %d bytes of a password; use argon2id for longer ones", bcryptMaxPass)
		}
		b, err := bcrypt.GenerateFromPassword(password, bcryptCost)
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	return "", fmt.Errorf("unknown hash algorithm %s (want argon2id or bcrypt)", quote(algo))
}

// parseHash parses and bounds a stored hash. Its errors never include the
// hash.
func parseHash(s string) (passwordHash, error) {
	switch {
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon2id(s)
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		return parseBcrypt(s)
	}
	return nil, errBadHash
}

// parseArgon2id parses "$argon2id$v=19$m=M,t=T,p=P$SALT$KEY" with SALT and
// KEY in unpadded standard base64, as the PHC string format and the argon2
// reference implementation write it.
func parseArgon2id(s string) (passwordHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return nil, errors.New("argon2id hash: want $argon2id$v=19$m=…,t=…,p=…$salt$hash")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, errors.New("argon2id hash: only version 19 (v=19) is supported")
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return nil, errors.New("argon2id hash: want parameters m=…,t=…,p=…")
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(params[i], name+"=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || (len(v) > 1 && v[0] == '0') {
			return nil, errors.New("argon2id hash: want parameters m=…,t=…,p=… in that order, as decimal numbers")
		}
		vals[i] = n
	}
	m, t, p := vals[0], vals[1], vals[2]
	if p < 1 || p > argonMaxThreads || t < 1 || t > argonMaxTime || m < 8*p || m > argonMaxMemoryKiB {
		return nil, fmt.Errorf("argon2id hash: parameters out of range (1 ≤ p ≤ %d, 1 ≤ t ≤ %d, 8·p ≤ m ≤ %d KiB)",
			argonMaxThreads, argonMaxTime, argonMaxMemoryKiB)
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return nil, errors.New("argon2id hash: salt and hash must be unpadded standard base64")
	}
	if len(salt) < argonMinSaltLen || len(salt) > argonMaxSaltLen || len(key) < argonMinKeyLen || len(key) > argonMaxKeyLen {
		return nil, fmt.Errorf("argon2id hash: salt must be %d-%d bytes and the hash %d-%d bytes",
			argonMinSaltLen, argonMaxSaltLen, argonMinKeyLen, argonMaxKeyLen)
	}
	return &argon2Hash{memory: uint32(m), time: uint32(t), threads: uint8(p), salt: salt, key: key}, nil
}

// parseBcrypt parses "$2b$CC$" followed by 53 characters of bcrypt's base64
// (22 of salt, 31 of hash).
func parseBcrypt(s string) (passwordHash, error) {
	const bcryptLen = 60
	if len(s) != bcryptLen || s[6] != '$' {
		return nil, errors.New("bcrypt hash: want $2b$CC$ and 53 characters")
	}
	for i := 7; i < len(s); i++ {
		c := s[i]
		if !(c == '.' || c == '/' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return nil, errors.New("bcrypt hash: bad character in salt or hash")
		}
	}
	cost, err := bcrypt.Cost([]byte(s))
	if err != nil {
		return nil, errors.New("bcrypt hash: bad cost")
	}
	if cost > bcryptMaxCost {
		return nil, fmt.Errorf("bcrypt hash: cost %d is above %d", cost, bcryptMaxCost)
	}
	return &bcryptHash{encoded: []byte(s), cost: cost}, nil
}

// dummyHash returns a hash of a random password in the given class, so that
// checking a password for an unknown user costs what checking one for a
// known user does.
func dummyHash(like passwordHash) (passwordHash, error) {
	pw := make([]byte, 32)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	switch h := like.(type) {
	case *bcryptHash:
		b, err := bcrypt.GenerateFromPassword(pw[:24], h.cost)
		if err != nil {
			return nil, err
		}
		return &bcryptHash{encoded: b, cost: h.cost}, nil
	case *argon2Hash:
		salt := make([]byte, len(h.salt))
		if _, err := rand.Read(salt); err != nil {
			return nil, err
		}
		return &argon2Hash{memory: h.memory, time: h.time, threads: h.threads, salt: salt,
			key: argon2.IDKey(pw, salt, h.time, h.memory, h.threads, uint32(len(h.key)))}, nil
	}
	return nil, errBadHash
}
