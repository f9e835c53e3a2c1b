package main

import (
	"os"
	"testing"

	"github.com/authkit-go/authkit/internal/testservers"
)

// TestMain says once, after the run, which server suites were skipped and
// which variable turns each on (a plain `go test` would print a bare ok).
// With AUTHKIT_TEST_RUN_MAIN set, the test binary is the authkit command
// itself (main, signal handling included), for tests that run it as a
// process.
func TestMain(m *testing.M) {
	if os.Getenv("AUTHKIT_TEST_RUN_MAIN") != "" {
		os.Args = append([]string{"authkit"}, os.Args[1:]...)
		main()
	}
	testservers.Main(m)
}
