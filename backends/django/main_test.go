package django_test

import (
	"testing"

	"github.com/authkit-go/authkit/internal/testservers"
)

// TestMain says once, after the run, which server suites were skipped and
// which variable turns each on. Its five conformance runs keep the default
// of GOMAXPROCS at once: three are on PostgreSQL, whose 100 connections
// the SQL store's package may be using at the same time.
func TestMain(m *testing.M) { testservers.Main(m) }
