package conformance_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/conformance"
)

// The Stalled checks hold a store that claims authkit.DeadlineStore to its
// claim. stallingRevocations plays a networked store over the memory store:
// while stalled, its backend "stops answering", and mode decides what the
// store then does.

type stallMode int

const (
	// stallHonours returns ErrStoreUnavailable as soon as ctx ends: the
	// claim holds.
	stallHonours stallMode = iota
	// stallIgnores waits for a reply that never comes, whatever ctx says.
	stallIgnores
	// stallSilent returns at ctx's end as if the call had succeeded:
	// nothing written, IsRevoked (false, nil).
	stallSilent
)

type stallingRevocations struct {
	authkit.RevocationStore
	stalled bool
	mode    stallMode
	never   chan struct{} // closed when the test ends, releasing stallIgnores
}

func (s *stallingRevocations) HonorsDeadlines() bool { return true }

// wait is the stalled backend: it returns only when s's mode lets it.
func (s *stallingRevocations) wait(ctx context.Context) (stalled bool, err error) {
	if !s.stalled {
		return false, nil
	}
	switch s.mode {
	case stallIgnores:
		<-s.never
		return true, fmt.Errorf("%w: released at the end of the test", authkit.ErrStoreUnavailable)
	case stallSilent:
		<-ctx.Done()
		return true, nil
	default:
		<-ctx.Done()
		return true, fmt.Errorf("%w: no reply: %w", authkit.ErrStoreUnavailable, ctx.Err())
	}
}

func (s *stallingRevocations) RevokeToken(ctx context.Context, subject, jti string, until time.Time) error {
	if stalled, err := s.wait(ctx); stalled {
		return err
	}
	return s.RevocationStore.RevokeToken(ctx, subject, jti, until)
}

func (s *stallingRevocations) RevokeSessionTokens(ctx context.Context, subject, sid string, until time.Time) error {
	if stalled, err := s.wait(ctx); stalled {
		return err
	}
	return s.RevocationStore.RevokeSessionTokens(ctx, subject, sid, until)
}

func (s *stallingRevocations) SetCutoff(ctx context.Context, subject string, cutoff, until time.Time) error {
	if stalled, err := s.wait(ctx); stalled {
		return err
	}
	return s.RevocationStore.SetCutoff(ctx, subject, cutoff, until)
}

func (s *stallingRevocations) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	if stalled, err := s.wait(ctx); stalled {
		return false, err
	}
	return s.RevocationStore.IsRevoked(ctx, q, now)
}

func (s *stallingRevocations) DeleteExpiredRevocations(ctx context.Context, now time.Time, limit int) (int, error) {
	if stalled, err := s.wait(ctx); stalled {
		return 0, err
	}
	return s.RevocationStore.DeleteExpiredRevocations(ctx, now, limit)
}

// stallingHarness is the harness of stallingRevocations in mode; with
// withStalled false it has no Stalled func.
func stallingHarness(mode stallMode, withStalled bool) conformance.PartialHarness[authkit.RevocationStore] {
	h := conformance.PartialHarness[authkit.RevocationStore]{
		InProcess: true,
		New: func(t *testing.T) authkit.RevocationStore {
			return &stallingRevocations{RevocationStore: memory.New(), mode: mode}
		},
	}
	if withStalled {
		h.Stalled = func(t *testing.T) authkit.RevocationStore {
			never := make(chan struct{})
			t.Cleanup(func() { close(never) })
			return &stallingRevocations{RevocationStore: memory.New(), stalled: true, mode: mode, never: never}
		}
	}
	return h
}

// TestStalledHonoured runs the revocation checks on a store that claims
// authkit.DeadlineStore and keeps the claim: it passes, Stalled included.
func TestStalledHonoured(t *testing.T) {
	t.Parallel()
	conformance.RunRevocationStore(t, stallingHarness(stallHonours, true))
}

const stalledEnv = "AUTHKIT_CONFORMANCE_STALLED_MUTANT"

// TestStalledMutants checks that the Stalled checks fail a store that
// claims authkit.DeadlineStore and breaks the claim, or leaves it
// unchecked.
func TestStalledMutants(t *testing.T) {
	t.Parallel()
	child := os.Getenv(stalledEnv)
	for _, m := range []struct {
		name        string
		mode        stallMode
		withStalled bool
		want        []string
	}{
		{"Ignores", stallIgnores, true, []string{"Revocation/Stalled/IsRevoked", "was still running", "must return from every call soon after its ctx's deadline"}},
		{"Silent", stallSilent, true, []string{"Revocation/Stalled/RevokeToken", "returned nil", "fail closed"}},
		{"Unchecked", stallHonours, false, []string{"Revocation/Stalled", "Harness.Stalled is nil", "give the harness a Stalled func"}},
	} {
		t.Run(m.name, func(t *testing.T) {
			if child == m.name {
				conformance.RunRevocationStore(t, stallingHarness(m.mode, m.withStalled))
				return
			}
			expectSuiteFails(t, stalledEnv, "TestStalledMutants", m.name, "Revocation/Stalled", "store", m.want)
		})
	}
}
