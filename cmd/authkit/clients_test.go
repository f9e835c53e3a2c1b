package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/testservers"
	"github.com/authkit-go/authkit/keys"
)

// clientsCLI runs "authkit clients ARGS… --store STORE".
func clientsCLI(t *testing.T, store string, args ...string) result {
	t.Helper()
	return runCLI(t, "", append(append([]string{"clients"}, args...), "--store", store)...)
}

// migratedSQLite is a --store on a fresh SQLite file, migrated with
// "authkit migrate".
func migratedSQLite(t *testing.T) string {
	t.Helper()
	spec := "sqlite:" + filepath.Join(t.TempDir(), "authkit.db")
	runCLI(t, "", "migrate", "--store", spec).must(t, exitOK, []string{"migrations applied"}, nil)
	return spec
}

// secretOnce checks that secret appears exactly once in what r printed.
func secretOnce(t *testing.T, r result, secret string) {
	t.Helper()
	if !strings.HasPrefix(secret, authkit.DefaultTokenPrefix+"cs_") {
		t.Fatalf("the secret %q does not have serve's form %scs_…", secret, authkit.DefaultTokenPrefix)
	}
	if n := strings.Count(r.stdout+r.stderr, secret); n != 1 {
		t.Errorf("the secret appears %d times in the output, want once:\n%s\n%s", n, r.stdout, r.stderr)
	}
}

// noSecret checks that r printed no client secret (of any client).
func noSecret(t *testing.T, what string, r result) {
	t.Helper()
	if strings.Contains(r.stdout+r.stderr, authkit.DefaultTokenPrefix+"cs_") || strings.Contains(r.stdout, "secret_hash") {
		t.Errorf("%s prints a secret:\n%s\n%s", what, r.stdout, r.stderr)
	}
}

// humanField returns the value of the "key:" line of the human output.
func humanField(t *testing.T, out, key string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + `:\s+(\S.*)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %s line in:\n%s", key, out)
	}
	return m[1]
}

// getClient reads client id from the store spec names, as serve would.
func getClient(t *testing.T, spec, id string) authkit.Client {
	t.Helper()
	st, err := openStore(t.Context(), spec, false, discardLog)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	cl, err := st.store.(authkit.ClientStore).GetClient(t.Context(), id)
	if err != nil {
		t.Fatalf("GetClient(%q): %v", id, err)
	}
	return cl
}

// TestClientsLifecycle runs add → show → list → rotate-secret → remove on
// every real store, checking the secrets with a fresh issuer of serve's
// prefix and hasher.
func TestClientsLifecycle(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		clientsLifecycle(t, migratedSQLite(t))
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testservers.Postgres(t)
		runCLI(t, "", "migrate", "--store", dsn).must(t, exitOK, []string{"migrations applied"}, nil)
		clientsLifecycle(t, dsn)
	})
	t.Run("redis", func(t *testing.T) {
		clientsLifecycle(t, redisStoreURL(t))
	})
}

func clientsLifecycle(t *testing.T, store string) {
	set, err := throwawayKeys()
	if err != nil {
		t.Fatal(err)
	}
	iss := newTestIssuer(t, set) // default prefix, no hash key: serve's

	// add, --json: both keys, the secret once, and it checks.
	r := clientsCLI(t, store, "add", "Billing service", "--id", "billing", "--grant", "client_credentials",
		"--scope", "invoices:read", "--scope", "invoices:write", "--access-ttl", "10m", "--json")
	r.must(t, exitOK, nil, nil)
	var added map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &added); err != nil {
		t.Fatalf("add --json: %v\n%s", err, r.stdout)
	}
	secret, _ := added["client_secret"].(string)
	if added["client_id"] != "billing" || secret == "" {
		t.Fatalf("add --json lacks client_id or client_secret: %s", r.stdout)
	}
	secretOnce(t, r, secret)
	cl := getClient(t, store, "billing")
	if !iss.CheckClientSecret(cl, secret) {
		t.Fatal("the printed secret does not check against the stored client")
	}
	if cl.Name != "Billing service" || cl.AccessTTL.String() != "10m0s" || strings.Join(cl.Scopes, " ") != "invoices:read invoices:write" ||
		strings.Join(cl.GrantTypes, " ") != "client_credentials" || cl.Public() {
		t.Errorf("stored client: %+v", cl)
	}

	// add, human: a generated ID, the secret once, a warning.
	r = clientsCLI(t, store, "add", "CLI tool", "--grants", "password,refresh_token")
	r.must(t, exitOK, []string{"confidential", "password refresh_token"}, []string{"shown only this once"})
	genID, genSecret := humanField(t, r.stdout, "client_id"), humanField(t, r.stdout, "client_secret")
	if !regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{21}$`).MatchString(genID) {
		t.Errorf("generated client ID %q: want 22 URL-safe characters, not starting with '-'", genID)
	}
	secretOnce(t, r, genSecret)
	if !iss.CheckClientSecret(getClient(t, store, genID), genSecret) {
		t.Error("the human add's secret does not check")
	}

	// add, public: no secret.
	r = clientsCLI(t, store, "add", "Mobile app", "--id", "mobile", "--public", "--redirect-uri", "com.example.app:/cb",
		"--redirect-uri", "http://127.0.0.1:8765/cb", "--json")
	r.must(t, exitOK, []string{`"client_id": "mobile"`, `"type": "public"`}, nil)
	noSecret(t, "add --public", r)
	if !getClient(t, store, "mobile").Public() {
		t.Error("the --public client has credentials")
	}

	// A taken ID: exit 1, and the first registration is untouched.
	clientsCLI(t, store, "add", "Impostor", "--id", "billing").must(t, exitFailure, nil, []string{`a client with ID "billing" already exists`})
	if cl := getClient(t, store, "billing"); cl.Name != "Billing service" || !iss.CheckClientSecret(cl, secret) {
		t.Error("a duplicate add changed the client")
	}

	// show and list never print a secret or its hash.
	r = clientsCLI(t, store, "show", "billing")
	r.must(t, exitOK, []string{"Billing service", "invoices:read invoices:write", "10m", "authentication:    client_secret\n"}, nil)
	noSecret(t, "show", r)
	r = clientsCLI(t, store, "show", "billing", "--json")
	r.must(t, exitOK, nil, nil)
	noSecret(t, "show --json", r)
	var shown map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil || shown["client_id"] != "billing" || shown["access_ttl"] != "10m" {
		t.Errorf("show --json: %v\n%s", err, r.stdout)
	}
	if _, ok := shown["client_secret"]; ok {
		t.Error("show --json has a client_secret key")
	}
	r = clientsCLI(t, store, "list")
	r.must(t, exitOK, []string{"CLIENT ID", "billing", genID, "mobile", "Billing service"}, nil)
	noSecret(t, "list", r)
	r = clientsCLI(t, store, "list", "--json")
	r.must(t, exitOK, nil, nil)
	noSecret(t, "list --json", r)
	var listed []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed) != 3 || listed[0]["client_id"] != "billing" {
		t.Errorf("list --json (want 3 clients, oldest first): %v\n%s", err, r.stdout)
	}

	// rotate-secret: the old secret stops checking, the new one checks.
	r = clientsCLI(t, store, "rotate-secret", "billing", "--json")
	r.must(t, exitOK, nil, nil)
	var rotated map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rotated); err != nil {
		t.Fatalf("rotate-secret --json: %v\n%s", err, r.stdout)
	}
	newSecret, _ := rotated["client_secret"].(string)
	if rotated["client_id"] != "billing" || newSecret == "" || newSecret == secret {
		t.Fatalf("rotate-secret --json: %s", r.stdout)
	}
	secretOnce(t, r, newSecret)
	cl = getClient(t, store, "billing")
	if iss.CheckClientSecret(cl, secret) {
		t.Error("the old secret still checks after rotate-secret")
	}
	if !iss.CheckClientSecret(cl, newSecret) {
		t.Error("the new secret does not check")
	}
	if cl.SecretRotatedAt.IsZero() {
		t.Error("SecretRotatedAt not set")
	}
	r = clientsCLI(t, store, "rotate-secret", genID)
	r.must(t, exitOK, []string{"no longer works"}, []string{"shown only this once"})
	secretOnce(t, r, humanField(t, r.stdout, "client_secret"))
	clientsCLI(t, store, "rotate-secret", "mobile").must(t, exitFailure, nil, []string{`client "mobile" is public`})
	if !getClient(t, store, "mobile").Public() {
		t.Error("rotate-secret gave a public client a secret")
	}

	// remove, and the ID is gone everywhere.
	clientsCLI(t, store, "remove", "billing").must(t, exitOK, []string{`removed client billing`}, nil)
	for _, sub := range []string{"show", "remove", "rotate-secret"} {
		clientsCLI(t, store, sub, "billing").must(t, exitFailure, nil, []string{`no client with ID "billing"`})
	}
	r = clientsCLI(t, store, "list", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed) != 2 {
		t.Errorf("list --json after remove: %v\n%s", err, r.stdout)
	}
}

// Mistakes on the command line exit 2 before the store is touched; a
// memory store or none is one of them.
func TestClientsUsageErrors(t *testing.T) {
	t.Parallel()
	store := migratedSQLite(t)
	many := func(flag string, n int, value func(int) string) []string {
		var out []string
		for i := range n {
			out = append(out, flag, value(i))
		}
		return out
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", nil, "missing subcommand"},
		{"unknown subcommand", []string{"frob"}, `unknown subcommand "frob"`},
		{"add without name", []string{"add"}, "exactly one client name"},
		{"add two names", []string{"add", "a", "b"}, "exactly one client name"},
		{"show without ID", []string{"show"}, "exactly one client ID"},
		{"remove bad ID", []string{"remove", "a b"}, "visible ASCII"},
		{"list with argument", []string{"list", "x"}, "takes no arguments"},
		{"add flag on list", []string{"list", "--public"}, "--public applies only to clients add"},
		{"add flag on rotate", []string{"rotate-secret", "x", "--scope", "a"}, "--scope applies only to clients add"},
		{"empty name", []string{"add", " "}, "name is empty"},
		{"control in name", []string{"add", "a\x1bb"}, "control character"},
		{"long name", []string{"add", strings.Repeat("n", authkit.MaxClientNameLen+1)}, "longer than"},
		{"long ID", []string{"add", "a", "--id", strings.Repeat("i", authkit.MaxClientIDLen+1)}, "longer than"},
		{"ID with space", []string{"add", "a", "--id", "a b"}, "visible ASCII"},
		{"serve's own client ID", []string{"add", "a", "--id", authkit.DefaultClientID}, "first-party"},
		{"unknown grant", []string{"add", "a", "--grant", "implicit"}, `unknown grant type "implicit"`},
		{"empty grants", []string{"add", "a", "--grants", ","}, "--grants"},
		{"public client_credentials", []string{"add", "a", "--public", "--grant", "client_credentials"}, "public client cannot use client_credentials"},
		{"refresh alone", []string{"add", "a", "--grant", "refresh_token"}, "refresh_token needs"},
		{"code without redirect", []string{"add", "a", "--grant", "authorization_code"}, "needs at least one --redirect-uri"},
		{"public default without redirect", []string{"add", "a", "--public"}, "needs at least one --redirect-uri"},
		{"redirect without code", []string{"add", "a", "--redirect-uri", "https://example.com/cb"}, "only for the authorization_code grant"},
		{"scope with space", []string{"add", "a", "--scope", "a b"}, "one scope per --scope"},
		{"scope with quote", []string{"add", "a", "--scope", `a"`}, "visible ASCII"},
		{"too many scopes", append([]string{"add", "a"}, many("--scope", authkit.MaxClientScopes+1, func(i int) string { return fmt.Sprint("s", i) })...), "more than"},
		{"too many redirects", append([]string{"add", "a", "--public"}, many("--redirect-uri", authkit.MaxRedirectURIs+1, func(i int) string { return fmt.Sprintf("https://e.com/%d", i) })...), "more than"},
		{"access TTL", []string{"add", "a", "--access-ttl", "2d"}, "--access-ttl must be"},
		{"refresh TTL", []string{"add", "a", "--refresh-ttl", "30s"}, "--refresh-ttl must be"},
		{"bad duration", []string{"add", "a", "--access-ttl", "soon"}, "invalid value"},
		{"bad flag", []string{"list", "--nope"}, "flag provided but not defined"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clientsCLI(t, store, tc.args...).must(t, exitUsage, nil, []string{tc.want})
		})
	}
	runCLI(t, "", "clients", "list", "--store", "memory").must(t, exitUsage, nil, []string{"the memory store lives only as long as one process"})
	runCLI(t, "", "clients", "list", "--store", "").must(t, exitUsage, nil, []string{"--store is set but empty"})
	runCLI(t, "", "clients", "list").must(t, exitUsage, nil, []string{"clients needs --store (or AUTHKIT_STORE)"})
	runEnv(t, map[string]string{"AUTHKIT_STORE": "memory"}, "clients", "list").must(t, exitUsage, nil, []string{"memory"})
	// The environment names the store as for serve.
	runEnv(t, map[string]string{"AUTHKIT_STORE": store}, "clients", "list", "--json").must(t, exitOK, []string{"[]"}, nil)
	// An unmigrated SQL store fails (exit 1) and says to migrate.
	fresh := "sqlite:" + filepath.Join(t.TempDir(), "fresh.db")
	clientsCLI(t, fresh, "list").must(t, exitFailure, nil, []string{"migrat"})
	runCLI(t, "", "help", "clients").must(t, exitOK, []string{"authkit clients add NAME", "rotate-secret", "-redirect-uri", "AUTHKIT_STORE"}, nil)
}

func TestClientsShortDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		10 * time.Minute: "10m", time.Hour: "1h", 90 * time.Second: "1m30s", 3 * time.Second: "3s",
		14 * 24 * time.Hour: "14d", 25 * time.Hour: "25h", 61 * time.Minute: "1h1m", 3601 * time.Second: "1h0m1s",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := parseDuration(shortDuration(d)); err != nil || back != d {
			t.Errorf("%q does not read back as %v: %v, %v", shortDuration(d), d, back, err)
		}
	}
}

func TestClientsRedirectURIs(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"https://app.example.com/callback",
		"https://app.example.com:8443/cb?x=1",
		"https://app.example.com/cb?tenant=a;region=eu&flag&codes=1",
		"http://127.0.0.1/cb",
		"http://127.0.0.1:51004/oauth2redirect",
		"http://[::1]:8080/cb",
		"com.example.app:/oauth2redirect/example-provider",
		"com.example.app://cb",
	} {
		if why := validRedirectURI(u); why != "" {
			t.Errorf("%s refused: %s", u, why)
		}
	}
	for u, want := range map[string]string{
		"/callback":                              "not absolute",
		"app.example.com/cb":                     "not absolute",
		"http://app.example.com/cb":              "loopback",
		"http://localhost:8080/cb":               "loopback",
		"http://[fe80::1%25eth0]/cb":             "loopback",
		"https://app.example.com/cb#top":         "fragment",
		"https://app.example.com/cb#":            "fragment",
		"https://user:pw@example.com/cb":         "user info",
		"HTTPS://app.example.com/cb":             "lower case",
		"https:///cb":                            "no host",
		"https:cb":                               "no host",
		"https://*.example.com/cb":               "wildcard",
		"https://exa mple.com/cb":                "visible ASCII",
		"https://example.com/\u00e9":             "visible ASCII",
		"javascript:alert(1)":                    "private-use scheme",
		"data:text/html,hi":                      "private-use scheme",
		"file:///etc/passwd":                     "private-use scheme",
		"com.example.app:":                       "nothing after",
		"https://app.example.com/cb?a=1&state=x": `parameter "state"`,
		"https://app.example.com/cb?%63ode":      `parameter "code"`,
		"https://app.example.com/cb?iss=":        `parameter "iss"`,
		"https://app.example.com/cb?t=1;state=x": `parameter "state"`,
		"com.example.app:/cb?error_uri=y":        `parameter "error_uri"`,
		"https://example.com/" + strings.Repeat("a", authkit.MaxRedirectURILen): "longer than",
		// Found by review: these passed, and then matched only byte for
		// byte at the authorization endpoint, or named no port at all.
		"http://[::ffff:127.0.0.1]:5/cb": "loopback",
		"http://127.0.0.1:0/cb":          "port",
		"http://127.0.0.1:080/cb":        "port",
		"http://[::1]:65536/cb":          "port",
		"https://a.example.com:99999/cb": "port",
		"https://a.example.com:0/cb":     "port",
		"com.example.app://cb:070/x":     "port",
	} {
		if why := validRedirectURI(u); !strings.Contains(why, want) {
			t.Errorf("%.40s: %q, want a refusal saying %q", u, why, want)
		}
	}
}

// The database add writes to holds the secret's hash, never the secret.
func TestClientsStoreNoSecret(t *testing.T) {
	t.Parallel()
	store := migratedSQLite(t)
	r := clientsCLI(t, store, "add", "svc", "--id", "svc", "--json")
	r.must(t, exitOK, nil, nil)
	var out struct {
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Secret == "" {
		t.Fatalf("add --json: %v\n%s", err, r.stdout)
	}
	files, _ := filepath.Glob(strings.TrimPrefix(store, "sqlite:") + "*") // the database, its WAL and journal
	if len(files) == 0 {
		t.Fatal("no database file")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(out.Secret)) {
			t.Errorf("%s holds the client secret", filepath.Base(f))
		}
	}
	if getClient(t, store, "svc").SecretHash == (authkit.TokenHash{}) {
		t.Error("no secret hash stored")
	}
}

// A client registered with `authkit clients add` on serve's store gets
// tokens from serve with the client_credentials grant (client_secret_basic
// and client_secret_post); a wrong secret is 401 invalid_client with a
// Basic challenge.
func TestServeClientCredentials(t *testing.T) {
	t.Parallel()
	store := migratedSQLite(t)
	r := clientsCLI(t, store, "add", "Billing", "--id", "billing", "--grant", "client_credentials", "--scope", "invoices:read", "--json")
	r.must(t, exitOK, nil, nil)
	var added struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &added); err != nil || added.Secret == "" {
		t.Fatalf("add --json: %v\n%s", err, r.stdout)
	}
	s := startServe(t, "", "--store", store)

	do := func(basic bool, secret string) *http.Response {
		t.Helper()
		form := url.Values{"grant_type": {"client_credentials"}}
		if !basic {
			form.Set("client_id", added.ID)
			form.Set("client_secret", secret)
		}
		req, _ := http.NewRequest("POST", s.base+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			req.SetBasicAuth(url.QueryEscape(added.ID), url.QueryEscape(secret))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, basic := range []bool{true, false} {
		resp := do(basic, added.Secret)
		var tok struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			Scope        string `json:"scope"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&tok) != nil || tok.AccessToken == "" || tok.RefreshToken != "" {
			t.Fatalf("client_credentials (basic %v): %d %+v", basic, resp.StatusCode, tok)
		}
		me := s.do(t, "GET", "/me", tok.AccessToken, nil).want(t, "/me with a client's token", 200)
		if me.str("subject") != "billing" {
			t.Errorf("/me subject %q, want the client", me.str("subject"))
		}
	}
	// The last character changed (never to itself).
	last := "x"
	if strings.HasSuffix(added.Secret, last) {
		last = "y"
	}
	resp := do(true, added.Secret[:len(added.Secret)-1]+last)
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("a wrong secret: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// serve publishes RFC 8414 metadata when --issuer is its URL, describing
// what it enables: the password grant (the demo user), refresh, and with a
// store that keeps clients, client_credentials and client authentication.
// With the default issuer (not a URL) there is none.
func TestServeMetadata(t *testing.T) {
	t.Parallel()
	const iss = "http://127.0.0.1:8080"
	path := "/.well-known/oauth-authorization-server"
	s := startServe(t, "", "--issuer", iss)
	doc := s.do(t, "GET", path, "", nil).want(t, "metadata", 200).body
	if doc["issuer"] != iss || doc["token_endpoint"] != iss+"/token" || doc["jwks_uri"] != iss+"/.well-known/jwks.json" {
		t.Errorf("metadata %v", doc)
	}
	if fmt.Sprint(doc["grant_types_supported"]) != "[refresh_token password]" || fmt.Sprint(doc["token_endpoint_auth_methods_supported"]) != "[none]" {
		t.Errorf("memory store: grants %v, methods %v", doc["grant_types_supported"], doc["token_endpoint_auth_methods_supported"])
	}
	if _, ok := doc["authorization_endpoint"]; ok {
		t.Errorf("memory store (no clients): authorization_endpoint %v", doc["authorization_endpoint"])
	}

	withClients := startServe(t, "", "--issuer", iss, "--store", migratedSQLite(t))
	doc = withClients.do(t, "GET", path, "", nil).want(t, "metadata with clients", 200).body
	// The SQL store keeps clients and their assertions' jti
	// (ClientAssertionStore): private_key_jwt, and the login page.
	if fmt.Sprint(doc["grant_types_supported"]) != "[refresh_token password authorization_code client_credentials]" ||
		fmt.Sprint(doc["token_endpoint_auth_methods_supported"]) != "[client_secret_basic client_secret_post private_key_jwt none]" {
		t.Errorf("SQL store: grants %v, methods %v", doc["grant_types_supported"], doc["token_endpoint_auth_methods_supported"])
	}
	if log := withClients.stderr.String(); !strings.Contains(log, "grants=password,refresh_token,client_credentials,authorization_code authorize=/authorize") {
		t.Errorf("SQL store: the configured log line does not name the grants and /authorize:\n%s", log)
	}
	if log := s.stderr.String(); !strings.Contains(log, `grants=password,refresh_token authorize="off: `) {
		t.Errorf("memory store: the configured log line does not say the grants and that /authorize is off:\n%s", log)
	}
	if doc["authorization_endpoint"] != iss+"/authorize" || fmt.Sprint(doc["code_challenge_methods_supported"]) != "[S256]" {
		t.Errorf("SQL store: authorization_endpoint %v, code_challenge_methods_supported %v", doc["authorization_endpoint"], doc["code_challenge_methods_supported"])
	}

	plain := startServe(t, "")
	if r := plain.do(t, "GET", path, "", nil); r.status != http.StatusNotFound {
		t.Errorf("default issuer: metadata answered %d", r.status)
	}
}

// jwksFile writes a JWK set document for --jwks and returns its path.
func jwksFile(t *testing.T, doc []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(p, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// kidKey is a fresh key of alg with the given kid.
func kidKey(t *testing.T, alg keys.Algorithm, kid string) *keys.Key {
	t.Helper()
	g, err := keys.Generate(alg)
	if err != nil {
		t.Fatal(err)
	}
	// Package keys derives the kid; a PEM round trip gives the test's own.
	pem, err := g.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.ParsePEM(pem, alg, kid)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestClientsJWKS registers clients that authenticate with private_key_jwt:
// a key set instead of a secret, never a private key.
func TestClientsJWKS(t *testing.T) {
	t.Parallel()
	store := migratedSQLite(t)
	ec, ed := kidKey(t, keys.ES256, "ec-1"), kidKey(t, keys.EdDSA, "ed-1")
	pub, err := keys.NewVerificationSet(ec.Public(), ed.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubDoc, err := pub.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	// A member keys ignores (x5t) is not stored: the set is re-encoded.
	var withExtra map[string][]map[string]any
	if err := json.Unmarshal(pubDoc, &withExtra); err != nil {
		t.Fatal(err)
	}
	withExtra["keys"][0]["x5t"] = "c29tZXRoaW5n"
	extraDoc, err := json.Marshal(withExtra)
	if err != nil {
		t.Fatal(err)
	}
	file := jwksFile(t, extraDoc)

	// add --json: no secret, the keys listed.
	r := clientsCLI(t, store, "add", "Signer", "--id", "signer", "--jwks", file, "--scope", "read", "--json")
	r.must(t, exitOK, []string{`"authentication": "private_key_jwt"`, `"type": "confidential"`, `"kid": "ec-1"`, `"alg": "EdDSA"`}, nil)
	noSecret(t, "add --jwks --json", r)
	var added map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &added); err != nil {
		t.Fatalf("add --json: %v\n%s", err, r.stdout)
	}
	if _, ok := added["client_secret"]; ok || added["client_id"] != "signer" {
		t.Errorf("add --jwks --json: %s", r.stdout)
	}
	cl := getClient(t, store, "signer")
	if !cl.SecretHash.IsZero() || cl.Public() || len(cl.JWKS) == 0 || strings.Join(cl.GrantTypes, " ") != "client_credentials" {
		t.Errorf("stored client: %+v", cl)
	}
	if bytes.Contains(cl.JWKS, []byte("x5t")) {
		t.Errorf("the stored key set was not re-encoded: %s", cl.JWKS)
	}
	set, err := keys.ParseJWKS(cl.JWKS)
	if err != nil {
		t.Fatalf("the stored key set does not parse: %v", err)
	}
	for _, k := range []*keys.Key{ec, ed} {
		got, ok := set.Lookup(k.ID())
		if !ok || got.CanSign() || got.Thumbprint() != k.Thumbprint() {
			t.Errorf("stored key %s: present %v", k.ID(), ok)
		}
	}

	// add, human: no secret line, no secret warning.
	r = clientsCLI(t, store, "add", "Signer 2", "--id", "signer2", "--jwks", jwksFile(t, pubDoc))
	r.must(t, exitOK, []string{"authentication:    private_key_jwt\n", "keys:              ec-1 (ES256), ed-1 (EdDSA)\n"}, nil)
	noSecret(t, "add --jwks", r)
	if strings.Contains(r.stdout, "client_secret") || strings.Contains(r.stderr, "shown only this once") {
		t.Errorf("add --jwks printed a secret line or warning:\n%s\n%s", r.stdout, r.stderr)
	}

	// show prints the keys; a client with a secret has none.
	clientsCLI(t, store, "show", "signer").must(t, exitOK, []string{"authentication:    private_key_jwt\n", "keys:              ec-1 (ES256), ed-1 (EdDSA)\n"}, nil)
	r = clientsCLI(t, store, "add", "Secretive", "--id", "secretive")
	r.must(t, exitOK, nil, nil)
	clientsCLI(t, store, "show", "secretive").must(t, exitOK, []string{"authentication:    client_secret\n", "keys:              (none)\n"}, nil)
	r = clientsCLI(t, store, "show", "secretive", "--json")
	r.must(t, exitOK, nil, nil)
	if strings.Contains(r.stdout, `"keys"`) {
		t.Errorf("show --json of a client without keys has \"keys\":\n%s", r.stdout)
	}
	// There is no secret to rotate.
	clientsCLI(t, store, "rotate-secret", "signer").must(t, exitFailure, nil, []string{"key set (private_key_jwt)"})
	if !getClient(t, store, "signer").SecretHash.IsZero() {
		t.Error("rotate-secret gave a key-set client a secret")
	}

	// Refused: private keys, secrets, junk, size, conflicts.
	privDoc, err := func() ([]byte, error) {
		s, err := keys.NewSet(ec, ed)
		if err != nil {
			return nil, err
		}
		return s.MarshalPrivateJWKS()
	}()
	if err != nil {
		t.Fatal(err)
	}
	hm, err := keys.NewHMAC(keys.HS256, bytes.Repeat([]byte{7}, 32), "h")
	if err != nil {
		t.Fatal(err)
	}
	hmDoc, err := hm.MarshalJWK()
	if err != nil {
		t.Fatal(err)
	}
	var onePriv map[string]any
	if err := json.Unmarshal(privDoc, &withExtra); err != nil {
		t.Fatal(err)
	}
	onePriv = withExtra["keys"][0]
	for name, tc := range map[string]struct {
		doc  []byte
		want string
	}{
		"private set":         {privDoc, `private member "d"`},
		"HMAC key":            {[]byte(`{"keys":[` + string(hmDoc) + `]}`), `private member "k"`},
		"one private":         {mustJSON(t, map[string]any{"keys": []any{onePriv}}), "private member"},
		"not JSON":            {[]byte("-----BEGIN PUBLIC KEY-----"), "not a JWK set"},
		"no keys":             {[]byte(`{"keys":[]}`), "no keys"},
		"bare private JWK":    {mustJSON(t, withExtra["keys"][0]), "private member"},
		"bare public JWK":     {mustJSON(t, map[string]any{"kty": "OKP", "crv": "Ed25519", "x": "AA"}), "a single JWK"},
		"oversize":            {append(append([]byte(`{"keys":[],"pad":"`), bytes.Repeat([]byte("x"), authkit.MaxClientJWKSLen)...), `"}`...), "more than"},
		"unsupported alg key": {[]byte(`{"keys":[{"kty":"EC","crv":"secp256k1","x":"AA","y":"AA","kid":"x"}]}`), "--jwks"},
	} {
		t.Run(name, func(t *testing.T) {
			r := clientsCLI(t, store, "add", "Bad", "--id", "bad", "--jwks", jwksFile(t, tc.doc))
			r.must(t, exitUsage, nil, []string{tc.want})
			noSecret(t, name, r)
		})
	}
	clientsCLI(t, store, "add", "Bad", "--id", "bad", "--jwks", file, "--public").must(t, exitUsage, nil, []string{"--jwks and --public exclude each other"})
	clientsCLI(t, store, "add", "Bad", "--id", "bad", "--jwks", filepath.Join(t.TempDir(), "missing.json")).must(t, exitFailure, nil, []string{"--jwks"})
	clientsCLI(t, store, "list", "--jwks", file).must(t, exitUsage, nil, []string{"--jwks applies only to clients add"})
	r = clientsCLI(t, store, "list", "--json")
	var listed []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed) != 3 {
		t.Errorf("list after refused adds (want signer, signer2, secretive): %v\n%s", err, r.stdout)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A generated client ID never starts with '-', which "clients show ID"
// would read as a flag (1 in 64 draws does).
func TestClientsGeneratedIDNotAFlag(t *testing.T) {
	t.Parallel()
	for range 1000 {
		cl, err := buildClient("n", "", false, nil, nil, nil, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(cl.ID) != 22 || cl.ID[0] == '-' {
			t.Fatalf("generated client ID %q", cl.ID)
		}
	}
}

// TestClientsRemoveTokens checks what docs/cli.md says of "clients remove":
// the client's unredeemed codes stop redeeming and stay dead when the ID is
// registered again, its refresh tokens stop refreshing, its access tokens
// live out their lifetime, and its refresh tokens stay dead when a client
// is registered again under the same ID (a session older than the
// registration is not the new client's).
func TestClientsRemoveTokens(t *testing.T) {
	t.Parallel()
	store := migratedSQLite(t)
	const redirect = "http://127.0.0.1:1/cb"
	add := func() {
		t.Helper()
		clientsCLI(t, store, "add", "App", "--id", "app", "--public", "--grant", "authorization_code", "--grant", "refresh_token",
			"--redirect-uri", redirect, "--scope", "read").must(t, exitOK, nil, nil)
	}
	add()
	s := startServe(t, "", "--store", store, "--scopes", "read", "--revocation-mirror", "off")
	m := passwordRE.FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("no demo password in:\n%s", s.stdout)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	authorize := s.base + "/authorize?" + url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {redirect},
		"state": {"s"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}.Encode()
	// code logs demo in on the page and returns the code of the redirect.
	code := func() string {
		t.Helper()
		_, csrf := getLoginPage(t, browser, authorize)
		res, err := browser.PostForm(authorize, url.Values{"csrf_token": {csrf}, "action": {"approve"}, "username": {"demo"}, "password": {m[1]}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc, err := url.Parse(res.Header.Get("Location"))
		if res.StatusCode != http.StatusSeeOther || err != nil || loc.Query().Get("code") == "" {
			t.Fatalf("approve: %d to %q", res.StatusCode, res.Header.Get("Location"))
		}
		return loc.Query().Get("code")
	}
	exchange := func(code string) response {
		t.Helper()
		return s.do(t, "POST", "/token", "", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
			"redirect_uri": {redirect}, "client_id": {"app"}})
	}
	refresh := func(rt string, clientID string) response {
		t.Helper()
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		if clientID != "" {
			f.Set("client_id", clientID)
		}
		return s.do(t, "POST", "/token", "", f)
	}

	pair := exchange(code()).want(t, "the code exchange", 200)
	access, rt := pair.str("access_token"), pair.str("refresh_token")
	pending := code() // issued, never redeemed before the removal

	clientsCLI(t, store, "remove", "app").must(t, exitOK, []string{"removed client app"}, nil)
	if r := exchange(pending); r.status == 200 {
		t.Errorf("a removed client's code redeemed: %s", r.raw)
	}
	for _, cid := range []string{"app", ""} {
		if r := refresh(rt, cid); r.status == 200 {
			t.Errorf("a removed client's refresh token refreshed (client_id %q): %s", cid, r.raw)
		}
	}
	s.do(t, "GET", "/me", access, nil).want(t, "a removed client's access token", 200)

	// The same ID again: its old code and its old sessions stay dead.
	add()
	if r := exchange(pending); r.status != 400 || r.str("error") != "invalid_grant" {
		t.Errorf("a removed client's code after the ID was registered again: %d %s, want 400 invalid_grant", r.status, r.raw)
	}
	if r := refresh(rt, "app"); r.status != 400 || r.str("error") != "invalid_grant" {
		t.Errorf("the removed client's refresh token after the ID was registered again: %d %s, want 400 invalid_grant", r.status, r.raw)
	}
}

// An issuer whose path holds characters a ServeMux pattern reads as syntax
// (a space, braces) neither crashes serve nor widens the metadata route:
// the metadata is served at its one path, exactly.
func TestServeMetadataOddIssuerPath(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ iss, path string }{
		{"http://127.0.0.1:8080/a%20b", "/.well-known/oauth-authorization-server/a%20b"},
		{"http://127.0.0.1:8080/%7B", "/.well-known/oauth-authorization-server/%7B"},
		{"http://127.0.0.1:8080/%7Bx%7D", "/.well-known/oauth-authorization-server/%7Bx%7D"},
	} {
		s := startServe(t, "", "--issuer", c.iss)
		if doc := s.do(t, "GET", c.path, "", nil).want(t, "metadata of "+c.iss, 200).body; doc["issuer"] != c.iss {
			t.Errorf("metadata of %s: %v", c.iss, doc)
		}
		s.do(t, "GET", "/.well-known/oauth-authorization-server/other", "", nil).want(t, "another tenant's metadata path", 404)
	}
}

// TestServeIssuerPath: with an --issuer that has a path, every endpoint the
// RFC 8414 metadata advertises answers at its advertised URL (found by
// review: serve mounted them at the root only, so each was a 404), the
// whole authorization code flow works there (the login page's CSRF cookie
// is scoped to the path the browser used), and the root still answers for
// a proxy that strips the path.
func TestServeIssuerPath(t *testing.T) {
	t.Parallel()
	store := migratedSQLite(t)
	const redirect = "http://127.0.0.1:9/cb"
	clientsCLI(t, store, "add", "Shop", "--id", "shop", "--grant", "authorization_code", "--grant", "refresh_token",
		"--redirect-uri", redirect, "--public", "--scope", "read").must(t, exitOK, nil, nil)
	const iss = "http://127.0.0.1:8080/auth/"
	s := startServe(t, "", "--store", store, "--issuer", iss, "--scopes", "read", "--revocation-mirror", "off")
	m := passwordRE.FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("no demo password in:\n%s", s.stdout)
	}
	password := m[1]
	doc := s.do(t, "GET", "/.well-known/oauth-authorization-server/auth", "", nil).want(t, "metadata", 200).body
	at := func(name string) string {
		t.Helper()
		v, _ := doc[name].(string)
		u, err := url.Parse(v)
		if err != nil || !strings.HasPrefix(v, "http://127.0.0.1:8080/auth/") {
			t.Fatalf("metadata %s = %q, want a URL under the issuer", name, v)
		}
		return u.Path
	}
	s.do(t, "GET", at("jwks_uri"), "", nil).want(t, "the advertised jwks_uri", 200)
	for _, name := range []string{"revocation_endpoint", "introspection_endpoint"} {
		if r := s.do(t, "POST", at(name), "", url.Values{"token": {"x"}}); r.status == http.StatusNotFound {
			t.Errorf("the advertised %s: 404", name)
		}
	}
	pw := url.Values{"grant_type": {"password"}, "username": {"demo"}, "password": {password}}
	s.do(t, "POST", at("token_endpoint"), "", pw).want(t, "the password grant at the advertised token_endpoint", 200)
	s.do(t, "POST", "/token", "", pw).want(t, "the password grant at the root (a proxy that strips the path)", 200)
	s.do(t, "POST", "/authx/token", "", pw).want(t, "a path that only starts like the issuer's", 404)
	// A path under the issuer's that is not clean is redirected to its
	// clean form under the issuer's path, not at the root (found by
	// review).
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/auth//.well-known/jwks.json", "/auth/./.well-known/jwks.json", "/auth/x/../.well-known/jwks.json"} {
		res, err := noFollow.Get(s.base + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusTemporaryRedirect || res.Header.Get("Location") != "/auth/.well-known/jwks.json" {
			t.Errorf("GET %s: %d, Location %q; want 307 to /auth/.well-known/jwks.json", p, res.StatusCode, res.Header.Get("Location"))
		}
	}
	// An issuer path that is an endpoint's keeps that endpoint at the root.
	tok := startServe(t, "", "--store", store, "--issuer", "http://127.0.0.1:8080/token", "--revocation-mirror", "off")
	tm := passwordRE.FindStringSubmatch(tok.stdout.String())
	if tm == nil {
		t.Fatalf("no demo password in:\n%s", tok.stdout)
	}
	tpw := url.Values{"grant_type": {"password"}, "username": {"demo"}, "password": {tm[1]}}
	tok.do(t, "POST", "/token/token", "", tpw).want(t, "the token endpoint under an issuer path /token", 200)
	tok.do(t, "POST", "/token", "", tpw).want(t, "the token endpoint at the root, the issuer's path being /token", 200)

	// The authorization code flow, as a browser does it, under the path.
	sum := sha256.Sum256([]byte(strings.Repeat("v", 43)))
	authorize := s.base + at("authorization_endpoint") + "?" + url.Values{
		"response_type": {"code"}, "client_id": {"shop"}, "redirect_uri": {redirect}, "state": {"st"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}, "scope": {"read"},
	}.Encode()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, csrf := getLoginPage(t, browser, authorize)
	if c := res.Header.Get("Set-Cookie"); !strings.Contains(c, "Path=/auth/authorize") {
		t.Fatalf("the CSRF cookie of the login page at the advertised authorization_endpoint: %q, want Path=/auth/authorize", c)
	}
	res, err = browser.PostForm(authorize, url.Values{"csrf_token": {csrf}, "action": {"approve"}, "username": {"demo"}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("approving on the login page under the path: %d, Location %q", res.StatusCode, res.Header.Get("Location"))
	}
	s.do(t, "POST", at("token_endpoint"), "", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirect}, "code_verifier": {strings.Repeat("v", 43)}, "client_id": {"shop"}}).want(t, "the code exchanged at the advertised token_endpoint", 200)
}

// TestServeCORSOrigins: --cors-origins lets a single-page app on another
// origin call /token and /revoke from script (found by an adoption test:
// serve answered the preflight 405 and no browser could exchange a code),
// and gives no other origin a CORS header; a value that is not an origin stops serve at start-up, saying so.
func TestServeCORSOrigins(t *testing.T) {
	t.Parallel()
	s := startServe(t, "", "--cors-origins", "https://app.example, https://other.example")
	preflight := func(origin string) *http.Response {
		t.Helper()
		req, err := http.NewRequest("OPTIONS", s.base+"/token", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := preflight("https://other.example"); res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "https://other.example" {
		t.Errorf("preflight of /token from a listed origin: %d %v", res.StatusCode, res.Header)
	}
	// An origin not listed (nor one that only starts like a listed one) is
	// given no CORS header: the browser keeps the answer from its script.
	for _, origin := range []string{"https://evil.example", "https://app.example.evil.example", "null"} {
		if res := preflight(origin); res.Header.Get("Access-Control-Allow-Origin") != "" || res.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("preflight of /token from %s, not listed: %d %v; want no Access-Control-Allow-* header", origin, res.StatusCode, res.Header)
		}
	}
	r := runCLI(t, "", "serve", "--addr", "127.0.0.1:0", "--cors-origins", "https://app.example/")
	if r.code == exitOK || !strings.Contains(r.stderr, "not an origin") {
		t.Errorf("--cors-origins with a path: exit %d, %s; want a failure saying it is not an origin", r.code, r.stderr)
	}
}

// failingWriter fails every write, as standard output to a full disk or a
// closed pipe does.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestClientsSecretNotWritten: a client secret that could not be written
// out is lost (only its hash is stored), so clients add and clients
// rotate-secret fail and say how to get a new one, as with --json, instead
// of exiting 0 (found by review).
func TestClientsSecretNotWritten(t *testing.T) {
	t.Parallel()
	store := migratedSQLite(t)
	run := func(args ...string) (int, string) {
		var errOut strings.Builder
		c := &cli{stdin: strings.NewReader(""), stdout: failingWriter{}, stderr: &errOut, lookupEnv: mapEnv(nil)}
		return c.main(t.Context(), args), errOut.String()
	}
	code, stderr := run("clients", "add", "Billing", "--id", "billing", "--store", store)
	if code == exitOK || !strings.Contains(stderr, "the secret is lost") || !strings.Contains(stderr, "rotate-secret billing") {
		t.Errorf("clients add with standard output failing: exit %d, %s; want a failure saying the secret is lost", code, stderr)
	}
	code, stderr = run("clients", "rotate-secret", "billing", "--store", store)
	if code == exitOK || !strings.Contains(stderr, "so it is lost") || !strings.Contains(stderr, "rotate-secret billing") {
		t.Errorf("clients rotate-secret with standard output failing: exit %d, %s; want a failure saying the secret is lost", code, stderr)
	}
}

// TestServeEndpointAssertionAudiences checks --endpoint-assertion-audiences:
// a private_key_jwt assertion naming the token endpoint's URL is refused
// by default and accepted with the flag; one naming the issuer identifier
// is accepted either way.
func TestServeEndpointAssertionAudiences(t *testing.T) {
	t.Parallel()
	store := migratedSQLite(t)
	ed := kidKey(t, keys.EdDSA, "ed-1")
	pub, err := keys.NewVerificationSet(ed.Public())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := pub.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	clientsCLI(t, store, "add", "Signer", "--id", "signer", "--jwks", jwksFile(t, doc), "--scope", "read").must(t, exitOK, nil, nil)
	// An assertion's iat must be a second past the client's registration.
	time.Sleep(1100 * time.Millisecond)
	const issuerID = "https://auth.example.com"
	var jti int
	assertion := func(aud string) string {
		jti++
		enc := base64.RawURLEncoding.EncodeToString
		head := enc([]byte(`{"alg":"EdDSA","kid":"ed-1","typ":"JWT"}`))
		now := time.Now().Unix()
		body := enc(fmt.Appendf(nil, `{"iss":"signer","sub":"signer","aud":%q,"iat":%d,"exp":%d,"jti":"a-%d"}`, aud, now, now+60, jti))
		sig, err := ed.Sign([]byte(head + "." + body))
		if err != nil {
			t.Fatal(err)
		}
		return head + "." + body + "." + enc(sig)
	}
	for _, flag := range []bool{false, true} {
		args := []string{"--store", store, "--issuer", issuerID}
		if flag {
			args = append(args, "--endpoint-assertion-audiences")
		}
		s := startServe(t, "", args...)
		for _, c := range []struct {
			aud  string
			want int
		}{
			{issuerID, 200},
			{issuerID + "/token", map[bool]int{false: 401, true: 200}[flag]},
			{"https://elsewhere.example.com/token", 401},
		} {
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"signer"},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion":      {assertion(c.aud)}}
			resp, err := http.Post(s.base+"/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("flag %v, aud %s: %d %s, want %d\n%s", flag, c.aud, resp.StatusCode, body, c.want, s.stderr)
			}
		}
	}
}

// fullWriter fails every write, as standard output on a full disk does.
type fullWriter struct{}

func (fullWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// A secret that cannot be written out is reported as lost, with what to
// do, in the JSON form as in the text form (found by review: --json gave
// the bare write error, after rotate-secret had replaced the old secret).
func TestClientSecretLostOnWrite(t *testing.T) {
	store := migratedSQLite(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"clients", "add", "billing", "--id", "billing", "--store", store}, "writing its secret failed, so the secret is lost"},
		{[]string{"clients", "add", "billing2", "--id", "billing2", "--store", store, "--json"}, "writing its secret failed, so the secret is lost"},
		{[]string{"clients", "rotate-secret", "billing", "--store", store}, "writing the new one failed, so it is lost"},
		{[]string{"clients", "rotate-secret", "billing", "--store", store, "--json"}, "writing the new one failed, so it is lost"},
	} {
		var errOut bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		code := run(ctx, c.args, strings.NewReader(""), fullWriter{}, &errOut)
		cancel()
		if code == exitOK || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v to a full disk: exit %d, stderr %q; want a failure saying %q", c.args, code, errOut.String(), c.want)
		}
	}
}

// clients add and rotate-secret refuse to print a client secret into a
// file another account may read, before the store is changed (found by
// review: under umask 022, "clients add --json > billing.json" left the
// secret in a world-readable file); a public client, which has no secret,
// is added.
func TestClientsSecretNotShared(t *testing.T) {
	t.Parallel()
	store := migratedSQLite(t)
	dir := t.TempDir()
	run := func(name string, args ...string) (int, string, int64) {
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Chmod(0o644); err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var errOut strings.Builder
		c := &cli{stdin: strings.NewReader(""), stdout: f, stderr: &errOut, lookupEnv: mapEnv(nil)}
		code := c.main(t.Context(), args)
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		return code, errOut.String(), fi.Size()
	}
	code, stderr, n := run("billing.json", "clients", "add", "Billing", "--id", "billing", "--json", "--store", store)
	if code != exitFailure || n != 0 || !strings.Contains(stderr, "(mode 0644)") || !strings.Contains(stderr, "the client secret") {
		t.Errorf("clients add > a 0644 file: exit %d, %d bytes, %s; want it refused, nothing written", code, n, stderr)
	}
	runCLI(t, "", "clients", "show", "billing", "--store", store).must(t, exitFailure, nil, []string{"billing"})
	runCLI(t, "", "clients", "add", "Billing", "--id", "billing", "--store", store).must(t, exitOK, []string{"client_secret:"}, nil)
	code, stderr, n = run("rotated.json", "clients", "rotate-secret", "billing", "--store", store)
	if code != exitFailure || n != 0 || !strings.Contains(stderr, "(mode 0644)") {
		t.Errorf("clients rotate-secret > a 0644 file: exit %d, %d bytes, %s; want it refused, nothing written", code, n, stderr)
	}
	code, stderr, n = run("app.json", "clients", "add", "App", "--id", "app", "--public", "--grants", "authorization_code", "--redirect-uri", "https://app.example/cb", "--store", store)
	if code != exitOK || n == 0 {
		t.Errorf("clients add --public > a 0644 file: exit %d, %d bytes, %s; want it added (no secret)", code, n, stderr)
	}
}
