package verifier_test

import (
	"context"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/keys"
)

// A wall clock stepped two hours forward and back, with one login while it
// was ahead, on the memory store: a logout's revocation stays in force, with
// and without the revocation mirror (found by review: the login's sweep
// dropped it, and once the clock was corrected the token verified again).
func TestClockStepKeepsLogout(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []authkit.Option
	}{
		{"store", nil},
		{"mirror", []authkit.Option{authkit.WithRevocationMirror(5 * time.Second)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, keys.EdDSA, c.opts...)
			t.Cleanup(func() { f.ver.Close() })
			alice, err := f.iss.IssuePair(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			if err := f.iss.RevokeSession(ctx, alice.SessionID); err != nil {
				t.Fatal(err)
			}
			f.clock.Add(2 * time.Hour)
			if _, err := f.iss.IssuePair(ctx, "dave"); err != nil {
				t.Fatal(err)
			}
			f.clock.Add(-2*time.Hour + time.Minute)
			if _, err := f.iss.IssuePair(ctx, "carol"); err != nil {
				t.Fatal(err)
			}
			if _, err := f.ver.Verify(ctx, alice.AccessToken); err == nil {
				t.Error("alice's access token, revoked by her logout, verifies once the stepped clock is corrected")
			}
		})
	}
}
