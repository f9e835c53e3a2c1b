package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseTrustedProxies(t *testing.T) {
	got, err := parseTrustedProxies("10.0.0.0/8, 192.0.2.7,2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::/32")}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %v, want %v", i, got[i], want[i])
		}
	}
	if p, err := parseTrustedProxies("10.0.0.0/8,fc00::/7,::ffff:10.0.0.0/104"); err != nil || len(p) != 3 {
		t.Errorf("the widest accepted: %v %v", p, err)
	}
	if p, err := parseTrustedProxies(""); err != nil || p != nil {
		t.Errorf("empty: %v %v", p, err)
	}
	// Trusting every address (found by review: any client then named its
	// own address in X-Forwarded-For and was never throttled by address).
	for _, bad := range []string{"proxy.example", "10.0.0.0/33", "fe80::1%eth0", ",", "0.0.0.0/0", "::/0", "10.0.0.0/8,::/0", "192.0.2.1/0", "::ffff:0.0.0.0/96", "::ffff:0:0/96",
		// Wider than /8 or /7: two halves trust every address as a /0 does.
		"0.0.0.0/1,128.0.0.0/1", "10.0.0.0/7", "::/1,8000::/1", "fc00::/6", "::ffff:10.0.0.0/103"} {
		var ue *usageError
		if _, err := parseTrustedProxies(bad); !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
	c := &cli{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, lookupEnv: mapEnv(map[string]string{"AUTHKIT_TRUSTED_PROXIES": "10.1.0.0/16"})}
	cfg, err := c.parseServe(nil)
	if err != nil || len(cfg.trustedProxies) != 1 || cfg.trustedProxies[0] != netip.MustParsePrefix("10.1.0.0/16") {
		t.Errorf("AUTHKIT_TRUSTED_PROXIES: %v %v", cfg.trustedProxies, err)
	}
	if _, err := c.parseServe([]string{"--trusted-proxies", "nope"}); err == nil {
		t.Error("--trusted-proxies nope accepted")
	}
}

// newThrottleServer builds a serve server with args, for requests through
// its handler.
func newThrottleServer(t *testing.T, args ...string) *server {
	t.Helper()
	c := &cli{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, lookupEnv: mapEnv(nil)}
	cfg, err := c.parseServe(args)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.newServer(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.closeStore)
	return s
}

// login posts the password grant to s as if from client (through the
// proxy at 127.0.0.1).
func login(s *server, user, pass, client string) *httptest.ResponseRecorder {
	body := url.Values{"grant_type": {"password"}, "username": {user}, "password": {pass}}.Encode()
	r := httptest.NewRequest("POST", "/token", strings.NewReader(body))
	r.RemoteAddr = "127.0.0.1:5555"
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Forwarded-For", client)
	w := httptest.NewRecorder()
	s.handler.ServeHTTP(w, r)
	return w
}

// Two serve replicas over one Redis share the failures' budget: 6 wrong
// passwords, 3 through each, make the attacker's address wait on both,
// while the right password from another address still logs in.
func TestServeThrottleSharedRedis(t *testing.T) {
	store := redisStoreURL(t)
	// The shared test Redis may keep nothing on disk (CI starts it so).
	s1 := newThrottleServer(t, "--store", store, "--trusted-proxies", "127.0.0.1", "--accept-volatile-redis")
	s2 := newThrottleServer(t, "--store", store, "--trusted-proxies", "127.0.0.1", "--accept-volatile-redis")
	const attacker = "198.51.100.66"
	for i := range 6 {
		s := []*server{s1, s2}[i%2]
		if w := login(s, demoUser, "guess", attacker); w.Code != http.StatusBadRequest {
			t.Fatalf("guess %d: %d %s", i, w.Code, w.Body)
		}
	}
	for i, s := range []*server{s1, s2} {
		w := login(s, demoUser, s.demoPassword, attacker)
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), `"slow_down"`) {
			t.Errorf("replica %d, the attacker's address: %d %s Retry-After %q", i, w.Code, w.Body, w.Header().Get("Retry-After"))
		}
	}
	if w := login(s1, demoUser, s1.demoPassword, "203.0.113.5"); w.Code != http.StatusOK {
		t.Errorf("the right password from another address: %d %s", w.Code, w.Body)
	}
	// Without --trusted-proxies the header is ignored: every request is
	// the proxy's own address.
	s3 := newThrottleServer(t)
	for range 6 {
		login(s3, demoUser, "guess", "192.0.2.1")
	}
	if w := login(s3, demoUser, s3.demoPassword, "192.0.2.2"); w.Code != http.StatusTooManyRequests {
		t.Errorf("X-Forwarded-For believed without --trusted-proxies: %d %s", w.Code, w.Body)
	}
}

// The request log names the client the throttle counts: behind
// --trusted-proxies the forwarded address, with the proxy as peer (found
// by review: it named the proxy alone, so an operator could not see which
// address was guessing).
func TestServeLogsForwardedClient(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		xff        string // empty: 198.51.100.66
		client     string
		peerLogged bool
	}{
		{[]string{"--trusted-proxies", "127.0.0.1"}, "", "198.51.100.66", true},
		{nil, "", "127.0.0.1", false},
		// A list without the real proxy is warned of too (found by
		// review).
		{[]string{"--trusted-proxies", "10.9.9.9"}, "", "127.0.0.1", false},
		// The client is the nearest address no trusted proxy holds:
		// what the client wrote into the header itself is passed over,
		// and so is every trusted hop of a chain.
		{[]string{"--trusted-proxies", "127.0.0.1"}, "203.0.113.9, 198.51.100.66", "198.51.100.66", true},
		{[]string{"--trusted-proxies", "127.0.0.1,10.0.0.0/8"}, "203.0.113.9, 198.51.100.66, 10.1.1.1", "198.51.100.66", true},
	} {
		var buf syncBuffer
		s := newLoggingServer(t, &buf, tc.args...)
		xff := cmp.Or(tc.xff, "198.51.100.66")
		login(s, demoUser, "guess", xff)
		login(s, demoUser, "guess", xff)
		// Without --trusted-proxies a forwarded request is warned of,
		// once per peer (found by review).
		if n := strings.Count(buf.String(), "from a peer not among --trusted-proxies"); n != map[bool]int{true: 0, false: 1}[tc.peerLogged] {
			t.Errorf("serve %v: %d warnings of an untrusted X-Forwarded-For in %q", tc.args, n, buf.String())
		}
		var line string
		for l := range strings.SplitSeq(buf.String(), "\n") {
			if strings.Contains(l, "msg=request") {
				line = l
			}
		}
		if !strings.Contains(line, "client="+tc.client) || strings.Contains(line, "peer=127.0.0.1") != tc.peerLogged {
			t.Errorf("serve %v: request log %q, want client=%s (peer logged: %v)", tc.args, line, tc.client, tc.peerLogged)
		}
	}
}

// Forwarding mistakes are warned of once per peer, for at most
// maxForwardWarnings peers (found by review: the warning of an untrusted
// X-Forwarded-For was logged once in all, so a client sending the header
// itself used it up before the misconfigured proxy's first request; and a
// trusted proxy naming its clients only in Forwarded or X-Real-IP, which
// serve does not read, was never warned of).
func TestServeForwardWarnings(t *testing.T) {
	var buf syncBuffer
	s := newLoggingServer(t, &buf, "--trusted-proxies", "10.0.0.0/24")
	get := func(peer string, header ...string) {
		r := httptest.NewRequest("GET", "/healthz", nil)
		r.RemoteAddr = peer + ":5555"
		for i := 0; i < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		s.handler.ServeHTTP(httptest.NewRecorder(), r)
	}
	count := func(what string) int { return strings.Count(buf.String(), what) }
	const untrusted, unread = "from a peer not among --trusted-proxies", "names its client in Forwarded or X-Real-IP"

	// A client sends X-Forwarded-For itself, then a proxy serve was not
	// told of forwards: both are named, each once.
	get("192.0.2.7", "X-Forwarded-For", "1.2.3.4")
	get("192.0.2.7", "X-Forwarded-For", "1.2.3.4")
	get("192.0.2.99", "X-Forwarded-For", "198.51.100.1")
	if n := count(untrusted); n != 2 || !strings.Contains(buf.String(), "peer=192.0.2.99") {
		t.Errorf("%d warnings of an untrusted X-Forwarded-For, want 2 naming both peers: %q", n, buf.String())
	}
	for i := range 20 {
		get(fmt.Sprintf("192.0.2.%d", 100+i), "X-Forwarded-For", "1.2.3.4")
	}
	if n := count(untrusted); n != maxForwardWarnings {
		t.Errorf("%d warnings of an untrusted X-Forwarded-For from 22 peers, want %d", n, maxForwardWarnings)
	}

	// A trusted proxy naming its clients in Forwarded or X-Real-IP only.
	get("10.0.0.5", "Forwarded", "for=198.51.100.66")
	get("10.0.0.5", "X-Real-IP", "198.51.100.67")
	get("10.0.0.6", "X-Real-IP", "198.51.100.68")
	if n := count(unread); n != 2 || !strings.Contains(buf.String(), "peer=10.0.0.6") {
		t.Errorf("%d warnings of a trusted proxy's Forwarded or X-Real-IP, want 2 naming both proxies: %q", n, buf.String())
	}
	// Not when X-Forwarded-For is there too, nor from a peer that is not
	// a trusted proxy.
	get("10.0.0.7", "Forwarded", "for=198.51.100.66", "X-Forwarded-For", "198.51.100.66")
	get("192.0.2.200", "X-Real-IP", "198.51.100.69")
	if n := count(unread); n != 2 {
		t.Errorf("%d warnings of a trusted proxy's Forwarded or X-Real-IP, want still 2: %q", n, buf.String())
	}
}

// newLoggingServer is a serve of args whose log goes to w as text.
func newLoggingServer(t *testing.T, w io.Writer, args ...string) *server {
	t.Helper()
	c := &cli{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, lookupEnv: mapEnv(nil)}
	cfg, err := c.parseServe(args)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.newServer(t.Context(), cfg, slog.New(slog.NewTextHandler(w, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.closeStore)
	return s
}

// Once 8 peers are named, one summary an hour names the most frequent of
// the others, however many peers a client sends the header from (found by
// review: eight addresses of one IPv6 /64 used up the warnings, and the
// misconfigured proxy that came next was never named).
func TestForwardWarningSummary(t *testing.T) {
	var p peerSet
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxForwardWarnings {
		if n := p.seen(fmt.Sprintf("2001:db8::%d", i), t0); !n.name {
			t.Fatalf("peer %d of the first %d not named", i, maxForwardWarnings)
		}
	}
	// An hour of requests: the proxy's, and a client's from ever new
	// addresses, more of them than the proxy sends.
	const proxy = "203.0.113.10"
	for i := range 3000 {
		at := t0.Add(time.Duration(i) * time.Second)
		var n forwardNote
		if i%3 == 0 {
			n = p.seen(proxy, at)
		} else {
			n = p.seen(fmt.Sprintf("2001:db8:0:%x::1", i), at)
		}
		if n.name || n.summary {
			t.Fatalf("request %d within the hour: %+v, want nothing logged", i, n)
		}
	}
	n := p.seen(fmt.Sprintf("2001:db8:1::%d", 1), t0.Add(forwardSummaryEvery))
	if !n.summary || n.top != proxy || n.topN != 1000 {
		t.Errorf("after an hour: %+v, want a summary naming %s with its 1000 requests", n, proxy)
	}
	// Then the next summary an hour later, and the proxy is not named
	// again.
	if n := p.seen(proxy, t0.Add(forwardSummaryEvery+time.Minute)); n.name || n.summary {
		t.Errorf("the proxy again: %+v, want nothing logged", n)
	}
}
