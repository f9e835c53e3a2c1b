package verifier_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

func genKey(t testing.TB, alg keys.Algorithm) *keys.Key {
	t.Helper()
	k, err := keys.Generate(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pubSet(t testing.TB, ks ...*keys.Key) *keys.Set {
	t.Helper()
	var pubs []*keys.Key
	for _, k := range ks {
		pubs = append(pubs, k.Public())
	}
	s, err := keys.NewVerificationSet(pubs...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newVerifier(t testing.TB, opts ...authkit.Option) *verifier.Verifier {
	t.Helper()
	v, err := verifier.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// wantRefused asserts err matches want and its message contains msg.
func wantRefused(t *testing.T, p *authkit.Principal, err error, want error, msg string) {
	t.Helper()
	if p != nil || !errors.Is(err, want) || !strings.Contains(fmt.Sprint(err), msg) {
		t.Fatalf("Verify = %v, %v; want an error matching %v containing %q", p, err, want, msg)
	}
}

func TestHeaderMembersRefusedByEveryProfile(t *testing.T) {
	k := genKey(t, keys.ES256)
	clk := &clock{t: base}
	for _, prof := range []authkit.Profile{authkit.RFC9068Profile(), authkit.OIDCProfile(), authkit.SimpleJWTProfile("")} {
		v := newVerifier(t, authkit.WithKeys(pubSet(t, k)), authkit.WithIssuer("https://auth.example"), authkit.WithAudience("api"),
			authkit.WithClock(clk.Now), authkit.WithProfile(prof))
		claims := map[string]any{"iss": "https://auth.example", "sub": "alice", "user_id": 7, "aud": "api", "exp": base.Add(time.Minute).Unix(),
			"iat": base.Unix(), "jti": "j1", "client_id": "c", "token_type": "access"}
		hdr := func(extra map[string]any) map[string]any {
			h := map[string]any{"alg": "ES256", "kid": k.ID(), "typ": "at+jwt"}
			if prof.Name == "simplejwt" {
				h["typ"] = "JWT"
			}
			for n, x := range extra {
				h[n] = x
			}
			return h
		}
		// The control token verifies, so each refusal below is the member's.
		if _, err := v.Verify(context.Background(), forge(t, k, hdr(nil), claims)); err != nil {
			t.Fatalf("%s: control token refused: %v", prof.Name, err)
		}
		for name, x := range map[string]any{"jku": "https://evil.example/jwks", "x5u": "https://evil.example/c.pem",
			"jwk": map[string]any{"kty": "EC"}, "x5c": []string{"MIIB"}, "enc": "A128GCM"} {
			p, err := v.Verify(context.Background(), forge(t, k, hdr(map[string]any{name: x}), claims))
			wantRefused(t, p, err, authkit.ErrInvalidToken, "unsupported header member "+name)
			if strings.Contains(err.Error(), "malformed") {
				t.Errorf("%s: %v reads as malformed", name, err)
			}
		}
	}
}

func TestAlgorithmMismatchIsNotBadSignature(t *testing.T) {
	f := newFixture(t, keys.ES256)
	good := forge(t, f.key, f.header(), f.claims())
	if _, err := f.ver.Verify(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	h := f.header()
	h["alg"] = "ES384"
	p, err := f.ver.Verify(context.Background(), forge(t, genKey(t, keys.ES384), h, f.claims()))
	wantRefused(t, p, err, authkit.ErrInvalidToken, "algorithm does not match the key")
	h["alg"] = "none"
	p, err = f.ver.Verify(context.Background(), forge(t, f.key, h, f.claims()))
	wantRefused(t, p, err, authkit.ErrInvalidToken, "algorithm does not match the key")
	p, err = f.ver.Verify(context.Background(), forge(t, genKey(t, keys.ES256), f.header(), f.claims()))
	wantRefused(t, p, err, authkit.ErrInvalidToken, "signature does not verify")
	if strings.Contains(err.Error(), "algorithm") {
		t.Errorf("a bad signature reads as an algorithm mismatch: %v", err)
	}
	c := f.claims()
	delete(c, "client_id")
	p, err = f.ver.Verify(context.Background(), forge(t, f.key, f.header(), c))
	wantRefused(t, p, err, authkit.ErrInvalidToken, `"client_id" missing`)
}

// providerCase is an access token shaped like one provider's.
type providerCase struct {
	name    string
	header  map[string]any // alg and kid are added
	claims  map[string]any // exp and iat are added
	profile authkit.Profile
	scopes  []string
	client  string
	subject string
	noJTI   bool
}

func providerCases(iss string) []providerCase {
	oidc := authkit.OIDCProfile()
	return []providerCase{
		{"auth0", map[string]any{"typ": "at+jwt"}, map[string]any{"iss": iss, "sub": "auth0|123", "aud": []any{"api", iss + "userinfo"},
			"scope": "read:msg write:msg", "client_id": "AbC", "jti": "j", "azp": "AbC"}, oidc, []string{"read:msg", "write:msg"}, "AbC", "auth0|123", false},
		{"auth0-legacy", map[string]any{"typ": "JWT"}, map[string]any{"iss": iss, "sub": "auth0|123", "aud": "api", "scope": "read:msg",
			"azp": "AbC", "gty": "client-credentials"}, oidc, []string{"read:msg"}, "AbC", "auth0|123", true},
		{"keycloak", map[string]any{"typ": "JWT"}, map[string]any{"iss": iss, "sub": "f:1:alice", "aud": []any{"api", "account"},
			"scope": "openid profile email", "azp": "web", "jti": "onrtac:1", "typ": "Bearer", "sid": "s1", "realm_access": map[string]any{"roles": []any{"a"}}},
			oidc, []string{"openid", "profile", "email"}, "web", "f:1:alice", false},
		{"okta", map[string]any{}, map[string]any{"iss": iss, "sub": "alice@example.com", "aud": "api", "scp": []any{"openid", "email"},
			"cid": "0oa1", "jti": "AT.x", "uid": "00u1", "ver": 1}, oidc, []string{"openid", "email"}, "0oa1", "alice@example.com", false},
		{"entra-v2", map[string]any{"typ": "JWT", "x5t": "nOo3ZDrODXEK1jKWhXslHR_KXEg"}, map[string]any{"iss": iss, "sub": "AAAA", "aud": "api", "scp": "User.Read Files.Read",
			"azp": "11111111-2222", "ver": "2.0", "tid": "t", "oid": "o", "uti": "u"}, oidc, []string{"User.Read", "Files.Read"}, "11111111-2222", "AAAA", true},
		{"simplejwt", map[string]any{"typ": "JWT"}, map[string]any{"iss": iss, "aud": "api", "token_type": "access", "jti": "0123abcd",
			"user_id": 9007199254740993}, authkit.SimpleJWTProfile(""), nil, "", "9007199254740993", false},
		{"simplejwt-uuid", map[string]any{}, map[string]any{"iss": iss, "aud": "api", "token_type": "access", "jti": "0123abcd",
			"uid": "8c1f-uuid"}, authkit.SimpleJWTProfile("uid"), nil, "", "8c1f-uuid", false},
	}
}

func TestProviderShapedTokens(t *testing.T) {
	const iss = "https://idp.example/"
	for _, alg := range []keys.Algorithm{keys.RS256, keys.ES256} {
		k := genKey(t, alg)
		for _, tc := range providerCases(iss) {
			t.Run(string(alg)+"/"+tc.name, func(t *testing.T) {
				for _, cache := range []int{0, 16} {
					v := newVerifier(t, authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: iss, Keys: pubSet(t, k), Audience: []string{"api"},
						Profile: &tc.profile}), authkit.WithClock((&clock{t: base}).Now), authkit.WithVerifyCache(cache))
					h := map[string]any{"alg": string(alg), "kid": k.ID()}
					for n, x := range tc.header {
						h[n] = x
					}
					c := map[string]any{"exp": base.Add(time.Hour).Unix(), "iat": base.Unix()}
					for n, x := range tc.claims {
						c[n] = x
					}
					tok := forge(t, k, h, c)
					for range 2 { // the second is a cache hit when the cache is on
						p, err := v.Verify(context.Background(), tok)
						if err != nil {
							t.Fatalf("cache %d: %v", cache, err)
						}
						if p.Subject != tc.subject || p.ClientID != tc.client || fmt.Sprint(p.Scopes) != fmt.Sprint(tc.scopes) {
							t.Fatalf("cache %d: subject %q client %q scopes %q; want %q %q %q", cache, p.Subject, p.ClientID, p.Scopes, tc.subject, tc.client, tc.scopes)
						}
						if p.Issuer != iss {
							t.Fatalf("cache %d: Issuer %q, want %q", cache, p.Issuer, iss)
						}
						if tc.noJTI != (p.TokenID == "") {
							t.Errorf("TokenID %q", p.TokenID)
						}
						for _, n := range []string{"scp", "azp", "cid", "token_type", "user_id", "scope", "client_id", "sub"} {
							if _, ok := p.Claims[n]; ok {
								t.Errorf("Claims holds %q, which the profile reads", n)
							}
						}
					}
				}
			})
		}
	}
}

func TestProfileRefusals(t *testing.T) {
	const iss = "https://idp.example"
	k := genKey(t, keys.ES256)
	verify := func(t *testing.T, prof authkit.Profile, h, c map[string]any) (*authkit.Principal, error) {
		v := newVerifier(t, authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: iss, Keys: pubSet(t, k), Audience: []string{"api"}, Profile: &prof}),
			authkit.WithClock((&clock{t: base}).Now))
		hh := map[string]any{"alg": "ES256", "kid": k.ID()}
		for n, x := range h {
			hh[n] = x
		}
		cc := map[string]any{"iss": iss, "aud": "api", "sub": "s", "exp": base.Add(time.Hour).Unix(), "iat": base.Unix()}
		for n, x := range c {
			if x == nil {
				delete(cc, n)
			} else {
				cc[n] = x
			}
		}
		return v.Verify(context.Background(), forge(t, k, hh, cc))
	}
	oidc, sj := authkit.OIDCProfile(), authkit.SimpleJWTProfile("")
	sjClaims := func(extra map[string]any) map[string]any {
		c := map[string]any{"sub": nil, "user_id": 1, "jti": "j", "token_type": "access"}
		for n, x := range extra {
			c[n] = x
		}
		return c
	}
	if _, err := verify(t, sj, nil, sjClaims(nil)); err != nil {
		t.Fatalf("simplejwt control: %v", err)
	}
	if p, err := verify(t, oidc, nil, map[string]any{"scp": []any{"a"}}); err != nil || fmt.Sprint(p.Scopes) != "[a]" {
		t.Fatalf("oidc control: %v %v", p, err)
	}
	cases := []struct {
		name string
		prof authkit.Profile
		h, c map[string]any
		msg  string
	}{
		{"oidc scp number", oidc, nil, map[string]any{"scp": 3}, "malformed claims"},
		{"oidc scp object", oidc, nil, map[string]any{"scp": map[string]any{"a": true}}, "malformed claims"},
		{"oidc scp array of numbers", oidc, nil, map[string]any{"scp": []any{"a", 1}}, "malformed claims"},
		{"oidc scope array of arrays", oidc, nil, map[string]any{"scope": []any{[]any{"a"}}}, "malformed claims"},
		{"oidc azp number", oidc, nil, map[string]any{"azp": 1}, "malformed claims"},
		{"oidc typ id+jwt", oidc, map[string]any{"typ": "id+jwt"}, nil, "typ not accepted"},
		{"oidc iat missing", oidc, nil, map[string]any{"iat": nil}, `"iat" missing`},
		{"oidc sub missing", oidc, nil, map[string]any{"sub": nil}, "subject missing"},
		{"simplejwt refresh", sj, nil, sjClaims(map[string]any{"token_type": "refresh"}), "not an access token"},
		{"simplejwt no token_type", sj, nil, sjClaims(map[string]any{"token_type": nil}), "not an access token"},
		{"simplejwt token_type number", sj, nil, sjClaims(map[string]any{"token_type": 1}), "malformed claims"},
		{"simplejwt jti missing", sj, nil, sjClaims(map[string]any{"jti": nil}), `"jti" missing`},
		{"simplejwt user_id fraction", sj, nil, sjClaims(map[string]any{"user_id": 1.5}), "malformed claims"},
		{"simplejwt user_id missing", sj, nil, sjClaims(map[string]any{"user_id": nil}), "subject missing"},
		{"simplejwt typ at+jwt", sj, map[string]any{"typ": "at+jwt"}, sjClaims(nil), "typ not accepted"},
		{"rfc9068 scp is not scope", authkit.RFC9068Profile(), map[string]any{"typ": "at+jwt"}, map[string]any{"jti": "j", "client_id": "c", "scope": []any{"a"}}, "malformed claims"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := verify(t, tc.prof, tc.h, tc.c)
			wantRefused(t, p, err, authkit.ErrInvalidToken, tc.msg)
		})
	}
}

func TestProfileLeeway(t *testing.T) {
	const iss = "https://idp.example"
	k := genKey(t, keys.ES256)
	prof := authkit.OIDCProfile()
	prof.Leeway = 2 * time.Minute
	clk := &clock{t: base}
	v := newVerifier(t, authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: iss, Keys: pubSet(t, k), Audience: []string{"api"}, Profile: &prof}),
		authkit.WithClock(clk.Now))
	tok := forge(t, k, map[string]any{"alg": "ES256", "kid": k.ID()}, map[string]any{"iss": iss, "aud": "api", "sub": "s",
		"exp": base.Add(time.Minute).Unix(), "iat": base.Unix()})
	clk.Add(2 * time.Minute) // past exp, within the profile's leeway (the verifier's is 30s)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("within the profile's leeway: %v", err)
	}
	clk.Add(2 * time.Minute)
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, authkit.ErrTokenExpired) {
		t.Fatalf("past the profile's leeway: %v", err)
	}
}

// TestProfileMaxTokenLifetime: a trusted issuer's Profile.MaxTokenLifetime
// replaces the verifier's WithMaxTokenLifetime for that issuer's tokens,
// longer or shorter, while the other issuers keep the verifier's.
func TestProfileMaxTokenLifetime(t *testing.T) {
	const own, long, short = "https://auth.example", "https://long.example", "https://short.example"
	kOwn, kLong, kShort := genKey(t, keys.ES256), genKey(t, keys.ES256), genKey(t, keys.ES256)
	longProf, shortProf := authkit.OIDCProfile(), authkit.OIDCProfile()
	longProf.MaxTokenLifetime = 24 * time.Hour
	shortProf.MaxTokenLifetime = time.Minute
	ownProf := authkit.OIDCProfile()
	v := newVerifier(t, authkit.WithClock((&clock{t: base}).Now), authkit.WithMaxTokenLifetime(5*time.Minute),
		authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: own, Keys: pubSet(t, kOwn), Audience: []string{"api"}, Profile: &ownProf}),
		authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: long, Keys: pubSet(t, kLong), Audience: []string{"api"}, Profile: &longProf}),
		authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: short, Keys: pubSet(t, kShort), Audience: []string{"api"}, Profile: &shortProf}))
	tok := func(k *keys.Key, iss string, life time.Duration, iat bool) string {
		c := map[string]any{"iss": iss, "aud": "api", "sub": "s", "exp": base.Add(life).Unix()}
		if iat {
			c["iat"] = base.Unix()
		}
		return forge(t, k, map[string]any{"alg": "ES256", "kid": k.ID()}, c)
	}
	ctx := context.Background()
	for _, c := range []struct {
		name string
		k    *keys.Key
		iss  string
		life time.Duration
		iat  bool
		ok   bool
	}{
		{"the verifier's limit, within", kOwn, own, 5 * time.Minute, true, true},
		{"the verifier's limit, over", kOwn, own, 5*time.Minute + time.Second, true, false},
		{"a longer profile limit, past the verifier's", kLong, long, 24 * time.Hour, true, true},
		{"a longer profile limit, over", kLong, long, 24*time.Hour + time.Second, true, false},
		{"a longer profile limit, no iat", kLong, long, time.Minute, false, false},
		{"a shorter profile limit, within", kShort, short, time.Minute, true, true},
		{"a shorter profile limit, within the verifier's but over its own", kShort, short, 2 * time.Minute, true, false},
	} {
		p, err := v.Verify(ctx, tok(c.k, c.iss, c.life, c.iat))
		if c.ok {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		t.Run(c.name, func(t *testing.T) { wantRefused(t, p, err, authkit.ErrInvalidToken, "lifetime") })
	}
	for _, d := range []time.Duration{-time.Second, time.Millisecond, 31 * 24 * time.Hour} {
		bad := authkit.OIDCProfile()
		bad.MaxTokenLifetime = d
		if err := bad.Validate(); !errors.Is(err, authkit.ErrInvalidConfig) || !strings.Contains(err.Error(), "MaxTokenLifetime") {
			t.Errorf("Validate with MaxTokenLifetime %v: %v, want ErrInvalidConfig naming it", d, err)
		}
	}
}

func TestSeveralIssuers(t *testing.T) {
	ka, kb := genKey(t, keys.ES256), genKey(t, keys.ES256)
	const a, b = "https://a.example", "https://b.example/tenant"
	oidc := authkit.OIDCProfile()
	v := newVerifier(t, authkit.WithClock((&clock{t: base}).Now),
		authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: a, Keys: pubSet(t, ka), Audience: []string{"api-a"}}),
		authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: b, Keys: pubSet(t, kb), Audience: []string{"api-b"}, Profile: &oidc}))
	tok := func(k *keys.Key, iss, aud, typ string) string {
		return forge(t, k, map[string]any{"alg": "ES256", "kid": k.ID(), "typ": typ}, map[string]any{"iss": iss, "aud": aud, "sub": "s",
			"exp": base.Add(time.Hour).Unix(), "iat": base.Unix(), "jti": "j", "client_id": "c"})
	}
	ctx := context.Background()
	if p, err := v.Verify(ctx, tok(ka, a, "api-a", "at+jwt")); err != nil || p.Subject != "s" {
		t.Fatalf("issuer a: %v", err)
	}
	if _, err := v.Verify(ctx, tok(kb, b, "api-b", "JWT")); err != nil {
		t.Fatalf("issuer b: %v", err)
	}
	// Each issuer's profile: a is RFC 9068, so typ JWT is refused there.
	p, err := v.Verify(ctx, tok(ka, a, "api-a", "JWT"))
	wantRefused(t, p, err, authkit.ErrInvalidToken, "typ not accepted")
	// Key confusion: b's key never verifies a's token, even with a's kid.
	forged := forge(t, kb, map[string]any{"alg": "ES256", "kid": ka.ID(), "typ": "at+jwt"}, map[string]any{"iss": a, "aud": "api-a", "sub": "s",
		"exp": base.Add(time.Hour).Unix(), "iat": base.Unix(), "jti": "j", "client_id": "c"})
	p, err = v.Verify(ctx, forged)
	wantRefused(t, p, err, authkit.ErrInvalidToken, "signature does not verify")
	p, err = v.Verify(ctx, tok(kb, a, "api-a", "at+jwt")) // b's kid, a's iss: not one of a's keys
	wantRefused(t, p, err, authkit.ErrInvalidToken, "unknown key")
	// Audiences are per issuer.
	p, err = v.Verify(ctx, tok(ka, a, "api-b", "at+jwt"))
	wantRefused(t, p, err, authkit.ErrInvalidToken, "wrong audience")
	// Unlisted and missing iss.
	p, err = v.Verify(ctx, tok(ka, "https://c.example", "api-a", "at+jwt"))
	wantRefused(t, p, err, authkit.ErrInvalidToken, "issuer not trusted")
	p, err = v.Verify(ctx, tok(ka, a+"/", "api-a", "at+jwt"))
	wantRefused(t, p, err, authkit.ErrInvalidToken, "issuer not trusted")
	p, err = v.Verify(ctx, forge(t, ka, map[string]any{"alg": "ES256", "kid": ka.ID(), "typ": "at+jwt"}, map[string]any{"aud": "api-a", "sub": "s",
		"exp": base.Add(time.Hour).Unix(), "iat": base.Unix(), "jti": "j", "client_id": "c"}))
	wantRefused(t, p, err, authkit.ErrInvalidToken, "")
}

// jwksServer serves the public keys of ks and counts requests.
func countingJWKS(t *testing.T, ks ...*keys.Key) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	doc, err := pubSet(t, ks...).JWKS()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		// An hour's lifetime: no scheduled refresh while a test moves
		// its fake clock by minutes, so every fetch counted is one a
		// request asked for.
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestUnlistedIssuerRefusedBeforeAnyFetch(t *testing.T) {
	ka, kb := genKey(t, keys.ES256), genKey(t, keys.ES256)
	srvA, nA := countingJWKS(t, ka)
	srvB, nB := countingJWKS(t, kb)
	clk := &clock{t: base}
	v := newVerifier(t, authkit.WithClock(clk.Now), authkit.WithJWKSRefreshInterval(time.Second),
		authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://a.example", JWKSURL: srvA.URL, Audience: []string{"api"}}),
		authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://b.example", JWKSURL: srvB.URL, Audience: []string{"api"}}))
	good := forge(t, ka, map[string]any{"alg": "ES256", "kid": ka.ID(), "typ": "at+jwt"}, map[string]any{"iss": "https://a.example", "aud": "api", "sub": "s",
		"exp": base.Add(time.Hour).Unix(), "iat": base.Unix(), "jti": "j", "client_id": "c"})
	if _, err := v.Verify(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	goodB := forge(t, kb, map[string]any{"alg": "ES256", "kid": kb.ID(), "typ": "at+jwt"}, map[string]any{"iss": "https://b.example", "aud": "api", "sub": "s",
		"exp": base.Add(time.Hour).Unix(), "iat": base.Unix(), "jti": "j", "client_id": "c"})
	if _, err := v.Verify(context.Background(), goodB); err != nil { // both first fetches are done
		t.Fatal(err)
	}
	clk.Add(time.Minute) // past the refetch rate limit
	before := nA.Load() + nB.Load()
	for i := range 5 {
		evil := genKey(t, keys.ES256)
		tok := forge(t, evil, map[string]any{"alg": "ES256", "kid": fmt.Sprint("new-", i), "typ": "at+jwt"}, map[string]any{"iss": "https://evil.example", "aud": "api",
			"sub": "s", "exp": base.Add(time.Hour).Unix(), "iat": base.Unix(), "jti": "j", "client_id": "c"})
		p, err := v.Verify(context.Background(), tok)
		wantRefused(t, p, err, authkit.ErrInvalidToken, "issuer not trusted")
	}
	if after := nA.Load() + nB.Load(); after != before {
		t.Fatalf("tokens of an unlisted issuer caused %d fetches", after-before)
	}
	// A listed issuer with an unknown kid does refetch (so the counter works).
	tok := forge(t, genKey(t, keys.ES256), map[string]any{"alg": "ES256", "kid": "rotated", "typ": "at+jwt"}, map[string]any{"iss": "https://b.example", "aud": "api",
		"sub": "s", "exp": base.Add(time.Hour).Unix(), "iat": base.Unix(), "jti": "j", "client_id": "c"})
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, authkit.ErrInvalidToken) {
		t.Fatal(err)
	}
	if nA.Load()+nB.Load() == before {
		t.Fatal("an unknown kid of a listed issuer fetched nothing")
	}
}

func TestSingleRemoteIssuerWrongIssNeverFetches(t *testing.T) {
	k := genKey(t, keys.ES256)
	srv, n := countingJWKS(t, k)
	clk := &clock{t: base}
	v := newVerifier(t, authkit.WithClock(clk.Now), authkit.WithJWKSURL(srv.URL), authkit.WithJWKSRefreshInterval(time.Second),
		authkit.WithIssuer("https://a.example"), authkit.WithAudience("api"))
	good := forge(t, k, map[string]any{"alg": "ES256", "kid": k.ID(), "typ": "at+jwt"}, map[string]any{"iss": "https://a.example", "aud": "api", "sub": "s",
		"exp": base.Add(time.Hour).Unix(), "iat": base.Unix(), "jti": "j", "client_id": "c"})
	if _, err := v.Verify(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	before := n.Load()
	// Another issuer, and ones that extend the trusted one's identifier
	// (found by mutation testing: a check by prefix passed).
	for _, other := range []string{"https://evil.example", "https://a.example.evil", "https://a.example/"} {
		tok := forge(t, k, map[string]any{"alg": "ES256", "kid": "other", "typ": "at+jwt"}, map[string]any{"iss": other, "aud": "api", "sub": "s",
			"exp": base.Add(time.Hour).Unix(), "iat": base.Unix(), "jti": "j", "client_id": "c"})
		p, err := v.Verify(context.Background(), tok)
		wantRefused(t, p, err, authkit.ErrInvalidToken, "issuer not trusted")
		if n.Load() != before {
			t.Fatalf("a token of iss %q made the verifier fetch", other)
		}
	}
	// The same token with the right iss does make it fetch.
	tok := forge(t, k, map[string]any{"alg": "ES256", "kid": "other", "typ": "at+jwt"}, map[string]any{"iss": "https://a.example", "aud": "api", "sub": "s",
		"exp": base.Add(time.Hour).Unix(), "iat": base.Unix(), "jti": "j", "client_id": "c"})
	p, err := v.Verify(context.Background(), tok)
	wantRefused(t, p, err, authkit.ErrInvalidToken, "unknown key")
	if n.Load() == before {
		t.Fatal("an unknown kid of the trusted issuer fetched nothing")
	}
}

func TestKidlessTokens(t *testing.T) {
	const iss = "https://a.example"
	k1, k2, r := genKey(t, keys.ES256), genKey(t, keys.ES256), genKey(t, keys.RS256)
	claims := map[string]any{"iss": iss, "aud": "api", "sub": "s", "exp": base.Add(time.Hour).Unix(), "iat": base.Unix(), "jti": "j", "client_id": "c"}
	verify := func(set *keys.Set, k *keys.Key) (*authkit.Principal, error) {
		v := newVerifier(t, authkit.WithClock((&clock{t: base}).Now),
			authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: iss, Keys: set, Audience: []string{"api"}}))
		return v.Verify(context.Background(), forge(t, k, map[string]any{"alg": string(k.Algorithm()), "typ": "at+jwt"}, claims))
	}
	if _, err := verify(pubSet(t, k1), k1); err != nil {
		t.Fatalf("one key: %v", err)
	}
	if _, err := verify(pubSet(t, k1, r), k1); err != nil {
		t.Fatalf("one ES256 key beside an RS256 one: %v", err)
	}
	p, err := verify(pubSet(t, k1, k2), k1)
	wantRefused(t, p, err, authkit.ErrInvalidToken, "no kid")
	p, err = verify(pubSet(t, r), k1)
	wantRefused(t, p, err, authkit.ErrInvalidToken, "unknown key")
	// Remote: the same rule over the fetched document.
	srv, _ := countingJWKS(t, k1, k2)
	v := newVerifier(t, authkit.WithClock((&clock{t: base}).Now), authkit.WithJWKSURL(srv.URL), authkit.WithIssuer(iss), authkit.WithAudience("api"))
	p, err = v.Verify(context.Background(), forge(t, k1, map[string]any{"alg": "ES256", "typ": "at+jwt"}, claims))
	wantRefused(t, p, err, authkit.ErrInvalidToken, "no kid")
	srv1, _ := countingJWKS(t, k1)
	v = newVerifier(t, authkit.WithClock((&clock{t: base}).Now), authkit.WithJWKSURL(srv1.URL), authkit.WithIssuer(iss), authkit.WithAudience("api"))
	if _, err := v.Verify(context.Background(), forge(t, k1, map[string]any{"alg": "ES256", "typ": "at+jwt"}, claims)); err != nil {
		t.Fatalf("remote, one key: %v", err)
	}
}

func TestTrustedIssuerValidation(t *testing.T) {
	set := pubSet(t, genKey(t, keys.ES256))
	bad := authkit.Profile{Name: "bad"} // no types, no missing type
	cases := map[string][]authkit.Option{
		"http issuer":       {authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "http://a.example", Keys: set, Audience: []string{"api"}})},
		"not a URL":         {authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "authkit", Keys: set, Audience: []string{"api"}})},
		"no key source":     {authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://a.example", Audience: []string{"api"}})},
		"placeholder":       {authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://login.example/<tenant>/v2.0", Keys: set, Audience: []string{"api"}})},
		"placeholder jwks":  {authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://a.example", JWKSURL: "https://a.example/{tenant}/jwks", Audience: []string{"api"}})},
		"space in issuer":   {authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://a.example/my tenant", Keys: set, Audience: []string{"api"}})},
		"two key sources":   {authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://a.example", Keys: set, JWKSURL: "https://a.example/jwks", Audience: []string{"api"}})},
		"keys and discover": {authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://a.example", Keys: set, Discover: true, Audience: []string{"api"}})},
		"no audience":       {authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://a.example", Keys: set})},
		"http jwks":         {authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://a.example", JWKSURL: "http://a.example/jwks", Audience: []string{"api"}})},
		"bad profile":       {authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://a.example", Keys: set, Audience: []string{"api"}, Profile: &bad})},
		"duplicate": {authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://a.example", Keys: set, Audience: []string{"api"}}),
			authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://a.example", Keys: set, Audience: []string{"other"}})},
		"duplicate of the default": {authkit.WithKeys(set), authkit.WithIssuer("https://a.example"),
			authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://a.example", Keys: set, Audience: []string{"api"}})},
		"profile scope without shape": {authkit.WithProfile(authkit.Profile{Types: []string{"JWT"}, ScopeClaims: []string{"scp"}}), authkit.WithKeys(set)},
		"profile subject iss":         {authkit.WithProfile(authkit.Profile{Types: []string{"JWT"}, SubjectClaim: "iss"}), authkit.WithKeys(set)},
		"profile claim two roles":     {authkit.WithProfile(authkit.Profile{Types: []string{"JWT"}, ScopeClaims: []string{"x"}, ScopeShapes: authkit.ScopeString, ClientClaims: []string{"x"}}), authkit.WithKeys(set)},
		"profile token type alone":    {authkit.WithProfile(authkit.Profile{Types: []string{"JWT"}, TokenTypeClaim: "token_type"}), authkit.WithKeys(set)},
		"profile leeway":              {authkit.WithProfile(authkit.Profile{Types: []string{"JWT"}, Leeway: time.Hour}), authkit.WithKeys(set)},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			v, err := verifier.New(opts...)
			if err == nil {
				v.Close()
			}
			if !errors.Is(err, authkit.ErrInvalidConfig) {
				t.Fatalf("verifier.New = %v; want ErrInvalidConfig", err)
			}
		})
	}
	for _, p := range []authkit.Profile{authkit.RFC9068Profile(), authkit.OIDCProfile(), authkit.SimpleJWTProfile(""), authkit.SimpleJWTProfile("pk")} {
		if err := p.Validate(); err != nil {
			t.Errorf("built-in profile %s: %v", p.Name, err)
		}
	}
	// Built-ins are fresh values: changing one changes no other.
	p := authkit.OIDCProfile()
	p.Types[0] = "x"
	if authkit.OIDCProfile().Types[0] == "x" {
		t.Error("OIDCProfile shares its slices")
	}
	if _, err := verifier.New(authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "http://127.0.0.1:1", Keys: set, Audience: []string{"api"}})); err != nil {
		t.Errorf("loopback http issuer: %v", err)
	}
}

func TestDecodeClaimsPrecision(t *testing.T) {
	f := newFixture(t, keys.ES256)
	c := f.claims()
	const big = "9007199254740993" // 2^53+1: not a float64
	payload := []byte(`{"iss":"https://auth.example","sub":"alice","aud":"api","exp":` + fmt.Sprint(base.Add(time.Minute).Unix()) +
		`,"iat":` + fmt.Sprint(base.Unix()) + `,"jti":"j1","client_id":"c","scope":"a b","n":` + big + `,"u":18446744073709551615,` +
		`"num":` + big + `,"any":` + big + `,"org":{"name":"acme","id":` + big + `},"tags":["x","y"],"fl":1.5}`)
	_ = c
	tok := forge(t, f.key, f.header(), payload)
	type app struct {
		N    int64          `json:"n"`
		U    uint64         `json:"u"`
		Num  any            `json:"num"`
		Any  map[string]any `json:"org"`
		Tags []string       `json:"tags"`
		Fl   float64        `json:"fl"`
		Sub  string         `json:"sub"`   // registered: never decoded
		Sc   string         `json:"scope"` // read by the profile: never decoded
	}
	for i := range 2 { // cold, then from the verify cache
		p, err := f.ver.Verify(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		var a app
		if err := p.DecodeClaims(&a); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(a.N) != big || a.U != math.MaxUint64 || fmt.Sprint(a.Num) != big || fmt.Sprint(a.Any["id"]) != big ||
			a.Any["name"] != "acme" || fmt.Sprint(a.Tags) != "[x y]" || a.Fl != 1.5 || a.Sub != "" || a.Sc != "" {
			t.Fatalf("verify %d decoded %+v", i, a)
		}
		// The float64 of Claims cannot hold it: the reason DecodeClaims exists.
		if fmt.Sprintf("%.0f", p.Claims["n"]) == big {
			t.Log("Claims kept the precision too")
		}
		var wrong struct {
			N string `json:"n"`
		}
		if err := p.DecodeClaims(&wrong); !errors.Is(err, authkit.ErrClaimsDecode) {
			t.Errorf("a number into a string field: %v", err)
		}
	}
	// Duplicates, at any depth, and case variants refuse the token itself.
	for _, dup := range []string{`"n":1,"n":2`, `"org":{"a":1,"a":2}`, `"org":1,"ORG":2`, `"l":[{"a":1,"A":2}]`} {
		payload := []byte(`{"iss":"https://auth.example","sub":"alice","aud":"api","exp":` + fmt.Sprint(base.Add(time.Minute).Unix()) +
			`,"iat":` + fmt.Sprint(base.Unix()) + `,"jti":"j1","client_id":"c",` + dup + `}`)
		p, err := f.ver.Verify(context.Background(), forge(t, f.key, f.header(), payload))
		wantRefused(t, p, err, authkit.ErrInvalidToken, "malformed claims")
	}
	// A principal built by hand decodes its Claims.
	var out struct {
		Org string `json:"org"`
	}
	if err := (&authkit.Principal{Claims: map[string]any{"org": "acme"}}).DecodeClaims(&out); err != nil || out.Org != "acme" {
		t.Fatalf("hand-built: %+v %v", out, err)
	}
}

func TestTokensWithoutJTIStillRevokedBySessionAndCutoff(t *testing.T) {
	const iss = "https://idp.example"
	k := genKey(t, keys.ES256)
	st := memory.New()
	clk := &clock{t: base}
	oidc := authkit.OIDCProfile()
	for _, cache := range []int{0, 16} {
		v := newVerifier(t, authkit.WithClock(clk.Now), authkit.WithRevocationStore(st), authkit.WithVerifyCache(cache),
			authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: iss, Keys: pubSet(t, k), Audience: []string{"api"}, Profile: &oidc}))
		tok := func(sub, sid string) string {
			return forge(t, k, map[string]any{"alg": "ES256", "kid": k.ID()}, map[string]any{"iss": iss, "aud": "api", "sub": sub, "sid": sid,
				"exp": base.Add(time.Hour).Unix(), "iat": base.Unix()})
		}
		ctx := context.Background()
		a, b := tok(fmt.Sprint("alice", cache), "s-a"), tok(fmt.Sprint("bob", cache), "s-b")
		for _, x := range []string{a, b} {
			if p, err := v.Verify(ctx, x); err != nil || p.TokenID != "" {
				t.Fatalf("cache %d: %v %v", cache, p, err)
			}
		}
		if err := st.RevokeSessionTokens(ctx, fmt.Sprint("alice", cache), "s-a", base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := st.SetCutoff(ctx, fmt.Sprint("bob", cache), base, base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		for _, x := range []string{a, b} {
			if _, err := v.Verify(ctx, x); !errors.Is(err, authkit.ErrTokenRevoked) {
				t.Fatalf("cache %d: a jti-less token of a revoked session or subject: %v", cache, err)
			}
		}
	}
}

func TestCachedTokenOfTrustedIssuerChecksItsKeys(t *testing.T) {
	const iss = "https://idp.example"
	k, other := genKey(t, keys.ES256), genKey(t, keys.ES256)
	set := pubSet(t, k, other)
	oidc := authkit.OIDCProfile()
	v := newVerifier(t, authkit.WithClock((&clock{t: base}).Now),
		authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: iss, Keys: set, Audience: []string{"api"}, Profile: &oidc}))
	tok := forge(t, k, map[string]any{"alg": "ES256", "kid": k.ID()}, map[string]any{"iss": iss, "aud": "api", "sub": "s",
		"exp": base.Add(time.Hour).Unix(), "iat": base.Unix()})
	for range 2 {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if verifier.CacheLen(v) != 1 {
		t.Fatalf("cache holds %d tokens", verifier.CacheLen(v))
	}
	if err := set.Remove(k.ID()); err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), tok)
	wantRefused(t, p, err, authkit.ErrInvalidToken, "unknown key")
}

// djangoToken is an access token shaped as a default
// djangorestframework-simplejwt deployment writes it: HS256 with its
// SIGNING_KEY, no kid, typ JWT, no iss, no aud (ISSUER and AUDIENCE
// unset). extra changes claims (nil deletes one).
func djangoToken(t testing.TB, k *keys.Key, extra map[string]any) string {
	t.Helper()
	c := map[string]any{"token_type": "access", "exp": base.Add(5 * time.Minute).Unix(), "iat": base.Unix(),
		"jti": "8f2b6c1e4a9d4c0b9e1f2a3b4c5d6e7f", "user_id": 42}
	for n, x := range extra {
		if x == nil {
			delete(c, n)
		} else {
			c[n] = x
		}
	}
	return forge(t, k, map[string]any{"alg": "HS256", "typ": "JWT"}, c)
}

func hmacKey(t testing.TB) *keys.Key {
	t.Helper()
	k, err := keys.NewHMAC(keys.HS256, []byte("the SIGNING_KEY shared with Django, 32 bytes or more"), "")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func hmacSet(t testing.TB, k *keys.Key) *keys.Set {
	t.Helper()
	s, err := keys.NewSet(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// relaxedSimpleJWT is SimpleJWTProfile with both opt-ins and the word JWT.
func relaxedSimpleJWT() authkit.Profile {
	p := authkit.SimpleJWTProfile("")
	p.AllowMissingIssuer, p.AllowMissingAudience = true, true
	p.HeaderTypes = []string{"JWT"}
	return p
}

func TestDefaultProfilesRefuseMissingIssuerAndAudience(t *testing.T) {
	hk := hmacKey(t)
	ctx := context.Background()
	for _, prof := range []authkit.Profile{authkit.RFC9068Profile(), authkit.OIDCProfile(), authkit.SimpleJWTProfile("")} {
		typ := map[string]any{"rfc9068": "at+jwt", "oidc": "JWT", "simplejwt": "JWT"}[prof.Name]
		full := map[string]any{"iss": "https://shop.example", "aud": "api", "sub": "s", "user_id": 42, "token_type": "access",
			"exp": base.Add(time.Hour).Unix(), "iat": base.Unix(), "jti": "j", "client_id": "c"}
		tok := func(drop ...string) string {
			c := map[string]any{}
			for n, x := range full {
				c[n] = x
			}
			for _, n := range drop {
				delete(c, n)
			}
			return forge(t, hk, map[string]any{"alg": "HS256", "typ": typ}, c)
		}
		single := newVerifier(t, authkit.WithKeys(hmacSet(t, hk)), authkit.WithIssuer("https://shop.example"), authkit.WithAudience("api"),
			authkit.WithClock((&clock{t: base}).Now), authkit.WithProfile(prof))
		multi := newVerifier(t, authkit.WithClock((&clock{t: base}).Now),
			authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://shop.example", Keys: hmacSet(t, hk), Audience: []string{"api"}, Profile: &prof}),
			authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://other.example", Keys: pubSet(t, genKey(t, keys.ES256)), Audience: []string{"api"}}))
		for _, v := range []*verifier.Verifier{single, multi} {
			if _, err := v.Verify(ctx, tok()); err != nil {
				t.Fatalf("%s: control token refused: %v", prof.Name, err)
			}
			p, err := v.Verify(ctx, tok("aud"))
			wantRefused(t, p, err, authkit.ErrInvalidToken, "wrong audience")
			p, err = v.Verify(ctx, tok("iss"))
			wantRefused(t, p, err, authkit.ErrInvalidToken, "")
			p, err = v.Verify(ctx, tok("iss", "aud"))
			wantRefused(t, p, err, authkit.ErrInvalidToken, "")
		}
		p, err := single.Verify(ctx, tok("iss"))
		wantRefused(t, p, err, authkit.ErrInvalidToken, "wrong issuer")
		p, err = multi.Verify(ctx, tok("iss"))
		wantRefused(t, p, err, authkit.ErrInvalidToken, "malformed claims")
	}
}

func TestMissingIssuerAndAudienceOptIn(t *testing.T) {
	hk, own := hmacKey(t), genKey(t, keys.ES256)
	const django, ownIss = "https://shop.example", "https://auth.example"
	ctx := context.Background()
	prof := relaxedSimpleJWT()
	for _, cache := range []int{0, 16} {
		v := newVerifier(t, authkit.WithClock((&clock{t: base}).Now), authkit.WithVerifyCache(cache),
			authkit.WithKeys(pubSet(t, own)), authkit.WithIssuer(ownIss), authkit.WithAudience("api"),
			authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: django, Keys: hmacSet(t, hk), Audience: []string{"shop-api"}, Profile: &prof}))
		// A default simplejwt deployment's token.
		for range 2 {
			p, err := v.Verify(ctx, djangoToken(t, hk, nil))
			if err != nil || p.Subject != "42" || p.TokenID != "8f2b6c1e4a9d4c0b9e1f2a3b4c5d6e7f" || p.Issuer != django {
				t.Fatalf("cache %d: default simplejwt token: %v %v", cache, p, err)
			}
		}
		// Once ISSUER and AUDIENCE are set in Django, those tokens too.
		if p, err := v.Verify(ctx, djangoToken(t, hk, map[string]any{"iss": django, "aud": []any{"x", "shop-api"}})); err != nil || p.Issuer != django {
			t.Fatalf("cache %d: with iss and aud: %v %v", cache, p, err)
		}
		// A token that has the claim is checked as without the opt-in.
		cases := []struct {
			name  string
			extra map[string]any
			msg   string
		}{
			{"aud of another service", map[string]any{"aud": "billing"}, "wrong audience"},
			{"aud empty string", map[string]any{"aud": ""}, "wrong audience"},
			{"untrusted iss", map[string]any{"iss": "https://evil.example"}, "issuer not trusted"},
			{"empty iss is not missing", map[string]any{"iss": ""}, "malformed claims"},
			{"non-string iss is not missing", map[string]any{"iss": 1}, "malformed claims"},
			{"refresh token", map[string]any{"token_type": "refresh"}, "not an access token"},
			{"no jti", map[string]any{"jti": nil}, `"jti" missing`},
		}
		for _, tc := range cases {
			p, err := v.Verify(ctx, djangoToken(t, hk, tc.extra))
			wantRefused(t, p, err, authkit.ErrInvalidToken, tc.msg)
		}
		// The opt-in issuer's key never verifies a token naming another
		// issuer, even one with every claim that issuer wants.
		forged := forge(t, hk, map[string]any{"alg": "HS256", "typ": "at+jwt"}, map[string]any{"iss": ownIss, "aud": "api", "sub": "admin",
			"exp": base.Add(time.Hour).Unix(), "iat": base.Unix(), "jti": "j", "client_id": "c"})
		p, err := v.Verify(ctx, forged)
		wantRefused(t, p, err, authkit.ErrInvalidToken, "unknown key")
		forged = forge(t, hk, map[string]any{"alg": "HS256", "kid": own.ID(), "typ": "at+jwt"}, map[string]any{"iss": ownIss, "aud": "api",
			"sub": "admin", "exp": base.Add(time.Hour).Unix(), "iat": base.Unix(), "jti": "j", "client_id": "c"})
		p, err = v.Verify(ctx, forged)
		wantRefused(t, p, err, authkit.ErrInvalidToken, "algorithm does not match the key")
		// And a token without iss is never checked with another issuer's
		// keys: signed with ours, it goes to the Django issuer and fails.
		p, err = v.Verify(ctx, forge(t, own, map[string]any{"alg": "ES256", "kid": own.ID(), "typ": "JWT"}, map[string]any{"user_id": 1,
			"token_type": "access", "jti": "j", "exp": base.Add(time.Hour).Unix(), "iat": base.Unix()}))
		wantRefused(t, p, err, authkit.ErrInvalidToken, "unknown key")
	}

	// Each opt-in alone gives only itself.
	onlyAud := authkit.SimpleJWTProfile("")
	onlyAud.AllowMissingAudience = true
	v := newVerifier(t, authkit.WithClock((&clock{t: base}).Now),
		authkit.WithKeys(hmacSet(t, hk)), authkit.WithIssuer(django), authkit.WithProfile(onlyAud))
	p, err := v.Verify(ctx, djangoToken(t, hk, nil))
	wantRefused(t, p, err, authkit.ErrInvalidToken, "wrong issuer")
	if _, err := v.Verify(ctx, djangoToken(t, hk, map[string]any{"iss": django})); err != nil {
		t.Fatalf("AllowMissingAudience, iss set: %v", err)
	}
	onlyIss := authkit.SimpleJWTProfile("")
	onlyIss.AllowMissingIssuer = true
	v = newVerifier(t, authkit.WithClock((&clock{t: base}).Now),
		authkit.WithKeys(hmacSet(t, hk)), authkit.WithIssuer(django), authkit.WithAudience("shop-api"), authkit.WithProfile(onlyIss))
	p, err = v.Verify(ctx, djangoToken(t, hk, nil))
	wantRefused(t, p, err, authkit.ErrInvalidToken, "wrong audience")
	if _, err := v.Verify(ctx, djangoToken(t, hk, map[string]any{"aud": "shop-api"})); err != nil {
		t.Fatalf("AllowMissingIssuer (single issuer), aud set: %v", err)
	}
	for _, iss := range []any{"https://evil.example", ""} {
		p, err = v.Verify(ctx, djangoToken(t, hk, map[string]any{"aud": "shop-api", "iss": iss}))
		wantRefused(t, p, err, authkit.ErrInvalidToken, "wrong issuer")
	}
}

func TestMissingIssuerRemoteFetchesOnlyForItself(t *testing.T) {
	k := genKey(t, keys.ES256)
	srv, n := countingJWKS(t, k)
	clk := &clock{t: base}
	prof := relaxedSimpleJWT()
	v := newVerifier(t, authkit.WithClock(clk.Now), authkit.WithJWKSURL(srv.URL), authkit.WithJWKSRefreshInterval(time.Second),
		authkit.WithIssuer("https://shop.example"), authkit.WithProfile(prof))
	claims := map[string]any{"user_id": 1, "token_type": "access", "jti": "j", "exp": base.Add(time.Hour).Unix(), "iat": base.Unix()}
	if _, err := v.Verify(context.Background(), forge(t, k, map[string]any{"alg": "ES256", "kid": k.ID(), "typ": "JWT"}, claims)); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	before := n.Load()
	claims["iss"] = "https://evil.example"
	p, err := v.Verify(context.Background(), forge(t, k, map[string]any{"alg": "ES256", "kid": "other", "typ": "JWT"}, claims))
	wantRefused(t, p, err, authkit.ErrInvalidToken, "issuer not trusted")
	if n.Load() != before {
		t.Fatal("a token of another issuer made the verifier fetch")
	}
	delete(claims, "iss")
	p, err = v.Verify(context.Background(), forge(t, k, map[string]any{"alg": "ES256", "kid": "other", "typ": "JWT"}, claims))
	wantRefused(t, p, err, authkit.ErrInvalidToken, "unknown key")
	if n.Load() == before {
		t.Fatal("an unknown kid of a token without iss fetched nothing")
	}
}

func TestRelaxationConfig(t *testing.T) {
	hs := hmacSet(t, hmacKey(t))
	es := pubSet(t, genKey(t, keys.ES256))
	relaxed := relaxedSimpleJWT()
	rfc := authkit.RFC9068Profile()
	rfc.AllowMissingAudience = true
	oidc := authkit.OIDCProfile()
	oidc.AllowMissingIssuer = true
	cases := map[string][]authkit.Option{
		"two issuers without iss": {authkit.WithKeys(hs), authkit.WithProfile(relaxed),
			authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://b.example", Keys: es, Audience: []string{"api"}, Profile: &relaxed})},
		"two trusted issuers without iss": {
			authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://a.example", Keys: hs, Audience: []string{"api"}, Profile: &relaxed}),
			authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://b.example", Keys: es, Audience: []string{"api"}, Profile: &relaxed})},
		"discover without iss": {authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://a.example", Discover: true, Audience: []string{"api"}, Profile: &relaxed})},
		"rfc9068 without aud":  {authkit.WithKeys(es), authkit.WithProfile(rfc)},
		"oidc without iss":     {authkit.WithKeys(es), authkit.WithProfile(oidc)},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			v, err := verifier.New(opts...)
			if err == nil {
				v.Close()
			}
			if !errors.Is(err, authkit.ErrInvalidConfig) {
				t.Fatalf("verifier.New = %v; want ErrInvalidConfig", err)
			}
		})
	}
	// One issuer without iss beside others is fine, remote by URL too.
	v, err := verifier.New(authkit.WithKeys(es),
		authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://a.example", JWKSURL: "https://a.example/jwks", Audience: []string{"api"}, Profile: &relaxed}))
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
}

func TestHeaderTypes(t *testing.T) {
	hk, own := hmacKey(t), genKey(t, keys.ES256)
	const ownIss = "https://auth.example"
	prof := relaxedSimpleJWT()
	st := memory.New()
	ctx := context.Background()
	req := func(h ...string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		for _, x := range h {
			r.Header.Add("Authorization", x)
		}
		return r
	}
	ownTok := forge(t, own, map[string]any{"alg": "ES256", "kid": own.ID(), "typ": "at+jwt"}, map[string]any{"iss": ownIss, "aud": "api",
		"sub": "alice", "exp": base.Add(time.Hour).Unix(), "iat": base.Unix(), "jti": "j", "client_id": "c"})
	for _, cache := range []int{0, 16} {
		v := newVerifier(t, authkit.WithClock((&clock{t: base}).Now), authkit.WithVerifyCache(cache), authkit.WithAPITokenStore(st),
			authkit.WithKeys(pubSet(t, own)), authkit.WithIssuer(ownIss), authkit.WithAudience("api"),
			authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://shop.example", Keys: hmacSet(t, hk), Audience: []string{"shop-api"}, Profile: &prof}))
		dj := djangoToken(t, hk, nil)
		for _, h := range []string{"JWT " + dj, "jwt " + dj, "JWT   " + dj, "Bearer " + dj} {
			for range 2 { // the second is a cache hit when the cache is on
				if p, err := v.Authenticate(req(h)); err != nil || p.Subject != "42" {
					t.Fatalf("cache %d: %.12s…: %v %v", cache, h, p, err)
				}
			}
		}
		if _, err := v.Authenticate(req("Bearer " + ownTok)); err != nil {
			t.Fatalf("cache %d: own token under Bearer: %v", cache, err)
		}
		// The Django issuer's word is no door for the other issuer: refused
		// before any key lookup, and from the cache too (the token is in it
		// when the cache is on).
		p, err := v.Authenticate(req("JWT " + ownTok))
		wantRefused(t, p, err, authkit.ErrInvalidToken, "Authorization scheme not accepted")
		// Only a JWT under the word: an API token is not looked up.
		p, err = v.Authenticate(req("JWT ak_" + strings.Repeat("A", 43)))
		wantRefused(t, p, err, authkit.ErrInvalidToken, "malformed token")
		// Bearer's syntax and size checks.
		for _, h := range []string{"JWT", "JWT ", "JWT a b", "JWT a\tb", "JWT " + dj + "=x"} {
			p, err = v.Authenticate(req(h))
			wantRefused(t, p, err, authkit.ErrInvalidRequest, "malformed credentials")
		}
		p, err = v.Authenticate(req("JWT " + strings.Repeat("a", verifier.MaxHeaderLen-4)))
		wantRefused(t, p, err, authkit.ErrInvalidToken, "token longer than")
		p, err = v.Authenticate(req("JWT " + strings.Repeat("a", verifier.MaxHeaderLen)))
		wantRefused(t, p, err, authkit.ErrInvalidRequest, "longer than")
		p, err = v.Authenticate(req("JWT "+dj, "JWT "+dj))
		wantRefused(t, p, err, authkit.ErrInvalidRequest, "more than one")
		// A word that finds its credential and refuses it ends the chain.
		p, err = v.Authenticate(req("JWT " + djangoToken(t, hk, map[string]any{"token_type": "refresh"})))
		wantRefused(t, p, err, authkit.ErrInvalidToken, "not an access token")
		// Words no profile lists are not ours.
		for _, h := range []string{"JWTX " + dj, "Djwt " + dj, "JWT2 " + dj} {
			if _, err := v.Authenticate(req(h)); !errors.Is(err, authkit.ErrNoCredentials) {
				t.Fatalf("%.6s: %v", h, err)
			}
		}
	}
	// Without HeaderTypes no word is accepted.
	plain := relaxedSimpleJWT()
	plain.HeaderTypes = nil
	v := newVerifier(t, authkit.WithClock((&clock{t: base}).Now), authkit.WithKeys(hmacSet(t, hk)), authkit.WithProfile(plain))
	if _, err := v.Authenticate(req("JWT " + djangoToken(t, hk, nil))); !errors.Is(err, authkit.ErrNoCredentials) {
		t.Fatalf("no HeaderTypes: %v", err)
	}
	if _, err := v.Authenticate(req("Bearer " + djangoToken(t, hk, nil))); err != nil {
		t.Fatalf("no HeaderTypes, Bearer: %v", err)
	}
	_ = ctx
}

// A claim that differs only in case from one the profile reads into a
// field ("SCP", "AZP" beside OIDCProfile's scp and azp) is not an
// application claim: it was, and DecodeClaims filled a field tagged "scp"
// or "azp" with it, encoding/json matching tags without regard to case
// (found by review).
func TestProfileClaimCaseVariantsAreNotApplicationClaims(t *testing.T) {
	const iss = "https://idp.example/"
	k := genKey(t, keys.ES256)
	prof := authkit.OIDCProfile()
	v := newVerifier(t, authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: iss, Keys: pubSet(t, k), Audience: []string{"api"}, Profile: &prof}),
		authkit.WithClock((&clock{t: base}).Now))
	// The second set folds as encoding/json does, Unicode's way: ſ
	// (U+017F) is s, and longer in UTF-8 (found by review).
	for _, variants := range [][2]string{{"SCP", "AZP"}, {"\u017fcp", "AZP"}} {
		c := map[string]any{"exp": base.Add(time.Hour).Unix(), "iat": base.Unix(), "iss": iss, "sub": "alice", "aud": "api",
			"cid": "0oa1", variants[0]: "admin", variants[1]: "other-client", "team": "blue"}
		p, err := v.Verify(context.Background(), forge(t, k, map[string]any{"alg": "ES256", "kid": k.ID()}, c))
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Azp  string `json:"azp"`
			Scp  string `json:"scp"`
			Team string `json:"team"`
		}
		if err := p.DecodeClaims(&got); err != nil {
			t.Fatal(err)
		}
		if got.Azp != "" || got.Scp != "" || got.Team != "blue" {
			t.Errorf("%q: DecodeClaims = %+v, want no azp, no scp (only case variants were in the token), team blue", variants, got)
		}
		if _, ok := p.Claims[variants[0]]; ok {
			t.Errorf("Principal.Claims holds %s, a case variant of a claim the profile reads: %v", variants[0], p.Claims)
		}
	}
}
