package golangjwt_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authkit-go/authkit/adapters/golangjwt"
	"github.com/authkit-go/authkit/keys"
)

const (
	testIssuer   = "https://auth.example.com"
	testAudience = "https://api.example.com"
)

// interopAlgs are the algorithms the interop tests run for: one of each
// family.
var interopAlgs = []keys.Algorithm{keys.HS256, keys.RS256, keys.PS256, keys.ES256, keys.EdDSA}

func generate(t *testing.T, alg keys.Algorithm) *keys.Key {
	t.Helper()
	k, err := keys.Generate(alg)
	if err != nil {
		t.Fatalf("Generate(%s): %v", alg, err)
	}
	return k
}

func newSet(t *testing.T, active *keys.Key, others ...*keys.Key) *keys.Set {
	t.Helper()
	set, err := keys.NewSet(active, others...)
	if err != nil {
		t.Fatalf("NewSet: %v", err)
	}
	return set
}

// verificationSet is what a resource server holds for set: the same set
// for HMAC keys (a shared secret), else the keys read back from set's
// public JWKS document, as a verifier elsewhere would fetch them.
func verificationSet(t *testing.T, set *keys.Set) *keys.Set {
	t.Helper()
	if set.Active().Symmetric() {
		return set
	}
	doc, err := set.JWKS()
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	vset, err := keys.ParseJWKS(doc)
	if err != nil {
		t.Fatalf("ParseJWKS: %v", err)
	}
	if vset.Active() != nil {
		t.Fatal("the published JWKS holds a signing key")
	}
	return vset
}

// validClaims are claims authkit's verifier accepts for testIssuer and
// testAudience.
func validClaims(sub, jti string) golangjwt.AccessClaims {
	now := time.Now()
	return golangjwt.AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    testIssuer,
			Subject:   sub,
			Audience:  jwt.ClaimStrings{testAudience},
			ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        jti,
		},
		ClientID: "svc",
		Scope:    "read write",
	}
}

// signWith signs claims with k through the bridge's SigningMethod.
func signWith(t *testing.T, k *keys.Key, claims jwt.Claims) string {
	t.Helper()
	s, err := golangjwt.NewAccessToken(k, claims).SignedString(k)
	if err != nil {
		t.Fatalf("SignedString with %s: %v", k.Algorithm(), err)
	}
	return s
}

// parse parses tok with the bridge's Keyfunc over set and its parser
// options, plus the issuer and audience.
func parse(tok string, set *keys.Set) (*jwt.Token, *golangjwt.AccessClaims, error) {
	var c golangjwt.AccessClaims
	opts := append(golangjwt.ParserOptions(set), jwt.WithIssuer(testIssuer), jwt.WithAudience(testAudience))
	parsed, err := jwt.ParseWithClaims(tok, &c, golangjwt.Keyfunc(set), opts...)
	return parsed, &c, err
}
