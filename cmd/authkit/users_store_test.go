package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/testservers"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/verifier"
)

// userCredentials are the tokens usersStoreFixture makes in a store: a
// user's session and API token, another user's session, a client's own
// token whose subject is the first user's name.
type userCredentials struct {
	iss                 *issuer.Issuer
	ver                 *verifier.Verifier
	later               *verifier.Verifier // at now + 23h
	user, other, client authkit.TokenPair
	api                 string
}

// usersStoreFixture opens spec as serve would and makes credentials for
// name in it through an issuer whose access tokens live 24 hours, the
// longest serve allows, with a verifier at the present and one 23 hours on.
func usersStoreFixture(t *testing.T, spec, name string) *userCredentials {
	t.Helper()
	ctx := context.Background()
	st, err := openStore(ctx, spec, false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if st.close != nil {
		t.Cleanup(func() { st.close() })
	}
	set, err := throwawayKeys()
	if err != nil {
		t.Fatal(err)
	}
	c := &userCredentials{}
	if c.iss, err = issuer.New(authkit.WithKeys(set), authkit.WithStore(st.store), authkit.WithAccessTTL(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if c.ver, err = verifier.New(authkit.WithKeys(set), authkit.WithStore(st.store)); err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return time.Now().Add(23 * time.Hour) }
	if c.later, err = verifier.New(authkit.WithKeys(set), authkit.WithStore(st.store), authkit.WithClock(later)); err != nil {
		t.Fatal(err)
	}
	if c.user, err = c.iss.IssuePair(ctx, name); err != nil {
		t.Fatal(err)
	}
	if c.other, err = c.iss.IssuePair(ctx, name+"-other"); err != nil {
		t.Fatal(err)
	}
	if c.api, _, err = c.iss.CreateAPIToken(ctx, name, "ci"); err != nil {
		t.Fatal(err)
	}
	if c.client, err = c.iss.IssueAccessToken(ctx, name, issuer.WithClientID(name)); err != nil {
		t.Fatal(err)
	}
	return c
}

// mustBeEnded checks that name's credentials no longer work, now and 23
// hours on (an access token of serve's longest --access-ttl), while the
// other user's session still works. A client whose ID is the name loses
// the access tokens it has (the logout-all cutoff that ends the ended
// sessions' access tokens cannot tell them apart); it gets new ones.
func (c *userCredentials) mustBeEnded(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for what, tok := range map[string]string{"access token": c.user.AccessToken, "API token": c.api} {
		if _, err := c.ver.Verify(ctx, tok); err == nil {
			t.Errorf("the user's %s verifies after its credentials were ended", what)
		}
	}
	if _, err := c.later.Verify(ctx, c.user.AccessToken); err == nil {
		t.Error("the user's 24-hour access token verifies 23 hours later: the session's revocation was remembered for less than serve's longest --access-ttl")
	}
	if _, err := c.iss.Refresh(ctx, c.user.RefreshToken); err == nil {
		t.Error("the user's session refreshes after its credentials were ended")
	}
	if _, err := c.ver.Verify(ctx, c.other.AccessToken); err != nil {
		t.Errorf("another user lost its session: %v", err)
	}
}

func (c *userCredentials) mustWork(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for what, tok := range map[string]string{"access token": c.user.AccessToken, "API token": c.api} {
		if _, err := c.ver.Verify(ctx, tok); err != nil {
			t.Errorf("the user's %s: %v", what, err)
		}
	}
}

// usersFileWith returns a users file of t's own holding names, each with
// the password "a long password" hashed with bcrypt.
func usersFileWith(t *testing.T, names ...string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "users.txt")
	key := strings.Join(names, "\x00")
	if raw, ok := usersFiles.Load(key); ok {
		if err := os.WriteFile(file, raw.([]byte), 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	for _, n := range names {
		runCLI(t, "a long password\n", "users", "add", n, "--file", file, "--algo", "bcrypt").must(t, exitOK, nil, nil)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	usersFiles.Store(key, raw)
	return file
}

// usersFiles keeps the users files usersFileWith wrote, by their names, so
// that the next test asking for the same users gets a copy instead of a
// bcrypt hash per user (seconds each under -race).
var usersFiles sync.Map

// A user removed while no serve runs loses its sessions and API tokens
// with "users remove --store" (before, they stayed in the store and came
// back with the name); a changed password ends them too, and "users
// revoke" ends them without touching the file. On every kind of store
// serve runs on.
func TestUsersCommandsEndCredentialsInStore(t *testing.T) {
	stores := map[string]func(t *testing.T) string{
		"sqlite": migratedSQLite,
		"postgres": func(t *testing.T) string {
			dsn := testservers.Postgres(t)
			runCLI(t, "", "migrate", "--store", dsn).must(t, exitOK, []string{"migrations applied"}, nil)
			return dsn
		},
		"mysql": func(t *testing.T) string {
			cfg, err := mysql.ParseDSN(testservers.MySQL(t))
			if err != nil {
				t.Fatal(err)
			}
			dsn := (&url.URL{Scheme: "mysql", User: url.User(cfg.User), Host: cfg.Addr, Path: "/" + cfg.DBName}).String()
			if cfg.Passwd != "" {
				dsn = (&url.URL{Scheme: "mysql", User: url.UserPassword(cfg.User, cfg.Passwd), Host: cfg.Addr, Path: "/" + cfg.DBName}).String()
			}
			runCLI(t, "", "migrate", "--store", dsn).must(t, exitOK, []string{"migrations applied"}, nil)
			return dsn
		},
		"redis": redisStoreURL,
	}
	defer func(d time.Duration) { codeWait = d }(codeWait)
	codeWait = 10 * time.Millisecond
	for kind, open := range stores {
		t.Run(kind, func(t *testing.T) {
			spec := open(t)
			file := usersFileWith(t, "alice", "bob")

			c := usersStoreFixture(t, spec, "alice")
			runCLI(t, "", "users", "remove", "alice", "--file", file, "--store", spec).
				must(t, exitOK, []string{"removed user alice", "ended 1 sessions and 1 API tokens of user alice"}, nil)
			c.mustBeEnded(t)
			if _, ok := readUsers(t, file).index["alice"]; ok {
				t.Error("alice is still in the file")
			}

			c = usersStoreFixture(t, spec, "bob")
			runCLI(t, "a new password\n", "users", "add", "bob", "--file", file, "--store", spec).
				must(t, exitOK, []string{"updated the password of user bob", "ended 1 sessions and 1 API tokens of user bob"}, nil)
			c.mustBeEnded(t)

			c = usersStoreFixture(t, spec, "carol") // not in the file
			runCLI(t, "", "users", "revoke", "carol", "--store", spec).
				must(t, exitOK, []string{"ended 1 sessions and 1 API tokens of user carol"}, nil)
			c.mustBeEnded(t)
			runCLI(t, "", "users", "revoke", "carol", "--store", spec).
				must(t, exitOK, []string{"ended 0 sessions and 0 API tokens of user carol"}, nil)
		})
	}
}

// Without a store the users commands change the file only, as before; a
// store that cannot be opened changes nothing; the memory store is
// refused where it is named on the command line and passed over where
// the environment names it for serve.
func TestUsersStoreUsage(t *testing.T) {
	file := usersFileWith(t, "alice", "bob")
	spec := migratedSQLite(t)
	c := usersStoreFixture(t, spec, "alice")

	t.Setenv("AUTHKIT_STORE", "memory")
	runCLI(t, "", "users", "remove", "bob", "--file", file).must(t, exitOK, []string{"removed user bob"}, nil)
	runCLI(t, "", "users", "revoke", "alice").must(t, exitUsage, nil, []string{"memory store"})
	os.Unsetenv("AUTHKIT_STORE")
	runCLI(t, "", "users", "revoke", "alice").must(t, exitUsage, nil, []string{"users revoke needs --store"})
	runCLI(t, "", "users", "remove", "alice", "--file", file, "--store", "memory").must(t, exitUsage, nil, []string{"memory store"})
	runCLI(t, "", "users", "remove", "alice", "--file", file, "--dsn", "memory").must(t, exitUsage, nil, []string{"memory store"})
	// Refused before the password is read (empty standard input: no
	// password to read), not after it was typed and hashed.
	runCLI(t, "", "users", "add", "zed", "--file", file, "--store", "memory").must(t, exitUsage, nil, []string{"memory store"})
	runCLI(t, "", "users", "list", "--file", file, "--store", spec).must(t, exitUsage, nil, []string{"takes no --store"})
	runCLI(t, "", "users", "list", "--file", file, "--no-wait").must(t, exitUsage, nil, []string{"--no-wait"})
	missing := "sqlite:" + filepath.Join(t.TempDir(), "none", "authkit.db")
	runCLI(t, "", "users", "remove", "alice", "--file", file, "--store", missing).must(t, exitFailure, nil, nil)
	if _, ok := readUsers(t, file).index["alice"]; !ok {
		t.Error("a store that could not be opened: alice was removed from the file anyway")
	}
	c.mustWork(t)
	runCLI(t, "", "users", "remove", "alice", "--file", file).must(t, exitOK, []string{"removed user alice"}, nil)
	c.mustWork(t) // no store: the file only
	t.Setenv("AUTHKIT_STORE", spec)
	runCLI(t, "", "users", "revoke", "alice", "--no-wait").must(t, exitOK, []string{"ended 1 sessions and 1 API tokens"}, nil)
	c.mustBeEnded(t)
}

// failingSessions is a store whose session listing fails.
type failingSessions struct{ *memory.Store }

func (failingSessions) ListSessions(context.Context, string, time.Time) ([]authkit.Session, error) {
	return nil, authkit.ErrStoreUnavailable
}

// A store step that fails after the file was written says what was done
// and how to finish, and fails the command.
func TestUsersStoreStepFails(t *testing.T) {
	iss, err := credentialEnder(failingSessions{memory.New()})
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	c := &cli{stdout: &out, stderr: &errOut}
	u := &usersStore{st: openedStore{kind: "sql"}, iss: iss}
	err = u.end(context.Background(), c, "alice", "removed user alice from users.txt", false)
	if !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("err = %v, want ErrStoreUnavailable", err)
	}
	for _, s := range []string{"removed user alice from users.txt, but", "authkit users revoke alice --store STORE"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the error lacks %q: %v", s, err)
		}
	}
}

// failingRevoke is a store that lists sessions but cannot end them.
type failingRevoke struct{ *memory.Store }

func (failingRevoke) RevokeSession(context.Context, string, time.Time) error {
	return authkit.ErrStoreUnavailable
}

// A store that lists the user's sessions but fails to end one fails the
// command too, saying the credentials were not all ended: it is not
// reported as done.
func TestUsersStoreRevokeFails(t *testing.T) {
	store := failingRevoke{memory.New()}
	iss, err := credentialEnder(store)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.IssuePair(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	c := &cli{stdout: &out, stderr: &errOut}
	u := &usersStore{st: openedStore{kind: "sql"}, iss: iss}
	err = u.end(t.Context(), c, "alice", "removed user alice from users.txt", false)
	if !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("err = %v, want ErrStoreUnavailable", err)
	}
	for _, s := range []string{"were not all ended", "authkit users revoke alice --store STORE"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the error lacks %q: %v", s, err)
		}
	}
	if strings.Contains(out.String(), "ended") {
		t.Errorf("reported as done: %q", out.String())
	}
}

// credentialEnder's access TTL is the longest an issuer accepts, so a
// session revocation outlives the access tokens of any serve.
func TestCredentialEnderLongestAccessTTL(t *testing.T) {
	set, err := throwawayKeys()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(memory.New()), authkit.WithAccessTTL(authkit.MaxAccessTTL+time.Second)); err == nil {
		t.Errorf("an access TTL over %v is accepted: authkit.MaxAccessTTL is not the longest", authkit.MaxAccessTTL)
	}
	if _, err := credentialEnder(memory.New()); err != nil {
		t.Fatal(err)
	}
}

// The store step ends the access tokens of a session that has ended by
// itself (no longer listed, its last access token still live), and, in a
// second pass, a session made between the passes (a code issued before,
// exchanged after); found by review.
func TestUsersStoreEndsUnlistedAndLaterSessions(t *testing.T) {
	ctx := context.Background()
	set, err := throwawayKeys()
	if err != nil {
		t.Fatal(err)
	}
	st := memory.New()
	newIssuer := func(at time.Duration) *issuer.Issuer {
		iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(st), authkit.WithAccessTTL(24*time.Hour),
			authkit.WithClock(func() time.Time { return time.Now().Add(at) }))
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	ver, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(st))
	if err != nil {
		t.Fatal(err)
	}
	// Ended an hour ago (its lifetime was one hour); its last access token
	// lives 22 hours more.
	stale, err := newIssuer(-2*time.Hour).IssuePair(ctx, "alice", issuer.WithSessionLifetime(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ver.Verify(ctx, stale.AccessToken); err != nil {
		t.Fatal(err)
	}
	iss := newIssuer(0)
	ender, err := credentialEnder(st)
	if err != nil {
		t.Fatal(err)
	}
	defer func(d time.Duration) { codeWait = d }(codeWait)
	codeWait = 10 * time.Millisecond
	var later authkit.TokenPair
	u := &usersStore{st: openedStore{kind: "memory"}, iss: ender, firstPassDone: func() {
		time.Sleep(2 * time.Millisecond) // past the cutoff's millisecond
		var err error
		if later, err = iss.IssuePair(ctx, "alice"); err != nil {
			t.Error(err)
		}
	}}
	var out strings.Builder
	if err := u.end(ctx, &cli{stdout: &out, stderr: io.Discard}, "alice", "", true); err != nil {
		t.Fatal(err)
	}
	if _, err := ver.Verify(ctx, stale.AccessToken); err == nil {
		t.Error("the access token of a session that had ended by itself verifies after the user's credentials were ended")
	}
	if _, err := ver.Verify(ctx, later.AccessToken); err == nil {
		t.Error("the access token of a session made between the passes verifies")
	}
	if _, err := iss.Refresh(ctx, later.RefreshToken); err == nil {
		t.Error("a session made between the passes refreshes")
	}
	if !strings.Contains(out.String(), "waiting 10ms") || !strings.Contains(out.String(), "authkit users revoke alice") {
		t.Errorf("no word of the wait, or of what to run if it is stopped:\n%s", out.String())
	}

	// A session made between the passes that has ended by itself by the
	// second (here: no longer listed) keeps no access token: the second
	// pass sets the cutoff again (found by review).
	hidden := &unlisted{Store: st}
	ender, err = credentialEnder(hidden)
	if err != nil {
		t.Fatal(err)
	}
	u = &usersStore{st: openedStore{kind: "memory"}, iss: ender, firstPassDone: func() {
		time.Sleep(2 * time.Millisecond)
		var err error
		if later, err = iss.IssuePair(ctx, "alice"); err != nil {
			t.Error(err)
		}
		hidden.hide.Store(true)
	}}
	if err := u.end(ctx, &cli{stdout: io.Discard, stderr: io.Discard}, "alice", "", true); err != nil {
		t.Fatal(err)
	}
	if _, err := ver.Verify(ctx, later.AccessToken); err == nil {
		t.Error("the access token of a session made between the passes, no longer listed at the second, verifies")
	}
}

// unlisted lists no sessions once hide is set, as for sessions that have
// ended by themselves.
type unlisted struct {
	*memory.Store
	hide atomic.Bool
}

func (u *unlisted) ListSessions(ctx context.Context, subject string, now time.Time) ([]authkit.Session, error) {
	if u.hide.Load() {
		return nil, nil
	}
	return u.Store.ListSessions(ctx, subject, now)
}
