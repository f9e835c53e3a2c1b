package verifier_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/storecall"
	"github.com/authkit-go/authkit/internal/storetest"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// hungStore is a memory store whose IsRevoked, LookupAPIToken and feed
// hang, ignoring their context (as lib/pq does through a network
// partition), until release is closed. It records whether each call's
// context had a deadline.
type hungStore struct {
	*memory.Store
	release     chan struct{}
	mu          sync.Mutex
	deadlines   []bool
	inProcess   bool
	entered     chan struct{} // receives once per hung call, if not nil
	hangLookups bool
}

func newHungStore(t *testing.T) *hungStore {
	h := &hungStore{Store: memory.New(), release: make(chan struct{})}
	t.Cleanup(func() { h.free() })
	return h
}

var freeOnce sync.Map

func (h *hungStore) free() {
	if _, done := freeOnce.LoadOrStore(h, true); !done {
		close(h.release)
	}
}

func (h *hungStore) hang(ctx context.Context) {
	_, has := ctx.Deadline()
	h.mu.Lock()
	h.deadlines = append(h.deadlines, has)
	h.mu.Unlock()
	if h.entered != nil {
		h.entered <- struct{}{}
	}
	<-h.release
}

func (h *hungStore) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	h.hang(ctx)
	return false, nil // a store answering after the caller gave up: never "let in"
}

func (h *hungStore) LookupAPIToken(ctx context.Context, th authkit.TokenHash) (authkit.APIToken, error) {
	if h.hangLookups {
		h.hang(ctx)
	}
	return h.Store.LookupAPIToken(ctx, th)
}

func (h *hungStore) InProcess() bool { return h.inProcess }

// hungFeed is a hungStore whose feed never delivers a snapshot, so that a
// revocation mirror over it stays stale and asks the store.
type hungFeed struct{ *hungStore }

func (f hungFeed) RevocationSnapshot(ctx context.Context, now time.Time, fn func(authkit.Revocation) error) (authkit.FeedPosition, error) {
	<-ctx.Done()
	return "", ctx.Err()
}

func (f hungFeed) FollowRevocations(ctx context.Context, after authkit.FeedPosition, heartbeat time.Duration, fn func([]authkit.Revocation, authkit.FeedPosition) error) error {
	<-ctx.Done()
	return ctx.Err()
}

func deadlineSetup(t *testing.T, st authkit.Store, opts ...authkit.Option) (*verifier.Verifier, authkit.TokenPair, string) {
	t.Helper()
	set, err := keys.NewSet(mustKey(t, keys.HS256))
	if err != nil {
		t.Fatal(err)
	}
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(memory.New()))
	if err != nil {
		t.Fatal(err)
	}
	pair, err := iss.IssuePair(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	iss2, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(st))
	if err != nil {
		t.Fatal(err)
	}
	api, _, err := iss2.CreateAPIToken(t.Context(), "alice", "ci")
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(append([]authkit.Option{authkit.WithKeys(set), authkit.WithStore(st)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v, pair, api
}

func TestStoreTimeoutBoundsHungStore(t *testing.T) {
	const timeout = 100 * time.Millisecond
	st := newHungStore(t)
	st.hangLookups = true
	v, pair, api := deadlineSetup(t, st, authkit.WithStoreTimeout(timeout))
	// No deadline on the caller's context: the store timeout alone ends it.
	ctx := context.Background()
	storetest.RefusedWithin(t, "Verify of a JWT (cold)", timeout, func() error {
		p, err := v.Verify(ctx, pair.AccessToken)
		if err == nil {
			t.Errorf("Verify let %s in", p.Subject)
		}
		return err
	})
	storetest.RefusedWithin(t, "Verify of an API token", timeout, func() error {
		_, err := v.Verify(ctx, api)
		return err
	})
	st.mu.Lock()
	defer st.mu.Unlock()
	for i, has := range st.deadlines {
		if !has {
			t.Errorf("store call %d had no deadline", i)
		}
	}
}

func TestStoreTimeoutCallerCancel(t *testing.T) {
	st := newHungStore(t)
	v, pair, _ := deadlineSetup(t, st, authkit.WithStoreTimeout(time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := v.Verify(ctx, pair.AccessToken)
	if !errors.Is(err, context.Canceled) || errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Errorf("Verify whose caller gave up: %v, want context.Canceled (not a store outage)", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Verify took %v after its caller cancelled", took)
	}

	// The caller's deadline, shorter than the store timeout, is a store
	// that did not answer in time.
	dctx, dcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer dcancel()
	if _, err := v.Verify(dctx, pair.AccessToken); !errors.Is(err, authkit.ErrStoreUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Verify past its caller's deadline: %v, want ErrStoreUnavailable and DeadlineExceeded", err)
	}
}

// An in-process store is called as it is, with no deadline of its own.
func TestStoreTimeoutSkipsInProcessStores(t *testing.T) {
	st := newHungStore(t)
	st.inProcess = true
	st.entered = make(chan struct{}, 1)
	v, pair, _ := deadlineSetup(t, st, authkit.WithStoreTimeout(10*time.Millisecond))
	errc := make(chan error, 1)
	go func() {
		_, err := v.Verify(context.Background(), pair.AccessToken)
		errc <- err
	}()
	select {
	case <-st.entered:
	case err := <-errc:
		t.Fatalf("Verify over an in-process store returned %v without calling it", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Verify over an in-process store did not call it within 10s")
	}
	select {
	case err := <-errc:
		t.Fatalf("Verify over an in-process store returned %v before the store answered", err)
	case <-time.After(100 * time.Millisecond):
	}
	st.free()
	if err := <-errc; err != nil {
		t.Errorf("Verify over an in-process store: %v", err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.deadlines) != 1 || st.deadlines[0] {
		t.Errorf("an in-process store was called with deadlines %v, want one call without", st.deadlines)
	}
}

// A revocation mirror that is not current asks its store under the store
// timeout.
func TestStoreTimeoutBoundsMirrorFallback(t *testing.T) {
	const timeout = 100 * time.Millisecond
	st := newHungStore(t)
	v, pair, _ := deadlineSetup(t, hungFeed{st}, authkit.WithStoreTimeout(timeout), authkit.WithRevocationMirror(time.Second))
	storetest.RefusedWithin(t, "Verify through a stale mirror", timeout, func() error {
		_, err := v.Verify(context.Background(), pair.AccessToken)
		return err
	})
}

// Calls given up on that are still hanging are bounded: past the limit,
// calls are refused at once.
func TestStoreTimeoutBacklog(t *testing.T) {
	const timeout = 20 * time.Millisecond
	st := newHungStore(t)
	v, pair, _ := deadlineSetup(t, st, authkit.WithStoreTimeout(timeout), authkit.WithVerifyCache(0))
	// refusedAtOnce tells the backlog's refusal from a timeout by the
	// error (a call that waited for the store carries DeadlineExceeded),
	// not by how long it took, which a starved machine stretches.
	refusedAtOnce := func(err error) bool {
		return errors.Is(err, authkit.ErrStoreUnavailable) && !errors.Is(err, context.DeadlineExceeded)
	}
	var (
		wg      sync.WaitGroup
		refused atomic.Int32
	)
	for range 300 {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), pair.AccessToken); refusedAtOnce(err) {
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	calls := func() int {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.deadlines)
	}
	// Every call let through reaches the store, though a caller gives up
	// at its deadline whether or not the goroutine calling the store for
	// it has run yet (on a starved machine some arrive only now).
	admitted := 300 - int(refused.Load())
	if admitted < storecall.MaxAbandoned || admitted > 300 {
		t.Errorf("%d of 300 calls let through, want between %d and 300", admitted, storecall.MaxAbandoned)
	}
	for wait := time.Now().Add(10 * time.Second); calls() < admitted && time.Now().Before(wait); {
		time.Sleep(time.Millisecond)
	}
	if n := calls(); n != admitted {
		t.Errorf("%d calls reached the hung store, want the %d let through", n, admitted)
	}
	_, err := v.Verify(context.Background(), pair.AccessToken)
	if !refusedAtOnce(err) {
		t.Errorf("Verify with the backlog full: %v, want ErrStoreUnavailable refused at once (without DeadlineExceeded)", err)
	}
	// Nor does a refused call reach the store later.
	time.Sleep(50 * time.Millisecond)
	if n := calls(); n != admitted {
		t.Errorf("%d calls reached the store, %d let through: a refused call reached it", n, admitted)
	}
	// Once the store answers, the backlog drains and calls go through.
	st.free()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := v.Verify(context.Background(), pair.AccessToken)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Verify after the store recovered: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkStoreDeadline measures what the store timeout costs a cached
// verify over a revocation store: wrapped (a store not known to be in
// process), and skipped (authkit.InProcessStore).
func BenchmarkStoreDeadline(b *testing.B) {
	for _, c := range []struct {
		name      string
		inProcess bool
	}{{"bounded", false}, {"in-process", true}} {
		b.Run(c.name, func(b *testing.B) {
			set, _ := keys.NewSet(mustKey(b, keys.HS256))
			st := memory.New()
			iss, _ := issuer.New(authkit.WithKeys(set), authkit.WithStore(st))
			pair, err := iss.IssuePair(context.Background(), "alice")
			if err != nil {
				b.Fatal(err)
			}
			var rs authkit.RevocationStore = remoteStore{st}
			if c.inProcess {
				rs = inProcessStore{st}
			}
			v, err := verifier.New(authkit.WithKeys(set), authkit.WithRevocationStore(rs))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, pair.AccessToken); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type inProcessStore struct{ *memory.Store }

func (inProcessStore) InProcess() bool { return true }

// remoteStore stands for a store across a network, whatever the memory
// store it wraps says.
type remoteStore struct{ *memory.Store }

func (remoteStore) InProcess() bool { return false }

type panickyStore struct{ *memory.Store }

func (panickyStore) InProcess() bool { return false }

func (panickyStore) IsRevoked(context.Context, authkit.RevocationQuery, time.Time) (bool, error) {
	panic("store bug")
}

// A store that panics panics in the caller's goroutine, as it would
// without the deadline (net/http recovers it there), not in the goroutine
// the call ran in, where it would end the process.
func TestStoreTimeoutPanicReachesCaller(t *testing.T) {
	v, pair, _ := deadlineSetup(t, panickyStore{memory.New()}, authkit.WithStoreTimeout(time.Second))
	defer func() {
		if p := recover(); p != "store bug" {
			t.Errorf("recovered %v, want the store's panic", p)
		}
	}()
	_, err := v.Verify(context.Background(), pair.AccessToken)
	t.Errorf("Verify over a panicking store returned %v", err)
}
