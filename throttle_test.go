package authkit_test

import (
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

func TestThrottleStateActive(t *testing.T) {
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	st := authkit.ThrottleState{Failures: 2, Last: base, ExpiresAt: base.Add(time.Minute)}
	for _, c := range []struct {
		st   authkit.ThrottleState
		now  time.Time
		want bool
	}{
		{st, base, true},
		{st, base.Add(time.Minute - time.Microsecond), true},
		{st, base.Add(time.Minute), false}, // ExpiresAt == now has ended
		{authkit.ThrottleState{}, base, false},
		{authkit.ThrottleState{Failures: 0, ExpiresAt: base.Add(time.Hour)}, base, false},
	} {
		if got := c.st.Active(c.now); got != c.want {
			t.Errorf("%+v.Active(%s) = %v, want %v", c.st, c.now, got, c.want)
		}
	}
}
