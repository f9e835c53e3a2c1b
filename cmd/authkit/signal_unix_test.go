//go:build unix

package main

import (
	"bytes"
	"errors"
	"io"
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
	// 130 from the handler; killed by the signal itself (-1) if it came
	// before the handler was installed (a loaded machine).
	if code := exitAfterSIGTERM(t, cmd, "users add"); code != 130 && code != -1 {
		t.Errorf("users add after SIGTERM: exit status %d, want 130", code)
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
	if code := exitAfterSIGTERM(t, cmd, "users revoke"); code != exitFailure {
		t.Errorf("users revoke after SIGTERM: exit status %d, want %d", code, exitFailure)
	}
	for _, want := range []string{"stopped before the second pass", `authkit users revoke zed --store STORE" to finish`} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stopped during the wait, users revoke did not say %q:\n%s", want, stderr.String())
		}
	}
}

// A users command with --store stopped while it waits for the users
// file's lock changes nothing (found by review: once signals cancelled its
// context, the file was changed anyway when the lock came, and only the
// store step failed).
func TestSignalWhileWaitingForTheLockChangesNothing(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	users := usersFileOf(t, "alice", "bob")
	path, err := filepath.EvalSymlinks(users)
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := lockFile(t.Context(), path, nil) // another users command holds it
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "users", "remove", "alice", "--file", users, "--store", migratedSQLite(t), "--no-wait")
	cmd.Env = append(os.Environ(), "AUTHKIT_TEST_RUN_MAIN=1")
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		unlock()
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, "users remove to wait for the lock", func() bool {
		return strings.Contains(stderr.String(), "waiting for another authkit users command")
	})
	code := exitAfterSIGTERM(t, cmd, "users remove")
	unlock()
	if code != exitFailure {
		t.Errorf("users remove stopped at the lock: exit status %d, want %d", code, exitFailure)
	}
	if _, ok := readUsers(t, users).index["alice"]; !ok {
		t.Error("users remove stopped while waiting for the lock removed the user")
	}
	if !strings.Contains(stderr.String(), "nothing changed") {
		t.Errorf("stopped at the lock, users remove did not say nothing changed:\n%s", stderr.String())
	}
}

// exitAfterSIGTERM sends cmd SIGTERM and returns its exit status (-1:
// killed by the signal), failing t if it has not ended within 10 s.
func exitAfterSIGTERM(t *testing.T, cmd *exec.Cmd, what string) int {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("%s: %v", what, err)
		}
		return cmd.ProcessState.ExitCode()
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%s did not end at SIGTERM", what)
		return 0
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

// serve without a users file ignores SIGHUP, and says so, instead of
// dying of it (found by review: a service manager's reload killed it).
func TestSIGHUPWithoutUsersFile(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "serve", "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "AUTHKIT_TEST_RUN_MAIN=1")
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	}()
	var base string
	waitFor(t, "serve to listen", func() bool {
		if m := listeningRE.FindStringSubmatch(stdout.String()); m != nil {
			base = "http://" + m[1]
		}
		return base != ""
	})
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "serve to say it ignored SIGHUP", func() bool {
		select {
		case <-exited:
			t.Fatalf("serve exited on SIGHUP (%v):\n%s", cmd.ProcessState, stderr.String())
		default:
		}
		return strings.Contains(stderr.String(), "SIGHUP ignored")
	})
	s := &testServer{base: base, stdout: stdout, stderr: stderr}
	s.do(t, "GET", "/healthz", "", nil).want(t, "/healthz after SIGHUP", 200)
}

// A FIFO put in place of the users file or the key file is refused at
// once, not waited on for a writer (found by review: the users file's
// reload hung for good, and serve with it at shutdown).
func TestFIFOInPlaceOfAFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, read := range map[string]func() error{
		"readUsersFile":   func() error { _, _, err := readUsersFile(path); return err },
		"readKeptKeyFile": func() error { _, err := readKeptKeyFile(path); return err },
	} {
		got := make(chan error, 1)
		go func() { got <- read() }()
		select {
		case err := <-got:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("%s of a FIFO: %v, want an error saying it is not a regular file", name, err)
			}
		case <-time.After(10 * time.Second):
			// A bound, not a timing check: the old code waited forever.
			t.Fatalf("%s of a FIFO still waiting after 10 s", name)
		}
	}
}

// A command run once reads its file from a pipe as asked (found by
// review: "keygen --public --keys <(…)" and "inspect --jwks <(…)" were
// refused for a while with serve's regular-file rule, and so was "users
// list --file <(…)").
func TestOneShotCommandsReadPipes(t *testing.T) {
	t.Parallel()
	var keysJSON bytes.Buffer
	if code := run(t.Context(), []string{"keygen", "--alg", "ES256"}, strings.NewReader(""), &keysJSON, io.Discard); code != exitOK {
		t.Fatalf("keygen: exit %d", code)
	}
	users, err := os.ReadFile(usersFileWith(t, "alice", "bob"))
	if err != nil {
		t.Fatal(err)
	}
	pipe := func(content []byte) string {
		path := filepath.Join(t.TempDir(), "fifo")
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
		go func() {
			if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
				_, _ = f.Write(content)
				f.Close()
			}
		}()
		return path
	}
	if set, err := readKeyFile(pipe(keysJSON.Bytes())); err != nil || set == nil {
		t.Errorf("readKeyFile of a pipe: %v", err)
	}
	runCLI(t, "", "users", "list", "--file", pipe(users)).must(t, exitOK, []string{"alice\nbob\n"}, nil)
}

// A key rotation stopped while it makes a new RSA key (seconds for 8192
// bits) changes nothing and fails (found by review: once signals
// cancelled its context, the signal was ignored until the key was made,
// and the file was rotated with exit status 0).
func TestSignalDuringKeyGenerationChangesNothing(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "keys.json")
	before := runCLI(t, "", "keygen", "--kid", "k1").stdout
	if err := os.WriteFile(file, []byte(before), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "keygen", "--keys", file, "--add", "--alg", "RS256", "--bits", "8192")
	cmd.Env = append(os.Environ(), "AUTHKIT_TEST_RUN_MAIN=1")
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, "keygen to take the key file's lock", func() bool {
		_, err := os.Stat(filepath.Join(dir, ".keys.json.lock"))
		return err == nil
	})
	time.Sleep(100 * time.Millisecond) // into the RSA generation
	if code := exitAfterSIGTERM(t, cmd, "keygen --add"); code != exitFailure {
		t.Errorf("keygen --add stopped while making its key: exit status %d, want %d; stderr:\n%s", code, exitFailure, stderr.String())
	}
	if got, err := os.ReadFile(file); err != nil || string(got) != before {
		t.Errorf("keygen --add stopped while making its key changed the file (%v)", err)
	}
	if !strings.Contains(stderr.String(), "nothing changed") {
		t.Errorf("stopped while making its key, keygen --add did not say nothing changed:\n%s", stderr.String())
	}
}
