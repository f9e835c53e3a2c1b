package redisstore_test

import (
	"testing"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/conformance"
	"github.com/authkit-go/authkit/internal/storetest"
	"github.com/authkit-go/authkit/internal/testservers"
)

// benchStores are the stores the benchmarks compare in one run: the
// memory store and standalone Redis, each fresh per benchmark.
func benchStores(b *testing.B) []storetest.NamedStore {
	addr := testservers.Redis(b)
	admin := standalone(b, addr)
	return []storetest.NamedStore{
		storetest.Memory(),
		{Name: "redis", Open: func(b *testing.B) authkit.Store {
			return newStore(b, standalone(b, addr), testservers.RedisPrefix(b, admin))
		}},
	}
}

// BenchmarkStore runs the store benchmarks every backend shares
// (conformance.Bench) on the memory store and on standalone Redis.
func BenchmarkStore(b *testing.B) {
	for _, st := range benchStores(b) {
		b.Run(st.Name, func(b *testing.B) { conformance.Bench(b, st.Open) })
	}
}

// BenchmarkFlows measures what an application sees (storetest.BenchFlows)
// on the memory store and on Redis, in one run.
func BenchmarkFlows(b *testing.B) {
	storetest.BenchFlows(b, benchStores(b))
}

// BenchmarkPropagation measures how long a revocation takes to reach a
// verifier's revocation mirror over a second client
// (storetest.BenchPropagation), with the memory store beside it; run with
// -benchtime 200x.
func BenchmarkPropagation(b *testing.B) {
	addr := testservers.Redis(b)
	admin := standalone(b, addr)
	storetest.BenchPropagation(b, []storetest.PairedStore{
		{Name: "memory", Open: func(*testing.B) (authkit.Store, authkit.Store) { s := memory.New(); return s, s }},
		{Name: "redis", Open: func(b *testing.B) (authkit.Store, authkit.Store) {
			prefix := testservers.RedisPrefix(b, admin)
			return newStore(b, standalone(b, addr), prefix), newStore(b, standalone(b, addr), prefix)
		}},
	})
}
