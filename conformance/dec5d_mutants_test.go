package conformance_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/conformance"
	"github.com/authkit-go/authkit/internal/revmirror/feedtest"
)

// Store mistakes a review of the custom-backend path found the suite
// passing (2026-12-05), now caught.
func init() {
	mutants = append(mutants,
		mutant{
			name: "ZeroIatSkipsCutoff",
			run:  "Revocation/SetCutoff/Boundary",
			wrap: func(s authkit.Store) authkit.Store { return zeroIatSkipsCutoff{s} },
			want: []string{"SetCutoff/Boundary", "a token without iat"},
		},
		mutant{
			name: "ListsByPrefix",
			run:  "Refresh/SubjectIsolation",
			wrap: func(s authkit.Store) authkit.Store {
				return &listsByPrefix{Store: s, subjects: &subjectSet{m: map[string]bool{}}}
			},
			peer: func(s authkit.Store) authkit.Store {
				x := s.(*listsByPrefix)
				return &listsByPrefix{Store: x.Store, subjects: x.subjects}
			},
			want: []string{"SubjectIsolation", "want only iso-"},
		},
	)
}

// zeroIatSkipsCutoff leaves the subject's cutoff out for a token without
// iat, as a NULL-able column or an "iat > 0" guard does.
type zeroIatSkipsCutoff struct{ authkit.Store }

func (s zeroIatSkipsCutoff) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	if q.IssuedAt.IsZero() {
		q.IssuedAt = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC) // after every cutoff
	}
	return s.Store.IsRevoked(ctx, q, now)
}

// subjectSet is the subjects a listsByPrefix store has seen, shared by its
// handles.
type subjectSet struct {
	mu sync.Mutex
	m  map[string]bool
}

// listsByPrefix lists a subject's sessions as a key-value layout
// "sess:<subject>:<id>" scanned by the pattern "sess:<subject>:*" does:
// with those of every subject that begins with the subject and a colon.
type listsByPrefix struct {
	authkit.Store
	subjects *subjectSet
}

func (s *listsByPrefix) CreateSession(ctx context.Context, sess authkit.Session, first authkit.RefreshRecord) error {
	s.subjects.mu.Lock()
	s.subjects.m[sess.Subject] = true
	s.subjects.mu.Unlock()
	return s.Store.CreateSession(ctx, sess, first)
}

func (s *listsByPrefix) ListSessions(ctx context.Context, subject string, now time.Time) ([]authkit.Session, error) {
	s.subjects.mu.Lock()
	var subs []string
	for sub := range s.subjects.m {
		if sub == subject || strings.HasPrefix(sub, subject+":") {
			subs = append(subs, sub)
		}
	}
	s.subjects.mu.Unlock()
	slices.Sort(subs)
	var out []authkit.Session
	for _, sub := range subs {
		got, err := s.Store.ListSessions(ctx, sub, now)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

const noPeerEnv = "AUTHKIT_CONFORMANCE_NO_PEER"

// A harness without Peer for a store with a backend outside the process
// fails the suite, naming the field (found by review: a store that kept
// "not revoked" per handle passed, the only trace a log line that go test
// hides). The store here hides the reference feed's in-process report, as
// a networked store has none.
func TestHarnessWithoutPeer(t *testing.T) {
	t.Parallel()
	t.Run("NoPeer", func(t *testing.T) {
		if os.Getenv(noPeerEnv) == "NoPeer" {
			conformance.RunRevocationStore(t, conformance.PartialHarness[authkit.RevocationStore]{
				New: func(t *testing.T) authkit.RevocationStore { return networked{feedtest.New()} },
				Unavailable: func(t *testing.T) authkit.RevocationStore {
					s := feedtest.New()
					s.SetUnavailable(true)
					return networked{s}
				},
			})
			return
		}
		expectSuiteFails(t, noPeerEnv, "TestHarnessWithoutPeer", "NoPeer", "Revocation/Peer/Visibility", "harness", []string{"Harness.Peer is nil and the store has a backend outside the process"})
	})
}

// networked is a revocation store that does not say it is in-process.
type networked struct{ authkit.RevocationStore }
