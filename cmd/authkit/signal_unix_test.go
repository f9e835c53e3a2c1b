//go:build unix

package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A command that does not watch its context ends at the first SIGTERM
// (or Ctrl-C): users add waiting at its password used to ignore it until
// standard input closed (found by review: timeout's SIGTERM did nothing).
func TestFirstSignalEndsUsersAdd(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "users", "add", "zed", "--file", filepath.Join(t.TempDir(), "users.txt"))
	cmd.Env = append(os.Environ(), "AUTHKIT_TEST_RUN_MAIN=1")
	stdin, err := cmd.StdinPipe() // held open: the password never comes
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // at its password
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		// 130 from the handler; killed by the signal itself if it came
		// before the handler was installed (a loaded machine).
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 && ee.ExitCode() != -1 {
			t.Errorf("users add after SIGTERM: %v, want exit status 130", err)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("users add did not end at SIGTERM")
	}
}
