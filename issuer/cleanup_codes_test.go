package issuer_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// codeStore is the memory store posing as a remote one (so the issuer
// bounds its calls), counting the code sweeps it is asked for; with gate
// set, the sweep waits for it, ignoring its context.
type codeStore struct {
	*memory.Store
	sweeps atomic.Int32
	gate   chan struct{}
	err    error
}

func (*codeStore) InProcess() bool { return false }

func (s *codeStore) DeleteExpiredAuthorizationCodes(ctx context.Context, now time.Time, limit int) (int, error) {
	s.sweeps.Add(1)
	if s.gate != nil {
		<-s.gate
	}
	if s.err != nil {
		return 0, s.err
	}
	return s.Store.DeleteExpiredAuthorizationCodes(ctx, now, limit)
}

// addCodes registers client "app" in cs with two codes created at now: one
// that expires in a minute, one in three hours (past a Cleanup's margin).
// It returns their hashes.
func addCodes(t *testing.T, cs authkit.ClientStore, now time.Time) (short, long authkit.TokenHash) {
	t.Helper()
	ctx := context.Background()
	if err := cs.CreateClient(ctx, authkit.Client{ID: "app", GrantTypes: []string{authkit.GrantAuthorizationCode}, RedirectURIs: []string{"https://app.example/cb"}, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	short, long = authkit.TokenHash{1}, authkit.TokenHash{2}
	for _, c := range []authkit.AuthorizationCode{
		{Hash: short, ClientID: "app", RedirectURI: "https://app.example/cb", Subject: "alice", CreatedAt: now, ExpiresAt: now.Add(time.Minute)},
		{Hash: long, ClientID: "app", RedirectURI: "https://app.example/cb", Subject: "alice", CreatedAt: now, ExpiresAt: now.Add(3 * time.Hour)},
	} {
		if err := cs.CreateAuthorizationCode(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	return short, long
}

func cleanupIssuer(t *testing.T, clk *clock, opts ...authkit.Option) *issuer.Issuer {
	t.Helper()
	set, err := keys.NewSet(mustKeyT(t))
	if err != nil {
		t.Fatal(err)
	}
	iss, err := issuer.New(append([]authkit.Option{authkit.WithKeys(set), authkit.WithClock(clk.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// Cleanup sweeps the expired authorization codes of a configured store
// that is a ClientStore, once per Cleanup however many roles the store
// plays, and leaves the codes that have not expired.
func TestCleanupDeletesExpiredCodesMemory(t *testing.T) {
	ctx := context.Background()
	start := time.Now().Truncate(time.Microsecond)
	clk := &clock{t: start}
	st := &codeStore{Store: memory.New()}
	short, long := addCodes(t, st, start)
	iss := cleanupIssuer(t, clk, authkit.WithStore(st))

	n, err := iss.Cleanup(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 || st.sweeps.Load() != 1 {
		t.Fatalf("Cleanup before any code expired: deleted %d with %d code sweeps, want 0 with 1", n, st.sweeps.Load())
	}

	clk.Add(2*time.Minute + issuer.CleanupMargin) // Cleanup leaves what expired within its margin
	if n, err = iss.Cleanup(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("Cleanup after one code expired deleted %d records, want 1", n)
	}
	if st.sweeps.Load() != 2 {
		t.Errorf("%d code sweeps after two Cleanups of one store in three roles, want 2", st.sweeps.Load())
	}
	// Gone, even for a clock that has not reached its expiry.
	if _, err := st.Store.RedeemAuthorizationCode(ctx, short, start); !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("the expired code after Cleanup: %v, want ErrNotFound", err)
	}
	if _, err := st.Store.RedeemAuthorizationCode(ctx, long, clk.Now()); err != nil {
		t.Errorf("the live code after Cleanup: %v", err)
	}

	// Small batches: Cleanup goes on while a batch comes back full.
	for i := range 5 {
		h := authkit.TokenHash{10, byte(i)}
		if err := st.CreateAuthorizationCode(ctx, authkit.AuthorizationCode{Hash: h, ClientID: "app", RedirectURI: "https://app.example/cb", Subject: "bob", CreatedAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(time.Minute + issuer.CleanupMargin)
	before := st.sweeps.Load()
	if n, err = iss.Cleanup(ctx, 2); err != nil || n != 5 {
		t.Errorf("Cleanup in batches of 2: deleted %d, %v; want 5", n, err)
	}
	if got := st.sweeps.Load() - before; got != 3 {
		t.Errorf("%d code sweeps for 5 codes in batches of 2, want 3", got)
	}
}

// With separate stores per role, each ClientStore among them is swept; a
// store that is no ClientStore is not asked.
func TestCleanupCodesSeparateStores(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Now().Truncate(time.Microsecond)}
	refresh := &codeStore{Store: memory.New()}
	apiTokens := &codeStore{Store: memory.New()}
	revocations := revocationsOnly{memory.New()}
	iss := cleanupIssuer(t, clk, authkit.WithRefreshStore(refresh), authkit.WithAPITokenStore(apiTokens), authkit.WithRevocationStore(revocations))
	if _, err := iss.Cleanup(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if refresh.sweeps.Load() != 1 || apiTokens.sweeps.Load() != 1 {
		t.Errorf("code sweeps: refresh store %d, API token store %d; want 1 each", refresh.sweeps.Load(), apiTokens.sweeps.Load())
	}
}

// revocationsOnly hides every method of the memory store but those of
// authkit.RevocationStore.
type revocationsOnly struct{ authkit.RevocationStore }

// A code sweep that fails fails Cleanup (after the other stores were
// cleaned); one that does not answer is cut at the store timeout.
func TestCleanupCodesStoreErrors(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Now()}
	boom := errors.New("remote: disk on fire")
	st := &codeStore{Store: memory.New(), err: boom}
	iss := cleanupIssuer(t, clk, authkit.WithStore(st))
	if _, err := iss.Cleanup(ctx, 0); !errors.Is(err, boom) {
		t.Errorf("Cleanup over a failing code sweep: %v, want the store's error", err)
	}

	const timeout = 50 * time.Millisecond
	stalled := &codeStore{Store: memory.New(), gate: make(chan struct{})}
	defer close(stalled.gate)
	iss = cleanupIssuer(t, clk, authkit.WithStore(stalled), authkit.WithStoreTimeout(timeout))
	if got := iss.StoreTimeout(); got != timeout {
		t.Errorf("StoreTimeout() = %v, want %v", got, timeout)
	}
	done := make(chan error, 1)
	go func() { _, err := iss.Cleanup(ctx, 0); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, authkit.ErrStoreUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Cleanup over a code sweep that does not answer: %v, want ErrStoreUnavailable", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Cleanup over a code sweep that does not answer ignores the store timeout")
	}
}

func TestStoreTimeoutDefault(t *testing.T) {
	iss := cleanupIssuer(t, &clock{t: time.Now()}, authkit.WithStore(memory.New()))
	if got := iss.StoreTimeout(); got != authkit.DefaultStoreTimeout {
		t.Errorf("StoreTimeout() = %v, want the default %v", got, authkit.DefaultStoreTimeout)
	}
}

// The same on SQLite: the expired code's row is gone after a Cleanup.
func TestCleanupDeletesExpiredCodesSQLite(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.OpenDB(ctx, "sqlite:"+filepath.Join(t.TempDir(), "authkit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := sqlstore.Migrate(ctx, db.DB, "sqlite"); err != nil {
		t.Fatal(err)
	}
	st, err := sqlstore.New(db)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Truncate(time.Microsecond)
	clk := &clock{t: start}
	short, long := addCodes(t, st, start)
	iss := cleanupIssuer(t, clk, authkit.WithStore(st))

	clk.Add(2*time.Minute + issuer.CleanupMargin) // Cleanup leaves what expired within its margin
	n, err := iss.Cleanup(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("Cleanup after one code expired deleted %d records, want 1", n)
	}
	var rows int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM authkit_authorization_codes").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("%d code rows after Cleanup, want 1 (the live code)", rows)
	}
	if _, err := st.RedeemAuthorizationCode(ctx, short, start); !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("the expired code after Cleanup: %v, want ErrNotFound", err)
	}
	if _, err := st.RedeemAuthorizationCode(ctx, long, clk.Now()); err != nil {
		t.Errorf("the live code after Cleanup: %v", err)
	}
}

// A Cleanup run by a replica whose clock runs fast — by less than
// CleanupMargin — deletes no revocation still in force and no live session
// (found by review: 11 minutes fast, it deleted a revocation whose token
// then verified again everywhere; on every backend). Once the margin has
// passed on the fast clock, the expired records go.
func TestCleanupWithAFastClock(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	start := time.Now().Truncate(time.Millisecond)
	real, fast := &clock{t: start}, &clock{t: start.Add(30 * time.Minute)}
	set, err := keys.NewSet(mustKeyT(t))
	if err != nil {
		t.Fatal(err)
	}
	common := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(st), authkit.WithRefreshTTL(10 * time.Minute)}
	good, err := issuer.New(append(common, authkit.WithClock(real.Now))...)
	if err != nil {
		t.Fatal(err)
	}
	ahead, err := issuer.New(append(common, authkit.WithClock(fast.Now))...)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(st), authkit.WithClock(real.Now))
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := good.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	live, err := good.IssuePair(ctx, "bob") // idle for 10 minutes at most
	if err != nil {
		t.Fatal(err)
	}
	if err := good.Revoke(ctx, revoked.AccessToken); err != nil {
		t.Fatal(err)
	}
	if _, err := ahead.Cleanup(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := ver.Verify(ctx, revoked.AccessToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Errorf("a revoked token after a Cleanup by a clock 30 minutes fast: %v, want ErrTokenRevoked", err)
	}
	if _, err := good.Refresh(ctx, live.RefreshToken); err != nil {
		t.Errorf("a live session after a Cleanup by a clock 30 minutes fast: %v", err)
	}
	fast.Add(2 * issuer.CleanupMargin)
	if n, err := ahead.Cleanup(ctx, 0); err != nil || n == 0 {
		t.Errorf("Cleanup past the margin: deleted %d, %v; want the expired records", n, err)
	}
}

// sessionsFail is a store whose sessions cleanup fails.
type sessionsFail struct {
	*codeStore
	err error
}

func (s sessionsFail) DeleteExpiredSessions(context.Context, time.Time, int) (int, error) {
	return 0, s.err
}

// A step of Cleanup that fails does not keep the others from running (found
// by review: a sessions table that refused its deletes left every expired
// revocation in place for good): the revocation, API token, code and
// throttle steps still run, and the error names the failed step's cause.
func TestCleanupRunsEveryStep(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Now().Truncate(time.Microsecond)}
	boom := errors.New("sessions: trigger refused the delete")
	inner := &codeStore{Store: memory.New()}
	st := sessionsFail{codeStore: inner, err: boom}
	iss := cleanupIssuer(t, clk, authkit.WithStore(st))
	past := clk.t.Add(-3 * time.Hour)
	if err := st.RevokeToken(ctx, "alice", "jti-1", past); err != nil {
		t.Fatal(err)
	}
	n, err := iss.Cleanup(ctx, 0)
	if !errors.Is(err, boom) {
		t.Errorf("Cleanup with a failing sessions step: %v, want its error", err)
	}
	if inner.sweeps.Load() != 1 {
		t.Errorf("the code sweep ran %d times after the sessions step failed, want 1", inner.sweeps.Load())
	}
	if n != 1 {
		t.Errorf("Cleanup deleted %d, want 1: the expired revocation, after the sessions step failed", n)
	}
}
