package httpauth

import (
	"context"
	"slices"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/issuer"
)

// Login is what a WithPasswordLogin hook returns for a valid username and
// password: who logged in, and what the tokens of this login carry. Only
// Subject is required; every other field is bounded by the server.
type Login struct {
	// Subject identifies the user (the tokens' sub), 1 to
	// issuer.MaxSubjectLen bytes of printable UTF-8.
	Subject string
	// Claims are application claims for the access token ("roles", say).
	// The session keeps them, so every token refreshed from this login
	// carries them too. Registered claims (sub, scope, exp, client_id, …)
	// are refused in any letter case, as by issuer.WithClaims: a Login
	// naming one fails the login with 500, and so do claims that do not
	// marshal to JSON or exceed issuer.MaxClaimsSize.
	Claims map[string]any
	// Scopes are the scopes this user may hold. The scopes granted are
	// those requested that are among them (all of them when none is
	// requested), bounded by the scope policy (WithAllowedScopes, by
	// default none; or WithScopePolicy) and by the authenticated client's
	// registered scopes. nil: the user may hold no scope. A request that
	// names scopes of which none is granted is refused (invalid_scope)
	// rather than answered with a token without scope; when some are, the
	// response's scope member names them.
	Scopes []string
	// SessionTTL, when positive, shortens this login's session (its
	// absolute lifetime, issuer.WithSessionLifetime) below the issuer's
	// (authkit.WithSessionLifetime), which is the ceiling: "remember me"
	// logins get the issuer's, the others less. At least
	// issuer.MinSessionLifetime. 0: the issuer's.
	SessionTTL time.Duration
	// AccessTTL, when positive, shortens this login's first access token
	// below the issuer's access TTL (the ceiling; issuer.WithAccessTokenTTL).
	// Refreshed access tokens live the issuer's access TTL. At least 1
	// second. 0: the issuer's.
	AccessTTL time.Duration
}

// WithPasswordLogin enables grant_type=password (RFC 6749 §4.3) as
// WithPasswordGrant does, with a hook that returns, besides the subject,
// the claims, scopes and lifetimes of the login (see [Login]). The rules
// of WithPasswordGrant apply to login's errors: one matching
// authkit.ErrStoreUnavailable (or a context error) answers 503 and does not
// count as a failed attempt; one matching authkit.ErrInvalidConfig answers
// 500 and is logged, not counted; any other refuses the login (400
// invalid_grant) and counts against the throttle. A Login the issuer
// refuses (a registered claim, a lifetime out of range, an invalid scope or
// subject) fails the login with 500 and is logged: the hook is wrong, and
// nothing is issued. It replaces WithPasswordGrant, and the reverse.
func WithPasswordLogin(login func(ctx context.Context, username, password string) (Login, error)) HandlerOption {
	return func(c *handlerConfig) error {
		if login == nil {
			return invalid("WithPasswordLogin(nil)")
		}
		c.login = login
		c.password = func(ctx context.Context, username, password string) (string, error) {
			l, err := login(ctx, username, password)
			return l.Subject, err
		}
		return nil
	}
}

// WithRefreshCheck makes every refresh (grant_type=refresh_token) ask the
// application, before the refresh token is rotated, whether the session
// may still be refreshed (issuer.WithRefreshCheck): check returns the
// scopes the session's subject may still hold, and the refreshed access
// token carries the session's scopes among them (return s.Scopes to keep
// them all; it never widens them). An error refuses the refresh and leaves
// the token unspent: one matching authkit.ErrStoreUnavailable (or a
// context error) means check could not answer and is answered 503; any
// other (a disabled user) 400 invalid_grant, and the refresh cookie, if
// any, is cleared. A disabled user thus stops getting access tokens at the
// next refresh; end its sessions as well (issuer.Issuer.RevokeSubject) to
// stop them at once. The introspection endpoint asks check too: a refresh
// token whose session it refuses is inactive, and the scope shown is what
// a refresh would grant.
func WithRefreshCheck(check func(ctx context.Context, s authkit.Session) (allowed []string, err error)) HandlerOption {
	return func(c *handlerConfig) error {
		if check == nil {
			return invalid("WithRefreshCheck(nil)")
		}
		c.refreshCheck = check
		return nil
	}
}

// WithLogoutAllAPITokens makes the logout-all endpoint revoke the caller's
// API tokens as well as its sessions and access tokens
// (issuer.WithAPITokens; knox's LogoutAllView). It needs an API token
// store: NewHandler fails otherwise. Default: API tokens survive a
// logout-all.
func WithLogoutAllAPITokens() HandlerOption {
	return func(c *handlerConfig) error {
		c.logoutAPITokens = true
		return nil
	}
}

// WithAccountClients lets users' sessions through the registered OAuth
// clients ids — their tokens from the authorization-code or password
// grant — use the account endpoints (logout-all, sessions, API tokens),
// which otherwise refuse a token whose client_id is not the issuer's own
// ([ErrClientTokenNotAllowed]). A listed client's own token
// (client_credentials, no session) is still refused. Name only
// first-party applications registered as clients (say, the application's
// own single-page app using the authorization-code flow): a listed
// client's user tokens can mint API tokens that outlive them and end the
// user's other sessions. Each ID is 1 to 255 bytes; a later call replaces
// an earlier one.
func WithAccountClients(ids ...string) HandlerOption {
	return func(c *handlerConfig) error {
		for _, id := range ids {
			if id == "" || len(id) > 255 {
				return invalid("WithAccountClients: a client ID must be 1 to 255 bytes")
			}
		}
		c.accountClients = slices.Clone(ids)
		return nil
	}
}

// revokeSubject logs subject out everywhere for the logout-all endpoint,
// API tokens included under WithLogoutAllAPITokens.
func (h *Handler) revokeSubject(ctx context.Context, subject string) error {
	if h.logoutAPITokens {
		return h.iss.RevokeSubject(ctx, subject, issuer.WithAPITokens())
	}
	return h.iss.RevokeSubject(ctx, subject)
}

// refreshOptions are the issuer options of a refresh: the client binding
// with a client store, the application's check with WithRefreshCheck.
func (h *Handler) refreshOptions(cc *callerClient) []issuer.RefreshOption {
	var opts []issuer.RefreshOption
	if h.clients != nil {
		opts = append(opts, issuer.WithSessionCheck(h.clientBinding(cc)))
	}
	if cc != nil && (cc.client.AccessTTL >= time.Second || cc.client.RefreshTTL >= issuer.MinSessionLifetime) {
		// The client's registered lifetimes hold for every token of its
		// sessions (the binding above makes cc the session's client).
		access, refresh := cc.client.AccessTTL, cc.client.RefreshTTL
		if access < time.Second {
			access = 0
		}
		if refresh < issuer.MinSessionLifetime {
			refresh = 0
		}
		opts = append(opts, issuer.WithClientLifetimes(access, refresh))
	}
	if check := h.scopeCheck(cc); check != nil {
		opts = append(opts, issuer.WithRefreshCheck(check))
	}
	return opts
}

// scopeCheck is the refresh check of a session of client cc (nil: a
// first-party session): WithRefreshCheck's, bounded by the client's
// registered scopes as they are now, which bound every token the client
// gets (authkit.Client.Scopes), refreshed ones too: a registration
// narrowed since the login narrows its sessions' refreshes (found by
// review). nil when there is nothing to check.
func (h *Handler) scopeCheck(cc *callerClient) func(context.Context, authkit.Session) ([]string, error) {
	app := h.refreshCheck
	if cc == nil {
		return app
	}
	bound := cc.client.Scopes
	return func(ctx context.Context, s authkit.Session) ([]string, error) {
		allowed := s.Scopes
		if app != nil {
			var err error
			if allowed, err = app(ctx, s); err != nil {
				return nil, err
			}
		}
		return intersect(allowed, bound), nil
	}
}

// loginScopes returns the scopes a WithPasswordLogin login is granted:
// requested ∩ may (may when none is requested), bounded by the scope
// policy: the WithAllowedScopes list, or what a WithScopePolicy policy
// grants of them. The client's bound is applied by the caller.
func (h *Handler) loginScopes(ctx context.Context, subject string, requested, may []string) ([]string, error) {
	want := may
	if requested != nil {
		want = intersect(requested, may)
	}
	if !h.customPolicy {
		return intersect(want, h.allowed), nil
	}
	granted, err := h.scopes(ctx, subject, want)
	if err != nil {
		return nil, err
	}
	return intersect(granted, want), nil
}

// noneGranted reports whether a request that named scopes is granted none
// of them, which is refused as invalid_scope: a token response whose scope
// differs from the request must say so (RFC 6749 §5.1), and its scope
// member cannot name no scope, so the answer would have left it out and
// the client taken its request for granted (found by review).
func noneGranted(requested, granted []string) bool {
	return len(requested) > 0 && len(granted) == 0
}

// loginOptions are the issue options a Login adds: its claims and lifetimes.
func loginOptions(l *Login) []issuer.IssueOption {
	var opts []issuer.IssueOption
	if len(l.Claims) > 0 {
		opts = append(opts, issuer.WithClaims(l.Claims))
	}
	if l.AccessTTL != 0 {
		opts = append(opts, issuer.WithAccessTokenTTL(l.AccessTTL))
	}
	if l.SessionTTL != 0 {
		opts = append(opts, issuer.WithSessionLifetime(l.SessionTTL))
	}
	return opts
}

// intersect returns the members of a that are in b, in a's order, without
// duplicates, in a new slice.
func intersect(a, b []string) []string {
	out := make([]string, 0, len(a))
	for _, s := range a {
		if slices.Contains(b, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
