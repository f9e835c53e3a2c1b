package meteredstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/conformance"

	"github.com/authkit-go/authkit/examples/meteredstore"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		New: func(t *testing.T) authkit.Store {
			return meteredstore.New(memory.New())
		},
		// The decorator passes on the memory store's InProcess report:
		// there is no backend to be unreachable, and one handle is all.
	})
}

func BenchmarkStore(b *testing.B) {
	conformance.Bench(b, func(b *testing.B) authkit.Store {
		return meteredstore.New(memory.New())
	})
}

// The decorator counts without changing answers.
func TestCounts(t *testing.T) {
	s := meteredstore.New(memory.New())
	ctx := context.Background()
	now := time.Now()
	s.RevokeToken(ctx, "alice", "j1", now.Add(time.Hour))
	dead, err := s.IsRevoked(ctx, authkit.RevocationQuery{TokenID: "j1", Subject: "alice", IssuedAt: now}, now)
	if err != nil || !dead {
		t.Fatalf("IsRevoked = %v, %v", dead, err)
	}
	if checks, failures := s.Counts(); checks != 1 || failures != 0 {
		t.Fatalf("Counts = %d, %d", checks, failures)
	}
}

// The decorator keeps a wrapped store's shared throttle counters (found
// by review: embedding authkit.Store hid them, and httpauth then counted
// failed passwords per replica), and adds none to a store without them.
func TestKeepsThrottle(t *testing.T) {
	type withThrottle struct {
		authkit.Store
		authkit.ThrottleStore
	}
	inner := withThrottle{memory.New(), memory.NewThrottle()}
	if _, ok := meteredstore.New(inner).(authkit.ThrottleStore); !ok {
		t.Error("New of a ThrottleStore is not one")
	}
	if ip, ok := meteredstore.New(memory.New()).(authkit.InProcessStore); !ok || !ip.InProcess() {
		t.Error("New of the memory store does not pass on its InProcess report")
	}
	// A store that does not say it is in process (a SQL or Redis one) is
	// not made one: it would lose its per-call deadlines.
	if ip, ok := meteredstore.New(struct{ authkit.Store }{memory.New()}).(authkit.InProcessStore); ok && ip.InProcess() {
		t.Error("New of a store that is not in process reports InProcess")
	}
	plain := struct{ authkit.Store }{memory.New()}
	if _, ok := meteredstore.New(plain).(authkit.ThrottleStore); ok {
		t.Error("New of a store without throttle counters claims them")
	}
}
