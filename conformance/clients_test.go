package conformance_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/conformance"
)

// The reference store passes the client checks through RunClientStore,
// the same calls a networked store would answer.
func TestReferenceClients(t *testing.T) {
	t.Parallel()
	conformance.RunClientStore(t, conformance.PartialHarness[authkit.ClientStore]{
		New:  func(t *testing.T) authkit.ClientStore { return memory.New() },
		Peer: func(t *testing.T, s authkit.ClientStore) authkit.ClientStore { return s },
	})
}

// countingClients counts the redemptions made through it.
type countingClients struct {
	*memory.Store
	n *atomic.Int32
}

func (c countingClients) RedeemAuthorizationCode(ctx context.Context, h authkit.TokenHash, now time.Time) (authkit.AuthorizationCode, error) {
	c.n.Add(1)
	return c.Store.RedeemAuthorizationCode(ctx, h, now)
}

// onlyStore hides every optional interface of the store it wraps.
type onlyStore struct{ authkit.Store }

// storeAndClients is a Store and a ClientStore with every other optional
// interface (the feed's slow checks among them) hidden.
type storeAndClients struct {
	authkit.Store
	authkit.ClientStore
}

// Run runs the client checks for a Store that implements
// authkit.ClientStore, and passes over one that does not.
func TestRunIncludesClients(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	t.Run("Implements", func(t *testing.T) {
		conformance.Run(t, conformance.Harness{
			InProcess: true,
			New: func(t *testing.T) authkit.Store {
				m := memory.New()
				return storeAndClients{m, countingClients{m, &n}}
			},
		})
	})
	if n.Load() == 0 {
		t.Error("Run redeemed no code on a store that implements authkit.ClientStore: it must run the client checks")
	}
	n.Store(0)
	t.Run("DoesNot", func(t *testing.T) {
		conformance.Run(t, conformance.Harness{
			InProcess: true,
			New:       func(t *testing.T) authkit.Store { return onlyStore{countingClients{memory.New(), &n}} },
		})
	})
	if n.Load() != 0 {
		t.Errorf("Run redeemed %d codes through a store that does not implement authkit.ClientStore", n.Load())
	}
}

// countingAssertions counts the client assertions used through it.
type countingAssertions struct {
	*memory.Store
	n *atomic.Int32
}

func (c countingAssertions) UseClientAssertion(ctx context.Context, clientID string, h authkit.TokenHash, expiresAt, now time.Time) error {
	c.n.Add(1)
	return c.Store.UseClientAssertion(ctx, clientID, h, expiresAt, now)
}

// onlyClients hides every optional interface of the ClientStore it wraps.
type onlyClients struct{ authkit.ClientStore }

// RunClientStore checks authkit.ClientAssertionStore on a store that
// implements it, and passes over (without failing) one that does not.
func TestRunClientStoreAssertions(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	t.Run("Implements", func(t *testing.T) {
		conformance.RunClientStore(t, conformance.PartialHarness[authkit.ClientStore]{
			InProcess: true,
			New:       func(t *testing.T) authkit.ClientStore { return countingAssertions{memory.New(), &n} },
		})
	})
	if n.Load() == 0 {
		t.Error("RunClientStore used no client assertion on a store that implements authkit.ClientAssertionStore")
	}
	t.Run("DoesNot", func(t *testing.T) {
		conformance.RunClientStore(t, conformance.PartialHarness[authkit.ClientStore]{
			InProcess: true,
			New:       func(t *testing.T) authkit.ClientStore { return onlyClients{memory.New()} },
		})
	})
}
