package main

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// defaultMaxConnections is serve's --max-connections: how many client
// connections it holds at once. Each may hold a request's headers
// (maxHeaderBytes, at most maxHeaderFields of them: limitHeaderFields)
// and body (64 KiB) while they arrive, about 200 KB at worst, so the
// default bounds that memory near 400 MB; without a limit a
// client opening connections faster than the timeouts close them grew
// the server past 1 GB (found by review).
const defaultMaxConnections = 2048

// connLimiter holds a listener to at most max connections at once. When a
// connection arrives at the limit, Accept closes the connection idle
// longest (a keep-alive connection waiting for its next request, which its
// client reopens when it needs one), or waits until one ends or goes idle.
// A connection on which the next request has begun to arrive is not idle:
// closing is decided against reading atomically (limitedConn.state), so a
// request is either never read or answered. (A request the client
// pipelined behind the previous one, already buffered by net/http, is not
// seen: clients do not pipeline.) Track the connections' states with
// ConnState (http.Server.ConnState).
type connLimiter struct {
	net.Listener
	slots chan struct{}
	// idled wakes an Accept waiting for a slot when a connection goes
	// idle, so that it can close it.
	idled chan struct{}
	done  chan struct{}
	once  sync.Once

	// headerTimeout bounds how long the first bytes of a connection's
	// next request may take to become a whole request line and headers
	// (the server's ReadHeaderTimeout).
	headerTimeout time.Duration

	mu   sync.Mutex
	idle map[*limitedConn]uint64 // idle connections and when they became idle (a sequence number)
	seq  uint64
}

// newConnLimiter limits l to max connections; headerTimeout is the
// server's ReadHeaderTimeout.
func newConnLimiter(l net.Listener, max int, headerTimeout time.Duration) *connLimiter {
	return &connLimiter{Listener: l, slots: make(chan struct{}, max), idled: make(chan struct{}, 1),
		done: make(chan struct{}), idle: map[*limitedConn]uint64{}, headerTimeout: headerTimeout}
}

// Accept waits for a connection, then for a slot for it, closing the
// connection idle longest when there is none.
func (l *connLimiter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	for {
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, l: l}, nil
		default:
		}
		if l.closeIdlest() {
			continue // its slot is free
		}
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, l: l}, nil
		case <-l.idled:
		case <-l.done:
			c.Close()
			return nil, net.ErrClosed
		}
	}
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
	if st != http.StateIdle {
		delete(l.idle, lc)
		return
	}
	lc.state.Store(connIdle)
	l.seq++
	l.idle[lc] = l.seq
	select {
	case l.idled <- struct{}{}:
	default:
	}
}

// closeIdlest closes the connection idle longest, if one still is, and
// reports whether it did.
func (l *connLimiter) closeIdlest() bool {
	for {
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
		if oldest == nil {
			return false
		}
		if oldest.state.CompareAndSwap(connIdle, connClosing) {
			oldest.Close()
			return true
		}
		// Its next request has begun to arrive: not idle after all.
	}
}

// The states of a limitedConn.
const (
	connBusy    int32 = iota // reading or answering a request, or new
	connIdle                 // between requests, nothing read since
	connClosing              // closed by the limiter while idle
)

// limitedConn gives its slot back once, when it is closed.
type limitedConn struct {
	net.Conn
	l     *connLimiter
	once  sync.Once
	state atomic.Int32
}

// Read marks the connection busy once bytes of a request arrive after it
// went idle; bytes that arrive as the limiter closes it are dropped, so
// that no request is read on a connection that is being cut. A connection
// marked busy gets the header timeout for the rest of its request line and
// headers: net/http waits for four bytes under the idle timeout (2 minutes
// in serve) before it sets its own, and a client sending one byte after
// each answer held a slot that long (found by review).
func (c *limitedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		switch {
		case c.state.CompareAndSwap(connIdle, connBusy):
			if c.l.headerTimeout > 0 {
				_ = c.Conn.SetReadDeadline(time.Now().Add(c.l.headerTimeout))
			}
		case c.state.Load() == connClosing:
			return 0, net.ErrClosed
		}
	}
	return n, err
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
