package verifier_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// benchSetup issues a realistic access token: two-part issuer and audience
// URLs, three scopes, a session, no application claims; and a verifier for
// it, configured by extra on top.
func benchSetup(b *testing.B, alg keys.Algorithm, withStore bool, extra ...authkit.Option) (*verifier.Verifier, string, *keys.Key) {
	b.Helper()
	k, err := keys.Generate(alg)
	if err != nil {
		b.Fatal(err)
	}
	set, _ := keys.NewSet(k)
	st := memory.New()
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(st), authkit.WithIssuer("https://auth.example.com"),
		authkit.WithAudience("https://api.example.com"))
	if err != nil {
		b.Fatal(err)
	}
	pair, err := iss.IssuePair(context.Background(), "user-1234567890", issuer.WithScopes("read", "write", "profile"))
	if err != nil {
		b.Fatal(err)
	}
	opts := []authkit.Option{authkit.WithKeys(set), authkit.WithIssuer("https://auth.example.com"), authkit.WithAudience("https://api.example.com")}
	if withStore {
		opts = append(opts, authkit.WithRevocationStore(st))
		// Some unrelated revocations so the lookups are not trivially empty.
		for i := range 1000 {
			t, _ := iss.IssueAccessToken(context.Background(), "other")
			_ = i
			iss.Revoke(context.Background(), t.AccessToken)
		}
	}
	v, err := verifier.New(append(opts, extra...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { v.Close() }) // a mirror's goroutine: TestMain checks none is left
	return v, pair.AccessToken, k
}

// noCache turns the verify cache off, so that every Verify is cold.
var noCache = authkit.WithVerifyCache(0)

func benchVerify(b *testing.B, alg keys.Algorithm, withStore bool, extra ...authkit.Option) {
	v, tok, _ := benchSetup(b, alg, withStore, extra...)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p, err := v.Verify(ctx, tok)
		if err != nil || p.Subject == "" {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is a cold verify: the verify cache is off, so every call
// checks the signature and decodes the token.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []keys.Algorithm{keys.HS256, keys.ES256, keys.EdDSA, keys.RS256} {
		b.Run(string(alg), func(b *testing.B) { benchVerify(b, alg, false, noCache) })
		b.Run(string(alg)+"/revocation=memory", func(b *testing.B) { benchVerify(b, alg, true, noCache) })
	}
}

// BenchmarkVerifyCached is a repeat verify through the verify cache (on by
// default): every call after the first is a hit, which still checks the
// key, the times, revocation and returns a fresh Principal.
func BenchmarkVerifyCached(b *testing.B) {
	for _, alg := range []keys.Algorithm{keys.HS256, keys.ES256, keys.EdDSA, keys.RS256} {
		b.Run(string(alg), func(b *testing.B) { benchVerify(b, alg, false) })
		b.Run(string(alg)+"/revocation=memory", func(b *testing.B) { benchVerify(b, alg, true) })
	}
	// The memory store behind the revocation mirror: the path a verifier
	// over PostgreSQL or Redis takes while the mirror is fresh.
	b.Run("HS256/revocation=mirror", func(b *testing.B) {
		benchVerify(b, keys.HS256, true, authkit.WithRevocationMirror(5*time.Second))
	})
}

// BenchmarkVerifyCacheMiss verifies 4096 distinct HS256 tokens in turn,
// with the cache off and with a cache of 64 entries, where every call is a
// miss that inserts (and evicts): the difference is what the cache adds to
// a cold verify. (Distinct tokens also miss the CPU caches, so both are
// slower than BenchmarkVerify/HS256, which verifies one token.)
func BenchmarkVerifyCacheMiss(b *testing.B) {
	k, err := keys.Generate(keys.HS256)
	if err != nil {
		b.Fatal(err)
	}
	set, _ := keys.NewSet(k)
	opts := []authkit.Option{authkit.WithKeys(set), authkit.WithIssuer("https://auth.example.com"), authkit.WithAudience("https://api.example.com")}
	iss, err := issuer.New(opts...)
	if err != nil {
		b.Fatal(err)
	}
	toks := make([]string, 4096)
	for i := range toks {
		t, err := iss.IssueAccessToken(context.Background(), "user-1234567890", issuer.WithScopes("read", "write", "profile"))
		if err != nil {
			b.Fatal(err)
		}
		toks[i] = t.AccessToken
	}
	for _, size := range []int{0, 64} {
		b.Run(fmt.Sprint("cache=", size), func(b *testing.B) {
			v, err := verifier.New(append(opts, authkit.WithVerifyCache(size))...)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := v.Verify(ctx, toks[i%len(toks)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkVerifyCachedParallel is BenchmarkVerifyCached/EdDSA from every
// core at once, without a revocation store (whose own locking would be
// measured too): one hot token, the worst case for contention since every
// goroutine reads the same bucket and entry, and 256 tokens spread over the
// cache. Compare with -cpu 1,2: the time per verify should halve.
func BenchmarkVerifyCachedParallel(b *testing.B) {
	b.Run("one-token", func(b *testing.B) {
		v, tok, _ := benchSetup(b, keys.EdDSA, false)
		ctx := context.Background()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("distinct", func(b *testing.B) {
		k, _ := keys.Generate(keys.EdDSA)
		set, _ := keys.NewSet(k)
		opts := []authkit.Option{authkit.WithKeys(set), authkit.WithIssuer("https://auth.example.com"), authkit.WithAudience("https://api.example.com")}
		iss, _ := issuer.New(opts...)
		v, err := verifier.New(opts...)
		if err != nil {
			b.Fatal(err)
		}
		toks := make([]string, 256)
		for i := range toks {
			t, err := iss.IssueAccessToken(context.Background(), "user-1234567890", issuer.WithScopes("read", "write", "profile"))
			if err != nil {
				b.Fatal(err)
			}
			toks[i] = t.AccessToken
			if _, err := v.Verify(context.Background(), t.AccessToken); err != nil {
				b.Fatal(err)
			}
		}
		var next atomic.Uint32
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(97))
			for pb.Next() {
				if _, err := v.Verify(ctx, toks[i%len(toks)]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}

func BenchmarkVerifyParallel(b *testing.B) {
	v, tok, _ := benchSetup(b, keys.HS256, true, noCache)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkVerifyAPIToken(b *testing.B) {
	k, _ := keys.Generate(keys.HS256)
	set, _ := keys.NewSet(k)
	st := memory.New()
	iss, _ := issuer.New(authkit.WithKeys(set), authkit.WithStore(st))
	v, _ := verifier.New(authkit.WithKeys(set), authkit.WithStore(st))
	secret, _, err := iss.CreateAPIToken(context.Background(), "user-1234567890", "ci", issuer.WithTokenScopes("read", "write"))
	if err != nil {
		b.Fatal(err)
	}
	for range 1000 {
		iss.CreateAPIToken(context.Background(), "other", "x")
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(ctx, secret); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloor is what checking the same HS256 token costs with no
// library at all: HMAC-SHA256 (a fresh hmac.New, as a hand-written verifier
// would), base64url decoding of the three segments, and encoding/json
// decoding of the header and claims into structs. No strictness, no
// revocation, no principal.
func BenchmarkFloor(b *testing.B) {
	_, tok, k := benchSetup(b, keys.HS256, false)
	jwk, _ := k.MarshalJWK()
	var raw struct {
		K string `json:"k"`
	}
	json.Unmarshal(jwk, &raw)
	secret, _ := base64.RawURLEncoding.DecodeString(raw.K)
	type header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}
	type claims struct {
		Iss      string   `json:"iss"`
		Sub      string   `json:"sub"`
		Aud      any      `json:"aud"`
		Exp      float64  `json:"exp"`
		Iat      float64  `json:"iat"`
		Nbf      float64  `json:"nbf"`
		Jti      string   `json:"jti"`
		ClientID string   `json:"client_id"`
		Scope    string   `json:"scope"`
		Sid      string   `json:"sid"`
		_        struct{} `json:"-"`
	}
	floor := func(tok string) error {
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			return errors.New("segments")
		}
		hb, err := base64.RawURLEncoding.DecodeString(parts[0])
		if err != nil {
			return err
		}
		var h header
		if err := json.Unmarshal(hb, &h); err != nil {
			return err
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil {
			return err
		}
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(tok[:len(parts[0])+1+len(parts[1])]))
		if !hmac.Equal(m.Sum(nil), sig) {
			return errors.New("signature")
		}
		cb, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			return err
		}
		var c claims
		return json.Unmarshal(cb, &c)
	}
	if err := floor(tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := floor(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGolangJWT parses and validates the same token with golang-jwt
// alone (signature, exp, iss, aud), for comparison with the floor.
func BenchmarkGolangJWT(b *testing.B) {
	_, tok, k := benchSetup(b, keys.HS256, false)
	secret := hmacSecret(nil, k)
	keyFunc := func(*jwt.Token) (any, error) { return secret, nil }
	parse := func() error {
		_, err := jwt.Parse(tok, keyFunc, jwt.WithValidMethods([]string{"HS256"}),
			jwt.WithIssuer("https://auth.example.com"), jwt.WithAudience("https://api.example.com"), jwt.WithExpirationRequired())
		return err
	}
	if err := parse(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := parse(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticate is Verify through an Authorization header (what
// the middleware calls): a repeat request with the verify cache on (cached)
// and off (cold), HS256 with the memory store's revocation check.
func BenchmarkAuthenticate(b *testing.B) {
	for _, c := range []struct {
		name  string
		extra []authkit.Option
	}{{"cached", nil}, {"cold", []authkit.Option{noCache}}} {
		b.Run(c.name, func(b *testing.B) {
			v, tok, _ := benchSetup(b, keys.HS256, true, c.extra...)
			r := httptest.NewRequest(http.MethodGet, "/api/me", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			b.ReportAllocs()
			for b.Loop() {
				if p, err := v.Authenticate(r); err != nil || p.Subject == "" {
					b.Fatal(err)
				}
			}
		})
	}
}
