package conformance_test

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/authkit-go/authkit"
)

// Mutants of in-process stores that keep or hand out slices instead of
// copies (the memory store's own tests cover it; the suite did not until
// 2026-12-04): an application that reuses a slice it passed, or changes
// one it read, would change what the store holds for every later reader.
func init() {
	mutants = append(mutants,
		mutant{
			name: "APITokenKeepsCallersScopes",
			run:  "APIToken/Create/RoundTrip",
			wrap: func(s authkit.Store) authkit.Store { return newSliceSharing(s, false) },
			want: []string{"APIToken/Create/RoundTrip", "after the caller changed its slice", "returns fresh ones"},
		},
		mutant{
			name: "APITokenHandsOutItsScopes",
			run:  "APIToken/Create/RoundTrip",
			wrap: func(s authkit.Store) authkit.Store { return newSliceSharing(s, true) },
			want: []string{"APIToken/Create/RoundTrip", "after the Scopes of a read were changed", "returns fresh ones"},
		},
		mutant{
			name: "SessionKeepsCallersSlices",
			run:  "Refresh/CreateSession/RoundTrip",
			wrap: func(s authkit.Store) authkit.Store { return newSliceSharing(s, false) },
			want: []string{"Refresh/CreateSession/RoundTrip", "after CreateSession and the caller changed its slices", "returns fresh ones"},
		},
		mutant{
			name: "SessionHandsOutItsSlices",
			run:  "Refresh/CreateSession/RoundTrip",
			wrap: func(s authkit.Store) authkit.Store { return newSliceSharing(s, true) },
			want: []string{"Refresh/CreateSession/RoundTrip", "after the slices of a read were changed", "returns fresh ones"},
		},
	)
}

// sliceSharing keeps the slices of the tokens and sessions it stores —
// the caller's own, or (copied) one copy of its own — and hands that same
// slice to every read.
type sliceSharing struct {
	authkit.Store
	copyIn   bool
	mu       sync.Mutex
	scopes   map[string][]string // API token ID → Scopes
	sessions map[string]authkit.Session
}

func newSliceSharing(s authkit.Store, copyIn bool) *sliceSharing {
	return &sliceSharing{Store: s, copyIn: copyIn, scopes: map[string][]string{}, sessions: map[string]authkit.Session{}}
}

func (s *sliceSharing) CreateAPIToken(ctx context.Context, t authkit.APIToken, limit int, now time.Time) error {
	if err := s.Store.CreateAPIToken(ctx, t, limit, now); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.copyIn {
		t.Scopes = slices.Clone(t.Scopes)
	}
	s.scopes[t.ID] = t.Scopes
	return nil
}

func (s *sliceSharing) token(t authkit.APIToken) authkit.APIToken {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.scopes[t.ID]; ok {
		t.Scopes = k
	}
	return t
}

func (s *sliceSharing) LookupAPIToken(ctx context.Context, h authkit.TokenHash) (authkit.APIToken, error) {
	t, err := s.Store.LookupAPIToken(ctx, h)
	return s.token(t), err
}

func (s *sliceSharing) ListAPITokens(ctx context.Context, subject string, now time.Time) ([]authkit.APIToken, error) {
	list, err := s.Store.ListAPITokens(ctx, subject, now)
	for i := range list {
		list[i] = s.token(list[i])
	}
	return list, err
}

func (s *sliceSharing) CreateSession(ctx context.Context, x authkit.Session, r authkit.RefreshRecord) error {
	if err := s.Store.CreateSession(ctx, x, r); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.copyIn {
		x.Scopes, x.Audience, x.Claims = slices.Clone(x.Scopes), slices.Clone(x.Audience), slices.Clone(x.Claims)
	}
	s.sessions[x.ID] = x
	return nil
}

func (s *sliceSharing) session(x authkit.Session) authkit.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.sessions[x.ID]; ok {
		x.Scopes, x.Audience, x.Claims = k.Scopes, k.Audience, k.Claims
	}
	return x
}

func (s *sliceSharing) Session(ctx context.Context, id string) (authkit.Session, error) {
	x, err := s.Store.Session(ctx, id)
	return s.session(x), err
}

func (s *sliceSharing) ListSessions(ctx context.Context, subject string, now time.Time) ([]authkit.Session, error) {
	list, err := s.Store.ListSessions(ctx, subject, now)
	for i := range list {
		list[i] = s.session(list[i])
	}
	return list, err
}
