package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/verifier"
)

// MirrorPropagates checks a verifier built with
// authkit.WithRevocationMirror(maxLag) over its own handle on a store
// that iss writes through another: within 10 s of the start the verifier
// stops asking the store (storeReads, a count of the revocation checks
// that reach the backend, no longer moves), and a session revoked through
// iss is refused within maxLag without a store read, so through the feed.
func MirrorPropagates(t *testing.T, iss *issuer.Issuer, v *verifier.Verifier, storeReads func() int64, maxLag time.Duration) {
	t.Helper()
	ctx := t.Context()
	pair, err := iss.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		before := storeReads()
		if _, err := v.Verify(ctx, pair.AccessToken); err != nil {
			t.Fatalf("Verify of a fresh token: %v", err)
		}
		if storeReads() == before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("every Verify still asks the store 10 s after the verifier started: the mirror never became fresh")
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := iss.Revoke(ctx, pair.RefreshToken); err != nil { // the session: a sid entry
		t.Fatal(err)
	}
	revoked := time.Now()
	for {
		before := storeReads()
		_, err := v.Verify(ctx, pair.AccessToken)
		if errors.Is(err, authkit.ErrTokenRevoked) {
			if storeReads() != before {
				t.Error("the revocation was seen by asking the store, not through the mirror's feed")
			}
			break
		}
		if err != nil {
			t.Fatalf("Verify of a token being revoked: %v", err)
		}
		if time.Since(revoked) > maxLag {
			t.Fatalf("the verifier still accepted a token %v after its session was revoked; WithRevocationMirror(%v)", time.Since(revoked), maxLag)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("a revocation reached the verifier's mirror in %v", time.Since(revoked))
}
