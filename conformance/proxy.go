package conformance

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy on 127.0.0.1 between a store and its server, which a
// test can cut (connections reset, new ones refused), stall (no byte goes
// through, as in a network partition or a hung server) and restore. It is
// what a harness needs for [Harness.Stalled]: point the store's client at
// Addr, make one call so that a connection is open, then Stall. The
// module's own backends use it for that and for their fault tests.
type Proxy struct {
	l      net.Listener
	target string

	mu      sync.Mutex
	state   proxyState
	changed chan struct{} // closed and replaced on every state change
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
	// stallOn, if set, stalls the proxy before it forwards a chunk from a
	// client that it matches (see StallOn).
	stallOn func(chunk []byte) bool
	// stalledBy is the chunk that stallOn matched.
	stalledBy []byte
}

type proxyState int

const (
	proxyUp proxyState = iota
	proxyCut
	proxyStalled
)

// NewProxy starts a proxy to target (host:port), closed in t.Cleanup
// (every connection it holds is closed then, stalled or not).
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{l: l, target: target, changed: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		l.Close()
		p.set(proxyCut)
		p.wg.Wait()
	})
	return p
}

// Link is the connection between a store's handle and its backend, as
// [Harness.Severable] hands it to the suite: Cut drops it (open
// connections reset, new ones refused), Restore lets connections through
// again. A [*Proxy] is one; a handle on several servers (a Redis Cluster)
// goes through one proxy per server, cut and restored together.
type Link interface {
	Cut()
	Restore()
}

var _ Link = (*Proxy)(nil)

// Addr is the proxy's address, to give the store instead of the server's.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// Cut resets every connection and refuses new ones.
func (p *Proxy) Cut() { p.set(proxyCut) }

// Stall holds every byte in both directions, as a network partition does.
func (p *Proxy) Stall() { p.set(proxyStalled) }

// StallOn makes the proxy stall itself, as Stall does, when a client
// sends a chunk (one read from its connection) that match reports, before
// that chunk reaches the server: a partition at an exact point of a
// protocol, such as a COMMIT. Call it before the traffic it watches.
func (p *Proxy) StallOn(match func(chunk []byte) bool) {
	p.mu.Lock()
	p.stallOn = match
	p.mu.Unlock()
}

// StalledBy returns the chunk that stalled the proxy through StallOn, or
// nil if none has.
func (p *Proxy) StalledBy() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stalledBy
}

// Restore lets traffic through again. Connections a stall held are closed
// (the partition heals with them gone, as after a failover).
func (p *Proxy) Restore() { p.set(proxyUp) }

func (p *Proxy) set(s proxyState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.state
	p.state = s
	close(p.changed)
	p.changed = make(chan struct{})
	if s == proxyCut || (old == proxyStalled && s == proxyUp) {
		for c := range p.conns {
			c.Close()
		}
	}
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == proxyCut {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			c.Close()
			continue
		}
		p.wg.Go(func() { p.serve(c) })
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.untrack(client)
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(server) {
		server.Close()
		return
	}
	defer p.untrack(server)
	var wg sync.WaitGroup
	wg.Go(func() { p.pipe(server, client, true) })
	wg.Go(func() { p.pipe(client, server, false) })
	wg.Wait()
}

// pipe copies src to dst, holding every chunk while the proxy is stalled.
// fromClient pipes are the ones StallOn watches.
func (p *Proxy) pipe(dst, src net.Conn, fromClient bool) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && fromClient {
			p.watch(buf[:n])
		}
		for n > 0 {
			p.mu.Lock()
			state, changed := p.state, p.changed
			p.mu.Unlock()
			if state == proxyUp {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
				break
			}
			if state == proxyCut {
				return
			}
			<-changed // stalled: wait for the next state
		}
		if err != nil {
			return
		}
	}
}

// watch stalls the proxy if chunk is the one StallOn waits for.
func (p *Proxy) watch(chunk []byte) {
	p.mu.Lock()
	match := p.stallOn
	p.mu.Unlock()
	if match == nil || !match(chunk) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == proxyUp && p.stalledBy == nil {
		p.stalledBy = append([]byte(nil), chunk...)
		p.state = proxyStalled
		close(p.changed)
		p.changed = make(chan struct{})
	}
}
