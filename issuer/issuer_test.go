package issuer_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/eventlog"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

var base = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fixture struct {
	store *memory.Store
	clock *clock
	iss   *issuer.Issuer
	ver   *verifier.Verifier
}

func newFixture(t testing.TB, issOpts ...authkit.Option) *fixture {
	t.Helper()
	f := &fixture{store: memory.New()}
	f.iss, f.ver, f.clock, _ = fixtureOver(t, f.store, issOpts...)
	return f
}

// fixtureOver builds an issuer (with issOpts too) and a verifier over st —
// a memory store, or a test's wrapper of one — with a fresh EdDSA key and a
// test clock at base, and returns them with the clock and the key.
func fixtureOver(t testing.TB, st authkit.Store, issOpts ...authkit.Option) (*issuer.Issuer, *verifier.Verifier, *clock, *keys.Key) {
	t.Helper()
	k, err := keys.Generate(keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := keys.NewSet(k)
	clk := &clock{t: base}
	common := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(st), authkit.WithClock(clk.Now)}
	iss, err := issuer.New(append(common, issOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := verifier.New(common...)
	if err != nil {
		t.Fatal(err)
	}
	return iss, ver, clk, k
}

func TestNewValidates(t *testing.T) {
	hs, _ := keys.Generate(keys.HS256)
	pubOnly, _ := keys.Generate(keys.ES256)
	vset, _ := keys.NewVerificationSet(pubOnly.Public())
	set, _ := keys.NewSet(hs)
	for name, opts := range map[string][]authkit.Option{
		"no keys":                 nil,
		"no signing key":          {authkit.WithKeys(vset)},
		"verifier-only option":    {authkit.WithKeys(set), authkit.WithJWKSURL("https://example.com/jwks")},
		"access ttl zero":         {authkit.WithKeys(set), authkit.WithAccessTTL(0)},
		"access longer than idle": {authkit.WithKeys(set), authkit.WithAccessTTL(2 * time.Hour), authkit.WithRefreshTTL(time.Hour)},
		"session shorter":         {authkit.WithKeys(set), authkit.WithSessionLifetime(time.Hour), authkit.WithRefreshTTL(2 * time.Hour)},
		"grace too long":          {authkit.WithKeys(set), authkit.WithReuseGrace(time.Hour)},
		"negative limit":          {authkit.WithKeys(set), authkit.WithAPITokenLimit(-1)},
		"session limit too high":  {authkit.WithKeys(set), authkit.WithSessionLimit(10001)},
		"zero logger":             {authkit.WithKeys(set), authkit.WithLogger(new(slog.Logger))},
	} {
		if _, err := issuer.New(opts...); !errors.Is(err, authkit.ErrInvalidConfig) {
			t.Errorf("%s: issuer.New = %v, want ErrInvalidConfig", name, err)
		}
	}
	// A short HMAC secret never makes it into a key.
	if _, err := keys.NewHMAC(keys.HS256, make([]byte, 31), "k"); !errors.Is(err, keys.ErrWeakKey) {
		t.Errorf("31-byte HS256 secret: %v, want keys.ErrWeakKey", err)
	}
}

func TestPairJSON(t *testing.T) {
	f := newFixture(t)
	pair, err := f.iss.IssuePair(context.Background(), "alice", issuer.WithScopes("read", "write", "read"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(pair)
	var m map[string]any
	json.Unmarshal(b, &m)
	if len(m) != 5 || m["token_type"] != "Bearer" || m["expires_in"] != float64(300) || m["scope"] != "read write" ||
		m["access_token"] != pair.AccessToken || m["refresh_token"] != pair.RefreshToken {
		t.Fatalf("RFC 6749 §5.1 response: %s", b)
	}
	if !strings.HasPrefix(pair.RefreshToken, "akrt_") {
		t.Errorf("refresh token lacks its prefix")
	}
	// The header and claims follow RFC 9068.
	parts := strings.Split(pair.AccessToken, ".")
	h, _ := base64.RawURLEncoding.DecodeString(parts[0])
	c, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var hm, cm map[string]any
	json.Unmarshal(h, &hm)
	json.Unmarshal(c, &cm)
	if hm["typ"] != "at+jwt" || hm["alg"] != "EdDSA" || hm["kid"] == "" {
		t.Errorf("header %s", h)
	}
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "sid"} {
		if _, ok := cm[k]; !ok {
			t.Errorf("claims lack %q: %s", k, c)
		}
	}
}

func TestStatelessAccessToken(t *testing.T) {
	k, _ := keys.Generate(keys.HS256)
	set, _ := keys.NewSet(k)
	iss, err := issuer.New(authkit.WithKeys(set))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.IssueAccessToken(context.Background(), "alice", issuer.WithScopes("read"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "" || tok.AccessToken == "" {
		t.Fatalf("stateless pair %+v", tok)
	}
	if _, err := iss.IssuePair(context.Background(), "alice"); !errors.Is(err, authkit.ErrInvalidConfig) {
		t.Fatalf("IssuePair with no store: %v", err)
	}
	v, _ := verifier.New(authkit.WithKeys(set))
	if p, err := v.Verify(context.Background(), tok.AccessToken); err != nil || !p.HasScope("read") {
		t.Fatalf("verify stateless token: %v", err)
	}
}

func TestClaimsCannotOverrideRegistered(t *testing.T) {
	f := newFixture(t)
	for _, name := range []string{"sub", "SUB", "Exp", "scope", "sid", "client_id", "iss", "aud", "nbf", "iat", "jti", "typ",
		// OIDCProfile reads these as scopes or the client.
		"scp", "SCP", "azp", "AZP", "cid"} {
		if _, err := f.iss.IssuePair(context.Background(), "alice", issuer.WithClaims(map[string]any{name: "x"})); !errors.Is(err, authkit.ErrInvalidRequest) {
			t.Errorf("claim %q: %v, want ErrInvalidRequest", name, err)
		}
	}
	if _, err := f.iss.IssuePair(context.Background(), "alice", issuer.WithClaims(map[string]any{"role": 1, "ROLE": 2})); !errors.Is(err, authkit.ErrInvalidRequest) {
		t.Errorf("case-variant application claims accepted")
	}
	if _, err := f.iss.IssuePair(context.Background(), "alice", issuer.WithClaims(map[string]any{"x": map[string]any{"a": 1, "A": 2}})); !errors.Is(err, authkit.ErrInvalidRequest) {
		t.Errorf("nested case-variant claims accepted")
	}
}

func TestInputBounds(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"empty subject": func() error { _, err := f.iss.IssuePair(ctx, ""); return err },
		"long subject":  func() error { _, err := f.iss.IssuePair(ctx, strings.Repeat("a", 1025)); return err },
		"bad utf8":      func() error { _, err := f.iss.IssuePair(ctx, "a\xff"); return err },
		"control char":  func() error { _, err := f.iss.IssuePair(ctx, "a\nb"); return err },
		"C1 control":    func() error { _, err := f.iss.IssuePair(ctx, "a\u0085b"); return err },
		"CSI":           func() error { _, err := f.iss.IssuePair(ctx, "a\u009b31mb"); return err },
		"bidi override": func() error { _, err := f.iss.IssuePair(ctx, "a\u202eb"); return err },
		"C1 api name":   func() error { _, _, err := f.iss.CreateAPIToken(ctx, "a", "ci\u0085"); return err },
		"bidi api name": func() error { _, _, err := f.iss.CreateAPIToken(ctx, "a", "ci\u2066x"); return err },
		"C1 device":     func() error { _, err := f.iss.IssuePair(ctx, "a", issuer.WithDeviceName("ph\u009bone")); return err },
		"bad scope":     func() error { _, err := f.iss.IssuePair(ctx, "a", issuer.WithScopes("has space")); return err },
		"quote scope":   func() error { _, err := f.iss.IssuePair(ctx, "a", issuer.WithScopes(`x"`)); return err },
		"bad ip":        func() error { _, err := f.iss.IssuePair(ctx, "a", issuer.WithClientIP("nope")); return err },
		"long name": func() error {
			_, err := f.iss.IssuePair(ctx, "a", issuer.WithDeviceName(strings.Repeat("n", 257)))
			return err
		},
		"empty api name": func() error { _, _, err := f.iss.CreateAPIToken(ctx, "a", ""); return err },
		"short api ttl": func() error {
			_, _, err := f.iss.CreateAPIToken(ctx, "a", "n", issuer.WithTokenTTL(time.Second))
			return err
		},
		"huge claims": func() error {
			_, err := f.iss.IssuePair(ctx, "a", issuer.WithClaims(map[string]any{"x": strings.Repeat("y", 5000)}))
			return err
		},
		"unmarshalable": func() error {
			_, err := f.iss.IssuePair(ctx, "a", issuer.WithClaims(map[string]any{"f": func() {}}))
			return err
		},
		"too many scopes": func() error {
			_, err := f.iss.IssuePair(ctx, "a", issuer.WithScopes(make([]string, 65)...))
			return err
		},
	} {
		if err := call(); !errors.Is(err, authkit.ErrInvalidRequest) {
			t.Errorf("%s: %v, want ErrInvalidRequest", name, err)
		}
	}
	// Unicode subjects are fine.
	if _, err := f.iss.IssuePair(ctx, "ユーザー🙂"); err != nil {
		t.Errorf("unicode subject: %v", err)
	}
}

func TestRefreshRotation(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	first, err := f.iss.IssuePair(ctx, "alice", issuer.WithScopes("read"), issuer.WithClaims(map[string]any{"org": "acme"}),
		issuer.WithUserAgent("curl/8"), issuer.WithClientIP("::ffff:192.0.2.1"), issuer.WithDeviceName("laptop"))
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Minute)
	second, err := f.iss.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if second.RefreshToken == first.RefreshToken || second.SessionID != first.SessionID || second.Scope != "read" {
		t.Fatalf("rotation: %+v", second)
	}
	p, err := f.ver.Verify(ctx, second.AccessToken)
	if err != nil || p.Claims["org"] != "acme" || p.SessionID != first.SessionID || !p.HasScope("read") {
		t.Fatalf("refreshed access token: %+v %v", p, err)
	}
	ss, err := f.iss.Sessions(ctx, "alice")
	if err != nil || len(ss) != 1 {
		t.Fatalf("sessions: %v %v", ss, err)
	}
	if s := ss[0]; s.UserAgent != "curl/8" || s.IP != "192.0.2.1" || s.Name != "laptop" || !s.LastUsedAt.Equal(base.Add(time.Minute)) {
		t.Errorf("session metadata %+v", s)
	}

	// Reuse of the rotated token: the whole family dies.
	f.clock.Add(time.Minute)
	_, err = f.iss.Refresh(ctx, first.RefreshToken)
	re, ok := errors.AsType[*authkit.ReuseError](err)
	if !ok || !errors.Is(err, authkit.ErrTokenReused) || re.SessionID != first.SessionID || re.Successor != nil {
		t.Fatalf("reuse: %v", err)
	}
	if strings.Contains(err.Error(), first.RefreshToken) {
		t.Error("error contains the token")
	}
	if _, err := f.iss.Refresh(ctx, second.RefreshToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Fatalf("successor after reuse: %v, want ErrTokenRevoked", err)
	}
	if _, err := f.ver.Verify(ctx, second.AccessToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Fatalf("access token of the revoked family: %v", err)
	}
	if ss, _ := f.iss.Sessions(ctx, "alice"); len(ss) != 0 {
		t.Errorf("revoked session still listed")
	}
}

func TestRefreshLifetimes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, authkit.WithRefreshTTL(time.Hour), authkit.WithSessionLifetime(3*time.Hour))
	p, _ := f.iss.IssuePair(ctx, "alice")
	f.clock.Add(time.Hour)
	if _, err := f.iss.Refresh(ctx, p.RefreshToken); !errors.Is(err, authkit.ErrTokenExpired) {
		t.Fatalf("idle TTL passed: %v", err)
	}
	p, _ = f.iss.IssuePair(ctx, "alice")
	var err error
	for range 5 { // refreshing every 50 minutes keeps it alive until the absolute end
		f.clock.Add(50 * time.Minute)
		if p, err = f.iss.Refresh(ctx, p.RefreshToken); err != nil {
			if !errors.Is(err, authkit.ErrTokenExpired) {
				t.Fatalf("refresh: %v", err)
			}
			break
		}
	}
	if err == nil {
		t.Fatal("session outlived its absolute lifetime")
	}
	if _, err := f.iss.Refresh(ctx, "akrt_garbage"); !errors.Is(err, authkit.ErrInvalidToken) {
		t.Fatalf("garbage: %v", err)
	}
}

func TestConcurrentRefreshOneWinner(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	p, _ := f.iss.IssuePair(ctx, "alice")
	const n = 64
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Go(func() { _, results[i] = f.iss.Refresh(ctx, p.RefreshToken) })
	}
	wg.Wait()
	// Exactly one wins. The first loser to arrive is reuse and revokes the
	// session; losers arriving after that find it revoked.
	wins, reuses, revoked := 0, 0, 0
	for _, err := range results {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, authkit.ErrTokenReused):
			reuses++
		case errors.Is(err, authkit.ErrTokenRevoked):
			revoked++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if wins != 1 || reuses < 1 || wins+reuses+revoked != n {
		t.Fatalf("%d wins, %d reuses, %d revoked; want exactly 1 win and the rest refused", wins, reuses, revoked)
	}
}

func TestReuseGrace(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, authkit.WithReuseGrace(10*time.Second))
	p, _ := f.iss.IssuePair(ctx, "alice")
	const n = 16
	var wg sync.WaitGroup
	pairs := make([]authkit.TokenPair, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { pairs[i], errs[i] = f.iss.Refresh(ctx, p.RefreshToken) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("refresh %d inside the grace window: %v", i, errs[i])
		}
		if pairs[i].RefreshToken != pairs[0].RefreshToken {
			t.Fatal("the family forked: two different successors")
		}
	}
	jtis := map[string]bool{}
	for _, q := range pairs {
		jtis[q.TokenID] = true
	}
	if len(jtis) != n {
		t.Errorf("%d distinct access tokens for %d refreshes", len(jtis), n)
	}
	// The successor works; after the window, the old token is reuse.
	f.clock.Add(11 * time.Second)
	if _, err := f.iss.Refresh(ctx, p.RefreshToken); !errors.Is(err, authkit.ErrTokenReused) {
		t.Fatalf("outside the window: %v", err)
	}
	if _, err := f.iss.Refresh(ctx, pairs[0].RefreshToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Fatalf("after reuse the family is revoked: %v", err)
	}

	// Inside the window, but the successor has itself been rotated: reuse.
	p, _ = f.iss.IssuePair(ctx, "alice")
	s1, _ := f.iss.Refresh(ctx, p.RefreshToken)
	if _, err := f.iss.Refresh(ctx, s1.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if _, err := f.iss.Refresh(ctx, p.RefreshToken); !errors.Is(err, authkit.ErrTokenReused) {
		t.Fatalf("grandparent inside the window: %v", err)
	}
}

func TestRevokeKinds(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	p, _ := f.iss.IssuePair(ctx, "alice")
	// Revoking the refresh token ends the session and its access tokens.
	if err := f.iss.Revoke(ctx, p.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ver.Verify(ctx, p.AccessToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Fatalf("access token after its refresh token was revoked: %v", err)
	}
	if _, err := f.iss.Refresh(ctx, p.RefreshToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Fatalf("refresh after revoke: %v", err)
	}
	for _, bad := range []string{"", "x", "akrt_" + strings.Repeat("0", 49), "ak_" + strings.Repeat("0", 49), "a.b.c"} {
		if err := f.iss.Revoke(ctx, bad); !errors.Is(err, authkit.ErrInvalidToken) {
			t.Errorf("Revoke(%q) = %v, want ErrInvalidToken", bad, err)
		}
	}
	// A token signed by someone else's key cannot be used to revoke a jti.
	other := newFixture(t)
	q, _ := other.iss.IssueAccessToken(ctx, "alice")
	if err := f.iss.Revoke(ctx, q.AccessToken); !errors.Is(err, authkit.ErrInvalidToken) {
		t.Errorf("foreign token: %v", err)
	}
	// Revoking an expired access token is a no-op, not an error.
	r, _ := f.iss.IssueAccessToken(ctx, "alice")
	f.clock.Add(time.Hour)
	if err := f.iss.Revoke(ctx, r.AccessToken); err != nil {
		t.Errorf("expired token: %v", err)
	}
	// Own-session revocation checks the owner.
	s, _ := f.iss.IssuePair(ctx, "alice")
	if err := f.iss.RevokeOwnSession(ctx, "bob", s.SessionID); !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("bob ending alice's session: %v", err)
	}
	if err := f.iss.RevokeOwnSession(ctx, "alice", s.SessionID); err != nil {
		t.Errorf("alice ending her session: %v", err)
	}
	if err := f.iss.RevokeSession(ctx, "no-such-session"); !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("unknown session: %v", err)
	}
}

func TestAPITokenLimitAndListing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, authkit.WithAPITokenLimit(2))
	s1, r1, err := f.iss.CreateAPIToken(ctx, "alice", "one", issuer.WithTokenScopes("read"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s1, "ak_") || r1.Name != "one" || r1.Hash != (authkit.TokenHash{}) {
		t.Errorf("created %q %+v", s1[:3], r1)
	}
	f.clock.Add(time.Second)
	_, r2, _ := f.iss.CreateAPIToken(ctx, "alice", "two")
	if _, _, err := f.iss.CreateAPIToken(ctx, "alice", "three"); !errors.Is(err, authkit.ErrLimitExceeded) {
		t.Fatalf("third token over a limit of 2: %v", err)
	}
	if _, _, err := f.iss.CreateAPIToken(ctx, "bob", "one"); err != nil {
		t.Fatalf("bob has his own limit: %v", err)
	}
	list, _ := f.iss.APITokens(ctx, "alice")
	if len(list) != 2 || list[0].ID != r2.ID || list[1].ID != r1.ID {
		t.Fatalf("listing (newest first): %+v", list)
	}
	f.iss.RevokeAPIToken(ctx, "alice", r1.ID)
	if _, _, err := f.iss.CreateAPIToken(ctx, "alice", "three"); err != nil {
		t.Fatalf("after revoking one, a new one fits: %v", err)
	}
}

// With WithSessionLimit, a login past the cap ends the subject's least
// recently used session (its refresh token and its access tokens), and
// only that subject's; a store that cannot list refuses the login and
// creates nothing. Found by review: one user could pile up sessions
// without bound, and GET /sessions returned them all.
func TestSessionLimit(t *testing.T) {
	ctx := context.Background()
	st := &listFails{Store: memory.New()}
	f := &fixture{}
	f.iss, f.ver, f.clock, _ = fixtureOver(t, st, authkit.WithSessionLimit(3))
	var pairs []authkit.TokenPair
	for range 3 {
		p, err := f.iss.IssuePair(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, p)
		f.clock.Add(time.Second)
	}
	bob, err := f.iss.IssuePair(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	// The first session is used again: the second is now the least
	// recently used.
	if pairs[0], err = f.iss.Refresh(ctx, pairs[0].RefreshToken); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Second)
	fourth, err := f.iss.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatalf("a login at the cap: %v", err)
	}
	if _, err := f.iss.Refresh(ctx, pairs[1].RefreshToken); err == nil {
		t.Error("the least recently used session still refreshes after a login past the cap")
	}
	if _, err := f.ver.Verify(ctx, pairs[1].AccessToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Errorf("the ended session's access token: %v, want ErrTokenRevoked", err)
	}
	for _, p := range []authkit.TokenPair{pairs[0], pairs[2], fourth, bob} {
		if _, err := f.ver.Verify(ctx, p.AccessToken); err != nil {
			t.Errorf("a session the cap kept: %v", err)
		}
	}
	if list, err := f.iss.Sessions(ctx, "alice"); err != nil || len(list) != 3 {
		t.Errorf("alice's sessions after a login past the cap: %d (%v), want 3", len(list), err)
	}
	st.fail.Store(true)
	if _, err := f.iss.IssuePair(ctx, "bob"); !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Errorf("a login whose store cannot list sessions: %v, want ErrStoreUnavailable", err)
	}
	st.fail.Store(false)
	if list, _ := f.iss.Sessions(ctx, "bob"); len(list) != 1 {
		t.Errorf("bob has %d sessions after a refused login, want 1", len(list))
	}
}

// A login at the cap whose session cannot be created ends none of the
// user's sessions; one whose eviction fails still returns its tokens, and
// the next login ends the sessions left over. Found by review: the
// least recently used session was ended before the new one was created,
// so a failed create cost the user a live session for nothing.
func TestSessionLimitFailedLogin(t *testing.T) {
	ctx := context.Background()
	st := &createFails{Store: memory.New()}
	iss, ver, clk, _ := fixtureOver(t, st, authkit.WithSessionLimit(2))
	var pairs []authkit.TokenPair
	for range 2 {
		p, err := iss.IssuePair(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, p)
		clk.Add(time.Second)
	}
	st.failCreate.Store(true)
	if _, err := iss.IssuePair(ctx, "alice"); !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("a login whose session cannot be created: %v, want ErrStoreUnavailable", err)
	}
	st.failCreate.Store(false)
	for n, p := range pairs {
		if _, err := ver.Verify(ctx, p.AccessToken); err != nil {
			t.Errorf("session %d after a failed login: %v", n, err)
		}
	}
	if list, err := iss.Sessions(ctx, "alice"); err != nil || len(list) != 2 {
		t.Errorf("alice's sessions after a failed login: %d (%v), want 2", len(list), err)
	}

	// The revocation store is down: no login can end a session, so every
	// login is refused, and none leaves its session behind (found by
	// review: logging the failure and going on let sessions pile up past
	// the cap for as long as the outage lasted).
	st.failRevoke.Store(true)
	for range 20 {
		if _, err := iss.IssuePair(ctx, "alice"); !errors.Is(err, authkit.ErrStoreUnavailable) {
			t.Fatalf("a login that cannot end a session: %v, want ErrStoreUnavailable", err)
		}
	}
	st.failRevoke.Store(false)
	if list, err := iss.Sessions(ctx, "alice"); err != nil || len(list) != 2 {
		t.Errorf("alice's sessions after 20 logins that could not end one: %d (%v), want 2", len(list), err)
	}
	for n, p := range pairs {
		if _, err := ver.Verify(ctx, p.AccessToken); err != nil {
			t.Errorf("session %d after refused logins: %v", n, err)
		}
	}
	clk.Add(time.Second)
	third, err := iss.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	list, err := iss.Sessions(ctx, "alice")
	if err != nil || len(list) != 2 {
		t.Fatalf("alice's sessions once the store is back: %d (%v), want 2", len(list), err)
	}
	if _, err := iss.Refresh(ctx, pairs[0].RefreshToken); err == nil {
		t.Error("the least recently used session still refreshes after a login past the cap")
	}
	for _, p := range []authkit.TokenPair{pairs[1], third} {
		if _, err := ver.Verify(ctx, p.AccessToken); err != nil {
			t.Errorf("a session the cap kept: %v", err)
		}
	}

	// What WithSessionCreated refuses ends the new session and no other.
	clk.Add(time.Second)
	refused := errors.New("not recorded")
	var created string
	_, err = iss.IssuePair(ctx, "alice", issuer.WithSessionCreated(func(_ context.Context, id string) error {
		created = id
		return refused
	}))
	if !errors.Is(err, refused) {
		t.Fatalf("a login whose WithSessionCreated fails: %v, want its error", err)
	}
	for _, p := range []authkit.TokenPair{pairs[1], third} {
		if _, err := ver.Verify(ctx, p.AccessToken); err != nil {
			t.Errorf("a session after a login WithSessionCreated refused: %v", err)
		}
	}
	if list, _ := iss.Sessions(ctx, "alice"); len(list) != 2 || slices.ContainsFunc(list, func(s authkit.Session) bool { return s.ID == created }) {
		t.Errorf("alice's sessions after a login WithSessionCreated refused: %d, want 2 without %s", len(list), created)
	}
}

// createFails is a store whose CreateSession fails when failCreate is set
// and whose RevokeSessionTokens (its revocation store's part) fails when
// failRevoke is set.
type createFails struct {
	authkit.Store
	failCreate, failRevoke atomic.Bool
}

func (s *createFails) CreateSession(ctx context.Context, sess authkit.Session, first authkit.RefreshRecord) error {
	if s.failCreate.Load() {
		return fmt.Errorf("create: %w", authkit.ErrStoreUnavailable)
	}
	return s.Store.CreateSession(ctx, sess, first)
}

func (s *createFails) RevokeSessionTokens(ctx context.Context, subject, id string, until time.Time) error {
	if s.failRevoke.Load() {
		return fmt.Errorf("revoke: %w", authkit.ErrStoreUnavailable)
	}
	return s.Store.RevokeSessionTokens(ctx, subject, id, until)
}

// listFails is a store whose ListSessions fails when fail is set.
type listFails struct {
	authkit.Store
	fail atomic.Bool
}

func (s *listFails) ListSessions(ctx context.Context, subject string, now time.Time) ([]authkit.Session, error) {
	if s.fail.Load() {
		return nil, fmt.Errorf("list: %w", authkit.ErrStoreUnavailable)
	}
	return s.Store.ListSessions(ctx, subject, now)
}

// recordingStore wraps a store and remembers everything it was given, to
// prove that no token secret ever reaches a backend.
type recordingStore struct {
	authkit.Store
	mu   sync.Mutex
	seen strings.Builder
}

func (r *recordingStore) note(v ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(&r.seen, "%+v %s\n", v, fmt.Sprint(v...))
}

func (r *recordingStore) CreateSession(ctx context.Context, s authkit.Session, first authkit.RefreshRecord) error {
	r.note(s, first, string(s.Claims))
	return r.Store.CreateSession(ctx, s, first)
}

func (r *recordingStore) RotateRefresh(ctx context.Context, rot authkit.Rotation) (authkit.Session, error) {
	r.note(rot, string(rot.Successor))
	return r.Store.RotateRefresh(ctx, rot)
}

func (r *recordingStore) CreateAPIToken(ctx context.Context, t authkit.APIToken, limit int, now time.Time) error {
	r.note(t)
	return r.Store.CreateAPIToken(ctx, t, limit, now)
}

func TestNoSecretReachesTheStore(t *testing.T) {
	ctx := context.Background()
	k, _ := keys.Generate(keys.ES256)
	set, _ := keys.NewSet(k)
	rec := &recordingStore{Store: memory.New()}
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(rec), authkit.WithReuseGrace(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	p, _ := iss.IssuePair(ctx, "alice")
	q, _ := iss.Refresh(ctx, p.RefreshToken)
	api, _, _ := iss.CreateAPIToken(ctx, "alice", "n")
	// The random bodies of the opaque tokens, and the signatures of the
	// access tokens.
	for _, s := range []string{p.RefreshToken, q.RefreshToken, api} {
		secrets = append(secrets, s[strings.Index(s, "_")+1:])
	}
	for _, s := range []string{p.AccessToken, q.AccessToken} {
		secrets = append(secrets, s[strings.LastIndex(s, ".")+1:])
	}
	all := rec.seen.String()
	if len(all) < 100 {
		t.Fatal("the recording store saw nothing; the test is broken")
	}
	for _, s := range secrets {
		if len(s) < 20 {
			t.Fatalf("secret part too short to search for: %d", len(s))
		}
		if strings.Contains(all, s[:20]) {
			t.Errorf("a token secret reached the store")
		}
	}
}

// A rotated token presented again with WithRequestedScopes is reuse like
// any other: the narrowing's pre-check (which finds the token not current)
// must not refuse it before the rotation detects the reuse, whatever the
// scopes asked for, or a thief who rotated first would keep the session.
func TestRefreshNarrowingDetectsReuse(t *testing.T) {
	ctx := context.Background()
	for _, asked := range [][]string{{"read"}, {"admin"}, {"read", "write"}} {
		f := newFixture(t)
		p, _ := f.iss.IssuePair(ctx, "alice", issuer.WithScopes("read", "write"))
		thief, err := f.iss.Refresh(ctx, p.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.iss.Refresh(ctx, p.RefreshToken, issuer.WithRequestedScopes(asked...))
		if _, ok := errors.AsType[*authkit.ReuseError](err); !ok {
			t.Errorf("rotated token with requested scopes %q: %v, want a *ReuseError", asked, err)
		}
		if _, err := f.iss.Refresh(ctx, thief.RefreshToken); err == nil {
			t.Errorf("requested scopes %q: the successor still refreshes after the reuse", asked)
		}
		if _, err := f.ver.Verify(ctx, thief.AccessToken); !errors.Is(err, authkit.ErrTokenRevoked) {
			t.Errorf("requested scopes %q: the successor's access token after the reuse: %v, want ErrTokenRevoked", asked, err)
		}
	}
}

// Inside the reuse grace window a repeat that narrows gets the shared
// successor with the scopes it asked for; one that asks for a scope the
// session was not granted is refused as a first presentation would be
// (ErrInsufficientScope), handing out nothing, widening nothing and
// revoking nothing.
func TestRefreshNarrowingInGrace(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, authkit.WithReuseGrace(10*time.Second))
	p, _ := f.iss.IssuePair(ctx, "alice", issuer.WithScopes("read", "write"))
	q, err := f.iss.Refresh(ctx, p.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.iss.Refresh(ctx, p.RefreshToken, issuer.WithRequestedScopes("read"))
	if err != nil || again.RefreshToken != q.RefreshToken || again.Scope != "read" {
		t.Fatalf("narrowing repeat in the grace window: %+v %v; want the shared successor with scope read", again, err)
	}
	wide, err := f.iss.Refresh(ctx, p.RefreshToken, issuer.WithRequestedScopes("read", "admin"))
	if !errors.Is(err, authkit.ErrInsufficientScope) || wide.AccessToken != "" || wide.RefreshToken != "" {
		t.Fatalf("widening repeat in the grace window: scope %q, %v; want ErrInsufficientScope and nothing issued", wide.Scope, err)
	}
	if r, err := f.iss.Refresh(ctx, q.RefreshToken); err != nil || r.Scope != "read write" {
		t.Fatalf("the successor after a refused widening repeat: %+v %v", r, err)
	}
}

func TestRefreshNarrowing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	p, _ := f.iss.IssuePair(ctx, "alice", issuer.WithScopes("read", "write"))
	if _, err := f.iss.Refresh(ctx, p.RefreshToken, issuer.WithRequestedScopes("read", "admin")); !errors.Is(err, authkit.ErrInsufficientScope) {
		t.Fatalf("widening on refresh: %v, want ErrInsufficientScope", err)
	}
	// The failed attempt rotated nothing: the token still works.
	q, err := f.iss.Refresh(ctx, p.RefreshToken, issuer.WithRequestedScopes("read"))
	if err != nil || q.Scope != "read" {
		t.Fatalf("narrowed refresh: %+v %v", q, err)
	}
	// The session keeps both scopes.
	r, err := f.iss.Refresh(ctx, q.RefreshToken)
	if err != nil || r.Scope != "read write" {
		t.Fatalf("refresh after narrowing: %+v %v", r, err)
	}
	if _, err := f.iss.RefreshSession(ctx, q.RefreshToken); !errors.Is(err, authkit.ErrInvalidToken) {
		t.Fatalf("RefreshSession of a rotated token: %v", err)
	}
	s, err := f.iss.RefreshSession(ctx, r.RefreshToken)
	if err != nil || s.ID != p.SessionID {
		t.Fatalf("RefreshSession: %+v %v", s, err)
	}
	jwks, err := f.iss.JWKS()
	if err != nil || !strings.Contains(string(jwks), `"keys"`) {
		t.Fatalf("JWKS: %s %v", jwks, err)
	}
}

// raceRevoke runs during before RevokeSubjectSessions, as a refresh on
// another server would that rotated just before the logout ended its
// session.
type raceRevoke struct {
	*memory.Store
	during func()
}

func (r *raceRevoke) RevokeSubjectSessions(ctx context.Context, subject string, now time.Time) ([]string, error) {
	if r.during != nil {
		r.during()
	}
	return r.Store.RevokeSubjectSessions(ctx, subject, now)
}

// A refresh that begins after logout-all's cutoff and rotates before the
// session is ended mints an access token issued after the cutoff: it must
// not outlive RevokeSubject.
func TestRevokeSubjectRacingRefresh(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	race := &raceRevoke{Store: st}
	iss, ver, clk, _ := fixtureOver(t, st, authkit.WithRefreshStore(race))
	p, err := iss.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	var raced authkit.TokenPair
	race.during = func() {
		race.during = nil
		clk.Add(time.Second) // the refresh begins after the cutoff
		if raced, err = iss.Refresh(ctx, p.RefreshToken); err != nil {
			t.Errorf("the racing refresh: %v", err)
		}
		clk.Add(time.Second)
	}
	if err := iss.RevokeSubject(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if raced.AccessToken == "" {
		t.Fatal("the refresh did not race")
	}
	if _, err := ver.Verify(ctx, raced.AccessToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Errorf("an access token minted by a refresh racing logout-all: %v, want ErrTokenRevoked", err)
	}
	if _, err := iss.Refresh(ctx, raced.RefreshToken); err == nil {
		t.Error("the raced session still refreshes after logout-all")
	}
	// A login after logout-all is unaffected.
	clk.Add(time.Second)
	q, err := iss.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ver.Verify(ctx, q.AccessToken); err != nil {
		t.Errorf("a login after logout-all: %v", err)
	}
}

// WithCreator: a token created with a JWT that was revoked meanwhile (here
// by a logout-all made after the JWT was verified, as a racing request's
// would be) is revoked again and the creation fails with ErrTokenRevoked;
// a live creator creates; a creator of another subject is refused; a
// Basic or API-token creator is not checked.
func TestCreateAPITokenWithCreator(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	pair, err := f.iss.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.ver.Verify(ctx, pair.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.iss.CreateAPIToken(ctx, "alice", "live", issuer.WithCreator(p)); err != nil {
		t.Fatalf("a live creator: %v", err)
	}
	if _, _, err := f.iss.CreateAPIToken(ctx, "bob", "other", issuer.WithCreator(p)); !errors.Is(err, authkit.ErrInvalidRequest) {
		t.Errorf("a creator of another subject: %v, want ErrInvalidRequest", err)
	}
	if _, _, err := f.iss.CreateAPIToken(ctx, "alice", "nil", issuer.WithCreator(nil)); !errors.Is(err, authkit.ErrInvalidRequest) {
		t.Errorf("WithCreator(nil): %v, want ErrInvalidRequest", err)
	}
	f.clock.Add(time.Second)
	if err := f.iss.RevokeSubject(ctx, "alice", issuer.WithAPITokens()); err != nil {
		t.Fatal(err)
	}
	secret, _, err := f.iss.CreateAPIToken(ctx, "alice", "late", issuer.WithCreator(p))
	if !errors.Is(err, authkit.ErrTokenRevoked) || secret != "" {
		t.Errorf("a creator revoked meanwhile: %q %v, want ErrTokenRevoked and no token", secret, err)
	}
	if ts, err := f.iss.APITokens(ctx, "alice"); err != nil || len(ts) != 0 {
		t.Errorf("alice's API tokens after the refused creation: %d %v, want none", len(ts), err)
	}
	basic := &authkit.Principal{Subject: "alice", Method: authkit.MethodBasic}
	if _, _, err := f.iss.CreateAPIToken(ctx, "alice", "basic", issuer.WithCreator(basic)); err != nil {
		t.Errorf("a Basic creator: %v", err)
	}
}

// WithCreator without a revocation store: the creator's session is read
// in the refresh store, so that an access token whose session ended (the
// session deleted, a logout-all) cannot mint an API token that outlives
// it (found by review: it minted a never-expiring one after logout-all
// with WithAPITokens).
func TestCreateAPITokenWithCreatorNoRevocationStore(t *testing.T) {
	ctx := context.Background()
	m := memory.New()
	k, err := keys.Generate(keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := keys.NewSet(k)
	clk := &clock{t: base}
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithRefreshStore(m), authkit.WithAPITokenStore(m), authkit.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	ver, err := verifier.New(authkit.WithKeys(set), authkit.WithAPITokenStore(m), authkit.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	creator := func() *authkit.Principal {
		t.Helper()
		pair, err := iss.IssuePair(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		p, err := ver.Verify(ctx, pair.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	live, ended := creator(), creator()
	if _, _, err := iss.CreateAPIToken(ctx, "alice", "live", issuer.WithCreator(live)); err != nil {
		t.Fatalf("a creator whose session is live: %v", err)
	}
	if err := iss.RevokeOwnSession(ctx, "alice", ended.SessionID); err != nil {
		t.Fatal(err)
	}
	if secret, _, err := iss.CreateAPIToken(ctx, "alice", "after end", issuer.WithCreator(ended)); !errors.Is(err, authkit.ErrTokenRevoked) || secret != "" {
		t.Errorf("a creator whose session was ended: %q %v, want ErrTokenRevoked", secret, err)
	}
	clk.Add(time.Second)
	if err := iss.RevokeSubject(ctx, "alice", issuer.WithAPITokens()); err != nil {
		t.Fatal(err)
	}
	if secret, _, err := iss.CreateAPIToken(ctx, "alice", "after logout-all", issuer.WithCreator(live)); !errors.Is(err, authkit.ErrTokenRevoked) || secret != "" {
		t.Errorf("a creator after logout-all: %q %v, want ErrTokenRevoked", secret, err)
	}
	if ts, err := iss.APITokens(ctx, "alice"); err != nil || len(ts) != 0 {
		t.Errorf("alice's API tokens after the refused creations: %d %v, want none", len(ts), err)
	}
}

// A token without a kid, which the verifier accepts when the issuer has
// one key of the token's alg (golang-jwt code signing with the issuer's
// key, say), can be revoked and its client read: Revoke must not answer
// "unknown token" (200 at /revoke) for a token that keeps working.
func TestRevokeTokenWithoutKid(t *testing.T) {
	ctx := context.Background()
	iss, ver, _, k := fixtureOver(t, memory.New())
	enc := base64.RawURLEncoding
	claims, _ := json.Marshal(map[string]any{"iss": authkit.DefaultIssuer, "aud": authkit.DefaultIssuer, "sub": "alice",
		"exp": base.Add(5 * time.Minute).Unix(), "iat": base.Unix(), "jti": "kidless-1", "client_id": "svc"})
	input := enc.EncodeToString([]byte(`{"alg":"EdDSA","typ":"at+jwt"}`)) + "." + enc.EncodeToString(claims)
	sig, err := k.Sign([]byte(input))
	if err != nil {
		t.Fatal(err)
	}
	tok := input + "." + enc.EncodeToString(sig)
	if _, err := ver.Verify(ctx, tok); err != nil {
		t.Fatalf("the verifier refuses the kid-less token: %v", err)
	}
	if c, err := iss.TokenClientID(ctx, tok); err != nil || c != "svc" {
		t.Errorf("TokenClientID of a kid-less token: %q %v, want svc", c, err)
	}
	if err := iss.Revoke(ctx, tok); err != nil {
		t.Fatalf("Revoke of a kid-less token: %v", err)
	}
	if _, err := ver.Verify(ctx, tok); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Errorf("the kid-less token after Revoke: %v, want ErrTokenRevoked", err)
	}
}

// overlapStore lets a test interleave two RevokeSubject calls and a
// refresh: before each RevokeSubjectSessions it runs rss(n) (n counts the
// calls), and SetCutoff call n fails with cutoffErr(n) when that is set.
type overlapStore struct {
	*memory.Store
	mu        sync.Mutex
	rssCalls  int
	cutCalls  int
	rss       func(n int)
	cutoffErr func(n int) error
}

func (s *overlapStore) RevokeSubjectSessions(ctx context.Context, subject string, now time.Time) ([]string, error) {
	s.mu.Lock()
	s.rssCalls++
	n := s.rssCalls
	s.mu.Unlock()
	s.rss(n)
	return s.Store.RevokeSubjectSessions(ctx, subject, now)
}

func (s *overlapStore) SetCutoff(ctx context.Context, subject string, cutoff, until time.Time) error {
	s.mu.Lock()
	s.cutCalls++
	n := s.cutCalls
	s.mu.Unlock()
	if err := s.cutoffErr(n); err != nil {
		return err
	}
	return s.Store.SetCutoff(ctx, subject, cutoff, until)
}

// Two overlapping logout-alls and a refresh between them: B writes its
// first cutoff and waits; A writes its own, the refresh rotates (minting
// an access token newer than both cutoffs), A ends the session and fails
// to write its second cutoff; then B finds no live session. B must still
// write its second cutoff, or it returns nil while the raced access token
// verifies (found by review).
func TestRevokeSubjectOverlapping(t *testing.T) {
	ctx := context.Background()
	st := &overlapStore{Store: memory.New()}
	iss, ver, clk, _ := fixtureOver(t, st)
	p, err := iss.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	parked, release := make(chan struct{}), make(chan struct{})
	var raced authkit.TokenPair
	st.rss = func(n int) {
		switch n {
		case 1: // B
			close(parked)
			<-release
		case 2: // A: the refresh rotates first
			clk.Add(time.Second)
			if raced, err = iss.Refresh(ctx, p.RefreshToken); err != nil {
				t.Errorf("the racing refresh: %v", err)
			}
			clk.Add(time.Second)
		}
	}
	st.cutoffErr = func(n int) error {
		if n == 3 { // A's second cutoff
			return context.Canceled
		}
		return nil
	}
	bDone := make(chan error, 1)
	go func() { bDone <- iss.RevokeSubject(ctx, "alice") }()
	select {
	case <-parked:
	case err := <-bDone:
		t.Fatalf("B's RevokeSubject returned %v before parking at its cutoff", err)
	case <-time.After(10 * time.Second):
		t.Fatal("B's RevokeSubject did not reach its cutoff within 10s")
	}
	if err := iss.RevokeSubject(ctx, "alice"); err == nil {
		t.Fatal("A's RevokeSubject did not fail at its second cutoff")
	}
	close(release)
	if err := <-bDone; err != nil {
		t.Fatalf("B's RevokeSubject: %v", err)
	}
	if raced.AccessToken == "" {
		t.Fatal("the refresh did not race")
	}
	if _, err := ver.Verify(ctx, raced.AccessToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Errorf("after B's logout-all returned nil, the raced access token: %v, want ErrTokenRevoked", err)
	}
}

// flakyRevocations fails RevokeSessionTokens while fail is set: a
// revocation store on another server than the refresh store, briefly down.
type flakyRevocations struct {
	authkit.RevocationStore
	fail atomic.Bool
}

func (f *flakyRevocations) RevokeSessionTokens(ctx context.Context, subject, sid string, until time.Time) error {
	if f.fail.Load() {
		return fmt.Errorf("flaky: %w", authkit.ErrStoreUnavailable)
	}
	return f.RevocationStore.RevokeSessionTokens(ctx, subject, sid, until)
}

// A detected reuse whose access-token revocation fails still revokes the
// refresh family: the thief's successor stops refreshing at once, whether
// or not the reused token is presented again (found by review: the family
// was left live for a retry that the owner's client, told its refresh
// failed, rarely makes, and the thief refreshed on). An administrator's
// RevokeSession then completes the access tokens' revocation.
func TestReuseRevocationFailureStillEndsTheFamily(t *testing.T) {
	ctx := context.Background()
	k, _ := keys.Generate(keys.HS256)
	set, _ := keys.NewSet(k)
	rev := &flakyRevocations{RevocationStore: memory.New()}
	var log eventlog.Log
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithRefreshStore(memory.New()), authkit.WithRevocationStore(rev), authkit.WithEventHook(log.Hook))
	if err != nil {
		t.Fatal(err)
	}
	ver, err := verifier.New(authkit.WithKeys(set), authkit.WithRevocationStore(rev))
	if err != nil {
		t.Fatal(err)
	}
	stolen, err := iss.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	thief, err := iss.Refresh(ctx, stolen.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	rev.fail.Store(true)
	log.Take()
	if _, err := iss.Refresh(ctx, stolen.RefreshToken); !errors.Is(err, authkit.ErrTokenReused) || !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("the owner's presentation with the revocation store down: %v, want the reuse and the store's failure", err)
	}
	// The audit trail hears that the family ended, and that its access
	// tokens' revocation failed (found by review: no event until a retry).
	revoked := false
	for _, e := range log.Take() {
		if e.Type == authkit.EventRevoked && e.SessionID == thief.SessionID && errors.Is(e.Err, authkit.ErrStoreUnavailable) {
			revoked = true
		}
	}
	if !revoked {
		t.Error("no EventRevoked for the family ended with its access tokens' revocation failed, want one whose Err is the failure")
	}
	if _, err := iss.Refresh(ctx, thief.RefreshToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Errorf("the thief's refresh token after the reuse, the revocation store still down: %v, want ErrTokenRevoked", err)
	}
	rev.fail.Store(false)
	if _, err := ver.Verify(ctx, thief.AccessToken); err != nil {
		t.Fatalf("the thief's access token, its revocation lost: %v, want it valid until it expires or is revoked again", err)
	}
	if err := iss.RevokeSession(ctx, thief.SessionID); err != nil {
		t.Fatalf("an administrator's RevokeSession with the store back: %v", err)
	}
	if _, err := ver.Verify(ctx, thief.AccessToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Errorf("the thief's access token after RevokeSession: %v, want ErrTokenRevoked", err)
	}
}

// legacySubjectStore stores every new session under a subject an earlier
// version accepted and checkSubject now refuses (a bidi override), as a
// session written before the upgrade would be.
type legacySubjectStore struct{ authkit.Store }

const legacySubject = "mallory\u202etxt.exe"

func (s legacySubjectStore) CreateSession(ctx context.Context, se authkit.Session, first authkit.RefreshRecord) error {
	se.Subject, first.Subject = legacySubject, legacySubject
	return s.Store.CreateSession(ctx, se, first)
}

// A subject issued to before the textsafe check can still be listed and
// logged out everywhere: only issuing refuses it (found by review: the
// principal's own subject was refused by RevokeSubject and Sessions, while
// its session went on refreshing).
func TestSubjectIssuedBeforeTheCheckIsRevocable(t *testing.T) {
	ctx := context.Background()
	iss, ver, _, _ := fixtureOver(t, legacySubjectStore{memory.New()})
	pair, err := iss.IssuePair(ctx, "mallory")
	if err != nil {
		t.Fatal(err)
	}
	next, err := iss.Refresh(ctx, pair.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ver.Verify(ctx, next.AccessToken)
	if err != nil || p.Subject != legacySubject {
		t.Fatalf("the refreshed token: %v, subject %q", err, p.Subject)
	}
	if ss, err := iss.Sessions(ctx, p.Subject); err != nil || len(ss) != 1 {
		t.Errorf("Sessions of the subject: %d, %v; want its one session", len(ss), err)
	}
	if err := iss.RevokeSubject(ctx, p.Subject); err != nil {
		t.Fatalf("RevokeSubject of the subject: %v", err)
	}
	if _, err := iss.Refresh(ctx, next.RefreshToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Errorf("a refresh after the logout-all: %v, want ErrTokenRevoked", err)
	}
	if _, err := ver.Verify(ctx, next.AccessToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Errorf("the access token after the logout-all: %v, want ErrTokenRevoked", err)
	}
}

// A User-Agent is recorded as it came but for the characters that could
// rewrite a session listing, which become U+FFFD (found by review: the
// device name refused them, the user agent beside it kept them).
func TestUserAgentRecordedSafe(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.iss.IssuePair(ctx, "alice", issuer.WithUserAgent("Mozilla\u202e/gpj.exe \u009b31m\u2028x")); err != nil {
		t.Fatal(err)
	}
	ss, err := f.iss.Sessions(ctx, "alice")
	if err != nil || len(ss) != 1 {
		t.Fatalf("Sessions: %v, %v", ss, err)
	}
	if want := "Mozilla\ufffd/gpj.exe \ufffd31m\ufffdx"; ss[0].UserAgent != want {
		t.Errorf("UserAgent %q, want %q", ss[0].UserAgent, want)
	}
}

// hangsUp is a store across a network (not in process, so the issuer
// bounds its calls) whose revocation writes land, and then the caller
// hangs up while the reply is on its way: the call reports the
// cancellation although the write landed.
type hangsUp struct {
	authkit.Store
	cancel atomic.Pointer[context.CancelFunc]
}

func (s *hangsUp) hangUp() {
	if c := s.cancel.Swap(nil); c != nil {
		(*c)()
		time.Sleep(50 * time.Millisecond) // the reply, late
	}
}

func (s *hangsUp) SetCutoff(ctx context.Context, subject string, cutoff, until time.Time) error {
	err := s.Store.SetCutoff(context.WithoutCancel(ctx), subject, cutoff, until)
	s.hangUp()
	return err
}

func (s *hangsUp) RevokeSessionTokens(ctx context.Context, subject, sid string, until time.Time) error {
	err := s.Store.RevokeSessionTokens(context.WithoutCancel(ctx), subject, sid, until)
	s.hangUp()
	return err
}

// A logout-all, or the session revocation of reuse detection, whose caller
// hangs up once the first write landed (before its reply came back) still
// ends the sessions. Found by review, twice (a hang-up after the first
// step, then one during its reply): the sessions step never ran or failed
// with "context canceled", every device's refresh token kept working (a
// thief's too), and no browser resends the POST that would have finished
// the job.
func TestRevocationOutlivesItsCaller(t *testing.T) {
	st := &hangsUp{Store: memory.New()}
	iss, ver, clk, _ := fixtureOver(t, st)
	bg := context.Background()

	other, err := iss.IssuePair(bg, "alice")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	st.cancel.Store(&cancel)
	_ = iss.RevokeSubject(ctx, "alice")
	noSessions(t, iss, "alice") // it goes on in the background
	clk.Add(11 * time.Minute)   // past the cutoff's entry
	if _, err := iss.Refresh(bg, other.RefreshToken); err == nil {
		t.Error("a session refreshes after a logout-all whose caller hung up during the cutoff's write")
	}

	// Reuse detection: the thief rotated first; the user's replay hangs up
	// after the session's access tokens were revoked.
	user, err := iss.IssuePair(bg, "bob")
	if err != nil {
		t.Fatal(err)
	}
	thief, err := iss.Refresh(bg, user.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(bg)
	st.cancel.Store(&cancel)
	if _, err := iss.Refresh(ctx, user.RefreshToken); err == nil {
		t.Fatal("a reused refresh token refreshed")
	}
	noSessions(t, iss, "bob")
	clk.Add(11 * time.Minute) // past the session's revocation entry
	if p, err := iss.Refresh(bg, thief.RefreshToken); err == nil {
		if _, verr := ver.Verify(bg, p.AccessToken); verr == nil {
			t.Error("after a reuse whose caller hung up, the thief's refresh token still mints working access tokens")
		}
	}
}

// slowRevoke is a store across a network whose RevokeSession takes 100 ms
// (honouring ctx); calls counts them.
type slowRevoke struct {
	authkit.Store
	calls atomic.Int32
}

func (s *slowRevoke) RevokeSession(ctx context.Context, id string, now time.Time) error {
	s.calls.Add(1)
	select {
	case <-time.After(100 * time.Millisecond):
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Store.RevokeSession(ctx, id, now)
}

// A login that must end many sessions stops between them when its
// caller's deadline passes, and is refused: it does not run on for as many
// store calls as there are sessions (found by review: 30 sessions over a
// lowered cap held a login with a 300 ms deadline for 3 s).
func TestSessionLimitHonoursTheCallersDeadline(t *testing.T) {
	st := &slowRevoke{Store: memory.New()}
	iss, _, clk, _ := fixtureOver(t, st)
	for range 30 {
		if _, err := iss.IssuePair(context.Background(), "alice"); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Second)
	}
	capped, _, _, _ := fixtureOver(t, st, authkit.WithSessionLimit(1))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := capped.IssuePair(ctx, "alice"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a login past its deadline while ending sessions: %v, want context.DeadlineExceeded", err)
	}
	// Each session costs 100 ms: 30 would take 3 s.
	if n := st.calls.Load(); n >= 30 {
		t.Errorf("the login ended %d sessions past its caller's 300 ms deadline", n)
	}
}

// The event hook of a revocation gets the caller's ctx, not the detached
// one the store calls run with: a hook that hands events to a sink sees
// the caller leave (found by review).
func TestRevocationEventsGetTheCallersContext(t *testing.T) {
	st := &hangsUp{Store: memory.New()}
	var live atomic.Int32
	hook := func(ctx context.Context, e authkit.Event) {
		if e.Type == authkit.EventRevoked && ctx.Err() == nil {
			live.Add(1)
		}
	}
	iss, _, _, _ := fixtureOver(t, st, authkit.WithEventHook(hook))
	if _, err := iss.IssuePair(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st.cancel.Store(&cancel)
	_ = iss.RevokeSubject(ctx, "alice")
	if n := live.Load(); n != 0 {
		t.Errorf("%d revocation events had a live ctx after the caller cancelled, want 0", n)
	}
}

// noSessions waits until subject has no live session, failing t after a
// generous deadline.
func noSessions(t *testing.T, iss *issuer.Issuer, subject string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := iss.Sessions(context.Background(), subject)
		if err == nil && len(list) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still has %d sessions (%v)", subject, len(list), err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// failRevoke is a store whose RevokeSession always fails.
type failRevoke struct{ authkit.Store }

func (s failRevoke) RevokeSession(context.Context, string, time.Time) error {
	return fmt.Errorf("%w: test outage", authkit.ErrStoreUnavailable)
}

// The errors of a reuse and of a revocation past its caller's deadline say
// what happened once: a reuse whose session could not be revoked does not
// claim it was, and the deadline error names its operation once.
func TestRevocationErrorTexts(t *testing.T) {
	bg := context.Background()
	reuse := func(st authkit.Store) error {
		iss, _, _, _ := fixtureOver(t, st)
		p, err := iss.IssuePair(bg, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := iss.Refresh(bg, p.RefreshToken); err != nil {
			t.Fatal(err)
		}
		_, err = iss.Refresh(bg, p.RefreshToken)
		if !errors.Is(err, authkit.ErrTokenReused) {
			t.Fatalf("reuse: %v, want ErrTokenReused", err)
		}
		return err
	}
	if err := reuse(memory.New()); !strings.Contains(err.Error(), "the session is revoked") {
		t.Errorf("reuse with the session revoked: %q does not say so", err)
	}
	err := reuse(failRevoke{memory.New()})
	if !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Errorf("reuse whose revocation failed: %v, want ErrStoreUnavailable too", err)
	}
	if msg := err.Error(); strings.Contains(msg, "revoked") || !strings.Contains(msg, "revoking the session failed") {
		t.Errorf("reuse whose revocation failed reads %q", msg)
	}

	st := &slowRevoke{Store: memory.New()}
	iss, _, _, _ := fixtureOver(t, st)
	p, err := iss.IssuePair(bg, "alice")
	if err != nil {
		t.Fatal(err)
	}
	ss, err := iss.Sessions(bg, "alice")
	if err != nil || len(ss) != 1 {
		t.Fatalf("sessions: %v, %v", ss, err)
	}
	sid := ss[0].ID
	_ = p
	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	err = iss.RevokeSession(ctx, sid)
	if !errors.Is(err, authkit.ErrStoreUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RevokeSession past its deadline: %v", err)
	}
	if n := strings.Count(err.Error(), "revoke session"); n != 1 {
		t.Errorf("RevokeSession's deadline error names its operation %d times: %q", n, err)
	}
	subj, _, _, _ := fixtureOver(t, slowSubject{memory.New()})
	ctx, cancel = context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	err = subj.RevokeSubject(ctx, "alice")
	if n := strings.Count(fmt.Sprint(err), "revoke subject"); n != 1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("RevokeSubject's deadline error: %q", err)
	}
}

// slowSubject is a store whose RevokeSubjectSessions takes 100 ms.
type slowSubject struct{ authkit.Store }

func (s slowSubject) RevokeSubjectSessions(ctx context.Context, subject string, now time.Time) ([]string, error) {
	select {
	case <-time.After(100 * time.Millisecond):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Store.RevokeSubjectSessions(ctx, subject, now)
}

// RevokeAccessTokenSession ends the session of an access token of ours
// whatever its expiry, revokes a sessionless one by its jti, and refuses
// refresh and API tokens and tokens that are not ours.
func TestRevokeAccessTokenSession(t *testing.T) {
	iss, ver, clk, _ := fixtureOver(t, memory.New())
	bg := context.Background()
	p, err := iss.IssuePair(bg, "alice")
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour) // the access token expired long ago
	if err := iss.RevokeAccessTokenSession(bg, p.AccessToken); err != nil {
		t.Fatalf("an expired access token's session: %v", err)
	}
	if _, err := iss.Refresh(bg, p.RefreshToken); err == nil {
		t.Error("the session refreshes after RevokeAccessTokenSession")
	}
	if err := iss.RevokeAccessTokenSession(bg, p.AccessToken); err != nil && !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("again: %v, want nil or ErrNotFound", err)
	}
	q, err := iss.IssuePair(bg, "bob")
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{q.RefreshToken, "not a token", q.AccessToken[:len(q.AccessToken)-4] + "AAAA"} {
		if err := iss.RevokeAccessTokenSession(bg, tok); !errors.Is(err, authkit.ErrInvalidToken) {
			t.Errorf("RevokeAccessTokenSession(%.12s…): %v, want ErrInvalidToken", tok, err)
		}
	}
	if _, err := iss.Refresh(bg, q.RefreshToken); err != nil {
		t.Errorf("a refused call ended a session: %v", err)
	}
	at, err := iss.IssueAccessToken(bg, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if err := iss.RevokeAccessTokenSession(bg, at.AccessToken); err != nil {
		t.Fatal(err)
	}
	if _, err := ver.Verify(bg, at.AccessToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Errorf("a sessionless access token after RevokeAccessTokenSession: %v, want ErrTokenRevoked", err)
	}
}

// A zero Issuer (not made by New) answers every call with ErrInvalidConfig
// instead of panicking (found by review: RevokeSubject crashed the process
// from a goroutine of its own, past any recover of the caller's).
func TestZeroIssuer(t *testing.T) {
	ctx := context.Background()
	var i issuer.Issuer
	want := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, authkit.ErrInvalidConfig) {
			t.Errorf("%s on a zero Issuer: %v, want ErrInvalidConfig", name, err)
		}
	}
	_, err := i.IssueAccessToken(ctx, "u")
	want("IssueAccessToken", err)
	_, err = i.IssuePair(ctx, "u")
	want("IssuePair", err)
	_, err = i.Refresh(ctx, "x")
	want("Refresh", err)
	_, err = i.RefreshSession(ctx, "x")
	want("RefreshSession", err)
	want("RevokeSession", i.RevokeSession(ctx, "s"))
	want("RevokeOwnSession", i.RevokeOwnSession(ctx, "u", "s"))
	want("RevokeSubject", i.RevokeSubject(ctx, "u"))
	want("Revoke", i.Revoke(ctx, "x"))
	want("RevokeAccessTokenSession", i.RevokeAccessTokenSession(ctx, "x"))
	want("RevokeAPIToken", i.RevokeAPIToken(ctx, "u", "id"))
	_, err = i.Sessions(ctx, "u")
	want("Sessions", err)
	_, err = i.APITokens(ctx, "u")
	want("APITokens", err)
	_, _, err = i.CreateAPIToken(ctx, "u", "n")
	want("CreateAPIToken", err)
	_, err = i.Cleanup(ctx, 10)
	want("Cleanup", err)
	_, err = i.TokenClientID(ctx, "x")
	want("TokenClientID", err)
	_, _, err = i.NewClientSecret()
	want("NewClientSecret", err)
	_, _, err = i.NewAuthorizationCode()
	want("NewAuthorizationCode", err)
	want("CheckIssueOptions", i.CheckIssueOptions("u"))
	_, err = i.JWKS()
	want("JWKS", err)
	if i.CheckClientSecret(authkit.Client{SecretHash: authkit.TokenHash{1}}, "x") {
		t.Error("CheckClientSecret on a zero Issuer = true")
	}
	if _, ok := i.AuthorizationCodeHash("x"); ok {
		t.Error("AuthorizationCodeHash on a zero Issuer: ok")
	}
}
