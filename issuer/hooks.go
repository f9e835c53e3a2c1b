package issuer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/authkit-go/authkit"
)

// MinSessionLifetime is the shortest lifetime WithSessionLifetime accepts.
const MinSessionLifetime = time.Minute

// WithSessionLifetime makes the session IssuePair starts end d after the
// login instead of after the issuer's session lifetime
// (authkit.WithSessionLifetime) when d is shorter; a longer d is cut to
// the issuer's, which is the ceiling. Every refresh token of the session
// expires by then, whatever its idle TTL. d must be at least
// MinSessionLifetime. It serves a per-login choice such as "remember me":
// configure the longest lifetime on the issuer and shorten the others.
// IssueAccessToken ignores it (it starts no session).
func WithSessionLifetime(d time.Duration) IssueOption {
	return func(p *issueParams) error {
		if d < MinSessionLifetime {
			return fmt.Errorf("issuer: %w: session lifetime %v is under %v", authkit.ErrInvalidRequest, d, MinSessionLifetime)
		}
		p.lifetime = d
		return nil
	}
}

// sessionLifetime is the lifetime of this call's session: the per-call
// lifetime when it is shorter than def, else def.
func (p *issueParams) sessionLifetime(def time.Duration) time.Duration {
	if p.lifetime > 0 && p.lifetime < def {
		return p.lifetime
	}
	return def
}

// WithRefreshCheck makes Refresh ask the application, before anything is
// rotated, whether the session of the presented refresh token may still
// be refreshed: is its subject still active, which of the session's scopes
// may it still hold? check returns the scopes still allowed; the new
// access token carries the session's scopes that are among them (return
// s.Scopes to keep them all). It cannot widen them, and the session keeps
// its scopes, so a later refresh may regain them if check allows them
// again. When it allows none of a session's scopes (nil, say), Refresh
// fails with authkit.ErrInsufficientScope (invalid_scope over HTTP) and
// the token stays unspent: a token with no scope, reported without a
// scope member, reads to an OAuth client as its scopes kept (RFC 6749 §6).
// A session that never had scopes refreshes as before.
//
// An error refuses the refresh and leaves the token unspent. An error
// matching authkit.ErrStoreUnavailable, or a context error, means check
// could not answer: Refresh returns it as it is (the HTTP layer answers
// 503). Any other error means the application refuses (a disabled user):
// Refresh returns an error matching authkit.ErrTokenRevoked that wraps it
// (invalid_grant). Both are reported as authkit.EventAuthFailed. A token
// that is not current is not checked first, as with WithSessionCheck; a
// repeat within authkit.WithReuseGrace receives the successor only if
// check allows it, with the scopes it allows. It costs one more lookup of
// the token and its session per refresh (shared with WithSessionCheck).
func WithRefreshCheck(check func(ctx context.Context, s authkit.Session) (allowed []string, err error)) RefreshOption {
	return func(p *refreshParams) error {
		if check == nil {
			return fmt.Errorf("issuer: %w: WithRefreshCheck(nil)", authkit.ErrInvalidRequest)
		}
		p.app = check
		return nil
	}
}

// run applies the session check, then the application's refresh check, to
// s, and returns the scopes the latter allows.
func (rp *refreshParams) run(ctx context.Context, s authkit.Session) ([]string, error) {
	if rp.check != nil {
		if err := rp.check(ctx, s); err != nil {
			return nil, fmt.Errorf("issuer: refresh: %w", err)
		}
	}
	if rp.app == nil {
		return nil, nil
	}
	allowed, err := rp.app(ctx, s)
	if err != nil {
		if noAnswer(err) {
			return nil, fmt.Errorf("issuer: refresh check: %w", err)
		}
		return nil, fmt.Errorf("issuer: refresh: %w: the application refused: %w", authkit.ErrTokenRevoked, err)
	}
	return allowed, nil
}

// granted refuses (authkit.ErrInsufficientScope) a narrowing refresh
// (WithRequestedScopes) that asks for a scope s was not granted; without
// narrowing it accepts anything.
func (rp *refreshParams) granted(s authkit.Session) error {
	if !rp.narrow {
		return nil
	}
	for _, want := range rp.scopes {
		if !slices.Contains(s.Scopes, want) {
			return fmt.Errorf("issuer: refresh: %w: scope %q was not granted to the session", authkit.ErrInsufficientScope, want)
		}
	}
	return nil
}

// scopesFor returns the scopes a refresh of session s grants: those asked
// for (WithRequestedScopes), else the session's, bounded by what the
// application's check still allows. A session that held scopes and would
// be left with none fails with authkit.ErrInsufficientScope: a token
// response's scope member cannot say "none", and without it the client
// takes the session's scopes for granted (RFC 6749 §5.1, §6; found by
// review).
func (rp *refreshParams) scopesFor(s authkit.Session, allowed []string) ([]string, error) {
	out := s.Scopes
	if rp.narrow {
		out = rp.scopes
	}
	if rp.app != nil {
		out = keepScopes(out, allowed)
	}
	if len(out) == 0 && len(s.Scopes) > 0 {
		return nil, fmt.Errorf("issuer: refresh: %w: none of the session's scopes is still allowed", authkit.ErrInsufficientScope)
	}
	return out, nil
}

// keepScopes returns the scopes of have that are in allowed, in have's
// order, in a new slice.
func keepScopes(have, allowed []string) []string {
	out := make([]string, 0, len(have))
	for _, s := range have {
		if slices.Contains(allowed, s) {
			out = append(out, s)
		}
	}
	return out
}

// RevokeSubjectOption configures one RevokeSubject call.
type RevokeSubjectOption func(*revokeSubjectParams) error

type revokeSubjectParams struct {
	apiTokens bool
}

// WithAPITokens makes RevokeSubject revoke every live API token of the
// subject as well (knox's LogoutAllView). It needs an API token store:
// without one RevokeSubject fails with authkit.ErrInvalidConfig before
// revoking anything.
func WithAPITokens() RevokeSubjectOption {
	return func(p *revokeSubjectParams) error {
		p.apiTokens = true
		return nil
	}
}

// revokeAPITokens revokes every live API token of subject. A token revoked
// meanwhile by someone else is not an error.
func (i *Issuer) revokeAPITokens(ctx context.Context, subject string) error {
	ts, err := i.apiTokens.ListAPITokens(ctx, subject, i.now())
	if err != nil {
		return err
	}
	for _, t := range ts {
		if err := i.RevokeAPIToken(ctx, subject, t.ID); err != nil && !errors.Is(err, authkit.ErrNotFound) {
			return err
		}
	}
	return nil
}
