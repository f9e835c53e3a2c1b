package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/testservers"
)

func TestOpenStoreMemory(t *testing.T) {
	t.Parallel()
	st, err := openStore(context.Background(), "memory", false)
	if err != nil || st.store == nil || st.kind != "memory" {
		t.Fatalf("memory: %+v, %v", st, err)
	}
	for _, spec := range []string{"", "memory://x", "mongodb://u:s3cret@h", "u:s3cret@tcp(h)/db", "memcache", "?:s3cret"} {
		_, err := openStore(context.Background(), spec, false)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", spec, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: the error reveals the password: %v", spec, err)
		}
	}
}

// Unreachable servers fail at start-up, promptly, without repeating the
// password of the DSN.
func TestOpenStoreUnreachable(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{
		"postgres://authkit:s3cret@127.0.0.1:1/authkit?sslmode=disable&connect_timeout=2",
		"mysql://authkit:s3cret@127.0.0.1:1/authkit?timeout=2s",
		"redis://:s3cret@127.0.0.1:1/0?dial_timeout=2s",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := openStore(ctx, spec, false)
		cancel()
		if err == nil {
			t.Errorf("%s: opened an unreachable store", spec[:8])
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error reveals the password: %v", spec[:8], err)
		}
	}
}

// serve's store flag reaches every real backend, and --migrate prepares a
// fresh SQL database.
func TestOpenStoreBackends(t *testing.T) {
	ctx := context.Background()
	check := func(t *testing.T, spec string, migrate bool) {
		t.Helper()
		st, err := openStore(ctx, spec, migrate)
		if err != nil {
			t.Fatalf("openStore: %v", err)
		}
		defer st.close()
		if err := st.store.SetCutoff(ctx, "alice", time.Now(), time.Now().Add(time.Minute)); err != nil {
			t.Fatalf("a write through the opened store: %v", err)
		}
		if p, ok := st.store.(authkit.Pinger); !ok || p.Ping(ctx) != nil {
			t.Fatalf("the opened store does not answer Ping")
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "authkit.db")
		if _, err := openStore(ctx, "sqlite:"+path, false); err == nil || !strings.Contains(err.Error(), "migrat") {
			t.Fatalf("a fresh database without --migrate: %v, want an error that says to migrate", err)
		}
		check(t, "sqlite:"+path, true)
		check(t, "sqlite:"+path, false) // migrated already
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testservers.Postgres(t)
		if err := migrateSQL(ctx, dsn); err != nil {
			t.Fatal(err)
		}
		check(t, dsn, false)
	})
	t.Run("redis", func(t *testing.T) {
		b := make([]byte, 6)
		rand.Read(b)
		check(t, "redis://"+testservers.Redis(t)+"/0?key_prefix=cli-test-"+hex.EncodeToString(b)+":", false)
	})
}
