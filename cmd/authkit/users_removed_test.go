package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/issuer"
)

// A user removed from the users file keeps no access once serve restarts
// without it, although the store still holds the user's credentials: not
// an API token (which never expires), an access token or a refresh token.
// Another user, and a client's own token, are unaffected.
func TestServeRemovedUserLosesAccess(t *testing.T) {
	t.Parallel()
	users := usersFileOf(t, "alice", "bob")
	dir := filepath.Dir(users)
	store := migratedSQLite(t)
	keyFile := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(keyFile, []byte(runCLI(t, "", "keygen").stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	login := func(s *testServer, user string) response {
		return passwordLogin(t, s, user).want(t, user+" logs in", 200)
	}
	s := startServe(t, "", "--users", users, "--store", store, "--keys", keyFile)
	alice, bob := login(s, "alice"), login(s, "bob")
	api := s.do(t, "POST", "/api-tokens", alice.str("access_token"), url.Values{"name": {"ci"}}).want(t, "alice creates an API token", 201).str("token")
	s.do(t, "GET", "/me", api, nil).want(t, "alice's API token", 200)
	if code := s.stop(t); code != exitOK {
		t.Fatalf("exit status %d", code)
	}

	runCLI(t, "", "users", "remove", "alice", "--file", users).must(t, exitOK, nil, nil)
	s = startServe(t, "", "--users", users, "--store", store, "--keys", keyFile)
	s.do(t, "GET", "/me", api, nil).want(t, "a removed user's API token", 401)
	s.do(t, "GET", "/me", alice.str("access_token"), nil).want(t, "a removed user's access token", 401)
	s.do(t, "POST", "/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {alice.str("refresh_token")}}).
		want(t, "a removed user's refresh token", 400)
	s.do(t, "GET", "/me", bob.str("access_token"), nil).want(t, "another user's access token", 200)
	s.do(t, "POST", "/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {bob.str("refresh_token")}}).
		want(t, "another user's refresh", 200)
}

// serve caps each user's live API tokens (--api-token-limit, 100 by
// default): past it POST /api-tokens is 409 limit_exceeded, and revoking
// one makes room.
func TestServeAPITokenLimit(t *testing.T) {
	t.Parallel()
	s := startServe(t, "", "--api-token-limit", "2")
	m := passwordRE.FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("no demo password in:\n%s", s.stdout.String())
	}
	login := s.do(t, "POST", "/token", "", url.Values{"grant_type": {"password"}, "username": {demoUser}, "password": {m[1]}}).
		want(t, "login", 200).str("access_token")
	var ids []string
	for i := range 2 {
		ids = append(ids, s.do(t, "POST", "/api-tokens", login, url.Values{"name": {"t"}}).want(t, fmt.Sprint("token ", i+1), 201).str("id"))
	}
	if r := s.do(t, "POST", "/api-tokens", login, url.Values{"name": {"t"}}).want(t, "a third token", 409); r.str("error") != "limit_exceeded" {
		t.Errorf("a third token: %s", r.raw)
	}
	s.do(t, "DELETE", "/api-tokens/"+ids[0], login, nil).want(t, "revoke one", 204)
	s.do(t, "POST", "/api-tokens", login, url.Values{"name": {"t"}}).want(t, "a token after revoking one", 201)
}

// serve caps each user's live sessions (--session-limit, 100 by default):
// a login past it ends the user's least recently used session.
func TestServeSessionLimit(t *testing.T) {
	t.Parallel()
	s := startServe(t, "", "--session-limit", "2")
	m := passwordRE.FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("no demo password in:\n%s", s.stdout.String())
	}
	var logins []response
	for i := range 3 {
		logins = append(logins, s.do(t, "POST", "/token", "", url.Values{"grant_type": {"password"}, "username": {demoUser}, "password": {m[1]}}).
			want(t, fmt.Sprint("login ", i+1), 200))
	}
	s.do(t, "POST", "/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {logins[0].str("refresh_token")}}).
		want(t, "the first session's refresh after a third login", 400)
	s.do(t, "POST", "/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {logins[2].str("refresh_token")}}).
		want(t, "the newest session's refresh", 200)
	if r := s.do(t, "GET", "/sessions", logins[1].str("access_token"), nil).want(t, "sessions", 200); strings.Count(r.raw, `"id"`) != 2 {
		t.Errorf("GET /sessions after three logins with --session-limit 2: %s, want 2 sessions", r.raw)
	}
}

// serve reads its users file again when it changes (--users-reload): a
// removed user loses all access without a restart, an added one can log
// in, and a file that cannot be read keeps the users read before, its
// error logged once.
func TestServeReadsUsersFileAgain(t *testing.T) {
	t.Parallel()
	users := usersFileOf(t, "alice", "bob")
	login := func(s *testServer, user string) response {
		return passwordLogin(t, s, user).want(t, user+" logs in", 200)
	}
	s := startServe(t, "", "--users", users, "--users-reload", "20ms")
	alice, bob := login(s, "alice"), login(s, "bob")
	api := s.do(t, "POST", "/api-tokens", alice.str("access_token"), url.Values{"name": {"ci"}}).want(t, "alice creates an API token", 201).str("token")

	runCLI(t, "", "users", "remove", "alice", "--file", users).must(t, exitOK, nil, nil)
	runCLI(t, "carol's password\n", "users", "add", "carol", "--file", users).must(t, exitOK, nil, nil)
	// Both changes read (serve may have read the removal alone first).
	waitFor(t, "serve to read the users file with bob and carol", func() bool {
		return regexp.MustCompile(`users file read again.* users=2 `).MatchString(s.stderr.String())
	})
	s.do(t, "GET", "/me", api, nil).want(t, "a removed user's API token", 401)
	s.do(t, "GET", "/me", alice.str("access_token"), nil).want(t, "a removed user's access token", 401)
	s.do(t, "POST", "/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {alice.str("refresh_token")}}).
		want(t, "a removed user's refresh token", 400)
	s.do(t, "POST", "/token", "", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice's password"}}).
		want(t, "a removed user's password", 400)
	s.do(t, "GET", "/me", bob.str("access_token"), nil).want(t, "another user's access token", 200)
	login(s, "carol")

	// The name added again — another person, perhaps — gets none of the
	// removed user's credentials back (found by review: the API token and
	// the session worked again).
	waitFor(t, "serve to end the removed user's credentials", func() bool {
		return strings.Contains(s.stderr.String(), "ended the sessions and API tokens of a removed user")
	})
	reads := strings.Count(s.stderr.String(), "users file read again")
	runCLI(t, "alice's password\n", "users", "add", "alice", "--file", users).must(t, exitOK, nil, nil)
	waitFor(t, "serve to read the users file with alice again", func() bool {
		return strings.Count(s.stderr.String(), "users file read again") > reads
	})
	login(s, "alice")
	s.do(t, "GET", "/me", api, nil).want(t, "the removed user's API token, the name added again", 401)
	s.do(t, "POST", "/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {alice.str("refresh_token")}}).
		want(t, "the removed user's refresh token, the name added again", 400)

	// A broken file: the users read before stay, and the error is logged
	// once, not at every check.
	// Written whole and renamed, as the users commands do: written in
	// place, serve may read the empty file first, a version of its own
	// (logged too).
	tmp := users + ".new"
	if err := os.WriteFile(tmp, []byte("bob:not-a-hash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, users); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "serve to log the broken users file", func() bool {
		return strings.Contains(s.stderr.String(), "could not be read again")
	})
	time.Sleep(200 * time.Millisecond) // ten more checks
	if n := strings.Count(s.stderr.String(), "could not be read again"); n != 1 {
		t.Errorf("the broken users file was logged %d times, want once", n)
	}
	login(s, "carol")
	s.do(t, "GET", "/me", bob.str("access_token"), nil).want(t, "bob's access token while the file is broken", 200)
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serve refuses an access token minted under a longer TTL than its
// --access-ttl (by a replica still running an older, longer value): such
// a token would outlive the session revocations serve makes, which last
// its own TTL.
func TestServeRefusesLongerLivedTokens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(keyFile, []byte(runCLI(t, "", "keygen").stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := loadOrGenerateKeys(keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s := startServe(t, "", "--keys", keyFile, "--access-ttl", "5m")
	for _, c := range []struct {
		ttl  time.Duration
		want int
	}{{5 * time.Minute, 200}, {time.Hour, 401}} {
		iss, err := issuer.New(authkit.WithKeys(set), authkit.WithAccessTTL(c.ttl))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := iss.IssueAccessToken(context.Background(), demoUser)
		if err != nil {
			t.Fatal(err)
		}
		s.do(t, "GET", "/me", tok.AccessToken, nil).want(t, fmt.Sprintf("a token minted under a %v TTL", c.ttl), c.want)
	}
}

// usersFileOf writes a users file (in a temporary directory of its own)
// holding each name, with the password "<name>'s password", and returns
// its path.
func usersFileOf(t *testing.T, names ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.txt")
	for _, n := range names {
		runCLI(t, n+"'s password\n", "users", "add", n, "--file", path).must(t, exitOK, nil, nil)
	}
	return path
}

// passwordLogin asks s for tokens with the password grant as user, whose
// password is "<user>'s password" (usersFileOf).
func passwordLogin(t *testing.T, s *testServer, user string) response {
	t.Helper()
	return s.do(t, "POST", "/token", "", url.Values{"grant_type": {"password"}, "username": {user}, "password": {user + "'s password"}})
}
