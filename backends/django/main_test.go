package django_test

import (
	"testing"

	"github.com/authkit-go/authkit/internal/testservers"
)

// TestMain says once, after the run, which server suites were skipped and
// which variable turns each on. It lets the five conformance runs run at
// once: they mostly wait on their servers.
func TestMain(m *testing.M) { testservers.MainWaiting(m, 5) }
