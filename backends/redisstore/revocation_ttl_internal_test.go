package redisstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
)

// TestRevocationNativeExpiry: every revocation entry's native expiry
// (PEXPIRETIME) reaches its until plus the margin, and follows the until
// when a later revocation or cutoff extends it. The conformance suite
// cannot see this: its times are in 2030, so Redis never expires an entry
// during it, and an entry set to vanish an hour early — a revoked token
// accepted again for the rest of its life — passed every test (found by
// mutation testing, with a cutoff extension keeping its old TTL).
func TestRevocationNativeExpiry(t *testing.T) {
	t.Parallel()
	s, rdb := standaloneStore(t)
	ctx := t.Context()
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	check := func(what, key string, exp time.Time) { t.Helper(); checkNativeExpiry(t, s, rdb, what, key, exp) }
	steps := []struct {
		what  string
		do    func(until time.Time) error
		key   string
		until time.Time
	}{
		{"RevokeToken", func(u time.Time) error { return s.RevokeToken(ctx, "alice", "jti-1", u) }, revJTI("alice", "jti-1"), base.Add(time.Hour)},
		{"RevokeToken, later until", func(u time.Time) error { return s.RevokeToken(ctx, "alice", "jti-1", u) }, revJTI("alice", "jti-1"), base.Add(3 * time.Hour)},
		{"RevokeSessionTokens", func(u time.Time) error { return s.RevokeSessionTokens(ctx, "alice", "sid-1", u) }, revSID("alice", "sid-1"), base.Add(time.Hour)},
		{"RevokeSessionTokens, later until", func(u time.Time) error { return s.RevokeSessionTokens(ctx, "alice", "sid-1", u) }, revSID("alice", "sid-1"), base.Add(4 * time.Hour)},
		{"SetCutoff", func(u time.Time) error { return s.SetCutoff(ctx, "alice", base, u) }, revCutoff("alice"), base.Add(time.Hour)},
		{"SetCutoff, later cutoff and until", func(u time.Time) error { return s.SetCutoff(ctx, "alice", base.Add(time.Minute), u) }, revCutoff("alice"), base.Add(5 * time.Hour)},
		{"SetCutoff, earlier cutoff, later until", func(u time.Time) error { return s.SetCutoff(ctx, "alice", base, u) }, revCutoff("alice"), base.Add(6 * time.Hour)},
	}
	for _, st := range steps {
		if err := st.do(st.until); err != nil {
			t.Fatalf("%s: %v", st.what, err)
		}
		check(st.what, s.k.p+st.key, st.until)
	}
}

// TestThrottleNativeExpiry: a throttle counter's native expiry is its
// window's end plus the margin, set when the window opens and kept while
// failures add up: an expiry in the past would drop the counter at once
// (throttling off), none would keep every sprayed key for ever (found
// missing by mutation testing, for the same reason as above).
func TestThrottleNativeExpiry(t *testing.T) {
	t.Parallel()
	s, rdb := standaloneStore(t)
	ctx := t.Context()
	opened := time.Now().Truncate(time.Millisecond)
	const window = 10 * time.Minute
	for i := range 3 {
		st, err := s.AddFailure(ctx, "login:alice", opened.Add(time.Duration(i)*time.Second), window)
		if err != nil || st.Failures != int64(i+1) {
			t.Fatalf("AddFailure #%d: %+v, %v", i+1, st, err)
		}
		checkNativeExpiry(t, s, rdb, fmt.Sprintf("the counter after failure #%d", i+1), s.k.throttle("login:alice"), opened.Add(window))
	}
}

// TestRecordsNativeExpiry: an API token's record and both its locators,
// a session, and an authorization code and its locator expire natively no sooner than their expiry plus the
// margin (found missing by mutation testing: records set to vanish early,
// and a token's hash locator without any expiry, passed every test).
func TestRecordsNativeExpiry(t *testing.T) {
	t.Parallel()
	s, rdb := standaloneStore(t)
	ctx := t.Context()
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	check := func(what, key string, exp time.Time) { t.Helper(); checkNativeExpiry(t, s, rdb, what, key, exp) }
	tok := authkit.APIToken{ID: "tok-1", Hash: authkit.TokenHash{7}, Subject: "alice", Name: "ci", CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
	if err := s.CreateAPIToken(ctx, tok, 0, base); err != nil {
		t.Fatal(err)
	}
	check("the API token", s.k.token("alice", "tok-1"), tok.ExpiresAt)
	check("the API token's hash locator", s.k.tokenByHash(tok.Hash), tok.ExpiresAt)
	check("the API token's ID locator", s.k.tokenByID("tok-1"), tok.ExpiresAt)

	sess := authkit.Session{ID: "sess-1", Subject: "alice", CreatedAt: base, LastUsedAt: base,
		ExpiresAt: base.Add(24 * time.Hour), IdleExpiresAt: base.Add(time.Hour)}
	first := authkit.RefreshRecord{Hash: authkit.TokenHash{8}, SessionID: sess.ID, Subject: "alice", IssuedAt: base, ExpiresAt: base.Add(time.Hour)}
	if err := s.CreateSession(ctx, sess, first); err != nil {
		t.Fatal(err)
	}
	check("the session", s.k.session("sess-1"), sess.ExpiresAt)

	// An authorization code and its locator, before and after it is
	// redeemed: a redeemed code is kept to its expiry so that a second
	// redemption is told apart from an unknown code.
	c := authkit.Client{ID: "client-1", Name: "app", GrantTypes: []string{authkit.GrantAuthorizationCode},
		RedirectURIs: []string{"https://app.example/cb"}, CreatedAt: base}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	code := authkit.AuthorizationCode{Hash: authkit.TokenHash{9}, ClientID: c.ID, RedirectURI: "https://app.example/cb",
		Subject: "alice", Scopes: []string{"read"}, CreatedAt: base, ExpiresAt: base.Add(time.Minute)}
	if err := s.CreateAuthorizationCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	hid := hashID(code.Hash)
	check("the authorization code", s.k.code(c.ID, hid), code.ExpiresAt)
	check("the authorization code's locator", s.k.codeLocator(hid), code.ExpiresAt)
	if _, err := s.RedeemAuthorizationCode(ctx, code.Hash, base.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	check("the redeemed authorization code", s.k.code(c.ID, hid), code.ExpiresAt)
	check("the redeemed authorization code's locator", s.k.codeLocator(hid), code.ExpiresAt)
}

// checkNativeExpiry fails t unless key's native expiry (PEXPIRETIME) is
// exp plus s's margin, to within the second.
func checkNativeExpiry(t *testing.T, s *Store, rdb *redis.Client, what, key string, exp time.Time) {
	t.Helper()
	got, err := rdb.PExpireTime(t.Context(), key).Result()
	if want := pxat(exp, s.cfg.margin); err != nil || got.Milliseconds() < want || got.Milliseconds() > want+1000 {
		t.Errorf("%s: native expiry at %d ms (%v), want its expiry plus the margin, %d", what, got.Milliseconds(), err, want)
	}
}
