package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/httpsyntax"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
)

// Bounds of "clients add" beyond authkit's Max… limits.
const (
	// generatedClientIDBytes random bytes make a generated client ID: 22
	// characters of unpadded base64url, 128 bits.
	generatedClientIDBytes = 16
	// maxClientScopeLen bounds one scope (RFC 6749 §3.3 scope-token).
	maxClientScopeLen = 256
	// maxClientGrants bounds --grant/--grants before duplicates are dropped.
	maxClientGrants = 16
	// Client lifetime overrides are bounded as serve's --access-ttl and
	// --refresh-ttl are (authkit.WithAccessTTL, WithRefreshTTL).
	minClientAccessTTL  = authkit.MinAccessTTL
	maxClientAccessTTL  = authkit.MaxAccessTTL
	minClientRefreshTTL = authkit.MinRefreshTTL
	maxClientRefreshTTL = authkit.MaxRefreshTTL
	// clientsTimeout bounds one clients command's work on the store, so
	// that a store that stops answering fails it rather than hanging it.
	clientsTimeout = time.Minute
)

// clientGrants are the grant types a client may be registered with.
var clientGrants = []string{authkit.GrantAuthorizationCode, authkit.GrantClientCredentials, authkit.GrantRefreshToken, authkit.GrantPassword}

// listFlag is a repeatable string flag.
type listFlag struct{ v *[]string }

func (f listFlag) String() string {
	if f.v == nil {
		return ""
	}
	return strings.Join(*f.v, ",")
}

func (f listFlag) Set(s string) error {
	*f.v = append(*f.v, s)
	return nil
}

// clientsAddOnly are the flags that only "clients add" takes.
var clientsAddOnly = []string{"id", "public", "jwks", "grant", "grants", "scope", "redirect-uri", "access-ttl", "refresh-ttl"}

// clients runs "authkit clients add|list|show|remove|rotate-secret".
func (c *cli) clients(ctx context.Context, args []string) error {
	fs := c.newFlagSet("clients", `authkit clients add NAME [--id ID] [--public | --jwks FILE] [--grant TYPE]... [--scope S]...
                       [--redirect-uri URI]... [--access-ttl D] [--refresh-ttl D] [--json] --store STORE
       authkit clients list|show ID|remove ID|rotate-secret ID [--json] --store STORE`, `
Manage the OAuth 2.0 clients registered in a store: the same --store (or
AUTHKIT_STORE) that "authkit serve" runs on. SQL stores need "authkit migrate"
first. The memory store is refused: it would end with this command.

  clients add NAME          register a client. Without --id its ID is 22 random
                            URL-safe characters. A confidential client (the
                            default) gets a secret, printed once and never
                            stored (only its hash is); --public registers one
                            without a secret, which must use PKCE; --jwks FILE
                            registers one that authenticates with a key instead
                            (private_key_jwt, RFC 7523): FILE is a JWK set of its
                            public keys, and it gets no secret.
  clients list              list the clients, oldest first.
  clients show ID           print one client (never its secret or its hash;
                            the kid and algorithm of each key of a key set).
  clients remove ID         delete a client; its codes and refresh tokens stop working.
  clients rotate-secret ID  replace a confidential client's secret; the old one
                            stops working at once. The new one is printed once.

Grant types: authorization_code, client_credentials, refresh_token, password
(default: client_credentials, or authorization_code and refresh_token with
--public). A public client cannot have client_credentials; authorization_code
needs at least one --redirect-uri, and refresh_token needs authorization_code
or password.

A --jwks FILE holds at most 64 KiB: a JWK set ({"keys":[…]}) of public keys
only (RSA of at least 2048 bits with "alg" RS256…PS512, EC P-256/P-384/P-521,
or Ed25519), with a "kid" on each key when there are several. A key with a
private member (d, p, q, dp, dq, qi or k) is refused: the client keeps its
private key. The set is stored as authkit re-encodes it (the public members,
kid and alg of each key). To change the keys, remove the client and add it
again with the same --id.

Redirect URIs are compared byte for byte and must be absolute, without a
fragment or user info: https://HOST/…; http:// only on a loopback IP literal
(http://127.0.0.1:PORT/…, http://[::1]:PORT/…, RFC 8252 §7.3); or, for a native
app, a private-use scheme in reverse domain order (com.example.app:/cb, RFC 8252
§7.1).

--json prints JSON: for add and rotate-secret an object with "client_id" and
"client_secret" (none for a public client or one with --jwks); for list an
array; for show an object.`)
	store := addStoreFlags(fs, "", "the `STORE` holding the clients, as for serve --store (not memory)")
	var grants, scopes, redirects []string
	id := fs.String("id", "", "add: the client `ID` (default: 22 random URL-safe characters)")
	public := fs.Bool("public", false, "add: a public client, without a secret (it must use PKCE)")
	jwksFile := fs.String("jwks", "", "add: a JWK set `FILE` of the client's public keys: it authenticates with private_key_jwt and gets no secret")
	fs.Var(listFlag{&grants}, "grant", "add: an allowed grant `TYPE` (repeatable)")
	grantList := fs.String("grants", "", "add: allowed grant `TYPES`, comma-separated")
	fs.Var(listFlag{&scopes}, "scope", "add: a `SCOPE` the client may be granted (repeatable)")
	fs.Var(listFlag{&redirects}, "redirect-uri", "add: an allowed redirect `URI` (repeatable)")
	var accessTTL, refreshTTL time.Duration
	fs.Var(durationFlag{&accessTTL}, "access-ttl", "add: the client's access token lifetime `DURATION`; it only shortens the server's --access-ttl (default: the server's)")
	fs.Var(durationFlag{&refreshTTL}, "refresh-ttl", "add: the client's refresh token idle lifetime `DURATION`; it only shortens the server's (default: the server's)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("missing subcommand: add, list, show, remove or rotate-secret")
	}
	sub, pos := pos[0], pos[1:]
	switch sub {
	case "add":
		if len(pos) != 1 {
			return usagef("clients add takes exactly one client name")
		}
	case "list":
		if len(pos) != 0 {
			return usagef("clients list takes no arguments")
		}
	case "show", "remove", "rotate-secret":
		if len(pos) != 1 {
			return usagef("clients %s takes exactly one client ID", sub)
		}
		if why := validClientID(pos[0]); why != "" {
			return usagef("the client ID %s %s", quote(pos[0]), why)
		}
	default:
		return usagef("unknown subcommand %s: want add, list, show, remove or rotate-secret", quote(sub))
	}
	if sub != "add" {
		for _, n := range clientsAddOnly {
			if flagGiven(fs, n) {
				return usagef("--%s applies only to clients add", n)
			}
		}
	}
	var newClient authkit.Client
	if sub == "add" {
		if *grantList != "" {
			l, err := splitList(*grantList)
			if err != nil {
				return usagef("--grants: %v", err)
			}
			grants = append(grants, l...)
		} else if flagGiven(fs, "grants") {
			return usagef("--grants: at least one value")
		}
		var jwks []byte
		if flagGiven(fs, "jwks") {
			if *public {
				return usagef("--jwks and --public exclude each other: a client with a key set is confidential")
			}
			if jwks, err = readClientJWKS(*jwksFile); err != nil {
				return err
			}
		}
		newClient, err = buildClient(pos[0], *id, *public, grants, scopes, redirects, accessTTL, refreshTTL)
		if err != nil {
			return err
		}
		newClient.JWKS = jwks
	}

	if sub == "rotate-secret" || sub == "add" && !*public && len(newClient.JWKS) == 0 {
		// Before the store is changed.
		if err := c.checkSecretOutput("the client secret"); err != nil {
			return err
		}
	}
	spec, warning, err := store.resolve(c, fs)
	if err != nil {
		return err
	}
	if warning != "" {
		fmt.Fprintf(c.stderr, "authkit clients: warning: %s\n", warning)
	}
	if scheme, _ := storeScheme(spec); spec == "" || scheme == "memory" {
		return usagef("clients needs --store (or AUTHKIT_STORE) naming the SQL or Redis store that serve uses; the memory store lives only as long as one process, so a client added to it would be gone when this command exits")
	}
	ctx, cancel := context.WithTimeout(ctx, clientsTimeout)
	defer cancel()
	st, err := openStore(ctx, spec, false, c.stderrLogger())
	if err != nil {
		return err
	}
	if st.close != nil {
		defer st.close()
	}
	cs, ok := st.store.(authkit.ClientStore)
	if !ok {
		return fmt.Errorf("the %s store cannot keep OAuth clients (it does not implement authkit.ClientStore)", st.kind)
	}
	m := clientManager{cs: cs, out: c.stdout, errOut: c.stderr, json: *asJSON}
	switch sub {
	case "add":
		return m.add(ctx, newClient, *public)
	case "list":
		return m.list(ctx)
	case "show":
		return m.show(ctx, pos[0])
	case "remove":
		return m.remove(ctx, pos[0])
	default:
		return m.rotate(ctx, pos[0])
	}
}

// readClientJWKS reads the --jwks file of "clients add": at most
// authkit.MaxClientJWKSLen bytes, checked by checkClientJWKS. A file that
// cannot be read is an error; one that holds no usable public key set, a
// usage error.
func readClientJWKS(path string) ([]byte, error) {
	if path == "" {
		return nil, usagef("--jwks needs a file name")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--jwks: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, authkit.MaxClientJWKSLen+1))
	if err != nil {
		return nil, fmt.Errorf("--jwks: %w", err)
	}
	doc, err := checkClientJWKS(data)
	if err != nil {
		return nil, usagef("--jwks %s: %v", quote(path), err)
	}
	return doc, nil
}

// privateJWKMembers are the JWK members that carry private or secret key
// material (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2).
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// checkClientJWKS checks a client's JWK set document: at most
// authkit.MaxClientJWKSLen bytes, no key with a private member, and a set
// package keys parses (keys.ParseJWKS, which refuses it whole for any bad
// key) of public asymmetric keys only. It returns the set as keys
// re-encodes it: the public members, kid and alg of each key.
func checkClientJWKS(data []byte) ([]byte, error) {
	if len(data) > authkit.MaxClientJWKSLen {
		return nil, fmt.Errorf("more than %d bytes", authkit.MaxClientJWKSLen)
	}
	// Look for private members first, so that the message says what is
	// wrong rather than what keys.ParseJWKS thinks of a private set.
	var doc struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil || json.Unmarshal(data, &doc) != nil {
		return nil, errors.New(`not a JWK set ({"keys":[…]})`)
	}
	if _, ok := top["kty"]; ok {
		for _, m := range privateJWKMembers {
			if _, ok := top[m]; ok {
				return nil, fmt.Errorf("a single JWK with the private member %q: give a JWK set of the client's public keys only, never a private or secret key", m)
			}
		}
		return nil, errors.New(`a single JWK: give a JWK set ({"keys":[…]})`)
	}
	for i, k := range doc.Keys {
		for _, m := range privateJWKMembers {
			if _, ok := k[m]; ok {
				return nil, fmt.Errorf("key #%d has the private member %q: give the client's public keys only, never a private or secret key", i, m)
			}
		}
	}
	set, err := keys.ParseJWKS(data)
	if err != nil {
		return nil, err
	}
	for _, k := range set.Keys() {
		if k.Symmetric() || k.CanSign() {
			return nil, fmt.Errorf("key %s is not a public key", quote(k.ID()))
		}
	}
	out, err := set.JWKS()
	if err != nil {
		return nil, err
	}
	if len(out) > authkit.MaxClientJWKSLen {
		return nil, fmt.Errorf("more than %d bytes once re-encoded", authkit.MaxClientJWKSLen)
	}
	return out, nil
}

// buildClient validates the arguments of "clients add" and returns the
// client to register, without its secret. Every error is a usage error.
func buildClient(name, id string, public bool, grants, scopes, redirects []string, accessTTL, refreshTTL time.Duration) (authkit.Client, error) {
	if why := validClientName(name); why != "" {
		return authkit.Client{}, usagef("the client name %s", why)
	}
	if id == "" {
		// An ID that starts with '-' would read as a flag in "clients
		// show ID" and the others: draw again (1 in 64).
		for id == "" || id[0] == '-' {
			var b [generatedClientIDBytes]byte
			if _, err := rand.Read(b[:]); err != nil {
				return authkit.Client{}, fmt.Errorf("generating a client ID: %w", err)
			}
			id = base64.RawURLEncoding.EncodeToString(b[:])
		}
	} else if why := validClientID(id); why != "" {
		return authkit.Client{}, usagef("--id %s %s", quote(id), why)
	} else if id == authkit.DefaultClientID {
		// serve's issuer writes it into first-party tokens: a client
		// under it would pass for first-party (httpauth refuses it).
		return authkit.Client{}, usagef("--id %s is the client_id of serve's own first-party tokens; choose another", quote(id))
	}

	if len(grants) > maxClientGrants {
		return authkit.Client{}, usagef("more than %d grant types", maxClientGrants)
	}
	if len(grants) == 0 {
		grants = []string{authkit.GrantClientCredentials}
		if public {
			grants = []string{authkit.GrantAuthorizationCode, authkit.GrantRefreshToken}
		}
	}
	grants = dedupe(grants)
	for _, g := range grants {
		if !slices.Contains(clientGrants, g) {
			return authkit.Client{}, usagef("unknown grant type %s (want %s)", quote(g), strings.Join(clientGrants, ", "))
		}
	}
	has := func(g string) bool { return slices.Contains(grants, g) }
	switch {
	case public && has(authkit.GrantClientCredentials):
		return authkit.Client{}, usagef("a public client cannot use client_credentials: it has no secret to authenticate with")
	case has(authkit.GrantRefreshToken) && !has(authkit.GrantAuthorizationCode) && !has(authkit.GrantPassword):
		return authkit.Client{}, usagef("refresh_token needs a grant that issues refresh tokens: authorization_code or password")
	case has(authkit.GrantAuthorizationCode) && len(redirects) == 0:
		return authkit.Client{}, usagef("authorization_code needs at least one --redirect-uri")
	case !has(authkit.GrantAuthorizationCode) && len(redirects) > 0:
		return authkit.Client{}, usagef("--redirect-uri is only for the authorization_code grant")
	}

	if len(scopes) > authkit.MaxClientScopes {
		return authkit.Client{}, usagef("more than %d scopes", authkit.MaxClientScopes)
	}
	scopes = dedupe(scopes)
	for _, s := range scopes {
		if why := validScope(s); why != "" {
			return authkit.Client{}, usagef("--scope %s %s", quote(s), why)
		}
	}

	if len(redirects) > authkit.MaxRedirectURIs {
		return authkit.Client{}, usagef("more than %d redirect URIs", authkit.MaxRedirectURIs)
	}
	redirects = dedupe(redirects)
	for _, u := range redirects {
		if why := validRedirectURI(u); why != "" {
			return authkit.Client{}, usagef("--redirect-uri %s %s", quote(u), why)
		}
	}

	if accessTTL != 0 && (accessTTL < minClientAccessTTL || accessTTL > maxClientAccessTTL) {
		return authkit.Client{}, usagef("--access-ttl must be from %s to %s", formatDuration(minClientAccessTTL), formatDuration(maxClientAccessTTL))
	}
	if refreshTTL != 0 && (refreshTTL < minClientRefreshTTL || refreshTTL > maxClientRefreshTTL) {
		return authkit.Client{}, usagef("--refresh-ttl must be from %s to %s", formatDuration(minClientRefreshTTL), formatDuration(maxClientRefreshTTL))
	}
	return authkit.Client{
		ID: id, Name: name, GrantTypes: grants, Scopes: scopes, RedirectURIs: redirects,
		AccessTTL: accessTTL, RefreshTTL: refreshTTL,
	}, nil
}

func dedupe(l []string) []string {
	var out []string
	for _, s := range l {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// validClientID reports why id cannot be a client ID, or "": 1 to
// authkit.MaxClientIDLen bytes of visible ASCII.
func validClientID(id string) string {
	switch {
	case id == "":
		return "is empty"
	case len(id) > authkit.MaxClientIDLen:
		return fmt.Sprintf("is longer than %d bytes", authkit.MaxClientIDLen)
	}
	if !authkit.ValidClientID(id) {
		return "may hold only visible ASCII characters (no spaces)"
	}
	return ""
}

// validClientName reports why name cannot be a client name, or "".
func validClientName(name string) string {
	switch {
	case strings.TrimSpace(name) == "":
		return "is empty"
	case len(name) > authkit.MaxClientNameLen:
		return fmt.Sprintf("is longer than %d bytes", authkit.MaxClientNameLen)
	case !utf8.ValidString(name):
		return "is not valid UTF-8"
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029' {
			return "contains a control character"
		}
	}
	return ""
}

// validScope reports why s cannot be a scope, or "": a scope-token of RFC
// 6749 §3.3 (visible ASCII but '"' and '\').
func validScope(s string) string {
	switch {
	case s == "":
		return "is empty"
	case len(s) > maxClientScopeLen:
		return fmt.Sprintf("is longer than %d bytes", maxClientScopeLen)
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x21 || b > 0x7e || b == '"' || b == '\\' {
			return `may hold only visible ASCII characters other than '"' and '\' (one scope per --scope)`
		}
	}
	return ""
}

// validRedirectURI reports why u cannot be a redirect URI, or "". It
// takes https URIs; http only on a loopback IP literal (RFC 8252 §7.3,
// and §8.3: not "localhost", which a resolver may send elsewhere); and
// private-use schemes in reverse domain order (RFC 8252 §7.1). It
// refuses fragments (RFC 6749 §3.1.2), user info, and anything but
// visible ASCII (the URI is compared byte for byte, so it is kept exactly
// as given).
func validRedirectURI(u string) string {
	if len(u) > authkit.MaxRedirectURILen {
		return fmt.Sprintf("is longer than %d bytes", authkit.MaxRedirectURILen)
	}
	for i := 0; i < len(u); i++ {
		if u[i] < 0x21 || u[i] > 0x7e {
			return "may hold only visible ASCII characters (percent-encode the rest)"
		}
	}
	if strings.Contains(u, "#") {
		return "has a fragment (RFC 6749 §3.1.2)"
	}
	p, err := url.Parse(u)
	switch {
	case err != nil:
		return "is not a URI"
	case p.Scheme == "":
		return "is not absolute"
	case !strings.HasPrefix(u, p.Scheme+":"):
		return "has a scheme that is not lower case"
	case p.User != nil:
		return "has user info"
	case strings.Contains(p.Host, "*"):
		return "has a wildcard host"
	}
	if name := responseParamIn(p.RawQuery); name != "" {
		return fmt.Sprintf("has a query parameter %q, which the authorization response adds (its client would read two)", name)
	}
	if port := p.Port(); port != "" && !httpsyntax.IsPort(port) {
		return fmt.Sprintf("has port %q, not a number from 1 to 65535 without a leading zero", port)
	}
	switch p.Scheme {
	case "https":
		if p.Opaque != "" || p.Hostname() == "" {
			return "has no host"
		}
		return ""
	case "http":
		if p.Opaque != "" || p.Hostname() == "" {
			return "has no host"
		}
		// The authorization endpoint's own test, so that every loopback
		// URI registered here gets its any-port rule (found by review:
		// an IPv4-mapped [::ffff:127.0.0.1] passed here and matched
		// only byte for byte there).
		if _, ok := httpsyntax.LoopbackWithoutPort(u); !ok {
			return "uses http on a host that is not a loopback IP literal (use https, or http://127.0.0.1:PORT/… or http://[::1]:PORT/… for a native app, RFC 8252 §7.3)"
		}
		return ""
	}
	if !strings.Contains(p.Scheme, ".") {
		return "has a scheme that is neither https, http on loopback, nor a private-use scheme in reverse domain order like com.example.app (RFC 8252 §7.1)"
	}
	if p.Opaque == "" && p.Host == "" && p.Path == "" {
		return "has nothing after its scheme"
	}
	return ""
}

// responseParamIn returns the first name in query (a registered redirect
// URI's, kept as is when the authorization response is added after it,
// RFC 6749 §3.1.2) that the response sets itself, or "". Pairs are split
// on ';' too, as some clients' parsers still do (found by review).
func responseParamIn(query string) string {
	for pair := range strings.FieldsFuncSeq(query, func(r rune) bool { return r == '&' || r == ';' }) {
		name, _, _ := strings.Cut(pair, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		switch name {
		case "code", "state", "iss", "error", "error_description", "error_uri":
			return name
		}
	}
	return ""
}

// clientManager runs one clients subcommand on a store.
type clientManager struct {
	cs          authkit.ClientStore
	out, errOut io.Writer
	json        bool
}

// clientSecrets makes and checks client secrets exactly as "authkit
// serve" does: its issuer has authkit's default token prefix and no token
// hash key (serve has no flag for either; if it gains one, this must take
// the same). Only the prefix and the hasher matter, so the signing key is
// a throwaway one made in memory.
func clientSecrets() (*issuer.Issuer, error) {
	set, err := throwawayKeys()
	if err != nil {
		return nil, err
	}
	return issuer.New(authkit.WithKeys(set))
}

// throwawayKeys is a key set made in memory for an issuer whose signing
// key is never used: one that makes client secrets, or only revokes.
func throwawayKeys() (*keys.Set, error) {
	k, err := keys.Generate(keys.EdDSA)
	if err != nil {
		return nil, err
	}
	return keys.NewSet(k)
}

// storeError turns the store's not-found and conflict answers into
// messages about the client id; others pass unchanged.
func storeError(err error, id string) error {
	switch {
	case errors.Is(err, authkit.ErrNotFound):
		return fmt.Errorf("no client with ID %s in the store", quote(id))
	case errors.Is(err, authkit.ErrConflict):
		return fmt.Errorf("a client with ID %s already exists", quote(id))
	}
	return err
}

// secretJSON is what add and rotate-secret print with --json: the client
// and, once, its secret.
type secretJSON struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`
	// clientJSON is the rest of the client for add, nil for rotate-secret
	// (its client_id is shadowed by ClientID, the same value).
	*clientJSON
}

// clientJSON is a client as list and show print it: never the secret or
// its hash.
type clientJSON struct {
	ID              string    `json:"client_id"`
	Name            string    `json:"name"`
	Type            string    `json:"type"`
	Auth            string    `json:"authentication"`
	GrantTypes      []string  `json:"grant_types"`
	Scopes          []string  `json:"scopes"`
	RedirectURIs    []string  `json:"redirect_uris"`
	AccessTTL       string    `json:"access_ttl,omitempty"`
	RefreshTTL      string    `json:"refresh_ttl,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	SecretRotatedAt time.Time `json:"secret_rotated_at,omitzero"`
	// Keys are the keys of the client's key set (private_key_jwt), none
	// without one; KeysError says why a stored set is unusable.
	Keys      []keyJSON `json:"keys,omitempty"`
	KeysError string    `json:"keys_error,omitempty"`
}

// keyJSON is one key of a client's key set as show prints it.
type keyJSON struct {
	ID        string `json:"kid"`
	Algorithm string `json:"alg"`
}

func toJSON(c authkit.Client) *clientJSON {
	j := &clientJSON{
		ID: c.ID, Name: c.Name, Type: clientType(c), Auth: clientAuth(c),
		GrantTypes: nonNil(c.GrantTypes), Scopes: nonNil(c.Scopes), RedirectURIs: nonNil(c.RedirectURIs),
		CreatedAt: c.CreatedAt.UTC(), SecretRotatedAt: c.SecretRotatedAt.UTC(),
	}
	if c.AccessTTL > 0 {
		j.AccessTTL = shortDuration(c.AccessTTL)
	}
	if c.RefreshTTL > 0 {
		j.RefreshTTL = shortDuration(c.RefreshTTL)
	}
	if len(c.JWKS) > 0 {
		set, err := keys.ParseJWKS(c.JWKS)
		if err != nil {
			j.KeysError = err.Error()
		} else {
			for _, k := range set.Keys() {
				j.Keys = append(j.Keys, keyJSON{ID: k.ID(), Algorithm: string(k.Algorithm())})
			}
		}
	}
	return j
}

// shortDuration is formatDuration without zero trailing units ("10m", not
// "10m0s"), in a form --access-ttl and --refresh-ttl read back.
func shortDuration(d time.Duration) string {
	s := formatDuration(d)
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func clientType(c authkit.Client) string {
	if c.Public() {
		return "public"
	}
	return "confidential"
}

// clientAuth names how c authenticates at the token endpoint:
// "client_secret" (client_secret_basic or client_secret_post),
// "private_key_jwt" or "none" (public).
func clientAuth(c authkit.Client) string {
	switch {
	case len(c.JWKS) > 0:
		return "private_key_jwt"
	case c.SecretHash != (authkit.TokenHash{}):
		return "client_secret"
	}
	return "none"
}

func (m clientManager) writeJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(m.out, "%s\n", b)
	return err
}

// cell makes stored text safe for one line of a terminal.
func cell(s string) string {
	return strings.NewReplacer("\n", `\n`, "\t", `\t`).Replace(safeText(s))
}

// add registers cl, with a new secret unless it is public or has a key
// set, and prints it; the secret only once, and only after the store has
// taken its hash.
func (m clientManager) add(ctx context.Context, cl authkit.Client, public bool) error {
	var secret string
	withSecret := !public && len(cl.JWKS) == 0
	if withSecret {
		iss, err := clientSecrets()
		if err != nil {
			return err
		}
		if secret, cl.SecretHash, err = iss.NewClientSecret(); err != nil {
			return err
		}
	}
	cl.CreatedAt = time.Now().UTC().Truncate(time.Microsecond) // as the stores keep it
	if err := m.cs.CreateClient(ctx, cl); err != nil {
		return storeError(err, cl.ID)
	}
	if m.json {
		err := m.writeJSON(secretJSON{clientJSON: toJSON(cl), ClientID: cl.ID, ClientSecret: secret})
		if err != nil && withSecret {
			// As the text form says it (found by review: --json gave the
			// bare write error).
			return fmt.Errorf("client %s is stored, but writing its secret failed, so the secret is lost (%w): make a new one with 'authkit clients rotate-secret %s'", quote(cl.ID), err, cl.ID)
		}
		return err
	}
	fmt.Fprintf(m.out, "added client %s\n", cell(cl.Name))
	m.printClient(cl)
	if withSecret {
		if _, err := fmt.Fprintf(m.out, "%-18s %s\n", "client_secret:", secret); err != nil {
			return fmt.Errorf("client %s is stored, but writing its secret failed, so the secret is lost (%w): make a new one with 'authkit clients rotate-secret %s'", quote(cl.ID), err, cl.ID)
		}
		fmt.Fprintln(m.errOut, secretWarning)
	}
	return nil
}

// secretWarning follows a secret printed for people.
const secretWarning = "authkit clients: the client secret is shown only this once: it is not stored (only its hash is) and cannot be shown again; 'authkit clients rotate-secret ID' makes a new one"

func (m clientManager) list(ctx context.Context) error {
	cls, err := m.cs.ListClients(ctx)
	if err != nil {
		return err
	}
	if m.json {
		out := make([]*clientJSON, 0, len(cls))
		for _, cl := range cls {
			out = append(out, toJSON(cl))
		}
		return m.writeJSON(out)
	}
	if len(cls) == 0 {
		fmt.Fprintln(m.errOut, "no clients")
		return nil
	}
	tw := tabwriter.NewWriter(m.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT ID\tTYPE\tGRANTS\tCREATED\tNAME")
	for _, cl := range cls {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(cl.ID), clientType(cl), cell(strings.Join(cl.GrantTypes, ",")),
			cl.CreatedAt.UTC().Format(time.RFC3339), cell(cl.Name))
	}
	return tw.Flush()
}

func (m clientManager) show(ctx context.Context, id string) error {
	cl, err := m.cs.GetClient(ctx, id)
	if err != nil {
		return storeError(err, id)
	}
	if m.json {
		return m.writeJSON(toJSON(cl))
	}
	m.printClient(cl)
	return nil
}

// printClient prints cl's details, one per line; never its secret or hash.
func (m clientManager) printClient(cl authkit.Client) {
	j := toJSON(cl)
	line := func(k, v string) { fmt.Fprintf(m.out, "%-18s %s\n", k+":", v) }
	list := func(l []string) string {
		if len(l) == 0 {
			return "(none)"
		}
		return cell(strings.Join(l, " "))
	}
	line("client_id", cell(j.ID))
	line("name", cell(j.Name))
	line("type", j.Type)
	line("authentication", j.Auth)
	switch {
	case j.KeysError != "":
		line("keys", "unusable key set: "+cell(j.KeysError))
	case len(j.Keys) > 0:
		l := make([]string, 0, len(j.Keys))
		for _, k := range j.Keys {
			l = append(l, k.ID+" ("+k.Algorithm+")")
		}
		line("keys", cell(strings.Join(l, ", ")))
	default:
		line("keys", "(none)")
	}
	line("grant_types", list(j.GrantTypes))
	line("scopes", list(j.Scopes))
	line("redirect_uris", list(j.RedirectURIs))
	ttl := func(s string) string {
		if s == "" {
			return "the server's"
		}
		return s
	}
	line("access_ttl", ttl(j.AccessTTL))
	line("refresh_ttl", ttl(j.RefreshTTL))
	line("created_at", j.CreatedAt.Format(time.RFC3339))
	if !j.SecretRotatedAt.IsZero() {
		line("secret_rotated_at", j.SecretRotatedAt.Format(time.RFC3339))
	}
}

func (m clientManager) remove(ctx context.Context, id string) error {
	if err := m.cs.DeleteClient(ctx, id); err != nil {
		return storeError(err, id)
	}
	if !m.json {
		fmt.Fprintf(m.out, "removed client %s\n", cell(id))
		return nil
	}
	return m.writeJSON(map[string]any{"client_id": id, "removed": true})
}

// rotate gives client id a new secret, which replaces the old one at
// once, and prints it once. A client without a secret keeps none: a
// public client must stay public, and one that authenticates with a key
// set (private_key_jwt) has no secret to rotate.
func (m clientManager) rotate(ctx context.Context, id string) error {
	cl, err := m.cs.GetClient(ctx, id)
	if err != nil {
		return storeError(err, id)
	}
	if cl.SecretHash == (authkit.TokenHash{}) {
		if cl.Public() {
			return fmt.Errorf("client %s is public: it has no secret to rotate (register a confidential client instead)", quote(id))
		}
		return fmt.Errorf("client %s authenticates with a key set (private_key_jwt), not a secret: it has none to rotate", quote(id))
	}
	iss, err := clientSecrets()
	if err != nil {
		return err
	}
	secret, h, err := iss.NewClientSecret()
	if err != nil {
		return err
	}
	if err := m.cs.SetClientSecret(ctx, id, h, time.Now()); err != nil {
		return storeError(err, id)
	}
	lost := func(err error) error {
		return fmt.Errorf("client %s has a new secret and the old one no longer works, but writing the new one failed, so it is lost (%w): run 'authkit clients rotate-secret %s' again", quote(id), err, id)
	}
	if m.json {
		if err := m.writeJSON(secretJSON{ClientID: id, ClientSecret: secret}); err != nil {
			return lost(err)
		}
		return nil
	}
	if _, err := fmt.Fprintf(m.out, "new secret for client %s (the old one no longer works):\n%-18s %s\n", cell(id), "client_secret:", secret); err != nil {
		return lost(err)
	}
	fmt.Fprintln(m.errOut, secretWarning)
	return nil
}
