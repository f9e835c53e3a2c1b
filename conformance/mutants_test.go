package conformance_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/conformance"
)

// The suite is only worth running if it fails broken stores. Each mutant
// below wraps the memory store and breaks one rule of the contract;
// TestMutants runs the suite on it in a child process (a failing subtest
// cannot be observed from inside the process) and checks that the child
// fails, in the expected subtest, with a message quoting the rule.

const mutantEnv = "AUTHKIT_CONFORMANCE_MUTANT"

type mutant struct {
	name string
	run  string // -test.run pattern below TestMutants/<name>/
	wrap func(authkit.Store) authkit.Store
	// peer, if set, is Harness.Peer: a second handle on the data of a
	// store wrap made (for mutants that keep state per handle).
	peer func(authkit.Store) authkit.Store
	want []string // substrings of the child's output
}

var mutants = []mutant{
	{
		name: "ForkingRotation",
		run:  "Refresh/Rotate/ExactlyOneWinner",
		wrap: func(s authkit.Store) authkit.Store { return forkingRotation{s} },
		want: []string{"Refresh/Rotate/ExactlyOneWinner", "must let exactly one of N concurrent calls with the same r.Old succeed"},
	},
	{
		name: "ReuseBeforeRevoked",
		run:  "Refresh/Rotate/RevokedBeforeReuse",
		wrap: func(s authkit.Store) authkit.Store { return reuseBeforeRevoked{s} },
		want: []string{"Refresh/Rotate/RevokedBeforeReuse", "ErrTokenRevoked when the session is revoked, before checking reuse"},
	},
	{
		name: "ReuseWithoutSuccessor",
		run:  "Refresh/Rotate/Reuse",
		wrap: func(s authkit.Store) authkit.Store { return reuseWithoutSuccessor{s} },
		want: []string{"Refresh/Rotate/Reuse", "Successor: got 0 bytes", "with every field set"},
	},
	{
		name: "ConflictAsReuse",
		run:  "Refresh/Rotate/SuccessorConflict",
		wrap: func(s authkit.Store) authkit.Store { return conflictAsReuse{s} },
		want: []string{"Refresh/Rotate/SuccessorConflict", "must return ErrConflict, changing nothing"},
	},
	{
		name: "ExpiryOffByOne",
		run:  "Refresh/Rotate/RecordExpired",
		wrap: func(s authkit.Store) authkit.Store { return expiryOffByOne{s} },
		want: []string{"Refresh/Rotate/RecordExpired", "ExpiresAt <= r.Now"},
	},
	{
		name: "LookupHidesUsed",
		run:  "Refresh/Rotate/HappyPath",
		wrap: func(s authkit.Store) authkit.Store { return lookupHidesUsed{s} },
		want: []string{"Refresh/Rotate/HappyPath", "used or not, expired or not"},
	},
	{
		name: "OldestFirst",
		run:  "Refresh/ListSessions/NewestFirst",
		wrap: func(s authkit.Store) authkit.Store { return oldestFirst{s} },
		want: []string{"Refresh/ListSessions/NewestFirst", "newest first"},
	},
	{
		name: "CaseFoldedSubjects",
		run:  "Refresh/SubjectIsolation",
		wrap: func(s authkit.Store) authkit.Store { return caseFolded{s} },
		want: []string{"Refresh/SubjectIsolation", "compared byte for byte"},
	},
	{
		name: "CutoffStrictlyBefore",
		run:  "Revocation/SetCutoff/Boundary",
		wrap: func(s authkit.Store) authkit.Store { return cutoffStrict{s} },
		want: []string{"Revocation/SetCutoff/Boundary", "issued exactly at the cutoff", "at or before cutoff"},
	},
	{
		name: "CutoffInSeconds",
		run:  "Revocation/SetCutoff/Boundary",
		wrap: func(s authkit.Store) authkit.Store { return cutoffSeconds{s} },
		want: []string{"Revocation/SetCutoff/Boundary", "to the millisecond at least"},
	},
	{
		name: "UntilInclusive",
		run:  "Revocation/RevokeToken/UntilBoundary",
		wrap: func(s authkit.Store) authkit.Store { return untilInclusive{s} },
		want: []string{"Revocation/RevokeToken/UntilBoundary", "until == now no longer counts"},
	},
	{
		name: "CachesNotRevoked",
		run:  "Revocation/Peer/SameQueryAfterRevocation",
		wrap: func(s authkit.Store) authkit.Store {
			return &cachesNotRevoked{Store: s, seen: map[authkit.RevocationQuery]bool{}}
		},
		want: []string{"Revocation/Peer/SameQueryAfterRevocation", "a cache must never keep a \"not revoked\" answer"},
	},
	{
		name: "LimitCountsExpired",
		run:  "APIToken/Limit/RevokedAndExpiredDoNotCount",
		wrap: func(s authkit.Store) authkit.Store { return limitCountsExpired{s} },
		want: []string{"APIToken/Limit/RevokedAndExpiredDoNotCount", "revoked and expired tokens are not live"},
	},
	{
		name: "IgnoresContext",
		run:  "APIToken/Context/Canceled/CreateAPIToken",
		wrap: func(s authkit.Store) authkit.Store { return ignoresContext{s} },
		want: []string{"APIToken/Context/Canceled/CreateAPIToken", "a cancelled or expired ctx yields an error matching ctx.Err()"},
	},
}

func TestMutants(t *testing.T) {
	t.Parallel()
	child := os.Getenv(mutantEnv)
	for _, m := range mutants {
		t.Run(m.name, func(t *testing.T) {
			if child == m.name {
				h := conformance.Harness{New: func(t *testing.T) authkit.Store { return m.wrap(memory.New()) }, InProcess: true}
				if m.peer != nil {
					h.Peer = func(t *testing.T, s authkit.Store) authkit.Store { return m.peer(s) }
				}
				conformance.Run(t, h)
				return
			}
			expectSuiteFails(t, mutantEnv, "TestMutants", m.name, m.run, "store", m.want)
		})
	}
}

// forkingRotation lets every concurrent rotation of one token succeed, as
// a read-then-write store would.
type forkingRotation struct{ authkit.Store }

func (s forkingRotation) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	sess, err := s.Store.RotateRefresh(ctx, r)
	if re, ok := errors.AsType[*authkit.ReuseError](err); ok && re.UsedAt.Equal(r.Now) {
		return s.Session(ctx, re.SessionID)
	}
	return sess, err
}

// reuseBeforeRevoked reports reuse even in a revoked session.
type reuseBeforeRevoked struct{ authkit.Store }

func (s reuseBeforeRevoked) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	if rec, err := s.LookupRefresh(ctx, r.Old); err == nil && !rec.UsedAt.IsZero() {
		return authkit.Session{}, &authkit.ReuseError{SessionID: rec.SessionID, Subject: rec.Subject, UsedAt: rec.UsedAt, Successor: rec.Successor}
	}
	return s.Store.RotateRefresh(ctx, r)
}

// reuseWithoutSuccessor drops the sealed successor from reuse errors.
type reuseWithoutSuccessor struct{ authkit.Store }

func (s reuseWithoutSuccessor) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	sess, err := s.Store.RotateRefresh(ctx, r)
	if re, ok := errors.AsType[*authkit.ReuseError](err); ok {
		re.Successor = nil
	}
	return sess, err
}

// expiryOffByOne treats ExpiresAt == now as still live.
type expiryOffByOne struct{ authkit.Store }

func (s expiryOffByOne) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	r.Now = r.Now.Add(-time.Nanosecond)
	return s.Store.RotateRefresh(ctx, r)
}

// conflictAsReuse reports a taken successor hash as reuse, as a store that
// checked the successor's hash before the old record's state would: the
// issuer would then revoke a live session over a random collision.
type conflictAsReuse struct{ authkit.Store }

func (s conflictAsReuse) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	sess, err := s.Store.RotateRefresh(ctx, r)
	if errors.Is(err, authkit.ErrConflict) {
		return authkit.Session{}, &authkit.ReuseError{SessionID: "x", Subject: "x", UsedAt: r.Now, Successor: []byte("x")}
	}
	return sess, err
}

// lookupHidesUsed treats a rotated token as gone.
type lookupHidesUsed struct{ authkit.Store }

func (s lookupHidesUsed) LookupRefresh(ctx context.Context, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	rec, err := s.Store.LookupRefresh(ctx, h)
	if err == nil && !rec.UsedAt.IsZero() {
		return authkit.RefreshRecord{}, authkit.ErrNotFound
	}
	return rec, err
}

// oldestFirst lists sessions in the wrong order.
type oldestFirst struct{ authkit.Store }

func (s oldestFirst) ListSessions(ctx context.Context, subject string, now time.Time) ([]authkit.Session, error) {
	l, err := s.Store.ListSessions(ctx, subject, now)
	slices.Reverse(l)
	return l, err
}

// caseFolded compares subjects case-insensitively, as a default MySQL
// collation does.
type caseFolded struct{ authkit.Store }

func (s caseFolded) CreateSession(ctx context.Context, sess authkit.Session, first authkit.RefreshRecord) error {
	sess.Subject = strings.ToLower(sess.Subject)
	first.Subject = sess.Subject
	return s.Store.CreateSession(ctx, sess, first)
}

func (s caseFolded) ListSessions(ctx context.Context, subject string, now time.Time) ([]authkit.Session, error) {
	return s.Store.ListSessions(ctx, strings.ToLower(subject), now)
}

func (s caseFolded) RevokeSubjectSessions(ctx context.Context, subject string, now time.Time) ([]string, error) {
	return s.Store.RevokeSubjectSessions(ctx, strings.ToLower(subject), now)
}

// cutoffStrict kills only tokens issued strictly before the cutoff.
type cutoffStrict struct{ authkit.Store }

func (s cutoffStrict) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	q.IssuedAt = q.IssuedAt.Add(time.Nanosecond)
	return s.Store.IsRevoked(ctx, q, now)
}

// cutoffSeconds keeps cutoffs in whole seconds, rounded down.
type cutoffSeconds struct{ authkit.Store }

func (s cutoffSeconds) SetCutoff(ctx context.Context, subject string, cutoff, until time.Time) error {
	return s.Store.SetCutoff(ctx, subject, cutoff.Truncate(time.Second), until)
}

// untilInclusive still counts an entry whose until == now.
type untilInclusive struct{ authkit.Store }

func (s untilInclusive) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	return s.Store.IsRevoked(ctx, q, now.Add(-time.Nanosecond))
}

// cachesNotRevoked remembers every "not revoked" answer, as a caching
// decorator that forgot revocations can come later would.
type cachesNotRevoked struct {
	authkit.Store
	mu   sync.Mutex
	seen map[authkit.RevocationQuery]bool
}

func (s *cachesNotRevoked) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	s.mu.Lock()
	alive := s.seen[q]
	s.mu.Unlock()
	if alive {
		return false, nil
	}
	dead, err := s.Store.IsRevoked(ctx, q, now)
	if err == nil && !dead {
		s.mu.Lock()
		s.seen[q] = true
		s.mu.Unlock()
	}
	return dead, err
}

// limitCountsExpired counts expired tokens against the limit.
type limitCountsExpired struct{ authkit.Store }

func (s limitCountsExpired) CreateAPIToken(ctx context.Context, t authkit.APIToken, limit int, now time.Time) error {
	return s.Store.CreateAPIToken(ctx, t, limit, time.Time{})
}

// ignoresContext writes whatever the caller's ctx says.
type ignoresContext struct{ authkit.Store }

func (s ignoresContext) CreateAPIToken(ctx context.Context, t authkit.APIToken, limit int, now time.Time) error {
	return s.Store.CreateAPIToken(context.WithoutCancel(ctx), t, limit, now)
}
