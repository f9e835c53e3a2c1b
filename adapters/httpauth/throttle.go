package httpauth

import (
	"container/list"
	"hash/maphash"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Throttle defaults for the password grant.
const (
	DefaultUserAttempts    = 5
	DefaultAddressAttempts = 20
	DefaultThrottleWindow  = time.Minute
	// maxTracked bounds the keys each limiter tracks; when full, the entry
	// whose window started first is dropped.
	maxTracked = 100_000
	// sweepPerCall bounds how many expired entries one call removes.
	sweepPerCall = 8
)

// limiter counts attempts per key in fixed windows. An attempt is counted
// before the credential is checked (so that a burst of parallel guesses is
// bounded too) and handed back when it succeeds or could not be judged.
type limiter struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	max    int
	seed   maphash.Seed
	m      map[uint64]*list.Element
	order  list.List // *bucket, oldest window first
}

type bucket struct {
	key   uint64
	start time.Time
	n     int
}

func newLimiter(limit int, window time.Duration, max int) *limiter {
	return &limiter{limit: limit, window: window, max: max, seed: maphash.MakeSeed(), m: make(map[uint64]*list.Element)}
}

// key hashes s with the limiter's secret seed: entries have a fixed size,
// and collisions cannot be aimed at.
func (l *limiter) key(s string) uint64 { return maphash.String(l.seed, s) }

// take counts one attempt for k at now. It reports false, and how long
// until the window ends, when k has used up its attempts.
func (l *limiter) take(k uint64, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	if e, ok := l.m[k]; ok {
		b := e.Value.(*bucket)
		if !now.Before(b.start.Add(l.window)) {
			b.start, b.n = now, 0
			l.order.MoveToBack(e)
		}
		if b.n >= l.limit {
			return b.start.Add(l.window).Sub(now), false
		}
		b.n++
		return 0, true
	}
	if len(l.m) >= l.max {
		if f := l.order.Front(); f != nil {
			delete(l.m, f.Value.(*bucket).key)
			l.order.Remove(f)
		}
	}
	l.m[k] = l.order.PushBack(&bucket{key: k, start: now, n: 1})
	return 0, true
}

// undo hands back one attempt counted by take.
func (l *limiter) undo(k uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.m[k]; ok {
		if b := e.Value.(*bucket); b.n > 0 {
			b.n--
		}
	}
}

// reset forgets k.
func (l *limiter) reset(k uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.m[k]; ok {
		delete(l.m, k)
		l.order.Remove(e)
	}
}

// sweep drops a few entries whose window has ended.
func (l *limiter) sweep(now time.Time) {
	for i := 0; i < sweepPerCall; i++ {
		f := l.order.Front()
		if f == nil {
			return
		}
		b := f.Value.(*bucket)
		if now.Before(b.start.Add(l.window)) {
			return
		}
		delete(l.m, b.key)
		l.order.Remove(f)
	}
}

func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// remoteIP is the default client address: the host of r.RemoteAddr.
// Forwarding headers are not trusted (anyone can send them); behind a
// proxy, give WithClientIP a function that reads what the proxy sets.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// addressKey is the throttling key of a client address: the IPv4 address,
// or the /64 of an IPv6 address (one host usually holds a whole /64); ""
// (all unknown addresses share one bucket) when it does not parse.
func addressKey(ip string) (netip.Addr, string) {
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return netip.Addr{}, ""
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a, a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a, a.String()
	}
	return a, p.String()
}

// userKey is the throttling key of a username, case-folded so that
// "Alice" and "alice" share their attempts.
func userKey(username string) string { return strings.ToLower(username) }
