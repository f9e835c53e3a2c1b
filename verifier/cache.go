package verifier

import (
	"hash/maphash"
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/keys"
)

// cacheWays is how many entries share a bucket.
const cacheWays = 8

// verifyCache remembers JWT access tokens that passed every check, keyed by
// their exact bytes (authkit.WithVerifyCache). It is a set-associative
// cache: a token's keyed hash picks one bucket of up to cacheWays slots, so
// it never holds more entries than it has slots, and memory is bounded by
// construction.
//
// Reads take no lock: a lookup loads the bucket's slots atomically and
// compares hashes, then the whole token in constant time. Writes (insertion,
// removal) lock only their bucket. The hash is keyed with a random seed per
// cache, so nobody outside can aim tokens at one bucket.
//
// An insertion replaces, in order of preference: the same token, an empty
// slot, an expired entry, an entry not hit since the bucket's last
// insertion, and otherwise the entry that expires first; the first three
// among equals go to the one expiring first too. Only verified tokens are
// inserted, so evicting an entry costs an attacker a valid token each time.
type verifyCache struct {
	seed    maphash.Seed
	ways    int
	buckets []cacheBucket
}

type cacheBucket struct {
	mu   sync.Mutex // held by writers only
	slot [cacheWays]atomic.Pointer[cacheEntry]
}

// cacheEntry is one verified token. It is immutable once inserted, apart
// from used.
type cacheEntry struct {
	hash  uint64
	token string    // the exact token (a copy)
	kid   string    // its header's kid
	key   *keys.Key // the key that verified its signature
	ti    *trusted  // its issuer: whose keys and leeway apply on a hit
	// p holds the verified claims as a Principal. It is never handed out:
	// every hit returns a copy (see principal).
	p      authkit.Principal
	nbf    time.Time
	hasNbf bool
	used   atomic.Bool // hit since the bucket's last insertion
	// scopes backs p.Scopes when there are at most four, saving an
	// allocation per insertion.
	scopes [4]string
}

// newVerifyCache returns a cache of at most entries tokens, or nil for 0.
func newVerifyCache(entries int) *verifyCache {
	if entries <= 0 {
		return nil
	}
	ways := min(entries, cacheWays)
	return &verifyCache{seed: maphash.MakeSeed(), ways: ways, buckets: make([]cacheBucket, entries/ways)}
}

func (c *verifyCache) hash(token string) uint64 { return maphash.String(c.seed, token) }

func (c *verifyCache) bucket(h uint64) *cacheBucket {
	i, _ := bits.Mul64(h, uint64(len(c.buckets)))
	return &c.buckets[i]
}

// get returns the entry for token, whose hash is h, or nil.
func (c *verifyCache) get(token string, h uint64) *cacheEntry {
	b := c.bucket(h)
	for i := range c.ways {
		e := b.slot[i].Load()
		if e != nil && e.hash == h && equalConstantTime(e.token, token) {
			if !e.used.Load() { // keep a hot entry's cache line read-only
				e.used.Store(true)
			}
			return e
		}
	}
	return nil
}

// put inserts e. An entry whose exp is at or before cutoff is expired.
func (c *verifyCache) put(e *cacheEntry, cutoff time.Time) {
	b := c.bucket(e.hash)
	b.mu.Lock()
	defer b.mu.Unlock()
	victim, rank := 0, 5
	var victimExp time.Time
	for i := range c.ways {
		x := b.slot[i].Load()
		r := 4
		switch {
		case x == nil:
			r = 1
		case x.hash == e.hash && equalConstantTime(x.token, e.token):
			r = 0
		case !cutoff.Before(x.p.ExpiresAt):
			r = 2
		case !x.used.Load():
			r = 3
		}
		var exp time.Time
		if x != nil {
			exp = x.p.ExpiresAt
		}
		if r < rank || (r == rank && exp.Before(victimExp)) {
			victim, rank, victimExp = i, r, exp
		}
	}
	for i := range c.ways {
		if x := b.slot[i].Load(); x != nil && x.used.Load() {
			x.used.Store(false)
		}
	}
	b.slot[victim].Store(e)
}

// remove drops e if it is still cached.
func (c *verifyCache) remove(e *cacheEntry) {
	b := c.bucket(e.hash)
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range c.ways {
		if b.slot[i].Load() == e {
			b.slot[i].Store(nil)
		}
	}
}

// len counts the cached entries; for tests.
func (c *verifyCache) len() int {
	n := 0
	for bi := range c.buckets {
		for i := range c.ways {
			if c.buckets[bi].slot[i].Load() != nil {
				n++
			}
		}
	}
	return n
}

// newCacheEntry makes the entry for a token that verified with key k and
// whose principal is p, before p is handed to anyone: the entry keeps its
// own copy of every mutable part of p. token must be the verifier's own
// copy (copyPayload), never the caller's string, which may be part of a
// larger one (an Authorization header) the entry would pin. It returns
// nil for a principal whose claims cost more than maxCachedClaimsCost.
func newCacheEntry(h uint64, token, kid string, k *keys.Key, ti *trusted, p *authkit.Principal, nbf time.Time, hasNbf bool) *cacheEntry {
	e := &cacheEntry{hash: h, token: token, kid: kid, key: k, ti: ti, p: *p, nbf: nbf, hasNbf: hasNbf}
	switch {
	case p.Scopes == nil:
	case len(p.Scopes) <= len(e.scopes):
		n := copy(e.scopes[:], p.Scopes)
		e.p.Scopes = e.scopes[:n:n]
	default:
		e.p.Scopes = slices.Clone(p.Scopes)
	}
	c := claimsCopier{left: maxCachedClaimsCost}
	claims, ok := c.object(p.Claims)
	if !ok {
		return nil // too costly to keep: verified in full every time
	}
	e.p.Claims = claims
	return e
}

// principal returns a fresh Principal for a hit. Its mutable parts (Scopes,
// Claims) are copies, so a caller that changes them changes nothing the
// next hit returns.
func (e *cacheEntry) principal() *authkit.Principal {
	var p *authkit.Principal
	if n := len(e.p.Scopes); n > 0 && n <= len(e.scopes) {
		// One allocation for the Principal and its scopes: on a path this
		// hot, allocations are what limits scaling across cores.
		a := new(principalWithScopes)
		copy(a.scopes[:], e.p.Scopes)
		a.p = e.p
		a.p.Scopes = a.scopes[:n:n]
		p = &a.p
	} else {
		p = new(authkit.Principal)
		*p = e.p
		p.Scopes = slices.Clone(e.p.Scopes)
	}
	p.Claims = cloneClaims(e.p.Claims)
	return p
}

// principalWithScopes is a Principal with room for four scopes.
type principalWithScopes struct {
	p      authkit.Principal
	scopes [4]string
}

// maxCachedClaimsCost bounds what an entry's copy of the application
// claims may cost (as clone counts it); a token whose claims cost more is
// verified in full every time instead. The JSON of a claims tree can be
// 20 times smaller than the tree decoded: an 8 KiB token of empty objects
// ("[{},{},…]") decodes to some 140 KiB (found by review), where the
// documented bound per entry is a few tens of KiB.
const maxCachedClaimsCost = 16 << 10

// cloneClaims deep-copies application claims as the claims parser makes
// them: maps, slices and immutable scalars (strings, float64, bool, nil).
func cloneClaims(m map[string]any) map[string]any {
	c := claimsCopier{left: math.MaxInt}
	out, _ := c.object(m)
	return out
}

// claimsCopier deep-copies claims while it counts, on 64-bit, the bytes
// the copy holds or keeps alive: a map's header and its groups of eight
// slots (filled to seven of eight), a slice's header and its interface
// values, and the scalars the copy shares with the decoded tree (a
// string's box and bytes, a number's box). Each part is counted before it
// is made, and the copy stops, reporting false, once the count passes
// left. (The first estimate counted 48 bytes a map entry, where a small
// map takes a whole group: found by review, a token of 125 one-member
// objects was cached at 49 KiB.)
type claimsCopier struct{ left int }

func (c *claimsCopier) spend(n int) bool {
	c.left -= n
	return c.left >= 0
}

func (c *claimsCopier) object(m map[string]any) (map[string]any, bool) {
	if m == nil {
		return nil, true
	}
	if !c.spend(48 + (len(m)+6)/7*(8+8*32)) {
		return nil, false
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		cv, ok := c.value(v)
		if !ok || !c.spend(len(k)) {
			return nil, false
		}
		out[k] = cv
	}
	return out, true
}

func (c *claimsCopier) value(v any) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		return c.object(x)
	case []any:
		if !c.spend(24 + 16*len(x)) {
			return nil, false
		}
		s := make([]any, len(x))
		for i := range x {
			cv, ok := c.value(x[i])
			if !ok {
				return nil, false
			}
			s[i] = cv
		}
		return s, true
	case string:
		return v, c.spend(16 + len(x))
	case float64:
		return v, c.spend(8)
	}
	return v, true
}

// equalConstantTime reports whether a and b are equal, in a time that
// depends on their lengths only: eight bytes at a time, with no early exit.
func equalConstantTime(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var acc uint64
	i := 0
	for ; i+8 <= len(a); i += 8 {
		acc |= load64(a[i:i+8]) ^ load64(b[i:i+8])
	}
	for ; i < len(a); i++ {
		acc |= uint64(a[i] ^ b[i])
	}
	return acc == 0
}

func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
