package redisstore_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/storetest"
	"github.com/authkit-go/authkit/internal/testservers"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// TestRevocationMirror runs a verifier with WithRevocationMirror over a
// Store of its own (its own client, as on another machine) while an issuer
// revokes through another: once the mirror's copy is fresh the verifier
// answers without asking Redis, and a revocation made through the issuer
// reaches it through the feed, within the mirror's maxLag.
func TestRevocationMirror(t *testing.T) {
	topologies(t, func(t *testing.T, admin redis.UniversalClient, connect func() redis.UniversalClient) {
		prefix := testservers.RedisPrefix(t, admin)
		set := storetest.KeySet(t, keys.HS256)
		iss, err := issuer.New(authkit.WithStore(newStore(t, connect(), prefix)), authkit.WithKeys(set))
		if err != nil {
			t.Fatal(err)
		}
		vrdb := connect()
		reads := &revocationReads{}
		vrdb.AddHook(cmdHook(reads.count))
		const maxLag = time.Second
		v, err := verifier.New(authkit.WithStore(newStore(t, vrdb, prefix)), authkit.WithKeys(set), authkit.WithRevocationMirror(maxLag))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = v.Close() })

		storetest.MirrorPropagates(t, iss, v, reads.n.Load, maxLag)
	})
}

// revocationReads counts the MGETs a client sends (IsRevoked's reads).
type revocationReads struct{ n atomic.Int64 }

func (h *revocationReads) count(cmd redis.Cmder) {
	if strings.EqualFold(cmd.Name(), "mget") {
		h.n.Add(1)
	}
}
