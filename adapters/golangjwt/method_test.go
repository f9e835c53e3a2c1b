package golangjwt_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authkit-go/authkit/adapters/golangjwt"
	"github.com/authkit-go/authkit/keys"
)

func TestSigningMethodAlgAndHeader(t *testing.T) {
	k := generate(t, keys.ES384)
	m := golangjwt.SigningMethod(k)
	if m.Alg() != "ES384" || m.Key() != k {
		t.Fatalf("Alg = %q, Key = %v", m.Alg(), m.Key())
	}
	tok := golangjwt.NewAccessToken(k, validClaims("a", "1"))
	if tok.Header["alg"] != "ES384" || tok.Header["kid"] != k.ID() || tok.Header["typ"] != "at+jwt" {
		t.Fatalf("header = %v", tok.Header)
	}
	if golangjwt.SigningMethod(nil).Alg() != "" || (*golangjwt.Method)(nil).Alg() != "" || (*golangjwt.Method)(nil).Key() != nil {
		t.Fatal("a Method without a key has an algorithm")
	}
}

// Sign takes only the method's own key.
func TestSigningMethodSignRefusesOtherKeys(t *testing.T) {
	k := generate(t, keys.ES256)
	twin, err := keys.ParseJWK(mustJWK(t, k)) // same material, another *keys.Key
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	m := golangjwt.SigningMethod(k)
	for name, key := range map[string]any{
		"nil": nil, "another keys.Key": generate(t, keys.ES256), "a twin keys.Key": twin,
		"an ecdsa.PrivateKey": raw, "a keys.Key value": *k, "a byte secret": []byte("0123456789abcdef0123456789abcdef"),
	} {
		if sig, err := m.Sign("a.b", key); sig != nil || !errors.Is(err, jwt.ErrInvalidKeyType) {
			t.Errorf("Sign with %s = %x, %v; want ErrInvalidKeyType", name, sig, err)
		}
	}
	// golang-jwt passes the error on.
	if _, err := golangjwt.NewAccessToken(k, validClaims("a", "1")).SignedString(raw); !errors.Is(err, jwt.ErrInvalidKeyType) {
		t.Fatalf("SignedString(raw key): err = %v", err)
	}

	pub := k.Public()
	if _, err := golangjwt.SigningMethod(pub).Sign("a.b", pub); !errors.Is(err, keys.ErrNotSigningKey) {
		t.Fatalf("public-only key: err = %v, want ErrNotSigningKey", err)
	}
	if _, err := golangjwt.SigningMethod(nil).Sign("a.b", nil); !errors.Is(err, keys.ErrInvalidKey) {
		t.Fatalf("nil key: err = %v, want ErrInvalidKey", err)
	}
	if _, err := golangjwt.NewAccessToken(pub, validClaims("a", "1")).SignedString(pub); err == nil {
		t.Fatal("a public-only key signed a token")
	}
}

func TestSigningMethodVerify(t *testing.T) {
	for _, alg := range []keys.Algorithm{keys.HS256, keys.PS256, keys.EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			k := generate(t, alg)
			m := golangjwt.SigningMethod(k)
			sig, err := m.Sign("header.payload", k)
			if err != nil {
				t.Fatal(err)
			}
			verifyKey := k
			if !k.Symmetric() {
				verifyKey = k.Public()
			}
			if err := m.Verify("header.payload", sig, verifyKey); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			err = m.Verify("header.payload!", sig, verifyKey)
			if !errors.Is(err, jwt.ErrSignatureInvalid) || !errors.Is(err, keys.ErrInvalidSignature) {
				t.Fatalf("changed input: err = %v", err)
			}
			other := generate(t, keys.ES256)
			if err := m.Verify("header.payload", sig, other); !errors.Is(err, keys.ErrAlgorithmMismatch) {
				t.Fatalf("key of another alg: err = %v", err)
			}
			if err := m.Verify("header.payload", sig, k.PublicKey()); !errors.Is(err, jwt.ErrInvalidKeyType) {
				t.Fatalf("raw key: err = %v", err)
			}
			if err := m.Verify("header.payload", sig, (*keys.Key)(nil)); !errors.Is(err, jwt.ErrInvalidKeyType) {
				t.Fatalf("nil *keys.Key: err = %v", err)
			}
		})
	}
	if err := golangjwt.SigningMethod(nil).Verify("a.b", nil, nil); !errors.Is(err, keys.ErrInvalidKey) {
		t.Fatalf("nil method key: err = %v", err)
	}
}

func mustJWK(t *testing.T, k *keys.Key) []byte {
	t.Helper()
	b, err := k.MarshalJWK()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
