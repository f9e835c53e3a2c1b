package issuer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/claims"
	"github.com/authkit-go/authkit/internal/jws"
	"github.com/authkit-go/authkit/internal/opaque"
)

// MaxEventMethodLen bounds the method WithEventMethod sets.
const MaxEventMethodLen = 64

// WithAccessTokenTTL makes this call's access token live d instead of the
// issuer's access TTL (authkit.WithAccessTTL) when d is shorter; a longer
// d is cut to the access TTL, since revocations of sessions and subjects
// are remembered only that long. d must be positive (at least 1 second).
// For IssuePair it applies to the first access token only: a refresh mints
// with the issuer's TTL. The HTTP layer uses it for a client's
// authkit.Client.AccessTTL.
func WithAccessTokenTTL(d time.Duration) IssueOption {
	return func(p *issueParams) error {
		if d < time.Second {
			return fmt.Errorf("issuer: %w: access token TTL %v is under 1 second", authkit.ErrInvalidRequest, d)
		}
		p.ttl = d
		return nil
	}
}

// WithEventMethod sets the Method of the authkit.EventIssued event this
// call reports (default authkit.MethodJWT), for instance
// "client_credentials" for a token minted by that grant. 1 to
// MaxEventMethodLen bytes of printable ASCII.
func WithEventMethod(method string) IssueOption {
	return func(p *issueParams) error {
		if method == "" || len(method) > MaxEventMethodLen {
			return fmt.Errorf("issuer: %w: event method must be 1 to %d bytes", authkit.ErrInvalidRequest, MaxEventMethodLen)
		}
		for i := 0; i < len(method); i++ {
			if method[i] < 0x21 || method[i] > 0x7e {
				return fmt.Errorf("issuer: %w: event method must be printable ASCII", authkit.ErrInvalidRequest)
			}
		}
		p.method = method
		return nil
	}
}

// accessTTL is the lifetime of this call's access token: the per-call TTL
// when it is shorter than def, else def.
func (p *issueParams) accessTTL(def time.Duration) time.Duration {
	if p.ttl > 0 && p.ttl < def {
		return p.ttl
	}
	return def
}

func (p *issueParams) eventMethod() string {
	if p.method != "" {
		return p.method
	}
	return authkit.MethodJWT
}

// WithSessionCheck makes Refresh call check with the session of the
// presented refresh token before anything is rotated; an error from check
// refuses the refresh (Refresh returns it wrapped, and reports
// authkit.EventAuthFailed) and leaves the token unspent. A token that is
// not current (already rotated, say) is not checked first: the rotation
// then detects its reuse as usual, and check decides whether a repeat
// within authkit.WithReuseGrace may receive the successor (if it fails,
// the repeat is treated as reuse and the session revoked). The HTTP layer
// uses it to bind a refresh token to the client it was issued to (RFC 6749
// §6). It costs one more lookup of the token and its session per refresh.
func WithSessionCheck(check func(ctx context.Context, s authkit.Session) error) RefreshOption {
	return func(p *refreshParams) error {
		if check == nil {
			return fmt.Errorf("issuer: %w: WithSessionCheck(nil)", authkit.ErrInvalidRequest)
		}
		p.check = check
		return nil
	}
}

// ClientID returns the client_id this issuer writes into tokens issued
// without issuer.WithClientID (authkit.WithClientID), "" when none. The
// HTTP layer treats sessions of this client_id as first-party.
func (i *Issuer) ClientID() string { return i.clientID }

// TokenClientID returns the client_id a token of this issuer was issued
// to, "" when none: an access token's client_id claim (its signature and
// issuer are checked; it may have expired), a refresh token's session's
// ClientID (whether or not the token is still current), and "" for an API
// token. A token that is not one of ours yields authkit.ErrInvalidToken; a
// store that cannot answer, authkit.ErrStoreUnavailable. It changes
// nothing. The HTTP layer uses it to keep a client from revoking another
// client's token (RFC 7009 §2.1).
func (i *Issuer) TokenClientID(ctx context.Context, token string) (string, error) {
	if err := i.ready(); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	switch {
	case opaque.Looks(token, i.prefix, opaque.KindRefresh):
		if i.refresh == nil || opaque.Check(token, i.prefix, opaque.KindRefresh) != nil {
			return "", fmt.Errorf("issuer: token client: %w", authkit.ErrInvalidToken)
		}
		h := i.hasher.Hash(token)
		rec, err := i.lookupRefresh(ctx, opaque.SessionOf(token, i.prefix), h)
		if errors.Is(err, authkit.ErrNotFound) || err == nil && !opaque.Equal(rec.Hash, h) {
			return "", fmt.Errorf("issuer: token client: %w", authkit.ErrInvalidToken)
		}
		if err != nil {
			return "", fmt.Errorf("issuer: token client: %w", err)
		}
		s, err := i.refresh.Session(ctx, rec.SessionID)
		if errors.Is(err, authkit.ErrNotFound) {
			return "", fmt.Errorf("issuer: token client: %w", authkit.ErrInvalidToken)
		}
		if err != nil {
			return "", fmt.Errorf("issuer: token client: %w", err)
		}
		return s.ClientID, nil
	case opaque.Looks(token, i.prefix, opaque.KindAPI):
		if opaque.Check(token, i.prefix, opaque.KindAPI) != nil {
			return "", fmt.Errorf("issuer: token client: %w", authkit.ErrInvalidToken)
		}
		return "", nil
	default:
		var t jws.Token
		if err := jws.Parse(token, &t); err != nil {
			return "", fmt.Errorf("issuer: token client: %w", authkit.ErrInvalidToken)
		}
		k, ok := i.tokenKey(t.Header)
		if !ok || t.Verify(k) != nil {
			return "", fmt.Errorf("issuer: token client: %w", authkit.ErrInvalidToken)
		}
		payload, err := t.AppendPayload(nil)
		if err != nil {
			return "", fmt.Errorf("issuer: token client: %w", authkit.ErrInvalidToken)
		}
		var c claims.Claims
		if err := claims.Parse(payload, &c); err != nil || c.Issuer != i.iss {
			return "", fmt.Errorf("issuer: token client: %w", authkit.ErrInvalidToken)
		}
		return c.ClientID, nil
	}
}

// WithRefreshTokenTTL makes the first refresh token of the session
// IssuePair starts expire, unused, d after the login when d is shorter
// than the issuer's refresh TTL (authkit.WithRefreshTTL), the ceiling. d
// must be at least MinSessionLifetime. The HTTP layer uses it for a
// client's authkit.Client.RefreshTTL; WithClientLifetimes keeps it for
// the tokens refreshed from the session.
func WithRefreshTokenTTL(d time.Duration) IssueOption {
	return func(p *issueParams) error {
		if d < MinSessionLifetime {
			return fmt.Errorf("issuer: %w: refresh token TTL %v is under %v", authkit.ErrInvalidRequest, d, MinSessionLifetime)
		}
		p.rtTTL = d
		return nil
	}
}

// WithClientLifetimes makes Refresh mint the new access token with
// lifetime access and the new refresh token with idle lifetime refresh,
// each only when shorter than the issuer's (the ceiling); zero keeps the
// issuer's. The HTTP layer passes a client's registered lifetimes
// (authkit.Client.AccessTTL, RefreshTTL), so that they hold for every
// token of the client's sessions, not only the first. access, when not
// zero, must be at least 1 second; refresh at least MinSessionLifetime.
func WithClientLifetimes(access, refresh time.Duration) RefreshOption {
	return func(p *refreshParams) error {
		if access < 0 || (access > 0 && access < time.Second) || refresh < 0 || (refresh > 0 && refresh < MinSessionLifetime) {
			return fmt.Errorf("issuer: %w: WithClientLifetimes(%v, %v): access at least 1s, refresh at least %v, or zero", authkit.ErrInvalidRequest, access, refresh, MinSessionLifetime)
		}
		p.accessTTL, p.rtTTL = access, refresh
		return nil
	}
}

// shorter returns d when it is positive and shorter than def, else def.
func shorter(d, def time.Duration) time.Duration {
	if d > 0 && d < def {
		return d
	}
	return def
}
