package httpauth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/authkit-go/authkit"
)

// MetadataWellKnown is the well-known path of RFC 8414 authorization
// server metadata; MetadataPath inserts it into an issuer URL.
const MetadataWellKnown = "/.well-known/oauth-authorization-server"

// MetadataPath returns the path at which RFC 8414 §3.1 says the metadata
// of issuerURL is served: the well-known path, then issuerURL's own path
// ("https://a.example/tenant1" gives
// "/.well-known/oauth-authorization-server/tenant1").
func MetadataPath(issuerURL string) (string, error) {
	u, err := metadataIssuer(issuerURL)
	if err != nil {
		return "", err
	}
	return MetadataWellKnown + strings.TrimSuffix(u.Path, "/"), nil
}

// metadataIssuer checks that issuerURL can name an authorization server:
// an absolute https URL (http for a loopback host) without query or
// fragment (RFC 8414 §2).
func metadataIssuer(issuerURL string) (*url.URL, error) {
	u, err := url.Parse(issuerURL)
	switch {
	case err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, invalid("metadata: the issuer %q is not an absolute URL without user, query or fragment: RFC 8414 needs the tokens' iss to be the server's URL", issuerURL)
	case u.Scheme == "https":
	case u.Scheme == "http" && metadataLoopback(u.Hostname()):
	default:
		return nil, invalid("metadata: the issuer %q must be https (http only on a loopback host)", issuerURL)
	}
	return u, nil
}

func metadataLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// MetadataHandler returns the handler of h's RFC 8414 authorization server
// metadata, to be served at MetadataPath of the issuer (a GET, JSON, with a
// short public cache lifetime). It describes exactly what h has enabled:
// the endpoints it serves (the issuer's URL followed by h's paths, so h is
// to be mounted under the issuer's path), the grant types (refresh_token
// with a refresh store; password with WithPasswordGrant; client_credentials
// with WithClientStore; authorization_code with WithAuthorizationCode,
// which also adds the authorization endpoint, response type "code", PKCE
// method S256 and RFC 9207's iss parameter), the client authentication
// methods of each endpoint (with WithClientStore: client_secret_basic,
// client_secret_post and private_key_jwt when the client store records
// client assertions (authkit.ClientAssertionStore), plus none for a public
// client at the token and revocation endpoints but not at introspection,
// which a public client may not call; without a client store: none at the
// token and revocation endpoints; at introspection also Bearer, for the
// callers that present a credential the Auth accepts), and scopes, the ones given (the application knows which it
// allows; none given leaves scopes_supported out). The issuer identifier
// is the issuer's iss (WithIssuer), which must be an https URL (http on a
// loopback host): an error matching authkit.ErrInvalidConfig otherwise.
func (h *Handler) MetadataHandler(scopes ...string) (http.Handler, error) {
	iss := h.iss.ID()
	u, err := metadataIssuer(iss)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(u.String(), "/")
	// response_types_supported is REQUIRED, but with no authorization
	// endpoint it has no element, and a claim with none MUST be left out
	// (RFC 8414 §3.2; found by review: it was published as []).
	doc := map[string]any{"issuer": iss}
	if h.authorize != nil {
		doc["authorization_endpoint"] = base + h.paths.Authorize
		doc["response_types_supported"] = []string{"code"}
		doc["response_modes_supported"] = []string{"query"}
		doc["code_challenge_methods_supported"] = []string{"S256"}
		doc["authorization_response_iss_parameter_supported"] = true
	}
	if h.paths.Token != "" {
		doc["token_endpoint"] = base + h.paths.Token
	}
	if h.paths.JWKS != "" {
		doc["jwks_uri"] = base + h.paths.JWKS
	}
	if h.paths.Revoke != "" {
		doc["revocation_endpoint"] = base + h.paths.Revoke
	}
	if h.paths.Introspect != "" {
		doc["introspection_endpoint"] = base + h.paths.Introspect
	}
	var grants []string
	if refresh, _, _ := h.iss.Stores(); refresh {
		grants = append(grants, authkit.GrantRefreshToken)
	}
	if h.password != nil && !h.noPasswordGrant {
		grants = append(grants, authkit.GrantPassword)
	}
	// The methods a confidential client authenticates with; public
	// clients ("none") are added where the endpoint serves them.
	confidential := []string{}
	if h.clients != nil {
		if h.authorize != nil {
			grants = append(grants, authkit.GrantAuthorizationCode)
		}
		grants = append(grants, authkit.GrantClientCredentials)
		confidential = []string{"client_secret_basic", "client_secret_post"}
		if _, ok := h.clients.(authkit.ClientAssertionStore); ok {
			confidential = append(confidential, "private_key_jwt")
			for _, ep := range []string{"token", "revocation", "introspection"} {
				doc[ep+"_endpoint_auth_signing_alg_values_supported"] = clientAssertionAlgs
			}
		}
	}
	withNone := append(slices.Clone(confidential), "none")
	if h.paths.Revoke != "" {
		// RFC 7009 §2.1: a public client revokes its own tokens by
		// naming itself, and a first-party caller by holding the token.
		doc["revocation_endpoint_auth_methods_supported"] = withNone
	}
	if h.paths.Introspect != "" {
		// Only an authenticated confidential client, or a caller the Auth
		// accepts with a bearer credential, may introspect: never a public
		// client. RFC 8414 §2 lets this list name access token types
		// beside client authentication methods: "Bearer" says the second
		// (found by review: without a client store the list was empty,
		// which says that no method works).
		doc["introspection_endpoint_auth_methods_supported"] = append(slices.Clone(confidential), "Bearer")
	}
	if len(grants) > 0 { // none at all (no refresh store, password grant or clients): left out, §3.2
		doc["grant_types_supported"] = grants
	}
	doc["token_endpoint_auth_methods_supported"] = withNone
	if len(scopes) > 0 {
		doc["scopes_supported"] = append([]string(nil), scopes...)
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("httpauth: metadata: %w", err)
	}
	body = append(body, '\n')
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			h.fail(w, r, errMethod)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(body)
	}), nil
}

// clientAssertionAlgs are the JWS algorithms of private_key_jwt client
// assertions (asymmetric only).
var clientAssertionAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
