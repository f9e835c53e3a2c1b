package golangjwt_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/golangjwt"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// wantRefused checks that err is golang-jwt's keyfunc failure wrapping want.
func wantRefused(t *testing.T, err, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("token accepted, want %v", want)
	}
	if !errors.Is(err, jwt.ErrTokenUnverifiable) || !errors.Is(err, want) {
		t.Fatalf("err = %v, want ErrTokenUnverifiable and %v", err, want)
	}
}

// parseNoAllowList parses with the Keyfunc alone, without ParserOptions'
// allow-list, so that what refuses the token is the Keyfunc.
func parseNoAllowList(tok string, set *keys.Set) error {
	_, err := jwt.ParseWithClaims(tok, &golangjwt.AccessClaims{}, golangjwt.Keyfunc(set))
	return err
}

// An HS256 token whose HMAC secret is the RSA key's public PEM, with the RSA
// key's kid, is refused (RFC 8725 §3.1), though it is a valid HMAC token
// for that secret.
func TestKeyfuncRefusesAlgorithmConfusion(t *testing.T) {
	k := generate(t, keys.RS256)
	set := verificationSet(t, newSet(t, k))
	pub, err := k.Public().MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := set.JWKS()
	for name, secret := range map[string][]byte{"PEM": pub, "JWKS": jwks} {
		t.Run(name, func(t *testing.T) {
			forged := jwt.NewWithClaims(jwt.SigningMethodHS256, validClaims("mallory", "x"))
			forged.Header["kid"] = k.ID()
			forged.Header["typ"] = "at+jwt"
			tok, err := forged.SignedString(secret)
			if err != nil {
				t.Fatal(err)
			}
			// The forgery is well made: a naive keyfunc handing out the
			// public key's bytes accepts it.
			naive := func(*jwt.Token) (any, error) { return secret, nil }
			if _, err := jwt.Parse(tok, naive); err != nil {
				t.Fatalf("the forged token does not even verify naively: %v", err)
			}

			wantRefused(t, parseNoAllowList(tok, set), keys.ErrAlgorithmMismatch)
			if _, _, err := parse(tok, set); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
				t.Fatalf("with ParserOptions: err = %v, want the allow-list's ErrTokenSignatureInvalid", err)
			}
			v, err := verifier.New(authkit.WithKeys(set), authkit.WithIssuer(testIssuer), authkit.WithAudience(testAudience))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(context.Background(), tok); !errors.Is(err, authkit.ErrInvalidToken) {
				t.Fatalf("authkit verifier: err = %v", err)
			}
		})
	}
}

// An HS256 token against an ES256 key of the same kid, signed with a real
// HMAC key that happens to share the kid, is refused too: the kid names a
// key, and the key names its algorithm.
func TestKeyfuncRefusesAlgOtherThanKeys(t *testing.T) {
	es := generate(t, keys.ES256)
	secret := bytes.Repeat([]byte{7}, 32)
	hs, err := keys.NewHMAC(keys.HS256, secret, es.ID())
	if err != nil {
		t.Fatal(err)
	}
	set := newSet(t, es)
	tok := signWith(t, hs, validClaims("mallory", "x"))
	wantRefused(t, parseNoAllowList(tok, set), keys.ErrAlgorithmMismatch)
}

func TestKeyfuncRefusesNone(t *testing.T) {
	k := generate(t, keys.HS256)
	set := newSet(t, k)
	for _, withKID := range []bool{true, false} {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, validClaims("mallory", "x"))
		if withKID {
			tok.Header["kid"] = k.ID()
		}
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		// golang-jwt accepts it from a keyfunc that allows none: the
		// refusal below is the bridge's.
		allow := func(*jwt.Token) (any, error) { return jwt.UnsafeAllowNoneSignatureType, nil }
		if _, err := jwt.Parse(s, allow); err != nil {
			t.Fatalf("the none token does not parse even when allowed: %v", err)
		}
		wantRefused(t, parseNoAllowList(s, set), keys.ErrUnsupportedAlgorithm)
		if _, _, err := parse(s, set); err == nil {
			t.Fatal("none accepted with ParserOptions")
		}
	}
}

func TestKeyfuncRefusesUnknownKID(t *testing.T) {
	k := generate(t, keys.ES256)
	stranger := generate(t, keys.ES256)
	set := verificationSet(t, newSet(t, k))
	wantRefused(t, parseNoAllowList(signWith(t, stranger, validClaims("mallory", "x")), set), keys.ErrUnknownKey)

	// A known kid on a token signed by another key fails the signature.
	forged := golangjwt.NewAccessToken(stranger, validClaims("mallory", "x"))
	forged.Header["kid"] = k.ID()
	s, err := forged.SignedString(stranger)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := parse(s, set); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Fatalf("err = %v, want ErrTokenSignatureInvalid", err)
	}
}

// One Keyfunc follows its set: a key removed from the set stops
// verifying at once, a key added verifies at once.
func TestKeyfuncFollowsRotation(t *testing.T) {
	old := generate(t, keys.EdDSA)
	next := generate(t, keys.EdDSA)
	set := newSet(t, old)
	kf := golangjwt.Keyfunc(set)
	parseWith := func(tok string) error {
		_, err := jwt.ParseWithClaims(tok, &golangjwt.AccessClaims{}, kf, golangjwt.ParserOptions(set)...)
		return err
	}
	tokNext := signWith(t, next, validClaims("a", "1"))
	wantRefused(t, parseWith(tokNext), keys.ErrUnknownKey)

	if err := set.Add(next); err != nil {
		t.Fatal(err)
	}
	if err := parseWith(tokNext); err != nil {
		t.Fatalf("after Add: %v", err)
	}
	if err := set.Activate(next.ID()); err != nil {
		t.Fatal(err)
	}
	tokOld := signWith(t, old, validClaims("a", "2"))
	if err := parseWith(tokOld); err != nil {
		t.Fatalf("old key before Remove: %v", err)
	}
	if err := set.Remove(old.ID()); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, parseWith(tokOld), keys.ErrUnknownKey)
	if err := parseWith(tokNext); err != nil {
		t.Fatalf("active key after Remove: %v", err)
	}
}

// A token without kid is accepted only when exactly one key of the set is
// bound to its alg.
func TestKeyfuncTokenWithoutKID(t *testing.T) {
	es1 := generate(t, keys.ES256)
	es2 := generate(t, keys.ES256)
	hs := generate(t, keys.HS256)
	noKID := func(k *keys.Key) string {
		t.Helper()
		tok := jwt.NewWithClaims(golangjwt.SigningMethod(k), validClaims("a", "1"))
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if err := parseNoAllowList(noKID(es1), newSet(t, es1)); err != nil {
		t.Fatalf("one ES256 key: %v", err)
	}
	if err := parseNoAllowList(noKID(es1), newSet(t, hs, es1)); err != nil {
		t.Fatalf("one ES256 key among others: %v", err)
	}
	wantRefused(t, parseNoAllowList(noKID(es1), newSet(t, es1, es2)), keys.ErrUnknownKey)
	wantRefused(t, parseNoAllowList(noKID(hs), newSet(t, es1)), keys.ErrUnknownKey)
	// The one key of the alg is used, not any other: a token by es2 fails
	// its signature against es1.
	if err := parseNoAllowList(noKID(es2), newSet(t, es1)); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Fatalf("err = %v, want ErrTokenSignatureInvalid", err)
	}
}

// laxMethod stands for a method registered by other code under a built-in
// name: it accepts every signature.
type laxMethod struct{ alg string }

func (m laxMethod) Verify(string, []byte, any) error { return nil }
func (m laxMethod) Sign(string, any) ([]byte, error) { return nil, nil }
func (m laxMethod) Alg() string                      { return m.alg }

// Headers the Keyfunc must refuse, given to it directly.
func TestKeyfuncRefusesBadHeaders(t *testing.T) {
	rs := generate(t, keys.RS256)
	set := newSet(t, rs)
	kf := golangjwt.Keyfunc(set)
	for _, c := range []struct {
		name   string
		header map[string]any
		method jwt.SigningMethod
		want   error
	}{
		{"header alg differs from method", map[string]any{"alg": "HS256", "kid": rs.ID()}, jwt.SigningMethodRS256, keys.ErrAlgorithmMismatch},
		{"method differs from header alg", map[string]any{"alg": "RS256", "kid": rs.ID()}, jwt.SigningMethodHS256, keys.ErrAlgorithmMismatch},
		{"method of the same family, other hash", map[string]any{"alg": "RS256", "kid": rs.ID()}, jwt.SigningMethodRS384, keys.ErrAlgorithmMismatch},
		{"foreign method", map[string]any{"alg": "RS256", "kid": rs.ID()}, laxMethod{"RS256"}, keys.ErrAlgorithmMismatch},
		// The built-in type, another instance: RSA with SHA-1 under "RS256"
		// (found by review: checking the type alone let it through).
		{"built-in type, other instance", map[string]any{"alg": "RS256", "kid": rs.ID()}, &jwt.SigningMethodRSA{Name: "RS256", Hash: crypto.SHA1}, keys.ErrAlgorithmMismatch},
		{"method of another family", map[string]any{"alg": "RS256", "kid": rs.ID()}, &jwt.SigningMethodECDSA{Name: "RS256"}, keys.ErrAlgorithmMismatch},
		{"no method", map[string]any{"alg": "RS256", "kid": rs.ID()}, nil, keys.ErrAlgorithmMismatch},
		{"alg missing", map[string]any{"kid": rs.ID()}, jwt.SigningMethodRS256, keys.ErrUnsupportedAlgorithm},
		{"alg not a string", map[string]any{"alg": 256, "kid": rs.ID()}, jwt.SigningMethodRS256, keys.ErrUnsupportedAlgorithm},
		{"alg none", map[string]any{"alg": "none", "kid": rs.ID()}, jwt.SigningMethodNone, keys.ErrUnsupportedAlgorithm},
		{"alg in other case", map[string]any{"alg": "rs256", "kid": rs.ID()}, laxMethod{"rs256"}, keys.ErrUnsupportedAlgorithm},
		{"unsupported alg", map[string]any{"alg": "ES256K", "kid": rs.ID()}, laxMethod{"ES256K"}, keys.ErrUnsupportedAlgorithm},
		{"kid not a string", map[string]any{"alg": "RS256", "kid": 1}, jwt.SigningMethodRS256, keys.ErrInvalidKey},
		{"kid null", map[string]any{"alg": "RS256", "kid": nil}, jwt.SigningMethodRS256, keys.ErrInvalidKey},
		{"crit", map[string]any{"alg": "RS256", "kid": rs.ID(), "crit": []any{"exp"}}, jwt.SigningMethodRS256, keys.ErrInvalidKey},
		{"unknown kid", map[string]any{"alg": "RS256", "kid": "nope"}, jwt.SigningMethodRS256, keys.ErrUnknownKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := kf(&jwt.Token{Header: c.header, Method: c.method})
			if got != nil || !errors.Is(err, c.want) {
				t.Fatalf("Keyfunc = %v, %v; want nil, %v", got, err, c.want)
			}
		})
	}
	if got, err := kf(&jwt.Token{Header: map[string]any{"alg": "RS256", "kid": rs.ID()}, Method: jwt.SigningMethodRS256}); err != nil || got == nil {
		t.Fatalf("the good header is refused: %v", err)
	}
	if _, err := golangjwt.Keyfunc(nil)(&jwt.Token{Header: map[string]any{"alg": "RS256", "kid": rs.ID()}, Method: jwt.SigningMethodRS256}); !errors.Is(err, keys.ErrInvalidKey) {
		t.Fatalf("nil set: err = %v", err)
	}
	if _, err := kf(nil); !errors.Is(err, keys.ErrInvalidKey) {
		t.Fatalf("nil token: err = %v", err)
	}

	// A correctly signed token with a crit header is refused end to end.
	tok := golangjwt.NewAccessToken(rs, validClaims("a", "1"))
	tok.Header["crit"] = []string{"exp"}
	s, err := tok.SignedString(rs)
	if err != nil {
		t.Fatal(err)
	}
	wantRefused(t, parseNoAllowList(s, set), keys.ErrInvalidKey)
}

// The Keyfunc returns the public key (never the private one) in the type
// golang-jwt's method takes, and a fresh copy each time.
func TestKeyfuncKeyTypes(t *testing.T) {
	for _, c := range []struct {
		alg    keys.Algorithm
		method jwt.SigningMethod
		check  func(any) bool
	}{
		{keys.RS256, jwt.SigningMethodRS256, func(v any) bool { _, ok := v.(*rsa.PublicKey); return ok }},
		{keys.PS256, jwt.SigningMethodPS256, func(v any) bool { _, ok := v.(*rsa.PublicKey); return ok }},
		{keys.ES384, jwt.SigningMethodES384, func(v any) bool { _, ok := v.(*ecdsa.PublicKey); return ok }},
		{keys.EdDSA, jwt.SigningMethodEdDSA, func(v any) bool { _, ok := v.(ed25519.PublicKey); return ok }},
		{keys.HS512, jwt.SigningMethodHS512, func(v any) bool { _, ok := v.([]byte); return ok }},
	} {
		t.Run(string(c.alg), func(t *testing.T) {
			k := generate(t, c.alg)
			kf := golangjwt.Keyfunc(newSet(t, k)) // a signing set: private keys inside
			tok := &jwt.Token{Header: map[string]any{"alg": string(c.alg), "kid": k.ID()}, Method: c.method}
			got, err := kf(tok)
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(got) {
				t.Fatalf("Keyfunc returned %T", got)
			}
			if k.Symmetric() {
				secret := got.([]byte)
				if want := jwkSecret(t, k); !bytes.Equal(secret, want) {
					t.Fatal("HMAC secret differs from the key's")
				}
				clear(secret)
				again, _ := kf(tok)
				if !bytes.Equal(again.([]byte), jwkSecret(t, k)) {
					t.Fatal("changing a returned secret changed the next one")
				}
				return
			}
			if !k.Public().PublicKey().(interface{ Equal(crypto.PublicKey) bool }).Equal(got) {
				t.Fatal("returned public key is not the key's")
			}
		})
	}
}

func jwkSecret(t *testing.T, k *keys.Key) []byte {
	t.Helper()
	doc, err := k.MarshalJWK()
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		K string `json:"k"`
	}
	if err := json.Unmarshal(doc, &j); err != nil {
		t.Fatal(err)
	}
	b, err := base64.RawURLEncoding.DecodeString(j.K)
	if err != nil || len(b) == 0 {
		t.Fatalf("secret: %v", err)
	}
	return b
}

func TestValidMethodsAndParserOptions(t *testing.T) {
	es1 := generate(t, keys.ES256)
	es2 := generate(t, keys.ES256)
	hs := generate(t, keys.HS384)
	set := newSet(t, hs, es1, es2)
	if got := golangjwt.ValidMethods(set); !slices.Equal(got, []string{"HS384", "ES256"}) {
		t.Fatalf("ValidMethods = %q", got)
	}
	empty, err := keys.NewVerificationSet()
	if err != nil {
		t.Fatal(err)
	}
	if got := golangjwt.ValidMethods(empty); got == nil || len(got) != 0 {
		t.Fatalf("ValidMethods(empty) = %#v, want a non-nil empty slice", got)
	}
	if got := golangjwt.ValidMethods(nil); got == nil || len(got) != 0 {
		t.Fatalf("ValidMethods(nil) = %#v, want a non-nil empty slice", got)
	}

	// The allow-list of an empty set refuses a token even when the
	// keyfunc would accept it.
	tok := signWith(t, es1, validClaims("a", "1"))
	anyKey := func(*jwt.Token) (any, error) { return es1.PublicKey(), nil }
	if _, err := jwt.Parse(tok, anyKey); err != nil {
		t.Fatal(err)
	}
	if _, err := jwt.Parse(tok, anyKey, golangjwt.ParserOptions(empty)...); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Fatalf("empty allow-list: err = %v", err)
	}

	// ParserOptions requires exp.
	c := validClaims("a", "1")
	c.ExpiresAt = nil
	noExp := signWith(t, es1, c)
	if _, err := jwt.Parse(noExp, golangjwt.Keyfunc(set)); err != nil {
		t.Fatalf("without ParserOptions: %v", err)
	}
	if _, err := jwt.Parse(noExp, golangjwt.Keyfunc(set), golangjwt.ParserOptions(set)...); !errors.Is(err, jwt.ErrTokenRequiredClaimMissing) {
		t.Fatalf("no exp: err = %v, want ErrTokenRequiredClaimMissing", err)
	}
}

// Alternating HMAC keys each get their own secret (the Keyfunc remembers
// the last one it decoded), and changing a returned secret changes nothing
// the Keyfunc keeps.
func TestKeyfuncAlternatingHMACKeys(t *testing.T) {
	a, b := generate(t, keys.HS256), generate(t, keys.HS256)
	kf := golangjwt.Keyfunc(newSet(t, a, b))
	for i, k := range []*keys.Key{a, a, a, b, b, a} {
		got, err := kf(&jwt.Token{Header: map[string]any{"alg": "HS256", "kid": k.ID()}, Method: jwt.SigningMethodHS256})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.([]byte), jwkSecret(t, k)) {
			t.Fatalf("call %d: the secret of the wrong key", i)
		}
		clear(got.([]byte))
	}
}
