package storecall

import (
	"context"
	"time"

	"github.com/authkit-go/authkit"
)

// Clients is an authkit.ClientStore with the deadline DL on each call of
// S. It does not implement authkit.ClientAssertionStore, even when S
// does: BoundClients returns a ClientsWithAssertions then, so that a type
// assertion on the result finds that interface exactly when S has it.
//
// A write given up on at its deadline may still be carried out by the
// store; nothing is undone, since each such outcome fails closed: a
// redeemed code or a used assertion cannot be presented again, and a
// client created, re-keyed or deleted late is what its (retried) caller
// asked for.
type Clients struct {
	S  authkit.ClientStore
	DL *Deadline
}

var _ authkit.ClientStore = (*Clients)(nil)

// ClientsWithAssertions is Clients for a store that also implements
// authkit.ClientAssertionStore, whose UseClientAssertion gets the deadline
// too.
type ClientsWithAssertions struct {
	Clients
	A authkit.ClientAssertionStore
}

var (
	_ authkit.ClientStore          = (*ClientsWithAssertions)(nil)
	_ authkit.ClientAssertionStore = (*ClientsWithAssertions)(nil)
)

// BoundClients returns cs with the deadline dl on each call: a
// *ClientsWithAssertions when cs implements authkit.ClientAssertionStore,
// else a *Clients. A store answered in process (InProcess), and a nil cs,
// are returned as they are.
func BoundClients(cs authkit.ClientStore, dl *Deadline) authkit.ClientStore {
	if cs == nil || InProcess(cs) {
		return cs
	}
	b := Clients{S: cs, DL: dl.For(cs)}
	if a, ok := cs.(authkit.ClientAssertionStore); ok {
		return &ClientsWithAssertions{Clients: b, A: a}
	}
	return &b
}

// CreateClient implements authkit.ClientStore.
func (b *Clients) CreateClient(ctx context.Context, c authkit.Client) error {
	return Do(ctx, b.DL, func(ctx context.Context) error { return b.S.CreateClient(ctx, c) })
}

// GetClient implements authkit.ClientStore.
func (b *Clients) GetClient(ctx context.Context, id string) (authkit.Client, error) {
	return Call(ctx, b.DL, func(ctx context.Context) (authkit.Client, error) { return b.S.GetClient(ctx, id) }, nil)
}

// ListClients implements authkit.ClientStore.
func (b *Clients) ListClients(ctx context.Context) ([]authkit.Client, error) {
	return Call(ctx, b.DL, func(ctx context.Context) ([]authkit.Client, error) { return b.S.ListClients(ctx) }, nil)
}

// SetClientSecret implements authkit.ClientStore.
func (b *Clients) SetClientSecret(ctx context.Context, id string, h authkit.TokenHash, at time.Time) error {
	return Do(ctx, b.DL, func(ctx context.Context) error { return b.S.SetClientSecret(ctx, id, h, at) })
}

// DeleteClient implements authkit.ClientStore.
func (b *Clients) DeleteClient(ctx context.Context, id string) error {
	return Do(ctx, b.DL, func(ctx context.Context) error { return b.S.DeleteClient(ctx, id) })
}

// CreateAuthorizationCode implements authkit.ClientStore. A code stored
// after the caller gave up on it was never handed out, so it cannot be
// redeemed; it expires like any other.
func (b *Clients) CreateAuthorizationCode(ctx context.Context, code authkit.AuthorizationCode) error {
	return Do(ctx, b.DL, func(ctx context.Context) error { return b.S.CreateAuthorizationCode(ctx, code) })
}

// RedeemAuthorizationCode implements authkit.ClientStore. The record the
// store returns comes back with its error (a code already redeemed yields
// it together with authkit.ErrTokenReused); a call given up on returns
// none. A code redeemed after the caller gave up on it is spent: a retry
// is reuse, which fails closed.
func (b *Clients) RedeemAuthorizationCode(ctx context.Context, h authkit.TokenHash, now time.Time) (authkit.AuthorizationCode, error) {
	return Call(ctx, b.DL, func(ctx context.Context) (authkit.AuthorizationCode, error) {
		return b.S.RedeemAuthorizationCode(ctx, h, now)
	}, nil)
}

// SetAuthorizationCodeSession implements authkit.ClientStore.
func (b *Clients) SetAuthorizationCodeSession(ctx context.Context, h authkit.TokenHash, sessionID string) error {
	return Do(ctx, b.DL, func(ctx context.Context) error { return b.S.SetAuthorizationCodeSession(ctx, h, sessionID) })
}

// DeleteExpiredAuthorizationCodes implements authkit.ClientStore.
func (b *Clients) DeleteExpiredAuthorizationCodes(ctx context.Context, now time.Time, limit int) (int, error) {
	return Call(ctx, b.DL, func(ctx context.Context) (int, error) { return b.S.DeleteExpiredAuthorizationCodes(ctx, now, limit) }, nil)
}

// UseClientAssertion implements authkit.ClientAssertionStore. An
// assertion recorded after the caller gave up on it is spent: the client
// signs a fresh one (its jti must be new anyway).
func (b *ClientsWithAssertions) UseClientAssertion(ctx context.Context, clientID string, h authkit.TokenHash, expiresAt, now time.Time) error {
	return Do(ctx, b.DL, func(ctx context.Context) error { return b.A.UseClientAssertion(ctx, clientID, h, expiresAt, now) })
}
