package verifier_test

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

var base = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fixture struct {
	key   *keys.Key
	set   *keys.Set
	store *memory.Store
	clock *clock
	iss   *issuer.Issuer
	ver   *verifier.Verifier
}

func newFixture(t testing.TB, alg keys.Algorithm, extra ...authkit.Option) *fixture {
	t.Helper()
	k, err := keys.Generate(alg)
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.NewSet(k)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{key: k, set: set, store: memory.New(), clock: &clock{t: base}}
	common := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(f.store), authkit.WithClock(f.clock.Now),
		authkit.WithIssuer("https://auth.example"), authkit.WithAudience("api")}
	if f.iss, err = issuer.New(common...); err != nil {
		t.Fatal(err)
	}
	if f.ver, err = verifier.New(append(common, extra...)...); err != nil {
		t.Fatal(err)
	}
	return f
}

// forge signs an arbitrary header and claims with k, as an attacker holding
// a key (or a confused library) would.
func forge(t testing.TB, k *keys.Key, header, claims any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, ok := claims.([]byte)
	if !ok {
		c, _ = json.Marshal(claims)
	}
	hb, _ := header.([]byte)
	if hb != nil {
		h = hb
	}
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sig, err := k.Sign([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func (f *fixture) claims() map[string]any {
	now := f.clock.Now()
	return map[string]any{"iss": "https://auth.example", "sub": "alice", "aud": "api", "exp": now.Add(time.Minute).Unix(),
		"iat": now.Unix(), "jti": "j1", "client_id": "c"}
}

func (f *fixture) header() map[string]any {
	return map[string]any{"alg": string(f.key.Algorithm()), "kid": f.key.ID(), "typ": "at+jwt"}
}

func TestVerifyEveryAlgorithm(t *testing.T) {
	for _, alg := range keys.Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			f := newFixture(t, alg)
			pair, err := f.iss.IssuePair(context.Background(), "alice", issuer.WithScopes("read", "write"),
				issuer.WithClaims(map[string]any{"org": "acme"}))
			if err != nil {
				t.Fatal(err)
			}
			p, err := f.ver.Verify(context.Background(), pair.AccessToken)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.Subject != "alice" || p.Method != authkit.MethodJWT || p.TokenID != pair.TokenID || p.SessionID != pair.SessionID ||
				len(p.Scopes) != 2 || p.Scopes[1] != "write" || p.Claims["org"] != "acme" || p.ClientID != authkit.DefaultClientID ||
				!p.ExpiresAt.Equal(pair.AccessExpiresAt) || !p.IssuedAt.Equal(base) {
				t.Errorf("principal %+v does not match pair %+v", p, pair)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	f := newFixture(t, keys.ES256)
	ctx := context.Background()
	hs, _ := keys.Generate(keys.HS256)
	other, _ := keys.Generate(keys.ES256)
	// An HMAC key whose secret is the verifier's public key bytes: the
	// classic RS/HS (here ES/HS) confusion.
	pubJWK, _ := f.key.PublicJWK()
	confused, err := keys.NewHMAC(keys.HS256, append(pubJWK, pubJWK...), f.key.ID())
	if err != nil {
		t.Fatal(err)
	}
	with := func(mod func(h, c map[string]any)) string {
		h, c := f.header(), f.claims()
		mod(h, c)
		return forge(t, f.key, h, c)
	}
	good := with(func(h, c map[string]any) {})
	if _, err := f.ver.Verify(ctx, good); err != nil {
		t.Fatalf("the baseline forged token should verify: %v", err)
	}
	segs := strings.Split(good, ".")
	noneTok := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+f.key.ID()+`","typ":"at+jwt"}`)) + "." + segs[1] + "."
	cases := map[string]struct {
		tok  string
		want error
	}{
		"alg none":             {noneTok, authkit.ErrInvalidToken},
		"alg confusion":        {forge(t, confused, map[string]any{"alg": "HS256", "kid": f.key.ID(), "typ": "at+jwt"}, f.claims()), authkit.ErrInvalidToken},
		"alg header mismatch":  {with(func(h, c map[string]any) { h["alg"] = "ES384" }), authkit.ErrInvalidToken},
		"unknown kid":          {forge(t, other, map[string]any{"alg": "ES256", "kid": other.ID(), "typ": "at+jwt"}, f.claims()), authkit.ErrInvalidToken},
		"client_id missing":    {with(func(h, c map[string]any) { delete(c, "client_id") }), authkit.ErrInvalidToken},
		"scope array":          {with(func(h, c map[string]any) { c["scope"] = []string{"read"} }), authkit.ErrInvalidToken},
		"jku":                  {with(func(h, c map[string]any) { h["jku"] = "https://evil.example/jwks" }), authkit.ErrInvalidToken},
		"hmac key unknown kid": {forge(t, hs, map[string]any{"alg": "HS256", "kid": hs.ID(), "typ": "at+jwt"}, f.claims()), authkit.ErrInvalidToken},
		"typ JWT":              {with(func(h, c map[string]any) { h["typ"] = "JWT" }), authkit.ErrInvalidToken},
		"typ missing":          {with(func(h, c map[string]any) { delete(h, "typ") }), authkit.ErrInvalidToken},
		"crit":                 {with(func(h, c map[string]any) { h["crit"] = []string{"exp"}; h["exp"] = 1 }), authkit.ErrInvalidToken},
		"expired":              {with(func(h, c map[string]any) { c["exp"] = base.Add(-time.Minute).Unix() }), authkit.ErrTokenExpired},
		"exp missing":          {with(func(h, c map[string]any) { delete(c, "exp") }), authkit.ErrInvalidToken},
		"exp string":           {with(func(h, c map[string]any) { c["exp"] = fmt.Sprint(base.Add(time.Hour).Unix()) }), authkit.ErrInvalidToken},
		"nbf future":           {with(func(h, c map[string]any) { c["nbf"] = base.Add(time.Hour).Unix() }), authkit.ErrInvalidToken},
		"iat future":           {with(func(h, c map[string]any) { c["iat"] = base.Add(time.Hour).Unix() }), authkit.ErrInvalidToken},
		"iat missing":          {with(func(h, c map[string]any) { delete(c, "iat") }), authkit.ErrInvalidToken},
		"wrong iss":            {with(func(h, c map[string]any) { c["iss"] = "https://evil.example" }), authkit.ErrInvalidToken},
		"wrong aud":            {with(func(h, c map[string]any) { c["aud"] = []string{"other"} }), authkit.ErrInvalidToken},
		"aud missing":          {with(func(h, c map[string]any) { delete(c, "aud") }), authkit.ErrInvalidToken},
		"sub missing":          {with(func(h, c map[string]any) { delete(c, "sub") }), authkit.ErrInvalidToken},
		"jti missing":          {with(func(h, c map[string]any) { delete(c, "jti") }), authkit.ErrInvalidToken},
		"duplicate claim": {forge(t, f.key, f.header(), []byte(fmt.Sprintf(`{"iss":"https://auth.example","sub":"alice","sub":"root","aud":"api","exp":%d,"iat":%d,"jti":"j"}`,
			base.Add(time.Minute).Unix(), base.Unix()))), authkit.ErrInvalidToken},
		"case-variant claim": {forge(t, f.key, f.header(), []byte(fmt.Sprintf(`{"iss":"https://auth.example","sub":"alice","SUB":"root","aud":"api","exp":%d,"iat":%d,"jti":"j"}`,
			base.Add(time.Minute).Unix(), base.Unix()))), authkit.ErrInvalidToken},
		"invalid utf8": {forge(t, f.key, f.header(), []byte(fmt.Sprintf("{\"iss\":\"https://auth.example\",\"sub\":\"al\xffice\",\"aud\":\"api\",\"exp\":%d,\"iat\":%d,\"jti\":\"j\"}",
			base.Add(time.Minute).Unix(), base.Unix()))), authkit.ErrInvalidToken},
		"tampered payload":  {segs[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"root"}`)) + "." + segs[2], authkit.ErrInvalidToken},
		"padded segment":    {segs[0] + "=." + segs[1] + "." + segs[2], authkit.ErrInvalidToken},
		"crlf in segment":   {segs[0] + "\r\n." + segs[1] + "." + segs[2], authkit.ErrInvalidToken},
		"four segments":     {good + ".x", authkit.ErrInvalidToken},
		"two segments":      {segs[0] + "." + segs[1], authkit.ErrInvalidToken},
		"oversized":         {strings.Repeat("a", 8<<10+1), authkit.ErrInvalidToken},
		"refresh as access": {"akrt_" + strings.Repeat("A", 49), authkit.ErrInvalidToken},
		"garbage":           {"not a token", authkit.ErrInvalidToken},
		"empty":             {"", authkit.ErrNoCredentials},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := f.ver.Verify(ctx, tc.tok)
			if p != nil || !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, %v; want error matching %v", p, err, tc.want)
			}
			if tc.tok != "" && strings.Contains(err.Error(), tc.tok) {
				t.Errorf("error message contains the token")
			}
		})
	}
}

func TestLeeway(t *testing.T) {
	f := newFixture(t, keys.HS256, authkit.WithLeeway(10*time.Second))
	pair, err := f.iss.IssueAccessToken(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Add(authkit.DefaultAccessTTL + 9*time.Second)
	if _, err := f.ver.Verify(context.Background(), pair.AccessToken); err != nil {
		t.Fatalf("inside the leeway: %v", err)
	}
	f.clock.Add(time.Second)
	if _, err := f.ver.Verify(context.Background(), pair.AccessToken); !errors.Is(err, authkit.ErrTokenExpired) {
		t.Fatalf("at exp+leeway: %v, want ErrTokenExpired", err)
	}
}

func TestRevocation(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, keys.EdDSA)
	a, _ := f.iss.IssuePair(ctx, "alice")
	b, _ := f.iss.IssuePair(ctx, "alice")
	c, _ := f.iss.IssuePair(ctx, "bob")

	if err := f.iss.Revoke(ctx, a.AccessToken); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ver.Verify(ctx, a.AccessToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Fatalf("revoked jti: %v", err)
	}
	if _, err := f.ver.Verify(ctx, b.AccessToken); err != nil {
		t.Fatalf("another token of the same subject: %v", err)
	}
	// A re-encoded copy (different bytes, same identity) is just as dead:
	// revocation is keyed on jti, never on the bytes. Here: same claims,
	// signed again.
	if err := f.iss.RevokeSession(ctx, b.SessionID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ver.Verify(ctx, b.AccessToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Fatalf("token of a revoked session: %v", err)
	}
	if _, err := f.ver.Verify(ctx, c.AccessToken); err != nil {
		t.Fatalf("bob is unaffected: %v", err)
	}
}

func TestLogoutAllSameSecond(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, keys.HS256)
	f.clock.Add(300 * time.Millisecond)
	before, _ := f.iss.IssuePair(ctx, "alice")
	f.clock.Add(200 * time.Millisecond)
	if err := f.iss.RevokeSubject(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(200 * time.Millisecond) // still the same second
	after, _ := f.iss.IssuePair(ctx, "alice")
	if _, err := f.ver.Verify(ctx, before.AccessToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Fatalf("token issued earlier in the same second as logout-all: %v, want revoked", err)
	}
	if _, err := f.ver.Verify(ctx, after.AccessToken); err != nil {
		t.Fatalf("token of a new login after logout-all: %v", err)
	}
	if _, err := f.iss.Refresh(ctx, before.RefreshToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Fatalf("refresh of a logged-out session: %v", err)
	}
}

// failingRevocations is a unit-test fake: a revocation store that cannot
// answer.
type failingRevocations struct{ authkit.RevocationStore }

func (failingRevocations) IsRevoked(context.Context, authkit.RevocationQuery, time.Time) (bool, error) {
	return false, errors.New("connection refused")
}

func TestFailClosed(t *testing.T) {
	f := newFixture(t, keys.HS256)
	pair, _ := f.iss.IssueAccessToken(context.Background(), "alice")
	v, err := verifier.New(authkit.WithKeys(f.set), authkit.WithRevocationStore(failingRevocations{f.store}),
		authkit.WithClock(f.clock.Now), authkit.WithIssuer("https://auth.example"), authkit.WithAudience("api"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), pair.AccessToken)
	if p != nil || !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("store down: %v, %v; want refusal with ErrStoreUnavailable", p, err)
	}
}

// countingAPIStore counts store calls, to prove malformed tokens never
// reach the store and last-used writes are rate-limited.
type countingAPIStore struct {
	authkit.APITokenStore
	lookups, touches atomic.Int32
}

func (c *countingAPIStore) LookupAPIToken(ctx context.Context, h authkit.TokenHash) (authkit.APIToken, error) {
	c.lookups.Add(1)
	return c.APITokenStore.LookupAPIToken(ctx, h)
}

func (c *countingAPIStore) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	c.touches.Add(1)
	return c.APITokenStore.TouchAPIToken(ctx, id, at)
}

// heldTouchStore holds every last-used write until release is closed,
// counting them.
type heldTouchStore struct {
	authkit.APITokenStore
	touches atomic.Int32
	release chan struct{}
}

func (h *heldTouchStore) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	h.touches.Add(1)
	<-h.release
	return h.APITokenStore.TouchAPIToken(ctx, id, at)
}

// A burst of requests with one API token, which all read the same stale
// last-used time, writes it once while that write is in flight: each
// used to write (found by review: 64 parallel checks made 11 to 18
// writes on PostgreSQL).
func TestAPITokenBurstWritesLastUsedOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, keys.HS256)
	held := &heldTouchStore{APITokenStore: f.store, release: make(chan struct{})}
	v, err := verifier.New(authkit.WithKeys(f.set), authkit.WithAPITokenStore(held), authkit.WithClock(f.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := f.iss.CreateAPIToken(ctx, "alice", "ci")
	if err != nil {
		t.Fatal(err)
	}
	const n = 64
	var wg sync.WaitGroup
	var failed, done atomic.Int32
	for range n {
		wg.Go(func() {
			if _, err := v.Verify(ctx, secret); err != nil {
				failed.Add(1)
			}
			done.Add(1)
		})
	}
	// n-1 requests return without writing while one write is held.
	deadline := time.Now().Add(10 * time.Second)
	for done.Load() < n-1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(held.release)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d verifications failed", failed.Load(), n)
	}
	// Requests that read the token before the write but reached the check
	// after it finished may write again; with the write held until all
	// but one had returned, none can.
	if got := held.touches.Load(); got != 1 {
		t.Errorf("%d concurrent uses of one API token made %d last-used writes, want 1", n, got)
	}
}

func TestAPITokens(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, keys.HS256)
	counting := &countingAPIStore{APITokenStore: f.store}
	v, err := verifier.New(authkit.WithKeys(f.set), authkit.WithAPITokenStore(counting), authkit.WithClock(f.clock.Now),
		authkit.WithLastUsedInterval(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	secret, rec, err := f.iss.CreateAPIToken(ctx, "alice", "ci", issuer.WithTokenScopes("deploy"), issuer.WithTokenTTL(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "alice" || p.Method != authkit.MethodAPIToken || p.TokenID != rec.ID || !p.HasScope("deploy") {
		t.Errorf("principal %+v", p)
	}
	if counting.touches.Load() != 1 {
		t.Errorf("first use: %d last-used writes, want 1", counting.touches.Load())
	}
	for range 10 {
		f.clock.Add(time.Second)
		if _, err := v.Verify(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	if counting.touches.Load() != 1 {
		t.Errorf("10 uses within the interval: %d writes, want 1", counting.touches.Load())
	}
	f.clock.Add(time.Minute)
	v.Verify(ctx, secret)
	if counting.touches.Load() != 2 {
		t.Errorf("use after the interval: %d writes, want 2", counting.touches.Load())
	}

	// A mistyped token is refused by its checksum, without a store call.
	lookups := counting.lookups.Load()
	bad := []byte(secret)
	bad[10] ^= 1
	if _, err := v.Verify(ctx, string(bad)); !errors.Is(err, authkit.ErrInvalidToken) {
		t.Fatalf("mistyped token: %v", err)
	}
	if counting.lookups.Load() != lookups {
		t.Errorf("a token failing its checksum reached the store")
	}

	f.clock.Add(time.Hour)
	if _, err := v.Verify(ctx, secret); !errors.Is(err, authkit.ErrTokenExpired) {
		t.Fatalf("expired API token: %v", err)
	}
	secret2, rec2, _ := f.iss.CreateAPIToken(ctx, "alice", "ci2")
	if err := f.iss.RevokeAPIToken(ctx, "bob", rec2.ID); !errors.Is(err, authkit.ErrNotFound) {
		t.Fatalf("bob revoking alice's token: %v", err)
	}
	if err := f.iss.Revoke(ctx, secret2); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, secret2); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Fatalf("revoked API token: %v", err)
	}
	unknown, _, _ := newFixture(t, keys.HS256).iss.CreateAPIToken(ctx, "alice", "elsewhere")
	if _, err := v.Verify(ctx, unknown); !errors.Is(err, authkit.ErrInvalidToken) {
		t.Fatalf("well-formed unknown API token: %v", err)
	}
}

func TestPrincipalCheck(t *testing.T) {
	disabled := errors.New("user disabled")
	f := newFixture(t, keys.HS256, authkit.WithPrincipalCheck(func(_ context.Context, p *authkit.Principal) error {
		if p.Subject == "mallory" {
			return disabled
		}
		return nil
	}))
	ok, _ := f.iss.IssueAccessToken(context.Background(), "alice")
	bad, _ := f.iss.IssueAccessToken(context.Background(), "mallory")
	if _, err := f.ver.Verify(context.Background(), ok.AccessToken); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ver.Verify(context.Background(), bad.AccessToken); !errors.Is(err, authkit.ErrInvalidToken) || !errors.Is(err, disabled) {
		t.Fatalf("refused principal: %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	basicCalls := 0
	f := newFixture(t, keys.HS256, authkit.WithBasicAuth(func(_ context.Context, u, p string) (*authkit.Principal, error) {
		basicCalls++
		if u == "svc" && p == "pw:with:colons" {
			return &authkit.Principal{Subject: "svc"}, nil
		}
		return nil, errors.New("bad password")
	}))
	pair, _ := f.iss.IssuePair(ctx, "alice")
	api, _, _ := f.iss.CreateAPIToken(ctx, "alice", "x")
	req := func(h ...string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		for _, v := range h {
			r.Header.Add("Authorization", v)
		}
		return r
	}
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	for name, tc := range map[string]struct {
		r      *http.Request
		want   error
		method string
	}{
		"bearer jwt":          {req("Bearer " + pair.AccessToken), nil, authkit.MethodJWT},
		"bearer lower case":   {req("bearer " + pair.AccessToken), nil, authkit.MethodJWT},
		"bearer api token":    {req("Bearer " + api), nil, authkit.MethodAPIToken},
		"token scheme":        {req("Token " + api), nil, authkit.MethodAPIToken},
		"basic":               {req(basic("svc", "pw:with:colons")), nil, authkit.MethodBasic},
		"basic wrong":         {req(basic("svc", "nope")), authkit.ErrInvalidToken, ""},
		"basic malformed":     {req("Basic !!!"), authkit.ErrInvalidRequest, ""},
		"basic no colon":      {req("Basic " + base64.StdEncoding.EncodeToString([]byte("svc"))), authkit.ErrInvalidRequest, ""},
		"no header":           {req(), authkit.ErrNoCredentials, ""},
		"other scheme":        {req("Digest abc"), authkit.ErrNoCredentials, ""},
		"two headers":         {req("Bearer "+pair.AccessToken, "Bearer "+pair.AccessToken), authkit.ErrInvalidRequest, ""},
		"empty bearer":        {req("Bearer "), authkit.ErrInvalidRequest, ""},
		"bearer with space":   {req("Bearer a b"), authkit.ErrInvalidRequest, ""},
		"bad jwt":             {req("Bearer " + pair.AccessToken + "x"), authkit.ErrInvalidToken, ""},
		"oversized header":    {req("Bearer " + strings.Repeat("a", verifier.MaxHeaderLen)), authkit.ErrInvalidRequest, ""},
		"refresh token given": {req("Bearer " + pair.RefreshToken), authkit.ErrInvalidToken, ""},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := f.ver.Authenticate(tc.r)
			if tc.want == nil {
				if err != nil || p.Method != tc.method {
					t.Fatalf("Authenticate = %+v, %v; want method %s", p, err, tc.method)
				}
				return
			}
			if p != nil || !errors.Is(err, tc.want) {
				t.Fatalf("Authenticate = %v, %v; want %v", p, err, tc.want)
			}
		})
	}
	// A rejected Bearer credential ends the chain: Basic is not consulted.
	basicCalls = 0
	r := req("Bearer " + pair.AccessToken + "x")
	f.ver.Authenticate(r)
	if basicCalls != 0 {
		t.Error("a rejected credential fell through to the next scheme")
	}
}

func TestSchemesOrder(t *testing.T) {
	f := newFixture(t, keys.HS256, authkit.WithSchemes(authkit.SchemeToken))
	pair, _ := f.iss.IssueAccessToken(context.Background(), "alice")
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+pair.AccessToken)
	if _, err := f.ver.Authenticate(r); !errors.Is(err, authkit.ErrNoCredentials) {
		t.Fatalf("Bearer with only the Token scheme configured: %v", err)
	}
	if s := f.ver.Schemes(); len(s) != 1 || s[0] != authkit.SchemeToken {
		t.Fatalf("Schemes() = %v", s)
	}
}

func TestNewErrors(t *testing.T) {
	k, _ := keys.Generate(keys.HS256)
	set, _ := keys.NewSet(k)
	for name, opts := range map[string][]authkit.Option{
		"no keys":           nil,
		"issuer-only TTL":   {authkit.WithKeys(set), authkit.WithAccessTTL(time.Minute)},
		"bad leeway":        {authkit.WithKeys(set), authkit.WithLeeway(time.Hour)},
		"http jwks":         {authkit.WithJWKSURL("http://example.com/jwks.json")},
		"jwks placeholder":  {authkit.WithJWKSURL("https://login.example/<tenant>/keys")},
		"basic without fn":  {authkit.WithKeys(set), authkit.WithSchemes(authkit.SchemeBasic)},
		"unknown scheme":    {authkit.WithKeys(set), authkit.WithSchemes("digest")},
		"nil store":         {authkit.WithKeys(set), authkit.WithStore(nil)},
		"typed nil store":   {authkit.WithKeys(set), authkit.WithStore((*memory.Store)(nil))},
		"typed nil revs":    {authkit.WithKeys(set), authkit.WithRevocationStore((*memory.Store)(nil))},
		"typed nil refresh": {authkit.WithKeys(set), authkit.WithRefreshStore((*memory.Store)(nil))},
		"typed nil api":     {authkit.WithKeys(set), authkit.WithAPITokenStore((*memory.Store)(nil))},
		"empty audience":    {authkit.WithKeys(set), authkit.WithAudience()},
		"bad prefix":        {authkit.WithKeys(set), authkit.WithTokenPrefix("Has_Underscore")},
		"short hash key":    {authkit.WithKeys(set), authkit.WithTokenHashKey([]byte("short"))},
		"nil option":        {authkit.WithKeys(set), nil},
		"jwks interval 0":   {authkit.WithKeys(set), authkit.WithJWKSRefreshInterval(0)},
		"issuer-only limit": {authkit.WithKeys(set), authkit.WithAPITokenLimit(3)},
		"zero logger":       {authkit.WithKeys(set), authkit.WithLogger(new(slog.Logger))},
	} {
		if _, err := verifier.New(opts...); !errors.Is(err, authkit.ErrInvalidConfig) {
			t.Errorf("%s: verifier.New = %v, want ErrInvalidConfig", name, err)
		}
	}
	// The verifier needs no signing key: a public-only set works.
	pub, _ := keys.Generate(keys.ES256)
	vset, _ := keys.NewVerificationSet(pub.Public())
	if _, err := verifier.New(authkit.WithKeys(vset)); err != nil {
		t.Errorf("verifier with public keys only: %v", err)
	}
}

func TestJWKSURL(t *testing.T) {
	ctx := context.Background()
	k1, _ := keys.Generate(keys.ES256)
	k2, _ := keys.Generate(keys.EdDSA)
	hmacKey, _ := keys.Generate(keys.HS256)
	set, _ := keys.NewSet(k1)
	var fetches atomic.Int32
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		doc, _ := set.JWKS()
		// Splice in a symmetric key, which must never be trusted from a URL.
		hj, _ := hmacKey.MarshalJWK()
		doc = []byte(strings.Replace(string(doc), `"keys":[`, `"keys":[`+string(hj)+`,`, 1))
		w.Write(doc)
	}))
	defer srv.Close()
	clk := &clock{t: base}
	v, err := verifier.New(authkit.WithJWKSURL(srv.URL), authkit.WithClock(clk.Now), authkit.WithJWKSRefreshInterval(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	is, _ := issuer.New(authkit.WithKeys(set), authkit.WithClock(clk.Now))
	tok, _ := is.IssueAccessToken(ctx, "alice")
	if _, err := v.Verify(ctx, tok.AccessToken); err != nil {
		t.Fatalf("verify with remote keys: %v", err)
	}
	if fetches.Load() != 1 {
		t.Fatalf("%d fetches, want 1", fetches.Load())
	}
	for range 5 {
		v.Verify(ctx, tok.AccessToken)
	}
	if fetches.Load() != 1 {
		t.Fatalf("known kid refetched: %d fetches", fetches.Load())
	}
	// The HMAC key was published, and an attacker signs with it: refused.
	hsSet, _ := keys.NewSet(hmacKey)
	hsIss, _ := issuer.New(authkit.WithKeys(hsSet), authkit.WithClock(clk.Now))
	forged, _ := hsIss.IssueAccessToken(ctx, "root")
	if _, err := v.Verify(ctx, forged.AccessToken); !errors.Is(err, authkit.ErrInvalidToken) {
		t.Fatalf("token signed with a symmetric key from the JWKS: %v", err)
	}
	// Unknown kids refetch at most once per interval.
	n := fetches.Load()
	for range 10 {
		v.Verify(ctx, forged.AccessToken)
	}
	if fetches.Load() != n {
		t.Fatalf("unknown kid refetched within the interval: %d fetches", fetches.Load()-n)
	}
	// Rotation: a new key appears remotely; after the interval it is found.
	set.Add(k2)
	set.Activate(k2.ID())
	tok2, _ := is.IssueAccessToken(ctx, "alice")
	clk.Add(time.Minute)
	if _, err := v.Verify(ctx, tok2.AccessToken); err != nil {
		t.Fatalf("rotated key after the interval: %v", err)
	}
	// The remote goes down: cached keys keep working.
	down.Store(true)
	clk.Add(time.Hour)
	if _, err := v.Verify(ctx, tok2.AccessToken); err != nil && !errors.Is(err, authkit.ErrTokenExpired) {
		t.Fatalf("remote down: %v", err)
	}
	tok3, _ := is.IssueAccessToken(ctx, "alice")
	if _, err := v.Verify(ctx, tok3.AccessToken); err != nil {
		t.Fatalf("remote down, cached key: %v", err)
	}
}

func TestEventsCarryNoSecrets(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var events []authkit.Event
	hook := authkit.WithEventHook(func(_ context.Context, e authkit.Event) { mu.Lock(); events = append(events, e); mu.Unlock() })
	f := newFixture(t, keys.HS256, hook)
	pair, _ := f.iss.IssuePair(ctx, "alice")
	f.ver.Verify(ctx, pair.AccessToken)
	f.ver.Verify(ctx, pair.AccessToken+"x")
	if len(events) != 2 || events[0].Type != authkit.EventAuthenticated || events[1].Type != authkit.EventAuthFailed {
		t.Fatalf("events %+v", events)
	}
	for _, e := range events {
		s := fmt.Sprintf("%+v %v", e, e.Err)
		if strings.Contains(s, pair.AccessToken) || strings.Contains(s, pair.RefreshToken) {
			t.Errorf("event carries a secret: %s", s)
		}
	}
}

// Some providers publish RSA keys without "alg": skipped unless the
// verifier is told which algorithm they are for.
func TestJWKSDefaultAlgorithm(t *testing.T) {
	ctx := context.Background()
	k, _ := keys.Generate(keys.RS256)
	set, _ := keys.NewSet(k)
	pub, _ := k.PublicJWK()
	var m map[string]any
	json.Unmarshal(pub, &m)
	delete(m, "alg")
	noAlg, _ := json.Marshal(map[string]any{"keys": []any{m}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(noAlg) }))
	defer srv.Close()
	is, _ := issuer.New(authkit.WithKeys(set))
	tok, _ := is.IssueAccessToken(ctx, "alice")

	strict, _ := verifier.New(authkit.WithJWKSURL(srv.URL))
	defer strict.Close()
	if _, err := strict.Verify(ctx, tok.AccessToken); err == nil {
		t.Fatal("an alg-less remote key was used without WithJWKSDefaultAlgorithm")
	}
	bound, err := verifier.New(authkit.WithJWKSURL(srv.URL), authkit.WithJWKSDefaultAlgorithm(keys.RS256))
	if err != nil {
		t.Fatal(err)
	}
	defer bound.Close()
	if _, err := bound.Verify(ctx, tok.AccessToken); err != nil {
		t.Fatalf("with WithJWKSDefaultAlgorithm(RS256): %v", err)
	}
	// The binding is to RS256 only: a PS256 token under the same kid fails.
	psKey, _ := keys.NewPrivate(keys.PS256, privateKey(t, k).(crypto.Signer), k.ID())
	psSet, _ := keys.NewSet(psKey)
	psIss, _ := issuer.New(authkit.WithKeys(psSet))
	ps, _ := psIss.IssueAccessToken(ctx, "alice")
	if _, err := bound.Verify(ctx, ps.AccessToken); !errors.Is(err, authkit.ErrInvalidToken) {
		t.Fatalf("PS256 token against a key bound to RS256: %v", err)
	}
	if _, err := verifier.New(authkit.WithJWKSURL(srv.URL), authkit.WithJWKSDefaultAlgorithm(keys.HS256)); !errors.Is(err, authkit.ErrInvalidConfig) {
		t.Fatalf("HS256 as a default: %v", err)
	}
}

// A token whose iat is a fraction of a millisecond before a logout-all
// cutoff is dead: iat is read rounded down, never later than written. It
// used to be read as the nearest millisecond, so an iat of .0007 s read as
// .001 s, after a cutoff at .0008 s, and the token escaped the logout-all
// (found by review).
func TestSubMillisecondIatBeforeCutoffIsRevoked(t *testing.T) {
	f := newFixture(t, keys.ES256)
	ctx := context.Background()
	if err := f.store.SetCutoff(ctx, "alice", base.Add(800*time.Microsecond), base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	c := f.claims()
	c["iat"] = json.Number(fmt.Sprintf("%d.0007", base.Unix()))
	p, err := f.ver.Verify(ctx, forge(t, f.key, f.header(), c))
	if p != nil || !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Fatalf("iat 0.1 ms before the cutoff: %v, %v; want ErrTokenRevoked", p, err)
	}
	// One written after the cutoff lives, read to the millisecond.
	c["iat"] = json.Number(fmt.Sprintf("%d.0019", base.Unix()))
	c["jti"] = "j2"
	p, err = f.ver.Verify(ctx, forge(t, f.key, f.header(), c))
	if err != nil {
		t.Fatalf("iat after the cutoff: %v", err)
	}
	if want := base.Add(time.Millisecond); !p.IssuedAt.Equal(want) {
		t.Errorf("iat .0019 read as %v, want %v (rounded down to the millisecond)", p.IssuedAt, want)
	}
}

// WithMaxTokenLifetime refuses a token minted under a longer access TTL
// than the verifier allows (one that would outlive the revocations of
// its session, remembered for the shorter TTL), and one without iat; a
// token of exactly that lifetime passes.
func TestMaxTokenLifetime(t *testing.T) {
	f := newFixture(t, keys.EdDSA, authkit.WithMaxTokenLifetime(5*time.Minute))
	ctx := context.Background()
	old, err := issuer.New(authkit.WithKeys(f.set), authkit.WithStore(f.store), authkit.WithClock(f.clock.Now),
		authkit.WithIssuer("https://auth.example"), authkit.WithAudience("api"), authkit.WithAccessTTL(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	long, err := old.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ver.Verify(ctx, long.AccessToken); !errors.Is(err, authkit.ErrInvalidToken) || !strings.Contains(err.Error(), "lifetime") {
		t.Errorf("a token minted under a 1h TTL: %v, want ErrInvalidToken for its lifetime", err)
	}
	short, err := f.iss.IssuePair(ctx, "alice") // the default TTL, 5 minutes
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ver.Verify(ctx, short.AccessToken); err != nil {
		t.Errorf("a token of the allowed lifetime: %v", err)
	}
	now := f.clock.Now()
	for _, c := range []struct {
		name string
		edit func(map[string]any)
		ok   bool
	}{
		{"exactly the limit", func(m map[string]any) { m["exp"] = now.Add(5 * time.Minute).Unix() }, true},
		{"a second over", func(m map[string]any) { m["exp"] = now.Add(5*time.Minute + time.Second).Unix() }, false},
		{"no iat", func(m map[string]any) { delete(m, "iat") }, false},
	} {
		m := f.claims()
		c.edit(m)
		_, err := f.ver.Verify(ctx, forge(t, f.key, f.header(), m))
		if (err == nil) != c.ok {
			t.Errorf("%s: %v, want ok=%v", c.name, err, c.ok)
		}
	}
	// A TTL with a sub-second part: exp is cut to the second, iat to the
	// millisecond, so exp − iat can read up to a millisecond over (found
	// by review: the issuer's own fresh token was refused).
	odd := 300*time.Second + 500*time.Microsecond
	clk := &clock{t: time.Unix(1900000100, 999_800_000)}
	oddIss, err := issuer.New(authkit.WithKeys(f.set), authkit.WithStore(f.store), authkit.WithClock(clk.Now),
		authkit.WithIssuer("https://auth.example"), authkit.WithAudience("api"), authkit.WithAccessTTL(odd))
	if err != nil {
		t.Fatal(err)
	}
	oddVer, err := verifier.New(authkit.WithKeys(f.set), authkit.WithClock(clk.Now), authkit.WithIssuer("https://auth.example"),
		authkit.WithAudience("api"), authkit.WithMaxTokenLifetime(odd))
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := oddIss.IssueAccessToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oddVer.Verify(ctx, fresh.AccessToken); err != nil {
		t.Errorf("a fresh token of a %v TTL under a %v limit: %v", odd, odd, err)
	}
	if _, err := verifier.New(authkit.WithKeys(f.set), authkit.WithIssuer("x"), authkit.WithAudience("api"), authkit.WithMaxTokenLifetime(0)); !errors.Is(err, authkit.ErrInvalidConfig) {
		t.Errorf("WithMaxTokenLifetime(0): %v, want ErrInvalidConfig", err)
	}
}
