package verifier_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// Tokens authkit issues parse with golang-jwt, and tokens golang-jwt signs
// verify with authkit: the two agree on the wire format for every
// asymmetric algorithm family.
func TestInteropWithGolangJWT(t *testing.T) {
	ctx := context.Background()
	for _, alg := range []keys.Algorithm{keys.RS256, keys.PS384, keys.ES256, keys.ES512, keys.EdDSA, keys.HS512} {
		t.Run(string(alg), func(t *testing.T) {
			k, err := keys.Generate(alg)
			if err != nil {
				t.Fatal(err)
			}
			set, _ := keys.NewSet(k)
			iss, _ := issuer.New(authkit.WithKeys(set), authkit.WithIssuer("https://auth.example"), authkit.WithAudience("api"))
			v, _ := verifier.New(authkit.WithKeys(set), authkit.WithIssuer("https://auth.example"), authkit.WithAudience("api"))

			// The verification key as golang-jwt wants it.
			var vkey any
			switch pub := k.PublicKey().(type) {
			case *rsa.PublicKey, *ecdsa.PublicKey:
				vkey = pub
			case nil: // HMAC: golang-jwt needs the secret
				vkey = hmacSecret(t, k)
			default:
				vkey = pub
			}

			// authkit → golang-jwt
			pair, err := iss.IssueAccessToken(ctx, "alice", issuer.WithScopes("read"))
			if err != nil {
				t.Fatal(err)
			}
			var rc jwt.RegisteredClaims
			tok, err := jwt.ParseWithClaims(pair.AccessToken, &rc, func(*jwt.Token) (any, error) { return vkey, nil },
				jwt.WithValidMethods([]string{string(alg)}), jwt.WithIssuer("https://auth.example"), jwt.WithAudience("api"))
			if err != nil || !tok.Valid || rc.Subject != "alice" || tok.Header["typ"] != "at+jwt" || tok.Header["kid"] != k.ID() {
				t.Fatalf("golang-jwt does not accept an authkit token: %v", err)
			}

			// golang-jwt → authkit
			now := time.Now()
			gt := jwt.NewWithClaims(jwt.GetSigningMethod(string(alg)), jwt.MapClaims{
				"iss": "https://auth.example", "sub": "bob", "aud": "api", "exp": now.Add(time.Minute).Unix(),
				"iat": now.Unix(), "jti": "j-1", "scope": "a b", "client_id": "web",
			})
			gt.Header["kid"] = k.ID()
			gt.Header["typ"] = "at+jwt"
			var skey any = hmacSecret(t, k)
			if !alg.Symmetric() {
				skey = privateKey(t, k)
			}
			s, err := gt.SignedString(skey)
			if err != nil {
				t.Fatal(err)
			}
			p, err := v.Verify(ctx, s)
			if err != nil || p.Subject != "bob" || len(p.Scopes) != 2 {
				t.Fatalf("authkit does not accept a golang-jwt token: %v", err)
			}
			// golang-jwt's default "typ":"JWT" is not an access token.
			gt.Header["typ"] = "JWT"
			s, _ = gt.SignedString(skey)
			if _, err := v.Verify(ctx, s); !errors.Is(err, authkit.ErrInvalidToken) {
				t.Fatalf("typ JWT accepted: %v", err)
			}
		})
	}
}
