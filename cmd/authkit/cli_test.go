package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// syncBuffer is an io.Writer safe for the concurrent writes of a running
// server and the reads of a test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls b until it contains s, or fails the test.
func (b *syncBuffer) waitFor(t *testing.T, s string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := b.String()
		if strings.Contains(out, s) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %q; output so far:\n%s", timeout, s, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the program in-process, as main does.
func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runCLIIn(t, cheapHashing(context.Background()), stdin, args...)
}

// runCLIFullCost is runCLI with the hashes a command run from the shell
// makes (runCLI's are cheap: cheapHashing).
func runCLIFullCost(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runCLIIn(t, context.Background(), stdin, args...)
}

func runCLIIn(t *testing.T, ctx context.Context, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	code := run(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// cheapHashing makes the users commands and serve's demo user, run with
// the returned context, hash passwords at the least cost a users file
// accepts (argon2id with 64 KiB and one pass, bcrypt cost 4) instead of
// the production cost: under -race those took most of this package's
// CPU time. The hashes' own tests (TestUsersAddArgon2id, TestUsersAddBcrypt,
// TestHashRoundTrip) hash at full cost.
func cheapHashing(ctx context.Context) context.Context {
	return context.WithValue(ctx, hashingKey{}, func(algo string, password []byte) (string, error) {
		if len(password) == 0 || len(password) > maxPasswordLen || algo == algoBcrypt && len(password) > 72 {
			// Refused by package passwords before any hashing, with its
			// own words.
			return hashPassword(context.Background(), algo, password)
		}
		switch algo {
		case algoArgon2id:
			salt := make([]byte, 16)
			rand.Read(salt)
			key := argon2.IDKey(password, salt, 1, 64, 1, 32)
			b64 := base64.RawStdEncoding
			return fmt.Sprintf("$argon2id$v=%d$m=64,t=1,p=1$%s$%s", argon2.Version, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
		case algoBcrypt:
			b, err := bcrypt.GenerateFromPassword(password, bcrypt.MinCost)
			return string(b), err
		}
		return hashPassword(context.Background(), algo, password)
	})
}

func (r result) must(t *testing.T, code int, inStdout, inStderr []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range inStdout {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
	for _, s := range inStderr {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
}

func TestHelpAndUsage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		args     []string
		code     int
		inStdout []string
		inStderr []string
	}{
		{"no command", nil, exitUsage, nil, []string{"Usage:", "serve", "keygen", "inspect"}},
		{"help", []string{"help"}, exitOK, []string{"Commands:", "users", "migrate"}, nil},
		{"-h", []string{"-h"}, exitOK, []string{"Commands:"}, nil},
		{"help serve", []string{"help", "serve"}, exitOK, []string{"Usage: authkit serve", "-access-ttl", "AUTHKIT_ACCESS_TTL", "AUTHKIT_STORE"}, nil},
		{"help users", []string{"help", "users"}, exitOK, []string{"users add NAME", "-algo"}, nil},
		{"help keygen", []string{"help", "keygen"}, exitOK, []string{"-alg", "-public", "EdDSA"}, nil},
		{"help inspect", []string{"help", "inspect"}, exitOK, []string{"WITHOUT verifying", "-jwks"}, nil},
		{"help migrate", []string{"help", "migrate"}, exitOK, []string{"authkit migrate --store DSN", "-store DSN", "AUTHKIT_STORE"}, nil},
		{"serve -h", []string{"serve", "-h"}, exitOK, nil, []string{"Usage: authkit serve", "-users"}},
		{"inspect -h", []string{"inspect", "-h"}, exitOK, nil, []string{"Usage: authkit inspect"}},
		{"help unknown", []string{"help", "frobnicate"}, exitUsage, nil, []string{`unknown command "frobnicate"`}},
		{"unknown command", []string{"frobnicate"}, exitUsage, nil, []string{`unknown command "frobnicate"`, "Commands:"}},
		{"bad flag", []string{"keygen", "--nope"}, exitUsage, nil, []string{"flag provided but not defined: -nope", "Usage: authkit keygen"}},
		{"stray argument", []string{"serve", "extra"}, exitUsage, nil, []string{`serve takes no arguments (got "extra")`, "authkit serve -h"}},
		{"stray DSN", []string{"serve", "postgres://u:S3CRET@127.0.0.1/x"}, exitUsage, nil, []string{`serve takes no arguments (got a URL or DSN, not shown`}},
		{"stray MySQL DSN", []string{"serve", "u:S3CRET@tcp(127.0.0.1)/x"}, exitUsage, nil, []string{`serve takes no arguments (got a URL or DSN, not shown`}},
		{"migrate without store", []string{"migrate"}, exitUsage, nil, []string{"migrate needs --store (or AUTHKIT_STORE)"}},
		{"migrate memory", []string{"migrate", "--store", "memory"}, exitUsage, nil, []string{"--store must be a SQL store"}},
		{"migrate redis", []string{"migrate", "--store", "redis://127.0.0.1:1/0"}, exitUsage, nil, []string{"--store must be a SQL store"}},
		{"migrate memory, old spelling", []string{"migrate", "--dsn", "memory"}, exitUsage, nil, []string{"--dsn is deprecated; use --store", "--store must be a SQL store"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "", tc.args...)
			r.must(t, tc.code, tc.inStdout, tc.inStderr)
			if strings.Contains(r.stdout+r.stderr, "S3CRET") {
				t.Errorf("a password in a stray argument was printed:\n%s%s", r.stdout, r.stderr)
			}
		})
	}
}

func TestUnknownCommandIsQuotedAndCut(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "", "\x1b[31m"+strings.Repeat("x", 500))
	if r.code != exitUsage || strings.Contains(r.stderr, "\x1b") || strings.Contains(r.stderr, strings.Repeat("x", 100)) {
		t.Fatalf("unsafe echo of the command name (status %d):\n%q", r.code, r.stderr)
	}
}

func TestParseArgsInterspersed(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args    []string
		wantPos []string
		wantA   string
		wantB   bool
	}{
		{[]string{"add", "alice", "--a", "x", "-b"}, []string{"add", "alice"}, "x", true},
		{[]string{"--a=y", "add", "alice"}, []string{"add", "alice"}, "y", false},
		{[]string{"add", "--", "-b", "--a"}, []string{"add", "-b", "--a"}, "", false},
		{nil, nil, "", false},
	}
	for _, tc := range cases {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		a := fs.String("a", "", "")
		b := fs.Bool("b", false, "")
		pos, err := parseArgs(fs, tc.args)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if strings.Join(pos, "|") != strings.Join(tc.wantPos, "|") || *a != tc.wantA || *b != tc.wantB {
			t.Errorf("%q: got %q a=%q b=%v; want %q a=%q b=%v", tc.args, pos, *a, *b, tc.wantPos, tc.wantA, tc.wantB)
		}
	}
}

func TestDurationFlag(t *testing.T) {
	t.Parallel()
	good := map[string]time.Duration{"90s": 90 * time.Second, "15m": 15 * time.Minute, "14d": 14 * 24 * time.Hour, "1h30m": 90 * time.Minute}
	for in, want := range good {
		if d, err := parseDuration(in); err != nil || d != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, d, err, want)
		}
	}
	for _, in := range []string{"", "0", "-5m", "0d", "-1d", "1.5d", "d", "14 d", "99999999d", "abc"} {
		if d, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", in, d)
		}
	}
	if got := formatDuration(14 * 24 * time.Hour); got != "14d" {
		t.Errorf("formatDuration(14 days) = %q", got)
	}
	if got := formatDuration(5 * time.Minute); got != "5m0s" {
		t.Errorf("formatDuration(5m) = %q", got)
	}
}

// TestServeEnvironment checks that AUTHKIT_* variables configure serve and
// that a flag wins over its variable. Not parallel: it sets the environment.
func TestServeEnvironment(t *testing.T) {
	t.Setenv("AUTHKIT_ACCESS_TTL", "2m")
	t.Setenv("AUTHKIT_ISSUER", "https://env.example")
	t.Setenv("AUTHKIT_AUDIENCE", "a, b ,")
	t.Setenv("AUTHKIT_ADDR", "127.0.0.1:1")
	t.Setenv("AUTHKIT_LOG_FORMAT", "json")
	c := &cli{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, lookupEnv: os.LookupEnv}
	cfg, err := c.parseServe([]string{"--issuer", "https://flag.example"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.accessTTL != 2*time.Minute || cfg.issuer != "https://flag.example" || cfg.addr != "127.0.0.1:1" ||
		strings.Join(cfg.audience, "|") != "a|b" || cfg.logFormat != "json" || cfg.refreshTTL != 14*24*time.Hour {
		t.Errorf("got %+v", cfg)
	}

	t.Setenv("AUTHKIT_ACCESS_TTL", "soon")
	r := runCLI(t, "", "serve")
	r.must(t, exitUsage, nil, []string{"environment variable AUTHKIT_ACCESS_TTL: not a valid value for --access-ttl"})
	if strings.Contains(r.stderr, "soon") {
		t.Errorf("the variable's value was echoed: %s", r.stderr)
	}

	t.Setenv("AUTHKIT_ACCESS_TTL", "")
	t.Setenv("AUTHKIT_STORE", "postgres://authkit:hunter2@127.0.0.1:1/authkit?connect_timeout=2")
	r = runCLI(t, "", "serve", "--addr", "127.0.0.1:0")
	r.must(t, exitFailure, nil, []string{"--store", "store unavailable"})
	if strings.Contains(r.stderr, "hunter2") || strings.Contains(r.stdout, "hunter2") {
		t.Errorf("the DSN's password was printed: %s", r.stderr)
	}
}

// runEnv runs the program in-process with env as its whole environment.
func runEnv(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, lookupEnv: mapEnv(env)}
	code := c.main(ctx, args)
	return result{code, out.String(), errOut.String()}
}

func mapEnv(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// TestStoreSpellings checks that serve and migrate name the store the same
// way: --store or AUTHKIT_STORE, with the deprecated --dsn and AUTHKIT_DSN
// still accepted (and warned about), a flag winning over the environment,
// and two spellings that disagree refused without echoing either value.
func TestStoreSpellings(t *testing.T) {
	t.Parallel()
	const (
		a = "postgres://u:s3cret-a@127.0.0.1:1/a?sslmode=disable&connect_timeout=2"
		b = "postgres://u:s3cret-b@127.0.0.1:1/b?sslmode=disable&connect_timeout=2"
	)
	cases := []struct {
		name     string
		args     []string
		env      map[string]string
		want     string // the store; "" when the command line is refused
		warning  string
		conflict string
	}{
		{"default", nil, nil, "memory", "", ""},
		{"--store", []string{"--store", a}, nil, a, "", ""},
		{"--dsn", []string{"--dsn", a}, nil, a, "--dsn is deprecated; use --store", ""},
		{"both flags, one value", []string{"--store", a, "--dsn=" + a}, nil, a, "--dsn is deprecated", ""},
		{"both flags, two values", []string{"--store", a, "--dsn", b}, nil, "", "", "--store and --dsn (its deprecated spelling) name different stores"},
		{"AUTHKIT_STORE", nil, map[string]string{"AUTHKIT_STORE": a}, a, "", ""},
		{"AUTHKIT_DSN", nil, map[string]string{"AUTHKIT_DSN": a}, a, "AUTHKIT_DSN is deprecated; use AUTHKIT_STORE", ""},
		{"both variables, one value", nil, map[string]string{"AUTHKIT_STORE": a, "AUTHKIT_DSN": a}, a, "AUTHKIT_DSN is deprecated", ""},
		{"both variables, two values", nil, map[string]string{"AUTHKIT_STORE": a, "AUTHKIT_DSN": b}, "", "",
			"the environment variables AUTHKIT_STORE and AUTHKIT_DSN (its deprecated spelling) name different stores"},
		// Set but empty is refused, not taken for the memory store: each
		// replica would keep its own revocations.
		{"empty AUTHKIT_STORE", nil, map[string]string{"AUTHKIT_STORE": ""}, "", "", "the environment variable AUTHKIT_STORE is set but empty"},
		{"empty AUTHKIT_DSN", nil, map[string]string{"AUTHKIT_DSN": ""}, "", "", "the environment variable AUTHKIT_DSN is set but empty"},
		{"empty --store", []string{"--store="}, nil, "", "", "--store is set but empty"},
		{"--store wins over AUTHKIT_DSN", []string{"--store", a}, map[string]string{"AUTHKIT_DSN": b}, a, "", ""},
		{"--dsn wins over AUTHKIT_STORE", []string{"--dsn", a}, map[string]string{"AUTHKIT_STORE": b}, a, "--dsn is deprecated", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &cli{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, lookupEnv: mapEnv(tc.env)}
			cfg, err := c.parseServe(tc.args)
			if tc.conflict != "" {
				var ue *usageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.conflict) {
					t.Fatalf("serve: %v, want a usage error saying %q", err, tc.conflict)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("serve: the conflict echoes a DSN: %v", err)
				}
			} else {
				if err != nil {
					t.Fatalf("serve: %v", err)
				}
				if cfg.store != tc.want {
					t.Errorf("serve: store %q, want %q", cfg.store, tc.want)
				}
				if got := strings.Join(cfg.warnings, "; "); tc.warning == "" && got != "" || !strings.Contains(got, tc.warning) {
					t.Errorf("serve: warnings %q, want %q", got, tc.warning)
				}
			}

			// migrate resolves the same way; these stores are unreachable
			// PostgreSQL servers or memory, so it fails after resolving,
			// saying which store kind it got.
			r := runEnv(t, tc.env, append([]string{"migrate"}, tc.args...)...)
			if strings.Contains(r.stderr, "s3cret") || strings.Contains(r.stdout, "s3cret") {
				t.Errorf("migrate: a DSN password reached the output: %s", r.stderr)
			}
			switch {
			case tc.conflict != "":
				r.must(t, exitUsage, nil, []string{tc.conflict})
			case tc.want == "memory": // migrate has no default store
				r.must(t, exitUsage, nil, []string{"migrate needs --store (or AUTHKIT_STORE)"})
			default:
				r.must(t, exitFailure, nil, []string{"migrate:"})
			}
			if tc.warning != "" && !strings.Contains(r.stderr, "warning: "+tc.warning) {
				t.Errorf("migrate: no deprecation warning %q:\n%s", tc.warning, r.stderr)
			}
			if tc.warning == "" && strings.Contains(r.stderr, "warning:") {
				t.Errorf("migrate: an unexpected deprecation warning:\n%s", r.stderr)
			}
		})
	}
}

// The deprecated --dsn is accepted but not listed as a flag.
func TestStoreHelpShowsOneSpelling(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"serve", "migrate"} {
		r := runCLI(t, "", "help", cmd)
		r.must(t, exitOK, []string{"-store ", "(env AUTHKIT_STORE)"}, nil)
		if text := strings.Join(strings.Fields(r.stdout), " "); !strings.Contains(text, "--dsn and AUTHKIT_DSN are still accepted but deprecated") {
			t.Errorf("help %s does not mention the deprecated spellings:\n%s", cmd, r.stdout)
		}
		if strings.Contains(r.stdout, "  -dsn") || strings.Contains(r.stdout, "(env AUTHKIT_DSN)") {
			t.Errorf("help %s lists the deprecated --dsn as a flag:\n%s", cmd, r.stdout)
		}
	}
}

// migrate applies the migrations with either spelling, and serve then runs
// on the migrated database.
func TestMigrateSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	oldDB, newDB := "sqlite:"+filepath.Join(dir, "old.db"), "sqlite:"+filepath.Join(dir, "new.db")
	runCLI(t, "", "migrate", "--dsn", oldDB).must(t, exitOK, []string{"migrations applied"}, []string{"warning: --dsn is deprecated; use --store"})
	r := runEnv(t, map[string]string{"AUTHKIT_STORE": newDB}, "migrate")
	r.must(t, exitOK, []string{"migrations applied"}, nil)
	if r.stderr != "" {
		t.Errorf("migrate with AUTHKIT_STORE wrote to standard error: %s", r.stderr)
	}
	runCLI(t, "", "migrate", "--store", newDB).must(t, exitOK, []string{"migrations applied"}, nil) // idempotent
	for _, args := range [][]string{{"--store", newDB}, {"--dsn", oldDB}} {
		s := startServe(t, "", args...)
		s.do(t, "GET", "/healthz", "", nil).want(t, "healthz with "+args[0], 200)
		if code := s.stop(t); code != exitOK {
			t.Errorf("serve %s: exit status %d\n%s", args[0], code, s.stderr)
		}
		if warned := strings.Contains(s.stderr.String(), `level=WARN msg="--dsn is deprecated; use --store"`); warned != (args[0] == "--dsn") {
			t.Errorf("serve %s: deprecation warning logged: %v\n%s", args[0], warned, s.stderr)
		}
	}
}

// TestServeEmptyFiles: a users or keys file given empty, on the command
// line or by a variable set but empty (a compose file's ${USERS} with USERS
// unset), is refused rather than taken for the default, which is the demo
// user (its password printed to the logs) or a fresh key of the process's
// own (found by review).
func TestServeEmptyFiles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, map[string]string{"AUTHKIT_USERS": ""}, "the environment variable AUTHKIT_USERS is set but empty"},
		{nil, map[string]string{"AUTHKIT_KEYS": ""}, "the environment variable AUTHKIT_KEYS is set but empty"},
		{[]string{"--users", ""}, nil, "--users is set but empty"},
		{[]string{"--keys="}, nil, "--keys is set but empty"},
	} {
		c := &cli{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, lookupEnv: mapEnv(tc.env)}
		_, err := c.parseServe(tc.args)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve %q with %v: %v, want a usage error saying %q", tc.args, tc.env, err, tc.want)
		}
	}
	// users too.
	for _, args := range [][]string{{"users", "list"}, {"users", "add", "alice"}} {
		runEnv(t, map[string]string{"AUTHKIT_USERS": ""}, args...).must(t, exitUsage, nil, []string{"the environment variable AUTHKIT_USERS is set but empty"})
		runEnv(t, nil, append(args, "--file", "")...).must(t, exitUsage, nil, []string{"--file is set but empty"})
	}
	// Other variables set but empty still count as unset.
	c := &cli{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, lookupEnv: mapEnv(map[string]string{"AUTHKIT_ISSUER": "", "AUTHKIT_ACCESS_TTL": ""})}
	if cfg, err := c.parseServe(nil); err != nil || cfg.accessTTL != 5*time.Minute {
		t.Errorf("serve with empty AUTHKIT_ISSUER and AUTHKIT_ACCESS_TTL: %v (access TTL %v), want the defaults", err, cfg.accessTTL)
	}
}

// Lifetimes valid together parse, however they stand against the
// library's defaults (found by review: each flag was checked against the
// others' defaults, and --refresh-ttl 1d --session-lifetime 7d was
// refused); each alone out of range, or the three out of order, is a
// usage error.
func TestServeLifetimeFlags(t *testing.T) {
	t.Parallel()
	c := &cli{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, lookupEnv: func(string) (string, bool) { return "", false }}
	for _, args := range [][]string{
		{"--access-ttl", "1m", "--refresh-ttl", "2m"},
		{"--refresh-ttl", "100d", "--session-lifetime", "120d"},
		{"--refresh-ttl", "1d", "--session-lifetime", "7d"},
		{"--access-ttl", "20h", "--refresh-ttl", "1d", "--session-lifetime", "1d"},
	} {
		if _, err := c.parseServe(args); err != nil {
			t.Errorf("%q: %v", args, err)
		}
	}
	for _, args := range [][]string{
		{"--access-ttl", "25h"},
		{"--refresh-ttl", "1d", "--session-lifetime", "12h"},
		{"--access-ttl", "2h", "--refresh-ttl", "1h"},
	} {
		if _, err := c.parseServe(args); !errors.As(err, new(*usageError)) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}

// A listen address serve cannot use is a mistake on the command line
// (exit 2), found before the store is opened or migrated (found by review:
// exit 1 after --migrate had created the database).
func TestServeBadAddrBeforeStore(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"127.0.0.1:99999", "127.0.0.1", "127.0.0.1:-1", "127.0.0.1:nosuchservice", "nosuch.invalid:8080"} {
		db := filepath.Join(t.TempDir(), "late.db")
		r := runCLI(t, "", "serve", "--addr", addr, "--store", "sqlite:"+db, "--migrate")
		r.must(t, exitUsage, nil, []string{"--addr: "})
		if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("--addr %s: the store was opened first (%v)", addr, err)
		}
	}
	if err := checkListenAddr(":0"); err != nil {
		t.Errorf(":0: %v", err)
	}
	if err := checkListenAddr("[::1]:8080"); err != nil {
		t.Errorf("[::1]:8080: %v", err)
	}
}

// A MySQL DSN parameter the driver refuses is named, not withheld as if
// the server were down (found by review: tls=bogus read "*errors.errorString
// (message withheld)").
func TestMigrateNamesBadMySQLParameter(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "", "migrate", "--store", "mysql://root:hunter2@127.0.0.1:1/test?tls=bogus")
	r.must(t, exitFailure, nil, []string{"invalid configuration: the MySQL DSN's parameters: ", "bogus"})
	if strings.Contains(r.stderr, "hunter2") || strings.Contains(r.stderr, "unavailable") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}
