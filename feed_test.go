package authkit_test

import (
	"errors"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/revmirror/feedtest"
)

func TestRevocationKindString(t *testing.T) {
	for k, want := range map[authkit.RevocationKind]string{
		authkit.RevokedToken:   "token",
		authkit.RevokedSession: "session",
		authkit.RevokedBefore:  "cutoff",
		0:                      "unknown",
		99:                     "unknown",
	} {
		if got := k.String(); got != want {
			t.Errorf("RevocationKind(%d).String() = %q, want %q", k, got, want)
		}
	}
}

func TestWithRevocationMirror(t *testing.T) {
	feed := feedtest.New()
	c, err := authkit.BuildConfig(authkit.RoleVerifier, authkit.WithRevocationStore(feed), authkit.WithRevocationMirror(30*time.Second))
	if err != nil {
		t.Fatalf("BuildConfig: %v", err)
	}
	if c.RevocationMirror != 30*time.Second {
		t.Errorf("Config.RevocationMirror = %v, want 30s", c.RevocationMirror)
	}
	if c, err := authkit.BuildConfig(authkit.RoleVerifier, authkit.WithRevocationStore(feed)); err != nil || c.RevocationMirror != 0 {
		t.Errorf("without the option: (%v, %v), want the mirror off", c.RevocationMirror, err)
	}
	for _, bad := range []struct {
		name string
		opts []authkit.Option
	}{
		{"below 1s", []authkit.Option{authkit.WithRevocationStore(feed), authkit.WithRevocationMirror(999 * time.Millisecond)}},
		{"above 10m", []authkit.Option{authkit.WithRevocationStore(feed), authkit.WithRevocationMirror(10*time.Minute + 1)}},
		{"no store", []authkit.Option{authkit.WithRevocationMirror(time.Minute)}},
		// The memory store has a feed; embedding it as an authkit.Store
		// hides it.
		{"store without a feed", []authkit.Option{authkit.WithStore(struct{ authkit.Store }{memory.New()}), authkit.WithRevocationMirror(time.Minute)}},
	} {
		if _, err := authkit.BuildConfig(authkit.RoleVerifier, bad.opts...); !errors.Is(err, authkit.ErrInvalidConfig) {
			t.Errorf("%s: BuildConfig = %v, want ErrInvalidConfig", bad.name, err)
		}
	}
	if _, err := authkit.BuildConfig(authkit.RoleIssuer, authkit.WithRevocationStore(feed), authkit.WithRevocationMirror(time.Minute)); !errors.Is(err, authkit.ErrInvalidConfig) {
		t.Errorf("issuer: BuildConfig = %v, want ErrInvalidConfig (verifier only)", err)
	}
}
