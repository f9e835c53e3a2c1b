package verifier

import (
	"context"
	"crypto"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/claims"
	"github.com/authkit-go/authkit/internal/strictjson"
	"github.com/authkit-go/authkit/keys"
)

// trusted is one issuer the Verifier accepts tokens from: its identifier,
// audience, keys (local, remote or both) and compiled profile. It is
// immutable after New.
type trusted struct {
	iss    string
	aud    []string
	keys   *keys.Set   // local keys, or nil
	remote *remoteKeys // remote keys, or nil
	types  []string
	noType bool // a token without typ is accepted
	rules  *claims.Rules
	leeway time.Duration
	// maxLifetime is the longest exp − iat accepted (the profile's
	// MaxTokenLifetime, else WithMaxTokenLifetime); 0: no limit.
	maxLifetime time.Duration
	errType     error    // prebuilt: typ not accepted
	words       []string // the profile's HeaderTypes, lower-cased
	noIss       bool     // a token without "iss" is this issuer's (AllowMissingIssuer)
	noAud       bool     // a token without "aud" is accepted (AllowMissingAudience)
}

// newTrusted compiles an issuer's profile (nil: RFC 9068).
func newTrusted(iss string, aud []string, ks *keys.Set, p *authkit.Profile, leeway, maxLifetime time.Duration) *trusted {
	if p == nil {
		d := authkit.RFC9068Profile()
		p = &d
	}
	if p.Leeway > 0 {
		leeway = p.Leeway
	}
	if p.MaxTokenLifetime > 0 {
		maxLifetime = p.MaxTokenLifetime
	}
	spec := claims.RuleSpec{
		Subject:        p.SubjectClaim,
		Scopes:         p.ScopeClaims,
		ScopeString:    p.ScopeShapes&authkit.ScopeString != 0,
		ScopeArray:     p.ScopeShapes&authkit.ScopeArray != 0,
		Clients:        p.ClientClaims,
		TokenType:      p.TokenTypeClaim,
		TokenTypeValue: p.TokenTypeValue,
		Required:       p.RequiredClaims,
	}
	name := p.Name
	if name == "" {
		name = "custom"
	}
	ti := &trusted{
		iss: iss, aud: slices.Clone(aud), keys: ks,
		types: slices.Clone(p.Types), noType: p.AllowMissingType,
		rules: claims.NewRules(spec), leeway: leeway, maxLifetime: maxLifetime,
		errType: fmt.Errorf("verifier: %w: typ not accepted by the %s profile", authkit.ErrInvalidToken, name),
		noIss:   p.AllowMissingIssuer, noAud: p.AllowMissingAudience,
	}
	for _, w := range p.HeaderTypes {
		ti.words = append(ti.words, strings.ToLower(w))
	}
	return ti
}

// acceptsWord reports whether the issuer's profile lists the Authorization
// scheme word w (lower-cased) in its HeaderTypes.
func (ti *trusted) acceptsWord(w string) bool { return slices.Contains(ti.words, w) }

// lacks reports whether payload, a claims set, is a strict JSON object
// without a member called name. A payload that is not one does not lack
// it: the caller must not take a claim for absent that it could not read.
func lacks(payload []byte, name string) bool {
	o, err := strictjson.NewObject(payload)
	if err != nil {
		return false
	}
	for o.Next() {
		if string(o.Name()) == name {
			return false
		}
	}
	return true
}

// typeOK reports whether the profile accepts the JWS typ.
func (ti *trusted) typeOK(typ string) bool {
	if typ == "" {
		return ti.noType
	}
	for _, t := range ti.types {
		if claims.IsType(typ, t) {
			return true
		}
	}
	return false
}

var errNoKidAmbiguous = fmt.Errorf("verifier: %w: token has no kid and its issuer has more than one key for its alg", authkit.ErrInvalidToken)

// lookupKey finds the key that must verify a token of this issuer with the
// header's kid and alg. A kid-less token gets the issuer's only key for
// alg, if it has exactly one. mayFetch reports whether the remote key set
// may be fetched for a kid it does not hold (false refuses instead: the
// caller could not yet vouch for the token's iss).
func (ti *trusted) lookupKey(ctx context.Context, kid string, alg keys.Algorithm, now time.Time, mayFetch func() error) (*keys.Key, bool, error) {
	if kid == "" {
		return ti.lookupNoKid(ctx, alg, now, mayFetch)
	}
	if ti.keys != nil {
		if k, ok := ti.keys.Lookup(kid); ok {
			return k, true, nil
		}
	}
	if ti.remote == nil {
		return nil, false, nil
	}
	if k, ok, known := ti.remote.cached(kid, now); known {
		return k, ok, nil
	}
	if mayFetch != nil {
		if err := mayFetch(); err != nil {
			return nil, false, err
		}
	}
	return ti.remote.lookup(ctx, kid, now)
}

// lookupNoKid returns the one key of the issuer usable for alg. For an
// HMAC alg only the local keys count: a remote set never holds a symmetric
// key (parseRemoteJWKS skips them), so it is not consulted, and a remote
// JWKS that is down, not yet fetched or closed cannot make a kid-less token
// of a local HMAC key fail with ErrStoreUnavailable (found by review). A
// closed remote still refuses other algs with ErrStoreUnavailable: it may
// have held the token's key.
func (ti *trusted) lookupNoKid(ctx context.Context, alg keys.Algorithm, now time.Time, mayFetch func() error) (*keys.Key, bool, error) {
	var found *keys.Key
	n := 0
	count := func(s *keys.Set) {
		for _, k := range s.Keys() {
			if k.Algorithm() == alg {
				found = k
				n++
			}
		}
	}
	if ti.keys != nil {
		count(ti.keys)
	}
	if ti.remote != nil && !alg.Symmetric() {
		set, err := ti.remote.current(ctx, now, mayFetch)
		if err != nil {
			return nil, false, err
		}
		if set != nil {
			count(set)
		}
	}
	switch n {
	case 0:
		return nil, false, nil
	case 1:
		return found, true, nil
	}
	return nil, false, errNoKidAmbiguous
}

// newIssuers builds the Verifier's trusted issuers from c: its own (with
// WithKeys or WithJWKSURL) first, then those of WithTrustedIssuer.
func newIssuers(c *authkit.Config) []*trusted {
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	hc = secureRedirects(hc)
	var out []*trusted
	if c.Keys != nil || c.JWKSURL != "" {
		ti := newTrusted(c.Issuer, c.Audience, c.Keys, c.Profile, c.Leeway, c.MaxTokenLifetime)
		if c.JWKSURL != "" {
			ti.remote = newRemoteKeys(c.JWKSURL, hc, c.JWKSRefreshInterval, c.JWKSDefaultAlg, c.Clock, c.Logger)
		}
		out = append(out, ti)
	}
	for _, t := range c.TrustedIssuers {
		ti := newTrusted(t.Issuer, t.Audience, t.Keys, t.Profile, c.Leeway, c.MaxTokenLifetime)
		switch {
		case t.JWKSURL != "":
			ti.remote = newRemoteKeys(t.JWKSURL, hc, c.JWKSRefreshInterval, c.JWKSDefaultAlg, c.Clock, c.Logger)
		case t.Discover:
			ti.remote = newDiscoveredKeys(t.Issuer, hc, c.JWKSRefreshInterval, c.JWKSDefaultAlg, c.Clock, c.Logger)
		}
		out = append(out, ti)
	}
	return out
}

// CheckIssuer returns an error naming the reason when v would refuse every
// access token that an issuer.Issuer with the identifier id (its ID) mints
// while signing with key (its key set's active key): v trusts no issuer
// named id, or does not accept the access-token type ("at+jwt") under
// that issuer's profile, or holds local keys for it (authkit.WithKeys)
// and none of them, or another key under the same kid, checks key's
// signatures. It returns nil when it finds no such reason, which is not a
// promise that every token is accepted: the audience, scopes and claims a
// token carries vary from token to token, and a remote key set
// (authkit.WithJWKSURL, discovery) is not consulted, since its keys are
// not known until fetched. It makes no store call and no network request.
//
// httpauth.NewHandler calls it, so that an issuer and a verifier set up
// with two identifiers or two key sets fail at start-up rather than with
// a 401 on every request.
func (v *Verifier) CheckIssuer(id string, key *keys.Key) error {
	ti := v.single
	switch {
	case ti != nil:
		if id != ti.iss && !(id == "" && ti.noIss) {
			return fmt.Errorf("verifier: tokens with issuer %q are refused: it trusts the issuer %q", id, ti.iss)
		}
	case id == "" && v.noIss != nil:
		ti = v.noIss
	default:
		if ti = v.byIssuer[id]; ti == nil {
			return fmt.Errorf("verifier: tokens with issuer %q are refused: it trusts no issuer by that identifier", id)
		}
	}
	if !ti.typeOK(claims.TypeAccessToken) {
		return fmt.Errorf("verifier: tokens of type %q are refused under the profile of issuer %q (its Types)", claims.TypeAccessToken, id)
	}
	if key == nil || ti.keys == nil {
		return nil
	}
	own, ok := ti.keys.Lookup(key.ID())
	switch {
	case ok && !sameKey(key, own):
		return fmt.Errorf("verifier: tokens signed with key %q are refused: the key set it was given for issuer %q holds another key under that ID", key.ID(), id)
	case !ok && ti.remote == nil:
		return fmt.Errorf("verifier: tokens signed with key %q are refused: the key set it was given for issuer %q has no key by that ID", key.ID(), id)
	}
	return nil
}

// sameKey reports whether trusted checks the signatures key makes: the
// same key, the same public key, or for an HMAC key the same secret (by a
// probe signature, made in process). An asymmetric key is never asked to
// sign: it may be a KMS's signer, a network call that can fail.
func sameKey(key, trusted *keys.Key) bool {
	switch {
	case key == trusted:
		return true
	case key.Algorithm() != trusted.Algorithm():
		return false
	case key.Symmetric():
		input := []byte("authkit:check-issuer-probe")
		sig, err := key.Sign(input)
		return err == nil && trusted.Verify(input, sig) == nil
	}
	a, b := key.PublicKey(), trusted.PublicKey()
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && b != nil && eq.Equal(b)
}
