package main

import (
	"net"
	"net/http"
	"sync"
)

// defaultMaxConnections is serve's --max-connections: how many client
// connections it holds at once. Each may hold a request's headers
// (maxHeaderBytes) and body (64 KiB) while they arrive, about 200 KB at
// worst, so the default bounds that memory near 400 MB; without a limit a
// client opening connections faster than the timeouts close them grew
// the server past 1 GB (found by review).
const defaultMaxConnections = 2048

// connLimiter holds a listener to at most max connections at once. When a
// connection arrives at the limit, Accept closes the connection idle
// longest (a keep-alive connection between requests, which its client
// reopens when it needs one) and waits for a slot: connections reading a
// request or running one are never cut, and further ones queue in the
// kernel's backlog. Only an arrival closes an idle connection. Track the
// connections' states with ConnState (http.Server.ConnState).
type connLimiter struct {
	net.Listener
	slots chan struct{}
	done  chan struct{}
	once  sync.Once

	mu   sync.Mutex
	idle map[*limitedConn]uint64 // idle connections and when they became idle (a sequence number)
	seq  uint64
}

func newConnLimiter(l net.Listener, max int) *connLimiter {
	return &connLimiter{Listener: l, slots: make(chan struct{}, max), done: make(chan struct{}), idle: map[*limitedConn]uint64{}}
}

// Accept waits for a connection, then for a slot for it (closing the
// connection idle longest when there is none).
func (l *connLimiter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	select {
	case l.slots <- struct{}{}:
	default:
		l.closeIdlest()
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			c.Close()
			return nil, net.ErrClosed
		}
	}
	return &limitedConn{Conn: c, l: l}, nil
}

// Close closes the listener; an Accept waiting for a slot returns.
func (l *connLimiter) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// ConnState is the http.Server.ConnState hook that tells the limiter which
// connections are idle.
func (l *connLimiter) ConnState(c net.Conn, st http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if st == http.StateIdle {
		l.seq++
		l.idle[lc] = l.seq
		return
	}
	delete(l.idle, lc)
}

// closeIdlest closes the connection idle longest, if any.
func (l *connLimiter) closeIdlest() {
	l.mu.Lock()
	var oldest *limitedConn
	var since uint64
	for c, s := range l.idle {
		if oldest == nil || s < since {
			oldest, since = c, s
		}
	}
	delete(l.idle, oldest)
	l.mu.Unlock()
	if oldest != nil {
		oldest.Close()
	}
}

// limitedConn gives its slot back once, when it is closed.
type limitedConn struct {
	net.Conn
	l    *connLimiter
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.idle, c)
		c.l.mu.Unlock()
		<-c.l.slots
	})
	return err
}

// CloseWrite half-closes the connection where the connection can (TCP),
// as net/http does before it closes a connection after an error, so that
// the client reads the answer before the reset.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
