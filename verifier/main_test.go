package verifier_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit/keys"
)

// TestMain fails the run if a test leaves a Verifier's background goroutine
// running: every Verifier built with a JWKS URL or a revocation mirror
// must be closed.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitForRefreshers(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "a test leaked a JWKS refresh goroutine (a Verifier was not closed):\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// waitForRefreshers waits until no goroutine runs the JWKS refresher, and
// returns the stacks of those still running at the deadline.
func waitForRefreshers(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "verifier.(*remoteKeys).run") || strings.Contains(g, "revmirror.(*Mirror).run") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustKey(t testing.TB, alg keys.Algorithm) *keys.Key {
	t.Helper()
	k, err := keys.Generate(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
