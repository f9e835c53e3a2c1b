package verifier

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

func entry(c *verifyCache, token string, exp time.Time) *cacheEntry {
	return &cacheEntry{hash: c.hash(token), token: token, p: authkit.Principal{ExpiresAt: exp}}
}

// sameBucket returns n tokens that hash to one bucket of c.
func sameBucket(c *verifyCache, n int) []string {
	var out []string
	want := c.bucket(c.hash("seed"))
	for i := 0; len(out) < n; i++ {
		tok := fmt.Sprint("token-", i)
		if c.bucket(c.hash(tok)) == want {
			out = append(out, tok)
		}
	}
	return out
}

// When a bucket is full, an insertion evicts an expired entry first, then
// one not hit since the last insertion, and never a recently hit one while
// another choice exists.
func TestVerifyCacheEviction(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newVerifyCache(64)
	toks := sameBucket(c, cacheWays+3)
	for i, tok := range toks[:cacheWays] {
		exp := now.Add(time.Duration(i+1) * time.Minute)
		if i == 5 {
			exp = now.Add(-time.Second) // expired
		}
		c.put(entry(c, tok, exp), now)
	}
	if c.len() != cacheWays {
		t.Fatalf("%d entries, want %d", c.len(), cacheWays)
	}
	c.put(entry(c, toks[cacheWays], now.Add(time.Hour)), now)
	if c.get(toks[5], c.hash(toks[5])) != nil {
		t.Fatal("the expired entry survived an insertion into a full bucket")
	}
	// Hit every entry but toks[3]: the next insertion evicts toks[3], even
	// though toks[0] expires sooner.
	for i, tok := range toks[:cacheWays+1] {
		if i != 3 && i != 5 && c.get(tok, c.hash(tok)) == nil {
			t.Fatalf("entry %d missing", i)
		}
	}
	c.put(entry(c, toks[cacheWays+1], now.Add(time.Hour)), now)
	if c.get(toks[3], c.hash(toks[3])) != nil {
		t.Fatal("an entry not hit was kept while hit ones were there")
	}
	if c.get(toks[0], c.hash(toks[0])) == nil {
		t.Fatal("a recently hit entry was evicted")
	}
	// Of the entries not hit since the last insertion (all but toks[0],
	// just looked up), the one expiring first goes: toks[1].
	c.put(entry(c, toks[cacheWays+2], now.Add(time.Hour)), now)
	if c.get(toks[1], c.hash(toks[1])) != nil {
		t.Fatal("toks[1], unused and expiring first, survived")
	}
	if c.get(toks[0], c.hash(toks[0])) == nil {
		t.Fatal("toks[0] was hit after the last insertion and should stay")
	}
	if c.len() != cacheWays || c.len() > 64 {
		t.Fatalf("%d entries", c.len())
	}
	// Reinserting a token replaces its entry instead of taking a slot.
	before := c.len()
	e := entry(c, toks[0], now.Add(time.Hour))
	c.put(e, now)
	if c.len() != before || c.get(toks[0], c.hash(toks[0])) != e {
		t.Fatal("reinsertion took a second slot or kept the old entry")
	}
	c.remove(e)
	if c.get(toks[0], c.hash(toks[0])) != nil || c.len() != before-1 {
		t.Fatal("remove left the entry")
	}
}

// A lookup matches the whole token, never the hash alone: two tokens whose
// hashes collide are told apart.
func TestVerifyCacheHashCollision(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newVerifyCache(16)
	e := entry(c, "token-a", now.Add(time.Hour))
	c.put(e, now)
	if c.get("token-b", e.hash) != nil {
		t.Fatal("a different token with the same hash was served from the cache")
	}
	if c.get("token-a", e.hash) != e {
		t.Fatal("the cached token was not found")
	}
	f := entry(c, "token-b", now.Add(time.Hour))
	f.hash = e.hash
	c.put(f, now)
	if c.len() != 2 || c.get("token-a", e.hash) != e || c.get("token-b", e.hash) != f {
		t.Fatal("a hash collision replaced an entry instead of taking its own slot")
	}
}

func TestVerifyCacheSizes(t *testing.T) {
	for entries, slots := range map[int]int{1: 1, 7: 7, 8: 8, 9: 8, 100: 96, 1024: 1024} {
		c := newVerifyCache(entries)
		if got := c.ways * len(c.buckets); got != slots || got > entries {
			t.Errorf("newVerifyCache(%d) has %d slots, want %d", entries, got, slots)
		}
	}
	if newVerifyCache(0) != nil {
		t.Error("newVerifyCache(0) is not nil")
	}
}

func TestEqualConstantTime(t *testing.T) {
	a := strings.Repeat("abcdefghij", 57)
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{"a", "a", true},
		{"a", "b", false},
		{"abcdefgh", "abcdefgh", true},
		{"abcdefgh", "abcdefgi", false},
		{"abcdefghi", "abcdefghj", false},
		{"xbcdefghi", "abcdefghi", false},
		{a, a[:len(a)-1] + "j", true},
		{a, a[:len(a)-1] + "k", false},
		{a, "X" + a[1:], false},
		{a, a[:300] + "X" + a[301:], false},
		{a, a + "x", false},
	} {
		if got := equalConstantTime(tc.a, tc.b); got != tc.want {
			t.Errorf("equalConstantTime(%.12q…, %.12q…) = %v", tc.a, tc.b, got)
		}
	}
}

func BenchmarkEqualConstantTime(b *testing.B) {
	x := strings.Repeat("abcdefghij", 57)
	y := string([]byte(x))
	for b.Loop() {
		if !equalConstantTime(x, y) {
			b.Fatal("unequal")
		}
	}
}

// BenchmarkCacheLookupParallel is the cache's own read path from every core
// at once, on one hot token (every goroutine in the same bucket and entry):
// it takes no lock and writes nothing shared, so with -cpu 1,2 the time per
// lookup should halve.
func BenchmarkCacheLookupParallel(b *testing.B) {
	now := time.Now()
	c := newVerifyCache(1024)
	tok := strings.Repeat("t", 580)
	c.put(newCacheEntry(c.hash(tok), tok, "kid", nil, nil, &authkit.Principal{Subject: "alice", ExpiresAt: now.Add(time.Hour)}, now, false), now)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if c.get(tok, c.hash(tok)) == nil {
				b.Error("miss")
				return
			}
		}
	})
}
