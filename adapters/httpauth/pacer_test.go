package httpauth_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit/adapters/httpauth"
)

// TestOutageWarningsPaced checks that a store outage, which refuses every
// request, logs one warning per second on each path, not one per request,
// and that the next line says how many refusals went unlogged.
func TestOutageWarningsPaced(t *testing.T) {
	logs := &syncBuf{}
	f := newFx(t, fxOptions{auth: []httpauth.Option{httpauth.WithLogger(slog.New(slog.NewTextHandler(logs, nil)))}})
	tk := f.login("alice", "read")
	f.store.down.Store(true)
	count := func(msg string) int { return strings.Count(logs.String(), msg) }
	const (
		protected = `msg="httpauth: authentication unavailable; request refused"`
		endpoint  = `msg="httpauth: store unavailable"`
	)
	for range 20 {
		if r := f.do("GET", "/api/me", "", bearer(tk.AccessToken)...); r.status != 503 {
			t.Fatalf("protected route during an outage: %d %s", r.status, r.body)
		}
		if r := f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", tk.RefreshToken}); r.status != 503 {
			t.Fatalf("refresh during an outage: %d %s", r.status, r.body)
		}
	}
	if n, m := count(protected), count(endpoint); n != 1 || m != 1 {
		t.Fatalf("20 refusals on each path in one instant logged %d and %d warnings, want 1 each:\n%s", n, m, logs)
	}
	if !strings.Contains(logs.String(), "refused_unlogged=0") {
		t.Errorf("the first warning does not say that none went unlogged:\n%s", logs)
	}
	f.clock.Add(999 * time.Millisecond)
	f.do("GET", "/api/me", "", bearer(tk.AccessToken)...)
	if n := count(protected); n != 1 {
		t.Fatalf("a refusal 999 ms after the first warning logged another:\n%s", logs)
	}
	f.clock.Add(time.Millisecond)
	f.do("GET", "/api/me", "", bearer(tk.AccessToken)...)
	f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", tk.RefreshToken})
	if n, m := count(protected), count(endpoint); n != 2 || m != 2 {
		t.Fatalf("a second later: %d and %d warnings, want 2 each:\n%s", n, m, logs)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	var last []string
	for _, l := range lines {
		if strings.Contains(l, protected) {
			last = append(last, l)
		}
	}
	if !strings.Contains(last[1], "refused_unlogged=20") {
		t.Errorf("the second warning does not count the 20 refusals in between:\n%s", last[1])
	}
}
