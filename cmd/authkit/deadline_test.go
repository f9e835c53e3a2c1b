package main

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit/internal/testservers"
)

// TestServeStalledStore runs serve on PostgreSQL through a proxy that is
// then stalled (traffic held, connections open, as in a network
// partition): a protected request, a refresh and a login each answer 503
// with Retry-After within a few store timeouts, and serve works again once
// the proxy is restored.
func TestServeStalledStore(t *testing.T) {
	// Generous enough that a healthy call under CI load (-race, other
	// packages' tests, a cold pool) finishes well within it.
	const storeTimeout = time.Second
	bound := 5 * storeTimeout
	dsn := testservers.Postgres(t)
	px := testservers.NewProxy(t, testservers.Addr(t, dsn))
	s := startServe(t, "", "--store", testservers.WithAddr(t, dsn, px.Addr()), "--migrate",
		"--store-timeout", storeTimeout.String(), "--request-timeout", "3s", "--revocation-mirror", "off")
	password := passwordRE.FindStringSubmatch(s.stdout.String())[1]
	login := url.Values{"grant_type": {"password"}, "username": {"demo"}, "password": {password}}
	// Before the stall the database is healthy; the first calls also open
	// the pool's connections through the proxy, which on a loaded machine
	// may take longer than one store timeout: retry until one login passes.
	// The login that passes is the one used (CI saw a second login after
	// a passing one answer 503 under load), and /me likewise.
	warm := time.Now().Add(20 * time.Second)
	healthy := func(method, path, bearer string, form url.Values) response {
		for {
			r := s.do(t, method, path, bearer, form)
			if r.status == 200 || time.Now().After(warm) {
				return r
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	tok := healthy("POST", "/token", "", login).want(t, "password grant", 200)
	access, refresh := tok.str("access_token"), tok.str("refresh_token")
	healthy("GET", "/me", access, nil).want(t, "/me", 200)

	px.Stall()
	for _, c := range []struct {
		what, method, path, bearer string
		form                       url.Values
	}{
		{"a protected request", "GET", "/me", access, nil},
		{"a refresh", "POST", "/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}},
		{"a login", "POST", "/token", "", login},
	} {
		start := time.Now()
		r := s.do(t, c.method, c.path, c.bearer, c.form)
		took := time.Since(start)
		r.want(t, c.what+" with the database stalled", 503)
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s with the database stalled: 503 without Retry-After", c.what)
		}
		// A login also spends time hashing the password.
		if took > bound+time.Second {
			t.Errorf("%s with the database stalled took %v, want about the %v store timeout", c.what, took, storeTimeout)
		}
	}
	px.Restore()
	deadline := time.Now().Add(15 * time.Second)
	for s.do(t, "GET", "/me", access, nil).status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("serve did not recover within 15s of the database coming back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestServeTimeoutFlags(t *testing.T) {
	for _, bad := range [][]string{
		{"--request-timeout", "1s", "--store-timeout", "2s"},
		{"--request-timeout", "1m"},
	} {
		r := runCLI(t, "", append([]string{"serve"}, bad...)...)
		r.must(t, exitUsage, nil, []string{"--request-timeout must be between"})
	}
	r := runCLI(t, "", "serve", "--store-timeout", "5ms", "--request-timeout", "1s")
	r.must(t, exitUsage, nil, []string{"--store-timeout", "WithStoreTimeout"})
	// --users-reload: 0 or off is off; a check in a tight loop is refused.
	runCLI(t, "", "serve", "--users-reload", "1ns").must(t, exitUsage, nil, []string{"--users-reload must be 0 (off) or at least 10ms"})
	runCLI(t, "", "serve", "--users-reload", "soon").must(t, exitUsage, nil, []string{"or 0 (off)"})
}

// TestStartStalledStore: a database that accepts connections and never
// answers fails serve and migrate at start-up, within the open deadline,
// rather than hanging them (a supervisor can then restart them).
func TestStartStalledStore(t *testing.T) {
	dsn := testservers.Postgres(t)
	px := testservers.NewProxy(t, testservers.Addr(t, dsn))
	stalled := testservers.WithAddr(t, dsn, px.Addr())
	px.Stall()
	defer func(d time.Duration) { storeOpenTimeout = d }(storeOpenTimeout)
	storeOpenTimeout = time.Second
	for _, args := range [][]string{
		{"migrate", "--store", stalled},
		{"serve", "--addr", "127.0.0.1:0", "--store", stalled, "--migrate"},
		{"serve", "--addr", "127.0.0.1:0", "--store", stalled},
	} {
		var out, errOut syncBuffer
		done := make(chan int, 1)
		ctx, cancel := context.WithCancel(context.Background()) // no deadline of its own
		go func() { done <- run(ctx, args, strings.NewReader(""), &out, &errOut) }()
		select {
		case code := <-done:
			if code == 0 || !strings.Contains(errOut.String(), "deadline") {
				t.Errorf("%s with the database stalled: exit %d, stderr:\n%s\nwant a failure naming the deadline", strings.Join(args[:1], " "), code, errOut.String())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("%q with the database stalled still runs after 30s (open deadline %v)", args, storeOpenTimeout)
			cancel()
			<-done
		}
		cancel()
	}
}
