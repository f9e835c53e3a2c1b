package issuer_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/opaque"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
)

// hintStore records the rotations and lookups the issuer asks of a
// memory store; other, when set, is the session ID it claims every
// rotation took place in.
type hintStore struct {
	*memory.Store
	mu        sync.Mutex
	rotations []authkit.Rotation
	lookups   int
	other     string
}

func (s *hintStore) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	s.mu.Lock()
	s.rotations = append(s.rotations, r)
	s.mu.Unlock()
	sess, err := s.Store.RotateRefresh(ctx, r)
	if err == nil && s.other != "" {
		sess.ID = s.other
	}
	return sess, err
}

func (s *hintStore) LookupRefresh(ctx context.Context, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	s.mu.Lock()
	s.lookups++
	s.mu.Unlock()
	return s.Store.LookupRefresh(ctx, h)
}

func (s *hintStore) counts() (int, []authkit.Rotation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookups, append([]authkit.Rotation(nil), s.rotations...)
}

func hintIssuer(t *testing.T, st *hintStore) *issuer.Issuer {
	t.Helper()
	set, err := keys.NewSet(mustKeyT(t))
	if err != nil {
		t.Fatal(err)
	}
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(st))
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// Refresh tokens name their session, and a refresh hands the store that
// session with the rotation (authkit.Rotation.SessionID) without a
// lookup first; a token from before tokens named their session costs one
// lookup, once, and its successor names it.
func TestRefreshNamesTheSession(t *testing.T) {
	ctx := t.Context()
	st := &hintStore{Store: memory.New()}
	iss := hintIssuer(t, st)
	pair, err := iss.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got := opaque.SessionOf(pair.RefreshToken, "ak"); got != pair.SessionID || got == "" {
		t.Fatalf("the first refresh token names session %q, want %q", got, pair.SessionID)
	}
	next, err := iss.Refresh(ctx, pair.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	lookups, rots := st.counts()
	if lookups != 0 || len(rots) != 1 || rots[0].SessionID != pair.SessionID {
		t.Fatalf("a refresh looked up %d records and rotated %+v, want no lookup and the session %q", lookups, rots, pair.SessionID)
	}
	if got := opaque.SessionOf(next.RefreshToken, "ak"); got != pair.SessionID {
		t.Errorf("the successor names session %q, want %q", got, pair.SessionID)
	}

	// A token that names no session: stored as an older issuer did.
	legacy, err := opaque.New("ak", opaque.KindRefresh)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sess := authkit.Session{ID: "legacy-session", Subject: "bob", CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(time.Hour)}
	if err := st.CreateSession(ctx, sess, authkit.RefreshRecord{Hash: sha256.Sum256([]byte(legacy)), SessionID: sess.ID, Subject: "bob", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got, err := iss.Refresh(ctx, legacy)
	if err != nil {
		t.Fatal(err)
	}
	lookups, rots = st.counts()
	if lookups != 1 || len(rots) != 2 || rots[1].SessionID != sess.ID || got.SessionID != sess.ID {
		t.Fatalf("a refresh of a token naming no session: %d lookups, rotation %+v, session %q", lookups, rots[len(rots)-1], got.SessionID)
	}
	// "legacy-session" is no UUID: its successor names no session
	// either, and finds it again with one lookup.
	if opaque.SessionOf(got.RefreshToken, "ak") != "" {
		t.Errorf("a successor names session %q, which is no UUID", opaque.SessionOf(got.RefreshToken, "ak"))
	}
	if _, err := iss.Refresh(ctx, got.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if lookups, _ = st.counts(); lookups != 2 {
		t.Errorf("%d lookups, want 2", lookups)
	}

	// A UUID session's token from before: its successor names it, and
	// the next refresh needs no lookup.
	legacy2, err := opaque.New("ak", opaque.KindRefresh)
	if err != nil {
		t.Fatal(err)
	}
	sess.ID = "0f0e0d0c-0b0a-4908-8706-050403020100"
	if err := st.CreateSession(ctx, sess, authkit.RefreshRecord{Hash: sha256.Sum256([]byte(legacy2)), SessionID: sess.ID, Subject: "bob", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got, err = iss.Refresh(ctx, legacy2)
	if err != nil {
		t.Fatal(err)
	}
	if opaque.SessionOf(got.RefreshToken, "ak") != sess.ID {
		t.Errorf("the successor of an older token of session %s names %q", sess.ID, opaque.SessionOf(got.RefreshToken, "ak"))
	}
	before, _ := st.counts()
	if _, err := iss.Refresh(ctx, got.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if after, _ := st.counts(); after != before {
		t.Errorf("a refresh of a token naming its session looked it up (%d lookups, was %d)", after, before)
	}

	// An unknown token that names no session is refused after the lookup,
	// without a rotation.
	unknown, err := opaque.New("ak", opaque.KindRefresh)
	if err != nil {
		t.Fatal(err)
	}
	_, rotsBefore := st.counts()
	if _, err := iss.Refresh(ctx, unknown); !errors.Is(err, authkit.ErrInvalidToken) {
		t.Errorf("Refresh of an unknown token: %v, want ErrInvalidToken", err)
	}
	if _, rotsAfter := st.counts(); len(rotsAfter) != len(rotsBefore) {
		t.Error("an unknown token was rotated")
	}
}

// A store that answers a rotation with another session than the one the
// token names is broken; the issuer hands out no pair from it.
func TestRefreshRefusesAnotherSession(t *testing.T) {
	st := &hintStore{Store: memory.New(), other: "another-session"}
	iss := hintIssuer(t, st)
	pair, err := iss.IssuePair(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	got, err := iss.Refresh(t.Context(), pair.RefreshToken)
	if !errors.Is(err, authkit.ErrStoreUnavailable) || got.RefreshToken != "" {
		t.Fatalf("Refresh through a store rotating another session: %v (a refresh token handed out: %v)", err, got.RefreshToken != "")
	}
}

// With authkit.WithRefreshTokensNamingSession(false) (a rolling upgrade
// from a version that refuses tokens naming their session) every refresh
// token handed out is in the earlier format, and tokens of both formats
// are accepted by issuers with and without the option on one store.
func TestRefreshTokensNamingNoSession(t *testing.T) {
	ctx := t.Context()
	st := &hintStore{Store: memory.New()}
	set, err := keys.NewSet(mustKeyT(t))
	if err != nil {
		t.Fatal(err)
	}
	old, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(st), authkit.WithRefreshTokensNamingSession(false))
	if err != nil {
		t.Fatal(err)
	}
	named, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(st))
	if err != nil {
		t.Fatal(err)
	}
	earlier, err := opaque.New("ak", opaque.KindRefresh)
	if err != nil {
		t.Fatal(err)
	}
	unnamed := func(what, tok string) {
		t.Helper()
		if opaque.SessionOf(tok, "ak") != "" || len(tok) != len(earlier) || opaque.Check(tok, "ak", opaque.KindRefresh) != nil {
			t.Errorf("%s %q is not in the earlier format (like %q)", what, tok, earlier)
		}
	}
	pair, err := old.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	unnamed("the login's refresh token", pair.RefreshToken)
	next, err := old.Refresh(ctx, pair.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	unnamed("a refresh's successor", next.RefreshToken)

	// The default issuer takes it and names the session again; the
	// option's issuer takes that one and names none.
	byNamed, err := named.Refresh(ctx, next.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if opaque.SessionOf(byNamed.RefreshToken, "ak") != pair.SessionID {
		t.Errorf("the default issuer's successor names %q, want %q", opaque.SessionOf(byNamed.RefreshToken, "ak"), pair.SessionID)
	}
	back, err := old.Refresh(ctx, byNamed.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	unnamed("the successor of a token naming its session", back.RefreshToken)

	// Reuse of a spent token in the earlier format still ends the session.
	if _, err := old.Refresh(ctx, next.RefreshToken); err == nil {
		t.Fatal("a spent refresh token was rotated again")
	}
	if _, err := old.Refresh(ctx, back.RefreshToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Errorf("the session's current token after a reuse: %v, want ErrTokenRevoked", err)
	}
}
