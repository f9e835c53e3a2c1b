package main

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/issuer"
)

// serve's periodic cleanup deletes the expired authorization codes of its
// store (the one `authkit clients` manages and the token endpoint reads),
// and leaves the live ones.
func TestServeCleanupDeletesExpiredCodes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	spec := "sqlite:" + filepath.Join(t.TempDir(), "authkit.db")
	c := &cli{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, lookupEnv: mapEnv(nil)}
	cfg, err := c.parseServe([]string{"--store", spec, "--migrate"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.newServer(ctx, cfg, newLogger(io.Discard, "text", "info"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.closeStore)
	cs, ok := s.store.store.(authkit.ClientStore)
	if !ok {
		t.Fatalf("the SQLite store %T is no ClientStore", s.store.store)
	}

	// The expired code expired more than issuer.CleanupMargin ago: a
	// cleanup leaves what expired within it.
	now := time.Now().Truncate(time.Microsecond)
	then := now.Add(-issuer.CleanupMargin - time.Hour)
	if err := cs.CreateClient(ctx, authkit.Client{ID: "app", GrantTypes: []string{authkit.GrantAuthorizationCode}, RedirectURIs: []string{"https://app.example/cb"}, CreatedAt: then}); err != nil {
		t.Fatal(err)
	}
	short, long := authkit.TokenHash{1}, authkit.TokenHash{2}
	for _, code := range []authkit.AuthorizationCode{
		{Hash: short, ClientID: "app", RedirectURI: "https://app.example/cb", Subject: "alice", CreatedAt: then, ExpiresAt: then.Add(time.Minute)},
		{Hash: long, ClientID: "app", RedirectURI: "https://app.example/cb", Subject: "alice", CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
	} {
		if err := cs.CreateAuthorizationCode(ctx, code); err != nil {
			t.Fatal(err)
		}
	}
	// A second pool on the file, to watch the rows without touching them.
	db, err := sqlstore.OpenDB(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows := func() int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM authkit_authorization_codes").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := rows(); n != 2 {
		t.Fatalf("%d code rows before cleanup, want 2", n)
	}

	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.cleanupLoop(lctx, 5*time.Millisecond)
	}()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for rows() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the cleanup loop left %d code rows, want 1 (the live code)", rows())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := cs.RedeemAuthorizationCode(ctx, long, time.Now()); err != nil {
		t.Errorf("the live code after cleanup: %v", err)
	}
	if _, err := cs.RedeemAuthorizationCode(ctx, short, then); !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("the expired code after cleanup, redeemed as of before its expiry: %v, want ErrNotFound (deleted)", err)
	}
}
