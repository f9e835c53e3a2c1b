package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/redisstore"
	"github.com/authkit-go/authkit/internal/testservers"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// TestFaults runs an issuer and a verifier over a Store that reaches Redis
// through the proxy, cuts and then stalls the proxy in the middle of a run,
// and restores it each time. While Redis is unreachable every call must
// fail closed (ErrStoreUnavailable) within its ctx deadline and the
// verifier must refuse every credential; once Redis is back the same Store
// must work again by itself. At the end nothing issued is lost and no
// revocation has been undone.
func TestFaults(t *testing.T) {
	addr := testservers.Redis(t)
	admin := standalone(t, addr)
	px := testservers.NewProxy(t, addr)
	rdb := redis.NewClient(&redis.Options{
		Addr:                  px.Addr(),
		DialTimeout:           time.Second,
		ReadTimeout:           2 * time.Second,
		WriteTimeout:          2 * time.Second,
		ContextTimeoutEnabled: true,
	})
	t.Cleanup(func() { _ = rdb.Close() })
	prefix := testservers.RedisPrefix(t, admin)
	s := newStore(t, rdb, prefix)
	// The same data under a call timeout: bounded even without a deadline.
	bounded := newStore(t, rdb, prefix, redisstore.WithCallTimeout(200*time.Millisecond))

	k, err := keys.Generate(keys.HS256)
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.NewSet(k)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(s))
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(s))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	var (
		mu        sync.Mutex
		live      []authkit.TokenPair // must still verify and refresh at the end
		apiLive   []string
		revoked   []string // access tokens that must stay refused
		deadRT    []string // refresh tokens of revoked sessions
		refusals  int
		wrongErrs []error
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
	for i := range 12 {
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
	// Revocations before the faults: two access tokens, one session, one
	// subject (logout-all).
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
	subjectOut := live[3]
	time.Sleep(2 * time.Millisecond) // the cutoff is "issued at or before": move past the last iat
	if err := iss.RevokeSubject(ctx, "user-3"); err != nil {
		t.Fatal(err)
	}
	revoked = append(revoked, subjectOut.AccessToken)
	deadRT = append(deadRT, subjectOut.RefreshToken)
	live = live[4:]
	probe, spare := live[0], live[1]

	// Traffic through the faults: every call has a deadline and every
	// failure must be ErrStoreUnavailable.
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			err := issue(cctx, fmt.Sprintf("bg-%d", i%50))
			cancel()
			if err == nil {
				time.Sleep(20 * time.Millisecond)
			} else {
				mu.Lock()
				refusals++
				if !errors.Is(err, authkit.ErrStoreUnavailable) {
					wrongErrs = append(wrongErrs, err)
				}
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()
	stopTraffic := sync.OnceFunc(func() {
		close(stop)
		bg.Wait()
	})
	defer stopTraffic()
	time.Sleep(50 * time.Millisecond)

	// refused checks that a call fails closed before its deadline is long
	// past.
	refused := func(what string, deadline time.Duration, call func(ctx context.Context) error) {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, deadline)
		defer cancel()
		start := time.Now()
		err := call(cctx)
		took := time.Since(start)
		if !errors.Is(err, authkit.ErrStoreUnavailable) {
			t.Errorf("%s with Redis unreachable returned %v, want an error matching ErrStoreUnavailable", what, err)
		}
		if took > deadline+250*time.Millisecond {
			t.Errorf("%s with Redis unreachable took %v, past its %v deadline", what, took, deadline)
		}
	}
	verify := func(tok string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			p, err := v.Verify(ctx, tok)
			if err == nil {
				return fmt.Errorf("Verify let %s in (fail open)", p.Subject)
			}
			return err
		}
	}
	outage := func(deadline time.Duration) {
		t.Helper()
		refused("Verify of a live access token", deadline, verify(probe.AccessToken))
		refused("Verify of a revoked access token", deadline, verify(revoked[0]))
		refused("Verify of an API token", deadline, verify(apiLive[0]))
		refused("IssuePair", deadline, func(ctx context.Context) error { _, err := iss.IssuePair(ctx, "during"); return err })
		refused("Refresh", deadline, func(ctx context.Context) error { _, err := iss.Refresh(ctx, spare.RefreshToken); return err })
		refused("RevokeSubject", deadline, func(ctx context.Context) error { return iss.RevokeSubject(ctx, "nobody") })
		refused("Ping", deadline, s.Ping)
		refused("IsRevoked", deadline, func(ctx context.Context) error {
			dead, err := s.IsRevoked(ctx, authkit.RevocationQuery{TokenID: "x", Subject: "user-5", IssuedAt: time.Now()}, time.Now())
			if err == nil {
				return fmt.Errorf("IsRevoked answered %v without Redis", dead)
			}
			return err
		})
		refused("DeleteExpiredSessions", deadline, func(ctx context.Context) error {
			_, err := s.DeleteExpiredSessions(ctx, time.Now(), 100)
			return err
		})
	}
	recovered := func() {
		t.Helper()
		until := time.Now().Add(10 * time.Second)
		for {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err := v.Verify(cctx, probe.AccessToken)
			cancel()
			if err == nil {
				return
			}
			if time.Now().After(until) {
				t.Fatalf("the Store did not recover within 10s of Redis coming back: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// A revocation made between the faults must survive the second one.
	revokeBetween := func() {
		t.Helper()
		mu.Lock()
		p := live[len(live)-1]
		live = live[:len(live)-1]
		mu.Unlock()
		if err := iss.Revoke(ctx, p.AccessToken); err != nil {
			t.Fatal(err)
		}
		revoked = append(revoked, p.AccessToken)
	}

	px.Cut()
	outage(time.Second)
	px.Restore()
	recovered()
	revokeBetween()

	time.Sleep(50 * time.Millisecond)
	px.Stall()
	outage(300 * time.Millisecond)
	start := time.Now()
	if _, err := bounded.IsRevoked(context.Background(), authkit.RevocationQuery{TokenID: "x", Subject: "user-5"}, time.Now()); !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Errorf("IsRevoked with no deadline but WithCallTimeout, Redis stalled: %v, want ErrStoreUnavailable", err)
	}
	if took := time.Since(start); took > 450*time.Millisecond {
		t.Errorf("IsRevoked under a 200ms call timeout took %v with Redis stalled", took)
	}
	px.Restore()
	recovered()
	time.Sleep(50 * time.Millisecond)
	stopTraffic()

	for _, err := range wrongErrs {
		t.Errorf("a call during the faults failed with %v, want an error matching ErrStoreUnavailable", err)
	}
	t.Logf("%d pairs issued, %d calls refused during the faults", len(live), refusals)

	for _, p := range live {
		if p.SessionID == spare.SessionID {
			continue // a Refresh of it may have landed before its reply was lost
		}
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
			t.Errorf("a revoked access token after the faults: %v, want ErrTokenRevoked (a revocation was lost)", err)
		}
	}
	for _, rt := range deadRT {
		if _, err := iss.Refresh(ctx, rt); !errors.Is(err, authkit.ErrTokenRevoked) {
			t.Errorf("the refresh token of a revoked session after the faults: %v, want ErrTokenRevoked", err)
		}
	}
}
