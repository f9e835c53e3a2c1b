package verifier_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/keys"
)

// idp is an httptest identity provider: metadata at the paths it is given,
// and a JWKS document.
type idp struct {
	srv      *httptest.Server
	mu       sync.Mutex
	meta     map[string]map[string]any // path → metadata document
	jwks     []byte
	requests atomic.Int64
	paths    []string
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	d := &idp{meta: map[string]map[string]any{}}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.requests.Add(1)
		d.mu.Lock()
		defer d.mu.Unlock()
		d.paths = append(d.paths, r.URL.Path)
		if r.URL.Path == "/jwks" {
			w.Write(d.jwks)
			return
		}
		if m, ok := d.meta[r.URL.Path]; ok {
			json.NewEncoder(w).Encode(m)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *idp) token(t *testing.T, k *keys.Key, iss string) string {
	return forge(t, k, map[string]any{"alg": string(k.Algorithm()), "kid": k.ID(), "typ": "at+jwt"}, map[string]any{"iss": iss, "aud": "api",
		"sub": "s", "exp": base.Add(time.Hour).Unix(), "iat": base.Unix(), "jti": "j", "client_id": "c"})
}

func TestDiscovery(t *testing.T) {
	k := genKey(t, keys.ES256)
	jwks, _ := pubSet(t, k).JWKS()
	for _, tc := range []struct {
		name, path, metaPath string
	}{
		{"rfc8414", "", "/.well-known/oauth-authorization-server"},
		{"rfc8414 with path", "/tenant/1", "/.well-known/oauth-authorization-server/tenant/1"},
		{"oidc", "", "/.well-known/openid-configuration"},
		{"oidc with path (keycloak)", "/realms/acme", "/realms/acme/.well-known/openid-configuration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newIDP(t)
			iss := d.srv.URL + tc.path
			d.jwks = jwks
			d.meta[tc.metaPath] = map[string]any{"issuer": iss, "jwks_uri": d.srv.URL + "/jwks"}
			v := newVerifier(t, authkit.WithClock((&clock{t: base}).Now),
				authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: iss, Discover: true, Audience: []string{"api"}}))
			if p, err := v.Verify(context.Background(), d.token(t, k, iss)); err != nil || p.Subject != "s" {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestDiscoveryRefusals(t *testing.T) {
	k := genKey(t, keys.ES256)
	jwks, _ := pubSet(t, k).JWKS()
	for _, tc := range []struct {
		name string
		meta func(d *idp, iss string) map[string]any
	}{
		{"issuer differs", func(d *idp, iss string) map[string]any {
			return map[string]any{"issuer": iss + "/", "jwks_uri": d.srv.URL + "/jwks"}
		}},
		{"issuer of another", func(d *idp, iss string) map[string]any {
			return map[string]any{"issuer": "https://evil.example", "jwks_uri": d.srv.URL + "/jwks"}
		}},
		{"jwks_uri not https", func(d *idp, iss string) map[string]any {
			return map[string]any{"issuer": iss, "jwks_uri": "http://jwks.example/jwks"}
		}},
		{"no jwks_uri", func(d *idp, iss string) map[string]any { return map[string]any{"issuer": iss} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newIDP(t)
			iss := d.srv.URL
			d.jwks = jwks
			d.meta["/.well-known/oauth-authorization-server"] = tc.meta(d, iss)
			d.meta["/.well-known/openid-configuration"] = tc.meta(d, iss)
			v := newVerifier(t, authkit.WithClock((&clock{t: base}).Now),
				authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: iss, Discover: true, Audience: []string{"api"}}))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			p, err := v.Verify(ctx, d.token(t, k, iss))
			wantRefused(t, p, err, authkit.ErrStoreUnavailable, "")
			d.mu.Lock()
			defer d.mu.Unlock()
			for _, path := range d.paths {
				if path == "/jwks" {
					t.Errorf("the JWKS was fetched after metadata that should have been refused")
				}
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the verifier's goroutine to log to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestUnusableJWKSKeyIsReportedAsSuch(t *testing.T) {
	r := genKey(t, keys.RS256)
	jwk, err := r.PublicJWK()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(jwk, &m)
	delete(m, "alg")
	m["kid"] = "rsa-no-alg"
	doc, _ := json.Marshal(map[string]any{"keys": []any{m}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(doc) }))
	t.Cleanup(srv.Close)
	var logs syncBuffer
	opts := []authkit.Option{authkit.WithClock((&clock{t: base}).Now), authkit.WithJWKSURL(srv.URL), authkit.WithIssuer("https://a.example"),
		authkit.WithAudience("api"), authkit.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))}
	v := newVerifier(t, opts...)
	tok := forge(t, r, map[string]any{"alg": "RS256", "kid": "rsa-no-alg", "typ": "at+jwt"}, map[string]any{"iss": "https://a.example", "aud": "api",
		"sub": "s", "exp": base.Add(time.Hour).Unix(), "iat": base.Unix(), "jti": "j", "client_id": "c"})
	p, err := v.Verify(context.Background(), tok)
	wantRefused(t, p, err, authkit.ErrInvalidToken, `JWKS key "rsa-no-alg" unusable: no alg`)
	if errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("an unusable key reads as an outage: %v", err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), `JWKS key \"rsa-no-alg\" unusable: no alg`) {
		t.Errorf("no Warn line naming the key: %s", logs.String())
	}
	// With a default algorithm the same document serves.
	v = newVerifier(t, append(opts, authkit.WithJWKSDefaultAlgorithm(keys.RS256))...)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("with WithJWKSDefaultAlgorithm: %v", err)
	}
	// An outage stays an outage.
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusBadGateway) }))
	t.Cleanup(down.Close)
	v = newVerifier(t, authkit.WithClock((&clock{t: base}).Now), authkit.WithJWKSURL(down.URL), authkit.WithIssuer("https://a.example"), authkit.WithAudience("api"))
	p, err = v.Verify(context.Background(), tok)
	wantRefused(t, p, err, authkit.ErrStoreUnavailable, "")
}

// roundTripFunc serves a client's requests in process, whatever their host.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A JWKS URL must be https (http only on loopback), and so must every
// redirect a fetch follows: keys that reach the verifier over plain http
// from another host could have been rewritten on the way.
func TestJWKSRedirectToPlainHTTPRefused(t *testing.T) {
	k := genKey(t, keys.ES256)
	doc, err := pubSet(t, k).JWKS()
	if err != nil {
		t.Fatal(err)
	}
	serve := func(target string, requests *[]string) *http.Client {
		return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			*requests = append(*requests, r.URL.String())
			rec := httptest.NewRecorder()
			if r.URL.Host == "idp.example" {
				http.Redirect(rec, r, target, http.StatusFound)
			} else {
				rec.Write(doc)
			}
			return rec.Result(), nil
		})}
	}
	tok := forge(t, k, map[string]any{"alg": "ES256", "kid": k.ID(), "typ": "at+jwt"}, map[string]any{"iss": "https://idp.example", "aud": "api",
		"sub": "s", "exp": base.Add(time.Hour).Unix(), "iat": base.Unix(), "jti": "j", "client_id": "c"})
	for _, c := range []struct {
		target string
		ok     bool
	}{
		{"http://keys.example/jwks.json", false},
		{"http://192.0.2.2:8080/jwks.json", false},
		{"https://keys.example/jwks.json", true},
		{"http://127.0.0.1:8080/jwks.json", true},
	} {
		var requests []string
		v := newVerifier(t, authkit.WithClock((&clock{t: base}).Now), authkit.WithJWKSURL("https://idp.example/jwks.json"),
			authkit.WithIssuer("https://idp.example"), authkit.WithAudience("api"), authkit.WithHTTPClient(serve(c.target, &requests)))
		p, err := v.Verify(context.Background(), tok)
		if c.ok {
			if err != nil {
				t.Errorf("redirect to %s: %v", c.target, err)
			}
			continue
		}
		wantRefused(t, p, err, authkit.ErrStoreUnavailable, "")
		for _, u := range requests {
			if u == c.target {
				t.Errorf("the fetch followed the redirect to %s", c.target)
			}
		}
	}
}
