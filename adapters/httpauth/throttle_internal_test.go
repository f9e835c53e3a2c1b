package httpauth

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(2, time.Minute, 100)
	k := l.key("alice")
	for i := range 2 {
		if _, ok := l.take(k, now); !ok {
			t.Fatalf("attempt %d refused", i)
		}
	}
	wait, ok := l.take(k, now.Add(10*time.Second))
	if ok || wait != 50*time.Second {
		t.Fatalf("third attempt: %v %v", wait, ok)
	}
	l.undo(k)
	if _, ok := l.take(k, now.Add(10*time.Second)); !ok {
		t.Fatal("an undone attempt was not handed back")
	}
	if _, ok := l.take(k, now.Add(time.Minute)); !ok {
		t.Fatal("the window did not end")
	}
	l.reset(k)
	if l.size() != 0 {
		t.Fatalf("size after reset %d", l.size())
	}

	// Bounded memory: the oldest window goes first.
	for i := range 250 {
		l.take(l.key(fmt.Sprint("user", i)), now.Add(time.Duration(i)*time.Millisecond))
	}
	if l.size() != 100 {
		t.Fatalf("size %d, want the cap 100", l.size())
	}
	// Expired entries are swept as calls come in.
	later := now.Add(time.Hour)
	for i := range 20 {
		l.take(l.key(fmt.Sprint("late", i)), later)
	}
	if l.size() >= 100 {
		t.Errorf("expired entries were not swept: %d", l.size())
	}
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":               "192.0.2.1",
		"::ffff:192.0.2.1":        "192.0.2.1",
		"2001:db8::1":             "2001:db8::/64",
		"2001:db8::ffff:1":        "2001:db8::/64",
		"2001:db8:0:1::1":         "2001:db8:0:1::/64",
		"fe80::1%eth0":            "fe80::/64",
		"not an address":          "",
		"":                        "",
		"192.0.2.1, 198.51.100.1": "",
	} {
		if _, got := addressKey(in); got != want {
			t.Errorf("addressKey(%q) = %q, want %q", in, got, want)
		}
	}
}
