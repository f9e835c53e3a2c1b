package main

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// A user removed from the users file keeps no access once serve restarts
// without it, although the store still holds the user's credentials: not
// an API token (which never expires), an access token or a refresh token.
// Another user, and a client's own token, are unaffected.
func TestServeRemovedUserLosesAccess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	users := filepath.Join(dir, "users.txt")
	runCLI(t, "alice's password\n", "users", "add", "alice", "--file", users).must(t, exitOK, nil, nil)
	runCLI(t, "bob's password\n", "users", "add", "bob", "--file", users).must(t, exitOK, nil, nil)
	store := migratedSQLite(t)
	keyFile := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(keyFile, []byte(runCLI(t, "", "keygen").stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	login := func(s *testServer, user string) response {
		return s.do(t, "POST", "/token", "", url.Values{"grant_type": {"password"}, "username": {user}, "password": {user + "'s password"}}).
			want(t, user+" logs in", 200)
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
