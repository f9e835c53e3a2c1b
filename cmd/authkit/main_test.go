package main

import (
	"testing"

	"github.com/authkit-go/authkit/internal/testservers"
)

// TestMain says once, after the run, which server suites were skipped and
// which variable turns each on (a plain `go test` would print a bare ok).
func TestMain(m *testing.M) { testservers.Main(m) }
