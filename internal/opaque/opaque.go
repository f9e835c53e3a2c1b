// Package opaque makes and checks authkit's opaque tokens (refresh and API
// tokens), hashes them for storage, and seals a refresh token's successor
// under a key only its predecessor's holder can derive.
//
// A token is "<prefix><kind>_<body><check>": body is 43 base62 characters
// carrying 256 random bits, check is 6 base62 characters of CRC-32 over
// everything before it. The checksum lets a malformed or mistyped token be
// refused without a store call; it is not a security property.
//
// A refresh token made by NewRefresh for a session whose ID is a UUID
// also names its session: "<prefix>rt_<body><session><check>", session
// being the UUID's 128 bits in 22 base62 characters. The session is not
// secret (every access token of the session carries it as its sid); it
// lets a store find the token's session without a lookup first
// (authkit.Rotation.SessionID), and, since a token's hash covers it, a
// token cannot name another session than the one it was issued in.
package opaque

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/big"
	"math/bits"
	"strings"
	"unsafe"

	"github.com/authkit-go/authkit"
	"github.com/google/uuid"
)

// Kinds of opaque token, the part between the prefix and the underscore.
const (
	KindAPI          = ""
	KindRefresh      = "rt"
	KindClientSecret = "cs" // an OAuth 2.0 client's secret
	KindAuthCode     = "ac" // an OAuth 2.0 authorization code
)

const (
	bodyLen    = 43 // ceil(256 / log2(62))
	sessionLen = 22 // ceil(128 / log2(62)): a refresh token's session part
	checkLen   = 6  // ceil(32 / log2(62))
	// MaxLen bounds any opaque token: prefix (16) + kind (2) + "_" + body
	// + a refresh token's session part + check.
	MaxLen = 16 + 2 + 1 + bodyLen + sessionLen + checkLen
)

// maxBody is 2^256-1 in bodyLen base62 digits, maxSession 2^128-1 in
// sessionLen.
const (
	maxBody    = "yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp1"
	maxSession = "7n42DGM5Tflk9n8mt7Fhc7"
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ErrMalformed reports a string that is not a well-formed token of the kind
// asked for.
var ErrMalformed = errors.New("opaque: malformed token")

// New returns a fresh token of kind with prefix.
func New(prefix, kind string) (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	head := prefix + kind + "_"
	b := make([]byte, 0, len(head)+bodyLen+checkLen)
	b = append(b, head...)
	b = appendBase62(b, new(big.Int).SetBytes(raw[:]), bodyLen)
	b = appendCheck(b, crc32.ChecksumIEEE(b))
	return string(b), nil
}

// NewRefresh returns a fresh refresh token with prefix for session
// sessionID. A session ID that is a UUID in its canonical form (lower-case
// hex with dashes, as the issuer makes them) is carried in the token (see
// the package documentation and SessionOf); any other is not, and the
// token is one New makes.
func NewRefresh(prefix, sessionID string) (string, error) {
	hi, lo, ok := parseUUID(sessionID)
	if !ok {
		return New(prefix, KindRefresh)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	head := prefix + KindRefresh + "_"
	b := make([]byte, 0, len(head)+bodyLen+sessionLen+checkLen)
	b = append(b, head...)
	b = appendBase62(b, new(big.Int).SetBytes(raw[:]), bodyLen)
	b = append128(b, hi, lo)
	b = appendCheck(b, crc32.ChecksumIEEE(b))
	return string(b), nil
}

// SessionOf returns the session ID a well-formed refresh token with
// prefix names (NewRefresh), or "" for a token that names none, or is not
// a well-formed refresh token. Its only allocation is the ID.
func SessionOf(s, prefix string) string {
	if Check(s, prefix, KindRefresh) != nil {
		return ""
	}
	start := len(prefix) + len(KindRefresh) + 1 + bodyLen
	if len(s) != start+sessionLen+checkLen {
		return ""
	}
	// Check bounded the part to 2^128-1: no step overflows.
	var hi, lo uint64
	for i := start; i < start+sessionLen; i++ {
		carry, low := bits.Mul64(lo, 62)
		var c uint64
		lo, c = bits.Add64(low, uint64(digit(s[i])), 0)
		hi = hi*62 + carry + c
	}
	return formatUUID(hi, lo)
}

// parseUUID reads a UUID in its canonical form (8-4-4-4-12 lower-case
// hex digits, as uuid.UUID.String writes it) as two 64-bit halves.
func parseUUID(s string) (hi, lo uint64, ok bool) {
	if len(s) != 36 || strings.ContainsAny(s, "ABCDEF") {
		return 0, 0, false // uuid.Parse takes other forms and upper case too
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(u[:8]), binary.BigEndian.Uint64(u[8:]), true
}

// formatUUID is parseUUID's inverse.
func formatUUID(hi, lo uint64) string {
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[:8], hi)
	binary.BigEndian.PutUint64(u[8:], lo)
	return u.String()
}

// append128 appends hi:lo in sessionLen base62 digits.
func append128(b []byte, hi, lo uint64) []byte {
	var tmp [sessionLen]byte
	for i := sessionLen - 1; i >= 0; i-- {
		var r uint64
		hi, r = hi/62, hi%62
		lo, r = bits.Div64(r, lo, 62)
		tmp[i] = alphabet[r]
	}
	return append(b, tmp[:]...)
}

// digit is the value of a base62 character.
func digit(c byte) int {
	switch {
	case c <= '9':
		return int(c - '0')
	case c <= 'Z':
		return int(c-'A') + 10
	}
	return int(c-'a') + 36
}

func appendBase62(b []byte, n *big.Int, width int) []byte {
	start := len(b)
	b = append(b, make([]byte, width)...)
	base := big.NewInt(62)
	m := new(big.Int)
	for i := len(b) - 1; i >= start; i-- {
		n.DivMod(n, base, m)
		b[i] = alphabet[m.Int64()]
	}
	return b
}

func appendCheck(b []byte, c uint32) []byte {
	var tmp [checkLen]byte
	for i := checkLen - 1; i >= 0; i-- {
		tmp[i] = alphabet[c%62]
		c /= 62
	}
	return append(b, tmp[:]...)
}

// Body returns the 32 random bytes a well-formed token of kind with prefix
// carries (for tests that look for them where they must not be).
func Body(s, prefix, kind string) ([32]byte, error) {
	var out [32]byte
	if err := Check(s, prefix, kind); err != nil {
		return out, err
	}
	head := len(prefix) + len(kind) + 1
	n, base := new(big.Int), big.NewInt(62)
	for i := head; i < head+bodyLen; i++ {
		n.Mul(n, base)
		n.Add(n, big.NewInt(int64(strings.IndexByte(alphabet, s[i]))))
	}
	if n.BitLen() > 256 {
		return out, ErrMalformed
	}
	n.FillBytes(out[:])
	return out, nil
}

// Looks reports whether s has the shape of a token of kind with prefix
// (prefix, kind and underscore), without checking the rest.
func Looks(s, prefix, kind string) bool {
	return len(s) > len(prefix)+len(kind) && strings.HasPrefix(s, prefix) &&
		strings.HasPrefix(s[len(prefix):], kind) && s[len(prefix)+len(kind)] == '_'
}

// Check reports whether s is a well-formed token of kind with prefix:
// exact length (a refresh token's with or without a session part), base62
// body and a matching checksum. It does not allocate.
func Check(s, prefix, kind string) error {
	head := len(prefix) + len(kind) + 1
	extra := len(s) - (head + bodyLen + checkLen)
	if extra != 0 && (kind != KindRefresh || extra != sessionLen) || !Looks(s, prefix, kind) {
		return ErrMalformed
	}
	for i := head; i < len(s); i++ {
		if !isBase62(s[i]) {
			return ErrMalformed
		}
	}
	// 43 base62 digits hold a little more than 256 bits; a body above
	// 2^256-1 is no token New makes (and Body refuses it). The alphabet is
	// in ASCII order, so fixed-width digit strings compare as numbers.
	if s[head:head+bodyLen] > maxBody || extra == sessionLen && s[head+bodyLen:head+bodyLen+sessionLen] > maxSession {
		return ErrMalformed
	}
	c := crc32.ChecksumIEEE(bytesOf(s[:len(s)-checkLen]))
	var want [checkLen]byte
	for i := checkLen - 1; i >= 0; i-- {
		want[i] = alphabet[c%62]
		c /= 62
	}
	if string(want[:]) != s[len(s)-checkLen:] {
		return ErrMalformed
	}
	return nil
}

// embeddedRun is how long a run of base62 characters Embedded takes for a
// credential's: a token's body and checksum are 49 in a row, so a token
// with a few characters lost, or quoted, or after "Bearer ", still holds
// one, while names and IDs rarely run past 32 (a UUID's hex without its
// dashes).
const embeddedRun = 40

// Embedded reports whether s holds what may be most of a token's random
// part: a run of at least 40 base62 characters. It is for redaction: a
// whole token of any prefix and kind holds one, and so does a token
// slightly damaged (quoted by an env file, pasted with a prefix, short of
// its last character), which must not be logged either (found by review:
// an exact match of the token's form and checksum let those through). It
// does not allocate.
func Embedded(s string) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		if !isBase62(s[i]) {
			run = 0
			continue
		}
		if run++; run >= embeddedRun {
			return true
		}
	}
	return false
}

// bytesOf views s as bytes without copying; the result must not be modified.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func isBase62(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// Hasher turns tokens into the hashes stores keep: SHA-256, or
// HMAC-SHA-256 under a server key when one is set.
type Hasher struct {
	key []byte
}

// NewHasher returns a Hasher; key nil means plain SHA-256.
func NewHasher(key []byte) Hasher { return Hasher{key: append([]byte(nil), key...)} }

// Hash returns the stored form of token.
func (h Hasher) Hash(token string) authkit.TokenHash {
	if h.key == nil {
		return sha256.Sum256(bytesOf(token))
	}
	m := hmac.New(sha256.New, h.key)
	m.Write(bytesOf(token))
	var out authkit.TokenHash
	m.Sum(out[:0])
	return out
}

// Equal compares two hashes in constant time.
func Equal(a, b authkit.TokenHash) bool { return hmac.Equal(a[:], b[:]) }

const sealInfo = "authkit refresh successor v1"

func sealKey(secret string) ([]byte, error) {
	return hkdf.Key(sha256.New, []byte(secret), nil, sealInfo, 32)
}

// Seal encrypts successor under a key derived from secret (the token it
// replaces), so that the stored result is useless without secret.
func Seal(secret, successor string) ([]byte, error) {
	key, err := sealKey(secret)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(successor)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, []byte(successor), []byte(sealInfo)), nil
}

// Open reverses Seal; it fails for any other secret or a tampered box.
func Open(secret string, box []byte) (string, error) {
	key, err := sealKey(secret)
	if err != nil {
		return "", err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	if len(box) < aead.NonceSize()+aead.Overhead() {
		return "", ErrMalformed
	}
	pt, err := aead.Open(nil, box[:aead.NonceSize()], box[aead.NonceSize():], []byte(sealInfo))
	if err != nil {
		return "", ErrMalformed
	}
	return string(pt), nil
}
