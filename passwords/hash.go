package passwords

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// MaxPasswordLen is the longest password, in bytes, that Hash and
// HashBcrypt accept and that Verify and Users.Check compare: a longer one
// never matches, and is refused before any hashing.
const MaxPasswordLen = 1024

// argon2id parameters of new hashes: OWASP's recommended minimum (19 MiB,
// 2 passes, 1 lane), a 16-byte salt and a 32-byte key. Users bounds how
// many are computed at once, so memory stays bounded under load.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonSaltLen   = 16
	argonKeyLen    = 32
)

// Bounds on the argon2id parameters of a stored hash, so that a
// hand-edited or hostile hash cannot make one verification cost gigabytes
// or seconds. The work of a verification is memory × passes (the lanes
// only spread it over cores), so that product is bounded too: at most one
// pass over the largest memory allowed, 256 MiB. It admits RFC 9106's
// second recommended profile (64 MiB, 3 passes, 4 lanes: 192 MiB·passes)
// and every OWASP argon2id profile (at most 46 MiB·passes) with room to
// spare: about 6.7 times the work of the hashes Hash makes (19 MiB, 2
// passes). RFC 9106's first recommended profile (2 GiB, 1 pass) is
// refused on purpose: it is meant for a machine that can give 2 GiB to
// each hash, and Users computes several at once (WithMaxConcurrent).
const (
	argonMaxMemoryKiB = 256 << 10 // 256 MiB
	argonMaxTime      = 16
	argonMaxWorkKiB   = 256 << 10 // memory (KiB) × passes
	argonMaxThreads   = 64
	argonMinSaltLen   = 8
	argonMaxSaltLen   = 64
	argonMinKeyLen    = 16
	argonMaxKeyLen    = 128
)

// bcrypt: cost 12 for new hashes; stored hashes above cost 14 are refused.
// Each step doubles the work: cost 14 is 4 times the work of cost 12, in
// the spirit of the argon2id bound (about 6.7 times the work of Hash's
// hashes), and takes about a second (see the measures in the package
// documentation); cost 16, the bound before, took about 4 seconds. Cost 14
// rather than 13 keeps the costlier hashes other tools make loadable.
const (
	bcryptCost    = 12
	bcryptMaxCost = 14
	bcryptMaxPass = 72 // bcrypt ignores every byte after the 72nd
)

var errBadHash = errors.New("not an argon2id (PHC) or bcrypt hash")

// hash is a parsed hash whose parameters are within bounds.
type hash interface {
	// verify reports whether password matches, in time that depends on the
	// hash's parameters, not on how much of the password matches.
	verify(password []byte) bool
	// class names the algorithm and its cost parameters: hashes of one
	// class take the same time to verify.
	class() string
	// weak reports whether the hash's cost is below OWASP's minimum
	// (Users.Weak).
	weak() bool
}

// OWASP's Password Storage Cheat Sheet minimums: argon2id with at least
// 7 MiB and, memory times passes, at least its m=7168,t=5 (the cheapest of
// its equivalent settings); bcrypt cost 10.
const (
	owaspArgonMinKiB       = 7168
	owaspArgonMinKiBPasses = 7168 * 5
	owaspBcryptMinCost     = 10
)

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

// encode returns h in the PHC string format.
func (h *argon2Hash) encode() string {
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
	// bcrypt ignores bytes after the 72nd: a longer password would match
	// any password sharing its first 72 bytes. The comparison still ran,
	// so the time taken does not tell the two cases apart.
	return ok && len(password) <= bcryptMaxPass
}

func (h *bcryptHash) class() string { return "bcrypt cost=" + strconv.Itoa(h.cost) }

func (h *bcryptHash) weak() bool { return h.cost < owaspBcryptMinCost }

func (h *argon2Hash) weak() bool {
	return h.memory < owaspArgonMinKiB || uint64(h.memory)*uint64(h.time) < owaspArgonMinKiBPasses
}

// checkNewPassword refuses a password no login could present: the
// password grant and Basic credentials take UTF-8 only (found by review: a
// password with a byte 0xff was hashed, and its user could never log in).
func checkNewPassword(password []byte) error {
	switch {
	case len(password) == 0:
		return errors.New("passwords: the password is empty")
	case len(password) > MaxPasswordLen:
		return fmt.Errorf("passwords: the password is longer than %d bytes", MaxPasswordLen)
	case !utf8.Valid(password):
		return errors.New("passwords: the password is not valid UTF-8 (no login could present it)")
	}
	return nil
}

// Hash returns an argon2id hash of password in the PHC string format,
// "$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH", with a random 16-byte salt
// and a 32-byte hash, SALT and HASH in unpadded standard base64: the form
// a users file keeps, and the hashes the authkit command's "users add"
// makes. password must be 1 to MaxPasswordLen bytes of UTF-8; a minimum length or
// other policy is the caller's. Hash does not keep password; the caller
// may clear it afterwards.
func Hash(password []byte) (string, error) {
	if err := checkNewPassword(password); err != nil {
		return "", err
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	h := &argon2Hash{memory: argonMemoryKiB, time: argonTime, threads: argonThreads, salt: salt}
	h.key = argon2.IDKey(password, salt, h.time, h.memory, h.threads, argonKeyLen)
	return h.encode(), nil
}

// HashBcrypt returns a bcrypt hash of password of cost 12 ("$2a$12$…").
// bcrypt reads at most 72 bytes of a password, so a longer password is
// refused rather than silently cut; use Hash for those. password must not
// be empty, and must be UTF-8.
func HashBcrypt(password []byte) (string, error) {
	if err := checkNewPassword(password); err != nil {
		return "", err
	}
	if len(password) > bcryptMaxPass {
		return "", fmt.Errorf("bcrypt uses at most %d bytes of a password; use argon2id for longer ones", bcryptMaxPass)
	}
	b, err := bcrypt.GenerateFromPassword(password, bcryptCost)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Verify reports whether password matches encoded, an argon2id hash in
// the PHC string format or a bcrypt hash ($2a$, $2b$, $2y$). The
// comparison takes constant time for a given hash. A hash that does not
// parse, or whose parameters are out of bounds (see the package
// documentation), is an error, reported before any hashing and never
// quoting the hash. A password longer than MaxPasswordLen bytes, or one
// longer than 72 bytes against a bcrypt hash, does not match.
func Verify(encoded string, password []byte) (bool, error) {
	h, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	if len(password) > MaxPasswordLen {
		return false, nil
	}
	return h.verify(password), nil
}

// ValidateHash reports why encoded cannot be verified by Verify or kept
// in a Users table (it does not parse, or a parameter is out of bounds),
// or nil. The error never quotes the hash.
func ValidateHash(encoded string) error {
	_, err := parseHash(encoded)
	return err
}

// parseHash parses and bounds a stored hash. Its errors never include the
// hash.
func parseHash(s string) (hash, error) {
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
func parseArgon2id(s string) (hash, error) {
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
	if err := checkArgon2Params(m, t, p); err != nil {
		return nil, err
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	// The decoder skips line breaks, even strict: a hash cut across lines
	// (or with a stray CR) would load (found by review).
	if err1 != nil || err2 != nil || strings.ContainsAny(parts[4]+parts[5], "\r\n") {
		return nil, errors.New("argon2id hash: salt and hash must be unpadded standard base64")
	}
	if len(salt) < argonMinSaltLen || len(salt) > argonMaxSaltLen || len(key) < argonMinKeyLen || len(key) > argonMaxKeyLen {
		return nil, fmt.Errorf("argon2id hash: salt must be %d-%d bytes and the hash %d-%d bytes",
			argonMinSaltLen, argonMaxSaltLen, argonMinKeyLen, argonMaxKeyLen)
	}
	return &argon2Hash{memory: uint32(m), time: uint32(t), threads: uint8(p), salt: salt, key: key}, nil
}

// checkArgon2Params bounds an argon2id hash's memory m (KiB), passes t and
// lanes p; the error names the parameter, its value and the bound.
func checkArgon2Params(m, t, p uint64) error {
	switch {
	case p < 1 || p > argonMaxThreads:
		return fmt.Errorf("argon2id hash: lanes p=%d out of range: want 1 ≤ p ≤ %d", p, argonMaxThreads)
	case t < 1 || t > argonMaxTime:
		return fmt.Errorf("argon2id hash: passes t=%d out of range: want 1 ≤ t ≤ %d", t, argonMaxTime)
	case m < 8*p || m > argonMaxMemoryKiB:
		return fmt.Errorf("argon2id hash: memory m=%d KiB out of range: want 8·p = %d ≤ m ≤ %d KiB (256 MiB)",
			m, 8*p, argonMaxMemoryKiB)
	case m*t > argonMaxWorkKiB:
		return fmt.Errorf("argon2id hash: work m·t = %d KiB out of range: want m·t ≤ %d KiB (one pass over 256 MiB)",
			m*t, argonMaxWorkKiB)
	}
	return nil
}

// parseBcrypt parses "$2b$CC$" followed by 53 characters of bcrypt's
// base64 (22 of salt, 31 of hash).
func parseBcrypt(s string) (hash, error) {
	const bcryptLen = 60
	if len(s) != bcryptLen || s[6] != '$' {
		return nil, errors.New("bcrypt hash: want $2b$CC$ and 53 characters")
	}
	if s[4] < '0' || s[4] > '9' || s[5] < '0' || s[5] > '9' {
		// Two digits: bcrypt.Cost alone took "+5" for 05 (found by
		// review).
		return nil, errors.New("bcrypt hash: bad cost")
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
		return nil, fmt.Errorf("bcrypt hash: cost %d is above %d (each step doubles the work)", cost, bcryptMaxCost)
	}
	return &bcryptHash{encoded: []byte(s), cost: cost}, nil
}

// dummyHash returns a hash in like's class that no password matches (its
// salt and hash are random), so that checking a password for an unknown
// user costs what checking one for a known user does: verifying it runs
// the same algorithm with the same parameters. Making it costs no hashing.
func dummyHash(like hash) (hash, error) {
	switch h := like.(type) {
	case *bcryptHash:
		// The same prefix and cost, then 53 random characters of bcrypt's
		// alphabet (22 of salt, 31 of hash), all of which it decodes.
		const alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
		r := make([]byte, 53)
		if _, err := rand.Read(r); err != nil {
			return nil, err
		}
		enc := append([]byte(nil), h.encoded[:7]...)
		for _, b := range r {
			enc = append(enc, alphabet[b&63])
		}
		return &bcryptHash{encoded: enc, cost: h.cost}, nil
	case *argon2Hash:
		r := make([]byte, len(h.salt)+len(h.key))
		if _, err := rand.Read(r); err != nil {
			return nil, err
		}
		return &argon2Hash{memory: h.memory, time: h.time, threads: h.threads,
			salt: r[:len(h.salt):len(h.salt)], key: r[len(h.salt):]}, nil
	}
	return nil, errBadHash
}

// defaultClass returns a hash of the class Hash makes (its salt and key
// zero): a table without users checks names against a dummy of it.
func defaultClass() hash {
	return &argon2Hash{memory: argonMemoryKiB, time: argonTime, threads: argonThreads,
		salt: make([]byte, argonSaltLen), key: make([]byte, argonKeyLen)}
}
