package nilness

import (
	"io"
	"testing"
)

type store struct{}

func (*store) Read([]byte) (int, error) { return 0, io.EOF }

type valueReader struct{}

func (valueReader) Read([]byte) (int, error) { return 0, io.EOF }

func TestIs(t *testing.T) {
	var typed *store
	var r io.Reader = typed
	var fn func()
	var m map[string]int
	for name, c := range map[string]struct {
		v    any
		want bool
	}{
		"nil":               {nil, true},
		"typed nil pointer": {r, true},
		"nil func":          {fn, true},
		"nil map":           {m, true},
		"pointer":           {&store{}, false},
		"value type":        {valueReader{}, false},
		"zero int":          {0, false},
	} {
		if got := Is(c.v); got != c.want {
			t.Errorf("%s: Is = %v, want %v", name, got, c.want)
		}
	}
}
