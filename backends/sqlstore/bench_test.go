package sqlstore_test

import (
	"testing"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/conformance"
	"github.com/authkit-go/authkit/internal/storetest"
)

// BenchmarkStore runs the store benchmarks every backend shares on
// PostgreSQL, through pgx and through lib/pq.
func BenchmarkStore(b *testing.B) {
	for _, bk := range []backend{pgxBackend, pqBackend} {
		b.Run(bk.name, func(b *testing.B) {
			conformance.Bench(b, func(b *testing.B) authkit.Store {
				s, _ := newStore(b, bk)
				return s
			})
		})
	}
}

// BenchmarkFlows measures what an application sees (storetest.BenchFlows)
// with the memory store and with PostgreSQL (pgx) side by side, in one run.
func BenchmarkFlows(b *testing.B) {
	storetest.BenchFlows(b, []storetest.NamedStore{
		storetest.Memory(),
		{Name: "postgres", Open: func(b *testing.B) authkit.Store { s, _ := newStore(b, pgxBackend); return s }},
	})
}
