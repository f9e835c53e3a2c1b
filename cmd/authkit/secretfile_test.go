package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
)

// A rewrite of a key or users file removes the temporary copies of it
// that a command killed mid-write left (found by review: one in twenty
// rotations stopped by SIGTERM left every private key in a file nothing
// ever removed), and only those: another file's, and names that only
// look alike, stay.
func TestSecretRewriteRemovesStaleTemps(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		file string
		args []string
	}{
		{"keys.json", []string{"keygen", "--add"}},
		{"users.txt", []string{"users", "add", "zed"}},
	} {
		t.Run(c.file, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, c.file)
			stdin := ""
			if c.file == "keys.json" {
				if err := os.WriteFile(path, []byte(runCLI(t, "", "keygen").stdout), 0o600); err != nil {
					t.Fatal(err)
				}
				c.args = append(c.args, "--keys", path)
			} else {
				stdin = "correct horse battery\n"
				c.args = append(c.args, "--file", path)
			}
			stale := []string{"." + c.file + ".1715166445.tmp", "." + c.file + ".9.tmp"}
			kept := []string{"." + c.file + ".x1.tmp", "." + c.file + ".tmp", "." + c.file + "..tmp", c.file + ".1.tmp", ".other.json.1.tmp", "." + c.file + ".1.tmp.bak"}
			for _, n := range append(slices.Clone(stale), kept...) {
				if err := os.WriteFile(filepath.Join(dir, n), []byte("secret"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			runCLI(t, stdin, c.args...).must(t, exitOK, nil, nil)
			for _, n := range stale {
				if _, err := os.Lstat(filepath.Join(dir, n)); !os.IsNotExist(err) {
					t.Errorf("%s, left by a killed rewrite, is still there (%v)", n, err)
				}
			}
			for _, n := range kept {
				if _, err := os.Lstat(filepath.Join(dir, n)); err != nil {
					t.Errorf("%s, not a temporary file of %s, was removed: %v", n, c.file, err)
				}
			}
		})
	}
}

// A rotation or a users-file rewrite watches its context from its lock
// on, so that the first signal lets the write finish (and remove its
// temporary copy) instead of ending the process mid-write.
func TestSecretRewriteWatchesSignals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keysFile := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(keysFile, []byte(runCLI(t, "", "keygen").stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		stdin string
		args  []string
	}{
		{"", []string{"keygen", "--keys", keysFile, "--add"}},
		{"correct horse battery\n", []string{"users", "add", "zed", "--file", filepath.Join(dir, "users.txt")}},
	} {
		var watching atomic.Bool
		runCLIIn(t, withSignalWatch(cheapHashing(context.Background()), &watching), c.stdin, c.args...).must(t, exitOK, nil, nil)
		if !watching.Load() {
			t.Errorf("%v wrote its file without watching its context: a signal would end it mid-write", c.args)
		}
	}
}
