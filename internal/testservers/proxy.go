package testservers

import (
	"testing"

	"github.com/authkit-go/authkit/conformance"
)

// Proxy is conformance.Proxy, the fault tests' TCP proxy between a store
// and its server.
type Proxy = conformance.Proxy

// NewProxy starts a proxy to target (host:port), closed in t.Cleanup.
func NewProxy(t testing.TB, target string) *Proxy { return conformance.NewProxy(t, target) }
