package conformance_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/conformance"
)

// stallingExt plays a networked external token store that claims
// authkit.DeadlineStore over the reference extStore: while stalled, its
// backend stops answering, and mode decides what a lookup then does
// (stallHonours, stallIgnores, or stallSilent, which here answers "no
// such token" at the deadline, as a driver error mapped to ErrNotFound
// would).
type stallingExt struct {
	*extStore
	stalled bool
	mode    stallMode
	never   chan struct{} // closed when the test ends, releasing stallIgnores
}

func (s *stallingExt) HonorsDeadlines() bool { return true }

func (s *stallingExt) LookupExternalAPIToken(ctx context.Context, tok string) (authkit.APIToken, error) {
	if !s.stalled || !s.OwnsToken(tok) {
		return s.extStore.LookupExternalAPIToken(ctx, tok)
	}
	switch s.mode {
	case stallIgnores:
		<-s.never
		return authkit.APIToken{}, fmt.Errorf("%w: released at the end of the test", authkit.ErrStoreUnavailable)
	case stallSilent:
		<-ctx.Done()
		return authkit.APIToken{}, authkit.ErrNotFound
	default:
		<-ctx.Done()
		return authkit.APIToken{}, fmt.Errorf("%w: no reply: %w", authkit.ErrStoreUnavailable, ctx.Err())
	}
}

// stallingExtHarness is the reference harness over stallingExt in mode;
// with withStalled false it has no Stalled func.
func stallingExtHarness(mode stallMode, withStalled bool) conformance.ExternalHarness {
	h := extHarness(func(s *extStore) authkit.ExternalAPITokens { return &stallingExt{extStore: s, mode: mode} })
	if withStalled {
		h.Stalled = func(t *testing.T) authkit.ExternalAPITokens {
			never := make(chan struct{})
			t.Cleanup(func() { close(never) })
			return &stallingExt{extStore: newExtStore(), stalled: true, mode: mode, never: never}
		}
	}
	return h
}

// TestExternalStalledHonoured runs the external token checks on a store
// that claims authkit.DeadlineStore and keeps the claim: it passes,
// Stalled included.
func TestExternalStalledHonoured(t *testing.T) {
	t.Parallel()
	conformance.RunExternalAPITokens(t, stallingExtHarness(stallHonours, true))
}

const extStalledEnv = "AUTHKIT_CONFORMANCE_EXT_STALLED_MUTANT"

// TestExternalStalledMutants checks that "External/Stalled" fails an
// external token store that claims authkit.DeadlineStore and breaks the
// claim (a lookup that outlives its deadline, or that reports a stalled
// backend as "no such token"), or leaves it unchecked.
func TestExternalStalledMutants(t *testing.T) {
	t.Parallel()
	child := os.Getenv(extStalledEnv)
	for _, m := range []struct {
		name        string
		mode        stallMode
		withStalled bool
		want        []string
	}{
		{"Ignores", stallIgnores, true, []string{"External/Stalled/LookupExternalAPIToken", "was still running"}},
		{"NotFound", stallSilent, true, []string{"External/Stalled/LookupExternalAPIToken", "on a stalled backend", "not found"}},
		{"Unchecked", stallHonours, false, []string{"External/Stalled", "Harness.Stalled is nil"}},
	} {
		t.Run(m.name, func(t *testing.T) {
			if child == m.name {
				conformance.RunExternalAPITokens(t, stallingExtHarness(m.mode, m.withStalled))
				return
			}
			expectSuiteFails(t, extStalledEnv, "TestExternalStalledMutants", m.name, "External/Stalled", "external token store", m.want)
		})
	}
}
