package issuer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/storecall"
)

// The stores below give every call of the store they wrap the deadline of
// authkit.WithStoreTimeout (see storecall.Call). New wraps each store that is not
// in process.

// none is the result of a bounded call that returns only an error.
type none struct{}

// boundedRefresh is an authkit.RefreshStore with a deadline on each call.
type boundedRefresh struct {
	s   authkit.RefreshStore
	dl  *storecall.Deadline
	now func() time.Time
	log *slog.Logger
}

// CreateSession creates the session of a login. When the call was cut
// short (the store timeout, the caller's deadline or cancellation) the
// session may have been created all the same, for a client that was told
// the login failed and never received its refresh token: once the store
// has answered, the session is revoked again, so that it neither lingers
// in the subject's session list nor could ever be refreshed.
func (b *boundedRefresh) CreateSession(ctx context.Context, s authkit.Session, first authkit.RefreshRecord) error {
	_, err := storecall.Call(ctx, b.dl, func(ctx context.Context) (none, error) {
		return none{}, b.s.CreateSession(ctx, s, first)
	}, func(err error, abandoned bool) {
		if err == nil && abandoned || err != nil && storecall.OutcomeUnknown(err) {
			b.discard(ctx, s, err)
		}
	})
	return err
}

// discard revokes session s, created (or perhaps created) for a client
// that was never told of it; cause is the creation's error, nil if it
// succeeded after its caller had gone. It runs in the background, after
// the call that created it has returned.
func (b *boundedRefresh) discard(ctx context.Context, s authkit.Session, cause error) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.dl.Timeout())
	defer cancel()
	err := b.s.RevokeSession(dctx, s.ID, b.now())
	switch {
	case err == nil:
		b.log.WarnContext(ctx, "authkit: revoked a session whose login the client was told had failed (the store answered too late)", "session", s.ID, "subject", s.Subject)
	case errors.Is(err, authkit.ErrNotFound):
		// The login was never stored: nothing to undo.
	default:
		b.log.Log(ctx, discardLevel(cause), "authkit: a login the client was told had failed may have left a session; revoking it failed (it cannot be refreshed: its refresh token was never delivered)", "session", s.ID, "subject", s.Subject, "error", err)
	}
}

func (b *boundedRefresh) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	return storecall.Call(ctx, b.dl, func(ctx context.Context) (authkit.Session, error) { return b.s.RotateRefresh(ctx, r) }, nil)
}

func (b *boundedRefresh) LookupRefresh(ctx context.Context, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	return storecall.Call(ctx, b.dl, func(ctx context.Context) (authkit.RefreshRecord, error) { return b.s.LookupRefresh(ctx, h) }, nil)
}

// LookupRefreshInSession is the store's, bounded, when it has one, else
// LookupRefresh narrowed to the session.
func (b *boundedRefresh) LookupRefreshInSession(ctx context.Context, sid string, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	return storecall.Call(ctx, b.dl, func(ctx context.Context) (authkit.RefreshRecord, error) { return lookupIn(ctx, b.s, sid, h) }, nil)
}

// lookupIn finds the record with hash h of session sid in s: through
// authkit.RefreshSessionLookup when s has it and sid is set, else by hash,
// refusing a record of another session (ErrNotFound) when sid is set.
func lookupIn(ctx context.Context, s authkit.RefreshStore, sid string, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	if l, ok := s.(authkit.RefreshSessionLookup); ok && sid != "" {
		return l.LookupRefreshInSession(ctx, sid, h)
	}
	rec, err := s.LookupRefresh(ctx, h)
	if err == nil && sid != "" && rec.SessionID != sid {
		return authkit.RefreshRecord{}, fmt.Errorf("issuer: %w: the record is of another session", authkit.ErrNotFound)
	}
	return rec, err
}

func (b *boundedRefresh) Session(ctx context.Context, id string) (authkit.Session, error) {
	return storecall.Call(ctx, b.dl, func(ctx context.Context) (authkit.Session, error) { return b.s.Session(ctx, id) }, nil)
}

func (b *boundedRefresh) ListSessions(ctx context.Context, subject string, now time.Time) ([]authkit.Session, error) {
	return storecall.Call(ctx, b.dl, func(ctx context.Context) ([]authkit.Session, error) { return b.s.ListSessions(ctx, subject, now) }, nil)
}

func (b *boundedRefresh) RevokeSession(ctx context.Context, id string, now time.Time) error {
	return storecall.Do(ctx, b.dl, func(ctx context.Context) error { return b.s.RevokeSession(ctx, id, now) })
}

func (b *boundedRefresh) RevokeSubjectSessions(ctx context.Context, subject string, now time.Time) ([]string, error) {
	return storecall.Call(ctx, b.dl, func(ctx context.Context) ([]string, error) { return b.s.RevokeSubjectSessions(ctx, subject, now) }, nil)
}

func (b *boundedRefresh) DeleteExpiredSessions(ctx context.Context, now time.Time, limit int) (int, error) {
	return storecall.Call(ctx, b.dl, func(ctx context.Context) (int, error) { return b.s.DeleteExpiredSessions(ctx, now, limit) }, nil)
}

// boundedAPITokens is an authkit.APITokenStore with a deadline on each
// call.
type boundedAPITokens struct {
	s   authkit.APITokenStore
	dl  *storecall.Deadline
	now func() time.Time
	log *slog.Logger
}

// CreateAPIToken creates an API token. Like a session (see
// boundedRefresh.CreateSession), a token whose creation was cut short is
// revoked again once the store has answered: its secret never reached the
// client, and it would count against the subject's limit.
func (b *boundedAPITokens) CreateAPIToken(ctx context.Context, t authkit.APIToken, limit int, now time.Time) error {
	_, err := storecall.Call(ctx, b.dl, func(ctx context.Context) (none, error) {
		return none{}, b.s.CreateAPIToken(ctx, t, limit, now)
	}, func(err error, abandoned bool) {
		if err == nil && abandoned || err != nil && storecall.OutcomeUnknown(err) {
			b.discard(ctx, t, err)
		}
	})
	return err
}

func (b *boundedAPITokens) discard(ctx context.Context, t authkit.APIToken, cause error) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.dl.Timeout())
	defer cancel()
	err := b.s.RevokeAPIToken(dctx, t.Subject, t.ID, b.now())
	switch {
	case err == nil:
		b.log.WarnContext(ctx, "authkit: revoked an API token whose creation the client was told had failed (the store answered too late)", "token_id", t.ID, "subject", t.Subject)
	case errors.Is(err, authkit.ErrNotFound):
	default:
		b.log.Log(ctx, discardLevel(cause), "authkit: an API token creation the client was told had failed may have left a token; revoking it failed (its secret was never delivered)", "token_id", t.ID, "subject", t.Subject, "error", err)
	}
}

// discardLevel is the level of a discard whose revocation failed, for a
// creation that failed with cause: a warning when the creation was cut
// short or finished late (something was, or likely was, stored), debug
// when the store itself failed, as it does for every call of an outage
// (most such creations never reached it, and the outage is logged
// elsewhere).
func discardLevel(cause error) slog.Level {
	if cause == nil || storecall.CutShort(cause) {
		return slog.LevelWarn
	}
	return slog.LevelDebug
}

func (b *boundedAPITokens) LookupAPIToken(ctx context.Context, h authkit.TokenHash) (authkit.APIToken, error) {
	return storecall.Call(ctx, b.dl, func(ctx context.Context) (authkit.APIToken, error) { return b.s.LookupAPIToken(ctx, h) }, nil)
}

func (b *boundedAPITokens) ListAPITokens(ctx context.Context, subject string, now time.Time) ([]authkit.APIToken, error) {
	return storecall.Call(ctx, b.dl, func(ctx context.Context) ([]authkit.APIToken, error) { return b.s.ListAPITokens(ctx, subject, now) }, nil)
}

func (b *boundedAPITokens) RevokeAPIToken(ctx context.Context, subject, id string, now time.Time) error {
	return storecall.Do(ctx, b.dl, func(ctx context.Context) error { return b.s.RevokeAPIToken(ctx, subject, id, now) })
}

func (b *boundedAPITokens) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	return storecall.Do(ctx, b.dl, func(ctx context.Context) error { return b.s.TouchAPIToken(ctx, id, at) })
}

func (b *boundedAPITokens) DeleteExpiredAPITokens(ctx context.Context, now time.Time, limit int) (int, error) {
	return storecall.Call(ctx, b.dl, func(ctx context.Context) (int, error) { return b.s.DeleteExpiredAPITokens(ctx, now, limit) }, nil)
}
