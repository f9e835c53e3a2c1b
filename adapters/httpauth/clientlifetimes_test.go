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
