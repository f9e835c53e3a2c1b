package memory_test

import (
	"errors"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
)

// WithEpoch refuses every token issued at or before the start with a
// DataLossError, and tells the feed; without it nothing is refused.
func TestWithEpoch(t *testing.T) {
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ctx := t.Context()
	s := memory.New(memory.WithEpoch(start))
	for _, c := range []struct {
		iat  time.Time
		lost bool
	}{{start.Add(-time.Minute), true}, {start, true}, {start.Add(time.Microsecond), false}} {
		dead, err := s.IsRevoked(ctx, authkit.RevocationQuery{Subject: "alice", TokenID: "j", IssuedAt: c.iat}, start.Add(time.Second))
		var lost *authkit.DataLossError
		switch {
		case c.lost && (!dead || !errors.As(err, &lost) || !lost.Since.Equal(start)):
			t.Errorf("iat %v: (%v, %v), want (true, a DataLossError since %v)", c.iat, dead, err, start)
		case !c.lost && (dead || err != nil):
			t.Errorf("iat %v, after the epoch: (%v, %v), want (false, nil)", c.iat, dead, err)
		}
	}
	var got []authkit.Revocation
	if _, err := s.RevocationSnapshot(ctx, start, func(r authkit.Revocation) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Kind != authkit.RevokedBeforeEpoch || !got[0].Cutoff.Equal(start) {
		t.Errorf("snapshot %+v, want the epoch alone", got)
	}

	plain := memory.New()
	if dead, err := plain.IsRevoked(ctx, authkit.RevocationQuery{Subject: "alice", IssuedAt: time.Unix(0, 0)}, start); dead || err != nil {
		t.Errorf("without WithEpoch: (%v, %v), want (false, nil)", dead, err)
	}
}
