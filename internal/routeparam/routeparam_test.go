package routeparam

import (
	"net/http/httptest"
	"testing"
)

func TestUnescape(t *testing.T) {
	for _, c := range []struct {
		target, param, want string
	}{
		{"/s/abc", "abc", "abc"},
		{"/s/%61bc", "abc", "abc"},                     // Path "/s/abc" needs no RawPath: the router gives it decoded
		{"/s/a%2Fb", "a%2Fb", "a/b"},                   // RawPath set: the router gives it escaped
		{"/s/x%2541%2F", "x%2541%2F", "x%41/"},         // decoded once, not twice
		{"/s/x%2541", "x%41", "x%41"},                  // no RawPath: already decoded, left alone
		{"/s/%E2%9C%93%2F", "%E2%9C%93%2F", "\u2713/"}, // non-ASCII with RawPath
	} {
		r := httptest.NewRequest("GET", c.target, nil)
		if got := Unescape(r, c.param); got != c.want {
			t.Errorf("Unescape(%q, %q) = %q (RawPath %q), want %q", c.target, c.param, got, r.URL.RawPath, c.want)
		}
	}
}
