package issuer_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/storetest"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
)

// slowStore is a memory store whose writes wait, ignoring their context
// (as lib/pq does through a network partition), until release is closed,
// and are then carried out: the store answers too late.
type slowStore struct {
	*memory.Store
	release  chan struct{}
	once     sync.Once
	created  atomic.Int32
	rotated  atomic.Int32
	deadline atomic.Bool // a call had a deadline
}

func newSlowStore(t *testing.T) *slowStore {
	s := &slowStore{Store: memory.New(), release: make(chan struct{})}
	t.Cleanup(s.free)
	return s
}

func (s *slowStore) free() { s.once.Do(func() { close(s.release) }) }

// InProcess is false: the store stands for one across a network, whatever
// the memory store it wraps says.
func (s *slowStore) InProcess() bool { return false }

func (s *slowStore) wait(ctx context.Context) {
	if _, ok := ctx.Deadline(); ok {
		s.deadline.Store(true)
	}
	<-s.release
}

func (s *slowStore) CreateSession(ctx context.Context, sess authkit.Session, first authkit.RefreshRecord) error {
	s.wait(ctx)
	defer s.created.Add(1)
	return s.Store.CreateSession(context.WithoutCancel(ctx), sess, first)
}

func (s *slowStore) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	s.wait(ctx)
	defer s.rotated.Add(1)
	return s.Store.RotateRefresh(context.WithoutCancel(ctx), r)
}

func (s *slowStore) CreateAPIToken(ctx context.Context, t authkit.APIToken, limit int, now time.Time) error {
	s.wait(ctx)
	defer s.created.Add(1)
	return s.Store.CreateAPIToken(context.WithoutCancel(ctx), t, limit, now)
}

// A login the store carries out after the issuer gave up on it leaves no
// live session: the issuer revokes it once the store has answered.
func TestStoreTimeoutIssuePairAndRefresh(t *testing.T) {
	const timeout = 100 * time.Millisecond
	set, err := keys.NewSet(mustKeyT(t))
	if err != nil {
		t.Fatal(err)
	}
	fast := memory.New()
	st := newSlowStore(t)
	st.Store = fast
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(st), authkit.WithStoreTimeout(timeout))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A pair issued straight into the memory store, to refresh.
	direct, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(fast))
	if err != nil {
		t.Fatal(err)
	}
	pair, err := direct.IssuePair(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}

	storetest.RefusedWithin(t, "IssuePair", timeout, func() error { _, err := iss.IssuePair(ctx, "alice"); return err })
	storetest.RefusedWithin(t, "Refresh", timeout, func() error { _, err := iss.Refresh(ctx, pair.RefreshToken); return err })
	storetest.RefusedWithin(t, "CreateAPIToken", timeout, func() error { _, _, err := iss.CreateAPIToken(ctx, "alice", "ci"); return err })
	if !st.deadline.Load() {
		t.Error("the store calls had no deadline")
	}

	// The store now carries the calls out, too late for their callers.
	st.free()
	until := time.Now().Add(10 * time.Second)
	for st.created.Load() < 2 || st.rotated.Load() < 1 {
		if time.Now().After(until) {
			t.Fatal("the abandoned calls never finished")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for {
		ss, err := fast.ListSessions(ctx, "alice", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ts, err := fast.ListAPITokens(ctx, "alice", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(ss) == 0 && len(ts) == 0 {
			break
		}
		if time.Now().After(until) {
			t.Fatalf("a login and an API token whose callers were told 503 are still live: %d sessions, %d API tokens", len(ss), len(ts))
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A refresh that landed without its caller learning it: the old token
	// is spent, so presenting it again is reuse (no WithReuseGrace here).
	if _, err := iss.Refresh(ctx, pair.RefreshToken); !errors.Is(err, authkit.ErrTokenReused) {
		t.Errorf("retrying a refresh that landed late: %v, want ErrTokenReused", err)
	}
}

func mustKeyT(t *testing.T) *keys.Key {
	k, err := keys.Generate(keys.HS256)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
