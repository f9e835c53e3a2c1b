// Command rolesintoken puts the user's roles into the access token at
// login, as djangorestframework-simplejwt's custom token claims do, and
// guards a route by role read back from the verified token, with no
// database lookup per request. A disabled user is refused at once (a
// principal check: one in-memory lookup per request, which also stops the
// user's API tokens), and a refresh asks whether the user still holds the
// roles the session carries, so a demoted user's old roles end with the
// access token that carries them.
// Everything lives in memory; the users are a demo: alice (password
// "wonderland") is an admin, bob ("builder") an editor.
//
//	go run ./examples/rolesintoken
package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

func main() {
	handler, err := newServer(newDirectory())
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: handler, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	log.Printf("listening on http://%s (demo users alice/wonderland, admin; bob/builder, editor)", srv.Addr)
	log.Fatal(srv.ListenAndServe())
}

// user is one account of the directory.
type user struct {
	password [32]byte // a real application stores an argon2id or bcrypt hash
	roles    []string
	disabled bool
}

// directory is the application's user store.
type directory struct {
	mu    sync.Mutex
	users map[string]*user
}

func newDirectory() *directory {
	return &directory{users: map[string]*user{
		"alice": {password: sha256.Sum256([]byte("wonderland")), roles: []string{"admin", "editor"}},
		"bob":   {password: sha256.Sum256([]byte("builder")), roles: []string{"editor"}},
	}}
}

// setRoles replaces a user's roles.
func (d *directory) setRoles(name string, roles ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if u := d.users[name]; u != nil {
		u.roles = roles
	}
}

// setDisabled disables or re-enables a user.
func (d *directory) setDisabled(name string, disabled bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if u := d.users[name]; u != nil {
		u.disabled = disabled
	}
}

var errBadLogin = errors.New("invalid username or password")

// login is the password grant's hook: it checks the password and says what
// the tokens carry: the user's roles as a claim and, for editors, the
// articles scopes. The remember-me choice is left at the issuer's
// lifetime here; a shorter Login.SessionTTL would end this session sooner.
func (d *directory) login(_ context.Context, username, password string) (httpauth.Login, error) {
	sum := sha256.Sum256([]byte(password))
	// What the login needs, copied under the lock: setRoles and
	// setDisabled change a user while logins run (found by review: the
	// race detector caught this reading them after Unlock).
	d.mu.Lock()
	u := d.users[username]
	want := [32]byte{} // compare against something for an unknown user too
	var roles []string
	disabled := true
	if u != nil {
		want, roles, disabled = u.password, slices.Clone(u.roles), u.disabled
	}
	d.mu.Unlock()
	if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || disabled {
		return httpauth.Login{}, errBadLogin
	}
	l := httpauth.Login{Subject: username, Claims: map[string]any{"roles": roles}}
	if slices.Contains(roles, "editor") {
		l.Scopes = []string{"articles:read", "articles:write"}
	}
	return l, nil
}

// active is the principal check, run on every authenticated request: a
// disabled or deleted user's access and API tokens are refused at once.
func (d *directory) active(_ context.Context, p *authkit.Principal) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if u := d.users[p.Subject]; u == nil || u.disabled {
		return errors.New("user disabled")
	}
	return nil
}

// stillActive is the refresh check: a disabled or deleted user is refused,
// and so is a session whose roles claim (fixed at login) names a role the
// user no longer holds — the user logs in again and gets the current
// roles. Otherwise the session keeps its scopes.
func (d *directory) stillActive(_ context.Context, s authkit.Session) ([]string, error) {
	var c tokenClaims
	if len(s.Claims) > 0 {
		if err := json.Unmarshal(s.Claims, &c); err != nil {
			return nil, err
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	u := d.users[s.Subject]
	if u == nil || u.disabled {
		return nil, errors.New("user disabled")
	}
	for _, r := range c.Roles {
		if !slices.Contains(u.roles, r) {
			return nil, errors.New("role " + r + " withdrawn")
		}
	}
	return s.Scopes, nil
}

// newServer wires authkit and the application's routes.
func newServer(dir *directory) (http.Handler, error) {
	key, err := keys.Generate(keys.EdDSA)
	if err != nil {
		return nil, err
	}
	set, err := keys.NewSet(key)
	if err != nil {
		return nil, err
	}
	opts := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(memory.New())}
	iss, err := issuer.New(opts...)
	if err != nil {
		return nil, err
	}
	ver, err := verifier.New(append(opts, authkit.WithPrincipalCheck(dir.active))...)
	if err != nil {
		return nil, err
	}
	auth, err := httpauth.New(ver)
	if err != nil {
		return nil, err
	}
	endpoints, err := httpauth.NewHandler(iss, auth,
		httpauth.WithPasswordLogin(dir.login),
		httpauth.WithAllowedScopes("articles:read", "articles:write"),
		httpauth.WithRefreshCheck(dir.stillActive),
		httpauth.WithLogoutAllAPITokens())
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("/auth/", http.StripPrefix("/auth", endpoints))
	mux.Handle("GET /api/me", auth.Require(http.HandlerFunc(me)))
	mux.Handle("GET /api/admin/report", auth.Require(requireRole("admin", http.HandlerFunc(report))))
	return mux, nil
}

// tokenClaims are the application claims of the access token.
type tokenClaims struct {
	Roles []string `json:"roles"`
}

// requireRole lets through a caller whose token carries role, and answers
// 403 otherwise. It reads the verified token's claims: no user lookup.
func requireRole(role string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := authkit.PrincipalFrom(r.Context()) // always there behind Require
		var c tokenClaims
		if err := p.DecodeClaims(&c); err != nil || !slices.Contains(c.Roles, role) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "forbidden", "error_description": "the " + role + " role is required"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// me answers who the caller is and what its token says.
func me(w http.ResponseWriter, r *http.Request) {
	p, _ := authkit.PrincipalFrom(r.Context())
	var c tokenClaims
	_ = p.DecodeClaims(&c)
	writeJSON(w, http.StatusOK, map[string]any{"subject": p.Subject, "roles": c.Roles, "scopes": p.Scopes})
}

// report is for admins only.
func report(w http.ResponseWriter, r *http.Request) {
	p, _ := authkit.PrincipalFrom(r.Context())
	writeJSON(w, http.StatusOK, map[string]any{"report": "all systems nominal", "for": p.Subject})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
