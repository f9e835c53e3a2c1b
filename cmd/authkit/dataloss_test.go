package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit/internal/testservers"
)

// The operator test: a Redis restarted without persistence comes
// back empty, and a token revoked a minute earlier must not answer 200
// again. serve (on the restarted server, through its revocation mirror)
// refuses every access token issued before the loss, logs the data_loss
// audit event at Error, and works again for a new login.
func TestServeRedisRestartNeverUnrevokes(t *testing.T) {
	t.Parallel()
	rp := testservers.RestartableRedis(t, "--appendonly", "no", "--save", "")
	var logs syncBuffer
	c := &cli{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, lookupEnv: mapEnv(nil)}
	cfg, err := c.parseServe([]string{"--store", "redis://" + rp.Addr() + "/0", "--accept-volatile-redis"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.newServer(t.Context(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.closeStore)

	pair := func() (access, refresh string) {
		t.Helper()
		w := login(s, demoUser, s.demoPassword, "127.0.0.1")
		var body struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &body) != nil || body.AccessToken == "" {
			t.Fatalf("login: %d %s", w.Code, w.Body)
		}
		return body.AccessToken, body.RefreshToken
	}
	me := func(token string) int {
		r := httptest.NewRequest("GET", "/me", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		s.handler.ServeHTTP(w, r)
		return w.Code
	}
	revoked, refresh := pair()
	kept, _ := pair()
	body := url.Values{"token": {refresh}}.Encode()
	r := httptest.NewRequest("POST", "/revoke", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	s.handler.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("revoke: %d %s", w.Code, w.Body)
	}
	// The verifier's mirror hears of the revocation through the feed.
	for end := time.Now().Add(5 * time.Second); me(revoked) != http.StatusUnauthorized; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the revoked session's access token still answers 200 5 s after the revocation")
		}
	}
	if got := me(kept); got != http.StatusOK {
		t.Fatalf("a live access token before the restart: %d, want 200", got)
	}

	rp.Restart(t) // empty: it keeps nothing on disk

	// The token revoked before the loss is never accepted again; the one
	// never revoked is refused as soon as the loss is noticed (the mirror
	// holds every revocation it had, so it may answer for it until then).
	deadline := time.Now().Add(15 * time.Second)
	for {
		if got := me(revoked); got == http.StatusOK {
			t.Fatal("a token revoked before the Redis restart answered 200 after it")
		}
		if me(kept) == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15 s after the restart a token issued before it is still accepted; log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := me(revoked); got != http.StatusUnauthorized {
		t.Errorf("the revoked token after the loss was noticed: %d, want 401", got)
	}
	out := logs.String()
	if !strings.Contains(out, "event=data_loss") || !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "lost data") {
		t.Errorf("no data_loss audit event at Error and no log line saying what happened:\n%s", out)
	}
	for _, secret := range []string{revoked, kept, refresh} {
		if strings.Contains(out, secret) {
			t.Fatal("the log holds a token")
		}
	}

	// A new login works on the restarted store.
	fresh, _ := pair()
	if got := me(fresh); got != http.StatusOK {
		t.Errorf("a token issued after the loss: %d, want 200; log:\n%s", got, out)
	}
}

// serve on the memory store with keys from a file: the keys outlive a
// restart, the revocations do not. A token revoked before the restart (and
// every other one issued before it) is refused after it, never accepted
// again; a new login works.
func TestServeMemoryRestartNeverUnrevokes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	users := filepath.Join(dir, "users.txt")
	runCLI(t, "alice's password\n", "users", "add", "alice", "--file", users).must(t, exitOK, nil, nil)
	keyFile := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(keyFile, []byte(runCLI(t, "", "keygen", "--alg", "EdDSA").stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--users", users, "--keys", keyFile}
	login := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice's password"}}

	s := startServe(t, "", args...)
	first := s.do(t, "POST", "/token", "", login).want(t, "login", 200)
	second := s.do(t, "POST", "/token", "", login).want(t, "login", 200)
	s.do(t, "POST", "/revoke", "", url.Values{"token": {first.str("refresh_token")}}).want(t, "revoke", 200)
	s.do(t, "GET", "/me", first.str("access_token"), nil).want(t, "the revoked session's token", 401)
	s.do(t, "GET", "/me", second.str("access_token"), nil).want(t, "a live token", 200)
	if code := s.stop(t); code != exitOK {
		t.Fatalf("serve exited %d", code)
	}

	time.Sleep(2 * time.Millisecond) // the restart begins after every earlier iat
	s = startServe(t, "", args...)
	s.do(t, "GET", "/me", first.str("access_token"), nil).want(t, "the token revoked before the restart", 401)
	s.do(t, "GET", "/me", second.str("access_token"), nil).want(t, "a token issued before the restart", 401)
	fresh := s.do(t, "POST", "/token", "", login).want(t, "login after the restart", 200)
	s.do(t, "GET", "/me", fresh.str("access_token"), nil).want(t, "a token issued after the restart", 200)
}
