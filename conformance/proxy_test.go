package conformance

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// An echo server behind the proxy: bytes pass when up, stop when stalled,
// flow again on restore, and a cut refuses connections.
func TestProxy(t *testing.T) {
	t.Parallel()
	p := NewProxy(t, echoServer(t))
	roundTrip := func(wait time.Duration) error { return echo(p, "ping", wait) }
	if err := roundTrip(2 * time.Second); err != nil {
		t.Fatalf("up: %v", err)
	}
	p.Stall()
	if err := roundTrip(200 * time.Millisecond); err == nil {
		t.Fatal("stalled: bytes went through")
	}
	p.Restore()
	if err := roundTrip(2 * time.Second); err != nil {
		t.Fatalf("restored: %v", err)
	}
	p.Cut()
	if err := roundTrip(500 * time.Millisecond); err == nil {
		t.Fatal("cut: bytes went through")
	}
	p.Restore()
	if err := roundTrip(2 * time.Second); err != nil {
		t.Fatalf("restored after a cut: %v", err)
	}
}

// StallOn: chunks pass until the one it waits for, which stalls the proxy
// before it reaches the server.
func TestProxyStallOn(t *testing.T) {
	t.Parallel()
	p := NewProxy(t, echoServer(t))
	p.StallOn(func(b []byte) bool { return bytes.Equal(b, []byte("STOP")) })
	if err := echo(p, "ping", 2*time.Second); err != nil {
		t.Fatalf("before the match: %v", err)
	}
	if p.StalledBy() != nil {
		t.Fatalf("StalledBy = %q before the match", p.StalledBy())
	}
	if err := echo(p, "STOP", 200*time.Millisecond); err == nil {
		t.Fatal("the matching chunk went through")
	}
	if got := p.StalledBy(); string(got) != "STOP" {
		t.Fatalf("StalledBy = %q, want STOP", got)
	}
	if err := echo(p, "ping", 200*time.Millisecond); err == nil {
		t.Fatal("bytes went through after the match")
	}
	p.Restore()
	if err := echo(p, "ping", 2*time.Second); err != nil {
		t.Fatalf("restored: %v", err)
	}
}

// echoServer starts a TCP echo server, closed when t ends.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return l.Addr().String()
}

// echo sends msg through p on a new connection and reads it back within
// wait.
func echo(p *Proxy, msg string, wait time.Duration) error {
	c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	_, err = io.ReadFull(c, buf)
	return err
}
