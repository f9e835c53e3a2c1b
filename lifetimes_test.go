package authkit_test

import (
	"errors"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// The exported lifetime bounds are the ones WithAccessTTL and
// WithRefreshTTL enforce: a tool that checks a flag against them (authkit
// serve's --access-ttl, clients' overrides) agrees with the issuer.
func TestLifetimeBounds(t *testing.T) {
	build := func(access, refresh time.Duration) error {
		_, err := authkit.BuildConfig(authkit.RoleIssuer, authkit.WithAccessTTL(access), authkit.WithRefreshTTL(refresh), authkit.WithSessionLifetime(authkit.MaxRefreshTTL))
		return err
	}
	for _, c := range []struct{ access, refresh time.Duration }{
		{authkit.MinAccessTTL, authkit.MinRefreshTTL},
		{authkit.MaxAccessTTL, authkit.MaxRefreshTTL},
		{authkit.MinAccessTTL, authkit.MaxRefreshTTL},
	} {
		if err := build(c.access, c.refresh); err != nil {
			t.Errorf("access %v, refresh %v: %v", c.access, c.refresh, err)
		}
	}
	for _, c := range []struct{ access, refresh time.Duration }{
		{authkit.MinAccessTTL - 1, authkit.MaxRefreshTTL},
		{authkit.MaxAccessTTL + 1, authkit.MaxRefreshTTL},
		{authkit.MinAccessTTL, authkit.MinRefreshTTL - 1},
		{authkit.MinAccessTTL, authkit.MaxRefreshTTL + 1},
	} {
		if err := build(c.access, c.refresh); !errors.Is(err, authkit.ErrInvalidConfig) {
			t.Errorf("access %v, refresh %v: %v, want ErrInvalidConfig", c.access, c.refresh, err)
		}
	}
}
