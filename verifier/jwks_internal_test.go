package verifier

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit/keys"
)

// The document's lifetime is the response's max-age, clamped to [interval,
// max(interval, 1h)]; no-cache and no-store give the lower bound, and a
// response without a usable max-age ten intervals.
func TestLifetime(t *testing.T) {
	const min = time.Minute
	for _, tc := range []struct {
		cc, age  string
		interval time.Duration
		want     time.Duration
	}{
		{"", "", min, 10 * time.Minute},
		{"public", "", min, 10 * time.Minute},
		{"max-age=300", "", min, 5 * time.Minute},
		{"public, max-age=300, must-revalidate", "", min, 5 * time.Minute},
		{"Max-Age=300", "", min, 5 * time.Minute},
		{`max-age="300"`, "", min, 5 * time.Minute},
		{"max-age=300", "120", min, 3 * time.Minute},
		{"max-age=300", "900", min, min},
		{"max-age=300", "junk", min, 5 * time.Minute},
		{"max-age=300", "99999999999999999999999", min, min},
		{"max-age=300", "+120", min, 5 * time.Minute},
		{"max-age=300", "-120", min, 5 * time.Minute},
		{"max-age=10", "", min, min},
		{"max-age=0", "", min, min},
		{"no-cache", "", min, min},
		{"max-age=300, no-store", "", min, min},
		{"max-age=86400", "", min, time.Hour},
		{"max-age=99999999999999999999999", "", min, time.Hour},
		{"max-age=-5", "", min, min},
		{"max-age=5m", "", min, min},
		{"max-age", "", min, min},
		{"max-age=", "", min, min},
		{"max-age=300, max-age=600", "", min, min},
		{"s-maxage=300", "", min, 10 * time.Minute},
		{"max-age=300", "", 2 * time.Hour, 2 * time.Hour},
		{"", "", 10 * time.Minute, time.Hour},
		{"max-age=2", "", time.Second, 2 * time.Second},
	} {
		h := http.Header{}
		if tc.cc != "" {
			h.Set("Cache-Control", tc.cc)
		}
		if tc.age != "" {
			h.Set("Age", tc.age)
		}
		if got := lifetime(h, tc.interval); got != tc.want {
			t.Errorf("Cache-Control %q, Age %q, interval %v: lifetime %v, want %v", tc.cc, tc.age, tc.interval, got, tc.want)
		}
	}
	// Two field lines are one list (RFC 9110 §5.3).
	h := http.Header{"Cache-Control": {"public", "max-age=120"}}
	if got := lifetime(h, time.Minute); got != 2*time.Minute {
		t.Errorf("two field lines: %v, want 2m", got)
	}
}

// A fetched document is trusted for its lifetime and refreshed at three
// quarters of it; a refetch of an unchanged document keeps every key's
// identity (so the verify cache stays warm), and a changed key gets a new
// one.
func TestRemoteKeysScheduleAndIdentity(t *testing.T) {
	k1, _ := keys.Generate(keys.ES256)
	k2, _ := keys.Generate(keys.EdDSA)
	set, _ := keys.NewSet(k1, k2)
	var published atomic.Pointer[keys.Set]
	published.Store(set)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc, _ := published.Load().JWKS()
		w.Header().Set("Cache-Control", "max-age=120")
		w.Write(doc)
	}))
	defer srv.Close()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	r := newRemoteKeys(srv.URL, srv.Client(), time.Minute, "", func() time.Time { return time.Unix(0, clock.Load()) }, slog.New(slog.DiscardHandler))
	defer r.close()

	a1, ok, err := r.lookup(context.Background(), k1.ID(), now)
	if err != nil || !ok {
		t.Fatalf("lookup: %v, %v", ok, err)
	}
	d := r.doc.Load()
	if got := d.expiresAt.Sub(d.fetchedAt); got != 2*time.Minute {
		t.Fatalf("lifetime %v, want max-age=120", got)
	}
	if due := time.Unix(0, r.due.Load()); !due.Equal(now.Add(90 * time.Second)) {
		t.Fatalf("refresh due at %v, want 3/4 into the lifetime (%v)", due, now.Add(90*time.Second))
	}

	// Replace k2 by another key under the same kid, then refresh.
	_, priv := mustEd25519(t)
	k2b, err := keys.NewPrivate(keys.EdDSA, priv, k2.ID())
	if err != nil {
		t.Fatal(err)
	}
	changed, _ := keys.NewSet(k1, k2b)
	published.Store(changed)
	b2old, _, _ := r.lookup(context.Background(), k2.ID(), now)
	clock.Store(now.Add(91 * time.Second).UnixNano())
	r.nudge()
	deadline := time.Now().Add(10 * time.Second)
	for r.doc.Load() == d {
		if time.Now().After(deadline) {
			t.Fatal("no background refresh")
		}
		time.Sleep(2 * time.Millisecond)
	}
	later := now.Add(91 * time.Second)
	a2, _, _ := r.lookup(context.Background(), k1.ID(), later)
	b2new, _, _ := r.lookup(context.Background(), k2.ID(), later)
	if a2 != a1 {
		t.Error("an unchanged key got a new identity on refresh")
	}
	if b2new == b2old || b2new.Thumbprint() != k2b.Thumbprint() {
		t.Error("a changed key kept its old identity")
	}
}

func mustEd25519(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

// Before its first document a remote key set retries after firstRetry,
// doubling up to the interval; once it holds one, after the interval.
func TestRemoteKeysRetryBeforeFirstDocument(t *testing.T) {
	r := &remoteKeys{interval: 10 * time.Second}
	var got []time.Duration
	for range 6 {
		got = append(got, r.retryAfterFailure())
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("waits after failures with no document: %v, want %v", got, want)
	}
	if g := r.gap(); g != 10*time.Second {
		t.Errorf("gap with no document after the waits reached the interval: %v", g)
	}
	r.doc.Store(&jwksDoc{})
	if w, g := r.retryAfterFailure(), r.gap(); w != 10*time.Second || g != 10*time.Second {
		t.Errorf("with a document: wait %v, gap %v; want the interval", w, g)
	}
	short := &remoteKeys{interval: 300 * time.Millisecond}
	if w := short.retryAfterFailure(); w != 300*time.Millisecond {
		t.Errorf("an interval shorter than firstRetry: wait %v, want the interval", w)
	}
}
