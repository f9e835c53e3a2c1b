package memory

import (
	"container/heap"
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/authkit-go/authkit"
)

var _ authkit.ThrottleStore = (*Throttle)(nil)

// DefaultThrottleKeys is how many keys a [Throttle] tracks by default.
const DefaultThrottleKeys = 100_000

// ThrottleOption configures a Throttle made by [NewThrottle].
type ThrottleOption func(*Throttle)

// WithThrottleKeys sets how many keys a Throttle tracks at most (see
// [Throttle]). The default is [DefaultThrottleKeys]; values below 16 are
// raised to 16.
func WithThrottleKeys(n int) ThrottleOption {
	return func(t *Throttle) { t.max = max(n, 16) }
}

// Throttle is an in-process [authkit.ThrottleStore]: the counters of one
// process, for a single instance or as the fallback when the application's
// store keeps none. Make one with [NewThrottle]; the zero value is not
// usable. It is safe for concurrent use; one mutex guards it.
//
// # Memory
//
// A Throttle holds at most a fixed number of keys ([WithThrottleKeys]),
// each at most authkit.MaxThrottleKeyLen bytes, so its memory is bounded
// (about 140 bytes for a key of the HTTP layer's policy, 250 for one of
// 128 bytes: at most some 25 MB at the default). Every call first
// drops a few keys whose window has ended at its now. When a new key
// arrives and the table is full, the key evicted is one whose window has
// ended if any, else the key with the fewest failures, the one whose
// window ends first among those. An attacker who floods the table with
// fresh keys (one failure each, from many addresses or user names) only
// evicts such one-failure keys: to push out a key with n failures — a
// victim account's count, or the attacker's own backoff — they must first
// fill the whole table with keys of at least n failures each, which costs
// n failures per key and is itself throttled. Among keys of equal count,
// those whose window ends later go last: the HTTP layer's mark of a known
// (user, address) pair is one failure in a 30-day window by default, and
// a flood's keys, whose windows last an hour, push out one another before
// it. A process whose table is full forgets the least informative counts
// first: the heavy ones last; a flood of keys with two failures each
// pushes the known pairs (one failure each) out, at twice the failures.
type Throttle struct {
	mu   sync.Mutex
	max  int
	m    map[string]*thrEntry
	byN  thrHeap // fewest failures, then earliest window end, first
	byEx thrHeap // earliest window end first
}

type thrEntry struct {
	key     string
	n       int64
	last    int64 // µs
	exp     int64 // µs
	iN, iEx int   // positions in byN and byEx
}

// NewThrottle returns an empty Throttle. A zero Throttle works too, with
// the default size.
func NewThrottle(opts ...ThrottleOption) *Throttle {
	t := &Throttle{max: DefaultThrottleKeys}
	t.init()
	for _, o := range opts {
		if o != nil {
			o(t)
		}
	}
	return t
}

// init makes the table of a Throttle not made by NewThrottle on first use
// (found by review: a zero Throttle passed WithThrottleStore, then every
// login panicked). Called with mu held, or before the Throttle is shared.
func (t *Throttle) init() {
	if t.m != nil {
		return
	}
	if t.max == 0 {
		t.max = DefaultThrottleKeys
	}
	t.m = map[string]*thrEntry{}
	t.byN.less = func(a, b *thrEntry) bool {
		if a.n != b.n {
			return a.n < b.n
		}
		return a.exp < b.exp
	}
	t.byN.pos = func(e *thrEntry) *int { return &e.iN }
	t.byEx.less = func(a, b *thrEntry) bool { return a.exp < b.exp }
	t.byEx.pos = func(e *thrEntry) *int { return &e.iEx }
}

// thrSweep is how many ended windows one call drops at most.
const thrSweep = 8

func checkThrottleKey(op, key string) error {
	if key == "" || len(key) > authkit.MaxThrottleKeyLen {
		return fmt.Errorf("memory: %s: a throttle key of %d bytes (1 to %d): %w", op, len(key), authkit.MaxThrottleKeyLen, authkit.ErrInvalidRequest)
	}
	return nil
}

// AddFailure implements authkit.ThrottleStore.
func (t *Throttle) AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (authkit.ThrottleState, error) {
	const op = "AddFailure"
	if err := ctx.Err(); err != nil {
		return authkit.ThrottleState{}, fmt.Errorf("memory: %s: %w", op, err)
	}
	if err := checkThrottleKey(op, key); err != nil {
		return authkit.ThrottleState{}, err
	}
	if window <= 0 {
		return authkit.ThrottleState{}, fmt.Errorf("memory: %s: window %v must be positive: %w", op, window, authkit.ErrInvalidRequest)
	}
	us := micros(now)
	t.mu.Lock()
	t.init()
	defer t.mu.Unlock()
	t.sweep(us)
	e, ok := t.m[key]
	switch {
	case ok && e.exp > us:
		e.n++
		e.last = max(e.last, us)
		heap.Fix(&t.byN, e.iN)
	case ok: // the window has ended: a new one opens
		e.n, e.last, e.exp = 1, us, addMicros(us, window)
		heap.Fix(&t.byN, e.iN)
		heap.Fix(&t.byEx, e.iEx)
	default:
		if len(t.m) >= t.max {
			t.evict(us)
		}
		e = &thrEntry{key: key, n: 1, last: us, exp: addMicros(us, window)}
		t.m[key] = e
		heap.Push(&t.byN, e)
		heap.Push(&t.byEx, e)
	}
	return e.state(), nil
}

// ThrottleStates implements authkit.ThrottleStore.
func (t *Throttle) ThrottleStates(ctx context.Context, now time.Time, keys ...string) ([]authkit.ThrottleState, error) {
	const op = "ThrottleStates"
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: %s: %w", op, err)
	}
	if len(keys) == 0 || len(keys) > authkit.MaxThrottleKeys {
		return nil, fmt.Errorf("memory: %s: %d keys (1 to %d): %w", op, len(keys), authkit.MaxThrottleKeys, authkit.ErrInvalidRequest)
	}
	for _, k := range keys {
		if err := checkThrottleKey(op, k); err != nil {
			return nil, err
		}
	}
	us := micros(now)
	out := make([]authkit.ThrottleState, len(keys))
	t.mu.Lock()
	t.init()
	defer t.mu.Unlock()
	t.sweep(us)
	for i, k := range keys {
		if e, ok := t.m[k]; ok && e.exp > us {
			out[i] = e.state()
		}
	}
	return out, nil
}

// ClearThrottle implements authkit.ThrottleStore.
func (t *Throttle) ClearThrottle(ctx context.Context, key string) error {
	const op = "ClearThrottle"
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	if err := checkThrottleKey(op, key); err != nil {
		return err
	}
	t.mu.Lock()
	t.init()
	defer t.mu.Unlock()
	if e, ok := t.m[key]; ok {
		t.remove(e)
	}
	return nil
}

// DeleteExpiredThrottles implements authkit.ThrottleStore.
func (t *Throttle) DeleteExpiredThrottles(ctx context.Context, now time.Time, limit int) (int, error) {
	const op = "DeleteExpiredThrottles"
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memory: %s: %w", op, err)
	}
	if limit <= 0 {
		return 0, fmt.Errorf("memory: %s: limit %d must be positive: %w", op, limit, authkit.ErrInvalidRequest)
	}
	t.mu.Lock()
	t.init()
	defer t.mu.Unlock()
	return t.dropEnded(micros(now), limit), nil
}

// Len returns how many keys t tracks, ended windows not yet dropped
// included.
func (t *Throttle) Len() int {
	t.mu.Lock()
	t.init()
	defer t.mu.Unlock()
	return len(t.m)
}

func (e *thrEntry) state() authkit.ThrottleState {
	return authkit.ThrottleState{Failures: e.n, Last: time.UnixMicro(e.last).UTC(), ExpiresAt: time.UnixMicro(e.exp).UTC()}
}

// sweep drops a few keys whose window has ended at us.
func (t *Throttle) sweep(us int64) { t.dropEnded(us, thrSweep) }

func (t *Throttle) dropEnded(us int64, limit int) int {
	n := 0
	for n < limit && len(t.byEx.s) > 0 && t.byEx.s[0].exp <= us {
		t.remove(t.byEx.s[0])
		n++
	}
	return n
}

// evict makes room for one key: an ended window if there is one, else the
// key with the fewest failures (the earliest window end among those).
func (t *Throttle) evict(us int64) {
	if t.dropEnded(us, 1) == 1 {
		return
	}
	if len(t.byN.s) > 0 {
		t.remove(t.byN.s[0])
	}
}

func (t *Throttle) remove(e *thrEntry) {
	heap.Remove(&t.byN, e.iN)
	heap.Remove(&t.byEx, e.iEx)
	delete(t.m, e.key)
}

// micros is t in Unix microseconds, rounded down.
func micros(t time.Time) int64 { return t.UnixMicro() }

// addMicros is us+d in microseconds, saturating instead of overflowing.
func addMicros(us int64, d time.Duration) int64 {
	w := d.Microseconds()
	if w > 0 && us > math.MaxInt64-w {
		return math.MaxInt64
	}
	return us + w
}

// thrHeap is an indexed binary heap of entries: each entry keeps its
// position (through pos), so that Fix and Remove find it in O(log n).
type thrHeap struct {
	s    []*thrEntry
	less func(a, b *thrEntry) bool
	pos  func(*thrEntry) *int
}

func (h *thrHeap) Len() int           { return len(h.s) }
func (h *thrHeap) Less(i, j int) bool { return h.less(h.s[i], h.s[j]) }
func (h *thrHeap) Swap(i, j int) {
	h.s[i], h.s[j] = h.s[j], h.s[i]
	*h.pos(h.s[i]) = i
	*h.pos(h.s[j]) = j
}
func (h *thrHeap) Push(x any) {
	e := x.(*thrEntry)
	*h.pos(e) = len(h.s)
	h.s = append(h.s, e)
}
func (h *thrHeap) Pop() any {
	n := len(h.s) - 1
	e := h.s[n]
	h.s[n] = nil
	h.s = h.s[:n]
	return e
}
