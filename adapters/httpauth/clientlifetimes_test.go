package httpauth_test

import (
	"context"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// A client's registered lifetimes (Client.AccessTTL, RefreshTTL) hold for
// every token of its sessions: the first access token and every refreshed
// one live its AccessTTL, and each refresh token expires unused after its
// RefreshTTL, under the issuer's longer ones.
func TestClientLifetimesHoldAcrossRefresh(t *testing.T) {
	f := newClientFx(t)
	secret, h, err := f.iss.NewClientSecret()
	if err != nil {
		t.Fatal(err)
	}
	err = f.clients.CreateClient(context.Background(), authkit.Client{
		ID: "short", SecretHash: h, GrantTypes: []string{authkit.GrantPassword, authkit.GrantRefreshToken},
		Scopes: []string{"read"}, AccessTTL: 30 * time.Second, RefreshTTL: 2 * time.Minute, CreatedAt: base,
	})
	if err != nil {
		t.Fatal(err)
	}
	basic := clientBasic("short", secret)
	r := f.form("/token", []string{"grant_type", "password", "username", "alice", "password", users["alice"]}, basic...)
	if r.status != 200 || r.json(t)["expires_in"] != float64(30) {
		t.Fatalf("login through the client: %d %s, want expires_in 30", r.status, r.body)
	}
	rt := r.json(t)["refresh_token"].(string)
	f.clock.Add(time.Minute)
	r = f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", rt}, basic...)
	if r.status != 200 || r.json(t)["expires_in"] != float64(30) {
		t.Fatalf("refresh: %d %s, want expires_in 30 (the client's AccessTTL)", r.status, r.body)
	}
	rt = r.json(t)["refresh_token"].(string)
	// The issuer's refresh TTL is far longer; the client's 2 minutes rule.
	f.clock.Add(2*time.Minute + time.Second)
	if r := f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", rt}, basic...); r.status != 400 {
		t.Fatalf("refresh after the client's RefreshTTL: %d %s, want 400", r.status, r.body)
	}
}

// A client removed and registered again under the same ID is a new client:
// the sessions of the old registration do not refresh for it.
func TestClientReRegisteredSameIDRefusesOldSessions(t *testing.T) {
	f := newClientFx(t)
	ctx := context.Background()
	reg := func() {
		t.Helper()
		if err := f.clients.CreateClient(ctx, authkit.Client{ID: "re", GrantTypes: []string{authkit.GrantPassword, authkit.GrantRefreshToken},
			Scopes: []string{"read"}, CreatedAt: f.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	login := func() string {
		t.Helper()
		r := f.form("/token", []string{"grant_type", "password", "username", "alice", "password", users["alice"], "client_id", "re"})
		if r.status != 200 {
			t.Fatalf("login: %d %s", r.status, r.body)
		}
		return r.json(t)["refresh_token"].(string)
	}
	refresh := func(rt string) resp {
		t.Helper()
		return f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", rt, "client_id", "re"})
	}
	reg()
	old := login()
	f.clock.Add(time.Second)
	if err := f.clients.DeleteClient(ctx, "re"); err != nil {
		t.Fatal(err)
	}
	if r := refresh(old); r.status != 401 {
		t.Errorf("refresh through a removed client: %d %s, want 401 invalid_client", r.status, r.body)
	}
	f.clock.Add(time.Second)
	reg()
	if r := refresh(old); r.status != 400 || r.json(t)["error"] != "invalid_grant" {
		t.Errorf("the old registration's refresh token through the new one: %d %s, want 400 invalid_grant", r.status, r.body)
	}
	if r := refresh(login()); r.status != 200 {
		t.Errorf("a session of the new registration: %d %s", r.status, r.body)
	}
}
