package storecall_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/storecall"
)

// fakeClients is a ClientStore across a network (not in process) that
// answers every call with err and fixed values. With gate set, each call
// first waits until gate is closed, ignoring its context, as a driver
// through a stalled network does.
type fakeClients struct {
	gate   chan struct{}
	once   sync.Once
	err    error
	client authkit.Client
	code   authkit.AuthorizationCode
	n      int

	calls       atomic.Int32
	noDeadline  atomic.Int32 // calls whose context had no deadline
	lastID      atomic.Value // the id or client ID of the last call
	assertCalls atomic.Int32
}

func stalled(t *testing.T) *fakeClients {
	s := &fakeClients{gate: make(chan struct{})}
	t.Cleanup(s.free)
	return s
}

func (s *fakeClients) free() { s.once.Do(func() { close(s.gate) }) }

func (s *fakeClients) enter(ctx context.Context, id string) {
	s.calls.Add(1)
	s.lastID.Store(id)
	if _, ok := ctx.Deadline(); !ok {
		s.noDeadline.Add(1)
	}
	if s.gate != nil {
		<-s.gate
	}
}

func (s *fakeClients) InProcess() bool { return false }

func (s *fakeClients) CreateClient(ctx context.Context, c authkit.Client) error {
	s.enter(ctx, c.ID)
	return s.err
}

func (s *fakeClients) GetClient(ctx context.Context, id string) (authkit.Client, error) {
	s.enter(ctx, id)
	return s.client, s.err
}

func (s *fakeClients) ListClients(ctx context.Context) ([]authkit.Client, error) {
	s.enter(ctx, "")
	return []authkit.Client{s.client}, s.err
}

func (s *fakeClients) SetClientSecret(ctx context.Context, id string, _ authkit.TokenHash, _ time.Time) error {
	s.enter(ctx, id)
	return s.err
}

func (s *fakeClients) DeleteClient(ctx context.Context, id string) error {
	s.enter(ctx, id)
	return s.err
}

func (s *fakeClients) CreateAuthorizationCode(ctx context.Context, code authkit.AuthorizationCode) error {
	s.enter(ctx, code.ClientID)
	return s.err
}

func (s *fakeClients) RedeemAuthorizationCode(ctx context.Context, _ authkit.TokenHash, _ time.Time) (authkit.AuthorizationCode, error) {
	s.enter(ctx, "")
	return s.code, s.err
}

func (s *fakeClients) SetAuthorizationCodeSession(ctx context.Context, _ authkit.TokenHash, sessionID string) error {
	s.enter(ctx, sessionID)
	return s.err
}

func (s *fakeClients) DeleteExpiredAuthorizationCodes(ctx context.Context, _ time.Time, _ int) (int, error) {
	s.enter(ctx, "")
	return s.n, s.err
}

// fakeAssertions is fakeClients with ClientAssertionStore.
type fakeAssertions struct{ *fakeClients }

func (s fakeAssertions) UseClientAssertion(ctx context.Context, clientID string, _ authkit.TokenHash, _, _ time.Time) error {
	s.assertCalls.Add(1)
	s.enter(ctx, clientID)
	return s.err
}

// clientCalls calls every ClientStore method of cs (and UseClientAssertion
// when cs has it), by name.
func clientCalls(cs authkit.ClientStore) map[string]func(context.Context) error {
	now := time.Now()
	m := map[string]func(context.Context) error{
		"CreateClient": func(ctx context.Context) error { return cs.CreateClient(ctx, authkit.Client{ID: "app"}) },
		"GetClient":    func(ctx context.Context) error { _, err := cs.GetClient(ctx, "app"); return err },
		"ListClients":  func(ctx context.Context) error { _, err := cs.ListClients(ctx); return err },
		"SetClientSecret": func(ctx context.Context) error {
			return cs.SetClientSecret(ctx, "app", authkit.TokenHash{1}, now)
		},
		"DeleteClient": func(ctx context.Context) error { return cs.DeleteClient(ctx, "app") },
		"CreateAuthorizationCode": func(ctx context.Context) error {
			return cs.CreateAuthorizationCode(ctx, authkit.AuthorizationCode{Hash: authkit.TokenHash{2}, ClientID: "app"})
		},
		"RedeemAuthorizationCode": func(ctx context.Context) error {
			_, err := cs.RedeemAuthorizationCode(ctx, authkit.TokenHash{2}, now)
			return err
		},
		"SetAuthorizationCodeSession": func(ctx context.Context) error {
			return cs.SetAuthorizationCodeSession(ctx, authkit.TokenHash{2}, "sid")
		},
		"DeleteExpiredAuthorizationCodes": func(ctx context.Context) error {
			_, err := cs.DeleteExpiredAuthorizationCodes(ctx, now, 10)
			return err
		},
	}
	if as, ok := cs.(authkit.ClientAssertionStore); ok {
		m["UseClientAssertion"] = func(ctx context.Context) error {
			return as.UseClientAssertion(ctx, "app", authkit.TokenHash{3}, now.Add(time.Minute), now)
		}
	}
	return m
}

func sortedNames(m map[string]func(context.Context) error) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// refused checks that call, over a store that does not answer, returns an
// error matching ErrStoreUnavailable and DeadlineExceeded. The bound it
// waits is far past any store timeout here: it only stops a call that
// ignores its deadline from hanging the test.
func refused(t *testing.T, what string, call func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		if !errors.Is(err, authkit.ErrStoreUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s over a store that does not answer: %v, want ErrStoreUnavailable and DeadlineExceeded", what, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s over a store that does not answer did not return at its deadline", what)
	}
}

// Every call of a ClientStore that does not answer returns at the store
// timeout with ErrStoreUnavailable, and the store sees that deadline.
func TestClientsDeadline(t *testing.T) {
	const timeout = 50 * time.Millisecond
	st := stalled(t)
	cs := storecall.BoundClients(fakeAssertions{st}, storecall.New(timeout))
	calls := clientCalls(cs)
	if len(calls) != 10 {
		t.Fatalf("%d methods to call, want the 9 of ClientStore and UseClientAssertion", len(calls))
	}
	for _, name := range sortedNames(calls) {
		refused(t, name, func() error { return calls[name](context.Background()) })
	}
	if n := st.calls.Load(); n != 10 {
		t.Errorf("the store saw %d calls, want 10", n)
	}
	if st.assertCalls.Load() != 1 {
		t.Error("UseClientAssertion was not forwarded")
	}
	if n := st.noDeadline.Load(); n != 0 {
		t.Errorf("%d store calls had no deadline", n)
	}
	// The caller's own cancellation is its error, not an outage.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(timeout/5, cancel)
	if _, err := cs.GetClient(ctx, "app"); !errors.Is(err, context.Canceled) || errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Errorf("GetClient cancelled by its caller: %v, want context.Canceled alone", err)
	}
}

// The abandoned-call budget of the Deadline covers client-store calls:
// past MaxAbandoned unanswered calls, the next is refused at once, without
// reaching the store.
func TestClientsDeadlineAbandonedBudget(t *testing.T) {
	st := stalled(t)
	cs := storecall.BoundClients(st, storecall.New(time.Millisecond))
	for range storecall.MaxAbandoned {
		if _, err := cs.GetClient(context.Background(), "app"); !errors.Is(err, authkit.ErrStoreUnavailable) {
			t.Fatalf("GetClient over a stalled store: %v", err)
		}
	}
	before := st.calls.Load()
	_, err := cs.GetClient(context.Background(), "app")
	if !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("GetClient past the abandoned budget: %v, want ErrStoreUnavailable", err)
	}
	if st.calls.Load() != before {
		t.Error("a call past the abandoned budget reached the store")
	}
}

// BoundClients offers ClientAssertionStore exactly when the store does,
// and leaves in-process stores and nil alone.
func TestClientsAssertionInterface(t *testing.T) {
	dl := storecall.New(time.Second)
	plain := &fakeClients{}
	if _, ok := storecall.BoundClients(plain, dl).(authkit.ClientAssertionStore); ok {
		t.Error("the wrapper of a store without UseClientAssertion offers it")
	}
	if _, ok := storecall.BoundClients(plain, dl).(*storecall.Clients); !ok {
		t.Error("a store without UseClientAssertion is not wrapped in *Clients")
	}
	with := fakeAssertions{&fakeClients{}}
	b := storecall.BoundClients(with, dl)
	as, ok := b.(authkit.ClientAssertionStore)
	if !ok {
		t.Fatal("the wrapper of a store with UseClientAssertion does not offer it")
	}
	if err := as.UseClientAssertion(context.Background(), "app", authkit.TokenHash{}, time.Now(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if with.assertCalls.Load() != 1 || with.lastID.Load() != "app" {
		t.Error("UseClientAssertion was not forwarded with its arguments")
	}

	mem := memory.New()
	if got := storecall.BoundClients(mem, dl); got != authkit.ClientStore(mem) {
		t.Errorf("an in-process store was wrapped: %T", got)
	}
	if got := storecall.BoundClients(nil, dl); got != nil {
		t.Errorf("BoundClients(nil) = %v, want nil", got)
	}
}

// A store that answers in time: its values and errors come back as they
// are, the same error value (not re-wrapped), and the arguments reach it.
func TestClientsPassThrough(t *testing.T) {
	dl := storecall.New(time.Second)
	ctx := context.Background()
	for _, storeErr := range []error{
		nil,
		fmt.Errorf("remote: %w", authkit.ErrNotFound),
		fmt.Errorf("remote: %w", authkit.ErrConflict),
		fmt.Errorf("remote: %w", authkit.ErrStoreUnavailable),
		errors.New("remote: something else"),
	} {
		st := fakeAssertions{&fakeClients{
			err:    storeErr,
			client: authkit.Client{ID: "app", Name: "App"},
			code:   authkit.AuthorizationCode{ClientID: "app", SessionID: "s1"},
			n:      7,
		}}
		cs := storecall.BoundClients(st, dl)
		calls := clientCalls(cs)
		for _, name := range sortedNames(calls) {
			if err := calls[name](ctx); err != storeErr {
				t.Errorf("%s: %v, want the store's error %v unchanged", name, err, storeErr)
			}
		}
		c, _ := cs.GetClient(ctx, "app")
		if c.Name != "App" {
			t.Errorf("GetClient returned %+v, want the store's client", c)
		}
		if st.lastID.Load() != "app" {
			t.Errorf("GetClient reached the store with id %v", st.lastID.Load())
		}
		cl, _ := cs.ListClients(ctx)
		if len(cl) != 1 || cl[0].ID != "app" {
			t.Errorf("ListClients returned %+v", cl)
		}
		n, _ := cs.DeleteExpiredAuthorizationCodes(ctx, time.Now(), 10)
		if n != 7 {
			t.Errorf("DeleteExpiredAuthorizationCodes returned %d, want 7", n)
		}
		// A reused code comes back with its stored record and the error.
		code, err := cs.RedeemAuthorizationCode(ctx, authkit.TokenHash{}, time.Now())
		if err != storeErr || code.SessionID != "s1" {
			t.Errorf("RedeemAuthorizationCode returned %+v, %v; want the store's record and error", code, err)
		}
	}
}

// remoteMemory is the memory store posing as a remote one, so that
// BoundClients wraps it.
type remoteMemory struct{ *memory.Store }

func (remoteMemory) InProcess() bool { return false }

// Through the wrapper, a real store behaves as it does directly: a code is
// created, redeemed once, reused with its record, and swept once expired.
func TestClientsMemoryRoundTrip(t *testing.T) {
	ctx := context.Background()
	cs := storecall.BoundClients(remoteMemory{memory.New()}, storecall.New(time.Second))
	if _, ok := cs.(*storecall.Clients); !ok {
		if _, ok := cs.(*storecall.ClientsWithAssertions); !ok {
			t.Fatalf("the store was not wrapped: %T", cs)
		}
	}
	now := time.Now().Truncate(time.Microsecond)
	if err := cs.CreateClient(ctx, authkit.Client{ID: "app", GrantTypes: []string{authkit.GrantAuthorizationCode}, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CreateClient(ctx, authkit.Client{ID: "app", CreatedAt: now}); !errors.Is(err, authkit.ErrConflict) {
		t.Errorf("a second CreateClient of one ID: %v, want ErrConflict", err)
	}
	if _, err := cs.GetClient(ctx, "nobody"); !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("GetClient of an unknown ID: %v, want ErrNotFound", err)
	}
	h := authkit.TokenHash{9}
	code := authkit.AuthorizationCode{Hash: h, ClientID: "app", RedirectURI: "https://app.example/cb", Subject: "alice", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	if err := cs.CreateAuthorizationCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RedeemAuthorizationCode(ctx, h, now); err != nil {
		t.Fatal(err)
	}
	if err := cs.SetAuthorizationCodeSession(ctx, h, "s1"); err != nil {
		t.Fatal(err)
	}
	again, err := cs.RedeemAuthorizationCode(ctx, h, now)
	if !errors.Is(err, authkit.ErrTokenReused) || again.SessionID != "s1" {
		t.Errorf("a second redemption: %+v, %v; want the record with session s1 and ErrTokenReused", again, err)
	}
	n, err := cs.DeleteExpiredAuthorizationCodes(ctx, now.Add(2*time.Minute), 10)
	if err != nil || n != 1 {
		t.Errorf("DeleteExpiredAuthorizationCodes = %d, %v; want 1", n, err)
	}
	if _, err := cs.RedeemAuthorizationCode(ctx, h, now); !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("redeeming a swept code: %v, want ErrNotFound", err)
	}
	if _, err := cs.DeleteExpiredAuthorizationCodes(ctx, now, 0); err == nil {
		t.Error("limit 0 was accepted")
	}
}
