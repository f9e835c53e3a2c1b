package pace

import (
	"testing"
	"time"
)

func TestPacer(t *testing.T) {
	p := New(time.Second)
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	if ok, held := p.Allow(t0); !ok || held != 0 {
		t.Fatalf("first report: %v %d, want let through, none held", ok, held)
	}
	for i := range 5 {
		if ok, _ := p.Allow(t0.Add(time.Duration(i) * 100 * time.Millisecond)); ok {
			t.Fatalf("report %d within the interval let through", i)
		}
	}
	if ok, _ := p.Allow(t0.Add(999 * time.Millisecond)); ok {
		t.Fatal("a report 999 ms after the last let through")
	}
	if ok, held := p.Allow(t0.Add(time.Second)); !ok || held != 6 {
		t.Fatalf("a report an interval later: %v %d, want let through, 6 held", ok, held)
	}
	if ok, held := p.Allow(t0); !ok || held != 0 {
		t.Fatalf("a clock that went back: %v %d, want let through", ok, held)
	}
}
