package conformance_test

import (
	"testing"

	"github.com/authkit-go/authkit/internal/testservers"
)

// TestMain lets four of the package's tests run at once: the mutant
// checks mostly wait for the child processes they start, and the stall
// checks for deadlines to pass.
func TestMain(m *testing.M) { testservers.MainWaiting(m, 4) }
