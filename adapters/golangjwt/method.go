package golangjwt

import (
	"fmt"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authkit-go/authkit/keys"
)

// Method is a jwt.SigningMethod bound to one [keys.Key]: its Alg is the
// key's algorithm, and it signs with the key through [keys.Key.Sign], so
// that golang-jwt code can mint tokens with a key from an authkit key set
// or JWKS file. Make one with [SigningMethod].
//
// A Method is immutable and safe for concurrent use. It is not registered
// in golang-jwt's global signing-method registry (see the package
// documentation): pass it to jwt.New, jwt.NewWithClaims or
// [NewAccessToken].
type Method struct {
	key *keys.Key
}

var _ jwt.SigningMethod = (*Method)(nil)

// SigningMethod returns the signing method of k, for
//
//	tok := jwt.NewWithClaims(golangjwt.SigningMethod(k), claims)
//	tok.Header["kid"] = k.ID()
//	signed, err := tok.SignedString(k)
//
// SignedString must be given k itself (see [Method.Sign]). [NewAccessToken]
// does the first two lines and also sets the typ authkit's verifier
// requires. A nil or public-only k gives a Method whose Sign fails.
func SigningMethod(k *keys.Key) *Method {
	return &Method{key: k}
}

// Alg returns the algorithm name of the method's key, such as "ES256" or
// "EdDSA": the value golang-jwt writes as the header's "alg". It is empty
// for a Method made from a nil key.
func (m *Method) Alg() string {
	if m == nil {
		return ""
	}
	return string(m.key.Algorithm())
}

// Key returns the key the method signs with.
func (m *Method) Key() *keys.Key {
	if m == nil {
		return nil
	}
	return m.key
}

// Sign returns the JWS signature of signingString made with the method's
// key. key is what jwt.Token.SignedString was given and must be that very
// *keys.Key (the one passed to [SigningMethod]); anything else, such as an
// *rsa.PrivateKey, another keys.Key or nil, is refused with an error
// matching jwt.ErrInvalidKeyType, so that a token is never signed with a
// key other than the one its alg and kid describe. A key that cannot sign
// fails with [keys.ErrNotSigningKey].
func (m *Method) Sign(signingString string, key any) ([]byte, error) {
	if m == nil || m.key == nil {
		return nil, fmt.Errorf("golangjwt: %w: signing method without a key", keys.ErrInvalidKey)
	}
	k, ok := key.(*keys.Key)
	if !ok || k != m.key {
		return nil, fmt.Errorf("golangjwt: %w: sign with the *keys.Key the method was made from (kid %q), got %T",
			jwt.ErrInvalidKeyType, short(m.key.ID()), key)
	}
	sig, err := k.Sign([]byte(signingString))
	if err != nil {
		return nil, fmt.Errorf("golangjwt: %w", err)
	}
	return sig, nil
}

// Verify checks sig, a JWS signature of signingString, with key, which
// must be a *keys.Key bound to the method's algorithm (the method's own key
// or another, such as its public part); anything else is refused with an
// error matching jwt.ErrInvalidKeyType, and a key of another algorithm with
// one matching [keys.ErrAlgorithmMismatch]. The check is [keys.Key.Verify]'s
// strict one. A signature that does not verify yields an error matching
// both [keys.ErrInvalidSignature] and jwt.ErrSignatureInvalid.
//
// jwt.Parse does not call this method: it uses the method golang-jwt has
// registered for the token's alg, which [Keyfunc] feeds.
func (m *Method) Verify(signingString string, sig []byte, key any) error {
	if m == nil || m.key == nil {
		return fmt.Errorf("golangjwt: %w: signing method without a key", keys.ErrInvalidKey)
	}
	k, ok := key.(*keys.Key)
	if !ok || k == nil {
		return fmt.Errorf("golangjwt: %w: verify with a *keys.Key, got %T", jwt.ErrInvalidKeyType, key)
	}
	if k.Algorithm() != m.key.Algorithm() {
		return fmt.Errorf("golangjwt: %w: %s method, key %q is bound to %s", keys.ErrAlgorithmMismatch, m.key.Algorithm(), short(k.ID()), k.Algorithm())
	}
	if err := k.Verify([]byte(signingString), sig); err != nil {
		return fmt.Errorf("golangjwt: %w: %w", jwt.ErrSignatureInvalid, err)
	}
	return nil
}

// NewAccessToken returns a golang-jwt token for claims that signs with k:
// its method is [SigningMethod](k), and its header carries k's kid and the
// RFC 9068 §2.1 typ "at+jwt", both of which authkit's verifier requires.
// Sign it with tok.SignedString(k). The claims must still include what the
// verifier checks: iss, sub, aud, exp, iat and jti (see [AccessClaims]).
func NewAccessToken(k *keys.Key, claims jwt.Claims) *jwt.Token {
	tok := jwt.NewWithClaims(SigningMethod(k), claims)
	tok.Header["kid"] = k.ID()
	tok.Header["typ"] = "at+jwt"
	return tok
}
