package testservers

import (
	"io"
	"net"
	"testing"
	"time"
)

// An echo server behind the proxy: bytes pass when up, stop when stalled,
// flow again on restore, and a cut refuses connections.
func TestProxy(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	p := NewProxy(t, l.Addr().String())
	roundTrip := func(wait time.Duration) error {
		c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(wait))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		buf := make([]byte, 4)
		_, err = io.ReadFull(c, buf)
		return err
	}
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
