package httpauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/authkit-go/authkit/internal/opaque"
)

func TestClientAddr(t *testing.T) {
	trusted := clientAddrFunc([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}, false)
	none := clientAddrFunc(nil, false)
	cases := []struct {
		name, remote string
		xff          []string
		fn           func(*http.Request) netip.Addr
		want         string
	}{
		{"no proxies: RemoteAddr", "192.0.2.1:1234", []string{"203.0.113.9"}, none, "192.0.2.1"},
		{"no proxies: IPv6", "[2001:db8::1]:443", nil, none, "2001:db8::1"},
		{"no proxies: mapped", "[::ffff:192.0.2.1]:443", nil, none, "192.0.2.1"},
		{"no proxies: junk", "pipe", nil, none, "invalid IP"},
		{"direct client, spoofed header", "192.0.2.1:1", []string{"10.0.0.1, 203.0.113.9"}, trusted, "192.0.2.1"},
		{"one proxy", "10.0.0.1:1", []string{"203.0.113.9"}, trusted, "203.0.113.9"},
		{"forged left entries ignored", "10.0.0.1:1", []string{"198.51.100.1, 198.51.100.2, 203.0.113.9"}, trusted, "203.0.113.9"},
		{"forged trusted entry ignored", "10.0.0.1:1", []string{"10.9.9.9, 203.0.113.9"}, trusted, "203.0.113.9"},
		{"two proxies", "10.0.0.1:1", []string{"198.51.100.1, 203.0.113.9, 10.0.0.2"}, trusted, "203.0.113.9"},
		{"several headers", "10.0.0.1:1", []string{"198.51.100.1", "203.0.113.9, 10.0.0.2"}, trusted, "203.0.113.9"},
		{"all trusted: leftmost", "10.0.0.1:1", []string{"10.0.0.3, 10.0.0.2"}, trusted, "10.0.0.3"},
		{"no header: the proxy", "10.0.0.1:1", nil, trusted, "10.0.0.1"},
		{"garbage from a proxy stops the walk", "10.0.0.1:1", []string{"203.0.113.9, junk"}, trusted, "10.0.0.1"},
		{"garbage left of the client ignored", "10.0.0.1:1", []string{"junk, 203.0.113.9"}, trusted, "203.0.113.9"},
		{"port and brackets", "10.0.0.1:1", []string{"[2001:db8::7]:5555"}, trusted, "2001:db8::7"},
		{"IPv6 proxy", "[2001:db8:ffff::1]:1", []string{"192.0.2.5"}, trusted, "192.0.2.5"},
		{"mapped client", "10.0.0.1:1", []string{"::ffff:192.0.2.5"}, trusted, "192.0.2.5"},
		{"too many hops", "10.0.0.1:1", []string{strings.Repeat("10.0.0.5, ", 40) + "10.0.0.6"}, trusted, "10.0.0.5"},
		{"an empty value stops the walk", "10.0.0.1:1", []string{"203.0.113.9", ""}, trusted, "10.0.0.1"},
		{"a trailing comma stops the walk", "10.0.0.1:1", []string{"203.0.113.9,"}, trusted, "10.0.0.1"},
		{"one entry", "10.0.0.1:1", []string{" 203.0.113.9 "}, trusted, "203.0.113.9"},
	}
	for _, c := range cases {
		r := &http.Request{RemoteAddr: c.remote, Header: http.Header{}}
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := c.fn(r); got.String() != c.want {
			t.Errorf("%s: %v, want %s", c.name, got, c.want)
		}
	}
}

// A long X-Forwarded-For costs what its last maxForwardHops entries do
// (found by review: a header of a million commas was split whole, 17 MB
// per request).
func TestClientAddrLongHeader(t *testing.T) {
	trusted := clientAddrFunc([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, false)
	r := &http.Request{RemoteAddr: "127.0.0.1:1", Header: http.Header{}}
	r.Header.Set("X-Forwarded-For", strings.Repeat(",", 1<<20)+"203.0.113.9, 127.0.0.2")
	if got := trusted(r); got.String() != "203.0.113.9" {
		t.Fatalf("got %v", got)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		trusted(r)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Errorf("10 reads of a 1 MiB X-Forwarded-For allocated %d bytes", n)
	}
}

func TestBasicUser(t *testing.T) {
	cases := map[string]struct {
		hdr  []string
		user string
		ok   bool
	}{
		"good":          {[]string{"Basic YWxpY2U6cHc="}, "alice", true},
		"lower scheme":  {[]string{"basic YWxpY2U6cHc="}, "alice", true},
		"bearer":        {[]string{"Bearer abc"}, "", false},
		"two headers":   {[]string{"Basic YWxpY2U6cHc=", "Basic YWxpY2U6cHc="}, "", false},
		"bad base64":    {[]string{"Basic !!!"}, "", false},
		"no colon":      {[]string{"Basic YWxpY2U="}, "", false},
		"empty user":    {[]string{"Basic OnB3"}, "", false},
		"none":          {nil, "", false},
		"colon in pass": {[]string{"Basic YWxpY2U6cDpx"}, "alice", true},
	}
	for name, c := range cases {
		r := &http.Request{Header: http.Header{"Authorization": c.hdr}}
		if u, ok := basicUser(r); u != c.user || ok != c.ok {
			t.Errorf("%s: %q %v", name, u, ok)
		}
	}
}

func TestEventSubject(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	if s := eventSubject(long); len(s) > maxEventSubject || !strings.HasPrefix(long, s) || len(s) != 256 {
		t.Errorf("bounded subject: %d bytes", len(s))
	}
	if s := eventSubject("alice"); s != "alice" {
		t.Errorf("%q", s)
	}
	// A credential in the wrong field, whole or damaged (found by review:
	// a quoted, prefixed or shortened token reached the log).
	tok, err := opaque.New("ak", opaque.KindClientSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{tok, `"` + tok + `"`, "Bearer " + tok, tok[:len(tok)-1], tok + " "} {
		if got := eventSubject(s); got != redactedSubject {
			t.Errorf("eventSubject(%q) = %q, want %q", s, got, redactedSubject)
		}
	}
}

func TestGate(t *testing.T) {
	var g gate
	done, err := g.enter(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	// Waiters up to the bound queue; one more is throttled.
	entered := make(chan func(), maxPairWaiters)
	for range maxPairWaiters - 1 {
		go func() {
			d, err := g.enter(context.Background(), "k")
			if err != nil {
				t.Error(err)
				d = func() {}
			}
			entered <- d
		}()
	}
	for give := time.Now().Add(10 * time.Second); ; {
		g.mu.Lock()
		n := g.m["k"].waiters
		g.mu.Unlock()
		if n == maxPairWaiters {
			break
		}
		if t.Failed() || time.Now().After(give) {
			t.Fatalf("%d waiters queued, want %d", n, maxPairWaiters)
		}
		runtime.Gosched()
	}
	if _, err := g.enter(t.Context(), "k"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("beyond the bound: %v", err)
	}
	// A cancelled wait leaves.
	held, err := g.enter(t.Context(), "c")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.enter(ctx, "c"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	held()
	// Other keys do not wait.
	d2, err := g.enter(t.Context(), "other")
	if err != nil {
		t.Fatal(err)
	}
	d2()
	done()
	for range maxPairWaiters - 1 {
		(<-entered)()
	}
	if g.size() != 0 {
		t.Errorf("%d keys left after every attempt ended", g.size())
	}
}

// Names strings.EqualFold finds equal share one throttle identity, also
// through the runes strings.ToLower leaves apart (long s, Kelvin sign):
// otherwise each variant of a name had counters of its own, and the
// per-user ceiling could be walked around (found by review).
func TestFoldNameMatchesEqualFold(t *testing.T) {
	groups := [][]string{
		{"sam", "SAM", "ſam", "ſAM", "Sam"},
		{"key", "\u212Aey", "KEY"},
		{"straße", "STRAßE", "ſtraße"},
		{"alice", "ALICE"},
		{"ärger", "ÄRGER"},
	}
	for _, g := range groups {
		want := foldName(g[0])
		for _, n := range g {
			if !strings.EqualFold(n, g[0]) {
				t.Fatalf("test data: %q and %q are not EqualFold", n, g[0])
			}
			if got := foldName(n); got != want {
				t.Errorf("foldName(%q) = %q, foldName(%q) = %q: EqualFold names must share a throttle identity", n, got, g[0], want)
			}
		}
	}
	if foldName("alice") != "alice" || foldName("Bob") != "bob" {
		t.Errorf("ASCII names: %q %q, want strings.ToLower's", foldName("alice"), foldName("Bob"))
	}
	if foldName("bob") == foldName("rob") || foldName("\xff") != "\xff" {
		t.Error("distinct names fold together, or invalid UTF-8 is not kept")
	}
	// Every rune folds as every rune of its case-folding orbit, its lower
	// case and its upper case do, so that names an application finds
	// equal by strings.EqualFold, ToLower or ToUpper share their counters
	// ("alİce" had counters apart from "alice", where a checker lowering
	// names takes both for alice; found by review).
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		want := foldName(string(r))
		same := []rune{unicode.ToLower(r), unicode.ToUpper(r)}
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			same = append(same, f)
		}
		for _, s := range same {
			if got := foldName(string(s)); got != want {
				t.Errorf("foldName(%q) = %q, foldName(%q) = %q", string(r), want, string(s), got)
			}
		}
		if r < utf8.RuneSelf && want != strings.TrimSpace(strings.ToLower(string(r))) {
			t.Errorf("foldName(%q) = %q, not strings.ToLower's", string(r), want)
		}
	}
	for _, p := range [][2]string{{"alİce", "alice"}, {"ıan", "ian"}, {"ALİCE", "alice"}} {
		if foldName(p[0]) != foldName(p[1]) {
			t.Errorf("foldName(%q) = %q, foldName(%q) = %q: names strings.ToLower or ToUpper make equal must share counters", p[0], foldName(p[0]), p[1], foldName(p[1]))
		}
	}
}

// Names a checker comparing them in a database may take for one account
// share one throttle identity: MySQL's and MariaDB's default collations
// ignore trailing spaces and accents as well as case, so "alice ",
// "alíce" and "ALÍCE " find alice's row (found by review: each spelling
// had a per-user ceiling of its own, hundreds of guesses at one account
// while its ceiling was engaged). Compatibility forms (full-width
// letters, ligatures, a no-break space) fold too; other names stay apart.
func TestFoldNameSpacesAndAccents(t *testing.T) {
	same := []string{"alice", "alice ", " alice", "alice          ", "alíce", "álice", "ALÍCE ", "ａｌｉｃｅ", "alice\u00a0", "alic\u0065\u0301", "\talice\n",
		// What UCA collations ignore (found by the review of ab294f3).
		"ali\u200bce", "al\u00adice", "a\u2060lice", "ali\u200dce\ufeff", "al\u0640ice"}
	for _, n := range same {
		if got := foldName(n); got != "alice" {
			t.Errorf("foldName(%q) = %q, want alice's", n, got)
		}
	}
	if foldName("ﬁnn") != foldName("FINN") {
		t.Errorf("a ligature: %q and %q", foldName("ﬁnn"), foldName("FINN"))
	}
	if foldName("straße") != foldName("STRASSE") {
		t.Errorf("ß and ss: %q and %q", foldName("straße"), foldName("STRASSE"))
	}
	// Bounded: a long name is folded by its first maxFoldName bytes.
	long := strings.Repeat("\ufdfa", 400)
	if got := foldName(long); got != foldName(long[:3*(maxFoldName/3)]) || got == "" {
		t.Errorf("a long name is not folded by its first %d bytes", maxFoldName)
	}
	for _, p := range [][2]string{{"alice", "alicia"}, {"al ice", "alice"}, {"\xffa", "\xfea"}, {"ali\xffce", "alice"}} {
		if foldName(p[0]) == foldName(p[1]) {
			t.Errorf("foldName(%q) = foldName(%q) = %q: distinct names share counters", p[0], p[1], foldName(p[0]))
		}
	}
}

// Behind a reverse proxy on a Unix socket, RemoteAddr is "@" (or empty):
// with WithTrustedUnixProxy the client address comes from
// X-Forwarded-For, as from a trusted proxy; without it every client shares
// the one unparsable address (found by review), and an IP RemoteAddr is
// never trusted by the option alone.
func TestClientAddrUnixProxy(t *testing.T) {
	unix := clientAddrFunc(nil, true)
	plain := clientAddrFunc(nil, false)
	req := func(remote string, xff ...string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		for _, x := range xff {
			r.Header.Add("X-Forwarded-For", x)
		}
		return r
	}
	for _, remote := range []string{"@", ""} {
		if got := unix(req(remote, "203.0.113.7")); got != netip.MustParseAddr("203.0.113.7") {
			t.Errorf("RemoteAddr %q with X-Forwarded-For 203.0.113.7: %v", remote, got)
		}
		if got := unix(req(remote, "198.51.100.1, 203.0.113.7")); got != netip.MustParseAddr("203.0.113.7") {
			t.Errorf("RemoteAddr %q: the rightmost hop is the client's, got %v", remote, got)
		}
		if got := plain(req(remote, "203.0.113.7")); got.IsValid() {
			t.Errorf("without the option, RemoteAddr %q gave %v from X-Forwarded-For", remote, got)
		}
	}
	if got := unix(req("192.0.2.1:4000", "203.0.113.7")); got != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("an IP RemoteAddr with only WithTrustedUnixProxy: %v, want the peer itself", got)
	}
}

// BenchmarkFoldName: foldName runs on every password attempt, throttled
// ones included, so its worst case is bounded (maxFoldName): 1 KiB of
// U+FDFA, which NFKD makes 18 runes each.
func BenchmarkFoldName(b *testing.B) {
	for _, c := range []struct{ name, s string }{
		{"ascii", "alice@example.com"},
		{"accented", "Ålice Müller-Lüdenscheidt"},
		{"worst", strings.Repeat("\ufdfa", 1024/3)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				foldName(c.s)
			}
		})
	}
}
