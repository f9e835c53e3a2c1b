package golangjwt_test

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authkit-go/authkit/adapters/golangjwt"
	"github.com/authkit-go/authkit/keys"
)

// BenchmarkParse is jwt.ParseWithClaims of one access token with the
// bridge's Keyfunc and ParserOptions (keyfunc=bridge), and with a keyfunc
// that returns a key prepared in advance (keyfunc=static): the difference
// is what the bridge's lookups and checks cost on top of golang-jwt.
func BenchmarkParse(b *testing.B) {
	for _, alg := range []keys.Algorithm{keys.HS256, keys.ES256} {
		k, err := keys.Generate(alg)
		if err != nil {
			b.Fatal(err)
		}
		set, err := keys.NewSet(k)
		if err != nil {
			b.Fatal(err)
		}
		tok, err := golangjwt.NewAccessToken(k, validClaims("user-1234567890", "jti")).SignedString(k)
		if err != nil {
			b.Fatal(err)
		}
		bridge := golangjwt.Keyfunc(set)
		prepared, err := bridge(&jwt.Token{Header: map[string]any{"alg": string(alg), "kid": k.ID()}, Method: jwt.GetSigningMethod(string(alg))})
		if err != nil {
			b.Fatal(err)
		}
		static := func(*jwt.Token) (any, error) { return prepared, nil }
		opts := append(golangjwt.ParserOptions(set), jwt.WithIssuer(testIssuer), jwt.WithAudience(testAudience))
		for _, c := range []struct {
			name string
			kf   jwt.Keyfunc
		}{{"bridge", bridge}, {"static", static}} {
			b.Run(string(alg)+"/keyfunc="+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := jwt.ParseWithClaims(tok, &golangjwt.AccessClaims{}, c.kf, opts...); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
