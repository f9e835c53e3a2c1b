package redisstore_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit/internal/testservers"
)

// quiet drops go-redis's own log lines (dial failures of the fault and
// unreachable-store checks, which expect them).
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// TestMain says once which server suites were skipped, and how to turn
// them on. It lets the three conformance runs (standalone, Cluster, Ring)
// run at once: they mostly wait on round trips and deadlines.
func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	testservers.MainWaiting(m, 3)
}
