package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

type client struct {
	t   *testing.T
	srv *httptest.Server
}

// post sends a form to an auth endpoint and decodes the JSON answer.
func (c client) post(path string, form url.Values, token string) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return c.send(req)
}

func (c client) get(path, token string) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return c.send(req)
}

func (c client) send(req *http.Request) (int, map[string]any) {
	c.t.Helper()
	res, err := c.srv.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			c.t.Fatalf("%s %s: body %q is not JSON", req.Method, req.URL.Path, b)
		}
	}
	return res.StatusCode, m
}

func (c client) login(user, password string) map[string]any {
	c.t.Helper()
	st, body := c.post("/auth/token", url.Values{"grant_type": {"password"}, "username": {user}, "password": {password}}, "")
	if st != 200 {
		c.t.Fatalf("login %s: %d %v", user, st, body)
	}
	return body
}

// TestRolesInToken drives the program end to end: the roles a login puts
// in the token open the admin route to alice only and survive a refresh; a
// disabled user's tokens (API tokens too) are refused at once; a demoted
// user's session no longer refreshes.
func TestRolesInToken(t *testing.T) {
	dir := newDirectory()
	h, err := newServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := client{t, srv}

	if st, _ := c.get("/api/admin/report", ""); st != 401 {
		t.Errorf("no token: %d, want 401", st)
	}
	if st, body := c.post("/auth/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"nope"}}, ""); st != 400 || body["error"] != "invalid_grant" {
		t.Errorf("wrong password: %d %v", st, body)
	}

	alice := c.login("alice", "wonderland")
	if alice["scope"] != "articles:read articles:write" {
		t.Errorf("alice's scope %v", alice["scope"])
	}
	st, body := c.get("/api/me", alice["access_token"].(string))
	if st != 200 || body["subject"] != "alice" || len(body["roles"].([]any)) != 2 {
		t.Errorf("alice /api/me: %d %v", st, body)
	}
	if st, body := c.get("/api/admin/report", alice["access_token"].(string)); st != 200 || body["for"] != "alice" {
		t.Errorf("alice /api/admin/report: %d %v", st, body)
	}

	bob := c.login("bob", "builder")
	if st, body := c.get("/api/admin/report", bob["access_token"].(string)); st != 403 || body["error"] != "forbidden" {
		t.Errorf("bob /api/admin/report: %d %v, want 403", st, body)
	}

	// A refresh keeps the roles.
	st, fresh := c.post("/auth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {alice["refresh_token"].(string)}}, "")
	if st != 200 {
		t.Fatalf("refresh: %d %v", st, fresh)
	}
	if st, _ := c.get("/api/admin/report", fresh["access_token"].(string)); st != 200 {
		t.Errorf("refreshed alice /api/admin/report: %d", st)
	}

	// An API token of alice's, made before she is disabled.
	st, created := c.post("/auth/api-tokens", url.Values{"name": {"ci"}}, fresh["access_token"].(string))
	if st != 201 {
		t.Fatalf("alice creates an API token: %d %v", st, created)
	}
	api := created["token"].(string)

	// Disabled: her access and API tokens are refused at once, and she
	// gets no new access token by refresh or login.
	dir.setDisabled("alice", true)
	for what, tok := range map[string]string{"access token": fresh["access_token"].(string), "API token": api} {
		if st, _ := c.get("/api/me", tok); st != 401 {
			t.Errorf("disabled alice's %s: %d, want 401", what, st)
		}
	}
	st, body = c.post("/auth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fresh["refresh_token"].(string)}}, "")
	if st != 400 || body["error"] != "invalid_grant" {
		t.Errorf("disabled alice's refresh: %d %v", st, body)
	}
	if st, _ := c.post("/auth/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}}, ""); st != 400 {
		t.Errorf("disabled alice's login: %d", st)
	}

	// Enabled again, then demoted: her session carries the admin role, so
	// its refresh is refused; a new login carries the current roles.
	dir.setDisabled("alice", false)
	if st, _ := c.get("/api/me", api); st != 200 {
		t.Errorf("alice's API token once she is enabled again: %d", st)
	}
	dir.setRoles("alice", "editor")
	st, body = c.post("/auth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fresh["refresh_token"].(string)}}, "")
	if st != 400 || body["error"] != "invalid_grant" {
		t.Errorf("demoted alice's refresh of a session with the admin role: %d %v", st, body)
	}
	again := c.login("alice", "wonderland")
	if st, _ := c.get("/api/admin/report", again["access_token"].(string)); st != 403 {
		t.Errorf("demoted alice's new login on the admin route: %d, want 403", st)
	}
	st, body = c.post("/auth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {again["refresh_token"].(string)}}, "")
	if st != 200 {
		t.Errorf("the refresh of a session with her current roles: %d %v", st, body)
	}

	// Logging out everywhere ends the access token at once, and (the
	// Handler has WithLogoutAllAPITokens) the API token.
	if st, _ := c.post("/auth/logout-all", url.Values{}, body["access_token"].(string)); st != 204 {
		t.Errorf("logout-all: %d", st)
	}
	for what, tok := range map[string]string{"access token": body["access_token"].(string), "API token": api} {
		if st, _ := c.get("/api/me", tok); st != 401 {
			t.Errorf("%s after logout-all: %d, want 401", what, st)
		}
	}
}
