package golangjwt

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authkit-go/authkit/keys"
)

// Keyfunc returns a jwt.Keyfunc that finds the verification key of a token
// in set. For every token it:
//
//  1. refuses a header with a "crit" member (RFC 7515 §4.1.11: neither
//     golang-jwt nor this package understands any extension);
//  2. requires the header's "alg" to be a string equal to the Alg of the
//     signing method golang-jwt picked for it, to be one of the algorithms
//     of the keys package (so "none" is refused, whatever key golang-jwt
//     would otherwise be given), and that method to be golang-jwt's own
//     implementation of that algorithm (a method registered by other code
//     under a built-in name is refused);
//  3. looks up the header's "kid" in set. A token without a kid is accepted
//     only when set holds exactly one key bound to the token's alg, and
//     then that key is used; with two or more such keys (as during a
//     rotation) it is refused. A kid that is not a string is refused;
//  4. refuses the token unless its alg is exactly the algorithm the key is
//     bound to (RFC 8725 §3.1), which defeats algorithm confusion, such as
//     an HS256 token whose HMAC secret is an RSA public key;
//  5. for RSASSA-PSS (PS*), verifies the signature itself with the RFC
//     7518 §3.5 salt length, which authkit's verifier requires and
//     golang-jwt's PS* methods do not (they accept any salt length); a
//     failure matches jwt.ErrTokenSignatureInvalid. (A token that no
//     parser made, without Raw, is left to the caller's own check.)
//  6. returns the key in the type golang-jwt's method takes: an
//     *rsa.PublicKey (RS*, PS*), an *ecdsa.PublicKey (ES*), an
//     ed25519.PublicKey (EdDSA) or the secret as a []byte (HS*). A private
//     key is never returned, only its public part. Each call returns a
//     fresh copy, which the caller may keep or change.
//
// The set is read on every call, so a key removed from it stops verifying
// at once, and a key added verifies at once. A nil set refuses every token.
//
// Keyfunc checks keys and algorithms only: the caller still chooses, with
// parser options, which claims golang-jwt validates (issuer, audience,
// required expiry; see [ParserOptions]). It does not check the header's
// "typ", which authkit's verifier requires to be "at+jwt".
//
// Errors are described in the package documentation; golang-jwt wraps them
// in jwt.ErrTokenUnverifiable.
func Keyfunc(set *keys.Set) jwt.Keyfunc {
	// The last HMAC secret extracted, so that a run of tokens under one
	// HMAC key decodes its secret once. Keys are immutable, so an entry
	// never goes stale; it is reached only through a key found in the set.
	var last atomic.Pointer[cachedSecret]
	return func(t *jwt.Token) (any, error) {
		if set == nil {
			return nil, fmt.Errorf("golangjwt: %w: nil key set", keys.ErrInvalidKey)
		}
		if t == nil {
			return nil, fmt.Errorf("golangjwt: %w: nil token", keys.ErrInvalidKey)
		}
		k, err := findKey(set, t)
		if err != nil {
			return nil, err
		}
		if err := checkPSS(k, t); err != nil {
			return nil, err
		}
		if !k.Symmetric() {
			return publicKey(k)
		}
		if c := last.Load(); c != nil && c.key == k {
			return bytes.Clone(c.secret), nil
		}
		secret, err := hmacSecret(k)
		if err != nil {
			return nil, err
		}
		last.Store(&cachedSecret{key: k, secret: bytes.Clone(secret)})
		return secret, nil
	}
}

// checkPSS verifies an RSASSA-PSS (PS*) token's signature with k itself,
// before golang-jwt does: golang-jwt's PS* methods accept any salt length
// (rsa.PSSSaltLengthAuto), while RFC 7518 §3.5 and authkit's verifier
// require the salt to be as long as the hash, and the two must agree on
// every token. Other algorithms have one valid encoding in both.
func checkPSS(k *keys.Key, t *jwt.Token) error {
	switch k.Algorithm() {
	case keys.PS256, keys.PS384, keys.PS512:
	default:
		return nil
	}
	if t.Raw == "" {
		return nil // not from a parser: nothing to check the signature of
	}
	dot := strings.LastIndexByte(t.Raw, '.')
	if dot < 0 {
		return fmt.Errorf("golangjwt: %w: not a compact JWS", jwt.ErrTokenMalformed)
	}
	if err := k.Verify([]byte(t.Raw[:dot]), t.Signature); err != nil {
		return fmt.Errorf("golangjwt: %w: %w", jwt.ErrTokenSignatureInvalid, err)
	}
	return nil
}

// cachedSecret is an HMAC key and its secret.
type cachedSecret struct {
	key    *keys.Key
	secret []byte
}

// findKey runs steps 1 to 4 of Keyfunc.
func findKey(set *keys.Set, t *jwt.Token) (*keys.Key, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, fmt.Errorf("golangjwt: %w: header has a \"crit\" member", keys.ErrInvalidKey)
	}
	name, ok := t.Header["alg"].(string)
	if !ok {
		return nil, fmt.Errorf("golangjwt: %w: header \"alg\" missing or not a string", keys.ErrUnsupportedAlgorithm)
	}
	alg := keys.Algorithm(name)
	if !alg.Valid() {
		return nil, fmt.Errorf("golangjwt: %w: %q", keys.ErrUnsupportedAlgorithm, short(name))
	}
	if t.Method == nil || t.Method.Alg() != name {
		return nil, fmt.Errorf("golangjwt: %w: header alg %s and the token's signing method disagree", keys.ErrAlgorithmMismatch, alg)
	}
	if !builtinMethod(t.Method, alg) {
		return nil, fmt.Errorf("golangjwt: %w: %s method %T is not golang-jwt's own", keys.ErrAlgorithmMismatch, alg, t.Method)
	}

	var k *keys.Key
	if raw, present := t.Header["kid"]; present {
		kid, ok := raw.(string)
		if !ok {
			return nil, fmt.Errorf("golangjwt: %w: header \"kid\" is not a string", keys.ErrInvalidKey)
		}
		if k, ok = set.Lookup(kid); !ok {
			return nil, fmt.Errorf("golangjwt: %w: kid %q", keys.ErrUnknownKey, short(kid))
		}
	} else {
		for _, c := range set.Keys() {
			if c.Algorithm() != alg {
				continue
			}
			if k != nil {
				return nil, fmt.Errorf("golangjwt: %w: token has no kid and the set holds several %s keys", keys.ErrUnknownKey, alg)
			}
			k = c
		}
		if k == nil {
			return nil, fmt.Errorf("golangjwt: %w: token has no kid and the set holds no %s key", keys.ErrUnknownKey, alg)
		}
	}
	if k.Algorithm() != alg {
		return nil, fmt.Errorf("golangjwt: %w: token alg %s, key %q is bound to %s", keys.ErrAlgorithmMismatch, alg, short(k.ID()), k.Algorithm())
	}
	return k, nil
}

// builtinMethod reports whether m is golang-jwt's own method for alg, the
// very instance the library registers under that name. Its Alg has already
// been checked to equal alg. Comparing types alone let a method that other
// code registered under a built-in name pass, such as an RSA method with
// SHA-1 registered as "RS256" (found by review): the bridge then accepted
// signatures authkit's verifier refuses.
func builtinMethod(m jwt.SigningMethod, alg keys.Algorithm) bool {
	var want jwt.SigningMethod
	switch alg {
	case keys.HS256:
		want = jwt.SigningMethodHS256
	case keys.HS384:
		want = jwt.SigningMethodHS384
	case keys.HS512:
		want = jwt.SigningMethodHS512
	case keys.RS256:
		want = jwt.SigningMethodRS256
	case keys.RS384:
		want = jwt.SigningMethodRS384
	case keys.RS512:
		want = jwt.SigningMethodRS512
	case keys.PS256:
		want = jwt.SigningMethodPS256
	case keys.PS384:
		want = jwt.SigningMethodPS384
	case keys.PS512:
		want = jwt.SigningMethodPS512
	case keys.ES256:
		want = jwt.SigningMethodES256
	case keys.ES384:
		want = jwt.SigningMethodES384
	case keys.ES512:
		want = jwt.SigningMethodES512
	case keys.EdDSA:
		want = jwt.SigningMethodEdDSA
	default:
		return false
	}
	return m == want
}

// publicKey returns a fresh copy of k's public key, in the type golang-jwt's
// built-in methods take: *rsa.PublicKey, *ecdsa.PublicKey or
// ed25519.PublicKey.
func publicKey(k *keys.Key) (any, error) {
	pub := k.PublicKey()
	if pub == nil {
		return nil, fmt.Errorf("golangjwt: %w: key %q has no public key", keys.ErrInvalidKey, short(k.ID()))
	}
	return pub, nil
}

// hmacSecret extracts the secret of an HMAC key. The keys package exposes
// it only through the key's JWK ("k" member); the JSON buffers are cleared
// once the secret is decoded.
func hmacSecret(k *keys.Key) ([]byte, error) {
	doc, err := k.MarshalJWK()
	if err != nil {
		return nil, fmt.Errorf("golangjwt: %w", err)
	}
	defer clear(doc)
	var j struct {
		K json.RawMessage `json:"k"`
	}
	if err := json.Unmarshal(doc, &j); err != nil {
		return nil, fmt.Errorf("golangjwt: %w: HMAC key %q: %v", keys.ErrInvalidKey, short(k.ID()), err)
	}
	defer clear(j.K)
	enc := bytes.Trim(j.K, `"`)
	secret := make([]byte, base64.RawURLEncoding.DecodedLen(len(enc)))
	n, err := base64.RawURLEncoding.Decode(secret, enc)
	if err != nil || n == 0 {
		clear(secret)
		return nil, fmt.Errorf("golangjwt: %w: HMAC key %q has no usable secret", keys.ErrInvalidKey, short(k.ID()))
	}
	return secret[:n], nil
}

// ValidMethods returns the distinct algorithms of the keys in set, in the
// set's order (active key first), for jwt.WithValidMethods. It is a
// snapshot: a key of a new algorithm added to the set later is not in it.
// For an empty or nil set it returns an empty, non-nil slice, which makes
// golang-jwt refuse every token (a nil list would allow every method).
func ValidMethods(set *keys.Set) []string {
	out := []string{}
	for _, k := range set.Keys() {
		alg := string(k.Algorithm())
		dup := false
		for _, a := range out {
			dup = dup || a == alg
		}
		if !dup {
			out = append(out, alg)
		}
	}
	return out
}

// ParserOptions returns the golang-jwt parser options that go with
// [Keyfunc] over set: jwt.WithValidMethods([ValidMethods](set)) and
// jwt.WithExpirationRequired(). Keyfunc already enforces each key's
// algorithm; the allow-list refuses other algorithms before the Keyfunc is
// even called. Like ValidMethods, it is a snapshot of the set's algorithms:
// build the options again after adding a key of a new algorithm.
//
// The caller adds what depends on the deployment, as a slice append:
// jwt.WithIssuer, jwt.WithAudience, jwt.WithLeeway.
func ParserOptions(set *keys.Set) []jwt.ParserOption {
	return []jwt.ParserOption{
		jwt.WithValidMethods(ValidMethods(set)),
		jwt.WithExpirationRequired(),
	}
}

// short truncates an untrusted header value for an error message.
func short(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
