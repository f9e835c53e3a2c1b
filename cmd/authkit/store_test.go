package main

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestOpenStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := openStore(ctx, "memory")
	if err != nil || st.store == nil || st.kind != "memory" {
		t.Fatalf("memory: %+v, %v", st, err)
	}
	notYet := []string{
		"postgres://authkit:s3cret@localhost:5432/authkit?sslmode=disable",
		"postgresql://authkit:s3cret@localhost/authkit",
		"mysql://authkit:s3cret@tcp(localhost:3306)/authkit",
		"sqlite:/var/lib/authkit.db",
		"sqlite3:authkit.db",
		"redis://:s3cret@localhost:6379/0",
		"rediss://localhost:6380",
		"REDIS://localhost",
	}
	for _, spec := range notYet {
		_, err := openStore(ctx, spec)
		if !errors.Is(err, errStoreNotInBuild) {
			t.Errorf("%s: %v, want errStoreNotInBuild", spec, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error reveals the password: %v", spec, err)
		}
	}
	for _, spec := range []string{"", "memory://x", "mongodb://u:s3cret@h", "u:s3cret@tcp(h)/db", "memcache", "?:s3cret"} {
		_, err := openStore(ctx, spec)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", spec, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: the error reveals the password: %v", spec, err)
		}
	}
}
