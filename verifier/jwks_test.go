package verifier_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// jwksServer serves the public JWKS of a key set, counting fetches. While
// held, a fetch blocks until release (or the client gives up); while
// failing, it answers 500.
type jwksServer struct {
	*httptest.Server
	set          atomic.Pointer[keys.Set]
	cacheControl atomic.Value // string
	fetches      atomic.Int32
	failing      atomic.Bool
	body         atomic.Pointer[string] // served instead of set's JWKS when set

	mu      sync.Mutex
	gate    chan struct{} // non-nil while held
	waiting atomic.Int32  // fetches blocked at the gate
}

func newJWKSServer(t *testing.T, set *keys.Set) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.set.Store(set)
	s.cacheControl.Store("")
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		gate := s.gate
		s.mu.Unlock()
		if gate != nil {
			s.waiting.Add(1)
			select {
			case <-gate:
			case <-r.Context().Done():
			}
			s.waiting.Add(-1)
		}
		if s.failing.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		doc, _ := s.set.Load().JWKS()
		if b := s.body.Load(); b != nil {
			doc = []byte(*b)
		}
		if cc := s.cacheControl.Load().(string); cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		w.Write(doc)
	}))
	t.Cleanup(func() { s.release(); s.Close() })
	return s
}

func (s *jwksServer) hold() {
	s.mu.Lock()
	s.gate = make(chan struct{})
	s.mu.Unlock()
}

func (s *jwksServer) release() {
	s.mu.Lock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
	s.mu.Unlock()
}

// eventually polls cond until it holds, failing the test after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type remoteFixture struct {
	srv   *jwksServer
	set   *keys.Set // the issuer's, published by srv
	clock *clock
	iss   *issuer.Issuer
	ver   *verifier.Verifier
}

func newRemoteFixture(t *testing.T, extra ...authkit.Option) *remoteFixture {
	t.Helper()
	set, _ := keys.NewSet(mustKey(t, keys.EdDSA))
	f := &remoteFixture{set: set, clock: &clock{t: base}}
	f.srv = newJWKSServer(t, set)
	f.iss, _ = issuer.New(authkit.WithKeys(set), authkit.WithClock(f.clock.Now))
	opts := append([]authkit.Option{authkit.WithJWKSURL(f.srv.URL), authkit.WithClock(f.clock.Now),
		authkit.WithJWKSRefreshInterval(time.Second)}, extra...)
	var err error
	if f.ver, err = verifier.New(opts...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.ver.Close() })
	return f
}

func (f *remoteFixture) token(t *testing.T) string {
	t.Helper()
	tok, err := f.iss.IssueAccessToken(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// rotate adds a new key to the remote set and makes it sign.
func (f *remoteFixture) rotate(t *testing.T) {
	t.Helper()
	k := mustKey(t, keys.EdDSA)
	if err := f.set.Add(k); err != nil {
		t.Fatal(err)
	}
	if err := f.set.Activate(k.ID()); err != nil {
		t.Fatal(err)
	}
}

// A JWKS URL with a password (a key set behind Basic authentication) or a
// credential in its query (a presigned URL): the fetch's warnings and a
// configuration error show its scheme, host and path, never the user
// information or the query, nor those of a redirect's target (found by
// review: the password was masked, the user name and the query were not).
func TestJWKSURLPasswordNeverShown(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redir":
			http.Redirect(w, r, closed.URL+"/jwks?sig=redirect-s3cret", http.StatusFound)
			return
		case "/badloc": // a Location net/http cannot parse, which its error quotes
			w.Header().Set("Location", "http://[::1/keys?sig=location-s3cret")
			w.WriteHeader(http.StatusFound)
			return
		}
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	for _, path := range []string{"/jwks?sig=query-s3cret&se=2030", "/redir?sig=query-s3cret", "/badloc?sig=query-s3cret"} {
		u, _ := url.Parse(srv.URL + path)
		u.User = url.UserPassword("jwks-user", "s3cret-pass")
		var logs strings.Builder
		var mu sync.Mutex
		log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
		v, err := verifier.New(authkit.WithJWKSURL(u.String()), authkit.WithLogger(log))
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "a warning about the failed fetch", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return strings.Contains(logs.String(), "fetching JWKS failed")
		})
		v.Close()
		mu.Lock()
		got := logs.String()
		mu.Unlock()
		for _, secret := range []string{"s3cret", "jwks-user"} {
			if strings.Contains(got, secret) {
				t.Errorf("the fetch's warning for %s shows %q:\n%s", path, secret, got)
			}
		}
		if !strings.Contains(got, srv.URL+strings.Split(path, "?")[0]+"?…") {
			t.Errorf("the fetch's warning for %s does not name the URL's scheme, host and path:\n%s", path, got)
		}
		bad := *u
		bad.Scheme = "http"
		bad.Host = "jwks.example:80"
		if _, err := verifier.New(authkit.WithJWKSURL(bad.String())); err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "jwks-user") {
			t.Errorf("an http JWKS URL off loopback: %v; want an error without the user information or the query", err)
		}
	}
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// A wall clock stepped back an hour after a fetch: the scheduled refresh
// used to wait for the clock to catch up with the due time set before the
// step, so a key the server dropped stayed trusted for the hour (found by
// review). A clock that reads earlier than the document's fetch now makes
// the refresh due, and the dropped key goes within a document lifetime.
func TestJWKSRefreshAfterClockStepsBack(t *testing.T) {
	f := newRemoteFixture(t)
	eventually(t, "the first fetch", func() bool { return f.srv.fetches.Load() >= 1 })
	f.clock.Add(-time.Hour)
	old := f.set.Active()
	tok := f.token(t)
	if _, err := f.ver.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	f.rotate(t)
	if err := f.set.Remove(old.ID()); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(20 * time.Second) // two document lifetimes at a 1 s interval
	eventually(t, "the token of the dropped key to be refused", func() bool {
		_, err := f.ver.Verify(context.Background(), tok)
		return err != nil
	})
}

// The clock stepped back while the JWKS server fails: the rule that makes
// a refresh due when the clock reads earlier than the document's fetch
// must not fetch again on every request; it retries once per interval
// (found by review: 300 verifications made 292 fetches).
func TestJWKSClockBehindFailingServerNoStorm(t *testing.T) {
	f := newRemoteFixture(t)
	if _, err := f.ver.Verify(context.Background(), f.token(t)); err != nil {
		t.Fatal(err)
	}
	f.srv.failing.Store(true)
	f.clock.Add(-time.Hour)
	tok := f.token(t)
	n := f.srv.fetches.Load()
	for range 300 {
		if _, err := f.ver.Verify(context.Background(), tok); err != nil {
			t.Fatal(err) // the last good keys still serve
		}
		time.Sleep(time.Millisecond)
	}
	if got := f.srv.fetches.Load() - n; got > 2 {
		t.Errorf("300 verifications with the clock stepped back and the server failing made %d fetches, want at most 2 (one per interval)", got)
	}
}

// A request whose kid is unknown waits for the refetch only as long as its
// own context allows: with a slow JWKS server it returns with its context's
// error while the fetch is still hanging, and requests with known kids are
// not held up at all.
func TestJWKSUnknownKidHonoursContext(t *testing.T) {
	f := newRemoteFixture(t)
	known := f.token(t)
	if _, err := f.ver.Verify(context.Background(), known); err != nil {
		t.Fatal(err)
	}
	f.rotate(t)
	unknown := f.token(t)
	f.srv.hold()
	f.clock.Add(2 * time.Second) // past the refetch interval

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	p, err := f.ver.Verify(ctx, unknown)
	if p != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unknown kid, slow JWKS, 50ms deadline: %v, %v; want context.DeadlineExceeded", p, err)
	}
	// The request has returned; the fetch it asked for hangs on.
	eventually(t, "the refetch to hang at the server", func() bool { return f.srv.waiting.Load() == 1 })
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := f.ver.Verify(ctx2, unknown); !errors.Is(err, context.Canceled) {
		t.Fatalf("unknown kid, cancelled context: %v; want context.Canceled", err)
	}
	// A known kid does not wait for the hanging fetch (a wait here would
	// block until the server is released, and the deadline would show it).
	ctx3, cancel3 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel3()
	if _, err := f.ver.Verify(ctx3, known); err != nil {
		t.Fatalf("known kid while a refetch hangs: %v", err)
	}
	if f.srv.waiting.Load() != 1 {
		t.Fatal("the refetch ended before the known-kid request returned")
	}
	// Once the server answers, the new key verifies.
	f.srv.release()
	if _, err := f.ver.Verify(context.Background(), unknown); err != nil {
		t.Fatalf("unknown kid after the refetch: %v", err)
	}
	if n := f.srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (start-up, one refetch)", n)
	}
}

// Before the first good fetch the verifier cannot judge a token: it answers
// 503 (ErrStoreUnavailable), or the request's own context error while the
// first fetch hangs, never 401.
func TestJWKSBeforeFirstFetch(t *testing.T) {
	set, _ := keys.NewSet(mustKey(t, keys.EdDSA))
	srv := newJWKSServer(t, set)
	srv.failing.Store(true)
	iss, _ := issuer.New(authkit.WithKeys(set))
	tok, _ := iss.IssueAccessToken(context.Background(), "alice")
	v, err := verifier.New(authkit.WithJWKSURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Verify(context.Background(), tok.AccessToken); !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("JWKS down at start: %v; want ErrStoreUnavailable", err)
	}

	slow := newJWKSServer(t, set)
	slow.hold()
	v2, err := verifier.New(authkit.WithJWKSURL(slow.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := v2.Verify(ctx, tok.AccessToken); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first fetch hanging: %v; want context.DeadlineExceeded", err)
	}
	slow.release()
	if _, err := v2.Verify(context.Background(), tok.AccessToken); err != nil {
		t.Fatalf("after the first fetch: %v", err)
	}
}

// The background refresh runs before the document expires, with no request
// asking for it, and requests with known kids never fetch.
func TestJWKSBackgroundRefresh(t *testing.T) {
	f := newRemoteFixture(t)
	f.srv.cacheControl.Store("public, max-age=60")
	tok := f.token(t)
	// Whatever the start-up fetch saw, an unknown-kid refetch at 1 s fixes
	// the document's lifetime at max-age=60: refresh due at 46 s.
	if _, err := f.ver.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	f.rotate(t)
	f.clock.Add(time.Second)
	if _, err := f.ver.Verify(context.Background(), f.token(t)); err != nil {
		t.Fatal(err)
	}
	if n := f.srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	// Known kids, many times, the clock short of the refresh point (3/4 of
	// 60 s): no fetch.
	for range 100 {
		if _, err := f.ver.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Add(44 * time.Second)
	for range 100 {
		if _, err := f.ver.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.srv.fetches.Load(); n != 2 {
		t.Fatalf("known kids caused %d fetches", n-2)
	}
	// Past the refresh point but before expiry (46 s of 60), and no request
	// at all: the background goroutine refreshes.
	f.clock.Add(time.Second)
	eventually(t, "a background refresh", func() bool { return f.srv.fetches.Load() == 3 })
	// With the server hanging and the document past its expiry, a known kid
	// still answers at once: the refresh runs beside the request, never in it.
	f.srv.hold()
	f.clock.Add(2 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok2 := f.token(t)
	if _, err := f.ver.Verify(ctx, tok2); err != nil {
		t.Fatalf("known kid, stale document, hanging server: %v", err)
	}
	eventually(t, "the stale document's refresh to reach the server", func() bool { return f.srv.waiting.Load() == 1 })
	if _, err := f.ver.Verify(ctx, tok2); err != nil {
		t.Fatalf("known kid while the refresh hangs: %v", err)
	}
	f.srv.release()
}

// A refresh that fails — an error status, a document with no usable key —
// keeps the last good keys serving, long past the document's expiry.
func TestJWKSFailedRefreshKeepsLastGoodKeys(t *testing.T) {
	f := newRemoteFixture(t)
	f.srv.cacheControl.Store("max-age=10")
	tok := f.token(t)
	if _, err := f.ver.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	f.srv.failing.Store(true)
	for i := range 3 {
		n := f.srv.fetches.Load()
		f.clock.Add(time.Minute)
		if _, err := f.ver.Verify(context.Background(), f.token(t)); err != nil {
			t.Fatalf("round %d, remote failing: %v", i, err)
		}
		eventually(t, "a refresh attempt", func() bool { return f.srv.fetches.Load() > n })
	}
	// Now a document of symmetric keys only: nothing usable, so it fails too.
	hs, _ := keys.NewSet(mustKey(t, keys.HS256))
	f.srv.set.Store(hs)
	f.srv.failing.Store(false)
	n := f.srv.fetches.Load()
	f.clock.Add(time.Minute)
	if _, err := f.ver.Verify(context.Background(), f.token(t)); err != nil {
		t.Fatalf("remote serving no usable key: %v", err)
	}
	eventually(t, "a refresh attempt", func() bool { return f.srv.fetches.Load() > n })
	if _, err := f.ver.Verify(context.Background(), f.token(t)); err != nil {
		t.Fatalf("after a refresh found no usable key: %v", err)
	}
}

// After failed fetches, the first that works says so once (found by
// review: the warnings stopped and nothing said the key server was back).
func TestJWKSLogsRecovery(t *testing.T) {
	var (
		mu   sync.Mutex
		logs strings.Builder
	)
	count := func(s string) int {
		mu.Lock()
		defer mu.Unlock()
		return strings.Count(logs.String(), s)
	}
	f := newRemoteFixture(t, authkit.WithLogger(slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))))
	if _, err := f.ver.Verify(context.Background(), f.token(t)); err != nil {
		t.Fatal(err)
	}
	refresh := func() {
		n := f.srv.fetches.Load()
		f.clock.Add(time.Minute)
		if _, err := f.ver.Verify(context.Background(), f.token(t)); err != nil {
			t.Fatal(err)
		}
		eventually(t, "a refresh attempt", func() bool { return f.srv.fetches.Load() > n })
	}
	refresh()
	f.srv.failing.Store(true)
	refresh()
	eventually(t, "the failure's warning", func() bool { return count("fetching JWKS failed") == 1 })
	f.srv.failing.Store(false)
	for range 3 {
		refresh()
	}
	eventually(t, "the recovery's line", func() bool { return count("fetching JWKS works again") == 1 })
	if n := count("works again"); n != 1 {
		t.Errorf("the recovery logged %d times after 3 good fetches, want once", n)
	}
}

// Concurrent requests with the same unknown kid cause one fetch, and all
// of them verify once it lands.
func TestJWKSUnknownKidSingleFetch(t *testing.T) {
	f := newRemoteFixture(t)
	if _, err := f.ver.Verify(context.Background(), f.token(t)); err != nil {
		t.Fatal(err)
	}
	f.rotate(t)
	tok := f.token(t)
	f.srv.hold()
	f.clock.Add(time.Second)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := f.ver.Verify(ctx, tok); err != nil {
				errs <- err
			}
		})
	}
	eventually(t, "the refetch to reach the server", func() bool { return f.srv.waiting.Load() == 1 })
	f.srv.release()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("unknown kid after the refetch: %v", err)
	}
	if got := f.srv.fetches.Load(); got != 2 {
		t.Fatalf("%d fetches for %d concurrent unknown-kid requests, want 2 (start-up, one refetch)", got, n)
	}
	// Within the interval, more unknown kids cause no fetch at all.
	f.rotate(t)
	if _, err := f.ver.Verify(context.Background(), f.token(t)); !errors.Is(err, authkit.ErrInvalidToken) {
		t.Fatalf("unknown kid within the interval: %v; want ErrInvalidToken", err)
	}
	if got := f.srv.fetches.Load(); got != 2 {
		t.Fatalf("%d fetches, want no new one within the interval", got)
	}
}

// Close stops the background goroutine (TestMain checks none is left),
// cancels a hanging fetch, releases requests waiting on it, and is
// idempotent. Afterwards remote keys are refused with ErrStoreUnavailable
// while local keys keep working.
func TestJWKSClose(t *testing.T) {
	local, _ := keys.NewSet(mustKey(t, keys.HS256))
	f := newRemoteFixture(t, authkit.WithKeys(local))
	localIss, _ := issuer.New(authkit.WithKeys(local), authkit.WithClock(f.clock.Now))
	localTok, _ := localIss.IssueAccessToken(context.Background(), "bob")
	tok := f.token(t)
	if _, err := f.ver.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	f.rotate(t)
	unknown := f.token(t)
	f.srv.hold()
	f.clock.Add(time.Second)
	waited := make(chan error, 1)
	go func() {
		_, err := f.ver.Verify(context.Background(), unknown)
		waited <- err
	}()
	eventually(t, "the refetch to reach the server", func() bool { return f.srv.waiting.Load() == 1 })

	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { f.ver.Close() })
	}
	wg.Wait() // returns although the server never answers: the fetch is cancelled
	if err := <-waited; !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("request waiting on the refetch at Close: %v; want ErrStoreUnavailable", err)
	}
	if err := f.ver.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if p, err := f.ver.Verify(context.Background(), tok); p != nil || !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("remote key after Close: %v, %v; want ErrStoreUnavailable", p, err)
	}
	if _, err := f.ver.Verify(context.Background(), localTok.AccessToken); err != nil {
		t.Fatalf("local key after Close: %v", err)
	}
	// A verifier without a JWKS URL has nothing to stop.
	plain, _ := verifier.New(authkit.WithKeys(local), authkit.WithClock(f.clock.Now))
	if err := plain.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Verify(context.Background(), localTok.AccessToken); err != nil {
		t.Fatalf("Close on a verifier without background work: %v", err)
	}
}

// A fetched document whose "keys" holds no JWK at all — nulls, strings,
// objects without a string kty — is not a JWKS: the refetch fails and the
// last good keys keep serving. It used to count as a set of unusable keys
// and replace them, so every token was refused as of an unknown key (found
// by review).
func TestJWKSNotJWKsKeepsLastGoodKeys(t *testing.T) {
	for _, body := range []string{
		`{"keys":[null]}`,
		`{"keys":[{}]}`,
		`{"keys":["a","b"]}`,
		`{"keys":[1,true,[]]}`,
		`{"keys":[{"kty":1,"kid":"x"}]}`,
		`{"keys":[{"kty":"","kid":"x"}]}`,
		`{"keys":[{"kid":"x","alg":"EdDSA"},null]}`,
	} {
		t.Run(body, func(t *testing.T) {
			f := newRemoteFixture(t)
			tok := f.token(t)
			if _, err := f.ver.Verify(context.Background(), tok); err != nil {
				t.Fatal(err)
			}
			f.srv.body.Store(&body)
			f.rotate(t) // a kid the verifier does not know forces a refetch
			f.clock.Add(2 * time.Second)
			n := f.srv.fetches.Load()
			if _, err := f.ver.Verify(context.Background(), f.token(t)); !errors.Is(err, authkit.ErrInvalidToken) {
				t.Fatalf("unknown kid, document %s: %v; want ErrInvalidToken", body, err)
			}
			if f.srv.fetches.Load() <= n {
				t.Fatal("no refetch")
			}
			if _, err := f.ver.Verify(context.Background(), tok); err != nil {
				t.Fatalf("token of the last good keys after a refetch served %s: %v", body, err)
			}
		})
	}
}

// A document of real JWKs that authkit cannot use still replaces the last
// good keys (fail closed); non-JWK elements beside them change nothing.
func TestJWKSUnusableJWKsReplaceKeys(t *testing.T) {
	f := newRemoteFixture(t)
	tok := f.token(t)
	if _, err := f.ver.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	body := `{"keys":[null,{"kty":"EC","use":"enc","kid":"e1","crv":"P-256","x":"AA","y":"AA"}]}`
	f.srv.body.Store(&body)
	f.rotate(t)
	f.clock.Add(2 * time.Second)
	if _, err := f.ver.Verify(context.Background(), f.token(t)); !errors.Is(err, authkit.ErrInvalidToken) {
		t.Fatalf("unknown kid: %v; want ErrInvalidToken", err)
	}
	if _, err := f.ver.Verify(context.Background(), tok); !errors.Is(err, authkit.ErrInvalidToken) {
		t.Fatalf("token of a key the new document dropped: %v; want ErrInvalidToken", err)
	}
}

// A kid-less token signed by the issuer's one local HMAC key verifies
// whatever state a remote JWKS of the same issuer is in — down before its
// first fetch, or closed — since a remote set never holds symmetric keys.
// It used to fail with ErrStoreUnavailable (found by review). A kid-less
// token of another alg still needs the remote, and is refused with
// ErrStoreUnavailable after Close.
func TestKidlessLocalHMACBesideRemoteJWKS(t *testing.T) {
	hs := mustKey(t, keys.HS256)
	local, _ := keys.NewSet(hs)
	remote, _ := keys.NewSet(mustKey(t, keys.EdDSA))
	srv := newJWKSServer(t, remote)
	srv.failing.Store(true)
	c := &clock{t: base}
	v, err := verifier.New(authkit.WithKeys(local), authkit.WithJWKSURL(srv.URL), authkit.WithClock(c.Now),
		authkit.WithJWKSRefreshInterval(time.Second), authkit.WithIssuer("https://auth.example"), authkit.WithAudience("api"))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	claims := map[string]any{"iss": "https://auth.example", "aud": "api", "sub": "bob", "exp": base.Add(time.Hour).Unix(),
		"iat": base.Unix(), "jti": "j", "client_id": "c"}
	kidless := forge(t, hs, map[string]any{"alg": "HS256", "typ": "at+jwt"}, claims)
	if _, err := v.Verify(context.Background(), kidless); err != nil {
		t.Fatalf("kid-less local HS256 token, remote JWKS down: %v", err)
	}
	v.Close()
	kidless = forge(t, hs, map[string]any{"alg": "HS256", "typ": "at+jwt"}, map[string]any{"iss": "https://auth.example",
		"aud": "api", "sub": "carol", "exp": base.Add(time.Hour).Unix(), "iat": base.Unix(), "jti": "j2", "client_id": "c"})
	if _, err := v.Verify(context.Background(), kidless); err != nil {
		t.Fatalf("kid-less local HS256 token after Close: %v", err)
	}
	ed := remote.Active()
	p, err := v.Verify(context.Background(), forge(t, ed, map[string]any{"alg": "EdDSA", "typ": "at+jwt"}, claims))
	if p != nil || !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("kid-less EdDSA token after Close: %v, %v; want ErrStoreUnavailable", p, err)
	}
}

// A verifier started before its JWKS server answers retries sooner than
// once an interval until its first document: with the default one-minute
// interval it serves within seconds of the server coming up (found by an
// adoption test: a resource server started before its auth server
// answered 503 for a whole minute after it was up).
func TestJWKSFirstFetchRetriesSoon(t *testing.T) {
	set, _ := keys.NewSet(mustKey(t, keys.EdDSA))
	srv := newJWKSServer(t, set)
	srv.failing.Store(true)
	iss, _ := issuer.New(authkit.WithKeys(set))
	v, err := verifier.New(authkit.WithJWKSURL(srv.URL)) // the default interval, a minute; the real clock
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	tok, err := iss.IssueAccessToken(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first fetch", func() bool { return srv.fetches.Load() >= 1 })
	if _, err := v.Verify(context.Background(), tok.AccessToken); !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("before any document: %v, want ErrStoreUnavailable", err)
	}
	srv.failing.Store(false)
	// No request asks for a fetch here: the background retry alone.
	eventually(t, "a fetch after the server came up", func() bool { return srv.fetches.Load() >= 2 })
	eventually(t, "verifying once the server is up", func() bool {
		_, err := v.Verify(context.Background(), tok.AccessToken)
		return err == nil
	})
}

// TestCloseNil: Close on what a failed New returns does nothing, so a
// defer written before the error check (found in a docs snippet by review)
// does not turn a configuration error into a panic.
func TestCloseNil(t *testing.T) {
	ver, err := verifier.New(authkit.WithJWKSURL("http://auth.example.com/.well-known/jwks.json"))
	if err == nil || ver != nil {
		t.Fatalf("New with an http:// JWKS URL off loopback: %v, %v", ver, err)
	}
	if err := ver.Close(); err != nil {
		t.Fatalf("Close on nil: %v", err)
	}
}

// TestJWKSPrivateKeyUnusable: a JWKS that publishes a private key has
// leaked it, and anyone can sign with it; its kid is unusable, the reason
// logged and given, and the set's other keys keep working (found by
// review: the public half was used without a word).
func TestJWKSPrivateKeyUnusable(t *testing.T) {
	ctx := context.Background()
	leaked, _ := keys.Generate(keys.ES256)
	good, _ := keys.Generate(keys.EdDSA)
	leakedJWK, err := leaked.MarshalJWK()
	if err != nil || !strings.Contains(string(leakedJWK), `"d"`) {
		t.Fatalf("the private JWK has no d: %s %v", leakedJWK, err)
	}
	pubSet, _ := keys.NewVerificationSet(good.Public())
	doc, _ := pubSet.JWKS()
	doc = []byte(strings.Replace(string(doc), `"keys":[`, `"keys":[`+string(leakedJWK)+`,`, 1))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(doc) }))
	defer srv.Close()
	var (
		mu   sync.Mutex
		logs strings.Builder
	)
	v, err := verifier.New(authkit.WithJWKSURL(srv.URL), authkit.WithLogger(slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for _, tc := range []struct {
		key  *keys.Key
		want error
	}{{leaked, authkit.ErrInvalidToken}, {good, nil}} {
		set, _ := keys.NewSet(tc.key)
		is, _ := issuer.New(authkit.WithKeys(set))
		tok, _ := is.IssueAccessToken(ctx, "alice")
		_, err := v.Verify(ctx, tok.AccessToken)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("token signed with %s key: %v, want %v", tc.key.ID(), err, tc.want)
		}
		if tc.want != nil && (err == nil || !strings.Contains(err.Error(), "a private key")) {
			t.Errorf("the refusal does not say why: %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "unusable: a private key") {
		t.Errorf("nothing logged of the private key:\n%s", logs.String())
	}
}
