package golangjwt_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/golangjwt"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// authkit's issuer mints; golang-jwt parses with the bridge's Keyfunc, and
// reads the same claims authkit's own verifier does.
func TestInteropAuthkitIssuerToGolangJWT(t *testing.T) {
	ctx := context.Background()
	for _, alg := range interopAlgs {
		t.Run(string(alg), func(t *testing.T) {
			k := generate(t, alg)
			set := newSet(t, k)
			iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(memory.New()),
				authkit.WithIssuer(testIssuer), authkit.WithAudience(testAudience))
			if err != nil {
				t.Fatal(err)
			}
			pair, err := iss.IssuePair(ctx, "alice", issuer.WithScopes("read", "write"), issuer.WithClientID("web"))
			if err != nil {
				t.Fatal(err)
			}
			vset := verificationSet(t, set)

			tok, c, err := parse(pair.AccessToken, vset)
			if err != nil {
				t.Fatalf("golang-jwt refused an authkit %s token: %v", alg, err)
			}
			if !tok.Valid || tok.Method.Alg() != string(alg) || tok.Header["kid"] != k.ID() || tok.Header["typ"] != "at+jwt" {
				t.Fatalf("token: valid=%v alg=%s header=%v", tok.Valid, tok.Method.Alg(), tok.Header)
			}
			if c.Subject != "alice" || c.ClientID != "web" || c.SessionID == "" || c.ID == "" ||
				!slices.Equal(c.Scopes(), []string{"read", "write"}) {
				t.Fatalf("claims read by golang-jwt: %+v", c)
			}

			// authkit's verifier reads the same token; converting its
			// principal gives the claims golang-jwt read.
			v, err := verifier.New(authkit.WithKeys(vset), authkit.WithIssuer(testIssuer), authkit.WithAudience(testAudience))
			if err != nil {
				t.Fatal(err)
			}
			p, err := v.Verify(ctx, pair.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			got := golangjwt.AccessTokenClaims(p)
			if got.Subject != c.Subject || got.ID != c.ID || got.ClientID != c.ClientID ||
				got.Scope != c.Scope || got.SessionID != c.SessionID ||
				!got.ExpiresAt.Equal(c.ExpiresAt.Time) || !got.IssuedAt.Equal(c.IssuedAt.Time) {
				t.Fatalf("AccessTokenClaims(verifier principal) = %+v, golang-jwt read %+v", got, *c)
			}

			// A changed signature is refused by golang-jwt's own check.
			tampered := flipSignature(pair.AccessToken)
			if _, _, err := parse(tampered, vset); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
				t.Fatalf("tampered token: err = %v, want ErrTokenSignatureInvalid", err)
			}
		})
	}
}

// golang-jwt signs with the bridge's SigningMethod; authkit's verifier
// accepts the token, and golang-jwt reads it back.
func TestInteropGolangJWTToAuthkitVerifier(t *testing.T) {
	ctx := context.Background()
	for _, alg := range interopAlgs {
		t.Run(string(alg), func(t *testing.T) {
			k := generate(t, alg)
			set := newSet(t, k)
			vset := verificationSet(t, set)
			v, err := verifier.New(authkit.WithKeys(vset), authkit.WithIssuer(testIssuer), authkit.WithAudience(testAudience))
			if err != nil {
				t.Fatal(err)
			}

			signed := signWith(t, k, validClaims("bob", "jti-"+string(alg)))
			p, err := v.Verify(ctx, signed)
			if err != nil {
				t.Fatalf("authkit refused a golang-jwt %s token: %v", alg, err)
			}
			if p.Subject != "bob" || p.TokenID != "jti-"+string(alg) || p.ClientID != "svc" ||
				!slices.Equal(p.Scopes, []string{"read", "write"}) || p.Method != authkit.MethodJWT {
				t.Fatalf("principal: %+v", p)
			}
			if _, c, err := parse(signed, vset); err != nil || c.Subject != "bob" {
				t.Fatalf("golang-jwt refused its own token: %v", err)
			}

			// The long way, as the SigningMethod doc shows it.
			tok := jwt.NewWithClaims(golangjwt.SigningMethod(k), validClaims("carol", "jti-2"))
			tok.Header["kid"] = k.ID()
			tok.Header["typ"] = "at+jwt"
			long, err := tok.SignedString(k)
			if err != nil {
				t.Fatal(err)
			}
			if p, err := v.Verify(ctx, long); err != nil || p.Subject != "carol" {
				t.Fatalf("NewWithClaims+SigningMethod: principal %+v, err %v", p, err)
			}

			// Without typ at+jwt (golang-jwt's default is "JWT") authkit
			// refuses: NewAccessToken's header matters.
			plain := jwt.NewWithClaims(golangjwt.SigningMethod(k), validClaims("dave", "jti-3"))
			plain.Header["kid"] = k.ID()
			s, err := plain.SignedString(k)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(ctx, s); !errors.Is(err, authkit.ErrInvalidToken) {
				t.Fatalf("typ JWT: err = %v, want ErrInvalidToken", err)
			}

			// A changed signature is refused by authkit.
			if _, err := v.Verify(ctx, flipSignature(signed)); !errors.Is(err, authkit.ErrInvalidToken) {
				t.Fatalf("tampered: err = %v, want ErrInvalidToken", err)
			}
		})
	}
}

// Tokens signed with the bridge verify with golang-jwt's built-in methods
// fed by the Keyfunc, for every algorithm of the keys package (not only
// one per family).
func TestRoundTripEveryAlgorithm(t *testing.T) {
	rsaBase := generate(t, keys.RS256) // one modulus for every RS and PS: generating keys is slow under -race
	for _, alg := range keys.Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			var k *keys.Key
			switch alg {
			case keys.RS256, keys.RS384, keys.RS512, keys.PS256, keys.PS384, keys.PS512:
				k = rebind(t, rsaBase, alg)
			default:
				k = generate(t, alg)
			}
			set := newSet(t, k)
			signed := signWith(t, k, validClaims("erin", "jti"))
			if _, c, err := parse(signed, verificationSet(t, set)); err != nil || c.Subject != "erin" {
				t.Fatalf("parse: %v", err)
			}
		})
	}
}

// rebind returns the RSA key of base bound to alg.
func rebind(t *testing.T, base *keys.Key, alg keys.Algorithm) *keys.Key {
	t.Helper()
	pemDoc, err := base.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.ParsePEM(pemDoc, alg, "")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// flipSignature changes one bit of the first signature byte of a compact
// JWS.
func flipSignature(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 1
	b := []byte(tok)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	pos := strings.IndexByte(alphabet, b[i])
	b[i] = alphabet[pos^1]
	return string(b)
}

// What the README says the bridge does not change: golang-jwt's JSON
// decoding. A token whose claims hold "sub" twice verifies through
// golang-jwt and the bridge (encoding/json keeps the last member), while
// authkit's verifier refuses it.
func TestDuplicateMembersOnlyCoreRefuses(t *testing.T) {
	k := generate(t, keys.HS256)
	set := newSet(t, k)
	now := time.Now().Unix()
	header := `{"alg":"HS256","kid":` + strconv.Quote(k.ID()) + `,"typ":"at+jwt"}`
	payload := fmt.Sprintf(`{"iss":%q,"sub":"alice","aud":%q,"exp":%d,"iat":%d,"jti":"j1","sub":"admin"}`,
		testIssuer, testAudience, now+300, now)
	input := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, err := k.Sign([]byte(input))
	if err != nil {
		t.Fatal(err)
	}
	tok := input + "." + base64.RawURLEncoding.EncodeToString(sig)

	_, c, err := parse(tok, set)
	if err != nil || c.Subject != "admin" {
		t.Fatalf("golang-jwt: subject %q, err %v; want the last member, admin", c.Subject, err)
	}
	v, err := verifier.New(authkit.WithKeys(set), authkit.WithIssuer(testIssuer), authkit.WithAudience(testAudience))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, authkit.ErrInvalidToken) {
		t.Fatalf("authkit verifier: err = %v, want ErrInvalidToken", err)
	}
}
