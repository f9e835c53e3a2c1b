package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/passwords"
)

func readUsers(t *testing.T, path string) *usersFile {
	t.Helper()
	f, err := loadUsersFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func checkMode0600(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
}

func TestUsersAddArgon2id(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "users.txt")
	// A comment written by hand survives rewrites.
	if err := os.WriteFile(file, []byte("# staff\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// At the cost a command run from the shell hashes with (checked below).
	runCLIFullCost(t, "correct horse battery\n", "users", "add", "alice", "--file", file).
		must(t, exitOK, []string{"added user alice to " + file + " (argon2id)"}, nil)
	runCLI(t, "second user pw\r\n", "users", "add", "--file", file, "bob").
		must(t, exitOK, []string{"added user bob"}, nil)
	// Narrowed from 0644 to 0640: never readable by others, still by the
	// group (serve may run as another account of it).
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("a 0644 users file rewritten: %v %v, want 0640", fi.Mode().Perm(), err)
	}

	raw, _ := os.ReadFile(file)
	if !strings.HasPrefix(string(raw), "# staff\n\nalice:$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("users file:\n%s", raw)
	}
	db, err := newUserDB(readUsers(t, file))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if sub, err := db.check(ctx, "alice", "correct horse battery"); err != nil || sub != "alice" {
		t.Errorf("alice, right password: %q, %v", sub, err)
	}
	if sub, err := db.check(ctx, "bob", "second user pw"); err != nil || sub != "bob" {
		t.Errorf("bob (line ended by CRLF): %q, %v", sub, err)
	}
	for _, tc := range [][2]string{{"alice", "correct horse batter"}, {"alice", ""}, {"carol", "correct horse battery"}, {"", ""},
		{"alice", strings.Repeat("x", maxPasswordLen+1)}, {"Alice", "correct horse battery"}} {
		if sub, err := db.check(ctx, tc[0], tc[1]); !errors.Is(err, errBadCredentials) || sub != "" {
			t.Errorf("check(%q, %d-byte password) = %q, %v; want errBadCredentials", tc[0], len(tc[1]), sub, err)
		}
	}

	// Changing a password replaces the line in place.
	runCLI(t, "a new password\n", "users", "add", "alice", "--file", file).
		must(t, exitOK, []string{"updated the password of user alice"}, nil)
	f := readUsers(t, file)
	if got := strings.Join(f.names(), ","); got != "alice,bob" {
		t.Errorf("names %q", got)
	}
	db, _ = newUserDB(f)
	if _, err := db.check(ctx, "alice", "correct horse battery"); !errors.Is(err, errBadCredentials) {
		t.Errorf("the old password still works: %v", err)
	}
	if _, err := db.check(ctx, "alice", "a new password"); err != nil {
		t.Errorf("the new password: %v", err)
	}

	runCLI(t, "", "users", "list", "--file", file).must(t, exitOK, []string{"alice\nbob\n"}, nil)
	runCLI(t, "", "users", "remove", "bob", "--file", file).must(t, exitOK, []string{"removed user bob"}, nil)
	runCLI(t, "", "users", "remove", "bob", "--file", file).must(t, exitFailure, nil, []string{`has no user "bob"`})
	if got := strings.Join(readUsers(t, file).names(), ","); got != "alice" {
		t.Errorf("after remove: %q", got)
	}
	raw, _ = os.ReadFile(file)
	if !strings.HasPrefix(string(raw), "# staff\n") {
		t.Errorf("the comment was lost:\n%s", raw)
	}
}

func TestUsersAddBcrypt(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "users.txt")
	runCLIFullCost(t, "bcrypt password\n", "users", "add", "carol", "--algo", "bcrypt", "--file", file).
		must(t, exitOK, []string{"added user carol", "(bcrypt)"}, nil)
	checkMode0600(t, file)
	raw, _ := os.ReadFile(file)
	_, hash, _ := strings.Cut(strings.TrimSpace(string(raw)), ":")
	if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != 12 {
		t.Fatalf("bcrypt cost %d, %v; want 12", cost, err)
	}
	db, err := newUserDB(readUsers(t, file))
	if err != nil {
		t.Fatal(err)
	}
	// One cost-12 comparison: it is slow, especially with -race.
	if sub, err := db.check(context.Background(), "carol", "bcrypt password"); err != nil || sub != "carol" {
		t.Errorf("carol: %q, %v", sub, err)
	}
	// bcrypt reads 72 bytes of a password; longer ones are refused, not cut.
	runCLI(t, strings.Repeat("p", 73)+"\n", "users", "add", "dave", "--algo", "bcrypt", "--file", file).
		must(t, exitFailure, nil, []string{"at most 72 bytes"})
}

// A user hashed unlike most (bcrypt among argon2id) is warned of, by users
// add and by serve's load: a failed login of theirs takes another time
// than an unknown name's, which tells anyone the name exists (found by
// review).
func TestUsersAddWarnsOfUnlikeHashes(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "users.txt")
	for _, name := range []string{"alice", "bob"} {
		r := runCLI(t, name+"'s password\n", "users", "add", name, "--file", file)
		r.must(t, exitOK, nil, nil)
		if strings.Contains(r.stderr, "another kind or cost") {
			t.Errorf("users add %s into a file of one kind warned:\n%s", name, r.stderr)
		}
	}
	runCLI(t, "carol's password\n", "users", "add", "carol", "--algo", "bcrypt", "--file", file).
		must(t, exitOK, nil, []string{"another kind or cost than most", "(1: carol)"})
	var logs bytes.Buffer
	db, err := newUserDB(readUsers(t, file))
	if err != nil {
		t.Fatal(err)
	}
	warnWeakHashes(slog.New(slog.NewTextHandler(&logs, nil)), file, db.users())
	if out := logs.String(); !strings.Contains(out, "another kind or cost than most") || !strings.Contains(out, "first=carol") {
		t.Errorf("serve's load did not warn of carol's bcrypt hash:\n%s", out)
	}
}

func TestUsersAddRefusals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "users.txt")
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		msg   string
	}{
		{"short password", "short\n", []string{"add", "x"}, exitFailure, "shorter than 8"},
		{"empty password", "\n", []string{"add", "x"}, exitFailure, "no password"},
		{"no stdin", "", []string{"add", "x"}, exitFailure, "no password"},
		{"long password", strings.Repeat("p", maxPasswordLen+10), []string{"add", "x"}, exitFailure, "longer than 1024"},
		{"bad utf-8", "password\xff\xfe\n", []string{"add", "x"}, exitFailure, "not valid UTF-8"},
		{"colon", "long enough\n", []string{"add", "a:b"}, exitUsage, "contains ':'"},
		{"space", "long enough\n", []string{"add", "a b"}, exitUsage, "white space"},
		{"tab", "long enough\n", []string{"add", "a\tb"}, exitUsage, "white space"},
		{"control", "long enough\n", []string{"add", "a\x00b"}, exitUsage, "control"},
		{"hash sign", "long enough\n", []string{"add", "#root"}, exitUsage, "starts with '#'"},
		{"long name", "long enough\n", []string{"add", strings.Repeat("n", 257)}, exitUsage, "longer than 256"},
		{"two names", "long enough\n", []string{"add", "a", "b"}, exitUsage, "exactly one user name"},
		{"no subcommand", "", nil, exitUsage, "missing subcommand"},
		{"bad subcommand", "", []string{"delete", "a"}, exitUsage, "unknown subcommand"},
		{"bad algo", "long enough\n", []string{"add", "a", "--algo", "md5"}, exitUsage, "--algo must be"},
		{"list missing file", "", []string{"list"}, exitFailure, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"users"}, tc.args...)
			runCLI(t, tc.stdin, append(args, "--file", file)...).must(t, tc.code, nil, []string{tc.msg})
			if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused command wrote the file (%v)", err)
			}
		})
	}
}

func TestUsersAddRefusesMalformedFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "users.txt")
	const content = "alice:$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$notbase64!!\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "long enough\n", "users", "add", "bob", "--file", file)
	r.must(t, exitFailure, nil, []string{"line 1", `user "alice"`, "base64"})
	if strings.Contains(r.stderr, "notbase64") {
		t.Errorf("the hash was echoed: %s", r.stderr)
	}
	if raw, _ := os.ReadFile(file); string(raw) != content {
		t.Errorf("the malformed file was rewritten:\n%s", raw)
	}
}

func TestParseUsers(t *testing.T) {
	t.Parallel()
	const a = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"
	const b = "$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"
	good := "# comment\n\n  # indented comment\nalice:" + a + "\r\nbob:" + b + "\nжанна:" + a + "\n"
	f, err := parseUsers(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.names(), ","); got != "alice,bob,жанна" {
		t.Errorf("names %q", got)
	}
	bad := []struct{ name, content, msg string }{
		{"no colon", "alice\n", "want NAME:HASH"},
		{"empty name", ":" + a + "\n", "is empty"},
		{"space in name", "al ice:" + a + "\n", "white space"},
		{"nbsp in name", "al\u00a0ice:" + a + "\n", "white space"},
		{"duplicate", "alice:" + a + "\nalice:" + a + "\n", "appears twice"},
		{"plain text password", "alice:hunter22\n", "not an argon2id"},
		{"argon2i", "alice:$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$MDEyMzQ1Njc4OWFiY2RlZg\n", "not an argon2id"},
		{"old version", "alice:$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg\n", "version 19"},
		{"no version", "alice:$argon2id$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg\n", "want $argon2id$v=19"},
		{"param order", "alice:$argon2id$v=19$t=2,m=19456,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg\n", "in that order"},
		{"huge memory", "alice:$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg\n", "out of range"},
		{"zero time", "alice:$argon2id$v=19$m=19456,t=0,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg\n", "out of range"},
		{"leading zero", "alice:$argon2id$v=19$m=019456,t=2,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg\n", "decimal"},
		{"padded salt", "alice:$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0==$MDEyMzQ1Njc4OWFiY2RlZg\n", "base64"},
		{"short salt", "alice:$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$MDEyMzQ1Njc4OWFiY2RlZg\n", "salt must be"},
		{"short hash", "alice:$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$MDEy\n", "salt must be"},
		{"bcrypt short", "alice:$2b$12$abc\n", "53 characters"},
		{"bcrypt cost", "alice:$2b$31$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234\n", "above 14"},
		{"bcrypt alphabet", "alice:$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ0123!\n", "bad character"},
		{"long line", "alice:" + strings.Repeat("x", 4<<10) + "\n", "longer than 4096 bytes"},
		{"large file", strings.Repeat("#\n", 8<<20+1), "larger than 16777216 bytes"},
	}
	for _, tc := range bad {
		_, err := parseUsers(strings.NewReader(tc.content))
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.msg)
		}
		if err != nil && strings.Contains(err.Error(), "MDEy") {
			t.Errorf("%s: the error quotes the hash: %v", tc.name, err)
		}
	}
	if _, err := newUserDB(&usersFile{index: map[string]int{}}); err == nil {
		t.Error("an empty users file was accepted")
	}
}

// TestUserDBDummyHash checks that the server's checker verifies an unknown
// user's password against a dummy of the class most users have (the first
// of them in the file on a tie), and answers it as a wrong password, so a
// failed login costs the same and logs the same whether or not the name
// exists. passwords' own tests count the verifications.
func TestUserDBDummyHash(t *testing.T) {
	t.Parallel()
	const (
		a1 = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"
		a2 = "$argon2id$v=19$m=128,t=3,p=2$c2FsdHNhbHRzYWx0c2FsdA$MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"
	)
	f, err := parseUsers(strings.NewReader("# staff\na:" + a1 + "\nb:" + a2 + "\nc:" + a2 + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := newUserDB(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(db.users().users, ","); got != "a,b,c" {
		t.Errorf("users %q", got)
	}
	for _, name := range []string{"nobody", "a", strings.Repeat("n", maxUserNameBytes+1)} {
		_, err := db.check(context.Background(), name, "whatever")
		if err != errBadCredentials || errors.Is(err, authkit.ErrNotFound) {
			t.Errorf("check(%.10q): %v, want errBadCredentials itself", name, err)
		}
	}
}

// Only this package's tests hash cheaply: serve's demo user, and a
// users command, hash at full cost unless the context says otherwise, and
// the cheap hashes are ones a users file accepts and that verify.
func TestCheapHashingOnlyInTests(t *testing.T) {
	t.Parallel()
	for ctx, prefix := range map[context.Context]string{
		context.Background():               "demo:$argon2id$v=19$m=19456,t=2,p=1$",
		cheapHashing(context.Background()): "demo:$argon2id$v=19$m=64,t=1,p=1$",
	} {
		db, password, err := loadUsers(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if line := db.users().lines[demoUser]; !strings.HasPrefix(line, prefix) {
			t.Errorf("the demo user's line %.50q, want %q…", line, prefix)
		}
		if sub, err := db.check(ctx, demoUser, password); err != nil || sub != demoUser {
			t.Errorf("the demo user's password: %q, %v", sub, err)
		}
	}
	enc, err := hashPassword(cheapHashing(context.Background()), algoBcrypt, []byte("a password"))
	if err != nil || passwords.ValidateHash(enc) != nil || !strings.HasPrefix(enc, "$2a$04$") {
		t.Errorf("a cheap bcrypt hash %q: %v", enc, err)
	}
}

func TestHashRoundTrip(t *testing.T) {
	t.Parallel()
	enc, err := hashPassword(context.Background(), algoArgon2id, []byte("pässwörd 🔑"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("argon2id parameters: %s", enc)
	}
	if ok, err := passwords.Verify(enc, []byte("pässwörd 🔑")); !ok || err != nil {
		t.Errorf("the right password: %v, %v", ok, err)
	}
	if ok, err := passwords.Verify(enc, []byte("pässwörd")); ok || err != nil {
		t.Errorf("a wrong password: %v, %v", ok, err)
	}
	enc2, _ := hashPassword(context.Background(), algoArgon2id, []byte("pässwörd 🔑"))
	if enc2 == enc {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	if _, err := hashPassword(context.Background(), "md5", []byte("x")); err == nil || !strings.Contains(err.Error(), `unknown hash algorithm "md5"`) {
		t.Errorf("md5: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := &usersFile{index: map[string]int{}}
	if _, err := f.set("u", enc); err != nil {
		t.Fatal(err)
	}
	if _, err := f.set("v", "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg"); err == nil {
		t.Error("set accepted a hash out of bounds")
	}
	db, err := newUserDB(f)
	if err != nil {
		t.Fatal(err)
	}
	// passwords' tests check a context ending while the check waits for a
	// slot; an ended one is answered as such, which the grant answers 503.
	if _, err := db.check(ctx, "u", "pässwörd 🔑"); !errors.Is(err, context.Canceled) {
		t.Errorf("a check ignores its ended context: %v", err)
	}
}

// signalReader is a password on standard input that says when the command
// first reads it, and gives it only once released.
type signalReader struct {
	reading chan struct{}
	release chan struct{}
	once    bool
	r       *strings.Reader
}

func (s *signalReader) Read(p []byte) (int, error) {
	if !s.once {
		s.once = true
		close(s.reading)
		<-s.release
	}
	return s.r.Read(p)
}

// TestUsersAddDoesNotUndoRemove: a users remove that completes while a
// users add waits for its password is not undone by the add's write (found
// by review: the add wrote back the file as it had loaded it, and the
// removed user could log in again after the next restart).
func TestUsersAddDoesNotUndoRemove(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "users.txt")
	runCLI(t, "password123\n", "users", "add", "mallory", "--file", file, "--algo", "bcrypt").must(t, exitOK, nil, nil)
	in := &signalReader{reading: make(chan struct{}), release: make(chan struct{}), r: strings.NewReader("password123\n")}
	done := make(chan int)
	go func() {
		var out, errOut strings.Builder
		c := &cli{stdin: in, stdout: &out, stderr: &errOut, lookupEnv: mapEnv(nil)}
		done <- c.main(context.Background(), []string{"users", "add", "alice", "--file", file, "--algo", "bcrypt"})
	}()
	<-in.reading // the add waits for its password
	runCLI(t, "", "users", "remove", "mallory", "--file", file).must(t, exitOK, []string{"removed user mallory"}, nil)
	close(in.release)
	if code := <-done; code != exitOK {
		t.Fatalf("users add: exit %d", code)
	}
	if got := strings.Join(readUsers(t, file).names(), ","); got != "alice" {
		t.Errorf("users after the remove and the add: %s, want alice only", got)
	}
}

// TestUsersFileLimit: users add refuses to write a file larger than
// serve (and every later users command) reads, and leaves it as it was.
func TestUsersFileLimit(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "users.txt")
	line := "# " + strings.Repeat("x", 1000) + "\n"
	big := strings.Repeat(line, (passwords.MaxUsersFileBytes-2000)/len(line))
	big += "#" + strings.Repeat("x", passwords.MaxUsersFileBytes-30-len(big)-2) + "\n" // 30 bytes short of the limit
	if err := os.WriteFile(file, []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "password123\n", "users", "add", "alice", "--file", file, "--algo", "bcrypt")
	r.must(t, exitFailure, nil, []string{"more than the 16777216 a users file may hold: not written"})
	if raw, _ := os.ReadFile(file); string(raw) != big {
		t.Error("the users file changed")
	}
	runCLI(t, "", "users", "list", "--file", file).must(t, exitOK, nil, nil)
}

// serve's principal check narrows a user's credential to --scopes, and
// leaves a client's own token (client_credentials) its registered scopes,
// even when the client shares its ID with a user (found by review).
func TestPrincipalCheckScopes(t *testing.T) {
	db := &userDB{scopes: []string{"read"}}
	db.cur.Store(&userTable{known: map[string]struct{}{"reporter": {}, "alice": {}}})
	for _, c := range []struct {
		p    authkit.Principal
		want string
	}{
		{authkit.Principal{Method: authkit.MethodJWT, Subject: "reporter", ClientID: "reporter", Scopes: []string{"reports:write"}}, "[reports:write]"},
		{authkit.Principal{Method: authkit.MethodJWT, Subject: "alice", ClientID: "authkit", SessionID: "s", Scopes: []string{"read", "introspect"}}, "[read]"},
		{authkit.Principal{Method: authkit.MethodAPIToken, Subject: "alice", Scopes: []string{"introspect", "read"}}, "[read]"},
		{authkit.Principal{Method: authkit.MethodAPIToken, Subject: "reporter", Scopes: []string{"reports:write"}}, "[]"},
	} {
		p := c.p
		if err := db.principalCheck(context.Background(), &p); err != nil || fmt.Sprint(p.Scopes) != c.want {
			t.Errorf("%+v: scopes %v (%v), want %s", c.p, p.Scopes, err, c.want)
		}
	}
}
