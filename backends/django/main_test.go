package django_test

import (
	"testing"

	"github.com/authkit-go/authkit/internal/testservers"
)

// TestMain says once, after the run, which server suites were skipped and
// which variable turns each on.
func TestMain(m *testing.M) { testservers.Main(m) }
