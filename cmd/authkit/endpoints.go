package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/verifier"
)

// wiring is what serve gives the HTTP layer beyond the issuer, the
// verifier and the users: how password attempts are throttled and
// audited, the registered clients and the endpoints' options.
type wiring struct {
	// store counts failures; nil: in this process (httpauth's default
	// memory store).
	store authkit.ThrottleStore
	// trusted are the proxies whose X-Forwarded-For is believed.
	trusted []netip.Prefix
	// hook is told about failed and throttled password attempts; nil for
	// none.
	hook func(context.Context, authkit.Event)
	// clients are the registered OAuth clients (authkit clients add), whose
	// authentication /token, /revoke and /introspect then accept; nil for
	// none.
	clients authkit.ClientStore
	// accountClients are the clients whose tokens may use the account
	// endpoints (httpauth.WithAccountClients); nil for none.
	accountClients []string
	// endpointAud: httpauth.WithEndpointAssertionAudiences.
	endpointAud bool
	// corsOrigins are the browser origins that may call /token and
	// /revoke from script (httpauth.WithCORSOrigins); nil for none.
	corsOrigins []string
}

// newEndpoints builds the HTTP layer: the Auth whose middleware protects
// /me (and which finds a request's client address) and the handler with
// authkit's endpoints, whose password grant checks users.
// users.scopes are those a password login may ask for (none by default,
// serve's --scopes). With a
// client store it also serves the authorization endpoint, whose login page
// (authorize.go) checks users through the Handler's password grant
// (AuthorizationRequest.CheckPassword). Every password attempt (the grant,
// the login page; serve takes no Basic credentials) is throttled as w
// says, in one budget.
func newEndpoints(iss *issuer.Issuer, v *verifier.Verifier, users *userDB, log *slog.Logger, w wiring) (*httpauth.Auth, http.Handler, error) {
	opts := []httpauth.Option{httpauth.WithLogger(log), httpauth.WithTrustedProxies(w.trusted...)}
	if w.store != nil {
		opts = append(opts, httpauth.WithThrottleStore(w.store))
	}
	if w.hook != nil {
		opts = append(opts, httpauth.WithEventHook(w.hook))
	}
	auth, err := httpauth.New(v, opts...)
	if err != nil {
		return nil, nil, err
	}
	hopts := []httpauth.HandlerOption{httpauth.WithPasswordGrant(users.check), httpauth.WithAllowedScopes(users.scopes...),
		httpauth.WithRefreshCheck(users.refreshCheck)}
	if w.clients != nil {
		// The registered clients, and for those allowed it the
		// authorization-code grant through serve's login page.
		hopts = append(hopts, httpauth.WithClientStore(w.clients), httpauth.WithAuthorizationCode(newLoginPage(iss, users.scopes, log)))
	}
	if w.endpointAud {
		hopts = append(hopts, httpauth.WithEndpointAssertionAudiences())
	}
	if len(w.accountClients) > 0 {
		hopts = append(hopts, httpauth.WithAccountClients(w.accountClients...))
	}
	if len(w.corsOrigins) > 0 {
		hopts = append(hopts, httpauth.WithCORSOrigins(w.corsOrigins...))
	}
	h, err := httpauth.NewHandler(iss, auth, hopts...)
	if err != nil {
		return nil, nil, err
	}
	return auth, h, nil
}

// clientStoreOf is the store's OAuth client registry, which `authkit
// clients` manages; nil for the memory store (no other process can
// register a client in it).
func clientStoreOf(st openedStore) authkit.ClientStore {
	if cs, ok := st.store.(authkit.ClientStore); ok && st.kind != "memory" {
		return cs
	}
	return nil
}

// throttleStoreOf is the store's shared throttle counters, so that every
// replica over it shares one budget; nil (counters in this process) when
// it has none or is the memory store.
func throttleStoreOf(st openedStore) authkit.ThrottleStore {
	if ts, ok := st.store.(authkit.ThrottleStore); ok && st.kind != "memory" {
		return ts
	}
	return nil
}

// parseTrustedProxies parses --trusted-proxies: comma-separated CIDR
// prefixes or single addresses.
func parseTrustedProxies(s string) ([]netip.Prefix, error) {
	if s == "" {
		return nil, nil
	}
	items, err := splitList(s)
	if err != nil {
		return nil, usagef("--trusted-proxies: %v", err)
	}
	if len(items) > 256 {
		return nil, usagef("--trusted-proxies: at most 256 entries")
	}
	out := make([]netip.Prefix, 0, len(items))
	for _, it := range items {
		p, err := netip.ParsePrefix(it)
		if err != nil {
			a, aerr := netip.ParseAddr(it)
			if aerr != nil || a.Zone() != "" {
				return nil, usagef("--trusted-proxies: %q is neither a CIDR prefix nor an IP address", it)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			// What httpauth.WithTrustedProxies makes of it: ::ffff:0:0/96
			// is 0.0.0.0/0 (found by review).
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		if least := httpauth.MinTrustedProxyBits(p.Addr()); p.Bits() < least {
			// Every address would be a proxy (a /0, or two /1s): any
			// client could then name its own address in X-Forwarded-For
			// and walk past the throttle's per-address limits.
			return nil, usagef("--trusted-proxies: %q is wider than /%d, so clients could choose their own address; name your proxies' addresses or networks", it, least)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
