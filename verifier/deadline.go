package verifier

import (
	"context"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/storecall"
)

// The verifier's stores with the deadline of authkit.WithStoreTimeout
// (package internal/storecall); New wraps each store that is not in
// process.

// boundedFeed is the store a revocation mirror falls back to: its
// revocation calls are bounded, its feed (a long-lived follow, a snapshot
// of any size) is passed through, bounded by the mirror's own
// cancellation.
type boundedFeed struct {
	storecall.Revocations
	authkit.RevocationFeed
}

// boundedAPITokens bounds the two API token calls the verifier makes.
type boundedAPITokens struct {
	authkit.APITokenStore
	dl *storecall.Deadline
}

func (b *boundedAPITokens) LookupAPIToken(ctx context.Context, h authkit.TokenHash) (authkit.APIToken, error) {
	return storecall.Call(ctx, b.dl, func(ctx context.Context) (authkit.APIToken, error) { return b.APITokenStore.LookupAPIToken(ctx, h) }, nil)
}

func (b *boundedAPITokens) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	return storecall.Do(ctx, b.dl, func(ctx context.Context) error { return b.APITokenStore.TouchAPIToken(ctx, id, at) })
}

// boundedExternal bounds the lookup of an API token authkit did not make.
type boundedExternal struct {
	authkit.ExternalAPITokens
	dl *storecall.Deadline
}

func (b *boundedExternal) LookupExternalAPIToken(ctx context.Context, token string) (authkit.APIToken, error) {
	return storecall.Call(ctx, b.dl, func(ctx context.Context) (authkit.APIToken, error) {
		return b.ExternalAPITokens.LookupExternalAPIToken(ctx, token)
	}, nil)
}
