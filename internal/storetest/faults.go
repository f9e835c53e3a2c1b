package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/internal/testservers"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// PingStore is a Store that can also report whether its server answers.
type PingStore interface {
	authkit.Store
	authkit.Pinger
}

// FaultHarness is what the fault scenario needs of one backend.
type FaultHarness struct {
	// Server names the server in failure messages, as in "IssuePair with
	// Redis unreachable" ("Redis", "the database").
	Server string
	// Proxy stands between Store and its server.
	Proxy *testservers.Proxy
	// Store reaches its server through Proxy, ready for use (migrated),
	// and empty.
	Store PingStore
	// CutDeadline is the ctx deadline of each call checked while the proxy
	// is cut; the background traffic's calls get half of it. (While it is
	// stalled every checked call gets 300ms.)
	CutDeadline time.Duration
	// Slack is how far past its deadline a refused call may return.
	Slack time.Duration
	// RecoverWithin is how soon after a restore the store must work again.
	RecoverWithin time.Duration
	// RefreshMayLand says a Refresh whose reply a stall swallowed may still
	// have been applied: the pair the outage checks refresh is then not
	// required to work at the end.
	RefreshMayLand bool
	// Stalled, if not nil, runs backend-specific checks while the proxy is
	// stalled, after the common ones.
	Stalled func(t *testing.T)
	// StoreTimeout is the authkit.WithStoreTimeout of a second issuer and
	// verifier that, while the proxy is stalled, are called with no
	// deadline of their own (and through the HTTP layer): each call must
	// fail closed (ErrStoreUnavailable; 503 with Retry-After) within
	// StoreBound(StoreTimeout, Slack). Default 250ms.
	StoreTimeout time.Duration
	// DriverIgnoresDeadline says the driver cannot end a call at its ctx
	// deadline while the network swallows everything (lib/pq, which can
	// only send the server a cancel request, itself swallowed): the
	// store's own methods are then not timed while the proxy is stalled,
	// only the issuer's and the verifier's, which return at the deadline
	// whatever the driver does.
	DriverIgnoresDeadline bool
}

// StoreBound is how soon a call under a store timeout d must have failed:
// five times d, and at least d plus slack.
func StoreBound(d, slack time.Duration) time.Duration { return max(5*d, d+slack) }

// Faults runs an issuer and a verifier over h.Store, cuts and then stalls
// h.Proxy in the middle of a run, and restores it each time. While the
// server is unreachable every call must fail closed (ErrStoreUnavailable)
// within its ctx deadline and the verifier must refuse every credential;
// once the server is back the same store must work again by itself. At the
// end nothing issued is lost and no revocation has been undone.
//
// While the proxy is stalled, an issuer and a verifier with a short
// authkit.WithStoreTimeout (h.StoreTimeout) are also called with no
// deadline of their own — Verify, IssuePair, Refresh, and a protected
// request through adapters/httpauth — and must refuse within a few store
// timeouts: the store timeout alone bounds them.
func Faults(t *testing.T, h FaultHarness) {
	s, px := h.Store, h.Proxy
	if h.StoreTimeout == 0 {
		h.StoreTimeout = 250 * time.Millisecond
	}
	set := KeySet(t, keys.HS256)
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(s))
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(s))
	if err != nil {
		t.Fatal(err)
	}
	// The same store under a short store timeout, with the verify cache off
	// so that every Verify asks the store.
	tiss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(s), authkit.WithStoreTimeout(h.StoreTimeout))
	if err != nil {
		t.Fatal(err)
	}
	tv, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(s), authkit.WithStoreTimeout(h.StoreTimeout), authkit.WithVerifyCache(0))
	if err != nil {
		t.Fatal(err)
	}
	auth, err := httpauth.New(tv, httpauth.WithRetryAfter(7*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	protected := auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
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
	probe, spare := live[0], live[1] // the background appends to live from here on

	// Traffic through the faults: every call has a deadline and every
	// failure must be ErrStoreUnavailable.
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			cctx, cancel := context.WithTimeout(ctx, h.CutDeadline/2)
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
	})
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
			t.Errorf("%s with %s unreachable returned %v, want an error matching ErrStoreUnavailable", what, h.Server, err)
		}
		if took > deadline+h.Slack {
			t.Errorf("%s with %s unreachable took %v, past its %v deadline", what, h.Server, took, deadline)
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
	outage := func(deadline time.Duration, stalled bool) {
		t.Helper()
		refused("Verify of a live access token", deadline, verify(probe.AccessToken))
		refused("Verify of a revoked access token", deadline, verify(revoked[0]))
		refused("Verify of an API token", deadline, verify(apiLive[0]))
		refused("IssuePair", deadline, func(ctx context.Context) error { _, err := iss.IssuePair(ctx, "during"); return err })
		refused("Refresh", deadline, func(ctx context.Context) error { _, err := iss.Refresh(ctx, spare.RefreshToken); return err })
		refused("RevokeSubject", deadline, func(ctx context.Context) error { return iss.RevokeSubject(ctx, "nobody") })
		if stalled && h.DriverIgnoresDeadline {
			return // the store's own calls outlive their deadline
		}
		refused("Ping", deadline, s.Ping)
		refused("IsRevoked", deadline, func(ctx context.Context) error {
			dead, err := s.IsRevoked(ctx, authkit.RevocationQuery{TokenID: "x", Subject: "user-5", IssuedAt: time.Now()}, time.Now())
			if err == nil {
				return fmt.Errorf("IsRevoked answered %v without %s", dead, h.Server)
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
		until := time.Now().Add(h.RecoverWithin)
		for {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err := v.Verify(cctx, probe.AccessToken)
			cancel()
			if err == nil {
				return
			}
			if time.Now().After(until) {
				t.Fatalf("the store did not recover within %v of %s coming back: %v", h.RecoverWithin, h.Server, err)
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

	// Cut: connections reset, new ones refused. Failures are immediate.
	px.Cut()
	outage(h.CutDeadline, false)
	px.Restore()
	recovered()
	revokeBetween()

	// Stall: the network swallows everything. Calls end at their deadline.
	time.Sleep(50 * time.Millisecond)
	px.Stall()
	outage(300*time.Millisecond, true)
	storeTimeout(t, h, tiss, tv, protected, probe.AccessToken, apiLive[0], spare.RefreshToken)
	if h.Stalled != nil {
		h.Stalled(t)
	}
	px.Restore()
	recovered()
	time.Sleep(50 * time.Millisecond)
	stopTraffic()

	for _, err := range wrongErrs {
		t.Errorf("a call during the faults failed with %v, want an error matching ErrStoreUnavailable", err)
	}
	t.Logf("%d pairs issued, %d calls refused during the faults", len(live), refusals)

	// Nothing issued is lost; nothing revoked came back.
	for _, p := range live {
		if h.RefreshMayLand && p.SessionID == spare.SessionID {
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

// storeTimeout checks, while h.Proxy is stalled, that calls with no
// deadline of their own fail closed within StoreBound of the store timeout
// of iss and v, and that a protected request answers 503 with Retry-After
// as soon.
func storeTimeout(t *testing.T, h FaultHarness, iss *issuer.Issuer, v *verifier.Verifier, protected http.Handler, access, api, refresh string) {
	t.Helper()
	bound := StoreBound(h.StoreTimeout, h.Slack)
	ctx := context.Background() // no deadline: the store timeout must end the call
	timed := func(what string, call func() error) {
		t.Helper()
		start := time.Now()
		err := call()
		took := time.Since(start)
		if !errors.Is(err, authkit.ErrStoreUnavailable) {
			t.Errorf("%s with %s stalled and a %v store timeout returned %v, want an error matching ErrStoreUnavailable", what, h.Server, h.StoreTimeout, err)
		}
		if took > bound {
			t.Errorf("%s with %s stalled took %v, past %v for a %v store timeout", what, h.Server, took, bound, h.StoreTimeout)
		}
	}
	verify := func(tok string) func() error {
		return func() error {
			p, err := v.Verify(ctx, tok)
			if err == nil {
				return fmt.Errorf("Verify let %s in (fail open)", p.Subject)
			}
			return err
		}
	}
	timed("Verify of an access token under the store timeout", verify(access))
	timed("Verify of an API token under the store timeout", verify(api))
	timed("IssuePair under the store timeout", func() error { _, err := iss.IssuePair(ctx, "during-timeout"); return err })
	timed("Refresh under the store timeout", func() error { _, err := iss.Refresh(ctx, refresh); return err })

	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/protected", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	rec := httptest.NewRecorder()
	start := time.Now()
	protected.ServeHTTP(rec, req)
	took := time.Since(start)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("a protected request with %s stalled answered %d, want 503", h.Server, rec.Code)
	}
	if ra := rec.Header().Get("Retry-After"); ra != "7" {
		t.Errorf("a protected request with %s stalled answered Retry-After %q, want \"7\"", h.Server, ra)
	}
	if took > bound {
		t.Errorf("a protected request with %s stalled took %v, past %v for a %v store timeout", h.Server, took, bound, h.StoreTimeout)
	}
}
