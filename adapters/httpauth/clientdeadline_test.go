package httpauth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
)

// remoteClients is a ClientStore across a network (not in process) over
// the memory store. With gate set, every call first waits until gate is
// closed, ignoring its context (a driver through a stalled network); err,
// if set, is returned instead of calling the memory store.
type remoteClients struct {
	mem  *memory.Store
	gate chan struct{}
	once sync.Once
	err  error
}

func (s *remoteClients) free() { s.once.Do(func() { close(s.gate) }) }

func (s *remoteClients) wait() error {
	if s.gate != nil {
		<-s.gate
	}
	return s.err
}

func (*remoteClients) InProcess() bool { return false }

func (s *remoteClients) CreateClient(ctx context.Context, c authkit.Client) error {
	if err := s.wait(); err != nil {
		return err
	}
	return s.mem.CreateClient(ctx, c)
}

func (s *remoteClients) GetClient(ctx context.Context, id string) (authkit.Client, error) {
	if err := s.wait(); err != nil {
		return authkit.Client{}, err
	}
	return s.mem.GetClient(ctx, id)
}

func (s *remoteClients) ListClients(ctx context.Context) ([]authkit.Client, error) {
	if err := s.wait(); err != nil {
		return nil, err
	}
	return s.mem.ListClients(ctx)
}

func (s *remoteClients) SetClientSecret(ctx context.Context, id string, h authkit.TokenHash, at time.Time) error {
	if err := s.wait(); err != nil {
		return err
	}
	return s.mem.SetClientSecret(ctx, id, h, at)
}

func (s *remoteClients) DeleteClient(ctx context.Context, id string) error {
	if err := s.wait(); err != nil {
		return err
	}
	return s.mem.DeleteClient(ctx, id)
}

func (s *remoteClients) CreateAuthorizationCode(ctx context.Context, code authkit.AuthorizationCode) error {
	if err := s.wait(); err != nil {
		return err
	}
	return s.mem.CreateAuthorizationCode(ctx, code)
}

func (s *remoteClients) RedeemAuthorizationCode(ctx context.Context, h authkit.TokenHash, now time.Time) (authkit.AuthorizationCode, error) {
	if err := s.wait(); err != nil {
		return authkit.AuthorizationCode{}, err
	}
	return s.mem.RedeemAuthorizationCode(ctx, h, now)
}

func (s *remoteClients) SetAuthorizationCodeSession(ctx context.Context, h authkit.TokenHash, sessionID string) error {
	if err := s.wait(); err != nil {
		return err
	}
	return s.mem.SetAuthorizationCodeSession(ctx, h, sessionID)
}

func (s *remoteClients) DeleteExpiredAuthorizationCodes(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := s.wait(); err != nil {
		return 0, err
	}
	return s.mem.DeleteExpiredAuthorizationCodes(ctx, now, limit)
}

// remoteAssertions is remoteClients with ClientAssertionStore.
type remoteAssertions struct{ *remoteClients }

func (s remoteAssertions) UseClientAssertion(ctx context.Context, clientID string, h authkit.TokenHash, expiresAt, now time.Time) error {
	if err := s.wait(); err != nil {
		return err
	}
	return s.mem.UseClientAssertion(ctx, clientID, h, expiresAt, now)
}

// within runs call and fails t unless it returns an error matching
// ErrStoreUnavailable. The bound it waits is far past the store timeout:
// it only keeps a call that ignores its deadline from hanging the test.
func within(t *testing.T, what string, call func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		if !errors.Is(err, authkit.ErrStoreUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s over a stalled client store: %v, want ErrStoreUnavailable and DeadlineExceeded", what, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s over a stalled client store did not return at the store deadline", what)
	}
}

// The Handler's ClientStore gives up on a stalled store at the store
// timeout, for every method, UseClientAssertion included.
func TestClientsDeadline(t *testing.T) {
	const timeout = 50 * time.Millisecond
	st := &remoteClients{mem: memory.New(), gate: make(chan struct{})}
	defer st.free()
	cs := boundClients(remoteAssertions{st}, timeout)
	ctx := context.Background()
	now := time.Now()
	h := authkit.TokenHash{1}
	for name, call := range map[string]func() error{
		"GetClient":       func() error { _, err := cs.GetClient(ctx, "app"); return err },
		"ListClients":     func() error { _, err := cs.ListClients(ctx); return err },
		"CreateClient":    func() error { return cs.CreateClient(ctx, authkit.Client{ID: "app"}) },
		"SetClientSecret": func() error { return cs.SetClientSecret(ctx, "app", h, now) },
		"DeleteClient":    func() error { return cs.DeleteClient(ctx, "app") },
		"CreateAuthorizationCode": func() error {
			return cs.CreateAuthorizationCode(ctx, authkit.AuthorizationCode{Hash: h, ClientID: "app"})
		},
		"RedeemAuthorizationCode":     func() error { _, err := cs.RedeemAuthorizationCode(ctx, h, now); return err },
		"SetAuthorizationCodeSession": func() error { return cs.SetAuthorizationCodeSession(ctx, h, "sid") },
		"DeleteExpiredAuthorizationCodes": func() error {
			_, err := cs.DeleteExpiredAuthorizationCodes(ctx, now, 10)
			return err
		},
		"UseClientAssertion": func() error {
			return cs.(authkit.ClientAssertionStore).UseClientAssertion(ctx, "app", h, now.Add(time.Minute), now)
		},
	} {
		within(t, name, call)
	}
}

// The wrapper offers ClientAssertionStore exactly when the store does
// (private_key_jwt depends on it), leaves the memory store (in process)
// and nil alone, and falls back to the default timeout for a zero one.
func TestClientsDeadlineInterfaces(t *testing.T) {
	plain := &remoteClients{mem: memory.New()}
	if _, ok := boundClients(plain, time.Second).(authkit.ClientAssertionStore); ok {
		t.Error("a store without UseClientAssertion gained it")
	}
	if _, ok := boundClients(remoteAssertions{plain}, time.Second).(authkit.ClientAssertionStore); !ok {
		t.Error("a store with UseClientAssertion lost it")
	}
	mem := memory.New()
	if got := boundClients(mem, time.Second); got != authkit.ClientStore(mem) {
		t.Errorf("the memory store was wrapped: %T", got)
	}
	if got := boundClients(nil, time.Second); got != nil {
		t.Errorf("boundClients(nil) = %v", got)
	}
	if boundClients(plain, 0) == nil {
		t.Error("a zero timeout dropped the store")
	}
}

// A store that answers: its values come back, and its errors unchanged
// (the Handler tells ErrNotFound, a 401, from ErrStoreUnavailable, a 503).
func TestClientsDeadlinePassThrough(t *testing.T) {
	ctx := context.Background()
	st := &remoteClients{mem: memory.New()}
	cs := boundClients(st, time.Second)
	if err := cs.CreateClient(ctx, authkit.Client{ID: "app", Name: "App", GrantTypes: []string{authkit.GrantClientCredentials}, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	c, err := cs.GetClient(ctx, "app")
	if err != nil || c.Name != "App" || !c.AllowsGrant(authkit.GrantClientCredentials) {
		t.Errorf("GetClient = %+v, %v; want the stored client", c, err)
	}
	if _, err := cs.GetClient(ctx, "nobody"); !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("GetClient of an unknown client: %v, want ErrNotFound", err)
	}
	for _, want := range []error{
		fmt.Errorf("remote: %w", authkit.ErrStoreUnavailable),
		fmt.Errorf("remote: %w", authkit.ErrNotFound),
		errors.New("remote: something else"),
	} {
		st.err = want
		if _, err := cs.GetClient(ctx, "app"); err != want {
			t.Errorf("GetClient over a store failing with %q: %v, want that error unchanged", want, err)
		}
		if err := boundClients(remoteAssertions{st}, time.Second).(authkit.ClientAssertionStore).UseClientAssertion(ctx, "app", authkit.TokenHash{}, time.Now(), time.Now()); err != want {
			t.Errorf("UseClientAssertion over a store failing with %q: %v, want that error unchanged", want, err)
		}
	}
}

// The store NewHandler keeps: every call, UseClientAssertion included,
// keeps the deadline, and it is a ClientAssertionStore exactly when the
// application's store is one.
func TestClientsDeadlineKeepsAssertions(t *testing.T) {
	const timeout = 50 * time.Millisecond
	st := &remoteClients{mem: memory.New(), gate: make(chan struct{})}
	defer st.free()
	cs := boundClients(remoteAssertions{st}, timeout)
	as, ok := cs.(authkit.ClientAssertionStore)
	if !ok {
		t.Fatal("the bounded store over an asserting store is no ClientAssertionStore")
	}
	ctx := context.Background()
	within(t, "GetClient", func() error { _, err := cs.GetClient(ctx, "app"); return err })
	within(t, "UseClientAssertion", func() error {
		return as.UseClientAssertion(ctx, "app", authkit.TokenHash{1}, time.Now().Add(time.Minute), time.Now())
	})
	if _, ok := boundClients(&remoteClients{mem: memory.New()}, timeout).(authkit.ClientAssertionStore); ok {
		t.Error("the bounded store over a store without assertions claims to record them")
	}
}
