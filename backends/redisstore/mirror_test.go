package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
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
		k, err := keys.Generate(keys.HS256)
		if err != nil {
			t.Fatal(err)
		}
		set, err := keys.NewSet(k)
		if err != nil {
			t.Fatal(err)
		}
		iss, err := issuer.New(authkit.WithStore(newStore(t, connect(), prefix)), authkit.WithKeys(set))
		if err != nil {
			t.Fatal(err)
		}
		vrdb := connect()
		reads := &revocationReads{}
		vrdb.AddHook(reads)
		const maxLag = time.Second
		v, err := verifier.New(authkit.WithStore(newStore(t, vrdb, prefix)), authkit.WithKeys(set), authkit.WithRevocationMirror(maxLag))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = v.Close() })

		ctx := t.Context()
		pair, err := iss.IssuePair(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		// Wait until a Verify no longer reads the revocation keys: the
		// mirror has its snapshot and answers from memory.
		deadline := time.Now().Add(10 * time.Second)
		for {
			before := reads.n.Load()
			if _, err := v.Verify(ctx, pair.AccessToken); err != nil {
				t.Fatalf("Verify of a fresh token: %v", err)
			}
			if reads.n.Load() == before {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("every Verify still reads Redis 10s after the verifier started: the mirror never became fresh")
			}
			time.Sleep(50 * time.Millisecond)
		}

		if err := iss.Revoke(ctx, pair.AccessToken); err != nil {
			t.Fatal(err)
		}
		revoked := time.Now()
		for {
			before := reads.n.Load()
			_, err := v.Verify(ctx, pair.AccessToken)
			if errors.Is(err, authkit.ErrTokenRevoked) {
				if reads.n.Load() != before {
					t.Error("the revocation was seen by asking Redis, not through the mirror: the feed did not deliver it while the copy was fresh")
				}
				break
			}
			if err != nil {
				t.Fatalf("Verify of a token being revoked: %v", err)
			}
			if time.Since(revoked) > maxLag {
				t.Fatalf("the verifier still accepted a token %v after it was revoked; WithRevocationMirror(%v)", time.Since(revoked), maxLag)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("a revocation reached the verifier's mirror in %v", time.Since(revoked))
	})
}

// revocationReads counts the MGETs a client sends (IsRevoked's reads).
type revocationReads struct{ n atomic.Int64 }

func (h *revocationReads) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *revocationReads) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.count(cmd)
		return next(ctx, cmd)
	}
}

func (h *revocationReads) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.count(c)
		}
		return next(ctx, cmds)
	}
}

func (h *revocationReads) count(cmd redis.Cmder) {
	if strings.EqualFold(cmd.Name(), "mget") {
		h.n.Add(1)
	}
}
