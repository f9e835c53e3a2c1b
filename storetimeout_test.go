package authkit_test

import (
	"errors"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

func TestWithStoreTimeout(t *testing.T) {
	c, err := authkit.BuildConfig(authkit.RoleVerifier)
	if err != nil {
		t.Fatal(err)
	}
	if c.StoreTimeout != authkit.DefaultStoreTimeout || c.StoreTimeout <= 0 {
		t.Errorf("default store timeout %v, want DefaultStoreTimeout (%v)", c.StoreTimeout, authkit.DefaultStoreTimeout)
	}
	for _, role := range []authkit.Role{authkit.RoleIssuer, authkit.RoleVerifier} {
		c, err := authkit.BuildConfig(role, authkit.WithStoreTimeout(250*time.Millisecond))
		if err != nil {
			t.Fatalf("%v: %v", role, err)
		}
		if c.StoreTimeout != 250*time.Millisecond {
			t.Errorf("%v: store timeout %v, want 250ms", role, c.StoreTimeout)
		}
	}
	for _, d := range []time.Duration{0, -time.Second, authkit.MinStoreTimeout - 1, authkit.MaxStoreTimeout + 1} {
		if _, err := authkit.BuildConfig(authkit.RoleIssuer, authkit.WithStoreTimeout(d)); !errors.Is(err, authkit.ErrInvalidConfig) {
			t.Errorf("WithStoreTimeout(%v): %v, want ErrInvalidConfig", d, err)
		}
	}
	for _, d := range []time.Duration{authkit.MinStoreTimeout, authkit.MaxStoreTimeout} {
		if _, err := authkit.BuildConfig(authkit.RoleIssuer, authkit.WithStoreTimeout(d)); err != nil {
			t.Errorf("WithStoreTimeout(%v): %v", d, err)
		}
	}
}
