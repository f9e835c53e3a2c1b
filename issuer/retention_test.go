package issuer_test

import (
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
)

// A logout-all must refuse another issuer's tokens a verifier trusts until
// they expire: with WithRevocationRetention(24h) the cutoff outlives the
// issuer's 5-minute access TTL, without it it was forgotten after about
// fifteen minutes and a 24-hour token issued before verified again (found
// by review). Asked of the store, as every verifier sharing it does.
func TestRevocationRetention(t *testing.T) {
	t.Parallel()
	start := time.Now().Truncate(time.Millisecond)
	for _, c := range []struct {
		name    string
		opts    []authkit.Option
		revoked bool // at start + 16 minutes
	}{
		{"the access TTL", nil, false},
		{"a day", []authkit.Option{authkit.WithRevocationRetention(24 * time.Hour)}, true},
		{"shorter than the access TTL", []authkit.Option{authkit.WithRevocationRetention(time.Second)}, false},
	} {
		clk := &clock{t: start}
		store := memory.New()
		iss := cleanupIssuer(t, clk, append([]authkit.Option{authkit.WithStore(store), authkit.WithAccessTTL(5 * time.Minute)}, c.opts...)...)
		if err := iss.RevokeSubject(t.Context(), "42"); err != nil {
			t.Fatal(err)
		}
		// Another issuer's token for "42", issued a minute before, valid a day.
		q := authkit.RevocationQuery{TokenID: "dj-1", Subject: "42", IssuedAt: start.Add(-time.Minute)}
		for _, at := range []struct {
			after time.Duration
			want  bool
		}{{0, true}, {16 * time.Minute, c.revoked}, {23 * time.Hour, c.revoked}} {
			now := start.Add(at.after)
			got, err := store.IsRevoked(t.Context(), q, now)
			if err != nil {
				t.Fatal(err)
			}
			if got != at.want {
				t.Errorf("%s: revoked %v after RevokeSubject = %v, want %v", c.name, at.after, got, at.want)
			}
		}
	}
}
