package memory_test

import (
	"testing"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
)

// The memory store must say it answers in process: otherwise the issuer and
// verifier would run each of its calls under a store deadline, in a
// goroutine of its own (an order of magnitude more per cached verify).
func TestInProcess(t *testing.T) {
	var s authkit.Store = memory.New()
	ip, ok := s.(authkit.InProcessStore)
	if !ok || !ip.InProcess() {
		t.Fatalf("memory.Store: InProcessStore %v, InProcess() true expected", ok)
	}
}
