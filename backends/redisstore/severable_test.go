package redisstore_test

import (
	"context"
	"net"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/redisstore"
	"github.com/authkit-go/authkit/conformance"
	"github.com/authkit-go/authkit/internal/testservers"
)

// The conformance harnesses' Severable handles: another handle on a
// store's data whose connections go through proxies the suite cuts and
// restores ("RevocationFeed/Follow/ConnectionCut").

// severableStandalone is Harness.Severable for the server at addr.
func severableStandalone(addr string) func(t *testing.T, s authkit.Store) (authkit.Store, conformance.Link) {
	return func(t *testing.T, s authkit.Store) (authkit.Store, conformance.Link) {
		px := testservers.NewProxy(t, addr)
		return newStore(t, standalone(t, px.Addr()), s.(*redisstore.Store).Prefix()), px
	}
}

// severableCluster is Harness.Severable for the cluster of seeds: every
// node is dialled through a proxy of its own, all cut and restored
// together.
func severableCluster(seeds []string) func(t *testing.T, s authkit.Store) (authkit.Store, conformance.Link) {
	return func(t *testing.T, s authkit.Store) (authkit.Store, conformance.Link) {
		c, link := proxiedCluster(t, seeds)
		return newStore(t, c, s.(*redisstore.Store).Prefix()), link
	}
}

// proxiedCluster returns a cluster client of seeds that dials every node
// through a proxy of its own (a node the seeds did not list has none and
// cannot be reached), and the proxies.
func proxiedCluster(t *testing.T, seeds []string) (*redis.ClusterClient, proxyLinks) {
	t.Helper()
	proxies := map[string]*testservers.Proxy{}
	var link proxyLinks
	for _, a := range seeds {
		proxies[a] = testservers.NewProxy(t, a)
		link = append(link, proxies[a])
	}
	var d net.Dialer
	c := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 seeds,
		ContextTimeoutEnabled: true,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if px, ok := proxies[addr]; ok {
				addr = px.Addr()
			}
			return d.DialContext(ctx, network, addr)
		},
	})
	t.Cleanup(func() { _ = c.Close() })
	return c, link
}

// proxyLinks cuts and restores several proxies together.
type proxyLinks []*testservers.Proxy

func (l proxyLinks) Cut() {
	for _, p := range l {
		p.Cut()
	}
}

func (l proxyLinks) Restore() {
	for _, p := range l {
		p.Restore()
	}
}
