//go:build unix

package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// A users command stopped during its wait for the second pass says what it
// left undone and what to run (before, the first signal ended it silently:
// main ended every command that does not watch its context at once), and
// exits 1 as a failed command.
func TestSignalDuringUsersWaitSaysWhatIsLeft(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec := migratedSQLite(t)
	cmd := exec.Command(self, "users", "revoke", "zed", "--store", spec)
	cmd.Env = append(os.Environ(), "AUTHKIT_TEST_RUN_MAIN=1")
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, "users revoke to wait for its second pass", func() bool {
		return strings.Contains(stdout.String(), "waiting ")
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitFailure {
			t.Errorf("users revoke after SIGTERM: %v, want exit status %d", err, exitFailure)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("users revoke did not end at SIGTERM")
	}
	for _, want := range []string{"stopped before the second pass", `authkit users revoke zed --store STORE" to finish`} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stopped during the wait, users revoke did not say %q:\n%s", want, stderr.String())
		}
	}
}

// SIGHUP makes serve read its users file again, even with --users-reload
// off: a user removed from it can no longer log in.
func TestSIGHUPReadsUsersFileAgain(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	users := usersFileOf(t, "alice", "bob")
	cmd := exec.Command(self, "serve", "--addr", "127.0.0.1:0", "--users", users, "--users-reload", "0")
	cmd.Env = append(os.Environ(), "AUTHKIT_TEST_RUN_MAIN=1")
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	var base string
	waitFor(t, "serve to listen", func() bool {
		if m := listeningRE.FindStringSubmatch(stdout.String()); m != nil {
			base = "http://" + m[1]
		}
		return base != ""
	})
	s := &testServer{base: base, stdout: stdout, stderr: stderr}
	loginAs := func(user string) response { return passwordLogin(t, s, user) }
	loginAs("alice").want(t, "alice logs in", 200)
	runCLI(t, "", "users", "remove", "alice", "--file", users).must(t, exitOK, nil, nil)
	time.Sleep(100 * time.Millisecond)
	loginAs("alice").want(t, "alice before SIGHUP (--users-reload 0)", 200)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "serve to read the users file again", func() bool {
		return strings.Contains(stderr.String(), "users file read again")
	})
	loginAs("alice").want(t, "a removed user after SIGHUP", 400)
	loginAs("bob").want(t, "bob after SIGHUP", 200)
}
