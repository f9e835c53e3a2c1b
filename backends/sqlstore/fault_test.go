package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/internal/testservers"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// TestFaults runs an issuer and a verifier over a store whose database is
// reached through a proxy, cuts and stalls the proxy in the middle of a
// run, and restores it. While the database is unreachable every store call
// must fail closed with ErrStoreUnavailable, within its ctx deadline, and
// the verifier must refuse; once it is back the same store must work again
// by itself. Afterwards no token issued successfully is lost and no revoked
// one has come back.
func TestFaults(t *testing.T) {
	for _, b := range []backend{pgxBackend, mysqlBackend} {
		t.Run(b.name, func(t *testing.T) { runFaults(t, b) })
	}
}

func runFaults(t *testing.T, b backend) {
	direct := b.fresh(t)
	ctx := t.Context()
	if err := sqlstore.Migrate(ctx, openDB(t, b, direct)); err != nil {
		t.Fatal(err)
	}
	px := testservers.NewProxy(t, testservers.Addr(t, direct))
	db := openDB(t, b, testservers.WithAddr(t, direct, px.Addr()))
	s, err := sqlstore.New(db)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := keys.Generate(keys.HS256)
	set, _ := keys.NewSet(k)
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(s))
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(s))
	if err != nil {
		t.Fatal(err)
	}

	// What the run issues and revokes, to check at the end.
	var (
		mu       sync.Mutex
		live     []authkit.TokenPair // access and refresh tokens that must still work
		apiLive  []string
		revoked  []string // access tokens that must stay refused
		deadRT   []string // refresh tokens of revoked sessions
		failures int
	)
	issue := func(ctx context.Context, subject string) error {
		pair, err := iss.IssuePair(ctx, subject)
		if err == nil {
			mu.Lock()
			live = append(live, pair)
			mu.Unlock()
		}
		return err
	}
	for i := range 10 {
		if err := issue(ctx, fmt.Sprintf("user-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		secret, _, err := iss.CreateAPIToken(ctx, fmt.Sprintf("user-%d", i), "ci")
		if err != nil {
			t.Fatal(err)
		}
		apiLive = append(apiLive, secret)
	}
	// Revoke two access tokens and one whole session.
	for _, p := range live[:2] {
		if err := iss.Revoke(ctx, p.AccessToken); err != nil {
			t.Fatal(err)
		}
		revoked = append(revoked, p.AccessToken)
	}
	if err := iss.RevokeSession(ctx, live[2].SessionID); err != nil {
		t.Fatal(err)
	}
	revoked = append(revoked, live[2].AccessToken)
	deadRT = append(deadRT, live[2].RefreshToken)
	live = live[3:]
	probe, spare := live[0], live[1] // the background appends to live from here on

	// Traffic in the background, through the cut and the restore: every
	// call has a deadline, and every failure must be ErrStoreUnavailable.
	stop := make(chan struct{})
	var bg sync.WaitGroup
	var bgErr error
	bg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			err := issue(cctx, fmt.Sprintf("bg-%d", i))
			cancel()
			if err != nil {
				mu.Lock()
				failures++
				if !errors.Is(err, authkit.ErrStoreUnavailable) && bgErr == nil {
					bgErr = err
				}
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}
	})
	stopBackground := sync.OnceFunc(func() {
		close(stop)
		bg.Wait()
	})
	defer stopBackground()
	time.Sleep(100 * time.Millisecond)

	// refused checks that a call fails closed, promptly.
	refused := func(what string, deadline time.Duration, call func(ctx context.Context) error) {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, deadline)
		defer cancel()
		start := time.Now()
		err := call(cctx)
		took := time.Since(start)
		if !errors.Is(err, authkit.ErrStoreUnavailable) {
			t.Errorf("%s with the database unreachable: %v, want an error matching ErrStoreUnavailable", what, err)
		}
		if took > deadline+500*time.Millisecond {
			t.Errorf("%s with the database unreachable took %v, beyond its %v deadline", what, took, deadline)
		}
	}
	verify := func(tok string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			p, err := v.Verify(ctx, tok)
			if err == nil {
				return fmt.Errorf("Verify let %s through (fail open)", p.Subject)
			}
			return err
		}
	}
	checkOutage := func(deadline time.Duration) {
		t.Helper()
		refused("Verify of a live access token", deadline, verify(probe.AccessToken))
		refused("Verify of a revoked access token", deadline, verify(revoked[0]))
		refused("Verify of an API token", deadline, verify(apiLive[0]))
		refused("IssuePair", deadline, func(ctx context.Context) error { _, err := iss.IssuePair(ctx, "during"); return err })
		refused("Refresh", deadline, func(ctx context.Context) error { _, err := iss.Refresh(ctx, spare.RefreshToken); return err })
		refused("Ping", deadline, s.Ping)
		refused("IsRevoked", deadline, func(ctx context.Context) error {
			_, err := s.IsRevoked(ctx, authkit.RevocationQuery{TokenID: "x", Subject: "user-1", IssuedAt: time.Now()}, time.Now())
			return err
		})
	}
	recovers := func() {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err := v.Verify(cctx, probe.AccessToken)
			cancel()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the store did not recover within 15s of the database coming back: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Cut: connections reset, new ones refused. Failures are immediate.
	px.Cut()
	checkOutage(2 * time.Second)
	px.Restore()
	recovers()

	// Stall: the network swallows everything. Calls end at their deadline.
	time.Sleep(100 * time.Millisecond)
	px.Stall()
	checkOutage(300 * time.Millisecond)
	px.Restore()
	recovers()
	time.Sleep(100 * time.Millisecond)
	stopBackground()

	if bgErr != nil {
		t.Errorf("a call during the faults failed with %v, want an error matching ErrStoreUnavailable", bgErr)
	}
	t.Logf("%d tokens issued, %d calls refused during the faults", len(live), failures)

	// Nothing issued is lost; nothing revoked came back.
	for _, p := range live {
		if _, err := v.Verify(ctx, p.AccessToken); err != nil {
			t.Errorf("an access token issued before or between the faults no longer verifies: %v", err)
		}
		if _, err := iss.Refresh(ctx, p.RefreshToken); err != nil {
			t.Errorf("a refresh token issued before or between the faults no longer refreshes: %v", err)
		}
	}
	for _, secret := range apiLive {
		if _, err := v.Verify(ctx, secret); err != nil {
			t.Errorf("an API token no longer verifies: %v", err)
		}
	}
	for _, tok := range revoked {
		if _, err := v.Verify(ctx, tok); !errors.Is(err, authkit.ErrTokenRevoked) {
			t.Errorf("a revoked access token after the faults: %v, want ErrTokenRevoked", err)
		}
	}
	for _, rt := range deadRT {
		if _, err := iss.Refresh(ctx, rt); !errors.Is(err, authkit.ErrTokenRevoked) {
			t.Errorf("the refresh token of a revoked session after the faults: %v, want ErrTokenRevoked", err)
		}
	}
}
