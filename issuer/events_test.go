package issuer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/eventlog"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
)

// want is what a test expects of one event; Err is checked with errors.Is
// when set, and must be nil when not.
type want struct {
	Type      authkit.EventType
	Subject   string
	SessionID string
	TokenID   string
	Method    string
	Err       error
}

// expectEvents checks got against wants one by one, the event times
// against at, and that no event carries any of secrets in any field or in
// its error's text.
func expectEvents(t *testing.T, what string, got []authkit.Event, at time.Time, secrets []string, wants ...want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("%s: %d events %+v, want %d", what, len(got), got, len(wants))
	}
	for j, w := range wants {
		e := got[j]
		if e.Type != w.Type || e.Subject != w.Subject || e.SessionID != w.SessionID || e.TokenID != w.TokenID || e.Method != w.Method {
			t.Errorf("%s: event %d = {%s sub=%q sid=%q tid=%q method=%q}, want {%s sub=%q sid=%q tid=%q method=%q}",
				what, j, e.Type, e.Subject, e.SessionID, e.TokenID, e.Method, w.Type, w.Subject, w.SessionID, w.TokenID, w.Method)
		}
		if !e.Time.Equal(at) {
			t.Errorf("%s: event %d at %v, want the issuer's clock %v", what, j, e.Time, at)
		}
		switch {
		case w.Err == nil && e.Err != nil:
			t.Errorf("%s: event %d has Err %v, want none", what, j, e.Err)
		case w.Err != nil && !errors.Is(e.Err, w.Err):
			t.Errorf("%s: event %d has Err %v, want %v", what, j, e.Err, w.Err)
		}
		text := fmt.Sprintf("%+v %#v", e, e)
		if e.Err != nil {
			text += " " + e.Err.Error()
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("%s: event %d carries a secret: %s", what, j, text)
			}
		}
	}
}

// TestEvents asserts every event the issuer emits: its type, subject,
// session, token ID and method, with no secret anywhere.
func TestEvents(t *testing.T) {
	ctx := context.Background()
	var log eventlog.Log
	f := newFixture(t, authkit.WithEventHook(log.Hook))
	now := f.clock.Now()

	// A stateless access token: issued, no session.
	at, err := f.iss.IssueAccessToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	expectEvents(t, "IssueAccessToken", log.Take(), now, []string{at.AccessToken},
		want{Type: authkit.EventIssued, Subject: "alice", TokenID: at.TokenID, Method: authkit.MethodJWT})

	// A login: issued, with its session.
	pair, err := f.iss.IssuePair(ctx, "alice", issuer.WithScopes("read"))
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{pair.AccessToken, pair.RefreshToken}
	expectEvents(t, "IssuePair", log.Take(), now, secrets,
		want{Type: authkit.EventIssued, Subject: "alice", SessionID: pair.SessionID, TokenID: pair.TokenID, Method: authkit.MethodJWT})

	// A refresh: refreshed, same session, the new access token's jti.
	f.clock.Add(time.Minute)
	now = f.clock.Now()
	next, err := f.iss.Refresh(ctx, pair.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, next.AccessToken, next.RefreshToken)
	expectEvents(t, "Refresh", log.Take(), now, secrets,
		want{Type: authkit.EventRefreshed, Subject: "alice", SessionID: pair.SessionID, TokenID: next.TokenID, Method: "refresh"})

	// The rotated token again: reuse detected, then its session revoked.
	_, err = f.iss.Refresh(ctx, pair.RefreshToken)
	if !errors.Is(err, authkit.ErrTokenReused) {
		t.Fatalf("reuse: %v", err)
	}
	got := log.Take()
	expectEvents(t, "reuse", got, now, secrets,
		want{Type: authkit.EventReuseDetected, Subject: "alice", SessionID: pair.SessionID, Method: "refresh", Err: authkit.ErrTokenReused},
		want{Type: authkit.EventRevoked, Subject: "alice", SessionID: pair.SessionID, Method: "session"})
	if re, ok := errors.AsType[*authkit.ReuseError](got[0].Err); !ok || re.SessionID != pair.SessionID || re.Subject != "alice" || len(re.Successor) != 0 {
		t.Errorf("reuse_detected's Err = %#v, want a *ReuseError naming the session, without the sealed successor", got[0].Err)
	}

	// The successor of a revoked session is refused: auth_failed.
	_, err = f.iss.Refresh(ctx, next.RefreshToken)
	if !errors.Is(err, authkit.ErrTokenRevoked) && !errors.Is(err, authkit.ErrTokenReused) {
		t.Fatalf("refresh in a revoked session: %v", err)
	}
	// Known to be ours: the event names the session and its subject, the
	// theft signal (found by review: it named neither).
	if got := log.Take(); len(got) != 1 || got[0].Type != authkit.EventAuthFailed || got[0].Method != "refresh" || got[0].Err == nil ||
		got[0].Subject != "alice" || got[0].SessionID != pair.SessionID {
		t.Errorf("refresh in a revoked session: events %+v, want one auth_failed naming alice and the session", got)
	}

	// Refresh tokens that are not ours, or not refresh tokens at all.
	unknown := strings.Replace(next.RefreshToken, next.RefreshToken[len(next.RefreshToken)-12:len(next.RefreshToken)-6], "AAAAAA", 1)
	for name, tok := range map[string]string{"malformed": "rt_nonsense", "an access token": pair.AccessToken, "tampered": unknown} {
		if _, err := f.iss.Refresh(ctx, tok); !errors.Is(err, authkit.ErrInvalidToken) {
			t.Fatalf("refresh with %s: %v", name, err)
		}
		expectEvents(t, "refresh with "+name, log.Take(), now, append(secrets, tok),
			want{Type: authkit.EventAuthFailed, Method: "refresh", Err: authkit.ErrInvalidToken})
	}

	// An expired refresh token.
	p2, _ := f.iss.IssuePair(ctx, "bob")
	log.Take()
	f.clock.Add(f.iss.RefreshTTL() + time.Second)
	now = f.clock.Now()
	if _, err := f.iss.Refresh(ctx, p2.RefreshToken); !errors.Is(err, authkit.ErrTokenExpired) && !errors.Is(err, authkit.ErrInvalidToken) {
		t.Fatalf("expired refresh: %v", err)
	}
	if got := log.Take(); len(got) != 1 || got[0].Type != authkit.EventAuthFailed || got[0].Method != "refresh" || got[0].Err == nil || got[0].Subject != "" {
		t.Errorf("expired refresh: events %+v, want one auth_failed naming no subject", got)
	}
}

func TestRevokeEvents(t *testing.T) {
	ctx := context.Background()
	var log eventlog.Log
	f := newFixture(t, authkit.WithEventHook(log.Hook))
	now := f.clock.Now()
	p1, _ := f.iss.IssuePair(ctx, "alice")
	p2, _ := f.iss.IssuePair(ctx, "alice")
	p3, _ := f.iss.IssuePair(ctx, "alice")
	p4, _ := f.iss.IssuePair(ctx, "alice")
	secret, tok, err := f.iss.CreateAPIToken(ctx, "alice", "ci")
	if err != nil {
		t.Fatal(err)
	}
	got := log.Take()
	expectEvents(t, "CreateAPIToken", got[len(got)-1:], now, []string{secret},
		want{Type: authkit.EventAPITokenCreated, Subject: "alice", TokenID: tok.ID, Method: authkit.MethodAPIToken})
	secret2, tok2, _ := f.iss.CreateAPIToken(ctx, "alice", "deploy")
	log.Take()
	secrets := []string{secret, secret2, p1.AccessToken, p1.RefreshToken, p2.AccessToken, p2.RefreshToken, p3.RefreshToken, p4.RefreshToken}

	for _, c := range []struct {
		name   string
		revoke func() error
		want   want
	}{
		{"Revoke(access token)", func() error { return f.iss.Revoke(ctx, p1.AccessToken) },
			want{Type: authkit.EventRevoked, Subject: "alice", SessionID: p1.SessionID, TokenID: p1.TokenID, Method: authkit.MethodJWT}},
		{"Revoke(refresh token)", func() error { return f.iss.Revoke(ctx, p2.RefreshToken) },
			want{Type: authkit.EventRevoked, Subject: "alice", SessionID: p2.SessionID, Method: "session"}},
		{"RevokeSession", func() error { return f.iss.RevokeSession(ctx, p3.SessionID) },
			want{Type: authkit.EventRevoked, Subject: "alice", SessionID: p3.SessionID, Method: "session"}},
		{"RevokeOwnSession", func() error { return f.iss.RevokeOwnSession(ctx, "alice", p4.SessionID) },
			want{Type: authkit.EventRevoked, Subject: "alice", SessionID: p4.SessionID, Method: "session"}},
		{"Revoke(API token)", func() error { return f.iss.Revoke(ctx, secret) },
			want{Type: authkit.EventRevoked, Subject: "alice", TokenID: tok.ID, Method: authkit.MethodAPIToken}},
		{"RevokeAPIToken", func() error { return f.iss.RevokeAPIToken(ctx, "alice", tok2.ID) },
			want{Type: authkit.EventRevoked, Subject: "alice", TokenID: tok2.ID, Method: authkit.MethodAPIToken}},
		{"RevokeSubject", func() error { return f.iss.RevokeSubject(ctx, "alice") },
			want{Type: authkit.EventRevoked, Subject: "alice", Method: "subject"}},
	} {
		if err := c.revoke(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		expectEvents(t, c.name, log.Take(), now, secrets, c.want)
	}

	// Nothing revoked, nothing reported.
	if err := f.iss.RevokeSession(ctx, "no-such-session"); !errors.Is(err, authkit.ErrNotFound) {
		t.Fatalf("RevokeSession(unknown): %v", err)
	}
	if err := f.iss.RevokeAPIToken(ctx, "bob", tok.ID); !errors.Is(err, authkit.ErrNotFound) {
		t.Fatalf("RevokeAPIToken of another subject: %v", err)
	}
	if got := log.Take(); len(got) != 0 {
		t.Errorf("failed revocations reported %+v", got)
	}
}

// With a reuse grace, a repeat within the window is a refresh (the same
// successor), not a reuse.
func TestReuseGraceEvents(t *testing.T) {
	ctx := context.Background()
	var log eventlog.Log
	f := newFixture(t, authkit.WithEventHook(log.Hook), authkit.WithReuseGrace(10*time.Second))
	pair, _ := f.iss.IssuePair(ctx, "alice")
	first, err := f.iss.Refresh(ctx, pair.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Add(5 * time.Second)
	again, err := f.iss.Refresh(ctx, pair.RefreshToken)
	if err != nil || again.RefreshToken != first.RefreshToken {
		t.Fatalf("repeat within the grace: %v", err)
	}
	got := log.Take()
	expectEvents(t, "grace", got[2:], f.clock.Now(), []string{pair.RefreshToken, first.RefreshToken},
		want{Type: authkit.EventRefreshed, Subject: "alice", SessionID: pair.SessionID, TokenID: again.TokenID, Method: "refresh"})
	f.clock.Add(10 * time.Second)
	if _, err := f.iss.Refresh(ctx, pair.RefreshToken); !errors.Is(err, authkit.ErrTokenReused) {
		t.Fatalf("repeat after the grace: %v", err)
	}
	expectEvents(t, "after the grace", log.Take(), f.clock.Now(), []string{pair.RefreshToken, first.RefreshToken},
		want{Type: authkit.EventReuseDetected, Subject: "alice", SessionID: pair.SessionID, Method: "refresh", Err: authkit.ErrTokenReused},
		want{Type: authkit.EventRevoked, Subject: "alice", SessionID: pair.SessionID, Method: "session"})
}

// downStore is a memory store standing for a remote one that can go down:
// then its calls fail with authkit.ErrStoreUnavailable.
type downStore struct {
	*memory.Store
	down atomic.Bool
}

func (s *downStore) InProcess() bool { return false }

func (s *downStore) fail() error {
	if s.down.Load() {
		return fmt.Errorf("%w: connection refused", authkit.ErrStoreUnavailable)
	}
	return nil
}

func (s *downStore) CreateSession(ctx context.Context, sess authkit.Session, first authkit.RefreshRecord) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.Store.CreateSession(ctx, sess, first)
}

func (s *downStore) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	if err := s.fail(); err != nil {
		return authkit.Session{}, err
	}
	return s.Store.RotateRefresh(ctx, r)
}

// A store outage reaches the hook, once per authkit.OutageEventInterval of
// the issuer's clock, with the count of the failures not reported.
func TestStoreOutageEvents(t *testing.T) {
	ctx := context.Background()
	var log eventlog.Log
	k, _ := keys.Generate(keys.EdDSA)
	set, _ := keys.NewSet(k)
	st := &downStore{Store: memory.New()}
	clk := &clock{t: base}
	is, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(st), authkit.WithClock(clk.Now), authkit.WithEventHook(log.Hook))
	if err != nil {
		t.Fatal(err)
	}
	pair, _ := is.IssuePair(ctx, "alice")
	log.Take()

	st.down.Store(true)
	for range 3 {
		if _, err := is.IssuePair(ctx, "alice"); !errors.Is(err, authkit.ErrStoreUnavailable) {
			t.Fatalf("IssuePair with the store down: %v", err)
		}
	}
	got := log.Take()
	expectEvents(t, "outage", got, clk.Now(), []string{pair.RefreshToken},
		want{Type: authkit.EventStoreUnavailable, Err: authkit.ErrStoreUnavailable})
	if strings.Contains(got[0].Err.Error(), "more store failures") {
		t.Errorf("the first report counts failures before it: %v", got[0].Err)
	}

	// Within the interval: counted, not reported. The refused refresh is
	// still an auth_failed of its own.
	clk.Add(authkit.OutageEventInterval - time.Second)
	if _, err := is.Refresh(ctx, pair.RefreshToken); !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("Refresh with the store down: %v", err)
	}
	expectEvents(t, "refresh in the outage", log.Take(), clk.Now(), []string{pair.RefreshToken},
		want{Type: authkit.EventAuthFailed, Method: "refresh", Err: authkit.ErrStoreUnavailable})

	// Past it: the next failure is reported, with the 3 in between.
	clk.Add(time.Second)
	is.IssuePair(ctx, "alice")
	got = log.Take()
	expectEvents(t, "outage, a minute on", got, clk.Now(), nil,
		want{Type: authkit.EventStoreUnavailable, Err: authkit.ErrStoreUnavailable})
	if !strings.Contains(got[0].Err.Error(), "and 3 more store failures since the last report") {
		t.Errorf("second report: %v, want it to count the 3 failures not reported", got[0].Err)
	}

	// Back up: nothing more.
	st.down.Store(false)
	clk.Add(time.Hour)
	if _, err := is.Refresh(ctx, pair.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if got := log.Take(); len(got) != 1 || got[0].Type != authkit.EventRefreshed {
		t.Errorf("after the outage: %+v", got)
	}
}

// A hook that panics on reuse_detected (an alerting backend down) still
// leaves the session revoked: the thief's successor no longer refreshes
// (found by review: the hook ran before the revocation, which never came).
func TestReuseRevokesWhenHookPanics(t *testing.T) {
	ctx := context.Background()
	k, _ := keys.Generate(keys.EdDSA)
	set, _ := keys.NewSet(k)
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(memory.New()),
		authkit.WithEventHook(func(_ context.Context, e authkit.Event) {
			if e.Type == authkit.EventReuseDetected {
				panic("alerting backend down")
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	first, err := iss.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	second, err := iss.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if p := recover(); p != "alerting backend down" {
				t.Errorf("the hook's panic did not go on: %v", p)
			}
		}()
		iss.Refresh(ctx, first.RefreshToken)
	}()
	if _, err := iss.Refresh(ctx, second.RefreshToken); !errors.Is(err, authkit.ErrTokenRevoked) && !errors.Is(err, authkit.ErrTokenReused) {
		t.Errorf("the successor after a reuse whose hook panicked: %v, want its session revoked", err)
	}
}

// A revoked refresh token refused by the pre-check a session check or
// requested scopes run (the HTTP refresh grant always runs one) names its
// subject and session as the rotation's refusal does; so does an expired
// one the store still holds (found by review: the pre-check's named
// neither). A store may have removed an expired token by then: it is then
// unknown, and named by no one.
func TestRefusedRefreshNamesItsSession(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"none", "check", "scopes"} {
		for _, kind := range []string{"revoked", "expired"} {
			var log eventlog.Log
			f := newFixture(t, authkit.WithEventHook(log.Hook))
			pair, err := f.iss.IssuePair(ctx, "alice", issuer.WithScopes("read"))
			if err != nil {
				t.Fatal(err)
			}
			if kind == "revoked" {
				if err := f.iss.RevokeSession(ctx, pair.SessionID); err != nil {
					t.Fatal(err)
				}
			} else {
				f.clock.Add(f.iss.RefreshTTL() + time.Minute)
			}
			log.Take()
			var opts []issuer.RefreshOption
			switch name {
			case "check":
				opts = append(opts, issuer.WithSessionCheck(func(context.Context, authkit.Session) error { return nil }))
			case "scopes":
				opts = append(opts, issuer.WithRequestedScopes("read"))
			}
			if _, err := f.iss.Refresh(ctx, pair.RefreshToken, opts...); err == nil {
				t.Fatalf("%s/%s: refreshed", name, kind)
			}
			for _, e := range log.Take() {
				if e.Type != authkit.EventAuthFailed {
					continue
				}
				named := e.Subject == "alice" && e.SessionID == pair.SessionID
				if !named && (kind == "revoked" || e.Subject != "" || e.SessionID != "") {
					t.Errorf("%s/%s: auth_failed names sub=%q sid=%q (%v), want alice and the session", name, kind, e.Subject, e.SessionID, e.Err)
				}
			}
		}
	}
}
