package verifier_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// The verify cache is on by default: a repeat verify is a hit that answers
// the same principal, and the cache holds the token once.
func TestVerifyCacheHit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, keys.EdDSA)
	pair, err := f.iss.IssuePair(ctx, "alice", issuer.WithScopes("read", "write"),
		issuer.WithClaims(map[string]any{"org": "acme", "teams": []any{"a", "b"}, "meta": map[string]any{"tier": "gold"}}))
	if err != nil {
		t.Fatal(err)
	}
	p1, err := f.ver.Verify(ctx, pair.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if n := verifier.CacheLen(f.ver); n != 1 {
		t.Fatalf("cache holds %d tokens after one verify, want 1", n)
	}
	for range 3 {
		p2, err := f.ver.Verify(ctx, pair.AccessToken)
		if err != nil {
			t.Fatalf("hit: %v", err)
		}
		if p2 == p1 || !reflect.DeepEqual(p1, p2) {
			t.Fatalf("hit answered %+v (same pointer: %v), want a copy of %+v", p2, p2 == p1, p1)
		}
	}
	if n := verifier.CacheLen(f.ver); n != 1 {
		t.Fatalf("cache holds %d tokens after repeat verifies of one token, want 1", n)
	}
	off := newFixture(t, keys.EdDSA, authkit.WithVerifyCache(0))
	tok, _ := off.iss.IssueAccessToken(ctx, "alice")
	if _, err := off.ver.Verify(ctx, tok.AccessToken); err != nil || verifier.CacheLen(off.ver) != 0 {
		t.Fatalf("WithVerifyCache(0): %v, %d cached", err, verifier.CacheLen(off.ver))
	}
}

// A caller that changes the Principal it got — the first (a miss) or a
// later one (a hit) — changes nothing the next hit answers, and neither
// does a principal check that writes to it.
func TestVerifyCachePrincipalIsNotShared(t *testing.T) {
	ctx := context.Background()
	var checks atomic.Int32
	check := authkit.WithPrincipalCheck(func(_ context.Context, p *authkit.Principal) error {
		checks.Add(1)
		p.Scopes = append(p.Scopes, "added-by-check")
		if p.Claims != nil {
			p.Claims["checked"] = true
		}
		return nil
	})
	f := newFixture(t, keys.EdDSA, check)
	pair, err := f.iss.IssuePair(ctx, "alice", issuer.WithScopes("read", "write"),
		issuer.WithClaims(map[string]any{"org": "acme", "teams": []any{"a", "b"}, "meta": map[string]any{"tier": "gold"}}))
	if err != nil {
		t.Fatal(err)
	}
	want := func() *authkit.Principal {
		return &authkit.Principal{Subject: "alice", Scopes: []string{"read", "write", "added-by-check"}, Method: authkit.MethodJWT,
			TokenID: pair.TokenID, SessionID: pair.SessionID, ClientID: authkit.DefaultClientID, Issuer: f.iss.ID(), IssuedAt: base, ExpiresAt: pair.AccessExpiresAt,
			Claims: map[string]any{"org": "acme", "teams": []any{"a", "b"}, "meta": map[string]any{"tier": "gold"}, "checked": true}}
	}
	for i := range 4 {
		p, err := f.ver.Verify(ctx, pair.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		w := want()
		if !p.IssuedAt.Equal(w.IssuedAt) || !p.ExpiresAt.Equal(w.ExpiresAt) {
			t.Fatalf("verify %d: times %v %v, want %v %v", i, p.IssuedAt, p.ExpiresAt, w.IssuedAt, w.ExpiresAt)
		}
		p.IssuedAt, p.ExpiresAt = w.IssuedAt, w.ExpiresAt
		if !reflect.DeepEqual(exported(p), w) {
			t.Fatalf("verify %d answered\n%+v\nwant\n%+v", i, p, w)
		}
		// Vandalise everything the caller can reach.
		p.Scopes[0] = "admin"
		p.Scopes = append(p.Scopes[:1], "root")
		p.Claims["org"] = "evil"
		p.Claims["teams"].([]any)[0] = "root"
		p.Claims["meta"].(map[string]any)["tier"] = "platinum"
		p.Claims["new"] = 1
		p.Subject = "mallory"
	}
	if n := checks.Load(); n != 4 {
		t.Fatalf("principal check ran %d times for 4 verifies, want 4 (it runs on hits too)", n)
	}

	// Without a check in between, a write to a hit's Scopes in place.
	plain := newFixture(t, keys.EdDSA)
	tok, _ := plain.iss.IssueAccessToken(ctx, "alice", issuer.WithScopes("read", "write"))
	for i := range 3 {
		p, err := plain.ver.Verify(ctx, tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p.Scopes, []string{"read", "write"}) {
			t.Fatalf("verify %d: scopes %q, want [read write]", i, p.Scopes)
		}
		p.Scopes[0] = "admin"
		p.Scopes[1] = "root"
	}
}

func TestVerifyCacheExpiryOnHit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, keys.EdDSA, authkit.WithLeeway(10*time.Second))
	tok, _ := f.iss.IssueAccessToken(ctx, "alice")
	if _, err := f.ver.Verify(ctx, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(authkit.DefaultAccessTTL + 9*time.Second)
	if _, err := f.ver.Verify(ctx, tok.AccessToken); err != nil {
		t.Fatalf("hit inside the leeway: %v", err)
	}
	f.clock.Add(time.Second)
	if p, err := f.ver.Verify(ctx, tok.AccessToken); p != nil || !errors.Is(err, authkit.ErrTokenExpired) {
		t.Fatalf("hit at exp+leeway: %v, %v; want ErrTokenExpired", p, err)
	}
	if n := verifier.CacheLen(f.ver); n != 0 {
		t.Fatalf("an expired token is still cached (%d entries)", n)
	}
}

// A clock that goes back (or a fake one in tests) makes iat lie in the
// future: a hit refuses it as a miss does.
func TestVerifyCacheTimeChecksOnHit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, keys.EdDSA, authkit.WithLeeway(0))
	tok, _ := f.iss.IssueAccessToken(ctx, "alice")
	if _, err := f.ver.Verify(ctx, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(-time.Second)
	if _, err := f.ver.Verify(ctx, tok.AccessToken); !errors.Is(err, authkit.ErrInvalidToken) {
		t.Fatalf("hit with iat and nbf in the future: %v; want ErrInvalidToken", err)
	}
	f.clock.Add(time.Second)
	if _, err := f.ver.Verify(ctx, tok.AccessToken); err != nil {
		t.Fatalf("hit once the clock is back: %v", err)
	}
}

// switchableRevocations fails on demand.
type switchableRevocations struct {
	authkit.RevocationStore
	down atomic.Bool
	n    atomic.Int32
}

func (s *switchableRevocations) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	s.n.Add(1)
	if s.down.Load() {
		return false, errors.New("connection refused")
	}
	return s.RevocationStore.IsRevoked(ctx, q, now)
}

func TestVerifyCacheRevocationOnHit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, keys.EdDSA)
	revs := &switchableRevocations{RevocationStore: f.store}
	v, err := verifier.New(authkit.WithKeys(f.set), authkit.WithRevocationStore(revs), authkit.WithClock(f.clock.Now),
		authkit.WithIssuer("https://auth.example"), authkit.WithAudience("api"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := f.iss.IssuePair(ctx, "alice")
	b, _ := f.iss.IssuePair(ctx, "bob")
	c, _ := f.iss.IssuePair(ctx, "carol")
	for _, tok := range []string{a.AccessToken, b.AccessToken, c.AccessToken} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := verifier.CacheLen(v); n != 3 {
		t.Fatalf("%d cached, want 3", n)
	}
	before := revs.n.Load()
	if _, err := v.Verify(ctx, a.AccessToken); err != nil || revs.n.Load() != before+1 {
		t.Fatalf("hit: %v; %d revocation checks, want 1", err, revs.n.Load()-before)
	}
	// Revoked by jti, by session, by subject cutoff: each refused on a hit.
	if err := f.iss.Revoke(ctx, a.AccessToken); err != nil {
		t.Fatal(err)
	}
	if err := f.iss.RevokeSession(ctx, b.SessionID); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Second)
	if err := f.iss.RevokeSubject(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"jti": a.AccessToken, "session": b.AccessToken, "cutoff": c.AccessToken} {
		if p, err := v.Verify(ctx, tok); p != nil || !errors.Is(err, authkit.ErrTokenRevoked) {
			t.Errorf("revoked by %s after it was cached: %v, %v; want ErrTokenRevoked", name, p, err)
		}
	}
	// The store goes down: a cached token is refused, fail closed.
	d, _ := f.iss.IssuePair(ctx, "dave")
	if _, err := v.Verify(ctx, d.AccessToken); err != nil {
		t.Fatal(err)
	}
	revs.down.Store(true)
	if p, err := v.Verify(ctx, d.AccessToken); p != nil || !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("store down on a hit: %v, %v; want ErrStoreUnavailable", p, err)
	}
}

// A key removed from the set refuses its cached tokens; a different key
// under the same kid does not inherit them; the same key put back does.
func TestVerifyCacheKeyRemoved(t *testing.T) {
	ctx := context.Background()
	old, _ := keys.Generate(keys.EdDSA)
	cur, _ := keys.Generate(keys.EdDSA)
	set, _ := keys.NewSet(old, cur)
	clk := &clock{t: base}
	common := []authkit.Option{authkit.WithKeys(set), authkit.WithClock(clk.Now)}
	iss, _ := issuer.New(common...)
	v, err := verifier.New(common...)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := iss.IssueAccessToken(ctx, "alice") // signed by old, the active key
	if _, err := v.Verify(ctx, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	if err := set.Activate(cur.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, tok.AccessToken); err != nil {
		t.Fatalf("old key still in the set: %v", err)
	}
	if err := set.Remove(old.ID()); err != nil {
		t.Fatal(err)
	}
	if p, err := v.Verify(ctx, tok.AccessToken); p != nil || !errors.Is(err, authkit.ErrInvalidToken) {
		t.Fatalf("cached token of a removed key: %v, %v; want ErrInvalidToken", p, err)
	}
	if n := verifier.CacheLen(v); n != 0 {
		t.Fatalf("%d cached after the key was removed, want 0", n)
	}

	// Cache it again, then swap the key for another under the same kid.
	if err := set.Add(old); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, tok.AccessToken); err != nil {
		t.Fatalf("the same key put back: %v", err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	impostor, err := keys.NewPrivate(keys.EdDSA, priv, old.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Remove(old.ID()); err != nil {
		t.Fatal(err)
	}
	if err := set.Add(impostor); err != nil {
		t.Fatal(err)
	}
	if p, err := v.Verify(ctx, tok.AccessToken); p != nil || !errors.Is(err, authkit.ErrInvalidToken) {
		t.Fatalf("cached token whose kid now names another key: %v, %v; want ErrInvalidToken", p, err)
	}
}

// A remote JWKS that drops a key refuses the tokens cached under it once
// the background refresh has seen the new document.
func TestVerifyCacheRemoteKeyDropped(t *testing.T) {
	ctx := context.Background()
	k1, _ := keys.Generate(keys.EdDSA)
	k2, _ := keys.Generate(keys.EdDSA)
	remote, _ := keys.NewSet(k1, k2)
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		doc, _ := remote.JWKS()
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write(doc)
	}))
	defer srv.Close()
	clk := &clock{t: base}
	iss, _ := issuer.New(authkit.WithKeys(remote), authkit.WithClock(clk.Now))
	v, err := verifier.New(authkit.WithJWKSURL(srv.URL), authkit.WithClock(clk.Now), authkit.WithJWKSRefreshInterval(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	tok, _ := iss.IssueAccessToken(ctx, "alice") // k1
	if _, err := v.Verify(ctx, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	if verifier.CacheLen(v) != 1 {
		t.Fatal("not cached")
	}
	remote.Activate(k2.ID())
	remote.Remove(k1.ID())
	n := fetches.Load()
	clk.Add(46 * time.Second) // past three quarters of max-age=60: a refresh is due
	// Until the refresh lands the old document serves; after it, refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := v.Verify(ctx, tok.AccessToken)
		if err != nil {
			if !errors.Is(err, authkit.ErrInvalidToken) {
				t.Fatalf("after the remote dropped the key: %v; want ErrInvalidToken", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cached token still verifies after %d fetches", fetches.Load()-n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := fetches.Load() - n; got != 1 {
		t.Fatalf("%d fetches to learn the key was dropped, want 1 (the background refresh)", got)
	}
	if verifier.CacheLen(v) != 0 {
		t.Fatal("the token of a dropped key is still cached")
	}
}

// Only tokens that pass every check are inserted: no invalid token takes a
// slot, so none can evict a valid one.
func TestVerifyCacheOnlyVerifiedTokens(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, keys.EdDSA, authkit.WithVerifyCache(16))
	other, _ := keys.Generate(keys.EdDSA)
	good, _ := f.iss.IssuePair(ctx, "alice")
	if err := f.iss.RevokeSession(ctx, good.SessionID); err != nil {
		t.Fatal(err)
	}
	with := func(mod func(h, c map[string]any)) string {
		h, c := f.header(), f.claims()
		mod(h, c)
		return forge(t, f.key, h, c)
	}
	segs := strings.Split(good.AccessToken, ".")
	var bad []string
	for i := range 40 {
		bad = append(bad,
			with(func(h, c map[string]any) { c["exp"] = base.Add(-time.Hour).Unix(); c["jti"] = fmt.Sprint(i) }),
			with(func(h, c map[string]any) { c["aud"] = "other"; c["jti"] = fmt.Sprint(i) }),
			with(func(h, c map[string]any) { c["nbf"] = base.Add(time.Hour).Unix(); c["jti"] = fmt.Sprint(i) }),
			forge(t, other, map[string]any{"alg": "EdDSA", "kid": f.key.ID(), "typ": "at+jwt"}, f.claims()),
			segs[0]+"."+segs[1]+"."+flipByte(segs[2], 10),
		)
	}
	bad = append(bad, good.AccessToken) // revoked
	for _, tok := range bad {
		if _, err := f.ver.Verify(ctx, tok); err == nil {
			t.Fatal("a bad token verified")
		}
	}
	if n := verifier.CacheLen(f.ver); n != 0 {
		t.Fatalf("%d invalid tokens took a cache slot", n)
	}
	refused := newFixture(t, keys.EdDSA, authkit.WithPrincipalCheck(func(context.Context, *authkit.Principal) error { return errors.New("disabled") }))
	tok, _ := refused.iss.IssueAccessToken(ctx, "alice")
	if _, err := refused.ver.Verify(ctx, tok.AccessToken); err == nil || verifier.CacheLen(refused.ver) != 0 {
		t.Fatalf("a principal the check refused: %v, %d cached", err, verifier.CacheLen(refused.ver))
	}
}

// However many distinct valid tokens arrive, the cache never holds more
// than its size, and every token keeps verifying.
func TestVerifyCacheBound(t *testing.T) {
	ctx := context.Background()
	for _, size := range []int{1, 5, 64, 100} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			f := newFixture(t, keys.HS256, authkit.WithVerifyCache(size))
			toks := make([]string, 600)
			for i := range toks {
				tok, err := f.iss.IssueAccessToken(ctx, fmt.Sprint("user-", i))
				if err != nil {
					t.Fatal(err)
				}
				toks[i] = tok.AccessToken
			}
			for round := range 2 {
				for i, tok := range toks {
					p, err := f.ver.Verify(ctx, tok)
					if err != nil || p.Subject != fmt.Sprint("user-", i) {
						t.Fatalf("round %d token %d: %v, %v", round, i, p, err)
					}
					if n := verifier.CacheLen(f.ver); n > size || n == 0 {
						t.Fatalf("cache of %d holds %d tokens", size, n)
					}
				}
			}
		})
	}
}

// A token one byte away from a cached one is not served from the cache.
func TestVerifyCacheExactBytes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, keys.EdDSA)
	tok, _ := f.iss.IssueAccessToken(ctx, "alice")
	good := tok.AccessToken
	if _, err := f.ver.Verify(ctx, good); err != nil {
		t.Fatal(err)
	}
	flip := func(i int) string { return flipByte(good, i) }
	dot := strings.IndexByte(good, '.')
	variants := map[string]string{
		"signature byte":  flip(len(good) - 10),
		"payload byte":    flip(dot + 10),
		"header byte":     flip(5),
		"last byte":       flip(len(good) - 1),
		"extra byte":      good + "A",
		"one byte less":   good[:len(good)-1],
		"case of a byte":  good[:len(good)-5] + strings.ToLower(good[len(good)-5:len(good)-4]) + good[len(good)-4:],
		"leading space":   " " + good,
		"trailing period": good + ".",
	}
	for name, tok := range variants {
		if tok == good {
			continue
		}
		if p, err := f.ver.Verify(ctx, tok); p != nil || err == nil {
			t.Errorf("%s: verified (%v)", name, p)
		}
	}
	if _, err := f.ver.Verify(ctx, good); err != nil || verifier.CacheLen(f.ver) != 1 {
		t.Fatalf("the original after the variants: %v, %d cached", err, verifier.CacheLen(f.ver))
	}
}

// Many goroutines verify good and bad tokens through a small cache while
// the key set rotates and the clock moves: every answer is right, and
// after the key is removed nothing it signed passes. Run with -race.
func TestVerifyCacheConcurrent(t *testing.T) {
	ctx := context.Background()
	old, _ := keys.Generate(keys.HS256)
	cur, _ := keys.Generate(keys.HS256)
	set, _ := keys.NewSet(old, cur)
	clk := &clock{t: base}
	common := []authkit.Option{authkit.WithKeys(set), authkit.WithClock(clk.Now)}
	iss, _ := issuer.New(common...)
	v, err := verifier.New(append(common, authkit.WithVerifyCache(32))...)
	if err != nil {
		t.Fatal(err)
	}
	var oldToks, curToks []string
	for i := range 40 {
		tok, _ := iss.IssueAccessToken(ctx, fmt.Sprint("old-", i))
		oldToks = append(oldToks, tok.AccessToken)
	}
	set.Activate(cur.ID())
	for i := range 40 {
		tok, _ := iss.IssueAccessToken(ctx, fmt.Sprint("cur-", i))
		curToks = append(curToks, tok.AccessToken)
	}
	var removed atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Go(func() {
			for i := range 400 {
				j := (g*7 + i) % 40
				switch i % 3 {
				case 0:
					wasRemoved := removed.Load()
					p, err := v.Verify(ctx, oldToks[j])
					if err == nil && (wasRemoved || p.Subject != fmt.Sprint("old-", j)) {
						errs <- fmt.Errorf("old token %d: %v after removal=%v", j, p.Subject, wasRemoved)
						return
					}
				case 1:
					p, err := v.Verify(ctx, curToks[j])
					if err != nil || p.Subject != fmt.Sprint("cur-", j) {
						errs <- fmt.Errorf("current token %d: %v, %v", j, p, err)
						return
					}
					p.Scopes = append(p.Scopes, "x")
				default:
					if _, err := v.Verify(ctx, curToks[j]+"x"); err == nil {
						errs <- errors.New("a tampered token verified")
						return
					}
				}
				if g == 0 && i == 200 {
					set.Remove(old.ID())
					removed.Store(true)
				}
				if g == 1 && i%50 == 0 {
					clk.Add(time.Second)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := verifier.CacheLen(v); n > 32 {
		t.Fatalf("%d cached, bound 32", n)
	}
	for _, tok := range oldToks {
		if _, err := v.Verify(ctx, tok); !errors.Is(err, authkit.ErrInvalidToken) {
			t.Fatalf("a token of the removed key after the run: %v", err)
		}
	}
	if slices.ContainsFunc(curToks, func(tok string) bool { _, err := v.Verify(ctx, tok); return err != nil }) {
		t.Fatal("a current token fails after the run")
	}
}

func TestWithVerifyCacheRange(t *testing.T) {
	set, _ := keys.NewSet(mustKey(t, keys.HS256))
	for _, n := range []int{-1, authkit.MaxVerifyCacheEntries + 1} {
		if _, err := verifier.New(authkit.WithKeys(set), authkit.WithVerifyCache(n)); !errors.Is(err, authkit.ErrInvalidConfig) {
			t.Errorf("WithVerifyCache(%d): %v, want ErrInvalidConfig", n, err)
		}
	}
	for _, n := range []int{0, 1, authkit.MaxVerifyCacheEntries} {
		if _, err := verifier.New(authkit.WithKeys(set), authkit.WithVerifyCache(n)); err != nil {
			t.Errorf("WithVerifyCache(%d): %v", n, err)
		}
	}
	if _, err := issuer.New(authkit.WithKeys(set), authkit.WithVerifyCache(10)); !errors.Is(err, authkit.ErrInvalidConfig) {
		t.Errorf("WithVerifyCache given to issuer.New: %v, want ErrInvalidConfig", err)
	}
}

// flipByte returns s with its i-th byte replaced by another base64url
// character.
func flipByte(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// Authenticate answers a cached token from the cache (without checking its
// syntax byte by byte first) with every check of a hit still made: the
// same principal as Verify, then expiry, revocation, a removed key and a
// store outage each refuse it. A credential that differs from a cached
// token by a byte, or by its surroundings, is not a hit and is still
// checked for syntax (400) or verified afresh.
func TestVerifyCacheAuthenticate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, keys.HS256)
	revs := &switchableRevocations{RevocationStore: f.store}
	v, err := verifier.New(authkit.WithKeys(f.set), authkit.WithRevocationStore(revs), authkit.WithClock(f.clock.Now),
		authkit.WithIssuer("https://auth.example"), authkit.WithAudience("api"))
	if err != nil {
		t.Fatal(err)
	}
	req := func(h string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", h)
		return r
	}
	a, _ := f.iss.IssuePair(ctx, "alice", issuer.WithScopes("read"))
	first, err := v.Verify(ctx, a.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	before := revs.n.Load()
	p, err := v.Authenticate(req("Bearer " + a.AccessToken))
	if err != nil || !reflect.DeepEqual(p, first) || p == first {
		t.Fatalf("Authenticate of a cached token: %+v, %v; want a copy of %+v", p, err, first)
	}
	if revs.n.Load() != before+1 || verifier.CacheLen(v) != 1 {
		t.Fatalf("a hit through Authenticate made %d revocation checks (want 1); %d cached (want 1)", revs.n.Load()-before, verifier.CacheLen(v))
	}
	for name, h := range map[string]string{
		"a quote appended":     "Bearer " + a.AccessToken + `"`,
		"a comma in the token": "Bearer " + a.AccessToken[:10] + "," + a.AccessToken[11:],
		"a space inside":       "Bearer " + a.AccessToken[:10] + " " + a.AccessToken[10:],
	} {
		if p, err := v.Authenticate(req(h)); p != nil || !errors.Is(err, authkit.ErrInvalidRequest) {
			t.Errorf("%s: %v, %v; want ErrInvalidRequest", name, p, err)
		}
	}
	if p, err := v.Authenticate(req("Bearer " + flipByte(a.AccessToken, len(a.AccessToken)-3))); p != nil || !errors.Is(err, authkit.ErrInvalidToken) {
		t.Errorf("a cached token with a byte changed: %v, %v; want ErrInvalidToken", p, err)
	}

	revs.down.Store(true)
	if p, err := v.Authenticate(req("Bearer " + a.AccessToken)); p != nil || !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Errorf("store down on a hit through Authenticate: %v, %v; want ErrStoreUnavailable", p, err)
	}
	revs.down.Store(false)
	if err := f.iss.Revoke(ctx, a.AccessToken); err != nil {
		t.Fatal(err)
	}
	if p, err := v.Authenticate(req("Bearer " + a.AccessToken)); p != nil || !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Errorf("revoked after it was cached, through Authenticate: %v, %v; want ErrTokenRevoked", p, err)
	}

	b, _ := f.iss.IssuePair(ctx, "bob")
	if _, err := v.Authenticate(req("Bearer " + b.AccessToken)); err != nil { // a miss: cached now
		t.Fatal(err)
	}
	f.clock.Add(time.Hour)
	if p, err := v.Authenticate(req("Bearer " + b.AccessToken)); p != nil || !errors.Is(err, authkit.ErrTokenExpired) {
		t.Errorf("expired after it was cached, through Authenticate: %v, %v; want ErrTokenExpired", p, err)
	}
	f.clock.Add(-time.Hour)
	next, _ := keys.Generate(keys.HS256)
	if err := f.set.Add(next); err != nil {
		t.Fatal(err)
	}
	if err := f.set.Activate(next.ID()); err != nil {
		t.Fatal(err)
	}
	if err := f.set.Remove(f.key.ID()); err != nil {
		t.Fatal(err)
	}
	if p, err := v.Authenticate(req("Bearer " + b.AccessToken)); p != nil || !errors.Is(err, authkit.ErrInvalidToken) {
		t.Errorf("key removed after it was cached, through Authenticate: %v, %v; want ErrInvalidToken", p, err)
	}
}

// exported returns a copy of p's exported fields only: the verifier also
// records the claims set in unexported fields (for DecodeClaims), which a
// Principal built by hand does not have.
func exported(p *authkit.Principal) *authkit.Principal {
	return &authkit.Principal{Subject: p.Subject, Scopes: p.Scopes, Method: p.Method, TokenID: p.TokenID, SessionID: p.SessionID,
		ClientID: p.ClientID, Issuer: p.Issuer, IssuedAt: p.IssuedAt, ExpiresAt: p.ExpiresAt, Claims: p.Claims}
}

// An entry stays within a few tens of KiB whatever the shape of the
// token's claims: a token whose decoded claims would cost more is verified
// in full every time instead of cached (found by review: an 8 KiB token of
// empty objects, "[{},{},…]", held some 140 KiB per entry, 140 MiB at the
// default size).
func TestVerifyCacheEntryMemory(t *testing.T) {
	k := mustKey(t, keys.HS256)
	set, err := keys.NewSet(k)
	if err != nil {
		t.Fatal(err)
	}
	now := base.Unix()
	shapes := []struct {
		name   string
		claim  string
		cached bool
	}{
		{"long string", `"` + strings.Repeat("a", 5900) + `"`, true},
		{"empty objects", "[" + strings.Repeat("{},", 1966) + "{}]", false},
		{"numbers", "[" + strings.Repeat("1,", 2950) + "1]", false},
		{"object of many keys", "{" + manyKeys(600) + "}", false},
		{"150 empty objects", "[" + strings.Repeat("{},", 149) + "{}]", true},
		{"125 one-member objects", "[" + strings.Repeat(`{"a":"b"},`, 124) + `{"a":"b"}]`, false},
		{"40 one-member objects", "[" + strings.Repeat(`{"a":"b"},`, 39) + `{"a":"b"}]`, true},
		{"fifty roles", `["` + strings.Repeat(`role-name",  "`, 49) + `role-name"]`, true},
	}
	const n = 256
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			v, err := verifier.New(authkit.WithKeys(set), authkit.WithClock(func() time.Time { return base }), authkit.WithVerifyCache(n))
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			toks := make([]string, n)
			for i := range toks {
				cl := fmt.Sprintf(`{"iss":"authkit","aud":"authkit","sub":"u","jti":"j%d","client_id":"c","iat":%d,"exp":%d,"x":%s}`, i, now, now+300, sh.claim)
				toks[i] = forge(t, k, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": k.ID()}, []byte(cl))
			}
			if len(toks[0]) > 8<<10 {
				t.Fatalf("token of %d bytes, over the size limit", len(toks[0]))
			}
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			for _, tok := range toks {
				p, err := v.Verify(context.Background(), tok)
				if err != nil {
					t.Fatal(err)
				}
				if p.Claims["x"] == nil {
					t.Fatal("the claim is missing")
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&m1)
			held := verifier.CacheLen(v)
			if want := map[bool]int{true: n, false: 0}[sh.cached]; held < want/2 || !sh.cached && held != 0 {
				t.Fatalf("%d of %d tokens cached, want %s", held, n, map[bool]string{true: "most", false: "none"}[sh.cached])
			}
			if held > 0 {
				per := (int64(m1.HeapAlloc) - int64(m0.HeapAlloc)) / int64(held)
				t.Logf("token %d bytes: %d entries, %d KiB each", len(toks[0]), held, per>>10)
				if per > 48<<10 {
					t.Errorf("each entry holds %d KiB, want a few tens at most", per>>10)
				}
			}
			runtime.KeepAlive(v)
		})
	}
}

// manyKeys is n distinct JSON members "k0":0,"k1":0,…
func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":0`, i)
	}
	return b.String()
}
