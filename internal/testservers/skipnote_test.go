package testservers

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestSkipSummary: a skip for a missing server is counted under its kind,
// and the one note per package names every skipped kind, how many tests,
// the variable that turns each on, and the package.
func TestSkipSummary(t *testing.T) {
	skips.Lock()
	saved := skips.byKind
	skips.byKind = nil
	skips.Unlock()
	t.Cleanup(func() {
		skips.Lock()
		skips.byKind = saved
		skips.Unlock()
	})

	if got := skipSummary(); got != "" {
		t.Fatalf("with nothing skipped the note is %q, want none", got)
	}
	k := &kind{
		name:      "Nothing",
		env:       "AUTHKIT_TEST_NOTHING_ADDR",
		example:   "127.0.0.1:1",
		container: func(context.Context) (string, error) { return "", errors.New("no Docker engine") },
	}
	t.Setenv(k.env, "")
	t.Setenv(RequireEnv, "")
	locateWith(t, k)
	locateWith(t, k)
	noteSkip("Redis Cluster", RedisClusterEnv)

	got := skipSummary()
	for _, want := range []string{"Nothing (2 tests; set AUTHKIT_TEST_NOTHING_ADDR)", "Redis Cluster (1 test; set " + RedisClusterEnv + ")", RequireEnv + "=1", "internal/testservers"} {
		if !strings.Contains(got, want) {
			t.Errorf("the note %q does not say %q", got, want)
		}
	}
	if strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\n") {
		t.Errorf("the note %q is not one line", got)
	}

	t.Setenv(RequireEnv, "1")
	locateWith(t, k)
	if got2 := skipSummary(); got2 != got {
		t.Errorf("a failure under %s=1 was counted as a skip: %q", RequireEnv, got2)
	}
}
