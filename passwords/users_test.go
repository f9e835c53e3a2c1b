package passwords

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authkit-go/authkit"
)

func TestParseUsers(t *testing.T) {
	t.Parallel()
	const a = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"
	const b = "$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"
	good := "# comment\n\n  # indented comment\nalice:" + a + "\r\nbob:" + b + "\nжанна:" + a + "\n   \n"
	u, err := ParseUsers(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(u.Names(), ","); got != "alice,bob,жанна" || u.Len() != 3 {
		t.Errorf("names %q, Len %d", got, u.Len())
	}
	// A byte order mark an editor wrote before the first line is not part
	// of the first name.
	if u, err := ParseUsers(strings.NewReader("\ufeffalice:" + a + "\n")); err != nil || strings.Join(u.Names(), ",") != "alice" {
		t.Errorf("a file starting with a byte order mark: %v, %v", u, err)
	}
	bad := []struct{ name, content, msg string }{
		{"no colon", "alice\n", "line 1: want NAME:HASH"},
		{"empty name", ":" + a + "\n", "line 1: the user name is empty"},
		{"space in name", "al ice:" + a + "\n", "white space"},
		{"nbsp in name", "al\u00a0ice:" + a + "\n", "white space"},
		{"control in name", "al\x00ice:" + a + "\n", "control character"},
		{"zero-width space in name", "al\u200bice:" + a + "\n", "invisible format character"},
		{"byte order mark after the first line", "bob:" + b + "\n\ufeffalice:" + a + "\n", "line 2: the user name contains an invisible format character"},
		{"bad utf-8 name", "al\xffice:" + a + "\n", "not valid UTF-8"},
		{"long name", strings.Repeat("n", 257) + ":" + a + "\n", "longer than 256 bytes"},
		{"leading space", " alice:" + a + "\n", "white space"},
		{"duplicate", "alice:" + a + "\nalice:" + a + "\n", `line 2: user "alice" appears twice`},
		{"plain text password", "alice:hunter22\n", `line 1 (user "alice"): not an argon2id`},
		{"long line", "alice:" + strings.Repeat("x", maxUsersLineBytes) + "\n", "longer than"},
		{"large file", strings.Repeat("#\n", maxUsersFileBytes/2+1), "larger than"},
		// The size is told first, whatever the lines hold.
		{"large file, bad line first", "alice\n" + strings.Repeat("#\n", maxUsersFileBytes/2), "larger than"},
		{"large file, long line first", "#" + strings.Repeat("x", maxUsersLineBytes) + "\n" + strings.Repeat("#\n", maxUsersFileBytes/2), "larger than"},
	}
	for _, tc := range badHashes {
		bad = append(bad, struct{ name, content, msg string }{tc.name, "# c\nalice:" + tc.hash + "\n", tc.msg})
	}
	for _, tc := range bad {
		u, err := ParseUsers(strings.NewReader(tc.content))
		if err == nil || !strings.Contains(err.Error(), tc.msg) || u != nil {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.msg)
		}
		if err != nil && strings.Contains(err.Error(), "MDEy") {
			t.Errorf("%s: the error quotes the hash: %v", tc.name, err)
		}
	}
	// A file of exactly the limit is read.
	if _, err := ParseUsers(strings.NewReader(strings.Repeat("#\n", maxUsersFileBytes/2))); err != nil {
		t.Errorf("a file of %d bytes: %v", maxUsersFileBytes, err)
	}
	// A file without users is a table that refuses every login.
	u, err = ParseUsers(strings.NewReader("# nobody yet\n"))
	if err != nil || u.Len() != 0 {
		t.Fatalf("a file of comments: %v, %v", u, err)
	}
	if _, err := u.Check(context.Background(), "alice", "password"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("an empty table: %v", err)
	}
}

func TestLoadUsers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "users.txt")
	if err := os.WriteFile(path, []byte("alice:"+cheapArgon2id(t, "wonderland")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	if sub, err := u.Check(context.Background(), "alice", "wonderland"); sub != "alice" || err != nil {
		t.Errorf("alice: %q, %v", sub, err)
	}
	if _, err := LoadUsers(filepath.Join(dir, "none.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte("\nalice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadUsers(path); err == nil || !strings.HasPrefix(err.Error(), path+": users file line 2:") {
		t.Errorf("a malformed file: %v", err)
	}
}

func TestNewUsers(t *testing.T) {
	t.Parallel()
	alice, bob := cheapArgon2id(t, "alice's password"), cheapArgon2id(t, "bob's password")
	u, err := NewUsers(map[string]string{"bob": bob, "alice": alice})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(u.Names(), ","); got != "alice,bob" {
		t.Errorf("names %q, want sorted", got)
	}
	u.Names()[0] = "mallory"
	if u.Names()[0] != "alice" {
		t.Error("Names returns the table's own slice")
	}
	ctx := context.Background()
	if sub, err := u.Check(ctx, "bob", "bob's password"); sub != "bob" || err != nil {
		t.Errorf("bob: %q, %v", sub, err)
	}
	if sub, err := u.Check(ctx, "bob", "alice's password"); sub != "" || !errors.Is(err, ErrBadCredentials) {
		t.Errorf("bob with alice's password: %q, %v", sub, err)
	}
	for _, tc := range []struct {
		name  string
		users map[string]string
		msg   string
	}{
		{"bad name", map[string]string{"a:b": alice}, "the user name contains ':'"},
		{"empty name", map[string]string{"": alice}, "the user name is empty"},
		{"bad hash", map[string]string{"alice": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$notbase64!!"}, `user "alice": argon2id hash`},
		{"plain text", map[string]string{"alice": "hunter22"}, `user "alice": not an argon2id`},
	} {
		u, err := NewUsers(tc.users)
		if err == nil || u != nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, %v; want an error with %q", tc.name, u, err, tc.msg)
		}
		if err != nil && (strings.Contains(err.Error(), "notbase64") || strings.Contains(err.Error(), "hunter22")) {
			t.Errorf("%s: the error quotes the hash: %v", tc.name, err)
		}
	}
	u, err = NewUsers(nil)
	if err != nil || u.Len() != 0 {
		t.Fatalf("no users: %v, %v", u, err)
	}
	if _, err := u.Check(ctx, "", ""); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("an empty table: %v", err)
	}
	for _, o := range []Option{WithMaxConcurrent(0), WithMaxConcurrent(-1), nil} {
		if _, err := NewUsers(nil, o); !errors.Is(err, authkit.ErrInvalidConfig) {
			t.Errorf("a bad option: %v", err)
		}
	}
}

// recorder counts the hashes a table verifies and the classes it verified.
type recorder struct {
	mu      sync.Mutex
	classes []string
}

func (r *recorder) hook(h hash) {
	r.mu.Lock()
	r.classes = append(r.classes, h.class())
	r.mu.Unlock()
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.classes
	r.classes = nil
	return c
}

func TestCheck(t *testing.T) {
	t.Parallel()
	u, err := NewUsers(map[string]string{"alice": cheapArgon2id(t, "correct horse battery")})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	u.onVerify = rec.hook
	ctx := context.Background()
	const aliceClass = "argon2id m=64,t=1,p=1,l=32"

	if sub, err := u.Check(ctx, "alice", "correct horse battery"); err != nil || sub != "alice" {
		t.Errorf("alice, right password: %q, %v", sub, err)
	}
	if got := rec.take(); len(got) != 1 || got[0] != aliceClass {
		t.Errorf("verifications %q", got)
	}

	var wrong, unknown error
	for _, tc := range []struct {
		user, password string
		known          bool
	}{
		{"alice", "correct horse batter", true},
		{"alice", "", true},
		{"Alice", "correct horse battery", false},
		{"carol", "correct horse battery", false},
		{"", "", false},
	} {
		sub, err := u.Check(ctx, tc.user, tc.password)
		if !errors.Is(err, ErrBadCredentials) || sub != "" {
			t.Errorf("Check(%q, %q) = %q, %v; want ErrBadCredentials", tc.user, tc.password, sub, err)
		}
		if errors.Is(err, authkit.ErrNotFound) == tc.known {
			t.Errorf("Check(%q): %v matches ErrNotFound: %v", tc.user, err, !tc.known)
		}
		if errors.Is(err, authkit.ErrStoreUnavailable) || errors.Is(err, context.Canceled) {
			t.Errorf("Check(%q): %v would be answered 503", tc.user, err)
		}
		// Every refusal, known user or not, ran exactly one verification of
		// alice's kind and cost: the unknown ones against the dummy.
		if got := rec.take(); len(got) != 1 || got[0] != aliceClass {
			t.Errorf("Check(%q): verifications %q, want one %q", tc.user, got, aliceClass)
		}
		if tc.known {
			wrong = err
		} else {
			unknown = err
		}
	}
	if wrong.Error() != unknown.Error() {
		t.Errorf("the errors tell an unknown user (%q) from a wrong password (%q)", unknown, wrong)
	}

	// Over-long input is refused before any hashing; an unknown user's
	// refusal still matches ErrNotFound (found by review: not with an
	// over-long password).
	for _, tc := range []struct {
		user, password string
		known          bool
	}{
		{"alice", strings.Repeat("x", MaxPasswordLen+1), true},
		{"carol", strings.Repeat("x", MaxPasswordLen+1), false},
		{strings.Repeat("n", MaxUserNameLen+1), "correct horse battery", false},
	} {
		sub, err := u.Check(ctx, tc.user, tc.password)
		if !errors.Is(err, ErrBadCredentials) || sub != "" || errors.Is(err, authkit.ErrNotFound) == tc.known {
			t.Errorf("Check(%d-byte name, %d-byte password) = %q, %v; want ErrBadCredentials, matching ErrNotFound: %v", len(tc.user), len(tc.password), sub, err, !tc.known)
		}
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("over-long input was hashed: %q", got)
	}
}

// TestDummyHashMatchesUsers checks that an unknown user is checked against
// a hash of the class most users have, so a failed login costs the same
// whether or not the name exists.
func TestDummyHashMatchesUsers(t *testing.T) {
	t.Parallel()
	const (
		a1 = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"
		a2 = "$argon2id$v=19$m=128,t=3,p=2$c2FsdHNhbHRzYWx0c2FsdA$MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"
		b4 = "$2b$04$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"
	)
	for _, tc := range []struct{ file, want string }{
		{"a:" + a1 + "\nb:" + a2 + "\nc:" + a2 + "\n", "argon2id m=128,t=3,p=2,l=32"},
		{"a:" + a1 + "\nb:" + a2 + "\n", "argon2id m=64,t=1,p=1,l=32"},  // a tie: the first
		{"b:" + a2 + "\na:" + a1 + "\n", "argon2id m=128,t=3,p=2,l=32"}, // a tie: the first
		{"a:" + b4 + "\nb:" + b4 + "\nc:" + a1 + "\n", "bcrypt cost=4"},
		{"# none\n", "argon2id m=19456,t=2,p=1,l=32"}, // what Hash makes
	} {
		u, err := ParseUsers(strings.NewReader(tc.file))
		if err != nil {
			t.Fatal(err)
		}
		d := u.dummy
		if d.class() != tc.want {
			t.Errorf("%q: dummy class %q, want %q", tc.file, d.class(), tc.want)
		}
		checkDummy(t, d)
		rec := &recorder{}
		u.onVerify = rec.hook
		if _, err := u.Check(context.Background(), "nobody", "whatever"); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("unknown user: %v", err)
		}
		if got := rec.take(); len(got) != 1 || got[0] != tc.want {
			t.Errorf("%q: an unknown user verified %q, want one %q", tc.file, got, tc.want)
		}
	}
}

// checkDummy checks that d is a well-formed hash that verifying runs the
// whole algorithm on, and that no password tried matches.
func checkDummy(t *testing.T, d hash) {
	t.Helper()
	var enc string
	switch d := d.(type) {
	case *argon2Hash:
		enc = d.encode()
	case *bcryptHash:
		enc = string(d.encoded)
		// bcrypt answers a hash it cannot use with another error, at once;
		// ErrMismatchedHashAndPassword comes only after the computation.
		if err := bcrypt.CompareHashAndPassword(d.encoded, []byte("whatever")); err != bcrypt.ErrMismatchedHashAndPassword {
			t.Errorf("bcrypt on the dummy %s: %v, want a mismatch after hashing", enc, err)
		}
	}
	p, err := parseHash(enc)
	if err != nil || p.class() != d.class() {
		t.Errorf("the dummy %s does not parse back: %v", enc, err)
	}
	for _, pw := range []string{"", "whatever", "password"} {
		if d.verify([]byte(pw)) {
			t.Errorf("the dummy matches %q", pw)
		}
	}
}

func TestDummiesDiffer(t *testing.T) {
	t.Parallel()
	for _, like := range []string{
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY",
		"$2y$04$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
	} {
		h, err := parseHash(like)
		if err != nil {
			t.Fatal(err)
		}
		d1, err1 := dummyHash(h)
		d2, err2 := dummyHash(h)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if reflect.DeepEqual(d1, d2) || reflect.DeepEqual(d1, h) {
			t.Errorf("%s: the dummies are not random: %v %v", like, d1, d2)
		}
		if b, ok := d1.(*bcryptHash); ok && string(b.encoded[:7]) != "$2y$04$" {
			t.Errorf("the bcrypt dummy %s has another prefix or cost than %s", b.encoded, like)
		}
		checkDummy(t, d1)
	}
}

func TestCheckHonoursContext(t *testing.T) {
	t.Parallel()
	u, err := NewUsers(map[string]string{"u": cheapArgon2id(t, "password")}, WithMaxConcurrent(1))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	u.onVerify = rec.hook
	u.sem <- struct{}{} // the only slot busy

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := u.Check(ctx, "u", "password")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Check did not wait for a slot: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("a check waiting for a slot ignores its context: %v", err)
	}
	// Already ended: refused even before waiting.
	if _, err := u.Check(ctx, "nobody", "password"); !errors.Is(err, context.Canceled) {
		t.Errorf("an ended context: %v", err)
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("cancelled checks hashed: %q", got)
	}
	<-u.sem
	// Ended, with a slot free: refused too, nothing hashed.
	if _, err := u.Check(ctx, "u", "password"); !errors.Is(err, context.Canceled) {
		t.Errorf("an ended context, a slot free: %v", err)
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("a check with an ended context hashed: %q", got)
	}
	if sub, err := u.Check(context.Background(), "u", "password"); sub != "u" || err != nil {
		t.Errorf("after the slot is free: %q, %v", sub, err)
	}
}

func TestCheckConcurrencyBound(t *testing.T) {
	t.Parallel()
	const limit, callers = 3, 12
	u, err := NewUsers(map[string]string{"u": cheapArgon2id(t, "password")}, WithMaxConcurrent(limit), WithMaxPerUser(100))
	if err != nil {
		t.Fatal(err)
	}
	var inFlight, most, entered atomic.Int32
	release := make(chan struct{})
	u.onVerify = func(hash) {
		n := inFlight.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		entered.Add(1)
		<-release
		inFlight.Add(-1)
	}
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		wg.Go(func() {
			user := "u"
			if i%2 == 1 {
				user = "nobody" // the dummy takes a slot too
			}
			_, err := u.Check(context.Background(), user, "password")
			if user == "u" && err != nil || user != "u" && !errors.Is(err, ErrBadCredentials) {
				errs <- err
			}
		})
	}
	// Wait until the slots are full, then give the rest time to (wrongly)
	// get past the bound.
	for give := time.Now().Add(10 * time.Second); entered.Load() < limit; {
		if t.Failed() || time.Now().After(give) {
			t.Fatalf("%d of %d slots filled", entered.Load(), limit)
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if got := entered.Load(); got != limit {
		t.Errorf("%d verifications started with %d slots", got, limit)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a check: %v", err)
	}
	if got := most.Load(); got != limit {
		t.Errorf("at most %d verifications at once, want %d", got, limit)
	}
	if got := entered.Load(); got != callers {
		t.Errorf("%d verifications, want %d", got, callers)
	}
}

func TestCheckFreesSlotOnPanic(t *testing.T) {
	t.Parallel()
	u, err := NewUsers(map[string]string{"u": cheapArgon2id(t, "password")}, WithMaxConcurrent(1))
	if err != nil {
		t.Fatal(err)
	}
	u.onVerify = func(hash) { panic("boom") }
	func() {
		defer func() { _ = recover() }()
		u.Check(context.Background(), "u", "password")
	}()
	u.onVerify = nil
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if sub, err := u.Check(ctx, "u", "password"); sub != "u" || err != nil {
		t.Errorf("after a panic: %q, %v (the slot was not freed)", sub, err)
	}
}

func TestZeroUsersFailsClosed(t *testing.T) {
	t.Parallel()
	for _, u := range []*Users{nil, {}} {
		sub, err := u.Check(context.Background(), "alice", "password")
		if sub != "" || !errors.Is(err, authkit.ErrInvalidConfig) || errors.Is(err, ErrBadCredentials) {
			t.Errorf("%#v: %q, %v; want a configuration error", u, sub, err)
		}
		if u.Len() != 0 || u.Names() != nil {
			t.Errorf("%#v: Len %d, Names %q", u, u.Len(), u.Names())
		}
	}
}

func TestValidateUserName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"alice", "жанна", "a#b", "user@example.com", strings.Repeat("n", MaxUserNameLen)} {
		if err := ValidateUserName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for name, msg := range map[string]string{
		"":                                    "the user name is empty",
		strings.Repeat("n", MaxUserNameLen+1): "the user name is longer than 256 bytes",
		"a\xff":                               "the user name is not valid UTF-8",
		"#root":                               "the user name starts with '#'",
		"a:b":                                 "the user name contains ':', white space, a control character",
		"\u202eeve":                           "bidirectional control", // refused at every login (found by review)
		"a\u2066b":                            "bidirectional control",
		"a b":                                 "white space",
		"a\tb":                                "white space",
		"a\u2028b":                            "white space",
		"a\x00b":                              "control character",
		"a\u0085b":                            "control character",
		"al\u200bice":                         "invisible format character",
		"al\u200dice":                         "invisible format character",
		"alice\u2060":                         "invisible format character",
		"\ufeffalice":                         "invisible format character",
		"al\u00adice":                         "invisible format character",
	} {
		if err := ValidateUserName(name); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", name, err, msg)
		}
	}
}

// A line of exactly maxUsersLineBytes (without its line ending, "\n" or
// "\r\n") is within the bound the error states; one byte more is not.
func TestParseUsersLineBound(t *testing.T) {
	t.Parallel()
	at := "#" + strings.Repeat("c", maxUsersLineBytes-1)
	for _, end := range []string{"\n", "\r\n", ""} {
		if _, err := ParseUsers(strings.NewReader(at + end)); err != nil {
			t.Errorf("a %d-byte line ending %q: %v", len(at), end, err)
		}
		_, err := ParseUsers(strings.NewReader(at + "c" + end))
		if want := fmt.Sprintf("longer than %d bytes", maxUsersLineBytes); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("a %d-byte line ending %q: %v, want an error with %q", len(at)+1, end, err, want)
		}
	}
}

// TestLoadUsersRefusesCostlyHash: a users file line whose hash asks for
// more work than the bounds allow (here 1 GiB and 64 passes, which the
// bounds allowed before) is refused when the file is loaded,
// naming the file, the line, the user, the parameter and the bound.
func TestLoadUsersRefusesCostlyHash(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "users.txt")
	content := "alice:" + cheapArgon2id(t, "wonderland") + "\n" +
		"mallory:$argon2id$v=19$m=1048576,t=64,p=1$c2FsdHNhbHRzYWx0$MDEyMzQ1Njc4OWFiY2RlZg\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadUsers(path)
	want := path + `: users file line 2 (user "mallory"): argon2id hash: passes t=64 out of range: want 1 ≤ t ≤ 16`
	if err == nil || err.Error() != want {
		t.Errorf("LoadUsers = %v\nwant %s", err, want)
	}
	_, err = NewUsers(map[string]string{"bob": "$2b$16$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"})
	if want := `passwords: user "bob": bcrypt hash: cost 16 is above 14 (each step doubles the work)`; err == nil || err.Error() != want {
		t.Errorf("NewUsers = %v\nwant %s", err, want)
	}
}

func TestMaxWaitingOption(t *testing.T) {
	t.Parallel()
	enc := map[string]string{"u": cheapArgon2id(t, "password")}
	for _, tc := range []struct {
		name string
		opts []Option
		want int
	}{
		{"default: 4 per slot", []Option{WithMaxConcurrent(3)}, 12},
		{"set", []Option{WithMaxWaiting(5), WithMaxConcurrent(3)}, 5},
		{"set after the slots", []Option{WithMaxConcurrent(3), WithMaxWaiting(5)}, 5},
		{"none", []Option{WithMaxWaiting(0)}, 0},
		{"the last wins", []Option{WithMaxWaiting(0), WithMaxWaiting(7)}, 7},
	} {
		u, err := NewUsers(enc, tc.opts...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if u.maxWaiting != tc.want {
			t.Errorf("%s: at most %d waiting, want %d", tc.name, u.maxWaiting, tc.want)
		}
	}
	u, err := NewUsers(enc)
	if err != nil {
		t.Fatal(err)
	}
	if u.maxWaiting != 4*cap(u.sem) || u.maxWaiting < 8 {
		t.Errorf("default: %d waiting for %d slots", u.maxWaiting, cap(u.sem))
	}
	if _, err := NewUsers(enc, WithMaxWaiting(-1)); !errors.Is(err, authkit.ErrInvalidConfig) {
		t.Errorf("WithMaxWaiting(-1): %v", err)
	}
}

// holdSlots makes u's verifications block, once started, until release
// is called (at the latest when t ends, so that a test that fails while
// they are held does not hang the package); started receives one value
// per verification that starts and queued one per check that joins the
// queue.
func holdSlots(t *testing.T, u *Users) (started, queued chan struct{}, release func()) {
	started, queued = make(chan struct{}, 64), make(chan struct{}, 64)
	held := make(chan struct{})
	release = sync.OnceFunc(func() { close(held) })
	t.Cleanup(release)
	u.onVerify = func(hash) {
		started <- struct{}{}
		<-held
	}
	u.onWait = func() { queued <- struct{}{} }
	return started, queued, release
}

// checkRefused runs a check for user that is expected to be refused at
// once, aside, so that one wrongly let into the queue (onWait: queued)
// fails the test instead of blocking it.
func checkRefused(t *testing.T, u *Users, queued <-chan struct{}, user string) (string, error) {
	t.Helper()
	type result struct {
		sub string
		err error
	}
	res := make(chan result, 1)
	go func() {
		sub, err := u.Check(context.Background(), user, "password")
		res <- result{sub, err}
	}()
	select {
	case r := <-res:
		return r.sub, r.err
	case <-queued:
		t.Fatalf("%s: a check joined a full queue", user)
		return "", nil
	}
}

func TestCheckQueueBound(t *testing.T) {
	t.Parallel()
	const slots, waiting = 2, 3
	u, err := NewUsers(map[string]string{"u": cheapArgon2id(t, "password")}, WithMaxConcurrent(slots), WithMaxWaiting(waiting), WithMaxPerUser(100))
	if err != nil {
		t.Fatal(err)
	}
	started, queued, release := holdSlots(t, u)
	results := make(chan error, slots+waiting)
	check := func() {
		sub, err := u.Check(context.Background(), "u", "password")
		if err == nil && sub != "u" {
			err = fmt.Errorf("subject %q", sub)
		}
		results <- err
	}
	for range slots {
		go check()
	}
	for range slots {
		await(t, started, "a check taking a slot")
	}
	for range waiting {
		go check()
	}
	for range waiting {
		await(t, queued, "a check queueing")
	}
	// Every slot busy, the queue full: the next checks fail at once, for
	// a known or an unknown user, with ErrBusy and without hashing.
	for _, user := range []string{"u", "nobody"} {
		sub, err := checkRefused(t, u, queued, user)
		if sub != "" || !errors.Is(err, ErrBusy) || !errors.Is(err, authkit.ErrStoreUnavailable) ||
			errors.Is(err, ErrBadCredentials) || errors.Is(err, authkit.ErrNotFound) {
			t.Errorf("%s with the queue full: %q, %v; want ErrBusy", user, sub, err)
		}
		if err != nil && err.Error() != "passwords: too many password checks are waiting; try later" {
			t.Errorf("ErrBusy reads %q", err)
		}
	}
	if n := len(started); n != 0 {
		t.Errorf("%d more verifications started with every slot held", n)
	}
	release()
	for range slots + waiting {
		if err := <-results; err != nil {
			t.Errorf("a check admitted to a slot or the queue: %v", err)
		}
	}
	if n := len(started); n != waiting {
		t.Errorf("%d queued checks verified, want %d", n, waiting)
	}
	if n := u.waiting.Load(); n != 0 {
		t.Errorf("%d checks still counted as waiting", n)
	}
	if sub, err := u.Check(context.Background(), "u", "password"); sub != "u" || err != nil {
		t.Errorf("after the flood: %q, %v", sub, err)
	}
}

func TestCheckNoQueue(t *testing.T) {
	t.Parallel()
	u, err := NewUsers(map[string]string{"u": cheapArgon2id(t, "password")}, WithMaxConcurrent(1), WithMaxWaiting(0))
	if err != nil {
		t.Fatal(err)
	}
	started, queued, release := holdSlots(t, u)
	done := make(chan error, 1)
	go func() {
		_, err := u.Check(context.Background(), "u", "password")
		done <- err
	}()
	<-started
	if _, err := checkRefused(t, u, queued, "u"); !errors.Is(err, ErrBusy) {
		t.Errorf("no queue, the slot busy: %v; want ErrBusy", err)
	}
	release()
	if err := <-done; err != nil {
		t.Errorf("the check in the slot: %v", err)
	}
	// With the slot free, a check runs without waiting.
	if sub, err := u.Check(context.Background(), "u", "password"); sub != "u" || err != nil {
		t.Errorf("the slot free: %q, %v", sub, err)
	}
}

// TestCheckQueuedCancel: a check waiting in the queue returns when its
// context ends, and gives its place back.
func TestCheckQueuedCancel(t *testing.T) {
	t.Parallel()
	u, err := NewUsers(map[string]string{"u": cheapArgon2id(t, "password")}, WithMaxConcurrent(1), WithMaxWaiting(1))
	if err != nil {
		t.Fatal(err)
	}
	started, queued, release := holdSlots(t, u)
	first := make(chan error, 1)
	go func() {
		_, err := u.Check(context.Background(), "u", "password")
		first <- err
	}()
	<-started

	ctx, cancel := context.WithCancel(context.Background())
	waiter := make(chan error, 1)
	go func() {
		_, err := u.Check(ctx, "nobody", "password")
		waiter <- err
	}()
	<-queued
	if _, err := checkRefused(t, u, queued, "u"); !errors.Is(err, ErrBusy) {
		t.Errorf("the queue of 1 full: %v; want ErrBusy", err)
	}
	cancel()
	if err := <-waiter; !errors.Is(err, context.Canceled) || errors.Is(err, ErrBusy) {
		t.Errorf("a queued check whose context ended: %v; want context.Canceled", err)
	}
	// Its place is free again: the next check queues instead of failing.
	second := make(chan error, 1)
	go func() {
		_, err := u.Check(context.Background(), "u", "password")
		second <- err
	}()
	select {
	case <-queued:
	case err := <-second:
		t.Fatalf("after the cancelled check left the queue: %v; want a place in it", err)
	}
	release()
	for _, c := range []chan error{first, second} {
		if err := <-c; err != nil {
			t.Errorf("a check: %v", err)
		}
	}
	if n := len(started); n != 1 {
		t.Errorf("%d verifications after the first, want 1 (the cancelled check hashed?)", n)
	}
}

// await receives from ch, failing the test if nothing comes within 10
// seconds (a check that returned early never signals).
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: nothing within 10s", what)
		panic("unreachable")
	}
}

// commentReader yields n bytes of 64-byte comment lines without holding
// them.
type commentReader struct{ n, off int }

func (r *commentReader) Read(p []byte) (int, error) {
	if r.off == r.n {
		return 0, io.EOF
	}
	k := min(len(p), r.n-r.off)
	for i := range k {
		p[i] = '#'
		if (r.off+i)%64 == 63 {
			p[i] = '\n'
		}
	}
	r.off += k
	return k, nil
}

// ParseUsers reads a file line by line: a file at the limit costs its
// longest line, not the file (it read the whole file before, and the
// copies of its growth).
//
// Not parallel: it counts the bytes the whole process allocates.
func TestParseUsersMemory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	u, err := ParseUsers(&commentReader{n: maxUsersFileBytes})
	runtime.ReadMemStats(&after)
	if err != nil || u.Len() != 0 {
		t.Fatalf("%d bytes of comments: %v, %v", maxUsersFileBytes, u, err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("a %d-byte file allocated %d bytes, want at most 1 MiB", maxUsersFileBytes, got)
	}
	// The reader makes what it says.
	data, _ := io.ReadAll(&commentReader{n: 1000})
	if len(data) != 1000 || bytes.Count(data, []byte("\n")) != 15 || data[127] != '\n' {
		t.Errorf("commentReader: %d bytes, %d lines", len(data), bytes.Count(data, []byte("\n")))
	}
}

// One user name has at most WithMaxPerUser checks running or waiting
// (default: half the places); another user still gets into the queue
// (found by review: one account's correct logins, sent at once from a few
// addresses, kept the shared queue full and everyone else got 503).
func TestCheckPerUserBound(t *testing.T) {
	t.Parallel()
	enc := map[string]string{"u": cheapArgon2id(t, "password")}
	for _, c := range []struct {
		opts []Option
		want int
	}{
		{[]Option{WithMaxConcurrent(2), WithMaxWaiting(8)}, 5},
		{[]Option{WithMaxConcurrent(2)}, 5}, // 2 slots, 8 waiting by default
		{[]Option{WithMaxConcurrent(1), WithMaxWaiting(0)}, 2},
		{[]Option{WithMaxConcurrent(16), WithMaxWaiting(0), WithMaxPerUser(3)}, 3},
	} {
		u, err := NewUsers(enc, c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if u.perUser != c.want {
			t.Errorf("%d slots, %d waiting: %d checks per user, want %d", cap(u.sem), u.maxWaiting, u.perUser, c.want)
		}
	}
	u, err := NewUsers(map[string]string{"alice": cheapArgon2id(t, "password"), "bob": cheapArgon2id(t, "password")},
		WithMaxConcurrent(1), WithMaxWaiting(8), WithMaxPerUser(2))
	if err != nil {
		t.Fatal(err)
	}
	started, queued, release := holdSlots(t, u)
	results := make(chan error, 3)
	check := func(user string) {
		sub, err := u.Check(context.Background(), user, "password")
		if err == nil && sub != user {
			err = fmt.Errorf("subject %q", sub)
		}
		results <- err
	}
	go check("alice")
	<-started // alice's first check holds the slot
	go check("alice")
	<-queued // her second waits
	if _, err := checkRefused(t, u, queued, "alice"); !errors.Is(err, ErrBusy) {
		t.Errorf("alice's third check at once: %v, want ErrBusy", err)
	}
	go check("bob")
	select {
	case <-queued: // bob waits for the slot, as he should
	case err := <-results:
		t.Fatalf("bob's check returned %v instead of waiting", err)
	case <-time.After(10 * time.Second):
		t.Fatal("bob's check neither waited nor returned")
	}
	release()
	for range 3 {
		if err := <-results; err != nil {
			t.Errorf("a check: %v", err)
		}
	}
	// The count goes back down: alice may check again.
	if sub, err := u.Check(context.Background(), "alice", "password"); err != nil || sub != "alice" {
		t.Errorf("alice afterwards: %q, %v", sub, err)
	}
	if len(u.active) != 0 {
		t.Errorf("%d names still counted after every check ended", len(u.active))
	}
	if _, err := NewUsers(map[string]string{"u": cheapArgon2id(t, "password")}, WithMaxPerUser(0)); !errors.Is(err, authkit.ErrInvalidConfig) {
		t.Errorf("WithMaxPerUser(0): %v", err)
	}

	// A check that ends counts one out, not the name's every check: with
	// one of two still running, one more is let in, and no second.
	if !u.enter("alice") || !u.enter("alice") || u.enter("alice") {
		t.Fatal("two checks of alice not let in, or a third let in")
	}
	u.leave("alice")
	if !u.enter("alice") {
		t.Error("a check of alice refused with one of two running")
	}
	if u.enter("alice") {
		t.Error("a third check of alice let in after one of two ended: WithMaxPerUser(2) exceeded")
	}
	u.leave("alice")
	u.leave("alice")
	if len(u.active) != 0 {
		t.Errorf("%d names still counted", len(u.active))
	}
}
