package memory_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/conformance"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		New:      func(t *testing.T) authkit.Store { return memory.New() },
		Peer:     func(t *testing.T, s authkit.Store) authkit.Store { return s },
		TrimFeed: func(t *testing.T, s authkit.Store) { trimFeed(t, s.(*memory.Store), memory.DefaultFeedLogLimit) },
	})
}

// trimFeed is a Harness.TrimFeed for a store whose feed log holds limit
// changes: it revokes one token limit plus two blocks' worth of times (each
// call is a change of its own), so that the log drops every change it held
// before, however young.
func trimFeed(t *testing.T, s *memory.Store, limit int) {
	t.Helper()
	until := time.Now().Add(time.Hour)
	for range limit + 256 {
		if err := s.RevokeToken(t.Context(), "trim", "jti", until); err != nil {
			t.Fatalf("TrimFeed: %v", err)
		}
	}
}

// TestConformanceEagerSweep runs the suite against a store whose every
// write collects everything expired at the latest time it has seen: the
// suite must not depend on expired entries surviving.
func TestConformanceEagerSweep(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		New: func(t *testing.T) authkit.Store { return memory.New(memory.WithSweepBudget(1 << 30)) },
	})
}

// TestConformancePartial runs the one-interface entry points, as a
// backend that keeps only one kind of state would.
func TestConformancePartial(t *testing.T) {
	conformance.RunRefreshStore(t, conformance.PartialHarness[authkit.RefreshStore]{
		New: func(t *testing.T) authkit.RefreshStore { return memory.New() },
	})
	conformance.RunRevocationStore(t, conformance.PartialHarness[authkit.RevocationStore]{
		New: func(t *testing.T) authkit.RevocationStore { return memory.New() },
	})
	conformance.RunAPITokenStore(t, conformance.PartialHarness[authkit.APITokenStore]{
		New: func(t *testing.T) authkit.APITokenStore { return memory.New() },
	})
}

func BenchmarkStore(b *testing.B) {
	conformance.Bench(b, func(b *testing.B) authkit.Store { return memory.New() })
}

var base = time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC)

func hash(s string) authkit.TokenHash {
	var h authkit.TokenHash
	copy(h[:], s)
	return h
}

// TestIsRevokedAllocs proves the hot path allocates nothing, hit or miss.
func TestIsRevokedAllocs(t *testing.T) {
	s := memory.New()
	ctx := context.Background()
	for i := range 100 {
		n := fmt.Sprint(i)
		if err := s.RevokeToken(ctx, "alice", "jti-"+n, base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeSessionTokens(ctx, "alice", "sid-"+n, base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.SetCutoff(ctx, "user-"+n, base, base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		q    authkit.RevocationQuery
		dead bool
	}{
		{"jti hit", authkit.RevocationQuery{TokenID: "jti-7", SessionID: "sid-x", Subject: "alice", IssuedAt: base}, true},
		{"sid hit", authkit.RevocationQuery{TokenID: "jti-x", SessionID: "sid-7", Subject: "alice", IssuedAt: base}, true},
		{"cutoff hit", authkit.RevocationQuery{TokenID: "jti-x", SessionID: "sid-x", Subject: "user-7", IssuedAt: base}, true},
		{"miss", authkit.RevocationQuery{TokenID: "jti-x", SessionID: "sid-x", Subject: "user-7", IssuedAt: base.Add(time.Second)}, false},
	} {
		now := base.Add(time.Minute)
		var dead bool
		var err error
		allocs := testing.AllocsPerRun(1000, func() { dead, err = s.IsRevoked(ctx, c.q, now) })
		if err != nil || dead != c.dead {
			t.Errorf("%s: IsRevoked = %v, %v; want %v, nil", c.name, dead, err, c.dead)
		}
		if allocs != 0 {
			t.Errorf("%s: IsRevoked allocates %v times per call, want 0", c.name, allocs)
		}
	}
}

// TestNoAliasing checks that neither the slices a caller passes in nor the
// ones it gets back share memory with what the store keeps.
func TestNoAliasing(t *testing.T) {
	s := memory.New()
	ctx := context.Background()
	sess := authkit.Session{
		ID: "s1", Subject: "alice", Scopes: []string{"read"}, Audience: []string{"api"}, Claims: []byte(`{"a":1}`),
		CreatedAt: base, LastUsedAt: base, ExpiresAt: base.Add(24 * time.Hour), IdleExpiresAt: base.Add(time.Hour),
	}
	first := authkit.RefreshRecord{Hash: hash("rt1"), SessionID: "s1", Subject: "alice", IssuedAt: base, ExpiresAt: base.Add(time.Hour)}
	if err := s.CreateSession(ctx, sess, first); err != nil {
		t.Fatal(err)
	}
	sess.Scopes[0], sess.Audience[0], sess.Claims[0] = "X", "X", 'X'
	got, err := s.Session(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Scopes[0] != "read" || got.Audience[0] != "api" || got.Claims[0] != '{' {
		t.Fatalf("the stored session changed with the caller's slices: %+v", got)
	}
	got.Scopes[0], got.Audience[0], got.Claims[0] = "Y", "Y", 'Y'
	listed, err := s.ListSessions(ctx, "alice", base)
	if err != nil || len(listed) != 1 {
		t.Fatal(listed, err)
	}
	if listed[0].Scopes[0] != "read" || listed[0].Audience[0] != "api" || listed[0].Claims[0] != '{' {
		t.Fatalf("the stored session changed with a returned copy: %+v", listed[0])
	}

	succ := []byte("sealed")
	rot := authkit.Rotation{Old: hash("rt1"), Next: hash("rt2"), NextExpiresAt: base.Add(2 * time.Hour), Successor: succ, Now: base.Add(time.Minute)}
	ret, err := s.RotateRefresh(ctx, rot)
	if err != nil {
		t.Fatal(err)
	}
	succ[0] = 'X'
	ret.Scopes[0] = "Z"
	rec, err := s.LookupRefresh(ctx, hash("rt1"))
	if err != nil || string(rec.Successor) != "sealed" {
		t.Fatalf("the stored successor changed with the caller's slice: %q, %v", rec.Successor, err)
	}
	rec.Successor[0] = 'Y'
	_, err = s.RotateRefresh(ctx, authkit.Rotation{Old: hash("rt1"), Next: hash("rt3"), NextExpiresAt: base.Add(2 * time.Hour), Now: base.Add(2 * time.Minute)})
	re, ok := errors.AsType[*authkit.ReuseError](err)
	if !ok || string(re.Successor) != "sealed" {
		t.Fatalf("reuse: %v, want a *ReuseError carrying the stored successor", err)
	}
	re.Successor[0] = 'Z'
	if rec, _ := s.LookupRefresh(ctx, hash("rt1")); string(rec.Successor) != "sealed" {
		t.Fatalf("the stored successor changed with a ReuseError's copy: %q", rec.Successor)
	}
	if got, _ := s.Session(ctx, "s1"); got.Scopes[0] != "read" {
		t.Fatalf("the stored session changed with RotateRefresh's returned copy: %q", got.Scopes)
	}

	tok := authkit.APIToken{ID: "t1", Hash: hash("tok"), Subject: "alice", Scopes: []string{"read"}, CreatedAt: base}
	if err := s.CreateAPIToken(ctx, tok, 0, base); err != nil {
		t.Fatal(err)
	}
	tok.Scopes[0] = "X"
	gotTok, err := s.LookupAPIToken(ctx, hash("tok"))
	if err != nil || gotTok.Scopes[0] != "read" {
		t.Fatalf("the stored token changed with the caller's slice: %+v, %v", gotTok, err)
	}
	gotTok.Scopes[0] = "Y"
	toks, err := s.ListAPITokens(ctx, "alice", base)
	if err != nil || len(toks) != 1 || toks[0].Scopes[0] != "read" {
		t.Fatalf("the stored token changed with a returned copy: %+v, %v", toks, err)
	}
}

// TestBeyondTheContract covers what memory does where the contract is
// silent.
func TestBeyondTheContract(t *testing.T) {
	ctx := context.Background()
	newSession := func(s *memory.Store, id, label string) error {
		return s.CreateSession(ctx,
			authkit.Session{ID: id, Subject: "alice", CreatedAt: base, LastUsedAt: base, ExpiresAt: base.Add(24 * time.Hour), IdleExpiresAt: base.Add(time.Hour)},
			authkit.RefreshRecord{Hash: hash(label), SessionID: id, Subject: "alice", IssuedAt: base, ExpiresAt: base.Add(time.Hour)})
	}

	t.Run("LimitMustBePositive", func(t *testing.T) {
		s := memory.New()
		for name, del := range map[string]func(int) (int, error){
			"DeleteExpiredSessions":    func(l int) (int, error) { return s.DeleteExpiredSessions(ctx, base, l) },
			"DeleteExpiredRevocations": func(l int) (int, error) { return s.DeleteExpiredRevocations(ctx, base, l) },
			"DeleteExpiredAPITokens":   func(l int) (int, error) { return s.DeleteExpiredAPITokens(ctx, base, l) },
		} {
			if _, err := del(0); err == nil {
				t.Errorf("%s(limit 0) returned no error; a caller repeating while the result equals the limit would spin", name)
			}
		}
	})

	t.Run("FirstTokenMustBelongToSession", func(t *testing.T) {
		s := memory.New()
		err := s.CreateSession(ctx,
			authkit.Session{ID: "s1", Subject: "alice", CreatedAt: base, ExpiresAt: base.Add(time.Hour), IdleExpiresAt: base.Add(time.Hour)},
			authkit.RefreshRecord{Hash: hash("rt1"), SessionID: "s2", Subject: "alice", ExpiresAt: base.Add(time.Hour)})
		if err == nil {
			t.Fatal("CreateSession accepted a first token of another session")
		}
		if _, err := s.Session(ctx, "s1"); !errors.Is(err, authkit.ErrNotFound) {
			t.Errorf("a refused CreateSession stored the session: %v", err)
		}
	})

	t.Run("SuccessorHashTaken", func(t *testing.T) {
		s := memory.New()
		if err := newSession(s, "s1", "rt1"); err != nil {
			t.Fatal(err)
		}
		if err := newSession(s, "s2", "rt2"); err != nil {
			t.Fatal(err)
		}
		_, err := s.RotateRefresh(ctx, authkit.Rotation{Old: hash("rt1"), Next: hash("rt2"), NextExpiresAt: base.Add(time.Hour), Now: base.Add(time.Minute)})
		if !errors.Is(err, authkit.ErrConflict) {
			t.Fatalf("RotateRefresh onto a taken hash: %v, want ErrConflict", err)
		}
		if rec, _ := s.LookupRefresh(ctx, hash("rt1")); !rec.UsedAt.IsZero() {
			t.Error("a refused rotation marked the token used")
		}
		if rec, _ := s.LookupRefresh(ctx, hash("rt2")); rec.SessionID != "s2" {
			t.Errorf("a refused rotation took over s2's token: %+v", rec)
		}
	})

	t.Run("Cleanup", func(t *testing.T) {
		s := memory.New()
		for i := range 3 {
			if err := newSession(s, fmt.Sprint("s", i), fmt.Sprint("rt", i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RevokeSession(ctx, "s0", base); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeToken(ctx, "alice", "j", base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAPIToken(ctx, authkit.APIToken{ID: "t", Hash: hash("t"), Subject: "alice", CreatedAt: base}, 0, base); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeAPIToken(ctx, "alice", "t", base); err != nil {
			t.Fatal(err)
		}
		if n := s.Cleanup(base.Add(time.Minute)); n != 3 {
			t.Errorf("Cleanup before anything expired deleted %d, want 3 (revoked session, its token, revoked API token)", n)
		}
		if n := s.Cleanup(base.Add(time.Hour)); n != 5 {
			t.Errorf("Cleanup after everything expired deleted %d, want 5 (2 sessions, 2 tokens, 1 jti)", n)
		}
	})

	t.Run("Ping", func(t *testing.T) {
		s := memory.New()
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
		done, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Ping(done); !errors.Is(err, context.Canceled) {
			t.Errorf("Ping with a cancelled ctx: %v", err)
		}
	})
}
