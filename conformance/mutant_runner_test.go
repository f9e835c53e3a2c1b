package conformance_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// expectSuiteFails is the parent side of a mutant test: it runs this test
// binary again, with env=name, on only the suite's subtest run (a path of
// subtest names under the mutant's own test, test/name), and fails unless
// that child fails and its output holds every string of want. what names
// the broken thing in the message ("store", "feed", …). The child side is
// the caller's: when os.Getenv(env) == name, it runs the suite over the
// mutant instead of calling this.
func expectSuiteFails(t *testing.T, env, test, name, run, what string, want []string) {
	t.Helper()
	pattern := "^" + test + "$/^" + name + "$"
	for _, part := range strings.Split(run, "/") {
		pattern += "/^" + part + "$"
	}
	// The child gets a timeout of its own, short of the parent's: a
	// mutant that hangs the suite then fails with its goroutines dumped
	// into the output below instead of holding the parent until it times
	// out with nothing said of where.
	timeout := 5 * time.Minute
	if d, ok := t.Deadline(); ok {
		timeout = min(timeout, max(time.Until(d)/2, 10*time.Second))
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run="+pattern, "-test.v", "-test.timeout="+timeout.String())
	cmd.Env = append(os.Environ(), env+"="+name)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("the suite passed a %s that breaks the contract (err %v); output:\n%s", what, err, out)
	}
	for _, w := range want {
		if !strings.Contains(string(out), w) {
			t.Errorf("the suite's output on this mutant lacks %q; output:\n%s", w, out)
		}
	}
}
