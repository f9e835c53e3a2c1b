package golangjwt_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/golangjwt"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// An existing golang-jwt service checks access tokens minted by authkit,
// with the keys of authkit's published JWKS.
func ExampleKeyfunc() {
	// The authorization server: authkit's issuer.
	k, err := keys.Generate(keys.ES256)
	if err != nil {
		panic(err)
	}
	set, err := keys.NewSet(k)
	if err != nil {
		panic(err)
	}
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(memory.New()),
		authkit.WithIssuer("https://auth.example.com"), authkit.WithAudience("https://api.example.com"))
	if err != nil {
		panic(err)
	}
	pair, err := iss.IssuePair(context.Background(), "alice", issuer.WithScopes("read", "write"))
	if err != nil {
		panic(err)
	}
	jwks, err := set.JWKS() // served at /.well-known/jwks.json
	if err != nil {
		panic(err)
	}

	// The resource server, written with golang-jwt.
	public, err := keys.ParseJWKS(jwks)
	if err != nil {
		panic(err)
	}
	opts := append(golangjwt.ParserOptions(public),
		jwt.WithIssuer("https://auth.example.com"), jwt.WithAudience("https://api.example.com"))
	var claims golangjwt.AccessClaims
	tok, err := jwt.ParseWithClaims(pair.AccessToken, &claims, golangjwt.Keyfunc(public), opts...)
	if err != nil {
		panic(err)
	}
	fmt.Println(tok.Valid, tok.Method.Alg(), claims.Subject, claims.Scopes())

	// The same key named with another algorithm is refused.
	forged := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	forged.Header["kid"] = k.ID()
	s, err := forged.SignedString(jwks) // the public JWKS as an HMAC secret
	if err != nil {
		panic(err)
	}
	_, err = jwt.Parse(s, golangjwt.Keyfunc(public))
	fmt.Println(errors.Is(err, keys.ErrAlgorithmMismatch))
	// Output:
	// true ES256 alice [read write]
	// true
}

// A team that signs with golang-jwt uses a key from authkit's key file, and
// authkit's verifier accepts the tokens.
func ExampleNewAccessToken() {
	k, err := keys.Generate(keys.EdDSA)
	if err != nil {
		panic(err)
	}

	now := time.Now()
	claims := golangjwt.AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    "https://auth.example.com",
			Subject:   "build-bot",
			Audience:  jwt.ClaimStrings{"https://api.example.com"},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)),
			ID:        "6f1c2a8e-2f0b-4a51-9d0e-5b7f4c3e2a19",
		},
		ClientID: "ci",
		Scope:    "deploy",
	}
	// NewAccessToken sets alg, kid and typ "at+jwt"; sign with the same key.
	signed, err := golangjwt.NewAccessToken(k, claims).SignedString(k)
	if err != nil {
		panic(err)
	}

	public, err := keys.NewVerificationSet(k.Public())
	if err != nil {
		panic(err)
	}
	v, err := verifier.New(authkit.WithKeys(public),
		authkit.WithIssuer("https://auth.example.com"), authkit.WithAudience("https://api.example.com"))
	if err != nil {
		panic(err)
	}
	p, err := v.Verify(context.Background(), signed)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Subject, p.ClientID, p.Scopes)
	// Output: build-bot ci [deploy]
}

// SigningMethod plugs an authkit key into plain golang-jwt code.
func ExampleSigningMethod() {
	k, err := keys.Generate(keys.HS256)
	if err != nil {
		panic(err)
	}
	tok := jwt.NewWithClaims(golangjwt.SigningMethod(k), jwt.RegisteredClaims{
		Subject:   "alice",
		ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute)),
	})
	tok.Header["kid"] = k.ID()
	signed, err := tok.SignedString(k) // the *keys.Key itself, not its secret
	if err != nil {
		panic(err)
	}

	set, err := keys.NewSet(k)
	if err != nil {
		panic(err)
	}
	parsed, err := jwt.Parse(signed, golangjwt.Keyfunc(set), golangjwt.ParserOptions(set)...)
	if err != nil {
		panic(err)
	}
	sub, _ := parsed.Claims.GetSubject()
	fmt.Println(parsed.Header["alg"], sub)
	// Output: HS256 alice
}

// A handler protected by authkit passes the caller on to code that expects
// golang-jwt claims.
func ExampleRegisteredClaims() {
	p := &authkit.Principal{
		Subject:   "alice",
		Scopes:    []string{"read"},
		Method:    authkit.MethodJWT,
		TokenID:   "0b9c7b6e-1d7a-4f4c-9f58-3a4c1f7e2d10",
		ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	rc := golangjwt.RegisteredClaims(p)
	fmt.Println(rc.Subject, rc.ID, rc.ExpiresAt.UTC().Format(time.RFC3339), rc.IssuedAt == nil)
	// Output: alice 0b9c7b6e-1d7a-4f4c-9f58-3a4c1f7e2d10 2030-01-02T03:04:05Z true
}
