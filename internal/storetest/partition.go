package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ListenPartition checks that a LISTEN connection that stops answering,
// or is cut, ends Listen with an error, so that the Store knows it is not
// listening and connects again: the listener made by through listens
// through a TCP proxy to target (the server's host:port) whose address it
// is given, and pings after every of silence (the listener's own knob).
// db sends the readiness probe. First the proxy drops everything both
// ways without closing (a network partition: nothing reaches the client
// to say so), then, on a new connection, it closes both sides.
func ListenPartition(t *testing.T, target string, db *sql.DB, every time.Duration, through func(proxyAddr string) ListenFunc) {
	t.Helper()
	for _, c := range []struct {
		name string
		cut  func(*tcpProxy)
	}{
		{"silent", func(p *tcpProxy) { p.hole.Store(true) }},
		{"closed", (*tcpProxy).closeAll},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := startProxy(t, target)
			listen := through(p.addr())
			channel := "partition_" + strings.ToLower(rand.Text())
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			ready, errc := make(chan struct{}), make(chan error, 1)
			go func() { errc <- listen(ctx, db, channel, func() { close(ready) }, func() {}) }()
			select {
			case <-ready:
			case err := <-errc:
				t.Fatalf("Listen = %v before ready", err)
			}
			c.cut(p)
			// The ping's own timeout is the listener's; every plus that,
			// and then some, bounds how long the partition may go unseen.
			select {
			case err := <-errc:
				if err == nil || errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
					t.Fatalf("Listen over a %s connection = %v, want an error saying the connection failed", c.name, err)
				}
			case <-time.After(20*every + 10*time.Second):
				t.Fatalf("Listen over a %s connection still runs: the listener never noticed", c.name)
			}
		})
	}
}

// tcpProxy forwards connections to a target, until told to drop what
// passes (hole) or to close them.
type tcpProxy struct {
	ln    net.Listener
	hole  atomic.Bool
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.closeAll() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go p.pipe(s, c)
			go p.pipe(c, s)
		}
	}()
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

// pipe copies src to dst, dropping what it reads once the hole is open.
func (p *tcpProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.hole.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.Close()
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *tcpProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}
